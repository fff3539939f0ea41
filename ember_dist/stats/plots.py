# SPDX-License-Identifier: BSD-3-Clause
"""Figures in the style of the EMBER paper (matplotlib, Agg backend, PNG).

* :func:`stats_panel`: a statistic (truth line, prediction median and 16-84% band) over
  a lower fractional-error panel with shaded 10% and 20% bands;
* :func:`map_panels`: maps side by side on one log colour scale;
* :func:`halo_panel`: disc mass against halo mass with binned 16/50/84 quantiles.

Stores keep ember_dist's units (k in h/ckpc, P(k) in (ckpc/h)^2); figures show k in h/Mpc,
as the field plots it, and P(k) in (Mpc/h)^2: :func:`plot_units` is the one conversion.
Error panels fit their y range to the data (linear up to 10, symmetric-log beyond), so a
large error is never clipped out of view.

Examples
--------
>>> import numpy as np
>>> fig = stats_panel(np.arange(1, 5.0), truth=np.ones(4), samples=np.ones((3, 4)) * 6.7)
>>> len(fig.axes), bool(fig.axes[1].get_ylim()[1] > 5.7)
(2, True)
>>> plot_units(np.array([0.01]), "h/ckpc")
(array([10.]), 'h/Mpc')
>>> plot_units(np.array([2e6]), "(Msun/h)^2 (ckpc/h)^2")
(array([2.]), '(Msun/h)^2 (Mpc/h)^2')
"""
from __future__ import annotations

import os
import re
import warnings

import numpy as np

from .halos import binned_quantiles

__all__ = ["stats_panel", "map_panels", "halo_panel", "save_figure", "plot_units", "fit_error_axis"]

#: ckpc/h per Mpc/h: the figures' length unit.
_CKPC_PER_MPC = 1000.0
_LENGTH_POWER = re.compile(r"\(ckpc/h\)\^(-?\d+)|h/ckpc|ckpc/h")


def plot_units(values, units):
    """Values and unit string with comoving kpc/h converted to Mpc/h, as figures show them.

    ``h/ckpc`` (wavenumbers) becomes ``h/Mpc``, ``(ckpc/h)^n`` becomes ``(Mpc/h)^n`` and a bare
    ``ckpc/h`` becomes ``Mpc/h``; other factors (``Msun/h``, ``cm^-2``) are kept.

    Parameters
    ----------
    values : array_like
        In ``units``.
    units : str
        e.g. ``"h/ckpc"``, ``"(ckpc/h)^2"``, ``"(Msun/h)^2 (ckpc/h)^2"``.

    Returns
    -------
    (ndarray, str)
    """
    power = 0

    def repl(m):
        nonlocal power
        if m.group(0) == "h/ckpc":
            power -= 1
            return "h/Mpc"
        n = int(m.group(1)) if m.group(1) else 1
        power += n
        return f"(Mpc/h)^{n}" if m.group(1) else "Mpc/h"

    new = _LENGTH_POWER.sub(repl, str(units or ""))
    return np.asarray(values, np.float64) / _CKPC_PER_MPC**power, new


def fit_error_axis(ax, values, floor=0.5, linear_max=10.0):
    """Fit the y range of a fractional-error axis to ``values`` (never narrower than +-``floor``).

    Up to ``linear_max`` the axis stays linear; beyond it becomes symmetric-log (linear within
    +-1), so the 10%/20% bands stay readable next to errors of 1000%.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    values : sequence of array_like
        Every error curve and band edge drawn on ``ax``; NaN and inf are ignored.
    floor : float
        Smallest half range (0.5 = +-50%, the paper's panels).
    linear_max : float
        Largest |error| drawn on a linear axis.
    """
    v = np.concatenate([np.ravel(np.asarray(a, np.float64)) for a in values] or [np.zeros(0)])
    v = v[np.isfinite(v)]
    lo = min(-floor, float(v.min()) if v.size else -floor)
    hi = max(floor, float(v.max()) if v.size else floor)
    if max(-lo, hi) <= linear_max:
        pad = 0.06 * (hi - lo) if (lo < -floor or hi > floor) else 0.0
        ax.set_ylim(lo - pad, hi + pad)
    else:
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_ylim(lo * 1.3 if lo < -1 else lo - 0.1, hi * 1.5)
        top = int(np.ceil(np.log10(hi * 1.5)))  # label at most 3 decades above 1, so labels do not collide
        ups = [10.0**d for d in range(top, 0, -max(1, int(np.ceil(top / 3))))][::-1]
        downs = [-(10.0**d) for d in range(1, int(np.ceil(np.log10(-lo))) + 1)] if lo < -1 else []
        ax.set_yticks(sorted(downs[-1:] + [-1.0, 0.0, 1.0] + ups))
    return ax.get_ylim()


def _plt():
    import matplotlib

    if matplotlib.get_backend().lower() != "agg":
        matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path, overwrite=True, dpi=120):
    """Save ``fig`` as a PNG at ``path`` and close it; returns the path."""
    path = os.fspath(path)
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path!r} exists; pass overwrite=True (CLI: --overwrite) to replace it")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=dpi, format="png")
    _plt().close(fig)
    return path


def _band(samples, q=(16, 50, 84)):
    s = np.asarray(samples, np.float64)
    if s.ndim == 1:
        return s, s, s
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # empty bins are all-NaN columns
        lo, med, hi = np.nanpercentile(s, q, axis=0)
    return lo, med, hi


def stats_panel(x, truth=None, samples=None, *, unet=None, xlabel="k [h/Mpc]", ylabel="P(k)",
                logx=True, logy=True, title=None, label="prediction", bands=(0.1, 0.2), xticklabels=None):
    """A statistic over its fractional error against the truth.

    Parameters
    ----------
    x : array_like
        Abscissa (e.g. ``k`` in h/ckpc, bin centres in Msun/h or cm^-2).
    truth : array_like, optional
        The truth's statistic on ``x``.
    samples : array_like, shape (n_samples, len(x)) or (len(x),), optional
        The predictions; several samples give the median and the 16-84% band, one its curve alone.
    unet : array_like, optional
        A deterministic prediction (e.g. the U-Net), drawn dashed.
    xlabel, ylabel, title : str
    logx, logy : bool
    label : str
    bands : tuple of float
        Fractional errors shaded in the lower panel (10% and 20%).
    xticklabels : sequence of str, optional
        One label per ``x`` (e.g. map names); draws points instead of lines.

    Returns
    -------
    matplotlib.figure.Figure
        The lower panel's y range holds every error drawn (:func:`fit_error_axis`).
    """
    plt = _plt()
    fig, (ax, ex) = plt.subplots(2, 1, sharex=True, figsize=(5.5, 5.0), layout="constrained",
                                 gridspec_kw={"height_ratios": [3, 1]})
    fig.get_layout_engine().set(h_pad=0.02, hspace=0.0)
    x = np.asarray(x, np.float64)

    def _pos(v):  # empty bins (zeros) would break the lines on log axes
        if v is None:
            return None
        v = np.array(v, np.float64)
        if logy:
            v[~(v > 0)] = np.nan
        return v

    truth, samples, unet = _pos(truth), _pos(samples), _pos(unet)
    band = samples is not None and samples.ndim == 2 and samples.shape[0] > 1  # one realisation: no band
    mk = {} if xticklabels is None else {"marker": "o", "ms": 4}
    if truth is not None:
        ax.plot(x, truth, color="k", lw=1.5, label="truth", **mk)
    if samples is not None:
        lo, med, hi = _band(samples)
        ax.plot(x, med, color="C1", lw=1.2, label=label, **mk)
        if band:
            ax.fill_between(x, lo, hi, color="C1", alpha=0.3, lw=0)
    if unet is not None:
        ax.plot(x, unet, color="C0", ls="--", lw=1.2, label="U-Net", **mk)
    for b, a in zip(sorted(bands, reverse=True), (0.12, 0.22)):
        ex.axhspan(-b, b, color="grey", alpha=a, lw=0)
    ex.axhline(0, color="k", lw=0.8)
    drawn = []
    if truth is not None:
        t = np.asarray(truth, np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            if samples is not None:
                s = np.asarray(samples, np.float64)
                lo, med, hi = _band(s / t - 1)
                ex.plot(x, med, color="C1", lw=1.2, **mk)
                if band:
                    ex.fill_between(x, lo, hi, color="C1", alpha=0.3, lw=0)
                drawn += [lo, med, hi]
            if unet is not None:
                e = np.asarray(unet) / t - 1
                ex.plot(x, e, color="C0", ls="--", lw=1.2, **mk)
                drawn.append(e)
    fit_error_axis(ex, drawn)
    ex.set_ylabel("pred / true - 1")
    ex.set_xlabel(xlabel)
    if xticklabels is not None:
        ex.set_xticks(x, [str(t) for t in xticklabels], rotation=45 if len(x) > 8 else 0)
        ex.set_xlim(x[0] - 0.5, x[-1] + 0.5)
    ax.set_ylabel(ylabel)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title, fontsize=10)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(frameon=False)
    fig.align_ylabels([ax, ex])
    return fig


def map_panels(maps, *, titles=None, vmin=None, vmax=None, extent=None, cmap="inferno",
               label="log10 mass per pixel [Msun/h]"):
    """Maps side by side on one log colour scale (e.g. input, truth, samples, U-Net).

    Parameters
    ----------
    maps : dict of str -> 2D array_like, or a sequence of 2D arrays
        Mass per pixel (Msun/h); Dask/xarray inputs are computed.
    titles : sequence of str, optional
    vmin, vmax : float, log10(Msun/h), optional
        Colour range; default the 1st and 99.9th percentiles of the positive pixels.
    extent : float, ckpc/h, optional
        Map side for the axis labels (shown in Mpc/h from 2 Mpc/h up).

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    if isinstance(maps, dict):
        titles = list(maps) if titles is None else titles
        maps = list(maps.values())
    arrs = [np.log10(np.maximum(np.asarray(m, np.float64), 1e-30)) for m in maps]
    pos = np.concatenate([a[a > -30].ravel() for a in arrs]) if arrs else np.zeros(1)
    if vmin is None or vmax is None:
        lo, hi = np.percentile(pos, [1, 99.9]) if pos.size else (0, 1)
        vmin = lo if vmin is None else vmin
        vmax = hi if vmax is None else vmax
    fig, axes = plt.subplots(1, len(arrs), figsize=(3.2 * len(arrs) + 0.8, 3.4), squeeze=False, sharey=True,
                             layout="constrained")
    ext, unit = None, "ckpc/h"
    if extent is not None:
        side = float(extent)
        if side >= 2 * _CKPC_PER_MPC:  # tick labels of 5 digits would run into the next panel
            side, unit = side / _CKPC_PER_MPC, "Mpc/h"
        ext = (0, side, 0, side)
    im = None
    for i, (ax, a) in enumerate(zip(axes[0], arrs)):
        im = ax.imshow(a, origin="lower", vmin=vmin, vmax=vmax, cmap=cmap, extent=ext)
        if titles is not None:
            ax.set_title(titles[i], fontsize=10)
        if extent is None:
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            ax.xaxis.set_major_locator(plt.MaxNLocator(4))
            ax.set_xlabel(f"x [{unit}]")
    if extent is not None:
        axes[0, 0].yaxis.set_major_locator(plt.MaxNLocator(4))
        axes[0, 0].set_ylabel(f"y [{unit}]")
    if im is not None:
        fig.colorbar(im, ax=list(axes[0]), shrink=0.85, label=label)
    return fig


def halo_panel(halo_mass, disc_mass, *, truth_mass=None, bins=8, xlabel="halo mass [Msun/h]",
               ylabel="mass within r_vir [Msun/h]", label="prediction", title=None):
    """Disc mass against halo mass: points, binned 16/50/84 quantiles, error vs truth.

    Parameters
    ----------
    halo_mass : array_like, Msun/h
    disc_mass : array_like, Msun/h
        Same shape as ``halo_mass`` (e.g. one row per projection axis flattened).
    truth_mass : array_like, Msun/h, optional
        The truth's disc masses; adds a lower fractional-error panel with 10%/20% bands.
    bins : int or array_like
        Halo-mass bins (log-spaced count or edges).

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    hm = np.asarray(halo_mass, np.float64).ravel()
    dm = np.asarray(disc_mass, np.float64).ravel()
    rows = 2 if truth_mass is not None else 1
    fig, axes = plt.subplots(rows, 1, sharex=True, figsize=(5.5, 5.0 if rows == 2 else 3.8), squeeze=False,
                             gridspec_kw={"height_ratios": [3, 1][:rows], "hspace": 0.05})
    ax = axes[0, 0]
    ax.scatter(hm, dm, s=4, color="C1", alpha=0.4, lw=0)
    q = binned_quantiles(hm, dm, bins)
    ax.plot(q["x"], q["y"].sel(quantile=0.5), color="C1", lw=1.5, label=label)
    ax.fill_between(q["x"], q["y"].sel(quantile=0.16), q["y"].sel(quantile=0.84), color="C1", alpha=0.3, lw=0)
    if truth_mass is not None:
        tm = np.asarray(truth_mass, np.float64).ravel()
        qt = binned_quantiles(hm, tm, q["x_lo"].values.tolist() + [float(q["x_hi"][-1])])
        ax.plot(qt["x"], qt["y"].sel(quantile=0.5), color="k", lw=1.5, label="truth")
        ex = axes[1, 0]
        for b, a in ((0.2, 0.12), (0.1, 0.22)):
            ex.axhspan(-b, b, color="grey", alpha=a, lw=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            qe = binned_quantiles(hm, dm / tm - 1, q["x_lo"].values.tolist() + [float(q["x_hi"][-1])])
        ex.plot(qe["x"], qe["y"].sel(quantile=0.5), color="C1")
        ex.fill_between(qe["x"], qe["y"].sel(quantile=0.16), qe["y"].sel(quantile=0.84), color="C1", alpha=0.3, lw=0)
        ex.axhline(0, color="k", lw=0.8)
        fit_error_axis(ex, [qe["y"].values])
        ex.set_ylabel("pred / true - 1")
    axes[-1, 0].set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xscale("log")
    ax.set_yscale("log")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(frameon=False)
    return fig
