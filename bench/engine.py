# SPDX-License-Identifier: BSD-3-Clause
"""Engine efficiency and memory: enrich_box against one raw generator call.

    python bench/engine.py --preset fiducial --size 2048 --core 1024
    python bench/engine.py --preset small --memory 2048,4096,8192 --core 512

For one map of ``size^2`` pixels (seeded lognormal, He-scaled random weights,
noisy generator), it measures side by side in one run:

* raw: one generator call on the whole periodic map (after a warm-up call of
  the same shape), in a separate process so its peak RSS is its own;
* exact: ``enrich_box(halo="exact")`` end to end on a fresh LocalCluster
  (validation scan, tiles, zarr writes), after a warm-up run that compiles the
  tile shape; the redundant-compute factor ``tiles * canvas^2 / size^2``;
  peak RSS per worker (``ru_maxrss``).

``--memory`` runs the exact engine on several map sizes with the same tile plan
(fresh cluster each) and prints the peak RSS per worker for each.
The last line is ``efficiency: X`` with X = exact Mpx/s / raw Mpx/s.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

_RAW = r"""
import json, resource, sys, time, numpy as np
from ember_dist.model.bundle import load_model
from ember_dist.engine.reference import predict_whole
b = load_model(sys.argv[1]); dm = np.load(sys.argv[2]); m = b.build()
predict_whole(b, dm, seed=0, halo=(0, 0), model=m)           # warm-up: trace/compile this shape
t = time.perf_counter(); predict_whole(b, dm, seed=0, halo=(0, 0), model=m); dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def _rss(client):
    import resource

    return client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)


def raw(bundle, dm_path):
    out = subprocess.run([sys.executable, "-c", _RAW, str(bundle.path), str(dm_path)], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def exact(bundle, dm, core, workers, tmp):
    import ember_dist as ed
    from ember_dist.cluster import connect
    from ember_dist.engine.plan import TilePlan

    client = connect("local", n_workers=workers, dashboard_address=":0")
    try:
        warm = dm[:core, :core]
        ed.enrich_box(warm, model=bundle.path, out=tmp / "warm.zarr", tile=core, client=client, progress=False,
                      overwrite=True, pixel_size=3.66)
        t = time.perf_counter()
        ed.enrich_box(dm, model=bundle.path, out=tmp / "exact.zarr", tile=core, client=client, progress=False,
                      overwrite=True, pixel_size=3.66)
        dt = time.perf_counter() - t
        plan = TilePlan.build(dm.shape, core, bundle.exact_halo, bundle.alignment)
        return {"seconds": dt, "redundancy": plan.redundancy, "canvas": plan.canvas[0],
                "peak_rss_gb_per_worker": sorted(_rss(client).values())}
    finally:
        c = client.cluster
        client.close()
        c.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="fiducial")
    ap.add_argument("--size", type=int, default=2048, help="map side, px")
    ap.add_argument("--core", type=int, default=1024, help="tile core, px")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--memory", default=None, help="comma-separated map sides for the memory table")
    args = ap.parse_args(argv)

    from ember_dist.demo import lognormal_map
    from ember_dist.model.testing import random_bundle

    cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True, text=True).stdout.strip()
    print(f"# {cpu}; {os.cpu_count()} cores; preset={args.preset} core={args.core} workers={args.workers}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        b = random_bundle(tmp / "bundle", args.preset, "gas", noise=True, initializer="he_normal")
        print(f"# exact halo {b.exact_halo} px, alignment {b.alignment}")
        if args.memory:
            for n in (int(s) for s in args.memory.split(",")):
                dm = lognormal_map(n, seed=1)
                r = exact(b, dm, args.core, args.workers, tmp)
                print(f"memory size={n}: {n * n / r['seconds'] / 1e6:.3f} Mpx/s, redundancy {r['redundancy']:.2f}, "
                      f"peak RSS per worker {r['peak_rss_gb_per_worker']} GB")
            return
        dm = lognormal_map(args.size, seed=1)
        np.save(tmp / "dm.npy", dm)
        mpx = args.size**2 / 1e6
        r0 = raw(b, tmp / "dm.npy")
        print(f"raw   size={args.size}: {mpx / r0['seconds']:.3f} Mpx/s ({r0['seconds']:.1f} s), "
              f"peak RSS {r0['peak_rss_gb']:.2f} GB")
        r1 = exact(b, dm, args.core, args.workers, tmp)
        print(f"exact size={args.size} core={args.core} canvas={r1['canvas']}: {mpx / r1['seconds']:.3f} Mpx/s "
              f"({r1['seconds']:.1f} s), redundant-compute factor {r1['redundancy']:.2f}, "
              f"peak RSS per worker {r1['peak_rss_gb_per_worker']} GB")
        print(f"efficiency: {r0['seconds'] / r1['seconds']:.3f}")


if __name__ == "__main__":
    main()
