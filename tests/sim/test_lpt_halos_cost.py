"""2LPT against its closed form, M200c on a hand-built halo, the cost guard and argument errors."""
import numpy as np
import pytest

from ember_dist.io.conventions import RHO_CRIT
from ember_dist.sim.cost import CostError, check_affordable, estimate_cost
from ember_dist.sim.lpt import lpt_displacements, white_noise_k


def _two_waves(n, amp_x, amp_y):
    """rfft of delta(q) = A cos(k q_x) + B cos(k q_y), k the fundamental mode."""
    q = np.arange(n) * 2 * np.pi / n
    x, y, _ = np.meshgrid(q, q, q, indexing="ij")
    return np.fft.rfftn(amp_x * np.cos(x) + amp_y * np.cos(y))


def test_2lpt_matches_closed_form_for_two_plane_waves():
    n, box = 16, 2 * np.pi * 1000.0  # box in ckpc/h so that k = 1 h/Mpc for the fundamental mode
    a, b = 0.3, 0.2
    d = lpt_displacements(n, box, lambda k: np.ones_like(k), seed=0, noise_k=_two_waves(n, a, b) / n**1.5,
                          omega_m_a=1.0)
    # P = 1 and the noise scaled so that delta(q) is exactly a cos x + b cos y (sqrt(P n^3 / L^3) = n^1.5 / L^1.5)
    scale = (box / 1000.0) ** 1.5
    q = np.arange(n) * 2 * np.pi / n
    x, y, _ = np.meshgrid(q, q, q, indexing="ij")
    # psi1 = -grad phi1 with lap phi1 = delta: phi1 = -(a cos x + b cos y) -> psi1_x = -a sin x (Mpc/h), sign check
    psi1x = -a * np.sin(x) * 1000.0 / scale
    assert np.allclose(d["psi1"][0], psi1x, atol=1e-9 * abs(psi1x).max())
    assert np.allclose(d["psi1"][2], 0.0, atol=1e-9)
    # lap phi2 = phi_xx phi_yy = a b cos x cos y  ->  phi2 = -a b cos x cos y / 2, psi2 = (-3/7) grad phi2
    psi2x = -3.0 / 7.0 * (a * b / 2.0) * np.sin(x) * np.cos(y) * 1000.0 / scale**2
    assert np.allclose(d["psi2"][0], psi2x, atol=1e-8 * abs(psi2x).max())
    # Zel'dovich (order 1) has no second-order term
    d1 = lpt_displacements(n, box, lambda k: np.ones_like(k), seed=0, noise_k=_two_waves(n, a, b) / n**1.5, order=1)
    assert np.all(d1["psi2"] == 0)


def test_2lpt_single_wave_has_no_second_order_term():
    n = 8
    q = np.arange(n) * 2 * np.pi / n
    x = np.meshgrid(q, q, q, indexing="ij")[0]
    d = lpt_displacements(n, 1000.0, lambda k: np.ones_like(k), seed=0, noise_k=np.fft.rfftn(0.1 * np.cos(x)))
    assert np.abs(d["psi2"]).max() < 1e-10 * np.abs(d["psi1"]).max()


def test_seeded_noise_is_reproducible():
    assert np.array_equal(white_noise_k(8, 5), white_noise_k(8, 5))
    assert not np.array_equal(white_noise_k(8, 5), white_noise_k(8, 6))


def test_m200c_of_a_uniform_sphere():
    """A uniform sphere of mean density 500 rho_c(z) in an empty box: R200c = R (500/200)^(1/3), M200c = M."""
    from ember_dist.sim.halos import halo_catalogue_of

    rng = np.random.default_rng(1)
    box, z, om = 10000.0, 0.0, 0.3
    rho_c = RHO_CRIT  # z = 0: E = 1
    m_p = 1e8
    n = 4000
    r_s = (3 * n * m_p / (4 * np.pi * 500 * rho_c)) ** (1 / 3)
    u = rng.normal(size=(n, 3))
    pos = 5000.0 + u / np.linalg.norm(u, axis=1)[:, None] * r_s * rng.uniform(size=(n, 1)) ** (1 / 3)
    cat = halo_catalogue_of(pos, m_p, box, z, om, min_members=20)
    assert len(cat["m_fof"]) == 1 and cat["n_fof"][0] == n
    assert cat["m200c"][0] == pytest.approx(n * m_p, rel=1e-12)  # every particle is inside R200c
    assert cat["r200c"][0] == pytest.approx(r_s * (500 / 200) ** (1 / 3), rel=0.02)
    # a uniform sphere has no density peak: the shrinking sphere ends on 20 random particles near the middle
    assert np.allclose([cat["x"][0], cat["y"][0], cat["z"][0]], 5000.0, atol=0.15 * r_s)


def test_cost_guard_refuses_and_forces():
    small = estimate_cost(16, 8000.0, 3.0, hydro=True)
    assert small["particles"] == 2 * 16**3 and small["wall_seconds"] < 600
    big = estimate_cost(512, 8000.0, 2.0, hydro=True)
    with pytest.raises(CostError, match="--max-hours 2.*--force"):
        check_affordable([big], max_hours=2.0, ntasks=2)
    assert check_affordable([big], max_hours=2.0, ntasks=2, force=True)["forced"]
    assert estimate_cost(32, 8000.0, 2.0, hydro=False)["cpu_seconds"] < estimate_cost(32, 8000.0, 2.0)["cpu_seconds"]


@pytest.mark.parametrize("argv, message", [
    (["--redshifts", "2", "3"], "--redshifts 2.0 3.0: must be strictly decreasing"),
    (["--redshifts", "60"], "must lie in"),
    (["--box-size", "-1"], "--box-size -1.0"),
    (["--n", "4"], "--n 4"),
    (["--n", "20", "--parent-n", "10"], "--parent-n 10: the box this run is a lower-resolution twin of"),
    (["--n", "512"], "cannot finish here"),
])
def test_simulate_cli_refuses_bad_input_before_any_work(tmp_path, capsys, argv, message):
    from ember_dist.cli import main

    out = tmp_path / "box"
    with pytest.raises(SystemExit) if message == "cannot finish here" else _nothing():
        rc = main(["simulate", str(out), *argv])
        assert rc == 2
    assert message in capsys.readouterr().err
    assert not out.exists()  # nothing written


def test_simulate_refuses_an_existing_output(tmp_path, capsys):
    from ember_dist.cli import main

    (tmp_path / "box").mkdir()
    (tmp_path / "box" / "keep.txt").write_text("mine")
    assert main(["simulate", str(tmp_path / "box")]) == 2
    assert "--resume" in capsys.readouterr().err and (tmp_path / "box" / "keep.txt").read_text() == "mine"


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def test_twin_noise_is_the_parents_low_pass_sampled_on_the_coarse_lattice():
    """A 16^3 twin of a 32^3 box: its white noise in real space is the parent's, low-passed to the modes the
    coarse lattice resolves (|k_i| < 8 fundamentals) and sampled at every second point, times (32/16)^1.5."""
    n, big, seed = 16, 32, 7
    parent = white_noise_k(big, seed)
    keep = np.abs(np.fft.fftfreq(big, d=1.0 / big)) < n // 2
    keep_z = np.abs(np.fft.rfftfreq(big, d=1.0 / big)) < n // 2
    low = parent * (keep[:, None, None] & keep[None, :, None] & keep_z[None, None, :])
    expect = np.fft.irfftn(low, s=(big,) * 3)[::2, ::2, ::2] * (big / n) ** 1.5
    twin = white_noise_k(n, seed, parent_n=big)
    for ax in range(3):  # the twin's Nyquist planes are zeroed by lpt_displacements
        twin[(slice(None),) * ax + (n // 2,)] = 0
    got = np.fft.irfftn(twin, s=(n,) * 3)
    assert np.allclose(got, expect, atol=1e-12)
    # unit variance per coarse cell less the zeroed Nyquist planes: (15/16)^3 of the modes kept (4,096 cells)
    assert got.std() == pytest.approx(np.sqrt((1 - 1 / n) ** 3), abs=0.04)
    assert np.array_equal(white_noise_k(n, seed, parent_n=n), white_noise_k(n, seed))
    with pytest.raises(ValueError, match="parent_n = 8 is below n = 16"):
        white_noise_k(n, seed, parent_n=8)


def test_twin_displacements_follow_the_parent_on_large_scales():
    """The 2LPT displacement of a 16^3 twin at its lattice points equals the 32^3 parent's at the same points
    up to the modes only the parent resolves: with a spectrum that has no power above the coarse Nyquist
    frequency the first-order fields agree to round-off."""
    box = 8000.0
    kcut = 2 * np.pi / (box / 1000.0) * 7.5  # below 8 fundamentals: nothing beyond the 16^3 lattice's modes

    def power(k):
        return np.where(k < kcut, 1e3 * k**-1.0, 0.0)

    fine = lpt_displacements(32, box, power, seed=3, order=1)["psi1"][:, ::2, ::2, ::2]
    coarse = lpt_displacements(16, box, power, seed=3, order=1, parent_n=32)["psi1"]
    assert np.abs(fine).max() > 10.0  # ckpc/h: a real displacement, not zeros
    assert np.allclose(coarse, fine, atol=1e-9 * np.abs(fine).max())
