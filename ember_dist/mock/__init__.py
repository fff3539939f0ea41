# SPDX-License-Identifier: BSD-3-Clause
"""A toy simulation suite: seeded particle snapshots for tests, demos and training.

.. warning::
   Everything here is a *toy*: Zel'dovich dark matter, smoothed gas and a
   self-shielding HI recipe, made to exercise and validate the pipeline on real
   snapshot files.  It does not replace a hydrodynamical simulation.

The names below are imported lazily, so that a light submodule (:mod:`ember_dist.mock.maps`,
NumPy only) does not pull in the suite's SciPy, h5py and snapshot readers.
"""
import importlib

_LAZY = {
    "make_mock_suite": "ember_dist.mock.suite",
    "linear_power": "ember_dist.mock.cosmology",
    "growth_factor": "ember_dist.mock.cosmology",
    "write_gadget_snapshot": "ember_dist.mock.gadget_writer",
    "lognormal_map": "ember_dist.mock.maps",
}

__all__ = ["make_mock_suite", "linear_power", "growth_factor", "write_gadget_snapshot", "lognormal_map"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ember_dist.mock' has no attribute {name!r}")
