# SPDX-License-Identifier: BSD-3-Clause
"""EMBER training losses (Bernardini et al. 2022), written with ``keras.ops`` only.

All losses act on *normalised* maps (``x' = log((x/x0)^q + 1)/k``, see
:mod:`ember_dist.model.normalization`), shape ``(batch, H, W, 1)``.

Multi-scale terms
-----------------
The generator returns ``[final, head_{L-1}, ..., head_1]`` (level 0 first, then
the heads coarsest first; :func:`output_levels`).  The target at level ``l`` is
the normalised target **block-averaged** over non-overlapping ``2**l x 2**l``
pixel blocks (average pooling, pool = stride = ``2**l``, ``valid`` padding;
:func:`downsample`).  The average is taken of the normalised map, not of the
mass map (the heads predict normalised maps at their scale); the critic sees
dark matter downsampled the same way.

SSIM uses a Gaussian window whose size shrinks with scale:
``11 px, sigma 1.5`` at level 0 and ``max(3, 11 // 2**l)`` (made odd), sigma
scaled in proportion, at level ``l`` (:func:`ssim_window`); ``valid`` padding,
``C1 = (0.01 R)^2``, ``C2 = (0.03 R)^2`` with data range ``R = 1`` by default
(normalised maps span ~0-3).  ``DSSIM = (1 - SSIM) / 2`` averaged over pixels.
``MSLE = mean((log1p(max(y, 0)) - log1p(max(t, 0)))^2)``.

``perceptual = alpha * sum_l DSSIM_l + beta * sum_l MSLE_l`` (equal weight per scale);
U-Net loss = perceptual; generator loss = perceptual + gamma * adversarial with
adversarial = ``-mean(D(fake))``; critic loss = ``mean(D(fake)) - mean(D(real)) +
10 * GP`` with the two-sided penalty ``GP = mean((||grad D(x_hat)|| - 1)^2)``, or (option
``penalty="r1"``) ``+ (10 / 2) * R1`` with ``R1 = mean(||grad D(x_real)||^2)``.
The input gradient of the critic needs a backend (``train/_tf_step.py``);
:func:`gradient_penalty_from_grads` turns those gradients into the penalty.

Examples
--------
>>> import numpy as np
>>> x = np.random.default_rng(0).random((2, 32, 32, 1)).astype("float32")
>>> float(dssim(x, x))
0.0
>>> LOSS_WEIGHTS[("wgan", "hi")]
LossWeights(alpha=5.0, beta=0.02, gamma=50.0)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ember_dist.model.runtime import import_keras
# the terms that judge a batch's statistics (P(k), pixel PDFs, total mass) live in stat_terms; L.<name> reaches them
from ember_dist.train.stat_terms import (POWER_BIN_EDGES, log_mass_distribution_loss,  # noqa: F401
                                         mass_distribution_loss, pixel_distribution_loss, power_bins,
                                         power_energy_score, power_spectrum_loss, tile_power_loss, tile_powers,
                                         total_mass_loss)

ops = import_keras().ops

__all__ = ["LossWeights", "LOSS_WEIGHTS", "loss_weights", "output_levels", "downsample", "ssim_window",
           "ssim", "dssim", "msle", "multiscale_terms", "perceptual_loss", "perceptual_energy_loss", "critic_wasserstein",
           "gradient_penalty_from_grads", "r1_penalty_from_grads", "generator_adversarial", "GP_WEIGHT", "PENALTIES"]

#: Weight of the gradient penalty in the critic loss (Gulrajani et al. 2017; the paper).
GP_WEIGHT = 10.0

#: Critic regularisers: ``"gp"`` the two-sided penalty at interpolates (the paper), ``"r1"`` the
#: zero-centred penalty on real samples (Mescheder et al. 2018; StyleGAN2).
PENALTIES = ("gp", "r1")


@dataclass(frozen=True)
class LossWeights:
    """alpha (DSSIM), beta (MSLE), gamma (adversarial; ``None`` for the U-Net)."""

    alpha: float
    beta: float
    gamma: float | None = None

    def to_dict(self):
        return asdict(self)


#: The paper's weights per model (Bernardini et al. 2022, Sect. 3):
#:
#: ======  =====  =====  =====  =====
#: kind    field  alpha  beta   gamma
#: ======  =====  =====  =====  =====
#: unet    gas    1      2      -
#: unet    hi     1      200    -
#: wgan    gas    10     0.4    10
#: wgan    hi     5      0.02   50
#: ======  =====  =====  =====  =====
LOSS_WEIGHTS = {
    ("unet", "gas"): LossWeights(1.0, 2.0),
    ("unet", "hi"): LossWeights(1.0, 200.0),
    ("wgan", "gas"): LossWeights(10.0, 0.4, 10.0),
    ("wgan", "hi"): LossWeights(5.0, 0.02, 50.0),
}


def loss_weights(kind, field):
    """The paper's :class:`LossWeights` for ``kind`` ("unet"/"wgan") and ``field`` ("gas"/"hi")."""
    try:
        return LOSS_WEIGHTS[(kind, field)]
    except KeyError:
        raise ValueError(
            f"no paper loss weights for kind={kind!r}, field={field!r}; known: {sorted(LOSS_WEIGHTS)}. "
            "Pass LossWeights(alpha=..., beta=..., gamma=...) explicitly."
        ) from None


def output_levels(levels):
    """Levels of the generator outputs ``[final, head_{L-1}, ..., head_1]`` for an ``L``-level preset."""
    return [0] + list(range(levels - 1, 0, -1))


def downsample(x, level):
    """Block average over ``2**level x 2**level`` pixels (average pooling, stride = pool, valid)."""
    if level == 0:
        return x
    f = 2 ** int(level)
    return ops.average_pool(x, pool_size=(f, f), strides=(f, f), padding="valid")


def ssim_window(level, size0=11, sigma0=1.5):
    """``(size, sigma)`` of the SSIM Gaussian window at ``level`` (shrinks with scale)."""
    size = max(3, size0 // 2 ** int(level))
    if size % 2 == 0:
        size += 1
    return size, sigma0 * size / size0


def _gauss_kernel(size, sigma):
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-0.5 * (r / sigma) ** 2)
    g /= g.sum()
    return (g[:, None] * g[None, :]).astype("float32")[:, :, None, None]


def _filter(x, kernel):
    return ops.conv(x, kernel, strides=1, padding="valid")


def ssim(y_true, y_pred, level=0, data_range=1.0, size0=11, sigma0=1.5):
    """Per-image mean SSIM, shape ``(batch,)``, with the window of ``level``.

    The window is cut to the map side when the map is smaller (e.g. 3 px at a 2 px bottleneck falls back
    to the map side).
    """
    size, sigma = ssim_window(level, size0, sigma0)
    h, w = y_true.shape[1], y_true.shape[2]
    if h is not None and w is not None and min(h, w) < size:
        size = max(1, min(h, w))
        sigma = max(sigma0 * size / size0, 0.5)
    k = ops.convert_to_tensor(_gauss_kernel(size, sigma))
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    mu_t = _filter(y_true, k)
    mu_p = _filter(y_pred, k)
    s_tt = _filter(y_true * y_true, k) - mu_t * mu_t
    s_pp = _filter(y_pred * y_pred, k) - mu_p * mu_p
    s_tp = _filter(y_true * y_pred, k) - mu_t * mu_p
    num = (2.0 * (mu_t * mu_p) + c1) * (2.0 * s_tp + c2)
    den = (mu_t * mu_t + mu_p * mu_p + c1) * (s_tt + s_pp + c2)
    return ops.mean(num / den, axis=(1, 2, 3))


def dssim(y_true, y_pred, level=0, data_range=1.0):
    """``mean((1 - SSIM) / 2)`` over the batch; 0 for identical maps."""
    return ops.mean((1.0 - ssim(y_true, y_pred, level, data_range)) / 2.0)


def msle(y_true, y_pred):
    """Mean squared logarithmic error ``mean((log1p(y+) - log1p(t+))^2)`` (negatives clipped to 0)."""
    lt = ops.log1p(ops.maximum(ops.cast(y_true, "float32"), 0.0))
    lp = ops.log1p(ops.maximum(ops.cast(y_pred, "float32"), 0.0))
    return ops.mean(ops.square(lp - lt))


def multiscale_terms(target, outputs, levels=None, data_range=1.0, final_level=0):
    """Sum over scales of DSSIM and of MSLE.

    Parameters
    ----------
    target : tensor (batch, H, W, 1)
        Normalised full-resolution target.
    outputs : list of tensors
        Generator outputs ``[final, head_{L-1}, ..., head_1]``.
    levels : list of int, optional
        Level of each output; default :func:`output_levels` ``(len(outputs))``.
    final_level : int
        The final output (level 0) is compared after block-averaging it and the target to this level
        (with that level's SSIM window); 0: pixel by pixel.

    Returns
    -------
    (dssim_sum, msle_sum) : scalar tensors
    """
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    levels = output_levels(len(outputs)) if levels is None else levels
    return _pair_terms([downsample(target, lev) for lev in levels], outputs, levels, data_range, final_level)


def _pair_terms(refs, outputs, levels, data_range, final_level):
    """Sums over scales of DSSIM and MSLE between each output and its reference at the same level (the level-0 pair
    block-averaged to ``final_level`` first): the truth's scales (:func:`multiscale_terms`) or a second realisation's
    outputs (:func:`perceptual_energy_loss`)."""
    d_sum, m_sum = 0.0, 0.0
    for ref, out, lev in zip(refs, outputs, levels):
        if lev == 0 and final_level:
            ref, out, lev = downsample(ref, final_level), downsample(out, final_level), final_level
        d_sum = d_sum + dssim(ref, out, lev, data_range)
        m_sum = m_sum + msle(ref, out)
    return d_sum, m_sum


def perceptual_loss(target, outputs, weights, levels=None, data_range=1.0, final_level=0):
    """``alpha * sum DSSIM + beta * sum MSLE``; returns ``(loss, dssim_sum, msle_sum)``."""
    d, m = multiscale_terms(target, outputs, levels, data_range, final_level)
    return weights.alpha * d + weights.beta * m, d, m


def perceptual_energy_loss(target, outputs, second, weights, energy=1.0, levels=None, data_range=1.0, final_level=0):
    """The perceptual terms as a kernel (energy) score of two realisations ``outputs`` and ``second``:
    ``(P(t, x1) + P(t, x2)) / 2 - energy * P(x1, x2) / 2`` with ``P`` the :func:`perceptual_loss` of a pair; returns
    ``(loss, dssim, msle)``, the last two the realisations' mean distance from the truth.

    A pixel loss judges each realisation as if it were the prediction: for the MSLE term, whose per-pixel error
    ``(mu + s e - t)^2`` averages to ``(mu - t)^2 + s^2``, every bit of noise costs.  Subtracting half the two
    realisations' own distance (``(x1 - x2)^2`` averages to ``2 s^2``) leaves, at ``energy = 1``, the squared error of
    their mean alone: the MSLE term no longer prices the spread, which the adversarial and statistics terms set (the
    energy score, Gneiting & Raftery 2007, at its exponent 2; DSSIM in the same form is the heuristic extension).
    ``energy`` in [0, 1]; 0: the mean of the two realisations' plain perceptual losses.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> t = np.ones((1, 64, 64, 1), "float32")
    >>> x1, x2 = (t + 0.1 * rng.standard_normal((2, 1, 64, 64, 1))).astype("float32")   # unbiased, noisy
    >>> w = LossWeights(alpha=0.0, beta=1.0)
    >>> [round(float(perceptual_energy_loss(t, [x1], [x2], w, e)[0]), 4) for e in (0.0, 1.0)]
    [0.0025, -0.0]
    >>> [round(float(perceptual_energy_loss(t, [x1 + 0.1], [x2 + 0.1], w, e)[0]), 4) for e in (0.0, 1.0)]  # biased
    [0.0046, 0.0023]
    """
    if not isinstance(outputs, (list, tuple)):
        outputs, second = [outputs], [second]
    levels = output_levels(len(outputs)) if levels is None else levels
    d1, m1 = multiscale_terms(target, outputs, levels, data_range, final_level)
    d2, m2 = multiscale_terms(target, second, levels, data_range, final_level)
    d, m = (d1 + d2) / 2.0, (m1 + m2) / 2.0
    loss = weights.alpha * d + weights.beta * m
    if energy:  # the pair's distance: each realisation the other's reference, on the truth's scales and windows
        d12, m12 = _pair_terms(outputs, second, levels, data_range, final_level)
        loss = loss - energy * (weights.alpha * d12 + weights.beta * m12) / 2.0
    return loss, d, m


def critic_wasserstein(d_real, d_fake):
    """Critic's Wasserstein term ``mean(D(fake)) - mean(D(real))`` (minimised)."""
    return ops.mean(d_fake) - ops.mean(d_real)


def generator_adversarial(d_fake):
    """Generator's adversarial term ``-mean(D(fake))``."""
    return -ops.mean(d_fake)


def _per_sample_sq_norm(grads):
    """``sum over every input and pixel of g^2`` per sample, float32; ``grads`` a tensor or a list of them."""
    if not isinstance(grads, (list, tuple)):
        grads = [grads]
    sq = 0.0
    for g in grads:
        g = ops.cast(g, "float32")
        sq = sq + ops.sum(ops.square(ops.reshape(g, (ops.shape(g)[0], -1))), axis=1)
    return sq


def gradient_penalty_from_grads(grads):
    """Two-sided penalty ``mean_i((||g_i|| - 1)^2)`` with the norm over all inputs of sample ``i``.

    ``grads`` is a list of gradients of the critic output with respect to each interpolated input
    (full-resolution map and every scale), each of shape ``(batch, ...)``.
    """
    norm = ops.sqrt(_per_sample_sq_norm(grads) + 1e-12)
    return ops.mean(ops.square(norm - 1.0))


def r1_penalty_from_grads(grads):
    """R1 penalty ``mean_i ||g_i||^2`` of the critic's gradients at *real* samples (norm over all inputs).

    The critic loss adds ``(weight / 2) * R1`` (Mescheder et al. 2018, with ``gamma = weight``).
    """
    return ops.mean(_per_sample_sq_norm(grads))
