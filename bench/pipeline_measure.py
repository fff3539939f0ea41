# SPDX-License-Identifier: BSD-3-Clause
"""Unit costs of the deposit, the statistics, the scheduler and the network alone (``bench/pipeline.py``).

Every figure is CPU seconds of this process tree (:func:`pipeline_common.timed`); fixed costs come from
pairs of runs that differ in one thing: the first call of the process against a later one, one slab
against eight, two map sizes.
"""
from __future__ import annotations

import numpy as np

from ember_dist.engine import cost
from pipeline_common import load, make_snapshot, median, say, timed

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
    reps = [timed(lambda: dask.compute(bispectrum(mb, box_size=small * 3.66), scheduler="threads"))[1:]
            for _ in range(3)]
    cpu_s = median([c for _, c, _ in reps])
    per_mpx["bispectrum"] = cpu_s / (small * small / 1e6) * np.log(ref) / np.log(small)
    say(f"stats bispectrum {small}^2: " + ", ".join(f"{c:.2f}" for _, c, _ in reps) + f" CPU s (median {cpu_s:.2f}), "
        f"load {reps[-1][2]}")
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


def _status_gb(field):
    """``VmRSS`` or ``VmHWM`` of this process, GiB."""
    return next(int(ln.split()[1]) for ln in open("/proc/self/status") if ln.startswith(field + ":")) / 2**20


def _main_thread_cpu():
    import threading

    import psutil

    tid = threading.main_thread().native_id
    t = next((t for t in psutil.Process().threads() if t.id == tid), None)
    return 0.0 if t is None else t.user_time + t.system_time


def _noop_graph(client, n):
    """``n`` no-op tasks in one graph (one ``client.map``, as ``client.compute`` sends the deposit's and the
    statistics' graphs), gathered."""
    client.gather(client.map(_noop, range(n), pure=False))


def _noop_submit(client, n, token):
    """``n`` no-op tasks submitted and awaited as an enrichment stage does (``split.run_split``,
    ``enrich._run_plain``): one ``client.submit`` per task with its own key, ``pure=False, retries=1``, then
    ``as_completed``, ``result`` and ``release`` of each."""
    from distributed import as_completed

    futures = [client.submit(_noop, i, pure=False, retries=1, key=f"noop-{token}-{i:07d}") for i in range(n)]
    for fut in as_completed(futures):
        fut.result()
        fut.release()


def _noop_threads(n):
    """A graph of ``n`` no-op tasks on the threaded scheduler (``dask.threaded.get`` of a task dict: the scheduler
    alone; ``dask.compute`` of ``n`` separate delayed objects would add ~0.6 ms per object of collection handling)."""
    import dask.threaded

    dsk = {("noop", i): (_noop, i) for i in range(n)}
    dask.threaded.get(dsk, list(dsk))


def _idle_cpu_rate(worker_cpu, seconds=5.0):
    """CPU seconds per second that this process and the worker spend with no task: the cluster's periodic
    callbacks (heartbeats, monitors).  Under a shared machine's load a no-op task takes tens of ms of wall,
    so this background would otherwise count as per-task cost."""
    import time

    c0, w0, t0 = time.process_time(), worker_cpu(), time.perf_counter()
    time.sleep(seconds)
    dt = time.perf_counter() - t0
    return (time.process_time() - c0) / dt, (worker_cpu() - w0) / dt


def _one_noop_run(kind, n, run, worker_cpu=None, idle=(0.0, 0.0)):
    """Wall, CPU of this process and of its main thread, worker CPU (each also net of the idle rate ``idle`` x
    wall), and this process's peak RSS above its RSS before the run (``VmHWM`` reset first; ``peak_gb`` in GiB,
    as ``_status_gb``), of ``run()``."""
    import time

    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    rss0 = _status_gb("VmRSS")
    w0 = worker_cpu() if worker_cpu else 0.0
    l0, m0, c0, t0 = load(), _main_thread_cpu(), time.process_time(), time.perf_counter()
    run()
    wall, cpu_s, main_s = time.perf_counter() - t0, time.process_time() - c0, _main_thread_cpu() - m0
    wcpu = (worker_cpu() - w0) if worker_cpu else 0.0
    peak = _status_gb("VmHWM") - rss0
    net, wnet = max(0.0, cpu_s - idle[0] * wall), max(0.0, wcpu - idle[1] * wall)
    r = dict(scheduler=kind, tasks=n, wall_s=wall, cpu_s=cpu_s, net_cpu_s=net, main_thread_cpu_s=main_s,
             worker_cpu_s=wcpu, worker_net_cpu_s=wnet, peak_gb=peak, load=(l0, load()))
    say(f"scheduler {kind}: {n:,} no-op tasks in {wall:.1f} s wall, {wall / n * 1e6:.0f} us per task; this process "
        f"{cpu_s / n * 1e6:.0f} us CPU per task (net of idle {net / n * 1e6:.0f}, main thread {main_s / n * 1e6:.0f})"
        + (f", worker {wcpu / n * 1e6:.0f} (net {wnet / n * 1e6:.0f})" if worker_cpu else "")
        + f"; peak RSS +{peak * 1024:.0f} MiB ({peak * 2**20 / n:.2f} KiB per task); load {r['load']}")
    return r


def measure_scheduler(counts=(1000, 10_000, 100_000), submit_counts=(1000, 10_000)):
    """Seconds per task of no-op graphs on (a) Dask's threaded scheduler in this process, ``counts`` tasks;
    (b) the local distributed scheduler, laid out as the pipeline lays it out
    (``ember_dist.cluster.connect("local")``: a LocalCluster whose scheduler runs in this process, one worker
    process with two threads, the dashboard on): ``counts`` tasks in one graph (``client.map``: how the deposit
    and the statistics send theirs) and ``submit_counts`` tasks submitted one by one as an enrichment stage
    submits them, the sizes in increasing order, the two kinds alternating.

    Per run: wall; CPU seconds of this process (client + scheduler; for (a) the whole threaded run) and of the
    worker, each also net of their idle rate (the cluster's periodic callbacks, measured for 5 s before each
    run) x the run's wall; the peak RSS of this process above its RSS before the run (for (a) the graph and the
    scheduler's state; for (b) the client and the scheduler).  On a dedicated scheduler the serial cost per task
    is the net CPU figure; under a shared machine's load the wall figure mostly measures this process's share
    of the CPU and the round trips between the processes.

    Returns the runs and the rates' figures (net CPU s per task of this process, distributed scheduler):
    ``sched_s_per_task`` (one graph, the largest count), ``sched_s_per_task_by_count`` ({tasks: s}, one graph)
    and ``sched_submit_s_per_task_by_count`` ({tasks: s}, submitted one by one)."""
    import uuid

    from ember_dist.cluster import close, connect

    runs = []
    _noop_threads(1000)  # warm-up
    for n in counts:
        runs.append(_one_noop_run("threads", n, lambda: _noop_threads(n)))
    client = connect("local")
    try:
        def worker_cpu():
            return sum(client.run(_proc_cpu).values())

        _noop_submit(client, 200, "warm")  # warm-up: connections, the task prefix, the function's pickle
        _noop_graph(client, 1000)
        todo = sorted([(n, "graph") for n in counts] + [(n, "submit") for n in submit_counts])
        for n, how in todo:
            idle = _idle_cpu_rate(worker_cpu)
            say(f"scheduler distributed, idle: this process {idle[0] * 1e3:.1f} ms CPU per s, worker "
                f"{idle[1] * 1e3:.1f}")
            if how == "graph":
                r = _one_noop_run("distributed, one graph", n, lambda: _noop_graph(client, n), worker_cpu, idle)
            else:
                token = uuid.uuid4().hex[:8]
                r = _one_noop_run("distributed, one submit per task", n, lambda: _noop_submit(client, n, token),
                                  worker_cpu, idle)
            runs.append(dict(r, idle_cpu_s_per_s=idle))
    finally:
        close(client)

    def per_task(kind):
        return {r["tasks"]: r["net_cpu_s"] / r["tasks"] for r in runs if r["scheduler"] == kind}

    graph = per_task("distributed, one graph")
    return dict(runs=runs, sched_s_per_task=graph[max(graph)] if graph else 0.0, sched_s_per_task_by_count=graph,
                sched_submit_s_per_task_by_count=per_task("distributed, one submit per task"))


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
