# SPDX-License-Identifier: BSD-3-Clause
"""Pixel PDF on fixed global log-spaced edges: exact counts summed over blocks.

Examples
--------
>>> import numpy as np
>>> e = log_edges(1.0, 100.0, per_dex=1)
>>> e.tolist()
[1.0, 10.0, 100.0]
>>> ds = pixel_pdf(np.array([[0.0, 2.0], [20.0, 500.0]]), edges=e)
>>> ds["counts"].values.tolist(), int(ds["n_zero"]), int(ds["n_above"])
([1, 1], 1, 1)
>>> log_edges(10.0, 1.0)
Traceback (most recent call last):
...
ValueError: log_edges needs 0 < lo < hi, got lo=10.0, hi=1.0; swap or fix the range
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import xarray as xr

from ._common import finalize, as_map, lead_reduce

__all__ = ["pixel_pdf", "log_edges", "histogram_block", "bin_index"]


def log_edges(lo=1e-2, hi=1e12, per_dex=10):
    """Log-spaced bin edges from ``lo`` to ``hi`` with ``per_dex`` bins per decade.

    Parameters
    ----------
    lo, hi : float
        Range (same units as the values to bin), ``0 < lo < hi``.
    per_dex : int
        Bins per factor of ten; the last bin may end past ``hi`` to keep equal widths.

    Returns
    -------
    ndarray
    """
    if not (lo > 0 and hi > lo):
        raise ValueError(f"log_edges needs 0 < lo < hi, got lo={lo!r}, hi={hi!r}; swap or fix the range")
    a, b = np.log10(lo), np.log10(hi)
    nb = max(1, int(np.ceil(round((b - a) * per_dex, 9))))
    return 10.0 ** (a + np.arange(nb + 1) / per_dex)


_SHIFT = 12  # float32 bit patterns >> 12: 2^20 buckets of relative width 2^-11


@lru_cache(maxsize=16)
def _lookup(edges_key):
    """Bin index of the lowest float32 value of every bucket of bit patterns."""
    edges = np.asarray(edges_key)
    keys = (np.arange(1 << (32 - _SHIFT), dtype=np.uint64) << _SHIFT).astype(np.uint32)
    with np.errstate(invalid="ignore"):
        lo = keys.view(np.float32).astype(np.float64)
    idx = np.searchsorted(edges, lo, side="right") - 1
    idx[lo <= 0] = -1  # zero and negative patterns (incl. -0)
    return idx.astype(np.int32)


def bin_index(v, edges):
    """Index i with ``edges[i] <= v < edges[i + 1]`` (-1 below or <= 0, ``nb`` above or NaN).

    Exact against the float64 ``edges``. float32 values use a lookup table on their bit
    pattern plus a comparison fix-up (~10x faster than ``searchsorted``); other dtypes
    fall back to ``numpy.searchsorted``.

    Examples
    --------
    >>> bin_index(np.array([0.5, 1.0, 9.99, 10.0, 1e3, 0.0], np.float32), np.array([1.0, 10.0, 100.0])).tolist()
    [-1, 0, 0, 1, 2, -1]
    """
    v = np.asarray(v)
    nb = len(edges) - 1
    if v.dtype != np.float32:
        i = np.searchsorted(edges, v, side="right") - 1
        i[~(v > 0) & ~np.isnan(v)] = -1
        return i
    idx = _lookup(tuple(float(e) for e in edges))[v.view(np.uint32) >> _SHIFT]
    ext = np.concatenate([np.asarray(edges, np.float64), [np.inf]])
    while True:  # a bucket can straddle edges: move up while v >= the next edge
        up = (v >= ext[idx + 1]) & (idx < nb)
        if not up.any():
            break
        idx = idx + up
    return idx


def histogram_block(v, edges):
    """Counts, value sums and out-of-range tallies of ``v`` on ``edges``.

    Returns float64 ``[counts (nb), sums (nb), n_zero_or_negative, n_below, n_above,
    sum_all]`` where ``n_below`` counts ``0 < v < edges[0]``, ``n_above`` ``v >= edges[-1]``
    (NaN included) and ``sum_all`` sums the finite values.
    """
    v = np.asarray(v)
    if v.dtype != np.float32:
        v = v.astype(np.float64)
    v = v.ravel()
    nb = len(edges) - 1
    i = bin_index(v, edges) + 1  # 0 below, 1..nb bins, nb+1 above
    cnt = np.bincount(i, minlength=nb + 2)
    sums = np.bincount(i, weights=v, minlength=nb + 2)
    out = np.empty(2 * nb + 4)
    out[:nb] = cnt[1:nb + 1]
    out[nb:2 * nb] = sums[1:nb + 1]
    nzero = np.count_nonzero(v <= 0)
    out[2 * nb] = nzero
    out[2 * nb + 1] = cnt[0] - nzero
    out[2 * nb + 2] = cnt[nb + 1]
    tot = np.sum(v, dtype=np.float64)
    out[2 * nb + 3] = tot if np.isfinite(tot) else np.sum(v[np.isfinite(v)], dtype=np.float64)
    return out


def pixel_pdf(data, edges=None, *, lo=1e-2, hi=1e12, per_dex=10, field=None, dims=None, **params):
    """Distribution of pixel values (mass per pixel) on fixed log-spaced edges.

    Parameters
    ----------
    data : ndarray, dask.array.Array, xarray.DataArray or xarray.Dataset
        Mass per pixel (Msun/h), ``(..., y, x)``.
    edges : array_like, Msun/h, optional
        Bin edges; default ``log_edges(lo, hi, per_dex)``. Fixed before the pass, so
        block histograms add up exactly.
    lo, hi : float, Msun/h
    per_dex : int
    field, dims, **params
        See :func:`ember_dist.stats._common.as_map`.

    Returns
    -------
    xarray.Dataset
        On ``m_bin``: ``m_lo``, ``m_hi``, ``m`` (geometric centre), all Msun/h. On the
        leading dims + ``m_bin``: ``counts`` (exact integers) and ``pdf`` = dN / dlog10(m)
        per pixel (1/dex). On the leading dims: ``n_pixels``, ``n_zero`` (m <= 0),
        ``n_below``, ``n_above`` (outside the edges).
    """
    mi = as_map(data, dims=dims, field=field, square=False, **params)
    edges = log_edges(lo, hi, per_dex) if edges is None else np.asarray(edges, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0) or edges[0] <= 0:
        raise ValueError("edges must be a 1D increasing array of positive values; see log_edges()")
    nb = edges.size - 1
    s = lead_reduce(lambda b, y0, x0: histogram_block(b, edges), mi.data, (2 * nb + 4,), split=True)
    s = s.astype(np.int64) if isinstance(s, np.ndarray) else s
    npix = mi.data.shape[-1] * mi.data.shape[-2]
    dims = mi.lead_dims
    ds = xr.Dataset(coords=mi.lead_coords())
    ds = ds.assign_coords(m_bin=("m_bin", np.arange(nb)))
    ds["m_lo"] = ("m_bin", edges[:-1], {"units": "Msun/h"})
    ds["m_hi"] = ("m_bin", edges[1:], {"units": "Msun/h"})
    ds["m"] = ("m_bin", np.sqrt(edges[:-1] * edges[1:]), {"units": "Msun/h", "long_name": "bin centre (geometric)"})
    counts = s[..., :nb].astype(np.int64)
    ds["counts"] = (dims + ("m_bin",), counts, {"units": "1", "long_name": "pixels per bin"})
    # from the float sums, not from ``counts``: an output that is an ancestor of another
    # output makes distributed cancel the Dataset's finalize task ("lost dependencies")
    ds["pdf"] = (dims + ("m_bin",), s[..., :nb] / (npix * np.log10(edges[1:] / edges[:-1])),
                 {"units": "1/dex", "long_name": "dN/dlog10(m) per pixel"})
    for j, name in enumerate(("n_zero", "n_below", "n_above")):
        ds[name] = (dims, s[..., 2 * nb + j].astype(np.int64), {"units": "1"})
    ds["n_pixels"] = ((), npix, {"units": "1", "long_name": "pixels per map"})
    ds.attrs.update({k: float(v) for k, v in mi.attrs.items()})
    return finalize(ds)
