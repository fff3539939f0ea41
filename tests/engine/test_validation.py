# SPDX-License-Identifier: BSD-3-Clause
"""Bad inputs get one clear error before any work, and existing outputs never change."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

import ember_dist as ed
from ember_dist.demo import lognormal_map
from ember_dist.model.bundle import BundleError, load_model


def _tree_digest(path):
    h = hashlib.sha256()
    for p in sorted(Path(path).rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(path)).encode() + p.read_bytes())
    return h.hexdigest()


@pytest.fixture()
def good():
    return np.stack([lognormal_map(64, seed=s) for s in range(2)])


def _enrich(maps, bundle, out, client, **kw):
    kw.setdefault("tile", 32)
    return ed.enrich_box(maps, fields="gas", model=bundle.path, out=out, client=client, progress=False,
                         pixel_size=kw.pop("pixel_size", 3.66), **kw)


@pytest.mark.parametrize("bad,word", [(np.nan, "NaN"), (np.inf, "Inf"), (-5.0, "negative")])
def test_invalid_masses_named_with_slab_and_pixel(good, bundles, client, tmp_path, bad, word):
    good[1, 5, 7] = bad
    with pytest.raises(ValueError) as e:
        _enrich(good, bundles["unet"], tmp_path / "o.zarr", client)
    msg = str(e.value)
    assert "slab=1" in msg and "(y=5, x=7)" in msg and f"1 {word}" in msg and "np.nan_to_num" in msg
    assert not (tmp_path / "o.zarr").exists()
    assert not list(tmp_path.glob(".ember-staging-*"))  # staging cleaned up


def test_map_size_not_aligned_suggests_grid(bundles, client, tmp_path):
    m = lognormal_map(96, seed=0)[:90, :72]
    with pytest.raises(ValueError, match=r"alignment factor 8 along y; the nearest valid grid is 88 x 72"):
        _enrich(m, bundles["unet"], tmp_path / "o.zarr", client)
    assert not (tmp_path / "o.zarr").exists()


def test_tile_not_aligned(good, bundles, client, tmp_path):
    with pytest.raises(ValueError, match=r"tile=30 is not a multiple of the model's alignment factor 8; pass tile=32"):
        _enrich(good, bundles["unet"], tmp_path / "o.zarr", client, tile=30)


def test_pixel_size_far_from_training(good, bundles, client, tmp_path):
    with pytest.raises(ValueError, match=r"input pixel size 7.32 ckpc/h differs .* --pixel 3.66"):
        _enrich(good, bundles["unet"], tmp_path / "o.zarr", client, pixel_size=7.32)


def test_the_default_model_refuses_toy_pixels_and_names_the_fixes(good, client, tmp_path):
    # no model=: the shipped default suite-gas-wgan (31.25 ckpc/h), checked before any work
    with pytest.raises(ValueError) as e:
        ed.enrich_box(good, fields="gas", out=tmp_path / "o.zarr", client=client, progress=False, pixel_size=3.66,
                      tile=32)
    msg = str(e.value)
    assert "model 'suite-gas-wgan', 31.25 ckpc/h, by 88.3%" in msg and "--pixel 31.25" in msg
    assert "a model trained at 3.66 ckpc/h" in msg and "ember-dist models" in msg
    assert not (tmp_path / "o.zarr").exists() and not list(tmp_path.glob(".ember-staging-*"))


def test_existing_output_is_never_touched(good, bundles, client, tmp_path):
    out = tmp_path / "o.zarr"
    _enrich(good, bundles["unet"], out, client)
    before = _tree_digest(out)
    with pytest.raises(FileExistsError, match=r"already exists. Pass overwrite=True .* resume=True"):
        _enrich(good, bundles["unet"], out, client)
    # Resuming with different parameters is refused with only the differences listed, as they were passed.
    with pytest.raises(ValueError, match=r"cannot resume .* options: seed=1 \(the store was written with seed=0\)\. "):
        _enrich(good, bundles["unet"], out, client, resume=True, seed=1)
    assert _tree_digest(out) == before
    # A directory that is not a zarr store is never deleted, even with overwrite=True.
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="not a zarr store"):
        _enrich(good, bundles["unet"], other, client, overwrite=True)
    assert (other / "keep.txt").read_text() == "precious"


def test_resume_of_complete_store_is_a_no_op(good, bundles, client, tmp_path):
    out = tmp_path / "o.zarr"
    a = _enrich(good, bundles["unet"], out, client)["gas"].values
    b = _enrich(good, bundles["unet"], out, client, resume=True)["gas"].values
    assert np.array_equal(a, b)


def test_unknown_model_lists_available(good, client, tmp_path):
    with pytest.raises(BundleError, match=r"unknown model 'nope'; available models: \["):
        ed.enrich_box(good, model="nope", out=tmp_path / "o.zarr", client=client, progress=False)


def test_wrong_field_model(good, bundles, client, tmp_path):
    with pytest.raises(BundleError, match=r"predicts field 'gas', not 'hi'"):
        ed.enrich_box(good, fields="hi", model=bundles["unet"].path, out=tmp_path / "o.zarr", client=client)


def test_tampered_bundle_rejected(bundles, tmp_path):
    b = tmp_path / "b"
    shutil.copytree(bundles["unet"].path, b)
    w = b / "generator.weights.h5"
    data = bytearray(w.read_bytes())
    data[-100] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="weights sha256 .* does not match .* tampered"):
        load_model(b)
    shutil.rmtree(b)
    shutil.copytree(bundles["unet"].path, b)
    j = b / "bundle.json"
    j.write_text(j.read_text().replace('"field": "gas"', '"field": "hi"'))
    with pytest.raises(BundleError, match="bundle.json does not match its checksum"):
        load_model(b)


def test_contradictory_flags(good, bundles, client, tmp_path):
    with pytest.raises(ValueError, match="contradict"):
        _enrich(good, bundles["unet"], tmp_path / "o.zarr", client, overwrite=True, resume=True)


@pytest.mark.parametrize("chunk,band,row_budget",
                         [(32, 5, None), (32, 5, 0), (32, 32, None), (48, 40, 0), (48, 40, None), (None, 7, None)])
def test_scan_is_independent_of_chunks_and_bands(tmp_path, monkeypatch, chunk, band, row_budget):
    """The scan reads bands cut at chunk rows (whole chunk rows when they fit ``ROW_BUDGET``), one block of
    chunks at a time; checksum, counts and the first bad pixel are those of the whole map read at once."""
    import xarray as xr

    from ember_dist.engine import validate
    from ember_dist.engine.validate import scan_map
    from ember_dist.io.api import open_maps

    if row_budget is not None:
        monkeypatch.setattr(validate, "ROW_BUDGET", row_budget)

    m = np.random.default_rng(2).random((96, 80)).astype("f4")
    m[10, 11], m[90, 3] = -1.0, np.nan
    da = xr.DataArray(m, dims=("y", "x"), name="dm")
    if chunk is None:
        np.save(tmp_path / "m.npy", m)
        src = open_maps(str(tmp_path / "m.npy"))
    else:
        da.chunk({"y": chunk, "x": chunk}).to_dataset().to_zarr(tmp_path / "m.zarr")
        src = open_maps(str(tmp_path / "m.zarr"))
    r = scan_map(src, 0, 0, band)
    assert r["sha256"] == hashlib.sha256(m.astype("<f4").tobytes()).hexdigest()
    assert (r["nan"], r["neg"], r["first"]) == (1, 1, ("neg", 10, 11, -1.0))
    good = np.isfinite(m)
    assert r["mass"] == pytest.approx(m[good].sum(dtype=np.float64), rel=1e-12)
    if chunk is not None:  # which rows each storage read covered: whole chunk rows unless over the budget
        store, rows = src.array, []

        class Counting:
            shape, chunks = store.shape, store.chunks

            def __getitem__(self, key):
                rows.append((key[-2].start, key[-2].stop))
                return store[key]

        src._arr = Counting()
        assert scan_map(src, 0, 0, band)["sha256"] == r["sha256"]
        whole = [(y, min(96, y + chunk)) for y in range(0, 96, chunk)]
        assert (sorted(set(rows)) == whole) == (row_budget is None or band >= chunk), rows


def test_scan_counts_inf_as_inf_and_negative():
    from ember_dist.engine.validate import _band_stats

    rows = np.array([[1.0, -np.inf, np.inf, np.nan], [-2.0, 0.0, 3.0, np.nan]], "f4")
    assert _band_stats(rows) == (2, 2, 2, 2.0)  # nan, inf, negative (-inf and -2), finite sum


@pytest.mark.parametrize("chunk,band", [(32, 5), (48, 40)])
def test_scan_leaves_small_chunked_maps_in_the_cache(tmp_path, chunk, band):
    """With fill_cache the scan leaves every chunk of the map under its sha256, and windows read through
    the engine's tokens, normalised or raw, are made from it (no read reaches the storage) and equal
    direct reads."""
    import xarray as xr

    from ember_dist.engine.validate import scan_map
    from ember_dist.io.api import open_maps
    from ember_dist.io.common import chunk_cache, read_wrapped_lead
    from ember_dist.model.normalization import Normalization

    m = np.random.default_rng(3).random((96, 80)).astype("f4")  # 48-px chunks: uneven at the x edge
    xr.DataArray(m, dims=("y", "x"), name="dm").chunk({"y": chunk, "x": chunk}).to_dataset().to_zarr(tmp_path / "m.zarr")
    src = open_maps(str(tmp_path / "m.zarr"))
    cache = chunk_cache()
    cache.clear()
    r = scan_map(src, 0, 0, band, fill_cache=True)
    n = -(-96 // chunk) * -(-80 // chunk)
    assert sum(1 for k in cache.keys() if k[0] == r["sha256"]) == n
    src.cache_tokens = {(0, 0): r["sha256"]}
    store, reads = src.array, []

    class Counting:  # the map's storage, counting the reads that reach it
        shape, chunks = store.shape, store.chunks

        def __getitem__(self, key):
            reads.append(key)
            return store[key]

    src._arr = Counting()
    direct = read_wrapped_lead(m[None, None], (0, 0), -20, 70, 60, 50)
    norm = Normalization.for_field("gas")
    # The engine reads normalised windows: they are made from the scan's chunks, not decoded again.
    np.testing.assert_array_equal(src.read_window(0, 0, -20, 70, 60, 50, norm=norm),
                                  norm.forward(direct).astype(np.float32))
    misses = cache.misses
    np.testing.assert_array_equal(src.read_window(0, 0, -20, 70, 60, 50), direct)
    assert cache.misses == misses and reads == []  # every chunk came from the scan
    cache.clear()
