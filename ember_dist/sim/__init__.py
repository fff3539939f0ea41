# SPDX-License-Identifier: BSD-3-Clause
"""The physical simulation suite: Gadget-2 hydro + paired dark-matter-only runs.

Initial conditions (2LPT, :mod:`.lpt`) from a CAMB linear spectrum (:mod:`.linear`), Gadget-2
built on first use (:mod:`.gadget_build`) and run as an external program (:mod:`.gadget_run`),
HI post-processing (:mod:`.hi`), friends-of-friends haloes with M200c (:mod:`.halos`), and
:func:`simulate`, which chains them with resume (:mod:`.suite`).
"""
