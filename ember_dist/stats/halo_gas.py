# SPDX-License-Identifier: BSD-3-Clause
"""Gas and HI inside haloes: projected R200c apertures and the mean gas fraction per halo-mass bin.

A halo's aperture is the disc of radius R200c (comoving) around its centre on the map of the slab
that holds the centre, i.e. the cylinder of radius R200c through the whole slab depth
(:func:`ember_dist.stats.halos.halo_masses` sums the pixels whose centres fall inside).

R200c is the radius of a sphere of mean density 200 rho_crit(z) holding the halo mass M::

    R200c (comoving) = [3 M / (4 pi 200 rho_crit,0 E(z)^2)]^(1/3) (1 + z),
    E(z)^2 = Omega_m (1+z)^3 + Omega_k (1+z)^2 + Omega_L,  rho_crit,0 = 277.5366 (Msun/h)/(ckpc/h)^3.

The halo mass is the catalogue's (for the friends-of-friends catalogue: members x particle mass), so
the aperture assumes M200c ~ M_FoF.

Examples
--------
>>> round(float(r200c(1e12, 0.0, 0.3, 0.7)), 1)  # ckpc/h: a Milky-Way-like halo today
162.6
>>> round(float(r200c(1e12, 2.0, 0.3, 0.7) / r200c(1e12, 0.0, 0.3, 0.7)), 4)  # (1+z) / E(z)^(2/3)
1.4531
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from .fof import RHO_CRIT
from .halos import halo_masses

__all__ = ["r200c", "with_r200c", "halo_gas", "gas_fraction_bins"]


def r200c(mass, redshift, omega_m, omega_l):
    """Comoving R200c (ckpc/h) of haloes of ``mass`` (Msun/h) at ``redshift``; see the module docstring."""
    zp1 = 1.0 + float(redshift)
    e2 = omega_m * zp1**3 + (1.0 - omega_m - omega_l) * zp1**2 + omega_l
    r_phys = (3.0 * np.asarray(mass, np.float64) / (4.0 * np.pi * 200.0 * RHO_CRIT * e2)) ** (1.0 / 3.0)
    return r_phys * zp1


def with_r200c(catalogue, redshift, omega_m, omega_l):
    """The catalogue with ``r_vir`` replaced by R200c of its masses (the original kept as ``r_catalogue``)."""
    cat = catalogue.copy()
    cat["r_catalogue"] = cat["r_vir"]
    cat["r_vir"] = ("halo", r200c(cat["mass"].values, redshift, omega_m, omega_l),
                    {"units": "ckpc/h", "long_name": "R200c (comoving) of the halo mass"})
    cat.attrs["aperture"] = "R200c of the catalogue mass, projected through the slab"
    return cat


def halo_gas(maps, catalogue, fields, radius_factor=1.0, **params):
    """Mass of each field inside every halo's projected R200c aperture (lazy for Dask maps).

    Parameters
    ----------
    maps : xarray.Dataset
        Maps (Msun/h per pixel), dims ``(..., axis, slab, y, x)``, with the usual attrs.
    catalogue : xarray.Dataset
        Halo catalogue with ``x, y, z, mass`` (and ``r_vir``, replaced here by R200c).
    fields : sequence of str
    radius_factor : float, default 1.0
        Aperture radius in units of R200c.
    **params
        Overrides of the maps' attrs (``redshift``, ``omega_m``, ``omega_l``, ``box_size``, ...).

    Returns
    -------
    xarray.Dataset
        :func:`~ember_dist.stats.halos.halo_masses` output with ``mass_<field>`` on the maps'
        other leading dims (e.g. ``sample``) + ``axis``, ``halo``.
    """
    attrs = dict(maps.attrs, **params)
    cat = with_r200c(catalogue, attrs["redshift"], attrs["omega_m"], attrs["omega_l"])
    out = halo_masses(maps, cat, fields=list(fields), radius_factor=radius_factor, **params)
    pixel = float(out.attrs.get("pixel_size", attrs.get("pixel_size", np.nan)))
    out["aperture_below_pixel"] = ("halo", cat["r_vir"].values * radius_factor < 0.5 * pixel,
                                   {"long_name": "aperture radius below half a pixel: no pixel centre may fall inside"})
    return out


def gas_fraction_bins(halos, field="gas", edges=None, bins=6):
    """Mean of M_field(< R200c, projected) / M_halo in bins of halo mass.

    Parameters
    ----------
    halos : xarray.Dataset
        Output of :func:`halo_gas` (computed), with ``mass`` and ``mass_<field>``.
    field : str
    edges : array_like, Msun/h, optional
        Halo-mass bin edges (default: ``bins`` log-spaced bins over the catalogue's range).
    bins : int

    Returns
    -------
    xarray.Dataset
        On ``mass_bin``: ``m_lo``, ``m_hi``, ``n_haloes``; ``fraction`` (mean over the haloes in the bin
        and over projection axes) on the other leading dims (e.g. ``sample``) + ``mass_bin``.
    """
    m = halos["mass"].values
    if edges is None:
        lo, hi = (m.min(), m.max()) if m.size else (1.0, 10.0)
        edges = np.geomspace(lo, hi * (1 + 1e-9), int(bins) + 1)
    edges = np.asarray(edges, np.float64)
    idx = np.searchsorted(edges, m, side="right") - 1
    frac = halos[f"mass_{field}"] / halos["mass"]
    frac = frac.mean("axis") if "axis" in frac.dims else frac
    nb = edges.size - 1
    other = [d for d in frac.dims if d != "halo"]
    out = np.full(tuple(frac.sizes[d] for d in other) + (nb,), np.nan)
    counts = np.zeros(nb, np.int64)
    vals = frac.transpose(*other, "halo").values
    for i in range(nb):
        sel = idx == i
        counts[i] = sel.sum()
        if counts[i]:
            out[..., i] = vals[..., sel].mean(axis=-1)
    ds = xr.Dataset(coords={d: frac.coords[d] for d in other if d in frac.coords})
    ds = ds.assign_coords(mass_bin=np.arange(nb))
    ds["m_lo"] = ("mass_bin", edges[:-1], {"units": "Msun/h"})
    ds["m_hi"] = ("mass_bin", edges[1:], {"units": "Msun/h"})
    ds["n_haloes"] = ("mass_bin", counts, {"units": "1"})
    ds["fraction"] = (tuple(other) + ("mass_bin",), out,
                      {"units": "1", "long_name": f"mean M_{field}(<R200c, projected) / M_halo"})
    return ds
