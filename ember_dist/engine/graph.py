# SPDX-License-Identifier: BSD-3-Clause
"""Dask wiring of an enrichment: batches of tile jobs -> tasks -> zarr regions.

A task handles one fixed batch of tiles (the grouping depends only on the
plan, never on the cluster, so results are bitwise independent of worker count
and order): it reads the windows, runs the model, writes each core straight
into its zarr region and then creates the batch's done marker.  Tasks return
only small statistics, so no map ever travels back to the client.
"""
from __future__ import annotations

import time

from ember_dist.engine.faults import fault_point
from ember_dist.engine.model_cache import get_model
from ember_dist.engine.worker import Job, crop_core, predict_batch, tile_inputs
from ember_dist.io.store import is_done, mark_done, write_core
from ember_dist.model.regions import network_regions

__all__ = ["make_jobs", "make_batches", "run_batch", "batch_key"]


def make_jobs(plan, samples, naxis, nslab):
    """All tile jobs in canonical order (sample, axis, slab, tile row-major)."""
    return [Job(i, a, s, t) for i in range(samples) for a in range(naxis) for s in range(nslab)
            for t in plan.tiles()]


def make_batches(jobs, batch_size):
    """Fixed consecutive groups of ``batch_size`` jobs."""
    return [jobs[i:i + batch_size] for i in range(0, len(jobs), batch_size)]


def batch_key(field, index):
    return f"{field}-{index:07d}"


def run_batch(key, batch, *, source, out, field, bundle_path, sha256, precision, plan, preset, seed,
              norm_in, norm_out, batch_size):
    """Task body: predict one batch of tiles and write their cores.  Returns small stats.

    Idempotent: a batch already marked done returns at once.  Dask reruns a finished task whose result
    was on a worker that died before the client released it; the rerun then costs nothing.
    """
    if is_done(out, field, key):
        return {"key": key, "tiles": 0, "skipped": True}
    t0 = time.perf_counter()
    # Exact halos: the network runs unpadded and shrinks to the core as it goes (fiducial, 1024-px cores: 1.96x
    # one whole-map pass instead of the canvas's 6.89x); approximate halos run the zero-padded network over the
    # whole canvas, as the bundle's seam table measured them.
    unpadded = network_regions(preset, plan.halo) is not None
    model = get_model(bundle_path, sha256, precision, plan.halo if unpadded else None)
    items = [tile_inputs(source, plan, j, preset, seed, norm_in) for j in batch]
    t1 = time.perf_counter()
    pred = predict_batch(model, items, batch_size)
    t2 = time.perf_counter()
    for j, p in zip(batch, pred):
        p = p[:j.tile.ny, :j.tile.nx] if unpadded else crop_core(p, plan, j.tile)
        core = norm_out.inverse(p).astype("float32")
        write_core(out, field, (j.sample, j.axis, j.slab), j.tile.y0, j.tile.x0, core)
    fault_point("tile")  # tests only: die with the cores written and the batch not yet marked done
    mark_done(out, field, key)
    return {"key": key, "tiles": len(batch), "read_s": t1 - t0, "predict_s": t2 - t1,
            "write_s": time.perf_counter() - t2}
