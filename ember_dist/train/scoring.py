# SPDX-License-Identifier: BSD-3-Clause
"""Checkpoint scores: how well whole-map predictions match their truth, on training or validation maps.

The paper keeps the checkpoint whose predictions best reproduce the power spectrum.  Scored on
training maps, that choice rewards fitting those very maps; scored on a validation box (a seed
trained on by no model and used for no reported number), it is an honest model selection, and
the held-out test seed stays untouched.  :class:`ScoreMaps` holds the maps a run is scored on and
says which they are; :func:`prediction_score` is the score of one map.

Examples
--------
>>> import numpy as np
>>> m = np.random.default_rng(0).random((32, 32)) + 1.0
>>> prediction_score(m, m)
0.0
"""
from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np

__all__ = ["prediction_score", "equilateral_error", "ScoreMaps", "pk_rows", "write_pk_rows"]


def prediction_score(truth, pred):
    """Checkpoint-selection error of one predicted map (lower is better; ``nan`` if undefined).

    ``sum_k w_k |ln(P_pred(k) / P_true(k))| / sum_k w_k + |ln(M_pred / M_true)|`` with ``P`` the
    overdensity power spectrum, ``k`` the bins up to half the Nyquist wavenumber, ``w_k`` the width
    of bin ``k`` in ``ln k`` (each decade of scales counts the same) and ``M`` the total mass (which
    the overdensity spectrum cannot see).  An unweighted mean over all bins is dominated by the
    many bins near and past the Nyquist wavenumber, where the true map holds little power that
    the dark matter can predict: it picked barely trained checkpoints with +14 % total mass.
    """
    from ember_dist.stats.power import power_spectrum

    truth = np.asarray(truth, np.float64)
    pred = np.asarray(pred, np.float64)
    mt, mp = truth.sum(), pred.sum()
    if not (mt > 0 and mp > 0):
        return float("nan")
    n = float(truth.shape[-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        st = power_spectrum(truth, box_size=n)
        k = np.asarray(st["k"])
        pt = np.asarray(st["power"])
        pp = np.asarray(power_spectrum(pred, box_size=n)["power"])
        keep = (k <= 0.5 * np.pi) & (pt > 0)  # k in 1/pixel: Nyquist = pi
        lk = np.log(k[keep])
        w = np.gradient(lk) if lk.size > 1 else np.ones(1)
        e = np.abs(np.log(pp[keep] / pt[keep]))
    return float(np.sum(w * e) / np.sum(w) + abs(np.log(mp / mt)))


def equilateral_error(truths, preds, bin_width=1.0):
    """Mean over the equilateral shells with k <= k_Nyquist/2 of ``|B_pred(k) / B_true(k) - 1|``, each ``B`` the
    overdensity bispectrum averaged over the maps ``(n, ny, nx)`` (:func:`ember_dist.stats.bispectrum.bispectrum`'s
    shells, as the evaluation's B_eq column takes them); ``nan`` when no shell is defined."""
    from ember_dist.stats.bispectrum import bispectrum

    truths, preds = np.asarray(truths, np.float64), np.asarray(preds, np.float64)
    n = float(truths.shape[-1])  # k in 1/pixel: Nyquist = pi
    bt = bispectrum(truths, box_size=n, bin_width=bin_width)
    k = np.asarray(bt["k1"])
    b_true = np.asarray(bt["bispectrum"]).reshape(-1, k.size).mean(axis=0)
    b_pred = np.asarray(bispectrum(preds, k=k, box_size=n, bin_width=bin_width)["bispectrum"])
    b_pred = b_pred.reshape(-1, k.size).mean(axis=0)
    keep = (k <= 0.5 * np.pi) & (b_true != 0) & np.isfinite(b_true) & np.isfinite(b_pred)
    return float(np.mean(np.abs(b_pred[keep] / b_true[keep] - 1))) if keep.any() else float("nan")


@dataclass
class ScoreMaps:
    """Whole maps a run's checkpoints are scored on: *normalised* inputs and targets ``(n, ny, nx)``.

    ``source`` says what they are, for the bundle's record (e.g. "2 training maps"); ``attrs`` the
    store attrs the evaluation's statistics need (``score(metric="evaluation")``).
    """

    inputs: np.ndarray
    targets: np.ndarray
    source: str
    attrs: dict | None = None  # the maps' store attrs (sampler.MAP_ATTRS) for score_metric="evaluation"

    def __len__(self):
        return int(self.inputs.shape[0])

    @classmethod
    def training(cls, sampler, n, attrs=None):
        """The first ``n`` maps the run trains on (the paper's choice)."""
        n = max(0, min(int(n), sampler.inputs.shape[0]))
        return cls(sampler.inputs[:n], sampler.targets[:n], f"{n} training maps", attrs)

    @classmethod
    def validation(cls, maps, field, info, input_maps=None, input_var="dm", axes=None):
        """Every map of a validation store (projections ``axes``, default all of them), normalised like
        the training data (``info``'s normalisations).  The store's ``seeds`` attr (stacked suite
        stores) names the boxes in ``source``.
        """
        import xarray as xr

        from ember_dist.train.sampler import MAP_ATTRS, open_pair

        axes = tuple(axes or [str(a) for a in xr.open_zarr(str(maps), consolidated=False)["axis"].values])
        src, tgt, a, _ = open_pair(maps, field, input_var, input_maps, axes, what="validation input")
        px_train, px_val = info.get("pixel_size"), a.get("pixel_size")
        if px_train and px_val and abs(float(px_val) / float(px_train) - 1) > 1e-6:
            raise ValueError(f"validation maps {str(maps)!r} have {float(px_val):g} ckpc/h pixels, the training "
                             f"maps {float(px_train):g}; deposit the validation box at the training pixel size.")
        seeds = a.get("seeds")
        what = f"{src.shape[0]} validation maps of {str(maps)!r}" + (f" (seeds {list(seeds)})" if seeds else "")
        return cls(info["input_norm"].forward(src).astype(np.float32),
                   info["output_norm"].forward(tgt).astype(np.float32), what, {k: a[k] for k in MAP_ATTRS if k in a})

    def score(self, model, preset, input_norm, output_norm, step=0, pixel_size=1.0, pk_csv=None,
              bispectrum_weight=0.0, metric="power", field=None):
        """Checkpoint score of whole-map predictions of every map by ``model`` (noise seed 0); lower is better.

        ``metric="power"``: the mean :func:`prediction_score` of the maps, plus ``bispectrum_weight`` x
        :func:`equilateral_error` of all the maps together when it is not 0.  ``metric="evaluation"``: the
        validation score that chooses the shipped defaults (:data:`~ember_dist.train.eval_table.SCORE_COLUMNS`:
        mass, P(k), B_eq, PDF and, for ``field`` "hi", CDDF errors) of these maps' one prediction each, computed
        as ``ember-dist evaluate`` does (:func:`~ember_dist.train.evaluate.score_predictions`); its terms are
        left in :attr:`last_terms`.

        ``model``: an inference model of a generator of ``preset``; ``input_norm``/``output_norm``:
        the normalisations the maps were made with.  ``nan`` when a map's score is undefined.  With
        ``pk_csv``, the P(k) of each prediction and its truth (``pixel_size``, ckpc/h) go there as rows
        of ``step`` (:func:`write_pk_rows`).
        """
        from types import SimpleNamespace

        from ember_dist.engine.reference import predict_whole
        from ember_dist.model.geometry import receptive_field

        if metric not in ("power", "evaluation"):
            raise ValueError(f"score metric {metric!r} is not one of 'power', 'evaluation'.")
        fake = SimpleNamespace(exact_halo=receptive_field(preset).exact_halo(), preset=preset,
                               input_norm=input_norm, output_norm=output_norm)
        keep = bool(bispectrum_weight) or metric == "evaluation"
        errs, rows, truths, preds = [], [], [], []
        for i in range(len(self)):
            dm = input_norm.inverse(self.inputs[i])
            truth = output_norm.inverse(self.targets[i])
            pred = predict_whole(fake, dm, seed=0, slab=i, model=model)
            if metric == "power":
                errs.append(prediction_score(truth, pred))
            if keep:
                truths.append(truth)
                preds.append(pred)
            if pk_csv is not None:
                rows += pk_rows(step, i, truth, pred, pixel_size)
        if rows:
            write_pk_rows(pk_csv, step, rows)
        if metric == "evaluation":
            return self._evaluation_score(field, np.asarray(truths, np.float64), np.asarray(preds, np.float64))
        if bispectrum_weight and len(self):  # one B_eq error of all the maps together, added to each map's
            b_err = float(bispectrum_weight) * equilateral_error(truths, preds)
            errs = [e + b_err for e in errs]
        return float(np.mean(errs)) if np.all(np.isfinite(errs)) else float("nan")

    def _evaluation_score(self, field, truths, preds):
        from ember_dist.train.eval_table import COLUMNS, SCORE_COLUMNS
        from ember_dist.train.eval_stats import truth_bispectra
        from ember_dist.train.evaluate import score_predictions

        if not len(self):
            return float("nan")
        attrs = self.attrs or {}
        if getattr(self, "_of_truth", None) is None:  # the true maps' bispectrum once for every checkpoint
            self._of_truth = truth_bispectra(truths, attrs)
        score, r = score_predictions(field, truths, preds[:, None], attrs, of_truth=self._of_truth)
        self.last_terms = {c: r.get(COLUMNS[c][0]) for c in SCORE_COLUMNS if COLUMNS[c][0] in r}
        return score


def pk_rows(step, i, truth, pred, pixel_size):
    """Rows ``{step, map, k, power_true, power_pred}`` of P(k) of one prediction and its truth."""
    from ember_dist.stats.power import power_spectrum

    n = truth.shape[-1]
    st = power_spectrum(np.asarray(truth, np.float64), box_size=n * pixel_size)
    sp = power_spectrum(np.asarray(pred, np.float64), box_size=n * pixel_size)
    return [{"step": step, "map": i, "k": float(k), "power_true": float(a), "power_pred": float(b)}
            for k, a, b in zip(np.asarray(st["k"]), np.asarray(st["power"]), np.asarray(sp["power"]))]


def write_pk_rows(path, step, rows):
    """Append P(k) rows to the csv ``path``; rows of ``step`` and later (from before a resume) are replaced."""
    old = []
    if path.is_file():
        with open(path, newline="") as f:
            old = [r for r in csv.DictReader(f) if int(r["step"]) < step]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(old + rows)
