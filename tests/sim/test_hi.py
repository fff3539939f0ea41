# SPDX-License-Identifier: BSD-3-Clause
"""HI post-processing: analytic limits of the ionisation equilibrium, the temperature rules, the UV
background table, and a Gadget-2-layout snapshot post-processed, read back and deposited."""
import hashlib
import os
import warnings

import h5py
import numpy as np
import pytest

from ember_dist.io.conventions import K_B_CGS, M_P_G, RHO_CRIT, X_H
from ember_dist.sim import hi

Y = (1 - X_H) / (4 * X_H)  # n_He / n_H


def _alpha_a_hii(t):  # Hui & Gnedin (1997) case A, written out independently of the module
    lam = 315614.0 / t
    return 1.269e-13 * lam**1.503 / (1 + (lam / 0.522) ** 0.470) ** 1.923


def _coll_h0(t):  # Cen (1992) / Katz et al. (1996) table 2
    return 5.85e-11 * np.sqrt(t) * np.exp(-157809.1 / t) / (1 + np.sqrt(t / 1e5))


# ---------------------------------------------------------------- UV background table
@pytest.mark.parametrize("uvb, row", [("fg20", 0), ("fg20", 255), ("fg20", 300), ("hm12", 20), ("hm12", 29)])
def test_table_value_at_a_tabulated_redshift(uvb, row):
    path = os.path.join(os.path.dirname(hi.__file__), "data", hi.UVB_TABLES[uvb][0])
    tab = np.loadtxt(path)
    z = 10 ** tab[row, 0] - 1
    np.testing.assert_allclose(hi.uvb_rates(z, uvb), tab[row, 1:4], rtol=1e-12)
    # between two rows: between their values
    zm = 10 ** (0.5 * (tab[row, 0] + tab[row + 1, 0])) - 1
    g = hi.uvb_rates(zm, uvb)
    assert np.all(g >= np.minimum(tab[row, 1:4], tab[row + 1, 1:4]))
    assert np.all(g <= np.maximum(tab[row, 1:4], tab[row + 1, 1:4]))


def test_table_published_magnitudes_and_range():
    # FG20 and HM12 Gamma_HI at z = 2-3 are ~1e-12 1/s (their papers' fig. of Gamma_HI(z))
    for z in (2.0, 3.0):
        for uvb in ("fg20", "hm12"):
            assert 5e-13 < hi.uvb_rates(z, uvb)[0] < 1.5e-12
    with pytest.raises(ValueError, match="outside the 'hm12' UV background table"):
        hi.uvb_rates(20.0, "hm12")
    with pytest.raises(ValueError, match="pick one of"):
        hi.HIParams(uvb="hm01")


# ---------------------------------------------------------------- ionisation equilibrium
def test_optically_thin_limit_is_gamma_limited():
    gam = hi.uvb_rates(3.0)
    n_h, t = np.array([1e-7, 1e-6, 1e-5]), 1.5e4
    x_hi, x_e = hi.neutral_fraction(n_h, t, 3.0)
    np.testing.assert_allclose(x_e, 1 + 2 * Y, rtol=1e-3)  # H and He (nearly) fully ionised
    # closed form x_HI = alpha n_e / Gamma (the Rahmati factor is 1 - 7e-5 at 1e-5 cm^-3)
    np.testing.assert_allclose(x_hi, _alpha_a_hii(t) * x_e * n_h / gam[0], rtol=1e-4)
    # exact HI balance without self-shielding: x_HI = alpha / (alpha + Gamma_coll + Gamma / n_e)
    p = hi.HIParams(self_shielding=False)
    x_hi, x_e = hi.neutral_fraction(n_h, t, 3.0, p)
    np.testing.assert_allclose(x_hi, _alpha_a_hii(t) / (_alpha_a_hii(t) + _coll_h0(t) + gam[0] / (x_e * n_h)), rtol=1e-10)
    # Gamma scaling: twice the background halves x_HI in the thin limit
    x2, _ = hi.neutral_fraction(n_h, t, 3.0, hi.HIParams(gamma_scale=2.0))
    np.testing.assert_allclose(x2 / hi.neutral_fraction(n_h, t, 3.0)[0], 0.5, rtol=5e-4)


def test_dense_cold_gas_is_neutral():
    n_h = np.array([1.0, 10.0, 100.0, 1000.0])
    x_hi, x_e = hi.neutral_fraction(n_h, 1e4, 3.0, baryon_fraction=0.157)
    # shielded: x_HI rises to the collisional limit alpha / (alpha + Gamma_coll) = 0.9986 at 1e4 K
    cie = _alpha_a_hii(1e4) / (_alpha_a_hii(1e4) + _coll_h0(1e4))
    assert np.all(np.diff(x_hi) > 0) and x_hi[0] > 0.97 and x_hi[3] == pytest.approx(cie, abs=2e-4)
    assert np.all(x_e < 3e-2)
    # self-shielding is what makes it neutral at 1 cm^-3: without it the gas is far more ionised
    x_thin, _ = hi.neutral_fraction(n_h, 1e4, 3.0, hi.HIParams(self_shielding=False))
    assert 1 - x_thin[0] > 10 * (1 - x_hi[0])


@pytest.mark.parametrize("t", [2e4, 5e4, 1e5, 1e6, 1e7])
def test_collisional_ionisation_equilibrium(t):
    """Zero UV background: x_HI = alpha(T) / (alpha(T) + Gamma_coll(T)), whatever the density."""
    for n_h in (1e-4, 1.0):
        x_hi, x_e = hi.neutral_fraction(n_h, t, 3.0, photo_rates=(0.0, 0.0, 0.0))
        np.testing.assert_allclose(x_hi, _alpha_a_hii(t) / (_alpha_a_hii(t) + _coll_h0(t)), rtol=1e-10)
    if t >= 1e6:
        np.testing.assert_allclose(x_e, 1 + 2 * Y, rtol=1e-3)


def test_rahmati_eq14_and_eq13():
    # eq. 14 at n_H = n0 (= 1.003 n_SSh), by hand: 0.98 * 2^-2.28 + 0.02 * 2^-0.84
    assert hi.self_shielding_factor(1.003e-2, 1e-2) == pytest.approx(0.2129527, rel=1e-6)
    r = 1 / 1.003  # at n_H = n_SSh
    assert hi.self_shielding_factor(1e-2, 1e-2) == pytest.approx(0.98 * (1 + r**1.64) ** -2.28 + 0.02 * (1 + r) ** -0.84)
    assert hi.self_shielding_factor(1e-9, 1e-2) == pytest.approx(1.0, abs=1e-6)
    assert hi.self_shielding_factor(1e4, 1e-2) == pytest.approx(0.02 * (1 + 1e6 / 1.003) ** -0.84, rel=1e-6)
    # eq. 13 normalisation: HM01 at z = 3 (Gamma = 1.16e-12, sigma = 2.49e-18, T = 1e4, f_g = 0.17)
    # gives their tabulated log10 n_H,SSh = -2.13
    n = hi.self_shielding_density(3.0, 1e4, 1.16e-12, 0.17, sigma=2.49e-18)
    assert np.log10(n) == pytest.approx(-2.13, abs=0.005)
    assert hi.self_shielding_density(3.0, 1e4, 1.16e-12, 0.17) > n  # smaller FG09 gray cross-section


# ---------------------------------------------------------------- temperature
def test_temperature_from_u_mean_molecular_weight():
    u = 100.0  # (km/s)^2
    for x_e, mu in ((1 + 2 * Y, 4 / (1 + 3 * X_H + 4 * X_H * (1 + 2 * Y))), (0.0, 4 / (1 + 3 * X_H))):
        assert hi.temperature_from_u(u, x_e) == pytest.approx(2 / 3 * mu * M_P_G * u * 1e10 / K_B_CGS, rel=1e-12)
    assert 4 / (1 + 3 * X_H + 4 * X_H * (1 + 2 * Y)) == pytest.approx(0.588, abs=1e-3)


def test_temperature_floor_and_dense_rule():
    p = hi.HIParams(t0=1.5e4, floor_gamma=1.5, dense_nh=0.1, dense_temperature=1e4)
    delta = np.array([0.1, 1.0, 10.0, 100.0, 1e5, 1e5])
    n_h = np.array([1e-6, 1e-5, 1e-4, 1e-3, 0.5, 0.5])
    u = np.array([1e-3, 1e-3, 1e-3, 1e5, 1e-3, 1e5])  # cold, cold, cold, shock-heated, cold dense, hot dense
    t = hi.temperature(u, 1.158, delta, n_h, p)
    np.testing.assert_allclose(t[:3], 1.5e4 * delta[:3] ** 0.5, rtol=1e-12)
    assert t[3] == pytest.approx(hi.temperature_from_u(1e5, 1.158)) and t[3] > 1e6
    np.testing.assert_array_equal(t[4:], 1e4)
    # the joint solve returns a temperature consistent with its own electron abundance
    tt, x_hi, x_e = hi.ionisation_state(u, n_h, delta, 3.0, p)
    np.testing.assert_allclose(tt, hi.temperature(u, x_e, delta, n_h, p), rtol=1e-9)
    assert x_hi[4] > 0.9 and x_hi[5] > 0.9 and x_hi[0] < 1e-4


# ---------------------------------------------------------------- snapshot post-processing
BOX, NSIDE, Z, HUB, OM, OB = 2000.0, 12, 3.0, 0.6774, 0.3089, 0.0486


def _write_gadget2(path, seed=0):
    """A snapshot in the Gadget-2 HDF5 layout: NumPart_Total_HW, no unit attrs, no OmegaBaryon."""
    rng = np.random.default_rng(seed)
    n = NSIDE**3
    grid = (np.indices((NSIDE,) * 3).reshape(3, -1).T + 0.5) * (BOX / NSIDE)
    m_gas = OB * RHO_CRIT * BOX**3 / n / 1e10
    m_dm = (OM - OB) * RHO_CRIT * BOX**3 / n / 1e10
    rho_mean = OB * RHO_CRIT / 1e10  # 1e10 (Msun/h)/(ckpc/h)^3
    with h5py.File(path, "w") as f:
        h = f.create_group("Header").attrs
        h["NumPart_ThisFile"] = np.array([n, n, 0, 0, 0, 0], dtype=np.int32)
        h["NumPart_Total"] = np.array([n, n, 0, 0, 0, 0], dtype=np.uint32)
        h["NumPart_Total_HW"] = np.zeros(6, dtype=np.uint32)
        h["MassTable"] = np.array([m_gas, m_dm, 0, 0, 0, 0])
        h["Time"], h["Redshift"], h["BoxSize"] = 1 / (1 + Z), Z, BOX
        h["NumFilesPerSnapshot"] = np.int32(1)
        h["Omega0"], h["OmegaLambda"], h["HubbleParam"] = OM, 1 - OM, HUB
        h["Flag_Sfr"] = h["Flag_Cooling"] = h["Flag_Feedback"] = np.int32(0)
        g = f.create_group("PartType0")
        g["Coordinates"] = np.mod(grid + rng.normal(0, 30, grid.shape), BOX).astype(np.float32)
        g["Velocities"] = rng.normal(0, 50, grid.shape).astype(np.float32)
        g["ParticleIDs"] = np.arange(n, dtype=np.uint32)
        # overdensities 1e-1 .. 1e6: IGM, filaments and dense halo gas
        g["Density"] = (rho_mean * 10 ** rng.uniform(-1, 6, n)).astype(np.float32)
        g["InternalEnergy"] = (10 ** rng.uniform(-1, 5, n)).astype(np.float32)
        g["SmoothingLength"] = np.full(n, 2 * BOX / NSIDE, dtype=np.float32)
        d = f.create_group("PartType1")
        d["Coordinates"] = np.mod(grid + rng.normal(0, 30, grid.shape), BOX).astype(np.float32)
        d["Velocities"] = rng.normal(0, 50, grid.shape).astype(np.float32)
        d["ParticleIDs"] = np.arange(n, 2 * n, dtype=np.uint32)
    return path


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    root = tmp_path_factory.mktemp("gadget2")
    src = _write_gadget2(str(root / "snap_002.hdf5"))
    sha = hashlib.sha256(open(src, "rb").read()).hexdigest()
    out = hi.postprocess_snapshot(src, str(root / "snap_002.hi.hdf5"), omega_b=OB)
    return src, out, sha


def test_postprocessed_fields_header_and_record(processed):
    src, out, sha = processed
    assert hashlib.sha256(open(src, "rb").read()).hexdigest() == sha  # the input is untouched
    assert hi.is_postprocessed(out) and not hi.is_postprocessed(src) and not os.path.exists(out + ".tmp")
    with h5py.File(src, "r") as f:
        rho = f["PartType0/Density"][...].astype(np.float64)
        u = f["PartType0/InternalEnergy"][...].astype(np.float64)
    with h5py.File(out, "r") as f:
        h, g, rec = f["Header"].attrs, f["PartType0"], f["EmberSim/HI"].attrs
        assert h["OmegaBaryon"] == pytest.approx(OB, rel=1e-12)
        np.testing.assert_array_equal(h["NumPart_Total_HighWord"], np.zeros(6))
        assert h["UnitLength_in_cm"] == pytest.approx(3.0856775814913673e21) and h["UnitVelocity_in_cm_per_s"] == 1e5
        assert h["UnitMass_in_g"] == pytest.approx(1.98841e43)
        fields = {k: g[k][...] for k in ("Temperature", "NeutralHydrogenAbundance", "ElectronAbundance")}
        assert all(v.dtype == np.float32 for v in fields.values()) and g["Temperature"].attrs["units"] == "K"
        assert "no radiative cooling" in rec["run_physics"] and "Rahmati" in rec["self_shielding"]
        assert "Faucher-Giguere (2020)" in rec["uvb_citation"] and rec["gamma_scale"] == 1.0
        assert rec["t0_K"] == 1.5e4 and rec["dense_nh_cm3"] == 0.1 and rec["source_sha256"] == sha
    # the same numbers as the physics functions on the physical densities
    n_h = rho * X_H * 1.98841e43 * HUB**2 * (1 + Z) ** 3 / (3.0856775814913673e21**3 * 1.6735575e-24)
    t, x_hi, x_e = hi.ionisation_state(u, n_h, rho * 1e10 / (OB * RHO_CRIT), Z, baryon_fraction=OB / OM)
    np.testing.assert_allclose(fields["Temperature"], t, rtol=1e-6)
    np.testing.assert_allclose(fields["NeutralHydrogenAbundance"], x_hi, rtol=1e-6)
    np.testing.assert_allclose(fields["ElectronAbundance"], x_e, rtol=1e-6)
    dense = n_h > 0.1
    assert dense.any() and np.all(fields["Temperature"][dense] == 1e4) and np.all(fields["NeutralHydrogenAbundance"][dense] > 0.5)
    assert np.all(fields["Temperature"] >= 0.999 * 1.5e4 * (rho * 1e10 / (OB * RHO_CRIT)) ** 0.5 * ~dense + dense * 1e4)


def test_postprocess_fields_matches_the_copy_and_record_is_json(processed):
    import json

    src, out, _ = processed
    fields, record = hi.postprocess_fields(src, omega_b=OB)
    assert json.loads(json.dumps(record))["omega_b"] == pytest.approx(OB)  # storable as JSON by other writers
    with h5py.File(out, "r") as f:
        for name, arr in fields.items():
            np.testing.assert_array_equal(arr, f["PartType0"][name][...])
    assert set(record) <= set(h5py.File(out, "r")["EmberSim/HI"].attrs)


def test_reads_through_open_snapshot_and_deposits_hi(processed, tmp_path):
    from ember_dist.deposit import deposit_snapshot
    from ember_dist.io.snapshot import open_snapshot

    _, out, _ = processed
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # units now come from the header: no fallback warning
        snap = open_snapshot(out)
    assert snap.header.omega_b == pytest.approx(OB) and snap.header.box_size == BOX
    assert snap.header.num_part_total[:2] == (NSIDE**3, NSIDE**3)
    mass = snap.masses(0).compute()
    expect_hi = float(np.sum(mass * X_H * snap.field(0, "NeutralHydrogenAbundance").compute()))
    assert mass.sum() == pytest.approx(OB * RHO_CRIT * BOX**3, rel=1e-6)
    ds = deposit_snapshot(out, tmp_path / "maps.zarr", pixel=BOX / 32, slabs=1, axes=("z",),
                          fields=("dm", "gas", "hi"), align=16, n_neighbours=16)
    tot = {k: float(ds[k].values.astype(np.float64).sum()) for k in ("dm", "gas", "hi")}
    assert tot["hi"] == pytest.approx(expect_hi, rel=1e-5)
    assert tot["gas"] == pytest.approx(mass.sum(), rel=1e-5) and 0 < tot["hi"] < X_H * tot["gas"]


def test_leftover_tmp_is_never_the_output(tmp_path):
    src = _write_gadget2(str(tmp_path / "snap.hdf5"), seed=1)
    out = str(tmp_path / "snap.hi.hdf5")
    with open(out + ".tmp", "wb") as f:  # a killed run's half-written copy
        f.write(b"\x89HDF half written")
    assert not hi.is_postprocessed(out) and not hi.is_postprocessed(out + ".tmp")
    hi.postprocess_snapshot(src, out)
    assert hi.is_postprocessed(out) and not os.path.exists(out + ".tmp")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        hi.postprocess_snapshot(src, out)
    hi.postprocess_snapshot(src, out, overwrite=True, gamma_scale=0.5)
    with h5py.File(out, "r") as f:
        assert f["EmberSim/HI"].attrs["gamma_hi_used_s"] == pytest.approx(0.5 * hi.uvb_rates(Z)[0])


def test_bad_input_fails_before_writing(tmp_path):
    src = _write_gadget2(str(tmp_path / "snap.hdf5"), seed=2)
    out = str(tmp_path / "out.hdf5")
    with pytest.raises(ValueError, match="disagrees with the gas particle masses"):
        hi.postprocess_snapshot(src, out, omega_b=0.04)
    with pytest.raises(ValueError, match="outside the 'fg20' UV background table"):
        hi.postprocess_snapshot(src, out, redshift=12.0)
    with pytest.raises(ValueError, match="is the input snapshot"):
        hi.postprocess_snapshot(src, src, overwrite=True)
    with h5py.File(src, "r+") as f:
        del f["PartType0"]
    with pytest.raises(ValueError, match="dark-matter-only snapshot has no gas"):
        hi.postprocess_snapshot(src, out)
    assert not os.path.exists(out) and not os.path.exists(out + ".tmp")


# ---------------------------------------------------------------- one UV background for a suite
def test_fixed_gamma_scale_and_refresh_of_a_finished_snapshot(tmp_path):
    """finish_snapshot calibrates Gamma_HI on the snapshot; a suite-wide scale reprocesses it exactly."""
    import json

    from ember_dist.sim import lya
    from ember_dist.sim.suite import finish_snapshot, refresh_hi

    src = _write_gadget2(str(tmp_path / "snap_000.hdf5"))
    cosmo = {"omega_b": OB}
    rec = finish_snapshot(src, tmp_path / "own.hdf5", run="hydro", redshift=Z, parameters={}, cosmo=cosmo,
                          lya_sightlines=40)
    cal = rec["gamma_calibration"]
    g0 = cal["gamma_scale"]
    target = lya.observed_mean_flux(Z)
    # one optically-thin rescaling: closer to the target (this toy gas is mostly dense, self-shielded)
    assert cal["mode"] == "this snapshot" and cal["target_flux"] == target
    assert abs(cal["flux_calibrated"] - target) < abs(cal["flux_uncalibrated"] - target)
    # the same scale given: the same fields (to float32 round-off)
    finish_snapshot(src, tmp_path / "given.hdf5", run="hydro", redshift=Z, parameters={}, cosmo=cosmo,
                    lya_sightlines=40, gamma_scale=g0)
    with h5py.File(tmp_path / "own.hdf5") as a, h5py.File(tmp_path / "given.hdf5") as b:
        np.testing.assert_allclose(b["PartType0/NeutralHydrogenAbundance"][...],
                                   a["PartType0/NeutralHydrogenAbundance"][...], rtol=1e-6)
        x0 = a["PartType0/NeutralHydrogenAbundance"][...].astype(np.float64)
        assert json.loads(b["EmberSim"].attrs["postprocess"])["gamma_calibration"]["mode"] == "fixed (given)"
    # twice the photo-ionisation rate: optically thin, photo-ionised gas has half the neutral fraction
    out = refresh_hi(tmp_path / "own.hdf5", 2 * g0, lya_sightlines=40, log=lambda m: None)
    assert out["gamma_calibration"]["previous_gamma_scale"] == pytest.approx(g0)
    assert out["gamma_calibration"]["flux_calibrated"] > cal["flux_calibrated"]
    with h5py.File(tmp_path / "own.hdf5") as f:
        x1 = f["PartType0/NeutralHydrogenAbundance"][...].astype(np.float64)
        rho = f["PartType0/Density"][...].astype(np.float64) * 1e10 / (OB * RHO_CRIT)
        t = f["PartType0/Temperature"][...].astype(np.float64)
    thin = (x0 < 1e-4) & (rho < 10) & (t < 3e4)  # photo-ionised, no self-shielding, collisions negligible
    assert thin.sum() > 50
    np.testing.assert_allclose(x1[thin] / x0[thin], 0.5, rtol=0.01)
    sha = hashlib.sha256(open(tmp_path / "own.hdf5", "rb").read()).hexdigest()
    assert refresh_hi(tmp_path / "own.hdf5", 2 * g0, log=lambda m: None) is None  # already at that scale
    assert hashlib.sha256(open(tmp_path / "own.hdf5", "rb").read()).hexdigest() == sha


def test_gamma_scale_needs_one_value_per_redshift(tmp_path):
    from ember_dist.sim.suite import SimulationError, simulate

    with pytest.raises(SimulationError, match=r"--gamma-scale: give one positive Gamma_HI scale per redshift \(2 for"):
        simulate(tmp_path / "run", n=8, redshifts=(3.0, 2.0), gamma_scale=[1.5])
    assert not (tmp_path / "run").exists()
