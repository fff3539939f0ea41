# SPDX-License-Identifier: BSD-3-Clause
"""What a run will cost before it starts: CPU seconds from particles x steps, and memory.

Gadget-2's cost is close to (particles) x (global steps) x (CPU seconds per particle-step); the
step count grows as the softening shrinks and as structure forms (later end redshift).  The
coefficients below were measured here with ``bench/simulate.py`` (2-core Intel Xeon, Gadget-2
2.0.7 built by :mod:`.gadget_build`, -O2; bench/README.md "Simulation") and are refitted when
that benchmark is rerun: they are an estimate to refuse hopeless runs, not a promise.

Examples
--------
>>> est = estimate_cost(32, 8000.0, 2.0, hydro=True)
>>> est["particles"], est["steps"] > 100
(65536, True)
"""
from __future__ import annotations

import math
import os

__all__ = ["estimate_cost", "check_affordable", "CostError", "available_memory_bytes"]

#: CPU seconds per particle per global step (hydro: gravity + SPH; DM only: gravity).
CPU_PER_PARTICLE_STEP = {"hydro": 1.25e-5, "dmo": 1.2e-5}  # bench/simulate.py, idle machine, 2026-12-02
#: Global steps from z = 49 to z = 2 at a mean inter-particle spacing of 470 ckpc/h, softening 1/30 of it.
STEPS_REF = 900.0
SPACING_REF = 470.0
#: Bytes per particle in Gadget-2 (particle + SPH structures x PartAllocFactor, tree, communication).
BYTES_PER_PARTICLE = 700
BYTES_PER_PM_CELL = 24


class CostError(RuntimeError):
    """The run cannot finish in the time or memory this machine has (``--force`` overrides)."""


def available_memory_bytes():
    """Physical memory of this machine (bytes)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):  # pragma: no cover - non-POSIX
        return 8 << 30


def estimate_cost(n, box_size, z_end, *, hydro=True, z_init=49.0, pmgrid=None, ntasks=2):
    """Estimated particles, steps, CPU seconds, wall seconds on ``ntasks`` cores and peak bytes.

    Parameters
    ----------
    n : int
        Particles per side and species.
    box_size : float, ckpc/h
    z_end : float
        Last output redshift.
    hydro : bool
        Gas + dark matter (2 n^3 particles) or dark matter only (n^3).
    """
    particles = (2 if hydro else 1) * int(n) ** 3
    spacing = box_size / n
    growth = math.log((1 + z_init) / (1 + z_end)) / math.log(50.0 / 3.0)
    if hydro:  # SPH (Courant) steps: 903 at 469 ckpc/h spacing (notes), 1053-1085 at 200 (suite boxes s0, s5)
        # most steps come late, as haloes collapse: 354-382 steps to z = 3 (2x16^3, 2x24^3 in 8 Mpc/h) but
        # 1053-1085 to z = 2 (2x40^3): the steep power of the ln-a span fits both
        steps = STEPS_REF * growth**8 * (SPACING_REF / spacing) ** 0.2
    else:  # gravity alone stays on the largest step, MaxSizeTimestep 0.025 in ln a (128 steps z = 49 -> 2)
        steps = 1.15 * math.log((1 + z_init) / (1 + z_end)) / 0.025
    cpu = CPU_PER_PARTICLE_STEP["hydro" if hydro else "dmo"] * particles * steps
    pm = pmgrid or 2 * n
    mem = BYTES_PER_PARTICLE * particles + BYTES_PER_PM_CELL * pm**3 + (250 << 20) * ntasks
    return {"particles": particles, "steps": int(steps), "cpu_seconds": cpu, "wall_seconds": cpu / max(ntasks, 1),
            "memory_bytes": int(mem)}


def check_affordable(estimates, *, max_hours, ntasks, force=False):
    """Raise :class:`CostError` when the runs' estimated wall time or memory exceed this machine's."""
    wall = sum(e["wall_seconds"] for e in estimates)
    mem = max(e["memory_bytes"] for e in estimates)
    avail = available_memory_bytes()
    problems = []
    if wall > max_hours * 3600:
        problems.append(f"estimated {wall / 3600:.1f} h on {ntasks} cores, more than --max-hours {max_hours:g}")
    if mem > 0.8 * avail:
        problems.append(f"estimated {mem / 2**30:.1f} GiB, more than 80% of this machine's {avail / 2**30:.1f} GiB")
    if problems and not force:
        raise CostError("this run cannot finish here: " + "; ".join(problems)
                        + ". Use a smaller --n or a later last redshift, raise --max-hours, or pass --force to run anyway.")
    return {"wall_seconds": wall, "memory_bytes": mem, "refused": bool(problems), "forced": bool(problems and force)}
