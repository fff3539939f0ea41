# SPDX-License-Identifier: BSD-3-Clause
"""``simulate``: one paired box (Gadget-2 hydro + dark-matter-only) from ICs to snapshots and haloes.

Stages, each skipped when its output exists (outputs are written atomically), so a run killed
at any point continues with ``resume=True``::

    OUT/simulation.json                 parameters, cosmology, assumptions, cost estimate, timings
    OUT/hydro/gadget/  OUT/dmo/gadget/  Gadget-2 run folders (ICs, params, output/, gadget.log, RUN.json)
    OUT/hydro/snap_NNN.hdf5             gas + dark matter, header completed, HI post-processed (.hi)
    OUT/dmo/snap_NNN.hdf5               dark matter only, same initial particles
    OUT/{hydro,dmo}/fof_NNN.h5          FoF (b = 0.2) + M200c catalogues (:mod:`.halos`)

``NNN`` follows the requested redshifts in order (decreasing).  ``dm_only=True`` runs the DMO
box alone (the large application box).
"""
from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from ember_dist.io.conventions import utc_now
from ember_dist.sim.cost import check_affordable, estimate_cost
from ember_dist.sim.gadget_build import ensure_gadget2
from ember_dist.sim.gadget_run import finished_snapshots, run_gadget, write_parameter_file
from ember_dist.sim.linear import suite_cosmology

__all__ = ["simulate", "SimulationError", "ASSUMPTIONS", "finish_snapshot", "snapshot_halos"]

ASSUMPTIONS = (
    "Gadget-2 (Springel 2005) TreePM gravity + entropy-conserving SPH, adiabatic: no radiative cooling, "
    "no UV photo-heating, no star formation, no feedback in the run; the photo-heated temperature floor, the "
    "cooling stand-in for dense gas and the HI fraction are imposed afterwards (ember_dist.sim.hi). "
    "Initial conditions: 2LPT of CAMB's linear total-matter spectrum (Planck 2015, sigma8 0.8159, massless "
    "neutrinos) at z_init, baryons and dark matter displaced alike (single fluid), gas on the half-cell-shifted "
    "lattice. The dark-matter-only run starts from the same dark-matter particles with the full matter mass."
)


class SimulationError(ValueError):
    """Bad arguments or an output that must not be touched; says what to change."""


def _validate(out, n, box_size, redshifts, z_init, resume, overwrite, parent_n=None):
    if int(n) != n or n < 8:
        raise SimulationError(f"--n {n!r}: particles per side must be an integer >= 8 (e.g. --n 32)")
    if parent_n is not None and (int(parent_n) != parent_n or parent_n < n):
        raise SimulationError(f"--parent-n {parent_n!r}: the box this run is a lower-resolution twin of must have at "
                              f"least --n {n} particles per side (e.g. --n 20 --parent-n 40)")
    if not box_size > 0:
        raise SimulationError(f"--box-size {box_size!r}: the box side must be positive, in ckpc/h (e.g. 8000)")
    zs = [float(z) for z in redshifts]
    if not zs:
        raise SimulationError("--redshifts: give at least one output redshift (e.g. --redshifts 3 2)")
    if any(b >= a for a, b in zip(zs, zs[1:])):
        raise SimulationError(f"--redshifts {' '.join(map(str, redshifts))}: must be strictly decreasing (e.g. 3 2)")
    if zs[0] >= z_init or zs[-1] < 0:
        raise SimulationError(f"--redshifts: every output must lie in [0, z_init = {z_init:g}); got {zs}")
    if resume and overwrite:
        raise SimulationError("pass either --resume (continue the run in OUT) or --overwrite (delete it), not both")
    meta = Path(out) / "simulation.json"
    if Path(out).exists() and any(Path(out).iterdir()) and not (resume or overwrite):
        what = "a simulation" if meta.exists() else "files"
        raise SimulationError(f"{out} already holds {what}: pass --resume to continue it or --overwrite to "
                              "delete it and start again (or choose another OUT)")
    if resume and Path(out).exists() and not meta.exists() and any(Path(out).iterdir()):
        raise SimulationError(f"--resume: {out} holds no simulation.json, so it is not an ember_dist simulation; "
                              "choose another OUT")
    return zs


def _params(n, box_size, zs, seed, z_init, dm_only, order, parent_n=None):
    return {"n": int(n), "box_size": float(box_size), "redshifts": zs, "seed": int(seed), "z_init": float(z_init),
            "dm_only": bool(dm_only), "lpt_order": int(order),
            "parent_n": None if parent_n is None or int(parent_n) == int(n) else int(parent_n)}


class _Progress:
    """One tqdm bar per Gadget run, in log(a) from the ICs to the last output."""

    def __init__(self, label, a0, a1, enabled):
        self.enabled = enabled
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=1000, desc=label, unit="", bar_format="{desc}{postfix}: {percentage:3.0f}%|{bar}| "
                            "[{elapsed}<{remaining}]", file=sys.stderr)
            self.a0, self.span = math.log(a0), math.log(a1 / a0)

    def __call__(self, a):
        if self.enabled:
            done = int(1000 * (math.log(a) - self.a0) / self.span)
            self.bar.update(max(0, min(done, 1000) - self.bar.n))
            self.bar.set_postfix_str(f"z = {1 / a - 1:.2f}", refresh=False)

    def close(self):
        if self.enabled:
            self.bar.close()


def simulate(out, n=32, box_size=8000.0, redshifts=(3.0, 2.0), seed=0, *, z_init=49.0, dm_only=False,
             parent_n=None, ntasks=2, pmgrid=None, lpt_order=2, resume=False, overwrite=False, force=False, max_hours=2.0,
             nice=10, progress=True, postprocess=True, until=None, restart_every=120.0, lya_sightlines=500,
             gamma_scale=None, log=print):
    """Run one paired box (or a DMO box) and write snapshots and halo catalogues under ``out``.

    Parameters
    ----------
    out : path
    n : int, default: 32
        Particles per side and species.
    box_size : float, ckpc/h, default: 8000
    redshifts : sequence of float, default: (3, 2)
        Output redshifts, decreasing.
    seed : int, default: 0
        White-noise seed of the initial conditions.
    z_init : float, default: 49
    dm_only : bool, default: False
        Run only the dark-matter-only box.
    parent_n : int, optional
        Make this box a lower-resolution twin of the ``parent_n^3`` box of the same ``seed``: the white
        noise is drawn on that lattice and the modes ``n^3`` resolves are kept
        (:func:`ember_dist.sim.lpt.white_noise_k`), so both boxes share their large-scale structure.
    ntasks : int, default: 2
        MPI tasks per run.
    pmgrid : int, optional
        Particle-mesh cells per side (default ``2 n``, at most 512).
    lpt_order : {1, 2}, default: 2
    resume, overwrite : bool
        Continue the run in ``out`` / delete it first; one is needed when ``out`` is not empty.
    force : bool
        Run even when the estimate says it cannot finish in ``max_hours`` or this machine's memory.
    max_hours : float, default: 2
    nice : int, default: 10
    postprocess : bool, default: True
        Temperature floor and HI of the hydro snapshots (:mod:`ember_dist.sim.hi`) and halo catalogues.
    lya_sightlines : int, default: 500
        Sightlines of the mean-flux calibration of Gamma_HI (:func:`ember_dist.sim.lya.calibrated_hi_fields`).
    gamma_scale : sequence of float, optional
        One Gamma_HI scale per output redshift, used as given (a suite calibrated once on its training
        boxes, e.g. ``recipe.SUITE["gamma_hi_scale"]``).  Default: each snapshot is calibrated to the
        observed mean flux on its own, which in a small box absorbs its cosmic variance into the UV
        background (boxes of one suite then differ in HI per unit density by ~20%).
    restart_every : float, s, default: 120
        Seconds between Gadget-2's restart files (what a killed run loses at most).
    until : {None, "runs"}
        ``"runs"`` stops after the Gadget-2 runs (a later ``resume=True`` call finishes the rest).

    Returns
    -------
    dict
        The contents of ``simulation.json``.
    """
    zs = _validate(out, n, box_size, redshifts, z_init, resume, overwrite, parent_n)
    if gamma_scale is not None:
        gamma_scale = [float(g) for g in gamma_scale]
        if len(gamma_scale) != len(zs) or not all(g > 0 for g in gamma_scale):
            raise SimulationError(f"--gamma-scale: give one positive Gamma_HI scale per redshift ({len(zs)} for "
                                  f"--redshifts {' '.join(f'{z:g}' for z in zs)}); got {gamma_scale}")
    out = Path(out).resolve()
    cosmo = suite_cosmology()
    params = _params(n, box_size, zs, seed, z_init, dm_only, lpt_order, parent_n)
    meta_path = out / "simulation.json"
    if resume and meta_path.exists():
        old = json.loads(meta_path.read_text())["parameters"]
        diff = [f"--{k.replace('_', '-')} {old.get(k)!r} in the run, {params[k]!r} now" for k in params
                if old.get(k) != params[k]]
        if diff:
            raise SimulationError(f"--resume: {out} was started with other settings ({'; '.join(diff)}); "
                                  "repeat the original options or pass --overwrite to start again")
    runs = ["dmo"] if dm_only else ["hydro", "dmo"]
    pmgrid = int(pmgrid or min(2 * int(n), 512))
    # a run whose post-processed snapshots are all there is done, with or without its Gadget-2 folder (which a
    # committed suite box or a fresh clone does not have): it is not run again, and its timings stay
    done = set() if overwrite else {r for r in runs if all((out / r / f"snap_{i:03d}.hdf5").exists()
                                                          for i in range(len(zs)))}
    todo = [r for r in runs if r not in done]
    estimates = {r: estimate_cost(n, box_size, zs[-1], hydro=(r == "hydro"), z_init=z_init, pmgrid=pmgrid,
                                  ntasks=ntasks) for r in runs}
    budget = check_affordable([estimates[r] for r in todo] or list(estimates.values()), max_hours=max_hours,
                              ntasks=ntasks, force=force or not todo)
    exe = ensure_gadget2(pmgrid, log=log) if todo else None  # before any long work: a missing compiler is said now
    if overwrite and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {
        "parameters": params, "cosmology": cosmo, "assumptions": ASSUMPTIONS, "created": utc_now(),
        "code": {"gadget2": str(exe), "pmgrid": pmgrid, "ntasks": ntasks}, "estimate": estimates,
        "budget": budget, "timings": {}, "package": "ember_dist.sim.simulate"}
    _save(meta_path, meta)
    log(f"simulate: {' + '.join(runs)}, {'2x' if not dm_only else ''}{n}^3 particles, "
        f"{box_size / 1000:g} Mpc/h, z = {z_init:g} -> {', '.join(f'{z:g}' for z in zs)}; estimated "
        f"{budget['wall_seconds'] / 60:.0f} min on {ntasks} cores, {budget['memory_bytes'] / 2**30:.1f} GiB")
    if todo:
        _initial_conditions(out, todo, params, cosmo, meta, meta_path, log)
    soft = box_size / n / 30.0
    for r in todo:
        folder = out / r / "gadget"
        if not (folder / "params.txt").exists():
            write_parameter_file(folder, box_size=box_size, cosmo=cosmo, a_begin=1 / (1 + z_init),
                                 a_outputs=[1 / (1 + z) for z in zs], softening=soft, hydro=(r == "hydro"),
                                 restart_every=restart_every)
        bar = _Progress(f"Gadget-2 {r}", 1 / (1 + z_init), 1 / (1 + zs[-1]), progress)
        t0 = time.perf_counter()
        try:
            state = run_gadget(folder, exe, ntasks=ntasks, nice=nice, progress=bar, resume=True, log=log)
        finally:
            bar.close()
        meta["timings"][f"gadget_{r}"] = {"wall_s": sum(a.get("wall_s", 0) for a in state["attempts"]),
                                          "cpu_s": sum(a.get("cpu_s", 0) for a in state["attempts"]),
                                          "steps": state["attempts"][-1].get("steps"), "attempts": len(state["attempts"])}
        if time.perf_counter() - t0 > 1:
            _save(meta_path, meta)
    if until == "runs":
        return meta
    wrote = _finalize(out, runs, zs, cosmo, meta, meta_path, postprocess, lya_sightlines, log, gamma_scale)
    if wrote or not meta.get("complete"):  # a resume with nothing left to write keeps the time it finished
        meta["complete"] = True
        meta["finished"] = utc_now()
    _save(meta_path, meta)
    return meta


def _save(path, meta):
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2, default=float))
    os.replace(tmp, path)


def _initial_conditions(out, runs, params, cosmo, meta, meta_path, log):
    from ember_dist.sim.ics import make_initial_conditions, write_ic_file

    todo = [r for r in runs if not (out / r / "gadget" / "ics.hdf5").exists()]
    if not todo:
        return
    p = params
    twin = f", phases of the {p['parent_n']}^3 box" if p["parent_n"] else ""
    log(f"initial conditions: 2LPT at z = {p['z_init']:g} from CAMB (seed {p['seed']}{twin}) ...")
    t0 = time.perf_counter()
    ic = make_initial_conditions(p["n"], p["box_size"], p["seed"], p["z_init"], cosmo=cosmo, order=p["lpt_order"],
                                 parent_n=p["parent_n"])
    for r in todo:
        (out / r / "gadget").mkdir(parents=True, exist_ok=True)
        write_ic_file(out / r / "gadget" / "ics.hdf5", ic["header"], ic[r])
    meta["ics"] = ic["meta"]
    meta["timings"]["ics_s"] = round(time.perf_counter() - t0, 1)
    _save(meta_path, meta)


def finish_snapshot(src, dst, *, run, redshift, parameters, cosmo, hi=True, lya_sightlines=500, gamma_scale=None,
                    **extra_meta):
    """Write the suite's snapshot ``dst`` from Gadget-2's ``src``: completed header, the run's metadata and,
    for a hydro run with ``hi``, the HI fields with Gamma_HI calibrated to the observed mean flux (or scaled
    by ``gamma_scale`` when given: see :func:`ember_dist.sim.lya.calibrated_hi_fields`).

    Returns the HI post-processing record (``None`` when no HI was computed).
    """
    from ember_dist.sim.snapshots import finalize_snapshot

    info = {"run": run, "redshift": redshift, "assumptions": ASSUMPTIONS, "parameters": parameters, **extra_meta}
    fields = None
    if run == "hydro" and hi:
        from ember_dist.sim.lya import calibrated_hi_fields

        fields, info["postprocess"] = calibrated_hi_fields(src, redshift=redshift, omega_b=cosmo["omega_b"],
                                                           n_sightlines=lya_sightlines, gamma_scale=gamma_scale)
    finalize_snapshot(src, dst, omega_b=cosmo["omega_b"], meta=info, gas_fields=fields)
    return info.get("postprocess")


def refresh_hi(snap, gamma_scale, *, lya_sightlines=500, log=print):
    """Recompute the HI of a finished hydro snapshot with the fixed Gamma_HI scale ``gamma_scale``.

    The post-processing reads only what Gadget-2 wrote (``Density``, ``InternalEnergy``, ...), so a
    finished snapshot can be post-processed again; the file is rewritten whole (``.tmp``, then renamed)
    with the new ``Temperature``, ``NeutralHydrogenAbundance``, ``ElectronAbundance`` and record.
    Nothing is done when the snapshot already holds that scale.  Returns the new record (or None).
    """
    import h5py

    from ember_dist.sim.lya import calibrated_hi_fields
    from ember_dist.sim.snapshots import finalize_snapshot

    snap = Path(snap)
    with h5py.File(snap, "r") as f:
        info = {k: (json.loads(v) if isinstance(v, str) and v[:1] in "[{" else v)  # finalize_snapshot's JSON
                for k, v in f["EmberSim"].attrs.items()}
        omega_b = float(f["Header"].attrs["OmegaBaryon"])
    old = info.get("postprocess", {}).get("gamma_calibration", {})
    if abs(old.get("gamma_scale", 0.0) / float(gamma_scale) - 1.0) < 1e-9:  # the fields depend only on the scale
        return None
    fields, info["postprocess"] = calibrated_hi_fields(snap, redshift=float(info["redshift"]), omega_b=omega_b,
                                                       n_sightlines=lya_sightlines, gamma_scale=gamma_scale)
    info["postprocess"]["gamma_calibration"]["previous_gamma_scale"] = old.get("gamma_scale")
    finalize_snapshot(snap, snap, omega_b=omega_b, meta=info, gas_fields=fields)
    cal = info["postprocess"]["gamma_calibration"]
    was = old.get("gamma_scale", float("nan"))
    log(f"{snap}: HI again with Gamma_HI x {cal['gamma_scale']:.4f} (was x {was:.4f}): "
        f"mean Lyman-alpha flux {cal['flux_calibrated']:.3f} (observed {cal['target_flux']:.3f})")
    return info["postprocess"]


def _finalize(out, runs, zs, cosmo, meta, meta_path, postprocess, lya_sightlines, log, gamma_scale=None):
    """Write the missing snapshots and halo catalogues of ``runs``; returns whether it wrote any."""
    wrote = False
    for r in runs:
        srcs = None  # Gadget-2's output is read only for a snapshot still to write (a finished box may not keep it)
        for i, z in enumerate(zs):
            dst = out / r / f"snap_{i:03d}.hdf5"
            if not dst.exists():
                srcs = finished_snapshots(out / r / "gadget") if srcs is None else srcs
                src = srcs[i]
                t0 = time.perf_counter()
                hi_meta = finish_snapshot(src, dst, run=r, redshift=z, parameters=meta["parameters"], cosmo=cosmo,
                                          hi=postprocess, lya_sightlines=lya_sightlines,
                                          gamma_scale=None if gamma_scale is None else gamma_scale[i])
                if hi_meta:
                    cal = hi_meta["gamma_calibration"]
                    log(f"HI at z = {z:g}: Gamma_HI x {cal['gamma_scale']:.3f} gives mean Lyman-alpha flux "
                        f"{cal['flux_calibrated']:.3f} (observed {cal['target_flux']:.3f})")
                meta["timings"][f"finalize_{r}_{i:03d}_s"] = round(time.perf_counter() - t0, 1)
                log(f"wrote {dst}")
                wrote = True
            cat = out / r / f"fof_{i:03d}.h5"
            if postprocess and not cat.exists():
                t0 = time.perf_counter()
                snapshot_halos(dst, cat, z, cosmo, r)
                meta["timings"][f"halos_{r}_{i:03d}_s"] = round(time.perf_counter() - t0, 1)
                log(f"wrote {cat}")
                wrote = True
        if wrote:
            _save(meta_path, meta)
    return wrote


def snapshot_halos(snap, cat_path, z, cosmo, run):
    """FoF + M200c catalogue of a finished snapshot, written to ``cat_path`` (:mod:`ember_dist.sim.halos`)."""
    from ember_dist.io.snapshot import open_snapshot
    from ember_dist.sim.halos import halo_catalogue_of, write_catalogue

    s = open_snapshot(snap)
    dm = np.asarray(s.positions(1).compute())
    m_dm = float(s.header.mass_table[1])
    gas = gas_m = None
    if s.count(0):
        gas = np.asarray(s.positions(0).compute())
        gas_m = float(s.header.mass_table[0]) or float(s.masses(0)[0].compute())
    cat = halo_catalogue_of(dm, m_dm, s.header.box_size, z, cosmo["omega_m"], other_pos=gas, other_mass=gas_m)
    write_catalogue(cat_path, cat, redshift=z, box_size=s.header.box_size, run=run)
