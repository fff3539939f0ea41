# SPDX-License-Identifier: BSD-3-Clause
"""Tasks of the statistics' graph, for the scheduler term of the cost model (:mod:`ember_dist.engine.cost`).

The count comes from the graphs the statistics functions themselves build, on lazy maps of the job's size and
chunks, so a change to a statistic's graph changes the prediction.  It lives here, beside the statistics, and
not in the engine: the engine is a lower layer and imports no statistics (``tests/test_layers.py``); its cost
model takes the count as an argument.  Pass :func:`stats_graph_tasks` where the model asks for the statistics'
tasks::

    from ember_dist.engine import cost
    from ember_dist.stats.graph_cost import stats_graph_tasks

    cost.predict_cpu(cost.paper_job(), rates, nodes=16, stats_tasks=stats_graph_tasks)
    cost.job_tasks(cost.paper_job(), stats_tasks=stats_graph_tasks)

Examples
--------
>>> from ember_dist.engine.cost import Job
>>> job = Job(n_px=256, axes=1, slabs=2, samples=1, core=128, box_size=1000.0, statistics=("pdf",))
>>> stats_graph_tasks(job) == graph_tasks(stats_collections(job, 2))
True
"""
from __future__ import annotations

import functools

from ember_dist.engine.cost import Job, graph_tasks

__all__ = ["stats_collections", "stats_graph_tasks"]


def stats_collections(job, maps, rechunk_method="disk"):
    """The job's statistics of ``maps`` lazy maps laid out as an enriched store (float32, one map per chunk of
    the ``(sample, axis, slab)`` dims, the tile core's chunks in ``y``, ``x``), as lazy Datasets.

    ``rechunk_method``: P(k)'s transposition.  ``"disk"`` builds its graph without the scratch directory's
    check for room (``check_scratch=False``): the graph is counted, never computed, and the maps of a large job
    would need more scratch space than the machine that counts them has.
    """
    import dask.array as da
    import numpy as np

    from ember_dist.io.conventions import PLANCK15
    from ember_dist.stats import bispectrum, cddf, pixel_pdf, power_spectrum

    a = da.zeros((1, 1, maps, job.n_px, job.n_px), chunks=(1, 1, 1, job.core, job.core), dtype=np.float32)
    pixel = job.box_size / job.n_px
    make = {"power": lambda: power_spectrum(a, box_size=job.box_size, rechunk_method=rechunk_method,
                                            check_scratch=False),
            "pdf": lambda: pixel_pdf(a),
            "cddf": lambda: cddf(a, redshift=2.0, hubble=PLANCK15["hubble"], slab_depth=job.box_size / job.slabs,
                                 pixel_size=pixel),
            "bispectrum": lambda: bispectrum(a, box_size=job.box_size)}
    return [make[s]() for s in job.statistics]


@functools.lru_cache(maxsize=32)
def _one_and_per_map(n_px, core, statistics, box_size, slabs, rechunk_method):
    job = Job(n_px=n_px, core=core, statistics=statistics, box_size=box_size, slabs=slabs)
    one, two = (graph_tasks(stats_collections(job, k, rechunk_method)) for k in (1, 2))
    return one, two - one


def stats_graph_tasks(job, rechunk_method="disk"):
    """Tasks of the statistics' graph (one ``client.compute`` of every statistic of every enriched map, as the
    pipeline's statistics stage sends it), counted on the graphs the statistics functions build for one and
    two lazy maps of the job's size and chunks (:func:`stats_collections`) and extrapolated linearly to all
    maps (linear to within a task per map).

    Parameters
    ----------
    job : ember_dist.engine.cost.Job
        The job: its map size, tile core, statistics, box size and slabs shape the graph; ``maps x samples x
        fields`` enriched maps.
    rechunk_method : {"disk", "p2p"}
        P(k)'s rows-to-columns transposition: ``"disk"`` (one machine, the default of ``"auto"`` there) or
        ``"p2p"`` (workers on several machines).

    Returns
    -------
    int
        Tasks; 0 for a job without statistics.  The signature is the one the cost model's ``stats_tasks``
        takes (:func:`ember_dist.engine.cost.predict_cpu`, :func:`ember_dist.engine.cost.job_tasks`).
    """
    if not job.statistics:
        return 0
    one, per_map = _one_and_per_map(job.n_px, job.core, tuple(job.statistics), job.box_size, job.slabs,
                                    rechunk_method)
    n_maps = job.maps * job.samples * job.fields
    return one + per_map * (n_maps - 1)
