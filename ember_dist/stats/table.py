# SPDX-License-Identifier: BSD-3-Clause
"""The short table ``ember-dist stats`` prints at the end of a run.

One row per number worth reading: the total mass of each map (up to :data:`MAX_MAPS`, then
their sum), P(k) and B(k) at three wavenumbers (the first bin, the geometric middle and the
last bin below half the largest k), and the mean absolute error of the PDF and CDDF over the
bins where both are positive.  Predictions are the median over realisations, averaged over
maps for the curves; errors are ``prediction / truth - 1``.  Units are those of the figures
(:func:`ember_dist.stats.plots.plot_units`: k in h/Mpc, P(k) in (Mpc/h)^2).

Examples
--------
>>> import numpy as np, xarray as xr
>>> pred = {"total_mass": xr.Dataset({"mass": ("sample", [6.7e10, 6.7e10], {"units": "Msun/h"})})}
>>> truth = {"total_mass": xr.Dataset({"mass": ((), 1e10, {"units": "Msun/h"})})}
>>> print(format_table(summary_rows(pred, truth)))
statistic            at  prediction  truth  error
total mass [Msun/h]  0   6.7e+10     1e+10  +570.0%
"""
from __future__ import annotations

import warnings

import numpy as np

from .plots import plot_units

__all__ = ["summary_rows", "format_table", "MAX_MAPS"]

#: Total-mass rows: one per map up to this many maps, else one row for their sum.
MAX_MAPS = 6
_CURVES = {"power": ("k", "k_bin", "power", "P(k)"), "bispectrum": ("k1", "triangle", "bispectrum", "B(k,k,k)")}
_ONE_POINT = {"pdf": ("m_bin", "pdf", "pixel PDF"), "cddf": ("N_bin", "f", "CDDF")}


def _median(v):
    if "sample" not in v.dims:
        return v
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return v.median("sample")


def _mean_maps(v, keep):
    other = [d for d in v.dims if d not in (keep, "sample")]
    return v.mean(other) if other else v


def _err(p, t):
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(p) / float(t) - 1.0 if t is not None else None


def _mass_rows(p, t):
    pm = _median(p["mass"]).astype(np.float64)
    tm = None if t is None else t["mass"].astype(np.float64)
    units = p["mass"].attrs.get("units", "Msun/h")
    lead = list(pm.dims)
    flat = pm.stack(map=lead) if lead else pm.expand_dims(map=[0])
    tflat = None if tm is None else (tm.stack(map=lead) if lead else tm.expand_dims(map=[0]))
    if flat.sizes["map"] > MAX_MAPS:
        tv = None if tflat is None else float(tflat.sum())
        return [("total mass", f"all {flat.sizes['map']} maps", float(flat.sum()), tv, _err(flat.sum(), tv), units)]
    rows = []
    for i in range(flat.sizes["map"]):
        key = flat.indexes["map"][i] if lead else i
        where = "/".join(str(v) for v in key) if isinstance(key, tuple) else str(key)
        tv = None if tflat is None else float(tflat[i])
        rows.append(("total mass", where, float(flat[i]), tv, _err(flat[i], tv), units))
    return rows


def _curve_rows(name, p, t):
    xv, xdim, var, label = _CURVES[name]
    x, xu = plot_units(p[xv].values, p[xv].attrs.get("units", ""))
    y, yu = plot_units(_mean_maps(_median(p[var]), xdim).values, p[var].attrs.get("units", ""))
    ty = None if t is None else plot_units(_mean_maps(t[var], xdim).values, t[var].attrs.get("units", ""))[0]
    ok = np.flatnonzero(np.isfinite(y) & (y > 0) & np.isfinite(x) & (x > 0))
    if ok.size == 0:
        return []
    lo, hi = ok[0], ok[x[ok] <= 0.5 * x[ok].max()][-1] if np.any(x[ok] <= 0.5 * x[ok].max()) else ok[-1]
    mid = ok[np.argmin(np.abs(np.log(x[ok]) - 0.5 * (np.log(x[lo]) + np.log(x[hi]))))]
    rows = []
    for i in dict.fromkeys((lo, mid, hi)):
        tv = None if ty is None else float(ty[i])
        rows.append((label, f"k={x[i]:.3g} {xu}", float(y[i]), tv, _err(y[i], tv), yu))
    return rows


def _one_point_rows(name, p, t):
    xdim, var, label = _ONE_POINT[name]
    if t is None:
        return []
    y = _mean_maps(_median(p[var]), xdim).values.astype(np.float64)
    ty = _mean_maps(t[var], xdim).values.astype(np.float64)
    ok = (y > 0) & (ty > 0)
    if not ok.any():
        return []
    e = float(np.mean(np.abs(y[ok] / ty[ok] - 1.0)))
    return [(label, f"mean |error|, {int(ok.sum())} bins", None, None, e, "")]


def summary_rows(pred, truth=None):
    """Rows ``(statistic, at, prediction, truth, error, units)`` of the computed statistics.

    Parameters
    ----------
    pred, truth : dict of str -> xarray.Dataset
        As returned by :func:`ember_dist.stats.cli.compute_statistics`, computed; ``truth`` may be empty.

    Returns
    -------
    list of tuple
        ``prediction`` / ``truth`` / ``error`` are floats or None.
    """
    truth = truth or {}
    rows = []
    for name, p in pred.items():
        t = truth.get(name)
        if name == "total_mass":
            rows += _mass_rows(p, t)
        elif name in _CURVES:
            rows += _curve_rows(name, p, t)
        elif name in _ONE_POINT:
            rows += _one_point_rows(name, p, t)
    return rows


def _num(v):
    return "-" if v is None or not np.isfinite(v) else f"{v:.3g}"


def _pct(v, signed=True):
    return "-" if v is None or not np.isfinite(v) else f"{v:+.1%}" if signed else f"{v:.1%}"


def format_table(rows):
    """``rows`` of :func:`summary_rows` as aligned text (units in the statistic column)."""
    head = ("statistic", "at", "prediction", "truth", "error")
    body = [(f"{s} [{u}]" if u else s, at, _num(p), _num(t), _pct(e, signed="|error|" not in at))
            for s, at, p, t, e, u in rows]
    widths = [max(len(r[i]) for r in [head] + body) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head] + body)
