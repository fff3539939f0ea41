# SPDX-License-Identifier: BSD-3-Clause
"""Needed regions: the pixels of each tensor that a tile's output core reads.

A tile network run on a halo-padded canvas with ``'same'`` convolutions computes
every layer over the whole canvas, although the layers near the output only need
the core plus a pixel or two: the halo is consumed as the data flows towards the
output.  :func:`needed_regions` interprets a graph description (see
:mod:`ember_dist.model.graph`) backwards from the output core and gives, for each
op, the region worth keeping, as offsets ``(lo, hi)`` from the start and the end
of its level's canvas (the canvas divided by ``2**level``).  The Keras interpreter
in :mod:`ember_dist.model.generator` crops every tensor to its region, so each
convolution runs on what its consumers read and no more.  Stage C of split
inference (fiducial, 1024-px cores) then computes its decoder on 1030^2 px at
level 0 instead of the 1096^2 canvas.

Every kept pixel that a consumer reads has the value of the uncropped network (the
regions are derived from the same taps the receptive field is): ``'same'``
convolutions read ``o-1..o+1`` at stride 1 and ``2o..2o+2`` at stride 2 on even
sizes (no padding before), nearest upsampling reads ``o // 2``.  A tensor that
feeds a stride-2 convolution keeps an even start and an even length, so the
stride-2 grid stays the global one.  Keras has the cropping layer but no pass that
derives the crops from a graph, hence this module.

Examples
--------
>>> from ember_dist.model import graph
>>> from ember_dist.model.presets import get_preset
>>> p = get_preset("fiducial")
>>> r = needed_regions(lambda ops, x: graph.encoder(ops, x["dm"], p, 0, 2)[1], {"dm": (0, 1)}, 0, (16, 16))
>>> r.keep["enc1_conv2"], r.keep["enc1_conv1"], r.keep["enc0_conv2"], r.keep["dm"]
((16, 16), (15, 15), (28, 26), (26, 25))
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

__all__ = ["needed_regions", "stage_regions", "Regions"]


class _N:
    """A traced tensor: its op, level, channels and parents."""

    def __init__(self, kind, name, level, channels, parents=(), stride=1):
        self.kind, self.name, self.level, self.channels = kind, name, level, channels
        self.parents, self.stride = tuple(parents), stride
        self.need = None  # (lo, hi): pixels whose values the consumers read (must be exact)
        self.extent = None  # (lo, hi): pixels the consumers' inputs span (may include a parity pixel)
        self.even = False  # feeds a stride-2 convolution


class _RegionOps:
    """Interpreter of the graph description that records the ops in creation order."""

    def __init__(self):
        self.nodes = []

    def _node(self, *args, **kw):
        n = _N(*args, **kw)
        self.nodes.append(n)
        return n

    def conv(self, t, filters, stride, name):
        return self._node("conv", name, t.level + (stride == 2), filters, (t,), stride)

    def final(self, t, name):
        return self._node("conv", name, t.level, 1, (t,), 1)

    def up(self, t, name):
        return self._node("up", name, t.level - 1, t.channels, (t,))

    def noise(self, t, eta, level, name):
        return self._node("noise", name, t.level, t.channels, (t, eta))

    def concat(self, a, b, name):
        return self._node("concat", name, a.level, a.channels + b.channels, (a, b))

    def head(self, t, level, name):  # pragma: no cover - stages have no heads
        raise NotImplementedError("needed regions are for inference stages, which have no heads")


def _union(a, b):
    return b if a is None else (min(a[0], b[0]), min(a[1], b[1]))


def _value_reads(node, need):
    """The pixels of each parent whose values ``node`` reads to compute ``need`` exactly."""
    lo, hi = need
    if node.kind == "conv" and node.stride == 1:
        return [(lo - 1, hi - 1)]
    if node.kind == "conv":  # stride 2, 'same' on an even size: output o reads 2o..2o+2
        return [(2 * lo, 2 * hi - 1)]
    if node.kind == "up":
        return [(lo // 2, hi // 2)]
    return [need, need]  # noise (tensor, eta) and concat: the same pixels


def _input_crops(node, keep, need):
    """The region each parent is cropped to before ``node``'s op: its output then spans ``keep``
    (a 'same' convolution keeps its input's extent, a stride-2 one halves it) and the values in
    ``need`` are computed from exact inputs."""
    if node.kind == "conv" and node.stride == 1:
        return [_union(keep, (need[0] - 1, need[1] - 1))]
    if node.kind == "conv":  # an even start and length: the stride-2 grid stays the global one
        return [(2 * keep[0], min(2 * keep[1], 2 * need[1] - 2))]
    if node.kind == "up":
        return [(keep[0] // 2, keep[1] // 2)]
    return [keep, keep]


@dataclass(frozen=True)
class Regions:
    """Regions of a stage's tensors, ``(lo, hi)`` offsets from the start and end of each level's canvas.

    ``keep[name]``: the extent of the op's (or input's) output once cropped; ``need[name]``: the
    pixels of it that are exact and read downstream; ``crops[name]``: the region each input of the
    op is cropped to first; ``convs``: each convolution as ``(level of its output, input channels,
    filters, region it computes)``.
    """

    keep: dict
    need: dict
    crops: dict
    convs: tuple
    in_level: int

    def macs(self, canvas):
        """Multiply-adds of one tile whose input canvas (at ``in_level``) is ``canvas`` = (ny, nx) px."""
        total = 0.0
        for lev, cin, cout, (lo, hi) in self.convs:
            f = 2 ** (lev - self.in_level)
            total += 9 * cin * cout * (canvas[0] // f - lo - hi) * (canvas[1] // f - lo - hi)
        return total


def needed_regions(graph_fn, inputs, in_level, out_keep):
    """Regions each op of ``graph_fn`` must keep for its output to cover ``out_keep`` exactly.

    Parameters
    ----------
    graph_fn : callable ``(ops, tensors) -> output``
        Builds the stage with the graph description; ``tensors`` maps the input names to traced tensors.
    inputs : dict name -> (level, channels)
        The stage's inputs (every one a whole canvas at its level).
    in_level : int
        Level of the canvas the offsets of :meth:`Regions.macs` refer to.
    out_keep : (lo, hi)
        The output core, as offsets from the start and end of the output level's canvas.

    Raises
    ------
    ValueError
        When an exact output would read pixels past an input's canvas: the tile halo is too small.
    """
    ops = _RegionOps()
    tensors = {k: ops._node("input", k, lev, ch) for k, (lev, ch) in inputs.items()}
    out = graph_fn(ops, tensors)
    out.need = out.extent = tuple(int(v) for v in out_keep)
    keep, need, crops, convs = {}, {}, {}, []
    for node in reversed(ops.nodes):  # creation order is topological: consumers come later
        if node.need is None:
            continue  # not read by the output (e.g. an unused input)
        if min(node.need) < 0:
            raise ValueError(f"an exact core reads {-min(node.need)} px of {node.name!r} beyond its canvas: the "
                             f"tile halo is too small (use the stage's computed halo)")
        lo, hi = _union(node.extent, node.need)
        if node.even:
            lo, hi = lo - lo % 2, hi - hi % 2
        keep[node.name], need[node.name] = (lo, hi), node.need
        if node.kind == "input":
            continue
        crops[node.name] = _input_crops(node, (lo, hi), node.need)
        for parent, r, c in zip(node.parents, _value_reads(node, node.need), crops[node.name]):
            parent.need, parent.extent = _union(parent.need, r), _union(parent.extent, c)
            parent.even |= node.kind == "conv" and node.stride == 2
        if node.kind == "conv":
            c = crops[node.name][0]
            convs.append((node.level, node.parents[0].channels, node.channels,
                          c if node.stride == 1 else (c[0] // 2, c[1] // 2)))
    return Regions(keep, need, crops, tuple(reversed(convs)), int(in_level))


@lru_cache(maxsize=None)
def _stage_regions(preset, splits, stage, halo):
    from ember_dist.model.graph import stage_graph

    inputs, a, b, build = stage_graph(preset, splits, stage)
    f = 2 ** (b - a)
    if halo[0] % f or halo[1] % f:
        raise ValueError(f"stage {stage} halo {halo} is not a multiple of {f} px (the output's pixel at level {b})")
    return needed_regions(build, inputs, a, (halo[0] // f, halo[1] // f))


def stage_regions(preset, splits, stage, halo):
    """:class:`Regions` of stage ``stage`` (``"A1"``, ``"B"``, ``"C1"``, ...) of split inference at the
    levels ``splits``, for tiles with ``halo`` = (before, after) px at the stage's tiling level.

    >>> r = stage_regions("fiducial", (3,), "C1", (32, 40))
    >>> r.keep["final"], r.keep["dec0_conv1"], r.keep["h"], r.keep["dm"]
    ((32, 40), (30, 38), (2, 3), (2, 7))
    """
    from ember_dist.model.presets import get_preset

    return _stage_regions(get_preset(preset), tuple(int(s) for s in splits), stage, tuple(int(h) for h in halo))
