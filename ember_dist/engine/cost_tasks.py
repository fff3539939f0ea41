# SPDX-License-Identifier: BSD-3-Clause
"""Tasks a job sends the one Dask scheduler, counted from the code that builds each graph, and the scheduler's
seconds per task at a graph's size: the scheduler term of the cost model (:mod:`ember_dist.engine.cost`, which
adds the split stages' tasks in :func:`~ember_dist.engine.cost.job_tasks`).
"""
from __future__ import annotations

import math

__all__ = ["deposit_graph_tasks", "tree_sum_tasks", "smoothing_tasks", "sched_s_per_task", "graph_tasks"]


def deposit_graph_tasks(job):
    """Tasks of the graph ``deposit_snapshot`` sends (one ``client.compute``): per map the particle chunks' tasks,
    the tree sum (:func:`tree_sum_tasks`) and the write; per particle chunk 4 more (reads of positions and
    masses, the smoothing lengths' chunk, the mass total's part) and one for the total, as counted on the graph
    of a one-file dark-matter snapshot (tests/engine/test_cost.py)."""
    chunks = math.ceil(job.particles / job.chunk_size)
    return 4 * chunks + 1 + job.maps * (chunks + tree_sum_tasks(chunks) + 1)


def tree_sum_tasks(n):
    """Add tasks of the deposit's tree sum of ``n`` maps (``deposit.api._tree_sum``: 4 at a time, level by level).

    >>> tree_sum_tasks(1), tree_sum_tasks(5), tree_sum_tasks(1024)
    (0, 3, 341)
    """
    total = 0
    while n > 1:
        n = -(-n // 4)
        total += n
    return total


def smoothing_tasks(job, threads, n_neighbours=80):
    """Tasks of the smoothing lengths' first (usually only) round on a cluster of ``threads`` threads
    (``deposit.smoothing.smoothing_lengths_distributed``): the position chunks persisted, then per spatial
    domain one selection per chunk and the domain's query; domains: twice the threads, at most one per two
    ghost widths.  Returns ``(tasks, domains)``; at most ``domains`` queries run at once."""
    chunks = math.ceil(job.particles / job.chunk_size)
    # deposit.smoothing.initial_ghost_width (3 x the n-th neighbour distance at mean density), here so that the
    # model does not import the deposit package (seconds); tests/engine/test_cost.py compares the two.
    width = 3.0 * (3.0 * n_neighbours * job.box_size**3 / (4.0 * math.pi * job.particles)) ** (1.0 / 3.0)
    domains = max(1, min(2 * threads if threads > 1 else 4, int(job.box_size / (2 * width))))
    return chunks + domains * (chunks + 1), domains


def sched_s_per_task(rates, tasks, submit=False):
    """Seconds of the one Dask scheduler per task when it is sent ``tasks`` tasks together: interpolated in
    log(tasks) between the no-op graph sizes measured (``bench/pipeline.py``), the nearest size's figure
    outside them (beyond the largest size measured this is an extrapolation: the figure of that size);
    ``submit``: the tasks are submitted one by one (an enrichment stage) rather than as one graph, which
    costs the scheduler more per task.  Falls back to the one-graph table, then to ``rates.sched_s_per_task``.

    >>> from ember_dist.engine.cost_inputs import Rates
    >>> r = Rates("cpu", 2, 0.0, 0.0, 0.0, (1.0,), {}, 0.0, {}, 0.0, {}, 1024, 0.1, 5e-4,
    ...           sched_s_per_task_by_count={1000: 1e-3, 100000: 3e-3})
    >>> round(sched_s_per_task(r, 10000), 6), sched_s_per_task(r, 10), sched_s_per_task(r, 10**7)
    (0.002, 0.001, 0.003)
    """
    table = (rates.sched_submit_s_per_task_by_count if submit else None) or rates.sched_s_per_task_by_count
    if not table or tasks <= 0:
        return rates.sched_s_per_task
    pts = sorted((int(n), float(v)) for n, v in table.items())
    if tasks <= pts[0][0]:
        return pts[0][1]
    for (n0, s0), (n1, s1) in zip(pts, pts[1:]):
        if tasks <= n1:
            return s0 + (s1 - s0) * math.log(tasks / n0) / math.log(n1 / n0)
    return pts[-1][1]


def graph_tasks(collections):
    """Tasks the scheduler receives for ``client.compute(collections)``: the graph after the same optimisation
    (``dask.base.collections_to_expr``, finalised and optimised as ``distributed.Client.compute`` does; a
    scheduler plugin counted the same numbers on a LocalCluster)."""
    from dask.base import collections_to_expr

    expr = collections_to_expr(list(collections), True)
    try:
        from dask._expr import FinalizeCompute

        expr = FinalizeCompute(expr)
    except ImportError:  # older dask: no finalize step
        pass
    return len(expr.optimize().__dask_graph__())


def _stats_tasks(job, stats_tasks, rechunk_method):
    """The statistics' graph's tasks from the caller's counter ``stats_tasks(job, rechunk_method)``; 0 for a job
    without statistics.  The counter is the caller's because the statistics are a layer above the engine
    (``ember_dist.stats.graph_cost.stats_graph_tasks`` counts them on the graphs the statistics build)."""
    if not job.statistics:
        return 0
    if stats_tasks is None:
        raise ValueError("the statistics' tasks need a counter: pass stats_tasks=stats_graph_tasks "
                         "(from ember_dist.stats.graph_cost), or a job with statistics=()")
    return int(stats_tasks(job, rechunk_method))
