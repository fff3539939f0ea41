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

from ember_dist.model.graph import unet_graph
from ember_dist.model.layers import NoiseInjection
from ember_dist.model.presets import get_preset
from ember_dist.model.runtime import import_keras

keras = import_keras()

__all__ = ["build_generator", "inference_model", "noise_input_names", "count_params", "chain_models",
           "unpadded_network"]


def noise_input_names(preset):
    """Names of the noise inputs, level 0 first."""
    return [f"noise_l{l}" for l in range(get_preset(preset).levels - 1)]


class _KerasOps:
    def __init__(self, preset, initializer, final_dtype=None):
        self.slope = preset.negative_slope
        self.init = initializer
        self.final_dtype = final_dtype
        self.per_channel = preset.noise_per_channel
        self.modulated = preset.noise_modulated

    def conv(self, t, filters, stride, name):
        t = keras.layers.Conv2D(filters, 3, strides=stride, padding="same",
                                kernel_initializer=self.init, name=name)(t)
        return keras.layers.LeakyReLU(negative_slope=self.slope, name=name + "_act")(t)

    def up(self, t, name):
        return keras.layers.UpSampling2D(2, interpolation="nearest", name=name)(t)

    def noise(self, t, eta, level, name):
        return NoiseInjection(per_channel=self.per_channel, modulated=self.modulated, name=name)([t, eta])

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

    def _conv(self, name, t):
        """Generator convolution ``name`` applied to ``t`` (subclasses change how, never the weights)."""
        return self.g.get_layer(name)(t)

    def conv(self, t, filters, stride, name):
        return self.g.get_layer(name + "_act")(self._conv(name, t))

    def up(self, t, name):
        return self.g.get_layer(name)(t)

    def noise(self, t, eta, level, name):
        return self.g.get_layer(name)([t, eta])

    def concat(self, a, b, name):
        return self.g.get_layer(name)([a, b])

    def head(self, t, level, name):  # pragma: no cover - stages never request heads
        return self.g.get_layer(name)(t)

    def final(self, t, name):
        t = self._conv(name, t)
        if "final_f32" in [l.name for l in self.g.layers]:
            t = self.g.get_layer("final_f32")(t)
        return t


class _PeriodicOps(_SharedOps):
    """Like :class:`_SharedOps`, with every convolution wrapped around the map edges (whole periodic maps)."""

    def __init__(self, generator):
        super().__init__(generator)
        self._n = 0

    def _conv(self, name, t):
        from ember_dist.model.layers import PeriodicConv

        self._n += 1
        return PeriodicConv(self.g.get_layer(name), name=f"{name}_periodic_{self._n}")(t)


class _ValidOps(_SharedOps):
    """Like :class:`_SharedOps`, with every convolution unpadded (:class:`~ember_dist.model.layers.ValidConv`)
    and the few crops that keep tensors aligned (:mod:`ember_dist.model.regions`): each tensor holds
    only its exact pixels, and :meth:`finish` crops the output to the core."""

    def __init__(self, generator, regions):
        super().__init__(generator)
        self.r = regions
        self.extent = {}  # id(tensor) -> (tensor, its (lo, hi) offsets)
        self._n = 0

    def inputs(self, tensors):
        for t in tensors.values():
            self.extent[id(t)] = (t, (0, 0))  # every input is a whole canvas
        return tensors

    def _set(self, t, region):
        self.extent[id(t)] = (t, region)
        return t

    def _crop(self, t, want):
        have = self.extent[id(t)][1]
        c = (want[0] - have[0], want[1] - have[1])
        if min(c) < 0:  # pragma: no cover - valid_regions only ever shrinks regions
            raise AssertionError(f"cannot crop {have} to {want}")
        if c == (0, 0):
            return t
        self._n += 1
        # In the tensor's own dtype: a crop never casts (a float32 output stays float32 in mixed precision).
        return self._set(keras.layers.Cropping2D((c, c), dtype=t.dtype, name=f"crop_{self._n}")(t), want)

    def _inputs(self, name, *ts):
        return [self._crop(t, c) for t, c in zip(ts, self.r.crops[name])]

    def _conv(self, name, t):
        from ember_dist.model.layers import ValidConv

        return ValidConv(self.g.get_layer(name), name=f"{name}_valid")(t)

    def conv(self, t, filters, stride, name):
        return self._set(super().conv(*self._inputs(name, t), filters, stride, name), self.r.keep[name])

    def final(self, t, name):
        return self._set(super().final(*self._inputs(name, t), name), self.r.keep[name])

    def up(self, t, name):
        return self._set(super().up(*self._inputs(name, t), name), self.r.keep[name])

    def noise(self, t, eta, level, name):
        return self._set(super().noise(*self._inputs(name, t, eta), level, name), self.r.keep[name])

    def concat(self, a, b, name):
        return self._set(super().concat(*self._inputs(name, a, b), name), self.r.keep[name])

    def finish(self, out):
        """The output cropped to the core."""
        return self._crop(out, self.r.out)


def _unpadded(generator, regions, tensors, build):
    """The output of ``build`` on the input ``tensors`` with unpadded convolutions, cropped to the core."""
    ops = _ValidOps(generator, regions)
    return ops.finish(build(ops, ops.inputs(tensors)))


def chain_models(generator, preset, splits, periodic=False, halos=None):
    """The stage models of split inference at the levels ``splits``, sharing ``generator``'s weights.

    With ``levels = (0, *splits)`` and ``d_s`` the features entering level ``s``
    (``filters[s]`` channels) and ``h_s`` the decoder output at level ``s``
    (``filters[s+1]`` channels):

    * ``("A", i)``: ``{"dm"}`` (i = 1) or ``{"d"}`` (``d_a``) -> ``d_b`` for ``a, b = levels[i-1], levels[i]``;
    * ``"B"``: ``{"d", "noise_l{l}" for l >= s_m}`` -> ``h_{s_m}`` (the deepest segment); with
      ``periodic`` its convolutions wrap around the edges, for a whole periodic map;
    * ``("C", i)``: ``{"dm" or "d", "h", "noise_l{l}" for a <= l < b}`` -> ``h_a``, or the final
      output when ``a == 0``.

    ``halos`` maps stage names (``"A1"``, ``"B"``, ``"C1"``, ...) to the tile halo (before, after) in
    px of the stage's tiling level; those stages run their convolutions unpadded, so each tensor
    holds only its exact pixels (:mod:`ember_dist.model.regions`), and output the core alone.

    Examples
    --------
    >>> g = build_generator("tiny", noise=True)
    >>> m = chain_models(g, "tiny", (1, 2))
    >>> sorted(k if isinstance(k, str) else "".join(map(str, k)) for k in m)
    ['A1', 'A2', 'B', 'C1', 'C2']
    >>> [t.name for t in m[("C", 2)].inputs]
    ['d', 'h', 'noise_l1']
    >>> c = chain_models(g, "tiny", (1, 2), halos={"C2": (8, 8)})[("C", 2)]
    >>> tuple(c.compute_output_shape([(1, 48, 48, 8), (1, 24, 24, 16), (1, 48, 48, 1)]))
    (1, 32, 32, 8)
    """
    from ember_dist.model import graph
    from ember_dist.model.regions import stage_regions

    preset = get_preset(preset)
    splits = tuple(int(s) for s in splits)
    halos = halos or {}
    models = {}
    names = [f"{k}{i}" for i in range(1, len(splits) + 1) for k in "AC"] + ["B"]
    for stage in names:
        inputs, a, b, build = graph.stage_graph(preset, splits, stage)
        tensors = {k: keras.Input((None, None, ch), name=k) for k, (_, ch) in inputs.items()}
        if stage in halos:
            out = _unpadded(generator, stage_regions(preset, splits, stage, halos[stage]), tensors, build)
        else:
            out = build(_PeriodicOps(generator) if stage == "B" and periodic else _SharedOps(generator), tensors)
        key = stage if stage == "B" else (stage[0], int(stage[1:]))
        kind = "b" if stage == "B" else stage[0].lower()
        models[key] = keras.Model(list(tensors.values()), out, name=f"stage_{kind}{a}" + ("" if stage == "B" else f"_{b}"))
    return models


def unpadded_network(generator, preset, halo):
    """The inference network for tiles with ``halo`` (>= the receptive field), its convolutions unpadded
    so each tensor holds only its exact pixels (:func:`~ember_dist.model.regions.network_regions`):
    same inputs as the generator, output the core alone.  Shares ``generator``'s layers (or its
    inference model's).

    >>> p = get_preset("tiny").with_noise(False)
    >>> m = unpadded_network(build_generator(p), p, (48, 56))   # the exact halo of this preset
    >>> tuple(m.compute_output_shape((1, 136, 136, 1)))
    (1, 32, 32, 1)
    """
    from ember_dist.model import graph
    from ember_dist.model.regions import network_regions

    preset = get_preset(preset)
    regions = network_regions(preset, halo)
    if regions is None:
        raise ValueError(f"halo {tuple(halo)} is smaller than the receptive field of preset {preset.name!r}; "
                         f"only exact halos can run unpadded (halo='exact')")
    inputs, _, _, build = graph.stage_graph(preset, (), "B")
    tensors = {k: keras.Input((None, None, ch), name=k) for k, (_, ch) in inputs.items()}
    return keras.Model(list(tensors.values()), _unpadded(generator, regions, tensors, build),
                       name=generator.name + "_unpadded")
