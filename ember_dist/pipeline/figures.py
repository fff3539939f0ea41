# SPDX-License-Identifier: BSD-3-Clause
"""The report's figures (matplotlib, Agg, PNG): maps, statistics against truth and observations, haloes."""
from __future__ import annotations

import os
import warnings

import numpy as np

from ember_dist.stats.curves import interp_loglog
from ember_dist.stats.plots import plot_units, save_figure, stats_panel

__all__ = ["maps_figure", "statistic_figure", "cddf_figure", "halo_figure", "enriched_label"]


def enriched_label(n, what="enriched"):
    """Legend label of the enriched curve over ``n`` realisations: median and band, or the only one.

    >>> enriched_label(4), enriched_label(1)
    ('enriched (median, 16-84%)', 'enriched (1 realisation)')
    """
    return f"{what} (median, 16-84%)" if n > 1 else f"{what} (1 realisation)"


def _realisations(samples):
    s = np.asarray(samples)
    return s.shape[0] if s.ndim == 2 else 1


def _plt():
    import matplotlib

    if matplotlib.get_backend().lower() != "agg":
        matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def maps_figure(rows, path, pixel_size):
    """One row per field: ``rows`` = [(field, {"truth": 2D, "prediction": 2D, ...}), ...], log colour per row."""
    plt = _plt()
    ncol = max(len(p) for _, p in rows)
    fig, axes = plt.subplots(len(rows), ncol, figsize=(3.2 * ncol, 3.0 * len(rows)), squeeze=False)
    for r, (field, panels) in enumerate(rows):
        vals = np.concatenate([np.ravel(m) for m in panels.values()])
        pos = vals[vals > 0]
        lo, hi = (np.percentile(pos, 1), pos.max()) if pos.size else (1e-3, 1.0)
        for c in range(ncol):
            ax = axes[r][c]
            ax.set_xticks([]), ax.set_yticks([])
            if c >= len(panels):
                ax.axis("off")
                continue
            title, m = list(panels.items())[c]
            n = m.shape[-1]
            im = ax.imshow(np.log10(np.maximum(m, lo)), origin="lower", vmin=np.log10(lo), vmax=np.log10(hi),
                           cmap="inferno", extent=(0, n * pixel_size / 1000, 0, n * pixel_size / 1000))
            ax.set_title(f"{field}: {title}", fontsize=9)
        fig.colorbar(im, ax=list(axes[r]), shrink=0.8, label=f"log10 {field} [Msun/h / px]")
    fig.suptitle(f"first projection, first slab ({pixel_size:.4g} ckpc/h pixels; axes in cMpc/h)", fontsize=10)
    return save_figure(fig, path)


_REF_STYLES = ("--", ":", "-.")


def _add_references(fig, x, samples, truth, references):
    """Reference curves (other boxes) on the upper panel; without a truth, enriched / reference - 1 below.

    The enriched median and band are interpolated (log-log) onto each reference's x within the x range
    both cover (P(k) of boxes of different sizes has different k bins).
    """
    from ember_dist.stats.plots import fit_error_axis

    if not references:
        return
    ax, ex = fig.axes[0], fig.axes[1]
    s = np.asarray(samples, np.float64)
    s = s[None] if s.ndim == 1 else s
    band = s.shape[0] > 1  # one realisation: its curve alone, no band
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN bins
        lo, med, hi = np.nanpercentile(np.where(s > 0, s, np.nan), [16, 50, 84], axis=0)
    drawn = []
    for j, r in enumerate(references):
        rx, ry = np.asarray(r["x"], np.float64), np.array(r["y"], np.float64)
        ry[~(ry > 0)] = np.nan
        ls = _REF_STYLES[j % len(_REF_STYLES)]
        ax.plot(rx, ry, color="tab:blue", ls=ls, lw=1.4, label=r["label"])
        if truth is None:
            e = [interp_loglog(x, v, rx) / ry - 1 for v in (lo, med, hi)]
            ex.plot(rx, e[1], color="tab:blue", ls=ls, lw=1.2)
            if j == 0 and band:
                ex.fill_between(rx, e[0], e[2], color="tab:blue", alpha=0.2, lw=0)
            drawn += e
    if truth is None and drawn:
        fit_error_axis(ex, drawn)
        ex.set_ylabel("enriched / reference - 1", fontsize=8)
    ax.legend(frameon=False, fontsize=7)


def _axis_label(name, units):
    return f"{name} [{units}]" if units and units != "1" else name


def statistic_figure(x, samples, truth, path, xlabel, ylabel, title, references=None, units=("", "")):
    """A statistic: prediction median and 16-84% band over realisations (one realisation: its curve), truth,
    fractional error.

    ``x``, ``samples``, ``truth`` and the references' ``x``, ``y`` are in ``units`` (x, y), as the
    statistics store them (``h/ckpc``, ``(ckpc/h)^2``); the figure shows lengths in Mpc/h (k in h/Mpc,
    :func:`~ember_dist.stats.plots.plot_units`), its axis labels ``xlabel [unit]`` and ``ylabel [unit]``.
    ``references``: ``[{"label", "x", "y"}, ...]``, curves of other boxes (``input.reference``), drawn
    dashed, and below, without a truth, the enriched median and band over each reference - 1.
    """
    (x, xu), (samples, yu) = plot_units(x, units[0]), plot_units(samples, units[1])
    truth = None if truth is None else plot_units(truth, units[1])[0]
    references = [dict(r, x=plot_units(r["x"], units[0])[0], y=plot_units(r["y"], units[1])[0])
                  for r in references or []]
    n = _realisations(samples)
    fig = stats_panel(x, truth=truth, samples=samples, xlabel=_axis_label(xlabel, xu), ylabel=_axis_label(ylabel, yu),
                      logx=True, logy=True, title=title,
                      label=enriched_label(n) if references else enriched_label(n, "prediction"))
    _add_references(fig, x, samples, truth, references)
    return save_figure(fig, path)


def cddf_figure(n, samples, truth, path, redshift, references=None):
    """The HI CDDF with the Prochaska 2014 spline and the Noterdaeme 2012 DLA bins drawn on it."""
    from ember_dist.stats.observations import noterdaeme2012_cddf, prochaska2014_log_f

    fig = stats_panel(np.asarray(n), truth=None if truth is None else np.asarray(truth), samples=np.asarray(samples),
                      xlabel="N_HI [cm^-2]", ylabel="f(N_HI, X) [cm^2]", logx=True, logy=True,
                      title=f"HI column density distribution, z = {redshift:g}",
                      label=enriched_label(_realisations(samples), "enriched" if references else "prediction"))
    _add_references(fig, n, samples, truth, references)
    ax = fig.axes[0]
    logn = np.linspace(max(12.0, np.log10(n[0])), min(22.0, np.log10(n[-1])), 200)
    ax.plot(10**logn, 10 ** prochaska2014_log_f(logn), color="tab:green", lw=1.2, ls="--",
            label="Prochaska+2014 (z~2.5, spline)")
    t = noterdaeme2012_cddf()
    x = 10 ** t["log10_N_HI"].values
    y = 10 ** t["log10_f"].values
    e = t["err_log10_f"].values
    ax.errorbar(x, y, yerr=[y - 10 ** (np.log10(y) - e), 10 ** (np.log10(y) + e) - y], fmt="^", ms=3,
                color="tab:purple", label="Noterdaeme+2012 (DR9, <z>=2.5)")
    ax.legend(fontsize=7, loc="lower left")
    return save_figure(fig, path)


def halo_figure(h, fields, path, omega_b_over_m, references=None):
    """Field mass inside R200c against halo mass (per field), and the mean gas fraction per mass bin.

    ``references``: ``[{"label", "halos": {...}}, ...]`` of other boxes (their own haloes), drawn in blue.
    """
    plt = _plt()
    nf = len(fields)
    fig, axes = plt.subplots(1, nf + 1, figsize=(4.2 * (nf + 1), 3.6), squeeze=False)
    mh = np.asarray(h["halo_mass"])
    band = h.get("realisations", 2) > 1  # one realisation: its values, no band
    for ax, f in zip(axes[0], fields):
        if f"truth_mass_{f}" in h:
            ax.scatter(mh, h[f"truth_mass_{f}"], s=6, color="k", label="truth (hydro)")
        if f"pred_mass_{f}" in h:
            q = np.asarray(h[f"pred_mass_{f}"])
            ax.errorbar(mh, q[1], yerr=[q[1] - q[0], q[2] - q[1]] if band else None, fmt="o", ms=3, color="tab:red",
                        alpha=0.7, label=enriched_label(2 if band else 1))
        for j, r in enumerate(references or []):
            rh = r["halos"]
            if f"mass_{f}" in rh:
                ax.scatter(rh["halo_mass"], rh[f"mass_{f}"], s=6, marker="x^v"[j % 3], color="tab:blue",
                           label=r["label"])
        ax.set_xscale("log"), ax.set_yscale("log")
        ax.set_xlabel("halo mass [Msun/h]"), ax.set_ylabel(f"{f} mass in R200c (projected) [Msun/h]")
        ax.legend(fontsize=7)
    ax = axes[0][nf]
    edges = np.asarray(h.get("mass_bin_edges", [1, 10]))
    centre = np.sqrt(edges[:-1] * edges[1:])
    if "truth_fraction_gas" in h:
        ax.plot(centre, h["truth_fraction_gas"], "ks-", ms=4, label="truth (hydro)")
    if "pred_fraction_gas" in h:
        q = np.asarray(h["pred_fraction_gas"])
        ax.plot(centre, q[1], "o-", color="tab:red", ms=4, label="enriched (median)" if band else enriched_label(1))
        if band:
            ax.fill_between(centre, q[0], q[2], color="tab:red", alpha=0.25, label="16-84% over realisations")
    for j, r in enumerate(references or []):
        rh = r["halos"]
        if "fraction_gas" in rh:
            re_ = np.asarray(rh["mass_bin_edges"])
            ax.plot(np.sqrt(re_[:-1] * re_[1:]), rh["fraction_gas"], "^" + _REF_STYLES[j % 3], color="tab:blue",
                    ms=4, label=r["label"])
    ax.axhline(omega_b_over_m, color="grey", ls=":", label="Omega_b / Omega_m")
    ax.set_xscale("log"), ax.set_xlabel("halo mass [Msun/h]"), ax.set_ylabel("mean M_gas(<R200c) / M_halo")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)


def relpath(path, start):
    return os.path.relpath(path, start)
