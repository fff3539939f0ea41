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

from ember_dist.model.bundle import input_downsample

from .schema import PipelineError

__all__ = ["resolve", "check_output_folder", "downsample_of_bundle", "reference_label", "REFERENCE_DZ"]

_MR = 64  # EMBER's MR input: one dark-matter particle in 4^3


def _where(spec, *path):
    line = spec.get("_marks", {}).get(tuple(path) + ("<value>",)) or spec.get("_marks", {}).get(tuple(path))
    src = os.path.basename(spec.get("_file", "pipeline.yaml"))
    name = ".".join(map(str, path))
    return f"{src}, line {line}: {name}" if line else f"{src}: {name}"


def _path(spec, value):
    if value is None:
        return None
    base = os.path.dirname(spec.get("_file", os.path.abspath("pipeline.yaml")))
    return os.path.abspath(os.path.join(base, os.path.expanduser(value)))


def downsample_of_bundle(bundle):
    """Particle downsampling factor a bundle was trained with (1 for HR), or None if it does not say."""
    return input_downsample(bundle.meta.get("training", {}).get("input_resolution", ""))


def _mass_dict(m):
    return None if m is None else {"particle_mass": m.particle_mass, "mass_fraction": m.mass_fraction,
                                   "equivalent": m.equivalent}


def _downsample(spec, bundles, errors, snap_dm):
    """(factor, resolution): the particle downsampling and what it was chosen from, said in words.

    Per model the factor that gives this snapshot's dark matter the model's training particles:
    ``round(model / snapshot)`` of the spacing-equivalent particle masses
    (:mod:`ember_dist.deposit.resolution`) where the bundle records its training particle mass and the
    input is a snapshot; otherwise the downsampling its ``input_resolution`` names (1/64 -> 64).
    """
    from ember_dist.deposit.resolution import bundle_dm_mass, matching_factor

    want = spec["deposit"]["input_resolution"]
    model_dm = {f: bundle_dm_mass(b) for f, b in bundles.items()}
    expected, basis = {}, {}
    for f, b in bundles.items():
        if model_dm[f] is not None and snap_dm is not None:
            expected[f], basis[f] = matching_factor(model_dm[f].equivalent, snap_dm.equivalent), "mass"
        elif downsample_of_bundle(b) is not None:
            expected[f], basis[f] = downsample_of_bundle(b), "bundle"
    if want == "auto":
        known = set(expected.values())
        if len(known) > 1:
            errors.append(f"{_where(spec, 'deposit', 'input_resolution')}: the models need different inputs "
                          f"({', '.join(f'{bundles[f].name}: 1 particle in {v}' for f, v in expected.items())}); "
                          "use models trained on one input resolution or set input_resolution")
            return 1, None
        factor = known.pop() if known else 1
    else:
        factor = int({"HR": 1, "MR": _MR}.get(want, want))
        bad = {f: v for f, v in expected.items() if v != factor}
        if bad:
            f, v = next(iter(bad.items()))
            if basis[f] == "mass":
                errors.append(f"{_where(spec, 'deposit', 'input_resolution')}: {want!r} keeps 1 particle in {factor}, "
                              f"but model {bundles[f].name!r} ({f}) was trained on dark-matter particles of "
                              f"{model_dm[f].text()} and this snapshot's are {snap_dm.text()}: 1 in {v} matches them; "
                              "set input_resolution: auto or pick models trained on this input")
            else:
                errors.append(f"{_where(spec, 'deposit', 'input_resolution')}: {want!r} keeps 1 particle in {factor}, "
                              f"but model {bundles[f].name!r} ({f}) was trained on 1 in {v} "
                              f"({'HR' if v == 1 else 'MR' if v == _MR else v}); set input_resolution: auto or pick "
                              "models trained on this input")
    return factor, _resolution(want, factor, bundles, model_dm, snap_dm, basis)


def _resolution(want, factor, bundles, model_dm, snap_dm, basis):
    """The downsampling choice for the stage log and the report (dict with ``text``)."""
    masses = {f: m for f, m in model_dm.items() if m is not None}
    if want != "auto":
        how = f"deposit.input_resolution: {want}"
    elif "mass" in basis.values():
        how = "auto, from the particle masses"
    elif basis:
        how = "auto, as the models were trained: their bundles record no training particle mass"
    else:
        how = "auto: the models record neither their input resolution nor its particle mass, so every particle is kept"
    text = f"input 1 particle in {factor} ({how})"
    if masses and snap_dm is not None:
        eq = sorted({f"{m.equivalent:.4g}" for m in masses.values()})
        text += (f"; model{'s' if len(masses) > 1 else ''} trained on particles of {' / '.join(eq)} Msun/h; "
                 f"snapshot's are {snap_dm.equivalent:.4g} Msun/h (spacing-equivalent masses: particle mass / the "
                 f"fraction of Omega_m the dark matter carries, "
                 f"{' / '.join(sorted({f'{m.mass_fraction:.3g}' for m in masses.values()}))} in the training run, "
                 f"{snap_dm.mass_fraction:.3g} here)")
        read = sorted({m.source for m in masses.values() if m.source != "the bundle's training metadata"})
        if read:
            text += f"; the models' mass read from {' and '.join(read)}"
        ratio = max(m.equivalent for m in masses.values()) / snap_dm.equivalent
        if abs(ratio / factor - 1) > 0.1:
            text += (f"; the mass ratio {ratio:.3g} is not a whole number"
                     + (f": the snapshot's particles are {1 / ratio:.3g}x heavier than the models' input, so they "
                        "see coarser dark matter than they learned from" if ratio < 0.75 else
                        f", {factor} is the nearest"))
    elif snap_dm is not None:
        text += f"; the snapshot's dark-matter particles are {snap_dm.text()}"
    trained = {bundles[f].name: bundles[f].meta.get("training", {}).get("input_resolution") for f in bundles}
    return {"factor": factor, "setting": want, "basis": sorted(set(basis.values())), "text": text,
            "snapshot_dm": _mass_dict(snap_dm), "models_dm": {bundles[f].name: _mass_dict(m) for f, m in model_dm.items()},
            "models_input_resolution": trained,
            "deposited_equivalent_mass": None if snap_dm is None else snap_dm.equivalent * factor}


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
    snap_dm = None
    if inp["snapshot"] and _exists(inp["snapshot"]):
        try:
            from ember_dist.deposit.resolution import snapshot_dm_mass

            snap_dm = snapshot_dm_mass(inp["snapshot"])
        except Exception:  # noqa: BLE001 - an unreadable snapshot is reported by _snapshot_problems below
            snap_dm = None
    derived = {"downsample": 1, "resolution": None}
    if bundles:
        derived["downsample"], res = _downsample(spec, bundles, errors, snap_dm)
        derived["resolution"] = res if inp["snapshot"] else None  # maps: no particles are deposited
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
    inp["reference"] = [_path(spec, r) for r in (inp.get("reference") or [])]
    derived["references"] = _references(spec, inp, derived, errors) if inp["reference"] else []
    if errors:
        missing = {k: inp[k] for k in ("snapshot", "truth") if inp[k] is not None and not _exists(inp[k])}
        hint = _creation_hint(spec, missing)
        raise PipelineError("\n".join(errors + ([hint] if hint else [])))
    out = _path(spec, spec["output"])
    return dict(spec, input=inp, output=out, derived=derived), bundles


#: Largest redshift difference between a reference and the application.
REFERENCE_DZ = 0.05


def _application_geometry(spec, inp):
    """(box_size, redshift, slab_depth) of what is enriched: the snapshot's header or the maps' attrs."""
    if inp["snapshot"]:
        from ember_dist.io.snapshot import open_snapshot

        h = open_snapshot(inp["snapshot"]).header
        return h.box_size, h.redshift, h.box_size / spec["deposit"]["slabs"]
    import xarray as xr

    a = xr.open_zarr(inp["maps"], consolidated=False).attrs
    return float(a["box_size"]), float(a["redshift"]), float(a["slab_depth"])


def reference_label(path, box_size):
    """``hydro suite (seed S, L Mpc/h)`` from the snapshot's EmberSim parameters, else the file name."""
    import json

    import h5py

    seed = None
    try:
        with h5py.File(path, "r") as f:
            if "EmberSim" in f:
                seed = json.loads(str(f["EmberSim"].attrs.get("parameters", "{}"))).get("seed")
    except (OSError, ValueError):
        seed = None
    size = f"{box_size / 1000:g} Mpc/h"
    return f"hydro suite (seed {seed}, {size})" if seed is not None else f"hydro {os.path.basename(path)} ({size})"


def _references(spec, inp, derived, errors):
    """Per ``input.reference`` entry: its geometry, slabs of the application's depth, label and halo source.

    A reference is deposited at the pipeline's pixel size with slabs as deep as the application's, so
    its box must hold a whole number of them, and it must be at the application's redshift (within
    :data:`REFERENCE_DZ`).
    """
    from ember_dist.deposit.grid import grid_size
    from ember_dist.io.snapshot import open_snapshot

    try:
        app_box, app_z, depth = _application_geometry(spec, inp)
    except Exception as e:  # noqa: BLE001 - maps without attrs (npy, h5): name the need
        errors.append(f"{_where(spec, 'input', 'reference')}: a reference is deposited on slabs as deep as the "
                      f"application's, which needs its box size, redshift and slab depth: give input.snapshot, or "
                      f"zarr maps with those attrs ({e})")
        return []
    fields = [f for f in spec["enrich"]["models"] if f in ("gas", "hi")]
    halos = "halos" in spec["statistics"]["compute"]
    pixel, align = derived.get("pixel"), derived.get("align", 16)
    out = []
    for i, path in enumerate(inp["reference"]):
        where = _where(spec, "input", "reference", i)
        if not _exists(path):
            errors.append(f"{where}: no such file {path!r} (paths are relative to the pipeline file's folder)")
            continue
        try:
            snap = open_snapshot(path)
        except Exception as e:  # noqa: BLE001 - name the key, keep the reader's reason
            errors.append(f"{where}: cannot read {path!r} as a snapshot ({e})")
            continue
        h = snap.header
        bad = []
        if snap.count(0) == 0:
            bad.append(f"{path!r} has no gas (PartType0): a reference is a hydrodynamical snapshot")
        elif "hi" in fields and not snap.has(0, "NeutralHydrogenAbundance"):
            bad.append(f"{path!r} has no PartType0/NeutralHydrogenAbundance, which the HI maps need")
        if abs(h.redshift - app_z) > REFERENCE_DZ:
            bad.append(f"its redshift {h.redshift:.3f} differs from the application's {app_z:.3f} by more than "
                       f"{REFERENCE_DZ}; use the reference's snapshot at z = {app_z:.2f}")
        n_slabs = h.box_size / depth
        if abs(n_slabs - round(n_slabs)) > 1e-6 * n_slabs or round(n_slabs) < 1:
            bad.append(f"its box of {h.box_size:g} ckpc/h is not a whole number of the application's slabs "
                       f"({depth:g} ckpc/h deep = {app_box:g} / {spec['deposit']['slabs']}); choose deposit.slabs "
                       f"so that the slab depth divides {h.box_size:g} ckpc/h, or another reference")
        if pixel is not None and not bad:
            g_ref, g_app = grid_size(h.box_size, pixel, align), grid_size(app_box, pixel, align)
            if abs(g_ref.pixel_size / g_app.pixel_size - 1) > 0.01:
                bad.append(f"at pixel {pixel:g} ckpc/h its {h.box_size:g} ckpc/h box gets {g_ref.n} px of "
                           f"{g_ref.pixel_size:.5g} ckpc/h but the application's {app_box:g} ckpc/h gets "
                           f"{g_app.pixel_size:.5g} ckpc/h (sides are multiples of {align}); choose a pixel size "
                           "that fits both boxes")
        halo_source = None
        if halos and not bad:
            if inp["halos"] == "fof":
                halo_source = "fof"
                if snap.count(1) == 0:
                    bad.append(f"{path!r} has no dark matter (PartType1) for the friends-of-friends haloes")
            else:  # the application reads a catalogue: the reference reads the simulation's own beside it
                import re

                m = re.match(r"snap(?:shot)?_(\d+)", os.path.basename(path))
                cand = os.path.join(os.path.dirname(path), f"fof_{m.group(1)}.h5") if m else None
                if cand is None or not os.path.isfile(cand):
                    bad.append(f"input.halos is a catalogue, so the reference's haloes are read from its own "
                               f"catalogue fof_NNN.h5 beside it (ember-dist simulate writes one); "
                               f"{cand or 'fof_NNN.h5'} does not exist")
                halo_source = cand
        if bad:
            errors += [f"{where}: {b}" for b in bad]
            continue
        out.append({"path": path, "box_size": h.box_size, "redshift": h.redshift, "slabs": int(round(n_slabs)),
                    "slab_depth": depth, "label": reference_label(path, h.box_size), "halos": halo_source})
    return out


#: A command in a pipeline file's comments that writes the toy suite: ``# ember-dist mock DIR --n ...``.
_MOCK_COMMAND = re.compile(r"^\s*#\s*ember-dist\s+mock\s+(.*?)\s*$")


def _mock_out_dir(words):
    """The output folder of ``ember-dist mock WORDS`` (parsed by the command's own parser), or None."""
    import argparse

    from ember_dist.mock.cli import add_mock_parser

    class Quiet(argparse.ArgumentParser):
        def error(self, message):
            raise ValueError(message)

    sub = Quiet(prog="ember-dist", add_help=False).add_subparsers(dest="command")
    add_mock_parser(sub)
    try:
        return sub.choices["mock"].parse_args(words).out_dir
    except (ValueError, SystemExit):
        return None


def _creation_hint(spec, missing):
    """The command that creates the missing input snapshots, where the pipeline file's comments give one, else None.

    ``missing``: ``{key: absolute path}``.  Only an ``ember-dist mock DIR ...`` command in the comments
    whose suite layout (``DIR/dmo/snap_*``, ``DIR/hydro/snap_*``) holds every missing path, in a folder
    named as DIR; the hint gives that command with the folder as seen from here.
    """
    import shlex

    roots = {Path(p).parent.parent if Path(p).parent.name in ("dmo", "hydro") and Path(p).name.startswith("snap_")
             else None for p in missing.values()}
    if len(roots) != 1 or None in roots:
        return None
    (root,) = roots
    try:
        lines = Path(spec["_file"]).read_text().splitlines()
    except (KeyError, OSError):
        return None
    for line in lines:
        m = _MOCK_COMMAND.match(line)
        try:
            words = shlex.split(m[1], comments=True) if m else []
        except ValueError:  # unbalanced quotes: not a command
            continue
        out_dir = _mock_out_dir(words) if words else None
        if out_dir is None or Path(out_dir).name != root.name:
            continue
        here = os.path.relpath(root)
        words[words.index(out_dir)] = str(root) if here.startswith("..") else here
        keys = " and ".join(f"input.{k}" for k in missing)
        return (f"{os.path.basename(spec['_file'])}: create {keys} (a TOY suite, as the file's comments say) with: "
                f"ember-dist mock {shlex.join(words)}")
    return None


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
