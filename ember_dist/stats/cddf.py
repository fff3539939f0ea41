# SPDX-License-Identifier: BSD-3-Clause
"""HI column density distribution function f(N_HI) of projected HI maps.

Every pixel of every slab is one sightline of length ``slab_depth``.

Examples
--------
>>> round(absorption_distance(1500.0, 2.0), 9)  # 1.5 Mpc/h at z = 2
0.004503115
>>> f"{column_density_per_mass(3.6621, 2.0, 0.6774 ):.5e}"  # cm^-2 per Msun/h per pixel
'5.67272e+13'
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from ember_dist.io.conventions import C_KMS, KPC_CM, M_H_G, MSUN_G

from ._common import finalize, as_map, lead_reduce
from .pdf import histogram_block, log_edges

__all__ = ["cddf", "absorption_distance", "column_density_per_mass",
           "C_KMS", "KPC_CM", "MSUN_G", "M_H_G"]



def absorption_distance(depth, redshift):
    """Absorption distance dX = (H0 / c) (1 + z)^2 dL of a sightline of comoving length dL.

    From X(z) = int (1 + z)^2 H0 / H(z) dz (Bahcall & Peebles 1969) and dL = c dz / H(z) (comoving):
    dX = (H0 / c) (1 + z)^2 dL = (H0 / c) (1 + z)^3 dl_proper.  H(z) cancels, so over a slab thin
    against the Hubble scale the cosmology enters only through h, which cancels too when dL is in
    ckpc/h and H0 = 100 h km/s/Mpc: dX = 100 / c[km/s] (1 + z)^2 dL[cMpc/h].

    Parameters
    ----------
    depth : float, ckpc/h
        Comoving length dL of the sightline (the slab depth).
    redshift : float

    Returns
    -------
    float
        dX (dimensionless; h-free when dL is in comoving length/h).
    """
    return 100.0 / C_KMS * (1.0 + redshift) ** 2 * depth / 1000.0


def column_density_per_mass(pixel_size, redshift, hubble):
    """HI column density (cm^-2) of a pixel holding 1 Msun/h of HI.

    Parameters
    ----------
    pixel_size : float, ckpc/h
    redshift : float
    hubble : float
        h = H0 / (100 km/s/Mpc).

    Returns
    -------
    float, cm^-2 per (Msun/h)

    Notes
    -----
    N_HI = M_HI / (m_H A_phys), A_phys = (pixel_size / h / (1 + z))^2 (physical area).
    """
    side_cm = pixel_size / hubble / (1.0 + redshift) * KPC_CM
    return MSUN_G / hubble / (M_H_G * side_cm**2)


def cddf(data, edges=None, *, lo=17.0, hi=23.0, per_dex=10, reduce_dims=("axis", "slab"),
         field=None, dims=None, **params):
    """Column density distribution function f(N_HI) = counts / (dN dX n_sightlines).

    Parameters
    ----------
    data : ndarray, dask.array.Array, xarray.DataArray or xarray.Dataset
        HI mass per pixel (Msun/h), ``(..., y, x)``.
    edges : array_like, cm^-2, optional
        Column-density bin edges; default ``10 ** (lo + i / per_dex)`` up to ``10 ** hi``.
    lo, hi : float, log10(cm^-2)
    per_dex : int
    reduce_dims : tuple of str
        Leading dims whose maps are pooled as sightlines (default ``axis`` and ``slab``;
        ``sample`` is kept).
    field, dims, **params
        See :func:`ember_dist.stats._common.as_map`. Needs ``redshift``, ``hubble``,
        ``slab_depth`` (ckpc/h) and ``pixel_size`` (ckpc/h) or ``box_size``.

    Returns
    -------
    xarray.Dataset
        On ``N_bin``: ``N_lo``, ``N_hi``, ``N`` (cm^-2). On the kept dims + ``N_bin``:
        ``f`` (cm^2, per unit dN and dX), ``counts``. On the kept dims: ``n_sightlines``,
        ``rho_hi`` (HI mass over the sightline volume) and ``rho_hi_moment``
        (m_H (H0/c) sum_bins N f dN, the first moment over the binned range), both in
        (Msun/h) / (ckpc/h)^3; attrs ``dX`` and ``N_per_mass``.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.full((8, 8), 1.0e6)
    >>> ds = cddf(m, pixel_size=3.6621, redshift=2.0, hubble=0.6774, slab_depth=1500.0)
    >>> int(ds["counts"].sum()), int(ds["n_sightlines"])
    (64, 64)
    """
    mi = as_map(data, dims=dims, field=field, square=False, **params)
    who = "cddf"
    z = mi.param("redshift", who)
    h = mi.param("hubble", who)
    depth = mi.param("slab_depth", who)
    pix = mi.param("pixel_size", who)
    edges = log_edges(10.0**lo, 10.0**hi, per_dex) if edges is None else np.asarray(edges, np.float64)
    nb = edges.size - 1
    fac = column_density_per_mass(pix, z, h)
    dx = absorption_distance(depth, z)
    # bin the masses on mass edges (N = m * fac), then scale the sums to column densities
    medges = edges / fac
    s = lead_reduce(lambda b, y0, x0: histogram_block(b, medges), mi.data, (2 * nb + 4,), split=True)
    s = s * np.concatenate([np.ones(nb), np.full(nb, fac), np.ones(3), [fac]])
    npix = mi.data.shape[-1] * mi.data.shape[-2]
    lead = list(mi.lead_dims)
    red = tuple(i for i, d in enumerate(lead) if d in reduce_dims)
    nmaps = int(np.prod([mi.lead_shape[i] for i in red])) if red else 1
    if red:
        s = s.sum(axis=red)
    kept = tuple(d for d in lead if d not in reduce_dims)
    nsl = npix * nmaps
    counts = s[..., :nb]
    dn = np.diff(edges)
    ds = xr.Dataset(coords={k: v for k, v in mi.lead_coords().items() if k in kept})
    ds = ds.assign_coords(N_bin=("N_bin", np.arange(nb)))
    ds["N_lo"] = ("N_bin", edges[:-1], {"units": "cm^-2"})
    ds["N_hi"] = ("N_bin", edges[1:], {"units": "cm^-2"})
    ds["N"] = ("N_bin", np.sqrt(edges[:-1] * edges[1:]), {"units": "cm^-2", "long_name": "bin centre (geometric)"})
    ds["counts"] = (kept + ("N_bin",), counts.astype(np.int64), {"units": "1"})
    ds["f"] = (kept + ("N_bin",), counts / (dn * dx * nsl),
               {"units": "cm^2", "long_name": "f(N_HI) = d^2 n / (dN dX)"})
    ds["n_sightlines"] = ((), nsl, {"units": "1"})
    # (Msun/h)/(ckpc/h)^3 from sums of column densities
    to_rho = 1.0 / (fac * pix**2 * depth)
    ds["rho_hi"] = (kept, s[..., 2 * nb + 3] * to_rho / nsl,
                    {"units": "(Msun/h)/(ckpc/h)^3", "long_name": "HI mass / sightline volume"})
    h0_c = 100.0 * h / C_KMS / (1000.0 * KPC_CM)  # 1/cm
    moment = M_H_G * h0_c * s[..., nb:2 * nb].sum(axis=-1) / (dx * nsl)  # g/cm^3, comoving
    ds["rho_hi_moment"] = (kept, moment * KPC_CM**3 / (MSUN_G * h**2),
                           {"units": "(Msun/h)/(ckpc/h)^3",
                            "long_name": "first moment m_H (H0/c) sum N f dN"})
    ds.attrs.update({k: float(v) for k, v in mi.attrs.items()})
    ds.attrs.update(dX=dx, N_per_mass=fac, pooled_dims=",".join(d for d in lead if d in reduce_dims))
    return finalize(ds)
