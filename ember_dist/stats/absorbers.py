# SPDX-License-Identifier: BSD-3-Clause
"""Absorber statistics derived from the CDDF: the incidence of absorbers per absorption distance.

The CDDF of :func:`ember_dist.stats.cddf` is the standard f(N, X) = d^2 n / (dN dX): absorbers
(pixels of a slab, one sightline each) per column-density interval dN and per absorption distance
dX = (H0/c) (1 + z)^2 dL of the slab depth dL (comoving; see
:func:`ember_dist.stats.cddf.absorption_distance`).  Integrating it over N gives the incidence
dN/dX = l(X) of the absorbers above a threshold, e.g. damped Lyman-alpha systems (N >= 10^20.3 cm^-2).

Examples
--------
>>> import numpy as np
>>> from ember_dist.stats.cddf import cddf
>>> m = np.zeros((4, 4)); m[0, 0] = 1e9  # one pixel far above the DLA threshold, 15 empty ones
>>> ds = cddf(m, pixel_size=58.59375, redshift=2.0, hubble=0.6774, slab_depth=1875.0)
>>> round(float(incidence(ds)) * ds.attrs["dX"] * 16, 6)  # one absorber over 16 sightlines of depth dX
1.0
"""
from __future__ import annotations

import numpy as np

__all__ = ["incidence"]


def incidence(cddf_ds, n_min=10**20.3):
    """dN/dX of absorbers with N >= ``n_min`` (cm^-2): sum over bins with ``N_lo >= n_min`` of f dN.

    Parameters
    ----------
    cddf_ds : xarray.Dataset
        Output of :func:`ember_dist.stats.cddf` (any kept dims, e.g. ``sample``, stay).
    n_min : float, cm^-2
        Lower limit; bins straddling it are left out (choose edges on it: the default CDDF edges
        at 10 per dex include 10^20.3).

    Returns
    -------
    xarray.DataArray
        Absorbers per unit absorption distance.
    """
    sel = cddf_ds["N_lo"] >= n_min * (1 - 1e-9)
    dn = (cddf_ds["N_hi"] - cddf_ds["N_lo"]).where(sel, 0.0)
    out = (cddf_ds["f"] * dn).sum("N_bin")
    out.attrs = {"units": "1", "long_name": f"absorbers per unit absorption distance, N >= {n_min:.3g} cm^-2"}
    return out
