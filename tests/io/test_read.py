# SPDX-License-Identifier: BSD-3-Clause
"""Periodic window reads split at storage-chunk boundaries (memory bounded by a block, not the map)."""
from __future__ import annotations

import numpy as np
import pytest

from ember_dist.io import common
from ember_dist.io.common import block_runs, read_wrapped_lead, wrapped_runs


class _Recorder:
    """A chunked array that records the (y, x) slices of every read."""

    def __init__(self, arr, chunks):
        self.arr, self.chunks, self.shape, self.calls = arr, chunks, arr.shape, []

    def __getitem__(self, key):
        self.calls.append(key[-2:])
        return self.arr[key]


@pytest.mark.parametrize("start,length,n,block", [(-5, 20, 16, 4), (3, 16, 16, 8), (0, 7, 16, None), (14, 40, 16, 16)])
def test_block_runs_cover_the_range_in_order(start, length, n, block):
    runs = block_runs(wrapped_runs(start, length, n), block)
    assert [d for _, _, d in runs] == list(np.cumsum([0] + [e - s for s, e, _ in runs])[:-1])
    assert sum(e - s for s, e, _ in runs) == length
    idx = np.concatenate([np.arange(s, e) for s, e, _ in runs])
    assert (idx == np.arange(start, start + length) % n).all()
    if block:
        assert all(s // block == (e - 1) // block for s, e, _ in runs)


@pytest.mark.parametrize("window", [(-3, -5, 20, 21), (6, 10, 8, 8), (0, 0, 32, 48), (30, 40, 9, 13)])
def test_reads_touch_one_block_at_a_time_and_match_numpy(monkeypatch, window):
    monkeypatch.setattr(common, "READ_BLOCK_PX", 64)  # blocks of one 8x8 chunk
    a = np.random.default_rng(0).random((2, 32, 48)).astype("f4")
    rec = _Recorder(a, (1, 8, 8))
    y0, x0, hy, hx = window
    got = read_wrapped_lead(rec, (1,), y0, x0, hy, hx)
    ref = np.take(np.take(a[1], np.arange(y0, y0 + hy) % 32, axis=0), np.arange(x0, x0 + hx) % 48, axis=1)
    assert (got == ref).all()
    for ys, xs in rec.calls:  # every read stays inside one chunk
        assert ys.start // 8 == (ys.stop - 1) // 8 and xs.start // 8 == (xs.stop - 1) // 8


def test_blocks_group_small_chunks(monkeypatch):
    monkeypatch.setattr(common, "READ_BLOCK_PX", 16 * 64)  # 4x4 chunks of 8x8 per read
    a = np.zeros((64, 64), "f4")
    rec = _Recorder(a, (8, 8))
    read_wrapped_lead(rec, (), 0, 0, 64, 64)
    assert len(rec.calls) == 4


def test_zarr_source_reads_equal_whole_map(tmp_path):
    xr = pytest.importorskip("xarray")
    from ember_dist.io.api import open_maps

    m = np.random.default_rng(1).random((96, 64)).astype("f4")
    xr.DataArray(m, dims=("y", "x"), name="dm").chunk({"y": 32, "x": 32}).to_dataset().to_zarr(tmp_path / "m.zarr")
    src = open_maps(str(tmp_path / "m.zarr"))
    assert src.chunks == (32, 32)
    assert (src.read_rows(0, 0, 10, 50) == m[10:50]).all()
    w = src.read_window(0, 0, -40, 50, 100, 70)
    assert (w == m[np.arange(-40, 60) % 96][:, np.arange(50, 120) % 64]).all()


@pytest.mark.parametrize("window", [(-3, -5, 20, 21), (6, 10, 8, 8), (0, 0, 30, 44), (25, 40, 11, 13)])
def test_cached_reads_equal_direct_reads_and_decode_each_chunk_once(window):
    """Windows through the chunk cache equal direct reads (uneven edge chunks, wrapping), and a chunk
    shared by several windows is read from storage once."""
    from ember_dist.io.common import ChunkCache, read_wrapped_cached

    a = np.random.default_rng(1).random((2, 30, 44)).astype("f4")  # chunks 8x12: uneven at both edges
    rec = _Recorder(a, (1, 8, 12))
    cache = ChunkCache(10**6)
    y0, x0, hy, hx = window
    for _ in range(3):
        got = read_wrapped_cached(rec, (1,), y0, x0, hy, hx, "tok", cache)
        np.testing.assert_array_equal(got, read_wrapped_lead(a, (1,), y0, x0, hy, hx))
    chunks_read = [(ys.start // 8, xs.start // 12) for ys, xs in rec.calls]
    assert len(chunks_read) == len(set(chunks_read)) == len(cache.keys())  # each chunk decoded once
    assert all(ys.start % 8 == 0 and xs.start % 12 == 0 for ys, xs in rec.calls)  # whole chunks
    assert cache.hits > 0


def test_chunk_cache_is_bounded_and_keyed_by_token():
    from ember_dist.io.common import ChunkCache, read_wrapped_cached

    a = np.arange(64 * 64, dtype="f4").reshape(1, 64, 64)
    cache = ChunkCache(3 * 16 * 16 * 4)  # three 16x16 float32 chunks
    rec = _Recorder(a, (1, 16, 16))
    read_wrapped_cached(rec, (0,), 0, 0, 64, 64, "v1", cache)  # 16 chunks through a cache of 3
    assert cache.nbytes <= cache.max_bytes and len(cache.keys()) == 3
    b = a + 1  # the same store rewritten: a new checksum, so nothing stale is returned
    np.testing.assert_array_equal(read_wrapped_cached(_Recorder(b, (1, 16, 16)), (0,), 40, 40, 30, 30, "v2", cache),
                                  read_wrapped_lead(b, (0,), 40, 40, 30, 30))


def test_normalised_cached_reads_equal_normalised_windows():
    """Chunks cached normalised give bitwise ``float32(norm.forward(window))``, are keyed apart from the
    raw chunks and from another normalisation, and are normalised once per chunk."""
    from ember_dist.io.common import ChunkCache, read_wrapped_cached
    from ember_dist.model.normalization import Normalization

    a = (np.random.default_rng(2).lognormal(20, 2, (1, 30, 44))).astype("f4")
    gas, hi = Normalization.for_field("gas"), Normalization.for_field("hi")
    cache = ChunkCache(10**6)
    rec = _Recorder(a, (1, 8, 12))
    for y0, x0, hy, hx in [(-3, -5, 20, 21), (6, 10, 8, 8), (25, 40, 11, 13)]:
        direct = read_wrapped_lead(a, (0,), y0, x0, hy, hx)
        for norm in (gas, hi):
            got = read_wrapped_cached(rec, (0,), y0, x0, hy, hx, "tok", cache, norm)
            np.testing.assert_array_equal(got, norm.forward(direct).astype(np.float32))
        np.testing.assert_array_equal(read_wrapped_cached(rec, (0,), y0, x0, hy, hx, "tok", cache), direct)
    by_norm = {n: sum(1 for k in cache.keys() if k[1] == n) for n in (None, gas, hi)}
    assert by_norm[None] == by_norm[gas] == by_norm[hi] == len(cache.keys()) / 3  # each chunk three ways
    assert len(rec.calls) == len(cache.keys())  # each decoded (and normalised) once
