# SPDX-License-Identifier: BSD-3-Clause
"""Valid regions: tiles that shrink through the network instead of computing zero-padded edges.

A tile network run on a halo-padded canvas with ``'same'`` convolutions computes
every layer over the whole canvas, although only the pixels whose taps all lie in
the canvas are exact, and those shrink by a pixel per side at every convolution:
near the output only the core and a pixel or two are.  The inference stages
instead run each convolution without padding (:class:`~ember_dist.model.layers.ValidConv`,
the same kernels), so every tensor holds just its exact pixels and the decoder
convolutions near the output run on little more than the core.  The regions are
the same taps the receptive field is computed from (:mod:`ember_dist.model.geometry`):
``o-1..o+1`` at stride 1, ``2o..2o+2`` at stride 2, ``o // 2`` for nearest upsampling.

:func:`valid_regions` interprets a graph description (:mod:`ember_dist.model.graph`)
forwards and gives each op's region as offsets ``(lo, hi)`` from the start and the
end of its level's canvas (the canvas divided by ``2**level``), and the few crops
that keep tensors aligned: both inputs of a concatenation (and a noise map and its
features) to their common region, the input of a stride-2 convolution to an even
start (so its grid stays the global one), and the output to the core.  Keras has
the padding-free convolution and the cropping layer, but nothing that derives them
from a graph, hence this module.

Examples
--------
>>> from ember_dist.model import graph
>>> from ember_dist.model.presets import get_preset
>>> p = get_preset("fiducial")
>>> r = valid_regions(lambda ops, x: graph.encoder(ops, x["dm"], p, 0, 2)[1], {"dm": (0, 1)}, 0, (4, 4))
>>> r.keep["enc0_conv2"], r.keep["enc1_down"], r.keep["enc1_conv2"]
((2, 2), (1, 2), (3, 4))
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

__all__ = ["valid_regions", "stage_regions", "network_regions", "tile_compute", "Regions"]


class _N:
    """A traced tensor: its op, level, channels and parents."""

    def __init__(self, kind, name, level, channels, parents=(), stride=1):
        self.kind, self.name, self.level, self.channels = kind, name, level, channels
        self.parents, self.stride = tuple(parents), stride


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
        raise NotImplementedError("valid regions are for inference stages, which have no heads")


def _forward(node, have):
    """(regions each input is cropped to, region of the output) of ``node`` given its inputs' regions."""
    if node.kind == "conv" and node.stride == 1:  # 3x3 without padding: one pixel less per side
        (lo, hi), = have
        return [(lo, hi)], (lo + 1, hi + 1)
    if node.kind == "conv":  # stride 2 from an even start: output o reads 2o..2o+2
        (lo, hi), = have
        lo += lo % 2
        return [(lo, hi)], (lo // 2, hi // 2 + 1)
    if node.kind == "up":
        (lo, hi), = have
        return [(lo, hi)], (2 * lo, 2 * hi)
    common = (max(r[0] for r in have), max(r[1] for r in have))  # noise (features, eta) and concat
    return [common, common], common


@dataclass(frozen=True)
class Regions:
    """Regions of a stage's tensors, ``(lo, hi)`` offsets from the start and end of each level's canvas.

    ``keep[name]``: the region of the op's (or input's) output; ``crops[name]``: the region each input
    of the op is cropped to first; ``out``: the output core the last op's output is cropped to;
    ``convs``: each convolution as ``(level of its output, input channels, filters, region it computes)``.
    """

    keep: dict
    crops: dict
    out: tuple
    convs: tuple
    in_level: int

    def macs(self, canvas):
        """Multiply-adds of one tile whose input canvas (at ``in_level``) is ``canvas`` = (ny, nx) px."""
        total = 0.0
        for lev, cin, cout, (lo, hi) in self.convs:
            f = 2 ** (lev - self.in_level)
            total += 9 * cin * cout * (canvas[0] // f - lo - hi) * (canvas[1] // f - lo - hi)
        return total


def valid_regions(graph_fn, inputs, in_level, out_keep):
    """Regions of every op of ``graph_fn`` run without padding on whole-canvas inputs.

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
        When the output's exact region does not cover the core: the tile halo is too small.
    """
    ops = _RegionOps()
    tensors = {k: ops._node("input", k, lev, ch) for k, (lev, ch) in inputs.items()}
    out = graph_fn(ops, tensors)
    keep, crops, convs = {k: (0, 0) for k in tensors}, {}, []
    for node in ops.nodes:  # creation order is topological
        if node.kind == "input":
            continue
        crops[node.name], keep[node.name] = _forward(node, [keep[p.name] for p in node.parents])
        if node.kind == "conv":
            convs.append((node.level, node.parents[0].channels, node.channels, keep[node.name]))
    out_keep = tuple(int(v) for v in out_keep)
    got = keep[out.name]
    if got[0] > out_keep[0] or got[1] > out_keep[1]:
        raise ValueError(f"the exact pixels of {out.name!r} stop {max(got[0] - out_keep[0], got[1] - out_keep[1])} "
                         f"px inside the core: the tile halo is too small (use the stage's computed halo)")
    return Regions(keep, crops, out_keep, tuple(convs), int(in_level))


@lru_cache(maxsize=None)
def _stage_regions(preset, splits, stage, halo):
    from ember_dist.model.graph import stage_graph

    inputs, a, b, build = stage_graph(preset, splits, stage)
    f = 2 ** (b - a)
    if halo[0] % f or halo[1] % f:
        raise ValueError(f"stage {stage} halo {halo} is not a multiple of {f} px (the output's pixel at level {b})")
    return valid_regions(build, inputs, a, (halo[0] // f, halo[1] // f))


def stage_regions(preset, splits, stage, halo):
    """:class:`Regions` of stage ``stage`` (``"A1"``, ``"B"``, ``"C1"``, ...) of split inference at the
    levels ``splits``, for tiles with ``halo`` = (before, after) px at the stage's tiling level.

    >>> r = stage_regions("fiducial", (3,), "C1", (32, 40))
    >>> r.keep["dec0_conv1"], r.keep["final"], r.out
    ((29, 33), (31, 35), (32, 40))
    """
    from ember_dist.model.presets import get_preset

    return _stage_regions(get_preset(preset), tuple(int(s) for s in splits), stage, tuple(int(h) for h in halo))


def network_regions(preset, halo):
    """:class:`Regions` of the whole inference network for tiles with ``halo`` px, or ``None`` when the
    halo is smaller than the receptive field (approximate halos run the zero-padded network, as measured
    in the bundle's seam table).

    >>> network_regions("fiducial", (768, 896)).out, network_regions("fiducial", (512, 512))
    ((768, 896), None)
    """
    try:
        return stage_regions(preset, (), "B", halo)
    except ValueError:
        return None


def tile_compute(preset, plan):
    """Multiply-adds a :class:`~ember_dist.engine.plan.TilePlan` pays per output pixel relative to one
    whole-map pass: shrinking tiles when the halo is exact (fiducial, 1024-px cores on a 4096^2 map:
    1.96 against the canvas's 6.89), the canvas redundancy otherwise.

    >>> from ember_dist.engine.plan import TilePlan
    >>> round(tile_compute("fiducial", TilePlan.build((4096, 4096), 1024, (768, 896), 128)), 2)
    1.96
    """
    from ember_dist.model.geometry import stage_macs

    r = network_regions(preset, plan.halo)
    if r is None:
        return plan.redundancy
    one_pass = stage_macs(preset, ())["B"] * plan.shape[0] * plan.shape[1]
    return plan.grid[0] * plan.grid[1] * r.macs(plan.canvas) / one_pass
