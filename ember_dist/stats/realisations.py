# SPDX-License-Identifier: BSD-3-Clause
"""Statistics over realisations: 16/50/84 quantiles and fractional errors against a truth.

Examples
--------
>>> import numpy as np, xarray as xr
>>> pred = xr.Dataset({"mass": ("sample", [0.9, 1.0, 1.1, 1.2, 1.3])})
>>> truth = xr.Dataset({"mass": ((), 1.0)})
>>> err = fractional_error(pred, truth)
>>> np.round(err["mass"].sel(quantile=0.5).item(), 6)
np.float64(0.1)
"""
from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

__all__ = ["realisation_quantiles", "fractional_error", "QUANTILES"]

#: Default quantiles (16th, 50th, 84th percentiles).
QUANTILES = (0.16, 0.5, 0.84)


def _select(ds, variables, dim=None):
    names = list(variables) if variables is not None else [
        k for k, v in ds.data_vars.items() if np.issubdtype(v.dtype, np.number)]
    missing = [k for k in names if k not in ds]
    if missing:
        raise KeyError(f"variables {missing!r} are not in the Dataset; it has {list(ds.data_vars)!r}")
    return names


def realisation_quantiles(ds, dim="sample", q=QUANTILES, variables=None):
    """Quantiles of every variable over the realisation dimension.

    Parameters
    ----------
    ds : xarray.Dataset
        A statistic computed on a stack with a ``sample`` dim (e.g. from
        :func:`ember_dist.stats.power_spectrum`).
    dim : str
        Realisation dimension.
    q : sequence of float
        Quantiles in [0, 1].
    variables : sequence of str, optional
        Default: every numeric variable. Variables without ``dim`` are copied.

    Returns
    -------
    xarray.Dataset
        ``dim`` replaced by ``quantile`` where present; units kept.
    """
    out = xr.Dataset(attrs=dict(ds.attrs))
    for k in _select(ds, variables):
        v = ds[k]
        if dim in v.dims:
            with warnings.catch_warnings():  # empty bins give all-NaN slices
                warnings.simplefilter("ignore", RuntimeWarning)
                r = v.astype(np.float64).quantile(list(q), dim=dim, skipna=True)
            r.attrs = dict(v.attrs)
            out[k] = r
        else:
            out[k] = v
    return out


def fractional_error(ds, truth, variables=None, dim="sample", q=QUANTILES):
    """Fractional error ``ds / truth - 1`` per variable, with quantiles over ``dim``.

    Parameters
    ----------
    ds : xarray.Dataset
        Statistic of the predictions (may carry ``dim``).
    truth : xarray.Dataset
        The same statistic of the truth maps (no ``dim``), on the same bins.
    variables : sequence of str, optional
        Default: the numeric variables present in both that depend on ``dim`` (or all
        shared ones when ``ds`` has no ``dim``).
    dim : str
    q : sequence of float
        Quantiles taken when ``dim`` is present.

    Returns
    -------
    xarray.Dataset
        Dimensionless fractional errors (units "1").
    """
    if variables is None:
        variables = [k for k, v in ds.data_vars.items()
                     if k in truth and np.issubdtype(v.dtype, np.number)
                     and (dim in v.dims or dim not in ds.dims)]
    out = xr.Dataset(attrs=dict(ds.attrs))
    for k in variables:
        if k not in truth:
            raise KeyError(f"variable {k!r} is not in the truth Dataset; compute the same statistic on the truth")
        with np.errstate(invalid="ignore", divide="ignore"):
            e = ds[k].astype(np.float64) / truth[k].astype(np.float64) - 1.0
        if dim in e.dims:
            with warnings.catch_warnings():  # empty bins give all-NaN slices
                warnings.simplefilter("ignore", RuntimeWarning)
                e = e.quantile(list(q), dim=dim, skipna=True)
        e.attrs = {"units": "1", "long_name": f"fractional error of {k}"}
        out[k] = e
    return out
