# SPDX-License-Identifier: BSD-3-Clause
"""Cost model of a whole job (deposit -> split enrichment -> statistics) from measured per-unit figures.

The unit costs (:class:`Rates`) are measured on one machine by ``bench/pipeline.py``: CPU seconds
(core-seconds, so the figures hold under a shared machine's load) per SPH smoothing length, per
kernel evaluation of the deposit, per megapixel of map bookkeeping, per paid multiply-add of every
split stage, per megapixel of each statistic, and the scheduler's seconds per task; beside them the fixed
costs that dominate a small job: a fresh process's or worker's first call (numba's cached kernels, the
stage models built and traced) and a fixed part of every task, call and map.  The job's work
comes from the same planners the engine runs (:func:`~ember_dist.engine.split.plan_split`,
:meth:`~ember_dist.engine.split.SplitPlan.stage_compute`, :func:`~ember_dist.model.geometry.stage_macs`),
so a change of tile plan changes the prediction.

Wall time on a cluster (:func:`predict_cpu`, :func:`predict_gpu`) puts each stage's tasks on the
cluster's task slots in waves, behind the stage barrier the engine has, and takes the largest of:

* compute: ``ceil(tasks / slots) x seconds per task`` (a node's cores shared by its workers; as many
  workers per node as the measured peak memory per worker allows);
* the scheduler: ``tasks x seconds per task`` of the one Dask scheduler (serial), the seconds per task
  taken at the size of the graph or stage the scheduler is sent (:func:`sched_s_per_task`); the tasks
  are counted from the code that builds each graph (:func:`job_tasks`; the statistics' graph by a counter
  the caller passes, ``ember_dist.stats.graph_cost.stats_graph_tasks``: the engine imports no statistics);
* I/O: the stage's bytes read and written over the shared file system's bandwidth.

GPU stage times are estimates: the paid multiply-adds of each stage over a roofline of the named GPU's
datasheet throughput and memory bandwidth, per network level, times an efficiency (:class:`GPU`).

Examples
--------
>>> job = Job(n_px=2048, axes=1, slabs=1, samples=1, particles=0, statistics=())
>>> [s["stage"] for s in stage_work(job)]
['A1', 'B', 'C1']
>>> paper_job().n_px, paper_job().maps
(27008, 30)
"""
from __future__ import annotations

import math

# the records the model is given, and the scheduler's task counts: their own modules, names kept here
from ember_dist.engine.cost_inputs import A100, GPU, H100, CPUNode, Job, Rates, paper_job
from ember_dist.engine.cost_tasks import (
    _stats_tasks, deposit_graph_tasks, graph_tasks, sched_s_per_task, smoothing_tasks, tree_sum_tasks)

__all__ = ["Rates", "Job", "CPUNode", "GPU", "A100", "H100", "paper_job", "stage_work", "deposit_work",
           "kernel_evaluations", "build_cpu_s", "fit_rate_and_fixed", "predict_cpu", "predict_gpu", "this_machine",
           "sched_s_per_task", "tree_sum_tasks", "deposit_graph_tasks", "smoothing_tasks", "graph_tasks",
           "job_tasks"]

GB = 1e9


# --- work of a job ---------------------------------------------------------------------------------

def stage_work(job):
    """Per split stage of one field's enrichment: tasks, paid multiply-adds, bytes read and written,
    in the order the stages run (each one behind a barrier over all maps and realisations)."""
    from ember_dist.engine.split import plan_split
    from ember_dist.model.geometry import _input_channels, stage_macs
    from ember_dist.model.presets import get_preset

    p = get_preset(job.preset)
    sp = plan_split((job.n_px, job.n_px), job.core, p, job.split_level)
    macs, paid = stage_macs(p, sp.levels), sp.stage_compute(p)
    chain = (0,) + sp.levels
    n0 = job.n_px**2
    out = []
    for k, plan in sp.stages().items():
        reals = 1 if k[0] == "A" else (job.samples if p.noise or k == "C1" else 1)
        n_maps = job.maps * reals * job.fields
        tiles = plan.grid[0] * plan.grid[1]
        canvas = plan.canvas[0] * plan.canvas[1]
        if k == "B":
            lev = sp.levels[-1]
            read = tiles * canvas * p.filters[lev] * 4
            write = (n0 // 4**lev) * p.filters[lev + 1] * 4
        else:
            i = int(k[1:])
            a, b = chain[i - 1], chain[i]
            read = tiles * canvas * _input_channels(p, a) * 4
            if k[0] == "A":
                write = (n0 // 4**b) * p.filters[b] * 4
            else:
                read += tiles * canvas // 4 ** (b - a) * p.filters[b + 1] * 4
                write = n0 * 4 if a == 0 else (n0 // 4**a) * p.filters[a + 1] * 4
        gmac = macs[k] * paid[k] * n0 * n_maps / 1e9
        out.append(dict(stage=k, tasks=tiles * n_maps, maps=n_maps, gmac=gmac, gmac_per_task=gmac / (tiles * n_maps),
                        bytes=(read + write) * n_maps, paid=paid[k], macs_per_px=macs[k], levels=list(sp.levels),
                        periodic=sp.periodic))
    return out


def kernel_evaluations(support_px):
    """Kernel samples the deposit evaluates for a particle of support radius ``2 h`` = ``support_px``
    pixels (the rule of :func:`ember_dist.deposit.kernel.deposit_slab`): the ``(2H + 1)^2`` pixels of
    its bounding box, ``s x s`` samples each (``s = ceil(4 / H)`` clipped to 1..4), or 64 samples for
    kernels under a pixel.

    >>> kernel_evaluations(10.0), kernel_evaluations(2.0), kernel_evaluations(0.5)
    (441.0, 100.0, 68.0)
    """
    H = float(support_px)
    box = (2 * H + 1) ** 2
    if H < 1:
        return 64.0 + box
    s = min(4, max(1, math.ceil(4 / H)))
    return box * s * s


def deposit_work(job, rates):
    """Deposit of a dark-matter-only snapshot: smoothing lengths once, every particle projected once per
    axis, and one float64 map per (particle chunk, axis, slab) task that the tree sum adds up."""
    spacing = job.box_size / job.particles ** (1 / 3)
    pixel = job.box_size / job.n_px
    q = rates.h_over_spacing
    evals = sum(kernel_evaluations(2 * h * spacing / pixel) for h in q) / len(q)
    chunks = math.ceil(job.particles / job.chunk_size)
    tasks = chunks * job.axes * job.slabs
    per_particle = evals * rates.deposit_cpu_s_per_eval + rates.deposit_cpu_s_per_particle
    return dict(particles=job.particles, evals_per_particle=evals, support_px_median=2 * q[len(q) // 2] * spacing / pixel,
                smooth_cpu_s=job.particles * rates.smooth_cpu_s_per_particle,
                kernel_cpu_s=job.particles * job.axes * per_particle,
                map_cpu_s=tasks * job.mpx * rates.map_cpu_s_per_mpx, task_cpu_s=tasks * rates.deposit_task_cpu_s,
                tasks=tasks, graph_tasks=deposit_graph_tasks(job), chunks=chunks, map_gb=8 * job.n_px**2 / GB)


def build_cpu_s(job, rates):
    """CPU seconds a fresh enrichment worker spends once on the job's stage models (built, then traced on
    each stage's first call) and on loading the model, beyond warm tasks."""
    b = rates.stage_build_cpu_s
    return b.get("load", 0.0) + sum(b.get(s["stage"], 0.0) for s in stage_work(job))


def fit_rate_and_fixed(units, tasks, cpu_s):
    """``(rate, fixed)`` with ``cpu_s ~ rate x units + fixed x tasks`` from two or more measurements, both
    non-negative: when the points cannot tell the two apart (tasks proportional to units) or a term comes
    out negative, that term is 0 and the other fits alone (least squares).

    >>> fit_rate_and_fixed([1.0, 4.0], [1, 1], [3.0, 9.0])  # 2 per unit + 1 per task
    (2.0, 1.0)
    >>> fit_rate_and_fixed([1.0, 4.0], [1, 4], [3.0, 12.0])  # proportional: all in the rate
    (3.0, 0.0)
    >>> fit_rate_and_fixed([1.0, 4.0], [1, 1], [3.0, 2.0])  # a negative rate is clipped
    (0.0, 2.5)
    """
    u, t, c = (list(map(float, v)) for v in (units, tasks, cpu_s))

    def alone(x):
        return sum(a * b for a, b in zip(x, c)) / sum(a * a for a in x)

    suu, stt, sut = sum(a * a for a in u), sum(a * a for a in t), sum(a * b for a, b in zip(u, t))
    det = suu * stt - sut * sut
    if det <= 1e-12 * suu * stt:
        return alone(u), 0.0
    suc, stc = sum(a * b for a, b in zip(u, c)), sum(a * b for a, b in zip(t, c))
    rate, fixed = (stt * suc - sut * stc) / det, (suu * stc - sut * suc) / det
    if fixed < 0:
        return max(0.0, alone(u)), 0.0
    if rate < 0:
        return 0.0, max(0.0, alone(t))
    return rate, fixed


def job_tasks(job, threads=64, rechunk_method="disk", stats_tasks=None):
    """Tasks the job sends the scheduler, per phase, each counted from the code that builds its graph:
    ``smoothing`` (:func:`smoothing_tasks` on ``threads`` threads), ``deposit`` (:func:`deposit_graph_tasks`),
    ``scan`` (one task per map and field), each split stage (``stage_work``: tiles x maps x realisations;
    equal to ``engine.split.count_tasks`` with the default batch of one tile) and ``statistics``:
    ``stats_tasks(job, rechunk_method)``, the caller's counter of the statistics' graph
    (``ember_dist.stats.graph_cost.stats_graph_tasks``; needed unless the job has no statistics)."""
    out = {"smoothing": smoothing_tasks(job, threads)[0], "deposit": deposit_graph_tasks(job)}
    out["scan"] = job.maps * job.fields
    out.update({s["stage"]: s["tasks"] for s in stage_work(job)})
    out["statistics"] = _stats_tasks(job, stats_tasks, rechunk_method)
    return out


def _stats_cpu_s(job, rates):
    """Statistics of every enriched map; FFT-based ones scale with N log N."""
    n_maps = job.maps * job.samples * job.fields
    out = {}
    for s in job.statistics:
        r = rates.stats_cpu_s_per_mpx[s]
        if s in ("power", "bispectrum"):
            r *= math.log(job.n_px) / math.log(rates.stats_ref_px)
        out[s] = (r * job.mpx + rates.stats_cpu_s_per_map.get(s, 0.0)) * n_maps
    return out


# --- wall time on a cluster ------------------------------------------------------------------------

def _stage_wall(tasks, task_s, slots, sched_s, io_bytes, io_gb_s):
    """Wall time and bound of a stage: compute in waves, the scheduler's ``sched_s`` (its tasks x its seconds
    per task) and one task after it, or I/O."""
    waves = math.ceil(tasks / slots)
    terms = {"compute": waves * task_s, "scheduler": sched_s + task_s, "io": io_bytes / (io_gb_s * GB)}
    bound = max(terms, key=terms.get)
    return terms[bound], bound


def predict_cpu(job, rates, node=CPUNode(), nodes=1, fs_gb_s=20.0, stats_tasks=None):
    """Predicted wall time (s) and memory of ``job`` on ``nodes`` CPU nodes.

    Workers per node: as many as the node's memory holds at the measured peak per worker (at most one
    per core); each gets ``cores / workers`` cores, and a task's CPU seconds shrink by that many cores
    (the per-core speed of the measuring machine).  The file system delivers ``min(nodes x
    node.io_gb_s, fs_gb_s)``.  The one scheduler handles every task of every graph (:func:`job_tasks`; the
    statistics' P(k) transposes through scratch files on one node, by Dask's p2p shuffle on several), at
    :func:`sched_s_per_task` of the graph's or stage's size; each phase takes at least its tasks x that.
    ``stats_tasks(job, rechunk_method)`` counts the statistics' graph (``"disk"`` on one node, ``"p2p"`` on
    more): ``ember_dist.stats.graph_cost.stats_graph_tasks``, passed in because the statistics are a layer
    above the engine; needed when the job has statistics and the scheduler costs something (``rates``).
    Returns per-phase walls with the term that bounds each stage and phase, and ``tasks`` / ``sched_s``:
    the tasks and the scheduler's seconds of each phase.
    """
    io = min(nodes * node.io_gb_s, fs_gb_s)
    peak = max(rates.stage_peak_gb.values())
    w = max(1, min(node.cores, int(node.memory_gb // peak)))
    cpw = node.cores / w
    slots = nodes * w
    res = {"nodes": nodes, "node": node.name, "workers_per_node": w, "cores_per_worker": cpw, "stages": []}
    tasks, sched = {}, {}

    def scheduler(phase, n, submit=False):
        tasks[phase] = n
        sched[phase] = n * sched_s_per_task(rates, n, submit) if n else 0.0
        return sched[phase]

    # Deposit: smoothing lengths on at most one core per spatial domain; the kernel tasks each hold float64
    # maps (their own and, in the tree sum, two more), so memory bounds the tasks per node; maps travel
    # between nodes in the sum.
    d = deposit_work(job, rates)
    w_dep = max(1, min(node.cores, int(node.memory_gb // (3 * d["map_gb"]))))
    n_smooth, domains = smoothing_tasks(job, nodes * node.cores)
    smooth_s = d["smooth_cpu_s"] / min(nodes * node.cores, domains)
    smooth_sched = scheduler("smoothing", n_smooth)
    smooth_bound = "scheduler" if smooth_sched > smooth_s else "compute"
    t_smooth = max(smooth_s, smooth_sched) + rates.deposit_first_cpu_s + rates.deposit_call_cpu_s
    per_task = (d["kernel_cpu_s"] + d["map_cpu_s"] + d["task_cpu_s"]) / d["tasks"]
    t_dep, dep_bound = _stage_wall(d["tasks"], per_task, nodes * w_dep, scheduler("deposit", d["graph_tasks"]), 0, io)
    net = d["tasks"] * d["map_gb"] * GB * (1 - 1 / nodes) / (nodes * node.net_gb_s * GB) if nodes > 1 else 0.0
    if net > t_dep:
        t_dep, dep_bound = net, "network"
    res["deposit"] = dict(d, wall_s=t_smooth + t_dep, smooth_wall_s=t_smooth, smooth_bound=smooth_bound,
                          smooth_domains=domains, bound=dep_bound, tasks_per_node=w_dep,
                          peak_gb_per_task=3 * d["map_gb"])
    # Enrichment: the validation scan and other work outside the stage tasks (per input Mpx, spread
    # over the cluster's cores, at least one map's worth), the client's fixed costs, every worker's
    # model build (in parallel, its cores for it), then the stages one after the other, each stage's
    # tasks submitted one by one.
    scan_cpu = rates.scan_cpu_s_per_mpx * job.mpx * job.maps * job.fields
    outside = rates.outside_cpu_s_per_mpx * job.mpx * job.maps * job.fields
    build = build_cpu_s(job, rates)
    fixed = rates.enrich_first_cpu_s + rates.enrich_call_cpu_s
    enrich = (max(scan_cpu / (nodes * node.cores), rates.scan_cpu_s_per_mpx * job.mpx) + outside / (nodes * node.cores)
              + fixed + build / cpw)
    for s in stage_work(job):
        task_cpu = (s["gmac_per_task"] * rates.stage_cpu_s_per_gmac[s["stage"]]
                    + rates.stage_task_cpu_s.get(s["stage"], 0.0))
        wall, bound = _stage_wall(s["tasks"], task_cpu / cpw, slots, scheduler(s["stage"], s["tasks"], submit=True),
                                  s["bytes"], io)
        res["stages"].append(dict(s, task_cpu_s=task_cpu, wall_s=wall, bound=bound, cpu_s=task_cpu * s["tasks"]))
        enrich += wall
    st = _stats_cpu_s(job, rates)
    stats_s = sum(st.values()) / (nodes * node.cores)
    # Count the statistics' graph only where the scheduler costs something (building it takes seconds).
    n_stats = (_stats_tasks(job, stats_tasks, "disk" if nodes == 1 else "p2p") if sched_s_per_task(rates, 10**6) > 0
               else 0)
    stats_sched = scheduler("statistics", n_stats)
    t_stats = max(stats_s, stats_sched) + rates.stats_first_cpu_s
    once = (rates.deposit_first_cpu_s * nodes * w_dep + rates.deposit_call_cpu_s + fixed + build * slots
            + rates.stats_first_cpu_s)
    res.update(enrich_wall_s=enrich, build_cpu_s_per_worker=build, stats_wall_s=t_stats, stats_cpu_s=st,
               stats_bound="scheduler" if stats_sched > stats_s else "compute", tasks=tasks, sched_s=sched,
               wall_s=t_smooth + t_dep + enrich + t_stats, peak_gb_per_worker=peak,
               cpu_s=d["smooth_cpu_s"] + d["kernel_cpu_s"] + d["map_cpu_s"] + d["task_cpu_s"] + scan_cpu + outside
               + sum(x["cpu_s"] for x in res["stages"]) + sum(st.values()) + once)
    return res


def _level_of_stage(stage, levels, n_levels):
    chain = (0,) + tuple(levels)
    if stage == "B":
        return range(levels[-1], n_levels)
    i = int(stage[1:])
    return range(chain[i - 1], chain[i] + (1 if stage[0] == "A" else 0))


def gpu_seconds_per_gmac(preset, gpu, precision="tf32"):
    """GPU seconds per 1e9 multiply-adds of each network level (dict), from a roofline: a 3x3
    convolution with C channels moves ~2C values per pixel for 9C^2 multiply-adds, so its intensity is
    2.25 C FLOP per byte in float32 (4.5 C in bfloat16); divided by ``gpu.efficiency``."""
    from ember_dist.model.presets import get_preset

    p = get_preset(preset)
    peak = gpu.tflops[precision] * 1e12
    bytes_per = 2 if precision == "bfloat16" else 4
    out = {}
    for lev in range(p.levels):
        c = p.filters[lev]
        intensity = 2 * 9 * c * c / (2 * c * bytes_per)
        flops = min(peak, intensity * gpu.mem_tb_s * 1e12)
        out[lev] = 2e9 / flops / gpu.efficiency
    return out


def predict_gpu(job, rates, gpu=A100, gpus=1, precision="tf32", fs_gb_s=20.0, stats_tasks=None):
    """Predicted wall time (s) of ``job`` on ``gpus`` GPUs (an ESTIMATE from datasheet throughput).

    Network time per stage: its paid multiply-adds over :func:`gpu_seconds_per_gmac`, weighted over
    the stage's levels.  Host work per task (reads, noise, writes: the measured stage CPU seconds less
    the network's) runs on one host core beside the GPU's next call, so a task takes the larger of
    the two.  Deposit and statistics run on the host cores (``gpu.host_cores`` per GPU); ``stats_tasks``: as
    in :func:`predict_cpu`.
    """
    from ember_dist.model.geometry import cost
    from ember_dist.model.presets import get_preset

    p = get_preset(job.preset)
    per_level = cost(p).per_level
    t_lev = gpu_seconds_per_gmac(p, gpu, precision)
    node = CPUNode(f"host of one {gpu.name}", gpu.host_cores, gpu.host_memory_gb, gpu.io_gb_s)
    host = predict_cpu(job, rates, node, gpus, fs_gb_s, stats_tasks)
    io = min(gpus * gpu.io_gb_s, fs_gb_s)
    res = {"gpus": gpus, "gpu": gpu.name, "precision": precision, "efficiency": gpu.efficiency, "stages": []}
    enrich = host["enrich_wall_s"] - sum(s["wall_s"] for s in host["stages"])  # scan, fixed costs, model build
    for s in stage_work(job):
        levs = list(_level_of_stage(s["stage"], s["levels"], p.levels))
        m = sum(per_level.get(lv, 0.0) for lv in levs)
        spg = sum(per_level.get(lv, 0.0) * t_lev[lv] for lv in levs) / m if m else t_lev[0]
        gpu_s = s["gmac_per_task"] * spg
        host_s = (s["gmac_per_task"] * max(0.0, rates.stage_cpu_s_per_gmac[s["stage"]] - rates.network_cpu_s_per_gmac)
                  + rates.stage_task_cpu_s.get(s["stage"], 0.0))
        t_task = gpu_s + host_s if gpu.host_threads <= 1 else max(gpu_s, host_s / (gpu.host_threads - 1))
        wall, bound = _stage_wall(s["tasks"], t_task, gpus, s["tasks"] * sched_s_per_task(rates, s["tasks"], True),
                                  s["bytes"], io)
        if bound == "compute" and host_s > gpu_s:  # the host's share of the task is the larger
            bound = "host"
        res["stages"].append(dict(stage=s["stage"], tasks=s["tasks"], gpu_s_per_task=gpu_s, host_s_per_task=host_s,
                                  wall_s=wall, bound=bound))
        enrich += wall
    res.update(deposit_wall_s=host["deposit"]["wall_s"], enrich_wall_s=enrich, stats_wall_s=host["stats_wall_s"],
               wall_s=host["deposit"]["wall_s"] + enrich + host["stats_wall_s"])
    return res


def this_machine(job, rates):
    """CPU seconds of ``job`` run on the measuring machine as ``bench/pipeline.py --check`` runs it: in one
    fresh process (deposit and statistics on its threads) with one fresh enrichment worker, so every fixed
    cost is paid once; per phase, with the parts, and the wall time at the measurement's wall seconds per
    CPU second of each phase (that ratio is the machine's load, not the code's)."""
    d = deposit_work(job, rates)
    scan = rates.scan_cpu_s_per_mpx * job.mpx * job.maps * job.fields
    outside = rates.outside_cpu_s_per_mpx * job.mpx * job.maps * job.fields
    stages = {s["stage"]: s["gmac"] * rates.stage_cpu_s_per_gmac[s["stage"]]
              + s["tasks"] * rates.stage_task_cpu_s.get(s["stage"], 0.0) for s in stage_work(job)}
    st = _stats_cpu_s(job, rates)
    parts = {
        "deposit": {"first call": rates.deposit_first_cpu_s, "per call": rates.deposit_call_cpu_s,
                    "smoothing": d["smooth_cpu_s"], "kernel": d["kernel_cpu_s"], "maps": d["map_cpu_s"],
                    "per task": d["task_cpu_s"]},
        "enrich": {"first call": rates.enrich_first_cpu_s, "per call": rates.enrich_call_cpu_s, "scan": scan,
                   "outside per Mpx": outside,
                   "model build": build_cpu_s(job, rates), **stages},
        "stats": {"first call": rates.stats_first_cpu_s, **st},
    }
    cpu = {k: sum(v.values()) for k, v in parts.items()}
    wpc = rates.wall_per_cpu
    walls = {k: v * wpc[k] for k, v in cpu.items() if k in wpc}
    return dict(walls, wall_s=sum(walls.values()) if len(walls) == len(cpu) else None, cpu_s=cpu,
                cpu_total_s=sum(cpu.values()), parts=parts)
