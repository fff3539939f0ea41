# SPDX-License-Identifier: BSD-3-Clause
"""TileSampler's tiles over the brightest pixels (``bright_tiles``): how often, where in the tile, deterministic."""
import numpy as np
import pytest

from ember_dist.train.sampler import TileSampler


def _maps(n=3, size=64, seed=0):
    """Lognormal maps with one core per map, 100x brighter than anything else, at known pixels."""
    rng = np.random.default_rng(seed)
    t = rng.lognormal(0.0, 0.3, (n, size, size)).astype(np.float32)
    cores = [(5, 60), (33, 2), (63, 63)][:n]
    for m, (y, x) in enumerate(cores):
        t[m, y, x] = 100.0
    return t, cores


def _holds_core(tile):
    return bool(tile.max() >= 100.0)


def test_the_fraction_of_bright_tiles_and_where_the_core_lies_in_them():
    t, _ = _maps()
    q = 1.0 - 3.0 / t.size  # the three cores and nothing else
    s = TileSampler(t, t, tile=16, batch=8, bright_tiles=0.25, bright_quantile=q, augment=False)
    tiles = np.concatenate([s.batch(i)[1][..., 0] for i in range(200)])
    hold = np.array([_holds_core(x) for x in tiles])
    # 1600 tiles: 25% drawn over a core (+ the few uniform tiles that hit one by chance, 3 * 256 / 3 / 4096 = 6%
    # of the others): expected 0.25 + 0.75 * 0.0625 = 0.297; binomial SD 0.011
    assert abs(hold.mean() - 0.297) < 0.04
    where = {tuple(np.argwhere(x == 100.0)[0]) for x in tiles[hold]}
    assert len(where) > 100  # the core is anywhere in the tile, not always at one place
    uniform = TileSampler(t, t, tile=16, batch=8, augment=False)
    base = np.array([_holds_core(x) for i in range(200) for x in uniform.batch(i)[1][..., 0]])
    assert base.mean() < 0.1


def test_bright_tiles_are_a_pure_function_of_seed_and_step_and_off_by_default():
    t, _ = _maps()
    a = TileSampler(t, t, tile=16, batch=4, seed=3, bright_tiles=0.5)
    b = TileSampler(t, t, tile=16, batch=4, seed=3, bright_tiles=0.5)
    for i in (0, 7, 123):
        assert np.array_equal(a.batch(i)[1], b.batch(i)[1])
    # without it the draws are those of a sampler that never heard of it: every tile from rng.integers alone
    off = TileSampler(t, t, tile=16, batch=4, seed=3)
    rng = np.random.default_rng([3, 5])
    m, y0, x0 = rng.integers(3), rng.integers(64), rng.integers(64)
    rows, cols = np.arange(y0, y0 + 16) % 64, np.arange(x0, x0 + 16) % 64
    k, flip = int(rng.integers(4)), bool(rng.integers(2))
    from ember_dist.train.sampler import augment
    assert np.array_equal(off.batch(5)[1][0, ..., 0], augment(t[m][np.ix_(rows, cols)], k, flip))


def test_bright_tiles_must_be_a_fraction():
    t, _ = _maps()
    with pytest.raises(ValueError, match="bright_tiles must lie in"):
        TileSampler(t, t, tile=16, bright_tiles=1.5)
    from ember_dist.train.config import TrainConfig

    with pytest.raises(ValueError, match="bright_tiles must be a fraction"):
        TrainConfig(kind="unet", preset="tiny", tile=16, bright_tiles=-0.1)
