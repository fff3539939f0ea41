# SPDX-License-Identifier: BSD-3-Clause
"""Faults: a killed worker and a killed run; results stay bit-identical."""
from __future__ import annotations

import hashlib
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import ember_dist as ed
from ember_dist.demo import lognormal_map
from ember_dist.io.store import done_markers, read_request
from tests.conftest import as_from_a_terminal

SAMPLES = 6  # 2 slabs x 9 tiles x 6 samples = 108 tasks


@pytest.fixture(scope="module")
def maps(tmp_path_factory):
    p = tmp_path_factory.mktemp("in") / "m.npy"
    np.save(p, np.stack([lognormal_map(96, seed=s)[:88, :72] for s in range(2)]))
    return p


@pytest.fixture(scope="module")
def reference_store(maps, bundles, client, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ref.zarr"
    ed.enrich_box(str(maps), model=bundles["wgan"].path, out=out, samples=SAMPLES, seed=3, tile=32,
                  client=client, progress=False, pixel_size=3.66)
    return out


@pytest.fixture(scope="module")
def reference(reference_store):
    import xarray as xr

    return xr.open_zarr(reference_store)["gas"].values


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
    # No options: the store's own provenance says what to run.
    ds = ed.enrich_box(out=out, client=client, progress=False, resume=True)
    assert np.array_equal(ds["gas"].values, reference)
    assert ds.attrs["status"] == "complete" and ds.attrs["seed"] == 3 and ds.attrs["samples"] == SAMPLES


#: Start-up lines TensorFlow prints in each worker process before its log level applies (not ours to judge here).
_TF_STARTUP = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\)|I0000 .*oneDNN)")


def _cli(*args):
    return [sys.executable, "-m", "ember_dist.cli", *map(str, args)]


def test_ctrl_c_prints_one_line_and_the_resume_command_finishes_bitwise(maps, bundles, reference, tmp_path, capsys):
    out = tmp_path / "o.zarr"
    cmd = _cli("enrich", maps, "--model", bundles["wgan"].path, "--out", out, "--samples", SAMPLES, "--seed", 3,
               "--tile", 32, "--pixel-size", 3.66, "--quiet")
    proc = subprocess.Popen(as_from_a_terminal(cmd), start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_markers(out, 3)
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group, workers included
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    lines = [ln for ln in err.strip().splitlines() if not _TF_STARTUP.match(ln)]
    assert len(lines) == 1, err
    m = re.fullmatch(r"ember-dist enrich: interrupted, (\d+) of (\d+) tasks done; finish the run with: (.*)", lines[0])
    assert m, lines[0]
    done, total = int(m[1]), int(m[2])
    # Tasks of all stages (split stages too): as recorded by the run, and the markers on disk.
    assert total == read_request(out)["tasks_total"] >= 2 * 9 * SAMPLES
    assert 3 <= done < total and done == len(done_markers(out, "gas"))
    assert m[3] == f"ember-dist enrich --out {out} --resume"

    # The partial store says so, and the statistics refuse it with that reason and the same command.
    import xarray as xr

    assert xr.open_zarr(out, consolidated=False).attrs["status"] == "incomplete"
    from ember_dist.cli import main

    assert main(["stats", str(out), "--out", str(tmp_path / "st")]) == 2
    stats_err = capsys.readouterr().err
    assert "is incomplete: the enrich run writing it has not finished" in stats_err
    assert f"Finish it with ember-dist enrich --out {out} --resume" in stats_err
    with pytest.raises(ValueError, match="incomplete.*Finish it with enrich_box"):
        ed.power_spectrum(xr.open_zarr(out, consolidated=False), field="gas")

    # The printed command, as typed, finishes the run with the same bits as an uninterrupted one.
    p = subprocess.run(_cli(*shlex.split(m[3])[1:], "--quiet"), capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    ds = xr.open_zarr(out)
    assert np.array_equal(ds["gas"].values, reference)
    assert ds.attrs["status"] == "complete" and "status_note" not in ds.attrs and "status" not in ds["gas"].attrs


def test_resume_checks_given_options_before_any_cluster(reference_store, bundles, capsys):
    """--resume with options that differ from the store's: one line naming only those, before any cluster."""
    from ember_dist.cli import main

    out = reference_store
    t0 = time.perf_counter()
    assert main(["enrich", "--out", str(out), "--resume", "--seed", "4", "--tile", "64", "--samples", str(SAMPLES),
                 "--model", str(bundles["wgan"].path)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        f"ember-dist enrich: error: cannot resume {str(out)!r} with different options: --seed 4 (the store was "
        "written with --seed 3); --tile 64 (the store was written with --tile 32). Leave these options out to resume "
        "with the store's own, or pass --overwrite to start again.")
    assert time.perf_counter() - t0 < 30  # no LocalCluster was started (no dashboard line either)
    # Another model: named as the user names models, not by weight checksums (both test bundles share a name,
    # so by their paths).
    assert main(["enrich", "--out", str(out), "--resume", "--model", str(bundles["unet"].path)]) == 2
    err = capsys.readouterr().err
    assert (f"with different options: --model {bundles['unet'].path} for gas (the store was written with --model "
            f"{bundles['wgan'].path}). Leave") in err
    assert not re.search(r"[0-9a-f]{12}", err), err
    # Python: the same check, spelled as keywords.
    with pytest.raises(ValueError, match=r"options: seed=4 \(the store was written with seed=3\)\. Leave"):
        ed.enrich_box(out=out, resume=True, seed=4, progress=False)


def _snapshot(root):
    """Every file's sha256 and mtime, and every folder's mtime, under ``root``."""
    seen = {}
    for d, _, files in os.walk(root):
        seen[d] = os.stat(d).st_mtime_ns
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                seen[p] = (os.stat(p).st_mtime_ns, hashlib.sha256(fh.read()).hexdigest())
    return seen


def test_resume_of_a_complete_store_says_so_and_touches_nothing(reference_store, maps, monkeypatch, capsys):
    """--resume on a finished store: one line, exit 0, no cluster, the store's bytes and mtimes unchanged."""
    import ember_dist.cluster
    from ember_dist.cli import main

    def no_cluster(*a, **k):
        raise AssertionError("a complete store needs no cluster")

    monkeypatch.setattr(ember_dist.cluster, "connect", no_cluster)
    out = reference_store
    before = _snapshot(out)
    assert len(before) > 100  # chunks, markers, metadata: the snapshot sees the store
    tiles = 2 * 9 * SAMPLES  # slabs x tiles of 32 px in 88 x 72 px x samples
    for args in (["--out", out, "--resume"], [maps, "--out", out, "--resume", "--workers", 2]):  # input as recorded
        assert main(["enrich", *map(str, args)]) == 0
        std = capsys.readouterr()
        assert std.out == ""
        assert std.err == f"ember_dist: {out} is complete ({tiles} tiles); nothing to do (--overwrite computes it again)\n"
    ds = ed.enrich_box(out=out, resume=True)
    assert capsys.readouterr().err == (f"ember_dist: {out} is complete ({tiles} tiles); nothing to do "
                                       "(overwrite=True computes it again)\n")
    assert ds.attrs["status"] == "complete" and ds["gas"].shape == (SAMPLES, 1, 2, 88, 72)
    assert _snapshot(out) == before
