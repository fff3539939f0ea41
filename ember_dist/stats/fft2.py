# SPDX-License-Identifier: BSD-3-Clause
"""Unnormalised half-plane 2D DFT of maps, in memory or distributed with Dask.

:func:`fft2_half` is ``numpy.fft.rfft2`` in float64 that never holds more than a strip of
the map per task: a row FFT, a rows-to-columns transposition (method chosen by
:func:`ember_dist.stats.transposition.resolve_rechunk_method`) and a column FFT. The
``"disk"`` transposition lives in :mod:`ember_dist.stats.fft_disk`.

Examples
--------
>>> import numpy as np
>>> import dask.array as da
>>> m = np.random.default_rng(0).normal(size=(2, 16, 16))
>>> bool(np.allclose(fft2_half(m), np.fft.rfft2(m)))
True
>>> f = fft2_half(da.from_array(m, chunks=(1, 8, 8)), chunk_mib=0.001, rechunk_method="tasks")
>>> f.chunks[-2:], bool(np.allclose(f.compute(), np.fft.rfft2(m)))  # 9 columns in strips of 4
(((16,), (4, 4, 1)), True)
"""
from __future__ import annotations

import numpy as np

from ._common import is_dask
from .fft_disk import fft2_half_disk
from .transposition import resolve_rechunk_method, scratch_nbytes, split_even

__all__ = ["fft2_half"]

STRIP = 1 << 22  # elements per strip in the in-memory path (bounds temporaries)


def fft2_half(a, chunk_mib=32, rechunk_method=None, scratch_dir=None, check_scratch=True):
    """Unnormalised half-plane 2D DFT of the last two axes, in float64.

    Parameters
    ----------
    a : ndarray or dask.array.Array, shape (..., N, N)
    chunk_mib : float
        Target size of one complex128 strip in MiB (Dask path).
    rechunk_method : {None, "auto", "tasks", "p2p", "disk"}
        Method of the rows-to-columns transposition (None: Dask's configured default, which
        is the disk-backed "p2p" shuffle under ``distributed``; "auto": see
        :func:`resolve_rechunk_method`). "disk": each row task writes
        its transformed strip into a scratch file laid out column strip by column strip, and
        each column task reads its strip back with one read (no serialisation, no network
        transfer, no shuffle buffers); every worker must see ``scratch_dir``. Gathering row
        strips from the input chunks always uses "tasks".
    scratch_dir : str, optional
        Directory of the "disk" transposition's scratch files (two per map, ``ember-fft-*``,
        the size of the input and of the float64 half-plane transform); default Dask's
        ``temporary-directory`` or the system's temporary directory. Must be shared by all
        workers (a local disk is enough for one machine). :func:`power_spectrum` and
        :func:`cross_power_spectrum` delete them once their sums exist; a direct
        ``fft2_half`` call leaves them, and so does a computation that fails.
    check_scratch : bool
        False: ``rechunk_method="disk"`` builds its graph without checking ``scratch_dir`` for
        room (:func:`resolve_rechunk_method`'s ``check``), for a graph that is counted or
        inspected rather than computed here (``ember_dist.stats.graph_cost``).

    Returns
    -------
    ndarray or dask.array.Array, complex128, shape (..., N, N // 2 + 1)
        ``numpy.fft.rfft2`` of the input. A Dask result has ``y`` in one chunk and
        column strips along ``x`` (row FFT, rechunk, column FFT).
    """
    if not is_dask(a):
        return _fft2_half_numpy(np.asarray(a))
    n = a.shape[-1]
    nh = n // 2 + 1
    width = max(1, int(chunk_mib * 2**20 // (16 * n)))
    lead = (1,) * (a.ndim - 2)
    cols = min(width, nh)
    rechunk_method = resolve_rechunk_method(rechunk_method, scratch_nbytes(a), scratch_dir, check_scratch)
    if rechunk_method == "disk":
        return fft2_half_disk(a.rechunk(lead + a.chunks[-2:]), width, nh, cols, scratch_dir)
    return _fft2_half_shuffle(a, width, cols, rechunk_method)


def _fft2_half_numpy(a):
    """:func:`fft2_half` of an in-memory array, ``STRIP`` elements of rows, then of columns, at a time."""
    n = a.shape[-1]
    nh = n // 2 + 1
    out = np.empty(a.shape[:-1] + (nh,), np.complex128)
    rows = max(1, STRIP // max(n, 1))
    for s in range(0, a.shape[-2], rows):
        out[..., s:s + rows, :] = np.fft.rfft(a[..., s:s + rows, :].astype(np.float64), axis=-1)
    cols = max(1, STRIP // max(n, 1))
    for s in range(0, nh, cols):
        out[..., :, s:s + cols] = np.fft.fft(out[..., :, s:s + cols], axis=-2)
    return out


def _fft2_half_shuffle(a, width, cols, rechunk_method):
    """:func:`fft2_half` of a Dask array with a Dask rechunk (``rechunk_method`` "tasks", "p2p" or None)
    as the rows-to-columns transposition; ``width`` rows per row strip, ``cols`` columns per column strip."""
    import dask.array as da

    n = a.shape[-1]
    nh = n // 2 + 1
    lead = (1,) * (a.ndim - 2)
    # Row strips that never straddle an input chunk: each strip is a view of one chunk row,
    # so the split copies nothing, and one task per strip gathers its pieces straight into
    # a float64 buffer and transforms it (no whole-band concatenation, no extra copies).
    ychunks = tuple(c for h in a.chunks[-2] for c in split_even(h, width))
    a = a.rechunk(lead + (ychunks, a.chunks[-1]), method="tasks")
    ind = tuple(range(a.ndim))
    kx = a.ndim  # index of the new (frequency) axis
    r = da.blockwise(_rfft_rows, ind[:-1] + (kx,), a, ind, new_axes={kx: nh},
                     concatenate=False, dtype=np.complex128,
                     meta=np.empty((0,) * a.ndim, np.complex128))
    # Rows to columns. block_size_limit keeps the p2p shuffle from merging several row strips
    # into one large transfer task (its default merges up to array.chunk-size, 128 MiB).
    r = r.rechunk(lead + (n, cols), method=rechunk_method, block_size_limit=16 * n * cols)
    return r.map_blocks(_fft_cols, dtype=np.complex128)


def _rfft_rows(blocks):
    """Row rfft (float64) of the row strip made of ``blocks`` (side by side along x)."""
    if not isinstance(blocks, (list, tuple)):
        blocks = [blocks]
    buf = np.empty(blocks[0].shape[:-1] + (sum(b.shape[-1] for b in blocks),), np.float64)
    x0 = 0
    for b in blocks:
        buf[..., x0:x0 + b.shape[-1]] = b  # float32 -> float64 on the copy
        x0 += b.shape[-1]
    return np.fft.rfft(buf, axis=-1)


def _fft_cols(b):
    return np.fft.fft(b, axis=-2)
