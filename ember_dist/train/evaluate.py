# SPDX-License-Identifier: BSD-3-Clause
"""``ember-dist evaluate``: trained bundles on held-out projections, with a Table-4-like table and figures.

For every held-out map (projections ``axes``, default ``z``; all slabs) each
bundle predicts the field from its input map ``realisations`` times (seeds
``seed .. seed + realisations - 1``; a U-Net gives one prediction whatever the
number asked), with :func:`ember_dist.engine.reference.predict_whole` (whole
periodic map, exact halo).  Reported per model (:func:`evaluate`):

* total-mass fractional error per map and realisation,
  ``sum(pred) / sum(true) - 1``, and its median (the paper's Table 4 statistic);
* power-spectrum fractional error per k, ``P_pred(k) / P_true(k) - 1`` of the
  overdensity, with ``P_pred`` averaged over realisations, median over maps; its
  largest |value| for k <= k_Nyquist/2 and for k_Nyquist/2 < k <= 3/4 k_Nyquist,
  and how often the truth lies inside the realisations' 16-84 % band;
* the equilateral bispectrum of the overdensity
  (:func:`ember_dist.stats.bispectrum.bispectrum`, mean over maps) and its
  fractional error per realisation;
* pixel PDF (dN/dlog10 m of all held-out pixels) and, for HI, the column
  density distribution function f(N_HI) with their fractional errors (bins the
  truth fills with at least ``min_counts`` pixels).

:func:`evaluate_models` runs several bundles on the same truth and writes
``table.md`` / ``table.csv`` (one row per model, the columns and their
definitions in :data:`COLUMNS`, issue 18's targets in :data:`TARGETS` with a
pass/MISS mark per target column in ``table.md``) and figures in the style of
the paper's Figs. 3-6: ``maps.png`` (dark matter, truth and each model on one
held-out map), ``power.png`` (P(k) over its fractional-error panel with 10 % and
20 % bands), ``bispectrum.png`` (the same for the equilateral bispectrum),
``pdf.png`` and, for HI, ``cddf.png``.

Where the maps come from several simulation boxes (a stacked suite store's ``slab_box_seed``), every
statistic is also computed per box (``per_box`` in ``report.json``, ``per-box.md`` / ``per-box.csv``): the
box-to-box scatter says whether two models' difference is larger than the choice of boxes.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from ember_dist.train.eval_figures import figures, power_title  # noqa: F401 (power_title: public here before)
from ember_dist.train.eval_stats import (_metrics, _nanmean_abs, band_coverage, map_bispectra,  # noqa: F401
                                         per_map_power)
from ember_dist.train.eval_table import COLUMNS, TABLE_K, TARGETS, judge, table_rows, write_table  # noqa: F401

__all__ = ["evaluate", "evaluate_models", "evaluate_predictions", "score_predictions", "predict_held_out",
           "per_map_power", "band_coverage", "box_of_maps", "TABLE_K", "COLUMNS", "TARGETS"]

# the statistics themselves: ember_dist.train.eval_stats (per_map_power, band_coverage there, public here too)

def predict_held_out(model, maps, field=None, input_maps=None, input_var="dm", axes=("z",), realisations=1,
                     seed=0, net=None, n_maps=None):
    """``(bundle, truth (maps, y, x), dm (maps, y, x), preds (maps, real, y, x), attrs)`` on held-out maps
    (``net``: the bundle's inference model, built here unless given, e.g. with its noise strengths changed;
    ``n_maps``: only the first ones)."""
    from ember_dist.engine.reference import predict_whole
    from ember_dist.model.bundle import load_model
    from ember_dist.train.sampler import open_maps

    if int(realisations) < 1:
        raise ValueError(f"realisations must be >= 1. Received: realisations={realisations}.")
    b = load_model(model)
    field = field or b.field
    truth, attrs = open_maps(maps, field, axes)
    dm, _ = open_maps(input_maps or maps, input_var, axes)
    truth, dm = truth[:n_maps], dm[:n_maps]
    nreal = int(realisations) if b.preset.noise else 1
    net = net or b.build()
    from tqdm.auto import tqdm

    # shown in a log file too (an evaluation of 100 maps x 8 realisations takes minutes); tests capture stderr
    with tqdm(total=len(dm) * nreal, desc=f"evaluate {b.name}", unit="map", mininterval=5.0, disable=False) as bar:
        def one(i, d, r):
            p = predict_whole(b, d, seed=seed + r, axis=0, slab=i, model=net)
            bar.update()
            return p

        preds = np.stack([np.stack([one(i, d, r) for r in range(nreal)])
                          for i, d in enumerate(dm)])  # (maps, real, y, x)
    return b, truth, dm, preds, attrs


def _clean(v):
    return [float(x) if np.isfinite(x) else None for x in np.asarray(v, np.float64).ravel()]


def _num(v):
    """A finite float, or None (JSON null) for NaN / absent."""
    return float(v) if v is not None and np.isfinite(v) else None


def _report(b, m, maps, input_maps, axes, seed):
    nreal = m["mass_err"].shape[1]
    r = {
        "model": b.name, "kind": b.meta.get("kind"), "field": b.field, "maps": str(maps),
        "input_maps": str(input_maps or maps), "input_resolution": b.meta.get("training", {}).get("input_resolution"),
        "held_out_axes": list(axes), "n_maps": int(m["mass_err"].shape[0]), "realisations": nreal, "seed": seed,
        "total_mass_frac_error_median": float(np.median(m["mass_err"])),
        "total_mass_frac_error": m["mass_err"].tolist(),
        "power_k": m["k"].tolist(),
        "power_frac_error_median": _clean(m["p_frac_median"]),
        "power_frac_error_per_realisation": [_clean(v) for v in m["p_frac_real"]],
        "k_nyquist": m["k_nyq"],
        "power_mean_abs_frac_error_low": _num(m["p_mean_abs_low"]),
        "power_max_abs_frac_error_low": _num(m["p_max_abs_low"]),
        "power_max_abs_frac_error_mid": _num(m["p_max_abs_mid"]),
        "power_band_coverage": _num(m["p_band_coverage"]),
        "bispectrum_k": m["b_k"].tolist(),
        "bispectrum_true": _clean(m["b_true"]),
        "bispectrum_pred": _clean(m["b_pred"].mean(axis=0)),
        "bispectrum_frac_error_per_realisation": [_clean(v) for v in m["b_frac_real"]],
        "bispectrum_mean_abs_frac_error": _num(m["b_mean_abs"]),
    }
    if "pdf_frac" in m:
        r.update(pdf_m=m["pdf_m"].tolist(), pdf_frac_error=_clean(m["pdf_frac"]),
                 pdf_mean_abs_frac_error=_nanmean_abs(m["pdf_frac"]), pdf_range_1_99=list(m["pdf_range"]),
                 pdf_max_abs_frac_error_1_99=_num(m["pdf_max_abs_1_99"]))
    if "cddf_frac" in m:
        r.update(cddf_N=m["cddf_N"].tolist(), cddf_frac_error=_clean(m["cddf_frac"]),
                 cddf_mean_abs_frac_error=_nanmean_abs(m["cddf_frac"]),
                 cddf_max_abs_frac_error_min10=_num(m["cddf_max_abs_min10"]))
    r["targets"] = judge(r)
    return r


def box_of_maps(attrs, n_maps):
    """The simulation box (seed) of each of ``n_maps`` maps of a store whose attrs record ``slab_box_seed`` (the
    stacked suite stores; :func:`~ember_dist.train.sampler.open_maps` orders maps projection-major), or None.

    >>> box_of_maps({"slab_box_seed": [4, 4, 10, 10]}, 8).tolist()
    [4, 4, 10, 10, 4, 4, 10, 10]
    >>> box_of_maps({}, 8) is None
    True
    """
    per_slab = attrs.get("slab_box_seed")
    if not per_slab or n_maps % len(per_slab):
        return None
    return np.asarray(per_slab, dtype=int)[np.arange(n_maps) % len(per_slab)]


def per_box_rows(b, truth, preds, attrs, maps, input_maps=None, axes=("z",), seed=0, bin_width=1.0, bispectra=None):
    """``{box seed: table row}``: the table's statistics of each box's maps alone (empty unless the maps come
    from two or more boxes); ``bispectra``: all maps' :func:`map_bispectra`, where already computed."""
    boxes = box_of_maps(attrs, len(truth))
    seeds = [] if boxes is None else sorted(set(boxes.tolist()))
    if len(seeds) < 2:
        return {}
    rows = {}
    for s in seeds:
        sel = boxes == s
        bis = None if bispectra is None else (bispectra[0], bispectra[1][sel], bispectra[2][sel])
        m = _metrics(b, truth[sel], preds[sel], attrs, bin_width, bispectra=bis)
        row = table_rows([_report(b, m, maps, input_maps, axes, seed)], [m])[0]
        rows[str(s)] = {"model": row["model"], "box": s, **row}
    return rows


def _check_out(out, overwrite):
    """Refuse (before any prediction) a report directory that already holds files, unless ``overwrite``."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"report directory {str(out)!r} is a file; choose another out= (--out) path.")
    held = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if held and not overwrite:
        raise FileExistsError(
            f"report directory {str(out)!r} already holds {', '.join(held[:6])}{' ...' if len(held) > 6 else ''}. "
            "Pass overwrite=True (--overwrite) to replace the report, or choose another out= (--out) path.")
    return out


def evaluate_predictions(b, truth, preds, attrs, maps, input_maps=None, axes=("z",), seed=0, bin_width=1.0):
    """The report :func:`evaluate` returns, of predictions already made (:func:`predict_held_out`'s)."""
    return _report(b, _metrics(b, truth, preds, attrs, bin_width), maps, input_maps, axes, seed)


def score_predictions(field, truth, preds, attrs, of_truth=None):
    """``(validation score, report)`` of predictions ``preds`` (maps, realisations, y, x) of the true maps ``truth``
    (maps, y, x) of ``field`` (Msun/h per pixel; ``attrs``: the store's, see
    :data:`~ember_dist.train.sampler.MAP_ATTRS`): the table's statistics and their score
    (:func:`~ember_dist.train.eval_table.report_score`), as a checkpoint is scored with ``--score-metric
    evaluation``.  ``of_truth``: the true maps' ``(k, B)`` from :func:`map_bispectra`, where already computed."""
    from types import SimpleNamespace

    from ember_dist.train.eval_table import report_score

    b = SimpleNamespace(name="prediction", field=field, meta={})
    m = _metrics(b, truth, preds, attrs, bispectra=map_bispectra(truth, preds, attrs, of_truth=of_truth))
    r = _report(b, m, "", None, (), 0)
    return report_score(r), r


def evaluate(model, maps, field=None, out=None, input_maps=None, input_var="dm", axes=("z",), realisations=1,
             seed=0, bin_width=1.0, overwrite=False):
    """Evaluate ``model`` (bundle name/path) on the held-out maps of a deposit store; returns the report dict.

    Writes ``report.json`` and ``power_error.csv`` into ``out`` when given (a directory already holding
    files only with ``overwrite``).
    """
    if out is not None:
        out = _check_out(out, overwrite)
    b, truth, _, preds, attrs = predict_held_out(model, maps, field, input_maps, input_var, axes, realisations, seed)
    report = evaluate_predictions(b, truth, preds, attrs, maps, input_maps, axes, seed, bin_width)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
        with open(out / "power_error.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["k_h_per_ckpc", "median_frac_error"])
            w.writerows(zip(report["power_k"], report["power_frac_error_median"]))
    return report


def evaluate_models(models, maps, out, input_maps=None, field=None, input_var="dm", axes=("z",), realisations=8,
                    seed=0, bin_width=1.0, overwrite=False):
    """Evaluate several bundles of one field on the same held-out maps; write the table, figures and reports.

    Parameters
    ----------
    models : sequence of str
        Bundle names or paths (all of the same field).
    maps : str
        Store holding the true field (and the input, unless ``input_maps``).
    out : str or Path
        Report directory: ``report.json`` (every model's report, the table rows, the column
        definitions and targets), ``table.md`` (with the definitions as footnotes), ``table.csv``,
        ``maps.png``, ``power.png``, ``bispectrum.png``, ``pdf.png`` and, for HI, ``cddf.png``; with maps
        of several boxes also ``per-box.md`` / ``per-box.csv`` (the same columns per model and box) and
        ``per_box`` in ``report.json`` ({model: {box seed: row}}).
    input_maps : str or sequence of str, optional
        Store of the input per model (one for all, or one per model; e.g. a 64x-downsampled
        deposit for MR -> HR models).  Default ``maps``.
    realisations : int
        WGAN realisations per map (a U-Net gives one).
    overwrite : bool
        Replace the report in an ``out`` that already holds files (otherwise refused before any work).

    Returns
    -------
    list of dict
        The table rows.
    """
    from ember_dist.model.bundle import load_model

    models = list(models)
    if not models:
        raise ValueError("models is empty; pass at least one bundle name or path.")
    ins = list(input_maps) if isinstance(input_maps, (list, tuple)) else [input_maps] * len(models)
    if len(ins) != len(models):
        raise ValueError(f"input_maps needs one store for all models or one per model ({len(models)}). "
                         f"Received {len(ins)}.")
    fields = {field or load_model(m).field for m in models}
    if len(fields) != 1:
        raise ValueError(f"models predict different fields {sorted(fields)}; evaluate one field per report.")
    out = _check_out(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    results, dm0, truth, attrs, per_box, bis = [], None, None, None, {}, None
    for m, im in zip(models, ins):
        b, truth, dm, preds, attrs = predict_held_out(m, maps, field, im, input_var, axes, realisations, seed)
        # every model is judged on the same true maps (the same store, field and axes): their bispectrum once
        bis = map_bispectra(truth, preds, attrs, bin_width, of_truth=None if bis is None else bis[:2])
        met = _metrics(b, truth, preds, attrs, bin_width, bispectra=bis)
        dm0 = dm if dm0 is None else dm0  # the first model's input is shown
        results.append((_report(b, met, maps, im, axes, seed), met, preds))
        per_box[b.name] = per_box_rows(b, truth, preds, attrs, maps, im, axes, seed, bin_width, bis)
    rows = table_rows([r for r, _, _ in results], [m for _, m, _ in results])
    write_table(rows, out, [r["targets"] for r, _, _ in results])
    box_rows = [r for boxes in per_box.values() for r in boxes.values()]
    if box_rows:
        write_table(box_rows, out, name="per-box")
    doc = {"models": [r for r, _, _ in results], "table": rows,
           "columns": {c: {"report_key": k, "definition": d} for c, (k, d) in COLUMNS.items()},
           "targets": {c: {"rule": t[0], "bound": t[1]} for c, t in TARGETS.items()}}
    if box_rows:
        doc["per_box"] = per_box
    (out / "report.json").write_text(json.dumps(doc, indent=1) + "\n")
    figures(out, truth, dm0, results, attrs, fields.pop())
    return rows
