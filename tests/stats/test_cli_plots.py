# SPDX-License-Identifier: BSD-3-Clause
"""ember-dist stats / plot subcommands, plots and realisation summaries end to end."""
import argparse

import numpy as np
import pytest
import xarray as xr

from ember_dist.stats import power_spectrum
from ember_dist.stats.cli import add_plot_parser, add_stats_parser
from ember_dist.stats.plots import halo_panel, map_panels, save_figure, stats_panel
from ember_dist.stats.realisations import fractional_error, realisation_quantiles

ATTRS = dict(box_size=640.0, redshift=2.0, hubble=0.6774, omega_m=0.3089, omega_b=0.0486,
             omega_l=0.6911, pixel_size=10.0, slab_depth=320.0)
PNG = b"\x89PNG"


def _store(path, nsample, seed):
    rng = np.random.default_rng(seed)
    shape = ((nsample,) if nsample else ()) + (3, 2, 64, 64)
    dims = (("sample",) if nsample else ()) + ("axis", "slab", "y", "x")
    ds = xr.Dataset({f: (dims, (scale * rng.lognormal(0, 1, shape)).astype(np.float32))
                     for f, scale in (("gas", 1e7), ("hi", 1e5))},
                    coords={"axis": ["x", "y", "z"]}, attrs=ATTRS)
    ds.chunk({"y": 32, "x": 32}).to_zarr(path)
    return path


def _parser():
    p = argparse.ArgumentParser(prog="ember-dist")
    sub = p.add_subparsers(dest="command")
    add_stats_parser(sub)
    add_plot_parser(sub)
    return p


def test_stats_and_plot_commands(tmp_path):
    pred = _store(tmp_path / "pred.zarr", 3, 1)
    truth = _store(tmp_path / "truth.zarr", 0, 2)
    cat = tmp_path / "halos.csv"
    rng = np.random.default_rng(0)
    np.savetxt(cat, np.column_stack([rng.uniform(0, 640, (20, 3)), rng.uniform(15, 40, 20),
                                     10 ** rng.uniform(10, 13, 20)]),
               delimiter=",", header="x,y,z,r_vir,mass", comments="")
    out = tmp_path / "res"
    p = _parser()
    a = p.parse_args(["stats", str(pred), "--field", "hi", "--truth", str(truth), "--out", str(out),
                      "--statistics", "total_mass,pdf,power,cddf,bispectrum,halos", "--halos", str(cat)])
    assert a.func(a) == 0
    for name in ("total_mass", "pdf", "power", "cddf", "bispectrum", "halos"):
        assert (out / f"{name}.png").read_bytes()[:4] == PNG
    ps = xr.open_zarr(out / "stats.zarr", group="pred/power")
    assert ps["power"].dims == ("sample", "axis", "slab", "k_bin")
    tp = xr.open_zarr(out / "stats.zarr", group="truth/power")
    ref = power_spectrum(xr.open_zarr(truth), field="hi")
    np.testing.assert_allclose(tp["power"], ref["power"].compute(), rtol=1e-10)
    err = xr.open_zarr(out / "stats.zarr", group="summary/power_error")
    assert err["power"].dims == ("quantile", "axis", "slab", "k_bin")
    q = xr.open_zarr(out / "stats.zarr", group="summary/cddf_quantiles")
    assert "quantile" in q["f"].dims
    with pytest.raises(FileExistsError, match="--overwrite"):
        a.func(a)
    b = p.parse_args(["plot", str(out), "--out", str(tmp_path / "figs"), "--maps", str(pred),
                      "--truth", str(truth), "--field", "gas", "--only", "power,halos"])
    assert b.func(b) == 0
    assert (tmp_path / "figs" / "maps.png").read_bytes()[:4] == PNG
    assert (tmp_path / "figs" / "power.png").exists()


@pytest.mark.parametrize("rechunk", ["disk", "p2p"])
def test_stats_command_on_a_local_cluster(tmp_path, rechunk, capsys):
    """--workers starts a LocalCluster; both transpositions give the in-memory spectrum; progress shown."""
    pred = _store(tmp_path / "pred.zarr", 0, 4)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    p = _parser()
    a = p.parse_args(["stats", str(pred), "--field", "gas", "--out", str(tmp_path / "o"), "--workers", "2",
                      "--statistics", "power", "--rechunk", rechunk, "--scratch-dir", str(scratch)])
    assert a.func(a) == 0
    got = xr.open_zarr(tmp_path / "o" / "stats.zarr", group="pred/power")
    ref = power_spectrum(xr.open_zarr(pred)["gas"].values, box_size=ATTRS["box_size"])
    np.testing.assert_allclose(got["power"], ref["power"], rtol=1e-10)
    assert list(scratch.iterdir()) == []
    assert "Completed" in capsys.readouterr().out  # distributed's progress bar


def test_stats_command_names_a_missing_store(tmp_path):
    a = _parser().parse_args(["stats", str(tmp_path / "nope.zarr"), "--out", str(tmp_path / "o")])
    with pytest.raises(FileNotFoundError, match="no store at .*nope.zarr"):
        a.func(a)


def test_unknown_statistic_and_field(tmp_path):
    pred = _store(tmp_path / "p.zarr", 0, 3)
    p = _parser()
    a = p.parse_args(["stats", str(pred), "--field", "gas", "--out", str(tmp_path / "o"), "--statistics", "pk"])
    with pytest.raises(ValueError, match="unknown statistics"):
        a.func(a)
    a = p.parse_args(["stats", str(pred), "--field", "dm", "--out", str(tmp_path / "o")])
    with pytest.raises(KeyError, match="pass --field"):
        a.func(a)


def test_realisation_quantiles_and_errors():
    rng = np.random.default_rng(0)
    truth = xr.Dataset({"power": ("k_bin", np.ones(5))})
    pred = xr.Dataset({"power": (("sample", "k_bin"), 1 + 0.1 * rng.normal(size=(400, 5)))})
    q = realisation_quantiles(pred)
    assert q["power"].dims == ("quantile", "k_bin")
    np.testing.assert_allclose(q["power"].sel(quantile=0.5), 1.0, atol=0.02)
    np.testing.assert_allclose(q["power"].sel(quantile=0.84) - q["power"].sel(quantile=0.16), 0.2, atol=0.03)
    e = fractional_error(pred, truth)
    np.testing.assert_allclose(e["power"].sel(quantile=0.5), 0.0, atol=0.02)
    assert e["power"].attrs["units"] == "1"


def test_plot_functions_write_png(tmp_path):
    k = np.geomspace(0.01, 1, 20)
    fig = stats_panel(k, truth=k**-2, samples=k**-2 * (1 + 0.05 * np.random.default_rng(0).normal(size=(4, 20))),
                      unet=0.8 * k**-2)
    assert save_figure(fig, tmp_path / "a.png").endswith("a.png")
    fig = map_panels({"truth": np.ones((8, 8)), "sample": np.full((8, 8), 2.0)}, extent=100.0)
    save_figure(fig, tmp_path / "b.png")
    hm = 10 ** np.random.default_rng(1).uniform(10, 13, 50)
    save_figure(halo_panel(hm, 0.1 * hm, truth_mass=0.11 * hm), tmp_path / "c.png")
    for n in "abc":
        assert (tmp_path / f"{n}.png").read_bytes()[:4] == PNG
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_figure(stats_panel(k), tmp_path / "a.png", overwrite=False)


def test_dataset_attrs_beyond_geometry_are_ignored():
    ds = xr.Dataset({"gas": (("y", "x"), np.ones((8, 8), np.float32))},
                    attrs=dict(ATTRS, source="/some/path.hdf5", fields=["gas"]))
    from ember_dist.stats import total_mass

    out = total_mass(ds, field="gas")
    assert out.attrs["box_size"] == 640.0 and "source" not in out.attrs
