# SPDX-License-Identifier: BSD-3-Clause
"""What every particle-snapshot format shares: the header record and the lazy HDF5 reader.

Gadget/GIZMO/AREPO (:mod:`ember_dist.io.gadget`) and SWIFT (:mod:`ember_dist.io.swift`)
snapshots are HDF5 files with one ``PartTypeN`` group per particle type and a ``Header``
group holding ``NumPart_ThisFile``.  A format module reads the header into a
:class:`SnapshotHeader` (lengths ckpc/h, masses Msun/h, with the factors that convert the
file's units) and names the datasets it spells differently; :class:`Snapshot` then reads
rows lazily, in chunks, and converts them.  :func:`ember_dist.io.snapshot.open_snapshot`
picks the format.
"""
from __future__ import annotations

import dataclasses
import os

import dask
import dask.array as da
import h5py
import numpy as np

__all__ = ["SnapshotError", "SnapshotHeader", "Snapshot"]


_PTYPE_NAMES = {0: "PartType0", 1: "PartType1"}
_LENGTH_FIELDS = ("Coordinates", "SmoothingLength")


class SnapshotError(ValueError):
    """A snapshot file lacks a group, field or attribute ember_dist needs."""


def header_attr(f, path, name, default=dataclasses.MISSING):
    if "Header" not in f:
        raise SnapshotError(f"{path}: no 'Header' group; this is not a Gadget/GIZMO/AREPO or SWIFT HDF5 snapshot.")
    attrs = f["Header"].attrs
    if name in attrs:
        return attrs[name]
    if default is dataclasses.MISSING:
        raise SnapshotError(f"{path}: Header attribute {name!r} is missing; it is required to read the snapshot.")
    return default


def scalar_attr(v):
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
    format : str
        The file format: ``"gadget"`` (Gadget/GIZMO/AREPO) or ``"swift"``.
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
    format: str = "gadget"

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


def _read_rows(path, dset, start, stop, scale):
    with h5py.File(path, "r") as f:
        out = np.asarray(f[dset][start:stop], dtype=np.float64)
    if scale != 1.0:
        out *= scale
    return out


class Snapshot:
    """An HDF5 particle snapshot (Gadget/GIZMO/AREPO or SWIFT layout) opened for lazy reading.

    Use :func:`ember_dist.io.snapshot.open_snapshot` to make one; the format modules
    (:mod:`~ember_dist.io.gadget`, :mod:`~ember_dist.io.swift`) provide the header (with the
    unit factors) and the names of the datasets that differ from Gadget's.

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

    def __init__(self, path, files, header, counts, chunk_size, names=None):
        self.path = os.fspath(path)
        self.files = list(files)
        self.header = header
        self._counts = counts  # {ptype: [rows per file]}
        self.chunk_size = int(chunk_size)
        self._names = dict(names or {})  # ember_dist field name -> the format's dataset name

    def _dataset(self, field):
        return self._names.get(field, field)

    def __repr__(self):
        n = {p: self.count(p) for p in (0, 1)}
        return (
            f"<Snapshot {self.path!r} ({self.header.format}): {len(self.files)} file(s), gas={n[0]}, dm={n[1]}, "
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
        return all(self._has_field(p, ptype, self._dataset(field)) for p, n in zip(self.files, self._counts[ptype]) if n)

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
        field = self._dataset(field)
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
