# SPDX-License-Identifier: BSD-3-Clause
"""Halo mass function of the suite's M200c catalogues, pooled over seeds, against Tinker et al. (2008).

The catalogues (``fof_NNN.h5``, :mod:`ember_dist.sim.halos`) list M200c (``mass``, Msun/h) of
every FoF group with a measured M200c.  :func:`pooled_mass_function` counts haloes of at least
``min_particles`` particles (``M200c >= min_particles * m_particle``) in logarithmic mass bins that
start at that threshold, over all catalogues (seeds) together, with Poisson errors on the counts.
:func:`tinker08_counts` gives the expected counts in the same bins, ``V_total int dn/dlnM dlnM``,
from colossus' Tinker et al. (2008) fit for ``200c`` with CAMB's linear spectrum of the suite's
cosmology.

:func:`one_halo_trispectrum` is the same halo population's contribution to the variance of a
measured P(k) (the Poisson scatter of the few massive haloes that make the one-halo term): in a box
of tens of Mpc/h at z = 2-3 it, not the Gaussian ``2 P^2 / N_modes``, sets the error at k ~ 1 h/Mpc.
"""
from __future__ import annotations

import functools
from pathlib import Path

import h5py
import numpy as np

__all__ = ["read_masses", "pooled_mass_function", "tinker08_counts", "judge_counts", "nfw_u",
           "one_halo_trispectrum"]


def read_masses(path):
    """M200c (Msun/h) of every halo in a catalogue file, and its attrs."""
    with h5py.File(path, "r") as f:
        return np.asarray(f["mass"][...], np.float64), dict(f.attrs)


def pooled_mass_function(masses_per_box, box_size, particle_mass, min_particles=100, dex=0.25, n_bins=None):
    """Counts of haloes per log-mass bin, pooled over boxes.

    Parameters
    ----------
    masses_per_box : list of arrays, Msun/h
        One array of halo masses per box (seed).
    box_size : float, Mpc/h
        Side of each box (all equal).
    particle_mass : float, Msun/h
    min_particles : int, default: 100
        The lowest bin starts at ``min_particles * particle_mass``.
    dex : float
        Bin width in log10 M.
    n_bins : int, optional
        Default: up to the most massive halo.

    Returns
    -------
    dict
        ``edges`` (Msun/h), ``counts``, ``volume`` ((Mpc/h)^3, all boxes), ``dn_dlog10m`` and its
        Poisson error ``err`` ((Mpc/h)^-3 per dex), ``n_boxes``.
    """
    m_min = min_particles * particle_mass
    allm = np.concatenate([np.asarray(m, np.float64) for m in masses_per_box]) if masses_per_box else np.zeros(0)
    if n_bins is None:
        top = allm.max() if allm.size and allm.max() >= m_min else m_min
        n_bins = max(1, int(np.floor(np.log10(top / m_min) / dex)) + 1)
    edges = m_min * 10.0 ** (dex * np.arange(n_bins + 1))
    counts = np.histogram(allm, bins=edges)[0]
    volume = len(masses_per_box) * box_size**3
    return {"edges": edges, "counts": counts, "volume": volume, "dn_dlog10m": counts / volume / dex,
            "err": np.sqrt(counts) / volume / dex, "n_boxes": len(masses_per_box), "m_min": m_min}


def _camb_table(cosmo):
    """CAMB's linear z = 0 spectrum of the suite (the ICs' spectrum) as the text table colossus reads.

    One CAMB run and one file per cosmology and process (each check called it anew: ~6 CPU-s and a
    temporary folder per call).
    """
    return _camb_table_of(tuple(sorted(cosmo.items())))


@functools.lru_cache(maxsize=4)
def _camb_table_of(cosmo_items):
    import tempfile

    from ember_dist.sim.linear import LinearPower

    lp = LinearPower(dict(cosmo_items))
    k = np.logspace(-4, 2, 600)
    path = Path(tempfile.mkdtemp(prefix="ember_hmf_")) / "camb_linear_z0.txt"
    np.savetxt(path, np.column_stack([np.log10(k), np.log10(lp(k))]))
    return str(path)


def tinker08_counts(edges, redshift, volume, cosmo=None, n_sub=16):
    """Expected halo counts per bin of ``edges`` (Msun/h) in ``volume`` ((Mpc/h)^3): Tinker et al. (2008), 200c.

    colossus' ``tinker08`` with the suite's CAMB linear spectrum (the ICs' spectrum) as its table.
    """
    from colossus.lss import mass_function

    from ember_dist.sim.linear import _colossus, suite_cosmology

    cosmo = suite_cosmology() if cosmo is None else cosmo
    _colossus(cosmo)
    ps = {"model": "ember_camb", "path": _camb_table(cosmo)}
    out = np.zeros(len(edges) - 1)
    for i in range(len(edges) - 1):
        lnm = np.linspace(np.log(edges[i]), np.log(edges[i + 1]), n_sub + 1)
        dn = mass_function.massFunction(np.exp(lnm), redshift, mdef="200c", model="tinker08", q_out="dndlnM",
                                        ps_args=ps)
        out[i] = volume * np.trapezoid(dn, lnm)
    return out


def judge_counts(observed, expected, tolerance=0.25, n_sigma=2.0):
    """Per-bin verdict: ``|N_obs - N_exp| <= tolerance N_exp + n_sigma sqrt(N_exp)``.

    A bin passes when the measured count is within ``n_sigma`` Poisson standard deviations of a
    prediction that is itself allowed to be off by ``tolerance``: a 25% deviation that the
    counts resolve fails, a difference the counts cannot resolve does not.
    """
    observed = np.asarray(observed, np.float64)
    expected = np.asarray(expected, np.float64)
    return np.abs(observed - expected) <= tolerance * expected + n_sigma * np.sqrt(expected)


def nfw_u(kr_s, c):
    """Fourier transform of an NFW profile truncated at ``c r_s``, normalised to 1 at k = 0.

    ``kr_s``: k times the scale radius; ``c``: concentration (R200c / r_s).  Cooray & Sheth (2002),
    eq. 81, with the sine and cosine integrals of :func:`scipy.special.sici`.
    """
    from scipy.special import sici

    x = np.maximum(np.asarray(kr_s, np.float64), 1e-8)
    c = np.asarray(c, np.float64)
    si1, ci1 = sici((1.0 + c) * x)
    si0, ci0 = sici(x)
    num = np.sin(x) * (si1 - si0) - np.sin(c * x) / ((1.0 + c) * x) + np.cos(x) * (ci1 - ci0)
    return num / (np.log1p(c) - c / (1.0 + c))


def one_halo_trispectrum(k, redshift, cosmo=None, m_min=1.0e9, m_max=1.0e16, n_m=240,
                         concentration_model="duffy08"):
    """Diagonal one-halo trispectrum ``T_1h(k, k) = int dlnM dn/dlnM (M / rho_m)^4 u(k|M)^4``, (Mpc/h)^9.

    The non-Gaussian part of the variance of a band power measured in a volume V is ``T(k, k) / V``
    (Scoccimarro, Zaldarriaga & Hui 1999), and at k ~ 1-10 h/Mpc the one-halo term dominates it
    (Cooray & Hu 2001): a box holds few of the massive haloes that make the one-halo power, and
    their number scatters.  Tinker et al. (2008) ``200c`` mass function with the suite's CAMB
    spectrum (as :func:`tinker08_counts`), NFW haloes truncated at R200c with the Duffy et al.
    (2008) concentration; ``k`` in h/Mpc, masses in Msun/h.
    """
    from colossus.halo import concentration, mass_so
    from colossus.lss import mass_function

    from ember_dist.io.conventions import RHO_CRIT
    from ember_dist.sim.linear import _colossus, suite_cosmology

    cosmo = suite_cosmology() if cosmo is None else cosmo
    _colossus(cosmo)
    z = float(redshift)
    lnm = np.linspace(np.log(m_min), np.log(m_max), int(n_m))
    m = np.exp(lnm)
    dn = mass_function.massFunction(m, z, mdef="200c", model="tinker08", q_out="dndlnM",
                                    ps_args={"model": "ember_camb", "path": _camb_table(cosmo)})
    r200 = mass_so.M_to_R(m, z, "200c") / 1000.0 * (1.0 + z)  # physical kpc/h -> comoving Mpc/h
    c = concentration.concentration(m, "200c", z, model=concentration_model)
    rho_m = cosmo["omega_m"] * RHO_CRIT * 1e9  # Msun/h per (Mpc/h)^3, comoving
    k = np.atleast_1d(np.asarray(k, np.float64))
    u = nfw_u(k[:, None] * (r200 / c)[None, :], c[None, :])
    return np.trapezoid(dn * (m / rho_m) ** 4 * u**4, lnm, axis=1)
