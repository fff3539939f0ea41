# SPDX-License-Identifier: BSD-3-Clause
"""Gadget-2/3, GIZMO and AREPO HDF5 snapshots: the header and its units.

Units on output, whatever the file uses:

* lengths (``Coordinates``, ``SmoothingLength``, ``BoxSize``): ckpc/h;
* masses (``Masses`` or the header ``MassTable``): Msun/h;
* ``Density``: (Msun/h) / (ckpc/h)^3;
* ``NeutralHydrogenAbundance``, ``ElectronAbundance``: dimensionless, as stored.

The length unit comes, in this order, from the ``length_unit=`` argument, from
``UnitLength_in_cm`` in the ``Header``, ``Units`` or ``Parameters`` group, or
defaults to kpc/h (what GIZMO writes) with a warning.  The mass unit comes from
``UnitMass_in_g`` in the same groups, else the Gadget default 1e10 Msun/h.

Examples
--------
>>> length_unit_factor("Mpc/h"), length_unit_factor("kpc/h")
(1000.0, 1.0)
>>> length_unit_factor("pc")
Traceback (most recent call last):
...
ValueError: length_unit='pc' is not understood; pass 'kpc/h', 'Mpc/h' or a number of ckpc/h per file unit (e.g. 1000.0 for Mpc/h).
"""
from __future__ import annotations

import warnings

import h5py
import numpy as np

from ember_dist.io.conventions import KPC_CM, MSUN_G
from ember_dist.io.snapshot_base import SnapshotError, header_attr, scalar_attr

__all__ = ["NAME", "DATASET_NAMES", "can_open", "read_header", "length_unit_factor"]

#: How errors and ``SnapshotHeader.format`` name this format.
NAME = "Gadget/GIZMO/AREPO HDF5"
#: Datasets spelled differently from ember_dist's field names: none (ember_dist uses Gadget's).
DATASET_NAMES = {}
_UNIT_GROUPS = ("Header", "Units", "Parameters")


def can_open(f):
    """Whether the open ``h5py.File`` ``f`` looks like a Gadget/GIZMO/AREPO snapshot (a Header with BoxSize)."""
    return "Header" in f and "BoxSize" in f["Header"].attrs


def length_unit_factor(unit):
    """Number of ckpc/h in one file length unit.

    Parameters
    ----------
    unit : {"kpc/h", "Mpc/h"} or float
        The file's length unit, or directly its size in ckpc/h.

    Returns
    -------
    float
        ckpc/h per file unit.
    """
    if isinstance(unit, (int, float, np.floating)) and not isinstance(unit, bool):
        if not unit > 0:
            raise ValueError(f"length_unit={unit!r} must be a positive number of ckpc/h per file unit.")
        return float(unit)
    key = str(unit).strip().lower().replace(" ", "")
    table = {"kpc/h": 1.0, "ckpc/h": 1.0, "kpc": 1.0, "mpc/h": 1000.0, "cmpc/h": 1000.0, "mpc": 1000.0}
    if key not in table:
        raise ValueError(
            f"length_unit={unit!r} is not understood; pass 'kpc/h', 'Mpc/h' or a number of "
            "ckpc/h per file unit (e.g. 1000.0 for Mpc/h)."
        )
    return table[key]


def _unit_from_cm(value_cm):
    """ckpc/h per unit from ``UnitLength_in_cm``, snapped to 1 or 1000 when within 1e-3."""
    factor = float(value_cm) / KPC_CM
    for snap in (1.0, 1000.0):
        if abs(factor / snap - 1.0) < 1e-3:
            return snap
    return factor


def _unit_attr(f, name):
    for g in _UNIT_GROUPS:
        if g in f and name in f[g].attrs:
            return float(np.asarray(f[g].attrs[name]).ravel()[0])
    return None


def read_header(path, length_unit=None):
    """Header of a Gadget/GIZMO/AREPO file as :class:`SnapshotHeader` keyword arguments (ckpc/h, Msun/h)."""
    with h5py.File(path, "r") as f:
        h = f["Header"].attrs if "Header" in f else None
        header_attr(f, path, "BoxSize")
        if length_unit is not None:
            lf = length_unit_factor(length_unit)
        else:
            cm = _unit_attr(f, "UnitLength_in_cm")
            if cm is None:
                warnings.warn(
                    f"{path}: no UnitLength_in_cm attribute; assuming lengths in kpc/h (GIZMO). "
                    "Pass length_unit='Mpc/h' if the file uses Mpc/h.",
                    stacklevel=3,
                )
                lf = 1.0
            else:
                lf = _unit_from_cm(cm)
        mg = _unit_attr(f, "UnitMass_in_g")
        mf = 1e10 if mg is None else mg / MSUN_G
        if abs(mf / 1e10 - 1.0) < 1e-3:  # codes differ in their Msun (1.989e33 g vs 1.98841e33 g)
            mf = 1e10
        nfiles = int(scalar_attr(h.get("NumFilesPerSnapshot", 1)))
        mt = np.zeros(6) if "MassTable" not in h else np.asarray(h["MassTable"], dtype=np.float64)
        if "NumPart_Total" in h:
            low = np.asarray(h["NumPart_Total"], dtype=np.uint64)
            high = np.asarray(h.get("NumPart_Total_HighWord", np.zeros_like(low)), dtype=np.uint64)
            ntot = tuple(int(a) + (int(b) << 32) for a, b in zip(low, high))
        else:
            ntot = None
        req = {}
        for name in ("Redshift", "HubbleParam", "Omega0", "OmegaLambda"):
            v = _unit_attr(f, name) if name not in h else scalar_attr(h[name])
            if v is None:
                raise SnapshotError(
                    f"{path}: attribute {name!r} is missing from the Header (and Parameters) group; "
                    "ember_dist needs it for the map attrs."
                )
            req[name] = v
        ob = scalar_attr(h["OmegaBaryon"]) if "OmegaBaryon" in h else _unit_attr(f, "OmegaBaryon")
        return dict(
            box_size=scalar_attr(h["BoxSize"]) * lf,
            redshift=req["Redshift"],
            hubble=req["HubbleParam"],
            omega_m=req["Omega0"],
            omega_l=req["OmegaLambda"],
            omega_b=ob,
            mass_table=tuple(float(m) * mf for m in mt),
            num_part_total=ntot,
            num_files=nfiles,
            length_factor=lf,
            mass_factor=mf,
            format="gadget",
        )
