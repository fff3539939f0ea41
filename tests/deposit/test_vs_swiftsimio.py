# SPDX-License-Identifier: BSD-3-Clause
"""Cross-check the deposit against swiftsimio's SPH projection on the same particles.

swiftsimio (SWIFT's i/o and visualisation package, optional) projects with a 2D
Wendland C2 kernel of support ``kernel_gamma * h_swift``.  With
``kernel="wendland_c2_2d"`` and ``h_swift = 2 h / kernel_gamma`` both codes use
the same kernel and support, so the maps must agree up to pixel integration.
"""
import numpy as np
import pytest

from ember_dist.deposit.kernel import deposit_slab
from ember_dist.deposit.smoothing import smoothing_lengths
from ember_dist.mock.suite import mock_particles

backends = pytest.importorskip(
    "swiftsimio.visualisation.projection_backends", reason="swiftsimio not installed (pip install swiftsimio)"
)
from swiftsimio.visualisation.projection_backends.kernels import kernel_gamma  # noqa: E402


def _swift(name, pos, h, m, n, box):
    hs = (2.0 * h / float(kernel_gamma)) / box
    img = backends.backends[name](pos[:, 0] / box, pos[:, 1] / box, m.astype(np.float32), hs.astype(np.float32), n, 1.0, 1.0)
    return np.asarray(img, dtype=np.float64).T / n**2  # swiftsimio: [x, y], surface density in box units


@pytest.fixture(scope="module")
def slab():
    """Gas of a 32^3 mock (4 Mpc/h box) in the lower half along z, with kNN smoothing lengths."""
    box = 4000.0
    g = mock_particles(n=32, box_size=box, seed=0)["hydro"][0]
    h = smoothing_lengths(g["Coordinates"], box, n_neighbours=32)
    sel = g["Coordinates"][:, 2] < box / 2
    return g["Coordinates"][sel][:, :2], h[sel], g["Masses"][sel], box


def test_large_kernels_agree_with_swiftsimio_renormalised():
    """Kernels of 4-12 px radius (pixel-centre sampling in both codes): agreement to ~1e-5."""
    rng = np.random.default_rng(2)
    n, box = 128, 1000.0
    pos = rng.uniform(0, box, (3000, 2))
    h = rng.uniform(4, 12, 3000) * (box / n) / 2
    m = rng.uniform(1, 2, 3000)
    mine = deposit_slab(pos, h, m, n, box / n, kernel="wendland_c2_2d")
    ren = _swift("renormalised", pos, h, m, n, box)
    assert np.abs(mine - ren).max() < 1e-4 * mine.max()
    assert np.abs(mine - ren).sum() < 1e-5 * mine.sum()


def test_mock_gas_agrees_with_swiftsimio_subsampled(slab):
    """Mock gas, kernels 0.9-20 px radius: same kernel -> L1 difference < 1 %."""
    pos, h, m, box = slab
    n = 64
    mine = deposit_slab(pos, h, m, n, box / n, kernel="wendland_c2_2d")
    sub = _swift("subsampled", pos, h, m, n, box)
    assert abs(mine.sum() / m.sum() - 1) < 1e-12
    assert np.abs(mine - sub).max() < 2e-2 * mine.max()
    assert np.abs(mine - sub).sum() < 1e-2 * mine.sum()


def test_default_kernel_close_to_swiftsimio(slab):
    """Cubic spline vs Wendland C2 with the same support: different kernels, close maps."""
    pos, h, m, box = slab
    n = 64
    mine = deposit_slab(pos, h, m, n, box / n)
    sub = _swift("subsampled", pos, h, m, n, box)
    assert np.abs(mine - sub).sum() < 2e-2 * mine.sum()
    assert np.corrcoef(mine.ravel(), sub.ravel())[0, 1] > 0.999
