"""The validation report's estimators on cases with known answers (issue 17 item 5)."""
from pathlib import Path

import numpy as np
import pytest
from scipy.special import j1, jv

from ember_dist.sim.validation import hmf
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


def test_nfw_fourier_transform_matches_the_direct_integral_of_the_truncated_profile():
    from scipy.integrate import quad

    for c in (3.0, 8.0):
        norm = np.log1p(c) - c / (1 + c)
        for kr in (0.01, 0.7, 3.0, 12.0):
            # u(k) = int_0^c 4 pi x^2 rho(x) sin(k x)/(k x) dx / M with rho = 1 / (x (1 + x)^2), r_s = 1
            direct = quad(lambda x: x / (1 + x) ** 2 * np.sinc(kr * x / np.pi), 0, c, limit=400)[0] / norm
            assert hmf.nfw_u(kr, c) == pytest.approx(direct, rel=1e-6, abs=1e-9)
    assert hmf.nfw_u(1e-6, 5.0) == pytest.approx(1.0, abs=1e-9)


def test_band_power_error_of_poisson_haloes_has_the_one_halo_term():
    # point haloes of equal mass, Poisson in number: P = V / Nbar, T(k, k) = n (M / rho)^4 = (V / Nbar)^3, so
    # Var[P] / P^2 = 2 / N_modes + T / (V P^2) = 2 / N_modes + 1 / Nbar, and the 1 / Nbar part is shared by all bins
    from ember_dist.sim.validation.checks import error_of_mean

    rng = np.random.default_rng(7)
    box, nbar, ng, runs = 100.0, 100.0, 32, 500
    pk = np.array([power_spectrum_3d(rng.random((rng.poisson(nbar), 3)) * box, box, ng)["power"][:8]
                   for _ in range(runs)])
    nm = power_spectrum_3d(rng.random((10, 3)) * box, box, ng)["n_modes"][:8]
    p, t = box**3 / nbar, (box**3 / nbar) ** 3
    frac = pk.std(axis=0) / pk.mean(axis=0)
    expect = error_of_mean(nm, 1, power=p, trispectrum=t, volume=box**3)
    gauss = error_of_mean(nm, 1)
    for i in (3, 5, 7):  # N_modes ~ 200-700: the Gaussian part alone is 20-40% below the scatter
        assert frac[i] == pytest.approx(expect[i], rel=0.12)
        assert frac[i] > 1.15 * gauss[i]
    # the one-halo part correlates the bins: covariance / P^2 = 1 / Nbar (Gaussian: 0)
    c = np.cov(pk[:, 5], pk[:, 7])[0, 1] / (pk[:, 5].mean() * pk[:, 7].mean())
    assert c == pytest.approx(1 / nbar, rel=0.35)


def test_one_halo_trispectrum_tends_to_the_fourth_mass_moment_of_tinker08():
    from ember_dist.io.conventions import RHO_CRIT
    from ember_dist.sim.linear import suite_cosmology

    z = 2.0
    edges = np.logspace(9, 16, 281)  # 0.025 dex: (M / rho)^4 varies by 26% across a bin
    counts = hmf.tinker08_counts(edges, z, 1.0)  # number density per (Mpc/h)^3 per bin
    mid = np.sqrt(edges[1:] * edges[:-1])
    rho = suite_cosmology()["omega_m"] * RHO_CRIT * 1e9
    moment = np.sum(counts * (mid / rho) ** 4)
    t = hmf.one_halo_trispectrum([1e-4, 1.0, 2.0], z)
    assert t[0] == pytest.approx(moment, rel=0.005)  # 0.2%: the bins' midpoint masses
    assert t[0] > t[1] > t[2] > 0
    # a 32 Mpc/h box at z = 2: at k = 1.66 h/Mpc the one-halo scatter of one box is ~25% of CAMB's P(k)
    from ember_dist.sim.linear import nonlinear_power

    frac = np.sqrt(hmf.one_halo_trispectrum([1.66], z)[0] / 32.0**3) / nonlinear_power(np.array([1.66]), z)[0]
    assert 0.18 < frac < 0.32


def test_one_halo_trispectrum_matches_colossus_nfw_profiles_in_physical_units():
    # u(k|M) from colossus' own NFW profile (rho_s, r_s, R200c in physical kpc/h), integrated directly with
    # the physical wavenumber k (1 + z) / 1000 h/kpc, and rho_m from colossus: pins the comoving/physical and
    # kpc/Mpc conversions that the k -> 0 limit (u = 1) cannot see
    from colossus.halo import concentration, profile_nfw
    from colossus.lss import mass_function
    from scipy.integrate import quad

    from ember_dist.sim.linear import _colossus, suite_cosmology

    z, k = 2.0, np.array([0.5, 1.66, 5.0])
    co = _colossus(suite_cosmology())
    rho_m = co.rho_m(0.0) * 1e9  # Msun h^2 / kpc^3 -> (Msun/h) / (Mpc/h)^3, comoving
    lnm = np.linspace(np.log(1e11), np.log(1e16), 101)
    m = np.exp(lnm)
    dn = mass_function.massFunction(m, z, mdef="200c", model="tinker08", q_out="dndlnM",
                                    ps_args={"model": "ember_camb", "path": hmf._camb_table(suite_cosmology())})
    c = concentration.concentration(m, "200c", z, model="duffy08")
    u = np.empty((k.size, m.size))
    for j, (mj, cj) in enumerate(zip(m, c)):
        prof = profile_nfw.NFWProfile(M=mj, c=cj, z=z, mdef="200c")
        r200 = prof.par["rs"] * cj
        for i, kp in enumerate(k * (1 + z) / 1000.0):
            u[i, j] = quad(lambda r: 4 * np.pi * r * r * prof.density(r) * np.sinc(kp * r / np.pi), 0, r200,
                           points=[prof.par["rs"]], limit=200)[0] / mj
    direct = np.trapezoid(dn * (m / rho_m) ** 4 * u**4, lnm, axis=1)
    np.testing.assert_allclose(hmf.one_halo_trispectrum(k, z), direct, rtol=0.01)


def test_twin_check_on_a_hand_made_twin_and_on_the_suite(tmp_path):
    """twin_check: a 'twin' that is the parent's own particles gives r = 1 and ratio 1 everywhere; an unrelated
    field fails; the committed box_s0 MR8 twin (a real 20^3 Gadget-2 run) passes and parts at small scales."""
    import json
    import shutil

    import h5py

    from ember_dist.sim.validation.twins import twin_check

    root = Path(__file__).resolve().parents[2] / "sim_suite" / "box_s0"
    if not (root / "mr8" / "dmo" / "snap_001.hdf5").is_file():
        pytest.skip("the committed suite box box_s0 and its MR8 twin are not in this checkout")
    suite = tmp_path / "suite"
    (suite / "box_s0" / "dmo").mkdir(parents=True)
    shutil.copy(root / "dmo" / "snap_001.hdf5", suite / "box_s0" / "dmo" / "snap_001.hdf5")
    shutil.copytree(root / "mr8", suite / "box_s0" / "mr8", ignore=shutil.ignore_patterns("gadget", "snap_000*"))
    (res,) = twin_check(suite, log=lambda m: None)
    k, r, ratio = (np.array(res[c], float) for c in ("k", "r", "power_ratio"))
    assert res["factor"] == 8 and (res["n_twin"], res["n_parent"]) == (20, 40) and res["verdict"] == "pass"
    assert res["k_nyquist_twin"] == pytest.approx(np.pi * 20 / 8.0)
    assert res["min_r_judged"] > 0.99  # measured 0.9996 (k <= 3.9 h/Mpc)
    assert r[k > 20].max() < 0.7 and ratio[k > 20].min() > 1.2  # small scales: another field, more shot noise

    # the parent's own particles as the twin: identical fields
    twin = suite / "box_s0" / "mr8" / "dmo" / "snap_001.hdf5"
    shutil.copy(suite / "box_s0" / "dmo" / "snap_001.hdf5", twin)
    (same,) = twin_check(suite, log=lambda m: None)
    assert np.allclose(same["r"], 1.0, atol=1e-9) and np.allclose(same["power_ratio"], 1.0, rtol=1e-9)
    # shuffled coordinates: no correlation at the judged scales
    with h5py.File(twin, "r+") as f:
        c = f["PartType1/Coordinates"]
        c[...] = np.random.default_rng(0).uniform(0, 8000.0, c.shape)
    (bad,) = twin_check(suite, log=lambda m: None)
    assert bad["verdict"] == "fail" and bad["min_r_judged"] < 0.5
    meta = json.loads((suite / "box_s0" / "mr8" / "simulation.json").read_text())
    assert meta["parameters"]["parent_n"] == 40


def test_initial_conditions_regenerated_in_the_work_folder_equal_the_ones_gadget_started_from(tmp_path):
    """A fresh clone has no Gadget-2 folders: the growth check's ICs are made again from the box's record.

    Every parameter away from its default (z_init, LPT order, cosmology, a twin's parent lattice), so that one
    dropped on the way would change the particles."""
    import json

    import h5py

    from ember_dist.sim.ics import make_initial_conditions, write_ic_file
    from ember_dist.sim.linear import suite_cosmology
    from ember_dist.sim.validation.suite_data import ics_in_work

    params = {"n": 8, "box_size": 8000.0, "redshifts": [3.0], "seed": 11, "z_init": 39.0, "lpt_order": 1,
              "parent_n": 16}
    cosmo = {**suite_cosmology(), "sigma8": 0.7}
    kept = tmp_path / "kept.hdf5"  # what simulate() wrote into dmo/gadget/ics.hdf5
    ic = make_initial_conditions(8, 8000.0, 11, 39.0, cosmo=cosmo, order=1, parent_n=16)
    write_ic_file(kept, ic["header"], ic["dmo"])
    plain = make_initial_conditions(8, 8000.0, 11)  # the defaults: what a dropped parameter would give
    write_ic_file(tmp_path / "plain.hdf5", plain["header"], plain["dmo"])
    suite = tmp_path / "suite"
    (suite / "box_s11").mkdir(parents=True)
    (suite / "box_s11" / "simulation.json").write_text(json.dumps({"parameters": params, "cosmology": cosmo}))
    snaps = [{"box": "box_s11", "dir": suite / "box_s11", "run": run, "ics": None} for run in ("hydro", "dmo")]
    lines = []
    ics_in_work(snaps, suite, tmp_path / "work", log=lines.append)
    assert len(lines) == 1 and "seed 11" in lines[0]  # once per box, both runs
    assert all(s["ics_regenerated"] for s in snaps) and snaps[1]["ics"] == tmp_path / "work/ics/box_s11/dmo.hdf5"

    def arrays(path):
        with h5py.File(path, "r") as f:
            out = {}
            f.visititems(lambda k, v: out.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None)
            return out, dict(f["Header"].attrs)

    (a, ha), (b, hb) = arrays(kept), arrays(snaps[1]["ics"])
    assert sorted(a) == sorted(b) and a and all(np.array_equal(a[k], b[k]) for k in a)
    assert ha.keys() == hb.keys() and all(np.array_equal(ha[k], hb[k]) for k in ha)
    pos = next(k for k in a if k.endswith("Coordinates"))
    assert not np.allclose(a[pos], arrays(tmp_path / "plain.hdf5")[0][pos])
    ics_in_work([{"box": "box_s11", "run": "dmo", "ics": None}], suite, tmp_path / "work", log=lines.append)
    assert len(lines) == 1  # kept in the work folder: not made again
    # the same box name in another suite (other parameters): made again, not taken from the cache
    (suite / "box_s11" / "simulation.json").write_text(json.dumps({"parameters": {**params, "seed": 12},
                                                                   "cosmology": cosmo}))
    ics_in_work([{"box": "box_s11", "run": "dmo", "ics": None}], suite, tmp_path / "work", log=lines.append)
    assert len(lines) == 2 and "seed 12" in lines[1]


def test_shells_put_a_mode_on_a_whole_number_of_k_f_into_that_bin():
    """|k| = 5 k_F exactly ((3, 4, 0)) belongs to bin [5, 6) k_F, whatever the box size's rounding."""
    from ember_dist.sim.validation.power3d import Shells

    for box in (8000.0, 7.3, 100.0):
        sh = Shells(16, box)
        v = np.zeros((16, 16, 9))
        v[3, 4, 0] = 1.0  # kz = 0 plane: stands for itself (weight 1)
        got = sh.sum(v)
        assert got[4] == 1.0 and got.sum() == 1.0  # bins start at 1 k_F: index 4 is [5, 6) k_F
        assert 5 * sh.kf <= sh.k[4] < 6 * sh.kf
    # full-sphere mode counts: the shell [1, 2) k_F holds the 6 (1, 0, 0), 12 (1, 1, 0) and 8 (1, 1, 1) modes
    assert Shells(16, 1.0).n_modes[0] == 6 + 12 + 8
