# SPDX-License-Identifier: BSD-3-Clause
"""Coordinate-keyed noise: a pure function of (seed, level, global pixel).

The generator's injected noise is an explicit input.  Each value is a standard
normal deviate computed from a counter-based hash of ``(seed, axis, slab,
level, iy mod Ny_l, ix mod Nx_l)``, where ``Ny_l, Nx_l`` is the map size at
level ``l`` (the full map divided by ``2**l``).  Any tile, on any worker, in
any order, sees the same noise for the same global pixel, and the noise wraps
with the periodic box.

Written by hand because no library offers a vectorised, counter-based normal
generator addressed by 2D coordinates (``numpy.random.Philox`` advances a
stream; it cannot be indexed by pixel).  The hash is SplitMix64's finaliser,
applied twice; the normals come from the Box-Muller transform.  The integer
hash runs in one numba loop (NumPy needed ~30 passes over uint64 temporaries:
half the time of a tile's noise); the transcendental functions stay NumPy's,
so the values are the same bits as the all-NumPy version.

Examples
--------
>>> a = noise_field(seed=7, level=1, y0=0, x0=0, ny=4, nx=4, map_shape=(8, 8))
>>> b = noise_field(seed=7, level=1, y0=2, x0=-2, ny=2, nx=2, map_shape=(8, 8))
>>> bool((a[2:4, 2:4] == b).all())   # x0=-2 wraps to 2 at level 1 (4 px wide)
True
>>> a.dtype, a.shape
(dtype('float32'), (4, 4))
"""
from __future__ import annotations

import numba
import numpy as np

__all__ = ["noise_field", "noise_key"]

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)


@numba.njit(cache=True, nogil=True)
def _mix(z):
    """SplitMix64 finaliser (uint64 in, uint64 out; wraps modulo 2**64)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True, nogil=True)
def _uniforms(iy, ix, key):
    """Two uniform deviates per cell ``(iy, ix)``: (0, 1] and [0, 1), float64 (see :func:`noise_field`)."""
    u1 = np.empty((iy.size, ix.size), np.float64)
    u2 = np.empty((iy.size, ix.size), np.float64)
    s11, s32 = np.uint64(11), np.uint64(32)
    for i in range(iy.size):
        hi = iy[i] << s32
        for j in range(ix.size):
            h1 = _mix(_mix((hi | ix[j]) ^ key) + _GOLD)
            h2 = _mix(h1 ^ _M1)
            u1[i, j] = (np.float64(h1 >> s11) + 0.5) * (1.0 / 9007199254740992.0)
            u2[i, j] = np.float64(h2 >> s11) * (1.0 / 9007199254740992.0)
    return u1, u2


def noise_key(seed, level, axis=0, slab=0):
    """A 64-bit key for one (seed, level, axis, slab) noise plane (``numpy.uint64``)."""
    with np.errstate(over="ignore"):
        k = np.uint64(0)
        for part in (seed, level, axis, slab):
            # numba returns the uint64 as a Python int: make it a uint64 again for the next xor
            k = np.uint64(_mix(k ^ (np.uint64(int(part) & 0xFFFFFFFFFFFFFFFF) + _GOLD)))
    return k


def noise_field(seed, level, y0, x0, ny, nx, map_shape, axis=0, slab=0):
    """Standard-normal noise of one window at ``level``, float32.

    Parameters
    ----------
    seed : int
        Realisation seed (realisation ``i`` of a run uses ``seed + i``).
    level : int
        U-Net level; pixels at level ``l`` are ``2**l`` map pixels wide.
    y0, x0 : int
        Global start of the window in level-``l`` pixels (may be negative or
        past the edge: positions wrap periodically).
    ny, nx : int
        Window shape in level-``l`` pixels.
    map_shape : tuple of int
        Full map shape at level 0 (both multiples of ``2**level``).
    axis, slab : int
        Index of the projection axis and slab, so each map gets its own noise.

    Returns
    -------
    ndarray of float32, shape (ny, nx)
    """
    f = 2 ** int(level)
    my, mx = int(map_shape[0]), int(map_shape[1])
    if my % f or mx % f:
        raise ValueError(
            f"map_shape={tuple(map_shape)!r} is not a multiple of 2**level={f}; "
            "noise positions would not wrap consistently. Use a map size that is a multiple "
            "of the model's alignment factor."
        )
    iy = np.mod(np.arange(y0, y0 + ny, dtype=np.int64), my // f).astype(np.uint64)
    ix = np.mod(np.arange(x0, x0 + nx, dtype=np.int64), mx // f).astype(np.uint64)
    # Cell counter (iy << 32 | ix) -> two 64-bit hashes -> two uniforms per pixel.
    u1, u2 = _uniforms(iy, ix, noise_key(seed, level, axis, slab))
    return (np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)).astype(np.float32)
