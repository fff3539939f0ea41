# SPDX-License-Identifier: BSD-3-Clause
"""Map geometry: aligned grid size, slab edges and projection axes (pure, no I/O).

Examples
--------
>>> g = grid_size(15000.0, 3.66, align=128)
>>> g.n, round(g.pixel_size, 4), round(g.deviation, 5)
(4096, 3.6621, 0.00058)
>>> grid_size(1000.0, 400.0, align=128)
Traceback (most recent call last):
...
ValueError: box_size/pixel = 2.5 pixels is below the alignment factor 128, so no aligned grid fits; pass a smaller pixel (at most 7.8125 ckpc/h) or a smaller align=.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ember_dist.errors import option, spell_or

__all__ = ["GridSpec", "grid_size", "slab_edges", "projection_axes", "coerce_axes"]

_AXIS_INDEX = {"x": 0, "y": 1, "z": 2}


@dataclasses.dataclass(frozen=True)
class GridSpec:
    """An aligned square map grid.

    Attributes
    ----------
    n : int
        Pixels per side (a multiple of ``align``).
    pixel_size : float, ckpc/h
        Actual pixel size, ``box_size / n``.
    pixel_size_requested : float, ckpc/h
    deviation : float
        ``pixel_size / pixel_size_requested - 1``.
    align : int
    """

    n: int
    pixel_size: float
    pixel_size_requested: float
    deviation: float
    align: int


def grid_size(box_size, pixel, align=128):
    """The multiple of ``align`` nearest to ``box_size / pixel``.

    Parameters
    ----------
    box_size : float, ckpc/h
    pixel : float, ckpc/h
        Requested pixel size.
    align : int, default: 128
        The generator's alignment factor (2^levels).

    Returns
    -------
    GridSpec
    """
    if not (np.isfinite(pixel) and pixel > 0):
        raise ValueError(f"{spell_or('pixel', pixel)} must be a positive pixel size in ckpc/h, e.g. "
                         f"{spell_or('pixel', 3.66)}.")
    if int(align) != align or align < 1:
        raise ValueError(f"{spell_or('align', align)} must be a positive integer (the model's alignment factor, "
                         "e.g. 128).")
    align = int(align)
    ratio = box_size / pixel
    n = int(round(ratio / align)) * align
    if n == 0:
        raise ValueError(
            f"box_size/pixel = {ratio:.6g} pixels is below the alignment factor {align}, so no aligned grid "
            f"fits; pass a smaller {option('pixel')} (at most {box_size / align:.6g} ckpc/h) or a smaller "
            f"{option('align', 'align=')}."
        )
    actual = box_size / n
    return GridSpec(n=n, pixel_size=actual, pixel_size_requested=float(pixel), deviation=actual / pixel - 1.0, align=align)


def slab_edges(box_size, slabs):
    """Edges of ``slabs`` equal slabs along a side, shape (slabs + 1,), ckpc/h.

    >>> slab_edges(10.0, 4)
    array([ 0. ,  2.5,  5. ,  7.5, 10. ])
    """
    return np.linspace(0.0, box_size, int(slabs) + 1)


def coerce_axes(axes):
    """Normalise projection axes to a tuple of distinct names among "x", "y", "z".

    >>> coerce_axes("zx")
    ('z', 'x')
    """
    if isinstance(axes, str):
        axes = tuple(axes)
    axes = tuple(str(a).lower() for a in axes)
    bad = [a for a in axes if a not in _AXIS_INDEX]
    if bad or not axes or len(set(axes)) != len(axes):
        raise ValueError(f"axes={axes!r} must be distinct names among 'x', 'y', 'z', e.g. axes=('x', 'y', 'z').")
    return axes


def projection_axes(axis):
    """Indices ``(depth, map_y, map_x)`` of the coordinates for a projection along ``axis``.

    Maps keep the cyclic order of the axes: looking along z the map rows
    follow y and its columns x; along x, rows follow z and columns y; along y,
    rows follow x and columns z.

    >>> projection_axes("z"), projection_axes("x"), projection_axes("y")
    ((2, 1, 0), (0, 2, 1), (1, 0, 2))
    """
    d = _AXIS_INDEX[axis]
    return d, (d + 2) % 3, (d + 1) % 3
