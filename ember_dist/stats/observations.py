# SPDX-License-Identifier: BSD-3-Clause
"""Observed HI column density distributions at z ~ 2.5, shipped as small CSV files with citations.

* :func:`prochaska2014_cddf`: the spline model of Prochaska et al. (2014, MNRAS 438, 476), Table 2;
* :func:`noterdaeme2012_cddf`: the SDSS-III DR9 DLA measurement of Noterdaeme et al. (2012, A&A 547, L1);
* :func:`noterdaeme2012_dla_incidence`: the DLA incidence dN/dX integrated by ember_dist from that
  table (not a number quoted by the paper).

Each CSV's header says where its numbers were transcribed from (``ember_dist/stats/data``).

Examples
--------
>>> p = prochaska2014_cddf()
>>> float(p["log10_f"].sel(pivot=4))  # at log N = 20
-21.28
>>> round(float(prochaska2014_log_f(20.0)), 2)
-21.28
>>> n = noterdaeme2012_cddf()
>>> n.sizes["bin"], float(n["log10_N_HI"][0])
(22, 20.05)
>>> round(noterdaeme2012_dla_incidence(), 4)
0.0647
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

__all__ = ["prochaska2014_cddf", "prochaska2014_log_f", "noterdaeme2012_cddf", "noterdaeme2012_dla_incidence",
           "REFERENCES", "DLA_THRESHOLD"]

_DATA = Path(__file__).resolve().parent / "data"

#: Column density of a damped Lyman-alpha system, cm^-2.
DLA_THRESHOLD = 10**20.3

#: Short citations of the shipped data, by file stem.
REFERENCES = {
    "prochaska2014_cddf": "Prochaska, Madau, O'Meara & Fumagalli 2014, MNRAS 438, 476 (arXiv:1310.0052), "
                          "Table 2 spline model, z ~ 2.5",
    "noterdaeme2012_cddf": "Noterdaeme et al. 2012, A&A 547, L1 (arXiv:1210.1213), SDSS-III DR9 DLAs, <z> = 2.5",
}


def _read(stem):
    path = _DATA / f"{stem}.csv"
    lines = path.read_text().splitlines()
    comments = [line[1:].strip() for line in lines if line.startswith("#")]
    arr = np.genfromtxt([line for line in lines if not line.startswith("#")], delimiter=",", names=True)
    return arr, " ".join(comments)


def prochaska2014_cddf():
    """The spline pivots (``log10_N_HI`` in cm^-2, ``log10_f`` in cm^2) of Prochaska et al. 2014."""
    arr, note = _read("prochaska2014_cddf")
    return xr.Dataset({k: ("pivot", np.asarray(arr[k], np.float64)) for k in arr.dtype.names},
                      coords={"pivot": np.arange(arr.size)},
                      attrs={"reference": REFERENCES["prochaska2014_cddf"], "note": note, "redshift": 2.5})


def prochaska2014_log_f(log_n):
    """log10 f(N_HI, X) of the Prochaska et al. 2014 spline (monotone cubic Hermite) at ``log_n``.

    NaN outside the pivots' range (12 <= log N <= 22).
    """
    from scipy.interpolate import PchipInterpolator

    p = prochaska2014_cddf()
    x = np.asarray(log_n, np.float64)
    y = PchipInterpolator(p["log10_N_HI"].values, p["log10_f"].values, extrapolate=False)(x)
    return y


def noterdaeme2012_cddf():
    """The DR9 f(N_HI, X) bins of Noterdaeme et al. 2012 as a Dataset on dim ``bin``."""
    arr, note = _read("noterdaeme2012_cddf")
    return xr.Dataset({k: ("bin", np.asarray(arr[k], np.float64)) for k in arr.dtype.names},
                      coords={"bin": np.arange(arr.size)},
                      attrs={"reference": REFERENCES["noterdaeme2012_cddf"], "note": note, "redshift": 2.5})


def noterdaeme2012_dla_incidence(n_min=DLA_THRESHOLD):
    """DLA incidence dN/dX = sum over bins above ``n_min`` of f(N, X) dN, from the Noterdaeme 2012 table.

    Computed here from the shipped bins (bins whose lower edge is at or above ``n_min``), so it is
    derived from the paper's f(N, X), not a value the paper quotes.
    """
    t = noterdaeme2012_cddf()
    lo = t["log10_N_HI"].values - t["half_width_log10_N"].values
    hi = t["log10_N_HI"].values + t["half_width_log10_N"].values
    sel = lo >= np.log10(n_min) - 1e-9
    return float(np.sum(10.0 ** t["log10_f"].values[sel] * (10.0 ** hi[sel] - 10.0 ** lo[sel])))
