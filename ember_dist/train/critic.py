# SPDX-License-Identifier: BSD-3-Clause
"""The MSG-GAN critic of EMBER (Bernardini et al. 2022; Karnewar & Wang 2020).

Inputs (normalised maps):

* ``"target"`` ``(B, H, W, 1)``: the real map or the generator's final output;
* ``"dm"`` ``(B, H, W, 1)``: the conditioning dark-matter map;
* ``"scale_l{l}"`` ``(B, H/2^l, W/2^l, 1)`` for ``l = 1..L-1``: the real map
  block-averaged to level ``l`` (:func:`ember_dist.train.losses.downsample`) or
  the generator's head at that level.

Block 0 sees ``concat(target, dm)``: a 3x3 conv and a stride-2 3x3 conv,
LeakyReLU(0.2) after each.  Block ``l >= 1`` takes the features of block
``l-1`` (level ``l``), concatenates the scale-``l`` map after a 1x1 conv,
appends the minibatch standard deviation of that concatenation
(:class:`~ember_dist.train.layers.MinibatchStdDev`), then the dark matter
block-averaged to level ``l``, and applies the two convolutions (the second
stride 2).  The last block's features are flattened into a final linear
dense unit, so the critic is built for one tile size.

Examples
--------
>>> c = build_critic("tiny", tile=32)
>>> sorted(t.name for t in c.inputs)
['dm', 'scale_l1', 'scale_l2', 'scale_l3', 'target']
>>> c.outputs[0].shape
(None, 1)
"""
from __future__ import annotations

from ember_dist.model.presets import get_preset
from ember_dist.model.runtime import import_keras
from ember_dist.train.layers import MinibatchStdDev

keras = import_keras()

__all__ = ["build_critic", "critic_inputs", "scale_names"]


def scale_names(levels):
    """Names of the critic's multi-scale inputs ``scale_l1 .. scale_l{L-1}``."""
    return [f"scale_l{l}" for l in range(1, levels)]


def build_critic(preset="tiny", tile=32, filters=None, negative_slope=0.2, initializer="glorot_normal",
                 mbstd_group=None):
    """Build the critic for ``tile x tile`` inputs.

    Parameters
    ----------
    preset : str or Preset
        Its number of levels ``L`` fixes the scales; ``tile`` must be a multiple of ``2**L``.
    tile : int, px
    filters : sequence of int, optional
        Width of block ``l``; default the preset's encoder widths.
    """
    preset = get_preset(preset)
    L = preset.levels
    filters = list(filters or preset.filters)
    if len(filters) != L:
        raise ValueError(f"filters needs one width per level ({L}). Received: filters={filters!r}.")
    if tile % 2**L:
        raise ValueError(f"tile={tile} must be a multiple of 2**levels={2**L} for the critic of preset "
                         f"{preset.name!r}. Pass e.g. tile={2**L * max(1, tile // 2**L)}.")
    target = keras.Input((tile, tile, 1), name="target")
    dm = keras.Input((tile, tile, 1), name="dm")
    scales = {l: keras.Input((tile // 2**l, tile // 2**l, 1), name=f"scale_l{l}") for l in range(1, L)}

    def block(h, lev):
        h = keras.layers.Conv2D(filters[lev], 3, padding="same", kernel_initializer=initializer,
                                name=f"c{lev}_conv1")(h)
        h = keras.layers.LeakyReLU(negative_slope, name=f"c{lev}_act1")(h)
        h = keras.layers.Conv2D(filters[lev], 3, strides=2, padding="same", kernel_initializer=initializer,
                                name=f"c{lev}_conv2")(h)
        return keras.layers.LeakyReLU(negative_slope, name=f"c{lev}_act2")(h)

    h = keras.layers.Concatenate(name="c0_in")([target, dm])
    h = block(h, 0)
    for lev in range(1, L):
        s = keras.layers.Conv2D(filters[lev], 1, kernel_initializer=initializer, name=f"c{lev}_from_scale")(scales[lev])
        h = keras.layers.Concatenate(name=f"c{lev}_cat")([h, s])
        h = MinibatchStdDev(group_size=mbstd_group, name=f"c{lev}_mbstd")(h)
        f = 2**lev
        d = keras.layers.AveragePooling2D(f, strides=f, name=f"c{lev}_dm_pool")(dm)
        h = keras.layers.Concatenate(name=f"c{lev}_dm_cat")([h, d])
        h = block(h, lev)
    h = keras.layers.Flatten(name="flatten")(h)
    out = keras.layers.Dense(1, kernel_initializer=initializer, name="score")(h)
    return keras.Model([target, dm] + [scales[l] for l in range(1, L)], out, name=f"critic_{preset.name}")


def critic_inputs(target, dm, outputs_by_level):
    """The critic's input dict from a full-resolution map, dm and ``{level: map}`` for levels >= 1."""
    d = {"target": target, "dm": dm}
    for lev, m in outputs_by_level.items():
        if lev > 0:
            d[f"scale_l{lev}"] = m
    return d
