# SPDX-License-Identifier: BSD-3-Clause
"""Input map formats: ``.npy``, HDF5 datasets, zarr/xarray stores.

One small class per format, each implementing the :class:`MapSource`
contract; :func:`ember_dist.io.api.open_maps` picks the first whose
``guess_can_open`` accepts the input.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ember_dist.io.common import MapSource, _Expand
from ember_dist.errors import in_command, spell, spell_or
from ember_dist.io.conventions import AXES

__all__ = ["NpySource", "Hdf5Source", "ZarrSource", "SOURCES"]


def _leading(ndim, path):
    if ndim == 2:
        return False, False
    if ndim == 3:
        return False, True
    if ndim == 4:
        return True, True
    raise ValueError(
        f"{path}: expected a 2D map (y, x), a stack (slab, y, x) or (axis, slab, y, x); got {ndim} dimensions. "
        "Reshape the array to one of these layouts."
    )


def _shape4(shape, has_axis, has_slab):
    it = iter(shape[:-2])
    return tuple(next(it) if h else 1 for h in (has_axis, has_slab)) + tuple(shape[-2:])


def _snapshot_message(path):
    """The error for a particle snapshot given where maps are expected: deposit it first."""
    if in_command():
        fix = (f"run `ember-dist deposit {path} --out maps.zarr --pixel 3.66` first (pixel size in ckpc/h), then "
               "enrich maps.zarr")
    else:
        fix = (f"deposit it first, e.g. ember_dist.deposit_snapshot({path!r}, 'maps.zarr', pixel=3.66) "
               "(pixel size in ckpc/h), then enrich 'maps.zarr'")
    return f"{path} is a particle snapshot (it has a Header and PartType groups), not dark-matter maps; {fix}."


class NpySource(MapSource):
    """A ``.npy`` file, memory-mapped in each reader."""

    kind = "npy"

    def __init__(self, path, attrs=None):
        self.path = str(path)
        m = np.load(self.path, mmap_mode="r")
        self.has = _leading(m.ndim, self.path)
        super().__init__(_shape4(m.shape, *self.has), AXES[:_shape4(m.shape, *self.has)[0]], attrs or {},
                         f"npy:{Path(self.path).resolve()}")

    @classmethod
    def guess_can_open(cls, obj):
        return isinstance(obj, (str, Path)) and str(obj).endswith(".npy") and Path(obj).is_file()

    def _open(self):
        return _Expand(np.load(self.path, mmap_mode="r"), *self.has)


class Hdf5Source(MapSource):
    """One dataset of an HDF5 file: ``"maps.h5:dm"`` or ``"maps.h5"`` with ``dataset=``."""

    kind = "hdf5"

    def __init__(self, path, dataset=None, attrs=None):
        import h5py

        path = str(path)
        if dataset is None and (".h5:" in path or ".hdf5:" in path):
            path, dataset = path.rsplit(":", 1)
        self.path = path
        with h5py.File(path, "r") as f:
            if dataset is None and ("Header" in f or any(k.startswith("PartType") for k in f)):
                raise ValueError(_snapshot_message(path))
            if dataset is None:
                names = [k for k in f if isinstance(f[k], h5py.Dataset)]
                if "dm" in names:
                    dataset = "dm"
                elif len(names) == 1:
                    dataset = names[0]
                else:
                    by_name = spell("dataset")
                    raise ValueError(
                        f"{path}: cannot tell which dataset holds the dark-matter maps (found {names!r}). "
                        f"Pass {by_name + ' or ' if by_name else ''}'{path}:<dataset>'."
                    )
            if dataset not in f:
                raise ValueError(f"{path}: no dataset {dataset!r}. Available: {list(f)!r}.")
            d = f[dataset]
            self.dataset = dataset
            self.has = _leading(d.ndim, path)
            shape = _shape4(d.shape, *self.has)
            file_attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in {**f.attrs, **d.attrs}.items()}
        super().__init__(shape, AXES[:shape[0]], {**file_attrs, **(attrs or {})},
                         f"hdf5:{Path(path).resolve()}:{dataset}")

    @classmethod
    def guess_can_open(cls, obj):
        if not isinstance(obj, (str, Path)):
            return False
        p = str(obj).rsplit(":", 1)[0] if (".h5:" in str(obj) or ".hdf5:" in str(obj)) else str(obj)
        return p.endswith((".h5", ".hdf5")) and Path(p).is_file()

    def _open(self):
        import h5py

        return _Expand(h5py.File(self.path, "r")[self.dataset], *self.has)


class ZarrSource(MapSource):
    """A variable of a zarr store written by xarray (``dm`` by default)."""

    kind = "zarr"

    def __init__(self, path, variable=None, attrs=None):
        import xarray as xr

        self.path = str(path)
        with warnings.catch_warnings():  # stores written without consolidated metadata are fine
            warnings.simplefilter("ignore", RuntimeWarning)
            ds = xr.open_zarr(self.path, chunks=None)
        if variable is None:
            cands = [v for v in ("dm", "dmo", "dmh") if v in ds.data_vars] or list(ds.data_vars)
            if len(cands) != 1 and "dm" not in ds.data_vars:
                raise ValueError(
                    f"{self.path}: cannot tell which variable holds the dark-matter maps (found "
                    f"{list(ds.data_vars)!r}). Pass {spell_or('variable', Ellipsis, 'variable=...')}."
                )
            variable = cands[0]
        if variable not in ds.data_vars:
            raise ValueError(f"{self.path}: no variable {variable!r}. Available: {list(ds.data_vars)!r}.")
        da = ds[variable]
        dims = da.dims
        if dims[-2:] != ("y", "x") or not set(dims[:-2]) <= {"axis", "slab"} or len(dims) > 4:
            raise ValueError(
                f"{self.path}:{variable} has dims {dims!r}; expected (axis, slab, y, x) with axis/slab optional. "
                "Transpose it with DataArray.transpose('axis', 'slab', 'y', 'x')."
            )
        self.variable = variable
        self.has = ("axis" in dims, "slab" in dims)
        shape = _shape4(da.shape, *self.has)
        axes = tuple(str(a) for a in da["axis"].values) if "axis" in da.coords else AXES[:shape[0]]
        merged = {**ds.attrs, **(attrs or {})}
        if "pixel_size" not in merged and "x" in da.coords and da.sizes["x"] > 1:
            merged["pixel_size"] = float(da["x"].values[1] - da["x"].values[0])
        super().__init__(shape, axes, merged, f"zarr:{Path(self.path).resolve()}:{variable}")

    @classmethod
    def guess_can_open(cls, obj):
        if not isinstance(obj, (str, Path)):
            return False
        p = Path(obj)
        return p.is_dir() and ((p / "zarr.json").exists() or (p / ".zgroup").exists())

    def _open(self):
        import zarr

        return _Expand(zarr.open_array(store=self.path, path=self.variable, mode="r"), *self.has)


SOURCES = [NpySource, Hdf5Source, ZarrSource]
