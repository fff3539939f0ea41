# SPDX-License-Identifier: BSD-3-Clause
"""Linear LCDM ingredients of the toy suite: no-wiggle power spectrum and growth.

The transfer function is Eisenstein & Hu (1998, ApJ 496, 605) "no-wiggle"
(their eqs. 26-31); the spectrum is ``A k^ns T(k)^2`` normalised to ``sigma8``
at z = 0 with a real-space top hat of 8 Mpc/h, then scaled by the linear growth
factor ``D(z)`` of a flat LCDM universe (Heath 1977 integral, ``D(0) = 1``).

Examples
--------
>>> round(growth_factor(0.0, 0.3089), 6)
1.0
>>> 0.41 < growth_factor(2.0, 0.3089) < 0.43
True
"""
from __future__ import annotations

import numpy as np
from scipy import integrate

__all__ = ["transfer_eh_nowiggle", "linear_power", "growth_factor", "sigma_r", "SIGMA8", "N_S", "T_CMB"]

#: Planck 2015 sigma8 and spectral index used by the mocks.
SIGMA8 = 0.8159
N_S = 0.9667
#: CMB temperature, K.
T_CMB = 2.7255


def transfer_eh_nowiggle(k, omega_m, omega_b, hubble, t_cmb=T_CMB):
    """Eisenstein-Hu no-wiggle transfer function.

    Parameters
    ----------
    k : array_like, h/Mpc
    omega_m, omega_b, hubble : float
        Matter and baryon density parameters, h.

    Returns
    -------
    ndarray
        T(k), 1 at k -> 0.
    """
    k = np.asarray(k, dtype=np.float64)
    theta = t_cmb / 2.7
    om_h2 = omega_m * hubble**2
    ob_h2 = omega_b * hubble**2
    fb = omega_b / omega_m
    s = 44.5 * np.log(9.83 / om_h2) / np.sqrt(1.0 + 10.0 * ob_h2**0.75)  # Mpc
    alpha = 1.0 - 0.328 * np.log(431.0 * om_h2) * fb + 0.38 * np.log(22.3 * om_h2) * fb**2
    k_mpc = k * hubble
    gamma = omega_m * hubble * (alpha + (1.0 - alpha) / (1.0 + (0.43 * k_mpc * s) ** 4))
    q = k * theta**2 / gamma
    l0 = np.log(2.0 * np.e + 1.8 * q)
    c0 = 14.2 + 731.0 / (1.0 + 62.5 * q)
    return l0 / (l0 + c0 * q**2)


def _tophat(x):
    x = np.asarray(x, dtype=np.float64)
    out = np.ones_like(x)
    m = x > 1e-4
    xm = x[m]
    out[m] = 3.0 * (np.sin(xm) - xm * np.cos(xm)) / xm**3
    return out


def sigma_r(power, r):
    """rms linear overdensity in a top hat of radius ``r`` Mpc/h for ``power(k)`` in (Mpc/h)^3."""
    lnk = np.linspace(np.log(1e-5), np.log(1e3), 8000)
    k = np.exp(lnk)
    integrand = k**3 * power(k) * _tophat(k * r) ** 2 / (2.0 * np.pi**2)
    return float(np.sqrt(integrate.simpson(integrand, x=lnk)))


def growth_factor(z, omega_m, omega_l=None):
    """Linear growth factor of flat LCDM, normalised to 1 at z = 0.

    Parameters
    ----------
    z : float
    omega_m : float
    omega_l : float, optional
        Defaults to ``1 - omega_m``.
    """
    if omega_l is None:
        omega_l = 1.0 - omega_m

    def d_unnorm(a):
        e = lambda x: np.sqrt(omega_m / x**3 + omega_l + (1 - omega_m - omega_l) / x**2)  # noqa: E731
        val, _ = integrate.quad(lambda x: 1.0 / (x * e(x)) ** 3, 0.0, a, epsabs=0, epsrel=1e-10)
        return 2.5 * omega_m * e(a) * val

    return float(d_unnorm(1.0 / (1.0 + z)) / d_unnorm(1.0))


def linear_power(k, z, cosmology, sigma8=SIGMA8, n_s=N_S):
    """Linear matter power spectrum of the toy suite.

    Parameters
    ----------
    k : array_like, h/Mpc
    z : float
    cosmology : dict
        ``hubble``, ``omega_m``, ``omega_b``, ``omega_l`` (e.g. ``conventions.PLANCK15``).
    sigma8, n_s : float

    Returns
    -------
    ndarray, (Mpc/h)^3

    Examples
    --------
    >>> from ember_dist.io.conventions import PLANCK15
    >>> p = lambda k: linear_power(k, 0.0, PLANCK15)
    >>> round(sigma_r(p, 8.0), 4)
    0.8159
    """
    om, ob, h = cosmology["omega_m"], cosmology["omega_b"], cosmology["hubble"]

    def shape(kk):
        kk = np.asarray(kk, dtype=np.float64)
        return kk**n_s * transfer_eh_nowiggle(kk, om, ob, h) ** 2

    amp = (sigma8 / sigma_r(shape, 8.0)) ** 2
    d = growth_factor(z, om, cosmology.get("omega_l"))
    return amp * shape(k) * d**2
