# SPDX-License-Identifier: BSD-3-Clause
"""Validation of the physical simulation suite (issue 17 item 5): the report ``docs/simulation/``.

Modules: :mod:`.power3d` (3D P(k) of particles), :mod:`.hmf` (pooled halo mass function against
Tinker et al. 2008), :mod:`.checks` (the measurements; Lyman-alpha through :mod:`ember_dist.sim.lya`),
:mod:`.cddf_check` (HI CDDF from maps and from fake-spectra), :mod:`.observations` (published data
shipped with citations), :mod:`.suite_data` (finding finished snapshots), :mod:`.figures` and
:mod:`.report` (``tools/validate_sim_suite.py SUITE --out docs/simulation`` runs it).
"""
