# SPDX-License-Identifier: BSD-3-Clause
"""The map-source contract shared by every input format.

A :class:`MapSource` describes a stack of 2D dark-matter maps with logical
dimensions ``(axis, slab, y, x)`` and reads rectangular windows that wrap
periodically around the map edges.  Sources are small picklable descriptions:
the underlying file is opened lazily in each process that reads it (a Dask
worker), never shipped over the network.

Examples
--------
>>> import numpy as np
>>> a = np.arange(16, dtype="f4").reshape(1, 1, 4, 4)
>>> read_wrapped(a, 0, 0, -1, 3, 2, 3)
array([[15., 12., 13.],
       [ 3.,  0.,  1.]], dtype=float32)
"""
from __future__ import annotations

import numpy as np

__all__ = ["MapSource", "wrapped_runs", "read_wrapped", "read_wrapped_lead"]


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


def read_wrapped_lead(arr, lead, y0, x0, hy, hx, channels=False):
    """Periodic window of ``arr[lead..., y, x]`` (or ``arr[lead..., y, x, c]`` with ``channels``), float32."""
    if channels:
        ny, nx, nc = arr.shape[-3:]
        out = np.empty((hy, hx, nc), dtype=np.float32)
    else:
        ny, nx = arr.shape[-2:]
        out = np.empty((hy, hx), dtype=np.float32)
    for ys, ye, yd in wrapped_runs(y0, hy, ny):
        for xs, xe, xd in wrapped_runs(x0, hx, nx):
            out[yd:yd + ye - ys, xd:xd + xe - xs] = arr[tuple(lead) + (slice(ys, ye), slice(xs, xe))]
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

    def read_window(self, a, s, y0, x0, hy, hx):
        """float32 window of map ``(a, s)`` with periodic wrap."""
        return read_wrapped(self.array, a, s, y0, x0, hy, hx)

    def read_rows(self, a, s, y0, y1):
        """Rows ``[y0, y1)`` of map ``(a, s)`` as float32 (no wrap)."""
        return np.asarray(self.array[a, s, y0:y1, 0:self.shape[3]], dtype=np.float32)

    @property
    def pixel_size(self):
        """Pixel size in ckpc/h when known, else None."""
        v = self.attrs.get("pixel_size")
        return None if v is None else float(v)

    def __repr__(self):
        return f"<{type(self).__name__} {self.description} shape={self.shape} axes={self.axes}>"
