# SPDX-License-Identifier: BSD-3-Clause
"""Make the toy simulation suite: a hydro run (gas + dmh) and a DM-only run (dmo).

.. warning::
   This is a **toy**.  Dark matter is a Zel'dovich realisation of a linear
   LCDM spectrum (Eisenstein-Hu no-wiggle, sigma8 = 0.8159, Planck 2015) at
   the output redshift; "gas" follows a pressure-smoothed copy of the same
   displacement on a staggered lattice plus a seeded small-scale random
   displacement; HI comes from a self-shielding recipe of the kNN gas density.
   There is no gravity beyond first order, no hydrodynamics and no feedback.
   It exists to exercise and validate the pipeline on real snapshot files.

Layout written under ``out_dir``::

    hydro/snap_000.hdf5   PartType0 gas (Masses, Coordinates, Velocities, ParticleIDs,
                          Density, NeutralHydrogenAbundance, ElectronAbundance),
                          PartType1 dmh (MassTable, Coordinates, Velocities, ParticleIDs)
    dmo/snap_000.hdf5     PartType1 only, the same initial conditions, mass Omega_m
    mock_suite.json       parameters, paths and the toy label

With ``n_files > 1`` each run is ``snap_000.K.hdf5``.
"""
from __future__ import annotations

import json
import os

import numpy as np

from ember_dist.io.conventions import PLANCK15, RHO_CRIT, utc_now
from ember_dist.mock.cosmology import SIGMA8, growth_factor, linear_power
from ember_dist.mock.gadget_writer import write_gadget_snapshot
from ember_dist.mock.hydro import X_H, hydrogen_number_density, knn_density, neutral_fraction
from ember_dist.mock.zeldovich import displacement_field, lattice, white_noise_k

__all__ = ["make_mock_suite", "TOY_LABEL", "critical_density"]

TOY_LABEL = (
    "TOY MOCK: Zel'dovich dark matter, smoothed 'gas' and a self-shielding HI recipe made by "
    "ember_dist.mock to exercise the pipeline; not a hydrodynamical simulation."
)



def critical_density():
    """Critical density today, (Msun/h)/(ckpc/h)^3."""
    return RHO_CRIT


def _velocity(psi, redshift, cosmo):
    """Gadget velocities (peculiar / sqrt(a)), km/s, of Zel'dovich displacements psi in ckpc/h."""
    a = 1.0 / (1.0 + redshift)
    om, ol = cosmo["omega_m"], cosmo["omega_l"]
    e = np.sqrt(om / a**3 + ol + (1 - om - ol) / a**2)
    f = (om / a**3 / e**2) ** 0.55
    return (a * f * 100.0 * e * psi / 1000.0) / np.sqrt(a)


def _validate(n, box_size, n_files, redshift):
    if int(n) != n or n < 4:
        raise ValueError(f"n={n!r} must be an integer >= 4 (particles per side); e.g. n=32 for tests.")
    if not box_size > 0:
        raise ValueError(f"box_size={box_size!r} must be positive, in ckpc/h (e.g. 15000.0).")
    if int(n_files) != n_files or n_files < 1:
        raise ValueError(f"n_files={n_files!r} must be a positive integer.")
    if redshift < 0:
        raise ValueError(f"redshift={redshift!r} must be >= 0.")


def mock_particles(
    n=64,
    box_size=15000.0,
    seed=0,
    redshift=2.0,
    pressure_smoothing=100.0,
    stochastic=0.1,
    gamma_uvb=1.3e-12,
    n_self_shielding=5.1e-3,
):
    """Particles of the toy suite, in memory (what :func:`make_mock_suite` writes).

    Parameters are those of :func:`make_mock_suite`.

    Returns
    -------
    dict
        ``{"header": {...}, "hydro": {0: gas fields, 1: dmh fields}, "dmo": {1: fields},
        "provenance": {...}}``; positions in ckpc/h, masses in Msun/h,
        ``Density`` in (Msun/h)/(ckpc/h)^3, velocities in Gadget km/s.
    """
    _validate(n, box_size, 1, redshift)
    n = int(n)
    cosmo = dict(PLANCK15)
    power = lambda k: linear_power(k, redshift, cosmo)  # noqa: E731
    noise = white_noise_k(n, seed)
    spacing = box_size / n
    psi_dm = displacement_field(n, box_size, power, seed, noise_k=noise)
    psi_gas = displacement_field(
        n, box_size, power, seed, smoothing=pressure_smoothing, shift=0.5 * spacing, noise_k=noise
    )
    rng = np.random.default_rng([seed, 1])
    psi_gas = psi_gas.reshape(3, -1).T + rng.normal(0.0, stochastic * spacing, size=(n**3, 3))
    psi_dm = psi_dm.reshape(3, -1).T
    q = lattice(n, box_size, offset=0.25)
    pos_dm = np.mod(q + psi_dm, box_size)
    pos_gas = np.mod(q + 0.5 * spacing + psi_gas, box_size)

    total = cosmo["omega_m"] * RHO_CRIT * box_size**3  # Msun/h
    fb = cosmo["omega_b"] / cosmo["omega_m"]
    m_gas = total * fb / n**3
    m_dmh = total * (1.0 - fb) / n**3
    m_dmo = total / n**3
    rho = knn_density(pos_gas, np.full(n**3, m_gas), box_size)
    x_hi = neutral_fraction(
        hydrogen_number_density(rho, redshift, cosmo["hubble"]), gamma_uvb=gamma_uvb, n_ss=n_self_shielding
    )
    y_he = 1.0 - X_H
    ne = (1.0 - x_hi) + 2.0 * y_he / (4.0 * X_H)  # hydrogen ionised fraction + fully ionised helium
    ids = np.arange(1, n**3 + 1, dtype=np.uint64)
    v_dm = _velocity(psi_dm, redshift, cosmo)
    return {
        "header": dict(box_size=float(box_size), redshift=float(redshift), **cosmo),
        "hydro": {
            0: {
                "Coordinates": pos_gas,
                "Masses": np.full(n**3, m_gas),
                "Velocities": _velocity(psi_gas, redshift, cosmo),
                "ParticleIDs": ids + np.uint64(n**3),
                "Density": rho,
                "NeutralHydrogenAbundance": x_hi,
                "ElectronAbundance": ne,
            },
            1: {"Coordinates": pos_dm, "Masses": np.full(n**3, m_dmh), "Velocities": v_dm, "ParticleIDs": ids},
        },
        "dmo": {1: {"Coordinates": pos_dm, "Masses": np.full(n**3, m_dmo), "Velocities": v_dm, "ParticleIDs": ids}},
        "provenance": {
            "toy": TOY_LABEL,
            "seed": int(seed),
            "n": n,
            "sigma8": SIGMA8,
            "growth_factor": growth_factor(redshift, cosmo["omega_m"], cosmo["omega_l"]),
            "pressure_smoothing_ckpc_h": float(pressure_smoothing),
            "stochastic_spacing": float(stochastic),
            "gamma_uvb_per_s": float(gamma_uvb),
            "n_self_shielding_per_cm3": float(n_self_shielding),
            "created": utc_now(),
            "generator": "ember_dist.mock.make_mock_suite",
        },
    }


def make_mock_suite(
    out_dir,
    n=64,
    box_size=15000.0,
    seed=0,
    redshift=2.0,
    n_files=1,
    pressure_smoothing=100.0,
    stochastic=0.1,
    gamma_uvb=1.3e-12,
    n_self_shielding=5.1e-3,
    overwrite=False,
):
    """Write a seeded toy hydro run and its DM-only twin as Gadget HDF5 snapshots.

    Parameters
    ----------
    out_dir : str or os.PathLike
    n : int, default: 64
        Particles per side of each species (``n^3`` gas, ``n^3`` dmh, ``n^3`` dmo).
    box_size : float, ckpc/h, default: 15000.0
    seed : int, default: 0
    redshift : float, default: 2.0
    n_files : int, default: 1
        Files per snapshot.
    pressure_smoothing : float, ckpc/h, default: 100.0
        Gaussian radius that smooths the gas displacement.
    stochastic : float, default: 0.1
        rms of the seeded random gas displacement per axis, in mean inter-particle spacings.
    gamma_uvb : float, s^-1, default: 1.3e-12
        Photo-ionisation rate of the UV background.
    n_self_shielding : float, cm^-3, default: 5.1e-3
        Self-shielding hydrogen density (Rahmati et al. 2013 at z ~ 2).  First-order
        (Zel'dovich) gas at 32^3-128^3 rarely reaches it, so HI stays highly ionised
        (x_HI < 1e-4) unless this is lowered; it is a toy knob, not physics.
    overwrite : bool, default: False

    Returns
    -------
    dict
        ``{"hydro": path, "dmo": path, "metadata": path}``; snapshot paths are
        accepted by :func:`ember_dist.io.snapshot.open_snapshot`.
    """
    _validate(n, box_size, n_files, redshift)
    out_dir = os.fspath(out_dir)
    meta_path = os.path.join(out_dir, "mock_suite.json")
    if os.path.exists(meta_path) and not overwrite:
        raise FileExistsError(
            f"{meta_path!r} exists: a mock suite is already there; pass overwrite=True (CLI: --overwrite) "
            "or pick another out_dir."
        )
    parts = mock_particles(n, box_size, seed, redshift, pressure_smoothing, stochastic, gamma_uvb, n_self_shielding)
    prov = parts["provenance"]
    paths = {}
    for run in ("hydro", "dmo"):
        for old in _existing(os.path.join(out_dir, run)):
            os.remove(old)
        paths[run] = write_gadget_snapshot(
            os.path.join(out_dir, run, "snap_000"), parts["header"], parts[run], n_files=n_files,
            extra_attrs=dict(prov, run=run),
        )
    meta = dict(prov, box_size=float(box_size), redshift=float(redshift), cosmology=dict(PLANCK15),
                n_files=int(n_files), **{k: os.path.relpath(v, out_dir) for k, v in paths.items()})
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=2)
    return dict(paths, metadata=meta_path)


def _existing(folder):
    if not os.path.isdir(folder):
        return []
    return [os.path.join(folder, f) for f in os.listdir(folder) if f.startswith("snap_000") and f.endswith(".hdf5")]
