# SPDX-License-Identifier: BSD-3-Clause
"""The EMBER U-Net as one graph description, shared by every interpreter.

The network is written against a tiny ``ops`` interface (``conv``, ``up``,
``noise``, ``concat``, ``head``, ``final``).  :mod:`ember_dist.model.generator`
interprets it with Keras layers; :mod:`ember_dist.model.geometry` interprets it
with receptive-field intervals and multiply-add counts.  Because both read the
same description, the halo the engine uses is computed from the network
itself, never typed.

Layout (Bernardini et al. 2022): encoder level 0 = two 3x3 convs; level l > 0 =
a stride-2 3x3 conv then two 3x3 convs; decoder level l = nearest 2x
upsampling, noise injection, concatenation with the level-l skip, two 3x3
convs with ``filters[l+1]`` channels; 1x1 ReLU heads at the bottleneck and at
each decoder level l >= 1; a final 3x3 ReLU conv to one channel.

The pieces are also exposed by level so the engine can run the network in
stages (``halo="split"``): :func:`encoder` (levels ``a..b-1``, optionally the
stride-2 entry of level ``b``), :func:`segment` (everything from the input of
level ``a`` back to the decoder output at level ``a``) and :func:`decoder`;
:func:`stage_graph` assembles them into the stages themselves.
"""
from __future__ import annotations

__all__ = ["unet_graph", "encoder_block", "down", "encoder", "decoder", "segment", "stage_graph"]


def down(ops, h, preset, lev):
    """The stride-2 entry convolution of level ``lev`` (> 0)."""
    return ops.conv(h, preset.filters[lev], stride=2, name=f"enc{lev}_down")


def encoder_block(ops, h, preset, lev):
    """The two stride-1 convolutions of encoder level ``lev``: returns the skip."""
    h = ops.conv(h, preset.filters[lev], stride=1, name=f"enc{lev}_conv1")
    return ops.conv(h, preset.filters[lev], stride=1, name=f"enc{lev}_conv2")


def encoder(ops, x, preset, a, b, enter_b=False):
    """Encoder levels ``a..b-1`` from the input of level ``a``; returns (skips dict, h).

    With ``enter_b`` the stride-2 entry of level ``b`` is applied to the last skip and returned as ``h``.
    """
    skips, h = {}, x
    for lev in range(a, b):
        if lev > a:
            h = down(ops, h, preset, lev)
        h = encoder_block(ops, h, preset, lev)
        skips[lev] = h
    if enter_b:
        h = down(ops, h, preset, b)
    return skips, h


def decoder_level(ops, h, skip, preset, lev, noise_inputs, heads=None):
    """Decoder level ``lev``: upsample ``h`` (level lev+1), inject noise, concat the skip, two convs."""
    h = ops.up(h, name=f"dec{lev}_up")
    if preset.noise:
        h = ops.noise(h, noise_inputs[lev], level=lev, name=f"dec{lev}_noise")
    h = ops.concat(h, skip, name=f"dec{lev}_concat")
    h = ops.conv(h, preset.filters[lev + 1], stride=1, name=f"dec{lev}_conv1")
    h = ops.conv(h, preset.filters[lev + 1], stride=1, name=f"dec{lev}_conv2")
    if heads is not None and lev > 0:
        heads.append(ops.head(h, level=lev, name=f"head{lev}"))
    return h


def decoder(ops, h, skips, preset, a, b, noise_inputs, heads=None):
    """Decoder levels ``b-1`` down to ``a`` from ``h`` at level ``b``; the final conv when ``a == 0``."""
    for lev in range(b - 1, a - 1, -1):
        h = decoder_level(ops, h, skips[lev], preset, lev, noise_inputs, heads)
    return ops.final(h, name="final") if a == 0 else h


def segment(ops, x, preset, a, noise_inputs, heads=None):
    """From the input of level ``a`` back to the output of level ``a`` (final output when a == 0)."""
    L = preset.levels
    skips, h = encoder(ops, x, preset, a, L)
    if heads is not None:
        heads.append(ops.head(h, level=L - 1, name=f"head{L - 1}"))
    if a == L - 1:
        return h
    return decoder(ops, h, skips, preset, a, L - 1, noise_inputs, heads)


def unet_graph(ops, x, preset, noise_inputs=None):
    """Build the whole generator with ``ops``.

    Parameters
    ----------
    ops : object
        Interpreter with methods ``conv(t, filters, stride, name)``,
        ``up(t, name)``, ``noise(t, eta, level, name)``, ``concat(a, b, name)``,
        ``head(t, level, name)`` and ``final(t, name)``.
    x : tensor
        The normalised dark-matter input at level 0.
    preset : Preset
    noise_inputs : dict level -> tensor, optional
        Required when ``preset.noise`` is true (levels 0..L-2).

    Returns
    -------
    final, heads
        The level-0 output and the list of multi-scale head outputs, coarsest first.
    """
    heads = []
    final = segment(ops, x, preset, 0, noise_inputs, heads)
    return final, heads


def stage_graph(preset, splits, stage):
    """One stage of split inference at the levels ``splits`` (see :func:`~ember_dist.model.generator.chain_models`).

    Returns ``(inputs, in_level, out_level, build)``: ``inputs`` maps each input name to its
    ``(level, channels)`` in model input order, ``in_level`` is the level the stage is tiled at and
    ``build(ops, tensors)`` builds the stage with ``ops`` on the input tensors (a dict by name).
    With no ``splits``, stage ``"B"`` is the whole inference network (input ``"dm"``, no heads).

    >>> from ember_dist.model.presets import get_preset
    >>> stage_graph(get_preset("tiny"), (1, 2), "C2")[:3]
    ({'d': (1, 8), 'h': (2, 16), 'noise_l1': (1, 1)}, 1, 1)
    """
    L = preset.levels
    levels = (0,) + tuple(int(s) for s in splits)
    if stage == "B":
        s = levels[-1]
        nb = range(s, L - 1) if preset.noise else ()
        x = ("dm", 1) if s == 0 else ("d", preset.filters[s])
        inputs = {x[0]: (s, x[1]), **{f"noise_l{l}": (l, 1) for l in nb}}
        return inputs, s, s, lambda ops, t: segment(ops, t[x[0]], preset, s, {l: t[f"noise_l{l}"] for l in nb})
    i = int(stage[1:])
    a, b = levels[i - 1], levels[i]
    x = ("dm", 1) if a == 0 else ("d", preset.filters[a])
    if stage[0] == "A":
        return {x[0]: (a, x[1])}, a, b, lambda ops, t: encoder(ops, t[x[0]], preset, a, b, enter_b=True)[1]
    nc = range(a, b) if preset.noise else ()
    inputs = {x[0]: (a, x[1]), "h": (b, preset.filters[b + 1]), **{f"noise_l{l}": (l, 1) for l in nc}}

    def build(ops, t):
        skips, _ = encoder(ops, t[x[0]], preset, a, b)
        return decoder(ops, t["h"], skips, preset, a, b, {l: t[f"noise_l{l}"] for l in nc})

    return inputs, a, a, build
