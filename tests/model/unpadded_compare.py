# SPDX-License-Identifier: BSD-3-Clause
"""Unpadded tile models against the zero-padded ones, on whatever Keras backend is loaded.

Imported by test_regions.py, and run in one fresh process with ``KERAS_BACKEND=jax`` by the
``jax_run`` fixture (tests/model/conftest.py) for every JAX check of tests/model:
``python unpadded_compare.py [BUNDLE DM_NPY OUT_NPY]`` prints one JSON line of the unpadded checks
and, given a bundle, saves its whole-map prediction of the map in ``DM_NPY`` (seed 9, slab 1) to
``OUT_NPY``.  A check that raises reports its traceback in the JSON line (``*_error``) instead.
"""
import json
import sys


def he_generator(p, noise=None, seed=0):
    """The generator of preset ``p`` with He-normal kernels drawn by NumPy (zero biases, as Keras's).

    Keras's random initializers compile one XLA program per kernel shape under JAX (~2/3 of this
    script's time there); weights drawn here cost nothing on any backend.
    """
    import keras
    import numpy as np

    from ember_dist.model.generator import build_generator

    g = build_generator(p, noise=noise, initializer="zeros")
    rng = np.random.default_rng(seed)
    for layer in g.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel, bias = layer.get_weights()
            std = np.sqrt(2.0 / np.prod(kernel.shape[:-1]))  # fan-in: kh * kw * input channels
            layer.set_weights([rng.normal(0.0, std, kernel.shape).astype(kernel.dtype), bias])
    return g


def _random(rng, inputs, a, canvas, batch):
    """Random inputs of a stage tiled at level ``a`` on ``canvas`` px (``inputs``: name -> (level, channels))."""
    cy, cx = canvas
    return [rng.normal(size=(batch, cy // 2 ** (lev - a), cx // 2 ** (lev - a), ch)).astype("float32")
            for lev, ch in inputs.values()]


def stage_errors(name, batch=2):
    """``{stage: max |unpadded - padded core| / max |padded core|}`` for a chain of two splits whose deepest
    stage is tiled (a coarse core too small for the whole coarse map), so every kind of stage runs unpadded;
    asserts each unpadded stage outputs the core alone."""
    import numpy as np

    from ember_dist.engine.split import plan_split
    from ember_dist.model.generator import chain_models
    from ember_dist.model.graph import stage_graph
    from ember_dist.model.presets import get_preset

    p = get_preset(name)
    g = he_generator(p, noise=True)
    sp = plan_split((256, 192), 64, p, (1, 2), 8)
    assert not sp.periodic and set(sp.halos) == {"A1", "A2", "B", "C1", "C2"}
    padded, unpadded = chain_models(g, p, sp.levels), chain_models(g, p, sp.levels, halos=sp.halos)
    rng, errors = np.random.default_rng(0), {}
    for stage, plan in sp.stages().items():
        key = stage if stage == "B" else (stage[0], int(stage[1:]))
        inputs, a, b, _ = stage_graph(p, sp.levels, stage)
        x = _random(rng, inputs, a, plan.canvas, batch)
        want, got = np.asarray(padded[key].predict_on_batch(x)), np.asarray(unpadded[key].predict_on_batch(x))
        f = 2 ** (b - a)
        hb, (ny, nx) = plan.halo[0] // f, (plan.core[0] // f, plan.core[1] // f)
        assert got.shape[1:3] == (ny, nx), stage  # the core alone
        core = want[:, hb:hb + ny, hb:hb + nx]
        errors[stage] = float(np.abs(got - core).max() / np.abs(core).max())
    return errors


def exact_tile_error(name):
    """An exact-halo tile (core 2 x alignment): ``(relative max difference of the unpadded network from the
    padded core, unpadded output shape, tile plan, padded inference model)``."""
    import numpy as np

    from ember_dist.engine.plan import TilePlan
    from ember_dist.model.generator import inference_model, unpadded_network
    from ember_dist.model.geometry import receptive_field
    from ember_dist.model.graph import stage_graph
    from ember_dist.model.presets import get_preset

    p = get_preset(name)
    padded = inference_model(he_generator(p, seed=1))
    halo = receptive_field(p).exact_halo()
    unpadded = unpadded_network(padded, p, halo)
    plan = TilePlan.build((4 * p.alignment, 4 * p.alignment), 2 * p.alignment, halo, p.alignment)
    x = _random(np.random.default_rng(1), stage_graph(p, (), "B")[0], 0, plan.canvas, 1)
    want, got = np.asarray(padded.predict_on_batch(x)), np.asarray(unpadded.predict_on_batch(x))
    hb, (ny, nx) = halo[0], plan.core
    core = want[:, hb:hb + ny, hb:hb + nx]
    return float(np.abs(got - core).max() / np.abs(core).max()), list(got.shape), plan, padded


if __name__ == "__main__":
    import traceback

    import keras

    out = {"backend": keras.backend.backend()}
    if len(sys.argv) == 4:
        try:
            import numpy as np

            from ember_dist.engine.reference import predict_whole
            from ember_dist.model.bundle import load_model

            np.save(sys.argv[3], predict_whole(load_model(sys.argv[1]), np.load(sys.argv[2]), seed=9, slab=1))
        except Exception:
            out["predict_error"] = traceback.format_exc()
    try:
        err, shape, _, _ = exact_tile_error("small")
        out.update(stages=max(stage_errors("small").values()), exact=err, shape=shape)
    except Exception:
        out["unpadded_error"] = traceback.format_exc()
    print(json.dumps(out))
