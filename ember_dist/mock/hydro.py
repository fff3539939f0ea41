# SPDX-License-Identifier: BSD-3-Clause
"""Toy gas thermodynamics: kNN gas density and a self-shielded HI fraction.

The neutral fraction solves photo-ionisation equilibrium of pure hydrogen,
``alpha_A n_H (1 - x)^2 = Gamma x``, with the photo-ionisation rate reduced by
self-shielding as in Rahmati et al. (2013, MNRAS 430, 2427, their eq. A1):
``Gamma / Gamma_UVB = 0.98 (1 + (n_H/n_SS)^1.64)^-2.28 + 0.02 (1 + n_H/n_SS)^-0.84``.
Defaults are z ~ 2 values (Gamma_UVB = 1.3e-12 s^-1, n_SS = 5.1e-3 cm^-3,
alpha_A(1e4 K) = 4.19e-13 cm^3/s).  Temperature, helium and collisional
ionisation are ignored: it is a toy.

Examples
--------
>>> import numpy as np
>>> x = neutral_fraction(np.array([1e-6, 1e-2, 1.0]))
>>> bool(x[0] < 1e-4 and x[2] > 0.9 and np.all(np.diff(x) > 0))
True
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from ember_dist.io.conventions import KPC_CM, M_H_G, MSUN_G, X_H

__all__ = ["X_H", "M_H_G", "knn_density", "hydrogen_number_density", "neutral_fraction"]



def knn_density(pos, mass, box_size, k=32):
    """Density from the distance to the ``k``-th neighbour, (Msun/h)/(ckpc/h)^3.

    ``rho = k * m / (4/3 pi r_k^3)`` with a periodic KD-tree.
    """
    tree = cKDTree(pos, boxsize=box_size)
    d, _ = tree.query(pos, k=k + 1)
    r = d[:, -1]
    return k * np.asarray(mass) / (4.0 / 3.0 * np.pi * r**3)


def hydrogen_number_density(rho, redshift, hubble, x_h=X_H):
    """Physical hydrogen number density, cm^-3, from comoving density in (Msun/h)/(ckpc/h)^3."""
    rho_phys = np.asarray(rho) * MSUN_G * hubble**2 * (1.0 + redshift) ** 3 / KPC_CM**3  # g/cm^3
    return x_h * rho_phys / M_H_G


def neutral_fraction(n_h, gamma_uvb=1.3e-12, n_ss=5.1e-3, alpha=4.19e-13):
    """Equilibrium neutral hydrogen fraction with self-shielding (toy).

    Parameters
    ----------
    n_h : array_like, cm^-3
        Physical hydrogen number density.
    gamma_uvb : float, s^-1
    n_ss : float, cm^-3
        Self-shielding density.
    alpha : float, cm^3 s^-1
        Case-A recombination coefficient.

    Returns
    -------
    ndarray
        x_HI in (0, 1).
    """
    n_h = np.asarray(n_h, dtype=np.float64)
    r = n_h / n_ss
    gamma = gamma_uvb * (0.98 * (1.0 + r**1.64) ** -2.28 + 0.02 * (1.0 + r) ** -0.84)
    a = alpha * n_h
    # root of a x^2 - (2a + g) x + a = 0 in (0, 1), written without cancellation
    return 2.0 * a / ((2.0 * a + gamma) + np.sqrt(gamma**2 + 4.0 * a * gamma))
