# SPDX-License-Identifier: BSD-3-Clause
"""Write particles as a Gadget/GIZMO-layout HDF5 snapshot (single or multi-file).

Used by the toy suite (:mod:`ember_dist.mock.suite`) and by tests.

Lengths are written in kpc/h (``UnitLength_in_cm = 3.0857e21``) and masses in
1e10 Msun/h (``UnitMass_in_g = 1e10 * 1.98841e33``) unless ``length_unit``
says ``"Mpc/h"``.  A particle type whose masses are all equal goes into the
header ``MassTable`` with no ``Masses`` dataset, as Gadget does.
"""
from __future__ import annotations

import os

import h5py
import numpy as np

from ember_dist.io.conventions import KPC_CM, MSUN_G
from ember_dist.io.snapshot import length_unit_factor

__all__ = ["write_gadget_snapshot"]

_LENGTH = ("Coordinates", "SmoothingLength")


def write_gadget_snapshot(
    stem, header, particles, n_files=1, length_unit="kpc/h", extra_attrs=None, mass_table_types=(1,)
):
    """Write a snapshot and return the path to pass to :func:`ember_dist.io.snapshot.open_snapshot`.

    Parameters
    ----------
    stem : str
        Path without extension, e.g. ``out/snap_000``; files are ``stem.hdf5``
        or ``stem.K.hdf5`` for ``n_files > 1``.
    header : dict
        ``box_size`` (ckpc/h), ``redshift``, ``hubble``, ``omega_m``, ``omega_l``, ``omega_b``.
    particles : dict
        ``{ptype: {"Coordinates": (N, 3) ckpc/h, "Masses": (N,) Msun/h, ...}}``;
        other fields are written as given (``Density`` in (Msun/h)/(ckpc/h)^3 is
        converted to file units).
    n_files : int, default: 1
    length_unit : {"kpc/h", "Mpc/h"}
    extra_attrs : dict, optional
        Attributes of an extra ``EmberMock`` group (provenance, the toy label).
    mass_table_types : sequence of int, default: (1,)
        Types whose equal masses go to ``MassTable`` instead of a ``Masses``
        dataset (GIZMO writes gas masses per particle even when equal).

    Returns
    -------
    str
        The first file.
    """
    lf = length_unit_factor(length_unit)
    mf = 1e10
    n_files = int(n_files)
    ntot = np.zeros(6, dtype=np.uint64)
    mass_table = np.zeros(6)
    for t, fields in particles.items():
        ntot[t] = len(fields["Coordinates"])
        m = np.asarray(fields["Masses"])
        if t in mass_table_types and m.size and np.all(m == m[0]):
            mass_table[t] = m[0] / mf
    os.makedirs(os.path.dirname(os.path.abspath(stem)), exist_ok=True)
    paths = [f"{stem}.hdf5"] if n_files == 1 else [f"{stem}.{k}.hdf5" for k in range(n_files)]
    splits = {t: np.array_split(np.arange(int(ntot[t])), n_files) for t in particles}
    a = 1.0 / (1.0 + header["redshift"])
    for k, path in enumerate(paths):
        with h5py.File(path, "w") as f:
            h = f.create_group("Header")
            this = np.zeros(6, dtype=np.int32)
            for t in particles:
                this[t] = len(splits[t][k])
            h.attrs["NumPart_ThisFile"] = this
            h.attrs["NumPart_Total"] = (ntot & 0xFFFFFFFF).astype(np.uint32)
            h.attrs["NumPart_Total_HighWord"] = (ntot >> np.uint64(32)).astype(np.uint32)
            h.attrs["MassTable"] = mass_table
            h.attrs["Time"] = a
            h.attrs["Redshift"] = float(header["redshift"])
            h.attrs["BoxSize"] = float(header["box_size"]) / lf
            h.attrs["NumFilesPerSnapshot"] = np.int32(n_files)
            h.attrs["Omega0"] = float(header["omega_m"])
            h.attrs["OmegaLambda"] = float(header["omega_l"])
            h.attrs["OmegaBaryon"] = float(header["omega_b"])
            h.attrs["HubbleParam"] = float(header["hubble"])
            h.attrs["Flag_Sfr"] = np.int32(0)
            h.attrs["Flag_Cooling"] = np.int32(0)
            h.attrs["Flag_Feedback"] = np.int32(0)
            h.attrs["Flag_StellarAge"] = np.int32(0)
            h.attrs["Flag_Metals"] = np.int32(0)
            h.attrs["Flag_DoublePrecision"] = np.int32(1)
            h.attrs["UnitLength_in_cm"] = KPC_CM * lf
            h.attrs["UnitMass_in_g"] = mf * MSUN_G
            h.attrs["UnitVelocity_in_cm_per_s"] = 1e5
            for t, fields in particles.items():
                idx = splits[t][k]
                g = f.create_group(f"PartType{t}")
                for name, arr in fields.items():
                    arr = np.asarray(arr)[idx]
                    if name == "Masses":
                        if mass_table[t] > 0:
                            continue
                        arr = arr / mf
                    elif name in _LENGTH:
                        arr = arr / lf
                    elif name == "Density":
                        arr = arr / (mf / lf**3)
                    g.create_dataset(name, data=arr)
            if extra_attrs:
                e = f.create_group("EmberMock")
                for key, val in extra_attrs.items():
                    e.attrs[key] = val
    return paths[0]
