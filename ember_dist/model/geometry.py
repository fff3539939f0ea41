# SPDX-License-Identifier: BSD-3-Clause
"""Receptive field, alignment and cost of a generator, computed from its graph.

:func:`receptive_field` interprets :func:`~ember_dist.model.graph.unet_graph`
with 1D index intervals: for an output pixel ``o`` each tensor knows the
lowest and highest input pixel it reads.  Convolutions follow TensorFlow/Keras
``'same'`` padding (stride 1: ``o-1..o+1``; stride 2 on even sizes: ``2o..2o+2``,
i.e. no padding before and one after), nearest upsampling reads ``o // 2``.
Because the graph has period ``alignment`` in ``o``, scanning one period gives
the exact halo needed before and after an aligned tile core.

Examples
--------
>>> from ember_dist.model.presets import get_preset
>>> rf = receptive_field(get_preset("fiducial"))
>>> rf.before, rf.after, rf.alignment
(766, 893, 128)
>>> rf.exact_halo()
(768, 896)
>>> round(cost(get_preset("fiducial")).total_macs)
57688
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from ember_dist.model.graph import unet_graph
from ember_dist.model.presets import get_preset

__all__ = ["ReceptiveField", "receptive_field", "cost", "Cost", "split_geometry", "pair_geometry", "deep_halo",
           "level_width", "stage_macs"]


def _ceil_to(v, m):
    return -(-int(v) // m) * m


@dataclass(frozen=True)
class ReceptiveField:
    """Input pixels an aligned block of output pixels reads, per side.

    For an output pixel ``o`` in the block ``[b, b + alignment)`` (``b`` a
    multiple of ``alignment``), the inputs read lie in
    ``[b - before, b + alignment - 1 + after]``.
    """

    before: int
    after: int
    alignment: int
    min_side: int  # smallest receptive field of one output pixel, px
    max_side: int  # largest receptive field of one output pixel, px

    def exact_halo(self):
        """Smallest aligned halo (before, after) covering the receptive field."""
        return _ceil_to(self.before, self.alignment), _ceil_to(self.after, self.alignment)

    def to_dict(self):
        return {"before": self.before, "after": self.after, "alignment": self.alignment,
                "min_side": self.min_side, "max_side": self.max_side,
                "exact_halo": list(self.exact_halo())}


class _T:
    """A traced tensor: level, channels, and lo/hi input index of position p."""

    def __init__(self, level, channels, lo, hi):
        self.level, self.channels = level, channels
        self.lo, self.hi = lru_cache(maxsize=None)(lo), lru_cache(maxsize=None)(hi)


class _IntervalOps:
    """Interpreter of the graph description: intervals and multiply-adds."""

    def __init__(self):
        self.macs = {}  # level -> MACs per output pixel of that level

    def _add(self, level, macs):
        self.macs[level] = self.macs.get(level, 0) + macs / 4.0**level

    def conv(self, t, filters, stride, name, k=3):
        r = k // 2
        if stride == 1:
            out = _T(t.level, filters, lambda p: t.lo(p - r), lambda p: t.hi(p + r))
        else:  # 'same' on even sizes: pad 0 before, k - 2 after
            out = _T(t.level + 1, filters, lambda p: t.lo(2 * p), lambda p: t.hi(2 * p + k - 1))
        self._add(out.level, k * k * t.channels * filters)
        return out

    def up(self, t, name):
        return _T(t.level - 1, t.channels, lambda p: t.lo(p // 2), lambda p: t.hi(p // 2))

    def noise(self, t, eta, level, name):
        return t

    def concat(self, a, b, name):
        return _T(a.level, a.channels + b.channels, lambda p: min(a.lo(p), b.lo(p)),
                  lambda p: max(a.hi(p), b.hi(p)))

    def head(self, t, level, name):
        self._add(t.level, t.channels)
        return t

    def final(self, t, name):
        out = self.conv(t, 1, 1, name)
        return out


def _trace(preset):
    ops = _IntervalOps()
    x = _T(0, 1, lambda p: p, lambda p: p)
    final, _ = unet_graph(ops, x, preset, noise_inputs={l: None for l in range(preset.levels)})
    return ops, final


def receptive_field(preset):
    """The exact receptive field of ``preset``'s level-0 output.

    Parameters
    ----------
    preset : str or Preset

    Returns
    -------
    ReceptiveField
    """
    preset = get_preset(preset)
    _, final = _trace(preset)
    a = preset.alignment
    los = [final.lo(o) for o in range(a)]
    his = [final.hi(o) for o in range(a)]
    sides = [h - l + 1 for l, h in zip(los, his)]
    return ReceptiveField(before=-min(los), after=max(his) - (a - 1), alignment=a,
                          min_side=min(sides), max_side=max(sides))


@dataclass(frozen=True)
class Cost:
    """Multiply-adds per output pixel, by level (encoder + decoder)."""

    per_level: dict = field(default_factory=dict)

    @property
    def total_macs(self):
        return sum(self.per_level.values())

    @property
    def flops(self):
        return 2.0 * self.total_macs


def cost(preset):
    """Multiply-adds per output pixel of ``preset`` (convolutions and heads)."""
    ops, _ = _trace(get_preset(preset))
    return Cost(dict(sorted(ops.macs.items())))


# --- stage geometry for split inference ------------------------------------------------------------

_NONE = (lambda p: float("inf"), lambda p: float("-inf"))


def _halo_of(final, out_level, in_level, period_out):
    """Halo (before, after) in input px for cores aligned to ``period_out`` output px."""
    los = [final.lo(o) for o in range(period_out)]
    his = [final.hi(o) for o in range(period_out)]
    scale = 2.0 ** (out_level - in_level)  # input px per output px
    before = -min(los)
    after = max(his) - (period_out * scale - 1)
    return int(max(0, before)), int(max(0, after))


@dataclass(frozen=True)
class PairGeometry:
    """Halos of the two stages that bracket the levels ``a..b-1`` of split inference.

    Stage A (tiles at level ``a``): encoder levels ``a..b-1`` and the stride-2 entry of
    level ``b`` -> ``d_b``.  Stage C (tiles at level ``a``): the same encoder recomputed and
    the decoder ``b-1..a`` from ``h_b`` -> ``h_a`` (the final output when ``a == 0``).
    Halos are level-``a`` px, multiples of ``2**(b-a)`` (stage C reads ``h_b`` on the same
    window divided by ``2**(b-a)``).  ``*_needed`` are the raw receptive-field extents.
    """

    a: int
    b: int
    a_halo: tuple
    c_halo: tuple
    a_needed: tuple
    c_needed_x: tuple
    c_needed_h: tuple

    def to_dict(self):
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def _input_channels(preset, a):
    return 1 if a == 0 else preset.filters[a]


def _check_level(preset, s):
    L = preset.levels
    if not 1 <= s <= L - 2:
        raise ValueError(f"split level must be in 1..{L - 2} for preset {preset.name!r}. Received: split={s}.")


@lru_cache(maxsize=None)
def _pair_geometry(preset, a, b):
    from ember_dist.model import graph

    noise = {l: None for l in range(preset.levels)}
    f = 2 ** (b - a)
    ident = (lambda p: p, lambda p: p)
    ops = _IntervalOps()
    _, d = graph.encoder(ops, _T(a, _input_channels(preset, a), *ident), preset, a, b, enter_b=True)
    a_need = _halo_of(d, b, a, 1)
    need = []
    for src in ("x", "h"):
        ops = _IntervalOps()
        x = _T(a, _input_channels(preset, a), *(ident if src == "x" else _NONE))
        hs = _T(b, preset.filters[b + 1], *(ident if src == "h" else _NONE))
        skips, _ = graph.encoder(ops, x, preset, a, b)
        out = graph.decoder(ops, hs, skips, preset, a, b, noise)
        need.append(_halo_of(out, a, a if src == "x" else b, f))
    c_x, c_h = need
    return PairGeometry(a, b, tuple(_ceil_to(v, f) for v in a_need),
                        tuple(_ceil_to(max(vx, vh * f), f) for vx, vh in zip(c_x, c_h)), a_need, c_x, c_h)


def pair_geometry(preset, a, b):
    """Stage A/C halos for the levels ``a..b-1`` (``0 <= a < b <= levels - 2``).

    >>> g = pair_geometry("fiducial", 3, 5)
    >>> g.a_halo, g.c_halo
    ((8, 12), (12, 16))
    """
    preset = get_preset(preset)
    _check_level(preset, b)
    if not 0 <= a < b:
        raise ValueError(f"split levels must increase from 0. Received: {a} then {b}.")
    return _pair_geometry(preset, a, b)


@lru_cache(maxsize=None)
def _deep_geometry(preset, s):
    from ember_dist.model import graph

    ops = _IntervalOps()
    pb = 2 ** (preset.levels - 1 - s)
    h = graph.segment(ops, _T(s, preset.filters[s], lambda p: p, lambda p: p), preset, s,
                      {l: None for l in range(preset.levels)})
    need = _halo_of(h, s, s, pb)
    return need, tuple(_ceil_to(v, pb) for v in need), pb


def deep_halo(preset, s):
    """Halo (before, after) in level-``s`` px, aligned to ``2**(levels-1-s)``, of the segment
    from the input of level ``s`` back to the decoder output at level ``s``.

    >>> deep_halo("fiducial", 3)
    (96, 112)
    """
    preset = get_preset(preset)
    _check_level(preset, s)
    return _deep_geometry(preset, s)[1]


def level_width(preset, s):
    """Widest tensor of the decoder at level ``s`` (channels of its concatenation), for memory estimates.

    >>> level_width("fiducial", 0), level_width("fiducial", 3), level_width("fiducial", 6)
    (40, 320, 1024)
    """
    preset = get_preset(preset)
    L = preset.levels
    up = preset.filters[s + 2] if s + 2 <= L - 1 else preset.filters[L - 1]
    return up + preset.filters[s]


@dataclass(frozen=True)
class SplitGeometry:
    """Halos of the three stages of split inference at the single level ``s``.

    Stage A (level-0 tiles): encoder levels 0..s-1 and the entry of level s -> ``d_s``.
    Stage B (level-s tiles): the segment from level s back to level s -> ``h_s``.
    Stage C (level-0 tiles): encoder 0..s-1 recomputed, decoder s-1..0 from ``h_s`` -> output.

    ``a_halo`` and ``c_halo`` are full-resolution px (multiples of ``2**s``; stage C reads
    ``h_s`` on the same window divided by ``2**s``); ``b_halo`` is in level-s px, a multiple
    of ``b_alignment = 2**(L-1-s)``.  ``*_needed`` are the raw receptive-field extents.
    """

    split: int
    a_halo: tuple
    b_halo: tuple
    c_halo: tuple
    b_alignment: int
    a_needed: tuple
    b_needed: tuple
    c_needed_x: tuple
    c_needed_h: tuple

    def to_dict(self):
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def split_geometry(preset, s):
    """Stage halos for splitting ``preset`` at level ``s`` (1 <= s <= levels - 2).

    >>> g = split_geometry("fiducial", 4)
    >>> g.a_needed, g.c_needed_h, g.b_alignment
    ((30, 45), (2, 2), 8)
    """
    preset = get_preset(preset)
    _check_level(preset, s)
    p = _pair_geometry(preset, 0, s)
    b_need, b_halo, pb = _deep_geometry(preset, s)
    return SplitGeometry(s, p.a_halo, b_halo, p.c_halo, pb, p.a_needed, b_need, p.c_needed_x, p.c_needed_h)


def stage_macs(preset, levels):
    """Multiply-adds per level-0 output pixel of each stage of split inference at ``levels``
    (one pass, no halo): ``{"A1": ..., "B": ..., "C1": ...}``.  The B and C stages together are
    one inference pass (the whole network less its multi-scale training heads); A stages are the
    encoders that C stages compute again.

    >>> m = stage_macs("fiducial", (3,))
    >>> round(m["A1"]), round(m["B"]), round(m["C1"]), round(cost("fiducial").total_macs - m["C1"] - m["B"])
    (3816, 29520, 27864, 304)
    """
    from ember_dist.model import graph

    preset = get_preset(preset)
    chain = (0,) + tuple(levels)
    noise = {l: None for l in range(preset.levels)}
    ident = (lambda p: p, lambda p: p)
    out = {}
    for i, (a, b) in enumerate(zip(chain, chain[1:]), start=1):
        ops = _IntervalOps()
        graph.encoder(ops, _T(a, _input_channels(preset, a), *ident), preset, a, b, enter_b=True)
        out[f"A{i}"] = sum(ops.macs.values())
        ops = _IntervalOps()
        skips, _ = graph.encoder(ops, _T(a, _input_channels(preset, a), *ident), preset, a, b)
        graph.decoder(ops, _T(b, preset.filters[b + 1], *ident), skips, preset, a, b, noise)
        out[f"C{i}"] = sum(ops.macs.values())
    ops = _IntervalOps()
    s = chain[-1]
    graph.segment(ops, _T(s, _input_channels(preset, s), *ident), preset, s, noise)
    out["B"] = sum(ops.macs.values())
    return out
