# SPDX-License-Identifier: BSD-3-Clause
"""Known answers for ember_dist.stats.bispectrum."""
import dask.array as da
import numpy as np
import pytest

from ember_dist.stats import bispectrum
from ember_dist.stats.bispectrum import _counts_on_grid, triangle_counts


def _brute_force(m, box, tri, width):
    """Direct sum of D1 D2 D3 over all ordered mode triples q1 + q2 + q3 = 0 (mod N)."""
    n = m.shape[0]
    d = np.fft.fft2(m)
    f = np.fft.fftfreq(n, 1.0 / n).astype(int)
    out = []
    for t in tri:
        tot, cnt = 0.0, 0
        for a in range(n):
            for b in range(n):
                k1 = np.hypot(f[a], f[b])
                if not (t[0] - width / 2 <= k1 < t[0] + width / 2):
                    continue
                for c in range(n):
                    for e in range(n):
                        k2 = np.hypot(f[c], f[e])
                        if not (t[1] - width / 2 <= k2 < t[1] + width / 2):
                            continue
                        g, h = (-a - c) % n, (-b - e) % n
                        k3 = np.hypot(f[g], f[h])
                        if t[2] - width / 2 <= k3 < t[2] + width / 2:
                            tot += (d[a, b] * d[c, e] * d[g, h]).real
                            cnt += 1
        out.append((box**4 / n**6 * tot / cnt, cnt))
    return out


def test_equals_brute_force_triangle_sum():
    n, box = 12, 60.0
    m = np.random.default_rng(1).lognormal(size=(n, n))
    kf = 2 * np.pi / box
    tri = [(2.0, 2.0, 2.0), (1.0, 2.0, 2.0), (2.0, 3.0, 4.0), (5.0, 5.0, 5.0)]  # last one aliases
    ds = bispectrum(m, triangles=np.array(tri) * kf, box_size=box, overdensity=False)
    for j, (b, cnt) in enumerate(_brute_force(m, box, tri, 1.0)):
        assert int(ds["n_triangles"][j]) == cnt
        assert float(ds["bispectrum"][j]) == pytest.approx(b, rel=1e-10)


def test_counts_independent_of_grid_below_two_thirds_nyquist():
    tri = ((3.0, 4.0, 5.0), (6.0, 6.0, 6.0))
    small = triangle_counts(tri, 1.0, 256)
    assert small == _counts_on_grid(256, tri, 1.0) == _counts_on_grid(40, tri, 1.0)


def _skewed(n, s, f, seed):
    g = np.random.default_rng(seed).normal(0, s, size=(n, n))
    return g + f * (g**2 - s**2)


@pytest.mark.parametrize("f", [0.5, 0.0])
def test_iid_skewed_field(f):
    """d = g + f (g^2 - s^2): B = (6 f s^4 + 8 f^3 s^6) A_pix^2 at every triangle."""
    n, box, s, w = 256, 256.0, 1.0, 8.0
    m = _skewed(n, s, f, seed=11)
    kf = 2 * np.pi / box
    ds = bispectrum(m, k=kf * np.arange(w, n / 3, w), bin_width=w, box_size=box, overdensity=False)
    apix = (box / n) ** 2
    k3 = 6 * f * s**4 + 8 * f**3 * s**6
    var = s**2 + 2 * f**2 * s**4
    # sigma of the mean of Re D1 D2 D3 over N_T / 12 independent equilateral triangles
    p_raw = n**2 * var
    sigma = box**4 / n**6 * np.sqrt(6 * p_raw**3 / ds["n_triangles"].values)
    b = ds["bispectrum"].values
    z = (b - k3 * apix**2) / sigma
    assert np.all(np.abs(z) < 4), z
    wts = 1 / sigma**2
    comb, comb_sigma = np.sum(wts * b) / wts.sum(), 1 / np.sqrt(wts.sum())
    assert abs(comb - k3 * apix**2) < 4 * comb_sigma
    if f:
        assert comb / comb_sigma > 5  # the test resolves the signal
    # shell powers: white, P = var * A_pix
    assert float(ds["power_1"].mean()) == pytest.approx(var * apix, rel=0.1)


def test_dask_stack_equals_numpy():
    st = np.stack([_skewed(64, 1.0, 0.2, s) + 5 for s in (1, 2)])
    ref = bispectrum(st, box_size=640.0, dims=("sample", "y", "x"))
    got = bispectrum(da.from_array(st, chunks=(1, 32, 32)), box_size=640.0, dims=("sample", "y", "x")).compute()
    np.testing.assert_allclose(got["bispectrum"], ref["bispectrum"], rtol=1e-10)
    np.testing.assert_allclose(got["Q"], ref["Q"], rtol=1e-10)
    assert got["bispectrum"].dims == ("sample", "triangle")


@pytest.mark.parametrize("n", [12, 13])
def test_shell_powers_are_the_mean_mode_power_of_each_shell(n):
    """power_1..3: the mean |D(q)|^2 over the full plane's modes of each shell, times L^2 / N^4 (the shell norm comes
    from Parseval and a mode count over the rfft half plane: checked on an even and an odd grid)."""
    box = 60.0
    m = np.random.default_rng(2).lognormal(size=(n, n))
    kf = 2 * np.pi / box
    tri = [(2.0, 3.0, 4.0), (1.0, 1.5, 2.0)]
    ds = bispectrum(m, triangles=np.array(tri) * kf, box_size=box, overdensity=False)
    d2 = np.abs(np.fft.fft2(m)) ** 2
    f = np.fft.fftfreq(n, 1.0 / n)
    kk = np.hypot(f[:, None], f[None, :])
    for j, t in enumerate(tri):
        for i, c in enumerate(t):
            shell = (kk >= c - 0.5) & (kk < c + 0.5)
            want = box**2 / n**4 * d2[shell].mean()
            assert float(ds[f"power_{i + 1}"][j]) == pytest.approx(want, rel=1e-10)
