# SPDX-License-Identifier: BSD-3-Clause
"""PNG figures of the validation report (matplotlib, Agg)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .cddf_check import DLA, LLS  # noqa: E402
from .observations import prochaska14_cddf  # noqa: E402

__all__ = ["plot_dm_power", "plot_gas_dm", "plot_mass_function", "plot_mean_flux", "plot_cddf", "plot_twins"]


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def plot_dm_power(results, path):
    fig, axes = plt.subplots(2, len(results), figsize=(5 * len(results), 7), sharex="col", squeeze=False,
                             gridspec_kw={"height_ratios": [2, 1]})
    for j, r in enumerate(results):
        k, top, bot = np.array(r["k"]), axes[0, j], axes[1, j]
        for p in r["power_per_seed"]:
            top.loglog(k, p, color="0.7", lw=0.8)
        top.loglog(k, r["power_mean"], "C0", lw=2, label=f"DMO, mean of {r['n_seeds']} box(es)")
        top.loglog(k, r["halofit"], "k--", label="CAMB halofit (HMcode)")
        top.axhline(r["shot_noise"], color="C3", ls=":", label="shot noise L^3/N (not subtracted)")
        top.set_title(f"{r['n']}^3, {r['box_mpc_h']:g} Mpc/h, z = {r['redshift']:g}: {r['verdict']}")
        top.set_ylabel("P(k) [(Mpc/h)^3]")
        top.legend(fontsize=7)
        ratio, cv = np.array(r["ratio"]), np.array(r.get("error_of_mean", r["cv_error_of_mean"]))
        judged = np.array(r["judged"])
        bot.fill_between(k, 1 - cv, 1 + cv, color="C0", alpha=0.2, label="sample variance of the mean")
        bot.axhspan(0.9, 1.1, color="C2", alpha=0.12, label="+-10%")
        bot.semilogx(k, ratio, "C0.-")
        bot.semilogx(k[judged], ratio[judged], "ko", mfc="none", label="judged bins")
        bot.axvline(r["k_max_judged"], color="k", lw=0.8, ls=":")
        bot.set_ylim(min(0.5, 0.9 * np.nanmin(ratio)), max(1.5, 1.1 * np.nanmax(ratio[k <= r["k_nyquist_particles"]])))
        bot.set_xlabel("k [h/Mpc]")
        bot.set_ylabel("P_sim / P_halofit")
        bot.legend(fontsize=7)
    return _save(fig, path)


def plot_gas_dm(results, path):
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, r in enumerate(results):
        k = np.array(r["k"])
        for rr in r["ratio_per_seed"]:
            ax.semilogx(k, rr, color=f"C{i}", lw=0.5, alpha=0.5)
        ax.semilogx(k, r["ratio_mean"], color=f"C{i}", lw=2, label=f"z = {r['redshift']:g} ({len(r['boxes'])} box(es))")
        ax.axvline(r["k_nyquist_particles"], color=f"C{i}", ls=":", lw=0.8)
    ax.axhline(1, color="k", lw=0.8)
    ax.set_xlabel("k [h/Mpc]")
    ax.set_ylabel("P_gas / P_dm (hydro run)")
    ax.set_title("gas/dark-matter power (dotted: particle Nyquist)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_mass_function(results, path):
    fig, axes = plt.subplots(2, max(1, len(results)), figsize=(5 * max(1, len(results)), 6), squeeze=False,
                             sharex="col", gridspec_kw={"height_ratios": [2, 1]})
    for j, r in enumerate(results):
        e = np.array(r["edges"])
        c, x = np.array(r["counts"]), np.array(r["expected_tinker08"])
        mid = np.sqrt(e[:-1] * e[1:])
        dlog = np.log10(e[1] / e[0])
        norm = 1.0 / (r["volume"] * dlog)
        top, bot = axes[0, j], axes[1, j]
        top.errorbar(mid, c * norm, yerr=np.sqrt(c) * norm, fmt="o", label=f"FoF+M200c, {len(r['boxes'])} box(es)")
        top.step(e, np.append(x, x[-1]) * norm, where="post", color="k", label="Tinker+08 (200c), bin average")
        top.set_xscale("log")
        top.set_yscale("log")
        top.set_ylabel("dn/dlog10 M [(Mpc/h)^-3]")
        top.set_title(f"z = {r['redshift']:g}: {r['total_counts']} vs {r['total_expected']:.1f} expected, {r['verdict']}")
        top.legend(fontsize=7)
        with np.errstate(invalid="ignore", divide="ignore"):
            bot.errorbar(mid, c / x, yerr=np.sqrt(x) / x, fmt="o")
        bot.axhspan(0.75, 1.25, color="C2", alpha=0.15)
        bot.axhline(1, color="k", lw=0.8)
        bot.set_xlabel("M200c [Msun/h]")
        bot.set_ylabel("N / N_Tinker")
    return _save(fig, path)


def plot_mean_flux(results, path):
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for r in results:
        axes[0].plot(r["redshift"], r["mean_flux"], "C0o")
        axes[0].plot(r["redshift"], r["observed"]["FG08"]["F"], "ks")
        if "Becker13" in r["observed"]:
            b = r["observed"]["Becker13"]
            axes[0].errorbar(r["redshift"], b["F"], yerr=b["sigma"], fmt="C3^")
    axes[0].plot([], [], "C0o", label="suite, fresh sightlines")
    axes[0].plot([], [], "ks", label="Faucher-Giguere+08 (calibration target)")
    axes[0].plot([], [], "C3^", label="Becker+13 Table 2")
    axes[0].set_xlabel("z")
    axes[0].set_ylabel("mean transmitted flux")
    axes[0].legend(fontsize=8)
    for i, r in enumerate(results):
        tau = np.array(r["example_tau"])
        axes[1].plot(np.arange(tau.size), np.exp(-tau) + i * 1.1, f"C{i}", lw=0.8, label=f"z = {r['redshift']:g}")
    axes[1].set_xlabel("pixel along a sightline (one box length)")
    axes[1].set_ylabel("flux (offset per z)")
    axes[1].legend(fontsize=7)
    return _save(fig, path)


def plot_cddf(results, path):
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ln, lf = prochaska14_cddf()
    ax.plot(ln, lf, "k-", label="Prochaska+14 (z = 2.4)")
    for i, r in enumerate(results):
        m = r["maps"]
        n, f = np.array(m["N"]), np.array(m["f"])
        ok = f > 0
        ax.plot(np.log10(n[ok]), np.log10(f[ok]), f"C{i}o-", ms=3,
                label=f"maps z = {m['redshift']:g} ({m['slab_depth'] / 1000:.1f} Mpc/h slabs)")
        fsp = r.get("fake_spectra") or {}
        if "f" in fsp:
            n2, f2 = np.array(fsp["N_centre"]), np.array(fsp["f"])
            ok = f2 > 0
            ax.plot(np.log10(n2[ok]), np.log10(f2[ok]), f"C{i}x--", ms=4, label=f"fake-spectra z = {m['redshift']:g}")
    ax.axvline(np.log10(LLS), color="0.5", ls=":", lw=0.8)
    ax.axvline(np.log10(DLA), color="0.5", ls=":", lw=0.8)
    ax.text(np.log10(LLS), -25, " LLS", fontsize=7)
    ax.text(np.log10(DLA), -25, " DLA", fontsize=7)
    ax.set_xlim(12, 22.5)
    ax.set_ylim(-26, -9)
    ax.set_xlabel("log10 N_HI [cm^-2]")
    ax.set_ylabel("log10 f(N_HI, X) [cm^2]")
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_twins(results, path):
    """r(k) and P_twin / P_parent of every low-resolution twin, one column per (factor, redshift)."""
    keys = sorted({(r["factor"], round(r["redshift"], 3)) for r in results})
    fig, axes = plt.subplots(2, len(keys), figsize=(4.5 * len(keys), 6), sharex="col", squeeze=False)
    for j, key in enumerate(keys):
        top, bot = axes[0, j], axes[1, j]
        for r in (r for r in results if (r["factor"], round(r["redshift"], 3)) == key):
            k = np.array(r["k"], float)
            top.semilogx(k, r["r"], lw=0.8, label=r["box"])
            bot.loglog(k, r["power_ratio"], lw=0.8)
        k_nyq = r["k_nyquist_twin"]
        for ax in (top, bot):
            ax.axvline(k_nyq, color="0.4", ls=":", lw=0.8)
            ax.axvline(0.5 * k_nyq, color="0.6", ls="--", lw=0.8)
        top.axhline(0.95, color="C3", ls=":", lw=0.8)
        top.set_title(f"MR{key[0]} twin ({r['n_twin']}^3) vs {r['n_parent']}^3 DMO, z = {key[1]:g}", fontsize=9)
        top.set_ylabel("cross-correlation r(k)")
        top.set_ylim(0, 1.05)
        bot.axhline(1.0, color="k", lw=0.6)
        bot.set_ylabel("P_twin / P_DMO")
        bot.set_xlabel("k [h/Mpc]  (dotted: twin k_Nyq, dashed: half)")
        top.legend(fontsize=6, ncol=2)
    return _save(fig, path)
