# SPDX-License-Identifier: BSD-3-Clause
"""``ember-dist evaluate``: trained bundles on held-out projections, with a Table-4-like table and figures.

For every held-out map (projections ``axes``, default ``z``; all slabs) each
bundle predicts the field from its input map ``realisations`` times (seeds
``seed .. seed + realisations - 1``; a U-Net gives one prediction whatever the
number asked), with :func:`ember_dist.engine.reference.predict_whole` (whole
periodic map, exact halo).  Reported per model (:func:`evaluate`):

* total-mass fractional error per map and realisation,
  ``sum(pred) / sum(true) - 1``, and its median (the paper's Table 4 statistic);
* power-spectrum fractional error per k, ``P_pred(k) / P_true(k) - 1`` of the
  overdensity, with ``P_pred`` averaged over realisations, median over maps; its
  largest |value| for k <= k_Nyquist/2 and for k_Nyquist/2 < k <= 3/4 k_Nyquist,
  and how often the truth lies inside the realisations' 16-84 % band;
* the equilateral bispectrum of the overdensity
  (:func:`ember_dist.stats.bispectrum.bispectrum`, mean over maps) and its
  fractional error per realisation;
* pixel PDF (dN/dlog10 m of all held-out pixels) and, for HI, the column
  density distribution function f(N_HI) with their fractional errors (bins the
  truth fills with at least ``min_counts`` pixels).

:func:`evaluate_models` runs several bundles on the same truth and writes
``table.md`` / ``table.csv`` (one row per model, the columns and their
definitions in :data:`COLUMNS`, issue 18's targets in :data:`TARGETS` with a
pass/MISS mark per target column in ``table.md``) and figures in the style of
the paper's Figs. 3-6: ``maps.png`` (dark matter, truth and each model on one
held-out map), ``power.png`` (P(k) over its fractional-error panel with 10 % and
20 % bands), ``bispectrum.png`` (the same for the equilateral bispectrum),
``pdf.png`` and, for HI, ``cddf.png``.
"""
from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import numpy as np

__all__ = ["evaluate", "evaluate_models", "predict_held_out", "band_coverage", "TABLE_K", "COLUMNS", "TARGETS"]

#: Wavenumbers (h/ckpc) whose P(k) fractional errors the table lists (nearest bin).
TABLE_K = (0.005, 0.01, 0.02, 0.03, 0.04)

#: Pixels (sightlines) per N_HI bin the truth must hold for the CDDF target (issue 18).
CDDF_MIN_ABSORBERS = 10

#: Table columns beyond the model description and the P(k) errors at TABLE_K: column -> (report.json key,
#: definition).  k_Nyq = pi / pixel_size; "P(k)" and "B" are of the overdensity m / <m> - 1 of each map;
#: e_P(map, k) = <P_pred(map, real, k)>_real / P_true(map, k) - 1.
COLUMNS = {
    "total mass error (median)": (
        "total_mass_frac_error_median", "median over maps and realisations of sum(pred) / sum(true) - 1"),
    "mean abs P(k) error, k <= k_Nyq/2": (
        "power_mean_abs_frac_error_low", "mean over k bins with k <= k_Nyq/2 of |median over maps of e_P|"),
    "max abs P(k) error, k <= k_Nyq/2": (
        "power_max_abs_frac_error_low", "max over k bins with k <= k_Nyq/2 of |median over maps of e_P|"),
    "max abs P(k) error, k_Nyq/2 < k <= 3/4 k_Nyq": (
        "power_max_abs_frac_error_mid", "max over k bins with k_Nyq/2 < k <= 3/4 k_Nyq of |median over maps of e_P|"),
    "P(k) 16-84% band coverage, k <= 3/4 k_Nyq": (
        "power_band_coverage", "fraction of (map, k bin) pairs with k <= 3/4 k_Nyq where P_true lies inside the "
        "16th-84th percentile range (numpy linear) of that map's realisations' P_pred; blank with < 2 realisations"),
    "mean abs B_eq error, k <= k_Nyq/2": (
        "bispectrum_mean_abs_frac_error", "median over realisations of the mean over shells with k <= k_Nyq/2 of "
        "|B_pred(k) / B_true(k) - 1|, B the equilateral FFT-shell bispectrum (shells of width bin_width k_F from "
        "2 k_F, ember_dist.stats.bispectrum defaults) averaged over maps (B_pred per realisation)"),
    "mean abs PDF error": (
        "pdf_mean_abs_frac_error", "mean over log10 m bins (5 per dex) the truth fills with >= 20 pixels of "
        "|median over realisations of pdf_pred / pdf_true - 1|"),
    "max abs PDF error, 1-99%": (
        "pdf_max_abs_frac_error_1_99", "max of the same over bins whose geometric centre lies within the 1st-99th "
        "percentile of the truth's positive pixel values"),
    "mean abs CDDF error": (
        "cddf_mean_abs_frac_error", "HI: mean over N_HI bins (5 per dex) the truth fills with >= 20 pixels of "
        "|median over realisations of f_pred / f_true - 1|"),
    "max abs CDDF error, >= 10 per bin": (
        "cddf_max_abs_frac_error_min10", f"HI: max of the same over bins the truth fills with >= {CDDF_MIN_ABSORBERS} "
        "pixels (absorbers)"),
}

#: Issue 18's held-out targets per column: (rule, bound, short name); rule "abs<=" passes when |value| <= bound,
#: ">=" when value >= bound; a dict bound is per field.  A column a model has no value for is not judged.
TARGETS = {
    "total mass error (median)": ("abs<=", {"gas": 0.02, "hi": 0.05}, "mass"),
    "max abs P(k) error, k <= k_Nyq/2": ("abs<=", 0.10, "P(k) low k"),
    "max abs P(k) error, k_Nyq/2 < k <= 3/4 k_Nyq": ("abs<=", 0.20, "P(k) high k"),
    "P(k) 16-84% band coverage, k <= 3/4 k_Nyq": (">=", 2 / 3, "P(k) band"),
    "mean abs B_eq error, k <= k_Nyq/2": ("abs<=", 0.20, "B_eq"),
    "max abs PDF error, 1-99%": ("abs<=", 0.10, "PDF"),
    "max abs CDDF error, >= 10 per bin": ("abs<=", 0.20, "CDDF"),
}


def predict_held_out(model, maps, field=None, input_maps=None, input_var="dm", axes=("z",), realisations=1,
                     seed=0):
    """``(bundle, truth (maps, y, x), dm (maps, y, x), preds (maps, real, y, x), attrs)`` on held-out maps."""
    from ember_dist.engine.reference import predict_whole
    from ember_dist.model.bundle import load_model
    from ember_dist.train.sampler import open_maps

    if int(realisations) < 1:
        raise ValueError(f"realisations must be >= 1. Received: realisations={realisations}.")
    b = load_model(model)
    field = field or b.field
    truth, attrs = open_maps(maps, field, axes)
    dm, _ = open_maps(input_maps or maps, input_var, axes)
    nreal = int(realisations) if b.preset.noise else 1
    net = b.build()
    preds = np.stack([np.stack([predict_whole(b, d, seed=seed + r, axis=0, slab=i, model=net)
                                for r in range(nreal)]) for i, d in enumerate(dm)])  # (maps, real, y, x)
    return b, truth, dm, preds, attrs


def _frac(pred, true, ok=None):
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.asarray(pred, np.float64) / np.asarray(true, np.float64) - 1.0
    if ok is not None:
        f = np.where(ok, f, np.nan)
    return f


def _nanmedian(a, axis=0):
    with warnings.catch_warnings():  # all-NaN columns (empty predictions, empty bins) stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(a, axis=axis)


def _nanmean_abs(a):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean(np.abs(a)))


def _nanmax_abs(a):
    a = np.abs(np.asarray(a, np.float64))
    return float(np.nanmax(a)) if np.isfinite(a).any() else float("nan")


def _clean(v):
    return [float(x) if np.isfinite(x) else None for x in np.asarray(v, np.float64).ravel()]


def _num(v):
    """A finite float, or None (JSON null) for NaN / absent."""
    return float(v) if v is not None and np.isfinite(v) else None


def band_coverage(true, real, lo=16.0, hi=84.0):
    """Fraction of ``true`` entries inside the ``lo``-``hi`` percentile band of the realisations ``real``.

    Parameters
    ----------
    true : array_like, shape (maps, bins)
    real : array_like, shape (maps, realisations, bins)
        Percentiles over axis 1 (NumPy's linear interpolation); a band edge counts as inside.

    Returns
    -------
    float
        Over the (map, bin) pairs where the truth and the band are finite; NaN with fewer
        than 2 realisations or no such pair.

    >>> band_coverage([[1.0, 5.0]], [[[0.0, 0.0], [2.0, 2.0], [4.0, 4.0]]])
    0.5
    """
    true, real = np.asarray(true, np.float64), np.asarray(real, np.float64)
    if real.shape[1] < 2:
        return float("nan")
    p_lo, p_hi = np.percentile(real, [lo, hi], axis=1)
    ok = np.isfinite(true) & np.isfinite(p_lo) & np.isfinite(p_hi)
    return float(((true >= p_lo) & (true <= p_hi))[ok].mean()) if ok.any() else float("nan")


def _edges_for(truth, per_dex):
    pos = truth[truth > 0]
    if pos.size == 0:
        return None
    lo, hi = np.floor(np.log10(pos.min())), np.ceil(np.log10(pos.max()))
    return 10.0 ** np.arange(lo, hi + 1e-9, 1.0 / per_dex)


def _metrics(b, truth, preds, attrs, bin_width=1.0, min_counts=20, per_dex=5):
    """Statistics of one model's predictions against the truth (dict of arrays and lists)."""
    from ember_dist.stats.bispectrum import bispectrum
    from ember_dist.stats.cddf import cddf
    from ember_dist.stats.pdf import pixel_pdf
    from ember_dist.stats.power import power_spectrum

    nmaps, nreal = preds.shape[:2]
    mass_err = preds.astype(np.float64).sum(axis=(2, 3)) / truth.astype(np.float64).sum(axis=(1, 2))[:, None] - 1.0
    box = float(attrs.get("pixel_size", 1.0)) * truth.shape[-1]
    pt = power_spectrum(truth, box_size=box, bin_width=bin_width)
    flat = preds.reshape((-1,) + preds.shape[-2:])  # (maps * real, y, x)
    pp = power_spectrum(flat, box_size=box, bin_width=bin_width)
    p_true = np.asarray(pt["power"])  # (maps, k)
    p_pred = np.asarray(pp["power"]).reshape(nmaps, nreal, -1)
    out = {
        "mass_err": mass_err,
        "k": np.asarray(pt["k"]),
        "p_true": p_true.mean(axis=0),
        "p_pred": p_pred.mean(axis=(0, 1)),
        "p_frac_median": _nanmedian(_frac(p_pred.mean(axis=1), p_true), axis=0),
        # per realisation: median over maps (the spread of the WGAN samples)
        "p_frac_real": np.stack([_nanmedian(_frac(p_pred[:, r], p_true), axis=0) for r in range(nreal)]),
    }
    k, k_nyq = out["k"], np.pi / float(attrs.get("pixel_size", 1.0))
    low, mid = k <= 0.5 * k_nyq, (k > 0.5 * k_nyq) & (k <= 0.75 * k_nyq)
    out.update(k_nyq=k_nyq, p_mean_abs_low=_nanmean_abs(out["p_frac_median"][low]),
               p_max_abs_low=_nanmax_abs(out["p_frac_median"][low]),
               p_max_abs_mid=_nanmax_abs(out["p_frac_median"][mid]),
               p_band_coverage=band_coverage(p_true[:, low | mid], p_pred[:, :, low | mid]))
    # equilateral bispectrum of the overdensity, mean over maps (per realisation for the predictions)
    bt = bispectrum(truth, box_size=box, bin_width=bin_width)
    kb = np.asarray(bt["k1"])
    b_true = np.asarray(bt["bispectrum"]).mean(axis=0)
    b_pred = np.asarray(bispectrum(flat, k=kb, box_size=box, bin_width=bin_width)["bispectrum"])
    b_pred = b_pred.reshape(nmaps, nreal, -1).mean(axis=0)  # (real, shells)
    b_frac = _frac(b_pred, b_true[None])
    out.update(b_k=kb, b_true=b_true, b_pred=b_pred, b_frac_real=b_frac,
               b_mean_abs=float(_nanmedian(np.array([_nanmean_abs(f[kb <= 0.5 * k_nyq]) for f in b_frac]))))
    edges = _edges_for(truth, per_dex)
    if edges is not None:
        ht = pixel_pdf(truth, edges=edges)
        hp = pixel_pdf(preds.transpose(1, 0, 2, 3), edges=edges, dims=("sample", "slab", "y", "x"))
        ct = np.asarray(ht["counts"]).reshape(-1, edges.size - 1).sum(axis=0)
        cp = np.asarray(hp["counts"]).reshape(nreal, -1, edges.size - 1).sum(axis=1)
        out.update(pdf_m=np.asarray(ht["m"]), pdf_true=ct / truth.size, pdf_pred=cp / truth.size,
                   pdf_ok=ct >= min_counts)
        out["pdf_frac"] = _nanmedian(_frac(out["pdf_pred"], out["pdf_true"][None], out["pdf_ok"][None]), axis=0)
        p1, p99 = np.percentile(truth[truth > 0], [1, 99])
        inside = (out["pdf_m"] >= p1) & (out["pdf_m"] <= p99)
        out.update(pdf_range=(float(p1), float(p99)), pdf_max_abs_1_99=_nanmax_abs(out["pdf_frac"][inside]))
    if b.field == "hi":
        params = {k: float(attrs[k]) for k in ("pixel_size", "redshift", "hubble", "slab_depth")}
        from ember_dist.stats.cddf import column_density_per_mass

        fac = column_density_per_mass(params["pixel_size"], params["redshift"], params["hubble"])
        nedges = _edges_for(truth * fac, per_dex)
        if nedges is not None:
            ct = cddf(truth, edges=nedges, **params)
            ft, ctr = np.asarray(ct["f"]), np.asarray(ct["counts"])
            fp = np.asarray(cddf(preds.transpose(1, 0, 2, 3), edges=nedges, dims=("sample", "slab", "y", "x"),
                                 **params)["f"])  # (real, N)
            ok = ctr >= min_counts
            out.update(cddf_N=np.sqrt(nedges[:-1] * nedges[1:]), cddf_true=ft, cddf_pred=fp, cddf_ok=ok,
                       cddf_frac=_nanmedian(_frac(fp, ft[None], ok[None]), axis=0))
            ok10 = ctr >= CDDF_MIN_ABSORBERS
            out["cddf_max_abs_min10"] = _nanmax_abs(_nanmedian(_frac(fp, ft[None], ok10[None]), axis=0))
    return out


def _report(b, m, maps, input_maps, axes, seed):
    nreal = m["mass_err"].shape[1]
    r = {
        "model": b.name, "kind": b.meta.get("kind"), "field": b.field, "maps": str(maps),
        "input_maps": str(input_maps or maps), "input_resolution": b.meta.get("training", {}).get("input_resolution"),
        "held_out_axes": list(axes), "n_maps": int(m["mass_err"].shape[0]), "realisations": nreal, "seed": seed,
        "total_mass_frac_error_median": float(np.median(m["mass_err"])),
        "total_mass_frac_error": m["mass_err"].tolist(),
        "power_k": m["k"].tolist(),
        "power_frac_error_median": _clean(m["p_frac_median"]),
        "power_frac_error_per_realisation": [_clean(v) for v in m["p_frac_real"]],
        "k_nyquist": m["k_nyq"],
        "power_mean_abs_frac_error_low": _num(m["p_mean_abs_low"]),
        "power_max_abs_frac_error_low": _num(m["p_max_abs_low"]),
        "power_max_abs_frac_error_mid": _num(m["p_max_abs_mid"]),
        "power_band_coverage": _num(m["p_band_coverage"]),
        "bispectrum_k": m["b_k"].tolist(),
        "bispectrum_true": _clean(m["b_true"]),
        "bispectrum_pred": _clean(m["b_pred"].mean(axis=0)),
        "bispectrum_frac_error_per_realisation": [_clean(v) for v in m["b_frac_real"]],
        "bispectrum_mean_abs_frac_error": _num(m["b_mean_abs"]),
    }
    if "pdf_frac" in m:
        r.update(pdf_m=m["pdf_m"].tolist(), pdf_frac_error=_clean(m["pdf_frac"]),
                 pdf_mean_abs_frac_error=_nanmean_abs(m["pdf_frac"]), pdf_range_1_99=list(m["pdf_range"]),
                 pdf_max_abs_frac_error_1_99=_num(m["pdf_max_abs_1_99"]))
    if "cddf_frac" in m:
        r.update(cddf_N=m["cddf_N"].tolist(), cddf_frac_error=_clean(m["cddf_frac"]),
                 cddf_mean_abs_frac_error=_nanmean_abs(m["cddf_frac"]),
                 cddf_max_abs_frac_error_min10=_num(m["cddf_max_abs_min10"]))
    r["targets"] = _judge(r)
    return r


def _judge(r):
    """Issue 18's targets (:data:`TARGETS`) the report's values meet: column -> value, target, pass."""
    out = {}
    for col, (rule, bound, _) in TARGETS.items():
        v = r.get(COLUMNS[col][0])
        bound = bound.get(r["field"]) if isinstance(bound, dict) else bound
        if bound is None or not isinstance(v, (int, float)) or not np.isfinite(v):
            continue
        ok = abs(v) <= bound if rule == "abs<=" else v >= bound
        out[col] = {"value": float(v), "target": f"{'|value| <=' if rule == 'abs<=' else rule} {bound:.4g}",
                    "pass": bool(ok)}
    return out


def _check_out(out, overwrite):
    """Refuse (before any prediction) a report directory that already holds files, unless ``overwrite``."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"report directory {str(out)!r} is a file; choose another out= (--out) path.")
    held = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if held and not overwrite:
        raise FileExistsError(
            f"report directory {str(out)!r} already holds {', '.join(held[:6])}{' ...' if len(held) > 6 else ''}. "
            "Pass overwrite=True (--overwrite) to replace the report, or choose another out= (--out) path.")
    return out


def evaluate(model, maps, field=None, out=None, input_maps=None, input_var="dm", axes=("z",), realisations=1,
             seed=0, bin_width=1.0, overwrite=False):
    """Evaluate ``model`` (bundle name/path) on the held-out maps of a deposit store; returns the report dict.

    Writes ``report.json`` and ``power_error.csv`` into ``out`` when given (a directory already holding
    files only with ``overwrite``).
    """
    if out is not None:
        out = _check_out(out, overwrite)
    b, truth, _, preds, attrs = predict_held_out(model, maps, field, input_maps, input_var, axes, realisations, seed)
    report = _report(b, _metrics(b, truth, preds, attrs, bin_width), maps, input_maps, axes, seed)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
        with open(out / "power_error.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["k_h_per_ckpc", "median_frac_error"])
            w.writerows(zip(report["power_k"], report["power_frac_error_median"]))
    return report


def _at_k(k, v, k0):
    i = int(np.argmin(np.abs(np.asarray(k) - k0)))
    return float(k[i]), v[i]


def _table_rows(reports, metrics):
    rows = []
    for r, m in zip(reports, metrics):
        k = m["k"]
        row = {"model": r["model"], "kind": r["kind"], "field": r["field"],
               "input": "MR" if "downsampled" in str(r.get("input_resolution")) else "HR",
               "maps x realisations": f"{r['n_maps']} x {r['realisations']}",
               "total mass error (median)": r["total_mass_frac_error_median"],
               "total mass error (16-84%)": " .. ".join(_fmt(float(v)) for v in np.percentile(m["mass_err"], [16, 84]))}
        for k0 in TABLE_K:
            kk, v = _at_k(k, m["p_frac_median"], k0)
            row[f"P(k) error k={kk:.3g}"] = v
        for col, (key, _) in COLUMNS.items():
            row.setdefault(col, r.get(key))
        missed = [TARGETS[c][2] for c, t in r.get("targets", {}).items() if not t["pass"]]
        row["targets missed"] = ", ".join(missed) or "none"
        rows.append(row)
    return rows


def _signed(column):
    """Whether a column holds a signed error (else an |error| or a fraction)."""
    return not (column.startswith(("mean abs", "max abs")) or "coverage" in column)


def _fmt(v, signed=True):
    if v is None:
        return "-"
    if isinstance(v, float):
        sign = "+" if signed else ""
        return "nan" if not np.isfinite(v) else f"{v:{sign}.1%}" if abs(v) < 10 else f"{v:{sign}.3g}"
    return str(v)


def _cell(row, key, judged):
    text = _fmt(row.get(key), _signed(key))
    if key in judged:
        text += " pass" if judged[key]["pass"] else " MISS"
    return text


def _notes():
    """The footnote of ``table.md``: every column's definition and target."""
    lines = ["", "k_Nyq = pi / pixel size. P(k) and B are of each map's overdensity m / <m> - 1; "
             "e_P(map, k) = <P_pred(map, k)>_realisations / P_true(map, k) - 1.", "",
             "- **P(k) error k=K**: median over maps of e_P in the k bin nearest K (h/ckpc)."]
    for col, (_, text) in COLUMNS.items():
        rule = TARGETS.get(col)
        tgt = ""
        if rule:
            b = rule[1]
            b = ", ".join(f"{v:.0%} ({f})" for f, v in b.items()) if isinstance(b, dict) else f"{b:.3g} ({b:.0%})"
            tgt = f" Target: {'|value| <=' if rule[0] == 'abs<=' else rule[0]} {b}."
        lines.append(f"- **{col}**: {text}.{tgt}")
    lines += ["- **targets missed**: the targets above this model misses (`pass` / `MISS` beside each value; "
              "`-` or an unmarked value: not measured or no target)."]
    return lines


def _write_table(rows, out, judged=None):
    judged = judged or [{}] * len(rows)
    keys = list(rows[0])
    for r in rows[1:]:
        keys += [k for k in r if k not in keys]
    with open(out / "table.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(_cell(r, k, j) for k in keys) + " |" for r, j in zip(rows, judged)]
    (out / "table.md").write_text("\n".join(lines + _notes()) + "\n")


def _panel(plt, x, truth, curves, frac, xlabel, ylabel, title, logy=True):
    """Statistic (truth and models) over its fractional error with 10 % / 20 % bands."""
    from ember_dist.stats.plots import fit_error_axis

    fig, (a, f) = plt.subplots(2, 1, figsize=(6, 5.5), sharex=True, gridspec_kw={"height_ratios": [2.2, 1]})
    a.plot(x, truth, "k-", lw=2, label="truth")
    drawn = []
    for (name, y), (_, fr) in zip(curves, frac):
        ln = a.plot(x, y, lw=1.3, label=name)[0]
        med = fr if np.ndim(fr) == 1 else fr[0]
        f.plot(x, med, color=ln.get_color(), lw=1.3)
        drawn.append(med)
        if np.ndim(fr) == 2 and fr.shape[0] > 2:  # realisation spread
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                band = np.nanmin(fr[1:], axis=0), np.nanmax(fr[1:], axis=0)
            f.fill_between(x, *band, color=ln.get_color(), alpha=0.2, lw=0)
            drawn += list(band)
    for b, al in ((0.2, 0.12), (0.1, 0.2)):
        f.axhspan(-b, b, color="grey", alpha=al, lw=0)
    f.axhline(0, color="k", lw=0.8)
    fit_error_axis(f, drawn, floor=1.0)
    a.set_xscale("log")
    if logy:
        a.set_yscale("log")
    a.set_ylabel(ylabel)
    a.set_title(title, fontsize=9)
    a.legend(fontsize=7)
    f.set_xlabel(xlabel)
    f.set_ylabel("pred / true - 1")
    fig.tight_layout()
    return fig


def power_title(field, realisations, what="power spectrum"):
    """Title of ``power.png`` (``bispectrum.png``): the band is named only when a model drew several realisations.

    >>> power_title("gas", {"small-gas-unet": 1})
    'gas power spectrum, held-out maps'
    >>> power_title("gas", {"small-gas-unet": 1, "small-gas-wgan": 8})
    'gas power spectrum, held-out maps (band: min-max over the 8 realisations of small-gas-wgan)'
    """
    spread = {n: r for n, r in realisations.items() if r > 1}
    if not spread:
        return f"{field} {what}, held-out maps"
    which = ", ".join(f"the {r} realisations of {n}" for n, r in spread.items())
    return f"{field} {what}, held-out maps (band: min-max over {which})"


def _figures(out, truth, dm, results, attrs, field):
    from ember_dist.stats.plots import _plt, map_panels, plot_units, save_figure

    plt = _plt()
    pix = float(attrs.get("pixel_size", 1.0))
    panels = {"dark matter (input)": dm[0], f"{field} truth": truth[0]}
    for r, m, preds in results:
        panels[r["model"]] = preds[0, 0]
    save_figure(map_panels(panels, extent=pix * truth.shape[-1]), out / "maps.png")
    names = [r["model"] for r, _, _ in results]
    ms = [m for _, m, _ in results]
    k = ms[0]["k"]
    frac = [(n, np.vstack([m["p_frac_median"][None], m["p_frac_real"]]) if m["p_frac_real"].shape[0] > 1
             else m["p_frac_median"]) for n, m in zip(names, ms)]
    kx, ku = plot_units(k, "h/ckpc")
    pu = plot_units(1.0, "(ckpc/h)^2")  # (factor, unit) for P(k) in the figures' units
    fig = _panel(plt, kx, ms[0]["p_true"] * pu[0], [(n, m["p_pred"] * pu[0]) for n, m in zip(names, ms)], frac,
                 f"k [{ku}]", f"P(k) [{pu[1]}]",
                 power_title(field, {n: m["p_frac_real"].shape[0] for n, m in zip(names, ms)}))
    save_figure(fig, out / "power.png")
    kb, kbu = plot_units(ms[0]["b_k"], "h/ckpc")
    bu = plot_units(1.0, "(ckpc/h)^4")
    bfrac = [(n, np.vstack([_frac(m["b_pred"].mean(axis=0), m["b_true"])[None], m["b_frac_real"]])
              if m["b_frac_real"].shape[0] > 1 else m["b_frac_real"][0]) for n, m in zip(names, ms)]
    fig = _panel(plt, kb, ms[0]["b_true"] * bu[0],
                 [(n, m["b_pred"].mean(axis=0) * bu[0]) for n, m in zip(names, ms)], bfrac, f"k [{kbu}]", f"B(k, k, k) [{bu[1]}]",
                 power_title(field, {n: m["b_frac_real"].shape[0] for n, m in zip(names, ms)}, "equilateral bispectrum"),
                 logy=bool(np.all(ms[0]["b_true"] > 0)))
    save_figure(fig, out / "bispectrum.png")
    # One-point statistics: (key prefix, x variable, x label, y label, title, file).
    for key, xkey, xlabel, ylabel, title, name in (
            ("pdf", "pdf_m", f"{field} mass per pixel [Msun/h]", "fraction of pixels per bin",
             f"{field} pixel PDF, held-out maps", "pdf.png"),
            ("cddf", "cddf_N", "N_HI [cm^-2]", "f(N_HI) [cm^2]", "HI column density distribution, held-out maps",
             "cddf.png")):
        if not all(f"{key}_frac" in m for m in ms):
            continue
        fig = _panel(plt, ms[0][xkey], np.where(ms[0][f"{key}_ok"], ms[0][f"{key}_true"], np.nan),
                     [(n, np.median(m[f"{key}_pred"], axis=0)) for n, m in zip(names, ms)],
                     [(n, m[f"{key}_frac"]) for n, m in zip(names, ms)], xlabel, ylabel, title)
        save_figure(fig, out / name)


def evaluate_models(models, maps, out, input_maps=None, field=None, input_var="dm", axes=("z",), realisations=8,
                    seed=0, bin_width=1.0, overwrite=False):
    """Evaluate several bundles of one field on the same held-out maps; write the table, figures and reports.

    Parameters
    ----------
    models : sequence of str
        Bundle names or paths (all of the same field).
    maps : str
        Store holding the true field (and the input, unless ``input_maps``).
    out : str or Path
        Report directory: ``report.json`` (every model's report, the table rows, the column
        definitions and targets), ``table.md`` (with the definitions as footnotes), ``table.csv``,
        ``maps.png``, ``power.png``, ``bispectrum.png``, ``pdf.png`` and, for HI, ``cddf.png``.
    input_maps : str or sequence of str, optional
        Store of the input per model (one for all, or one per model; e.g. a 64x-downsampled
        deposit for MR -> HR models).  Default ``maps``.
    realisations : int
        WGAN realisations per map (a U-Net gives one).
    overwrite : bool
        Replace the report in an ``out`` that already holds files (otherwise refused before any work).

    Returns
    -------
    list of dict
        The table rows.
    """
    from ember_dist.model.bundle import load_model

    models = list(models)
    if not models:
        raise ValueError("models is empty; pass at least one bundle name or path.")
    ins = list(input_maps) if isinstance(input_maps, (list, tuple)) else [input_maps] * len(models)
    if len(ins) != len(models):
        raise ValueError(f"input_maps needs one store for all models or one per model ({len(models)}). "
                         f"Received {len(ins)}.")
    fields = {field or load_model(m).field for m in models}
    if len(fields) != 1:
        raise ValueError(f"models predict different fields {sorted(fields)}; evaluate one field per report.")
    out = _check_out(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    results, dm0, truth, attrs = [], None, None, None
    for m, im in zip(models, ins):
        b, truth, dm, preds, attrs = predict_held_out(m, maps, field, im, input_var, axes, realisations, seed)
        met = _metrics(b, truth, preds, attrs, bin_width)
        dm0 = dm if dm0 is None else dm0  # the first model's input is shown
        results.append((_report(b, met, maps, im, axes, seed), met, preds))
    rows = _table_rows([r for r, _, _ in results], [m for _, m, _ in results])
    _write_table(rows, out, [r["targets"] for r, _, _ in results])
    doc = {"models": [r for r, _, _ in results], "table": rows,
           "columns": {c: {"report_key": k, "definition": d} for c, (k, d) in COLUMNS.items()},
           "targets": {c: {"rule": t[0], "bound": t[1]} for c, t in TARGETS.items()}}
    (out / "report.json").write_text(json.dumps(doc, indent=1) + "\n")
    _figures(out, truth, dm0, results, attrs, fields.pop())
    return rows
