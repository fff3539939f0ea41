# SPDX-License-Identifier: BSD-3-Clause
"""``open_maps``: turn any supported input into a :class:`MapSource`.

Files (``.npy``, HDF5, zarr stores) are read in place by the workers.
In-memory inputs (NumPy arrays, dask arrays, ``xarray.DataArray``) are first
written to a zarr store under a staging directory (a dask array is written in
parallel by the cluster), so every worker reads the same bytes.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ember_dist.io.common import MapSource
from ember_dist.io.conventions import AXES, DATASET_ATTRS, DM_ATTRS, MAP_DIMS
from ember_dist.io.formats import SOURCES, ZarrSource

__all__ = ["open_maps", "as_dataarray"]


def as_dataarray(obj, pixel_size=None, name="dm"):
    """Wrap an array (2D, 3D or 4D) as a DataArray with dims from ``(axis, slab, y, x)``."""
    import xarray as xr

    if isinstance(obj, xr.Dataset):
        names = [v for v in ("dm", "dmo", "dmh") if v in obj.data_vars] or list(obj.data_vars)
        obj = obj[names[0]].assign_attrs({**obj.attrs, **obj[names[0]].attrs})
    if isinstance(obj, xr.DataArray):
        da = obj
        missing = [d for d in ("y", "x") if d not in da.dims]
        if missing or not set(da.dims) <= set(MAP_DIMS):
            raise ValueError(
                f"DataArray dims {da.dims!r} are not a subset of {MAP_DIMS!r} ending in (y, x). "
                "Rename or transpose them, e.g. da.rename({'dim_0': 'y', 'dim_1': 'x'})."
            )
        return da.transpose(*[d for d in MAP_DIMS if d in da.dims])
    ndim = getattr(obj, "ndim", None)
    if ndim not in (2, 3, 4):
        raise TypeError(
            f"cannot use {type(obj).__name__} as dark-matter maps; pass a path (.npy, .h5, .zarr), "
            "a NumPy/dask array of 2-4 dims (axis, slab, y, x) or an xarray.DataArray."
        )
    dims = MAP_DIMS[4 - ndim:]
    return xr.DataArray(obj, dims=dims, name=name, attrs={} if pixel_size is None else {"pixel_size": pixel_size})


def open_maps(obj, staging_dir=None, variable=None, dataset=None, pixel_size=None):
    """Open dark-matter maps as a :class:`MapSource`.

    Parameters
    ----------
    obj : str, Path, ndarray, dask array, xarray.DataArray, xarray.Dataset or MapSource
    staging_dir : Path, optional
        Where in-memory inputs are written as zarr (required for them).
    variable : str, optional
        Variable of a zarr store (default ``dm``).
    dataset : str, optional
        Dataset of an HDF5 file (default ``dm`` or the only dataset).
    pixel_size : float, ckpc/h, optional
        Overrides/sets the pixel size when the input does not record it.
    """
    attrs = {} if pixel_size is None else {"pixel_size": float(pixel_size)}
    if isinstance(obj, MapSource):
        if attrs:
            obj.attrs.update(attrs)
        return obj
    if isinstance(obj, (str, Path)):
        p = str(obj)
        for cls in SOURCES:
            if cls.guess_can_open(p):
                if cls is ZarrSource:
                    return cls(p, variable=variable, attrs=attrs)
                if cls.kind == "hdf5":
                    return cls(p, dataset=dataset, attrs=attrs)
                return cls(p, attrs=attrs)
        if not Path(p.rsplit(":", 1)[0] if ":" in p else p).exists():
            raise FileNotFoundError(f"input maps {p!r} do not exist. Check the path.")
        raise ValueError(
            f"cannot read {p!r}: supported inputs are .npy files, HDF5 files (.h5/.hdf5, optionally "
            "'file.h5:dataset'), zarr stores (directories with zarr.json) and in-memory arrays."
        )
    da = as_dataarray(obj, pixel_size=pixel_size)
    if staging_dir is None:
        raise ValueError("in-memory maps need a staging directory; pass staging_dir=...")
    import dask.array as dsa

    staging = Path(staging_dir) / "input.zarr"
    chunks = tuple(1 if d in ("axis", "slab") else min(n, 2048) for d, n in zip(da.dims, da.shape))
    data = da.data if isinstance(da.data, dsa.Array) else dsa.from_array(np.asarray(da.data), chunks=chunks)
    data = data.astype(np.float32).rechunk(chunks)
    staged = da.copy(data=data)
    staged.name = "dm"
    staged.attrs = dict(da.attrs)
    ds = staged.to_dataset()
    for d in ("y", "x"):
        ds[d].encoding.clear() if d in ds.coords else None
    ds.to_zarr(str(staging), mode="w", consolidated=False)
    # Geometry the array itself carries (a DataArray's attrs) counts as recorded; pixel_size= wins. So does what
    # its dark matter is (dm_mass_fraction, dm_source: enrich_box compares them with the model's).
    known = {k: v for k, v in da.attrs.items() if (k in DATASET_ATTRS or k in DM_ATTRS) and v is not None}
    src = ZarrSource(staging, variable="dm", attrs={**known, **attrs})
    src.description = f"memory:{type(obj).__name__}{tuple(da.shape)}"
    if "axis" not in da.coords:
        src.axes = AXES[:src.shape[0]]
    return src
