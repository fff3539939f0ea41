# SPDX-License-Identifier: BSD-3-Clause
"""The ``"disk"`` transposition of the distributed 2D FFT: row and column FFTs through scratch files.

:func:`fft2_half_disk` builds the graph (see its docstring for the file layout); the task
functions below it read and write the two scratch files with positioned I/O, and
``_remove_scratch`` deletes them once the binned sums exist. Used by
:func:`ember_dist.stats.fft2.fft2_half` for ``rechunk_method="disk"``. The task functions
keep their ``_`` names: they name the graph's tasks (``_read_cols_fft-...``).
"""
from __future__ import annotations

import numpy as np

from ember_dist.errors import option, spell_or

from .transposition import scratch_root, split_even

__all__ = ["fft2_half_disk"]


def fft2_half_disk(a, rows, nh, cols, scratch_dir):
    """Row FFT and column FFT through two scratch files (``rechunk_method="disk"``).

    1. One task per input chunk writes the chunk's rows into the map's row file, laid out
       row strip by row strip (strips of about ``rows`` rows inside each chunk row; inside a
       strip, chunk after chunk), so a strip is one contiguous read.
    2. One task per chunk row reads its strips one at a time, converts them to float64,
       transforms the rows and writes each strip into the column file, laid out column strip
       by column strip: column strip J (width w_J, first column c0_J) starts at element
       ``n * c0_J`` and row y of it at ``n * c0_J + y * w_J``.
    3. One task per column strip reads it (one contiguous read, a C-ordered (n, w_J) block)
       and transforms the columns.

    No array data crosses the network or goes through serialisation; the only task results
    before step 3 are row counts, which also check that every row was written. Each file ends
    in one flag byte per writing task, set once its data is written: a reader that finds a
    flag unset (a scratch directory that is not shared, so another machine's file) raises
    instead of transforming the holes of a sparse file.
    """
    import dask.array as da

    n = a.shape[-1]
    lead_shape = a.shape[:-2]
    nlead = int(np.prod(lead_shape, dtype=np.int64))
    rows_paths, cols_paths = _scratch_paths(a, nlead, scratch_dir)
    cuts = tuple(range(0, nh, cols)) + (nh,)
    ybounds = tuple(int(v) for v in np.cumsum((0,) + a.chunks[-2]))
    xbounds = tuple(int(v) for v in np.cumsum((0,) + a.chunks[-1]))
    ind = tuple(range(a.ndim))
    y_ind, x_ind, l_ind = ind[-2], ind[-1], ind[:-2]
    kx, ky = a.ndim, a.ndim + 1
    y0s = da.from_array(np.array(ybounds[:-1]), chunks=1)
    x0s = da.from_array(np.array(xbounds[:-1]), chunks=1)
    lead_ids = [da.from_array(np.arange(nlead).reshape(lead_shape), chunks=1), l_ind] if l_ind else []
    meta = np.empty((0,) * a.ndim, np.int64)
    written = da.blockwise(_write_chunk_rows, ind, a, ind, y0s, (y_ind,), x0s, (x_ind,), *lead_ids,
                           align_arrays=False, adjust_chunks={y_ind: 1, x_ind: 1}, dtype=np.int64,
                           meta=meta, paths=rows_paths, n=n, rows=rows, ybounds=ybounds, xbounds=xbounds)
    done = da.blockwise(_rfft_rows_file, ind[:-1], written, ind, y0s, (y_ind,), *lead_ids,
                        concatenate=True, align_arrays=False, dtype=np.int64, meta=np.empty((0,) * (a.ndim - 1), np.int64),
                        src=rows_paths, dst=cols_paths, n=n, rows=rows, cuts=cuts,
                        ybounds=ybounds, xbounds=xbounds, dtype_in=a.dtype.str)
    c0s = da.from_array(np.array(cuts[:-1]), chunks=1)
    out = da.blockwise(_read_cols_fft, l_ind + (ky, kx), done, ind[:-1], c0s, (kx,), *lead_ids,
                       new_axes={ky: n}, concatenate=True, align_arrays=False,
                       adjust_chunks={kx: tuple(int(w) for w in np.diff(cuts))},
                       dtype=np.complex128, meta=np.empty((0,) * a.ndim, np.complex128),
                       paths=cols_paths, n=n, cuts=cuts, nflags=len(ybounds) - 1)
    out._ember_scratch = rows_paths + cols_paths
    return out


def _scratch_paths(a, nlead, scratch_dir):
    """The row files and the column files of ``a``'s ``nlead`` maps, in the scratch directory."""
    import os
    import uuid

    from dask.base import tokenize

    root = scratch_root(scratch_dir)
    # unique per graph: two computations of the same input never share (or delete) a file
    stem = os.path.join(os.path.abspath(root), f"ember-fft-{tokenize(a)[:12]}-{uuid.uuid4().hex[:8]}")
    return [f"{stem}-{i}.rows" for i in range(nlead)], [f"{stem}-{i}.cols" for i in range(nlead)]


def _first(v):
    return int(np.asarray(v).ravel()[0])


def _write_chunk_rows(block, y0, x0, lead_id=None, *, paths, n, rows, ybounds, xbounds):
    """Write one input chunk into its map's row file (see :func:`fft2_half_disk`)."""
    import os

    b = block.reshape(block.shape[-2:])
    y0, x0 = _first(y0), _first(x0)
    i = _first(lead_id) if lead_id is not None else 0
    size = b.dtype.itemsize
    fd = os.open(paths[i], os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        s0 = 0
        for hs in split_even(b.shape[0], rows):
            piece = np.ascontiguousarray(b[s0:s0 + hs])
            _pwrite_all(fd, memoryview(piece).cast("B"), ((y0 + s0) * n + hs * x0) * size)
            s0 += hs
        flag = ybounds.index(y0) * (len(xbounds) - 1) + xbounds.index(x0)
        _pwrite_all(fd, memoryview(b"\x01"), ybounds[-1] * n * size + flag)
    finally:
        os.close(fd)
    return np.ones(block.shape[:-2] + (1, 1), np.int64)


def _rfft_rows_file(written, y0, lead_id=None, *, src, dst, n, rows, cuts, ybounds, xbounds, dtype_in):
    """Row rfft of one chunk row, strip by strip, from the row file into the column file."""
    import os

    y0 = _first(y0)
    i = _first(lead_id) if lead_id is not None else 0
    h = ybounds[ybounds.index(y0) + 1] - y0
    if int(np.sum(written)) != len(xbounds) - 1:
        raise RuntimeError(f"scratch file {src[i]!r}: chunk row at y={y0} is incomplete")
    dt = np.dtype(dtype_in)
    fin = _open_checked(src[i], ybounds[-1] * n * dt.itemsize + ybounds.index(y0) * (len(xbounds) - 1),
                        len(xbounds) - 1)
    fout = os.open(dst[i], os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        s0 = 0
        for hs in split_even(h, rows):
            raw = np.empty(hs * n, dt)
            _pread_all(fin, memoryview(raw).cast("B"), (y0 + s0) * n * dt.itemsize)
            buf = np.empty((hs, n), np.float64)
            for xa, xb in zip(xbounds[:-1], xbounds[1:]):
                buf[:, xa:xb] = raw[hs * xa:hs * xb].reshape(hs, xb - xa)  # -> float64
            del raw
            f = np.fft.rfft(buf, axis=-1)
            del buf
            for c0, c1 in zip(cuts[:-1], cuts[1:]):
                piece = np.ascontiguousarray(f[:, c0:c1])
                _pwrite_all(fout, memoryview(piece).cast("B"), (n * c0 + (y0 + s0) * (c1 - c0)) * 16)
            s0 += hs
        _pwrite_all(fout, memoryview(b"\x01"), n * cuts[-1] * 16 + ybounds.index(y0))
    finally:
        os.close(fin)
        os.close(fout)
    return np.full(np.asarray(written).shape[:-2] + (1,), h, np.int64)


def _read_cols_fft(marks, c0, lead_id=None, *, paths, n, cuts, nflags):
    """Read one column strip of the row-transformed map and FFT it along y."""
    import os

    c0 = int(np.asarray(c0).ravel()[0])
    c1 = cuts[cuts.index(c0) + 1]
    i = int(np.asarray(lead_id).ravel()[0]) if lead_id is not None else 0
    if int(np.sum(marks)) != n:
        raise RuntimeError(f"scratch file {paths[i]!r} holds {int(np.sum(marks))} of {n} rows")
    buf = np.empty((n, c1 - c0), np.complex128)
    fd = _open_checked(paths[i], n * cuts[-1] * 16, nflags)
    try:
        _pread_all(fd, memoryview(buf).cast("B"), n * c0 * 16)
    finally:
        os.close(fd)
    lead = np.asarray(marks).shape[:-1]
    return np.fft.fft(buf, axis=0).reshape(lead + buf.shape)


def _open_checked(path, offset, count):
    """Open a scratch file for reading after checking its ``count`` flag bytes at ``offset``."""
    import os
    import socket

    flags = np.zeros(count, np.uint8)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        fd, got = None, 0
    else:
        got = os.preadv(fd, [memoryview(flags)], offset)
    if got != count or not flags.all():
        if fd is not None:
            os.close(fd)
        raise RuntimeError(
            f"scratch file {path!r} on {socket.gethostname()} lacks data that other tasks reported written "
            f"({int(flags.sum())} of {count} parts): the 'disk' transposition needs a scratch_dir that every "
            f"worker shares; pass {option('scratch_dir', 'scratch_dir=')} a shared filesystem path, or "
            f"{spell_or('rechunk_method', 'p2p')}")
    return fd


def _pwrite_all(fd, mv, offset):
    import os

    while len(mv):
        k = os.pwrite(fd, mv, offset)
        mv, offset = mv[k:], offset + k


def _pread_all(fd, mv, offset):
    import os

    while len(mv):
        k = os.preadv(fd, [mv], offset)
        if k == 0:
            raise OSError(f"scratch file ended early at byte {offset}")
        mv, offset = mv[k:], offset + k


def _remove_scratch(x, paths):
    """Identity on ``x`` after deleting the scratch files (run once the sums exist)."""
    import os

    for p in paths:
        try:
            os.remove(p)
        except FileNotFoundError:
            pass
    return x
