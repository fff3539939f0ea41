# SPDX-License-Identifier: BSD-3-Clause
"""The report's statistic figures: k in h/Mpc (the statistics keep h/ckpc and say so), and one realisation
drawn as itself, without a 16-84% band or label."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from ember_dist.pipeline import figures, report
from ember_dist.pipeline.statistics import summarise_references

K = np.array([1e-3, 2e-3, 4e-3])  # h/ckpc
P = np.array([[4e6, 2e6, 1e6], [5e6, 3e6, 1.5e6], [3e6, 1e6, 0.5e6]])  # (ckpc/h)^2, 3 realisations
UNITS = ("h/ckpc", "(ckpc/h)^2")


@pytest.fixture
def drawn(monkeypatch):
    """The figures the report would save, kept open instead."""
    figs = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, path: figs.append(fig) or str(path))
    yield figs
    import matplotlib.pyplot as plt

    for f in figs:
        plt.close(f)


def _legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_power_drawn_in_h_per_mpc_with_median_and_band(drawn, tmp_path):
    ref = {"label": "suite box", "x": [2e-3, 4e-3], "y": [2.5e6, 1.25e6]}
    figures.statistic_figure(K, P, P[0], tmp_path / "p.png", "k", "P(k)", "power_gas", references=[ref], units=UNITS)
    ax, ex = drawn[0].axes
    assert ex.get_xlabel() == "k [h/Mpc]" and ax.get_ylabel() == "P(k) [(Mpc/h)^2]"
    truth, median, reference = ax.lines
    np.testing.assert_allclose(truth.get_xdata(), [1.0, 2.0, 4.0])  # 1e-3 h/ckpc = 1 h/Mpc
    np.testing.assert_allclose(truth.get_ydata(), [4.0, 2.0, 1.0])  # 4e6 (ckpc/h)^2 = 4 (Mpc/h)^2
    np.testing.assert_allclose(median.get_ydata(), [4.0, 2.0, 1.0])  # medians of 4,5,3 / 2,3,1 / 1,1.5,0.5
    np.testing.assert_allclose(reference.get_xdata(), [2.0, 4.0])
    np.testing.assert_allclose(reference.get_ydata(), [2.5, 1.25])
    assert _legend(ax) == ["truth", "enriched (median, 16-84%)", "suite box"]
    assert len(ax.collections) == 1 and len(ex.collections) == 1  # the band, above and in the error panel


def test_one_realisation_is_labelled_as_such_without_a_band(drawn, tmp_path):
    ref = {"label": "suite box", "x": [2e-3, 4e-3], "y": [2.5e6, 1.25e6]}
    figures.statistic_figure(K, P[:1], None, tmp_path / "p.png", "k", "P(k)", "power_gas", references=[ref],
                             units=UNITS)
    figures.statistic_figure(K, P[:1], P[1], tmp_path / "q.png", "k", "P(k)", "power_gas", units=UNITS)
    (ax, ex), (ax2, ex2) = drawn[0].axes, drawn[1].axes
    assert _legend(ax) == ["enriched (1 realisation)", "suite box"] and _legend(ax2) == ["truth", "prediction (1 realisation)"]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [4.0, 2.0, 1.0])
    # below, enriched / reference - 1 at the reference's k: P interpolated in log-log onto 2 and 4 h/Mpc
    np.testing.assert_allclose(ex.lines[-1].get_ydata(), [2.0 / 2.5 - 1, 1.0 / 1.25 - 1])
    np.testing.assert_allclose(ex2.lines[-1].get_ydata(), [4 / 5 - 1, 2 / 3 - 1, 1 / 1.5 - 1])
    assert [len(a.collections) for a in (ax, ex, ax2, ex2)] == [0, 0, 0, 0]  # no band anywhere


def test_halo_figure_one_realisation(drawn, tmp_path):
    h = {"halo_mass": [1e11, 1e12], "pred_mass_gas": [[1e9, 1e10]] * 3, "realisations": 1,
         "mass_bin_edges": [1e10, 1e13], "pred_fraction_gas": [[0.1]] * 3}
    figures.halo_figure(h, ["gas"], tmp_path / "h.png", 0.16)
    texts = [t for ax in drawn[0].axes for t in _legend(ax)]
    assert "enriched (1 realisation)" in texts and not any("16-84" in t for t in texts), texts
    assert len(drawn[0].axes[1].collections) == 0


def test_reference_errors_name_their_units_and_the_page_shows_h_per_mpc():
    ref = xr.Dataset({"power": ("k_bin", [2e6, 1e6], {"units": "(ckpc/h)^2"}),
                      "k": ("k_bin", [1e-3, 2e-3], {"units": "h/ckpc"})})
    summary = {"power_gas": {"x": [1e-3, 2e-3], "pred_q16_q50_q84": [[0, 0], [2.2e6, 1.1e6], [0, 0]]}}
    (entry,) = summarise_references({"ref0/power_gas": ref}, summary, [{"label": "r"}],
                                    {"fields": ["gas"], "mass_bins": 3})
    assert entry["statistics"]["power_gas"]["x_units"] == "h/ckpc"
    assert entry["statistics"]["power_gas"]["y_units"] == "(ckpc/h)^2"
    err = entry["errors"]["power_gas"]
    assert err["x_units"] == "h/ckpc" and err["x_range"] == [1e-3, 2e-3]
    assert err["error"] == pytest.approx(0.1) and err["n_bins"] == 2
    assert report._x_range(err) == "1 - 2 h/Mpc"
