# SPDX-License-Identifier: BSD-3-Clause
"""``ember-dist evaluate``'s table statistics on hand-made predictions whose errors are known exactly.

No network: the metrics take the truth and the predictions as arrays (2 maps of 32^2 pixels, 10 ckpc/h).
Each map's overdensity delta is scaled per realisation, so P and the equilateral B of the overdensity
scale by a^2 and a^3 in every bin.
"""
from __future__ import annotations

import csv
import json
from types import SimpleNamespace

import numpy as np
import pytest

from ember_dist.train.eval_table import judge, table_rows, write_table
from ember_dist.train.evaluate import COLUMNS, TARGETS, _metrics, _report, band_coverage, per_box_rows

N, PIX = 32, 10.0
ATTRS = {"pixel_size": PIX, "redshift": 3.0, "hubble": 0.6774, "slab_depth": 7500.0}
KF = 2 * np.pi / (N * PIX)  # h/ckpc; k_Nyq = 16 k_F


@pytest.fixture(scope="module")
def truth():
    return np.exp(0.3 * np.random.default_rng(5).standard_normal((2, N, N))) * 1e8


def _scaled(truth, factors):
    """(maps, real, y, x): each map's overdensity times factors[r](|k| / k_F), its mean kept."""
    kk = np.sqrt(np.fft.fftfreq(N, 1.0 / N)[:, None] ** 2 + np.arange(N // 2 + 1)[None, :] ** 2)
    out = []
    for m in truth:
        mean = m.mean()
        d = np.fft.rfft2(m / mean - 1.0)
        out.append([mean * (1.0 + np.fft.irfft2(d * g(kk), s=(N, N))) for g in factors])
    return np.asarray(out)


def _const(a):
    return lambda kk: np.full(kk.shape, a)


def _evaluate(truth, preds, field="gas"):
    b = SimpleNamespace(field=field, name=f"hand-{field}", meta={"kind": "wgan"})
    m = _metrics(b, truth, preds, ATTRS)
    return _report(b, m, "truth.zarr", None, ("z",), 0), m


def test_band_coverage_edges_and_too_few_realisations():
    real = np.array([[[1.0, 1.0], [2.0, 3.0], [3.0, 5.0], [4.0, 7.0]]])  # 1 map, 4 realisations, 2 bins
    # Weibull 16-84%: positions 0.8 and 4.2 of 1..4 -> bin 0 [1.0, 4.0] (clipped), bin 1 [1.0, 7.0]
    five = np.array([[[1.0], [2.0], [3.0], [4.0], [5.0]]])  # positions 0.96 and 5.04: [1, 5]; 7 values:
    seven = np.arange(1.0, 8.0).reshape(1, 7, 1)  # positions 1.28 and 6.72 -> [1.28, 6.72]
    assert band_coverage([[1.2, 6.0]], seven[:, :, [0, 0]]) == 0.5
    assert band_coverage([[1.28, 6.72]], seven[:, :, [0, 0]]) == 1.0  # band edges count as inside
    assert band_coverage([[4.5]], real[:, :, :1]) == 0.0 and band_coverage([[1.0, 7.0]], real) == 1.0
    assert band_coverage([[5.0]], five) == 1.0
    assert np.isnan(band_coverage([[2.0, 2.0]], real[:, :1]))  # one realisation: no band
    assert band_coverage([[2.0, np.nan]], real) == 1.0  # NaN bins are left out


@pytest.mark.parametrize("n", [4, 6, 8, 32])
def test_band_coverage_of_a_calibrated_emulator_is_68_percent_for_any_number_of_realisations(n):
    """A truth drawn like one more realisation (order statistics: a new draw falls below the j-th of n with
    probability j / (n + 1), whatever the distribution): inside the Weibull 16-84% band with probability 0.68 at
    the order statistics, 0.68-0.71 between them from 6 realisations on; with 4 the band is the realisations'
    range, 3/5 exactly. NumPy's linear band holds it with ~0.68 (n - 1) / (n + 1): 0.53 for 8, short of 2/3."""
    rng = np.random.default_rng(n)
    real = rng.lognormal(0.0, 0.3, (4000, n, 25))
    true = rng.lognormal(0.0, 0.3, (4000, 25))
    cov = band_coverage(true, real)
    assert cov == pytest.approx(3 / 5, abs=0.005) if n == 4 else 0.675 <= cov <= 0.715
    p_lo, p_hi = np.percentile(real, [16, 84], axis=1)  # linear
    linear = float(((true >= p_lo) & (true <= p_hi)).mean())
    assert linear == pytest.approx(0.68 * (n - 1) / (n + 1), abs=0.04) and linear < 2 / 3


def test_uniformly_scaled_overdensity_gives_exact_errors(truth, tmp_path):
    """Realisations with delta x 0.9, 1.0, 1.1: B error |a^3 - 1|, P error mean(a^2) - 1, truth inside the band."""
    r, m = _evaluate(truth, _scaled(truth, [_const(a) for a in (0.9, 1.0, 1.1)]))
    k_nyq = np.pi / PIX
    assert r["k_nyquist"] == pytest.approx(16 * KF)
    assert (np.asarray(r["bispectrum_k"]) <= 0.5 * k_nyq).sum() >= 5  # shells 2..8 k_F of the default set
    np.testing.assert_allclose(np.asarray(r["bispectrum_frac_error_per_realisation"]),
                               np.array([0.9**3 - 1, 0.0, 1.1**3 - 1])[:, None]
                               * np.ones(len(r["bispectrum_k"])), atol=1e-9)
    assert r["bispectrum_mean_abs_frac_error"] == pytest.approx(1 - 0.9**3, rel=1e-9)  # median of .271, 0, .331
    p_err = (0.81 + 1.0 + 1.21) / 3 - 1
    assert r["power_max_abs_frac_error_low"] == pytest.approx(p_err, rel=1e-9)
    assert r["power_max_abs_frac_error_mid"] == pytest.approx(p_err, rel=1e-9)
    assert r["power_mean_abs_frac_error_low"] == pytest.approx(p_err, rel=1e-9)
    assert r["power_band_coverage"] == 1.0
    assert abs(r["total_mass_frac_error_median"]) < 1e-12
    t = r["targets"]
    assert {c: v["pass"] for c, v in t.items()} == {
        "total mass error (median)": True, "max abs P(k) error, k <= k_Nyq/2": True,
        "max abs P(k) error, k_Nyq/2 < k <= 3/4 k_Nyq": True, "P(k) 16-84% band coverage, k <= 3/4 k_Nyq": True,
        "mean abs B_eq error, k <= k_Nyq/2": False,  # 27.1% > 20%
        "max abs PDF error, 1-99%": t["max abs PDF error, 1-99%"]["value"] <= 0.1}
    # the table: every column, the marks and the definitions
    rows = table_rows([r], [m])
    write_table(rows, tmp_path, [r["targets"]])
    row = rows[0]
    assert row["mean abs B_eq error, k <= k_Nyq/2"] == pytest.approx(0.271)
    assert row["P(k) 16-84% band coverage, k <= 3/4 k_Nyq"] == 1.0
    assert row["mean abs CDDF error"] is None and row["max abs CDDF error, >= 10 per bin"] is None  # gas
    assert row["targets missed"].startswith("B_eq")
    md = (tmp_path / "table.md").read_text()
    assert "| 27.1% MISS |" in md and "| 100.0% pass |" in md and "| 0.7% pass |" in md
    for col, (_, text) in COLUMNS.items():
        assert f"- **{col}**: {text}." in md
    with open(tmp_path / "table.csv") as f:
        got = next(csv.DictReader(f))
    assert float(got["mean abs B_eq error, k <= k_Nyq/2"]) == pytest.approx(0.271)
    json.dumps(r, allow_nan=False)  # no NaN in the report: absent values are null


def test_per_box_rows_split_the_statistics_by_simulation_box(truth, tmp_path):
    """Maps of two boxes (a stacked store's slab_box_seed): box 4's prediction 1.1 x truth, box 10's the truth
    with delta x 1.1; each box's row holds its own errors, and the table of them is written beside the main one."""
    b = SimpleNamespace(field="gas", name="hand-gas", meta={"kind": "wgan"})
    preds = np.stack([1.1 * truth[0], _scaled(truth[1:], [_const(1.1)])[0, 0]])[:, None]
    rows = per_box_rows(b, truth, preds, {**ATTRS, "slab_box_seed": [4, 10]}, "truth.zarr")
    assert list(rows) == ["4", "10"] and [(r["model"], r["box"]) for r in rows.values()] == [("hand-gas", 4),
                                                                                              ("hand-gas", 10)]
    assert rows["4"]["total mass error (median)"] == pytest.approx(0.1, rel=1e-9)
    assert rows["4"]["max abs P(k) error, k <= k_Nyq/2"] == pytest.approx(0.0, abs=1e-9)
    assert rows["10"]["total mass error (median)"] == pytest.approx(0.0, abs=1e-9)
    assert rows["10"]["max abs P(k) error, k <= k_Nyq/2"] == pytest.approx(0.21, rel=1e-9)
    assert rows["10"]["mean abs B_eq error, k <= k_Nyq/2"] == pytest.approx(0.331, rel=1e-9)
    assert rows["4"]["maps x realisations"] == "1 x 1"
    write_table(list(rows.values()), tmp_path, name="per-box")
    assert (tmp_path / "per-box.md").read_text().startswith("| model | box | kind |")
    assert not (tmp_path / "table.md").exists()
    # one box, or no record of the boxes: no per-box rows
    assert per_box_rows(b, truth, preds, {**ATTRS, "slab_box_seed": [4, 4]}, "truth.zarr") == {}
    assert per_box_rows(b, truth, preds, ATTRS, "truth.zarr") == {}


def test_scaled_mass_leaves_overdensity_statistics_unchanged(truth):
    """prediction = 1.1 x truth: mass +10% (a MISS), P and B of the overdensity exact, no band (1 realisation)."""
    r, _ = _evaluate(truth, 1.1 * truth[:, None])
    assert r["total_mass_frac_error_median"] == pytest.approx(0.1, rel=1e-9)
    assert r["bispectrum_mean_abs_frac_error"] == pytest.approx(0.0, abs=1e-9)
    assert r["power_max_abs_frac_error_low"] == pytest.approx(0.0, abs=1e-9)
    assert r["power_band_coverage"] is None
    assert not r["targets"]["total mass error (median)"]["pass"]
    assert "P(k) 16-84% band coverage, k <= 3/4 k_Nyq" not in r["targets"]  # not judged
    missed = table_rows([r], [_evaluate(truth, 1.1 * truth[:, None])[1]])[0]["targets missed"].split(", ")
    assert missed[0] == "mass" and not {"P(k) low k", "P(k) high k", "B_eq"} & set(missed)


def test_band_coverage_of_k_dependent_realisations(truth):
    """Below 6 k_F the realisations scale delta by 0.9, 1, 1.1 (truth inside), above by 1.1, 1.2, 1.3 (outside)."""
    fs = [lambda kk, lo=lo, hi=hi: np.where(kk < 6, lo, hi) for lo, hi in ((0.9, 1.1), (1.0, 1.2), (1.1, 1.3))]
    r, _ = _evaluate(truth, _scaled(truth, fs))
    k = np.asarray(r["power_k"])
    inside = k <= 0.75 * np.pi / PIX
    assert inside.sum() == 11 and (k[inside] < 6 * KF).sum() == 5  # bins 1..11 k_F, bins 1..5 below 6 k_F
    assert r["power_band_coverage"] == pytest.approx(5 / 11, rel=1e-12)
    assert not r["targets"]["P(k) 16-84% band coverage, k <= 3/4 k_Nyq"]["pass"]  # 45% < 2/3
    high = (1.21 + 1.44 + 1.69) / 3 - 1
    assert r["power_max_abs_frac_error_low"] == pytest.approx(high, rel=1e-9)
    assert r["power_max_abs_frac_error_mid"] == pytest.approx(high, rel=1e-9)


def test_pdf_error_over_the_1_99_percentile_range(truth):
    """prediction = truth x 10^0.2 moves every pixel one PDF bin (0.2 dex) up: pdf_pred[i] = pdf_true[i - 1]."""
    r, m = _evaluate(truth, truth[:, None] * 10**0.2)
    lt = np.log10(truth.ravel())
    e = np.arange(np.floor(lt.min()), np.ceil(lt.max()) + 1e-9, 0.2)
    c = np.histogram(lt, bins=e)[0].astype(float)
    shifted = np.concatenate([[0.0], c[:-1]])
    p1, p99 = np.percentile(truth, [1, 99])
    centre = 10 ** ((e[:-1] + e[1:]) / 2)
    use = (centre >= p1) & (centre <= p99) & (c >= 20)
    assert use.sum() >= 2
    want = np.max(np.abs(shifted[use] / c[use] - 1))
    assert r["pdf_max_abs_frac_error_1_99"] == pytest.approx(want, rel=1e-12)
    assert r["pdf_range_1_99"] == pytest.approx([p1, p99])


def test_hi_cddf_column_and_field_mass_target(truth):
    """HI: a perfect prediction meets every target; the mass bound is 5% for HI (3% passes, 2% would not for gas)."""
    hi = truth * 1e-4
    r, _ = _evaluate(hi, hi[:, None], field="hi")
    assert r["cddf_max_abs_frac_error_min10"] == 0.0 and r["pdf_max_abs_frac_error_1_99"] == 0.0
    assert all(t["pass"] for t in r["targets"].values()) and "max abs CDDF error, >= 10 per bin" in r["targets"]
    assert judge({"field": "hi", "total_mass_frac_error_median": -0.03})["total mass error (median)"]["pass"]
    assert not judge({"field": "gas", "total_mass_frac_error_median": -0.03})["total mass error (median)"]["pass"]
    assert set(TARGETS) <= set(COLUMNS)
