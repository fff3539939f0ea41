# SPDX-License-Identifier: BSD-3-Clause
"""The pipeline's stages, each a thin call of an existing API: deposit, truth, haloes, enrich, statistics.

Every stage is a :class:`Stage`: its settings and inputs (which make its key, see
:mod:`ember_dist.pipeline.records`), the outputs it writes under the output folder and the function
that writes them.  The report stage lives in :mod:`ember_dist.pipeline.report`.

With ``input.reference`` (hydro snapshots of other boxes), each reference ``i`` adds
``reference_<i>`` (its gas/HI maps at the pipeline's pixel size, on slabs as deep as the
application's), ``reference_<i>_haloes`` (its haloes) and one ``reference_statistics`` stage over
all of them; they read nothing of the application's stages, so a changed reference reruns only
them and the report.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .records import fingerprint

__all__ = ["Stage", "build_stages", "OUTPUTS", "reference_output"]

#: Output of each stage, relative to the output folder.
OUTPUTS = {"deposit": "dm.zarr", "truth": "truth.zarr", "haloes": "haloes.h5", "enrich": "enriched.zarr",
           "statistics": "statistics.zarr", "reference_statistics": "reference_statistics.zarr", "report": "report"}


@dataclass
class Stage:
    """One resumable step of a pipeline."""

    name: str
    settings: dict
    inputs: dict
    run: Callable  # run(ctx, resume: bool) -> None
    resumable: bool = False  # an interrupted run continues (enrich's tile markers) instead of restarting
    needs_client: bool = True
    always: bool = False  # rerun every time (cheap, and it reads every stage record)
    describe: str = ""
    outputs: list = field(default_factory=list)
    output: str = ""  # output under the output folder when the name is not in OUTPUTS (reference_<i>)

    @property
    def output_name(self):
        return self.output or OUTPUTS[self.name]


def reference_output(i, haloes=False):
    """Output of reference ``i``'s maps (``reference_<i>.zarr``) or haloes (``reference_<i>_haloes.h5``)."""
    return f"reference_{i}_haloes.h5" if haloes else f"reference_{i}.zarr"


def _out(ctx, stage):
    return os.path.join(ctx.out, OUTPUTS.get(stage, stage))


def _deposit_settings(spec, fields, downsample):
    d, dv = spec["deposit"], spec["derived"]
    return {"axes": list(d["axes"]), "slabs": d["slabs"], "pixel": dv["pixel"], "align": dv["align"],
            "downsample": downsample, "seed": d["seed"], "kernel": d["kernel"], "n_neighbours": d["n_neighbours"],
            "fields": list(fields)}


def _deposit(stage, snapshot, settings):
    def run(ctx, resume):
        from ember_dist.deposit.api import deposit_snapshot

        s = settings
        deposit_snapshot(snapshot, _out(ctx, stage), pixel=s["pixel"], slabs=s["slabs"], axes=s["axes"],
                         fields=s["fields"], downsample=s["downsample"] if s["downsample"] > 1 else None,
                         seed=s["seed"], align=s["align"], client=ctx.client, overwrite=True,
                         n_neighbours=s["n_neighbours"], progress=ctx.progress, kernel=s["kernel"])
    return run


def _haloes_run(settings, source, output="haloes.h5"):
    def run(ctx, resume):
        import h5py

        from ember_dist.io.snapshot import open_snapshot
        from ember_dist.stats.fof import friends_of_friends
        from ember_dist.stats.halos import read_halo_catalogue

        if settings["finder"] == "fof":
            snap = open_snapshot(source)
            pos = snap.positions(1).compute()
            pmass = float(snap.masses(1).mean().compute())
            if settings.get("mass") == "per unit dark-matter fraction":
                # a hydro run's dark matter carries (Omega_m - Omega_b) / Omega_m of the matter: weigh its
                # particles as a DM-only run's, so that FoF masses mean the same in both runs
                from ember_dist.deposit.resolution import snapshot_dm_mass

                pmass = snapshot_dm_mass(snap).equivalent
            cat = friends_of_friends(pos, snap.header.box_size, pmass, b=settings["linking_length"],
                                     min_members=settings["min_members"], omega_m=snap.header.omega_m)
        else:
            cat = read_halo_catalogue(source)
        if settings["min_mass"] is not None:
            cat = cat.isel(halo=np.nonzero(cat["mass"].values >= settings["min_mass"])[0])
        tmp = os.path.join(ctx.out, output) + ".tmp"
        with h5py.File(tmp, "w") as f:
            for k in ("x", "y", "z", "r_vir", "mass"):
                f.create_dataset(k, data=cat[k].values)
            f.attrs["finder"] = settings["finder"]
            f.attrs["units"] = "x, y, z, r_vir: ckpc/h; mass: Msun/h"
            if settings.get("mass"):
                f.attrs["mass"] = settings["mass"]
        os.replace(tmp, os.path.join(ctx.out, output))
    return run


def _enrich_run(settings, maps):
    def run(ctx, resume):
        from ember_dist.engine.enrich import enrich_box

        s = settings
        enrich_box(maps() if callable(maps) else maps, fields=list(s["models"]),
                   model={f: ctx.bundles[f].path for f in s["models"]}, out=_out(ctx, "enrich"),
                   samples=s["realisations"], seed=s["seed"], tile=s["tile"], halo=s["halo"], client=ctx.client,
                   overwrite=not resume, resume=resume, batch_size=s["batch_size"], precision=s["precision"],
                   progress=ctx.progress)
    return run


def build_stages(spec, bundles, keys):
    """The stages of ``spec`` in order; ``keys`` maps a finished stage's name to its key (filled as they run).

    Inputs that are other stages are recorded as ``"stage:<name>"`` -> a callable returning that
    stage's key, resolved just before the stage's own key is computed.
    """
    inp, st = spec["input"], spec["statistics"]
    fields = list(spec["enrich"]["models"])
    stages = []
    if inp["snapshot"]:
        s = _deposit_settings(spec, ("dm",), spec["derived"]["downsample"])
        stages.append(Stage("deposit", s, {"snapshot": fingerprint(inp["snapshot"])},
                            _deposit("deposit", inp["snapshot"], s),
                            describe=f"deposit dark matter (1 particle in {s['downsample']}, chosen as the "
                                     f"'dark-matter input' line says) onto {len(s['axes'])} x {s['slabs']} slabs"
                                     if spec["derived"].get("resolution") else
                                     f"deposit dark matter (1 particle in {s['downsample']}) onto "
                                     f"{len(s['axes'])} x {s['slabs']} slabs"))
    if inp["truth"]:
        s = _deposit_settings(spec, [f for f in fields if f in ("gas", "hi")], 1)
        stages.append(Stage("truth", s, {"snapshot": fingerprint(inp["truth"])}, _deposit("truth", inp["truth"], s),
                            describe=f"deposit the hydro snapshot's {', '.join(s['fields'])} (truth)"))
    if "halos" in st["compute"]:
        hs = st["halos"]
        finder = "fof" if inp["halos"] == "fof" else "catalogue"
        source = inp["snapshot"] if finder == "fof" else inp["halos"]
        s = {"finder": finder, "min_members": hs["min_members"], "linking_length": hs["linking_length"],
             "min_mass": hs["min_mass"]}
        stages.append(Stage("haloes", s, {"source": fingerprint(source)}, _haloes_run(s, source), needs_client=False,
                            describe="friends-of-friends haloes" if finder == "fof" else "read the halo catalogue"))
    en = spec["enrich"]
    s = {"models": {f: bundles[f].weights_sha256 for f in fields}, "model_names": {f: bundles[f].name for f in fields},
         "realisations": en["realisations"], "seed": en["seed"], "halo": en["halo"], "tile": en["tile"],
         "precision": en["precision"], "batch_size": en["batch_size"]}
    if inp["snapshot"]:
        maps_in, maps_path = {"stage:deposit": lambda: keys.get("deposit")}, os.path.join(spec["output"], OUTPUTS["deposit"])
    else:
        maps_in, maps_path = {"maps": fingerprint(inp["maps"])}, inp["maps"]
    stages.append(Stage("enrich", s, maps_in, _enrich_run(s, maps_path), resumable=True,
                        describe=f"paint {', '.join(fields)} x {en['realisations']} realisation(s)"))
    from .statistics import statistics_run

    upstream = {f"stage:{n}": (lambda n=n: keys.get(n)) for n in ("enrich", "truth", "haloes")
                if any(x.name == n for x in stages)}
    s = {"compute": list(st["compute"]), "cddf": dict(st["cddf"]), "mass_bins": st["halos"]["mass_bins"],
         "radius_factor": st["halos"]["radius_factor"], "fields": fields}
    stages.append(Stage("statistics", s, upstream, statistics_run(s),
                        describe=f"{', '.join(st['compute'])} of the enriched{' and truth' if inp['truth'] else ''} maps"))
    refs = spec["derived"].get("references") or []
    report_in = {"stage:statistics": lambda: keys.get("statistics")}
    if refs:
        stages += _reference_stages(spec, refs, fields, keys)
        report_in["stage:reference_statistics"] = lambda: keys.get("reference_statistics")
    from .report import report_run

    stages.append(Stage("report", {"version": 1}, report_in,
                        report_run, needs_client=False, always=True, describe="figures, HTML page and JSON"))
    return stages


def _reference_stages(spec, refs, fields, keys):
    """``reference_<i>`` and ``reference_<i>_haloes`` per reference, then ``reference_statistics``."""
    from .statistics import reference_statistics_run

    st = spec["statistics"]
    maps_fields = [f for f in fields if f in ("gas", "hi")]
    halos = "halos" in st["compute"]
    stages, upstream = [], {}
    for i, ref in enumerate(refs):
        name = f"reference_{i}"
        s = dict(_deposit_settings(spec, maps_fields, 1), slabs=ref["slabs"], slab_depth=ref["slab_depth"])
        stages.append(Stage(name, s, {"snapshot": fingerprint(ref["path"])}, _deposit(reference_output(i), ref["path"], s),
                            output=reference_output(i),
                            describe=f"deposit the reference {ref['label']}'s {', '.join(maps_fields)} onto "
                                     f"{len(s['axes'])} x {ref['slabs']} slabs of {ref['slab_depth']:g} ckpc/h "
                                     "(the application's slab depth)"))
        upstream[f"stage:{name}"] = lambda name=name: keys.get(name)
        if halos:
            hs = st["halos"]
            fof = ref["halos"] == "fof"
            source = ref["path"] if fof else ref["halos"]
            hset = {"finder": "fof" if fof else "catalogue", "min_members": hs["min_members"],
                    "linking_length": hs["linking_length"], "min_mass": hs["min_mass"],
                    "mass": "per unit dark-matter fraction" if fof else None}
            hname = f"{name}_haloes"
            stages.append(Stage(hname, hset, {"source": fingerprint(source)},
                                _haloes_run(hset, source, reference_output(i, haloes=True)),
                                output=reference_output(i, haloes=True), needs_client=False,
                                describe=(f"friends-of-friends haloes of the reference {ref['label']} (its dark "
                                          "matter weighed per unit dark-matter fraction, as a DM-only run's)" if fof
                                          else f"read the reference {ref['label']}'s own halo catalogue "
                                               f"{os.path.basename(source)}")))
            upstream[f"stage:{hname}"] = lambda hname=hname: keys.get(hname)
    s = {"compute": list(st["compute"]), "cddf": dict(st["cddf"]), "radius_factor": st["halos"]["radius_factor"],
         "fields": maps_fields, "references": [r["label"] for r in refs]}
    stages.append(Stage("reference_statistics", s, upstream, reference_statistics_run(s, len(refs)),
                        describe=f"{', '.join(st['compute'])} of the {len(refs)} reference(s)"))
    return stages
