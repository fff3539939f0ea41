# SPDX-License-Identifier: BSD-3-Clause
"""The EMBER generator (WGAN) and U-Net in Keras 3.

:func:`build_generator` interprets :func:`~ember_dist.model.graph.unet_graph`
with Keras layers.  Inputs are the normalised dark-matter map ``"dm"`` of
shape ``(batch, H, W, 1)`` and, for the noisy generator, one noise map per
decoder level ``"noise_l{l}"`` of shape ``(batch, H / 2**l, W / 2**l, 1)``
(see :mod:`ember_dist.model.noise`).  ``H`` and ``W`` must be multiples of the
preset's alignment factor.  Only ``keras.layers``/``keras.ops`` are used, so
the same model runs on the TensorFlow, JAX and PyTorch backends.

Examples
--------
>>> g = build_generator("tiny", noise=False)
>>> [t.name for t in g.inputs]
['dm']
>>> len(g.outputs)   # final output + multi-scale heads (levels 3, 2, 1)
4
"""
from __future__ import annotations

import keras

from ember_dist.model.graph import unet_graph
from ember_dist.model.layers import NoiseInjection
from ember_dist.model.presets import get_preset

__all__ = ["build_generator", "inference_model", "noise_input_names", "count_params", "chain_models"]


def noise_input_names(preset):
    """Names of the noise inputs, level 0 first."""
    return [f"noise_l{l}" for l in range(get_preset(preset).levels - 1)]


class _KerasOps:
    def __init__(self, preset, initializer, final_dtype=None):
        self.slope = preset.negative_slope
        self.init = initializer
        self.final_dtype = final_dtype

    def conv(self, t, filters, stride, name):
        t = keras.layers.Conv2D(filters, 3, strides=stride, padding="same",
                                kernel_initializer=self.init, name=name)(t)
        return keras.layers.LeakyReLU(negative_slope=self.slope, name=name + "_act")(t)

    def up(self, t, name):
        return keras.layers.UpSampling2D(2, interpolation="nearest", name=name)(t)

    def noise(self, t, eta, level, name):
        return NoiseInjection(name=name)([t, eta])

    def concat(self, a, b, name):
        return keras.layers.Concatenate(axis=-1, name=name)([a, b])

    def head(self, t, level, name):
        return keras.layers.Conv2D(1, 1, activation="relu", kernel_initializer=self.init, name=name)(t)

    def final(self, t, name):
        return keras.layers.Conv2D(1, 3, padding="same", activation="relu", kernel_initializer=self.init,
                                   dtype=self.final_dtype, name=name)(t)


def build_generator(preset="fiducial", noise=None, input_shape=(None, None), initializer="glorot_normal",
                    dtype=None):
    """Build the generator as a functional Keras model.

    Parameters
    ----------
    preset : str or Preset
        Architecture (see :mod:`ember_dist.model.presets`).
    noise : bool, optional
        Override the preset's noise flag (``False`` gives the U-Net).
    input_shape : tuple (H, W), px
        ``None`` for any size (multiples of the alignment factor).
    initializer : str or keras initializer
        Convolution kernel initializer (paper: Glorot normal).
    dtype : str or keras.DTypePolicy, optional
        e.g. ``"mixed_bfloat16"`` for reduced-precision inference.

    Returns
    -------
    keras.Model
        Outputs ``[final, head_{L-1}, ..., head_1]``; ``final`` is ``(batch, H, W, 1)``.
    """
    preset = get_preset(preset)
    if noise is not None:
        preset = preset.with_noise(noise)
    h, w = input_shape
    prev = keras.config.dtype_policy()
    if dtype is not None:
        keras.config.set_dtype_policy(dtype)
    try:
        x = keras.Input((h, w, 1), name="dm")
        etas = {}
        if preset.noise:
            for lev in range(preset.levels - 1):
                f = 2**lev
                etas[lev] = keras.Input((None if h is None else h // f, None if w is None else w // f, 1),
                                        name=f"noise_l{lev}")
        # Reduced precision: the last convolution sums in float32, so the output is not rounded to
        # bfloat16's 8-bit mantissa (which the exponential inverse normalisation amplifies several-fold).
        ops = _KerasOps(preset, initializer, final_dtype=None if dtype is None else "float32")
        final, heads = unet_graph(ops, x, preset, etas)
        if dtype is not None:  # outputs in float32 whatever the compute dtype
            final = keras.layers.Activation("linear", dtype="float32", name="final_f32")(final)
        inputs = [x] + [etas[l] for l in sorted(etas)]
        model = keras.Model(inputs, [final] + heads, name=f"ember_{preset.name}_{'wgan' if preset.noise else 'unet'}")
    finally:
        keras.config.set_dtype_policy(prev)
    return model


def inference_model(generator):
    """A model with the generator's inputs and only its final (level-0) output."""
    return keras.Model(generator.inputs, generator.outputs[0], name=generator.name + "_infer")


def count_params(model):
    """Number of trainable parameters."""
    return int(sum(int(keras.ops.size(w)) for w in model.trainable_weights))


class _SharedOps:
    """Interpret the graph by calling the layers of an existing generator (shared weights)."""

    def __init__(self, generator):
        self.g = generator

    def conv(self, t, filters, stride, name):
        return self.g.get_layer(name + "_act")(self.g.get_layer(name)(t))

    def up(self, t, name):
        return self.g.get_layer(name)(t)

    def noise(self, t, eta, level, name):
        return self.g.get_layer(name)([t, eta])

    def concat(self, a, b, name):
        return self.g.get_layer(name)([a, b])

    def head(self, t, level, name):  # pragma: no cover - stages never request heads
        return self.g.get_layer(name)(t)

    def final(self, t, name):
        t = self.g.get_layer(name)(t)
        if "final_f32" in [l.name for l in self.g.layers]:
            t = self.g.get_layer("final_f32")(t)
        return t


class _PeriodicOps(_SharedOps):
    """Like :class:`_SharedOps`, with every convolution wrapped around the map edges (whole periodic maps)."""

    def __init__(self, generator):
        super().__init__(generator)
        self._n = 0

    def _periodic(self, name, t):
        from ember_dist.model.layers import PeriodicConv

        self._n += 1
        return PeriodicConv(self.g.get_layer(name), name=f"{name}_periodic_{self._n}")(t)

    def conv(self, t, filters, stride, name):
        return self.g.get_layer(name + "_act")(self._periodic(name, t))

    def final(self, t, name):
        t = self._periodic(name, t)
        if "final_f32" in [l.name for l in self.g.layers]:
            t = self.g.get_layer("final_f32")(t)
        return t


def chain_models(generator, preset, splits, periodic=False):
    """The stage models of split inference at the levels ``splits``, sharing ``generator``'s weights.

    With ``levels = (0, *splits)`` and ``d_s`` the features entering level ``s``
    (``filters[s]`` channels) and ``h_s`` the decoder output at level ``s``
    (``filters[s+1]`` channels):

    * ``("A", i)``: ``{"dm"}`` (i = 1) or ``{"d"}`` (``d_a``) -> ``d_b`` for ``a, b = levels[i-1], levels[i]``;
    * ``"B"``: ``{"d", "noise_l{l}" for l >= s_m}`` -> ``h_{s_m}`` (the deepest segment); with
      ``periodic`` its convolutions wrap around the edges, for a whole periodic map;
    * ``("C", i)``: ``{"dm" or "d", "h", "noise_l{l}" for a <= l < b}`` -> ``h_a``, or the final
      output when ``a == 0``.

    Examples
    --------
    >>> g = build_generator("tiny", noise=True)
    >>> m = chain_models(g, "tiny", (1, 2))
    >>> sorted(k if isinstance(k, str) else "".join(map(str, k)) for k in m)
    ['A1', 'A2', 'B', 'C1', 'C2']
    >>> [t.name for t in m[("C", 2)].inputs]
    ['d', 'h', 'noise_l1']
    """
    from ember_dist.model import graph

    preset = get_preset(preset)
    L = preset.levels
    ops = _SharedOps(generator)
    levels = (0,) + tuple(int(s) for s in splits)
    models = {}
    for i in range(1, len(levels)):
        a, b = levels[i - 1], levels[i]
        name, ch = ("dm", 1) if a == 0 else ("d", preset.filters[a])
        x = keras.Input((None, None, ch), name=name)
        _, d = graph.encoder(ops, x, preset, a, b, enter_b=True)
        models[("A", i)] = keras.Model([x], d, name=f"stage_a{a}_{b}")
        x2 = keras.Input((None, None, ch), name=name)
        h_in = keras.Input((None, None, preset.filters[b + 1]), name="h")
        nc = {l: keras.Input((None, None, 1), name=f"noise_l{l}") for l in range(a, b)} if preset.noise else {}
        skips, _ = graph.encoder(ops, x2, preset, a, b)
        out = graph.decoder(ops, h_in, skips, preset, a, b, nc)
        models[("C", i)] = keras.Model([x2, h_in] + [nc[l] for l in sorted(nc)], out, name=f"stage_c{a}_{b}")
    s = levels[-1]
    d_in = keras.Input((None, None, preset.filters[s]), name="d")
    nb = {l: keras.Input((None, None, 1), name=f"noise_l{l}") for l in range(s, L - 1)} if preset.noise else {}
    h = graph.segment(_PeriodicOps(generator) if periodic else ops, d_in, preset, s, nb)
    models["B"] = keras.Model([d_in] + [nb[l] for l in sorted(nb)], h, name=f"stage_b{s}")
    return models
