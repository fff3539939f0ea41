# SPDX-License-Identifier: BSD-3-Clause
"""The enriched output store: template, region writes and per-task done markers.

Layout of ``<out>`` (a zarr v3 directory store written through xarray)::

    <out>/<field>/...            float32 (sample, axis, slab, y, x), one chunk per tile core,
                                 fill value NaN (a tile never written reads as NaN)
    <out>/.ember/run.json        the run's parameters; ``resume=True`` requires a match
    <out>/.ember/done/<field>/*  one empty file per finished task, created after its
                                 region write returned (zarr skips chunks equal to the fill
                                 value, so chunk presence alone cannot prove a tile is done)

Written by hand (markers) because zarr has no notion of task completion.
"""
from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np

__all__ = ["check_output", "create_store", "write_core", "mark_done", "is_done", "done_markers", "finalize_store"]

_META_DIR = ".ember"


def _is_zarr(path):
    return (path / "zarr.json").exists() or (path / ".zgroup").exists()


def check_output(out, run, overwrite=False, resume=False):
    """Decide what to do with ``out`` before any work; raise on conflicts.

    Returns ``"create"`` or ``"resume"``.  Nothing is deleted here.
    """
    out = Path(out)
    if overwrite and resume:
        raise ValueError("overwrite=True and resume=True contradict each other; pass only one.")
    if not out.exists():
        return "create"
    if overwrite:
        if not _is_zarr(out):
            raise FileExistsError(
                f"{str(out)!r} exists and is not a zarr store; refusing to delete it even with overwrite=True. "
                "Choose another out=... path."
            )
        return "create"
    if not resume:
        raise FileExistsError(
            f"output store {str(out)!r} already exists. Pass overwrite=True (--overwrite) to replace it, "
            "resume=True (--resume) to finish an interrupted run, or choose another out=... path."
        )
    run_file = out / _META_DIR / "run.json"
    if not run_file.is_file():
        raise FileExistsError(
            f"{str(out)!r} exists but was not written by enrich_box (no {_META_DIR}/run.json), so it cannot be "
            "resumed. Choose another out=... path or pass overwrite=True."
        )
    if run is None:  # early check, before the run's parameters are known
        return "resume"
    old = json.loads(run_file.read_text())
    diff = sorted(k for k in set(old) | set(run) if old.get(k) != run.get(k))
    if diff:
        details = "; ".join(f"{k}: store has {old.get(k)!r}, this run has {run.get(k)!r}" for k in diff)
        raise ValueError(
            f"cannot resume {str(out)!r}: the run parameters differ ({details}). Resume with the original "
            "parameters, or pass overwrite=True to start again."
        )
    return "resume"


def create_store(out, dataset, run, chunks):
    """Write the metadata-only template of ``dataset`` (dask-backed) and ``run.json``."""
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    encoding = {v: {"chunks": chunks, "_FillValue": np.float32(np.nan)} for v in dataset.data_vars}
    dataset.to_zarr(str(out), mode="w-", compute=False, encoding=encoding, consolidated=False)
    meta = out / _META_DIR
    (meta / "done").mkdir(parents=True)
    for v in dataset.data_vars:
        (meta / "done" / v).mkdir()
    tmp = meta / "run.json.tmp"
    tmp.write_text(json.dumps(run, indent=1, sort_keys=True))
    os.replace(tmp, meta / "run.json")


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


def finalize_store(out, attrs):
    """Merge ``attrs`` into the root group and consolidate metadata."""
    import zarr

    g = zarr.open_group(str(out), mode="r+")
    g.attrs.update(attrs)
    with warnings.catch_warnings():  # the .ember/ bookkeeping folder is not a zarr node, by design
        warnings.simplefilter("ignore")
        zarr.consolidate_metadata(str(out))
