# SPDX-License-Identifier: BSD-3-Clause
"""``connect``: one entry point that returns a Dask client for a named profile.

Profiles: ``"local"`` (an embedded LocalCluster, dashboard on 127.0.0.1) or the
address of a running scheduler (``"tcp://host:8786"``, ``"tls://..."``).

Examples
--------
>>> connect("nowhere")
Traceback (most recent call last):
...
ValueError: unknown cluster profile 'nowhere'; use 'local' or a scheduler address such as 'tcp://127.0.0.1:8786'.
"""
from __future__ import annotations

import os

from ember_dist import config

__all__ = ["connect"]


def _local(**overrides):
    from distributed import Client, LocalCluster

    opts = dict(config.get("cluster.local"))
    opts.update({k.replace("_", "-"): v for k, v in overrides.items()})
    n = int(opts["n-workers"])
    threads = max(1, (os.cpu_count() or 1) // n)
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=int(opts["threads-per-worker"]),
        processes=True,
        host="127.0.0.1",
        dashboard_address=str(opts["dashboard-address"]),
        memory_limit=opts["memory-limit"],
        # The deep-learning runtime gets this worker's share of the cores.
        env={"EMBER_DIST_THREADS": str(threads), "TF_NUM_INTRAOP_THREADS": str(threads),
             "TF_NUM_INTEROP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
             "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "tensorflow")},
    )
    return Client(cluster)


def connect(profile=None, **overrides):
    """Return a ``distributed.Client`` for ``profile``.

    Parameters
    ----------
    profile : str, default from config ``ember_dist.cluster.profile`` ("local")
        ``"local"`` or a scheduler address.
    **overrides
        Options of the profile, e.g. ``n_workers=2`` for ``"local"``.
    """
    profile = config.get("cluster.profile", profile)
    if profile == "local":
        return _local(**overrides)
    if "://" in str(profile):
        from distributed import Client

        return Client(profile, **overrides)
    raise ValueError(
        f"unknown cluster profile {profile!r}; use 'local' or a scheduler address such as 'tcp://127.0.0.1:8786'."
    )
