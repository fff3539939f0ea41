# SPDX-License-Identifier: BSD-3-Clause
"""The enriched output store: template, region writes and per-task done markers.

Layout of ``<out>`` (a zarr v3 directory store written through xarray)::

    <out>/<field>/...            float32 (sample, axis, slab, y, x), one chunk per tile core,
                                 fill value NaN (a tile never written reads as NaN)
    <out>/.ember/zarr.json       an empty zarr group: zarr lists every folder of a store and
                                 warns about folders that are not zarr nodes, so the
                                 bookkeeping folder is registered as a group (reads stay quiet)
    <out>/.ember/run.json        the run's parameters; ``resume=True`` requires a match
    <out>/.ember/request.json    the options the user gave (input path, models, tile, ...), from which
                                 ``resume=True`` takes those not given again
    <out>/.ember/done/<field>/*  one empty file per finished task, created after its
                                 region write returned (zarr skips chunks equal to the fill
                                 value, so chunk presence alone cannot prove a tile is done)

Written by hand (markers) because zarr has no notion of task completion.  xarray reads only
the root group's arrays, so it never looks inside ``.ember/``.

Until :func:`finalize_store` runs, the root group and every variable carry ``status="incomplete"``
and the root a ``status_note`` saying how to finish the run; readers (the statistics) refuse such
a store with that note (:func:`check_complete`).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from ember_dist.errors import alternatives, in_command, spell, spell_or
from ember_dist.io.zarr_meta import consolidate_quietly

__all__ = ["check_output", "create_store", "write_core", "mark_done", "is_done", "done_markers", "finalize_store",
           "read_request", "resume_command", "check_complete", "count_done", "complete_tiles", "INCOMPLETE"]

_META_DIR = ".ember"
_META_GROUP = {"zarr_format": 3, "node_type": "group",
               "attributes": {"description": "ember_dist run bookkeeping (run.json, done markers); no data"}}

#: ``status`` attr of a store whose run has not finished.
INCOMPLETE = "incomplete"

#: What a run parameter in run.json is called where the user sets it.
_RUN_KEYS = {"fields": "fields", "models": "model", "samples": "samples", "seed": "seed", "precision": "precision",
             "batch_size": "batch_size", "plans": "tile, halo, split_level or coarse_core", "dm_scale": "dm_rescale"}


def resume_command(out):
    """How to finish the run writing ``out``: the ``ember-dist`` command, or the Python call.

    >>> resume_command("/d/o.zarr")
    "enrich_box(out='/d/o.zarr', resume=True)"
    """
    if in_command():
        import shlex

        return f"ember-dist enrich --out {shlex.quote(str(out))} --resume"
    return f"enrich_box(out={str(out)!r}, resume=True)"


def _is_zarr(path):
    return (path / "zarr.json").exists() or (path / ".zgroup").exists()


def check_output(out, run, overwrite=False, resume=False):
    """Decide what to do with ``out`` before any work; raise on conflicts.

    Returns ``"create"`` or ``"resume"``.  Nothing is deleted here.
    """
    out = Path(out)
    if overwrite and resume:
        raise ValueError(f"{spell_or('overwrite', True, 'overwrite')} and {spell_or('resume', True, 'resume')} "
                         "contradict each other; pass only one.")
    other = f"choose another output path ({spell_or('out', Ellipsis, 'out=...')})"
    if not out.exists():
        return "create"
    if overwrite:
        if not _is_zarr(out):
            raise FileExistsError(
                f"{str(out)!r} exists and is not a zarr store; refusing to delete it even with "
                f"{spell_or('overwrite', True, 'overwrite')}. {other[0].upper() + other[1:]}."
            )
        return "create"
    if not resume:
        fixes = [f"{s} {why}" for s, why in ((spell("overwrite", True), "to replace it"),
                                             (spell("resume", True), "to finish an interrupted run")) if s]
        raise FileExistsError(f"output store {str(out)!r} already exists. Pass " + ", ".join(fixes + [f"or {other}"])
                              + ".")
    run_file = out / _META_DIR / "run.json"
    if not run_file.is_file():
        fix = alternatives((spell("overwrite", True), "to replace it"))
        raise FileExistsError(
            f"{str(out)!r} exists but was not written by enrich_box (no {_META_DIR}/run.json), so it cannot be "
            f"resumed. {other[0].upper() + other[1:]}" + (f" or {fix}" if fix else "") + "."
        )
    if run is None:  # early check, before the run's parameters are known
        return "resume"
    old = json.loads(run_file.read_text())
    diff = sorted(k for k in set(old) | set(run) if old.get(k) != run.get(k))
    if diff:
        raise ValueError(f"cannot resume {str(out)!r}: " + "; ".join(_describe(k, old.get(k), run.get(k)) for k in diff)
                         + ". Resume with the original input and options (leave the options out to take them from "
                         f"the store), or pass {spell_or('overwrite', True, 'overwrite=True')} to start again.")
    return "resume"


def _short(v):
    return f"{str(v)[:12]}..." if isinstance(v, str) and len(v) > 16 else repr(v)


def _describe(key, old, new):
    """One readable clause for a run parameter that differs between the store and this run."""
    if key == "source_sha256":
        return (f"the input maps differ from those the store was written from (content checksum {_short(new)}, "
                f"the store's {_short(old)})")
    if key == "source_shape":
        return f"the input maps have shape {tuple(new or ())}, the store's input had {tuple(old or ())}"
    if key == "models":
        fields = sorted(set(old or {}) | set(new or {}))
        return "the models differ (" + ", ".join(f"{f}: weights {_short((new or {}).get(f))}, the store's "
                                                 f"{_short((old or {}).get(f))}" for f in fields) + ")"
    if key == "plans":
        return f"the tile plan differs (set by {_RUN_KEYS[key]})"
    if key == "dm_scale":
        def said(v):
            return ("left unscaled" if not v else "multiplied by "
                    + ", ".join(f"{x:.4g} for {f}" for f, x in sorted(v.items())) + " (model / input dm_mass_fraction)")
        fix = spell_or("dm_rescale", False, "")
        return (f"the input dark matter would be {said(new)}, but the store's was {said(old)}"
                + (f"; pass {fix} to resume a store written unscaled" if not old and fix else ""))
    name = _RUN_KEYS.get(key)
    if name is None:
        return f"{key} is {new!r}, the store's is {old!r}"
    return f"{spell_or(name, new, repr(new))} (the store was written with {spell_or(name, old, repr(old))})"


def create_store(out, dataset, run, chunks, request=None):
    """Write the metadata-only template of ``dataset`` (dask-backed), ``run.json`` and ``request.json``.

    The template is marked ``status="incomplete"`` (root and variables) until :func:`finalize_store`.
    """
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    dataset = dataset.copy()
    dataset.attrs.update(status=INCOMPLETE, status_note="the enrich run writing it has not finished (it is still "
                         "running, was interrupted or failed)", status_out=str(out.absolute()))
    for v in dataset.data_vars:
        dataset[v].attrs["status"] = INCOMPLETE
    encoding = {v: {"chunks": chunks, "_FillValue": np.float32(np.nan)} for v in dataset.data_vars}
    dataset.to_zarr(str(out), mode="w-", compute=False, encoding=encoding, consolidated=False)
    meta = out / _META_DIR
    (meta / "done").mkdir(parents=True)
    _register_meta(out)
    for v in dataset.data_vars:
        (meta / "done" / v).mkdir()
    for name, content in (("request.json", request), ("run.json", run)):  # run.json last: it marks the store resumable
        if content is not None:
            tmp = meta / f"{name}.tmp"
            tmp.write_text(json.dumps(content, indent=1, sort_keys=True))
            os.replace(tmp, meta / name)


def _register_meta(out):
    """Make ``<out>/.ember`` an (empty) zarr group, so zarr's listing of the root does not warn about it."""
    path = Path(out) / _META_DIR / "zarr.json"
    if path.parent.is_dir() and not path.exists():
        path.write_text(json.dumps(_META_GROUP))


def write_core(out, field, index, y0, x0, core):
    """Write one tile core into ``out/field[index..., y0:, x0:]`` (chunk-aligned, atomic per chunk)."""
    import zarr

    arr = zarr.open_array(store=str(out), path=field, mode="r+")
    ny, nx = core.shape
    arr[tuple(index) + (slice(y0, y0 + ny), slice(x0, x0 + nx))] = core.astype(np.float32, copy=False)


def mark_done(out, field, key):
    """Create the done marker of task ``key`` (after its writes returned)."""
    p = Path(out) / _META_DIR / "done" / field / key
    p.touch()


def is_done(out, field, key):
    """Whether task ``key`` of ``field`` has its done marker (a task run again after it finished does nothing)."""
    return key in done_markers(out, field)


def done_markers(out, field):
    """Set of finished task keys for ``field``."""
    d = Path(out) / _META_DIR / "done" / field
    return set(os.listdir(d)) if d.is_dir() else set()


def read_request(out):
    """The options recorded by :func:`create_store` (dict), or None for a store without them."""
    p = Path(out) / _META_DIR / "request.json"
    return json.loads(p.read_text()) if p.is_file() else None


def count_done(out):
    """``(done, total)`` tasks of the run writing ``out`` (total None when not recorded)."""
    d = Path(out) / _META_DIR / "done"
    done = sum(len(os.listdir(f)) for f in d.iterdir() if f.is_dir()) if d.is_dir() else 0
    req = read_request(out) or {}
    return done, req.get("tasks_total")


def complete_tiles(out, fields):
    """Tiles in the finished store ``out`` (all ``fields``), or None where it is absent or not finished.

    Finished: :func:`finalize_store` marked the root ``status="complete"`` (it does so only once every
    task's done marker is there).  A tile is one chunk of a field: one tile core of one realisation,
    axis and slab.  Reads metadata only; nothing is written.
    """
    import math

    import zarr

    if not (Path(out) / _META_DIR / "run.json").is_file():
        return None
    g = zarr.open_group(str(out), mode="r")
    if g.attrs.get("status") != "complete":
        return None
    return sum(math.prod(-(-n // c) for n, c in zip(g[f].shape, g[f].chunks)) for f in fields)


def check_complete(attrs, what="the store", out=None):
    """Raise when ``attrs`` (a store's or a variable's) mark an unfinished enrich run.

    ``out``: the store's path as the user gave it (default: the path recorded in ``attrs``).

    >>> check_complete({"status": "complete"})
    >>> check_complete({"status": "incomplete", "status_note": "its run stopped"}, "'o.zarr'", out="o.zarr")
    Traceback (most recent call last):
    ...
    ValueError: 'o.zarr' is incomplete: its run stopped. Finish it with enrich_box(out='o.zarr', resume=True); until then its unwritten tiles read as NaN and statistics of it would be wrong.
    """
    if attrs.get("status") != INCOMPLETE:
        return
    note = attrs.get("status_note") or "the enrich run writing it has not finished"
    out = out or attrs.get("status_out")
    fix = f"Finish it with {resume_command(out)}" if out else f"Finish its enrich run with {spell_or('resume', True)}"
    raise ValueError(f"{what} is incomplete: {note}. {fix}; until then its unwritten tiles read as NaN and "
                     "statistics of it would be wrong.")


def finalize_store(out, attrs):
    """Merge ``attrs`` into the root group and consolidate metadata."""
    import zarr

    _register_meta(out)  # stores begun by older versions
    g = zarr.open_group(str(out), mode="r+")
    g.attrs.update(attrs)
    for k in ("status_note", "status_out"):
        g.attrs.pop(k, None)
    for _, arr in g.arrays():
        arr.attrs.pop("status", None)
    consolidate_quietly(out)
