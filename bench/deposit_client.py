# SPDX-License-Identifier: BSD-3-Clause
"""Benchmark: ``deposit_snapshot`` with a distributed client on the application box, as the pipeline runs it.

Times the deposit of ``sim_suite/app/dmo/snap_001.hdf5`` (2,744,000 particles; 28 slabs of 1792^2 px at
31.25 ckpc/h) on a 2-worker LocalCluster (start-up excluded) and reports any "Sending large graph"
warning.  ``bench/deposit.py`` runs without a client; this covers the client path.  To compare two
versions, run it with each on ``PYTHONPATH``, alternating.

Usage::

    python bench/deposit_client.py [OUT_DIR]
"""
from __future__ import annotations

import sys
import tempfile
import time
import warnings
from pathlib import Path

from distributed import Client, LocalCluster

from ember_dist.deposit import api

SNAP = Path(__file__).resolve().parents[1] / "sim_suite" / "app" / "dmo" / "snap_001.hdf5"


def main(out):
    Path(out).mkdir(parents=True, exist_ok=True)
    with LocalCluster(n_workers=2, threads_per_worker=1) as c, Client(c) as cl:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            api.deposit_snapshot(SNAP, Path(out) / "dm.zarr", pixel=31.25, slabs=28, axes=["z"], fields=["dm"],
                                 seed=0, align=16, client=cl, overwrite=True, n_neighbours=80, kernel="cubic_spline")
            dt = time.perf_counter() - t0
    big = [str(x.message).splitlines()[0] for x in w if "large graph" in str(x.message)]
    print(f"{api.__file__}: deposit_snapshot {dt:.1f} s; large-graph warnings: {big or 'none'}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())
