# SPDX-License-Identifier: BSD-3-Clause
"""The suite's lower-resolution twins (the MR inputs) against the dark-matter-only run of their box.

A twin ``box_s<seed>/mr<k>/`` is a dark-matter-only Gadget-2 run with ``k`` times fewer particles and the
box's own phases (``simulate(parent_n=...)``).  What an MR model should see is the box's structure with
the small scales a coarser run resolves: the twin's matter field must follow the full-resolution DMO run
on large scales (cross-correlation ``r(k) = P_tp / sqrt(P_tt P_pp)`` near 1, power ratio near 1) and part
from it only where its particles cannot follow.  Both are measured from CIC grids of twice the parent's
lattice (:func:`ember_dist.sim.validation.power3d.assign`; no interlacing, no window deconvolution and no
shot-noise subtraction: the window cancels in r(k) and in the ratio on the same grid, and the twin's larger
shot noise is part of what an MR model sees).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .power3d import Shells, assign
from .suite_data import read_particles, snapshot_header

__all__ = ["find_twins", "twin_check", "R_MIN", "K_CHECK_FRACTION"]

#: the twin counts as the box's twin when r(k) >= R_MIN at every k up to K_CHECK_FRACTION of its particle
#: Nyquist frequency, where its own lattice resolves the modes (2LPT shares them exactly at z_init)
R_MIN, K_CHECK_FRACTION = 0.95, 0.5


def find_twins(suite):
    """``[(box, factor, twin folder)]`` for every ``box_*/mr<k>/simulation.json`` of ``suite`` with a finished run."""
    out = []
    for sim in sorted(Path(suite).glob("*/mr*/simulation.json")):
        meta = json.loads(sim.read_text())
        if meta.get("complete") and meta.get("parameters", {}).get("parent_n"):
            p = meta["parameters"]
            out.append((sim.parent.parent.name, round((p["parent_n"] / p["n"]) ** 3), sim.parent))
    return out


def _delta_k(path, box, ngrid):
    pos, m = read_particles(path, 1)
    grid = assign(pos, box, ngrid, "cic", m)
    return np.fft.rfftn(grid / grid.mean() - 1.0)


def twin_check(suite, log=print):
    """r(k) and P_twin / P_parent per twin and output (``[]`` when the suite has no twins)."""
    out = []
    for box, factor, folder in find_twins(suite):
        for snap in sorted((folder / "dmo").glob("snap_*.hdf5")):
            parent = Path(suite) / box / "dmo" / snap.name
            if not parent.exists():
                continue
            hdr, hp = snapshot_header(snap), snapshot_header(parent)
            n_parent = round(float(hp["npart"][1]) ** (1 / 3))
            n_twin = round(float(hdr["npart"][1]) ** (1 / 3))
            ngrid, L = 2 * n_parent, hdr["box"]
            a, b = _delta_k(parent, L, ngrid), _delta_k(snap, L, ngrid)
            shells = Shells(ngrid, L)
            cnt = shells.n_modes
            pa, pb, x = shells.sum(np.abs(a) ** 2), shells.sum(np.abs(b) ** 2), shells.sum((a * b.conj()).real)
            with np.errstate(invalid="ignore", divide="ignore"):
                r, ratio = x / np.sqrt(pa * pb), pb / pa
            k = shells.k
            k_nyq_twin = np.pi * n_twin / L
            judged = (cnt > 0) & (k <= K_CHECK_FRACTION * k_nyq_twin)
            ok_r = bool(np.all(r[judged] >= R_MIN)) if judged.any() else None
            out.append({"box": box, "factor": factor, "n_twin": n_twin, "n_parent": n_parent,
                        "redshift": hdr["redshift"], "k": k.tolist(), "r": r.tolist(), "power_ratio": ratio.tolist(),
                        "n_modes": cnt.tolist(), "k_nyquist_twin": k_nyq_twin, "judged": judged.tolist(),
                        "min_r_judged": float(r[judged].min()) if judged.any() else None,
                        "verdict": "not testable" if ok_r is None else "pass" if ok_r else "fail"})
            log(f"  twin {box}/mr{factor} z = {hdr['redshift']:g}: min r = {out[-1]['min_r_judged']} "
                f"up to {K_CHECK_FRACTION:g} k_Nyq of the twin: {out[-1]['verdict']}")
    return out
