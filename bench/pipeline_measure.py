# SPDX-License-Identifier: BSD-3-Clause
"""Unit costs of the deposit, the statistics, the scheduler and the network alone (``bench/pipeline.py``).

Every figure is CPU seconds of this process tree (:func:`pipeline_common.timed`); fixed costs come from
pairs of runs that differ in one thing: the first call of the process against a later one, one slab
against eight, two map sizes.
"""
from __future__ import annotations

import numpy as np

from ember_dist.engine import cost
from pipeline_common import make_snapshot, median, say, timed

__all__ = ["PAPER_SPACING", "measure_deposit", "measure_stats", "measure_scheduler", "measure_network"]

#: Mean particle spacing of the paper's case with 1024^3 particles in 100 Mpc/h, ckpc/h: the calibration
#: mock (32^3) gets the same spacing, so its h / spacing distribution is taken at the paper's resolution.
PAPER_SPACING = 100_000.0 / 1024


def _deposit_call(snap, out, pixel, slabs):
    from ember_dist.deposit import deposit_snapshot

    return timed(lambda: deposit_snapshot(snap, out, pixel=pixel, slabs=slabs, axes=("z",), fields=("dm",)))


def _positions(snap):
    from ember_dist.io.snapshot import open_snapshot

    return np.asarray(open_snapshot(snap).positions(1).compute(), dtype=np.float64)


def _kernel_rates(pos, h, box, reps=2):
    """CPU s per kernel evaluation and per particle: the kernel alone at 256^2 and 512^2 (supports ~16 and
    ~32 px; the median of ``reps`` calls each), fitted as evaluations x rate + particles x fixed."""
    from ember_dist.deposit.kernel import deposit_slab

    evals, cpus, walls = [], [], 0.0
    for g in (256, 512):
        pix = box / g
        evals.append(sum(cost.kernel_evaluations(2 * x / pix) for x in h))
        runs = [timed(lambda: deposit_slab(pos[:, :2], h, np.ones(len(pos)), g, pix))[1:] for _ in range(reps)]
        cpus.append(median([c for _, c, _ in runs]))
        walls += sum(w for w, _, _ in runs)
        say(f"deposit: kernel on {g}^2, {evals[-1] / len(pos):.0f} evaluations per particle: "
            + ", ".join(f"{c:.2f}" for _, c, _ in runs) + f" CPU s, load {runs[-1][2]}")
    per_eval, per_particle = cost.fit_rate_and_fixed(evals, [len(pos)] * 2, cpus)
    return per_eval, per_particle, walls, reps * sum(cpus)


def _map_rate(m=2048, reps=4):
    """CPU s per Mpx to allocate, zero and add a float64 map, as a deposit worker does for every task: the
    median of the calls after the first.  The first call of a size also faults fresh pages in, which on a
    virtual machine can cost 10x (the guest's first touch of memory); a long-running worker reuses them."""
    a, b = np.ones((m, m)), np.ones((m, m))

    def zero_add():
        z = np.zeros((m, m))
        z += a
        z += b
        return z

    cpus = []
    for _ in range(reps):
        z, _, cpu_s, ld = timed(zero_add)
        cpus.append(cpu_s / (m * m / 1e6))
        del z
    say(f"deposit: zero + add of a {m}^2 float64 map, CPU s per Mpx: first {cpus[0]:.4f}, then "
        + ", ".join(f"{c:.4f}" for c in cpus[1:]) + f"; load {ld}")
    return median(cpus[1:]), cpus[0]


def measure_deposit(tmp):
    """Deposit rates.  Must run before anything else deposits in this process: its first call is timed."""
    from ember_dist.deposit.smoothing import smoothing_lengths

    n_tiny, n = 16, 32
    box = n * PAPER_SPACING
    tiny = make_snapshot(tmp / "tiny", n_tiny, box, seed=1)
    # 1. The first call of the process, then warm calls with 1 and 8 slabs (1 and 8 tasks); 16^3 particles
    #    on 128^2 px, so the kernels cost little and the difference is the fixed cost.
    calls = [(slabs, *_deposit_call(tiny, tmp / f"tiny{i}.zarr", box / 128, slabs)[1:3])
             for i, slabs in enumerate((1, 1, 8, 1, 8))]
    c1 = median([c for s, _, c in calls[1:] if s == 1])
    c8 = median([c for s, _, c in calls[1:] if s == 8])
    say("deposit: 16^3 particles on 128^2 px, first call then 1 / 8 slabs: "
        + ", ".join(f"{s} slab{'s' if s > 1 else ''} {c:.2f} CPU s ({w:.1f} s wall)" for s, w, c in calls))
    # 2. Smoothing lengths and the kernel alone (one thread) on a 32^3 mock at the paper's mean particle spacing.
    snap = make_snapshot(tmp / "mock", n, box, seed=0)
    pos = _positions(snap)
    h, wall_s, cpu_s, ld = timed(lambda: smoothing_lengths(pos, box, 80))
    say(f"deposit: smoothing {len(pos):,} particles: {cpu_s:.2f} CPU s, {wall_s:.2f} s wall, load {ld}")
    smooth = cpu_s / len(pos)
    direct_eval, direct_particle, _, _ = _kernel_rates(pos, h, box, reps=1)
    map_rate, map_first = _map_rate()
    # 3. What the tiny calls spend beyond their smoothing and kernels: per call and per task.
    pos_t = _positions(tiny)
    h_t = smoothing_lengths(pos_t, box, 80)
    pix = box / 128
    work = (len(pos_t) * (smooth + direct_particle)
            + sum(cost.kernel_evaluations(2 * x / pix) for x in h_t) * direct_eval)
    mpx = 128 * 128 / 1e6
    per_call, per_task = cost.fit_rate_and_fixed([1, 1], [1, 8], [c1 - work - mpx * map_rate,
                                                                  c8 - work - 8 * mpx * map_rate])
    first = max(0.0, calls[0][2] - c1)
    # 4. The kernel as deposit_snapshot runs it (slab tasks on every core), the fixed costs taken off.
    fixed = dict(smooth=smooth, per_call=per_call, per_task=per_task, map_rate=map_rate)
    per_eval, per_particle, walls, cpus = _kernel_in_situ(snap, tmp, len(pos), h, box, fixed)
    say(f"deposit: first call {first:.2f} CPU s, per call {per_call:.3f}, per task {per_task:.4f}; kernel in "
        f"deposit_snapshot {per_eval:.3g} per evaluation + {per_particle:.3g} per particle (alone, one thread: "
        f"{direct_eval:.3g} + {direct_particle:.3g})")
    q = np.quantile(h / PAPER_SPACING, (np.arange(64) + 0.5) / 64)
    rates = dict(smooth_cpu_s_per_particle=smooth, deposit_cpu_s_per_eval=per_eval,
                 deposit_cpu_s_per_particle=per_particle, map_cpu_s_per_mpx=map_rate,
                 h_over_spacing=[float(x) for x in q], deposit_first_cpu_s=first, deposit_call_cpu_s=per_call,
                 deposit_task_cpu_s=per_task)
    return rates, dict(calls=calls, map_first_cpu_s_per_mpx=map_first, kernel_alone_cpu_s_per_eval=direct_eval,
                       kernel_alone_cpu_s_per_particle=direct_particle, wall_per_cpu=walls / cpus)


def _kernel_in_situ(snap, tmp, n_part, h, box, fixed, slabs=4, reps=2):
    """CPU s per kernel evaluation and per particle inside ``deposit_snapshot`` (1 axis x ``slabs`` slabs,
    256^2 and 512^2 px, the median of ``reps`` calls each) once smoothing, per call, per task and map costs
    are taken off; with the wall and CPU seconds of those calls."""
    evals, kernel, walls, cpus = [], [], 0.0, 0.0
    for g in (256, 512):
        runs = [_deposit_call(snap, tmp / f"k{g}-{i}.zarr", box / g, slabs)[1:3] for i in range(reps)]
        walls, cpus = walls + sum(w for w, _ in runs), cpus + sum(c for _, c in runs)
        rest = n_part * fixed["smooth"] + fixed["per_call"] + slabs * (fixed["per_task"]
                                                                       + g * g / 1e6 * fixed["map_rate"])
        evals.append(sum(cost.kernel_evaluations(2 * x * g / box) for x in h))
        kernel.append(median([c for _, c in runs]) - rest)
        say(f"deposit: deposit_snapshot of {n_part:,} particles on {g}^2 px x {slabs} slabs: "
            + ", ".join(f"{c:.2f}" for _, c in runs) + f" CPU s ({', '.join(f'{w:.1f}' for w, _ in runs)} s wall)")
    per_eval, per_particle = cost.fit_rate_and_fixed(evals, [n_part] * 2, kernel)
    return per_eval, per_particle, walls, cpus


def _stat_funcs(m, n):
    from ember_dist.stats import cddf, pixel_pdf, power_spectrum

    box = n * 3.66
    geom = dict(redshift=2.0, hubble=0.6774, slab_depth=1500.0, pixel_size=3.66)
    return {"power": lambda: power_spectrum(m, box_size=box), "pdf": lambda: pixel_pdf(m),
            "cddf": lambda: cddf(m, **geom)}


def _maps(n, count, seed=4):
    """``count`` lognormal n^2 maps, dims and chunks as an enriched store's (sample, axis, slab, y, x)."""
    import dask.array as da

    from ember_dist.demo import lognormal_map

    a = np.stack([lognormal_map(n, seed=seed + i).astype(np.float32) * 1e4 for i in range(count)])
    return da.from_array(a.reshape(1, 1, count, n, n), chunks=(1, 1, 1, 1024, 1024))


def measure_stats(ref=2048, small=512, small_maps=4):
    """Statistics (dask threads): the first call of the process on one 256^2 map against later ones, then
    each statistic on ``small_maps`` x ``small``^2 and one ``ref``^2 map: CPU s per Mpx (FFT ones referred
    to ``ref`` with log N) and per map; the bispectrum on one ``small``^2 map (per Mpx only)."""
    import dask

    from ember_dist.stats import bispectrum

    with open("/proc/self/clear_refs", "w") as f:  # VmHWM from here: the statistics' peak
        f.write("5")
    m = _maps(256, 1)
    first = [timed(lambda: dask.compute(*[f() for f in _stat_funcs(m, 256).values()], scheduler="threads"))[2]
             for _ in range(3)]
    say("stats: P(k) + PDF + CDDF of one 256^2 map, first call then warm: " + ", ".join(f"{c:.2f}" for c in first)
        + " CPU s")
    runs, walls, cpus = {}, 0.0, 0.0
    for n, count in ((small, small_maps), (ref, 1)):
        m = _maps(n, count)
        for name, fn in _stat_funcs(m, n).items():
            reps = [timed(lambda: dask.compute(fn(), scheduler="threads"))[1:] for _ in range(2)]
            runs.setdefault(name, []).append((n, count, median([c for _, c, _ in reps])))
            walls, cpus = walls + sum(w for w, _, _ in reps), cpus + sum(c for _, c, _ in reps)
            say(f"stats {name} {count} x {n}^2: " + ", ".join(f"{c:.2f}" for _, c, _ in reps)
                + f" CPU s, load {reps[-1][2]}")
    per_mpx, per_map = {}, {}
    for name, pts in runs.items():
        log = name == "power"
        units = [c * n * n / 1e6 * (np.log(n) / np.log(ref) if log else 1.0) for n, c, _ in pts]
        per_mpx[name], per_map[name] = cost.fit_rate_and_fixed(units, [c for _, c, _ in pts], [x for *_, x in pts])
    mb = _maps(small, 1)
    _, wall, cpu_s, ld = timed(lambda: dask.compute(bispectrum(mb, box_size=small * 3.66), scheduler="threads"))
    per_mpx["bispectrum"] = cpu_s / (small * small / 1e6) * np.log(ref) / np.log(small)
    say(f"stats bispectrum {small}^2: {cpu_s:.2f} CPU s, {wall:.2f} s wall, load {ld}")
    hwm = next(int(ln.split()[1]) for ln in open("/proc/self/status") if ln.startswith("VmHWM:")) / 2**20
    return (dict(stats_cpu_s_per_mpx=per_mpx, stats_cpu_s_per_map=per_map, stats_ref_px=ref, stats_peak_gb=hwm,
                 stats_first_cpu_s=max(0.0, first[0] - median(first[1:]))),
            dict(runs=runs, first=first, wall_per_cpu=walls / cpus))


def _noop(i):
    return i


def _proc_cpu():
    import os

    t = os.times()
    return t.user + t.system


def measure_scheduler(n_tasks):
    """Seconds per task of a no-op graph on a LocalCluster (scheduler in this process): the wall time and
    the CPU seconds of this process (client + scheduler) and of the worker.  On a dedicated scheduler
    the serial cost per task is the CPU figure; under a shared machine's load the wall figure mostly
    measures this process's share of the CPU."""
    import time

    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, dashboard_address=None) as lc, Client(lc) as client:
        client.gather(client.map(_noop, range(1000), pure=False))  # warm-up
        w0 = sum(client.run(_proc_cpu).values())
        c0, t0 = time.process_time(), time.perf_counter()
        client.gather(client.map(_noop, range(n_tasks), pure=False))
        wall, cpu_s = time.perf_counter() - t0, time.process_time() - c0
        wcpu = sum(client.run(_proc_cpu).values()) - w0
    say(f"scheduler: {n_tasks:,} no-op tasks in {wall:.2f} s wall ({wall / n_tasks * 1e6:.0f} us per task); "
        f"client + scheduler CPU {cpu_s / n_tasks * 1e6:.0f} us per task, worker CPU {wcpu / n_tasks * 1e6:.0f} us "
        f"per task")
    return dict(sched_wall_s_per_task=wall / n_tasks, sched_cpu_s_per_task=cpu_s / n_tasks,
                worker_cpu_s_per_task=wcpu / n_tasks, sched_tasks=n_tasks)


def measure_network(bundle_path, levels, n):
    """The network alone: one whole n^2 map in this process (after a warm-up call), CPU s per GMAC of one pass."""
    from ember_dist.demo import lognormal_map
    from ember_dist.engine.reference import predict_whole
    from ember_dist.model.bundle import load_model
    from ember_dist.model.geometry import stage_macs

    b = load_model(bundle_path)
    m = b.build()
    dm = lognormal_map(n, seed=2)
    predict_whole(b, dm, seed=0, halo=(0, 0), model=m)  # warm-up: traces the call
    _, wall, cpu_s, ld = timed(lambda: predict_whole(b, dm, seed=0, halo=(0, 0), model=m))
    one_pass = sum(v for k, v in stage_macs(b.preset, tuple(levels)).items() if k[0] != "A")
    rate = cpu_s / (one_pass * n * n / 1e9)
    say(f"network alone, {n}^2 whole map: {cpu_s:.2f} CPU s ({rate:.4f} CPU s per GMAC), {wall:.1f} s wall, load {ld}")
    return rate
