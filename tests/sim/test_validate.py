"""The validation report's estimators on cases with known answers (issue 17 item 5)."""
import numpy as np
import pytest
from scipy.special import j1, jv

from ember_dist.io.conventions import K_B_CGS, KPC_CM, M_H_G, X_H
from ember_dist.sim.validation import hmf, lyman
from ember_dist.sim.validation.power3d import power_spectrum_3d


def _lattice(n, box):
    q = (np.arange(n) + 0.5) * box / n
    return np.stack(np.meshgrid(q, q, q, indexing="ij"), axis=-1).reshape(-1, 3)


@pytest.mark.parametrize("scheme", ["cic", "tsc"])
def test_plane_wave_on_a_lattice_gives_the_bessel_power_of_that_mode(scheme):
    # x = q + A sin(k q_x): the density's Fourier coefficient at +-k is J1(kA) exactly, so the
    # bin holding k carries 2 L^3 J1(kA)^2 in total and no other mode of the bin has power
    box, n, m = 100.0, 16, 2
    k = 2 * np.pi * m / box
    amp = 0.15 / k
    pos = _lattice(n, box)
    pos[:, 0] += amp * np.sin(k * pos[:, 0])
    p = power_spectrum_3d(pos, box, 2 * n, scheme=scheme)
    i = m - 1  # bin [m, m + 1) k_F
    total = p["power"][i] * p["n_modes"][i]
    assert total == pytest.approx(2 * box**3 * j1(k * amp) ** 2, rel=2e-3)
    # first harmonic of the wave (J2) in bin 2m, nothing in the bins between
    assert p["power"][2 * m - 1] * p["n_modes"][2 * m - 1] == pytest.approx(
        2 * box**3 * jv(2, 2 * k * amp) ** 2, rel=5e-2)
    assert p["power"][m] * p["n_modes"][m] < 1e-6 * total


def test_poisson_sample_has_white_shot_noise_to_the_grid_nyquist_frequency():
    rng = np.random.default_rng(3)
    box, npart, ng = 100.0, 30000, 32
    p = power_spectrum_3d(rng.random((npart, 3)) * box, box, ng)
    shot = box**3 / npart
    assert p["shot_noise"] == pytest.approx(shot)
    sel = slice(2, 13)  # k = 3-14 k_F, up to 0.85 of the grid's Nyquist frequency (16 k_F)
    ratio = p["power"][sel] / shot
    err = np.sqrt(2 / p["n_modes"][sel])
    assert np.all(np.abs(ratio - 1) < 4 * err + 0.02)  # interlaced + deconvolved: flat (no alias rise)
    assert np.average(ratio, weights=p["n_modes"][sel]) == pytest.approx(1.0, abs=0.03)
    # without interlacing the CIC aliases make the deconvolved noise rise towards Nyquist
    q = power_spectrum_3d(rng.random((npart, 3)) * box, box, ng, interlace=False)
    assert q["power"][14] / shot > 1.15


def test_mass_function_pooling_binning_and_poisson_errors():
    mp = 1.0e8
    boxes = [np.array([1.0e10, 1.2e10, 2.0e10, 5.0e10, 9.9e9]), np.array([1.1e10, 3.3e10, 1.0e12])]
    mf = hmf.pooled_mass_function(boxes, box_size=10.0, particle_mass=mp, min_particles=100, dex=0.5)
    assert mf["edges"][0] == pytest.approx(1.0e10)
    assert len(mf["edges"]) == 6  # 1e10 .. 1e12.5, the top bin holds 1e12
    np.testing.assert_array_equal(mf["counts"], [4, 2, 0, 0, 1])  # 9.9e9 (< 100 particles) left out
    assert mf["volume"] == 2000.0
    np.testing.assert_allclose(mf["dn_dlog10m"], mf["counts"] / 2000.0 / 0.5)
    np.testing.assert_allclose(mf["err"], np.sqrt(mf["counts"]) / 2000.0 / 0.5)
    # pass when |obs - exp| <= 0.25 exp + 2 sqrt(exp): 30 <= 37.9 passes, 300 > 199 fails, 3 > 2.25 + 2 fails
    ok = hmf.judge_counts([100, 50, 300, 4, 0, 12], [100, 80, 600, 1, 1, 9])
    np.testing.assert_array_equal(ok, [True, True, False, False, True, True])


def test_uniform_hi_sightline_has_the_gunn_peterson_optical_depth_and_mean_flux():
    # uniform n_HI, no peculiar velocity: tau = sigma_a c n_HI / H (the thermal profiles sum to a constant)
    n_pix, v_extent = 256, 800.0  # km/s
    n_hi = 1.0e-11  # cm^-3, physical
    hz = 300.0 / 3.0857e19  # 1/s (300 km/s/Mpc)
    dx_cm = v_extent * 1e5 / hz / n_pix
    cols = np.full((3, n_pix), n_hi * dx_cm)
    tau = lyman.optical_depth(cols, np.zeros_like(cols), np.full_like(cols, 2.0e4), v_extent)
    tau_gp = lyman.LYA_CROSS_SECTION * n_hi / hz
    np.testing.assert_allclose(tau, tau_gp, rtol=1e-6)
    assert lyman.mean_flux(tau) == pytest.approx(np.exp(-tau_gp), rel=1e-9)
    s = lyman.gamma_scale_for_mean_flux(tau, 0.68)
    assert s == pytest.approx(np.log(1 / 0.68) / tau_gp, rel=1e-6)
    assert lyman.mean_flux(tau, s) == pytest.approx(0.68, rel=1e-7)
    with pytest.raises(ValueError, match="must lie in"):
        lyman.gamma_scale_for_mean_flux(tau, 1.2)


def test_a_line_and_its_doppler_width():
    # one pixel with column N at T: a Gaussian of width b = sqrt(2kT/m_H), area sigma_a N / (velocity pixel)
    n_pix, v_extent, temp = 400, 400.0, 1.0e4
    cols = np.zeros((1, n_pix))
    cols[0, 200] = 1.0e13
    tau = lyman.optical_depth(cols, np.zeros_like(cols), np.full_like(cols, temp), v_extent)[0]
    b = np.sqrt(2 * K_B_CGS * temp / M_H_G) / 1e5
    assert tau.max() == pytest.approx(lyman.LYA_CROSS_SECTION * 1e13 / (np.sqrt(np.pi) * b * 1e5), rel=1e-9)
    assert tau.sum() * v_extent / n_pix * 1e5 == pytest.approx(lyman.LYA_CROSS_SECTION * 1e13, rel=1e-4)
    assert tau[200 + int(round(b))] / tau[200] == pytest.approx(np.exp(-(round(b) / b) ** 2), rel=1e-9)


@pytest.mark.parametrize("hsml", [300.0, 5.0])  # kernel much wider / narrower than a pixel (31.25 ckpc/h)
def test_sightline_columns_conserve_a_particles_hi(hsml):
    box, z, h = 8000.0, 3.0, 0.7
    gas = {"Coordinates": np.array([[4000.0, 1000.0, 2010.0]]), "Velocities": np.array([[0.0, 0.0, 50.0]]),
           "SmoothingLength": np.array([hsml]), "NeutralHydrogenAbundance": np.array([1e-5]),
           "Temperature": np.array([2e4]), "mass": np.array([1e-3])}
    header = {"box_size": box, "redshift": z, "hubble": h, "omega_m": 0.3, "omega_l": 0.7, "unit_mass_g": 1.989e43}
    b = 0.3 * hsml
    cols, v, t = lyman.sightline_columns(gas, header, 2, np.array([[4000.0 + b, 1000.0]]), 256)
    a = 1 / (1 + z)
    atoms = 1e-3 * 1.989e43 / h * X_H * 1e-5 / M_H_G
    expect = atoms * lyman.projected_kernel(b, hsml) / (a * KPC_CM / h) ** 2
    assert cols.sum() == pytest.approx(expect, rel=1e-12)
    assert cols[0].argmax() == int(2010.0 // (box / 256))
    assert v[0, cols[0].argmax()] == pytest.approx(50.0 * np.sqrt(a))
    assert t[0, cols[0].argmax()] == pytest.approx(2e4)


def test_projected_kernel_integrates_to_one_over_the_plane():
    q = np.linspace(0, 1, 4001)
    assert np.trapezoid(2 * np.pi * q * lyman.projected_kernel(q, 1.0), q) == pytest.approx(1.0, rel=1e-4)


def test_discover_takes_finished_snapshots_only(tmp_path):
    import json

    import h5py

    from ember_dist.sim.validation.suite_data import discover, read_particles

    box = tmp_path / "box_s3"
    (box / "dmo").mkdir(parents=True)
    (box / "hydro" / "gadget" / "output").mkdir(parents=True)  # a hydro run still going: nothing usable
    (box / "hydro" / "gadget" / "output" / "snapshot_000.hdf5").write_bytes(b"half")
    (box / "simulation.json").write_text(json.dumps({"parameters": {"n": 4, "seed": 3, "redshifts": [3.0, 2.0]}}))
    with h5py.File(box / "dmo" / "snap_000.hdf5", "w") as f:
        f.create_group("Header").attrs.update({"BoxSize": 8000.0, "Redshift": 3.0, "MassTable": [0, 0.5, 0, 0, 0, 0],
                                               "NumPart_Total": [0, 2, 0, 0, 0, 0], "HubbleParam": 0.7,
                                               "Omega0": 0.3})
        f["PartType1/Coordinates"] = np.array([[100.0, 200.0, 8100.0], [0.0, 0.0, 0.0]])
    found = discover(tmp_path)
    assert [(s["box"], s["run"], s["index"], s["raw"], s["seed"]) for s in found] == [("box_s3", "dmo", 0, False, 3)]
    pos, m = read_particles(found[0]["path"], 1)
    np.testing.assert_allclose(pos[0], [0.1, 0.2, 0.1])  # Mpc/h, wrapped into the box
    np.testing.assert_allclose(m, 5e9)
