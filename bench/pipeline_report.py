# SPDX-License-Identifier: BSD-3-Clause
"""Tables of ``bench/pipeline.py``: the measured rates and the paper's case on CPU nodes and GPUs."""
from __future__ import annotations

import dataclasses

from ember_dist.engine import cost
from ember_dist.stats.graph_cost import stats_graph_tasks
from pipeline_common import say

__all__ = ["print_rates", "predictions", "print_predictions"]


def hms(s):
    return f"{s / 3600:.2f} h" if s >= 3600 else f"{s / 60:.1f} min" if s >= 60 else f"{s:.1f} s"


def print_rates(rates, per_mpx=None):
    per_mpx = per_mpx or {}
    say("\n| stage | CPU s per output Mpx | CPU s per GMAC paid | fixed CPU s per task | build CPU s per worker "
        "| peak RSS / worker |")
    say("|---|---|---|---|---|---|")
    for k, v in rates.stage_cpu_s_per_gmac.items():
        say(f"| {k} | {per_mpx.get(k, float('nan')):.3f} | {v:.4f} | {rates.stage_task_cpu_s.get(k, 0.0):.3f} "
            f"| {rates.stage_build_cpu_s.get(k, 0.0):.2f} | {rates.stage_peak_gb.get(k, float('nan')):.2f} GB |")
    say(f"| worker model load | | | | {rates.stage_build_cpu_s.get('load', 0.0):.2f} | |")
    say(f"enrich outside the stages: scan {rates.scan_cpu_s_per_mpx:.3f} CPU s per input Mpx; the rest "
        f"{rates.enrich_call_cpu_s:.2f} per call + {rates.outside_cpu_s_per_mpx:.3f} per input Mpx; client's first "
        f"call {rates.enrich_first_cpu_s:.2f}; network alone "
        f"{rates.network_cpu_s_per_gmac:.4f} per GMAC")
    say(f"deposit: smoothing {rates.smooth_cpu_s_per_particle:.3g} per particle, kernel "
        f"{rates.deposit_cpu_s_per_eval:.3g} per evaluation + {rates.deposit_cpu_s_per_particle:.3g} per particle, "
        f"map {rates.map_cpu_s_per_mpx:.4f} per Mpx per task, {rates.deposit_task_cpu_s:.4f} per task, "
        f"{rates.deposit_call_cpu_s:.3f} per call, first call {rates.deposit_first_cpu_s:.2f}")
    say("stats: " + ", ".join(f"{k} {v:.4f} per Mpx + {rates.stats_cpu_s_per_map.get(k, 0.0):.4f} per map"
                              for k, v in rates.stats_cpu_s_per_mpx.items())
        + f" (FFT ones at {rates.stats_ref_px}^2); first call {rates.stats_first_cpu_s:.2f}")
    say("wall per CPU second while measuring: " + ", ".join(f"{k} {v:.2f}" for k, v in rates.wall_per_cpu.items()))
    say("scheduler, CPU us per no-op task (client + scheduler process, net of its idle rate): one graph "
        + (", ".join(f"{n:,} tasks {v * 1e6:.0f}" for n, v in sorted(rates.sched_s_per_task_by_count.items()))
           or f"{rates.sched_s_per_task * 1e6:.0f}")
        + "; submitted one by one (an enrichment stage) "
        + (", ".join(f"{n:,} tasks {v * 1e6:.0f}" for n, v in sorted(rates.sched_submit_s_per_task_by_count.items()))
           or "not measured (the one-graph figures are used)"))


def predictions(rates, job=None):
    job = job or cost.paper_job()
    rows = []
    for n in (1, 16, 128):
        r = cost.predict_cpu(job, rates, nodes=n, stats_tasks=stats_graph_tasks)
        bounds = ",".join(sorted({s["bound"] for s in r["stages"]}))
        rows.append(dict(kind="cpu", count=n, wall_s=r["wall_s"], deposit_s=r["deposit"]["wall_s"],
                         enrich_s=r["enrich_wall_s"], stats_s=r["stats_wall_s"], bounds=bounds,
                         deposit_bound=r["deposit"]["bound"], smooth_bound=r["deposit"]["smooth_bound"],
                         stats_bound=r["stats_bound"], peak_gb_per_worker=r["peak_gb_per_worker"],
                         workers_per_node=r["workers_per_node"], cpu_s=r["cpu_s"], tasks=r["tasks"],
                         sched_s=r["sched_s"]))
    for g in (1, 8, 64):
        for prec, threads in (("tf32", 1), ("bfloat16", 1), ("tf32", 8)):
            gpu = dataclasses.replace(cost.A100, host_threads=threads)
            r = cost.predict_gpu(job, rates, gpu, g, prec, stats_tasks=stats_graph_tasks)
            rows.append(dict(kind=f"A100 {prec}, {threads} thread{'s' if threads > 1 else ''}", count=g,
                             wall_s=r["wall_s"], deposit_s=r["deposit_wall_s"], enrich_s=r["enrich_wall_s"],
                             stats_s=r["stats_wall_s"], bounds=",".join(sorted({s["bound"] for s in r["stages"]}))))
    return job, rows


def print_predictions(rates):
    job, rows = predictions(rates)
    say(f"\nPaper's case: {job.n_px}^2 px, {job.axes} axes x {job.slabs} slabs, {job.samples} realisations, "
        f"{job.fields} field, {job.particles:,} particles; CPU node: {cost.CPUNode().name}; GPU: {cost.A100.name} "
        f"at {cost.A100.efficiency:.0%} of the roofline, {cost.A100.host_cores} host cores each (ESTIMATE)")
    for s in cost.stage_work(job):
        say(f"  stage {s['stage']}: {s['tasks']:,} tasks, {s['gmac'] / 1e3:.3g} TMAC paid (x{s['paid']:.3f}), "
            f"{s['bytes'] / 1e9:.0f} GB read + written")
    d = cost.deposit_work(job, rates)
    one = cost.predict_cpu(job, rates, nodes=1, stats_tasks=stats_graph_tasks)
    say(f"  deposit: {d['evals_per_particle']:,.0f} kernel evaluations per particle (median support "
        f"{d['support_px_median']:.0f} px), kernel {d['kernel_cpu_s']:.3g} CPU s, maps {d['map_cpu_s']:.3g}, "
        f"tasks {d['task_cpu_s']:.3g}, smoothing {d['smooth_cpu_s']:.3g}; enrichment stages "
        f"{sum(s['cpu_s'] for s in one['stages']):.3g} CPU s, model build {one['build_cpu_s_per_worker']:.1f} CPU s "
        f"per worker; statistics {sum(one['stats_cpu_s'].values()):.3g} CPU s; all {one['cpu_s']:.3g} CPU s")
    say("Tasks sent to the one scheduler (each phase's graph, counted from the code that builds it) and its seconds "
        "(tasks x seconds per task at that size; statistics: P(k) through scratch files on 1 node, p2p on more):")
    for r in (x for x in rows if x["kind"] == "cpu"):
        say(f"  {r['count']} node{'s' if r['count'] > 1 else ''}: "
            + ", ".join(f"{k} {r['tasks'][k]:,} ({hms(r['sched_s'][k])})" for k in r["tasks"])
            + f"; all {sum(r['tasks'].values()):,} tasks, {hms(sum(r['sched_s'].values()))}")
    say("| hardware | wall | deposit | enrich | statistics | enrich stages bound by |")
    say("|---|---|---|---|---|---|")
    for r in rows:
        name = f"{r['count']} {'node' if r['kind'] == 'cpu' else r['kind']}"
        name += "s" if r["count"] > 1 and r["kind"] == "cpu" else ""
        dep = f" (smoothing {r['smooth_bound']}, kernels {r['deposit_bound']})" if r["kind"] == "cpu" else ""
        stats = f" ({r['stats_bound']})" if r["kind"] == "cpu" else ""
        say(f"| {name} | {hms(r['wall_s'])} | {hms(r['deposit_s'])}{dep} | {hms(r['enrich_s'])} | "
            f"{hms(r['stats_s'])}{stats} | {r['bounds']} |")
    return job, rows
