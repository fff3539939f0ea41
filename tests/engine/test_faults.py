# SPDX-License-Identifier: BSD-3-Clause
"""A worker SIGKILLed in any phase of a run costs recomputation, not the run, and not a bit.

Each test arms one phase (:mod:`ember_dist.engine.faults`): the first worker that reaches that
phase kills itself from inside the task or plugin hook, exactly once, and the run must finish on
the 2-worker cluster with the bits of an unkilled run.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from distributed import get_task_stream

import ember_dist as ed
from ember_dist.demo import lognormal_map
from ember_dist.engine.faults import FAULT_DIR_ENV, arm, fired
from tests.conftest import local_client


@pytest.fixture(scope="module")
def fault_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="module")
def fclient(fault_dir):
    """Two one-thread workers that read the fault directory (only armed phases kill)."""
    with local_client(2, **{FAULT_DIR_ENV: str(fault_dir)}) as c:
        yield c


@pytest.fixture(scope="module")
def maps(tmp_path_factory):
    p = tmp_path_factory.mktemp("in") / "m.npy"
    np.save(p, np.stack([lognormal_map(96, seed=20 + s)[:88, :72] for s in range(2)]))
    return p


def _marker(root, task_key):
    """The done marker of an engine task (``enrich-gas-0000006-<token>``, ``enrich-gas-splitA1-0000002-<token>``)."""
    field, kind, *rest = task_key.split("-")[1:-1]
    if kind.startswith("split"):
        stage = kind[len("split"):]
        name = f"{field}-{rest[0]}" if stage == "C1" else f"{field}-{stage}-{rest[0]}"
    else:
        name = f"{field}-{kind}"
    (path,) = [p for p in root.rglob(name) if p.parent.name == field]
    return path


def _run(maps, bundle, out, client, halo):
    return ed.enrich_box(str(maps), model=bundle.path, out=out, samples=2, seed=5, tile=32, halo=halo,
                         client=client, progress=False, pixel_size=3.66)


@pytest.fixture(scope="module")
def references(maps, bundles, fclient, tmp_path_factory):
    d = tmp_path_factory.mktemp("ref")
    return {h: _run(maps, bundles["wgan"], d / f"{h}.zarr", fclient, h)["gas"].values for h in ("exact", "split")}


# (phase, halo mode, the n-th time a worker reaches the phase): a later tile or stage task dies with finished
# tasks of the phase on its worker, which must not run again.
@pytest.mark.parametrize("phase,halo,after", [("scan", "exact", 1), ("plugin", "exact", 1), ("tile", "exact", 6),
                                              ("A1", "split", 3), ("B", "split", 1), ("C1", "split", 6),
                                              ("consolidate", "exact", 1)])
def test_worker_killed_in_phase_leaves_the_same_bits(maps, bundles, fclient, fault_dir, references, tmp_path,
                                                     phase, halo, after, monkeypatch):
    monkeypatch.setenv(FAULT_DIR_ENV, str(fault_dir))  # consolidation runs in this process
    fclient.wait_for_workers(2, timeout=60)
    arm(fault_dir, phase, after)
    with get_task_stream(fclient) as ts:
        got = _run(maps, bundles["wgan"], tmp_path / "o.zarr", fclient, halo)["gas"].values
    assert len(fired(fault_dir, phase)) == 1, "no worker died: the test did not exercise the fault"
    assert np.array_equal(got, references[halo])
    # Finished work is not redone: the client released what it had seen finish, and a finished task Dask
    # still ran again (its result died with the worker before the client released it) found its done
    # marker and returned without touching it, so the marker is older than the kill.
    runs = Counter(t["key"] for t in ts.data if str(t["key"]).startswith(("enrich-", "ember-scan-")))
    assert runs
    killed_at = (fault_dir / f"kill-{phase}.fired-{fired(fault_dir, phase)[0]}").stat().st_ctime
    again = [k for k, n in runs.items() if n > 1]
    assert not any(k.startswith("ember-scan-") for k in again), again
    for k in again:
        assert _marker(tmp_path, k).stat().st_mtime <= killed_at, f"{k} was computed again after the kill"
    fclient.wait_for_workers(2, timeout=60)  # the nanny restarted the killed worker
