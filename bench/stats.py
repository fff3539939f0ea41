# SPDX-License-Identifier: BSD-3-Clause
"""Benchmark: P(k), pixel PDF and CDDF of one large map, Dask vs a single NumPy process.

Writes a seeded log-normal HI-like map (float32, Msun/h per pixel) to a zarr store
chunk by chunk, then

1. computes the three statistics in one ``dask.compute`` pass on a ``LocalCluster``
   (processes, ``--workers`` x ``--threads``, imports warmed up first) reading the store
   lazily, and records the wall time and each worker's peak RSS (``VmHWM`` from
   ``/proc/self/status``; not ``ru_maxrss``, which Linux keeps across execve, so a spawned
   worker would report at least its parent's size);
2. runs the same statistics on the whole map loaded into NumPy in a fresh subprocess
   (so its peak RSS is its own) and records wall time and peak RSS (``VmHWM``);
3. checks that both give the same P(k) (max relative difference) and PDF counts.

Usage::

    python bench/stats.py --size 8192
    python bench/stats.py --size 16384 --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

GEOM = dict(redshift=2.0, hubble=0.6774, slab_depth=1500.0, pixel_size=3.6621)


def _peak_rss_mb():
    """Peak RSS of this process in MiB (VmHWM). Not ru_maxrss: Linux keeps ru_maxrss across
    execve, so a worker spawned by a large client would report the client's size."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _cpu_s():
    """CPU time (user + system) of this process so far, seconds."""
    t = os.times()
    return t.user + t.system


def _cpu_model():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def _new_session():
    """Put this process in a session of its own (see ``--same-session``); returns its sid."""
    try:
        os.setsid()
    except PermissionError:  # already a session or process-group leader
        pass
    return os.getsid(0)


def _warm_up():
    """Import what the statistics use, so that neither timed part pays for imports."""
    import dask.array  # noqa: F401
    import xarray  # noqa: F401
    import zarr  # noqa: F401

    import ember_dist.stats  # noqa: F401
    import ember_dist.stats.power  # noqa: F401


def make_store(path, size, chunk):
    """Write a seeded log-normal map of ``size`` ^ 2 pixels to a zarr store (once)."""
    import dask.array as da
    import xarray as xr

    if os.path.exists(os.path.join(path, "zarr.json")):
        return
    nb = -(-size // chunk)

    def block(block_id=None):
        iy, ix = block_id
        rng = np.random.default_rng([iy, ix, 7])
        h = min(chunk, size - iy * chunk)
        w = min(chunk, size - ix * chunk)
        return (10.0 ** rng.normal(4.0, 1.0, size=(h, w))).astype(np.float32)

    arr = da.map_blocks(block, dtype=np.float32, chunks=((chunk,) * (nb - 1) + (size - chunk * (nb - 1),),) * 2)
    ds = xr.Dataset({"hi": (("y", "x"), arr)},
                    attrs=dict(GEOM, box_size=size * GEOM["pixel_size"], omega_m=0.3089,
                               omega_b=0.0486, omega_l=0.6911))
    ds.to_zarr(path, mode="w")


def _stats(data, box, rechunk=None, scratch_dir=None):
    from ember_dist.stats import cddf, pixel_pdf, power_spectrum

    ps = power_spectrum(data, box_size=box, rechunk_method=rechunk, scratch_dir=scratch_dir)
    pdf = pixel_pdf(data)
    cd = cddf(data, **GEOM)
    return ps, pdf, cd


def run_dask(path, workers, threads, memory_limit, rechunk=None, own_sessions=True):
    scratch = os.path.dirname(path)
    import dask
    import xarray as xr
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True,
                      memory_limit=memory_limit, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.run(_warm_up)  # imports happen once per worker, not per computation
        sessions = client.run(_new_session) if own_sessions else {}
        base = client.run(_peak_rss_mb)
        ds = xr.open_zarr(path)
        box = ds.attrs["box_size"]
        cpu0 = client.run(_cpu_s)
        ccpu0 = _cpu_s()
        load0 = os.getloadavg()
        t0 = time.perf_counter()
        ps, pdf, cd = dask.compute(*_stats(ds["hi"].data, box, rechunk, scratch))
        wall = time.perf_counter() - t0
        load1 = os.getloadavg()
        ccpu = _cpu_s() - ccpu0
        cpu1 = client.run(_cpu_s)
        peaks = client.run(_peak_rss_mb)
    return dict(wall_s=wall, loadavg_1min_start_end=[load0[0], load1[0]],
                worker_cpu_s=sorted(cpu1[w] - cpu0[w] for w in cpu1), client_scheduler_cpu_s=ccpu,
                rechunk=rechunk or "dask default", own_sessions=bool(own_sessions),
                cpu_model=_cpu_model(),
                worker_sessions=sorted(sessions.values()), worker_peak_rss_mb=sorted(peaks.values()),
                worker_start_rss_mb=sorted(base.values()), client_peak_rss_mb=_peak_rss_mb(),
                power=ps["power"].values.tolist(), counts=pdf["counts"].values.tolist(),
                cddf_counts=cd["counts"].values.tolist())


def run_numpy(path):
    import zarr

    _warm_up()
    load0 = os.getloadavg()
    cpu0 = _cpu_s()
    t0 = time.perf_counter()
    m = np.asarray(zarr.open_group(path, mode="r")["hi"][...])
    t1 = time.perf_counter()
    box = m.shape[-1] * GEOM["pixel_size"]
    ps, pdf, cd = _stats(m, box)
    wall = time.perf_counter() - t0
    return dict(wall_s=wall, read_s=t1 - t0, cpu_s=_cpu_s() - cpu0, peak_rss_mb=_peak_rss_mb(),
                loadavg_1min_start_end=[load0[0], os.getloadavg()[0]],
                power=ps["power"].values.tolist(), counts=pdf["counts"].values.tolist(),
                cddf_counts=cd["counts"].values.tolist())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--size", type=int, default=16384, help="map side, pixels")
    p.add_argument("--chunk", type=int, default=2048, help="zarr chunk side, pixels")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="threads per worker")
    p.add_argument("--memory-limit", default="8GiB", help="per worker")
    p.add_argument("--workdir", default="/tmp/ember_bench_stats")
    p.add_argument("--json", default=None, help="write the figures here")
    p.add_argument("--rechunk", default="auto", choices=["auto", "tasks", "p2p", "disk", "dask"],
                   help="method of the P(k) transposition (auto: the library's default, disk on a LocalCluster; "
                        "disk: scratch files under --workdir; dask: Dask's configured default, p2p)")
    p.add_argument("--same-session", action="store_true",
                   help="leave the workers and the NumPy process in this process's session; by default "
                        "each gets its own (setsid), so that with the kernel's autogroup scheduling "
                        "(sched_autogroup_enabled=1) they compete for the CPU as separate processes "
                        "instead of sharing one process's share")
    p.add_argument("--numpy-only", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--skip-numpy", action="store_true", help="no single-process baseline")
    a = p.parse_args(argv)
    path = os.path.join(a.workdir, f"map_{a.size}.zarr")
    if a.numpy_only:
        print(json.dumps(run_numpy(path)))
        return 0
    os.makedirs(a.workdir, exist_ok=True)
    t0 = time.perf_counter()
    make_store(path, a.size, a.chunk)
    print(f"store {path} ready in {time.perf_counter() - t0:.1f} s", flush=True)
    res = {"size": a.size, "chunk": a.chunk, "workers": a.workers, "threads": a.threads}
    try:
        res["sched_autogroup_enabled"] = int(open("/proc/sys/kernel/sched_autogroup_enabled").read())
    except OSError:
        pass
    d = run_dask(path, a.workers, a.threads, a.memory_limit, None if a.rechunk == "dask" else a.rechunk,
                 not a.same_session)
    print(f"dask : {d['wall_s']:.1f} s (worker CPU {[round(c, 1) for c in d['worker_cpu_s']]} s), worker "
          f"peak RSS {[round(m) for m in d['worker_peak_rss_mb']]} MiB, load {d['loadavg_1min_start_end']}",
          flush=True)
    res["dask"] = d
    if not a.skip_numpy:
        out = subprocess.run([sys.executable, __file__, "--numpy-only", "--size", str(a.size),
                              "--workdir", a.workdir], capture_output=True, text=True, check=True,
                             start_new_session=not a.same_session)
        n = json.loads(out.stdout.strip().splitlines()[-1])
        res["numpy"] = n
        print(f"numpy: {n['wall_s']:.1f} s (read {n['read_s']:.1f} s, CPU {n['cpu_s']:.1f} s), peak RSS "
              f"{n['peak_rss_mb']:.0f} MiB, load {n['loadavg_1min_start_end']}")
        pw_d, pw_n = np.array(d["power"]), np.array(n["power"])
        res["max_rel_diff_power"] = float(np.max(np.abs(pw_d / pw_n - 1)))
        res["pdf_counts_equal"] = d["counts"] == n["counts"]
        res["cddf_counts_equal"] = d["cddf_counts"] == n["cddf_counts"]
        print(f"P(k) max rel diff {res['max_rel_diff_power']:.2e}; PDF counts equal "
              f"{res['pdf_counts_equal']}; CDDF counts equal {res['cddf_counts_equal']}")
    for k in ("dask", "numpy"):
        for v in ("power", "counts", "cddf_counts"):
            res.get(k, {}).pop(v, None)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
