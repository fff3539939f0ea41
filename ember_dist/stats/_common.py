# SPDX-License-Identifier: BSD-3-Clause
"""Argument coercion shared by every statistic: maps, parameters, block reductions.

Every public statistic accepts a 2D map or a stack of maps as a NumPy array, a
Dask array, an ``xarray.DataArray`` or an ``xarray.Dataset`` (with ``field=``).
:func:`as_map` turns any of these into a :class:`MapInput`: the raw array with
``y``, ``x`` last, the names and coordinates of the leading dimensions, and the
geometry/cosmology attrs merged from the input and the keywords (keywords win).

Private helpers (``_``-prefixed) assume coerced input.

Examples
--------
>>> import numpy as np
>>> m = as_map(np.ones((2, 4, 4), "f4"), box_size=100.0)
>>> m.dims, m.lead_shape, m.param("pixel_size")
(('slab', 'y', 'x'), (2,), 25.0)
>>> as_map(np.ones(4))
Traceback (most recent call last):
...
ValueError: a map needs at least 2 dimensions (y, x), got shape (4,); pass a 2D map or a stack with y, x last
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ember_dist.errors import option, spell_or
from ember_dist.io.store import check_complete

__all__ = ["MapInput", "as_map", "is_dask", "lead_reduce", "finalize", "PARAM_UNITS", "DIMS"]

#: Dimension order of an ember_dist store.
DIMS = ("sample", "axis", "slab", "y", "x")

#: Parameters a statistic may need, with their units.
PARAM_UNITS = {
    "box_size": "ckpc/h",
    "redshift": "",
    "hubble": "",
    "omega_m": "",
    "omega_b": "",
    "omega_l": "",
    "pixel_size": "ckpc/h",
    "slab_depth": "ckpc/h",
}


def is_dask(a):
    """True if ``a`` is a Dask array."""
    return type(a).__module__.startswith("dask.")


@dataclass
class MapInput:
    """A coerced map or stack of maps.

    Attributes
    ----------
    data : ndarray or dask.array.Array
        Mass per pixel (Msun/h), ``y`` and ``x`` the last two axes.
    dims : tuple of str
        Dimension names, ending with ``("y", "x")``.
    coords : dict
        Coordinates of the leading dimensions (name -> 1D array).
    attrs : dict
        Geometry and cosmology parameters (see :data:`PARAM_UNITS`).
    name : str
        Field name, if known.
    """

    data: object
    dims: tuple
    coords: dict = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)
    name: str = "map"

    @property
    def lead_dims(self):
        """Names of the dimensions before ``y``, ``x``."""
        return self.dims[:-2]

    @property
    def lead_shape(self):
        """Shape of the dimensions before ``y``, ``x``."""
        return tuple(self.data.shape[:-2])

    @property
    def npix(self):
        """Pixels per side (maps are square)."""
        return int(self.data.shape[-1])

    @property
    def lazy(self):
        """True when the data is a Dask array."""
        return is_dask(self.data)

    def param(self, name, needed_by="this statistic"):
        """A geometry/cosmology parameter as a float, or an error naming the fix.

        ``box_size`` and ``pixel_size`` are derived from each other when only one is given.
        """
        a = self.attrs
        if name in a and a[name] is not None:
            return float(a[name])
        if name == "pixel_size" and a.get("box_size") is not None:
            return float(a["box_size"]) / self.npix
        if name == "box_size" and a.get("pixel_size") is not None:
            return float(a["pixel_size"]) * self.npix
        unit = PARAM_UNITS.get(name, "")
        unit = f" (in {unit})" if unit else ""
        raise ValueError(
            f"{needed_by} needs {name!r}{unit} but the input carries no such attr; "
            f"pass {spell_or(name, Ellipsis, name + '=...')} or an xarray input whose attrs hold {name!r}"
        )

    def lead_coords(self):
        """Coordinates dict for the leading dimensions (for building outputs)."""
        out = {}
        for d, n in zip(self.lead_dims, self.lead_shape):
            if d in self.coords:
                out[d] = (d, np.asarray(self.coords[d]))
        return out


def as_map(data, dims=None, field=None, square=True, **params):
    """Coerce a map or stack into a :class:`MapInput`.

    Parameters
    ----------
    data : array_like, dask.array.Array, xarray.DataArray or xarray.Dataset
        Mass per pixel, Msun/h. NumPy and Dask inputs have ``y``, ``x`` last.
    dims : sequence of str, optional
        Dimension names of a NumPy/Dask input; default: the last ``ndim`` of
        ``("sample", "axis", "slab", "y", "x")``.
    field : str, optional
        Variable to take from a Dataset (default: its only data variable).
    square : bool
        Require a square map (default True).
    **params
        ``box_size`` (ckpc/h), ``redshift``, ``hubble``, ``omega_m``, ``omega_b``,
        ``omega_l``, ``pixel_size`` (ckpc/h), ``slab_depth`` (ckpc/h). ``None`` values
        are ignored; given values override attrs.

    Returns
    -------
    MapInput
    """
    unknown = set(params) - set(PARAM_UNITS)
    if unknown:
        raise TypeError(
            f"unknown parameter(s) {sorted(unknown)!r}; known ones are {sorted(PARAM_UNITS)!r}"
        )
    attrs, coords, name = {}, {}, "map"
    mod = type(data).__module__
    if mod.startswith("xarray"):
        import xarray as xr

        if isinstance(data, xr.Dataset):
            if field is None:
                names = list(data.data_vars)
                if len(names) != 1:
                    raise ValueError(
                        f"the Dataset holds variables {names!r}; pass {option('field', 'field=')} to "
                        "pick one"
                    )
                field = names[0]
            if field not in data:
                raise KeyError(
                    f"field {field!r} is not in the Dataset (it has {list(data.data_vars)!r}); "
                    f"pass {option('field', 'field=')} with one of those"
                )
            check_complete(data.attrs, "the Dataset")  # unwritten tiles read as NaN
            attrs.update({k: v for k, v in data.attrs.items() if k in PARAM_UNITS})
            data = data[field]
        if "y" not in data.dims or "x" not in data.dims:
            raise ValueError(
                f"an xarray map needs dims 'y' and 'x', got {data.dims!r}; "
                "rename them with .rename(...)"
            )
        check_complete(data.attrs, f"variable {data.name!r}")
        lead = [d for d in data.dims if d not in ("y", "x")]
        data = data.transpose(*lead, "y", "x")
        attrs.update({k: v for k, v in data.attrs.items() if k in PARAM_UNITS})
        coords = {d: data[d].values for d in lead if d in data.coords}
        name = str(data.name) if data.name is not None else "map"
        dims = tuple(data.dims)
        data = data.data
    else:
        if not is_dask(data):
            data = np.asarray(data)
        if data.ndim < 2:
            raise ValueError(
                f"a map needs at least 2 dimensions (y, x), got shape {data.shape!r}; "
                "pass a 2D map or a stack with y, x last"
            )
        if dims is None:
            if data.ndim > len(DIMS):
                raise ValueError(
                    f"cannot name {data.ndim} dimensions; pass dims= (e.g. {DIMS!r})"
                )
            dims = DIMS[-data.ndim:]
        dims = tuple(dims)
        if len(dims) != data.ndim or dims[-2:] != ("y", "x"):
            raise ValueError(
                f"dims={dims!r} must name all {data.ndim} axes and end with ('y', 'x')"
            )
    attrs.update({k: v for k, v in params.items() if v is not None})
    if square and data.shape[-1] != data.shape[-2]:
        raise ValueError(
            f"maps must be square, got {data.shape[-2]} x {data.shape[-1]} pixels; "
            "crop or pad the map to N x N"
        )
    return MapInput(data=data, dims=dims, coords=coords, attrs=attrs, name=name)


def lead_reduce(func, arrays, out_shape, dtype=np.float64, split=False):
    """Apply a per-block partial-sum function and sum the partials per leading index.

    ``func(*blocks, y0, x0)`` gets the 2D blocks (one per array, same position) and the
    block's global offset, and returns an array of ``out_shape`` values (the block's
    contribution); partials are summed over all blocks of each map. Works on NumPy
    (one block per map) and Dask (lazy tree reduction; each task holds one block).

    Parameters
    ----------
    func : callable
    arrays : ndarray or dask.array.Array, or a list of them with equal shapes and chunks
    out_shape : tuple of int
    dtype : dtype of the partial sums
    split : bool
        In-memory path only: feed ``func`` row strips of ~4 M pixels instead of whole maps
        (bounds the temporaries of additive per-pixel statistics).

    Returns
    -------
    ndarray or dask.array.Array
        Shape ``arrays[0].shape[:-2] + out_shape``.
    """
    if not isinstance(arrays, (list, tuple)):
        arrays = [arrays]
    a = arrays[0]
    nout = int(np.prod(out_shape))
    if not is_dask(a):
        lead = a.shape[:-2]
        flats = [x.reshape((-1,) + x.shape[-2:]) for x in arrays]
        res = np.zeros((flats[0].shape[0], nout), dtype)
        ny = a.shape[-2]
        step = max(1, (1 << 22) // max(1, a.shape[-1])) if split else ny
        for i in range(flats[0].shape[0]):
            for y0 in range(0, ny, step):
                res[i] += np.asarray(func(*[f[i][y0:y0 + step] for f in flats], y0, 0)).reshape(nout)
        return res.reshape(lead + tuple(out_shape))
    import dask.array as da

    ystarts = np.concatenate([[0], np.cumsum(a.chunks[-2])]).astype(int)
    xstarts = np.concatenate([[0], np.cumsum(a.chunks[-1])]).astype(int)
    nd = a.ndim

    def _block(*bs, block_id=None):
        y0, x0 = int(ystarts[block_id[nd - 2]]), int(xstarts[block_id[nd - 1]])
        lead = bs[0].shape[:-2]
        flats = [b.reshape((-1,) + b.shape[-2:]) for b in bs]
        out = np.zeros((flats[0].shape[0], nout), dtype)
        for i in range(flats[0].shape[0]):
            out[i] = np.asarray(func(*[f[i] for f in flats], y0, x0)).reshape(nout)
        return out.reshape(lead + (1, 1, nout))

    chunks = a.chunks[:-2] + ((1,) * len(a.chunks[-2]), (1,) * len(a.chunks[-1]), (nout,))
    parts = da.map_blocks(_block, *arrays, dtype=dtype, chunks=chunks, new_axis=[nd])
    s = parts.sum(axis=(-3, -2), dtype=dtype)
    return s.reshape(a.shape[:-2] + tuple(out_shape))


def finalize(ds):
    """Give every Dask-backed variable of ``ds`` its own final task; returns ``ds``.

    Works around a dask 2026.x graph-finalisation problem: when one output of a
    ``compute`` call is also a dependency of another output (e.g. ``counts`` and
    ``pdf = counts / n``), the local scheduler reports "Missing dependency" and
    distributed cancels the result ("lost dependencies"). A cheap copy task per output
    keeps every output a leaf of the graph.
    """
    for k in list(ds.variables):
        v = ds.variables[k]
        if is_dask(v.data) and k not in ds.dims:
            ds[k] = v.copy(data=v.data.map_blocks(np.array, dtype=v.dtype))
    return ds
