# SPDX-License-Identifier: BSD-3-Clause
"""SWIFT snapshots: the header and its units, read through ``swiftsimio``.

SWIFT (Schaller et al. 2024) writes HDF5 snapshots with the Gadget group layout
(``PartType0``, ``PartType1``, ...) but its own unit system: a ``Units`` group
(``Unit length in cgs (U_L)``, ``Unit mass in cgs (U_M)``, typically Mpc and 1e10 Msun)
with no factors of h, comoving coordinates, and the cosmology in a ``Cosmology`` group.
``swiftsimio`` reads that metadata; this module turns it into ember_dist units:

* lengths: file unit -> kpc (swiftsimio's unit) x h -> ckpc/h;
* masses: file unit -> g / ``MSUN_G`` x h -> Msun/h;
* ``SmoothingLength`` is SWIFT's ``SmoothingLengths`` (SWIFT's kernel convention, converted
  to ckpc/h only), ``Density`` is ``Densities``.

A factor within 1e-5 of a power of ten is snapped to it (a Mpc written with a slightly
different parsec, 1e10 Msun with another solar mass), so a box of 1 Mpc stays 1000 h ckpc/h.
"""
from __future__ import annotations

import math

import numpy as np

from ember_dist.io.conventions import MSUN_G
from ember_dist.io.snapshot_base import SnapshotError

__all__ = ["NAME", "DATASET_NAMES", "can_open", "read_header"]

#: How errors and ``SnapshotHeader.format`` name this format.
NAME = "SWIFT HDF5 (through swiftsimio)"
#: ember_dist field name -> SWIFT dataset name.
DATASET_NAMES = {"SmoothingLength": "SmoothingLengths", "Density": "Densities"}
_UNITS_ATTR = "Unit length in cgs (U_L)"


def can_open(f):
    """Whether the open ``h5py.File`` ``f`` is a SWIFT snapshot (its ``Units`` group states ``U_L``)."""
    return "Units" in f and _UNITS_ATTR in f["Units"].attrs


def _snap(x):
    """``x`` snapped to the nearest power of ten when within 1e-5 of it."""
    p = 10.0 ** round(math.log10(x))
    return p if abs(x / p - 1.0) < 1e-5 else x


def _swiftsimio():
    try:
        import swiftsimio
    except ImportError as e:
        raise ImportError("reading SWIFT snapshots needs swiftsimio: pip install swiftsimio") from e
    return swiftsimio


def _cosmology(path, meta):
    raw = getattr(meta, "cosmology_raw", None) or {}
    if not int(np.asarray(raw.get("Cosmological run", [0])).ravel()[0]):
        raise SnapshotError(
            f"{path}: this SWIFT snapshot has no cosmology ('Cosmology' group with 'Cosmological run' = 1); "
            "ember_dist needs h, Omega_m and Omega_lambda of a cosmological box to convert to ckpc/h and Msun/h."
        )
    out = {}
    for key in ("h", "Omega_m", "Omega_lambda", "Omega_b"):
        if key not in raw:
            raise SnapshotError(f"{path}: the SWIFT 'Cosmology' group lacks {key!r}; ember_dist needs it for the map attrs.")
        out[key] = float(np.asarray(raw[key]).ravel()[0])
    return out


def read_header(path, length_unit=None):
    """Header of a SWIFT file as :class:`~ember_dist.io.snapshot_base.SnapshotHeader` keyword arguments.

    Parameters
    ----------
    path : str
        One file of the snapshot.
    length_unit : None
        SWIFT files state their units; any other value is refused.
    """
    if length_unit is not None:
        raise ValueError(
            f"length_unit={length_unit!r} applies to Gadget/GIZMO/AREPO files only; {path} is a SWIFT snapshot, "
            "whose units are read from its 'Units' group. Drop length_unit (--length-unit)."
        )
    meta = _swiftsimio().load(path).metadata
    cosmo = _cosmology(path, meta)
    h = cosmo["h"]
    lf = _snap(float((1.0 * meta.units.length).to_value("kpc"))) * h  # ckpc/h per file unit (comoving)
    mf = _snap(float((1.0 * meta.units.mass).to_value("g")) / MSUN_G) * h  # Msun/h per file unit
    box = np.asarray(meta.boxsize.to_comoving().to_value(meta.units.length), dtype=np.float64).ravel()
    if not np.allclose(box, box[0], rtol=1e-12):
        raise SnapshotError(f"{path}: the box is not cubic (BoxSize = {box.tolist()!r}); ember_dist needs a cubic box.")
    redshift = getattr(meta, "redshift", None)
    if redshift is None:
        redshift = 1.0 / float(meta.scale_factor) - 1.0
    nt = np.asarray(meta.num_part, dtype=np.int64)
    return dict(
        box_size=float(box[0]) * lf,
        redshift=float(redshift),
        hubble=h,
        omega_m=cosmo["Omega_m"],
        omega_l=cosmo["Omega_lambda"],
        omega_b=cosmo["Omega_b"],
        mass_table=(0.0,) * len(nt),  # SWIFT writes a Masses dataset for every particle type
        num_part_total=tuple(int(n) for n in nt),
        num_files=int(getattr(meta, "num_files_per_snapshot", 1) or 1),
        length_factor=lf,
        mass_factor=mf,
        format="swift",
    )
