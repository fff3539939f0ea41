# SPDX-License-Identifier: BSD-3-Clause
"""Noise gains set by the features (NoiseInjection ``modulated``): the formula, its bound, the warm start from an
unmodulated WGAN.  (Training that moves, resumes and records the gains: tests/train/test_loop.py; tiled and
level-split inference equal the whole-map prediction with modulated noise: tests/engine, bundle "wgan-modulated".)"""
from __future__ import annotations

import numpy as np
import pytest

from ember_dist.model.normalization import Normalization
from ember_dist.model.runtime import import_keras

keras = import_keras()


def _layer(modulated, per_channel=True, channels=5):
    from ember_dist.model.layers import NoiseInjection

    layer = NoiseInjection(initial_strength=0.3, per_channel=per_channel, modulated=modulated)
    layer.build([(None, 6, 7, channels), (None, 6, 7, 1)])
    return layer


def test_gain_formula_zero_start_and_bound():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(2, 6, 7, 5)).astype(np.float32)
    eta = rng.normal(size=(2, 6, 7, 1)).astype(np.float32)
    plain, mod = _layer(False), _layer(True)
    w = np.linspace(0.1, 0.5, 5).astype(np.float32)
    plain.strength.assign(w)
    mod.strength.assign(w)
    # m = 0: gain 1, the unmodulated layer exactly
    np.testing.assert_array_equal(np.asarray(mod([f, eta])), np.asarray(plain([f, eta])))
    m = np.array([0.4, -0.2, 0.0, 1.0, 0.3], np.float32)
    mod.modulation.assign(m)
    z = (f * m).sum(-1, keepdims=True)
    want = f + w * np.exp(3.0 * np.tanh(z / 3.0)) * eta  # NumPy, float64 where it promotes
    np.testing.assert_allclose(np.asarray(mod([f, eta])), want, rtol=2e-6, atol=2e-6)
    g = np.asarray(mod.gain(keras.ops.convert_to_tensor(f)))
    assert g.shape == (2, 6, 7, 1) and g.min() < 0.5 < 2.0 < g.max()  # it varies from pixel to pixel
    mod.modulation.assign(np.full(5, 1e3, np.float32))  # huge weights: the gain stays within [e^-3, e^3]
    g = np.asarray(mod.gain(keras.ops.convert_to_tensor(f)))
    assert np.all(np.isfinite(g)) and g.min() >= np.exp(-3.0) * (1 - 1e-6) and g.max() <= np.exp(3.0) * (1 + 1e-6)
    assert g.min() < 0.06 and g.max() > 19.0
    # the config round trip keeps the flag; a feature count unknown at build is refused with the reason
    assert type(mod).from_config(mod.get_config()).modulated
    with pytest.raises(ValueError, match="modulated noise needs a known channel count"):
        _layer(True, per_channel=False, channels=None)


def _save(g, preset, path):
    from ember_dist.model.bundle import save_bundle

    save_bundle(g, path, name="src", field="gas", kind="wgan", preset=preset, input_norm=Normalization.for_field("dm"),
                output_norm=Normalization.for_field("gas"),
                training={"pixel_size": 3.66, "input_resolution": "none", "data": "test"})


def test_warm_start_from_an_unmodulated_wgan_predicts_as_it_did(tmp_path):
    """Modulation weights start at 0, so a modulated WGAN warm-started from a trained unmodulated one predicts its
    maps exactly at step 0; the reverse (dropping trained gains) is refused with the fix."""
    from ember_dist.model.generator import build_generator
    from ember_dist.model.presets import get_preset
    from ember_dist.train import build, noise

    p = get_preset("tiny").with_noise(True).with_noise_per_channel(True)
    keras.utils.set_random_seed(4)
    src = build_generator(p, initializer="he_normal")
    noise.fill(src, 0.2)
    _save(src, p, tmp_path / "plain")
    pm = p.with_noise_modulated(True)
    dst = build_generator(pm, initializer="he_normal")
    info = build.warm_start(dst, pm, tmp_path / "plain")
    assert info["layers_copied"] == len([l for l in src.layers if l.weights])
    rng = np.random.default_rng(1)
    x = {"dm": rng.lognormal(size=(1, 32, 32, 1)).astype(np.float32)}
    x.update({f"noise_l{l}": rng.normal(size=(1, 32 >> l, 32 >> l, 1)).astype(np.float32) for l in range(3)})
    np.testing.assert_array_equal(np.asarray(dst(x)[0]), np.asarray(src(x)[0]))
    assert all(np.all(np.asarray(l.modulation) == 0) for l in noise.layers(dst))
    _save(dst, pm, tmp_path / "mod")
    with pytest.raises(ValueError, match="has modulated noise and this run does not: pass --noise-modulated"):
        build.warm_start(build_generator(p), p, tmp_path / "mod")
