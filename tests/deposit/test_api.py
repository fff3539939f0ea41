# SPDX-License-Identifier: BSD-3-Clause
"""deposit_snapshot end to end on a 32^3 mock suite; CLI pieces."""
import argparse
import warnings

import numpy as np
import pytest
import xarray as xr

from ember_dist.deposit import deposit_snapshot
from ember_dist.deposit.cli import add_deposit_parser
from ember_dist.io.conventions import DATASET_ATTRS, MAP_DIMS
from ember_dist.io.snapshot import open_snapshot
from ember_dist.mock import make_mock_suite
from ember_dist.mock.cli import add_mock_parser

BOX = 15000.0
PIXEL = BOX / 64  # 64 px maps with align=16
KW = dict(pixel=PIXEL, slabs=2, align=16, n_neighbours=32)


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    return make_mock_suite(tmp_path_factory.mktemp("mock"), n=32, box_size=BOX, seed=1, n_files=2)


@pytest.fixture(scope="module")
def maps(suite, tmp_path_factory):
    out = tmp_path_factory.mktemp("maps") / "maps.zarr"
    return deposit_snapshot(suite["hydro"], out, fields=("dm", "gas", "hi"), **KW), out


def _slab_masses(pos, w, axis, nslab):
    k = np.minimum((pos[:, "xyz".index(axis)] * (nslab / BOX)).astype(int), nslab - 1)
    return np.bincount(k, weights=w, minlength=nslab)


def test_layout_and_attrs(maps):
    ds, _ = maps
    assert set(ds.data_vars) == {"dm", "gas", "hi"}
    for v in ds.data_vars.values():
        assert v.dims == MAP_DIMS and v.dtype == np.float32 and v.attrs["units"] == "Msun/h"
    assert ds.sizes == {"axis": 3, "slab": 2, "y": 64, "x": 64}
    assert list(ds.axis.values) == ["x", "y", "z"]
    for k in DATASET_ATTRS:
        assert k in ds.attrs
    assert ds.attrs["slab_depth"] == BOX / 2 and ds.attrs["pixel_size"] == BOX / 64
    assert ds.attrs["complete"] is True and ds.attrs["redshift"] == 2.0
    assert len(ds.attrs["source_sha256"]) == 64 and ds.attrs["pixel_size_deviation"] == pytest.approx(0.0, abs=1e-15)
    # per-particle Masses in two files: the mock's hydro dark matter carries Omega_m - Omega_b of the matter
    om, ob = ds.attrs["omega_m"], ds.attrs["omega_b"]
    assert ds.attrs["dm_source"] == "hydro" and ds.attrs["dm_mass_fraction"] == pytest.approx(1 - ob / om, rel=1e-9)
    np.testing.assert_allclose(ds.x.values, (np.arange(64) + 0.5) * PIXEL)


def test_mass_conserved_per_slab(maps, suite):
    ds, _ = maps
    snap = open_snapshot(suite["hydro"])
    dm_pos, dm_m = snap.positions(1).compute(), snap.masses(1).compute()
    gas_pos, gas_m = snap.positions(0).compute(), snap.masses(0).compute()
    hi_m = gas_m * 0.76 * snap.field(0, "NeutralHydrogenAbundance").compute()
    for f, pos, w in (("dm", dm_pos, dm_m), ("gas", gas_pos, gas_m), ("hi", gas_pos, hi_m)):
        for ai, ax in enumerate("xyz"):
            expect = _slab_masses(pos, w, ax, 2)
            got = ds[f].isel(axis=ai).sum(dim=("y", "x"), dtype=np.float64).values
            np.testing.assert_allclose(got, expect, rtol=1e-6)


def test_projections_agree_on_totals_and_orientation(maps, suite):
    ds, _ = maps
    dm = ds.dm.values.astype(np.float64)
    tot = dm.sum(axis=1)  # whole-box projections along x, y, z
    np.testing.assert_allclose(tot.sum(axis=(1, 2)), tot[0].sum(), rtol=1e-6)
    # along z rows follow y, columns x: marginal over rows = mass profile in x = along-y map's row marginal
    np.testing.assert_allclose(tot[2].sum(axis=0), tot[1].sum(axis=1), rtol=1e-5)


def test_refuses_existing_store_before_work(maps, suite):
    _, out = maps
    with pytest.raises(FileExistsError, match="overwrite=True"):
        deposit_snapshot(suite["hydro"], out, **KW)


def test_validation_errors(suite, tmp_path):
    out = tmp_path / "x.zarr"
    with pytest.raises(ValueError, match="fields="):
        deposit_snapshot(suite["hydro"], out, fields=("stars",), **KW)
    with pytest.raises(ValueError, match="needs PartType0.*drop 'gas'"):
        deposit_snapshot(suite["dmo"], out, fields=("gas",), **KW)
    with pytest.raises(ValueError, match="slabs=0"):
        deposit_snapshot(suite["hydro"], out, **dict(KW, slabs=0))
    with pytest.raises(ValueError, match="kernel='gauss'"):
        deposit_snapshot(suite["hydro"], out, kernel="gauss", **KW)
    with pytest.raises(ValueError, match="cannot have an 32-th neighbour"):
        deposit_snapshot(suite["hydro"], out, downsample=4096, **KW)
    assert not out.exists()


def test_downsample_and_client_path(suite, tmp_path):
    distributed = pytest.importorskip("distributed")
    snap = open_snapshot(suite["dmo"])
    total = snap.masses(1).sum().compute()
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=":0") as client:
        ds = deposit_snapshot(suite["dmo"], tmp_path / "ds.zarr", downsample=8, axes=("z",), client=client, **KW)
        assert abs(ds.dm.sum(dtype=np.float64).values / total - 1) < 1e-6
        assert ds.attrs["downsample"] == 8 and ds.attrs["mass_scale_parttype1"] == pytest.approx(8.0)
        assert ds.attrs["dm_source"] == "dark-matter-only" and ds.attrs["dm_mass_fraction"] == pytest.approx(1.0, rel=1e-9)
        again = deposit_snapshot(suite["dmo"], tmp_path / "ds.zarr", downsample=8, axes=("z",), overwrite=True, **KW)
    np.testing.assert_array_equal(again.dm.values, ds.dm.values)


def test_cli_parsers(suite, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="ember-dist")
    sub = parser.add_subparsers(dest="command")
    add_deposit_parser(sub)
    add_mock_parser(sub)
    args = parser.parse_args(["mock", str(tmp_path / "m"), "--n", "16", "--box-size", "5000", "--seed", "2"])
    assert args.func(args) == 0
    snap_path = str(tmp_path / "m" / "dmo" / "snap_000.hdf5")
    args = parser.parse_args(
        ["deposit", snap_path, "--out", str(tmp_path / "c.zarr"), "--pixel", "78.125", "--slabs", "2",
         "--axes", "z", "--align", "16", "--neighbours", "16", "--no-progress"]
    )
    assert args.func(args) == 0
    assert "wrote" in capsys.readouterr().out
    ds = xr.open_zarr(tmp_path / "c.zarr", consolidated=False)
    assert ds.sizes["x"] == 64 and ds.attrs["n_neighbours"] == 16


def test_client_graph_carries_no_particle_data(maps, suite, tmp_path):
    """With a client, the deposit graph references the smoothing lengths on the workers instead of embedding
    them (N x 8 bytes per species: 21 MiB for 2.7M particles, past distributed's large-graph warning)."""
    distributed = pytest.importorskip("distributed")
    import dask

    ds, _ = maps
    n = open_snapshot(suite["hydro"]).count(1)  # 32^3 of each species: embedded lengths would be 2 x 262 kB
    with dask.config.set({"distributed.admin.large-graph-warning-threshold": "100kB"}), \
            distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=":0") as client, \
            warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        got = deposit_snapshot(suite["hydro"], tmp_path / "c.zarr", fields=("dm", "gas", "hi"), client=client, **KW)
        got = got.load()
    assert n * 8 > 100_000
    assert [str(w.message) for w in rec if "Sending large graph" in str(w.message)] == []
    for f in ("dm", "gas", "hi"):
        np.testing.assert_array_equal(got[f].values, ds[f].values)
