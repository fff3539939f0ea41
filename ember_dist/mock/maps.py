# SPDX-License-Identifier: BSD-3-Clause
"""Synthetic dark-matter maps: seeded lognormal fields for demos, tests and seam measurements.

The field's Gaussian parent has a power-law spectrum ``P(k) ~ k**-2.2`` with a cutoff at a few
pixels (a projected-density look); the lognormal map is scaled to a mean mass per pixel.  A toy
stand-in for a deposited simulation slab, with no physics in it.

NumPy only, so that any layer may use it (:mod:`ember_dist.engine.seams` measures seam errors on
it; :mod:`ember_dist.demo` builds its input from it).

Examples
--------
>>> m = lognormal_map(64, seed=1, mean=1e7)
>>> m.shape, m.dtype, bool(abs(m.mean() / 1e7 - 1) < 1e-5)
((64, 64), dtype('float32'), True)
"""
from __future__ import annotations

import numpy as np

__all__ = ["lognormal_map"]


def lognormal_map(n, seed=0, mean=1e7, slope=-2.2, sigma=1.3, cutoff=3.0):
    """A periodic lognormal map of ``n x n`` pixels with mean ``mean`` (Msun/h per pixel), float32."""
    rng = np.random.default_rng(seed)
    ky = np.fft.fftfreq(n)[:, None]
    kx = np.fft.rfftfreq(n)[None, :]
    k = np.hypot(ky, kx) * n  # in units of the fundamental mode
    amp = np.zeros_like(k)
    nz = k > 0
    amp[nz] = k[nz] ** (slope / 2) * np.exp(-(k[nz] / (n / cutoff)) ** 2)
    g = np.fft.irfft2(amp * (rng.normal(size=k.shape) + 1j * rng.normal(size=k.shape)), s=(n, n))
    g *= sigma / g.std()
    m = np.exp(g)
    return (m * (mean / m.mean())).astype(np.float32)
