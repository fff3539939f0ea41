# SPDX-License-Identifier: BSD-3-Clause
"""Halo catalogues of a snapshot: friends-of-friends (b = 0.2) on the dark matter, then M200c.

For each FoF group the centre is found by a shrinking sphere (Power et al. 2003: start from the
members' periodic centre of mass and radius, shrink by 10% per step to 20 members), then
``R200c`` is the largest radius where the mean density of *all* particles of the run (dark matter
and, in a hydro run, gas) inside it reaches 200 times the critical density at the snapshot's
redshift, ``rho_c(z) = RHO_CRIT E(z)^2`` (physical; comoving ``a^3`` times that).  M200c is
measured when at least ``min_m200_particles`` particles lie inside ``R200c``; other groups keep
their FoF mass with ``m200c`` = NaN and are left out of the ``mass``/``r_vir`` columns readers use.

File beside the snapshot (``fof_NNN.h5``): one dataset per column over the haloes with a measured
M200c, sorted by decreasing mass: ``x, y, z`` (ckpc/h), ``mass`` = ``m200c`` (Msun/h), ``r_vir`` =
``r200c`` (ckpc/h), ``m_fof`` (Msun/h), ``n_fof``; group ``all_fof`` holds every FoF group
(``m_fof``, ``n_fof``, centres); attrs give b, the linking length, the redshift and the units.
"""
from __future__ import annotations

import os

import h5py
import numpy as np
from scipy.spatial import cKDTree

from ember_dist.io.conventions import RHO_CRIT
from ember_dist.stats.fof import friends_of_friends

__all__ = ["halo_catalogue_of", "write_catalogue", "m200c"]


def _shrinking_centre(p, box):
    ref = p[0]
    d = (p - ref + box / 2) % box - box / 2
    c = d.mean(axis=0)
    r = np.sqrt(((d - c) ** 2).sum(axis=1)).max()
    while True:
        inside = np.sqrt(((d - c) ** 2).sum(axis=1)) < r
        if inside.sum() < 20:
            break
        c = d[inside].mean(axis=0)
        r *= 0.9
    return np.mod(ref + c, box)


def m200c(tree, masses, centre, r_guess, rho_c_comoving, box, min_particles=20):
    """``(M200c, R200c, n)`` around ``centre`` (comoving ckpc/h, Msun/h); NaNs when not resolved."""
    idx = tree.query_ball_point(centre, 3.0 * r_guess)  # R200c < 3 R_200m(FoF mass) for any FoF group
    if len(idx) < min_particles:
        return np.nan, np.nan, len(idx)
    d = tree.data[idx] - centre
    d = (d + box / 2) % box - box / 2
    r = np.sqrt((d**2).sum(axis=1))
    order = np.argsort(r)
    r, m = r[order], np.cumsum(masses[np.asarray(idx)[order]])
    with np.errstate(divide="ignore"):
        mean_rho = m / (4.0 / 3.0 * np.pi * np.maximum(r, 1e-6) ** 3)
    above = np.nonzero(mean_rho >= 200.0 * rho_c_comoving)[0]
    if above.size == 0 or above[-1] + 1 < min_particles:
        return np.nan, np.nan, int(above[-1] + 1) if above.size else 0
    j = above[-1]
    # between particle j and the next the enclosed mass is m[j]: the mean density falls to 200 rho_c at r_star
    r_star = (3.0 * m[j] / (4.0 * np.pi * 200.0 * rho_c_comoving)) ** (1.0 / 3.0)
    if j + 1 < r.size:
        r_star = min(r_star, r[j + 1])
    return float(m[j]), float(r_star), int(j + 1)


def halo_catalogue_of(dm_pos, dm_mass, box, redshift, omega_m, *, other_pos=None, other_mass=None, b=0.2,
                      min_members=20, min_m200_particles=20):
    """FoF groups of the dark matter and their M200c over all particles.

    Parameters
    ----------
    dm_pos : (N, 3) ckpc/h
    dm_mass : float, Msun/h
        Dark-matter particle mass.
    box : float, ckpc/h
    redshift, omega_m : float
    other_pos, other_mass : optional
        Gas positions (N_gas, 3) and mass, counted in M200c but not linked.

    Returns
    -------
    dict of ndarray
        ``x, y, z, m_fof, n_fof, m200c, r200c, n200c`` over every FoF group (decreasing FoF mass).
    """
    fof = friends_of_friends(dm_pos, box, dm_mass, b=b, min_members=min_members, omega_m=omega_m)
    n = fof.sizes["halo"]
    a = 1.0 / (1.0 + redshift)
    rho_c = RHO_CRIT * (omega_m / a**3 + 1.0 - omega_m) * a**3  # comoving (Msun/h)/(ckpc/h)^3
    pos = np.mod(np.asarray(dm_pos, np.float64), box)
    masses = np.full(len(pos), float(dm_mass))
    if other_pos is not None:
        pos = np.vstack([pos, np.mod(np.asarray(other_pos, np.float64), box)])
        masses = np.concatenate([masses, np.full(len(other_pos), float(other_mass))])
    tree = cKDTree(pos, boxsize=box)
    # members again, for the shrinking-sphere centres (FoF keeps only centres of mass)
    link = b * box / len(dm_pos) ** (1.0 / 3.0)
    dm_tree = cKDTree(np.mod(np.asarray(dm_pos, np.float64), box), boxsize=box)
    out = {k: np.full(n, np.nan) for k in ("x", "y", "z", "m200c", "r200c", "n200c")}
    out["m_fof"] = np.asarray(fof["mass"])
    out["n_fof"] = np.asarray(fof["n_members"])
    for h in range(n):
        c0 = np.array([float(fof["x"][h]), float(fof["y"][h]), float(fof["z"][h])])
        rv = float(fof["r_vir"][h])
        members = dm_tree.query_ball_point(c0, 2.0 * rv + link)
        centre = _shrinking_centre(dm_tree.data[members], box) if len(members) >= 20 else c0
        out["x"][h], out["y"][h], out["z"][h] = centre
        out["m200c"][h], out["r200c"][h], out["n200c"][h] = m200c(tree, masses, centre, rv, rho_c, box,
                                                                   min_m200_particles)
    out["linking_length"] = link
    return out


def write_catalogue(path, cat, *, redshift, box_size, b=0.2, run=""):
    """Write :func:`halo_catalogue_of`'s result as the HDF5 file readers use (atomically)."""
    tmp = os.fspath(path) + ".tmp"
    ok = np.isfinite(cat["m200c"])
    order = np.argsort(-cat["m200c"][ok], kind="stable")
    with h5py.File(tmp, "w") as f:
        sel = {k: np.asarray(cat[k])[ok][order] for k in ("x", "y", "z", "m200c", "r200c", "m_fof", "n_fof")}
        for k in ("x", "y", "z", "m_fof", "n_fof"):
            f[k] = sel[k]
        f["mass"], f["r_vir"] = sel["m200c"], sel["r200c"]
        for k, u in (("x", "ckpc/h"), ("y", "ckpc/h"), ("z", "ckpc/h"), ("mass", "Msun/h (M200c)"),
                     ("r_vir", "ckpc/h (R200c, comoving)"), ("m_fof", "Msun/h")):
            f[k].attrs["units"] = u
        g = f.create_group("all_fof")
        for k in ("x", "y", "z", "m_fof", "n_fof", "m200c", "r200c"):
            g[k] = np.asarray(cat[k])
        f.attrs.update({"finder": "friends-of-friends on dark matter, then M200c over all particles",
                        "b": b, "linking_length_ckpc_h": float(cat["linking_length"]), "redshift": float(redshift),
                        "box_size_ckpc_h": float(box_size), "n_fof": int(len(cat["m_fof"])),
                        "n_m200c": int(ok.sum()), "run": run})
    os.replace(tmp, path)
    return os.fspath(path)
