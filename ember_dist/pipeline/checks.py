# SPDX-License-Identifier: BSD-3-Clause
"""Checks of a validated pipeline against the world, before any work: files, models, geometry, output folder.

:func:`resolve` turns the spec's relative paths into absolute ones (against the pipeline file's
folder), loads the model bundles and derives what ``auto`` means (pixel size, particle
downsampling, alignment).  Every problem names the key and its line in the pipeline file.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from .schema import PipelineError

__all__ = ["resolve", "check_output_folder", "downsample_of_bundle"]

_MR = 64  # EMBER's MR input: one dark-matter particle in 4^3


def _where(spec, *path):
    line = spec.get("_marks", {}).get(tuple(path) + ("<value>",)) or spec.get("_marks", {}).get(tuple(path))
    src = os.path.basename(spec.get("_file", "pipeline.yaml"))
    return f"{src}, line {line}: {'.'.join(path)}" if line else f"{src}: {'.'.join(path)}"


def _path(spec, value):
    if value is None:
        return None
    base = os.path.dirname(spec.get("_file", os.path.abspath("pipeline.yaml")))
    return os.path.abspath(os.path.join(base, os.path.expanduser(value)))


def downsample_of_bundle(bundle):
    """Particle downsampling factor a bundle was trained with (1 for HR), or None if it does not say."""
    text = str(bundle.meta.get("training", {}).get("input_resolution", ""))
    m = re.search(r"1/(\d+)", text)
    if m:
        return int(m.group(1))
    if text.startswith("HR") or "full-resolution" in text:
        return 1
    return None


def _downsample(spec, bundles, errors):
    want = spec["deposit"]["input_resolution"]
    trained = {f: downsample_of_bundle(b) for f, b in bundles.items()}
    known = {v for v in trained.values() if v is not None}
    if want == "auto":
        if len(known) > 1:
            errors.append(f"{_where(spec, 'deposit', 'input_resolution')}: the models were trained on different "
                          f"inputs ({trained}); use models of one input resolution or set input_resolution")
            return 1
        return known.pop() if known else 1
    factor = {"HR": 1, "MR": _MR}.get(want, want)
    bad = {f: v for f, v in trained.items() if v is not None and v != factor}
    if bad:
        f, v = next(iter(bad.items()))
        errors.append(f"{_where(spec, 'deposit', 'input_resolution')}: {want!r} keeps 1 particle in {factor}, but model "
                      f"{bundles[f].name!r} ({f}) was trained on 1 in {v} ({'HR' if v == 1 else 'MR' if v == _MR else v}); "
                      "set input_resolution: auto or pick models trained on this input")
    return int(factor)


def resolve(spec):
    """Absolute paths, loaded bundles and derived geometry; raises one PipelineError listing every problem."""
    from ember_dist.model.bundle import load_model

    errors = []
    inp = dict(spec["input"])
    for key in ("snapshot", "maps", "truth"):
        inp[key] = _path(spec, inp[key])
        if inp[key] is not None and not _exists(inp[key]):
            errors.append(f"{_where(spec, 'input', key)}: no such file or folder {inp[key]!r} (paths are relative "
                          "to the pipeline file's folder)")
    halos = inp["halos"]
    if halos not in ("fof", "none"):
        inp["halos"] = _path(spec, halos)
        if not os.path.isfile(inp["halos"]):
            errors.append(f"{_where(spec, 'input', 'halos')}: no halo catalogue at {inp['halos']!r}; give a CSV/HDF5 "
                          "catalogue, 'fof' or 'none'")
    want_halos = "halos" in spec["statistics"]["compute"]
    if want_halos and halos == "fof" and not inp["snapshot"]:
        errors.append(f"{_where(spec, 'input', 'halos')}: 'fof' finds haloes in input.snapshot, but this pipeline reads "
                      "input.maps; give a catalogue path, or drop 'halos' from statistics.compute")
    if want_halos and halos == "none":
        errors.append(f"{_where(spec, 'statistics', 'compute')}: 'halos' needs a halo catalogue but input.halos is "
                      "'none'; set input.halos to 'fof' or a catalogue path, or drop 'halos'")
    if "cddf" in spec["statistics"]["compute"] and "hi" not in spec["enrich"]["models"]:
        errors.append(f"{_where(spec, 'statistics', 'compute')}: 'cddf' is the HI column density distribution but "
                      "enrich.models paints no 'hi'; add a hi model or drop 'cddf'")
    bundles = {}
    for field, name in spec["enrich"]["models"].items():
        try:
            ref = _path(spec, name) if (os.sep in name or name.startswith(".")) else name
            b = load_model(ref)
        except Exception as e:  # noqa: BLE001 - BundleError, FileNotFoundError: name the key
            errors.append(f"{_where(spec, 'enrich', 'models', field)}: model {name!r} not found or unreadable ({e})")
            continue
        if b.field != field:
            errors.append(f"{_where(spec, 'enrich', 'models', field)}: model {b.name!r} paints {b.field!r}, not {field!r}")
        bundles[field] = b
    derived = {"downsample": _downsample(spec, bundles, errors) if bundles else 1}
    pixels = {round(b.pixel_size, 6) for b in bundles.values()}
    pixel = spec["deposit"]["pixel"]
    if pixel == "auto":
        if len(pixels) > 1:
            errors.append(f"{_where(spec, 'deposit', 'pixel')}: the models were trained at different pixel sizes "
                          f"{sorted(pixels)} ckpc/h; set deposit.pixel")
        pixel = pixels.pop() if pixels else None
    else:
        for f, b in bundles.items():
            if abs(pixel / b.pixel_size - 1) > 0.05:
                errors.append(f"{_where(spec, 'deposit', 'pixel')}: {pixel:g} ckpc/h is more than 5% from the "
                              f"{b.pixel_size:g} ckpc/h model {b.name!r} was trained at; use pixel: auto")
    derived["pixel"] = pixel
    derived["align"] = max((b.alignment for b in bundles.values()), default=16)
    if inp["snapshot"] and _exists(inp["snapshot"]):
        errors += _snapshot_problems(spec, inp["snapshot"], "snapshot", (1,))
    if inp["truth"] and _exists(inp["truth"]):
        errors += _snapshot_problems(spec, inp["truth"], "truth", (0,))
    if errors:
        raise PipelineError("\n".join(errors))
    out = _path(spec, spec["output"])
    return dict(spec, input=inp, output=out, derived=derived), bundles


def _exists(path):
    return os.path.exists(path.split(":")[0] if ":" in os.path.basename(path) else path)


def _snapshot_problems(spec, path, key, ptypes):
    from ember_dist.io.snapshot import open_snapshot

    try:
        snap = open_snapshot(path)
    except Exception as e:  # noqa: BLE001 - name the key, keep the reader's reason
        return [f"{_where(spec, 'input', key)}: cannot read {path!r} as a snapshot ({e})"]
    return [f"{_where(spec, 'input', key)}: {path!r} has no PartType{t} particles" for t in ptypes if snap.count(t) == 0]


def check_output_folder(out, name, overwrite):
    """Refuse an output folder that holds another pipeline's results (or anything else) unless ``overwrite``.

    Returns ``"new"``, ``"continue"`` (same pipeline: stages are skipped or rerun by their records)
    or ``"replaced"`` (``overwrite``: the old pipeline folder was deleted).
    """
    from .records import Records

    p = Path(out)
    if not p.exists() or (p.is_dir() and not any(p.iterdir())):
        return "new"
    if not p.is_dir():
        raise FileExistsError(f"output {out!r} is a file; choose another output folder")
    owner = Records(p).owner()
    if owner is None:
        raise FileExistsError(f"output folder {out!r} is not empty and holds no pipeline results (no .pipeline/); "
                              "refusing to write into it, even with --overwrite. Choose another output folder.")
    if overwrite:
        shutil.rmtree(p)
        return "replaced"
    if owner.get("name") != name:
        raise FileExistsError(f"output folder {out!r} holds the results of pipeline {owner.get('name')!r} "
                              f"({owner.get('file')}), not {name!r}; pass --overwrite (overwrite=True) to replace "
                              "them, or choose another output folder")
    return "continue"
