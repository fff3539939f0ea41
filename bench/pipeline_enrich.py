# SPDX-License-Identifier: BSD-3-Clause
"""Enrichment unit costs for ``bench/pipeline.py``: split stages on two map sizes, each on a fresh worker.

For each size a fresh 1-worker LocalCluster runs ``enrich_box`` ``runs`` times (split inference on the
chain of the paper's maps, random He-scaled weights, noisy generator, 2 realisations).  A worker plugin
records the worker's CPU seconds and ``VmHWM`` at each stage task's start and end; the process tree's CPU
(client, scheduler, worker) is taken around each call.  From these:

* per stage, warm runs: CPU s = rate x paid GMAC + fixed x tasks, fitted over the two sizes (the deep
  stages have as many tasks on both, so the fixed part separates from the rate);
* per stage, the first run on the fresh worker less a warm one = the stage model's build and trace
  (``stage_build_cpu_s``); outside the stages, the worker's model load and first scan (key ``"load"``);
* the validation scan's tasks (recorded by the plugin too) per input Mpx;
* outside the stage and scan tasks (template, graph, barriers, consolidation; client, scheduler, worker),
  warm: per call + per input Mpx; the client process's first call less a later one.
"""
from __future__ import annotations

import os
import time

from ember_dist.engine import cost
from pipeline_common import median, say, timed, tree_cpu

__all__ = ["measure_enrich", "stage_meter", "stage_figures"]


def stage_meter():
    from distributed import WorkerPlugin

    class StageMeter(WorkerPlugin):
        """Worker plugin: (stage, event, time, process CPU s, VmHWM GB) at each split or scan task's start and
        end; VmHWM is reset at the first task of each stage, so a stage's last end holds the stage's peak."""

        name = "ember-stage-meter"

        def setup(self, worker):
            self.rec, self.stage = [], None

        @staticmethod
        def _stage(key):
            k = str(key)
            if k.startswith("ember-scan"):
                return "scan"
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


def stage_figures(rec):
    """Per stage: wall span, worker CPU s from its first task start to its last task end, peak GB, tasks."""
    out = {}
    for st in dict.fromkeys(r[0] for r in rec):
        rs = [r for r in rec if r[0] == st]
        starts, ends = [r for r in rs if r[1] == "start"], [r for r in rs if r[1] == "end"]
        t0, t1 = min(r[2] for r in starts), max(r[2] for r in ends)
        c0, c1 = min(r[3] for r in starts), max(r[3] for r in ends)
        out[st] = dict(span_s=t1 - t0, cpu_s=c1 - c0, peak_gb=max(r[4] for r in ends), tasks=len(ends))
    return out


def _write_map(path, size):
    import xarray as xr

    from ember_dist.demo import lognormal_map

    dm = lognormal_map(size, seed=1)
    xr.DataArray(dm[None, None], dims=("axis", "slab", "y", "x"), name="dm", attrs={"pixel_size": 3.66}).chunk(
        {"y": 2048, "x": 2048}).to_dataset().to_zarr(path)


def _runs_on_fresh_worker(src, out, bundle, levels, samples, n_runs, label):
    """``n_runs`` enrich_box calls on a fresh 1-worker cluster: per call the wall, the process tree's CPU,
    the client process's CPU and the stage figures."""
    import ember_dist as ed
    from ember_dist.cluster import connect

    out.mkdir(parents=True, exist_ok=True)
    client = connect("local", n_workers=1, dashboard_address=":0")
    runs = []
    try:
        client.register_plugin(stage_meter())
        kw = dict(model=str(bundle), tile=1024, client=client, progress=False, overwrite=True, pixel_size=3.66,
                  halo="split", split_level=levels, samples=samples, seed=3)
        for i in range(n_runs):
            client.run(lambda dask_worker: dask_worker.plugins["ember-stage-meter"].setup(dask_worker))
            p0 = time.process_time()
            _, wall, cpu_s, ld = timed(lambda: ed.enrich_box(str(src), out=out / f"e{i}.zarr", **kw))
            client_cpu = time.process_time() - p0
            rec = client.run(lambda dask_worker: dask_worker.plugins["ember-stage-meter"].rec)
            fig = stage_figures(next(iter(rec.values())))
            runs.append(dict(wall_s=wall, cpu_s=cpu_s, client_cpu_s=client_cpu, stages=fig, load=ld))
            say(f"enrich {label}, run {i}{' (fresh worker)' if i == 0 else ''}: {cpu_s:.1f} CPU s "
                f"(client {client_cpu:.1f}), {wall:.1f} s wall, load {ld}; "
                + ", ".join(f"{k} {v['cpu_s']:.2f}" for k, v in fig.items()))
    finally:
        c = client.cluster
        client.close()
        c.close()
    return runs


def _fit(results, levels, samples, preset):
    """Rates from the runs of each size (see the module docstring)."""
    per_size = {}
    for size, runs in results.items():
        job = cost.Job(n_px=size, axes=1, slabs=1, samples=samples, preset=preset, split_level=tuple(levels),
                       core=1024)
        warm = runs[1:]
        stages = [k for k in runs[0]["stages"] if k != "scan"]
        st_cpu = {k: median([r["stages"][k]["cpu_s"] for r in warm]) for k in stages}
        outside = [r["cpu_s"] - sum(v["cpu_s"] for v in r["stages"].values()) for r in runs]  # scan taken off too
        per_size[size] = dict(work={s["stage"]: s for s in cost.stage_work(job)}, st_cpu=st_cpu,
                              build={k: runs[0]["stages"][k]["cpu_s"] - st_cpu[k] for k in stages},
                              outside_first=outside[0] - median(outside[1:]), outside=median(outside[1:]),
                              client_first=runs[0]["client_cpu_s"] - median([r["client_cpu_s"] for r in warm]),
                              scan=median([r["stages"]["scan"]["cpu_s"] for r in warm]), mpx=size * size / 1e6)
        per_size[size]["outside_first"] += runs[0]["stages"]["scan"]["cpu_s"] - per_size[size]["scan"]
    sizes = list(per_size)
    stages = list(per_size[sizes[0]]["st_cpu"])
    scan = sum(p["scan"] for p in per_size.values()) / sum(p["mpx"] for p in per_size.values())
    rate, fixed = {}, {}
    for k in stages:
        rate[k], fixed[k] = cost.fit_rate_and_fixed([per_size[s]["work"][k]["gmac"] for s in sizes],
                                                    [per_size[s]["work"][k]["tasks"] for s in sizes],
                                                    [per_size[s]["st_cpu"][k] for s in sizes])
    first = sizes[0]  # the client process's first enrich_box call is the first size's first run
    client_first = max(0.0, per_size[first]["client_first"])
    build = {k: max(0.0, median([per_size[s]["build"][k] for s in sizes])) for k in stages}
    # Outside the stages a fresh worker also loads the model (the plugin) and runs its first scan; the client's
    # first call is apart.
    build["load"] = max(0.0, median([per_size[s]["outside_first"] - (client_first if s == first else 0.0)
                                     for s in sizes]))
    call, other = cost.fit_rate_and_fixed([1.0] * len(sizes), [s * s / 1e6 for s in sizes],
                                          [per_size[s]["outside"] for s in sizes])
    return dict(stage_cpu_s_per_gmac=rate, stage_task_cpu_s=fixed, stage_build_cpu_s=build,
                enrich_first_cpu_s=client_first, enrich_call_cpu_s=call, scan_cpu_s_per_mpx=scan,
                outside_cpu_s_per_mpx=other), per_size


def measure_enrich(tmp, bundle, preset, levels, sizes=(2048, 512), samples=2, n_runs=2):
    """Enrichment rates (see the module docstring) and the raw runs."""
    results = {}
    for size in sizes:
        src = tmp / f"dm{size}.zarr"
        _write_map(src, size)
        results[size] = _runs_on_fresh_worker(src, tmp / f"out{size}", bundle, levels, samples, n_runs,
                                              f"{preset} {size}^2 x {samples} realisations, levels {tuple(levels)}")
    rates, per_size = _fit(results, levels, samples, preset)
    big = max(sizes)
    warm = results[big][1:]
    rates["stage_peak_gb"] = {k: max(r["stages"][k]["peak_gb"] for r in results[big])
                              for k in results[big][0]["stages"] if k != "scan"}
    mpx = big * big / 1e6
    per_mpx = {k: v / (mpx * (1 if k[0] == "A" else samples)) for k, v in per_size[big]["st_cpu"].items()}
    wall = sum(r["wall_s"] for rs in results.values() for r in rs)
    cpu = sum(r["cpu_s"] for rs in results.values() for r in rs)
    return rates, dict(runs={str(k): v for k, v in results.items()}, stage_cpu_s_per_mpx=per_mpx, size=big,
                       sizes=list(sizes), levels=list(levels), samples=samples, preset=preset,
                       warm_cpu_s=median([r["cpu_s"] for r in warm]), wall_per_cpu=wall / cpu)
