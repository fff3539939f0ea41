# SPDX-License-Identifier: BSD-3-Clause
"""A toy simulation suite: seeded particle snapshots for tests, demos and training.

.. warning::
   Everything here is a *toy*: Zel'dovich dark matter, smoothed gas and a
   self-shielding HI recipe, made to exercise and validate the pipeline on real
   snapshot files.  It does not replace a hydrodynamical simulation.
"""
from ember_dist.mock.suite import make_mock_suite
from ember_dist.mock.cosmology import linear_power, growth_factor
from ember_dist.mock.gadget_writer import write_gadget_snapshot

__all__ = ["make_mock_suite", "linear_power", "growth_factor", "write_gadget_snapshot"]
