# SPDX-License-Identifier: BSD-3-Clause
"""Resuming from the store alone: the run's options recorded in the store, and checks against them.

``enrich_box`` records what the user asked for (input path, fields, models, samples, seed, tile,
halo, ...) in ``<out>/.ember/request.json`` when it creates a store.  ``resume=True`` takes every
option not given from there, and compares the options that are given with it before any cluster
starts; an error names only the options that differ, as the user spelled them (Python keywords,
or flags on the command line; see :mod:`ember_dist.errors`).

Examples
--------
>>> rec = {"seed": 3, "tile": 32, "halo": "fastest", "halo_mode": "split", "fields": ["gas"]}
>>> differences(rec, {"seed": 3, "halo": "split", "tile": None})
[]
>>> differences(rec, {"seed": 5, "tile": 64})
['seed=5 (the store was written with seed=3)', 'tile=64 (the store was written with tile=32)']
>>> differences({"dm_rescale": True}, {"dm_rescale": False})
['dm_rescale=False (the store was written with dm_rescale=True)']
"""
from __future__ import annotations

import os
from pathlib import Path

from ember_dist.errors import alternatives, in_command, spell, spell_or
from ember_dist.io.store import complete_tiles, read_request

__all__ = ["OPTIONS", "differences", "options_from_store", "make_request", "check_models", "refuse", "short",
           "nothing_to_do"]

#: Options of ``enrich_box`` recorded in the store and taken from it on resume (``maps`` and ``model``
#: are handled apart: a path may move, a model is compared by its weights).
OPTIONS = ("fields", "samples", "seed", "tile", "halo", "batch_size", "precision", "pixel_size", "variable",
           "dataset", "split_level", "coarse_core", "dm_rescale")


def short(sha):
    """The first 12 hex digits of a checksum, for messages."""
    return f"{str(sha)[:12]}..." if sha else repr(sha)


def _norm(v):
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def differences(recorded, given):
    """Sentences for each given option (not None) that differs from the recorded one."""
    out = []
    for name in OPTIONS:
        g = given.get(name)
        if g is None or name not in recorded:
            continue
        r = recorded[name]
        same = _norm(g) == _norm(r)
        if name == "halo":  # "split" or "exact" also matches the mode that "fastest" chose
            same = same or _norm(g) == _norm(recorded.get("halo_mode"))
        if name == "fields":
            g = [g] if isinstance(g, str) else list(g)
            same = g == list(r)
        if not same:
            was = spell_or(name, r, repr(r))
            if name == "dm_rescale" and r and in_command():  # the flag (--no-dm-rescale) only switches it off
                was = "the input dark matter rescaled where needed (no --no-dm-rescale)"
            out.append(f"{spell_or(name, g, repr(g))} (the store was written with {was})")
    return out


def _model_names(rec):
    names = [m["name"] for m in rec.values()]
    return names[0] if len(names) == 1 else names


def check_models(recorded, bundles):
    """Sentences for the fields whose given model differs from the recorded one (by weights)."""
    rec = recorded.get("model") or {}
    out = []
    for f, b in bundles.items():
        r = rec.get(f)
        if r is None or r["weights_sha256"] == b.weights_sha256:
            continue
        if r["name"] == b.name and r["path"] == str(b.path):
            out.append(f"model {b.name!r} for {f} has changed since the store was written (weights sha256 "
                       f"{short(b.weights_sha256)}, the store's {short(r['weights_sha256'])})")
        else:  # by name, or by path where two bundles share a name
            new, old = (b.name, r["name"]) if r["name"] != b.name else (str(b.path), r["path"])
            out.append(f"{spell_or('model', new, repr(new))} for {f} (the store was written with "
                       f"{spell_or('model', old, repr(old))})")
    return out


def refuse(out, problems):
    """The ValueError for a resume whose given options differ from the store's."""
    fix = alternatives((spell("overwrite", True), "to start again"))
    return ValueError(
        f"cannot resume {str(out)!r} with different options: " + "; ".join(problems) + ". Leave these options "
        "out to resume with the store's own" + (f", or {fix}" if fix else "") + "."
    )


def options_from_store(out, given):
    """The options to resume ``out`` with: ``given`` (checked against the store) completed by the store's.

    Returns ``(options, recorded)``; ``recorded`` is None for a store written before options were
    recorded (then ``given`` is returned unchanged and the run parameters are compared later).
    """
    rec = read_request(out)
    if rec is None:
        return dict(given), None
    problems = differences(rec, given)
    if problems:
        raise refuse(out, problems)
    opts = dict(given)
    for name in OPTIONS:
        if opts.get(name) is None and rec.get(name) is not None:
            opts[name] = rec[name]
    if opts.get("halo") is not None and isinstance(opts["halo"], list):
        opts["halo"] = tuple(opts["halo"])
    if opts.get("maps") is None:
        if rec.get("maps") is None:
            raise ValueError(
                f"{str(out)!r} was written from in-memory maps ({rec.get('maps_description')}), which the store "
                "cannot reopen; pass the same maps again to resume "
                f"({spell_or('maps', Ellipsis, 'the MAPS argument')})."
            )
        opts["maps"] = rec["maps"]
    if opts.get("model") is None:
        opts["model"] = {f: (m["path"] if _exists(m["path"]) else m["name"]) for f, m in rec["model"].items()}
    return opts, rec


def nothing_to_do(out, maps, recorded):
    """The line to say when resuming ``out`` has nothing to do, else None.

    Nothing to do: the store is complete, records every option of :data:`OPTIONS` (a store written
    before an option was recorded goes the full way, whose checks compare it, e.g. ``dm_rescale``)
    and the input is the one it was written from (``maps`` not given, or the recorded path).  Input
    given at another path may hold other maps, so that run goes on and compares their content with
    the store's (the usual resume check).
    """
    if recorded is None or any(name not in recorded for name in OPTIONS):
        return None
    if maps is not None and not (isinstance(maps, (str, os.PathLike))
                                 and str(Path(maps).absolute()) == recorded.get("maps")):
        return None
    tiles = complete_tiles(out, recorded["fields"])
    if tiles is None:
        return None
    again = spell("overwrite", True)
    return f"{out} is complete ({tiles} tiles); nothing to do" + (f" ({again} computes it again)" if again else "")


def _json(v):
    return list(v) if isinstance(v, (list, tuple)) else v


def make_request(maps, source, fields, bundles, *, tasks_total, halo_mode, **options):
    """What to record in a new store: the user's options (after defaults), models, input and task count."""
    req = {k: _json(v) for k, v in options.items()}
    req.update({
        "maps": str(Path(maps).absolute()) if isinstance(maps, (str, os.PathLike)) else None,
        "maps_description": source.description, "fields": list(fields),
        "model": {f: {"name": b.name, "path": str(b.path), "weights_sha256": b.weights_sha256}
                  for f, b in bundles.items()},
        "halo_mode": _json(halo_mode), "source_shape": list(source.shape), "tasks_total": int(tasks_total),
    })
    return req


def _exists(path):
    return Path(path).is_dir()
