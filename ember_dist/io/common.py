# SPDX-License-Identifier: BSD-3-Clause
"""The map-source contract shared by every input format.

A :class:`MapSource` describes a stack of 2D dark-matter maps with logical
dimensions ``(axis, slab, y, x)`` and reads rectangular windows that wrap
periodically around the map edges.  Sources are small picklable descriptions:
the underlying file is opened lazily in each process that reads it (a Dask
worker), never shipped over the network.

Reads are split at storage-chunk boundaries (:func:`block_runs`): a compressed
chunk is decoded whole even when only a few of its pixels are wanted, and zarr
decodes all the chunks of one selection at once, so a window or a row band that
touches many large chunks would hold all of them decoded together (a 616^2
window over 2048^2 chunks: 4 chunks, about 0.2 GB with their compressed bytes).
Reading one block of chunks at a time bounds that to about
:data:`READ_BLOCK_PX` pixels whatever the map size.

Examples
--------
>>> import numpy as np
>>> a = np.arange(16, dtype="f4").reshape(1, 1, 4, 4)
>>> read_wrapped(a, 0, 0, -1, 3, 2, 3)
array([[15., 12., 13.],
       [ 3.,  0.,  1.]], dtype=float32)
"""
from __future__ import annotations

import math
import threading
from collections import OrderedDict

import numpy as np

__all__ = ["MapSource", "ChunkCache", "chunk_cache", "wrapped_runs", "block_runs", "storage_chunks",
           "read_wrapped", "read_wrapped_lead", "read_wrapped_cached", "READ_BLOCK_PX"]

#: Most pixels one storage read may decode (a block of whole chunks; a chunk larger than this is read alone).
READ_BLOCK_PX = 4 * 2**20


def wrapped_runs(start, length, n):
    """Split the periodic range ``[start, start+length)`` modulo ``n`` into contiguous runs.

    Returns a list of ``(src_start, src_stop, dst_start)``.

    >>> wrapped_runs(-2, 6, 4)
    [(2, 4, 0), (0, 4, 2)]
    """
    runs, dst = [], 0
    pos = start % n
    while dst < length:
        take = min(n - pos, length - dst)
        runs.append((pos, pos + take, dst))
        dst += take
        pos = 0
    return runs


def read_wrapped(arr, a, s, y0, x0, hy, hx):
    """Read ``arr[a, s]`` on the periodic window ``[y0, y0+hy) x [x0, x0+hx)`` with basic slices.

    ``arr`` is any 4D-sliceable array (numpy, memmap, zarr, h5py via a view).
    """
    return read_wrapped_lead(arr, (a, s), y0, x0, hy, hx)


def block_runs(runs, block):
    """Split runs ``(src_start, src_stop, dst_start)`` at multiples of ``block`` (None: unchanged).

    >>> block_runs([(1, 9, 0)], 4)
    [(1, 4, 0), (4, 8, 3), (8, 9, 7)]
    """
    if not block:
        return list(runs)
    out = []
    for s, e, d in runs:
        while s < e:
            stop = min(e, (s // block + 1) * block)
            out.append((s, stop, d))
            d += stop - s
            s = stop
    return out


def storage_chunks(arr, channels=False):
    """Storage chunk shape ``(cy, cx)`` of the (y, x) dims of ``arr``, or None (in memory, memmap, contiguous).

    >>> import zarr
    >>> storage_chunks(zarr.zeros((2, 64, 32), chunks=(1, 16, 8)))
    (16, 8)
    """
    chunks = getattr(arr, "chunks", None)
    if chunks is None or len(chunks) < 2 + channels:
        return None
    c = tuple(chunks[-3:-1] if channels else chunks[-2:])
    if not all(isinstance(v, (int, np.integer)) for v in c):  # e.g. a dask array's tuple of tuples
        return None
    return int(c[0]), int(c[1])


def _read_blocks(arr, channels=False, budget=None):
    """Block ``(by, bx)``, whole chunks of ``arr``, of at most ``budget`` px (default READ_BLOCK_PX), or None."""
    c = storage_chunks(arr, channels)
    if c is None:
        return None, None
    cy, cx = c
    k = max(1, math.isqrt(int(budget or READ_BLOCK_PX) // (cy * cx)))
    return cy * k, cx * k


def read_wrapped_lead(arr, lead, y0, x0, hy, hx, channels=False):
    """Periodic window of ``arr[lead..., y, x]`` (or ``arr[lead..., y, x, c]`` with ``channels``), float32.

    Pieces are read one block of storage chunks at a time (see the module notes), so the memory a
    read needs is the window plus about one block, not every chunk the window touches.
    """
    if channels:
        ny, nx, nc = arr.shape[-3:]
        out = np.empty((hy, hx, nc), dtype=np.float32)
    else:
        ny, nx = arr.shape[-2:]
        out = np.empty((hy, hx), dtype=np.float32)
    by, bx = _read_blocks(arr, channels)
    for ys, ye, yd in block_runs(wrapped_runs(y0, hy, ny), by):
        for xs, xe, xd in block_runs(wrapped_runs(x0, hx, nx), bx):
            out[yd:yd + ye - ys, xd:xd + xe - xs] = arr[tuple(lead) + (slice(ys, ye), slice(xs, xe))]
    return out


class ChunkCache:
    """Least-recently-used cache of decoded storage chunks (float32), bounded in bytes.

    Written by hand because zarr 3 keeps no decoded chunks (its experimental ``CacheStore``
    keeps the encoded bytes, and decoding is the cost) and h5py's chunk cache is per open file.
    Neighbouring tile windows overlap the same storage chunks (a 1096^2 window over 2048^2
    chunks touches up to four, and each chunk is read by 4-9 windows per stage), so without it
    every window decodes its chunks again.  Entries are keyed by the source's content checksum,
    so a rewritten input never reads stale chunks.  Thread-safe; one per process
    (:func:`chunk_cache`).

    >>> c = ChunkCache(100)
    >>> c.get("a", lambda: np.zeros(10, np.float32)).nbytes, c.get("a", lambda: 1 / 0).nbytes
    (40, 40)
    >>> _ = c.get("b", lambda: np.zeros(20, np.float32)); _ = c.get("c", lambda: np.zeros(5, np.float32))
    >>> c.keys(), c.nbytes  # "a" evicted: 40 + 80 + 20 > 100
    (['b', 'c'], 100)
    """

    def __init__(self, max_bytes):
        self.max_bytes = int(max_bytes)
        self.nbytes = 0
        self.hits = self.misses = 0
        self._d = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key, load):
        """The cached array for ``key``, or ``load()``'s result, cached if it fits."""
        with self._lock:
            v = self._d.get(key)
            if v is not None:
                self._d.move_to_end(key)
                self.hits += 1
                return v
            self.misses += 1
        v = load()
        self.put(key, v)
        return v

    def peek(self, key):
        """The cached array for ``key`` or None, without counting a hit or refreshing its age."""
        with self._lock:
            return self._d.get(key)

    def put(self, key, v):
        """Cache ``v`` under ``key`` if it fits (an existing entry is kept), evicting the oldest."""
        if v.nbytes > self.max_bytes:
            return
        with self._lock:
            if key not in self._d:
                self._d[key] = v
                self.nbytes += v.nbytes
            while self.nbytes > self.max_bytes:
                self.nbytes -= self._d.popitem(last=False)[1].nbytes

    def keys(self):
        with self._lock:
            return list(self._d)

    def clear(self):
        with self._lock:
            self._d.clear()
            self.nbytes = 0


_CHUNK_CACHE = None


def chunk_cache():
    """This process's :class:`ChunkCache`, sized by ``ember_dist.engine.chunk-cache`` (bytes or "128MiB")."""
    global _CHUNK_CACHE
    if _CHUNK_CACHE is None:
        from dask.utils import parse_bytes

        from ember_dist import config

        v = config.get("engine.chunk-cache")
        _CHUNK_CACHE = ChunkCache(parse_bytes(v) if isinstance(v, str) else int(v or 0))
    return _CHUNK_CACHE


def chunk_key(token, norm, chunks, lead, iy, ix):
    """Cache key of storage chunk ``(iy, ix)`` of map ``lead`` (content ``token``, chunk shape ``chunks``),
    raw (``norm=None``) or normalised with ``norm``."""
    return (token, norm, int(chunks[0]), int(chunks[1]), tuple(lead), iy, ix)


def normalised(x, norm):
    """``x`` as float32, normalised with ``norm.forward`` unless ``norm`` is None."""
    return np.asarray(x if norm is None else norm.forward(x), dtype=np.float32)


def read_wrapped_cached(arr, lead, y0, x0, hy, hx, token, cache, norm=None):
    """:func:`read_wrapped_lead` through ``cache``: whole storage chunks, decoded once, keyed by ``token``.

    Equal to the direct read (same values, float32); needs ``storage_chunks(arr)``.  Keys hold the chunk
    shape too: the same content stored in other chunks has the same token.  With ``norm`` (a hashable
    object with an elementwise ``forward``) chunks are cached normalised: equal to normalising the window,
    and each pixel is normalised once instead of once per overlapping window and stage; a raw copy of the
    chunk already in the cache (left by the validation scan) is normalised instead of decoding it again.
    """
    ny, nx = arr.shape[-2:]
    cy, cx = storage_chunks(arr)
    out = np.empty((hy, hx), dtype=np.float32)

    def load(iy, ix):
        raw = None if norm is None else cache.peek(chunk_key(token, None, (cy, cx), lead, iy, ix))
        if raw is None:
            sl = tuple(lead) + (slice(iy * cy, min(ny, (iy + 1) * cy)), slice(ix * cx, min(nx, (ix + 1) * cx)))
            # float32 before normalising, as the direct read and the scan's raw chunks are: a float64 input
            # normalised in float64 here differed by 1 ulp in ~20% of pixels, so the bits depended on which
            # worker had scanned which map (issue 16: 58% of output pixels, 1e-6, 1 vs 2 workers).
            raw = np.asarray(arr[sl], dtype=np.float32)
        return normalised(raw, norm)

    for ys, ye, yd in block_runs(wrapped_runs(y0, hy, ny), cy):
        for xs, xe, xd in block_runs(wrapped_runs(x0, hx, nx), cx):
            iy, ix = ys // cy, xs // cx
            c = cache.get(chunk_key(token, norm, (cy, cx), lead, iy, ix), lambda: load(iy, ix))
            out[yd:yd + ye - ys, xd:xd + xe - xs] = c[ys - iy * cy:ye - iy * cy, xs - ix * cx:xe - ix * cx]
    return out


class _Expand:
    """View an array whose leading dims are a subset of (axis, slab) as 4D."""

    def __init__(self, arr, has_axis, has_slab):
        self.arr, self.has = arr, (has_axis, has_slab)
        it = iter(arr.shape[:-2])
        self.shape = tuple(next(it) if h else 1 for h in self.has) + tuple(arr.shape[-2:])

    def __getitem__(self, key):
        a, s, ys, xs = key
        idx = tuple(i for i, h in zip((a, s), self.has) if h) + (ys, xs)
        return self.arr[idx]

    @property
    def chunks(self):
        """Storage chunks of the wrapped array's (y, x) dims (None when it has none)."""
        c = storage_chunks(self.arr)
        return None if c is None else (1, 1) + c


class MapSource:
    """Base class of input map sources.

    Subclasses set ``kind`` and implement ``_open()`` (returning a 4D-sliceable
    array) and ``guess_can_open(obj)``.  Attributes set at construction:

    shape : tuple (naxis, nslab, ny, nx)
    axes : tuple of str, projection axis labels
    attrs : dict, dataset attrs (box_size, pixel_size, ...; may be incomplete)
    description : str, what was opened (recorded in provenance)
    """

    kind = "base"

    def __init__(self, shape, axes, attrs, description):
        self.shape = tuple(int(s) for s in shape)
        self.axes = tuple(axes)
        self.attrs = dict(attrs)
        self.description = description
        self._arr = None
        #: ``{(a, s): sha256 of map (a, s)}`` once validated (set by the engine); windows of a chunked
        #: source are then read through the process's :func:`chunk_cache`, keyed by that content.
        self.cache_tokens = None

    @classmethod
    def guess_can_open(cls, obj):  # pragma: no cover - overridden
        return False

    def _open(self):  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def array(self):
        if self._arr is None:
            self._arr = self._open()
        return self._arr

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_arr"] = None  # reopen in the receiving process
        return d

    def read_window(self, a, s, y0, x0, hy, hx, norm=None):
        """float32 window of map ``(a, s)`` with periodic wrap (through the chunk cache once validated).

        With ``norm`` (e.g. a bundle's input :class:`~ember_dist.model.normalization.Normalization`)
        the window is returned normalised, ``float32(norm.forward(window))``.
        """
        if self.cache_tokens is not None and self.chunks is not None:
            cache = chunk_cache()
            if cache.max_bytes > 0:
                return read_wrapped_cached(self.array, (a, s), y0, x0, hy, hx, self.cache_tokens[a, s], cache, norm)
        return normalised(read_wrapped(self.array, a, s, y0, x0, hy, hx), norm)

    def read_rows(self, a, s, y0, y1):
        """Rows ``[y0, y1)`` of map ``(a, s)`` as float32 (no wrap; read one block of chunks at a time)."""
        return read_wrapped(self.array, a, s, y0, 0, y1 - y0, self.shape[3])

    @property
    def chunks(self):
        """Storage chunk shape ``(cy, cx)`` of the maps, or None when unchunked (memmap, contiguous HDF5)."""
        return storage_chunks(self.array)

    @property
    def pixel_size(self):
        """Pixel size in ckpc/h when known, else None."""
        v = self.attrs.get("pixel_size")
        return None if v is None else float(v)

    def __repr__(self):
        return f"<{type(self).__name__} {self.description} shape={self.shape} axes={self.axes}>"
