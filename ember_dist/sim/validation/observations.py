# SPDX-License-Identifier: BSD-3-Clause
"""Published observations the suite is compared with, shipped in ``data/`` with their citations.

* f(N_HI, X) at z ~ 2.5 of Prochaska et al. (2014, MNRAS 438, 476): the one copy in
  :mod:`ember_dist.stats.observations` (``stats/data/prochaska2014_cddf.csv``), sampled here.
* ``becker13_mean_flux.csv``: Lyman-alpha mean transmitted flux, Becker et al. (2013, MNRAS 430,
  2067) Table 2, 2.15 <= z <= 4.85.
* The Faucher-Giguère et al. (2008, ApJ 681, 831) power law that the suite's Gamma_HI is calibrated
  to is :func:`ember_dist.sim.lya.observed_mean_flux` (one definition).

Examples
--------
>>> round(becker13_mean_flux(3.0)["F"], 4)
0.6818
>>> becker13_mean_flux(2.0) is None  # below the table
True
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

__all__ = ["prochaska14_cddf", "becker13_mean_flux", "DATA_DIR"]

DATA_DIR = Path(__file__).with_name("data")
PROCHASKA14 = "Prochaska et al. (2014), MNRAS 438, 476: f(N_HI, X) at z ~ 2.5 (the paper's spline model, Table 2)"
BECKER13 = "Becker et al. (2013), MNRAS 430, 2067, Table 2 (linear interpolation in z)"
FG08 = "Faucher-Giguère et al. (2008), ApJ 681, 831: tau_eff = 0.0018 (1+z)^3.92 (ember_dist.sim.lya)"


@functools.lru_cache(maxsize=None)
def _csv(name):
    """The numeric rows of a shipped table (``#`` comments and the column-name line skipped)."""
    lines = (DATA_DIR / name).read_text().splitlines()
    rows = [ln for ln in lines if ln.strip() and not ln.startswith("#") and not ln[0].isalpha()]
    return np.array([[float(v) for v in ln.split(",")] for ln in rows])


def prochaska14_cddf():
    """``(log10 N_HI, log10 f)`` of Prochaska et al. (2014) at z ~ 2.5, N in cm^-2, f in cm^2 (per dN dX).

    The one shipped copy of the model, :func:`ember_dist.stats.observations.prochaska2014_log_f` (the
    paper's spline through its eight pivots), sampled every 0.05 dex over its range 12 <= log N <= 22.
    """
    from ember_dist.stats.observations import prochaska2014_log_f

    ln = np.round(np.arange(12.0, 22.0 + 1e-9, 0.05), 2)
    return ln, np.asarray(prochaska2014_log_f(ln), float)


def becker13_mean_flux(z):
    """Becker et al. (2013) mean flux at ``z`` (dict ``F``, ``sigma``, ``source``), None outside 2.15-4.85."""
    t = _csv("becker13_mean_flux.csv")
    if not t[0, 0] <= z <= t[-1, 0]:
        return None
    return {"F": float(np.interp(z, t[:, 0], t[:, 1])), "sigma": float(np.interp(z, t[:, 0], t[:, 2])),
            "source": BECKER13}
