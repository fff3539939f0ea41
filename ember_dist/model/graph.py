# SPDX-License-Identifier: BSD-3-Clause
"""The EMBER U-Net as one graph description, shared by every interpreter.

:func:`unet_graph` is written against a tiny ``ops`` interface (``conv``,
``up``, ``noise``, ``concat``, ``head``).  :mod:`ember_dist.model.generator`
interprets it with Keras layers; :mod:`ember_dist.model.geometry` interprets it
with receptive-field intervals and multiply-add counts.  Because both read the
same description, the halo the engine uses is computed from the network
itself, never typed.

Layout (Bernardini et al. 2022): encoder level 0 = two 3x3 convs; level l > 0 =
a stride-2 3x3 conv then two 3x3 convs; decoder level l = nearest 2x
upsampling, noise injection, concatenation with the level-l skip, two 3x3
convs with ``filters[l+1]`` channels; 1x1 ReLU heads at the bottleneck and at
each decoder level l >= 1; a final 3x3 ReLU conv to one channel.
"""
from __future__ import annotations

__all__ = ["unet_graph"]


def unet_graph(ops, x, preset, noise_inputs=None):
    """Build the generator graph with ``ops``.

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
    f = preset.filters
    L = len(f)
    skips = []
    h = x
    for lev in range(L):
        if lev > 0:
            h = ops.conv(h, f[lev], stride=2, name=f"enc{lev}_down")
        h = ops.conv(h, f[lev], stride=1, name=f"enc{lev}_conv1")
        h = ops.conv(h, f[lev], stride=1, name=f"enc{lev}_conv2")
        skips.append(h)
    heads = [ops.head(h, level=L - 1, name=f"head{L - 1}")]
    for lev in range(L - 2, -1, -1):
        h = ops.up(h, name=f"dec{lev}_up")
        if preset.noise:
            h = ops.noise(h, noise_inputs[lev], level=lev, name=f"dec{lev}_noise")
        h = ops.concat(h, skips[lev], name=f"dec{lev}_concat")
        h = ops.conv(h, f[lev + 1], stride=1, name=f"dec{lev}_conv1")
        h = ops.conv(h, f[lev + 1], stride=1, name=f"dec{lev}_conv2")
        if lev > 0:
            heads.append(ops.head(h, level=lev, name=f"head{lev}"))
    return ops.final(h, name="final"), heads
