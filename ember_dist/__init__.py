# SPDX-License-Identifier: BSD-3-Clause
"""ember_dist: distributed EMBER enrichment of dark-matter-only simulations.

Public API (imported lazily so ``import ember_dist`` stays fast and does not
load TensorFlow until a model is needed)::

    enrich_box        run a generator over halo-padded tiles with Dask -> zarr
    load_model        load a model bundle (weights + JSON, checksum verified)
    available_models  names of the bundled and user models
    make_demo_maps    a seeded lognormal dark-matter map set for demos/tests
"""
from __future__ import annotations

import importlib
import os
import warnings

# xarray consolidates zarr metadata (which ember_dist relies on for fast opens); zarr 3 warns on every
# write that consolidation is outside the v3 spec. The stores stay readable without it.
warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part", category=UserWarning)

# TensorFlow's C++ INFO/WARNING lines (CPU feature notes) stay off the terminal unless the user asks for them.
# (TensorFlow 2.21's absl start-up lines, "oneDNN custom operations are on", ignore this variable; they are
# filtered by ember_dist.model.runtime.quiet_import, through which ember_dist imports Keras and TensorFlow.)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

_LAZY = {
    "enrich_box": "ember_dist.engine.enrich",
    "load_model": "ember_dist.model.bundle",
    "available_models": "ember_dist.model.bundle",
    "make_demo_maps": "ember_dist.demo",
    "Normalization": "ember_dist.model.normalization",
    "TilePlan": "ember_dist.engine.plan",
    "deposit_snapshot": "ember_dist.deposit.api",
    "make_mock_suite": "ember_dist.mock.suite",
    "open_snapshot": "ember_dist.io.snapshot",
    "connect": "ember_dist.cluster",
    "run_pipeline": "ember_dist.pipeline",
    **{name: "ember_dist.stats" for name in ("total_mass", "pixel_pdf", "power_spectrum", "cross_power_spectrum",
                                             "bispectrum", "cddf", "halo_masses")},
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ember_dist' has no attribute {name!r}")
