# SPDX-License-Identifier: BSD-3-Clause
"""Write the validation report of a simulation suite: figures (PNG), ``README.md`` and ``results.json``.

``python tools/validate_sim_suite.py SUITE_DIR --out docs/simulation`` calls :func:`write_report`.
The suite folder is only read; deposited maps and fake-spectra's scratch copies go to ``work``.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from ember_dist.io.conventions import utc_now

from . import checks, figures, twins
from .cddf_check import COMPARE_AT, DLA, LLS, fake_spectra_cddf, log_f_at, map_cddf
from .observations import BECKER13, FG08, PROCHASKA14, prochaska14_cddf
from .suite_data import complete_in_work, discover, ics_in_work

__all__ = ["write_report"]


def write_report(suite, out, work, *, cddf_pixel=31.25, cddf_slabs=5, n_per_axis=200, fake_spectra=True,
                 log=print):
    """Run every check on the finished snapshots of ``suite`` and write the report into ``out``."""
    t0 = time.perf_counter()
    out, work = Path(out), Path(work)
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    snaps = discover(suite)
    if not snaps:
        raise FileNotFoundError(f"{suite}: no finished snapshot (no box_*/simulation.json with a completed run)")
    log(f"{len(snaps)} snapshots in {suite}: " + ", ".join(sorted({s['box'] for s in snaps})))
    if any(s["raw"] for s in snaps):
        log("finishing raw Gadget-2 snapshots in the work folder (header, calibrated HI, haloes) ...")
        snaps = complete_in_work(snaps, work, log=log)
    if any(s["ics"] is None for s in snaps):
        log("initial conditions not kept with the suite: regenerating them in the work folder ...")
        snaps = ics_in_work(snaps, suite, work, log=log)
    res = {"suite": str(Path(suite).resolve()), "created": utc_now(),
           "snapshots": [{k: (str(v) if isinstance(v, Path) else v) for k, v in s.items() if k != "params"} for s in snaps]}
    log("dark-matter P(k) ...")
    res["dm_power"] = checks.dm_power_check(snaps, log=log)
    log("gas/dark-matter power ...")
    res["gas_dm_power"] = checks.gas_dm_check(snaps, log=log)
    log("halo mass function ...")
    res["mass_function"] = checks.mass_function_check(snaps, log=log)
    log("Lyman-alpha mean flux ...")
    res["mean_flux"] = checks.mean_flux_check(snaps, n_per_axis=n_per_axis, log=log)
    log("HI column density distribution ...")
    res["cddf"] = _cddf(snaps, work, cddf_pixel, cddf_slabs, fake_spectra, log)
    log("low-resolution twins (MR inputs) ...")
    res["twins"] = twins.twin_check(suite, log=log)
    figs = {}
    if res["dm_power"]:
        figs["dm_power"] = figures.plot_dm_power(res["dm_power"], out / "dm_power.png")
    if res["gas_dm_power"]:
        figs["gas_dm_power"] = figures.plot_gas_dm(res["gas_dm_power"], out / "gas_dm_power.png")
    if res["mass_function"]:
        figs["mass_function"] = figures.plot_mass_function(res["mass_function"], out / "mass_function.png")
    if res["mean_flux"]:
        figs["mean_flux"] = figures.plot_mean_flux(res["mean_flux"], out / "mean_flux.png")
    if res["cddf"]:
        figs["cddf"] = figures.plot_cddf(res["cddf"], out / "cddf.png")
    if res["twins"]:
        figs["twins"] = figures.plot_twins(res["twins"], out / "twins.png")
    res["figures"] = {k: Path(v).name for k, v in figs.items()}
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    (out / "results.json").write_text(json.dumps(_clean(res), indent=1))
    (out / "README.md").write_text(_markdown(res))
    log(f"wrote {out}/README.md, results.json and {len(figs)} figures in {res['wall_s']:.0f} s")
    return res


def _cddf(snaps, work, pixel, slabs, fake_spectra, log):
    out = []
    for s in snaps:
        if s["run"] != "hydro" or s["raw"]:
            continue
        log(f"  CDDF {s['box']} snapshot {s['index']}")
        try:
            maps = map_cddf(s["path"], work, pixel, slabs, log=log)
        except Exception as e:  # a snapshot without HI: say so, keep the rest of the report
            log(f"  CDDF maps failed: {e}")
            continue
        ln, lf = prochaska14_cddf()
        entry = {"box": s["box"], "index": s["index"], "maps": maps, "compare_at_log_n": list(COMPARE_AT),
                 "log_f_maps": log_f_at(maps["N"], maps["f"]),
                 "log_f_prochaska14": [float(np.interp(a, ln, lf)) for a in COMPARE_AT]}
        if fake_spectra:
            try:
                fsp = fake_spectra_cddf(s["path"], work, slabs)
                entry["fake_spectra"] = fsp
                if "f" in fsp:
                    entry["log_f_fake_spectra"] = log_f_at(fsp["N_centre"], fsp["f"])
            except Exception as e:
                entry["fake_spectra"] = {"error": f"{type(e).__name__}: {e}"}
                log(f"  fake-spectra failed: {entry['fake_spectra']['error']}")
        out.append(entry)
    return out


def _clean(x):
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.ndarray):
        return _clean(x.tolist())
    return x


def _fmt(v, f="{:.3f}"):
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f.format(v)


def _markdown(res):
    boxes = sorted({s["box"] for s in res["snapshots"]})
    raw = sorted({s["box"] + "/" + s["run"] for s in res["snapshots"] if s.get("completed_in_work")})
    L = ["# Simulation suite validation", "",
         f"Generated {res['created']} by `python tools/validate_sim_suite.py {res['suite']} --out docs/simulation` "
         f"({res['wall_s']:.0f} s). Boxes used: {', '.join(boxes)}."
         + (f" Finished by the report from raw Gadget-2 output, as `ember-dist simulate` would (the suite's "
            f"post-processing had not run yet: header completed, HI with Gamma_HI calibrated by "
            f"`ember_dist.sim.lya`, FoF + M200c haloes; in the work folder): {', '.join(raw)}." if raw else ""), "",
         "The runs are adiabatic Gadget-2 TreePM+SPH (no cooling, star formation or feedback); temperature floor "
         "and HI are imposed afterwards (`ember_dist.sim.hi`). Numbers: `results.json`.", ""]
    L += _md_power(res["dm_power"]) + _md_hmf(res["mass_function"]) + _md_gas(res["gas_dm_power"])
    L += _md_flux(res["mean_flux"]) + _md_cddf(res["cddf"]) + _md_twins(res.get("twins") or [])
    return "\n".join(L) + "\n"


def _md_power(rs):
    L = ["## 1. Dark-matter P(k) of the DMO runs against CAMB halofit", "",
         "Estimator: CIC mass assignment on a grid of 4x the particle lattice (at most 256^3), interlaced, "
         "deconvolved by the CIC window, shot noise not subtracted (`ember_dist.sim.validation.power3d`). Theory: "
         "CAMB's non-linear spectrum (HMcode) at the snapshot's redshift (`ember_dist.sim.linear.nonlinear_power`).",
         "",
         f"Rule: bins of width k_F = 2 pi / L wholly below a quarter of the particle Nyquist frequency "
         f"(k_Nyq = pi n / L) are in range; of those, a bin is judged only where the expected sample-variance error "
         f"of the mean over seeds, sqrt((2 / N_modes + T_1h / (V P^2)) / N_seeds), is at most {checks.CV_LIMIT:.0%}. "
         f"2 / N_modes (N_modes counts k and -k) is the Gaussian part; T_1h / (V P^2) the one-halo part, the "
         f"scatter of the few massive haloes a box of volume V holds (T_1h = int dn/dlnM (M / rho_m)^4 u(k|M)^4 "
         f"dlnM: Tinker08 200c, NFW with Duffy08 concentrations; Cooray & Hu 2001), which dominates at k ~ 1 h/Mpc "
         f"in boxes of tens of Mpc/h. The check passes when every judged bin of the seed-mean P(k) is within "
         f"{checks.PK_TOLERANCE:.0%} of halofit. Bins with larger variance are shown, not judged.", "",
         "| box | z | seeds | k range judged [h/Mpc] | bins in range / judged | max deviation judged | verdict |",
         "|---|---|---|---|---|---|---|"]
    for r in rs:
        j = np.array(r["judged"])
        kk = np.array(r["k"])[j]
        rng = f"{kk.min():.2f}-{kk.max():.2f}" if j.any() else "-"
        L.append(f"| {r['n']}^3, {r['box_mpc_h']:g} Mpc/h | {r['redshift']:g} | {r['n_seeds']} | {rng} | "
                 f"{int(np.sum(r['in_range']))} / {int(j.sum())} | {_fmt(r['max_deviation_judged'])} | {r['verdict']} |")
    L += ["", "Growth of the lowest modes, free of cosmic variance: seed-mean P(z) / P(initial conditions) over "
          "linear theory (D(z)/D(z_init))^2, first three bins (1 = linear growth), with the linear "
          "Delta^2 = k^3 P_lin / (2 pi^2) of each bin (how far from linear the bin already is):", ""]
    for r in rs:
        g = r.get("growth_vs_ics")
        L.append(f"- {r['n']}^3 {r['box_mpc_h']:g} Mpc/h z = {r['redshift']:g}: "
                 + (", ".join(f"k = {k:.2f}: {q:.3f} (Delta^2_lin {d:.2f})" for k, q, d in
                              zip(r["k"][:3], g[:3], r["delta2_linear"][:3])) if g else "(no ICs)"))
    L += ["", "Reading the verdict: CAMB's halofit/HMcode is the non-linear spectrum of an infinite volume. A box of "
          "a few Mpc/h has no modes below k_F = 2 pi / L, and the rare massive haloes whose one-halo term dominates "
          "P(k) at k ~ 1-10 h/Mpc at z = 2-3 are mostly absent from it (Tinker08 expects, per box, haloes above "
          "1e12 Msun/h: " + "; ".join(f"{r['tinker08_haloes_above_1e12_per_box']:.2f} in the {r['box_mpc_h']:g} Mpc/h "
                                      f"box at z = {r['redshift']:g}" for r in rs)
          + "), so its non-linear power is expected to fall below halofit even when the code is right. The growth line is the check that does not depend on the box size: where "
          "Delta^2_lin << 1 a correct run grows its modes as linear theory; where Delta^2_lin approaches 1 (the lowest "
          "bins of these boxes already do) deviations of that order are non-linear physics, and a single small box "
          "cannot tell them from an integration error; a larger box can, once it holds enough massive haloes that its "
          "one-halo error (the rule above) is small.", "",
          "Per-bin values (k, P_sim/P_halofit, sample-variance error of the mean (Gaussian part); * = judged):", ""]
    for r in rs:
        rows = [f"{k:.2f}: {q:.3f} +- {e:.3f} ({c:.3f}){' *' if jj else ''}" for k, q, e, c, jj, ir in
                zip(r["k"], r["ratio"], r.get("error_of_mean", r["cv_error_of_mean"]), r["cv_error_of_mean"],
                    r["judged"], r["in_range"]) if ir]
        L.append(f"- {r['n']}^3 {r['box_mpc_h']:g} Mpc/h z = {r['redshift']:g}: " + "; ".join(rows))
    return L + ["", "![dark-matter power](dm_power.png)", ""] if rs else L + ["(no finished DMO snapshot)", ""]


def _md_gas(rs):
    L = ["## 3. Gas / dark-matter power of the hydro runs", "",
         "P_gas / P_dm of the same hydro run (same estimator and grid); below 1 where gas pressure smooths the gas "
         "relative to the dark matter.", "", "| box | z | seeds | k_Nyq/8 | k_Nyq/4 | k_Nyq/2 | k_Nyq |", "|---|---|---|---|---|---|---|"]
    for r in rs:
        a = r["ratio_at"]
        L.append(f"| {r['n']}^3, {r['box_mpc_h']:g} Mpc/h | {r['redshift']:g} | {len(r['boxes'])} | "
                 + " | ".join(_fmt(a[k]) for k in ("0.125 k_Nyq", "0.25 k_Nyq", "0.5 k_Nyq", "1 k_Nyq")) + " |")
    return L + ["", "![gas/dm](gas_dm_power.png)", ""] if rs else L + ["(no finished hydro snapshot)", ""]


def _md_hmf(rs):
    L = ["## 2. Halo mass function (DMO runs, FoF b = 0.2 + M200c) against Tinker et al. (2008)", "",
         "Haloes with M200c >= 100 particle masses, pooled over seeds in 0.25 dex bins starting at that threshold; "
         "expected counts = total volume x the integral of colossus' `tinker08` dn/dlnM (mdef 200c, CAMB spectrum) "
         "over the bin. Rule: a bin passes when |N - N_T| <= 0.25 N_T + 2 sqrt(N_T) (the counts are within two "
         "Poisson deviations of a prediction allowed to be 25% off); the total count above the threshold is judged "
         "the same way; the check passes when all do.", "",
         "| box | z | seeds | haloes >= 100 particles | Tinker08 expects | bins passing | verdict |", "|---|---|---|---|---|---|---|"]
    for r in rs:
        L.append(f"| {r['n']}^3, {r['box_mpc_h']:g} Mpc/h | {r['redshift']:g} | {len(r['boxes'])} | {r['total_counts']} | "
                 f"{r['total_expected']:.1f} | {sum(r['bin_pass'])}/{len(r['bin_pass'])} | {r['verdict']} |")
    if not rs:
        L.append("(no halo catalogue yet: they are written after the Gadget runs by the suite's post-processing)")
    return L + ["", "![mass function](mass_function.png)" if rs else "", ""]


def _md_flux(rs):
    L = ["## 4. Lyman-alpha mean transmitted flux", "",
         "Calibrating the UV background so that the simulated mean flux matches the observed one is standard "
         "practice, and the suite does it once: `ember_dist.sim.lya.calibrated_hi_fields` scaled the FG20 Gamma_HI "
         "until the mean flux of the first training box's sightlines equalled " + FG08 + " (optically thin: tau ~ "
         "1/Gamma_HI, so the factor that brings <exp(-s tau)> to the target gives Gamma_HI / s), and every box of "
         "the suite uses that one scale per redshift (`recipe.SUITE['gamma_hi_scale']`): a UV background is one "
         "physics for all boxes, and calibrating each small box on its own would absorb its cosmic variance "
         "(seed 5 alone needed a 19% lower Gamma_HI at z = 2). Here the flux is measured "
         "again on fresh sightlines along all three axes (other seeds than the calibration's), which checks that "
         "calibration; s is the tau factor that would match each observation (1 = matched), Gamma_HI/s the "
         "photo-ionisation rate that would. Second observation: " + BECKER13 + ".", "",
         "| z | boxes | sightlines | F measured | FG08 (target) | s for FG08 | Becker+13 | s for Becker+13 | "
         "Gamma_HI used [1/s] | gamma_scale applied | Gamma_HI for Becker+13 [1/s] |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rs:
        o = r["observed"]
        b = o.get("Becker13")
        scales = [g for g in r["gamma_scale_per_box"] if g is not None]
        L.append(f"| {r['redshift']:g} | {len(r['boxes'])} | {r['n_sightlines']} | {r['mean_flux']:.3f} | "
                 f"{o['FG08']['F']:.3f} | {o['FG08']['tau_scale']:.3f} | "
                 + (f"{b['F']:.3f} +- {b['sigma']:.3f} | {b['tau_scale']:.3f}" if b else "- | -")
                 + f" | {_fmt(r['gamma_hi_used'], '{:.3g}')} | "
                 + (", ".join(f"{g:.3f}" for g in scales) if scales else "-")
                 + f" | {_fmt(b['gamma_hi_matching'] if b else None, '{:.3g}')} |")
    if not rs:
        L.append("(no post-processed hydro snapshot with NeutralHydrogenAbundance and Temperature yet)")
    return L + ["", "![mean flux](mean_flux.png)" if rs else "", ""]


def _md_cddf(rs):
    L = ["## 5. HI column density distribution", "",
         "Maps: `ember-dist deposit SNAP --fields hi` in slabs, every pixel of every slab one sightline "
         "(`ember_dist.stats.cddf`). Cross-check: fake-spectra (Bird et al.; PyPI `fake-spectra`, the `crosscheck` "
         "extra), its sightline CDDF on the same snapshot with columns summed over chunks of the same depth. "
         "Observed: " + PROCHASKA14 + " (drawn as published at z = 2.4, no redshift scaling).", "",
         "| box | z | slab depth [Mpc/h] | sightlines (maps) | max N_HI maps | pixels >= 1.6e17 | >= 2e20 | fake-spectra max N_HI | fake-spectra chunks >= 1.6e17 |",
         "|---|---|---|---|---|---|---|---|---|"]
    for r in rs:
        m, f = r["maps"], r.get("fake_spectra") or {}
        L.append(f"| {r['box']} | {m['redshift']:g} | {m['slab_depth'] / 1000:.2f} | {m['n_sightlines']} | "
                 f"{m['max_column']:.2e} | {m['n_above_lls']} | {m['n_above_dla']} | "
                 f"{_fmt(f.get('max_column'), '{:.2e}')} | {f.get('n_above_lls', '-')} |")
        if "error" in f:
            L.append(f"| | | fake-spectra: {f['error']} | | | | | | |")
    fl = [(r["box"], r["maps"]["redshift"], r["fake_spectra"]["mean_flux_file_hi"]) for r in rs
          if "mean_flux_file_hi" in (r.get("fake_spectra") or {})]
    if fl:
        L += ["", "Independent check of the suite's optical-depth code (`ember_dist.sim.lya`): fake-spectra's mean flux "
              "on its own random sightlines through the same snapshot (same HI fractions and temperatures, kernel "
              "support made Gadget-2's: `ember_dist.sim.validation.cddf_check`); compare with section 4: "
              + "; ".join(f"{b} z = {z:g}: {v:.3f}" for b, z, v in fl) + "."]
    if rs:
        at = rs[0]["compare_at_log_n"]
        L += ["", "log10 f(N_HI, X) at log10 N_HI = " + ", ".join(f"{a:g}" for a in at)
              + " (linear interpolation between bins):", "",
              "| box | z | maps | fake-spectra | Prochaska+14 (z = 2.4) |", "|---|---|---|---|---|"]
        for r in rs:
            row = [", ".join(_fmt(v, "{:.2f}") for v in r.get(k, [None] * len(at)))
                   for k in ("log_f_maps", "log_f_fake_spectra", "log_f_prochaska14")]
            L.append(f"| {r['box']} | {r['maps']['redshift']:g} | " + " | ".join(row) + " |")
    if rs:
        mx = max(max(r["maps"]["max_column"], (r.get("fake_spectra") or {}).get("max_column", 0.0)) for r in rs)
        n_lls = sum(r["maps"]["n_above_lls"] for r in rs)
        n_dla = sum(r["maps"]["n_above_dla"] for r in rs)
        n_pix = sum(r["maps"]["n_sightlines"] for r in rs)
        L += ["", f"**Where the suite lacks LLS/DLA systems.** The runs are adiabatic: without radiative cooling gas "
              f"cannot collapse to the densities of self-shielded, neutral clouds. The largest HI column found here is "
              f"{mx:.1e} cm^-2 (maps and fake-spectra); {n_lls} of {n_pix} map pixels reach the Lyman-limit threshold "
              f"{LLS:.1e} cm^-2 and {n_dla} the DLA threshold {DLA:.0e} cm^-2. The suite therefore has "
              + ("no" if n_lls == 0 else "almost no") + " Lyman-limit and no damped Lyman-alpha systems: f(N_HI) from "
              f"it says nothing above ~{mx:.0e} cm^-2, and what models trained on it predict there (the EMBER paper's CDDF "
              "at LLS/DLA columns, the HI content of haloes) is untested. Below that the comparison tests the "
              "Lyman-alpha forest only, and with a caveat: a map pixel (or a fake-spectra chunk) counts the whole "
              "column of its slab, so where several forest lines overlap within a slab (below ~1e14-1e15 cm^-2) it "
              "is not the line-by-line f(N) that Prochaska+14 fitted.", ""]
    return L + (["![cddf](cddf.png)", ""] if rs else ["(no post-processed hydro snapshot yet)", ""])


def _md_twins(rs):
    if not rs:
        return []
    L = ["", "## 6. Low-resolution twins: the MR inputs", "",
         "Each training, validation and test box has dark-matter-only twins with 8x and 64x fewer particles and the "
         "box's own phases (`ember-dist simulate --parent-n`; `ember_dist.sim.recipe` `mr_factors`): the MR models' "
         "input, a real low-resolution run like the application box. Cross-correlation r(k) and power ratio of the "
         "twin's and the full-resolution DMO run's matter fields (CIC, grid 2x the parent's lattice, "
         "`ember_dist.sim.validation.twins`); judged: r >= "
         f"{twins.R_MIN:g} at every k up to {twins.K_CHECK_FRACTION:g} of the twin's particle Nyquist frequency. "
         "Figure: `twins.png`.", "",
         "| box | twin | z | k_Nyq twin [h/Mpc] | min r judged | r at k_Nyq twin | P_twin/P_DMO at k_Nyq twin | verdict |",
         "|---|---|---|---|---|---|---|---|"]
    for r in rs:
        k = np.array(r["k"], float)
        i = int(np.nanargmin(np.abs(k - r["k_nyquist_twin"])))
        L.append(f"| {r['box']} | MR{r['factor']} ({r['n_twin']}^3) | {r['redshift']:g} | {r['k_nyquist_twin']:.2f} | "
                 f"{_fmt(r['min_r_judged'])} | {_fmt(r['r'][i])} | {_fmt(r['power_ratio'][i])} | {r['verdict']} |")
    return L + ["", "![twins](twins.png)"]
