# SPDX-License-Identifier: BSD-3-Clause
"""Stage records: what each stage was run with, so a rerun skips it, resumes it or says why it reruns.

Layout under the output folder::

    .pipeline/pipeline.json            which pipeline owns the folder (name, file, created)
    .pipeline/stages/<stage>.started   {"key": ...}: the stage began with these inputs and settings
    .pipeline/stages/<stage>.json      the stage finished: key, settings, inputs, outputs, seconds, memory

A stage's key is the sha256 of its settings and of its inputs (file fingerprints and the keys of
the stages it reads), so a change anywhere upstream changes every key below it.  The key is also
written into each zarr store the stage makes (attr ``pipeline_stage_key``).  A reference snapshot
(``input.reference``) is the input of its own stages only (``reference_<i>``, ``reference_<i>_haloes``,
then ``reference_statistics`` and the report), so changing one reruns those and nothing of the
application's.

Examples
--------
>>> stage_key({"pixel": 58.6}, {"snapshot": "abc"}) == stage_key({"pixel": 58.6}, {"snapshot": "abc"})
True
>>> explain_change({"settings": {"pixel": 58.6, "slabs": 2}, "inputs": {}}, {"pixel": 60.0, "slabs": 2}, {})
'pixel changed 58.6 -> 60.0'
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path

from ember_dist.io.conventions import utc_now

__all__ = ["stage_key", "fingerprint", "Records", "explain_change", "stamp_store"]

_DIR = ".pipeline"


def stage_key(settings, inputs):
    """sha256 of a stage's settings and inputs (JSON, sorted keys)."""
    blob = json.dumps({"settings": settings, "inputs": inputs}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def fingerprint(path):
    """Identity of an input file or folder: path, size and modification time of every file in it.

    Cheap for any size (no content read); any rewrite of a file changes its mtime.
    """
    p = Path(path)
    if not p.exists():
        return None
    files = [p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file())
    h = hashlib.sha256(str(p.resolve()).encode())
    for q in files:
        st = q.stat()
        h.update(f"{q.relative_to(p) if q != p else q.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def _fmt(v):
    return json.dumps(v, default=str) if isinstance(v, (dict, list)) else repr(v)


def explain_change(old, settings, inputs):
    """Why a stage reruns: the settings and inputs that differ from its record ``old``."""
    why = []
    for k in sorted(set(old.get("settings", {})) | set(settings)):
        a, b = old.get("settings", {}).get(k), settings.get(k)
        if a != b:
            why.append(f"{k} changed {_fmt(a)} -> {_fmt(b)}")
    for k in sorted(set(old.get("inputs", {})) | set(inputs)):
        if old.get("inputs", {}).get(k) != inputs.get(k):
            why.append(f"its input {k} changed (path, size or modification time; a fresh clone or copy counts)"
                       if not k.startswith("stage:") else
                       f"stage {k[6:]} it reads was rerun")
    return "; ".join(why) or "its record is incomplete"


class Records:
    """The stage records of one output folder."""

    def __init__(self, out):
        self.out = Path(out)
        self.dir = self.out / _DIR / "stages"

    def owner(self):
        p = self.out / _DIR / "pipeline.json"
        return json.loads(p.read_text()) if p.is_file() else None

    def claim(self, name, pipeline_file):
        """Record that pipeline ``name`` owns the folder (created once)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        p = self.out / _DIR / "pipeline.json"
        if not p.is_file():
            _write_json(p, {"name": name, "file": pipeline_file, "created": utc_now()})

    def get(self, stage):
        p = self.dir / f"{stage}.json"
        return json.loads(p.read_text()) if p.is_file() else None

    def started(self, stage):
        p = self.dir / f"{stage}.started"
        return json.loads(p.read_text()) if p.is_file() else None

    def start(self, stage, key):
        done = self.dir / f"{stage}.json"
        if done.exists():
            done.unlink()
        _write_json(self.dir / f"{stage}.started", {"key": key, "started": utc_now()})

    def finish(self, stage, record):
        _write_json(self.dir / f"{stage}.json", dict(record, stage=stage, finished=utc_now()))
        (self.dir / f"{stage}.started").unlink(missing_ok=True)

    def all(self):
        return {p.stem: json.loads(p.read_text()) for p in sorted(self.dir.glob("*.json"))}


def _write_json(path, obj):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True, default=str))
    os.replace(tmp, path)


def stamp_store(path, stage, key):
    """Write the stage and its key into a zarr store's root attrs (and reconsolidate if it was)."""
    import zarr

    g = zarr.open_group(str(path), mode="r+")
    g.attrs.update({"pipeline_stage": stage, "pipeline_stage_key": key})
    consolidated = (Path(path) / "zarr.json").is_file() and "consolidated_metadata" in (
        Path(path) / "zarr.json").read_text()
    if consolidated:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            zarr.consolidate_metadata(str(path))


def remove(path):
    """Delete a stage output (file or folder) if present."""
    p = Path(path)
    if p.is_dir():
        shutil.rmtree(p)
    elif p.exists():
        p.unlink()
