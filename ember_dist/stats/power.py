# SPDX-License-Identifier: BSD-3-Clause
"""Periodic 2D power spectra of maps: auto, cross and the correlation coefficient.

Lazy inputs are transformed by a row FFT, a rechunk and a column FFT (every task holds
a strip of the map, never the whole map), and the binned sums are reduced per block.
This module holds the public spectra, which turn the binned sums into an
``xarray.Dataset`` with units; the transform is :mod:`ember_dist.stats.fft2` (the
transposition's method in :mod:`ember_dist.stats.transposition`, its ``"disk"`` method in
:mod:`ember_dist.stats.fft_disk`) and the binning :mod:`ember_dist.stats.shells`.
``fft2_half``, ``resolve_rechunk_method`` and ``WINDOW_ORDER`` are importable from here too.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> m = rng.normal(size=(64, 64))
>>> ps = power_spectrum(m, box_size=64.0, overdensity=False)
>>> ps["power"].dims, ps.sizes["k_bin"]
(('k_bin',), 45)
>>> float(ps["n_modes"].sum()) == (64 * 64 - 4) / 2 + 4 - 1  # independent modes, no DC
True
>>> power_spectrum(m)
Traceback (most recent call last):
...
ValueError: power_spectrum needs 'box_size' (in ckpc/h) but the input carries no such attr; pass box_size=... or an xarray input whose attrs hold 'box_size'
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from ._common import finalize, as_map, is_dask
from .fft2 import fft2_half
from .shells import WINDOW_ORDER, shell_sums
from .transposition import resolve_rechunk_method

__all__ = ["power_spectrum", "cross_power_spectrum", "fft2_half", "resolve_rechunk_method", "WINDOW_ORDER"]


def _output(mi, sums, nbins, first, nprod, names, width, window, overdensity, n):
    lead_dims = mi.lead_dims
    L = mi.param("box_size", "power_spectrum")
    kf = 2 * np.pi / L
    k_sum = sums[..., 0:nbins]
    cnt = sums[..., nbins:2 * nbins]
    dcs = [sums[..., (2 + nprod) * nbins + i] for i in range(2 if nprod == 3 else 1)]
    idx = (0,) * len(lead_dims)
    with np.errstate(invalid="ignore", divide="ignore"):
        k = k_sum[idx] / cnt[idx] * kf
        pw = [sums[..., (2 + j) * nbins:(3 + j) * nbins] / cnt * (L**2 / float(n) ** 4) for j in range(nprod)]
    if overdensity:
        mean = [dc / float(n) ** 2 for dc in dcs]
        if nprod == 1:
            pw = [pw[0] / mean[0][..., None] ** 2]
        else:
            pw = [pw[0] / (mean[0] * mean[1])[..., None], pw[1] / mean[0][..., None] ** 2, pw[2] / mean[1][..., None] ** 2]
        unit = "(ckpc/h)^2"
    else:
        unit = "(Msun/h)^2 (ckpc/h)^2"
    dims = lead_dims + ("k_bin",)
    bidx = np.arange(first, first + nbins)
    coords = dict(mi.lead_coords())
    coords["k_bin"] = ("k_bin", bidx, {"long_name": "bin index i: |k| in [i, i+1) * bin_width * k_F"})
    ds = xr.Dataset(coords=coords)
    ds["k"] = ("k_bin", k, {"units": "h/ckpc", "long_name": "mean |k| of the modes in the bin"})
    ds["k_min"] = ("k_bin", bidx * width * kf, {"units": "h/ckpc", "long_name": "lower bin edge"})
    ds["k_max"] = ("k_bin", (bidx + 1) * width * kf, {"units": "h/ckpc", "long_name": "upper bin edge"})
    ds["n_modes"] = ("k_bin", cnt[idx], {"units": "1", "long_name": "independent (half-plane) modes"})
    for name, p in zip(names, pw):
        ds[name] = (dims, p, {"units": unit, "long_name": name.replace("_", " ") + " spectrum"})
    ds.attrs.update(
        box_size=L, n_pixels=n, bin_width_kf=float(width), window=str(window),
        overdensity=int(bool(overdensity)),
        convention="P = L^2 <Re D1 D2*> / N^4, D the unnormalised DFT; DC dropped",
    )
    for key in ("redshift", "hubble"):
        if key in mi.attrs:
            ds.attrs[key] = float(mi.attrs[key])
    return ds


def power_spectrum(data, box_size=None, *, bin_width=1.0, window=None, overdensity=True,
                   field=None, dims=None, chunk_mib=32, rechunk_method="auto", scratch_dir=None,
                   check_scratch=True, **params):
    """Periodic 2D power spectrum of a map or a stack of maps.

    Parameters
    ----------
    data : ndarray, dask.array.Array, xarray.DataArray or xarray.Dataset
        Mass per pixel (Msun/h), ``(..., y, x)``, square.
    box_size : float, ckpc/h, optional
        Side of the map; default the ``box_size`` attr (or ``pixel_size * N``).
    bin_width : float
        Bin width in units of the fundamental mode k_F = 2 pi / box_size.
    window : {None, "ngp", "cic", "tsc", "pcs"}
        Mass-assignment window to deconvolve; None for maps not made by such a scheme.
    overdensity : bool
        If True (default), the spectrum of delta = m / <m> - 1 (units (ckpc/h)^2);
        otherwise of the mass map itself ((Msun/h)^2 (ckpc/h)^2).
    field, dims, **params
        See :func:`ember_dist.stats._common.as_map`.
    chunk_mib : float
        Size of one FFT strip (Dask inputs), MiB.
    rechunk_method : {"auto", None, "tasks", "p2p", "disk"}, default: "auto"
        Transposition method for Dask inputs (see :func:`fft2_half`). "auto" goes through
        scratch files (no data between workers, the least memory) where all workers share this
        machine's disk, and through Dask's p2p shuffle otherwise
        (:func:`resolve_rechunk_method`).
    scratch_dir : str, optional
        Directory of the "disk" transposition's scratch files (see :func:`fft2_half`).
    check_scratch : bool
        False: an explicit ``rechunk_method="disk"`` is not checked for room in ``scratch_dir``
        (see :func:`fft2_half`; for a graph that is counted, not computed here).

    Returns
    -------
    xarray.Dataset
        ``k`` (h/ckpc), ``n_modes``, ``k_min``, ``k_max`` on ``k_bin``; ``power`` on the
        input's leading dims + ``k_bin``. Lazy (Dask-backed) for Dask inputs: call
        ``.compute()`` or pass several results to ``dask.compute`` for one pass.

    Notes
    -----
    With D_k the unnormalised DFT, P(k) = L^2 <|D_k|^2> / N^4, averaged over the
    independent modes (half plane) with k_F * i <= |k| < k_F * (i + 1) (Pylians3
    convention); ``k`` is the mean |k| of those modes; the DC mode is dropped. Bins past
    k_Nyquist are partly filled. Sums are accumulated in float64. White noise of
    variance s^2 gives P = s^2 (L / N)^2.
    """
    mi = as_map(data, dims=dims, field=field, box_size=box_size, **params)
    mi.param("box_size", "power_spectrum")
    n = mi.npix
    sums, nbins, first, nprod = shell_sums([mi.data], n, bin_width, window, chunk_mib, rechunk_method, scratch_dir,
                                           check_scratch)
    return finalize(_output(mi, sums, nbins, first, nprod, ["power"], bin_width, window, overdensity, n))


def cross_power_spectrum(data1, data2, box_size=None, *, bin_width=1.0, window=None,
                         overdensity=True, field=None, field2=None, dims=None, chunk_mib=32,
                         rechunk_method="auto", scratch_dir=None, check_scratch=True, **params):
    """Cross power spectrum of two maps and their correlation coefficient r(k).

    Parameters
    ----------
    data1, data2 : ndarray, dask.array.Array, xarray.DataArray or xarray.Dataset
        Maps of equal shape (Msun/h per pixel), e.g. truth and prediction. A stack in
        ``data1`` (e.g. with ``sample``) against a single map in ``data2`` is broadcast.
    box_size, bin_width, window, overdensity, dims, chunk_mib, rechunk_method, scratch_dir, check_scratch, **params
        As in :func:`power_spectrum`; attrs are taken from ``data1`` first.
    field, field2 : str, optional
        Variables to take from Dataset inputs.

    Returns
    -------
    xarray.Dataset
        ``power`` (cross, Re <D1 D2*>), ``power_1``, ``power_2`` and
        ``r = power / sqrt(power_1 power_2)`` on leading dims + ``k_bin``; ``k``, ``n_modes``.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.random.default_rng(1).lognormal(size=(32, 32))
    >>> ds = cross_power_spectrum(m, m, box_size=1000.0)
    >>> bool(np.allclose(ds["r"], 1.0))
    True
    """
    m1 = as_map(data1, dims=dims, field=field, box_size=box_size, **params)
    m2 = as_map(data2, field=field2 if field2 is not None else field)
    for key, v in m2.attrs.items():
        m1.attrs.setdefault(key, v)
    m1.param("box_size", "cross_power_spectrum")
    a1, a2 = m1.data, m2.data
    if a1.shape[-2:] != a2.shape[-2:]:
        raise ValueError(
            f"the two maps differ in shape: {a1.shape[-2:]!r} vs {a2.shape[-2:]!r}; regrid one of them"
        )
    if is_dask(a1) or is_dask(a2):
        import dask.array as da

        a1, a2 = da.asarray(a1), da.asarray(a2)
        if a2.shape != a1.shape:
            a2 = a2.rechunk(a1.chunks[-a2.ndim:] if a2.ndim == a1.ndim else a1.chunks[-2:])
            a2 = da.broadcast_to(a2, a1.shape, chunks=a1.chunks)
        else:
            a2 = a2.rechunk(a1.chunks)
    else:
        a2 = np.broadcast_to(a2, a1.shape)
    n = m1.npix
    sums, nbins, first, nprod = shell_sums([a1, a2], n, bin_width, window, chunk_mib, rechunk_method, scratch_dir,
                                           check_scratch)
    ds = _output(m1, sums, nbins, first, nprod, ["power", "power_1", "power_2"], bin_width,
                 window, overdensity, n)
    p12, p11, p22 = (sums[..., (2 + j) * nbins:(3 + j) * nbins] for j in range(3))
    with np.errstate(invalid="ignore", divide="ignore"):
        # built from the sums, not from ds["power"]: see pdf.py on distributed finalize
        ds["r"] = (ds["power"].dims, p12 / np.sqrt(p11 * p22))
    ds["r"].attrs = {"units": "1", "long_name": "correlation coefficient P12 / sqrt(P1 P2)"}
    return finalize(ds)
