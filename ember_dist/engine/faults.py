# SPDX-License-Identifier: BSD-3-Clause
"""Deterministic fault injection for the engine's reliability tests (off unless an env var is set).

A test sets ``EMBER_DIST_FAULT_DIR`` in the workers' environment and creates an *armed* file
``<dir>/kill-<phase>``; the first process that reaches :func:`fault_point` for that phase claims the
file (an atomic rename, so exactly one process wins once) and SIGKILLs itself, as a crashed or
OOM-killed worker would; ``arm(..., after=n)`` makes it the first process to reach the phase for the
n-th time (so the killed worker has finished tasks of that phase behind it).  Phases: ``scan``, ``plugin``, ``tile``, the split stages (``A1``, ``B``,
``C1``, ...) and ``consolidate``.  Without the variable a fault point is one ``os.environ`` lookup.
"""
from __future__ import annotations

import os
import signal

__all__ = ["FAULT_DIR_ENV", "fault_point", "arm", "fired", "kill_worker_at"]

FAULT_DIR_ENV = "EMBER_DIST_FAULT_DIR"


_REACHED = {}  # phase -> times this process reached it while it was armed


def fault_point(phase):
    """SIGKILL this process if ``phase`` is armed and no other process claimed it first."""
    d = os.environ.get(FAULT_DIR_ENV)
    if not d:
        return
    armed = os.path.join(d, f"kill-{phase}")
    try:
        with open(armed) as f:
            after = int(f.read() or 1)
        _REACHED[phase] = _REACHED.get(phase, 0) + 1  # counted while armed only
        if _REACHED[phase] < after:
            return
        os.rename(armed, f"{armed}.fired-{os.getpid()}")
    except OSError:  # not armed, or another process won
        return
    os.kill(os.getpid(), signal.SIGKILL)


def arm(directory, phase, after=1):
    """Arm ``phase`` in ``directory`` (the workers' ``EMBER_DIST_FAULT_DIR``): the first process to reach it
    for the ``after``-th time dies."""
    with open(os.path.join(directory, f"kill-{phase}"), "w") as f:
        f.write(str(int(after)))


def fired(directory, phase):
    """Pids of the processes that fired ``phase`` in ``directory``."""
    prefix = f"kill-{phase}.fired-"
    return [int(n[len(prefix):]) for n in os.listdir(directory) if n.startswith(prefix)]


def kill_worker_at(client, phase):
    """Client-side phases (consolidation runs in the client): have one worker run its fault point for
    ``phase`` and wait until the scheduler has seen it die, so the phase runs while the worker restarts."""
    d = os.environ.get(FAULT_DIR_ENV)
    if not d or not os.path.exists(os.path.join(d, f"kill-{phase}")):
        return
    import time

    workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
    victim = workers[0]
    try:
        client.run(fault_point, phase, workers=[victim], wait=True)
    except Exception:  # noqa: BLE001 - the worker died answering, as intended
        pass
    t0 = time.monotonic()
    while victim in client.scheduler_info(n_workers=-1)["workers"] and time.monotonic() - t0 < 30:
        time.sleep(0.05)
