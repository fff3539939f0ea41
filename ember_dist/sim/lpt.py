# SPDX-License-Identifier: BSD-3-Clause
"""Second-order Lagrangian perturbation theory (2LPT) displacements of a seeded Gaussian field.

Written here because no maintained PyPI package generates 2LPT initial conditions for Gadget
(2LPTic, MUSIC and monofonic are C/C++ codes outside the registries); the algebra is that of
Scoccimarro (1998) and Crocce, Pueblas & Scoccimarro (2006, MNRAS 373, 369), their eqs. 4-6:

    x(q) = q + psi1(q) + psi2(q),   psi1 = -grad phi1,   psi2 = (D2 / D1^2) grad phi2,
    lap phi1 = delta(q),   lap phi2 = sum_{i<j} [phi1_ii phi1_jj - (phi1_ij)^2],
    D2 = -3/7 D1^2 Omega_m(a)^(-1/143),   v = a H (f1 psi1 + f2 psi2),   f2 = 2 Omega_m(a)^(6/11),

with ``delta`` the linear overdensity at the initial redshift.  Fourier conventions: ``delta_k`` is
numpy's unnormalised FFT on the ``n^3`` lattice, so a spectrum ``P(k)`` in (Mpc/h)^3 gives
``<|delta_k|^2> = P(k) n^6 / L^3`` (L in Mpc/h).  The white noise is drawn in real space from
``numpy.random.default_rng(seed)``, so a seed fixes the phases at every resolution of the same
``n``.  Nyquist planes are zeroed (their imaginary parts are not representable).

Examples
--------
>>> import numpy as np
>>> d = lpt_displacements(8, 1000.0, lambda k: 0 * k + 1.0, seed=1)
>>> d["psi1"].shape, d["psi2"].shape
((3, 8, 8, 8), (3, 8, 8, 8))
>>> bool(np.allclose(d["psi1"].mean(axis=(1, 2, 3)), 0.0))
True
"""
from __future__ import annotations

import numpy as np

__all__ = ["white_noise_k", "kgrid", "lattice", "lpt_displacements", "second_order_growth"]


def white_noise_k(n, seed, parent_n=None):
    """rfft of seeded unit white noise on an ``n^3`` lattice (Hermitian by construction).

    ``parent_n``: draw the noise on the ``parent_n^3`` lattice instead and keep the modes an ``n^3``
    lattice resolves (``|k_i| < n/2`` fundamental modes; its Nyquist planes are zeroed downstream),
    scaled by ``(n / parent_n)^1.5`` so the ``n^3`` field has unit variance per cell.  A box run from
    it is a lower-resolution twin of the ``parent_n^3`` box of the same seed: same large-scale
    structure, ``(parent_n / n)^3`` times heavier particles (how zoom and multi-resolution initial
    conditions, e.g. MUSIC, share phases between levels).
    """
    if parent_n is None or int(parent_n) == int(n):
        rng = np.random.default_rng(seed)
        return np.fft.rfftn(rng.standard_normal((n, n, n)))
    n, parent_n = int(n), int(parent_n)
    if parent_n < n:
        raise ValueError(f"parent_n = {parent_n} is below n = {n}: a twin can only have fewer particles")
    big = white_noise_k(parent_n, seed)
    idx = np.fft.fftfreq(n, d=1.0 / n).astype(int) % parent_n  # the n lattice's modes in the parent's order
    return big[np.ix_(idx, idx, np.arange(n // 2 + 1))] * (n / parent_n) ** 1.5


def kgrid(n, box_mpc):
    """Sparse wavenumber grids (kx, ky, kz) in h/Mpc of an rfft on an ``n^3`` lattice of side ``box_mpc``."""
    kf = 2.0 * np.pi / box_mpc
    k1 = np.fft.fftfreq(n, d=1.0 / n) * kf
    kz = np.fft.rfftfreq(n, d=1.0 / n) * kf
    return np.meshgrid(k1, k1, kz, indexing="ij", sparse=True)


def lattice(n, box_size, offset=0.5):
    """Lattice positions ``(i + offset) * box/n``, shape (n^3, 3), ckpc/h, C order."""
    g = (np.arange(n) + offset) * (box_size / n)
    x, y, z = np.meshgrid(g, g, g, indexing="ij")
    return np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)


def _zero_nyquist(a, n):
    if n % 2 == 0:
        a[n // 2, :, :] = 0
        a[:, n // 2, :] = 0
        a[:, :, -1] = 0
    return a


def second_order_growth(omega_m_a):
    """``D2 / D1^2`` and ``f2`` at a matter density parameter ``omega_m_a`` (Bouchet et al. 1995 fits)."""
    return -3.0 / 7.0 * omega_m_a ** (-1.0 / 143.0), 2.0 * omega_m_a ** (6.0 / 11.0)


def lpt_displacements(n, box_size, power, seed, *, shifts=(0.0,), omega_m_a=1.0, order=2, noise_k=None,
                      parent_n=None):
    """First- and second-order displacements on the lattice, ckpc/h, at the initial redshift.

    Parameters
    ----------
    n : int
        Lattice points per side.
    box_size : float, ckpc/h
    power : callable
        Linear ``P(k)`` at the initial redshift, k in h/Mpc, (Mpc/h)^3.
    seed : int
        Seed of the real-space white noise (ignored when ``noise_k`` is given).
    shifts : sequence of float, ckpc/h, default: (0.0,)
        Evaluate the fields at ``q + s`` on every axis for each ``s`` (e.g. half a cell for a
        staggered gas lattice); one result per shift.
    omega_m_a : float, default: 1.0
        Matter density parameter at the initial redshift (sets D2 / D1^2).
    order : {1, 2}
        1 gives Zel'dovich (``psi2`` zero).
    noise_k : ndarray, optional
        Precomputed :func:`white_noise_k`.
    parent_n : int, optional
        Phases of the ``parent_n^3`` box of the same seed (:func:`white_noise_k`).

    Returns
    -------
    dict or list of dict
        ``{"psi1": (3, n, n, n), "psi2": (3, n, n, n)}`` (ckpc/h), a list when several shifts are given.
    """
    n = int(n)
    box_mpc = box_size / 1000.0
    if noise_k is not None and parent_n is not None:
        raise ValueError("give noise_k or parent_n, not both: parent_n says how to draw the noise noise_k replaces")
    w = white_noise_k(n, seed, parent_n) if noise_k is None else noise_k
    kx, ky, kz = kgrid(n, box_mpc)
    kvec = (kx, ky, kz)
    k2 = kx**2 + ky**2 + kz**2
    with np.errstate(divide="ignore", invalid="ignore"):
        amp = np.sqrt(power(np.sqrt(np.where(k2 > 0, k2, 1.0))) * n**3 / box_mpc**3)
        inv_k2 = np.where(k2 > 0, 1.0 / np.where(k2 > 0, k2, 1.0), 0.0)
    delta = _zero_nyquist(w * amp, n)
    delta[0, 0, 0] = 0.0
    phi1 = -delta * inv_k2  # lap phi1 = delta
    phi2 = np.zeros_like(phi1)
    if order == 2:
        d = {}
        for i in range(3):
            for j in range(i, 3):
                d[i, j] = np.fft.irfftn(-kvec[i] * kvec[j] * phi1, s=(n, n, n))  # phi1_ij in real space
        src = d[0, 0] * d[1, 1] + d[0, 0] * d[2, 2] + d[1, 1] * d[2, 2] - d[0, 1] ** 2 - d[0, 2] ** 2 - d[1, 2] ** 2
        del d
        phi2 = _zero_nyquist(-np.fft.rfftn(src) * inv_k2, n)
        phi2[0, 0, 0] = 0.0
    d2_over_d1sq, _ = second_order_growth(omega_m_a)
    out = []
    for s in shifts:
        phase = np.exp(1j * (kx + ky + kz) * (s / 1000.0)) if s else 1.0
        res = {"psi1": np.empty((3, n, n, n)), "psi2": np.zeros((3, n, n, n))}
        for i, kc in enumerate(kvec):
            res["psi1"][i] = np.fft.irfftn(-1j * kc * phi1 * phase, s=(n, n, n)) * 1000.0  # Mpc/h -> ckpc/h
            if order == 2:
                res["psi2"][i] = d2_over_d1sq * np.fft.irfftn(1j * kc * phi2 * phase, s=(n, n, n)) * 1000.0
        out.append(res)
    return out[0] if len(shifts) == 1 else out
