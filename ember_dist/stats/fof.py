# SPDX-License-Identifier: BSD-3-Clause
"""A small periodic friends-of-friends halo finder (for the mock suite and tests).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> blob = rng.normal(0, 2.0, size=(50, 3)) + 500.0  # one clump in a sparse box
>>> pos = np.vstack([blob, rng.uniform(0, 1000, size=(200, 3))])
>>> cat = friends_of_friends(pos, 1000.0, 1e8, linking_length=5.0, min_members=20)
>>> cat.sizes["halo"], bool(abs(float(cat["x"][0]) - 500) < 2)
(1, True)
"""
from __future__ import annotations

import numpy as np

from ember_dist.io.conventions import RHO_CRIT

from .halos import halo_catalogue

__all__ = ["friends_of_friends", "RHO_CRIT"]



def friends_of_friends(pos, box_size, particle_mass, *, linking_length=None, b=0.2, min_members=20,
                       omega_m=0.3089, delta=200.0):
    """Periodic FoF groups as a halo catalogue.

    Parameters
    ----------
    pos : array_like, shape (n, 3), ckpc/h
        Comoving particle positions.
    box_size : float, ckpc/h
    particle_mass : float, Msun/h
    linking_length : float, ckpc/h, optional
        Default ``b`` times the mean interparticle separation.
    b : float
    min_members : int
        Smallest group kept.
    omega_m : float
        Matter density parameter (for the radius).
    delta : float
        Overdensity relative to the mean matter density defining ``r_vir``.

    Returns
    -------
    xarray.Dataset
        :func:`ember_dist.stats.halos.halo_catalogue` with ``x``, ``y``, ``z`` (periodic
        centre of mass, ckpc/h), ``mass`` (members x particle_mass, Msun/h), ``r_vir``
        (comoving radius of a sphere of ``delta`` times the mean matter density holding
        ``mass``, ckpc/h) and ``n_members``, sorted by decreasing mass.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    pos = np.mod(np.asarray(pos, np.float64), box_size)
    n = pos.shape[0]
    if linking_length is None:
        linking_length = b * box_size / n ** (1.0 / 3.0)
    pairs = cKDTree(pos, boxsize=box_size).query_pairs(linking_length, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    ngroups, labels = connected_components(graph, directed=False)
    sizes = np.bincount(labels, minlength=ngroups)
    keep = np.nonzero(sizes >= min_members)[0]
    keep = keep[np.argsort(-sizes[keep], kind="stable")]
    centres = np.zeros((keep.size, 3))
    for j, g in enumerate(keep):
        p = pos[labels == g]
        ref = p[0]
        d = (p - ref + box_size / 2) % box_size - box_size / 2  # unwrap around one member
        centres[j] = np.mod(ref + d.mean(axis=0), box_size)
    mass = sizes[keep] * float(particle_mass)
    r = (3 * mass / (4 * np.pi * delta * omega_m * RHO_CRIT)) ** (1.0 / 3.0)
    return halo_catalogue(x=centres[:, 0], y=centres[:, 1], z=centres[:, 2], r_vir=r, mass=mass,
                          n_members=sizes[keep])
