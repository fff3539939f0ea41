# SPDX-License-Identifier: BSD-3-Clause
"""Checkpoint files of a training run: write, find, keep, load and rescore them.

A checkpoint directory holds::

    ckpt-00000100.npz    every variable, key "<group>/<index:04d>" (groups: g generator, go its
                         optimizer, no the noise optimizer, c critic, co its optimizer)
    ckpt-00000100.json   step, seed, score, config, next batch index, metrics, timings
    latest               name of the newest complete checkpoint
    best                 name of the lowest-score checkpoint

Every file is written to a temporary name and renamed, and ``latest`` is updated last, so an
interrupted run finds only complete checkpoints.  The functions here know the files, not the
trainer: :class:`~ember_dist.train.loop.Trainer` hands them variable groups and scores.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> ck = Path(tempfile.mkdtemp())
>>> for step, score in [(2, 0.5), (4, 0.3), (6, 0.4)]:
...     name = f"ckpt-{step:08d}"
...     _ = write_arrays(ck, name, {"g": [np.full(2, step, np.float32)]})
...     write_state(ck, name, {"step": step, "score": score})
...     _ = update_best(ck, name, score)
>>> latest(ck).name, best(ck)[1:]
('ckpt-00000006.npz', (4, 0.3))
>>> prune(ck, 1)
>>> sorted(p.name for p in ck.glob("ckpt-*.npz"))
['ckpt-00000004.npz', 'ckpt-00000006.npz']
>>> import shutil; shutil.rmtree(ck)
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

__all__ = ["write_arrays", "write_state", "latest", "best", "update_best", "prune", "read_state",
           "check_config", "load_group", "rescore", "RESUME_FREE"]

#: Config keys a resume may change: they do not alter the trajectory (the critic's minibatch
#: groups, which do, are compared through the checkpoint's ``mbstd_group_effective``).
RESUME_FREE = ("steps", "checkpoint_every", "log_every", "sample_every", "keep_checkpoints", "extra", "prefetch",
               "tensorboard", "score_maps", "score_bispectrum", "score_metric", "jit", "fused", "devices", "mbstd_group")


def _replace_text(path, text):
    """Write ``text`` to ``path`` through ``<path>.tmp`` and a rename."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_arrays(ck, name, groups):
    """Write ``{group: [array, ...]}`` to ``<ck>/<name>.npz`` (keys ``group/0000``, ...); returns its path."""
    arrays = {f"{k}/{i:04d}": v for k, vs in groups.items() for i, v in enumerate(vs)}
    tmp = ck / (name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, ck / (name + ".npz"))
    return ck / (name + ".npz")


def write_state(ck, name, state):
    """Write ``<ck>/<name>.json``, then point ``latest`` at it."""
    _replace_text(ck / (name + ".json"), json.dumps(state, indent=1))
    _replace_text(ck / "latest", name + "\n")


def latest(ck):
    """The newest complete checkpoint's ``.npz`` in ``ck``, or ``None``."""
    f = ck / "latest"
    if not f.is_file():
        return None
    p = ck / (f.read_text().strip() + ".npz")
    return p if p.is_file() else None


def read_state(npz):
    """The ``.json`` state of checkpoint ``npz``."""
    return json.loads(Path(npz).with_suffix("").with_suffix(".json").read_text())


def best(ck):
    """``(path, step, score)`` of the lowest-score checkpoint kept in ``ck``, or ``None``."""
    f = ck / "best"
    if not f.is_file():
        return None
    name = f.read_text().strip()
    state = json.loads((ck / (name + ".json")).read_text())
    return ck / (name + ".npz"), int(state["step"]), float(state["score"])


def update_best(ck, name, score):
    """Point ``best`` at checkpoint ``name`` if its finite ``score`` beats the current best; returns :func:`best`."""
    b = best(ck)
    if np.isfinite(score) and (b is None or not np.isfinite(b[2]) or score < b[2]):
        _replace_text(ck / "best", name + "\n")
        b = best(ck)
    return b


def prune(ck, keep):
    """Delete all but the newest ``keep`` (at least 1) checkpoints, sparing the best one."""
    b = best(ck)
    spare = {b[0].name} if b else set()
    old = sorted(p for p in ck.glob("ckpt-*.npz") if not p.name.endswith(".tmp.npz") and p.name not in spare)
    for p in old[:-max(1, keep)]:
        p.unlink()
        p.with_suffix("").with_suffix(".json").unlink(missing_ok=True)


def check_config(path, saved, now):
    """Refuse to resume checkpoint ``path`` (config ``saved``) with config ``now`` when a key outside
    :data:`RESUME_FREE` differs."""
    # a key the checkpoint predates counts as its default then: an option added since must be at its default
    from dataclasses import MISSING, fields

    from ember_dist.train.config import TrainConfig

    defaults = {f.name: f.default for f in fields(TrainConfig) if f.default is not MISSING}
    saved = {k: v for k, v in {**{k: defaults[k] for k in now if k in defaults}, **saved}.items()
             if k not in RESUME_FREE}
    saved = json.loads(json.dumps(saved, default=str))  # as the checkpoint's JSON holds it (tuples are lists)
    now = json.loads(json.dumps({k: v for k, v in now.items() if k in saved}, default=str))
    if saved != now:
        diff = {k: (saved[k], now[k]) for k in saved if saved[k] != now[k]}
        raise ValueError(f"checkpoint {str(path)!r} was written with a different configuration {diff} "
                         "(saved, now); use another work directory or the same settings.")


def load_group(z, group, variables):
    """Assign the arrays of ``group`` in the open ``.npz`` ``z`` to ``variables``, in order."""
    for i, v in enumerate(variables):
        v.assign(z[f"{group}/{i:04d}"])


def rescore(ck, weights, score, group="g"):
    """Score every kept checkpoint of ``ck`` again and point ``best`` at the lowest.

    ``weights``: the generator variables, loaded from each checkpoint's ``group`` (``g``; ``ema``: the average of
    the weights, where the run keeps one) in turn and
    restored afterwards; ``score()``: the score of the loaded weights, or ``(score, terms)``, written into that
    checkpoint's ``.json`` (``score``, ``score_terms``).  Returns ``{step: score}``.
    """
    current = [np.array(v) for v in weights]
    scores, low = {}, None
    for js in sorted(ck.glob("ckpt-*.json")):
        npz = js.with_suffix(".npz")
        if js.name.endswith(".tmp") or not npz.is_file():
            continue
        state = json.loads(js.read_text())
        with np.load(npz) as z:
            load_group(z, group, weights)
        value = score()
        state["score"], terms = value if isinstance(value, tuple) else (value, None)
        if terms is not None:
            state["score_terms"] = terms
        else:
            state.pop("score_terms", None)
        js.write_text(json.dumps(state, indent=1))
        scores[int(state["step"])] = state["score"]
        if np.isfinite(state["score"]) and (low is None or state["score"] < low[1]):
            low = (js.stem, state["score"])
    for v, a in zip(weights, current):
        v.assign(a)
    if low is not None:
        _replace_text(ck / "best", low[0] + "\n")
    return scores
