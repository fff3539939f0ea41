# SPDX-License-Identifier: BSD-3-Clause
"""Read Gadget / GIZMO / AREPO HDF5 snapshots lazily, in ember_dist units.

A snapshot is one file (``snap_012.hdf5``) or several (``snap_012.0.hdf5`` ...
``snap_012.K.hdf5``, often inside ``snapdir_012/``).  Each file holds a
``Header`` group and one group per particle type: ``PartType0`` (gas) and
``PartType1`` (dark matter) are the ones ember_dist reads.

Units on output, whatever the file uses:

* lengths (``Coordinates``, ``SmoothingLength``, ``BoxSize``): ckpc/h;
* masses (``Masses`` or the header ``MassTable``): Msun/h;
* ``Density``: (Msun/h) / (ckpc/h)^3;
* ``NeutralHydrogenAbundance``, ``ElectronAbundance``: dimensionless, as stored.

The length unit comes, in this order, from the ``length_unit=`` argument, from
``UnitLength_in_cm`` in the ``Header``, ``Units`` or ``Parameters`` group, or
defaults to kpc/h (what GIZMO writes) with a warning.  The mass unit comes from
``UnitMass_in_g`` in the same groups, else the Gadget default 1e10 Msun/h.

Particle data are :class:`dask.array.Array` objects read in chunks of at most
``chunk_size`` rows from each file; nothing is read until computed.

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

import dataclasses
import os
import re
import warnings

import dask
import dask.array as da
import h5py
import numpy as np

from ember_dist.io.conventions import KPC_CM, MSUN_G

__all__ = [
    "KPC_CM",
    "MSUN_G",
    "SnapshotHeader",
    "Snapshot",
    "open_snapshot",
    "snapshot_files",
    "length_unit_factor",
    "SnapshotError",
]


_PTYPE_NAMES = {0: "PartType0", 1: "PartType1"}
_UNIT_GROUPS = ("Header", "Units", "Parameters")
_LENGTH_FIELDS = ("Coordinates", "SmoothingLength")


class SnapshotError(ValueError):
    """A snapshot file lacks a group, field or attribute ember_dist needs."""


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
        nfiles = int(_header_attr(f, first, "NumFilesPerSnapshot", default=1))
    files = [f"{stem}.{k}.{ext}" for k in range(nfiles)]
    missing = [p for p in files if not os.path.exists(p)]
    if missing:
        raise FileNotFoundError(
            f"Snapshot {stem!r} declares NumFilesPerSnapshot={nfiles} but {len(missing)} file(s) "
            f"are missing, first {missing[0]!r}; copy the whole snapshot."
        )
    return files


def _header_attr(f, path, name, default=dataclasses.MISSING):
    if "Header" not in f:
        raise SnapshotError(f"{path}: no 'Header' group; this is not a Gadget/GIZMO/AREPO HDF5 snapshot.")
    attrs = f["Header"].attrs
    if name in attrs:
        return attrs[name]
    if default is dataclasses.MISSING:
        raise SnapshotError(f"{path}: Header attribute {name!r} is missing; it is required to read the snapshot.")
    return default


def _unit_attr(f, name):
    for g in _UNIT_GROUPS:
        if g in f and name in f[g].attrs:
            return float(np.asarray(f[g].attrs[name]).ravel()[0])
    return None


def _scalar(v):
    return float(np.asarray(v).ravel()[0])


@dataclasses.dataclass(frozen=True)
class SnapshotHeader:
    """Header of a snapshot in ember_dist units.

    Attributes
    ----------
    box_size : float, ckpc/h
    redshift : float
    hubble : float
        h = H0 / (100 km/s/Mpc).
    omega_m, omega_l : float
    omega_b : float or None
        ``OmegaBaryon`` where the file has it.
    mass_table : tuple of float, Msun/h
        ``MassTable`` converted; 0 means masses are per particle.
    num_part_total : tuple of int
        Particles of each type over all files.
    num_files : int
    length_factor : float
        ckpc/h per file length unit.
    mass_factor : float
        Msun/h per file mass unit.
    """

    box_size: float
    redshift: float
    hubble: float
    omega_m: float
    omega_l: float
    omega_b: float | None
    mass_table: tuple
    num_part_total: tuple
    num_files: int
    length_factor: float
    mass_factor: float

    def cosmology_attrs(self):
        """Dataset attrs ``box_size, redshift, hubble, omega_m, omega_b, omega_l``."""
        return {
            "box_size": self.box_size,
            "redshift": self.redshift,
            "hubble": self.hubble,
            "omega_m": self.omega_m,
            "omega_b": float("nan") if self.omega_b is None else self.omega_b,
            "omega_l": self.omega_l,
        }


def _read_header(path, length_unit):
    with h5py.File(path, "r") as f:
        h = f["Header"].attrs if "Header" in f else None
        _header_attr(f, path, "BoxSize")
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
        nfiles = int(_scalar(h.get("NumFilesPerSnapshot", 1)))
        mt = np.zeros(6) if "MassTable" not in h else np.asarray(h["MassTable"], dtype=np.float64)
        if "NumPart_Total" in h:
            low = np.asarray(h["NumPart_Total"], dtype=np.uint64)
            high = np.asarray(h.get("NumPart_Total_HighWord", np.zeros_like(low)), dtype=np.uint64)
            ntot = tuple(int(a) + (int(b) << 32) for a, b in zip(low, high))
        else:
            ntot = None
        req = {}
        for name in ("Redshift", "HubbleParam", "Omega0", "OmegaLambda"):
            v = _unit_attr(f, name) if name not in h else _scalar(h[name])
            if v is None:
                raise SnapshotError(
                    f"{path}: attribute {name!r} is missing from the Header (and Parameters) group; "
                    "ember_dist needs it for the map attrs."
                )
            req[name] = v
        ob = _scalar(h["OmegaBaryon"]) if "OmegaBaryon" in h else _unit_attr(f, "OmegaBaryon")
        return dict(
            box_size=_scalar(h["BoxSize"]) * lf,
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
        )


def _read_rows(path, dset, start, stop, scale):
    with h5py.File(path, "r") as f:
        out = np.asarray(f[dset][start:stop], dtype=np.float64)
    if scale != 1.0:
        out *= scale
    return out


class Snapshot:
    """A Gadget/GIZMO/AREPO HDF5 snapshot opened for lazy reading.

    Use :func:`open_snapshot` to make one.

    Attributes
    ----------
    path : str
        The path as given.
    files : list of str
        The HDF5 files, in order.
    header : SnapshotHeader
    chunk_size : int
        Rows per dask chunk (at most; chunks never span files).
    """

    def __init__(self, path, files, header, counts, chunk_size):
        self.path = os.fspath(path)
        self.files = list(files)
        self.header = header
        self._counts = counts  # {ptype: [rows per file]}
        self.chunk_size = int(chunk_size)

    def __repr__(self):
        n = {p: self.count(p) for p in (0, 1)}
        return (
            f"<Snapshot {self.path!r}: {len(self.files)} file(s), gas={n[0]}, dm={n[1]}, "
            f"box={self.header.box_size:g} ckpc/h, z={self.header.redshift:g}>"
        )

    def count(self, ptype):
        """Number of particles of type ``ptype`` (0 gas, 1 dark matter) in all files."""
        return int(sum(self._counts.get(ptype, [0])))

    def has(self, ptype, field=None):
        """Whether particles of ``ptype`` exist (and, if given, carry ``field`` in every file)."""
        if self.count(ptype) == 0:
            return False
        if field is None:
            return True
        return all(self._has_field(p, ptype, field) for p, n in zip(self.files, self._counts[ptype]) if n)

    @staticmethod
    def _has_field(path, ptype, field):
        with h5py.File(path, "r") as f:
            g = _PTYPE_NAMES.get(ptype, f"PartType{ptype}")
            return g in f and field in f[g]

    def _require(self, ptype):
        if self.count(ptype) == 0:
            g = _PTYPE_NAMES.get(ptype, f"PartType{ptype}")
            kind = {0: "gas", 1: "dark-matter"}.get(ptype, "")
            raise SnapshotError(
                f"{self.files[0]}: no {kind} particles (group {g!r}, NumPart_ThisFile[{ptype}] = 0 in "
                f"all {len(self.files)} file(s)); pick fields that the snapshot holds."
            )

    def _lazy(self, ptype, field, scale, ncols):
        self._require(ptype)
        group = _PTYPE_NAMES.get(ptype, f"PartType{ptype}")
        blocks = []
        for path, n in zip(self.files, self._counts[ptype]):
            if n == 0:
                continue
            with h5py.File(path, "r") as f:
                if group not in f or field not in f[group]:
                    have = sorted(f[group].keys()) if group in f else []
                    raise SnapshotError(
                        f"{path}: dataset '{group}/{field}' is missing (the group has {have!r}); "
                        f"this snapshot cannot provide {field!r}."
                    )
                shape = f[group][field].shape
            if shape[0] != n or (ncols and shape[1:] != (ncols,)):
                raise SnapshotError(
                    f"{path}: '{group}/{field}' has shape {shape!r}, expected ({n}{', ' + str(ncols) if ncols else ''}) "
                    "from NumPart_ThisFile; the file is inconsistent."
                )
            for start in range(0, n, self.chunk_size):
                stop = min(n, start + self.chunk_size)
                d = dask.delayed(_read_rows, pure=True)(path, f"{group}/{field}", start, stop, scale)
                bshape = (stop - start,) + ((ncols,) if ncols else ())
                blocks.append(da.from_delayed(d, shape=bshape, dtype=np.float64))
        return da.concatenate(blocks, axis=0)

    def positions(self, ptype):
        """Particle coordinates, shape (N, 3), ckpc/h, wrapped into [0, box_size).

        Returns
        -------
        dask.array.Array of float64
        """
        box = self.header.box_size
        return da.mod(self._lazy(ptype, "Coordinates", self.header.length_factor, 3), box)

    def masses(self, ptype):
        """Particle masses, shape (N,), Msun/h (``Masses`` or the ``MassTable`` entry)."""
        self._require(ptype)
        mt = self.header.mass_table[ptype]
        if mt > 0 and not self.has(ptype, "Masses"):
            n = self.count(ptype)
            return da.full((n,), mt, dtype=np.float64, chunks=self._chunks(ptype))
        if not self.has(ptype, "Masses"):
            raise SnapshotError(
                f"{self.files[0]}: {_PTYPE_NAMES[ptype]} has no 'Masses' dataset and MassTable[{ptype}] = 0; "
                "the particle masses are undefined."
            )
        return self._lazy(ptype, "Masses", self.header.mass_factor, 0)

    def field(self, ptype, name):
        """Any per-particle scalar field, converted where ember_dist knows its unit.

        ``SmoothingLength`` -> ckpc/h, ``Density`` -> (Msun/h)/(ckpc/h)^3, others as stored.
        """
        if name == "Coordinates":
            return self.positions(ptype)
        if name == "Masses":
            return self.masses(ptype)
        scale = 1.0
        if name in _LENGTH_FIELDS:
            scale = self.header.length_factor
        elif name == "Density":
            scale = self.header.mass_factor / self.header.length_factor**3
        return self._lazy(ptype, name, scale, 0)

    def _chunks(self, ptype):
        out = []
        for n in self._counts[ptype]:
            out += [min(self.chunk_size, n - s) for s in range(0, n, self.chunk_size)]
        return (tuple(out),)


def open_snapshot(path, length_unit=None, chunk_size=1 << 20):
    """Open a Gadget/GIZMO/AREPO HDF5 snapshot (single or multi-file).

    Parameters
    ----------
    path : str or os.PathLike
        See :func:`snapshot_files` for the accepted forms.
    length_unit : {"kpc/h", "Mpc/h"}, float or None, default: None
        Overrides the file's length unit; None reads ``UnitLength_in_cm``.
    chunk_size : int, default: 1048576
        Rows per dask chunk.

    Returns
    -------
    Snapshot
    """
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size={chunk_size!r} must be a positive number of rows.")
    files = snapshot_files(path)
    hdr = _read_header(files[0], length_unit)
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
    return Snapshot(path, files, SnapshotHeader(**hdr), counts, chunk_size)
