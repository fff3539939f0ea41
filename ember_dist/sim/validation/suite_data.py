# SPDX-License-Identifier: BSD-3-Clause
"""Find the finished snapshots and halo catalogues of a simulation suite folder (read-only).

A suite folder holds boxes ``box_s<seed>/`` (or any folder with a ``simulation.json``), each with
``hydro/`` and ``dmo/`` runs.  A run's snapshot ``i`` is its finished, post-processed
``snap_00i.hdf5`` when it exists, else Gadget-2's raw ``gadget/output/snapshot_00i.hdf5`` once
Gadget has finished writing it (:func:`ember_dist.sim.gadget_run.finished_snapshots`); a raw
snapshot has no HI fields and no halo catalogue, so only the P(k) checks use it.
"""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

__all__ = ["discover", "ics_in_work", "read_particles", "snapshot_header"]


def _finished_raw(run_dir):
    from ember_dist.sim.gadget_run import finished_snapshots

    folder = run_dir / "gadget"
    if not folder.is_dir():
        return []
    try:
        return [Path(p) for p in finished_snapshots(folder)]
    except Exception:  # a run folder without its state files yet
        return []


def discover(suite):
    """Every finished snapshot of ``suite``: list of dicts (box, seed, run, index, path, raw, fof, params)."""
    suite = Path(suite)
    boxes = sorted(p.parent for p in suite.glob("*/simulation.json"))
    if (suite / "simulation.json").exists():
        boxes.insert(0, suite)
    out = []
    for box in boxes:
        meta = json.loads((box / "simulation.json").read_text())
        params = meta.get("parameters", {})
        for run in ("hydro", "dmo"):
            rd = box / run
            raw = _finished_raw(rd)
            for i in range(len(params.get("redshifts", []))):
                snap = rd / f"snap_{i:03d}.hdf5"
                is_raw = not snap.exists()
                if is_raw:
                    if i >= len(raw):
                        continue
                    snap = raw[i]
                fof = rd / f"fof_{i:03d}.h5"
                ics = rd / "gadget" / "ics.hdf5"
                out.append({"box": box.name, "dir": box, "seed": params.get("seed"), "run": run, "index": i,
                            "path": snap,
                            "raw": is_raw, "fof": fof if fof.exists() else None, "params": params,
                            "ics": ics if ics.exists() else None})
    return out


def ics_in_work(snaps, suite, work, log=print):
    """Give every snapshot without its run's ``gadget/ics.hdf5`` (a fresh clone: the Gadget-2 folders are not
    kept) the initial conditions regenerated into ``work/ics/<box>/<run>.hdf5``.

    They are a pure function of the box's recorded parameters and cosmology (seed, n, box size, z_init, LPT
    order, parent lattice: :func:`ember_dist.sim.ics.make_initial_conditions`), so they equal the ones
    Gadget-2 started from; made once per box and kept in ``work`` as a cache.  Returns ``snaps`` with
    ``ics`` filled and ``ics_regenerated`` set where it was made here.
    """
    from ember_dist.sim.ics import make_initial_conditions, write_ic_file

    made = {}
    for s in snaps:
        if s.get("ics") is not None:
            continue
        box = s["box"]
        if box not in made:
            folder = Path(work) / "ics" / box
            meta = json.loads((Path(s.get("dir") or Path(suite) / box) / "simulation.json").read_text())
            p = meta["parameters"]
            runs = ["dmo"] if p.get("dm_only") else ["hydro", "dmo"]
            record = json.dumps({"parameters": p, "cosmology": meta.get("cosmology")}, sort_keys=True)
            made_from = folder / "made_from.json"  # a work folder reused for another suite's box of that name
            if not (all((folder / f"{r}.hdf5").exists() for r in runs) and made_from.exists()
                    and made_from.read_text() == record):
                log(f"  initial conditions of {box} regenerated from its seed {p['seed']} into {folder}")
                ic = make_initial_conditions(p["n"], p["box_size"], p["seed"], p.get("z_init", 49.0),
                                             cosmo=meta.get("cosmology"), order=p.get("lpt_order", 2),
                                             parent_n=p.get("parent_n"))
                folder.mkdir(parents=True, exist_ok=True)
                for r in runs:
                    write_ic_file(folder / f"{r}.hdf5", ic["header"], ic[r])
                made_from.write_text(record)
            made[box] = folder
        path = made[box] / f"{s['run']}.hdf5"
        if path.exists():
            s["ics"], s["ics_regenerated"] = path, True
    return snaps


def snapshot_header(path):
    """Header values in suite units: box (Mpc/h), redshift, masses (Msun/h) per type, counts, cosmology."""
    with h5py.File(path, "r") as f:
        h = f["Header"].attrs
        return {"box": float(h["BoxSize"]) / 1000.0, "redshift": float(h["Redshift"]),
                "mass_table": np.asarray(h["MassTable"], np.float64) * 1e10, "npart": np.asarray(h["NumPart_Total"]),
                "hubble": float(h["HubbleParam"]), "omega_m": float(h["Omega0"])}


def read_particles(path, ptype):
    """Positions (Mpc/h, wrapped into the box) and masses (Msun/h) of one particle type."""
    hdr = snapshot_header(path)
    with h5py.File(path, "r") as f:
        g = f[f"PartType{ptype}"]
        pos = np.mod(np.asarray(g["Coordinates"][...], np.float64) / 1000.0, hdr["box"])
        m = (np.asarray(g["Masses"][...], np.float64) * 1e10 if "Masses" in g
             else np.full(len(pos), hdr["mass_table"][ptype]))
    return pos, m


def complete_in_work(snaps, work, lya_sightlines=500, log=print):
    """Finish raw snapshots in ``work`` as the suite's post-processing would: completed header, HI, haloes.

    For a snapshot that exists only as Gadget-2's raw output (the suite's post-processing has not run
    yet), write ``work/<box>/<run>/snap_NNN.hdf5`` with :func:`ember_dist.sim.snapshots.finalize_snapshot`
    (for a hydro run with the HI of :func:`ember_dist.sim.lya.calibrated_hi_fields`, Gamma_HI calibrated
    to the observed mean flux, exactly as ``ember-dist simulate`` does) and its FoF + M200c catalogue,
    and point the entry there (``"completed_in_work": True``).  The suite folder is not written.
    """
    from ember_dist.sim.linear import suite_cosmology
    from ember_dist.sim.suite import finish_snapshot, snapshot_halos

    cosmo = suite_cosmology()
    out = []
    for s in snaps:
        if not s["raw"]:
            out.append(s)
            continue
        s = dict(s)
        z = float(s["params"]["redshifts"][s["index"]])
        dst = Path(work) / s["box"] / s["run"] / f"snap_{s['index']:03d}.hdf5"
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not dst.exists():
            finish_snapshot(s["path"], dst, run=s["run"], redshift=z, parameters=s["params"], cosmo=cosmo,
                            lya_sightlines=lya_sightlines,
                            completed_by="ember_dist.sim.validation (raw Gadget-2 output finished in the report's "
                                         "work folder)")
            log(f"  finished {s['box']}/{s['run']} snapshot {s['index']} in {dst.parent}")
        cat = dst.with_name(f"fof_{s['index']:03d}.h5")
        if s["fof"] is None and not cat.exists():
            snapshot_halos(dst, cat, z, cosmo, s["run"])
        s.update(path=dst, fof=s["fof"] or cat, raw=False, completed_in_work=True)
        out.append(s)
    return out
