# SPDX-License-Identifier: BSD-3-Clause
"""The noise strengths of a WGAN generator: find its noise injections, set them, report them.

Each decoder level ``l`` of a WGAN generator adds a noise map scaled by a trainable strength
(layer ``dec{l}_noise``, :class:`~ember_dist.model.layers.NoiseInjection`): one scalar per level,
or one per feature channel (StyleGAN).  A U-Net has none, and every function here then returns
an empty result.

Examples
--------
>>> from ember_dist.model.generator import build_generator
>>> from ember_dist.model.presets import get_preset
>>> g = build_generator(get_preset("tiny").with_noise(True))
>>> fill(g, 0.25)
>>> noise_levels(g)
{'noise_l0': 0.25, 'noise_l1': 0.25, 'noise_l2': 0.25}
>>> noise_levels(build_generator(get_preset("tiny").with_noise(False)))  # a U-Net
{}
"""
from __future__ import annotations

import contextlib

import numpy as np

__all__ = ["layers", "fill", "strengths", "noise_levels", "scaled", "StrengthFloor", "hold_floor", "gains"]


def layers(g):
    """The noise-injection layers of generator ``g``, level 0 first (empty for the U-Net)."""
    from ember_dist.model.layers import NoiseInjection

    found = [l for l in g.layers if isinstance(l, NoiseInjection)]
    return sorted(found, key=lambda l: l.name)


def fill(g, value):
    """Set every noise strength of ``g`` to ``value``."""
    for s in layers(g):
        s.strength.assign(np.full(s.strength.shape, value, np.float32))


def strengths(g):
    """``{layer name: strength}`` of the noise injections of ``g`` (a list per layer with one per channel)."""
    return {l.name: (float(np.asarray(l.strength)) if not l.per_channel
                     else [float(v) for v in np.asarray(l.strength)]) for l in layers(g)}


def _level(layer):
    """The decoder level of a noise-injection layer (named ``dec{l}_noise``)."""
    return int(layer.name.split("_")[0].replace("dec", ""))


def noise_levels(g):
    """``{"noise_l{l}": RMS of the strengths of level l}`` (the value itself when one per level)."""
    out = {}
    for l in layers(g):
        w = np.asarray(l.strength, np.float64)
        out[f"noise_l{_level(l)}"] = float(np.sqrt(np.mean(w * w))) if w.ndim else float(w)
    return out


@contextlib.contextmanager
def scaled(g, factor, levels=None):
    """Inside the block the noise strengths of ``g`` at ``levels`` (default: all) are ``factor`` x their values;
    restored after, also on an error (an inference experiment, not a training option).

    >>> from ember_dist.model.generator import build_generator
    >>> from ember_dist.model.presets import get_preset
    >>> g = build_generator(get_preset("tiny").with_noise(True))
    >>> fill(g, 0.25)
    >>> with scaled(g, 4.0, levels=[0]):
    ...     noise_levels(g)
    {'noise_l0': 1.0, 'noise_l1': 0.25, 'noise_l2': 0.25}
    >>> noise_levels(g)["noise_l0"]
    0.25
    """
    chosen = [l for l in layers(g) if levels is None or _level(l) in set(levels)]
    saved = [np.asarray(l.strength).copy() for l in chosen]
    try:
        for l, w in zip(chosen, saved):
            l.strength.assign((w * float(factor)).astype(np.float32))
        yield g
    finally:
        for l, w in zip(chosen, saved):
            l.strength.assign(w)


class StrengthFloor:
    """A weight constraint: ``|w| >= floor`` element by element, the sign kept (0 goes to ``+floor``).

    Keras optimizers apply a variable's constraint after every update (``Optimizer.apply``, and so
    ``stateless_apply`` on JAX): a training option, never saved with the bundle.

    >>> import numpy as np
    >>> np.asarray(StrengthFloor(0.1)(np.array([-0.3, -0.01, 0.0, 0.05, 0.2], np.float32))).tolist()
    [-0.30000001192092896, -0.10000000149011612, 0.10000000149011612, 0.10000000149011612, 0.20000000298023224]
    """

    def __init__(self, floor):
        self.floor = float(floor)

    def __call__(self, w):
        from ember_dist.model.runtime import import_keras

        ops = import_keras().ops
        w = ops.convert_to_tensor(w)
        return ops.where(ops.less(w, 0), ops.minimum(w, -self.floor), ops.maximum(w, self.floor))


def hold_floor(g, floors):
    """Hold the noise strengths of level ``l`` of ``g`` at ``|w| >= floors[l]`` from now on (a training lever:
    the finest levels' strengths otherwise fall to a few per cent of the features they join, and the network
    stops using them); projects the current values at once.  Levels beyond ``floors`` or with floor 0 are free.
    Returns ``{layer name: floor}`` of the constrained layers.
    """
    held = {}
    for layer in layers(g):
        lev = _level(layer)
        if lev < len(floors) and floors[lev] > 0:
            c = StrengthFloor(floors[lev])
            layer.strength.constraint = c
            layer.strength.assign(c(layer.strength))
            held[layer.name] = c.floor
    return held


def gains(g, inputs):
    """``{"noise_l{l}": gain map}`` of the modulated noise injections of ``g`` on ``inputs`` (the generator's input
    dict): the factor, pixel by pixel, by which each level's noise is scaled (``NoiseInjection.gain``), each
    ``(batch, H / 2**l, W / 2**l)``; empty for a generator without modulated noise.  Where the network puts its
    noise: halo cores against voids.

    >>> import numpy as np
    >>> from ember_dist.model.generator import build_generator
    >>> from ember_dist.model.presets import get_preset
    >>> g = build_generator(get_preset("tiny").with_noise(True).with_noise_modulated(True))
    >>> x = {"dm": np.ones((1, 16, 16, 1), np.float32)}
    >>> x.update({f"noise_l{l}": np.zeros((1, 16 >> l, 16 >> l, 1), np.float32) for l in range(3)})
    >>> {k: (v.shape, float(v.min()), float(v.max())) for k, v in gains(g, x).items()}  # weights at 0: gain 1
    {'noise_l0': ((1, 16, 16), 1.0, 1.0), 'noise_l1': ((1, 8, 8), 1.0, 1.0), 'noise_l2': ((1, 4, 4), 1.0, 1.0)}
    """
    from ember_dist.model.runtime import import_keras

    keras = import_keras()
    mod = [l for l in layers(g) if l.modulated]
    if not mod:
        return {}
    feats = keras.Model(g.inputs, [l.input[0] for l in mod])(inputs)
    feats = feats if isinstance(feats, (list, tuple)) else [feats]
    return {f"noise_l{_level(l)}": np.asarray(l.gain(f))[..., 0] for l, f in zip(mod, feats)}
