# SPDX-License-Identifier: BSD-3-Clause
"""Zel'dovich displacements of a seeded Gaussian LCDM field on a periodic lattice (toy).

Convention: ``delta_k`` is numpy's unnormalised FFT of the overdensity on an
``n^3`` lattice of side ``L``; a continuous spectrum ``P(k)`` maps to
``<|delta_k|^2> = P(k) n^3 / L^3 * n^3``.  Displacements solve
``delta = -div(psi)``, i.e. ``psi_k = i k delta_k / k^2``; particles move from
lattice points ``q`` to ``q + psi(q)`` (already scaled to the output redshift).

Examples
--------
>>> import numpy as np
>>> psi = displacement_field(8, 1000.0, lambda k: 0 * k + 1.0, seed=1)
>>> psi.shape, psi.dtype
((3, 8, 8, 8), dtype('float64'))
>>> bool(np.allclose(psi.mean(axis=(1, 2, 3)), 0.0))
True
"""
from __future__ import annotations

import numpy as np

from ember_dist.sim.lpt import kgrid as _kgrid  # one definition of the lattice and its noise
from ember_dist.sim.lpt import lattice, white_noise_k

__all__ = ["white_noise_k", "displacement_field", "lattice"]


def displacement_field(n, box_size, power, seed, smoothing=0.0, shift=0.0, noise_k=None):
    """Zel'dovich displacement on the lattice, ckpc/h.

    Parameters
    ----------
    n : int
        Lattice points per side.
    box_size : float, ckpc/h
    power : callable
        ``power(k)`` with k in h/Mpc, returning (Mpc/h)^3 at the output redshift.
    seed : int
        Seed of the white noise (ignored when ``noise_k`` is given).
    smoothing : float, ckpc/h, default: 0
        Gaussian filter radius applied to the displacement (pressure smoothing).
    shift : float, ckpc/h, default: 0
        Evaluate the field at ``q + shift`` on every axis (a staggered lattice).
    noise_k : ndarray, optional
        Precomputed :func:`white_noise_k`, so several fields share the phases.

    Returns
    -------
    ndarray, shape (3, n, n, n), ckpc/h
    """
    box_mpc = box_size / 1000.0
    w = white_noise_k(n, seed) if noise_k is None else noise_k
    kx, ky, kz = _kgrid(n, box_mpc)
    k2 = kx**2 + ky**2 + kz**2
    k = np.sqrt(k2)
    with np.errstate(divide="ignore", invalid="ignore"):
        amp = np.sqrt(power(np.where(k > 0, k, 1.0)) * n**3 / box_mpc**3)
        delta = w * amp
        delta[0, 0, 0] = 0.0
        if smoothing > 0:
            delta = delta * np.exp(-0.5 * k2 * (smoothing / 1000.0) ** 2)
        if shift != 0:
            delta = delta * np.exp(1j * (kx + ky + kz) * (shift / 1000.0))
        inv_k2 = np.where(k2 > 0, 1.0 / np.where(k2 > 0, k2, 1.0), 0.0)
    nyq = n // 2 if n % 2 == 0 else None
    out = np.empty((3, n, n, n))
    for i, kc in enumerate((kx, ky, kz)):
        psi_k = 1j * kc * inv_k2 * delta
        if nyq is not None:  # drop Nyquist planes: their imaginary parts are not representable
            psi_k[nyq, :, :] = 0
            psi_k[:, nyq, :] = 0
            psi_k[:, :, -1] = 0
        out[i] = np.fft.irfftn(psi_k, s=(n, n, n)) * 1000.0  # Mpc/h -> ckpc/h
    return out
