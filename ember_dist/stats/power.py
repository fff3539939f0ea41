# SPDX-License-Identifier: BSD-3-Clause
"""Periodic 2D power spectra of maps: auto, cross and the correlation coefficient.

Lazy inputs are transformed by a row FFT, a rechunk and a column FFT (every task holds
a strip of the map, never the whole map), and the binned sums are reduced per block.

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

import logging

import numpy as np
import xarray as xr

from ember_dist.errors import option, spell_or

from ._common import finalize, as_map, is_dask, lead_reduce

__all__ = ["power_spectrum", "cross_power_spectrum", "fft2_half", "resolve_rechunk_method", "WINDOW_ORDER"]

log = logging.getLogger(__name__)

#: Mass-assignment windows and the power p of their sinc^p kernel per axis.
WINDOW_ORDER = {None: 0, "none": 0, "ngp": 1, "cic": 2, "tsc": 3, "pcs": 4}

_STRIP = 1 << 22  # elements per strip in the in-memory path (bounds temporaries)


def _scratch_root(scratch_dir):
    import tempfile

    import dask

    return scratch_dir or dask.config.get("temporary-directory", None) or tempfile.gettempdir()


def _worker_hosts():
    """Hosts of the current distributed client's workers, or None without a client."""
    try:
        from distributed import get_client

        client = get_client()
    except (ImportError, ValueError):
        return None
    return {w.get("host") for w in client.scheduler_info(n_workers=-1)["workers"].values()}


def _is_this_machine(host):
    """Whether ``host`` (an address as the scheduler reports it) is one of this machine's."""
    import socket

    import psutil  # a dependency of distributed

    if str(host).startswith("127.") or host in ("localhost", "::1", socket.gethostname()):
        return True
    return any(a.address == host for addrs in psutil.net_if_addrs().values() for a in addrs)


def resolve_rechunk_method(method, nbytes, scratch_dir=None, check=True):
    """The transposition method that ``rechunk_method=method`` means for a transform of ``nbytes``.

    ``"auto"`` is ``"disk"`` where every worker sees this process's scratch directory (no
    distributed client, i.e. Dask's threaded or synchronous scheduler, or a client whose
    workers all run on this machine, like a ``LocalCluster``) and the directory has room for
    the scratch files (1.1 x ``nbytes``); otherwise ``None`` (Dask's default, the p2p shuffle).
    An explicit ``"disk"`` is checked for room before any work starts, unless ``check`` is
    False: then it is taken as it is, the scratch directory not looked at (a graph built to
    be counted or inspected, not computed here).

    >>> resolve_rechunk_method("p2p", 10**9)
    'p2p'
    >>> resolve_rechunk_method("disk", 10**18, check=False)  # an exabyte: no disk has room
    'disk'
    >>> resolve_rechunk_method("sideways", 1)
    Traceback (most recent call last):
    ...
    ValueError: rechunk_method='sideways' is unknown; use 'auto', 'disk', 'p2p', 'tasks' or None (Dask's default)
    """
    import shutil

    if method not in (None, "auto", "disk", "p2p", "tasks"):
        raise ValueError(f"rechunk_method={method!r} is unknown; use 'auto', 'disk', 'p2p', 'tasks' "
                         "or None (Dask's default)")
    if method not in ("auto", "disk") or (method == "disk" and not check):
        return method
    root = _scratch_root(scratch_dir)
    try:
        free = shutil.disk_usage(root).free
    except OSError as e:
        if method == "disk":
            raise FileNotFoundError(f"scratch_dir {root!r} of the 'disk' transposition is not usable ({e}); "
                                    f"pass {option('scratch_dir', 'scratch_dir=')} an existing directory "
                                    "every worker can write") from None
        free = 0
    room = free >= 1.1 * nbytes
    if method == "disk":
        if not room:
            raise OSError(f"the 'disk' transposition needs {nbytes / 2**30:.2f} GiB of scratch space but "
                          f"{root!r} has {free / 2**30:.2f} GiB free; pass {option('scratch_dir', 'scratch_dir=')} "
                          f"a larger disk or {spell_or('rechunk_method', 'p2p')}")
        return "disk"
    hosts = _worker_hosts()
    local = hosts is None or (len(hosts) == 1 and _is_this_machine(next(iter(hosts))))
    if local and room:
        log.info("P(k): rows-to-columns transposition through %.2f GiB of scratch files in %s",
                 nbytes / 2**30, root)
        return "disk"
    why = "workers on other machines" if not local else f"only {free / 2**30:.2f} GiB free in {root!r}"
    log.info("P(k): transposition by Dask's shuffle (%s; pass rechunk_method='disk' with a shared "
             "scratch_dir to avoid it)", why)
    return None


def _scratch_nbytes(a):
    """Bytes of the 'disk' transposition's two scratch files for ``a`` (input copy + float64 half plane)."""
    n = a.shape[-1]
    nlead = int(np.prod(a.shape[:-2], dtype=np.int64))
    return nlead * (a.shape[-2] * n * a.dtype.itemsize + a.shape[-2] * (n // 2 + 1) * 16)


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
    n = a.shape[-1]
    nh = n // 2 + 1
    if not is_dask(a):
        a = np.asarray(a)
        out = np.empty(a.shape[:-1] + (nh,), np.complex128)
        rows = max(1, _STRIP // max(n, 1))
        for s in range(0, a.shape[-2], rows):
            out[..., s:s + rows, :] = np.fft.rfft(a[..., s:s + rows, :].astype(np.float64), axis=-1)
        cols = max(1, _STRIP // max(n, 1))
        for s in range(0, nh, cols):
            out[..., :, s:s + cols] = np.fft.fft(out[..., :, s:s + cols], axis=-2)
        return out
    import dask.array as da

    width = max(1, int(chunk_mib * 2**20 // (16 * n)))
    lead = (1,) * (a.ndim - 2)
    cols = min(width, nh)
    rechunk_method = resolve_rechunk_method(rechunk_method, _scratch_nbytes(a), scratch_dir, check_scratch)
    if rechunk_method == "disk":
        return _fft2_half_disk(a.rechunk(lead + a.chunks[-2:]), width, nh, cols, scratch_dir)
    # Row strips that never straddle an input chunk: each strip is a view of one chunk row,
    # so the split copies nothing, and one task per strip gathers its pieces straight into
    # a float64 buffer and transforms it (no whole-band concatenation, no extra copies).
    ychunks = tuple(c for h in a.chunks[-2] for c in _split_even(h, width))
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


def _fft2_half_disk(a, rows, nh, cols, scratch_dir):
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
    import os
    import uuid

    import dask.array as da
    from dask.base import tokenize

    n = a.shape[-1]
    lead_shape = a.shape[:-2]
    nlead = int(np.prod(lead_shape, dtype=np.int64))
    root = _scratch_root(scratch_dir)
    # unique per graph: two computations of the same input never share (or delete) a file
    stem = os.path.join(os.path.abspath(root), f"ember-fft-{tokenize(a)[:12]}-{uuid.uuid4().hex[:8]}")
    rows_paths = [f"{stem}-{i}.rows" for i in range(nlead)]
    cols_paths = [f"{stem}-{i}.cols" for i in range(nlead)]
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


def _first(v):
    return int(np.asarray(v).ravel()[0])


def _write_chunk_rows(block, y0, x0, lead_id=None, *, paths, n, rows, ybounds, xbounds):
    """Write one input chunk into its map's row file (see :func:`_fft2_half_disk`)."""
    import os

    b = block.reshape(block.shape[-2:])
    y0, x0 = _first(y0), _first(x0)
    i = _first(lead_id) if lead_id is not None else 0
    size = b.dtype.itemsize
    fd = os.open(paths[i], os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        s0 = 0
        for hs in _split_even(b.shape[0], rows):
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
        for hs in _split_even(h, rows):
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


def _split_even(h, width):
    """Split ``h`` rows into ceil(h / width) near-equal parts."""
    k = -(-int(h) // max(1, width))
    base, extra = divmod(int(h), k)
    return (base + 1,) * extra + (base,) * (k - extra)


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
    cstep = max(1, _STRIP // 4 // max(n, 1))
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


def _spectra(fields, box_size, n, width, window, chunk_mib, rechunk_method=None, scratch_dir=None,
             check_scratch=True):
    """Shared engine: returns (k_sum, count, power_sums list, dc list) arrays."""
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
    sums, nbins, first, nprod = _spectra([mi.data], None, n, bin_width, window, chunk_mib, rechunk_method,
                                         scratch_dir, check_scratch)
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
    sums, nbins, first, nprod = _spectra([a1, a2], None, n, bin_width, window, chunk_mib, rechunk_method,
                                         scratch_dir, check_scratch)
    ds = _output(m1, sums, nbins, first, nprod, ["power", "power_1", "power_2"], bin_width,
                 window, overdensity, n)
    p12, p11, p22 = (sums[..., (2 + j) * nbins:(3 + j) * nbins] for j in range(3))
    with np.errstate(invalid="ignore", divide="ignore"):
        # built from the sums, not from ds["power"]: see pdf.py on distributed finalize
        ds["r"] = (ds["power"].dims, p12 / np.sqrt(p11 * p22))
    ds["r"].attrs = {"units": "1", "long_name": "correlation coefficient P12 / sqrt(P1 P2)"}
    return finalize(ds)
