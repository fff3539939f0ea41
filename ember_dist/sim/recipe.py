# SPDX-License-Identifier: BSD-3-Clause
"""The simulation suite's recipe: which boxes, which seeds for training, validation and test.

One box (2 x 40^3 particles, 8 Mpc/h, z = 49 -> 3, 2) was chosen so that a hydro run and its
dark-matter-only twin finish in about 15 minutes on 2 cores (bench/README.md "Simulation");
seeds are independent realisations, and the test seed is never used in training.  The
application box is dark-matter only, the largest that runs in about an hour on 2 cores.

``python tools/make_sim_suite.py OUT`` runs it (resumable: rerun the same command).
"""
from __future__ import annotations

__all__ = ["SUITE", "APPLICATION", "split_of"]

SUITE = {
    "n": 40, "box_size": 8000.0, "redshifts": (3.0, 2.0),
    "seeds": {"train": (0, 1, 2, 3), "validation": (4,), "test": (5,)},
}
APPLICATION = {"n": 96, "box_size": 25000.0, "redshifts": (3.0, 2.0), "seed": 1000, "dm_only": True}


def split_of(seed):
    """``"train"``, ``"validation"`` or ``"test"`` for a suite seed."""
    for name, seeds in SUITE["seeds"].items():
        if seed in seeds:
            return name
    raise KeyError(f"seed {seed} is not in the suite's recipe (seeds {SUITE['seeds']})")
