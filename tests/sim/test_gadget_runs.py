"""A real Gadget-2 paired box (2x16^3, 8 Mpc/h, z = 49 -> 3): masses, shared initial particles,
snapshot reading and mass-exact deposit, halo catalogues, and a killed run resumed."""
import json
import os
import signal
import subprocess
import sys
import time
import warnings

import h5py
import numpy as np
import pytest

from ember_dist.io.conventions import PLANCK15, RHO_CRIT
from tests.conftest import as_from_a_terminal

BOX, N = 8000.0, 16


@pytest.fixture(scope="module")
def box(gadget2, tmp_path_factory):
    from ember_dist.sim.suite import simulate

    out = tmp_path_factory.mktemp("sim") / "box"
    meta = simulate(out, n=N, box_size=BOX, redshifts=(4.0, 3.0), seed=3, pmgrid=32, progress=False,
                    lya_sightlines=100, log=lambda m: None)
    return out, meta


def test_build_is_cached_with_its_options(gadget2):
    from ember_dist.sim.gadget_build import build_options, ensure_gadget2

    info = json.loads((gadget2.parent / "BUILD.json").read_text())
    assert info["options"] == build_options(32) and "-DPERIODIC" in info["options"]
    t0 = time.perf_counter()
    assert ensure_gadget2(32) == gadget2 and time.perf_counter() - t0 < 1.0  # cached, not rebuilt


def test_total_mass_and_shared_initial_particles(box):
    out, meta = box
    expect = PLANCK15["omega_m"] * RHO_CRIT * BOX**3
    with h5py.File(out / "hydro" / "gadget" / "ics.hdf5") as h, h5py.File(out / "dmo" / "gadget" / "ics.hdf5") as d:
        mt_h, mt_d = h["Header"].attrs["MassTable"], d["Header"].attrs["MassTable"]
        assert (mt_h[0] + mt_h[1]) * 1e10 * N**3 == pytest.approx(expect, rel=1e-10)
        assert mt_d[1] * 1e10 * N**3 == pytest.approx(expect, rel=1e-10)
        assert mt_h[0] / (mt_h[0] + mt_h[1]) == pytest.approx(PLANCK15["omega_b"] / PLANCK15["omega_m"], rel=1e-12)
        assert np.array_equal(h["PartType1/Coordinates"][...], d["PartType1/Coordinates"][...])
        assert np.array_equal(h["PartType1/Velocities"][...], d["PartType1/Velocities"][...])
        assert np.array_equal(h["PartType1/ParticleIDs"][...], d["PartType1/ParticleIDs"][...])
        # gas sits half a cell away from the dark matter on every axis, before displacement
        assert "PartType0" in h and "PartType0" not in d
    assert meta["complete"] and meta["parameters"]["seed"] == 3


def test_snapshots_read_and_deposit_mass_exactly(box, tmp_path):
    from ember_dist.deposit.api import deposit_snapshot
    from ember_dist.io.snapshot import open_snapshot

    out, _ = box
    expect = PLANCK15["omega_m"] * RHO_CRIT * BOX**3
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # units are in the header now: no "assuming kpc/h" warning
        hyd = open_snapshot(out / "hydro" / "snap_001.hdf5")
        dmo = open_snapshot(out / "dmo" / "snap_001.hdf5")
    assert hyd.header.redshift == pytest.approx(3.0, abs=1e-6) and hyd.header.omega_b == PLANCK15["omega_b"]
    total = float(hyd.masses(0).sum().compute() + hyd.masses(1).sum().compute())
    assert total == pytest.approx(expect, rel=1e-6)
    assert float(dmo.masses(1).sum().compute()) == pytest.approx(expect, rel=1e-6)
    ds = deposit_snapshot(out / "hydro" / "snap_001.hdf5", tmp_path / "maps.zarr", pixel=BOX / 64, align=16,
                          slabs=1, axes=("z",), fields=("dm", "gas", "hi"))
    assert float(ds["gas"].sum()) == pytest.approx(float(hyd.masses(0).sum().compute()), rel=1e-5)
    assert float(ds["dm"].sum()) == pytest.approx(float(hyd.masses(1).sum().compute()), rel=1e-5)
    with h5py.File(out / "hydro" / "snap_001.hdf5") as f:
        x = f["PartType0/NeutralHydrogenAbundance"][...]
        m_gas = f["Header"].attrs["MassTable"][0] * 1e10
        assert np.all((x >= 0) & (x <= 1)) and "EmberSim" in f
        cal = json.loads(f["EmberSim"].attrs["postprocess"])["gamma_calibration"]
        assert cal["flux_calibrated"] == pytest.approx(cal["target_flux"], abs=0.02)  # Gamma_HI set by the mean flux
    from ember_dist.io.conventions import X_H

    assert float(ds["hi"].sum()) == pytest.approx(m_gas * X_H * x.astype(np.float64).sum(), rel=1e-4)


def test_halo_catalogues_beside_each_snapshot(box):
    from ember_dist.stats.halos import read_halo_catalogue

    out, _ = box
    for run in ("hydro", "dmo"):
        cat = read_halo_catalogue(out / run / "fof_001.h5")
        with h5py.File(out / run / "fof_001.h5") as f:
            assert f.attrs["b"] == 0.2 and f.attrs["n_fof"] >= f.attrs["n_m200c"]
        if cat.sizes["halo"]:
            assert np.all(np.diff(cat["mass"].values) <= 0) and np.all(cat["r_vir"].values > 0)


def test_killed_run_resumes_and_no_half_snapshot_is_used(gadget2, tmp_path):
    """SIGINT the CLI once Gadget-2 has written restart files; --resume finishes the run."""
    from ember_dist.sim.gadget_run import GadgetRunError, finished_snapshots

    out = tmp_path / "dmo"
    cmd = [sys.executable, "-m", "ember_dist.cli", "simulate", str(out), "--n", "16", "--box-size", "8000",
           "--redshifts", "3", "--dm-only", "--pmgrid", "32", "--seed", "5", "--no-postprocess"]
    folder = out / "dmo" / "gadget"
    proc = subprocess.Popen(as_from_a_terminal(cmd + ["--restart-every", "0.5"]), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not (folder / "output" / "restart.0").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "--resume" in err.strip().splitlines()[-1]
    with pytest.raises(GadgetRunError, match="has not finished"):
        finished_snapshots(folder)  # whatever Gadget left is not handed on
    r = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    state = json.loads((folder / "RUN.json").read_text())
    assert state["complete"] and state["attempts"][-1]["restart"] is True
    with h5py.File(out / "dmo" / "snap_000.hdf5") as f:
        assert f["Header"].attrs["Redshift"] == pytest.approx(3.0, abs=1e-6)
        assert f["PartType1/Coordinates"].shape == (16**3, 3)
    # a --resume of the finished run changes nothing it recorded (it is when it finished, not when it was asked)
    meta = (out / "simulation.json").read_text()
    r = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (out / "simulation.json").read_text() == meta
    # a --resume that has something to write again (a deleted snapshot) records when it finished that
    stale = json.loads(meta)
    stale["finished"] = "2000-01-01T00:00:00+00:00"
    (out / "simulation.json").write_text(json.dumps(stale))
    (out / "dmo" / "snap_000.hdf5").unlink()
    r = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (out / "dmo" / "snap_000.hdf5").is_file()
    assert json.loads((out / "simulation.json").read_text())["finished"] > "2026"


def test_low_resolution_twin_shares_the_boxs_large_scales(box, tmp_path):
    """An 8^3 dark-matter-only twin of the 16^3 box (``parent_n``): particles 8x heavier, the same total mass,
    and at z = 3 the same density field on the box's largest scales (cross-correlation of the 8^3 density
    grids at the fundamental modes, which both lattices resolve), not on the smallest."""
    from ember_dist.sim.suite import simulate

    out, _ = box
    twin = tmp_path / "twin"
    meta = simulate(twin, n=N // 2, box_size=BOX, redshifts=(4.0, 3.0), seed=3, parent_n=N, dm_only=True, pmgrid=32,
                    progress=False, log=lambda m: None)
    assert meta["complete"] and meta["parameters"]["parent_n"] == N and meta["ics"]["phases_of_n"] == N
    fields = []
    for path in (out / "dmo" / "snap_001.hdf5", twin / "dmo" / "snap_001.hdf5"):
        with h5py.File(path) as f:
            pos, m = f["PartType1/Coordinates"][...], f["Header"].attrs["MassTable"][1]
            fields.append((len(pos), m, np.histogramdd(np.mod(pos, BOX), bins=(8,) * 3, range=[(0, BOX)] * 3)[0]))
    (n_p, m_p, g_p), (n_t, m_t, g_t) = fields
    assert (n_p, n_t) == (N**3, (N // 2) ** 3) and m_t == pytest.approx(8 * m_p, rel=1e-12)
    fp, ft = np.fft.rfftn(g_p / g_p.mean() - 1), np.fft.rfftn(g_t / g_t.mean() - 1)
    k = np.sqrt(np.fft.fftfreq(8, 1 / 8)[:, None, None] ** 2 + np.fft.fftfreq(8, 1 / 8)[None, :, None] ** 2
                + np.fft.rfftfreq(8, 1 / 8)[None, None, :] ** 2)

    def r(sel):
        return (fp[sel] * ft[sel].conj()).real.sum() / np.sqrt((abs(fp[sel]) ** 2).sum() * (abs(ft[sel]) ** 2).sum())

    # measured 0.974 (the twin's 512 particles put ~1 in a cell: shot noise) and 0.645 at k >= 3 fundamentals
    assert r((k > 0) & (k < 1.5)) > 0.9  # the same structures
    assert r(k >= 3) < 0.8  # the twin lacks the parent's smallest scales
    other = simulate(tmp_path / "other", n=N // 2, box_size=BOX, redshifts=(4.0, 3.0), seed=4, dm_only=True,
                     pmgrid=32, progress=False, log=lambda m: None)
    assert other["complete"]
    with h5py.File(tmp_path / "other" / "dmo" / "snap_001.hdf5") as f:
        g_o = np.histogramdd(np.mod(f["PartType1/Coordinates"][...], BOX), bins=(8,) * 3, range=[(0, BOX)] * 3)[0]
    fo = np.fft.rfftn(g_o / g_o.mean() - 1)
    sel = (k > 0) & (k < 1.5)
    r_other = (fp[sel] * fo[sel].conj()).real.sum() / np.sqrt((abs(fp[sel]) ** 2).sum() * (abs(fo[sel]) ** 2).sum())
    assert abs(r_other) < 0.6  # an unrelated seed: no such correlation (measured 0.258)


def test_resume_of_a_finished_box_without_its_gadget_folders_runs_nothing(box, tmp_path):
    """A committed suite box (or a fresh clone's) keeps only the post-processed snapshots: --resume must not run
    Gadget-2 again from new initial conditions, nor overwrite the recorded timings."""
    import shutil

    from ember_dist.sim.suite import simulate

    out, _ = box
    copy = tmp_path / "box"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("gadget"))
    before = (copy / "simulation.json").read_text()
    t0 = time.perf_counter()
    meta = simulate(copy, n=N, box_size=BOX, redshifts=(4.0, 3.0), seed=3, pmgrid=32, progress=False, resume=True,
                    lya_sightlines=100, log=lambda m: None)
    assert time.perf_counter() - t0 < 20  # measured ~1 s; one Gadget-2 run of this box takes longer
    assert meta["complete"] and not (copy / "hydro" / "gadget").exists() and not (copy / "dmo" / "gadget").exists()
    assert (copy / "simulation.json").read_text() == before
