# SPDX-License-Identifier: BSD-3-Clause
"""What ``enrich_box`` writes into its output store, apart from the tiles.

The run record (``run.json``: what a resume must match), the metadata-only template and the
recorded request that :func:`prepare_store` writes before any tile, and the provenance attrs that
:func:`provenance_attrs` gathers for the end of the run.  Storage itself is
:mod:`ember_dist.io.store`'s.
"""
from __future__ import annotations

import json
import os

import numpy as np

import ember_dist
from ember_dist.engine import resume as resume_
from ember_dist.io.conventions import DATASET_ATTRS, DIMS, FIELD_LONG_NAMES, map_coords, utc_now
from ember_dist.io.store import check_output, create_store
from ember_dist.model.regions import tile_compute

__all__ = ["run_record", "prepare_store", "provenance_attrs"]


def run_record(opts, plan, source, checksum):
    """The run's parameters as ``run.json`` records them; a resume must match them exactly."""
    run = {
        "fields": opts.fields,
        "models": {f: b.weights_sha256 for f, b in opts.bundles.items()},
        "samples": opts.samples, "seed": opts.seed, "precision": opts.precision, "batch_size": opts.batch_size,
        "plans": {f: p.to_dict() for f, p in plan.plans.items()},
        "source_sha256": checksum, "source_shape": list(source.shape),
    }
    if plan.dm_scales:  # only then: stores written unscaled (and before this option existed) resume unchanged
        run["dm_scale"] = {f: float(v) for f, v in plan.dm_scales.items()}
    return run


def prepare_store(out, run, opts, plan, source, *, overwrite=False, resume=False):
    """Check ``out`` against ``run`` (a resume must match it), and write the template where the store is new."""
    mode = check_output(out, run, overwrite=overwrite, resume=resume)
    if mode == "create":
        ds, chunks = _template(source, opts.fields, opts.bundles, opts.samples, opts.seed,
                               plan.out_plans[opts.fields[0]], plan.px, plan.dm_scales)
        request = resume_.make_request(opts.maps, source, opts.fields, opts.bundles, samples=opts.samples,
                                       seed=opts.seed, tile=opts.tile, halo=opts.halo_asked, halo_mode=plan.halo,
                                       batch_size=opts.batch_size, precision=opts.precision,
                                       pixel_size=opts.pixel_size, variable=opts.variable, dataset=opts.dataset,
                                       split_level=opts.split_level, coarse_core=opts.coarse_core,
                                       dm_rescale=opts.dm_rescale, tasks_total=plan.tasks_total)
        create_store(out, ds, run, chunks, request=request)


def _template(source, fields, bundles, samples, seed, plan, pixel_size, dm_scales=None):
    import dask.array as da
    import xarray as xr

    naxis, nslab, ny, nx = source.shape
    coords = map_coords(ny, nx, pixel_size, axes=source.axes, nslab=nslab)
    coords["sample"] = ("sample", np.arange(samples), {"long_name": "realisation index"})
    coords["seed"] = ("sample", seed + np.arange(samples), {"long_name": "noise seed of the realisation"})
    shape = (samples, naxis, nslab, ny, nx)
    chunks = (1, 1, 1) + tuple(plan.core)
    data_vars = {}
    for f in fields:
        b = bundles[f]
        data_vars[f] = (DIMS, da.full(shape, np.nan, chunks=chunks, dtype=np.float32), {
            "units": "Msun/h",
            "long_name": FIELD_LONG_NAMES.get(f, f) + " (emulated)",
            "model": b.name,
            "model_weights_sha256": b.weights_sha256,
            "model_kind": b.meta.get("kind", ""),
            "dm_input_scale": float((dm_scales or {}).get(f, 1.0)),  # input dm multiplied by it before the generator
        })
    return xr.Dataset(data_vars, coords=coords), chunks


def provenance_attrs(opts, plan, source, checksum, layout, extra_attrs):
    """The finished store's dataset attrs: geometry and cosmology, input, models, tiling and software."""
    p0 = plan.out_plans[opts.fields[0]]
    attrs = _dataset_attrs(source, plan.px, extra_attrs)
    attrs.update({
        "title": "ember_dist enriched maps",
        "source": source.description,
        "source_sha256": checksum,
        "source_checksum_method": "sha256 of the per-map sha256 of float32 little-endian bytes, (axis, slab) order",
        "models": json.dumps({f: {"name": b.name, "weights_sha256": b.weights_sha256}
                              for f, b in opts.bundles.items()}),
        "seed": opts.seed, "samples": opts.samples,
        "tile_core": list(p0.core), "tile_halo": list(p0.halo), "halo_mode": str(plan.halo),
        "tile_plan": json.dumps({f: p.to_dict() for f, p in plan.plans.items()}),
        "redundant_compute_factor": _compute_paid(plan.plans[opts.fields[0]], opts.bundles[opts.fields[0]].preset,
                                                  plan.halo == "split"),
        "precision": opts.precision,
        "keras_backend": os.environ.get("KERAS_BACKEND", "tensorflow"),
        "worker_layout": layout,
        "ember_dist_version": ember_dist.__version__,
        "created": utc_now(),
        "status": "complete",
        **plan.dm_attrs,
    })
    return attrs


def _dataset_attrs(source, pixel_size, extra_attrs):
    attrs = {}
    for k in DATASET_ATTRS:
        v = source.attrs.get(k)
        attrs[k] = None if v is None else (float(v) if np.ndim(v) == 0 else v)
    attrs["pixel_size"] = float(pixel_size)
    if attrs["box_size"] is None:
        attrs["box_size"] = float(pixel_size * source.shape[3])
    attrs.update(extra_attrs or {})
    attrs["units_note"] = "lengths ckpc/h, masses Msun/h per pixel"
    return attrs


def _compute_paid(plan, preset, split):
    """Multiply-adds paid per output pixel over one whole-map pass (split: JSON, in all and per stage)."""
    if not split:
        return round(tile_compute(preset, plan), 4)
    return json.dumps({"total": round(plan.compute_factor(preset), 4),
                       **{k: round(v, 4) for k, v in plan.stage_compute(preset).items()}})
