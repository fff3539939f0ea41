# SPDX-License-Identifier: BSD-3-Clause
"""A tiny toy suite, two random-weight tiny models at its pixel size, and one uninterrupted pipeline run."""
from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
import yaml

PIXEL = 58.59375  # 3750 ckpc/h / 64 px

BASE = {
    "name": "toy",
    "output": "out",
    "input": {"snapshot": "suite/dmo/snap_000.hdf5", "truth": "suite/hydro/snap_000.hdf5", "halos": "fof"},
    "deposit": {"axes": ["z"], "slabs": 2, "input_resolution": "MR"},
    "enrich": {"models": {"gas": "./models/gas", "hi": "./models/hi"}, "realisations": 2, "tile": 32},
    "statistics": {"halos": {"min_members": 8, "mass_bins": 3, "radius_factor": 4.0}},
    "cluster": {"workers": 1},
}


def write_pipeline(folder, base=None, **changes):
    """Write ``folder/pipeline.yaml`` from BASE with ``section={key: value}`` changes; returns its path."""
    spec = yaml.safe_load(yaml.safe_dump(base or BASE))
    for section, kv in changes.items():
        if isinstance(kv, dict):
            spec.setdefault(section, {}).update(kv)
        else:
            spec[section] = kv
    path = os.path.join(folder, "pipeline.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(spec, f, sort_keys=False)
    return path


@pytest.fixture(scope="session")
def toy(tmp_path_factory):
    """Folder with suite/ (32^3 toy particles per species, 3.75 Mpc/h box) and models/{gas,hi} (random tiny)."""
    from ember_dist.mock.suite import make_mock_suite
    from ember_dist.model.testing import random_bundle

    root = tmp_path_factory.mktemp("toy")
    make_mock_suite(root / "suite", n=32, box_size=3750.0, seed=0)
    random_bundle(root / "models" / "gas", "tiny", "gas", noise=True, seed=1, pixel_size=PIXEL)
    random_bundle(root / "models" / "hi", "tiny", "hi", noise=True, seed=2, pixel_size=PIXEL)
    return root


def workspace(toy, name):
    """A folder beside the toy's suite/ and models/ (linked), for one pipeline run."""
    d = toy.parent / f"{toy.name}-{name}"
    d.mkdir()
    for sub in ("suite", "models"):
        os.symlink(toy / sub, d / sub)
    return d


@pytest.fixture(scope="session")
def reference(toy, client):
    """One uninterrupted run on the session's LocalCluster: (folder, PipelineResult, seconds)."""
    from ember_dist.pipeline import run_pipeline

    d = workspace(toy, "reference")
    t0 = time.perf_counter()
    res = run_pipeline(write_pipeline(d), progress=False, client=client)
    return d, res, time.perf_counter() - t0


