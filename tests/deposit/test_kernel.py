# SPDX-License-Identifier: BSD-3-Clause
"""Kernel deposit: mass conservation, periodic edges, sub-pixel particles, kernel shape."""
import numpy as np
import pytest

from ember_dist.deposit.kernel import TABLE_SIZE, cubic_spline_projected, deposit_slab, kernel_table


def test_projected_table_normalised_and_centre_value():
    f = cubic_spline_projected()
    s = np.linspace(0, 2, TABLE_SIZE)
    assert f[-1] == 0.0 and np.all(np.diff(f) <= 0)
    from scipy.integrate import simpson

    assert abs(simpson(2 * np.pi * s * f, x=s) - 1) < 1e-12
    assert abs(f[0] - 3 / (2 * np.pi)) < 1e-6  # column of the cubic spline through its centre


@pytest.mark.parametrize("kernel", ["cubic_spline", "wendland_c2_2d"])
def test_mass_conserved_mixed_sizes(kernel):
    rng = np.random.default_rng(0)
    n, pix = 32, 2.0
    pos = rng.uniform(0, n * pix, (3000, 2))
    h = np.exp(rng.uniform(np.log(1e-4), np.log(40.0), 3000))  # 5e-5 .. 20 pixels
    m = rng.uniform(1, 3, 3000)
    out = deposit_slab(pos, h, m, n, pix, kernel=kernel)
    assert abs(out.sum() / m.sum() - 1) < 1e-12
    assert out.min() >= 0


def test_periodic_edges_equal_shifted_copy():
    n, pix = 64, 1.0
    h = np.array([3.0, 7.5, 0.3, 40.0])  # incl. a kernel wider than the map
    m = np.array([1.0, 2.0, 3.0, 4.0])
    edge = np.array([[0.2, 63.7], [63.9, 0.05], [0.0, 0.0], [10.0, 62.0]])
    centre = np.mod(edge + 32.0, 64.0)
    a = deposit_slab(edge, h, m, n, pix)
    b = np.roll(deposit_slab(centre, h, m, n, pix), (-32, -32), axis=(0, 1))
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    assert abs(a.sum() - m.sum()) < 1e-12
    assert a[0, 0] > 0 and a[-1, -1] > 0 and a[0, -1] > 0 and a[-1, 0] > 0


def test_sub_pixel_particles():
    n, pix = 16, 10.0
    # far below a pixel: all mass in the pixel holding the particle
    out = deposit_slab(np.array([[13.0, 47.0]]), np.array([1e-3]), np.array([5.0]), n, pix)
    assert out[4, 1] == 5.0 and out.sum() == 5.0
    # a small kernel on a pixel corner splits evenly between the four pixels
    out = deposit_slab(np.array([[20.0, 30.0]]), np.array([1.0]), np.array([4.0]), n, pix)
    np.testing.assert_allclose(out[2:4, 1:3], 1.0, rtol=1e-12)
    assert abs(out.sum() - 4.0) < 1e-12
    # a small kernel inside one pixel stays in it
    out = deposit_slab(np.array([[25.0, 35.0]]), np.array([1.0]), np.array([2.0]), n, pix)
    assert out[3, 2] == 2.0


def test_large_kernel_matches_analytic_profile_and_centroid():
    n, pix = 128, 1.0
    x0, y0, h = 50.3, 70.7, 12.0
    out = deposit_slab(np.array([[x0, y0]]), np.array([h]), np.array([1.0]), n, pix)
    c = np.arange(n) + 0.5
    X, Y = np.meshgrid(c, c)
    s = np.linspace(0, 2, TABLE_SIZE)
    analytic = np.interp(np.hypot(X - x0, Y - y0) / h, s, kernel_table("cubic_spline")) / h**2
    assert np.abs(out - analytic).max() < 1e-4 * analytic.max()
    assert abs((out * X).sum() - x0) < 1e-6 and abs((out * Y).sum() - y0) < 1e-6


def test_accumulates_into_out_and_validates():
    out = np.zeros((8, 8))
    deposit_slab(np.array([[1.0, 1.0]]), np.array([0.5]), np.array([1.0]), 8, 1.0, out=out)
    deposit_slab(np.array([[5.0, 5.0]]), np.array([0.5]), np.array([1.0]), 8, 1.0, out=out)
    assert abs(out.sum() - 2.0) < 1e-12
    with pytest.raises(ValueError, match="must be"):
        deposit_slab(np.zeros((2, 3)), np.ones(2), np.ones(2), 8, 1.0)
    with pytest.raises(ValueError, match="smoothing_lengths"):
        deposit_slab(np.zeros((1, 2)), np.array([-1.0]), np.ones(1), 8, 1.0)
    with pytest.raises(ValueError, match="kernel='gauss'"):
        deposit_slab(np.zeros((1, 2)), np.ones(1), np.ones(1), 8, 1.0, kernel="gauss")
