# SPDX-License-Identifier: BSD-3-Clause
"""Shared helpers of ``bench/pipeline.py``: CPU seconds of this process and its children, the load, timing.

CPU seconds are those of the whole process tree (this process's threads, its Dask worker processes),
so a phase's figure includes its workers whatever the shared machine's load; wall seconds and the load
average are taken beside them.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil

__all__ = ["say", "load", "cpu_model", "tree_cpu", "timed", "preload", "make_bundle", "make_snapshot", "median"]


def say(msg):
    print(msg, flush=True)


def load():
    """1-minute load average."""
    return round(os.getloadavg()[0], 1)


def cpu_model():
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    return next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "unknown")


def tree_cpu():
    """User + system CPU seconds of this process (all threads) and every live descendant process."""
    me = psutil.Process()
    total = 0.0
    for p in [me] + me.children(recursive=True):
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:  # a child that ended meanwhile
            pass
    return total


def timed(fn):
    """``(result, wall s, CPU s of the process tree, (load before, load after))``."""
    l0, c0, t0 = load(), tree_cpu(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, tree_cpu() - c0, (l0, load())


def preload():
    """Import what every phase needs before anything is timed, in the calibration and in the check alike, so
    a phase's first call measures its own first-call work (numba's cached kernels, traces), not imports."""
    import dask.array  # noqa: F401
    import distributed  # noqa: F401
    import h5py  # noqa: F401
    import numpy  # noqa: F401
    import xarray  # noqa: F401
    import zarr  # noqa: F401

    import ember_dist  # noqa: F401
    import ember_dist.cluster  # noqa: F401
    import ember_dist.deposit  # noqa: F401
    import ember_dist.engine.enrich  # noqa: F401
    import ember_dist.stats  # noqa: F401


def make_bundle(path, preset):
    """A random-weight bundle written by a child process, so that Keras stays out of this one (the client
    process of ``enrich_box`` does not load it either)."""
    code = ("import sys; from ember_dist.model.testing import random_bundle; "
            "random_bundle(sys.argv[1], sys.argv[2], 'gas', noise=True, initializer='he_normal')")
    subprocess.run([sys.executable, "-c", code, str(path), preset], check=True, capture_output=True)
    return path


def make_snapshot(out_dir, n, box_size, seed=0):
    """``ember-dist mock`` in a child process (toy Zel'dovich DM-only box of ``n``^3 particles, ckpc/h):
    the dark-matter-only snapshot's path."""
    from pathlib import Path

    subprocess.run([sys.executable, "-m", "ember_dist.cli", "mock", str(out_dir), "--n", str(n), "--box-size",
                    str(box_size), "--seed", str(seed)], check=True, capture_output=True)
    return next((Path(out_dir) / "dmo").glob("*.hdf5"))


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])
