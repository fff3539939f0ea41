# SPDX-License-Identifier: BSD-3-Clause
"""Run Gadget-2 on one set of initial conditions: parameter file, progress, logs, restart, checks.

One run lives in one folder::

    params.txt  outputs.txt   the parameter file and the output scale factors
    ics.hdf5                  initial conditions (:mod:`.ics`)
    output/                   Gadget's OutputDir: snapshot_NNN.hdf5, restart files, info/cpu/timings logs
    gadget.log                Gadget's standard output, appended over attempts
    RUN.json                  state: attempts, steps, wall time, "complete" once Gadget reached the end

A run is resumed from Gadget's own restart files (written every ``restart_every`` CPU seconds,
the previous set kept as ``.bak``); a restart file cut short by a kill (size differs from its
``.bak``) is replaced by the ``.bak`` first.  With no usable restart file the run starts again
from the initial conditions.  Gadget writes each snapshot inside the step loop *before* it writes
a restart file, so a snapshot older than the last restart file is whole; snapshots are only
handed on (:func:`finished_snapshots`) once Gadget has exited normally at the final time and each
file has been read back completely.
"""
from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np

from ember_dist.io.conventions import GADGET_UNITS

__all__ = ["write_parameter_file", "run_gadget", "finished_snapshots", "GadgetRunError", "read_state",
           "mpirun_command"]

_STEP = re.compile(r"Begin Step (\d+), Time: ([0-9.eE+-]+)")


class GadgetRunError(RuntimeError):
    """Gadget-2 exited with an error; the message quotes the end of its log."""


def write_parameter_file(folder, *, box_size, cosmo, a_begin, a_outputs, softening, hydro=True,
                         restart_every=120.0, max_timestep=0.025, pm_alloc=1.6):
    """Write ``params.txt`` and ``outputs.txt`` for a comoving periodic run (Gadget units: kpc/h,
    1e10 Msun/h, km/s).

    Parameters
    ----------
    folder : path
    box_size : float, ckpc/h
    cosmo : dict
        ``omega_m``, ``omega_b``, ``hubble``.
    a_begin : float
        Scale factor of the initial conditions.
    a_outputs : sequence of float
        Scale factors of the snapshots, increasing; the run ends at the last.
    softening : float, ckpc/h
        Comoving Plummer-equivalent softening of every species (also its maximum physical value).
    hydro : bool
        Gas present (SPH settings matter only then).
    restart_every : float, s
        CPU seconds between restart files.
    """
    folder = Path(folder)
    (folder / "output").mkdir(parents=True, exist_ok=True)
    a_outputs = [float(a) for a in a_outputs]
    (folder / "outputs.txt").write_text("".join(f"{a:.8f}\n" for a in a_outputs))
    p = {
        "InitCondFile": str(folder / "ics"), "OutputDir": str(folder / "output") + "/",
        "EnergyFile": "energy.txt", "InfoFile": "info.txt", "TimingsFile": "timings.txt", "CpuFile": "cpu.txt",
        "RestartFile": "restart", "SnapshotFileBase": "snapshot", "OutputListFilename": str(folder / "outputs.txt"),
        "ICFormat": 3, "SnapFormat": 3, "NumFilesPerSnapshot": 1, "NumFilesWrittenInParallel": 1,
        "TimeLimitCPU": 1.0e9, "ResubmitOn": 0, "ResubmitCommand": "none",
        "TimeBegin": a_begin, "TimeMax": a_outputs[-1], "ComovingIntegrationOn": 1, "PeriodicBoundariesOn": 1,
        "CoolingOn": 0, "StarformationOn": 0,
        "Omega0": cosmo["omega_m"], "OmegaLambda": 1.0 - cosmo["omega_m"],
        "OmegaBaryon": cosmo["omega_b"] if hydro else 0.0, "HubbleParam": cosmo["hubble"], "BoxSize": box_size,
        "OutputListOn": 1, "TimeBetSnapshot": 1.1, "TimeOfFirstSnapshot": a_outputs[0],
        "CpuTimeBetRestartFile": restart_every, "TimeBetStatistics": 0.05,
        "TypeOfTimestepCriterion": 0, "ErrTolIntAccuracy": 0.025, "MaxSizeTimestep": max_timestep,
        "MinSizeTimestep": 0.0, "ErrTolTheta": 0.5, "TypeOfOpeningCriterion": 1, "ErrTolForceAcc": 0.005,
        "TreeDomainUpdateFrequency": 0.1, "MaxRMSDisplacementFac": 0.2,
        "DesNumNgb": 33, "MaxNumNgbDeviation": 2, "ArtBulkViscConst": 0.8, "InitGasTemp": 0.0, "MinGasTemp": 5.0,
        "CourantFac": 0.15, "MinGasHsmlFractional": 0.25,
        "PartAllocFactor": pm_alloc, "TreeAllocFactor": 0.8, "BufferSize": 30,
        "UnitLength_in_cm": GADGET_UNITS["UnitLength_in_cm"], "UnitMass_in_g": GADGET_UNITS["UnitMass_in_g"],
        "UnitVelocity_in_cm_per_s": GADGET_UNITS["UnitVelocity_in_cm_per_s"], "GravityConstantInternal": 0,
    }
    for kind in ("Gas", "Halo", "Disk", "Bulge", "Stars", "Bndry"):
        p[f"Softening{kind}"] = softening
        p[f"Softening{kind}MaxPhys"] = softening
    # CoolingOn / StarformationOn are not Gadget-2 parameters: written as comments for the reader.
    lines = [f"% ember_dist: adiabatic run, no cooling, star formation or feedback (CoolingOn={p.pop('CoolingOn')}, "
             f"StarformationOn={p.pop('StarformationOn')})"]
    lines += [f"{k:28s} {v}" for k, v in p.items()]
    (folder / "params.txt").write_text("\n".join(lines) + "\n")
    return folder / "params.txt"


def mpirun_command(exe, params, ntasks, restart=False):
    """The ``mpirun`` command line (``--oversubscribe`` when more tasks than cores are asked)."""
    cmd = ["mpirun", "-np", str(int(ntasks))]
    if int(ntasks) > (os.cpu_count() or 1):
        cmd.append("--oversubscribe")
    cmd += [str(exe), str(params)]
    if restart:
        cmd.append("1")
    return cmd


def _mpi_env():
    env = dict(os.environ)
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI run as root; Open MPI refuses it unless told
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    env.setdefault("OMPI_MCA_btl_vader_single_copy_mechanism", "none")  # no CMA in containers
    env.setdefault("OMPI_MCA_rmaps_base_oversubscribe", "1")
    return env


def read_state(folder):
    path = Path(folder) / "RUN.json"
    return json.loads(path.read_text()) if path.exists() else {"attempts": [], "complete": False}


def _write_state(folder, state):
    path = Path(folder) / "RUN.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, path)


def _usable_restart(outdir, ntasks):
    """True when every task's restart file exists; repairs a cut-short file from its ``.bak``."""
    ok = True
    for t in range(int(ntasks)):
        f, bak = outdir / f"restart.{t}", outdir / f"restart.{t}.bak"
        if f.exists() and bak.exists() and f.stat().st_size != bak.stat().st_size:
            shutil.copyfile(bak, f)  # the newest was being written when the run stopped
        ok = ok and f.exists() and f.stat().st_size > 0
    return ok


def _clear_outputs(outdir):
    for p in outdir.iterdir():
        if p.is_file():
            p.unlink()


def run_gadget(folder, exe, *, ntasks=2, nice=10, progress=None, resume=True, log=print):
    """Run (or continue) Gadget-2 in ``folder`` until its final time.

    Parameters
    ----------
    folder : path
        Holds ``params.txt``, ``outputs.txt`` and ``ics.hdf5`` (:func:`write_parameter_file`).
    exe : path
        The Gadget-2 executable (:func:`ember_dist.sim.gadget_build.ensure_gadget2`).
    ntasks : int, default: 2
        MPI tasks (a restart must use the count that wrote it).
    nice : int, default: 10
        Niceness of the run (long jobs here run niced).
    progress : callable, optional
        ``progress(a)`` after each step with the current scale factor.
    resume : bool, default: True
        Continue from restart files when usable; else start from the initial conditions.

    Returns
    -------
    dict
        The run state (``RUN.json``): attempts with their wall time and steps, ``complete``.
    """
    folder = Path(folder).resolve()  # Gadget runs in the folder: every path it reads must be absolute
    outdir = folder / "output"
    state = read_state(folder)
    if state.get("complete"):
        return state
    if state["attempts"] and state.get("ntasks") not in (None, int(ntasks)):
        ntasks = state["ntasks"]  # restart files belong to the task count that wrote them
    restart = resume and bool(state["attempts"]) and _usable_restart(outdir, ntasks)
    try:
        _attempt(folder, exe, state, ntasks, nice, progress, restart, log)
    except GadgetRunError:
        if not restart:
            raise
        # a restart file cut short with no .bak to fall back on: the only clean way on is from the ICs
        log(f"continuing from the restart files failed in {folder}; starting again from the initial conditions")
        _attempt(folder, exe, state, ntasks, nice, progress, False, log)
    state["complete"] = True
    _write_state(folder, state)
    return state


def _raise_on_sigterm():
    """While Gadget-2 runs, SIGTERM (a batch system's time limit, ``kill``) stops it too: Gadget-2 runs
    in its own session, so without this it would outlive us.  Returns the previous handler."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def stop(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    return signal.signal(signal.SIGTERM, stop)


def _attempt(folder, exe, state, ntasks, nice, progress, restart, log):
    """One Gadget-2 process: from the ICs (outputs cleared) or from the restart files."""
    outdir = folder / "output"
    if not restart:
        _clear_outputs(outdir)
    cmd = ["nice", "-n", str(int(nice))] + mpirun_command(exe, folder / "params.txt", ntasks, restart=restart)
    attempt = {"restart": restart, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "steps": 0}
    state.update(ntasks=int(ntasks), complete=False)
    state["attempts"].append(attempt)
    _write_state(folder, state)
    log(("continuing" if restart else "starting") + f" Gadget-2 in {folder} ({ntasks} MPI tasks)")
    t0 = time.perf_counter()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    tail = []
    with open(folder / "gadget.log", "a") as logf:
        logf.write(f"\n==== {' '.join(cmd)}\n")
        proc = subprocess.Popen(cmd, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=_mpi_env(), start_new_session=True)
        old_term = _raise_on_sigterm()
        try:
            for line in proc.stdout:
                logf.write(line)
                tail = (tail + [line.rstrip()])[-30:]
                m = _STEP.search(line)
                if m:
                    attempt["steps"] = int(m.group(1))
                    if progress is not None:
                        progress(float(m.group(2)))
            rc = proc.wait()
        except BaseException:
            os.killpg(proc.pid, signal.SIGTERM)  # mpirun and every task, not just the launcher
            proc.wait()
            attempt["wall_s"] = round(time.perf_counter() - t0, 1)
            attempt["interrupted"] = True
            _write_state(folder, state)
            raise
        finally:
            if old_term is not None:
                signal.signal(signal.SIGTERM, old_term)
    attempt["wall_s"] = round(time.perf_counter() - t0, 1)
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # mpirun reaps the tasks: their CPU time rolls up
    attempt["cpu_s"] = round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 1)
    attempt["exit_code"] = rc
    try:
        if rc != 0:
            raise GadgetRunError(f"exit code {rc}")
        _check_snapshots(folder)  # Gadget-2 exits with 0 after many fatal errors: trust only its outputs
    except GadgetRunError as exc:
        _write_state(folder, state)
        raise GadgetRunError(f"Gadget-2 failed in {folder} ({exc}); the end of gadget.log:\n"
                             + "\n".join(tail[-15:])) from None


def finished_snapshots(folder):
    """Snapshot files of a complete run, each read back whole; raises if one is missing or short."""
    folder = Path(folder)
    state = read_state(folder)
    if not state.get("complete"):
        raise GadgetRunError(f"the run in {folder} has not finished; resume it before using its snapshots")
    return _check_snapshots(folder)


def _check_snapshots(folder):
    """Every snapshot of ``outputs.txt`` exists at its time and reads back whole."""
    a_out = [float(x) for x in (folder / "outputs.txt").read_text().split()]
    paths = []
    for i, a in enumerate(a_out):
        p = folder / "output" / f"snapshot_{i:03d}.hdf5"
        if not p.exists():
            raise GadgetRunError(f"{p.name} (a = {a:g}) was not written")
        with h5py.File(p, "r") as h:
            npart = np.asarray(h["Header"].attrs["NumPart_ThisFile"])
            if abs(float(h["Header"].attrs["Time"]) - a) > 1e-3 * a:
                raise GadgetRunError(f"{p} is at a = {h['Header'].attrs['Time']}, expected {a}")
            for t, cnt in enumerate(npart):
                if cnt:
                    for name, ds in h[f"PartType{t}"].items():
                        if ds.shape[0] != cnt:
                            raise GadgetRunError(f"{p}: PartType{t}/{name} has {ds.shape[0]} rows, expected {cnt}")
                        ds[-1]  # the last row must be readable
        paths.append(p)
    return paths
