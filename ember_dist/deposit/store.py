# SPDX-License-Identifier: BSD-3-Clause
"""The zarr store of deposited maps: a metadata-only template, then one write per slab.

The store is an xarray Dataset with one float32 variable per field, dims
``(axis, slab, y, x)`` (``conventions.MAP_DIMS``), chunks of one slab map
(split in 1024-pixel blocks for large maps).  :func:`create_template` writes
only metadata; :func:`write_slab` writes one ``(axis, slab)`` map of one field
in place, so each slab lands on disk as soon as it is computed.  A finished
deposit sets the attr ``complete = True`` and consolidates the metadata.
"""
from __future__ import annotations

import os
import shutil
import warnings

import dask.array as da
import numpy as np
import xarray as xr
import zarr

from ember_dist.io.conventions import FIELD_LONG_NAMES, MAP_DIMS, map_coords
from ember_dist.io.zarr_meta import consolidate_quietly

__all__ = ["check_target", "create_template", "write_slab", "mark_complete", "is_complete"]


def check_target(out, overwrite):
    """Refuse an existing store unless ``overwrite``; the check runs before any work."""
    out = os.fspath(out)
    if os.path.exists(out):
        if not overwrite:
            raise FileExistsError(
                f"{out!r} already exists; pass overwrite=True (CLI: --overwrite) to replace it, or pick another --out."
            )
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"The parent folder of out={out!r} does not exist; create {parent!r} first.")


def create_template(out, fields, axes, nslab, n, pixel_size, attrs, overwrite=False):
    """Write the metadata-only store and return it as a lazy Dataset.

    Parameters
    ----------
    out : str
    fields : sequence of str
    axes : sequence of str
    nslab, n : int
    pixel_size : float, ckpc/h
    attrs : dict
        Dataset attrs.
    """
    if overwrite and os.path.exists(out):
        shutil.rmtree(out) if os.path.isdir(out) else os.remove(out)
    c = min(n, 1024)
    shape = (len(axes), nslab, n, n)
    data_vars = {}
    for f in fields:
        data_vars[f] = (
            MAP_DIMS,
            da.zeros(shape, dtype=np.float32, chunks=(1, 1, c, c)),
            {"units": "Msun/h", "long_name": FIELD_LONG_NAMES.get(f, f)},
        )
    ds = xr.Dataset(data_vars, coords=map_coords(n, n, pixel_size, axes=axes, nslab=nslab), attrs=attrs)
    enc = {f: {"chunks": (1, 1, c, c)} for f in fields}
    with warnings.catch_warnings():
        # the "axis" coordinate is a fixed-width string (conventions.map_coords), which zarr 3 flags as unstable
        warnings.filterwarnings("ignore", message=".*does not have a Zarr V3 specification.*")
        ds.to_zarr(out, mode="w", compute=False, encoding=enc, consolidated=False)
    return ds


def write_slab(out, field, axis_index, slab, data):
    """Write one map (float64 in, float32 stored) at ``[axis_index, slab]``; returns the float64 sum."""
    arr = zarr.open_array(os.path.join(out, field), mode="r+")
    arr[axis_index, slab, :, :] = np.asarray(data, dtype=np.float32)
    return float(np.sum(data, dtype=np.float64))


def is_complete(out):
    """True when a deposit store exists and says ``complete`` (set last, so a partial store never does)."""
    try:
        return bool(zarr.open_group(str(out), mode="r").attrs.get("complete"))
    except Exception:  # noqa: BLE001 - missing or unreadable: not complete
        return False


def mark_complete(out, **extra):
    """Set ``complete = True`` (and any ``extra`` attrs) on the store, then consolidate its metadata."""
    g = zarr.open_group(out, mode="r+")
    g.attrs.update(dict(extra, complete=True))
    consolidate_quietly(out)  # xarray.open_zarr(out) then opens it without a consolidated-metadata warning
