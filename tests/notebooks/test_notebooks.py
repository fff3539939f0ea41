# SPDX-License-Identifier: BSD-3-Clause
"""notebooks/quickstart.ipynb executed with nbmake on tiny inputs (hpc.ipynb runs in the SLURM lane,
tests/deploy/test_slurm_lane.py)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import xarray as xr

REPO = Path(__file__).resolve().parents[2]


def run_notebook(nb, cwd, **env):
    """Execute ``nb`` with nbmake in a child pytest; returns the CompletedProcess."""
    env = dict(os.environ, EMBER_NB_TINY="1", **env)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                           "--nbmake", "--nbmake-timeout=300", str(nb)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=420)


def test_quickstart_notebook(tmp_path):
    out = tmp_path / "quick.zarr"
    r = run_notebook(REPO / "notebooks" / "quickstart.ipynb", tmp_path, EMBER_QUICKSTART_OUT=str(out))
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    with xr.open_zarr(str(out)) as ds:
        assert set(ds.data_vars) == {"gas", "hi"} and ds.attrs["status"] == "complete"
        # the packaged held-out suite box, one slab, two realisations of the default WGANs
        assert ds["gas"].shape == (2, 1, 1, 256, 256) and np.isfinite(ds["hi"].values).all()
        assert (ds["gas"].attrs["model"], ds["hi"].attrs["model"]) == ("suite-gas-wgan", "suite-hi-wgan")
