# SPDX-License-Identifier: BSD-3-Clause
"""Initial conditions of a paired run: dark matter + gas (hydro) and dark matter only (DMO).

Both runs start from one 2LPT realisation (:mod:`.lpt`) of the CAMB spectrum (:mod:`.linear`)
at ``z_init``:

* hydro: ``n^3`` dark-matter particles on the lattice ``q = i L / n`` and ``n^3`` gas particles on
  the lattice shifted by half a cell on every axis, each moved by the total-matter displacement
  evaluated at its own lattice point; masses split by ``Omega_b / Omega_m``; gas at the
  temperature ``t_init`` (neutral primordial gas, mean molecular weight 4 / (1 + 3 X_H));
* DMO: the same ``n^3`` dark-matter positions, velocities and IDs, each with the whole matter mass.

Baryons and dark matter share one displacement field (the single-fluid approximation usual for
ICs at z ~ 50; the baryon-CDM relative velocity is neglected).  Files are Gadget HDF5 initial
conditions (``ICFormat 3``) in Gadget units: kpc/h, 1e10 Msun/h, and velocities ``u = v_pec /
sqrt(a)`` in km/s.
"""
from __future__ import annotations

import os

import h5py
import numpy as np

from ember_dist.io.conventions import K_B_CGS, M_P_G, RHO_CRIT, X_H
from ember_dist.sim.linear import LinearPower, growth, suite_cosmology
from ember_dist.sim.lpt import lattice, lpt_displacements, second_order_growth

__all__ = ["make_initial_conditions", "write_ic_file", "particle_masses", "hubble_e"]


def hubble_e(a, cosmo):
    """E(a) = H(a) / H0 of flat matter + Lambda."""
    return float(np.sqrt(cosmo["omega_m"] / a**3 + (1.0 - cosmo["omega_m"])))


def particle_masses(n, box_size, cosmo):
    """Particle masses (Msun/h): ``{"gas": .., "dm_hydro": .., "dm_only": ..}`` for ``n^3`` of each."""
    total = cosmo["omega_m"] * RHO_CRIT * float(box_size) ** 3
    fb = cosmo["omega_b"] / cosmo["omega_m"]
    return {"gas": total * fb / n**3, "dm_hydro": total * (1.0 - fb) / n**3, "dm_only": total / n**3}


def make_initial_conditions(n, box_size, seed, z_init=49.0, *, cosmo=None, power=None, order=2, t_init=None,
                            parent_n=None):
    """Particles of both runs at ``z_init``, in ckpc/h, Msun/h and Gadget velocities (km/s).

    Parameters
    ----------
    n : int
        Particles per side and species.
    box_size : float, ckpc/h
    seed : int
    z_init : float, default: 49
    cosmo : dict, optional
        :func:`ember_dist.sim.linear.suite_cosmology` by default.
    power : callable, optional
        z = 0 linear P(k) (h/Mpc -> (Mpc/h)^3); CAMB's by default.
    order : {1, 2}, default: 2
        2LPT or Zel'dovich.
    t_init : float, K, optional
        Initial gas temperature; default the adiabatically cooled CMB temperature after thermal
        decoupling at z ~ 150: ``T_cmb (1 + z_init)^2 / 151``.
    parent_n : int, optional
        A lower-resolution twin of the ``parent_n^3`` box of this seed (:func:`ember_dist.sim.lpt.white_noise_k`).

    Returns
    -------
    dict
        ``{"hydro": {0: gas, 1: dm}, "dmo": {1: dm}, "header": {...}, "meta": {...}}`` with fields
        ``Coordinates``, ``Velocities``, ``ParticleIDs``, ``Masses`` (scalars) and, for gas,
        ``InternalEnergy`` ((km/s)^2).
    """
    n = int(n)
    cosmo = suite_cosmology() if cosmo is None else dict(cosmo)
    power = LinearPower(cosmo) if power is None else power
    a = 1.0 / (1.0 + z_init)
    d1, f1 = growth(z_init, cosmo)
    om_a = cosmo["omega_m"] / a**3 / hubble_e(a, cosmo) ** 2
    _, f2 = second_order_growth(om_a)
    spacing = box_size / n
    dm, gas = lpt_displacements(n, box_size, lambda k: power(k) * d1**2, seed, shifts=(0.0, 0.5 * spacing),
                                omega_m_a=om_a, order=order, parent_n=parent_n)
    vfac = a * 100.0 * hubble_e(a, cosmo) / 1000.0 / np.sqrt(a)  # ckpc/h of displacement -> Gadget km/s
    parts = {}
    for name, d, off in (("dm", dm, 0.0), ("gas", gas, 0.5)):
        psi1 = d["psi1"].reshape(3, -1).T
        psi2 = d["psi2"].reshape(3, -1).T
        parts[name] = {
            "Coordinates": np.mod(lattice(n, box_size, offset=off) + psi1 + psi2, box_size),
            "Velocities": vfac * (f1 * psi1 + f2 * psi2),
        }
    if t_init is None:
        t_init = cosmo["t_cmb"] * (1.0 + z_init) ** 2 / 151.0
    mu = 4.0 / (1.0 + 3.0 * X_H)  # neutral primordial H + He
    u_init = 1.5 * K_B_CGS * t_init / (mu * M_P_G) / 1e10  # (km/s)^2
    masses = particle_masses(n, box_size, cosmo)
    ids = np.arange(1, n**3 + 1, dtype=np.uint32)
    dm_h = dict(parts["dm"], ParticleIDs=ids, Masses=masses["dm_hydro"])
    gas_h = dict(parts["gas"], ParticleIDs=ids + np.uint32(n**3), Masses=masses["gas"],
                 InternalEnergy=np.full(n**3, u_init))
    dm_o = dict(parts["dm"], ParticleIDs=ids, Masses=masses["dm_only"])
    header = {"box_size": float(box_size), "redshift": float(z_init), "time": a, **cosmo}
    disp = np.sqrt((dm["psi1"] ** 2).sum(axis=0))
    meta = {"lpt_order": order, "z_init": float(z_init), "growth_D": d1, "growth_f1": f1, "growth_f2": f2,
            "t_init_K": float(t_init), "rms_displacement_spacings": float(np.sqrt((disp**2).mean()) / spacing),
            "max_displacement_spacings": float(disp.max() / spacing), "sigma8": float(cosmo["sigma8"]),
            "phases_of_n": int(parent_n or n)}
    return {"hydro": {0: gas_h, 1: dm_h}, "dmo": {1: dm_o}, "header": header, "meta": meta}


def write_ic_file(path, header, particles):
    """Write Gadget-2 HDF5 initial conditions (``ICFormat 3``), atomically (``.tmp`` then rename).

    ``particles`` maps a type to fields in ckpc/h, Msun/h (scalar ``Masses`` go to ``MassTable``)
    and Gadget velocities; files hold Gadget units (kpc/h, 1e10 Msun/h, km/s).
    """
    npart = np.zeros(6, dtype=np.uint32)
    mass_table = np.zeros(6)
    for t, f in particles.items():
        npart[t] = len(f["ParticleIDs"])
        mass_table[t] = float(f["Masses"]) / 1e10
    tmp = os.fspath(path) + ".tmp"
    with h5py.File(tmp, "w") as h:
        hd = h.create_group("Header")
        hd.attrs.update({
            "NumPart_ThisFile": npart, "NumPart_Total": npart, "NumPart_Total_HighWord": np.zeros(6, np.uint32),
            "MassTable": mass_table, "Time": header["time"], "Redshift": header["redshift"],
            "BoxSize": header["box_size"], "NumFilesPerSnapshot": 1, "Omega0": header["omega_m"],
            "OmegaLambda": 1.0 - header["omega_m"], "HubbleParam": header["hubble"], "Flag_Entropy_ICs": 0,
            "Flag_Sfr": 0, "Flag_Cooling": 0, "Flag_StellarAge": 0, "Flag_Metals": 0, "Flag_Feedback": 0,
        })
        for t, f in particles.items():
            g = h.create_group(f"PartType{t}")
            g["Coordinates"] = f["Coordinates"].astype(np.float32)
            g["Velocities"] = f["Velocities"].astype(np.float32)
            g["ParticleIDs"] = f["ParticleIDs"].astype(np.uint32)
            if "InternalEnergy" in f:
                g["InternalEnergy"] = f["InternalEnergy"].astype(np.float32)
    os.replace(tmp, path)
    return os.fspath(path)
