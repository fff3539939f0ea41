# SPDX-License-Identifier: BSD-3-Clause
"""One process on the JAX backend for every JAX check of tests/model (its start-up is paid once)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def jax_run(bundles, tmp_path_factory):
    """``unpadded_compare.py`` under ``KERAS_BACKEND=jax``: ``{"json": its JSON line, "dm": the input map,
    "pred": the prediction of the "wgan" test bundle on it (seed 9, slab 1), None if that raised}``."""
    from ember_dist.demo import lognormal_map

    d = tmp_path_factory.mktemp("jax")
    dm = lognormal_map(64, seed=4)
    np.save(d / "dm.npy", dm)
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    p = subprocess.run([sys.executable, str(Path(__file__).with_name("unpadded_compare.py")),
                        str(bundles["wgan"].path), str(d / "dm.npy"), str(d / "jax.npy")],
                       env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    r = json.loads(p.stdout.strip().splitlines()[-1])
    return {"json": r, "dm": dm, "pred": np.load(d / "jax.npy") if (d / "jax.npy").is_file() else None}
