# SPDX-License-Identifier: BSD-3-Clause
"""The statistics ``ember-dist evaluate`` compares: per-map P(k) and equilateral bispectra of the truth and the
predictions, the P(k) band coverage, the pixel PDF and HI CDDF, gathered by :func:`_metrics` into the arrays a
report (:mod:`ember_dist.train.evaluate`) and its table (:mod:`ember_dist.train.eval_table`) are written from."""
from __future__ import annotations

import warnings

import numpy as np

from ember_dist.train.eval_table import CDDF_MIN_ABSORBERS, frac_error

__all__ = ["band_coverage", "maps_power", "per_map_power", "truth_bispectra", "map_bispectra"]


def _nanmedian(a, axis=0):
    with warnings.catch_warnings():  # all-NaN columns (empty predictions, empty bins) stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(a, axis=axis)


def _nanmean_abs(a):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean(np.abs(a)))


def _nanmax_abs(a):
    a = np.abs(np.asarray(a, np.float64))
    return float(np.nanmax(a)) if np.isfinite(a).any() else float("nan")


def band_coverage(true, real, lo=16.0, hi=84.0):
    """Fraction of ``true`` entries inside the ``lo``-``hi`` percentile band of the realisations ``real``.

    The band's edges are the realisations' percentiles at the Weibull plotting positions (NumPy
    ``method="weibull"``: the ``p (n + 1)``-th of ``n`` sorted values, interpolated), the prediction interval
    for one more draw: a truth drawn like one more realisation falls below the j-th of ``n`` with probability
    ``j / (n + 1)``, so inside the 16-84 % band with 0.68 at the order statistics, 0.68-0.71 between them from 6
    realisations on (with fewer the band is the realisations' range, ``(n - 1) / (n + 1)``). NumPy's default
    (linear, ``p (n - 1)``) band holds it with ~``0.68 (n - 1) / (n + 1)``, 0.53 for 8 realisations: no emulator,
    however good, could meet a 2/3 target with it (used until 2026-12-04; reports of then say "numpy linear").

    Parameters
    ----------
    true : array_like, shape (maps, bins)
    real : array_like, shape (maps, realisations, bins)
        Percentiles over axis 1; a band edge counts as inside.

    Returns
    -------
    float
        Over the (map, bin) pairs where the truth and the band are finite; NaN with fewer
        than 2 realisations or no such pair.

    >>> band_coverage([[1.0, 5.0]], [[[0.0, 0.0], [2.0, 2.0], [4.0, 4.0]]])  # 3 realisations: band [0, 4]
    0.5
    """
    true, real = np.asarray(true, np.float64), np.asarray(real, np.float64)
    if real.shape[1] < 2:
        return float("nan")
    p_lo, p_hi = np.percentile(real, [lo, hi], axis=1, method="weibull")
    ok = np.isfinite(true) & np.isfinite(p_lo) & np.isfinite(p_hi)
    return float(((true >= p_lo) & (true <= p_hi))[ok].mean()) if ok.any() else float("nan")


def _edges_for(truth, per_dex):
    pos = truth[truth > 0]
    if pos.size == 0:
        return None
    lo, hi = np.floor(np.log10(pos.min())), np.ceil(np.log10(pos.max()))
    return 10.0 ** np.arange(lo, hi + 1e-9, 1.0 / per_dex)


def maps_power(maps, attrs, bin_width=1.0):
    """``(k, P (maps, k))``: the overdensity power spectrum of each of ``maps`` (``(maps, y, x)``;
    ``ember_dist.stats.power.power_spectrum``, radial bins of ``bin_width`` k_F), k in h/ckpc from the maps'
    ``pixel_size`` attribute."""
    from ember_dist.stats.power import power_spectrum

    p = power_spectrum(maps, box_size=float(attrs.get("pixel_size", 1.0)) * maps.shape[-1], bin_width=bin_width)
    return np.asarray(p["k"]), np.asarray(p["power"])


def per_map_power(truth, preds, attrs, bin_width=1.0):
    """``(k, P_true (maps, k), P_pred (maps, realisations, k), k_Nyquist)``: the overdensity power spectrum of each
    true map and each prediction (``ember_dist.stats.power.power_spectrum``, radial bins of ``bin_width`` k_F),
    k in h/ckpc from the maps' ``pixel_size`` attribute (:func:`maps_power` of each)."""
    k, p_true = maps_power(truth, attrs, bin_width)
    _, p_pred = maps_power(preds.reshape((-1,) + preds.shape[-2:]), attrs, bin_width)
    return k, p_true, p_pred.reshape(preds.shape[0], preds.shape[1], -1), np.pi / float(attrs.get("pixel_size", 1.0))


def truth_bispectra(truth, attrs, bin_width=1.0):
    """``(k, B of each true map (maps, shells))``: :func:`map_bispectra`'s first two items."""
    from ember_dist.stats.bispectrum import bispectrum

    bt = bispectrum(truth, box_size=float(attrs.get("pixel_size", 1.0)) * truth.shape[-1], bin_width=bin_width)
    return np.asarray(bt["k1"]), np.asarray(bt["bispectrum"])


def map_bispectra(truth, preds, attrs, bin_width=1.0, of_truth=None):
    """``(k, B of each true map (maps, shells), B of each prediction (maps, real, shells))``: the equilateral
    bispectrum of the overdensity per map, computed once for the table and its per-box rows; ``of_truth``: the
    first two items of an earlier call on the same truth (several models judged on the same maps)."""
    from ember_dist.stats.bispectrum import bispectrum

    nmaps, nreal = preds.shape[:2]
    box = float(attrs.get("pixel_size", 1.0)) * truth.shape[-1]
    kb, b_true = of_truth if of_truth is not None else truth_bispectra(truth, attrs, bin_width)
    flat = preds.reshape((-1,) + preds.shape[-2:])  # (maps * real, y, x)
    b_pred = np.asarray(bispectrum(flat, k=kb, box_size=box, bin_width=bin_width)["bispectrum"])
    return kb, b_true, b_pred.reshape(nmaps, nreal, -1)


def _metrics(b, truth, preds, attrs, bin_width=1.0, min_counts=20, per_dex=5, bispectra=None):
    """Statistics of one model's predictions against the truth (dict of arrays and lists); ``bispectra``: these
    maps' :func:`map_bispectra`, where already computed."""
    from ember_dist.stats.cddf import cddf
    from ember_dist.stats.pdf import pixel_pdf

    nreal = preds.shape[1]
    mass_err = preds.astype(np.float64).sum(axis=(2, 3)) / truth.astype(np.float64).sum(axis=(1, 2))[:, None] - 1.0
    k, p_true, p_pred, k_nyq = per_map_power(truth, preds, attrs, bin_width)
    out = {
        "mass_err": mass_err,
        "k": k,
        "p_true": p_true.mean(axis=0),
        "p_pred": p_pred.mean(axis=(0, 1)),
        "p_frac_median": _nanmedian(frac_error(p_pred.mean(axis=1), p_true), axis=0),
        # per realisation: median over maps (the spread of the WGAN samples)
        "p_frac_real": np.stack([_nanmedian(frac_error(p_pred[:, r], p_true), axis=0) for r in range(nreal)]),
    }
    low, mid = k <= 0.5 * k_nyq, (k > 0.5 * k_nyq) & (k <= 0.75 * k_nyq)
    out.update(k_nyq=k_nyq, p_mean_abs_low=_nanmean_abs(out["p_frac_median"][low]),
               p_max_abs_low=_nanmax_abs(out["p_frac_median"][low]),
               p_max_abs_mid=_nanmax_abs(out["p_frac_median"][mid]),
               p_band_coverage=band_coverage(p_true[:, low | mid], p_pred[:, :, low | mid]))
    # equilateral bispectrum of the overdensity, mean over maps (per realisation for the predictions)
    kb, b_true, b_pred = bispectra if bispectra is not None else map_bispectra(truth, preds, attrs, bin_width)
    b_true, b_pred = b_true.mean(axis=0), b_pred.mean(axis=0)  # (shells,), (real, shells)
    b_frac = frac_error(b_pred, b_true[None])
    out.update(b_k=kb, b_true=b_true, b_pred=b_pred, b_frac_real=b_frac,
               b_mean_abs=float(_nanmedian(np.array([_nanmean_abs(f[kb <= 0.5 * k_nyq]) for f in b_frac]))))
    edges = _edges_for(truth, per_dex)
    if edges is not None:
        ht = pixel_pdf(truth, edges=edges)
        hp = pixel_pdf(preds.transpose(1, 0, 2, 3), edges=edges, dims=("sample", "slab", "y", "x"))
        ct = np.asarray(ht["counts"]).reshape(-1, edges.size - 1).sum(axis=0)
        cp = np.asarray(hp["counts"]).reshape(nreal, -1, edges.size - 1).sum(axis=1)
        out.update(pdf_m=np.asarray(ht["m"]), pdf_true=ct / truth.size, pdf_pred=cp / truth.size,
                   pdf_ok=ct >= min_counts)
        out["pdf_frac"] = _nanmedian(frac_error(out["pdf_pred"], out["pdf_true"][None], out["pdf_ok"][None]), axis=0)
        p1, p99 = np.percentile(truth[truth > 0], [1, 99])
        inside = (out["pdf_m"] >= p1) & (out["pdf_m"] <= p99)
        out.update(pdf_range=(float(p1), float(p99)), pdf_max_abs_1_99=_nanmax_abs(out["pdf_frac"][inside]))
    if b.field == "hi":
        params = {k: float(attrs[k]) for k in ("pixel_size", "redshift", "hubble", "slab_depth")}
        from ember_dist.stats.cddf import column_density_per_mass

        fac = column_density_per_mass(params["pixel_size"], params["redshift"], params["hubble"])
        nedges = _edges_for(truth * fac, per_dex)
        if nedges is not None:
            ct = cddf(truth, edges=nedges, **params)
            ft, ctr = np.asarray(ct["f"]), np.asarray(ct["counts"])
            fp = np.asarray(cddf(preds.transpose(1, 0, 2, 3), edges=nedges, dims=("sample", "slab", "y", "x"),
                                 **params)["f"])  # (real, N)
            ok = ctr >= min_counts
            out.update(cddf_N=np.sqrt(nedges[:-1] * nedges[1:]), cddf_true=ft, cddf_pred=fp, cddf_ok=ok,
                       cddf_frac=_nanmedian(frac_error(fp, ft[None], ok[None]), axis=0))
            ok10 = ctr >= CDDF_MIN_ABSORBERS
            out["cddf_max_abs_min10"] = _nanmax_abs(_nanmedian(frac_error(fp, ft[None], ok10[None]), axis=0))
    return out
