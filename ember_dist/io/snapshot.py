# SPDX-License-Identifier: BSD-3-Clause
"""Read particle snapshots lazily, in ember_dist units: the one entry point, :func:`open_snapshot`.

Supported formats (one module each, listed in :data:`FORMATS`):

* Gadget-2/3, GIZMO and AREPO HDF5 (:mod:`ember_dist.io.gadget`);
* SWIFT HDF5, units and cosmology read through ``swiftsimio`` (:mod:`ember_dist.io.swift`).

A snapshot is one file (``snap_012.hdf5``) or several (``snap_012.0.hdf5`` ...
``snap_012.K.hdf5``, often inside ``snapdir_012/``).  Each file holds a
``Header`` group and one group per particle type: ``PartType0`` (gas) and
``PartType1`` (dark matter) are the ones ember_dist reads.

Units on output, whatever the file uses: lengths (``Coordinates``, ``SmoothingLength``,
``BoxSize``) in ckpc/h, masses in Msun/h, ``Density`` in (Msun/h) / (ckpc/h)^3; the format
modules say where each file states its units.

Particle data are :class:`dask.array.Array` objects read in chunks of at most
``chunk_size`` rows from each file; nothing is read until computed.

Examples
--------
>>> length_unit_factor("Mpc/h")
1000.0
>>> [f.NAME for f in FORMATS]
['Gadget/GIZMO/AREPO HDF5', 'SWIFT HDF5 (through swiftsimio)']
"""
from __future__ import annotations

import os
import re

import h5py
import numpy as np

from ember_dist.io import gadget, swift
from ember_dist.io.conventions import KPC_CM, MSUN_G
from ember_dist.io.gadget import length_unit_factor
from ember_dist.io.snapshot_base import (
    Snapshot,
    SnapshotError,
    SnapshotHeader,
    header_attr,
)

__all__ = [
    "KPC_CM",
    "MSUN_G",
    "FORMATS",
    "SnapshotHeader",
    "Snapshot",
    "open_snapshot",
    "snapshot_format",
    "snapshot_files",
    "length_unit_factor",
    "SnapshotError",
]

#: Format modules ember_dist reads, as error messages list them.
FORMATS = (gadget, swift)
_TRY_ORDER = (swift, gadget)  # SWIFT first: its files also carry a Gadget-like Header with BoxSize


def _unsupported(path, why):
    names = "; ".join(f.NAME for f in FORMATS)
    return SnapshotError(
        f"{path}: {why}. ember_dist reads particle snapshots in these formats: {names}. "
        "Convert other formats (e.g. Gadget binary format 1/2) to HDF5 first; 2D maps (.npy, HDF5, zarr) "
        "go to `ember-dist enrich` directly, without `deposit`."
    )


def snapshot_format(path):
    """The format module (:mod:`~ember_dist.io.gadget` or :mod:`~ember_dist.io.swift`) that reads ``path``.

    Raises
    ------
    SnapshotError
        ``path`` is not HDF5 or not a snapshot of a supported format; the message lists them.
    """
    path = os.fspath(path)
    if not h5py.is_hdf5(path):
        raise _unsupported(path, "not an HDF5 file")
    with h5py.File(path, "r") as f:
        for fmt in _TRY_ORDER:
            if fmt.can_open(f):
                return fmt
        why = "no 'Header' group" if "Header" not in f else "a 'Header' group without BoxSize and no SWIFT 'Units' group"
    raise _unsupported(path, why)


def snapshot_files(path):
    """List the HDF5 files of a snapshot, in file order.

    Parameters
    ----------
    path : str or os.PathLike
        One file (``snap_012.hdf5``), any file of a multi-file snapshot
        (``snap_012.3.hdf5``), the common stem (``snap_012``) or a directory
        holding exactly one snapshot (``snapdir_012/``).

    Returns
    -------
    list of str
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        cands = sorted(f for f in os.listdir(path) if f.endswith(".hdf5") or f.endswith(".h5"))
        stems = {re.sub(r"(\.\d+)?\.(hdf5|h5)$", "", f) for f in cands}
        if len(stems) != 1:
            raise FileNotFoundError(
                f"Directory {path!r} holds {len(stems)} snapshots ({sorted(stems)!r}); "
                "pass the path of one snapshot file instead."
            )
        return snapshot_files(os.path.join(path, cands[0]))
    m = re.match(r"^(.*?)(\.(\d+))?\.(hdf5|h5)$", path)
    if m is None and os.path.isfile(path):  # e.g. a Gadget binary file or a map
        snapshot_format(path)  # raises, listing the supported formats, unless the file is one
        return [path]
    if m is None:  # a stem
        for ext in ("hdf5", "h5"):
            if os.path.exists(f"{path}.{ext}"):
                return [f"{path}.{ext}"]
            if os.path.exists(f"{path}.0.{ext}"):
                return snapshot_files(f"{path}.0.{ext}")
        raise FileNotFoundError(
            f"No snapshot found at {path!r} (tried {path}.hdf5 and {path}.0.hdf5); "
            "pass the path of an existing snapshot file."
        )
    if not os.path.exists(path):
        raise FileNotFoundError(f"Snapshot file {path!r} does not exist; check the path.")
    stem, _, num, ext = m.groups()
    if num is None:
        return [path]
    first = f"{stem}.0.{ext}"
    with h5py.File(first if os.path.exists(first) else path, "r") as f:
        nfiles = int(header_attr(f, first, "NumFilesPerSnapshot", default=1))
    files = [f"{stem}.{k}.{ext}" for k in range(nfiles)]
    missing = [p for p in files if not os.path.exists(p)]
    if missing:
        raise FileNotFoundError(
            f"Snapshot {stem!r} declares NumFilesPerSnapshot={nfiles} but {len(missing)} file(s) "
            f"are missing, first {missing[0]!r}; copy the whole snapshot."
        )
    return files


def open_snapshot(path, length_unit=None, chunk_size=1 << 20):
    """Open a Gadget/GIZMO/AREPO or SWIFT HDF5 snapshot (single or multi-file).

    Parameters
    ----------
    path : str or os.PathLike
        See :func:`snapshot_files` for the accepted forms.
    length_unit : {"kpc/h", "Mpc/h"}, float or None, default: None
        Gadget/GIZMO/AREPO only: overrides the file's length unit; None reads
        ``UnitLength_in_cm``.  SWIFT files state their units and refuse an override.
    chunk_size : int, default: 1048576
        Rows per dask chunk.

    Returns
    -------
    Snapshot
    """
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size={chunk_size!r} must be a positive number of rows.")
    files = snapshot_files(path)
    fmt = snapshot_format(files[0])
    hdr = fmt.read_header(files[0], length_unit)
    counts = {0: [], 1: []}
    for p in files:
        with h5py.File(p, "r") as f:
            if "NumPart_ThisFile" in f["Header"].attrs:
                n = np.asarray(f["Header"].attrs["NumPart_ThisFile"], dtype=np.int64)
            else:
                raise SnapshotError(f"{p}: Header attribute 'NumPart_ThisFile' is missing; it is required.")
            for t in counts:
                counts[t].append(int(n[t]) if t < len(n) else 0)
    ntot = hdr["num_part_total"]
    if ntot is None:
        ntot = tuple(sum(counts.get(t, [0])) for t in range(6))
    for t in counts:
        if sum(counts[t]) != ntot[t]:
            raise SnapshotError(
                f"{files[0]}: NumPart_Total[{t}] = {ntot[t]} but the {len(files)} file(s) hold "
                f"{sum(counts[t])}; some files of the snapshot are missing or truncated."
            )
    hdr["num_part_total"] = tuple(int(x) for x in ntot)
    return Snapshot(path, files, SnapshotHeader(**hdr), counts, chunk_size, names=fmt.DATASET_NAMES)
