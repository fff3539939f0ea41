# SPDX-License-Identifier: BSD-3-Clause
"""Shared conventions of every ember_dist store: dimension order, units and attrs.

Every map in ember_dist is an ``xarray`` variable holding the *mass per pixel*
(Msun/h, float32) with dimensions in the order ``(sample, axis, slab, y, x)``
(``sample`` only where realisations exist).  Coordinates ``x`` and ``y`` are
pixel centres in ckpc/h.  Datasets carry the cosmology and geometry attrs listed
in :data:`DATASET_ATTRS`.

Examples
--------
>>> pixel_centres(4, 10.0)
array([1.25, 3.75, 6.25, 8.75])
>>> missing_attrs({"box_size": 1.0})[:2]
['redshift', 'hubble']
"""
from __future__ import annotations

import datetime as _dt

import numpy as np

__all__ = [
    "DIMS",
    "MAP_DIMS",
    "DATASET_ATTRS",
    "FIELD_LONG_NAMES",
    "AXES",
    "pixel_centres",
    "missing_attrs",
    "utc_now",
    "map_coords",
    "KPC_CM",
    "MSUN_G",
    "M_H_G",
    "M_P_G",
    "K_B_CGS",
    "C_KMS",
    "X_H",
    "RHO_CRIT",
    "GADGET_UNITS",
    "LYA_SIGMA_V",
    "DM_ATTRS",
]

#: Dimension order of an enriched store.
DIMS = ("sample", "axis", "slab", "y", "x")
#: Dimension order of a deposited (input or truth) map store.
MAP_DIMS = ("axis", "slab", "y", "x")
#: Projection axes, in order.
AXES = ("x", "y", "z")

#: Attributes every Dataset carries, with their units.
DATASET_ATTRS = {
    "box_size": "ckpc/h",
    "redshift": "",
    "hubble": "",  # h = H0 / (100 km/s/Mpc)
    "omega_m": "",
    "omega_b": "",
    "omega_l": "",
    "pixel_size": "ckpc/h",
    "slab_depth": "ckpc/h",
}

#: What a dark-matter map store says about its dark matter (written by ``deposit_snapshot``, kept by
#: ``open_maps``): ``dm_mass_fraction`` = total dark-matter particle mass / (omega_m * RHO_CRIT *
#: box_size^3), ~1 - omega_b/omega_m for a hydro run, ~1 for a dark-matter-only run; ``dm_source`` =
#: ``"hydro"`` or ``"dark-matter-only"``; ``dm_particle_mass`` = mass of one deposited dark-matter particle
#: (Msun/h, after any downsampling).  Not every store has them (``.npy``, older deposits).
DM_ATTRS = ("dm_mass_fraction", "dm_source", "dm_particle_mass")

FIELD_LONG_NAMES = {
    "dm": "dark-matter mass per pixel",
    "dmo": "dark-matter-only run mass per pixel",
    "dmh": "dark matter of the hydrodynamical run, mass per pixel",
    "gas": "total gas mass per pixel",
    "hi": "neutral hydrogen (HI) mass per pixel",
}

# Physical constants: the one definition every module imports (tests/io/test_conventions.py checks
# them against astropy and colossus, two independent libraries).
#: One kiloparsec in cm (IAU 2012 au and parsec definition).
KPC_CM = 3.0856775814913673e21
#: One solar mass in g (IAU 2015 nominal solar mass parameter / CODATA 2018 G).
MSUN_G = 1.98841e33
#: Hydrogen atom mass, g.
M_H_G = 1.6735575e-24
#: Proton mass, g (CODATA 2018).
M_P_G = 1.67262192369e-24
#: Boltzmann constant, erg/K (exact, SI 2019).
K_B_CGS = 1.380649e-16
#: Speed of light, km/s (exact).
C_KMS = 299792.458
#: Primordial hydrogen mass fraction (BBN with Planck: Y_p = 0.24).
X_H = 0.76
#: Critical density today, (Msun/h) / (ckpc/h)^3: 3 H0^2 / (8 pi G) with H0 = 100 h km/s/Mpc,
#: i.e. 2.775e11 h^2 Msun / Mpc^3 (an earlier copy said 27.75 here: ten times too small).
RHO_CRIT = 277.536627
#: Lyman-alpha absorption cross-section integrated over velocity, pi e^2 f lambda / (m_e c), in
#: cm^2 km/s (f = 0.4164, lambda = 1215.67 Angstrom): tau(v) = LYA_SIGMA_V * N_HI * phi(v), phi in s/km.
LYA_SIGMA_V = 1.3434725e-12
#: Gadget's internal units as ember_dist writes and runs them: kpc/h, 1e10 Msun/h, km/s (cgs values).
GADGET_UNITS = {
    "UnitLength_in_cm": KPC_CM,
    "UnitMass_in_g": 1.0e10 * MSUN_G,
    "UnitVelocity_in_cm_per_s": 1.0e5,
}

#: Planck 2015 cosmology used by the EMBER paper (FIRE boxes); h = 0.6774.
PLANCK15 = {"hubble": 0.6774, "omega_m": 0.3089, "omega_b": 0.0486, "omega_l": 0.6911}


def pixel_centres(n, box_size):
    """Pixel-centre coordinates of an ``n``-pixel side of length ``box_size``.

    Parameters
    ----------
    n : int
        Number of pixels.
    box_size : float, ckpc/h
        Side length.

    Returns
    -------
    ndarray, ckpc/h
    """
    dx = float(box_size) / n
    return (np.arange(n) + 0.5) * dx


def missing_attrs(attrs):
    """Names of the :data:`DATASET_ATTRS` missing from ``attrs``, in order."""
    return [k for k in DATASET_ATTRS if k not in attrs]


def utc_now():
    """Current UTC time as an ISO 8601 string (seconds precision)."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def map_coords(ny, nx, pixel_size, axes=None, nslab=None):
    """Coordinates dict for a map store (``x``, ``y`` pixel centres in ckpc/h).

    Parameters
    ----------
    ny, nx : int
        Map shape in pixels.
    pixel_size : float, ckpc/h
    axes : sequence of str, optional
        Projection axes labels (``"x"``, ``"y"``, ``"z"``).
    nslab : int, optional
        Number of slabs.
    """
    coords = {
        "y": ("y", pixel_centres(ny, ny * pixel_size), {"units": "ckpc/h", "long_name": "pixel centre"}),
        "x": ("x", pixel_centres(nx, nx * pixel_size), {"units": "ckpc/h", "long_name": "pixel centre"}),
    }
    if axes is not None:
        coords["axis"] = ("axis", np.asarray(list(axes), dtype=object), {"long_name": "projection direction"})
    if nslab is not None:
        coords["slab"] = ("slab", np.arange(nslab), {"long_name": "slab index along the projection axis"})
    return coords
