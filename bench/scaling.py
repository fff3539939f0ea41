# SPDX-License-Identifier: BSD-3-Clause
"""Benchmark: enrich_box throughput with 1 and 2 workers on the same map (strong scaling).

Each configuration gets a fresh cluster from ``ember_dist.cluster.connect``; a warm-up run
loads the model on every worker, then ``--repeat`` timed runs enrich the same toy map
(``make_demo_maps``) with the bundled ``small-gas-toy`` model.  Reported per run:

* wall: ``enrich_box`` end to end (input scan, template, tiles, consolidation);
* tiles: from the first tile task's start to the last one's end (the cluster's task stream);
* Mpx/s: output pixels / tiles time (megapixels of emulated map per second).

Usage::

    python bench/scaling.py                          # 2048^2 x 2 slabs, tile 512, workers 1 and 2 (local)
    python bench/scaling.py --n 1024 --workers 1 2 4
    python bench/scaling.py --profile cuda --workers 1 2 --precision bfloat16   # GPU box (dask-cuda)
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import tempfile
import time

from ember_dist.cluster import close, connect
from ember_dist.demo import make_demo_maps
from ember_dist.engine.enrich import enrich_box


def _cpu():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name"))
    except Exception:  # noqa: BLE001 - informational only
        return platform.processor() or "unknown"


def _tile_span(client, t0):
    rows = [r for r in client.get_task_stream(start=t0) if str(r["key"]).startswith("enrich-gas-")]
    starts = [s["start"] for r in rows for s in r["startstops"] if s["action"] == "compute"]
    stops = [s["stop"] for r in rows for s in r["startstops"] if s["action"] == "compute"]
    return max(stops) - min(starts), len(rows)


def run(args):
    maps = make_demo_maps(args.n, nslab=args.nslab, seed=0)
    mpx = args.n * args.n * args.nslab / 1e6
    work = tempfile.mkdtemp(prefix="ember-scaling-")
    rows = []
    try:
        for w in args.workers:
            client = connect(args.profile, n_workers=w, dashboard_address="127.0.0.1:0")
            try:
                kw = dict(fields="gas", model=args.model, tile=args.tile, client=client, progress=False,
                          precision=args.precision, overwrite=True)
                enrich_box(maps, out=os.path.join(work, "warm.zarr"), **kw)  # loads the model on every worker
                for r in range(args.repeat):
                    client.get_task_stream()  # make sure the scheduler records it
                    t0 = time.time()
                    enrich_box(maps, out=os.path.join(work, f"w{w}.zarr"), **kw)
                    wall = time.time() - t0
                    span, ntasks = _tile_span(client, t0)
                    rows.append((w, r, wall, span, ntasks, mpx / span))
                    print(f"workers={w} run={r}: wall {wall:.2f} s, tiles {span:.2f} s ({ntasks} tasks), "
                          f"{mpx / span:.3f} Mpx/s", flush=True)
            finally:
                close(client)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    best = {w: max(r[5] for r in rows if r[0] == w) for w in args.workers}
    print(f"\nMachine: {_cpu()}, {os.cpu_count()} cores; profile {args.profile}; model {args.model}; "
          f"map {args.n}^2 x {args.nslab} slabs; tile {args.tile}; precision {args.precision}")
    print("| workers | wall (s), runs | tiles (s), runs | best Mpx/s | speed-up vs 1 |")
    print("|---|---|---|---|---|")
    base = best.get(args.workers[0])
    for w in args.workers:
        walls = ", ".join(f"{r[2]:.2f}" for r in rows if r[0] == w)
        spans = ", ".join(f"{r[3]:.2f}" for r in rows if r[0] == w)
        print(f"| {w} | {walls} | {spans} | {best[w]:.3f} | {best[w] / base:.2f}x |")
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--n", type=int, default=2048, help="map side, px")
    p.add_argument("--nslab", type=int, default=2, help="slabs (maps) per run")
    p.add_argument("--tile", type=int, default=512, help="tile core, px")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to compare")
    p.add_argument("--repeat", type=int, default=2, help="timed runs per worker count")
    p.add_argument("--model", default="small-gas-toy", help="bundle name or path")
    p.add_argument("--profile", default="local", help="cluster profile: local or cuda")
    p.add_argument("--precision", default="float32", choices=["float32", "bfloat16"])
    run(p.parse_args(argv))


if __name__ == "__main__":
    main()
