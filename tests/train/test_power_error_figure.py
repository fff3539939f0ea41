# SPDX-License-Identifier: BSD-3-Clause
"""tools/power_error_figure.py: the named models' P(k) error from an evaluation report, nothing else."""
import json

import numpy as np
import pytest

from tests.conftest import load_tool


def _report():
    k = np.linspace(1e-3, 0.08, 20)
    unet = {"model": "a-unet", "n_maps": 4, "realisations": 1, "k_nyquist": 0.1, "power_k": k.tolist(),
            "power_frac_error_median": (-k / 0.08).tolist(), "power_frac_error_per_realisation": [(-k / 0.08).tolist()]}
    reals = np.stack([0.05 * np.sin(30 * k) + d for d in (-0.02, 0.0, 0.03)])
    wgan = {**unet, "model": "a-wgan", "realisations": 3, "power_frac_error_median": reals.mean(axis=0).tolist(),
            "power_frac_error_per_realisation": reals.tolist()}
    mr = {**unet, "model": "a-wgan-mr", "power_frac_error_median": (1e3 * k).tolist()}
    return {"models": [unet, wgan, mr]}, k, reals


def test_the_figure_draws_the_named_models_errors_and_their_realisations_spread(tmp_path):
    t = load_tool("power_error_figure")
    rep, k, reals = _report()
    fig = t.power_error_figure(rep, ["a-unet", "a-wgan"], labels=["U", "W"])
    ax = fig.axes[0]
    lines = {ln.get_label().split(" (")[0]: ln for ln in ax.get_lines() if not ln.get_label().startswith("_")}
    assert set(lines) == {"U", "W"}  # the MR model of the same report is not drawn
    np.testing.assert_allclose(lines["U"].get_xdata(), k * 1e3)  # h/Mpc
    np.testing.assert_allclose(lines["W"].get_ydata(), reals.mean(axis=0))
    band = ax.collections[-1].get_paths()[0].vertices[:, 1]  # the WGAN's realisations' min-max
    assert band.min() == pytest.approx(reals.min()) and band.max() == pytest.approx(reals.max())
    assert "W (4 maps x 3)" in [ln.get_label() for ln in ax.get_lines()]
    with pytest.raises(SystemExit, match="not in the report: b-wgan"):
        t.power_error_figure(rep, ["b-wgan"])
    path = tmp_path / "report.json"
    path.write_text(json.dumps(rep))
    out = tmp_path / "f.png"
    assert t.main([str(path), "--models", "a-wgan", "--out", str(out)]) == 0 and out.stat().st_size > 1000
    with pytest.raises(SystemExit):  # an existing figure is not overwritten
        t.main([str(path), "--models", "a-wgan", "--out", str(out)])
