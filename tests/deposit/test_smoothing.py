# SPDX-License-Identifier: BSD-3-Clause
"""Smoothing lengths: brute force, and distributed == single-process bit for bit."""
import dask.array as da
import numpy as np
import pytest

from ember_dist.deposit.smoothing import smoothing_lengths, smoothing_lengths_distributed


def _clustered(n, box, seed):
    """Half uniform, half in three tight clumps (one across the periodic edge): ghost retries happen."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(0, box, (n // 2, 3))
    centres = np.array([[0.01, 0.5, 0.5], [0.5, 0.3, 0.9], [0.77, 0.99, 0.02]]) * box
    c = centres[rng.integers(0, 3, n - n // 2)] + rng.normal(0, 0.01 * box, (n - n // 2, 3))
    return np.mod(np.concatenate([u, c]), box)


def test_brute_force_small_set():
    box, k = 50.0, 7
    pos = _clustered(300, box, 1)
    d = pos[:, None, :] - pos[None, :, :]
    d -= box * np.round(d / box)
    r = np.sqrt((d**2).sum(-1))
    expect = 0.5 * np.sort(r, axis=1)[:, k]  # column 0 is the particle itself
    np.testing.assert_allclose(smoothing_lengths(pos, box, n_neighbours=k), expect, rtol=1e-13)


@pytest.mark.parametrize("n_domains", [1, 3, 8])
def test_distributed_equals_single_process(n_domains):
    box, k = 1000.0, 16
    pos = _clustered(4000, box, 2)
    ref = smoothing_lengths(pos, box, n_neighbours=k)
    got = smoothing_lengths_distributed(da.from_array(pos, chunks=(777, 3)), box, k, n_domains=n_domains)
    np.testing.assert_array_equal(got, ref)


def test_distributed_with_client():
    distributed = pytest.importorskip("distributed")
    box, k = 1000.0, 20
    pos = _clustered(3000, box, 3)
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=":0") as client:
        got = smoothing_lengths_distributed(pos, box, k, n_domains=5, client=client, chunk_size=500)
    np.testing.assert_array_equal(got, smoothing_lengths(pos, box, n_neighbours=k))


def test_errors_name_the_fix():
    pos = np.random.default_rng(0).uniform(0, 1, (10, 3))
    with pytest.raises(ValueError, match="n_neighbours=9 or less"):
        smoothing_lengths(pos, 1.0, n_neighbours=10)
    with pytest.raises(ValueError, match="positive integer"):
        smoothing_lengths_distributed(pos, 1.0, n_neighbours=0)
