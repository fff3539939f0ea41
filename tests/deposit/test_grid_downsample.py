# SPDX-License-Identifier: BSD-3-Clause
"""Grid size on the alignment factor; seeded downsampling conserving mass."""
import dask.array as da
import numpy as np
import pytest

from ember_dist.deposit.downsample import downsample, downsample_indices
from ember_dist.deposit.grid import coerce_axes, grid_size, projection_axes


@pytest.mark.parametrize(
    "box,pixel,align,n",
    [(15000.0, 3.66, 128, 4096), (15000.0, 3.0, 128, 4992), (1000.0, 10.0, 16, 96), (1000.0, 10.0, 1, 100)],
)
def test_grid_size_nearest_multiple(box, pixel, align, n):
    g = grid_size(box, pixel, align)
    assert g.n == n and g.n % align == 0
    assert g.pixel_size == box / n
    assert abs(g.deviation - (box / n / pixel - 1)) < 1e-15
    # nearest: no other multiple of align is closer to box/pixel
    assert abs(box / pixel - n) <= align / 2


def test_grid_errors():
    with pytest.raises(ValueError, match="pixel=-1"):
        grid_size(10.0, -1, 16)
    with pytest.raises(ValueError, match="align=0"):
        grid_size(10.0, 1.0, 0)
    with pytest.raises(ValueError, match="axes="):
        coerce_axes(["x", "w"])
    assert projection_axes("z") == (2, 1, 0)


def test_downsample_conserves_mass_and_is_seeded():
    rng = np.random.default_rng(0)
    m = rng.uniform(1, 2, 4096)
    idx, scale = downsample(m, 64, seed=7)
    assert len(idx) == 64 and len(np.unique(idx)) == 64
    assert abs(m[idx].sum() * scale / m.sum() - 1) < 1e-14
    np.testing.assert_array_equal(idx, downsample_indices(4096, 64, seed=7))
    assert not np.array_equal(idx, downsample_indices(4096, 64, seed=8))
    idx2, scale2 = downsample(da.from_array(m, chunks=1000), 64, seed=7)
    np.testing.assert_array_equal(idx2, idx)
    assert abs(float(scale2) - scale) < 1e-12 * scale
    with pytest.raises(ValueError, match="keeps no particle"):
        downsample_indices(10, 11)
