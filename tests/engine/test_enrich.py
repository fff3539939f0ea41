# SPDX-License-Identifier: BSD-3-Clause
"""enrich_box end to end on real LocalClusters: tiled == whole, invariance, samples."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import ember_dist as ed
from ember_dist.demo import lognormal_map
from ember_dist.engine.reference import predict_whole

TOL = 1e-5  # max |diff| <= TOL * max |ref|


def _maps(ny, nx, nslab=2, seed=0):
    # A non-square map whose sides (88, 72 px) are multiples of 8 but not of the tile cores used.
    m = np.stack([lognormal_map(max(ny, nx), seed=seed + s, mean=1e7)[:ny, :nx] for s in range(nslab)])
    return xr.DataArray(m[None], dims=("axis", "slab", "y", "x"), attrs={"pixel_size": 3.66})


@pytest.fixture(scope="module")
def maps():
    return _maps(88, 72)


def _run(maps, bundle, out, client, **kw):
    kw.setdefault("tile", 32)
    kw.setdefault("progress", False)
    return ed.enrich_box(maps, fields="gas", model=bundle.path, out=out, client=client, **kw)


@pytest.mark.parametrize("kind", ["wgan", "unet", "wgan-modulated"])
def test_tiled_exact_equals_whole_periodic_map(maps, bundles, client, tmp_path, kind):
    b = bundles[kind]
    ds = _run(maps, b, tmp_path / "o.zarr", client, samples=2, seed=7, halo="exact")
    got = ds["gas"].values
    assert got.shape == (2, 1, 2, 88, 72) and got.dtype == np.float32
    model = b.build()
    for i in range(2):
        for s in range(2):
            ref = predict_whole(b, maps.values[0, s], seed=7 + i, axis=0, slab=s, model=model)
            err = np.abs(got[i, 0, s] - ref).max()
            assert err <= TOL * np.abs(ref).max(), (kind, i, s, err)
    # Realisations differ only for the noisy generator.
    same = np.array_equal(got[0], got[1])
    assert same == (kind == "unet")
    # 88/32 and 72/32 leave narrower last tiles; every tile's halo wraps across both map edges.
    assert ds.attrs["tile_core"] == [32, 32] and ds.attrs["tile_halo"] == list(b.exact_halo)


def test_store_layout_units_and_provenance(maps, bundles, client, tmp_path):
    b = bundles["wgan"]
    ds = _run(maps, b, tmp_path / "o.zarr", client, samples=1, seed=3, attrs={"redshift": 2.0})
    v = ds["gas"]
    assert v.dims == ("sample", "axis", "slab", "y", "x")
    assert v.attrs["units"] == "Msun/h" and v.attrs["model_weights_sha256"] == b.weights_sha256
    assert v.encoding["chunks"] == (1, 1, 1, 32, 32)
    np.testing.assert_allclose(ds["x"].values[:2], [1.83, 5.49])
    assert ds["x"].attrs["units"] == "ckpc/h"
    for k in ("box_size", "pixel_size", "seed", "source_sha256", "tile_core", "tile_halo", "created",
              "ember_dist_version", "models", "redshift"):
        assert k in ds.attrs, k
    assert ds.attrs["box_size"] == pytest.approx(72 * 3.66)
    assert ds.attrs["redshift"] == 2.0
    assert not bool(v.isnull().any())


def test_bitwise_invariant_to_workers_and_order(maps, bundles, client, client2, tmp_path):
    b = bundles["wgan"]
    a = _run(maps, b, tmp_path / "a.zarr", client, seed=5)["gas"].values
    c = _run(maps, b, tmp_path / "c.zarr", client2, seed=5)["gas"].values
    d = _run(maps, b, tmp_path / "d.zarr", client2, seed=5, order=1234)["gas"].values
    assert np.array_equal(a, c) and np.array_equal(a, d)


def test_core_size_changes_nothing_beyond_tolerance(maps, bundles, client, tmp_path):
    b = bundles["wgan"]
    a = _run(maps, b, tmp_path / "a.zarr", client, seed=5, tile=32)["gas"].values
    c = _run(maps, b, tmp_path / "c.zarr", client, seed=5, tile=48)["gas"].values
    assert np.abs(a - c).max() <= TOL * np.abs(a).max()


def test_samples_are_seed_plus_index(maps, bundles, client, tmp_path):
    b = bundles["wgan"]
    two = _run(maps, b, tmp_path / "two.zarr", client, samples=2, seed=10)
    one = _run(maps, b, tmp_path / "one.zarr", client, samples=1, seed=11)
    assert np.array_equal(two["gas"].values[1], one["gas"].values[0])
    assert list(two["seed"].values) == [10, 11]


def test_auto_halo_uses_bundle_table(maps, bundles, client, tmp_path):
    from ember_dist.engine.seams import measure_seam_errors
    from ember_dist.model.bundle import update_meta

    src = bundles["unet"]
    rows = measure_seam_errors(src, size=128, core=32)
    assert rows[-1]["halo"] == list(src.exact_halo) and rows[-1]["max_rel_error"] <= TOL
    assert rows[0]["max_rel_error"] > 1e-2  # no halo: visible seams
    import shutil

    shutil.copytree(src.path, tmp_path / "b")
    tol = rows[-2]["max_rel_error"] * 1.01  # accept the largest halo short of exact
    b = update_meta(tmp_path / "b", seam_error=rows, auto_halo_tolerance=tol)
    want = min((tuple(r["halo"]) for r in rows if r["max_rel_error"] <= tol), key=sum)
    assert b.auto_halo() == want and sum(want) < sum(src.exact_halo)
    ds = _run(maps, b, tmp_path / "o.zarr", client, halo="auto")
    assert ds.attrs["tile_halo"] == list(want)


def test_inputs_from_npy_hdf5_zarr_and_dask_agree(maps, bundles, client, tmp_path):
    import dask.array as da
    import h5py

    b = bundles["unet"]
    ref = _run(maps, b, tmp_path / "ref.zarr", client)["gas"].values
    np.save(tmp_path / "m.npy", maps.values[0])  # (slab, y, x)
    with h5py.File(tmp_path / "m.h5", "w") as f:
        f["dm"] = maps.values
    maps.to_dataset(name="dm").to_zarr(tmp_path / "m.zarr")
    for i, inp in enumerate([str(tmp_path / "m.npy"), str(tmp_path / "m.h5") + ":dm", str(tmp_path / "m.zarr"),
                             da.from_array(maps.values, chunks=(1, 1, 40, 40))]):
        got = _run(inp, b, tmp_path / f"o{i}.zarr", client, pixel_size=3.66)["gas"].values
        assert np.array_equal(got, ref), i


def test_chunk_cache_never_serves_a_rewritten_input(maps, bundles, client, tmp_path):
    """The worker keeps decoded input chunks between runs; rewriting the input store (same path,
    new content) must give the new maps' prediction, bitwise equal to a run with the cache off."""
    b = bundles["unet"]
    src = tmp_path / "m.zarr"
    maps.to_dataset(name="dm").chunk({"y": 24, "x": 24}).to_zarr(src)  # 4 x 3 storage chunks per map
    first = _run(str(src), b, tmp_path / "a.zarr", client, pixel_size=3.66)["gas"].values
    assert np.array_equal(first, _run(maps, b, tmp_path / "ref1.zarr", client)["gas"].values)
    new = maps * 1.7 + 1e6
    new.to_dataset(name="dm").chunk({"y": 24, "x": 24}).to_zarr(src, mode="w")
    got = _run(str(src), b, tmp_path / "b.zarr", client, pixel_size=3.66)["gas"].values
    np.save(tmp_path / "new.npy", new.values[0])  # no storage chunks: read without the cache
    ref = _run(str(tmp_path / "new.npy"), b, tmp_path / "ref2.zarr", client, pixel_size=3.66)["gas"].values
    # the same content in other storage chunks (same checksum, so the same cache token)
    new.to_dataset(name="dm").chunk({"y": 40, "x": 16}).to_zarr(tmp_path / "m2.zarr")
    other = _run(str(tmp_path / "m2.zarr"), b, tmp_path / "c.zarr", client, pixel_size=3.66)["gas"].values
    assert not np.array_equal(got, first)
    assert np.array_equal(got, ref) and np.array_equal(other, ref)
