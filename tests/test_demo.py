# SPDX-License-Identifier: BSD-3-Clause
"""``ember-dist demo`` and ``ember-dist models``: the packaged held-out maps, the error statistics,
the model choice, one small demo run on a real LocalCluster, and the models table's evaluation columns."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from ember_dist.cli import main
from ember_dist.demo import (DEFAULT_MODELS, DEMO_DATA, FALLBACK_MODELS, choose_models, held_out_errors, lognormal_map,
                             run_demo, suite_demo_maps)

ROOT = Path(__file__).resolve().parents[1]
#: The store tools/make_demo_data.py reads (derived data: present only where the suite's maps were made).
SOURCE = ROOT / "sim_suite" / "maps" / "test_z1.zarr"


def test_packaged_demo_maps_match_their_recorded_totals():
    ds = suite_demo_maps()
    assert ds.attrs["pixel_size"] == 31.25 and ds.attrs["box_size"] == 8000.0 and ds.attrs["seed"] == 5
    assert ds.attrs["slab_depth"] == 2000.0 and abs(ds.attrs["redshift"] - 2.0) < 1e-6
    assert {"hubble", "omega_m", "omega_b", "omega_l", "description"} <= set(ds.attrs)
    np.testing.assert_allclose(np.diff(ds["x"].values), 31.25)
    with np.load(DEMO_DATA, allow_pickle=False) as z:
        totals = json.loads(str(z["attrs"]))["total_mass"]
    for v in ("dm", "gas", "hi"):
        assert ds[v].dtype == np.float32 and ds[v].shape == (1, 4, 256, 256) and ds[v].attrs["units"] == "Msun/h"
        # float64 totals written from the source store when the file was made
        np.testing.assert_allclose(ds[v].values[0].astype(np.float64).sum(axis=(1, 2)), totals[v], rtol=1e-12)
    assert DEMO_DATA.stat().st_size < 3 * 2**20
    assert suite_demo_maps(slabs=2)["dm"].shape == (1, 2, 256, 256)
    with pytest.raises(ValueError, match="the demo maps have 4 slabs"):
        suite_demo_maps(slabs=5)


def test_replicated_demo_maps_are_the_periodic_tiling_of_the_box():
    one, rep = suite_demo_maps(slabs=1), suite_demo_maps(slabs=1, replicas=3)
    assert rep["dm"].shape == (1, 1, 768, 768) and rep.attrs["box_size"] == 3 * 8000.0
    assert rep.attrs["replicas"] == 3 and "tiled 3 x 3" in rep.attrs["description"]
    for v in ("dm", "gas", "hi"):
        a = one[v].values[0, 0]
        # every copy is the box itself, so the map stays periodic across the seams
        assert np.array_equal(rep[v].values[0, 0, 256:512, 512:768], a)
        np.testing.assert_allclose(rep[v].values.astype(np.float64).sum(), 9 * a.astype(np.float64).sum(), rtol=1e-12)
    np.testing.assert_allclose(np.diff(rep["x"].values), 31.25)
    assert rep["x"].values[-1] == pytest.approx(24000.0 - 15.625)
    for bad in (0, 1.5, None):
        with pytest.raises(ValueError, match="replicas must be a positive integer"):
            suite_demo_maps(replicas=bad)


def _demo_source(tmp_path):
    """The z maps of the demo's box (the first test seed) as the suite's maps hold them: from the stacked test store
    where ``tools/make_sim_suite.py --maps`` made it, else deposited here from the box's committed Gadget-2 snapshot
    with the suite's map geometry (the same ``deposit_snapshot`` call, z projection only: each axis is deposited
    alone, so its maps are the same)."""
    from ember_dist.sim.recipe import SUITE

    seed = SUITE["seeds"]["test"][0]
    if SOURCE.is_dir():
        src = xr.open_zarr(SOURCE, consolidated=False).sel(axis="z")
        per_slab = src.attrs.get("slab_box_seed")
        assert per_slab is not None, f"{SOURCE} records no slab_box_seed: rerun tools/make_sim_suite.py --maps"
        return src.isel(slab=np.flatnonzero(np.asarray(per_slab) == seed))
    from ember_dist.deposit.api import deposit_snapshot
    from tests.conftest import load_tool

    t = load_tool("make_sim_suite")
    snap = ROOT / "sim_suite" / f"box_s{seed}" / "hydro" / "snap_001.hdf5"  # z = 2, the demo's redshift
    store = tmp_path / "demo_box.zarr"
    deposit_snapshot(snap, store, pixel=t.MAP_PIXEL, slabs=t.MAP_SLABS, axes=("z",), align=t.MAP_ALIGN,
                     fields=("dm", "gas", "hi"))
    return xr.open_zarr(store, consolidated=False).sel(axis="z")


def test_packaged_demo_maps_equal_the_suite_maps(tmp_path):
    src = _demo_source(tmp_path)
    ds = suite_demo_maps()
    assert ds.attrs["pixel_size"] == src.attrs["pixel_size"] and ds.attrs["box_size"] == src.attrs["box_size"]
    for v in ("dm", "gas", "hi"):
        s = src[v].values
        assert ds[v].values[0].shape == s.shape
        # total mass per slab within float32 round-off of the source store's
        np.testing.assert_allclose(ds[v].values[0].sum(axis=(1, 2), dtype=np.float64),
                                   s.sum(axis=(1, 2), dtype=np.float64), rtol=1e-6)
        assert np.array_equal(ds[v].values[0], s)  # stored without rounding


def test_held_out_errors_of_scaled_and_offset_maps():
    truth = np.stack([lognormal_map(64, seed=s, mean=1e7) for s in range(3)]).astype(np.float64)
    # a scaled, periodically shifted copy: +10 % mass, the same overdensity spectrum
    scaled = np.stack([1.1 * truth, np.roll(1.1 * truth, (5, -9), axis=(1, 2))], axis=1)
    e = held_out_errors(truth, scaled, pixel_size=31.25)
    np.testing.assert_allclose(e["mass_error"], 0.1, rtol=1e-9)
    np.testing.assert_allclose(e["power_frac_error"], 0.0, atol=1e-9)
    # adding c per pixel: delta -> delta * m / (m + c), so P(k) -> P(k) * (m / (m + c))**2 at every k
    c = 3e6
    e = held_out_errors(truth, (truth + c)[:, None], pixel_size=31.25)
    means = truth.mean(axis=(1, 2))
    np.testing.assert_allclose(e["mass_error"], (c / means)[:, None], rtol=1e-9)
    want = np.median((means / (means + c)) ** 2 - 1)
    np.testing.assert_allclose(e["power_frac_error"], want, rtol=1e-9)
    np.testing.assert_allclose(e["power_mean_abs_error_half_nyquist"], abs(want), rtol=1e-9)
    k_fund = 2 * np.pi / (64 * 31.25)
    for (kk, v), k0 in zip(e["power_frac_error_at"], (0.005, 0.01, 0.02, 0.04)):
        assert abs(kk - k0) <= k_fund and v == pytest.approx(want, rel=1e-9)


def test_demo_prefers_the_default_then_the_unet():
    both = [DEFAULT_MODELS["gas"], DEFAULT_MODELS["hi"], FALLBACK_MODELS["gas"], FALLBACK_MODELS["hi"]]
    assert choose_models(("gas", "hi"), available=both) == (DEFAULT_MODELS, [])
    assert DEFAULT_MODELS["gas"] == "suite-gas-wgan" and FALLBACK_MODELS["gas"] == "suite-gas-unet"
    # HI: the WGAN scored best on the validation boxes (docs/evaluation/suite), the U-Net is the fallback
    assert DEFAULT_MODELS["hi"] == "suite-hi-wgan" and FALLBACK_MODELS["hi"] == "suite-hi-unet"
    chosen, notes = choose_models(("gas", "hi"), available=["small-gas-toy", FALLBACK_MODELS["hi"]])
    assert chosen == {"hi": "suite-hi-unet"} and len(notes) == 2
    assert notes[0].startswith("no suite bundle for gas")
    assert notes[1] == "suite-hi-wgan is not installed; hi uses suite-hi-unet (U-Net: one deterministic prediction)"
    assert choose_models(("gas",), available=[]) == ({}, [notes[0]])
    chosen, notes = choose_models(("gas",), available=[FALLBACK_MODELS["gas"]])
    assert chosen == {"gas": "suite-gas-unet"} and notes[0].startswith("suite-gas-wgan is not installed")
    assert choose_models(("gas",), models={"gas": "/my/bundle"}, available=[])[0] == {"gas": "/my/bundle"}


@pytest.fixture(scope="module")
def suite_like_bundle(tmp_path_factory):
    """A random-weight noisy bundle at the suite's 31.25 ckpc/h pixel size (not trained: fast)."""
    from ember_dist.model.testing import random_bundle

    return random_bundle(tmp_path_factory.mktemp("demo-bundle") / "gas", "tiny", "gas", noise=True, seed=3,
                         pixel_size=31.25)


def test_demo_enriches_the_packaged_maps_in_tiles_and_reports_their_errors(client, suite_like_bundle, tmp_path,
                                                                          capsys):
    ds = run_demo(tmp_path, fields=("gas",), models={"gas": str(suite_like_bundle.path)}, slabs=1, samples=2,
                  client=client, progress=False)
    out = capsys.readouterr().out
    assert ds["gas"].shape == (2, 1, 1, 256, 256) and list(ds.attrs["tile_core"]) == [128, 128]
    pred = ds["gas"].values[:, 0, 0]
    assert not np.array_equal(pred[0], pred[1])  # two noise seeds
    truth = suite_demo_maps(slabs=1)["gas"].values[0, 0].astype(np.float64)
    rep = json.loads((tmp_path / "demo.json").read_text())
    assert rep["tiles_per_map"] == 4 and rep["samples"] == 2 and rep["slabs"] == 1
    g = rep["fields"]["gas"]
    np.testing.assert_allclose(np.asarray(g["mass_error"])[0], pred.sum(axis=(1, 2), dtype=np.float64) / truth.sum()
                               - 1, rtol=1e-6)
    assert g["model"] == "random-tiny-gas" and "random-tiny-gas" in out and "total mass error" in out
    # every number with a unit says which: k in h/ckpc, so the printed 5, 10, 20, 40 h/Mpc are its x1000
    units = rep["units"]
    assert units["k"] == "h/ckpc" and units["power_frac_error_at"] == ["h/ckpc", "1"] and units["wall_s"] == "s"
    assert {k for k, v in g.items() if not isinstance(v, str)} <= set(units)
    k_fund = 2 * np.pi / (256 * 31.25)  # h/ckpc
    assert k_fund / 2 < min(g["k"]) and max(g["k"]) <= np.pi / 31.25 * np.sqrt(2) * (1 + 1e-9)  # k_F/2 to the corner
    for (kk, _), k_mpc in zip(g["power_frac_error_at"], (5, 10, 20, 40)):
        assert abs(kk * 1000 - k_mpc) <= k_fund * 1000
    assert (tmp_path / "demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    written = xr.open_zarr(tmp_path / "dm_maps.zarr", consolidated=False)
    assert np.array_equal(written["gas"].values[0, 0], truth.astype(np.float32))  # the truth beside the input


def test_demo_without_suite_bundles_runs_the_toy_demo(client, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("ember_dist.model.bundle.available_models", lambda: ["small-gas-toy", "small-hi-toy"])
    ds = run_demo(tmp_path, fields=("gas",), n=64, nslab=1, client=client, progress=False)
    out = capsys.readouterr().out
    assert "no suite bundle for gas" in out and "running the toy demo" in out
    assert ds["gas"].shape == (1, 1, 1, 64, 64) and ds.attrs["pixel_size"] == pytest.approx(3.66)
    assert (tmp_path / "demo.png").is_file() and not (tmp_path / "demo.json").exists()


def _fake_bundle(root, name, evaluation=None):
    """A bundle directory that passes load_model's checks (weights are placeholder bytes: never built here)."""
    d = root / name
    d.mkdir(parents=True)
    (d / "generator.weights.h5").write_bytes(b"placeholder")
    meta = {"format": "ember_dist.bundle/1", "name": name, "field": "gas", "kind": "unet",
            "training": {"pixel_size": 31.25, "input_resolution": "HR (full-resolution dark matter)"},
            "weights": {"file": "generator.weights.h5",
                        "sha256": hashlib.sha256(b"placeholder").hexdigest()}}
    if evaluation is not None:
        meta["evaluation"] = evaluation
    (d / "bundle.json").write_text(json.dumps(meta))
    digest = hashlib.sha256((d / "bundle.json").read_bytes()).hexdigest()
    (d / "bundle.json.sha256").write_text(digest + "  bundle.json\n")


def test_models_table_lists_held_out_errors(tmp_path, monkeypatch, capsys):
    ev = {"held_out": "suite seed(s) [5] (test split, never used in training)", "realisations": 8,
          "table": {"total mass error (median)": -0.0234, "mean abs P(k) error, k <= k_Nyq/2": 0.1234,
                    "maps x realisations": "12 x 8", "targets missed": "P(k) band, B_eq"}}
    _fake_bundle(tmp_path, "zz-evaluated", ev)
    _fake_bundle(tmp_path, "zz-not-evaluated")
    monkeypatch.setenv("EMBER_DIST_MODEL_DIR", str(tmp_path))
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0]
    assert "held-out mass error" in header and "mean |P(k) error| k<=k_Nyq/2" in header and "held out on" in header
    rows = {ln.split()[0]: ln for ln in lines[1:]}
    col = header.index("held-out mass error")
    pcol = header.index("mean |P(k) error|")
    tcol = header.index("targets missed")
    ocol = header.index("held out on")
    good, bare = rows["zz-evaluated"], rows["zz-not-evaluated"]
    assert good[col:pcol].split() == ["-2.3%"] and good[pcol:tcol].split() == ["12.3%"]
    assert good[tcol:ocol].strip() == "P(k) band, B_eq" and bare[tcol:ocol].strip() == "-"
    assert good[ocol:] == "suite seed(s) [5] (test split, never used in training) (12 x 8)"
    assert bare[col:pcol].split() == ["-"] and bare[pcol:tcol].split() == ["-"] and bare[ocol:] == "-"
    assert "31.25" in good and " HR " in good
    dcol = header.index("default for")
    assert good[dcol:col].split() == ["-"]  # not a default
    assert rows["suite-hi-wgan-mr8"][dcol:col].split() == ["MR", "1/8"] and rows["suite-gas-wgan"][dcol:col].split() == ["HR"]
