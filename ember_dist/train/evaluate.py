# SPDX-License-Identifier: BSD-3-Clause
"""Minimal evaluation of a bundle on held-out projections (first slice of ``ember-dist evaluate``).

For every held-out map (projections ``axes``, default ``z``; all slabs) the
bundle predicts the field from the input map ``realisations`` times (seeds
``seed .. seed + realisations - 1``; a U-Net gives one prediction whatever
the number asked), with :func:`ember_dist.engine.reference.predict_whole`
(whole periodic map, exact halo).  Reported, per model:

* total-mass fractional error per map and realisation,
  ``sum(pred) / sum(true) - 1``, and its median (the paper's Table 4 statistic);
* power-spectrum fractional error per k, ``P_pred(k) / P_true(k) - 1`` of the
  overdensity, with ``P_pred`` averaged over realisations, median over maps.

Writes ``report.json`` and ``power_error.csv`` into ``out``.  CDDF, bispectrum
and figures are not part of this slice.
"""
from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import numpy as np

__all__ = ["evaluate"]


def evaluate(model, maps, field=None, out=None, input_maps=None, input_var="dm", axes=("z",), realisations=1,
             seed=0, bin_width=1.0):
    """Evaluate ``model`` (bundle name/path) on the held-out maps of a deposit store; returns the report dict."""
    from ember_dist.engine.reference import predict_whole
    from ember_dist.model.bundle import load_model
    from ember_dist.stats.power import power_spectrum
    from ember_dist.train.sampler import open_maps

    if int(realisations) < 1:
        raise ValueError(f"realisations must be >= 1. Received: realisations={realisations}.")

    b = load_model(model)
    field = field or b.field
    truth, attrs = open_maps(maps, field, axes)
    dm, _ = open_maps(input_maps or maps, input_var, axes)
    nreal = int(realisations) if b.preset.noise else 1
    net = b.build()
    preds = np.stack([np.stack([predict_whole(b, d, seed=seed + r, axis=0, slab=i, model=net)
                                for r in range(nreal)]) for i, d in enumerate(dm)])  # (maps, real, y, x)
    mass_err = preds.astype(np.float64).sum(axis=(2, 3)) / truth.astype(np.float64).sum(axis=(1, 2))[:, None] - 1.0
    box = float(attrs.get("pixel_size", 1.0)) * truth.shape[-1]
    pt = power_spectrum(truth, box_size=box, bin_width=bin_width)
    pp = power_spectrum(preds.reshape((-1,) + preds.shape[-2:]), box_size=box, bin_width=bin_width)
    p_true = np.asarray(pt["power"])
    p_pred = np.asarray(pp["power"]).reshape(preds.shape[0], nreal, -1).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = p_pred / p_true - 1.0
    k = np.asarray(pt["k"])
    with warnings.catch_warnings():  # maps predicted empty give NaN spectra: reported as null
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(frac, axis=0)
    report = {
        "model": b.name, "kind": b.meta.get("kind"), "field": field, "maps": str(maps),
        "input_maps": str(input_maps or maps), "held_out_axes": list(axes), "n_maps": int(truth.shape[0]),
        "realisations": nreal, "seed": seed,
        "total_mass_frac_error_median": float(np.median(mass_err)),
        "total_mass_frac_error": mass_err.tolist(),
        "power_k": k.tolist(),
        "power_frac_error_median": [float(v) if np.isfinite(v) else None for v in med],
    }
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
        with open(out / "power_error.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["k_h_per_ckpc", "median_frac_error"])
            w.writerows(zip(k.tolist(), report["power_frac_error_median"]))
    return report
