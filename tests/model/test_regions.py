# SPDX-License-Identifier: BSD-3-Clause
"""Unpadded (valid-convolution) tile models: the same cores as the zero-padded ones, at the multiply-adds the regions count."""
from __future__ import annotations

import keras
import pytest

from ember_dist.engine.split import plan_split
from ember_dist.model import graph
from ember_dist.model.generator import _ValidOps, build_generator
from ember_dist.model.presets import get_preset
from ember_dist.model.regions import stage_regions, valid_regions
from tests.model.unpadded_compare import exact_tile_error, stage_errors


def _plan(preset):
    # The chain of unpadded_compare.stage_errors: two splits, the deepest stage tiled.
    return plan_split((256, 192), 64, preset, (1, 2), 8)


@pytest.mark.parametrize("name", ["tiny", "small"])
def test_unpadded_stages_give_the_padded_cores(name):
    errors = stage_errors(name)
    assert set(errors) == {"A1", "A2", "B", "C2", "C1"}
    assert max(errors.values()) <= 1e-6, errors


class _CountValid(_ValidOps):
    """Counts each convolution's multiply-adds from the output shape Keras traces for it."""

    def _conv(self, name, x):
        y = super()._conv(name, x)
        self.seen.append(9 * x.shape[-1] * y.shape[-1] * y.shape[1] * y.shape[2])
        return y


def test_regions_count_the_multiply_adds_keras_computes():
    """Regions.macs against the shapes Keras traces for each convolution of the unpadded stage."""
    p = get_preset("small")
    g = build_generator(p, noise=True)
    sp = _plan(p)
    for stage, plan in sp.stages().items():
        inputs, a, _, build = graph.stage_graph(p, sp.levels, stage)
        r = stage_regions(p, sp.levels, stage, plan.halo)
        ops = _CountValid(g, r)
        ops.seen = []
        cy, cx = plan.canvas
        tensors = ops.inputs({k: keras.Input((cy // 2 ** (lev - a), cx // 2 ** (lev - a), ch), name=k)
                              for k, (lev, ch) in inputs.items()})
        out = ops.finish(build(ops, tensors))
        f = 2 ** (graph.stage_graph(p, sp.levels, stage)[2] - a)
        assert tuple(out.shape[1:3]) == (plan.core[0] // f, plan.core[1] // f), stage
        assert len(ops.seen) == len(r.convs) and sum(ops.seen) == r.macs(plan.canvas), stage


def test_unpadded_tiles_pay_less_than_the_canvas():
    p = get_preset("fiducial")
    sp = plan_split((4096, 4096), 1024, p)
    paid, canvas = sp.stage_compute(p), sp.redundancy
    # C1 computes its decoder on ~1034^2 px per 1024^2 core instead of the 1096^2 canvas.
    assert paid["B"] == 1.0 and 1.0 < paid["C1"] < 1.06 < canvas["C1"] and 1.0 < paid["A1"] < canvas["A1"]
    assert 1.08 < sp.compute_factor(p) < 1.10
    # Larger cores pay less: the halo is consumed as the data flows to the output.
    assert plan_split((8192, 8192), 2048, p, 3).stage_compute(p)["C1"] < paid["C1"]


def test_too_small_a_halo_is_refused():
    p = get_preset("fiducial")
    with pytest.raises(ValueError, match="tile halo is too small"):
        stage_regions(p, (3,), "C1", (8, 8))
    # One 3x3 convolution: its exact pixels stop one pixel inside the canvas, so a halo of one is enough.
    one = lambda ops, t: ops.conv(t["x"], 4, 1, "c")  # noqa: E731
    assert valid_regions(one, {"x": (0, 1)}, 0, (1, 1)).keep["c"] == (1, 1)
    with pytest.raises(ValueError, match="stop 1 px inside the core"):
        valid_regions(one, {"x": (0, 1)}, 0, (0, 1))


@pytest.mark.parametrize("name", ["tiny", "small"])
def test_unpadded_network_gives_the_padded_core(name):
    """halo="exact" tiles: the whole network unpadded, shrinking to the core, against the zero-padded one."""
    from ember_dist.engine.plan import TilePlan
    from ember_dist.model.generator import unpadded_network
    from ember_dist.model.regions import tile_compute

    p = get_preset(name)
    err, shape, plan, padded = exact_tile_error(name)
    # float32 sums in another order: 2.0e-6 measured on AMD EPYC (AVX2) for "small", below 1e-6 on AVX-512
    assert shape[1:3] == list(plan.core) and err <= 1e-5
    # Unpadded tiles pay a fraction of the canvas; approximate halos keep the canvas (and its seam table).
    assert 1.0 < tile_compute(p, plan) < 0.5 * plan.redundancy
    small = TilePlan.build(plan.shape, plan.core, (p.alignment, p.alignment), p.alignment)
    assert tile_compute(p, small) == small.redundancy
    with pytest.raises(ValueError, match="only exact halos can run unpadded"):
        unpadded_network(padded, p, small.halo)


def test_unpadded_models_on_the_jax_backend(jax_run):
    """GPU workers run Keras on JAX: the unpadded stages and exact tile give the padded cores there too."""
    r = jax_run["json"]  # unpadded_compare.py in a process on the JAX backend (tests/model/conftest.py)
    assert "unpadded_error" not in r, r["unpadded_error"]
    assert r["backend"] == "jax" and r["shape"] == [1, 32, 32, 1]  # core 2 x 16 px (small preset)
    assert r["stages"] <= 1e-5 and r["exact"] <= 1e-5, r
