# SPDX-License-Identifier: BSD-3-Clause
"""Per-stage costs of the whole pipeline, the cost model's predictions, and a check of the model.

    python bench/pipeline.py --json bench/pipeline.json          # measure (fiducial, 4096^2), predict
    python bench/pipeline.py --quick --json /tmp/p.json           # small preset, small sizes
    python bench/pipeline.py --check --rates bench/pipeline.json  # a small job end to end vs the model
    python bench/pipeline.py --predict --rates bench/pipeline.json

Measures on this machine, as CPU seconds (core-seconds: they hold under the shared machine's load;
the wall seconds and the load average are printed beside them):

* deposit: SPH smoothing lengths per particle (toy mock dark matter, 80 neighbours), the kernel deposit
  per kernel evaluation (:func:`ember_dist.engine.cost.kernel_evaluations`), zeroing and adding a
  float64 map per Mpx (each deposit task returns one), and the ratio h / mean particle spacing;
* enrich: every split stage of the plan (levels 3, 5, 6 for the fiducial network, the chain of the
  paper's 27,008^2 maps; He-scaled random weights, noisy generator, 2 realisations) on a fresh
  1-worker LocalCluster after a warm-up run: CPU seconds of the worker between a stage's first task
  start and last task end, per paid multiply-add and per output Mpx, the stage's wall span and the
  worker's peak RSS during the stage (``VmHWM``, reset at each stage's first task); the network alone
  (one whole-map call, CPU seconds per multiply-add);
* statistics: P(k), pixel PDF, CDDF, bispectrum of one map (dask, threads), CPU seconds per Mpx;
* the scheduler: a no-op graph of ``--tasks`` tasks on a LocalCluster, seconds per task.

``--check`` runs a small job end to end (``ember-dist mock suite``, deposit, enrich with split,
statistics) and prints the model's prediction beside the measured wall time.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

from ember_dist.engine import cost  # noqa: E402


def _cpu():
    return time.process_time()  # every thread of this process


def _load():
    return round(os.getloadavg()[0], 1)


def _cpu_model():
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    return next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "unknown")


def _timed(fn):
    l0, c0, t0 = _load(), _cpu(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, _cpu() - c0, (l0, _load())


def _say(msg):
    print(msg, flush=True)


# --- deposit ---------------------------------------------------------------------------------------

def measure_deposit(quick):
    from ember_dist.deposit.kernel import deposit_slab
    from ember_dist.deposit.smoothing import smoothing_lengths
    from ember_dist.mock.suite import mock_particles

    box, n = 15000.0, 32  # the rate per kernel evaluation, not the particle count, is what is kept
    pos = mock_particles(n=n, box_size=box, seed=0)["dmo"][1]["Coordinates"]
    deposit_slab(np.zeros((1, 2)), np.ones(1), np.ones(1), 8, 1.0)  # compile numba first
    h, wall, cpu_s, load = _timed(lambda: smoothing_lengths(pos, box, 80))
    _say(f"deposit: smoothing {len(pos):,} particles: {cpu_s:.2f} CPU s, {wall:.2f} s wall, load {load}")
    smooth = cpu_s / len(pos)
    spacing = box / n
    q = np.quantile(h / spacing, (np.arange(64) + 0.5) / 64)
    rates, walls = [], []
    for g in (256, 512):
        pix = box / g
        evals = sum(cost.kernel_evaluations(2 * x / pix) for x in h)
        _, wall, cpu_s, load = _timed(lambda: deposit_slab(pos[:, :2], h, np.ones(len(pos)), g, pix))
        rates.append(cpu_s / evals)
        walls.append(wall / cpu_s)
        _say(f"deposit: {g}^2, {evals / len(pos):.0f} evaluations per particle: {cpu_s:.2f} CPU s "
             f"({evals / cpu_s:.3g} evaluations / CPU s), {wall:.2f} s wall, load {load}")
    m = 4096
    a, b = np.ones((m, m)), np.ones((m, m))

    def zero_add():
        z = np.zeros((m, m))
        z += a
        z += b
        return z

    _, wall, cpu_s, load = _timed(zero_add)
    _say(f"deposit: zero + add of a {m}^2 float64 map: {cpu_s / (m * m / 1e6):.4f} CPU s per Mpx, load {load}")
    return dict(smooth_cpu_s_per_particle=smooth, deposit_cpu_s_per_eval=float(np.median(rates)),
                map_cpu_s_per_mpx=cpu_s / (m * m / 1e6), h_over_spacing=[float(x) for x in q])


def deposit_parallelism(quick):
    """Wall per CPU second of ``deposit_snapshot`` on the threaded scheduler (this machine's cores at
    this load)."""
    from ember_dist.deposit import deposit_snapshot
    from ember_dist.mock import make_mock_suite

    with tempfile.TemporaryDirectory() as tmp:
        paths = make_mock_suite(tmp, n=32, box_size=15000.0, seed=0)
        _, wall, cpu_s, load = _timed(lambda: deposit_snapshot(paths["dmo"], os.path.join(tmp, "m.zarr"),
                                                               pixel=15000 / 512, slabs=4, fields=("dm",)))
    _say(f"deposit_snapshot 32^3 -> 3 x 4 x 512^2: {wall:.2f} s wall, {cpu_s:.2f} CPU s, load {load}")
    return wall / cpu_s


# --- enrich ----------------------------------------------------------------------------------------

def _stage_meter():
    from distributed import WorkerPlugin

    class StageMeter(WorkerPlugin):
        """Worker plugin: (key, event, time, process CPU s, VmHWM GB) at each task start and end; VmHWM is
        reset at the first task of each split stage, so a stage's last end holds the stage's peak."""

        name = "ember-stage-meter"

        def setup(self, worker):
            self.rec, self.stage = [], None

        @staticmethod
        def _stage(key):
            k = str(key)
            return k.split("-split", 1)[1].split("-", 1)[0] if "-split" in k else None

        def transition(self, key, start, finish, **kw):
            st = self._stage(key)
            if st is None:
                return
            t = os.times()
            if finish == "executing":
                if st != self.stage:
                    self.stage = st
                    with open("/proc/self/clear_refs", "w") as f:
                        f.write("5")
                self.rec.append((st, "start", time.time(), t.user + t.system, 0.0))
            elif start == "executing":
                hwm = next(int(ln.split()[1]) for ln in open("/proc/self/status") if ln.startswith("VmHWM:")) / 2**20
                self.rec.append((st, "end", time.time(), t.user + t.system, hwm))

    return StageMeter()


def _stage_figures(rec):
    out = {}
    for st in dict.fromkeys(r[0] for r in rec):
        rs = [r for r in rec if r[0] == st]
        starts, ends = [r for r in rs if r[1] == "start"], [r for r in rs if r[1] == "end"]
        t0, t1 = min(r[2] for r in starts), max(r[2] for r in ends)
        c0, c1 = min(r[3] for r in starts), max(r[3] for r in ends)
        out[st] = dict(span_s=t1 - t0, cpu_s=c1 - c0, peak_gb=max(r[4] for r in ends), tasks=len(ends))
    return out


def measure_enrich(quick, tmp, size=None, n_runs=3):
    import ember_dist as ed
    from ember_dist.cluster import connect
    from ember_dist.demo import lognormal_map
    from ember_dist.engine.reference import predict_whole
    from ember_dist.engine.split import plan_split
    from ember_dist.model.geometry import stage_macs
    from ember_dist.model.testing import random_bundle
    import xarray as xr

    preset, default, levels = ("small", 1024, (1, 2, 3)) if quick else ("fiducial", 4096, (3, 5, 6))
    size = size or default
    samples = 2
    b = random_bundle(tmp / "bundle", preset, "gas", noise=True, initializer="he_normal")
    dm = lognormal_map(size, seed=1)
    src = tmp / "dm.zarr"
    xr.DataArray(dm[None, None], dims=("axis", "slab", "y", "x"), name="dm", attrs={"pixel_size": 3.66}).chunk(
        {"y": 2048, "x": 2048}).to_dataset().to_zarr(src)
    sp = plan_split((size, size), 1024, b.preset, levels)
    macs, paid = stage_macs(b.preset, sp.levels), sp.stage_compute(b.preset)
    client = connect("local", n_workers=1, dashboard_address=":0")
    try:
        client.register_plugin(_stage_meter())
        kw = dict(model=b.path, tile=1024, client=client, progress=False, overwrite=True, pixel_size=3.66,
                  halo="split", split_level=levels, samples=samples, seed=3)
        runs = []
        for i in range(n_runs):  # run 0: warm-up (builds and compiles every stage model)
            client.run(lambda dask_worker: dask_worker.plugins["ember-stage-meter"].setup(dask_worker))
            _, wall, _, load = _timed(lambda: ed.enrich_box(str(src), out=tmp / f"e{i}.zarr", **kw))
            rec = client.run(lambda dask_worker: dask_worker.plugins["ember-stage-meter"].rec)
            fig = _stage_figures(next(iter(rec.values())))
            runs.append(dict(wall_s=wall, stages=fig, load=load))
            _say(f"enrich {preset} {size}^2 x {samples} realisations, levels {levels}, run {i}"
                 f"{' (warm-up)' if i == 0 else ''}: {wall:.1f} s wall, load {load}; " + ", ".join(
                     f"{k} {v['cpu_s']:.1f} CPU s / {v['span_s']:.1f} s / {v['peak_gb']:.2f} GB" for k, v in fig.items()))
    finally:
        c = client.cluster
        client.close()
        c.close()
    timed = runs[1:]
    mpx = size * size / 1e6
    res = {"preset": preset, "size": size, "levels": list(levels), "samples": samples, "runs": runs,
           "stage_cpu_s_per_gmac": {}, "stage_cpu_s_per_mpx": {}, "stage_peak_gb": {}, "stage_first_s": {}}
    for k in timed[0]["stages"]:
        reals = 1 if k[0] == "A" else samples
        gmac = macs[k] * paid[k] * size * size * reals / 1e9
        cpu_s = float(np.median([r["stages"][k]["cpu_s"] for r in timed]))
        res["stage_cpu_s_per_gmac"][k] = cpu_s / gmac
        res["stage_cpu_s_per_mpx"][k] = cpu_s / (mpx * reals)
        res["stage_peak_gb"][k] = max(r["stages"][k]["peak_gb"] for r in runs)
        res["stage_first_s"][k] = runs[0]["stages"][k]["span_s"] - float(np.median([r["stages"][k]["span_s"] for r in timed]))
    spans = [sum(v["span_s"] for v in r["stages"].values()) for r in timed]
    cpus = [sum(v["cpu_s"] for v in r["stages"].values()) for r in timed]
    res["wall_per_cpu"] = float(np.median(np.divide(spans, cpus)))
    outside = float(np.median([r["wall_s"] - s for r, s in zip(timed, spans)]))
    res["scan_cpu_s_per_mpx"] = outside / res["wall_per_cpu"] / mpx
    res["enrich_fixed_s"] = sum(res["stage_first_s"].values())
    # The network alone: one whole-map call in this process (after a warm-up call of the same shape).
    n = min(size, 1024 if quick else 2048)
    m = b.build()
    dmn = lognormal_map(n, seed=2)
    predict_whole(b, dmn, seed=0, halo=(0, 0), model=m)
    cpu_list = []
    for _ in range(2):
        _, wall, cpu_s, load = _timed(lambda: predict_whole(b, dmn, seed=0, halo=(0, 0), model=m))
        cpu_list.append(cpu_s)
    one_pass = sum(v for k, v in macs.items() if k[0] != "A")
    res["network_cpu_s_per_gmac"] = float(np.median(cpu_list)) / (one_pass * n * n / 1e9)
    _say(f"network alone, {n}^2 whole map: {np.median(cpu_list):.2f} CPU s "
         f"({res['network_cpu_s_per_gmac']:.3f} CPU s per GMAC), last {wall:.2f} s wall, load {load}")
    return res


# --- statistics, scheduler -------------------------------------------------------------------------

def measure_stats(quick):
    import dask
    import dask.array as da

    from ember_dist.demo import lognormal_map
    from ember_dist.stats import bispectrum, cddf, pixel_pdf, power_spectrum

    n = 1024 if quick else 4096
    m = da.from_array(lognormal_map(n, seed=4).astype(np.float32) * 1e4, chunks=1024)
    geom = dict(redshift=2.0, hubble=0.6774, slab_depth=1500.0, pixel_size=3.66)
    box = n * 3.66
    funcs = {"power": lambda: power_spectrum(m, box_size=box), "pdf": lambda: pixel_pdf(m),
             "cddf": lambda: cddf(m, **geom), "bispectrum": lambda: bispectrum(m, box_size=box)}
    out, ratios = {}, []
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    for name, fn in funcs.items():
        _, wall, cpu_s, load = _timed(lambda: dask.compute(fn(), scheduler="threads"))
        out[name] = cpu_s / (n * n / 1e6)
        ratios.append(wall / cpu_s)
        _say(f"stats {name} {n}^2: {cpu_s:.2f} CPU s ({out[name]:.3f} per Mpx), {wall:.2f} s wall, load {load}")
    hwm = next(int(ln.split()[1]) for ln in open("/proc/self/status") if ln.startswith("VmHWM:")) / 2**20
    return dict(stats_cpu_s_per_mpx=out, stats_ref_px=n, stats_peak_gb=hwm, stats_wall_per_cpu=float(np.median(ratios)))


def _noop(i):
    return i


def _proc_cpu():
    t = os.times()
    return t.user + t.system


def measure_scheduler(n_tasks):
    """Seconds per task of a no-op graph on a LocalCluster (scheduler in this process): the wall time and
    the CPU seconds of this process (client + scheduler) and of the worker.  On a dedicated scheduler
    the serial cost per task is the CPU figure; under a shared machine's load the wall figure mostly
    measures this process's share of the CPU."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, dashboard_address=None) as lc, Client(lc) as client:
        client.gather(client.map(_noop, range(1000), pure=False))  # warm-up
        w0 = sum(client.run(_proc_cpu).values())
        _, wall, cpu_s, load = _timed(lambda: client.gather(client.map(_noop, range(n_tasks), pure=False)))
        wcpu = sum(client.run(_proc_cpu).values()) - w0
    _say(f"scheduler: {n_tasks:,} no-op tasks in {wall:.2f} s wall ({wall / n_tasks * 1e6:.0f} us per task); "
         f"client + scheduler CPU {cpu_s / n_tasks * 1e6:.0f} us per task, worker CPU {wcpu / n_tasks * 1e6:.0f} us "
         f"per task; load {load}")
    return dict(sched_wall_s_per_task=wall / n_tasks, sched_cpu_s_per_task=cpu_s / n_tasks,
                worker_cpu_s_per_task=wcpu / n_tasks, sched_tasks=n_tasks, sched_load=load)


# --- model output ----------------------------------------------------------------------------------

def _hms(s):
    return f"{s / 3600:.2f} h" if s >= 3600 else f"{s / 60:.1f} min" if s >= 60 else f"{s:.1f} s"


def predictions(rates, job=None):
    job = job or cost.paper_job()
    rows = []
    for n in (1, 16, 128):
        r = cost.predict_cpu(job, rates, nodes=n)
        bounds = ",".join(sorted({s["bound"] for s in r["stages"]}))
        rows.append(dict(kind="cpu", count=n, wall_s=r["wall_s"], deposit_s=r["deposit"]["wall_s"],
                         enrich_s=r["enrich_wall_s"], stats_s=r["stats_wall_s"], bounds=bounds,
                         deposit_bound=r["deposit"]["bound"], peak_gb_per_worker=r["peak_gb_per_worker"],
                         workers_per_node=r["workers_per_node"], cpu_s=r["cpu_s"]))
    for g in (1, 8, 64):
        for prec, threads in (("tf32", 1), ("bfloat16", 1), ("tf32", 8)):
            gpu = dataclasses.replace(cost.A100, host_threads=threads)
            r = cost.predict_gpu(job, rates, gpu, g, prec)
            rows.append(dict(kind=f"A100 {prec}, {threads} thread{'s' if threads > 1 else ''}", count=g, wall_s=r["wall_s"], deposit_s=r["deposit_wall_s"],
                             enrich_s=r["enrich_wall_s"], stats_s=r["stats_wall_s"],
                             bounds=",".join(sorted({s["bound"] for s in r["stages"]}))))
    return job, rows


def print_predictions(rates):
    job, rows = predictions(rates)
    _say(f"\nPaper's case: {job.n_px}^2 px, {job.axes} axes x {job.slabs} slabs, {job.samples} realisations, "
         f"{job.fields} field, {job.particles:,} particles; CPU node: {cost.CPUNode().name}; GPU: {cost.A100.name} "
         f"at {cost.A100.efficiency:.0%} of the roofline, {cost.A100.host_cores} host cores each (ESTIMATE)")
    for s in cost.stage_work(job):
        _say(f"  stage {s['stage']}: {s['tasks']:,} tasks, {s['gmac'] / 1e3:.3g} TMAC paid (x{s['paid']:.3f}), "
             f"{s['bytes'] / 1e9:.0f} GB read + written")
    _say("| hardware | wall | deposit | enrich | statistics | enrich stages bound by |")
    _say("|---|---|---|---|---|---|")
    for r in rows:
        _say(f"| {r['count']} {'node' if r['kind'] == 'cpu' else r['kind']}{'s' if r['count'] > 1 and r['kind'] == 'cpu' else ''} "
             f"| {_hms(r['wall_s'])} | {_hms(r['deposit_s'])} | {_hms(r['enrich_s'])} | {_hms(r['stats_s'])} | {r['bounds']} |")
    return job, rows


# --- check -----------------------------------------------------------------------------------------

def run_check(rates, tmp, quick):
    import dask
    import xarray as xr

    import ember_dist as ed
    from ember_dist.deposit import deposit_snapshot
    from ember_dist.model.testing import random_bundle
    from ember_dist.stats import cddf, pixel_pdf, power_spectrum

    preset, levels = ("small", (1, 2, 3)) if quick else ("fiducial", (3, 5, 6))  # the measured chain
    n_px, n_part, slabs, samples = 1024, 32, 4, 2
    box = n_px * 3.66
    b = random_bundle(tmp / "bundle", preset, "gas", noise=True, initializer="he_normal")
    exe = [sys.executable, "-m", "ember_dist.cli"]
    subprocess.run(exe + ["mock", str(tmp / "suite"), "--n", str(n_part), "--box-size", str(box), "--seed", "0"],
                   check=True, capture_output=True)
    snap = next((tmp / "suite" / "dmo").glob("*.hdf5"))
    times, cpus = {}, {}
    _, times["deposit"], cpus["deposit"], ld = _timed(lambda: deposit_snapshot(snap, tmp / "maps.zarr", pixel=3.66, slabs=slabs,
                                                                 axes=("z",), fields=("dm",)))
    from ember_dist.cluster import connect

    client = connect("local", n_workers=1, dashboard_address=":0")
    try:
        w0 = sum(client.run(_proc_cpu).values())
        _, times["enrich"], _, le = _timed(lambda: ed.enrich_box(str(tmp / "maps.zarr"), out=tmp / "enriched.zarr",
                                                                 model=b.path, tile=1024, halo="split", samples=samples, split_level=levels,
                                                                 seed=1, client=client, progress=False))
        cpus["enrich"] = sum(client.run(_proc_cpu).values()) - w0
    finally:
        c = client.cluster
        client.close()
        c.close()
    ds = xr.open_zarr(tmp / "enriched.zarr")
    g = ds["gas"].data
    geom = dict(redshift=2.0, hubble=0.6774, slab_depth=box / slabs, pixel_size=3.66)
    _, times["stats"], cpus["stats"], ls = _timed(lambda: dask.compute(power_spectrum(g, box_size=box), pixel_pdf(g),
                                                           cddf(g, **geom), scheduler="threads"))
    job = cost.Job(n_px=n_px, axes=1, slabs=slabs, samples=samples, particles=n_part**3, box_size=box,
                   preset=preset, split_level=levels, statistics=("power", "pdf", "cddf"))
    pred = cost.this_machine(job, rates)
    total = sum(times.values())
    _say(f"\ncheck: {n_part}^3 DM particles, {n_px}^2 px, 1 axis x {slabs} slabs, {preset} network, "
         f"{samples} realisations, loads {ld} / {le} / {ls}")
    _say("| phase | predicted | measured | measured / predicted |")
    _say("|---|---|---|---|")
    for k in ("deposit", "enrich", "stats"):
        _say(f"| {k} | {pred[k]:.1f} s | {times[k]:.1f} s | {times[k] / pred[k]:.2f} |")
    _say(f"| total | {pred['wall_s']:.1f} s | {total:.1f} s | {total / pred['wall_s']:.2f} |")
    _say("| CPU seconds (load-independent) | predicted | measured | measured / predicted |")
    for k in ("deposit", "enrich", "stats"):
        _say(f"| {k} | {pred['cpu_s'][k]:.1f} | {cpus[k]:.1f} | {cpus[k] / pred['cpu_s'][k]:.2f} |")
    _say(f"| wall per CPU s | calibration: " + ", ".join(f"{k} {v:.2f}" for k, v in rates.wall_per_cpu.items())
         + " | check: " + ", ".join(f"{k} {times[k] / cpus[k]:.2f}" for k in times) + " | |")
    ok = abs(total / pred["wall_s"] - 1) <= 0.25
    _say(f"check {'PASSED' if ok else 'MISSED'}: measured / predicted = {total / pred['wall_s']:.2f} (target 0.75-1.25)")
    return dict(predicted=pred, measured=times, measured_cpu_s=cpus, ratio=total / pred["wall_s"], ok=ok)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small preset and sizes (minutes)")
    ap.add_argument("--json", default=None, help="write the measured rates and predictions here")
    ap.add_argument("--rates", default=None, help="use these measured rates (a --json file) instead of measuring")
    ap.add_argument("--check", action="store_true", help="run a small job end to end against the model")
    ap.add_argument("--predict", action="store_true", help="only print the predictions of --rates")
    ap.add_argument("--size", type=int, default=None, help="enrich map side, px (default 4096, quick 1024)")
    ap.add_argument("--runs", type=int, default=3, help="enrich runs, the first a warm-up (default 3)")
    ap.add_argument("--tasks", type=int, default=None, help="no-op tasks for the scheduler (default 1e5, quick 2e4)")
    args = ap.parse_args(argv)
    cpu_model = _cpu_model()
    _say(f"# {cpu_model}; {os.cpu_count()} cores; {datetime.now(timezone.utc).isoformat(timespec='seconds')}; "
         f"load average {os.getloadavg()}")
    out = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.rates:
            out = json.loads(Path(args.rates).read_text())
        else:
            dep = measure_deposit(args.quick)
            dep_wpc = deposit_parallelism(args.quick)
            st = measure_stats(args.quick)
            sched = measure_scheduler(args.tasks or (5_000 if args.quick else 100_000))
            (tmp / "e").mkdir()
            en = measure_enrich(args.quick, tmp / "e", args.size, args.runs)
            rates = cost.Rates(cpu_model=cpu_model, cores=os.cpu_count(), **dep,
                               stage_cpu_s_per_gmac=en["stage_cpu_s_per_gmac"],
                               network_cpu_s_per_gmac=en["network_cpu_s_per_gmac"], stage_peak_gb=en["stage_peak_gb"],
                               scan_cpu_s_per_mpx=en["scan_cpu_s_per_mpx"],
                               stats_cpu_s_per_mpx=st["stats_cpu_s_per_mpx"], stats_ref_px=st["stats_ref_px"],
                               stats_peak_gb=st["stats_peak_gb"], sched_s_per_task=sched["sched_cpu_s_per_task"],
                               wall_per_cpu={"deposit": dep_wpc, "enrich": en["wall_per_cpu"],
                                             "stats": st["stats_wall_per_cpu"]},
                               enrich_fixed_s=en["enrich_fixed_s"])
            out = {"rates": rates.to_dict(), "enrich": en, "scheduler": sched, "stats": st, "measured_at": datetime.now(timezone.utc).isoformat(),
                   "quick": args.quick}
        rates = cost.Rates.from_dict(out["rates"])
        _say("\n| stage | CPU s per output Mpx | CPU s per GMAC paid | peak RSS / worker |")
        _say("|---|---|---|---|")
        for k, v in rates.stage_cpu_s_per_gmac.items():
            _say(f"| {k} | {out.get('enrich', {}).get('stage_cpu_s_per_mpx', {}).get(k, float('nan')):.3f} "
                 f"| {v:.3f} | {rates.stage_peak_gb[k]:.2f} GB |")
        job, rows = print_predictions(rates)
        out["predictions"] = {"job": job.__dict__, "rows": rows}
        if args.check:
            (tmp / "c").mkdir()
            out["check"] = run_check(rates, tmp / "c", out.get("quick", args.quick))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))
    return 0 if not args.check or out["check"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
