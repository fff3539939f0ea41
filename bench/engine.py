# SPDX-License-Identifier: BSD-3-Clause
"""Engine efficiency and memory: enrich_box against one raw generator call.

    python bench/engine.py --preset fiducial --size 2048 --core 1024
    python bench/engine.py --preset small --memory 2048,4096,8192 --core 512

For one map of ``size^2`` pixels (seeded lognormal, He-scaled random weights,
noisy generator), it measures side by side in one run:

* raw: one generator call on the whole periodic map (after a warm-up call of
  the same shape), in a separate process so its peak RSS is its own, kept
  alive: one raw call is timed just before each engine run, and a mode's
  "x raw" is the median of those pairs' ratios (this VM's speed drifts by tens
  of percent between minutes, more than the differences measured);
* times are medians of ``--repeat`` runs (default 3);
* exact / split: ``enrich_box(halo=...)`` end to end on a fresh LocalCluster
  (validation scan, tiles, zarr writes), after a warm-up run that compiles the
  tile shape; the redundant-compute factors: ``canvas`` = ``tiles * canvas^2 / size^2``
  and ``compute_paid`` = multiply-adds over one whole-map pass (tiles run unpadded, so
  they pay less than their canvas);
  peak RSS per worker (``VmHWM``).

``--memory`` runs the engine (``--halo``) on several map sizes with the same tile
plan (fresh cluster each) and prints the peak RSS per worker for each; sizes over
16384 px are a 16384^2 map tiled periodically (its FFT would not fit in memory).
``split`` is ``halo="split"`` (same map as exact, three stages with small halos) and,
unless ``--no-bf16``, split in mixed bfloat16 with its difference from float32.
The last line is ``efficiency: X`` with X = split Mpx/s / raw Mpx/s (median over the pairs).
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
import json, sys, time, numpy as np
from ember_dist.model.bundle import load_model
from ember_dist.engine.reference import predict_whole
b = load_model(sys.argv[1]); dm = np.load(sys.argv[2]); m = b.build()
predict_whole(b, dm, seed=0, halo=(0, 0), model=m)           # warm-up: trace/compile this shape
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:                                      # one timed call per "run", then "quit"
    if line.strip() != "run":
        break
    t = time.perf_counter(); predict_whole(b, dm, seed=0, halo=(0, 0), model=m)
    print(json.dumps({"seconds": time.perf_counter() - t}), flush=True)
hwm = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")][0] / 2**20
print(json.dumps({"peak_rss_gb": hwm}), flush=True)
"""


class RawRunner:
    """The raw whole-map call in its own process (so its peak RSS is its own), kept alive so that its
    timed calls can alternate with the engine's: the speed of this kind of VM drifts by tens of percent
    within minutes (2-core Xeon, 2026-12-01: raw 14.5 s in one invocation, 15.6 s in the next; split
    14.7 s, then 20.8 s), so raw and engine runs timed in separate blocks compare two machine states.
    """

    def __init__(self, bundle, dm_path):
        self.times = []
        self.proc = subprocess.Popen([sys.executable, "-c", _RAW, str(bundle.path), str(dm_path)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._reply()

    def _reply(self):
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the raw process exited with code {self.proc.wait()}")
        return json.loads(line)

    def run(self):
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        self.times.append(self._reply()["seconds"])
        return self.times[-1]

    def close(self):
        """Peak RSS of the raw process, GB."""
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        rss = self._reply()["peak_rss_gb"]
        self.proc.wait()
        return rss


def _hwm_gb():
    """Peak RSS of this process (VmHWM). Not ru_maxrss: Linux keeps ru_maxrss across execve, so a
    worker spawned by a large client would report the client's size."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def _clear_chunk_cache():
    from ember_dist.io.common import chunk_cache

    chunk_cache().clear()


def _rss(client):
    return client.run(_hwm_gb)


def engine(bundle, dm, core, workers, tmp, halo="exact", precision="float32", split_level=None, warm=True,
           threads=None, repeat=1, coarse_core=None, load_values=True, raw=None):
    """Time enrich_box on a fresh LocalCluster after a warm-up run that compiles the tile shapes
    (median of ``repeat`` timed runs, each decoding its input chunks itself).  With ``raw`` (a
    :class:`RawRunner`), one raw call is timed just before each engine run (``"raw"``: those times)."""
    import ember_dist as ed
    from ember_dist.cluster import connect
    from ember_dist.engine.plan import TilePlan
    from ember_dist.engine.split import plan_split

    # Read the map from a zarr store, as users do (an in-memory array would first be staged through the cluster).
    import xarray as xr

    src = tmp / f"dm-{dm.shape[0]}.zarr"
    if not src.exists():
        xr.DataArray(dm, dims=("y", "x"), name="dm", attrs={"pixel_size": 3.66}).chunk(
            {"y": 2048, "x": 2048}).to_dataset().to_zarr(src)
    dm_values, dm = dm, str(src)
    opts = {} if threads is None else {"threads_per_worker": threads}
    client = connect("local", n_workers=workers, dashboard_address=":0", **opts)
    kw = dict(model=bundle.path, tile=core, client=client, progress=False, overwrite=True, pixel_size=3.66,
              halo=halo, precision=precision, split_level=split_level,
              **({} if coarse_core is None else {"coarse_core": coarse_core}))
    try:
        # Warm-up on a map of the same size: compiles every stage shape (split stages depend on the map size).
        if warm:
            ed.enrich_box(dm, out=tmp / "warm.zarr", **kw)
        times, raw_times = [], []
        for i in range(repeat):
            if raw is not None:
                raw_times.append(raw.run())
            client.run(_clear_chunk_cache)  # each timed run decodes its input chunks itself
            t = time.perf_counter()
            ds = ed.enrich_box(dm, out=tmp / f"{halo}-{precision}-{i}.zarr", **kw)
            times.append(time.perf_counter() - t)
        dt = float(np.median(times))
        if halo == "split":
            sp = plan_split(dm_values.shape, core, bundle.preset, split_level, coarse_core)
            red = {"levels": list(sp.levels), "periodic_deep_stage": sp.periodic,
                   "canvas_per_stage": {k: round(v, 3) for k, v in sp.redundancy.items()},
                   "paid_per_stage": {k: round(v, 3) for k, v in sp.stage_compute(bundle.preset).items()},
                   "compute_paid": round(sp.compute_factor(bundle.preset), 3)}
            canvas = sp.output.canvas[0]
        else:
            from ember_dist.model.regions import tile_compute

            plan = TilePlan.build(dm_values.shape, core, bundle.exact_halo, bundle.alignment)
            red = {"canvas": round(plan.redundancy, 3), "compute_paid": round(tile_compute(bundle.preset, plan), 3)}
            canvas = plan.canvas[0]
        # Peak RSS first, then read the output here (synchronous scheduler): with the client active,
        # ``.values`` would run on the workers and hold the whole output map there (+0.53 GB VmHWM at 8192^2).
        rss = [round(v, 2) for v in sorted(_rss(client).values())]
        return {"seconds": dt, "all": times, "raw": raw_times, "redundancy": red, "canvas": canvas, "peak_rss_gb_per_worker": rss,
                "values": ds["gas"].isel(sample=0, axis=0, slab=0).load(scheduler="synchronous").values
                if load_values else None}
    finally:
        c = client.cluster
        client.close()
        c.close()


def _big_map(n, largest=16384):
    """``lognormal_map(n)``; past ``largest`` px the ``largest``-px map tiled periodically (``n`` a multiple
    of it) as a lazy dask array, written chunk by chunk. The FFT of a 32768^2 lognormal map would need
    ~20 GB (estimated from its float64/complex temporaries), and the 4 GB NumPy tiling written through
    ``xarray.DataArray.chunk().to_zarr`` was killed at 24 GB RSS here (measured)."""
    from ember_dist.demo import lognormal_map

    if n <= largest:
        return lognormal_map(n, seed=1)
    if n % largest:
        raise SystemExit(f"--memory {n}: sizes over {largest} must be multiples of it")
    import dask.array as dsa

    base = dsa.from_array(lognormal_map(largest, seed=1), chunks=2048)
    return dsa.tile(base, (n // largest, n // largest))


def _fmt(times):
    return "/".join(f"{t:.1f}" for t in times) + " s"


def _levels(s):
    from ember_dist.cli import _levels as parse

    return parse(s)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="fiducial")
    ap.add_argument("--size", type=int, default=2048, help="map side, px")
    ap.add_argument("--core", type=int, default=1024, help="tile core, px")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None,
                    help="Dask threads per worker (default: the local profile's, 2): a second task's NumPy work "
                         "(reads, noise, writes) overlaps the network call of the first (one call at a time)")
    ap.add_argument("--memory", default=None, help="comma-separated map sides for the memory table")
    ap.add_argument("--halo", default="split", help="halo mode of the memory table: exact or split")
    ap.add_argument("--split-level", type=_levels, default=None, help="split level(s), e.g. 3 or 3,5 (default: auto)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="timed runs of raw and of each engine mode; their medians are compared (runs of one "
                         "mode vary by ~10%% on a shared VM)")
    ap.add_argument("--coarse-core", type=int, default=None,
                    help="core of the coarse tiles at the first split level, px (default: the engine's, 512)")
    ap.add_argument("--skip-exact", action="store_true", help="do not run the (slow) plain exact engine")
    ap.add_argument("--no-bf16", action="store_true", help="do not run split in bfloat16")
    args = ap.parse_args(argv)

    from ember_dist.demo import lognormal_map
    from ember_dist.model.testing import random_bundle

    cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True, text=True).stdout.strip()
    from ember_dist import config

    threads = args.threads or config.get("cluster.local.threads-per-worker")
    print(f"# {cpu}; {os.cpu_count()} cores; preset={args.preset} core={args.core} workers={args.workers} "
          f"threads/worker={threads}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        b = random_bundle(tmp / "bundle", args.preset, "gas", noise=True, initializer="he_normal")
        print(f"# exact halo {b.exact_halo} px, alignment {b.alignment}")
        if args.memory:
            for n in (int(s) for s in args.memory.split(",")):
                dm = _big_map(n)
                # Peak memory only: no warm-up, so the time includes compiling.
                r = engine(b, dm, args.core, args.workers, tmp, halo=args.halo, split_level=args.split_level,
                           warm=False, threads=args.threads, coarse_core=args.coarse_core, load_values=False)
                print(f"memory {args.halo} size={n}: {n * n / r['seconds'] / 1e6:.3f} Mpx/s, redundancy "
                      f"{r['redundancy']}, peak RSS per worker {r['peak_rss_gb_per_worker']} GB", flush=True)
            return
        dm = lognormal_map(args.size, seed=1)
        np.save(tmp / "dm.npy", dm)
        mpx = args.size**2 / 1e6
        rawp = RawRunner(b, tmp / "dm.npy")
        res = {}
        try:
            kw = dict(threads=args.threads, repeat=args.repeat, raw=rawp)
            if not args.skip_exact:
                res["exact"] = engine(b, dm, args.core, args.workers, tmp, "exact", **kw)
            kw.update(split_level=args.split_level, coarse_core=args.coarse_core)
            res["split"] = engine(b, dm, args.core, args.workers, tmp, "split", **kw)
            if not args.no_bf16:
                res["split-bf16"] = engine(b, dm, args.core, args.workers, tmp, "split", "bfloat16", **kw)
        finally:
            raw_rss = rawp.close()
        t_raw = float(np.median(rawp.times))
        print(f"raw   size={args.size}: {mpx / t_raw:.3f} Mpx/s ({t_raw:.1f} s, median of {_fmt(rawp.times)}), "
              f"peak RSS {raw_rss:.2f} GB")
        for name, r in res.items():
            # Each engine run against the raw call timed just before it; the median of those ratios.
            pairs = np.divide(r["raw"], r["all"])
            r["x_raw"] = float(np.median(pairs))
            print(f"{name:10s} size={args.size} core={args.core} canvas={r['canvas']}: {mpx / r['seconds']:.3f} Mpx/s "
                  f"({r['seconds']:.1f} s, median of {_fmt(r['all'])}; raw before each {_fmt(r['raw'])}), "
                  f"redundant-compute factor {r['redundancy']}, peak RSS per worker {r['peak_rss_gb_per_worker']} GB, "
                  f"{r['x_raw']:.3f} x raw (median of {'/'.join(f'{q:.3f}' for q in pairs)})", flush=True)
        if "exact" in res:
            e, sv = res["exact"]["values"], res["split"]["values"]
            print(f"split vs exact: max |diff| / max = {np.abs(sv - e).max() / np.abs(e).max():.2e}")
        if "split-bf16" in res:
            f32, bf = res["split"]["values"].astype(np.float64), res["split-bf16"]["values"].astype(np.float64)
            from ember_dist.stats import power_spectrum

            rms = np.sqrt(np.mean((bf - f32) ** 2)) / np.sqrt(np.mean(f32**2))
            pk32 = power_spectrum(f32, box_size=args.size * 3.66)["power"].values
            pkbf = power_spectrum(bf, box_size=args.size * 3.66)["power"].values
            dpk = np.abs(pkbf / pk32 - 1)
            print(f"bf16 vs f32 (split): rms diff {rms:.2e}; P(k) |ratio-1| median {np.median(dpk):.2e}, "
                  f"max {dpk.max():.2e}")
        print(f"efficiency: {res['split']['x_raw']:.3f}")


if __name__ == "__main__":
    main()
