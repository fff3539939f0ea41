"""tools/application_vs_references.py on a hand-made report: power-law spectra give known ratios."""
import json

import numpy as np
import pytest

from tests.conftest import load_tool


def _report():
    k = np.linspace(1e-3, 0.1, 50)  # h/ckpc
    ref = lambda a, frac: {  # noqa: E731
        "label": f"ref {a}", "statistics": {
            "power_gas": {"x": k.tolist(), "y": (a * k ** -2).tolist()},
            "halos": {"fraction_gas": frac, "haloes_per_bin": [3, 0]}}}
    return {"models": {"gas": {"name": "m"}},
            "statistics": {"power_gas": {"x": k.tolist(), "pred_q16_q50_q84": [None, (6 * k ** -2).tolist(), None]},
                           "halos": {"pred_fraction_gas": [None, [0.15, 0.2], None], "haloes_per_bin": [10, 2]}},
            "references": [ref(2.0, [0.16, None]), ref(3.0, [0.17, None])],
            "errors_vs_reference": {"ref 2.0": {"power_gas": {"error": 2.0}}}}


def test_ratios_of_power_laws_and_the_halo_fractions(tmp_path, capsys):
    t = load_tool("application_vs_references")
    r = _report()
    assert t.power_ratios(r, "gas", [2, 10, 60]) == {"ref 2.0": pytest.approx([3.0] * 3), "ref 3.0": pytest.approx([2.0] * 3)}
    assert np.isnan(t.power_ratios(r, "gas", [200])["ref 2.0"][0])  # beyond both spectra's k: no extrapolation
    assert t.halo_fractions(r)["enriched"] == ([0.15, 0.2], [10, 2])
    p = tmp_path / "report.json"
    p.write_text(json.dumps(r))
    assert t.main([str(p), "--k", "5", "40"]) == 0
    out = capsys.readouterr().out
    assert "gas (m): enriched P(k) / reference P(k) at k = 5 / 40 h/Mpc" in out and "ref 2.0: 3.00 / 3.00" in out
    assert "enriched: 0.150 / 0.200 (10 / 2)" in out and "ref 3.0: 0.170 / - (3 / 0)" in out
    p.write_text(json.dumps({**r, "references": []}))
    with pytest.raises(SystemExit):
        t.main([str(p)])
    assert "no references in this report" in capsys.readouterr().err
