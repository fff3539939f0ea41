# SPDX-License-Identifier: BSD-3-Clause
"""Halo-based analysis: projected mass inside virial discs, environment, binned quantiles.

A halo at comoving position (x, y, z) belongs, for projection axis ``a``, to slab
``floor(pos[a] / slab_depth)``; on that slab's map its disc is centred at the projected
position (rows follow axis ``(a + 2) % 3``, columns ``(a + 1) % 3``, as in
``ember_dist.deposit``). Discs are periodic: they wrap across the map edges.

Examples
--------
>>> import numpy as np
>>> cat = halo_catalogue(x=[50.0], y=[50.0], z=[5.0], r_vir=[10.0], mass=[1e12])
>>> m = np.ones((1, 1, 100, 100), "f4")  # (axis, slab, y, x), 1 Msun/h per 1 (ckpc/h)^2 pixel
>>> ds = halo_masses(m, cat, box_size=100.0, slab_depth=100.0, axes=("z",))
>>> int(ds["mass_map"].sel(axis="z", halo=0))  # pixels with centres inside r = 10
316
"""
from __future__ import annotations

import os

import numpy as np
import xarray as xr

from ._common import finalize, as_map, is_dask, lead_reduce

__all__ = ["halo_masses", "halo_catalogue", "read_halo_catalogue", "binned_quantiles",
           "projected_axes", "QUANTILES"]

#: Default quantiles (16th, 50th, 84th percentiles).
QUANTILES = (0.16, 0.5, 0.84)

_AXIS_INDEX = {"x": 0, "y": 1, "z": 2}
_ALIASES = {
    "x": ("x", "pos_x", "X"), "y": ("y", "pos_y", "Y"), "z": ("z", "pos_z", "Z"),
    "r_vir": ("r_vir", "rvir", "Rvir", "R_vir", "r200", "R200"),
    "mass": ("mass", "m_vir", "mvir", "Mvir", "M_vir", "m200", "M200", "Mass"),
}


def projected_axes(axis):
    """Indices ``(depth, map_y, map_x)`` of the coordinates for a projection along ``axis``.

    >>> projected_axes("z"), projected_axes("x")
    ((2, 1, 0), (0, 2, 1))
    """
    d = _AXIS_INDEX[axis]
    return d, (d + 2) % 3, (d + 1) % 3


def halo_catalogue(x, y, z, r_vir, mass, **extra):
    """A halo catalogue as an ``xarray.Dataset`` on dim ``halo``.

    Parameters
    ----------
    x, y, z : array_like, ckpc/h
        Comoving positions.
    r_vir : array_like, ckpc/h
        Comoving virial radii.
    mass : array_like, Msun/h
        Halo masses.
    **extra : array_like
        More per-halo columns, kept as they are.
    """
    cols = dict(x=x, y=y, z=z, r_vir=r_vir, mass=mass, **extra)
    units = dict(x="ckpc/h", y="ckpc/h", z="ckpc/h", r_vir="ckpc/h", mass="Msun/h")
    ds = xr.Dataset({k: ("halo", np.asarray(v, np.float64), {"units": units.get(k, "")})
                     for k, v in cols.items()})
    n = {v.size for v in ds.data_vars.values()}
    if len(n) != 1:
        raise ValueError(f"catalogue columns differ in length: {sorted(n)!r}; pass equal-length arrays")
    return ds.assign_coords(halo=np.arange(ds.sizes["halo"]))


def read_halo_catalogue(path, group=None):
    """Read a halo catalogue from CSV (header row) or HDF5 (one dataset per column).

    Columns (aliases accepted): ``x``, ``y``, ``z`` (ckpc/h), ``r_vir`` (``rvir``, ``Rvir``,
    ``R200``; ckpc/h), ``mass`` (``Mvir``, ``M200``...; Msun/h). HDF5 files may instead
    hold a ``pos`` (N, 3) dataset; ``group=`` picks a group inside the file.

    Returns
    -------
    xarray.Dataset
        See :func:`halo_catalogue`.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"halo catalogue {path!r} does not exist; pass the path of a CSV or HDF5 file")
    cols = {}
    if path.lower().endswith((".h5", ".hdf5", ".hdf")):
        import h5py

        with h5py.File(path, "r") as f:
            g = f[group] if group else f
            for k in g:
                if isinstance(g[k], h5py.Dataset):
                    cols[k] = g[k][...]
        if "pos" in cols and np.ndim(cols["pos"]) == 2:
            p = cols.pop("pos")
            cols.update(x=p[:, 0], y=p[:, 1], z=p[:, 2])
    else:
        arr = np.genfromtxt(path, delimiter=",", names=True, dtype=np.float64)
        cols = {k: np.atleast_1d(arr[k]) for k in arr.dtype.names}
    out = {}
    for key, names in _ALIASES.items():
        hit = [n for n in names if n in cols]
        if not hit:
            raise KeyError(
                f"halo catalogue {path!r} has no {key!r} column (accepted names {names!r}); "
                f"it has {sorted(cols)!r}"
            )
        out[key] = cols.pop(hit[0])
    return halo_catalogue(**out)


def _as_catalogue(cat):
    if isinstance(cat, xr.Dataset):
        return cat
    if isinstance(cat, (str, os.PathLike)):
        return read_halo_catalogue(cat)
    if isinstance(cat, dict):
        return halo_catalogue(**cat)
    raise TypeError(f"catalogue of type {type(cat).__name__} not understood; pass a path, dict or Dataset")


def _disc_block(b, y0, x0, cy, cx, r, ny, nx):
    """Sums of pixels of block ``b`` (offset y0, x0) whose centres lie within the discs.

    ``cy``, ``cx``, ``r`` in pixel units; periodic over an ny x nx map.
    """
    out = np.zeros(cy.size)
    by, bx = b.shape
    dyc = np.abs(((cy - (y0 + by / 2.0) + ny / 2.0) % ny) - ny / 2.0)
    dxc = np.abs(((cx - (x0 + bx / 2.0) + nx / 2.0) % nx) - nx / 2.0)
    cand = np.nonzero((dyc <= by / 2.0 + r) & (dxc <= bx / 2.0 + r))[0]
    yy = np.arange(by) + y0 + 0.5
    xx = np.arange(bx) + x0 + 0.5
    for h in cand:
        dy = ((yy - cy[h] + ny / 2.0) % ny) - ny / 2.0
        rows = np.nonzero(np.abs(dy) < r[h])[0]
        if rows.size == 0:
            continue
        dx = ((xx - cx[h] + nx / 2.0) % nx) - nx / 2.0
        cols = np.nonzero(np.abs(dx) < r[h])[0]
        if cols.size == 0:
            continue
        inside = dy[rows, None] ** 2 + dx[None, cols] ** 2 < r[h] ** 2
        out[h] = np.sum(b[np.ix_(rows, cols)][inside], dtype=np.float64)
    return out


def _disc_sums(a, cy, cx, r, ny, nx):
    """Lazy or eager disc sums for every map of ``a`` (..., y, x) -> (..., halo)."""
    if cy.size == 0:
        shape = a.shape[:-2] + (0,)
        if is_dask(a):
            import dask.array as da

            return da.zeros(shape)
        return np.zeros(shape)
    return lead_reduce(lambda b, y0, x0: _disc_block(b, y0, x0, cy, cx, r, ny, nx), a, (cy.size,), split=True)


def _environment(pos2d, box, radius):
    """Number of other haloes within ``radius`` (periodic, projected) of each halo."""
    from scipy.spatial import cKDTree

    if len(pos2d) == 0:
        return np.zeros(0, np.int64)
    tree = cKDTree(np.mod(pos2d, box), boxsize=box)
    return np.array([len(v) - 1 for v in tree.query_ball_point(np.mod(pos2d, box), radius)], np.int64)


def halo_masses(data, catalogue, *, fields=None, axes=None, radius_factor=1.0, env_radius=1000.0,
                min_mass=None, slab=None, dims=None, **params):
    """Projected mass inside each halo's virial disc, and the halo's environment.

    Parameters
    ----------
    data : ndarray, dask.array.Array, xarray.DataArray or xarray.Dataset
        Maps (Msun/h per pixel) with dims ``(..., axis, slab, y, x)``; ``axis``/``slab`` may
        be missing (then ``axes=`` gives the one projection, and ``slab=`` the slab index,
        or None to use every halo). A Dataset gives one output variable per field.
    catalogue : str, path, dict or xarray.Dataset
        Halo catalogue (see :func:`read_halo_catalogue`): ``x``, ``y``, ``z``, ``r_vir``
        (ckpc/h) and ``mass`` (Msun/h).
    fields : sequence of str, optional
        Dataset variables to use (default: all with ``y`` and ``x`` dims).
    axes : sequence of str, optional
        Labels of the ``axis`` dim (default its coordinate, else ``("x", "y", "z")``).
    radius_factor : float
        Disc radius in units of ``r_vir``.
    env_radius : float, ckpc/h
        Radius of the environment disc (1 Mpc/h by default).
    min_mass : float, Msun/h, optional
        Keep haloes at least this massive.
    slab : int, optional
        Slab index of maps without a ``slab`` dim.
    dims, **params
        See :func:`ember_dist.stats._common.as_map`; needs ``box_size`` (or ``pixel_size``)
        and ``slab_depth`` (ckpc/h) when there are slabs.

    Returns
    -------
    xarray.Dataset
        On ``halo``: the catalogue columns. On ``axis``, ``halo``: ``slab``, ``n_neighbours``
        and ``environment`` (haloes per (ckpc/h)^2 within ``env_radius``, the halo
        itself excluded). On the maps' other leading dims + ``axis``, ``halo``:
        ``mass_<field>`` (Msun/h). Lazy for Dask maps.
    """
    cat = _as_catalogue(catalogue)
    if min_mass is not None:
        cat = cat.isel(halo=np.nonzero(cat["mass"].values >= min_mass)[0])
    if isinstance(data, xr.Dataset):
        names = list(fields) if fields is not None else [k for k, v in data.data_vars.items()
                                                          if "y" in v.dims and "x" in v.dims]
        maps = [as_map(data, field=f, dims=dims, **params) for f in names]
    else:
        maps = [as_map(data, dims=dims, **params)]
        names = [fields[0] if fields else (maps[0].name if maps[0].name != "map" else "map")]
    mi = maps[0]
    box = mi.param("box_size", "halo_masses")
    n = mi.npix
    pix = box / n
    lead = list(mi.lead_dims)
    if "axis" in lead:
        if axes is None:
            axes = tuple(str(a) for a in mi.coords.get("axis", ("x", "y", "z")[: mi.lead_shape[lead.index("axis")]]))
    else:
        axes = tuple(axes) if axes is not None else ("z",)
        if len(axes) != 1:
            raise ValueError(f"maps without an 'axis' dim need one projection, got axes={axes!r}; pass axes=('z',)")
    has_slab = "slab" in lead
    depth = mi.param("slab_depth", "halo_masses") if (has_slab or slab is not None) else None
    pos = np.stack([cat["x"].values, cat["y"].values, cat["z"].values], axis=-1)
    rads = cat["r_vir"].values * radius_factor / pix
    if np.any(2 * rads >= n):
        raise ValueError(f"a disc of radius {rads.max() * pix!r} ckpc/h covers the whole map; lower radius_factor")
    nh = pos.shape[0]
    slab_idx = np.zeros((len(axes), nh), np.int64)
    nbr = np.zeros((len(axes), nh), np.int64)
    for ia, ax in enumerate(axes):
        d, iy, ix = projected_axes(ax)
        slab_idx[ia] = np.floor(np.mod(pos[:, d], box) / depth).astype(np.int64) if depth else 0
        for s in np.unique(slab_idx[ia]):
            sel = slab_idx[ia] == s
            nbr[ia, sel] = _environment(pos[sel][:, [iy, ix]], box, env_radius)
    ds = cat.copy()
    ds = ds.assign_coords(axis=("axis", np.asarray(axes)))
    ds["slab"] = (("axis", "halo"), slab_idx, {"long_name": "slab holding the halo centre"})
    ds["n_neighbours"] = (("axis", "halo"), nbr, {"units": "1", "long_name": f"other haloes within {env_radius} ckpc/h"})
    ds["environment"] = (("axis", "halo"), nbr / (np.pi * env_radius**2),
                         {"units": "(ckpc/h)^-2", "long_name": f"haloes per area within {env_radius} ckpc/h"})
    for name, m in zip(names, maps):
        ds[f"mass_{name}"] = _field_masses(m, axes, slab_idx, slab, pos, rads, pix, n)
        ds[f"mass_{name}"].attrs = {"units": "Msun/h", "long_name": f"{name} mass within {radius_factor} r_vir (projected)"}
    ds.attrs.update({k: float(v) for k, v in mi.attrs.items()})
    ds.attrs.update(radius_factor=float(radius_factor), env_radius=float(env_radius))
    return finalize(ds)


def _field_masses(m, axes, slab_idx, slab, pos, rads, pix, n):
    """DataArray (other lead dims..., axis, halo) of disc masses for one field."""
    a = m.data
    lead = list(m.lead_dims)
    nh = pos.shape[0]
    other = [d for d in lead if d not in ("axis", "slab")]
    per_axis = []
    for ia, ax in enumerate(axes):
        _, iy, ix = projected_axes(ax)
        cy, cx = np.mod(pos[:, iy], n * pix) / pix, np.mod(pos[:, ix], n * pix) / pix
        sub = a
        if "axis" in lead:
            sub = np.take(sub, ia, axis=lead.index("axis")) if not is_dask(sub) else sub[(slice(None),) * lead.index("axis") + (ia,)]
        sub_lead = [d for d in lead if d != "axis"]
        if "slab" in sub_lead:
            k = sub_lead.index("slab")
            parts, order = [], []
            for s in np.unique(slab_idx[ia]):
                sel = np.nonzero(slab_idx[ia] == s)[0]
                if s >= sub.shape[k]:
                    raise ValueError(f"haloes fall in slab {s} but the maps have {sub.shape[k]} slabs; check slab_depth")
                ms = sub[(slice(None),) * k + (int(s),)]
                parts.append(_disc_sums(ms, cy[sel], cx[sel], rads[sel], n, n))
                order.append(sel)
            order = np.concatenate(order) if order else np.zeros(0, int)
            if is_dask(a):
                import dask.array as da

                cat_ = da.concatenate(parts, axis=-1) if parts else da.zeros(sub.shape[:k] + (0,))
            else:
                cat_ = np.concatenate(parts, axis=-1) if parts else np.zeros(sub.shape[:k] + (0,))
            inv = np.empty(nh, int)
            inv[order] = np.arange(nh)
            res = cat_[..., inv]
        else:
            sel = np.arange(nh) if slab is None else np.nonzero(slab_idx[ia] == slab)[0]
            full = _disc_sums(sub, cy[sel], cx[sel], rads[sel], n, n)
            if sel.size == nh:
                res = full
            else:
                res = _scatter(full, sel, nh)
        per_axis.append(res)
    if is_dask(a):
        import dask.array as da

        stacked = da.stack(per_axis, axis=-2)
    else:
        stacked = np.stack(per_axis, axis=-2)
    coords = {d: m.coords[d] for d in other if d in m.coords}
    return xr.DataArray(stacked, dims=tuple(other) + ("axis", "halo"), coords=coords)


def _scatter(vals, sel, nh):
    """Place per-selected-halo values into a length-nh last axis, NaN elsewhere."""
    if is_dask(vals):
        import dask.array as da

        pad = da.full(vals.shape[:-1] + (1,), np.nan)
        idx = np.full(nh, vals.shape[-1])
        idx[sel] = np.arange(sel.size)
        return da.concatenate([vals, pad], axis=-1)[..., idx]
    out = np.full(vals.shape[:-1] + (nh,), np.nan)
    out[..., sel] = vals
    return out


def binned_quantiles(x, y, bins, q=QUANTILES, log=True):
    """Quantiles of ``y`` in bins of ``x`` (e.g. disc mass against halo mass).

    Parameters
    ----------
    x, y : array_like
        Same shape; NaNs in ``y`` are ignored.
    bins : int or array_like
        Number of (log-spaced if ``log``) bins over the range of ``x``, or edges.
    q : sequence of float
        Quantiles in [0, 1].
    log : bool
        Log-spaced automatic bins.

    Returns
    -------
    xarray.Dataset
        ``x_lo``, ``x_hi``, ``x`` (median x), ``count`` on ``bin``; ``y`` on
        ``quantile``, ``bin`` (NaN for empty bins).

    Examples
    --------
    >>> ds = binned_quantiles([1, 2, 3, 4], [1.0, 2.0, 3.0, 4.0], bins=[0, 2.5, 5])
    >>> ds["y"].sel(quantile=0.5).values.tolist(), ds["count"].values.tolist()
    ([1.5, 3.5], [2, 2])
    """
    x = np.asarray(x, np.float64).ravel()
    y = np.asarray(y, np.float64).ravel()
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if np.ndim(bins) == 0:
        lo, hi = (x.min(), x.max()) if x.size else (1.0, 10.0)
        edges = np.geomspace(lo, hi * (1 + 1e-12), int(bins) + 1) if log else np.linspace(lo, hi, int(bins) + 1)
    else:
        edges = np.asarray(bins, np.float64)
    idx = np.searchsorted(edges, x, side="right") - 1
    nb = edges.size - 1
    out = np.full((len(q), nb), np.nan)
    xm = np.full(nb, np.nan)
    cnt = np.zeros(nb, np.int64)
    for i in range(nb):
        s = idx == i
        cnt[i] = s.sum()
        if cnt[i]:
            out[:, i] = np.quantile(y[s], q)
            xm[i] = np.median(x[s])
    return xr.Dataset(
        {"x_lo": ("bin", edges[:-1]), "x_hi": ("bin", edges[1:]), "x": ("bin", xm),
         "count": ("bin", cnt), "y": (("quantile", "bin"), out)},
        coords={"quantile": np.asarray(q, np.float64), "bin": np.arange(nb)},
    )
