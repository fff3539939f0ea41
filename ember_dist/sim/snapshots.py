# SPDX-License-Identifier: BSD-3-Clause
"""Hand a Gadget-2 snapshot on as the suite's snapshot: a whole copy with a complete header.

Gadget-2 writes ``NumPart_Total_HW`` (readers expect ``NumPart_Total_HighWord``), no unit
attributes and no ``OmegaBaryon``; the copy adds them (Gadget units from
:data:`ember_dist.io.conventions.GADGET_UNITS`), any post-processed gas fields, and an
``EmberSim`` group with the run's metadata.  The copy is written to ``dst.tmp`` and renamed, so
a file at ``dst`` is always whole.
"""
from __future__ import annotations

import json
import os
import shutil

import h5py
import numpy as np

from ember_dist.io.conventions import GADGET_UNITS

__all__ = ["finalize_snapshot"]


def finalize_snapshot(src, dst, *, omega_b, meta=None, gas_fields=None):
    """Copy ``src`` to ``dst`` with the header completed and ``gas_fields`` added to ``PartType0``.

    Parameters
    ----------
    src, dst : path
    omega_b : float
        Baryon density parameter (0 for a dark-matter-only run is not right: pass the cosmology's).
    meta : dict, optional
        JSON-serialisable metadata, stored as attributes of the ``EmberSim`` group (nested values as JSON).
    gas_fields : dict of ndarray, optional
        Extra ``PartType0`` datasets (e.g. ``NeutralHydrogenAbundance``), one value per gas particle.
    """
    tmp = os.fspath(dst) + ".tmp"
    shutil.copyfile(src, tmp)
    with h5py.File(tmp, "r+") as f:
        h = f["Header"]
        if "NumPart_Total_HighWord" not in h.attrs:
            h.attrs["NumPart_Total_HighWord"] = np.asarray(h.attrs.get("NumPart_Total_HW", np.zeros(6, np.uint32)))
        h.attrs["OmegaBaryon"] = float(omega_b)
        for k, v in GADGET_UNITS.items():
            h.attrs[k] = v
        for name, values in (gas_fields or {}).items():
            g = f["PartType0"]
            if name in g:
                del g[name]
            g[name] = np.asarray(values)
        g = f.require_group("EmberSim")
        for k, v in (meta or {}).items():
            g.attrs[k] = v if isinstance(v, (int, float, str, np.number)) else json.dumps(v)
    os.replace(tmp, dst)
    return os.fspath(dst)
