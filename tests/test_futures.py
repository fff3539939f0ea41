# SPDX-License-Identifier: BSD-3-Clause
"""Futures waited on in completion order survive a worker lost after they finished, with two clients in one process."""
from __future__ import annotations

import time

import pytest

from ember_dist.futures import as_completed_on_own_loop


def _slow_square(x):
    time.sleep(1.0)
    return x * x


@pytest.fixture
def two_clients():
    """Client ``a`` (two in-process workers) and client ``b``, created later, so ``b`` is the default client."""
    from distributed import Client, LocalCluster

    with Client(LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0")) as a, \
            Client(LocalCluster(n_workers=1, processes=False, dashboard_address=":0")) as b:
        yield a, b


def _finish_then_lose_its_worker(a, iterate):
    fut = a.submit(_slow_square, 7, pure=True)
    (done,) = list(iterate([fut]))
    assert done is fut and fut.status == "finished"
    (holder,) = a.who_has(fut)[fut.key]
    worker = next(w for w in a.cluster.workers.values() if w.address == holder)
    a.sync(worker.close)  # the result dies with its worker; the scheduler recomputes it on the other one
    deadline = time.time() + 10
    while fut.status == "finished" and time.time() < deadline:
        time.sleep(0.01)
    assert fut.status != "finished", "the client never heard of the lost result: the test did not exercise it"
    return fut.result(timeout=30)


def test_a_result_lost_after_completion_is_recomputed(two_clients):
    a, b = two_clients
    from distributed import default_client

    assert default_client() is b and a.loop is not b.loop
    assert _finish_then_lose_its_worker(a, as_completed_on_own_loop) == 49


def test_distributed_as_completed_alone_binds_the_wait_to_the_default_client(two_clients):
    """Why the helper exists (distributed 2026.8.0). A later release that tracks on the futures' own loop skips
    this with that news: the helper could then go."""
    a, _ = two_clients
    from distributed import __version__, as_completed

    try:
        value = _finish_then_lose_its_worker(a, as_completed)
    except RuntimeError as exc:
        assert "different event loop" in str(exc)
    else:
        assert value == 49
        pytest.skip(f"distributed {__version__}: as_completed no longer binds the wait to the default client's loop")


def test_no_futures_no_client_needed():
    assert list(as_completed_on_own_loop([])) == []
