# SPDX-License-Identifier: BSD-3-Clause
"""Faults: a killed worker and a killed run; results stay bit-identical."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import ember_dist as ed
from ember_dist.demo import lognormal_map
from ember_dist.io.store import done_markers

SAMPLES = 6  # 2 slabs x 9 tiles x 6 samples = 108 tasks


@pytest.fixture(scope="module")
def maps(tmp_path_factory):
    p = tmp_path_factory.mktemp("in") / "m.npy"
    np.save(p, np.stack([lognormal_map(96, seed=s)[:88, :72] for s in range(2)]))
    return p


@pytest.fixture(scope="module")
def reference(maps, bundles, client, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ref.zarr"
    return ed.enrich_box(str(maps), model=bundles["wgan"].path, out=out, samples=SAMPLES, seed=3, tile=32,
                         client=client, progress=False, pixel_size=3.66)["gas"].values


def _wait_for_markers(out, n, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if len(done_markers(out, "gas")) >= n:
            return
        time.sleep(0.01)
    raise TimeoutError(f"no {n} done markers in {out} after {timeout} s")


def test_killed_worker_does_not_change_result(maps, bundles, client2, reference, tmp_path):
    out = tmp_path / "o.zarr"
    result = {}

    def run():
        result["ds"] = ed.enrich_box(str(maps), model=bundles["wgan"].path, out=out, samples=SAMPLES, seed=3,
                                     tile=32, client=client2, progress=False, pixel_size=3.66)

    th = threading.Thread(target=run)
    th.start()
    _wait_for_markers(out, 5)
    pids = client2.run(os.getpid)
    victim = sorted(pids.values())[0]
    os.kill(victim, signal.SIGKILL)
    killed_at = len(done_markers(out, "gas"))
    th.join(timeout=300)
    assert not th.is_alive()
    total = 2 * 9 * SAMPLES
    assert killed_at < total, "run finished before the kill; the test did not exercise a fault"
    assert np.array_equal(result["ds"]["gas"].values, reference)
    client2.wait_for_workers(2, timeout=60)


def test_interrupted_run_resumes_bit_identical(maps, bundles, client, reference, tmp_path):
    out = tmp_path / "o.zarr"
    cmd = [sys.executable, "-m", "ember_dist.cli", "enrich", str(maps), "--field", "gas", "--model",
           str(bundles["wgan"].path), "--out", str(out), "--samples", str(SAMPLES), "--seed", "3", "--tile", "32",
           "--pixel-size", "3.66", "--quiet"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_for_markers(out, 3)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the client and its whole LocalCluster
        proc.wait(timeout=60)
    done = len(done_markers(out, "gas"))
    assert 0 < done < 2 * 9 * SAMPLES, done
    ds = ed.enrich_box(str(maps), model=bundles["wgan"].path, out=out, samples=SAMPLES, seed=3, tile=32,
                       client=client, progress=False, pixel_size=3.66, resume=True)
    assert np.array_equal(ds["gas"].values, reference)
