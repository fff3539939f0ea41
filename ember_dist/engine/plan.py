# SPDX-License-Identifier: BSD-3-Clause
"""Tile planning: map shape, core and halo -> a frozen :class:`TilePlan`.

Pure arithmetic, no Dask and no I/O.  A *core* is the part of a tile that is
kept; the *halo* is the context read around it (``before`` pixels above/left,
``after`` below/right), wrapping periodically around the map edges.  Cores
start at multiples of the core size; the last core along an axis may be
narrower when the core does not divide the map, but every tile reads the same
window (``canvas``) so compiled graphs are reused.

Examples
--------
>>> p = TilePlan.build((384, 256), core=128, halo=(48, 56), alignment=8)
>>> p.grid, p.canvas
((3, 2), (232, 232))
>>> p.tiles()[-1]
Tile(iy=2, ix=1, y0=256, x0=128, ny=128, nx=128)
>>> p.window_start(p.tiles()[0])
(-48, -48)
>>> TilePlan.build((384, 256), core=100, halo=(48, 56), alignment=8)
Traceback (most recent call last):
...
ValueError: tile=100 is not a multiple of the model's alignment factor 8; pass tile=104.
>>> TilePlan.build((300, 256), core=128, halo=(48, 56), alignment=8)
Traceback (most recent call last):
...
ValueError: map shape (300, 256) is not a multiple of the model's alignment factor 8 along y; the nearest valid grid is 304 x 256 (re-deposit the maps on that grid, e.g. `ember-dist deposit ... --pixel` adjusted, or crop/pad the maps).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from ember_dist.errors import spell_or

__all__ = ["Tile", "TilePlan", "coerce_halo", "nearest_multiple"]


class Tile(NamedTuple):
    """One tile core: grid index ``(iy, ix)``, global start ``(y0, x0)`` and size, px."""

    iy: int
    ix: int
    y0: int
    x0: int
    ny: int
    nx: int


def nearest_multiple(n, m):
    """The positive multiple of ``m`` nearest to ``n`` (ties go up).

    >>> nearest_multiple(4100, 128), nearest_multiple(60, 128)
    (4096, 128)
    """
    return max(m, int(m * ((n + m / 2) // m)))


def coerce_halo(halo):
    """``int`` or ``(before, after)`` -> ``(before, after)`` of ints.

    >>> coerce_halo(64), coerce_halo((64, 128))
    ((64, 64), (64, 128))
    """
    if isinstance(halo, (int,)) and not isinstance(halo, bool):
        return int(halo), int(halo)
    try:
        b, a = halo
        return int(b), int(a)
    except (TypeError, ValueError):
        raise ValueError(
            f"halo must be 'fastest', 'exact', 'split', 'auto', an int or (before, after) in pixels. "
            f"Received: {spell_or('halo', halo)}."
        ) from None


@dataclass(frozen=True)
class TilePlan:
    """A tiling of a ``shape`` map into aligned cores with periodic halos.

    Attributes
    ----------
    shape : (int, int), px
    core : (int, int), px
    halo : (int, int), px, before and after (same along y and x)
    alignment : int, px
    """

    shape: tuple
    core: tuple
    halo: tuple
    alignment: int

    @classmethod
    def build(cls, shape, core, halo, alignment, halo_alignment=None):
        """Validate and build a plan (see the module examples for the errors).

        ``halo_alignment`` (default ``alignment``) is the grid halos must sit on; the
        stages of split inference use finer grids than the whole network.
        """
        ny, nx = (int(s) for s in shape)
        a = int(alignment)
        ha_grid = int(halo_alignment or alignment)
        for name, n, other in (("y", ny, nx), ("x", nx, ny)):
            if n <= 0 or n % a:
                gy = nearest_multiple(ny, a)
                gx = nearest_multiple(nx, a)
                raise ValueError(
                    f"map shape {(ny, nx)!r} is not a multiple of the model's alignment factor {a} along "
                    f"{name}; the nearest valid grid is {gy} x {gx} (re-deposit the maps on that grid, e.g. "
                    "`ember-dist deposit ... --pixel` adjusted, or crop/pad the maps)."
                )
        cy, cx = coerce_halo(core)  # same int/pair coercion
        for c in (cy, cx):
            if c <= 0 or c % a:
                raise ValueError(
                    f"{spell_or('tile', c)} is not a multiple of the model's alignment factor {a}; pass "
                    f"{spell_or('tile', nearest_multiple(c, a))}."
                )
        hb, ha = coerce_halo(halo)
        for h in (hb, ha):
            if h < 0 or h % ha_grid:
                g = ha_grid
                raise ValueError(
                    f"{spell_or('halo', (hb, ha))} is not a non-negative multiple of the model's alignment factor "
                    f"{g}; pass {spell_or('halo', (-(-hb // g) * g, -(-ha // g) * g))} or {spell_or('halo', 'exact')}."
                )
        # A core larger than the map is the whole map.
        return cls((ny, nx), (min(cy, ny), min(cx, nx)), (hb, ha), a)

    @property
    def grid(self):
        """Number of tiles along (y, x)."""
        return tuple(-(-n // c) for n, c in zip(self.shape, self.core))

    @property
    def canvas(self):
        """Shape of every tile's input window, px."""
        return tuple(c + self.halo[0] + self.halo[1] for c in self.core)

    @property
    def redundancy(self):
        """Pixels computed per output pixel: canvas area x tiles / map area."""
        gy, gx = self.grid
        return gy * gx * self.canvas[0] * self.canvas[1] / (self.shape[0] * self.shape[1])

    def tiles(self):
        """All tiles, row-major."""
        (ny, nx), (cy, cx) = self.shape, self.core
        gy, gx = self.grid
        return [Tile(iy, ix, iy * cy, ix * cx, min(cy, ny - iy * cy), min(cx, nx - ix * cx))
                for iy in range(gy) for ix in range(gx)]

    def window_start(self, tile):
        """Global (y, x) of the first pixel of ``tile``'s input window (may be negative)."""
        return tile.y0 - self.halo[0], tile.x0 - self.halo[0]

    def to_dict(self):
        return {"shape": list(self.shape), "core": list(self.core), "halo": list(self.halo),
                "alignment": self.alignment, "canvas": list(self.canvas)}
