# SPDX-License-Identifier: BSD-3-Clause
"""Binned sums of 2D power spectra: |k| shells, independent-mode counts, window deconvolution.

:func:`shell_sums` transforms each field (:func:`ember_dist.stats.fft2.fft2_half`) and sums,
per |k| bin, the mode count, |k| and Re(D_p D_q*) for every pair of fields, over the
independent half-plane modes, column strip by column strip; the public spectra in
:mod:`ember_dist.stats.power` turn the sums into averages with units.

Examples
--------
>>> import numpy as np
>>> sums, nbins, first, nprod = shell_sums([np.ones((8, 8))], 8, 1.0, None, 32)
>>> nbins, first, nprod, sums.shape
(5, 1, 1, (16,))
>>> float(sums[nbins:2 * nbins].sum()) == (8 * 8 - 4) / 2 + 4 - 1  # independent modes, no DC
True
"""
from __future__ import annotations

import numpy as np

from ._common import is_dask, lead_reduce
from .fft2 import STRIP, fft2_half
from .fft_disk import _remove_scratch

__all__ = ["WINDOW_ORDER", "shell_sums"]

#: Mass-assignment windows and the power p of their sinc^p kernel per axis.
WINDOW_ORDER = {None: 0, "none": 0, "ngp": 1, "cic": 2, "tsc": 3, "pcs": 4}


def _window2(ix, iy, n, order):
    """Squared sinc^order mass-assignment window for integer wavenumbers (grid n)."""
    wx = np.sinc(ix / n) ** order  # np.sinc(t) = sin(pi t)/(pi t); t = k / (2 k_Nyq)
    wy = np.sinc(iy / n) ** order
    return (wy[:, None] * wx[None, :]) ** 2


def _mode_sums(blocks, x0, n, nbins, width, first, order):
    """Binned sums for one column strip of half-plane DFTs (see :func:`power_spectrum`).

    Returns ``[sum w*|k|, sum w, sum w*P_j for each product j, DC_j for each field]``
    where ``w`` counts independent modes (half plane, self-conjugate columns halved).
    """
    nf = len(blocks)
    prods = [(0, 0)] if nf == 1 else [(0, 1), (0, 0), (1, 1)]
    out = np.zeros((2 + len(prods)) * nbins + nf)
    nc = blocks[0].shape[-1]
    iy = np.fft.fftfreq(n, 1.0 / n)
    cstep = max(1, STRIP // 4 // max(n, 1))
    for c0 in range(0, nc, cstep):
        sl = slice(c0, min(nc, c0 + cstep))
        ix = np.arange(x0 + sl.start, x0 + sl.stop, dtype=np.float64)
        kk = np.sqrt(iy[:, None] ** 2 + ix[None, :] ** 2)
        b = (np.floor(kk / width) if width != 1 else np.floor(kk)).astype(np.intp) - first
        b[(b < 0) | (b >= nbins)] = nbins  # overflow bin, dropped
        half = (ix == 0) | ((n % 2 == 0) & (ix == n // 2))
        if half.any():
            drop = (iy < 0) & ~((n % 2 == 0) & (iy == -(n // 2)))  # conjugates of kept modes
            b[np.ix_(drop, half)] = nbins
        if x0 + sl.start == 0:
            b[0, 0] = nbins  # drop DC
        b = b.ravel()
        out[0:nbins] += np.bincount(b, kk.ravel(), nbins + 1)[:nbins]
        out[nbins:2 * nbins] += np.bincount(b, None, nbins + 1)[:nbins]
        win = _window2(ix, iy, n, order).ravel() if order else None
        for j, (p, q) in enumerate(prods):
            fp, fq = blocks[p][:, sl], blocks[q][:, sl]
            pw = (fp.real * fq.real + fp.imag * fq.imag).ravel()  # Re(fp conj(fq))
            if win is not None:
                pw = pw / win
            out[(2 + j) * nbins:(3 + j) * nbins] += np.bincount(b, pw, nbins + 1)[:nbins]
    if x0 == 0:
        for i in range(nf):
            out[(2 + len(prods)) * nbins + i] = blocks[i][0, 0].real
    return out


def _bins(n, width):
    """Number of output bins and index of the first one (bin i covers [i, i+1) * width)."""
    kmax = np.sqrt(2.0) * (n // 2)
    first = 1 if width <= 1 else 0
    nbins = int(np.floor(kmax / width)) + 1 - first
    return nbins, first


def shell_sums(fields, n, width, window, chunk_mib, rechunk_method=None, scratch_dir=None, check_scratch=True):
    """Binned sums of the maps ``fields`` (one, or two for a cross spectrum) of ``n`` x ``n`` pixels.

    Returns ``(sums, nbins, first, nprod)``: ``sums`` on the maps' leading dims + one axis laid
    out as in :func:`_mode_sums`, ``nbins`` bins of width ``width`` (in k_F) from bin index
    ``first``, and ``nprod`` products of fields (1, or 3 for two fields: 12, 11, 22).
    """
    if width <= 0:
        raise ValueError(f"bin_width={width!r} must be positive (units of k_F = 2 pi / box_size)")
    if window not in WINDOW_ORDER:
        raise ValueError(f"window={window!r} is unknown; use one of {sorted(k for k in WINDOW_ORDER if k)!r}")
    order = WINDOW_ORDER[window]
    nbins, first = _bins(n, width)
    nf = len(fields)
    nprod = 1 if nf == 1 else 3
    nout = (2 + nprod) * nbins + nf

    if is_dask(fields[0]):
        ffts = [fft2_half(f, chunk_mib, rechunk_method, scratch_dir, check_scratch) for f in fields]

        def func(*args):
            *bs, y0, x0 = args
            return _mode_sums(bs, x0, n, nbins, width, first, order)

        sums = lead_reduce(func, ffts, (nout,))
        scratch = [p for f in ffts for p in getattr(f, "_ember_scratch", [])]
        if scratch:
            # one task after every column strip is summed: safe to delete the scratch files
            sums = sums.rechunk(sums.shape).map_blocks(_remove_scratch, paths=scratch, dtype=sums.dtype)
    else:

        def func(*args):
            *ms, y0, x0 = args
            return _mode_sums([fft2_half(m) for m in ms], 0, n, nbins, width, first, order)

        sums = lead_reduce(func, [np.asarray(f) for f in fields], (nout,))
    return sums, nbins, first, nprod
