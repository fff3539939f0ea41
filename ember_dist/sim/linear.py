# SPDX-License-Identifier: BSD-3-Clause
"""Linear (and halofit) matter power spectra from CAMB, and linear growth from colossus.

The suite's cosmology is Planck 2015 (:data:`ember_dist.io.conventions.PLANCK15`, the EMBER
paper's FIRE boxes) with ``n_s`` = 0.9667, ``sigma_8`` = 0.8159, massless neutrinos, flat.
CAMB (Lewis, Challinor & Lasenby 2000) computes the z = 0 linear spectrum of total matter (CDM +
baryons); its amplitude is set so that ``sigma_8`` is the target.  Initial conditions use that
spectrum scaled back to ``z_init`` with the linear growth factor of a matter + Lambda universe
(no radiation, as in the N-body code: ``colossus`` with ``relspecies=False``), the usual practice
for N-body initial conditions.

Examples
--------
>>> cosmo = suite_cosmology()
>>> round(cosmo["sigma8"], 4), round(cosmo["n_s"], 4)
(0.8159, 0.9667)
"""
from __future__ import annotations

import functools

import numpy as np

from ember_dist.io.conventions import PLANCK15

__all__ = ["suite_cosmology", "LinearPower", "growth", "nonlinear_power"]

_EXTRA = {"sigma8": 0.8159, "n_s": 0.9667, "t_cmb": 2.7255}


def suite_cosmology():
    """The suite's cosmological parameters: PLANCK15 plus ``sigma8``, ``n_s`` and ``t_cmb``."""
    return dict(PLANCK15, **_EXTRA)


def _camb_params(cosmo, redshifts, kmax, nonlinear=False, a_s=2.1e-9):
    import camb

    h = cosmo["hubble"]
    pars = camb.set_params(H0=100.0 * h, ombh2=cosmo["omega_b"] * h**2,
                           omch2=(cosmo["omega_m"] - cosmo["omega_b"]) * h**2, mnu=0.0, omk=0.0,
                           ns=cosmo["n_s"], As=a_s, TCMB=cosmo["t_cmb"], WantTransfer=True)
    pars.set_matter_power(redshifts=list(redshifts), kmax=kmax, nonlinear=nonlinear)
    return pars


@functools.lru_cache(maxsize=8)
def _amplitude(items, kmax):
    """Primordial amplitude A_s giving the target sigma8 (CAMB is linear in A_s)."""
    import camb

    cosmo = dict(items)
    res = camb.get_results(_camb_params(cosmo, [0.0], kmax))
    return 2.1e-9 * (cosmo["sigma8"] / float(res.get_sigma8_0())) ** 2


class LinearPower:
    """CAMB's z = 0 linear total-matter P(k), normalised to ``sigma8``; call with k in h/Mpc.

    Parameters
    ----------
    cosmo : dict, optional
        :func:`suite_cosmology` by default.
    kmax : float, h/Mpc, default: 100
        Largest k computed; beyond it the spectrum is extended as a power law in log-log.
    """

    def __init__(self, cosmo=None, kmax=100.0):
        import camb

        self.cosmo = suite_cosmology() if cosmo is None else dict(cosmo)
        res = camb.get_results(_camb_params(self.cosmo, [0.0], kmax))
        kh, _, pk = res.get_matter_power_spectrum(minkh=1e-5, maxkh=kmax, npoints=2000)
        scale = (self.cosmo["sigma8"] / float(res.get_sigma8_0())) ** 2  # linear theory: P is linear in A_s
        self.k, self.p = np.asarray(kh), np.asarray(pk[0]) * scale
        self.sigma8 = float(np.sqrt(scale)) * float(res.get_sigma8_0())
        self.a_s = 2.1e-9 * scale

    def __call__(self, k):
        """P(k) at z = 0, (Mpc/h)^3, for k in h/Mpc (0 at k = 0)."""
        k = np.asarray(k, dtype=np.float64)
        lk = np.log(np.clip(k, self.k[0], None))
        out = np.exp(np.interp(lk, np.log(self.k), np.log(self.p)))
        hi = lk > np.log(self.k[-1])
        if np.any(hi):
            slope = np.log(self.p[-1] / self.p[-2]) / np.log(self.k[-1] / self.k[-2])
            out[hi] = self.p[-1] * np.exp(slope * (lk[hi] - np.log(self.k[-1])))
        return np.where(k > 0, out, 0.0)


def _colossus(cosmo):
    from colossus.cosmology import cosmology

    params = {"flat": True, "H0": 100.0 * cosmo["hubble"], "Om0": cosmo["omega_m"], "Ob0": cosmo["omega_b"],
              "sigma8": cosmo["sigma8"], "ns": cosmo["n_s"], "relspecies": False}
    return cosmology.setCosmology("ember_suite", **params)


def growth(z, cosmo=None):
    """Linear growth ``D(z)/D(0)`` and rate ``f = dlnD/dlna`` of matter + Lambda (colossus).

    Returns
    -------
    (float, float)
    """
    cosmo = suite_cosmology() if cosmo is None else cosmo
    c = _colossus(cosmo)
    d = float(c.growthFactor(z))
    eps = 1e-4
    a = 1.0 / (1.0 + z)
    za, zb = 1.0 / (a * (1 + eps)) - 1.0, 1.0 / (a * (1 - eps)) - 1.0
    f = (np.log(c.growthFactor(za)) - np.log(c.growthFactor(zb))) / (np.log(1 + eps) - np.log(1 - eps))
    return d, float(f)


def nonlinear_power(k, z, cosmo=None, kmax=100.0):
    """CAMB halofit (Mead et al. 2020 HMcode default of CAMB) P(k, z), (Mpc/h)^3, k in h/Mpc."""
    import camb

    cosmo = suite_cosmology() if cosmo is None else dict(cosmo)
    a_s = _amplitude(tuple(sorted(cosmo.items())), kmax)
    res = camb.get_results(_camb_params(cosmo, [float(z)], kmax, nonlinear=True, a_s=a_s))
    kh, _, pk = res.get_matter_power_spectrum(minkh=1e-4, maxkh=kmax, npoints=1500)
    return np.exp(np.interp(np.log(k), np.log(kh), np.log(pk[0])))
