# SPDX-License-Identifier: BSD-3-Clause
"""Honest stats figures and the printed table: large errors stay in view, k in h/Mpc, map ticks, groups named."""
import argparse
import warnings

import numpy as np
import pytest
import xarray as xr

from ember_dist.stats import power_spectrum
from ember_dist.stats.cli import add_stats_parser
from ember_dist.stats.figures import statistic_figure
from ember_dist.stats.plots import stats_panel

ATTRS = dict(box_size=640.0, redshift=2.0, hubble=0.6774, omega_m=0.3089, omega_b=0.0486,
             omega_l=0.6911, pixel_size=10.0, slab_depth=320.0)


def _stores(tmp_path, factor=6.7):
    """Truth maps and a 'prediction' = factor x truth (2 realisations): a +570% error everywhere."""
    rng = np.random.default_rng(0)
    truth = (1e7 * rng.lognormal(0, 1, (1, 2, 64, 64))).astype(np.float32)
    coords = {"axis": ["z"]}
    xr.Dataset({"gas": (("axis", "slab", "y", "x"), truth)}, coords=coords, attrs=ATTRS).to_zarr(tmp_path / "t.zarr")
    pred = np.stack([truth * factor, truth * factor])
    xr.Dataset({"gas": (("sample", "axis", "slab", "y", "x"), pred)}, coords=coords,
               attrs=ATTRS).to_zarr(tmp_path / "p.zarr")
    return truth.astype(np.float64)


@pytest.mark.parametrize("factor, scale", [(6.7, "linear"), (0.97, "linear"), (1e4, "symlog")])
def test_error_axis_holds_the_error(factor, scale):
    x = np.arange(1, 6.0)
    fig = stats_panel(x, truth=np.ones(5), samples=np.ones((3, 5)) * factor)
    ex = fig.axes[1]
    lo, hi = ex.get_ylim()
    err = factor - 1
    assert lo <= min(err, -0.5) and hi >= max(err, 0.5), (lo, hi)
    assert ex.get_yscale() == scale
    assert np.allclose(ex.lines[-1].get_ydata(), err)  # the median error curve is drawn where it belongs


def test_stats_run_prints_the_table_and_groups_and_draws_honest_figures(tmp_path, capsys):
    truth = _stores(tmp_path)
    out = tmp_path / "res"
    p = argparse.ArgumentParser(prog="ember-dist")
    add_stats_parser(p.add_subparsers(dest="command"))
    a = p.parse_args(["stats", str(tmp_path / "p.zarr"), "--field", "gas", "--truth", str(tmp_path / "t.zarr"),
                      "--out", str(out), "--quiet"])
    assert a.func(a) == 0
    text = capsys.readouterr().out
    # the table: one row per map with the median prediction, the truth and the error
    for slab in (0, 1):
        m = truth[0, slab].sum()
        row = next(r for r in text.splitlines() if r.startswith("total mass") and f" z/{slab} " in r)
        assert f"{6.7 * m:.3g}" in row and f"{m:.3g}" in row and "+570.0%" in row, row
    # P(k) of the overdensity does not see a constant factor: three k rows, prediction = truth, in (Mpc/h)^2
    ref = power_spectrum(xr.open_zarr(tmp_path / "t.zarr"), field="gas")
    k0 = float(ref["k"][0]) * 1000  # h/ckpc -> h/Mpc
    p0 = float(ref["power"].mean(("axis", "slab"))[0]) / 1e6  # (ckpc/h)^2 -> (Mpc/h)^2
    rows = [r.split() for r in text.splitlines() if r.startswith("P(k) [(Mpc/h)^2]")]
    assert len(rows) == 3 and rows[0][2] == f"k={k0:.3g}" and rows[0][4:6] == [f"{p0:.3g}", f"{p0:.3g}"], rows
    assert all(r[3] == "h/Mpc" and r[6] in ("+0.0%", "-0.0%") for r in rows), rows
    pdf = next(r for r in text.splitlines() if r.startswith("pixel PDF"))
    assert "mean |error|" in pdf and not pdf.rstrip().endswith("+") and "%" in pdf
    # where the data are: groups named, and each opens silently
    store = out / "stats.zarr"
    assert "group='pred/total_mass'" in text and "summary/power_error" in text
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ps = xr.open_zarr(store, group="pred/power")
        assert ps.attrs["field"] == "gas" and ps["k"].attrs["units"] == "h/ckpc"  # the store keeps h/ckpc
        tm = xr.open_zarr(store, group="truth/total_mass")
    # the figures, drawn from the stored statistics
    pm = xr.open_zarr(store, group="pred/total_mass").load()
    fig = statistic_figure("total_mass", pm, tm.load())
    ax, ex = fig.axes
    assert ex.get_ylim()[1] >= 5.7  # the +570% error is inside the error panel
    assert [t.get_text() for t in ex.get_xticklabels()] == ["z/0", "z/1"]
    assert "gas" in ax.get_title() and "total mass" in ax.get_title()
    fig = statistic_figure("power", ps.load(), xr.open_zarr(store, group="truth/power").load())
    ax, ex = fig.axes
    assert ex.get_xlabel() == "k [h/Mpc]" and ax.get_ylabel() == "P(k) [(Mpc/h)^2]"
    np.testing.assert_allclose(ex.lines[-1].get_xdata(), ps["k"].values * 1000)
    assert ex.get_ylim() == (-0.5, 0.5)  # errors of 0: the paper's +-50% panel
    assert "power spectrum" in ax.get_title() and "2 realisations" in ax.get_title()


def test_map_panel_tick_labels_do_not_overlap():
    """evaluate's maps.png: a 15 Mpc/h map in three panels; no tick label runs into the next panel."""
    from ember_dist.stats.plots import map_panels

    rng = np.random.default_rng(0)
    fig = map_panels({n: rng.lognormal(size=(64, 64)) for n in ("dm", "truth", "model")}, extent=15000.0)
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    axes = fig.axes[:3]
    assert axes[0].get_xlabel() == "x [Mpc/h]" and axes[0].get_ylabel() == "y [Mpc/h]"

    def drawn(ax):  # tick labels matplotlib draws: visible, non-empty, inside the view limits
        out = []
        for ticks, labels, (lo, hi) in ((ax.get_xticks(), ax.get_xticklabels(), ax.get_xlim()),
                                        (ax.get_yticks(), ax.get_yticklabels(), ax.get_ylim())):
            out += [t.get_window_extent(r) for v, t in zip(ticks, labels)
                    if t.get_visible() and t.get_text() and lo <= v <= hi]
        return out

    boxes = [drawn(ax) for ax in axes]
    assert len(boxes[0]) > len(boxes[1]) > 0  # y tick labels on the first panel only
    for left, right in zip(boxes, boxes[1:]):
        assert not any(a.overlaps(b) for a in left for b in right)
