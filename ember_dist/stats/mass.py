# SPDX-License-Identifier: BSD-3-Clause
"""Total mass of each map, accumulated in float64.

Examples
--------
>>> import numpy as np
>>> ds = total_mass(np.full((2, 4, 4), 0.5, "f4"))
>>> ds["mass"].values.tolist(), ds["mass"].attrs["units"]
([8.0, 8.0], 'Msun/h')
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from ._common import finalize, as_map, lead_reduce

__all__ = ["total_mass"]


def _block_sum(b, y0, x0):
    return np.array([np.sum(b, dtype=np.float64)])


def total_mass(data, *, field=None, dims=None, **params):
    """Total mass of each map of a stack.

    Parameters
    ----------
    data : ndarray, dask.array.Array, xarray.DataArray or xarray.Dataset
        Mass per pixel (Msun/h), ``(..., y, x)``.
    field, dims, **params
        See :func:`ember_dist.stats._common.as_map`.

    Returns
    -------
    xarray.Dataset
        ``mass`` (Msun/h) on the leading dims; lazy for Dask inputs.

    Notes
    -----
    Sums run in float64 per block and over blocks: a float32 running sum over 5e7
    pixels can be off by ~10%.
    """
    mi = as_map(data, dims=dims, field=field, square=False, **params)
    s = lead_reduce(_block_sum, mi.data, (1,), split=True)[..., 0]
    ds = xr.Dataset(coords=mi.lead_coords())
    ds["mass"] = (mi.lead_dims, s, {"units": "Msun/h", "long_name": f"total {mi.name} mass"})
    ds.attrs.update({k: float(v) for k, v in mi.attrs.items()})
    return finalize(ds)
