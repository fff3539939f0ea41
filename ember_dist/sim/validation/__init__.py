# SPDX-License-Identifier: BSD-3-Clause
"""Validation of the physical simulation suite (issue 17 item 5): the report ``docs/simulation/``.

Modules: :mod:`.power3d` (3D P(k) of particles), :mod:`.hmf` (pooled halo mass function against
Tinker et al. 2008), :mod:`.lyman` (Lyman-alpha optical depth, mean flux, Gamma_HI calibration),
:mod:`.observations` (published data shipped with citations), :mod:`.report` (the whole report;
``tools/validate_sim_suite.py SUITE --out docs/simulation`` runs it).
"""
