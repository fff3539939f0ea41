# SPDX-License-Identifier: BSD-3-Clause
"""The whole pipeline on the toy suite: a full run, a rerun that skips every stage, a run killed in the middle
of the enrichment and continued by the same command (bitwise equal to the uninterrupted run), and a changed
setting that reruns the right stages and says why."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import xarray as xr

from ember_dist.pipeline import run_pipeline
from ember_dist.pipeline.statistics import read_statistics

from .conftest import workspace, write_pipeline

STAGES = ["deposit", "truth", "haloes", "enrich", "statistics", "report"]


def _assert_same_results(a, b):
    for store in ("dm.zarr", "truth.zarr", "enriched.zarr"):
        x = xr.open_zarr(os.path.join(a, store), consolidated=False)
        y = xr.open_zarr(os.path.join(b, store), consolidated=False)
        assert sorted(x.data_vars) == sorted(y.data_vars)
        for v in x.data_vars:
            np.testing.assert_array_equal(x[v].values, y[v].values, err_msg=f"{store}:{v}")
    sa, sb = (read_statistics(os.path.join(d, "statistics.zarr")) for d in (a, b))
    assert sorted(sa) == sorted(sb)
    for k in sa:
        xr.testing.assert_identical(sa[k].drop_attrs(), sb[k].drop_attrs())
    with h5py.File(os.path.join(a, "haloes.h5")) as f, h5py.File(os.path.join(b, "haloes.h5")) as g:
        for k in f:
            np.testing.assert_array_equal(f[k][...], g[k][...])


def test_full_run(reference):
    d, res, seconds = reference
    assert list(res.actions) == STAGES and set(res.actions.values()) == {"ran"}
    out = d / "out"
    assert res.report == str(out / "report" / "report.html")
    stats = read_statistics(str(out / "statistics.zarr"))
    assert {"pred/power_gas", "truth/power_hi", "pred/cddf", "truth/cddf", "pred/halos"} <= set(stats)
    assert stats["pred/power_gas"].sizes["sample"] == 2
    assert stats["pred/halos"].sizes["halo"] > 0 and float(stats["truth/halos"]["mass_gas"].sum()) > 0
    assert xr.open_zarr(out / "enriched.zarr").attrs["pipeline_stage_key"] == res_key(out, "enrich")
    print(f"toy pipeline, uninterrupted: {seconds:.1f} s")


def res_key(out, stage):
    import json

    return json.loads((out / ".pipeline" / "stages" / f"{stage}.json").read_text())["key"]


def test_rerun_skips_every_done_stage(reference):
    d, _, _ = reference
    res = run_pipeline(str(d / "pipeline.yaml"), progress=False)  # no stage needs a cluster: none starts
    assert [res.actions[s] for s in STAGES] == ["skipped"] * 5 + ["ran"]
    assert "done with the same inputs and settings" in res.reasons["enrich"]


def test_killed_run_continues_bitwise_equal_and_changed_setting_reruns(reference, toy, client):
    ref, _, _ = reference
    d = workspace(toy, "killed")
    path = write_pipeline(d)
    first = run_pipeline(path, progress=False, until="deposit", client=client)  # stopped after a stage
    assert list(first.actions) == ["deposit"]
    # now a real kill: the CLI in its own session, SIGKILLed once the first tile batch is done
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-m", "ember_dist.cli", "run", path, "--quiet"], cwd=d, env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done = d / "out" / "enriched.zarr" / ".ember" / "done"
    t0 = time.time()
    try:
        while not (done.is_dir() and any(any(p.iterdir()) for p in done.iterdir())):
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.time() - t0 < 300, "no enrichment task finished within 300 s"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (d / "out" / ".pipeline" / "stages" / "enrich.json").exists()  # killed inside the stage
    res = run_pipeline(path, progress=False, client=client)
    assert res.actions["deposit"] == "skipped" and res.actions["enrich"] == "resumed"
    _assert_same_results(str(ref / "out"), str(d / "out"))

    # a changed setting: the enrichment and everything that reads it rerun, and say why
    path = write_pipeline(d, enrich={"seed": 5})
    res = run_pipeline(path, progress=False, client=client)
    assert [res.actions[s] for s in STAGES] == ["skipped"] * 3 + ["ran"] * 3
    assert res.reasons["enrich"] == "seed changed 0 -> 5"
    assert res.reasons["statistics"] == "stage enrich it reads was rerun"
    new = xr.open_zarr(d / "out" / "enriched.zarr")
    old = xr.open_zarr(ref / "out" / "enriched.zarr")
    assert new.attrs["seed"] == 5 and not np.array_equal(new["gas"].values, old["gas"].values)
