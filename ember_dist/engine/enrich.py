# SPDX-License-Identifier: BSD-3-Clause
"""``enrich_box``: paint baryon fields onto dark-matter maps with Dask.

The public orchestrator: it resolves models and arguments, validates the input
and the output path before any work, scans the maps on the cluster (NaN/Inf/
negative, checksum), writes the store template, then submits one task per
fixed batch of halo-padded tiles and shows progress.  Planning lives in
:mod:`~ember_dist.engine.plan`, per-tile work in
:mod:`~ember_dist.engine.worker`, Dask wiring in :mod:`~ember_dist.engine.graph`
and storage in :mod:`ember_dist.io`.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import ember_dist
from ember_dist import config
from ember_dist.engine.faults import kill_worker_at
from ember_dist.engine.graph import batch_key, make_batches, make_jobs, run_batch
from ember_dist.engine.plan import TilePlan, coerce_halo
from ember_dist.engine.split import plan_split, run_split
from ember_dist.engine.validate import check_pixel_size, check_scans, scan_map, source_checksum
from ember_dist.io.api import open_maps
from ember_dist.io.conventions import DATASET_ATTRS, DIMS, FIELD_LONG_NAMES, map_coords, utc_now
from ember_dist.io.store import check_output, create_store, done_markers, finalize_store
from ember_dist.model.bundle import BundleError, default_model_name, load_model
from ember_dist.model.regions import tile_compute

__all__ = ["enrich_box", "resolve_halo"]

log = logging.getLogger("ember_dist")


def _coerce_fields(fields):
    if isinstance(fields, str):
        fields = [fields]
    fields = list(fields)
    if not fields or len(set(fields)) != len(fields):
        raise ValueError(f"fields must be a non-empty list of distinct names such as ['gas', 'hi']. Received: fields={fields!r}.")
    return fields


def _resolve_models(fields, model):
    if model is None or isinstance(model, (str, os.PathLike)) or hasattr(model, "meta"):
        if model is not None and len(fields) > 1:
            raise ValueError(
                f"one model was given for fields {fields!r}; pass a dict such as model={{'gas': ..., 'hi': ...}} "
                "or leave model out to use the bundled defaults."
            )
        model = {f: model for f in fields}
    missing = [f for f in fields if f not in model]
    if missing:
        raise ValueError(f"model dict has no entry for fields {missing!r}. Received keys: {sorted(model)!r}.")
    bundles = {}
    for f in fields:
        b = load_model(model[f] if model[f] is not None else default_model_name(f))
        if b.field != f:
            raise BundleError(
                f"model {b.name!r} predicts field {b.field!r}, not {f!r}. Pass a {f} model, e.g. "
                f"model={default_model_name(f)!r} if that default exists, or fields=[{b.field!r}]."
            )
        bundles[f] = b
    return bundles


def resolve_halo(bundle, halo):
    """``"exact"``, ``"auto"``, int or pair -> (before, after) px for ``bundle``."""
    if halo == "exact":
        return tuple(bundle.exact_halo)
    if halo == "auto":
        return tuple(bundle.auto_halo())
    return coerce_halo(halo)


#: ``halo="fastest"`` takes the split path when it computes at most this fraction of the exact path's
#: multiply-adds (the split path pays a few extra barriers and intermediate reads per stage).
SPLIT_MARGIN = 0.9


def fastest_exact_mode(shape, tile, bundles, split_level=None, coarse_core=None):
    """``"split"`` or ``"exact"``: whichever gives the exact map for less compute, for every model.

    Compute is the multiply-adds paid per output pixel relative to one whole-map pass: the
    unpadded tiles for ``"exact"`` (:func:`~ember_dist.model.regions.tile_compute`), the stage-weighted
    compute of the unpadded stages for ``"split"``
    (:meth:`~ember_dist.engine.split.SplitPlan.compute_factor`).  Both modes give the same map
    to float rounding.
    """
    for b in bundles.values():
        exact = tile_compute(b.preset, TilePlan.build(shape, tile, b.exact_halo, b.alignment))
        split = plan_split(shape, tile, b.preset, split_level, coarse_core).compute_factor(b.preset)
        if split > SPLIT_MARGIN * exact:
            return "exact"
    return "split"


def _compute_paid(plan, preset, split):
    """Multiply-adds paid per output pixel over one whole-map pass (split: JSON, in all and per stage)."""
    if not split:
        return round(tile_compute(preset, plan), 4)
    return json.dumps({"total": round(plan.compute_factor(preset), 4),
                       **{k: round(v, 4) for k, v in plan.stage_compute(preset).items()}})


def _template(source, fields, bundles, samples, seed, plan, pixel_size):
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
        })
    return xr.Dataset(data_vars, coords=coords), chunks


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


def _bf16_note(cpuinfo=None):
    """A sentence when this CPU has no fast bfloat16 path (AMX), else None.

    AVX512-BF16 alone is not one: on an Intel Xeon with AVX512-BF16 and no AMX, TensorFlow's
    oneDNN ran the fiducial generator 1.4x slower in mixed bfloat16 than in float32 (whole
    2048^2 map, 3.7 s vs 2.6 s; split 4096^2 in bench/engine.py, 20.5 s vs 15.1 s).

    >>> _bf16_note("flags : fpu avx512f amx_bf16 amx_tile") is None
    True
    >>> "1.4x slower" in _bf16_note("flags : fpu avx512f avx512_bf16")
    True
    >>> "emulated" in _bf16_note("flags : fpu avx2")
    True
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return None
    if "amx_bf16" in cpuinfo:
        return None
    if "avx512_bf16" in cpuinfo:
        return ("precision='bfloat16': this CPU has AVX512-BF16 but no AMX; on such a CPU bench/engine.py measured "
                "bfloat16 1.4x slower than float32 (use float32 here; GPU workers are unaffected)")
    return ("precision='bfloat16': this CPU has no AMX or AVX512-BF16 instructions, so bfloat16 convolutions are "
            "emulated; on such a CPU bench/engine.py measured no speed-up over float32 (GPU workers are unaffected)")


def _progress(futures, enabled, desc):
    from distributed import as_completed

    it = as_completed(futures)
    if not enabled:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, total=len(futures), desc=desc, unit="task", file=sys.stderr, smoothing=0.05)


def _run_plain(client, source, out, bundles, plans, samples, seed, precision, batch_size, token, progress, order):
    """Submit the single-stage tile batches that are not done yet; wait with progress."""
    naxis, nslab = source.shape[:2]
    tasks = []
    for f in bundles:
        done = done_markers(out, f)
        for i, batch in enumerate(make_batches(make_jobs(plans[f], samples, naxis, nslab), batch_size)):
            key = batch_key(f, i)
            if key not in done:
                tasks.append((f, key, batch))
    if order is not None and order != "canonical":
        random.Random(0 if order == "shuffled" else int(order)).shuffle(tasks)
    futures = []
    for f, key, batch in tasks:
        b = bundles[f]
        futures.append(client.submit(
            run_batch, key, batch, source=source, out=str(out), field=f, bundle_path=str(b.path),
            sha256=b.weights_sha256, precision=precision, plan=plans[f], preset=b.preset, seed=seed,
            norm_in=b.input_norm, norm_out=b.output_norm, batch_size=batch_size,
            key=f"enrich-{key}-{token}", pure=False, retries=1,
        ))
    for fut in _progress(futures, progress, f"enrich {'+'.join(bundles)}"):
        fut.result()
        fut.release()  # done (marker written): a worker lost later must not make Dask recompute it
    return len(futures)


def enrich_box(maps, fields=("gas",), model=None, out="enriched.zarr", samples=1, seed=0, tile=None, halo=None,
               client=None, overwrite=False, resume=False, batch_size=None, precision=None, pixel_size=None,
               pixel_tolerance=None, variable=None, dataset=None, attrs=None, progress=None, order=None,
               split_level=None, coarse_core=None):
    """Enrich dark-matter maps with baryon fields and write a zarr store.

    Parameters
    ----------
    maps : str, Path, ndarray, dask array, xarray.DataArray or xarray.Dataset
        Dark-matter mass maps (Msun/h per pixel) with dims from ``(axis, slab, y, x)``:
        a ``.npy`` file, an HDF5 file (``"maps.h5:dm"``), a zarr store (variable ``dm``),
        or an in-memory array.  Sides must be multiples of the model's alignment factor.
    fields : str or list of str, default ("gas",)
        Output fields, e.g. ``["gas", "hi"]``.
    model : str, Path or dict, optional
        Bundle name or path (or ``{field: model}``); default: the bundled model of each field.
    out : str or Path, default "enriched.zarr"
        Output zarr store.
    samples : int, default 1
        Realisations; realisation ``i`` uses noise seed ``seed + i`` (same seed, same bits, whatever the
        cluster's layout; the layout is recorded in the ``worker_layout`` attr).
    seed : int, default 0
    tile : int, px, default from config (2048)
        Tile core size (multiple of the alignment factor; capped at the map size).
    halo : "fastest", "exact", "split", "auto", int or (before, after), px, default "fastest"
        ``"exact"`` covers the whole receptive field (output equals the whole-map prediction);
        ``"split"`` gives the same map through small-halo stages (see
        :mod:`ember_dist.engine.split`); ``"fastest"`` picks whichever of the two computes less
        for this map, tile and model (:func:`fastest_exact_mode`; the choice is recorded in the
        ``halo_mode`` attr); ``"auto"`` is the smallest halo whose measured seam error is below the
        bundle's tolerance (not exact).
    client : distributed.Client, optional
        Default: an embedded LocalCluster (``ember_dist.cluster.connect("local")``), closed at the end.
    overwrite, resume : bool, default False
        Replace an existing store, or finish an interrupted run (only missing tiles are computed).
    batch_size : int, default from config (1)
        Tiles per generator call (fixed, so results never depend on it being reached).
    precision : {"float32", "bfloat16"}, default "float32"
    pixel_size : float, ckpc/h, optional
        For inputs that do not record it (``.npy``, bare arrays).
    pixel_tolerance : float, default 0.05
        Allowed relative mismatch between input and training pixel sizes.
    variable, dataset : str, optional
        Variable of a zarr input / dataset of an HDF5 input.
    attrs : dict, optional
        Extra dataset attrs (e.g. cosmology for bare arrays: ``{"redshift": 2.0, ...}``).
    progress : bool, default True
        Show a progress bar on stderr.
    order : {"canonical", "shuffled"} or int, optional
        Task submission order; an int shuffles with that seed.  Results never depend on it.
    split_level : int or sequence of int, optional
        Level(s) at which ``halo="split"`` cuts the network (default: per preset, deeper
        levels added until the coarsest map fits one coarse tile).
    coarse_core : int, px at the first split level, optional
        Core of the coarse-stage tiles, which also bounds their memory (default 512).

    Returns
    -------
    xarray.Dataset
        The store opened lazily, one variable per field, dims ``(sample, axis, slab, y, x)``.
    """
    t_start = time.perf_counter()
    fields = _coerce_fields(fields)
    samples, seed = int(samples), int(seed)
    if samples < 1:
        raise ValueError(f"samples must be >= 1. Received: samples={samples!r}.")
    bundles = _resolve_models(fields, model)
    tile = int(config.get("engine.tile", tile))
    halo = config.get("engine.halo", halo)
    batch_size = int(config.get("engine.batch-size", batch_size))
    precision = config.get("engine.precision", precision)
    if precision not in ("float32", "bfloat16"):
        raise ValueError(f"precision must be 'float32' or 'bfloat16'. Received: precision={precision!r}.")
    if precision == "bfloat16" and (note := _bf16_note()):
        log.warning(note)
    pixel_tolerance = float(config.get("engine.pixel-tolerance", pixel_tolerance))
    progress = bool(config.get("engine.progress", progress))
    out = Path(out).absolute()
    check_output(out, None, overwrite=overwrite, resume=resume)  # fail fast, before reading anything

    staging = Path(tempfile.mkdtemp(prefix=".ember-staging-", dir=out.parent))
    own_client = client is None
    try:
        source = open_maps(maps, staging_dir=staging, variable=variable, dataset=dataset, pixel_size=pixel_size)
        naxis, nslab, ny, nx = source.shape
        if halo == "fastest":
            halo = fastest_exact_mode((ny, nx), tile, bundles, split_level, coarse_core)
            log.info("halo='fastest': %s (exact output for less compute)", halo)
        if halo == "split":
            plans = {f: plan_split((ny, nx), tile, b.preset, split_level, coarse_core) for f, b in bundles.items()}
        else:
            plans = {f: TilePlan.build((ny, nx), tile, resolve_halo(b, halo), b.alignment) for f, b in bundles.items()}
        out_plans = {f: (p.output if halo == "split" else p) for f, p in plans.items()}  # level-0 output tiling
        for f, b in bundles.items():
            check_pixel_size(source.pixel_size, b.pixel_size, pixel_tolerance, b.name)
        if source.pixel_size is None:
            log.warning("input %s records no pixel size; assuming the model's training pixel size %g ckpc/h "
                        "(pass pixel_size=... to state it)", source.description, bundles[fields[0]].pixel_size)
        px = source.pixel_size or bundles[fields[0]].pixel_size

        if own_client:
            from ember_dist.cluster import connect

            client = connect("local")
        if progress:
            print(f"ember_dist: Dask dashboard at {client.dashboard_link}", file=sys.stderr, flush=True)

        # 1. Validate every map on the cluster (streamed in bands) before scheduling any tile.
        band = max(1, int(config.get("engine.scan-band")) // nx)  # rows per read, bounded in pixels
        scan_futs = [client.submit(scan_map, source, a, s, band, fill_cache=True,
                                   key=f"ember-scan-{a}-{s}-{os.getpid()}-{id(source)}")
                     for a in range(naxis) for s in range(nslab)]
        scans = client.gather(scan_futs)
        del scan_futs  # released: a worker lost later must not make the scheduler scan its maps again
        check_scans(scans, source.axes, source.description)
        checksum = source_checksum(scans)
        # Tiles may now share decoded input chunks, keyed by each map's content (the scan left small maps there).
        source.cache_tokens = {(r["axis"], r["slab"]): r["sha256"] for r in scans}

        run = {
            "fields": fields,
            "models": {f: b.weights_sha256 for f, b in bundles.items()},
            "samples": samples, "seed": seed, "precision": precision, "batch_size": batch_size,
            "plans": {f: p.to_dict() for f, p in plans.items()},
            "source_sha256": checksum, "source_shape": list(source.shape),
        }
        mode = check_output(out, run, overwrite=overwrite, resume=resume)
        if mode == "create":
            ds, chunks = _template(source, fields, bundles, samples, seed, out_plans[fields[0]], px)
            create_store(out, ds, run, chunks)

        # 2. Load models once per worker, then submit the tile batches not yet done.
        from ember_dist.engine.model_cache import register_models, worker_layout

        register_models(client, [(str(b.path), b.weights_sha256, precision) for b in bundles.values()])
        layout = worker_layout(client)  # provenance only: the bits do not depend on it
        token = hashlib.sha256(json.dumps(run, sort_keys=True).encode()).hexdigest()[:8]
        if halo == "split":
            n_tasks = 0
            for f, b in bundles.items():
                n_tasks += run_split(client, source=source, out=out, field=f, bundle=b, sp=plans[f], samples=samples,
                                     seed=seed, precision=precision, batch_size=batch_size, token=token,
                                     progress=progress, progress_fn=_progress)
        else:
            n_tasks = _run_plain(client, source, out, bundles, plans, samples, seed, precision, batch_size, token,
                                 progress, order)
        expected = {f: len(make_batches(make_jobs(out_plans[f], samples, naxis, nslab), batch_size)) for f in fields}
        missing = {f: expected[f] - sum(1 for k in done_markers(out, f) if k.count("-") == 1) for f in fields}
        if any(missing.values()):
            raise RuntimeError(f"tasks finished but done markers are missing for {missing}; rerun with resume=True.")

        # 3. Provenance, then consolidate.
        p0 = out_plans[fields[0]]
        attrs_out = _dataset_attrs(source, px, attrs)
        attrs_out.update({
            "title": "ember_dist enriched maps",
            "source": source.description,
            "source_sha256": checksum,
            "source_checksum_method": "sha256 of the per-map sha256 of float32 little-endian bytes, (axis, slab) order",
            "models": json.dumps({f: {"name": b.name, "weights_sha256": b.weights_sha256} for f, b in bundles.items()}),
            "seed": seed, "samples": samples,
            "tile_core": list(p0.core), "tile_halo": list(p0.halo), "halo_mode": str(halo),
            "tile_plan": json.dumps({f: p.to_dict() for f, p in plans.items()}),
            "redundant_compute_factor": _compute_paid(plans[fields[0]], bundles[fields[0]].preset, halo == "split"),
            "precision": precision,
            "keras_backend": os.environ.get("KERAS_BACKEND", "tensorflow"),
            "worker_layout": layout,
            "ember_dist_version": ember_dist.__version__,
            "created": utc_now(),
            "status": "complete",
        })
        kill_worker_at(client, "consolidate")  # tests only (EMBER_DIST_FAULT_DIR): a worker dies meanwhile
        finalize_store(out, attrs_out)
        log.info("enriched %d tasks in %.1f s", n_tasks, time.perf_counter() - t_start)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if own_client and client is not None:
            cluster = client.cluster
            client.close()
            if cluster is not None:
                cluster.close()
    import xarray as xr

    return xr.open_zarr(str(out))
