# SPDX-License-Identifier: BSD-3-Clause
"""Generator architecture, receptive field (checked empirically), layers and backends."""
from __future__ import annotations

import importlib.util
import json

import keras
import numpy as np
import pytest

from ember_dist.model.generator import build_generator, count_params, inference_model
from ember_dist.model.geometry import cost, receptive_field
from ember_dist.model.layers import NoiseInjection
from ember_dist.model.presets import get_preset


def test_fiducial_matches_paper_size_and_cost():
    g = build_generator("fiducial")
    assert count_params(g) == 30_676_679  # paper: ~30.7 M
    c = cost("fiducial")
    assert abs(c.total_macs - 57.7e3) < 0.1e3  # paper: 57.7 k MAC (115 kFLOP) per output pixel
    # Per-level convolution MACs of the architecture notes (heads add a few per level).
    for lev, want in {1: 9504, 2: 9504, 3: 9504, 4: 9504, 5: 7200, 6: 3168, 7: 432}.items():
        assert abs(c.per_level[lev] - want) <= 8, (lev, c.per_level[lev])
    rf = receptive_field("fiducial")
    assert (rf.before, rf.after, rf.alignment) == (766, 893, 128)
    assert rf.exact_halo() == (768, 896)
    assert len([t for t in g.inputs if t.name.startswith("noise_l")]) == 7


def test_unet_is_the_same_network_without_noise():
    g = build_generator("small", noise=False)
    n = build_generator("small", noise=True)
    assert [t.name for t in g.inputs] == ["dm"]
    assert count_params(n) - count_params(g) == 4  # one strength per decoder level


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_receptive_field_matches_impulse_response(preset):
    """Perturb one input pixel; the outputs that change must be those the tracer predicts."""
    p = get_preset(preset).with_noise(False)
    keras.utils.set_random_seed(3)
    m = inference_model(build_generator(p, initializer="he_normal"))
    rf = receptive_field(p)
    n = 4 * (rf.before + rf.after + rf.alignment) // p.alignment * p.alignment
    x = np.random.default_rng(0).uniform(0.5, 1.0, size=(1, n, n, 1)).astype("f4")
    base = m.predict_on_batch(x)[0, :, :, 0]
    q = n // 2 + 3  # an input pixel off the alignment grid
    x2 = x.copy()
    x2[0, q, q, 0] += 1.0
    diff = np.abs(m.predict_on_batch(x2)[0, :, :, 0] - base) > 0
    rows = np.nonzero(diff.any(axis=1))[0]
    a = p.alignment
    # Output o reads inputs [b - before, b + a - 1 + after], b = o - o % a.
    reads = lambda o: (o - o % a - rf.before <= q <= o - o % a + a - 1 + rf.after)  # noqa: E731
    assert all(reads(o) for o in rows)
    predicted = [o for o in range(n) if reads(o)]
    assert rows.min() - predicted[0] < a and predicted[-1] - rows.max() < a


def test_noise_injection_roundtrip_and_shapes():
    layer = NoiseInjection(initial_strength=0.5, name="n")
    cfg = layer.get_config()
    again = NoiseInjection.from_config(json.loads(json.dumps(cfg)))
    f = np.ones((2, 4, 4, 3), "f4")
    eta = np.arange(32, dtype="f4").reshape(2, 4, 4, 1)
    out = np.asarray(again([f, eta]))
    np.testing.assert_allclose(out, f + 0.5 * eta)
    with pytest.raises(ValueError, match="noise input must have 1 channel"):
        NoiseInjection()([f, np.ones((2, 4, 4, 2), "f4")])


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed (pip install jax)")
def test_weights_saved_under_tensorflow_predict_the_same_under_jax(bundles, jax_run):
    from ember_dist.engine.reference import predict_whole

    r = jax_run  # the bundle loaded and run in a process on the JAX backend (tests/model/conftest.py)
    assert r["json"]["backend"] == "jax" and "predict_error" not in r["json"], r["json"].get("predict_error")
    ref = predict_whole(bundles["wgan"], r["dm"], seed=9, slab=1)
    got = r["pred"]
    assert got.shape == ref.shape and np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()
