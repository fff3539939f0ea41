# SPDX-License-Identifier: BSD-3-Clause
"""What a training run trains: its generator and critic, their optimizers, and an optional warm start.

Everything is built from a :class:`~ember_dist.train.config.TrainConfig`; the caller
(:class:`~ember_dist.train.loop.Trainer`) builds inside the data-parallel scope so the variables
are mirrored over its devices.  All optimizers are Adam (beta1 = 0, beta2 = 0.99) with the
learning rate decayed polynomially to ``end_lr_factor`` of its start over the updates they make.

Examples
--------
>>> from ember_dist.train.config import TrainConfig
>>> cfg = TrainConfig(kind="wgan", preset="tiny", tile=32, batch=8)
>>> run_preset(cfg).noise, mbstd_group(cfg, 2)
(True, 4)
>>> mbstd_group(TrainConfig(kind="wgan", preset="tiny", tile=32, batch=8, mbstd_group=8), 2)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: mbstd_group=8 does not divide the 4 samples each of the 2 devices holds (batch 8); ... Pass mbstd_group dividing 4.
"""
from __future__ import annotations

import numpy as np

from ember_dist.model.presets import get_preset
from ember_dist.model.runtime import import_keras
from ember_dist.train.config import BATCH_TERMS, MASS_TERMS

__all__ = ["run_preset", "check_sampler", "mbstd_group", "check_batch_terms", "networks", "warm_start", "optimizers"]


def run_preset(cfg):
    """The generator preset of ``cfg``: noise injections for a WGAN, one strength per channel and a gain its
    features set if asked."""
    wgan = cfg.kind == "wgan"
    p = get_preset(cfg.preset).with_noise(wgan)
    return p.with_noise_per_channel(wgan and cfg.noise_per_channel).with_noise_modulated(wgan and cfg.noise_modulated)


def check_sampler(sampler, cfg, preset):
    """Refuse a sampler whose noise maps, tile or batch do not fit ``cfg`` and its generator ``preset``."""
    if sampler.noise_levels != (preset.levels - 1 if preset.noise else 0):
        raise ValueError(f"sampler draws {sampler.noise_levels} noise maps; the {cfg.kind} generator of "
                         f"preset {preset.name!r} needs {preset.levels - 1 if preset.noise else 0}.")
    if sampler.tile != cfg.tile or sampler.batch_size != cfg.batch:
        raise ValueError("sampler tile/batch differ from the config's; build the sampler with the same values.")


def mbstd_group(cfg, replicas):
    """Critic minibatch-stddev group: ``mbstd_group`` or the batch on one device; must fit a replica."""
    per = cfg.batch // replicas
    g = cfg.mbstd_group or per
    if per % g:
        raise ValueError(f"mbstd_group={g} does not divide the {per} samples each of the {replicas} "
                         f"devices holds (batch {cfg.batch}); the critic's minibatch statistics must stay "
                         f"on one device. Pass mbstd_group dividing {per}.")
    return g


def check_batch_terms(cfg, replicas, info):
    """Refuse the P(k), pixel-PDF and spread terms where they would not be the loss they say.

    They are statistics of the whole batch (binned power sums, a sort of all its pixels, tile power in units
    of the batch's mean); on several devices each replica would compute them on its own share, a different,
    noisier loss than the one-device run.  The P(k), ln(mass) PDF and spread terms also need the target's
    normalisation (``info["output_norm"]``) to turn the maps back into mass, as does the mass PDF term.
    """
    terms = [n for n in BATCH_TERMS if getattr(cfg, n)]
    if terms and replicas > 1:
        raise ValueError(f"{' and '.join(terms)} are statistics of the whole batch and are not implemented on "
                         f"{replicas} devices (each would see its own share). Train on one device (devices=None).")
    mass_terms = [n for n in MASS_TERMS if getattr(cfg, n)]
    if mass_terms and (info or {}).get("output_norm") is None:
        raise ValueError(f"{' and '.join(mass_terms)} need the target's normalisation (info['output_norm'], as "
                         "TileSampler.from_store returns it) to turn the maps back into mass.")


def networks(cfg, preset, group):
    """``(generator, critic)`` initialised from ``cfg.seed``; the critic (minibatch-stddev groups of
    ``group`` samples) is ``None`` for a U-Net."""
    from ember_dist.model.generator import build_generator
    from ember_dist.train.critic import build_critic

    import_keras().utils.set_random_seed(cfg.seed)
    g = build_generator(preset)
    widths = [cfg.critic_width * f for f in preset.filters]
    c = build_critic(preset, cfg.tile, filters=widths, mbstd_group=group) if cfg.kind == "wgan" else None
    return g, c


def warm_start(g, preset, source):
    """Copy the generator weights of bundle ``source`` into ``g`` layer by layer (by name); returns its description."""
    from ember_dist.model.bundle import load_model
    from ember_dist.model.generator import build_generator

    b = load_model(source)
    if tuple(b.preset.filters) != tuple(preset.filters):
        raise ValueError(f"init_from={str(source)!r} has filters {list(b.preset.filters)}; this run's preset "
                         f"{preset.name!r} has {list(preset.filters)}. Warm-start from a bundle of "
                         "the same preset.")
    src = build_generator(b.preset)
    src.load_weights(str(b.weights_path))
    copied = 0
    for layer in src.layers:
        if layer.weights:
            dst = g.get_layer(layer.name)
            ws = layer.get_weights()
            if hasattr(dst, "per_channel") and np.shape(ws[0]) != tuple(dst.strength.shape):
                # noise strengths: one per level <-> one per channel (a WGAN of the same kind keeps its own)
                ws = [np.full(dst.strength.shape, float(np.mean(ws[0])), np.float32)] + ws[1:]
            if getattr(dst, "modulated", False) and not getattr(layer, "modulated", False):
                ws = ws + [np.zeros(dst.modulation.shape, np.float32)]  # gain 1: the source's injection
            elif getattr(layer, "modulated", False) and not getattr(dst, "modulated", False):
                raise ValueError(f"init_from={str(source)!r} has modulated noise and this run does not: "
                                 "pass --noise-modulated to keep its gains, or warm-start from another bundle.")
            dst.set_weights(ws)
            copied += 1
    return {"bundle": b.name, "weights_sha256": b.weights_sha256, "kind": b.meta.get("kind"),
            "layers_copied": copied}


def _adam(cfg, lr, updates):
    """Adam with the run's schedule: ``lr`` decayed to ``lr * end_lr_factor`` over ``updates``."""
    keras = import_keras()
    sched = keras.optimizers.schedules.PolynomialDecay(lr, updates, lr * cfg.end_lr_factor, power=cfg.power)
    return keras.optimizers.Adam(sched, beta_1=0.0, beta_2=0.99)


def optimizers(cfg, g, c, noise_vars):
    """Built ``(generator, noise, critic)`` optimizers; the noise one only with ``noise_lr`` (WGAN), the
    critic one only with a critic (else ``None``).  ``noise_vars``: the generator's noise strengths."""
    wgan = cfg.kind == "wgan"
    g_opt = _adam(cfg, cfg.lr, max(1, cfg.steps - (cfg.critic_warmup if wgan else 0)))
    n_opt = None
    if wgan and cfg.noise_lr is not None:
        n_opt = _adam(cfg, cfg.noise_lr, max(1, cfg.steps - cfg.critic_warmup))
        n_opt.build(noise_vars)
        ids = {id(v) for v in noise_vars}
        g_opt.build([v for v in g.trainable_variables if id(v) not in ids])
    else:
        g_opt.build(g.trainable_variables)
    c_opt = None
    if c is not None:
        c_opt = _adam(cfg, cfg.critic_lr, cfg.steps * cfg.n_critic)
        c_opt.build(c.trainable_variables)
    return g_opt, n_opt, c_opt
