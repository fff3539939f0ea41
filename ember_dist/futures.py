# SPDX-License-Identifier: BSD-3-Clause
"""Waiting on Dask futures in completion order, on their own client's event loop.

``distributed.as_completed`` tracks its futures on ``default_client().loop`` unless given a loop. With two
clients in one process (a notebook's own client and the one a run was given; the tests' session clusters),
the default is the newest client, so the futures' state events were bound to another client's loop, and a
future whose worker died after it finished (its event cleared for the recomputation) raised "Event ... is
bound to a different event loop" from ``result()`` instead of waiting for the recomputed result (2026-12-04:
``test_killed_worker_does_not_change_result``).
"""
from __future__ import annotations

__all__ = ["as_completed_on_own_loop"]


def as_completed_on_own_loop(futures):
    """Iterate ``futures`` (of one client) as they complete, tracked on that client's event loop.

    >>> list(as_completed_on_own_loop([]))
    []
    """
    futures = list(futures)
    if not futures:
        return iter(())
    from distributed import as_completed

    return as_completed(futures, loop=futures[0].client.loop)
