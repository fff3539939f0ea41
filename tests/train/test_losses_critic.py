# SPDX-License-Identifier: BSD-3-Clause
"""Losses on known inputs, the gradient penalty, and the MSG-GAN critic."""
from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from ember_dist.train import losses as L  # noqa: E402
from ember_dist.train.critic import build_critic  # noqa: E402
from ember_dist.train.layers import MinibatchStdDev  # noqa: E402



RNG = np.random.default_rng(0)


def _maps(b=2, n=32):
    return RNG.random((b, n, n, 1)).astype("float32") * 2.0


def test_dssim_identical_is_zero_at_every_scale():
    x = _maps()
    for lev in range(4):
        t = np.asarray(L.downsample(x, lev))
        assert float(L.dssim(t, t, lev)) == 0.0
    d, m = L.multiscale_terms(x, [x] + [L.downsample(x, l) for l in (3, 2, 1)])
    assert float(d) == 0.0 and float(m) == 0.0


def test_dssim_positive_for_different_maps_and_windows_shrink():
    x, y = _maps(), _maps()
    assert 0.0 < float(L.dssim(x, y)) <= 1.0
    assert [L.ssim_window(l)[0] for l in range(5)] == [11, 5, 3, 3, 3]


def test_msle_known_values():
    t = np.zeros((1, 4, 4, 1), "float32")
    p = np.full((1, 4, 4, 1), np.e - 1.0, "float32")
    assert float(L.msle(t, p)) == pytest.approx(1.0, rel=1e-6)
    p2 = np.full((1, 4, 4, 1), np.e**2 - 1.0, "float32")
    assert float(L.msle(p, p2)) == pytest.approx(1.0, rel=1e-6)
    assert float(L.msle(t, -p)) == 0.0  # negatives clip to 0


def test_downsample_is_block_average():
    x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    got = np.asarray(L.downsample(x, 1))[0, ..., 0]
    np.testing.assert_allclose(got, [[2.5, 4.5], [10.5, 12.5]])


def test_perceptual_weights_table():
    assert L.loss_weights("unet", "gas") == L.LossWeights(1.0, 2.0, None)
    assert L.loss_weights("unet", "hi").beta == 200.0
    assert L.loss_weights("wgan", "gas") == L.LossWeights(10.0, 0.4, 10.0)
    with pytest.raises(ValueError, match="LossWeights"):
        L.loss_weights("wgan", "stars")
    x, y = _maps(), _maps()
    w = L.LossWeights(2.0, 3.0)
    loss, d, m = L.perceptual_loss(x, [y], w, levels=[0])
    assert float(loss) == pytest.approx(2 * float(L.dssim(x, y)) + 3 * float(L.msle(x, y)), rel=1e-6)


def _linear_critic(scale):
    """D(x) = scale * <u, x> with ||u|| = 1 over the 'target' input (other inputs ignored)."""
    u = RNG.normal(size=(8 * 8,)).astype("float32")
    u /= np.linalg.norm(u)
    t = keras.Input((8, 8, 1), name="target")
    dm = keras.Input((8, 8, 1), name="dm")
    f = keras.layers.Flatten()(t)
    dense = keras.layers.Dense(1, use_bias=False)
    out = dense(f)
    model = keras.Model([t, dm], out)
    dense.set_weights([scale * u[:, None]])
    return model


@pytest.mark.parametrize("scale,zero", [(1.0, True), (3.0, False)])
def test_gradient_penalty_linear_critic(scale, zero):
    from ember_dist.train._tf_step import gradient_penalty

    c = _linear_critic(scale)
    real = {"target": _maps(3, 8), "dm": _maps(3, 8)}
    fake = {"target": _maps(3, 8), "dm": real["dm"]}
    eps = RNG.random((3, 1, 1, 1)).astype("float32")
    gp = float(gradient_penalty(c, real, fake, eps, ["target"]))
    if zero:
        assert gp == pytest.approx(0.0, abs=1e-10)
    else:
        assert gp == pytest.approx((scale - 1.0) ** 2, rel=1e-5)


def test_critic_output_shape_and_mbstd_round_trip():
    c = build_critic("tiny", tile=32)
    b = 4
    inp = {"target": _maps(b), "dm": _maps(b)}
    for lev in (1, 2, 3):
        inp[f"scale_l{lev}"] = np.asarray(L.downsample(inp["target"], lev))
    out = np.asarray(c(inp))
    assert out.shape == (b, 1) and np.isfinite(out).all()
    with pytest.raises(ValueError, match="multiple"):
        build_critic("tiny", tile=24)

    layer = MinibatchStdDev(group_size=2, epsilon=1e-6, name="mb")
    clone = MinibatchStdDev.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    x = _maps(4, 4)
    y = np.asarray(layer(x))
    assert y.shape == (4, 4, 4, 2)
    np.testing.assert_array_equal(y[..., :1], x)
    # group_size=2: samples {0, 2} and {1, 3} form the groups
    want = np.sqrt(((x[[0, 1]] - x[[2, 3]]) ** 2 / 4).mean(axis=(1, 2, 3)) + 1e-6)
    want = np.sqrt(((x[[0, 1]] - x[[2, 3]]) ** 2 / 4)[..., 0] + 1e-6).mean(axis=(1, 2))
    np.testing.assert_allclose(y[[0, 1], 0, 0, 1], want, rtol=1e-5)
    np.testing.assert_allclose(y[[2, 3], 0, 0, 1], want, rtol=1e-5)
    # serialisation through a model
    m = keras.Sequential([keras.Input((4, 4, 1)), MinibatchStdDev(name="mb")])
    m2 = keras.models.model_from_json(m.to_json())
    np.testing.assert_allclose(np.asarray(m2(x)), np.asarray(m(x)))


def test_power_spectrum_loss_against_an_overdensity_scaled_by_hand():
    """Overdensity x 0.8 about the true mean: every bin's power x 0.64, the loss (ln 0.64)^2, for both
    normalisations (q = 1 gas, q = 0.2 HI); identical maps give 0."""
    from ember_dist.model.normalization import Normalization

    rng = np.random.default_rng(1)
    onehot, window = L.power_bins(32)
    f = np.fft.fftfreq(32) * 32
    kk = np.hypot(f[:, None], f[None, :]).ravel()
    assert onehot.shape == (1024, 7) and onehot.sum(axis=1).max() == 1
    assert onehot[kk == 0].sum() == 0 and onehot[(kk >= 3) & (kk < 4)].sum() == np.sum((kk >= 3) & (kk < 4))
    for field in ("gas", "hi"):
        n = Normalization.for_field(field, hubble=0.6774)
        m = np.exp(rng.normal(size=(4, 32, 32, 1)) * 1.5) * 1e6
        mean = m.mean()
        y, y2 = n.forward(m).astype("float32"), n.forward(mean + 0.8 * (m - mean)).astype("float32")
        assert float(L.power_spectrum_loss(y, y, n.k, n.q, onehot, window)) == 0.0
        got = float(L.power_spectrum_loss(y, y2, n.k, n.q, onehot, window))
        assert got == pytest.approx(np.log(0.64) ** 2, rel=1e-4)


def test_power_energy_score_of_overdensities_scaled_by_hand():
    """Realisations whose overdensity is the truth's x f have f^2 its power in every bin and tile: draws x 2 and
    x 1/2 straddle the truth and score 0 (their spread pays for their errors); two draws x 2 score 3 (each tile's
    error 3 P_true, over the batch's mean P_true), two x 1/2 score 3/4."""
    from ember_dist.model.normalization import Normalization

    rng = np.random.default_rng(2)
    onehot, window = L.power_bins(32)
    n = Normalization.for_field("gas", hubble=0.6774)
    m = np.exp(rng.normal(size=(3, 32, 32, 1)) * 0.15) * 1e6
    mean = m.mean(axis=(1, 2, 3), keepdims=True)  # each tile about its own mean, as the score takes it
    assert (mean + 2.0 * (m - mean)).min() > 0  # a positive mass map
    y = n.forward(m).astype("float32")
    scaled = {f: n.forward(mean + f * (m - mean)).astype("float32") for f in (2.0, 0.5)}
    assert scaled[2.0].max() < y.max() + 1.0  # no clipping in the inverse
    score = lambda a, b: float(L.power_energy_score(y, a, b, n.k, n.q, onehot, window))  # noqa: E731
    assert score(y, y) == 0.0
    assert score(scaled[2.0], scaled[0.5]) == pytest.approx(0.0, abs=1e-5)
    assert score(scaled[2.0], scaled[2.0]) == pytest.approx(3.0, rel=1e-4)
    assert score(scaled[0.5], scaled[0.5]) == pytest.approx(0.75, rel=1e-4)


def test_tile_power_loss_asks_each_tile_for_its_own_power():
    """Overdensities x 2 have 4x the power in every tile and bin, x 1/2 a quarter: the term is the mean of
    |ln(1 + 4 t) - ln(1 + t)| (resp. 1/4) over the tiles' powers t in units of the batch's mean, here written out in
    numpy; the batch's tiles swapped between their dark matter cost the batch-summed P(k) term nothing and this term
    their difference."""
    from ember_dist.model.normalization import Normalization

    rng = np.random.default_rng(5)
    onehot, window = L.power_bins(32)
    n = Normalization.for_field("gas", hubble=0.6774)
    m = np.exp(rng.normal(size=(2, 32, 32, 1)) * np.array([0.08, 0.18])[:, None, None, None]) * 1e6
    mean = m.mean(axis=(1, 2, 3), keepdims=True)
    y = n.forward(m).astype("float32")
    scaled = {f: n.forward(mean + f * (m - mean)).astype("float32") for f in (2.0, 0.5)}
    assert scaled[2.0].max() < y.max() + 1.0 and (mean + 2.0 * (m - mean)).min() > 0  # positive, no clipping
    loss = lambda p: float(L.tile_power_loss(y, p, n.k, n.q, onehot, window))  # noqa: E731
    # the tiles' powers over the batch's mean, in numpy: each tile's overdensity about its own mean, tapered
    d = (m - mean)[..., 0] / mean[..., 0] * window[0, :, :, 0]
    pk = np.abs(np.fft.fft2(d)).reshape(2, -1) ** 2 @ onehot
    t = pk / pk.mean(axis=0)
    assert loss(y) == 0.0
    assert loss(scaled[2.0]) == pytest.approx(np.abs(np.log1p(4 * t) - np.log1p(t)).mean(), rel=1e-3)
    assert loss(scaled[0.5]) == pytest.approx(np.abs(np.log1p(t / 4) - np.log1p(t)).mean(), rel=1e-3)
    swapped = y[::-1].copy()
    assert float(L.power_spectrum_loss(y, swapped, n.k, n.q, onehot, window)) == pytest.approx(0.0, abs=1e-6)
    assert loss(swapped) == pytest.approx(np.abs(np.log1p(t[::-1]) - np.log1p(t)).mean(), rel=1e-3)
    assert loss(swapped) > 0.3


def test_perceptual_from_level_ignores_what_block_averages_away():
    """A change that keeps every 2x2 block mean leaves the terms of final_level=1 at zero, not of level 0."""
    rng = np.random.default_rng(0)
    t = rng.random((2, 32, 32, 1)).astype("float32")
    o = t.copy()
    o[:, ::2, ::2] += 0.1
    o[:, 1::2, ::2] -= 0.1
    outs = [o, L.downsample(t, 3), L.downsample(t, 2), L.downsample(t, 1)]
    d0, m0 = (float(v) for v in L.multiscale_terms(t, outs))
    d1, m1 = (float(v) for v in L.multiscale_terms(t, outs, final_level=1))
    assert d0 > 1e-3 and m0 > 1e-4
    assert d1 < 1e-6 and m1 < 1e-9


def _np_msle(a, b):
    return np.mean((np.log1p(np.maximum(a, 0.0)) - np.log1p(np.maximum(b, 0.0))) ** 2)


def _np_block(x, level):
    f = 2 ** level
    b, h, w, c = x.shape
    return x.reshape(b, h // f, f, w // f, f, c).mean(axis=(2, 4))


def test_perceptual_energy_loss_against_numpy_and_its_limits():
    """The kernel score of two realisations: MSLE part against NumPy at every scale (the heads beside their block-
    averaged truth, the pair's distance on the same scales); energy 0 is the mean of the two plain perceptual losses;
    two identical realisations give the plain loss at any energy (their distance is 0)."""
    rng = np.random.default_rng(4)
    t = rng.random((2, 32, 32, 1)).astype("float32") * 2.0
    levels = L.output_levels(3)  # [0, 2, 1]
    outs1 = [(_np_block(t, l) + 0.3 * rng.standard_normal(_np_block(t, l).shape)).astype("float32") for l in levels]
    outs2 = [(_np_block(t, l) + 0.3 * rng.standard_normal(_np_block(t, l).shape)).astype("float32") for l in levels]
    beta_only = L.LossWeights(alpha=0.0, beta=2.0)
    to_truth = sum(_np_msle(o1, _np_block(t, l)) + _np_msle(o2, _np_block(t, l))
                   for o1, o2, l in zip(outs1, outs2, levels)) / 2.0
    between = sum(_np_msle(o1, o2) for o1, o2 in zip(outs1, outs2))
    for e in (0.0, 0.5, 1.0):
        loss, d, m = (float(v) for v in L.perceptual_energy_loss(t, outs1, outs2, beta_only, e, levels))
        assert loss == pytest.approx(2.0 * (to_truth - e * between / 2.0), rel=1e-5)
        assert m == pytest.approx(to_truth, rel=1e-5)
    w = L.LossWeights(alpha=5.0, beta=0.02)
    plain = [float(L.perceptual_loss(t, o, w, levels)[0]) for o in (outs1, outs2)]
    assert float(L.perceptual_energy_loss(t, outs1, outs2, w, 0.0, levels)[0]) == pytest.approx(np.mean(plain), rel=1e-5)
    assert float(L.perceptual_energy_loss(t, outs1, outs1, w, 1.0, levels)[0]) == pytest.approx(plain[0], rel=1e-5)
    # the pair's DSSIM is a distance between the realisations: > 0 for these two, so the energy form is lower
    assert float(L.perceptual_energy_loss(t, outs1, outs2, w, 1.0, levels)[0]) < np.mean(plain) - 0.01


def test_perceptual_energy_loss_hardly_charges_for_unbiased_spread():
    """Two realisations = truth + s x independent white noise: the plain terms charge ~s^2 for the noise, the energy
    form (energy 1) nearly nothing: MSLE exactly in expectation (its residue here: 2% of the plain charge, from the
    log and the finite sample), DSSIM approximately (11%: SSIM is not a squared distance)."""
    rng = np.random.default_rng(1)
    t = (rng.random((4, 64, 64, 1)) * 2).astype("float32")
    e1, e2 = rng.standard_normal((2, 4, 64, 64, 1)).astype("float32")
    for w, most in ((L.LossWeights(0.0, 1.0), 0.05), (L.LossWeights(1.0, 0.0), 0.15)):
        charge = {e: float(L.perceptual_energy_loss(t, [t + 0.3 * e1], [t + 0.3 * e2], w, e)[0])
                  - float(L.perceptual_energy_loss(t, [t], [t], w, e)[0]) for e in (0.0, 1.0)}
        assert charge[0.0] > 0.02 and 0 <= charge[1.0] < most * charge[0.0]


def test_pixel_distribution_loss_is_the_1d_wasserstein_distance():
    """Shifted values: W1 = the shift; a permutation of the same values: 0; against scipy's W1."""
    from scipy.stats import wasserstein_distance

    rng = np.random.default_rng(2)
    t = rng.random((2, 16, 16, 1)).astype("float32")
    assert float(L.pixel_distribution_loss(t, t + 0.25)) == pytest.approx(0.25, rel=1e-5)
    assert float(L.pixel_distribution_loss(t, rng.permutation(t.ravel()).reshape(t.shape))) == 0.0
    p = (rng.random((2, 16, 16, 1)) ** 2).astype("float32")
    assert float(L.pixel_distribution_loss(t, p)) == pytest.approx(wasserstein_distance(t.ravel(), p.ravel()), rel=1e-5)


def test_log_mass_distribution_loss_is_the_1d_wasserstein_distance_of_ln_mass():
    """Every pixel's mass x 1.3: W1 of ln(mass) = ln 1.3, for gas (q = 1) and HI (q = 0.2); a permutation: 0;
    two unrelated maps: scipy's W1 of their ln(mass); an empty pixel stays finite (the floor)."""
    from scipy.stats import wasserstein_distance

    from ember_dist.model.normalization import Normalization

    rng = np.random.default_rng(3)
    for field, scale in (("gas", 1e6), ("hi", 10.0)):
        n = Normalization.for_field(field, hubble=0.6774)
        m = np.exp(rng.normal(size=(2, 16, 16, 1)) * 1.5) * scale
        y = n.forward(m).astype("float32")
        got = float(L.log_mass_distribution_loss(y, n.forward(1.3 * m).astype("float32"), n.k, n.q))
        assert got == pytest.approx(np.log(1.3), rel=2e-3)
        perm = rng.permutation(y.ravel()).reshape(y.shape)
        assert float(L.log_mass_distribution_loss(y, perm, n.k, n.q)) == pytest.approx(0.0, abs=1e-6)
        m2 = np.exp(rng.normal(size=m.shape) * 0.7) * scale * 3
        want = wasserstein_distance(np.log(m.ravel()), np.log(m2.ravel()))
        got = float(L.log_mass_distribution_loss(y, n.forward(m2).astype("float32"), n.k, n.q))
        assert got == pytest.approx(want, rel=2e-3)
        empty = y.copy()
        empty[0, 0, 0, 0] = 0.0
        assert np.isfinite(float(L.log_mass_distribution_loss(y, empty, n.k, n.q)))


def test_total_mass_loss_is_the_squared_log_ratio_of_the_batch_masses():
    """Every pixel x 1.13 (the gas MR64 WGAN's bias on the test boxes): ln(1.13)^2 for gas and HI; mass moved between
    pixels and tiles: 0 (a batch term: the tiles' own masses may scatter); numpy's sum of an unrelated batch."""
    from ember_dist.model.normalization import Normalization

    rng = np.random.default_rng(4)
    for field, scale in (("gas", 1e6), ("hi", 10.0)):
        n = Normalization.for_field(field, hubble=0.6774)
        m = np.exp(rng.normal(size=(2, 16, 16, 1)) * 1.5) * scale
        y = n.forward(m).astype("float32")
        assert float(L.total_mass_loss(y, n.forward(1.13 * m).astype("float32"), n.k, n.q)) == pytest.approx(
            np.log(1.13) ** 2, rel=2e-3)
        moved = n.forward(m[::-1].transpose(0, 2, 1, 3)).astype("float32")
        assert float(L.total_mass_loss(y, moved, n.k, n.q)) == pytest.approx(0.0, abs=1e-8)
        m2 = np.exp(rng.normal(size=m.shape) * 0.7) * scale * 3
        got = float(L.total_mass_loss(y, n.forward(m2).astype("float32"), n.k, n.q))
        assert got == pytest.approx(np.log(m2.sum() / m.sum()) ** 2, rel=2e-3)


def test_power_spectrum_loss_ignores_total_mass_and_survives_runaway_pixels():
    """Each map about its own mean (as the evaluation): a prediction 3% lighter everywhere has the same P(k);
    a runaway pixel (normalised 1e3) gives a finite loss and finite gradients."""
    import tensorflow as tf

    from ember_dist.model.normalization import Normalization

    rng = np.random.default_rng(3)
    onehot, window = L.power_bins(32)
    n = Normalization.for_field("gas", hubble=0.6774)
    m = np.exp(rng.normal(size=(4, 32, 32, 1)) * 1.5) * 1e6
    y, y2 = n.forward(m).astype("float32"), n.forward(0.97 * m).astype("float32")
    assert float(L.power_spectrum_loss(y, y2, n.k, n.q, onehot, window)) == pytest.approx(0.0, abs=1e-9)
    bad = tf.Variable(y.copy())
    bad[0, 5, 5, 0].assign(1e3)
    with tf.GradientTape() as tape:
        loss = L.power_spectrum_loss(y, bad, n.k, n.q, onehot, window)
    assert np.isfinite(float(loss)) and np.all(np.isfinite(tape.gradient(loss, bad).numpy()))
