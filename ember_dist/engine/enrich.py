# SPDX-License-Identifier: BSD-3-Clause
"""``enrich_box``: paint baryon fields onto dark-matter maps with Dask.

The public orchestrator: it resolves models and arguments, validates the input
and the output path before any work, scans the maps on the cluster (NaN/Inf/
negative, checksum), writes the store template, then submits one task per
fixed batch of halo-padded tiles and shows progress.  Its arguments are
checked in :mod:`~ember_dist.engine.arguments`, the run record, template and
provenance of its store are built in :mod:`~ember_dist.engine.output_store`,
planning lives in :mod:`~ember_dist.engine.plan`, per-tile work in
:mod:`~ember_dist.engine.worker`, Dask wiring in :mod:`~ember_dist.engine.graph`
and storage in :mod:`ember_dist.io`.

Input dark matter of another kind than the model's: a dark-matter-only run's particles carry all of
Omega_m, a hydro run's only Omega_m - Omega_b, so DMO maps are ~1.19x heavier than the hydro dark
matter a model learned from.  When the input maps and the bundle both record ``dm_mass_fraction``
(:mod:`ember_dist.deposit.api`) and they differ by more than
:data:`~ember_dist.engine.validate.DM_FRACTION_TOLERANCE`, the input is multiplied by
``model fraction / input fraction`` before the generator, in every path that reads input windows
(:class:`~ember_dist.model.normalization.ScaledInput` replaces the bundle's input normalisation),
so the output is bit for bit that of an unscaled run on the scaled maps; one line says so and the
output's attrs record it.  ``dm_rescale=False`` turns it off.
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
from dataclasses import dataclass, replace
from pathlib import Path

from ember_dist import config
from ember_dist.engine.faults import kill_worker_at
from ember_dist.engine.graph import batch_key, make_batches, make_jobs, run_batch
from ember_dist.engine import resume as resume_
from ember_dist.engine.arguments import checked_options, defaulted_fields, with_engine_defaults
from ember_dist.engine.input_resolution import defaults_for_input, resolution_notes
from ember_dist.engine.output_store import prepare_store, provenance_attrs, run_record
from ember_dist.engine.plan import TilePlan, coerce_halo
from ember_dist.engine.progress import RunProgress
from ember_dist.engine.split import count_tasks, plan_split, run_split
from ember_dist.engine.validate import (check_pixel_recorded, check_pixel_size, check_scans, input_dm_scales,
                                       scan_map, source_checksum)
from ember_dist.errors import spell_or
from ember_dist.io.api import open_maps
from ember_dist.io.store import count_done, done_markers, finalize_store
from ember_dist.model.normalization import ScaledInput
from ember_dist.model.regions import tile_compute

__all__ = ["enrich_box", "resolve_halo"]

log = logging.getLogger("ember_dist")


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


def enrich_box(maps=None, fields=None, model=None, out="enriched.zarr", samples=None, seed=None, tile=None, halo=None,
               client=None, overwrite=False, resume=False, batch_size=None, precision=None, pixel_size=None,
               pixel_tolerance=None, variable=None, dataset=None, attrs=None, progress=None, order=None,
               split_level=None, coarse_core=None, dm_rescale=None):
    """Enrich dark-matter maps with baryon fields and write a zarr store.

    With no ``client``, an embedded LocalCluster starts whose worker processes re-import the
    calling script, so a script must call ``enrich_box`` under ``if __name__ == "__main__":``
    (an unguarded call fails at once with that advice)::

        import ember_dist as ed

        if __name__ == "__main__":
            ds = ed.enrich_box("dm_maps.zarr", fields=["gas"], out="enriched.zarr")

    Parameters
    ----------
    maps : str, Path, ndarray, dask array, xarray.DataArray or xarray.Dataset
        Dark-matter mass maps (Msun/h per pixel) with dims from ``(axis, slab, y, x)``:
        a ``.npy`` file, an HDF5 file (``"maps.h5:dm"``), a zarr store (variable ``dm``),
        or an in-memory array.  Sides must be multiples of the model's alignment factor.
        With ``resume=True`` it may be left out (the store records the input path).
    fields : str or list of str, default ("gas",)
        Output fields, e.g. ``["gas", "hi"]``.
    model : str, Path, dict or sequence, optional
        Bundle name or path, ``{field: model}``, or one model per field in ``fields`` order;
        default: the field's shipped default for the input's dark-matter resolution, read from the particle
        mass the maps record (:data:`ember_dist.model.bundle.DEFAULT_MODELS_BY_INPUT`; full resolution:
        ``suite-gas-wgan``, ``suite-hi-wgan``, 31.25 ckpc/h pixels; :mod:`ember_dist.engine.input_resolution`).
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
        Replace an existing store, or finish an interrupted run (only missing tiles are computed; a
        complete store is left untouched, and one line says so).
        On resume, every option left out (``None``) is taken from the store, and the options given
        are checked against it before any work starts.
    batch_size : int, default from config (1)
        Tiles per generator call (fixed, so results never depend on it being reached).
    precision : {"float32", "bfloat16"}, default "float32"
    pixel_size : float, ckpc/h, or "model", optional
        Required for inputs that do not record it (``.npy``, bare arrays, HDF5 datasets without a
        ``pixel_size`` attr); ``"model"`` assumes the model's training pixel size.
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
    dm_rescale : bool, default True (config ``engine.dm-rescale``)
        Where the input maps and a field's bundle both record ``dm_mass_fraction`` (the share of
        Omega_m their dark matter carries: ~1 for a dark-matter-only run, ~0.843 for a hydro run's
        dark matter with Planck 2015 baryons) and the two differ by more than 1%, multiply the input
        maps by ``bundle fraction / input fraction`` (rounded to float32) before that field's
        generator, in the tiled and the split paths alike, so the output equals a run on the
        scaled maps; one line on stderr says so, and the store records it (``dm_rescale``,
        ``dm_input_scale`` per field, ``dm_input_scale_note``; variable attr ``dm_input_scale``).
        False (``--no-dm-rescale``) feeds the maps as they are, and says what was not done.  Where
        either side does not record the fraction (``.npy`` inputs, older deposits, older bundles),
        nothing is done or said.

    Returns
    -------
    xarray.Dataset
        The store opened lazily, one variable per field, dims ``(sample, axis, slab, y, x)``.
    """
    t_start = time.perf_counter()
    own_client = client is None
    if own_client:  # its workers re-import the calling script: refuse an unguarded one before any work
        from ember_dist.processes import check_main_guard

        check_main_guard("enrich_box")
    out = Path(out).absolute()
    given = dict(maps=maps, fields=fields, model=model, samples=samples, seed=seed, tile=tile, halo=halo,
                 batch_size=batch_size, precision=precision, pixel_size=pixel_size, variable=variable,
                 dataset=dataset, split_level=split_level, coarse_core=coarse_core, dm_rescale=dm_rescale)
    opts = checked_options(out, given, overwrite=overwrite, resume=resume)  # bad input fails here, before any work
    if resume and (line := resume_.nothing_to_do(out, maps, opts.recorded)):  # no cluster, no write
        import xarray as xr

        print(f"ember_dist: {line}", file=sys.stderr, flush=True)
        return xr.open_zarr(str(out))
    opts = with_engine_defaults(opts, pixel_tolerance=pixel_tolerance, progress=progress)

    staging = Path(tempfile.mkdtemp(prefix=".ember-staging-", dir=out.parent))
    try:
        source = open_maps(opts.maps, staging_dir=staging, variable=opts.variable, dataset=opts.dataset,
                           pixel_size=None if opts.model_px else opts.pixel_size)
        opts = _models_for_input(opts, source)
        plan = _plan_run(source, opts, out)
        if own_client:
            from ember_dist.cluster import connect

            client = connect("local")
        if opts.progress:
            print(f"ember_dist: Dask dashboard at {client.dashboard_link}", file=sys.stderr, flush=True)
        checksum = _scan_maps(client, source)  # 1. every map validated on the cluster before any tile
        run = run_record(opts, plan, source, checksum)
        prepare_store(out, run, opts, plan, source, overwrite=overwrite, resume=resume)
        n_tasks, layout = _run_tasks(client, source, out, opts, plan, run, order)  # 2. the tiles not yet done
        _check_done(out, opts, plan, source)
        attrs_out = provenance_attrs(opts, plan, source, checksum, layout, attrs)  # 3. provenance, then consolidate
        kill_worker_at(client, "consolidate")  # tests only (EMBER_DIST_FAULT_DIR): a worker dies meanwhile
        finalize_store(out, attrs_out)
        log.info("enriched %d tasks in %.1f s", n_tasks, time.perf_counter() - t_start)
    except KeyboardInterrupt:
        if own_client and client is not None:  # stop the workers without a warning per cancelled task
            from ember_dist.cluster import close

            close(client, quiet=True)
            client = None
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if own_client and client is not None:
            _close_own(client)
    import xarray as xr

    return xr.open_zarr(str(out))


@dataclass(frozen=True)
class _RunPlan:
    """What a run computes, once the input is open: the halo mode, plans and input scaling per field."""

    halo: object  # the mode: "split", "exact", "auto", or the (before, after) px asked for
    plans: dict  # per field: a TilePlan, or a SplitPlan for halo="split"
    out_plans: dict  # per field: the level-0 output tiling
    px: float  # pixel size, ckpc/h
    dm_scales: dict  # per field rescaled: the input dark matter's factor
    dm_attrs: dict  # provenance of the rescaling
    norms_in: dict  # per field: the input normalisation (the bundle's, or it applied to the rescaled input)
    tasks_total: int


def _models_for_input(opts, source):
    """``opts`` with the default models of the input's dark-matter resolution; a line per choice, and per model
    given by name that learned from other particles (:mod:`ember_dist.engine.input_resolution`). A resumed run
    keeps the store's models."""
    if opts.recorded is not None:
        return opts
    defaulted = defaulted_fields(opts.fields, opts.model)
    bundles, lines = defaults_for_input(opts.fields, defaulted, opts.bundles, source.attrs)
    for line in lines + resolution_notes(bundles, source.attrs, skip=defaulted):
        print(f"ember_dist: {line}", file=sys.stderr, flush=True)
    return replace(opts, bundles=bundles)


def _plan_run(source, opts, out):
    """Plan every field for the open ``source`` after the checks that need it (shape on resume, pixel size)."""
    naxis, nslab, ny, nx = source.shape
    if opts.recorded is not None and list(source.shape) != list(opts.recorded.get("source_shape", source.shape)):
        raise resume_.refuse(out, [f"the input maps {source.description} have shape {source.shape}, the store's "
                                   f"input had {tuple(opts.recorded['source_shape'])}"])
    halo, plans = _field_plans((ny, nx), opts)
    out_plans = {f: (p.output if halo == "split" else p) for f, p in plans.items()}  # level-0 output tiling
    for f, b in opts.bundles.items():
        check_pixel_size(source.pixel_size, b.pixel_size, opts.pixel_tolerance, b.name)
    if not opts.model_px:
        check_pixel_recorded(source.pixel_size, source.description, opts.bundles[opts.fields[0]].pixel_size)
    px = source.pixel_size or opts.bundles[opts.fields[0]].pixel_size
    dm_scales, dm_lines, dm_attrs = input_dm_scales(source, opts.bundles, opts.dm_rescale)
    for line in dm_lines:
        print(f"ember_dist: {line}", file=sys.stderr, flush=True)
    norms_in = {f: ScaledInput(b.input_norm, dm_scales[f]) if f in dm_scales else b.input_norm
                for f, b in opts.bundles.items()}
    if halo == "split":
        tasks_total = sum(count_tasks(plans[f], b.preset, opts.samples, naxis, nslab, opts.batch_size)
                          for f, b in opts.bundles.items())
    else:
        tasks_total = sum(len(make_batches(make_jobs(plans[f], opts.samples, naxis, nslab), opts.batch_size))
                          for f in opts.fields)
    return _RunPlan(halo, plans, out_plans, px, dm_scales, dm_attrs, norms_in, tasks_total)


def _field_plans(shape, opts):
    """``(halo mode, {field: plan})``: ``"fastest"`` resolved, a SplitPlan per field for ``"split"``, else a TilePlan."""
    halo = opts.halo
    if halo == "fastest":
        halo = fastest_exact_mode(shape, opts.tile, opts.bundles, opts.split_level, opts.coarse_core)
        log.info("halo='fastest': %s (exact output for less compute)", halo)
    if halo == "split":
        return halo, {f: plan_split(shape, opts.tile, b.preset, opts.split_level, opts.coarse_core)
                      for f, b in opts.bundles.items()}
    return halo, {f: TilePlan.build(shape, opts.tile, resolve_halo(b, halo), b.alignment)
                  for f, b in opts.bundles.items()}


def _scan_maps(client, source):
    """Validate every map on the cluster (streamed in bands) before scheduling any tile; returns the checksum."""
    naxis, nslab, _, nx = source.shape
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
    return checksum


def _run_tasks(client, source, out, opts, plan, run, order):
    """Load the models once per worker, then run the task batches not yet done: ``(tasks run, worker layout)``."""
    from ember_dist.engine.model_cache import register_models, worker_layout

    register_models(client, [(str(b.path), b.weights_sha256, opts.precision) for b in opts.bundles.values()])
    layout = worker_layout(client)  # provenance only: the bits do not depend on it
    token = hashlib.sha256(json.dumps(run, sort_keys=True).encode()).hexdigest()[:8]
    split = plan.halo == "split"
    bar = RunProgress(plan.tasks_total, count_done(out)[0], opts.progress, f"enrich {'+'.join(opts.fields)}",
                      stages=sum(len(p.stages()) for p in plan.plans.values()) if split else 1)
    try:
        if split:
            n_tasks = 0
            for f, b in opts.bundles.items():
                n_tasks += run_split(client, source=source, out=out, field=f, bundle=b, sp=plan.plans[f],
                                     samples=opts.samples, seed=opts.seed, precision=opts.precision,
                                     batch_size=opts.batch_size, token=token, progress=opts.progress,
                                     progress_fn=bar.stage, norm_in=plan.norms_in[f])
        else:
            n_tasks = _run_plain(client, source, out, opts.bundles, plan.plans, opts.samples, opts.seed,
                                 opts.precision, opts.batch_size, token, opts.progress, order, bar.stage, plan.norms_in)
    finally:
        bar.close()
    return n_tasks, layout


def _run_plain(client, source, out, bundles, plans, samples, seed, precision, batch_size, token, progress, order,
               progress_fn, norms_in):
    """Submit the single-stage tile batches that are not done yet; wait with progress.

    ``norms_in``: the input normalisation per field (the bundle's, or it applied to the rescaled input).
    """
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
            norm_in=norms_in[f], norm_out=b.output_norm, batch_size=batch_size,
            key=f"enrich-{key}-{token}", pure=False, retries=1,
        ))
    for fut in progress_fn(futures, progress, f"enrich {'+'.join(bundles)}"):
        fut.result()
        fut.release()  # done (marker written): a worker lost later must not make Dask recompute it
    return len(futures)


def _check_done(out, opts, plan, source):
    """Raise when a field's output tasks finished without all their done markers."""
    naxis, nslab = source.shape[:2]
    expected = {f: len(make_batches(make_jobs(plan.out_plans[f], opts.samples, naxis, nslab), opts.batch_size))
                for f in opts.fields}
    missing = {f: expected[f] - sum(1 for k in done_markers(out, f) if k.count("-") == 1) for f in opts.fields}
    if any(missing.values()):
        raise RuntimeError(f"tasks finished but done markers are missing for {missing}; rerun with "
                           f"{spell_or('resume', True, 'resume')}.")


def _close_own(client):
    """Close the embedded cluster's client, then the cluster."""
    cluster = client.cluster
    client.close()
    if cluster is not None:
        cluster.close()
