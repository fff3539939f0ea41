# SPDX-License-Identifier: BSD-3-Clause
"""The figures of ``ember-dist evaluate`` in the style of the paper's Figs. 3-6: held-out maps, P(k),
the equilateral bispectrum, the pixel PDF and (HI) the CDDF, each over its fractional-error panel."""
from __future__ import annotations

import textwrap
import warnings

import numpy as np

from ember_dist.train.eval_table import frac_error

__all__ = ["power_title", "figures"]


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
    a.set_title(textwrap.fill(title, 95), fontsize=9)  # several WGANs name a long band: wrapped, not cut
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


def figures(out, truth, dm, results, attrs, field):
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
    bfrac = [(n, np.vstack([frac_error(m["b_pred"].mean(axis=0), m["b_true"])[None], m["b_frac_real"]])
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
