# SPDX-License-Identifier: BSD-3-Clause
"""Gas temperature and hydrogen/helium ionisation state of an adiabatic SPH run, in post-processing.

The Gadget-2 runs of :mod:`ember_dist.sim` are *adiabatic*: gravity and SPH hydrodynamics only, with
no radiative cooling, no UV photo-heating, no star formation and no feedback.  This module supplies
what those runs lack, as a post-processing step on each gas particle:

1. **Temperature** from the specific internal energy ``u`` with the mean molecular weight of the
   solved ionisation state (ideal gas, adiabatic index 5/3, no metals), then

   * a photo-heated floor ``T >= T0 (rho / rho_mean_b)^(gamma - 1)`` (the IGM temperature-density
     relation a UV background would impose; defaults ``T0 = 1.5e4 K``, ``gamma = 1.5`` at z = 2-3),
   * dense gas (``n_H > 0.1 cm^-3``) set to ``1e4 K``: the stand-in for radiative cooling, which the
     run does not have (it would leave shock-heated dense gas at 1e6-1e7 K).

2. **Ionisation equilibrium** of H and He (Katz, Weinberg & Hernquist 1996, eqs. 33-38) with

   * a uniform UV background from a table, ``Gamma_HI(z)``, ``Gamma_HeI(z)``, ``Gamma_HeII(z)``:
     Faucher-Giguere (2020) by default or Haardt & Madau (2012) (files in ``sim/data``), optionally
     rescaled by ``gamma_scale`` (calibrating Gamma_HI to the observed mean Lyman-alpha flux is
     standard practice);
   * case-A radiative recombination (Hui & Gnedin 1997 fits) plus He+ dielectronic recombination
     (Cen 1992, as tabulated in Katz et al. 1996);
   * collisional ionisation (Cen 1992, Katz et al. 1996 table 2);
   * self-shielding of dense gas: the photo-ionisation rate is multiplied by Rahmati et al. (2013)
     eq. (14) with the self-shielding density of their eq. (13); the same factor is applied to the
     He rates (an assumption: Rahmati et al. fit hydrogen only).  No local sources, no molecules.

:func:`ember_dist.sim.hi.postprocess_snapshot` applies this to a snapshot; the public names here are
re-exported by :mod:`ember_dist.sim.hi`.

Examples
--------
>>> round(float(uvb_rates(3.0, "hm12")[0]) / 1e-13, 3)  # HM12 Gamma_HI at z = 3, 1/s
8.273
>>> x_hi, x_e = neutral_fraction(1e-5, 1.5e4, 3.0)     # mean-density IGM at z = 3
>>> 1e-6 < float(x_hi) < 1e-4, round(float(x_e), 2)
(True, 1.16)
"""
from __future__ import annotations

import dataclasses
import functools
import os

import numpy as np

from ember_dist.io.conventions import K_B_CGS, M_P_G, X_H

__all__ = [
    "HIParams", "UVB_TABLES", "uvb_rates", "recombination_rates", "collisional_rates",
    "self_shielding_density", "self_shielding_factor", "temperature_from_u", "temperature",
    "neutral_fraction", "ionisation_state", "RAHMATI13", "RAHMATI13_GRAY_SIGMA", "ADIABATIC_INDEX",
]

_DATA = os.path.join(os.path.dirname(__file__), "data")
#: UV background tables shipped in ``sim/data`` (name -> file, citation).
UVB_TABLES = {
    "fg20": ("uvb_fg20.txt", "Faucher-Giguere (2020), MNRAS 493, 1614 (FG20, optically thin rates)"),
    "hm12": ("uvb_hm12.txt", "Haardt & Madau (2012), ApJ 746, 125 (HM12)"),
}
#: Adiabatic index of the (monatomic, ideal) gas.
ADIABATIC_INDEX = 5.0 / 3.0
# Hui & Gnedin (1997) ionisation threshold temperatures, K (their lambda = 2 T_threshold / T).
_T_HI, _T_HEI, _T_HEII = 157807.0, 285335.0, 631515.0
#: Rahmati et al. (2013) eq. (14) with their best-fit parameters (all redshifts, appendix A):
#: Gamma/Gamma_UVB = (1-f)[1+(n_H/n0)^beta]^alpha1 + f[1+n_H/n0]^alpha2, n0 = 1.003 n_H,SSh.
RAHMATI13 = {"n0_over_nssh": 1.003, "alpha1": -2.28, "alpha2": -0.84, "beta": 1.64, "f": 0.02}
#: Gray HI absorption cross-section of the UV background (cm^2) at z = 0..5 for eq. (13): Rahmati et
#: al. (2013) table 2, FG09 background (as tabulated in fake_spectra's rate_network.py); held constant
#: outside z = 0-5.  The FG09 values are used because no table exists for FG20, the closest spectrum.
RAHMATI13_GRAY_SIGMA = ((0.0, 1.0, 2.0, 3.0, 4.0, 5.0), (2.59e-18, 2.37e-18, 2.27e-18, 2.15e-18, 2.02e-18, 1.94e-18))


@dataclasses.dataclass(frozen=True)
class HIParams:
    """Parameters of the post-processing (all recorded in the output file).

    Attributes
    ----------
    t0 : float, K, default: 1.5e4
        Temperature of the photo-heated floor at the mean baryon density.
    floor_gamma : float, default: 1.5
        Slope of the floor: ``T_floor = t0 (rho / rho_mean_b)^(floor_gamma - 1)``.
    dense_nh : float, cm^-3, default: 0.1
        Gas above this physical hydrogen density is set to ``dense_temperature`` (no cooling in the run).
    dense_temperature : float, K, default: 1e4
    uvb : {"fg20", "hm12"}, default: "fg20"
        UV background table (:data:`UVB_TABLES`).
    gamma_scale : float, default: 1.0
        Factor applied to all tabulated photo-ionisation rates (calibration to the mean Lya flux).
    self_shielding : bool, default: True
        Apply Rahmati et al. (2013) self-shielding.
    collisional : bool, default: True
        Include collisional ionisation.
    """

    t0: float = 1.5e4
    floor_gamma: float = 1.5
    dense_nh: float = 0.1
    dense_temperature: float = 1.0e4
    uvb: str = "fg20"
    gamma_scale: float = 1.0
    self_shielding: bool = True
    collisional: bool = True

    def __post_init__(self):
        if self.uvb not in UVB_TABLES:
            raise ValueError(f"uvb={self.uvb!r} is not a shipped table; pick one of {sorted(UVB_TABLES)!r}.")
        for name in ("t0", "dense_nh", "dense_temperature"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}={getattr(self, name)!r} must be positive.")
        if not self.gamma_scale >= 0:
            raise ValueError(f"gamma_scale={self.gamma_scale!r} must be >= 0 (it multiplies Gamma_HI).")
        if not 1.0 <= self.floor_gamma <= 2.0:
            raise ValueError(f"floor_gamma={self.floor_gamma!r} is outside the physical range 1-2.")


@functools.lru_cache(maxsize=None)
def _uvb_table(name):
    if name not in UVB_TABLES:
        raise ValueError(f"uvb={name!r} is not a shipped table; pick one of {sorted(UVB_TABLES)!r}.")
    return np.loadtxt(os.path.join(_DATA, UVB_TABLES[name][0]), comments="#")


def uvb_rates(redshift, uvb="fg20"):
    """Photo-ionisation rates of the UV background at ``redshift``, optically thin.

    Linear interpolation of ``log10 Gamma`` in ``log10(1+z)``, as Gadget reads its TREECOOL files;
    a tabulated redshift returns the tabulated values.

    Returns
    -------
    ndarray, shape (3,), 1/s
        ``Gamma_HI, Gamma_HeI, Gamma_HeII``.
    """
    t = _uvb_table(uvb)
    x = np.log10(1.0 + float(redshift))
    if not t[0, 0] <= x <= t[-1, 0]:
        zmax = 10 ** t[-1, 0] - 1
        raise ValueError(f"redshift={redshift!r} is outside the {uvb!r} UV background table (z = 0-{zmax:.2f}).")
    return np.array([10 ** np.interp(x, t[:, 0], np.log10(t[:, k])) for k in (1, 2, 3)])


def recombination_rates(temperature):
    """Case-A radiative recombination coefficients and He+ dielectronic recombination, cm^3/s.

    Hui & Gnedin (1997) fits, ``lambda = 2 T_threshold / T``: H+ and He++ (hydrogenic, ``Z^2``
    scaling), He+ (``3.0e-14 lambda^0.654``); dielectronic ``1.9e-3 T^-1.5 exp(-4.7e5/T)
    (1 + 0.3 exp(-9.4e4/T))`` (Cen 1992; Katz et al. 1996 table 2).

    Returns
    -------
    tuple of ndarray
        ``alpha_HII, alpha_HeII, alpha_HeIII, alpha_d`` (recombinations onto H+, He+, He++; dielectronic).
    """
    t = np.asarray(temperature, dtype=np.float64)
    lh, l1, l2 = 2 * _T_HI / t, 2 * _T_HEI / t, 2 * _T_HEII / t
    a_h = 1.269e-13 * lh**1.503 / (1 + (lh / 0.522) ** 0.470) ** 1.923
    a_he1 = 3.0e-14 * l1**0.654
    a_he2 = 2 * 1.269e-13 * l2**1.503 / (1 + (l2 / 0.522) ** 0.470) ** 1.923
    a_d = 1.9e-3 * t**-1.5 * np.exp(-4.7e5 / t) * (1 + 0.3 * np.exp(-9.4e4 / t))
    return a_h, a_he1, a_he2, a_d


def collisional_rates(temperature):
    """Collisional ionisation rate coefficients of H0, He0, He+ (Cen 1992; Katz et al. 1996), cm^3/s."""
    t = np.asarray(temperature, dtype=np.float64)
    s = np.sqrt(t) / (1 + np.sqrt(t / 1e5))
    return (5.85e-11 * s * np.exp(-157809.1 / t), 2.38e-11 * s * np.exp(-285335.4 / t),
            5.68e-12 * s * np.exp(-631515.0 / t))


def self_shielding_density(redshift, temperature, gamma_hi, baryon_fraction, sigma=None):
    """Rahmati et al. (2013) eq. (13): hydrogen density above which gas self-shields, cm^-3.

    ``n_H,SSh = 6.73e-3 (sigma/2.49e-18 cm^2)^(-2/3) (T/1e4 K)^0.17 (Gamma/1e-12 s^-1)^(2/3)
    (f_g/0.17)^(-1/3)`` with the gray cross-section ``sigma`` (cm^2; default from
    :data:`RAHMATI13_GRAY_SIGMA` at ``redshift``) and ``f_g = Omega_b/Omega_m``.
    """
    if sigma is None:
        sigma = np.interp(float(redshift), *RAHMATI13_GRAY_SIGMA)
    return (6.73e-3 * (sigma / 2.49e-18) ** (-2 / 3) * (np.asarray(temperature) / 1e4) ** 0.17
            * (gamma_hi / 1e-12) ** (2 / 3) * (baryon_fraction / 0.17) ** (-1 / 3))


def self_shielding_factor(n_h, n_ssh, params=None):
    """Rahmati et al. (2013) eq. (14): ``Gamma_phot / Gamma_UVB`` at hydrogen density ``n_h``."""
    p = RAHMATI13 if params is None else params
    r = np.asarray(n_h) / (p["n0_over_nssh"] * np.asarray(n_ssh))
    return (1 - p["f"]) * (1 + r ** p["beta"]) ** p["alpha1"] + p["f"] * (1 + r) ** p["alpha2"]


def temperature_from_u(u, electron_abundance, x_h=X_H):
    """Temperature, K, from the specific internal energy ``u`` in (km/s)^2 (Gadget's physical u).

    ``T = (5/3 - 1) mu m_p u / k_B`` with ``mu = 4 / (1 + 3 X + 4 X x_e)`` (H and He only, no metals),
    ``x_e = n_e / n_H``.
    """
    mu = 4.0 / (1 + 3 * x_h + 4 * x_h * np.asarray(electron_abundance))
    return (ADIABATIC_INDEX - 1) * mu * M_P_G * np.asarray(u, dtype=np.float64) * 1e10 / K_B_CGS


def temperature(u, electron_abundance, overdensity, n_h, params=None, x_h=X_H):
    """Gas temperature with the photo-heated floor and the dense-gas rule, K.

    Parameters
    ----------
    u : array_like, (km/s)^2
        Specific internal energy (``InternalEnergy`` of a Gadget-2 snapshot).
    electron_abundance : array_like
        ``n_e / n_H`` of the gas (sets the mean molecular weight).
    overdensity : array_like
        ``rho_gas / rho_mean_baryon``.
    n_h : array_like, cm^-3
        Physical hydrogen number density.
    params : HIParams, optional
        ``t0``, ``floor_gamma``, ``dense_nh``, ``dense_temperature``.

    Returns
    -------
    ndarray, K
        ``max(T(u), t0 overdensity^(floor_gamma-1))``, and ``dense_temperature`` where ``n_h > dense_nh``.
    """
    p = params or HIParams()
    t = np.maximum(temperature_from_u(u, electron_abundance, x_h), p.t0 * np.asarray(overdensity) ** (p.floor_gamma - 1))
    return np.where(np.asarray(n_h) > p.dense_nh, p.dense_temperature, t)


def _abundances(x_e, n_h, t, photo, y, collisional):
    """Species per H atom at electron abundance ``x_e`` (KWH96 eqs. 33-37); returns (x_HI, new x_e)."""
    a_h, a_he1, a_he2, a_d = recombination_rates(t)
    c_h, c_he0, c_hep = (c * collisional for c in collisional_rates(t))
    ne = x_e * n_h
    with np.errstate(divide="ignore", invalid="ignore"):
        x_hi = a_h / (a_h + c_h + photo[0] / ne)
        ion_he0 = c_he0 + photo[1] / ne
        ion_hep = c_hep + photo[2] / ne
        x_hep = 1.0 / (1.0 + (a_he1 + a_d) / ion_he0 + ion_hep / a_he2)
        x_hepp = x_hep * ion_hep / a_he2
    return x_hi, (1 - x_hi) + y * (x_hep + 2 * x_hepp)


def _solve(n_h, state, y, collisional, iterations=48):
    """Root of ``x_e = g(x_e)`` by bisection in ``log x_e``.

    ``state(x_e) -> (T, photo)``.  ``g`` (the electron abundance that the rates give) falls as
    ``x_e`` rises (more recombinations, a lower ``T`` through ``mu``, more shielding), so the root is
    unique and bisection cannot miss it.
    """
    lo = np.full(np.shape(n_h), np.log(1e-20))
    hi = np.full(np.shape(n_h), np.log(1 + 2 * y) + 1e-12)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        x_e = np.exp(mid)
        _, g = _abundances(x_e, n_h, *state(x_e), y, collisional)
        above = x_e > g
        hi, lo = np.where(above, mid, hi), np.where(above, lo, mid)
    x_e = np.exp(0.5 * (lo + hi))
    t, photo = state(x_e)
    x_hi, x_e = _abundances(x_e, n_h, t, photo, y, collisional)
    return x_hi, x_e, t


def _photo_rates(n_h, t, redshift, params, baryon_fraction, photo_rates):
    """Local photo-ionisation rates (3, N): table x gamma_scale x Rahmati self-shielding factor."""
    g = uvb_rates(redshift, params.uvb) if photo_rates is None else np.asarray(photo_rates, dtype=np.float64)
    g = g * params.gamma_scale
    if not params.self_shielding or g[0] == 0:
        return g[:, None] * np.ones_like(n_h)[None]
    fac = self_shielding_factor(n_h, self_shielding_density(redshift, t, g[0], baryon_fraction))
    return g[:, None] * fac[None]


def neutral_fraction(n_h, temperature, redshift, params=None, *, baryon_fraction=0.17, photo_rates=None, x_h=X_H):
    """Photo- and collisional-ionisation equilibrium of H and He at fixed temperature.

    Parameters
    ----------
    n_h : array_like, cm^-3
        Physical hydrogen number density.
    temperature : array_like, K
    redshift : float
        Selects the UV background (and the Rahmati gray cross-section).
    params : HIParams, optional
        ``uvb``, ``gamma_scale``, ``self_shielding``, ``collisional`` are used.
    baryon_fraction : float, default: 0.17
        ``Omega_b / Omega_m`` in the self-shielding density (Rahmati et al. eq. 13).
    photo_rates : sequence of 3 floats, 1/s, optional
        ``Gamma_HI, Gamma_HeI, Gamma_HeII`` instead of the table (still times ``gamma_scale``).
    x_h : float
        Hydrogen mass fraction (He fills the rest; no metals).

    Returns
    -------
    x_hi, x_e : ndarray
        ``NeutralHydrogenAbundance`` (n_HI / n_H) and ``ElectronAbundance`` (n_e / n_H).
    """
    p = params or HIParams()
    shape = np.broadcast_shapes(np.shape(n_h), np.shape(temperature))
    n_h = np.broadcast_to(np.asarray(n_h, dtype=np.float64), shape).ravel()
    t = np.broadcast_to(np.asarray(temperature, dtype=np.float64), shape).ravel()
    y = (1 - x_h) / (4 * x_h)
    photo = _photo_rates(n_h, t, redshift, p, baryon_fraction, photo_rates)
    x_hi, x_e, _ = _solve(n_h, lambda _x: (t, photo), y, float(p.collisional))
    return x_hi.reshape(shape), x_e.reshape(shape)


def ionisation_state(u, n_h, overdensity, redshift, params=None, *, baryon_fraction=0.17, photo_rates=None, x_h=X_H):
    """Temperature and ionisation state solved together (``mu`` depends on ``x_e``, ``x_e`` on ``T``).

    The floor and the dense-gas rule of :func:`temperature` apply inside the solve, so the returned
    temperature, neutral fraction and electron abundance are mutually consistent.

    Parameters
    ----------
    u : array_like, (km/s)^2
    n_h : array_like, cm^-3
    overdensity : array_like
        ``rho_gas / rho_mean_baryon``.
    redshift, params, baryon_fraction, photo_rates, x_h
        As in :func:`neutral_fraction`.

    Returns
    -------
    temperature, x_hi, x_e : ndarray
        K, ``n_HI / n_H``, ``n_e / n_H``.
    """
    p = params or HIParams()
    shape = np.broadcast_shapes(np.shape(u), np.shape(n_h), np.shape(overdensity))
    n_h, u, delta = (np.broadcast_to(np.asarray(a, dtype=np.float64), shape).ravel() for a in (n_h, u, overdensity))
    y = (1 - x_h) / (4 * x_h)

    def state(x_e):
        t = temperature(u, x_e, delta, n_h, p, x_h)
        return t, _photo_rates(n_h, t, redshift, p, baryon_fraction, photo_rates)

    x_hi, x_e, t = _solve(n_h, state, y, float(p.collisional))
    return t.reshape(shape), x_hi.reshape(shape), x_e.reshape(shape)
