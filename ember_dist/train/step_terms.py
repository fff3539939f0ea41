# SPDX-License-Identifier: BSD-3-Clause
"""What the TensorFlow and JAX training steps share: the generator's loss terms and the critic's inputs.

:class:`StepTerms` holds the run's loss configuration (perceptual weights, the statistics terms in mass, the
critic penalty) and builds, from backend-agnostic :mod:`ember_dist.train.losses` (``keras.ops``), the
generator's perceptual loss and the critic's real / fake input dicts; ``_tf_step`` and ``_jax_step``
differ only in how they take gradients and compile.
"""
from __future__ import annotations

import functools

import numpy as np

from ember_dist.train import losses as L
from ember_dist.train.config import BATCH_TERMS, MASS_TERMS

__all__ = ["StepTerms", "flip_noise"]


def flip_noise(inputs):
    """The generator's inputs with every noise map flipped along both axes: another white-noise draw, independent
    of the first but at the flipped tile's centre pixel (the noise is i.i.d. per pixel), so a training step's
    second realisation needs no random numbers of its own.

    >>> x = {"dm": np.arange(4.0).reshape(1, 2, 2, 1), "noise_l0": np.arange(4.0).reshape(1, 2, 2, 1)}
    >>> y = flip_noise(x)
    >>> y["noise_l0"][0, :, :, 0].tolist(), y["dm"] is x["dm"]
    ([[3.0, 2.0], [1.0, 0.0]], True)
    """
    return {k: (v[:, ::-1, ::-1, :] if k.startswith("noise_") else v) for k, v in inputs.items()}


class StepTerms:
    """Loss terms of one run; subclasses call :meth:`_init_terms` from their ``__init__``."""

    def _init_terms(self, weights, levels, gp_weight, data_range, penalty, perceptual_from_level, power_norm, tile,
                    perceptual_energy=0.0, **batch_terms):
        """``batch_terms``: the weights of :data:`~ember_dist.train.config.BATCH_TERMS` (absent: 0);
        ``perceptual_energy``: the ``energy`` of :func:`~ember_dist.train.losses.perceptual_energy_loss` (0: the
        paper's perceptual loss of one realisation)."""
        unknown = sorted(set(batch_terms) - set(BATCH_TERMS))
        if unknown:
            raise TypeError(f"unknown loss terms {unknown}; the batch terms are {list(BATCH_TERMS)}")
        self.w, self.levels = weights, list(levels)
        self.gp_weight = float(gp_weight)
        if penalty not in L.PENALTIES:
            raise ValueError(f"penalty must be one of {L.PENALTIES}. Received: penalty={penalty!r}.")
        self.penalty = penalty
        self.data_range = float(data_range)
        self.perceptual_from_level = int(perceptual_from_level)
        self.perceptual_energy = float(perceptual_energy)
        # the terms in mass (P(k), ln-mass PDF): (k, q) of the target's normalisation, which turns maps back
        # into mass; the P(k) term also needs the tile's bins (L.power_bins)
        for name in BATCH_TERMS:
            setattr(self, name, float(batch_terms.get(name, 0.0)))
        if any(getattr(self, name) for name in MASS_TERMS):
            self.mass_kq = (float(power_norm.k), float(power_norm.q))
        if self.power_weight or self.spread_weight or self.tile_power_weight:
            self.power_bins = L.power_bins(int(tile))
        self.scale_names = [f"scale_l{l}" for l in self.levels if l > 0]
        self.wrt = ["target"] + self.scale_names

    def _perceptual(self, target, outputs, second=None):
        """Perceptual loss (+ ``power_weight`` x the P(k) term, + ``pdf_weight`` x the pixel-PDF term,
        + ``pdf_log_weight`` x the ln(mass) pixel-PDF term of the final output, + ``pdf_mass_weight`` x the one in
        mass, + ``mass_weight`` x the total-mass term, + ``tile_power_weight`` x the per-tile P(k) term,
        + ``spread_weight`` x the energy
        score of the per-tile P(k) of it and of ``second()[0]``; ``second()`` the outputs of a second realisation,
        called once, and only by the terms that need it; with ``perceptual_energy`` the perceptual terms are the
        kernel score of both realisations, :func:`~ember_dist.train.losses.perceptual_energy_loss`):
        ``(loss, dssim, msle, extra)``, ``extra`` the metrics of the terms in use."""
        if second is not None:  # one forward pass of the second realisation serves every term that asks for it
            second = functools.cache(second)
        if self.perceptual_energy and second is not None:
            loss, d, m = L.perceptual_energy_loss(target, outputs, second(), self.w, self.perceptual_energy,
                                                  self.levels, self.data_range, self.perceptual_from_level)
        else:
            loss, d, m = L.perceptual_loss(target, outputs, self.w, self.levels, self.data_range,
                                           self.perceptual_from_level)
        extra = {}
        if self.power_weight:
            extra["power"] = L.power_spectrum_loss(target, outputs[0], *self.mass_kq, *self.power_bins)
            loss = loss + self.power_weight * extra["power"]
        if self.pdf_weight:
            extra["pdf"] = L.pixel_distribution_loss(target, outputs[0])
            loss = loss + self.pdf_weight * extra["pdf"]
        if self.pdf_log_weight:
            extra["pdf_log"] = L.log_mass_distribution_loss(target, outputs[0], *self.mass_kq)
            loss = loss + self.pdf_log_weight * extra["pdf_log"]
        if self.pdf_mass_weight:
            extra["pdf_mass"] = L.mass_distribution_loss(target, outputs[0], *self.mass_kq)
            loss = loss + self.pdf_mass_weight * extra["pdf_mass"]
        if self.mass_weight:
            extra["mass"] = L.total_mass_loss(target, outputs[0], *self.mass_kq)
            loss = loss + self.mass_weight * extra["mass"]
        if self.tile_power_weight:
            extra["tile_power"] = L.tile_power_loss(target, outputs[0], *self.mass_kq, *self.power_bins)
            loss = loss + self.tile_power_weight * extra["tile_power"]
        if self.spread_weight and second is not None:
            extra["spread"] = L.power_energy_score(target, outputs[0], second()[0], *self.mass_kq, *self.power_bins)
            loss = loss + self.spread_weight * extra["spread"]
        return loss, d, m, extra

    def _real_fake(self, inputs, target, outs):
        """The critic's input dicts for the truth and the generator's outputs (each output level beside its
        downsampled truth), sharing the dark-matter conditioning."""
        dm = inputs["dm"]
        real = {"target": target, "dm": dm}
        fake = {"target": outs[0], "dm": dm}
        for o, lev in zip(outs, self.levels):
            if lev > 0:
                real[f"scale_l{lev}"] = L.downsample(target, lev)
                fake[f"scale_l{lev}"] = o
        return real, fake

    def _stack_critic_batches(self, critic_batches):
        """``(inputs, target, eps)`` of ``n_critic`` critic batches stacked along the batch axis, for one
        compiled WGAN iteration (the steps cut them apart again)."""
        if len(critic_batches) != self.n_critic:
            raise ValueError(f"wgan_iteration takes n_critic={self.n_critic} critic batches; got {len(critic_batches)}.")
        stack = lambda *a: np.concatenate(a, axis=0)  # noqa: E731
        xc = {k: stack(*[b[0][k] for b in critic_batches]) for k in critic_batches[0][0]}
        return xc, stack(*[b[1] for b in critic_batches]), stack(*[b[2] for b in critic_batches])
