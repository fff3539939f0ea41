# SPDX-License-Identifier: BSD-3-Clause
"""SLURM lane: enrich_box through SLURMCluster (2 jobs, TLS) on a real SLURM.

The store must be bit-identical to a LocalCluster run, also when one worker job is
cancelled with ``scancel`` in the middle of the run; the HPC notebook runs here too.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import ember_dist as ed
from ember_dist.cluster import close, connect
from ember_dist.demo import make_demo_maps

REPO = Path(__file__).resolve().parents[2]
N, NSLAB, TILE = 256, 2, 32  # 128 tile tasks (tiny preset, noisy generator): enough that the run is still
# going when the poll below sees its first tiles done (with 32 tasks it once finished between two polls)


@pytest.fixture(scope="module")
def maps():
    return make_demo_maps(N, nslab=NSLAB, seed=5)


@pytest.fixture(scope="module")
def reference(maps, bundles, client, tmp_path_factory):
    """The same enrichment on the session's LocalCluster."""
    out = tmp_path_factory.mktemp("ref") / "local.zarr"
    ed.enrich_box(maps, fields="gas", model=bundles["wgan"].path, out=out, tile=TILE, seed=3, client=client,
                  progress=False)
    return out


def _values(path):
    with xr.open_zarr(str(path)) as ds:
        return ds["gas"].values, ds.attrs


def _finished(dask_scheduler):
    return sum(1 for k, ts in dask_scheduler.tasks.items() if str(k).startswith("enrich-gas") and ts.state == "memory")


def test_slurm_two_jobs_scancel_mid_run_bit_identical(slurm, maps, bundles, reference, tmp_path):
    t0 = time.perf_counter()
    c = connect("slurm-localhost", jobs=2, wait=2, log_directory=str(slurm / "jobs"))
    try:
        assert c.scheduler.address.startswith("tls://127.0.0.1:")
        assert len(c.scheduler_info()["workers"]) == 2
        jobs = {name: job.job_id for name, job in c.cluster.workers.items()}
        assert len(jobs) == 2 and all(jobs.values())
        t_up = time.perf_counter() - t0

        out = tmp_path / "slurm.zarr"
        result = {}

        def run():
            try:
                result["ds"] = ed.enrich_box(maps, fields="gas", model=bundles["wgan"].path, out=out, tile=TILE, seed=3,
                                             client=c, progress=False)
            except BaseException as e:  # noqa: BLE001 - reported below
                result["error"] = e

        th = threading.Thread(target=run, daemon=True)
        th.start()
        deadline = time.time() + 240
        while c.run_on_scheduler(_finished) < 4 and th.is_alive() and time.time() < deadline:
            time.sleep(0.2)
        # Cancel a job whose worker is busy with tile tasks right now.
        info = c.scheduler_info()["workers"]
        busy = [info[a]["name"] for a, keys in c.processing().items() if keys and a in info]
        victim = busy[0] if busy else sorted(jobs)[0]
        done_at_cancel = c.run_on_scheduler(_finished)
        subprocess.run(["scancel", jobs[victim]], check=True, timeout=30)
        t_cancel = time.perf_counter() - t0
        th.join(timeout=300)
        assert not th.is_alive(), "enrich_box did not finish after the scancel"
        assert "error" not in result, result.get("error")
        total = (N // TILE) ** 2 * NSLAB
        assert 0 < done_at_cancel < total, (done_at_cancel, total)
        alive = [w["name"] for w in c.scheduler_info()["workers"].values()]
        assert victim not in alive, f"cancelled job's worker {victim} is still connected"
        got, attrs = _values(out)
        ref, _ = _values(reference)
        assert attrs["status"] == "complete"
        assert got.dtype == ref.dtype and got.tobytes() == ref.tobytes()
        print(f"\nSLURM lane: workers up in {t_up:.1f} s; scancel {victim} (job {jobs[victim]}) at {t_cancel:.1f} s "
              f"after {done_at_cancel}/{total} tiles; store bit-identical to LocalCluster; total "
              f"{time.perf_counter() - t0:.1f} s")
    finally:
        close(c)


def test_hpc_notebook_on_slurm(slurm, tmp_path):
    """notebooks/hpc.ipynb on the slurm-localhost profile (nbmake), tiny input."""
    out = tmp_path / "hpc.zarr"
    env = dict(os.environ, EMBER_NB_TINY="1", EMBER_HPC_PROFILE="slurm-localhost", EMBER_HPC_OUT=str(out),
               EMBER_HPC_LOGS=str(slurm / "jobs"), SLURM_CONF=os.environ["SLURM_CONF"])
    nb = REPO / "notebooks" / "hpc.ipynb"
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                        "--nbmake", "--nbmake-timeout=300", str(nb)], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=420)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    with xr.open_zarr(str(out)) as ds:
        assert ds.attrs["status"] == "complete"
        assert np.isfinite(ds["gas"].values).all()
