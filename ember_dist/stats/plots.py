# SPDX-License-Identifier: BSD-3-Clause
"""Figures in the style of the EMBER paper (matplotlib, Agg backend, PNG).

* :func:`stats_panel`: a statistic (truth line, prediction median and 16-84% band) over
  a lower fractional-error panel with shaded 10% and 20% bands;
* :func:`map_panels`: maps side by side on one log colour scale;
* :func:`halo_panel`: disc mass against halo mass with binned 16/50/84 quantiles.

Examples
--------
>>> import numpy as np
>>> fig = stats_panel(np.arange(1, 5.0), truth=np.ones(4), samples=np.ones((3, 4)) * 1.05)
>>> len(fig.axes)
2
"""
from __future__ import annotations

import os
import warnings

import numpy as np

from .halos import binned_quantiles

__all__ = ["stats_panel", "map_panels", "halo_panel", "save_figure"]


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


def stats_panel(x, truth=None, samples=None, *, unet=None, xlabel="k [h/ckpc]", ylabel="P(k)",
                logx=True, logy=True, title=None, label="prediction", bands=(0.1, 0.2)):
    """A statistic over its fractional error against the truth.

    Parameters
    ----------
    x : array_like
        Abscissa (e.g. ``k`` in h/ckpc, bin centres in Msun/h or cm^-2).
    truth : array_like, optional
        The truth's statistic on ``x``.
    samples : array_like, shape (n_samples, len(x)) or (len(x),), optional
        The predictions; several samples give the median and the 16-84% band.
    unet : array_like, optional
        A deterministic prediction (e.g. the U-Net), drawn dashed.
    xlabel, ylabel, title : str
    logx, logy : bool
    label : str
    bands : tuple of float
        Fractional errors shaded in the lower panel (10% and 20%).

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    fig, (ax, ex) = plt.subplots(2, 1, sharex=True, figsize=(5.5, 5.0),
                                 gridspec_kw={"height_ratios": [3, 1], "hspace": 0.05})
    x = np.asarray(x, np.float64)

    def _pos(v):  # empty bins (zeros) would break the lines on log axes
        if v is None:
            return None
        v = np.array(v, np.float64)
        if logy:
            v[~(v > 0)] = np.nan
        return v

    truth, samples, unet = _pos(truth), _pos(samples), _pos(unet)
    if truth is not None:
        ax.plot(x, truth, color="k", lw=1.5, label="truth")
    if samples is not None:
        lo, med, hi = _band(samples)
        ax.plot(x, med, color="C1", lw=1.2, label=label)
        ax.fill_between(x, lo, hi, color="C1", alpha=0.3, lw=0)
    if unet is not None:
        ax.plot(x, unet, color="C0", ls="--", lw=1.2, label="U-Net")
    for b, a in zip(sorted(bands, reverse=True), (0.12, 0.22)):
        ex.axhspan(-b, b, color="grey", alpha=a, lw=0)
    ex.axhline(0, color="k", lw=0.8)
    if truth is not None:
        t = np.asarray(truth, np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            if samples is not None:
                s = np.asarray(samples, np.float64)
                lo, med, hi = _band(s / t - 1)
                ex.plot(x, med, color="C1", lw=1.2)
                ex.fill_between(x, lo, hi, color="C1", alpha=0.3, lw=0)
            if unet is not None:
                ex.plot(x, np.asarray(unet) / t - 1, color="C0", ls="--", lw=1.2)
    ex.set_ylim(-0.5, 0.5)
    ex.set_ylabel("fractional\nerror")
    ex.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(frameon=False)
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
        Map side for the axis labels.

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
    fig, axes = plt.subplots(1, len(arrs), figsize=(3.2 * len(arrs) + 0.8, 3.4), squeeze=False)
    ext = None if extent is None else (0, extent, 0, extent)
    im = None
    for i, (ax, a) in enumerate(zip(axes[0], arrs)):
        im = ax.imshow(a, origin="lower", vmin=vmin, vmax=vmax, cmap=cmap, extent=ext)
        if titles is not None:
            ax.set_title(titles[i])
        ax.set_xticks([]) if extent is None else ax.set_xlabel("x [ckpc/h]")
        ax.set_yticks([]) if extent is None else None
    if im is not None:
        fig.colorbar(im, ax=list(axes[0]), shrink=0.85, label=label)
    return fig


def halo_panel(halo_mass, disc_mass, *, truth_mass=None, bins=8, xlabel="halo mass [Msun/h]",
               ylabel="mass within r_vir [Msun/h]", label="prediction"):
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
        ex.set_ylim(-0.5, 0.5)
        ex.set_ylabel("fractional\nerror")
    axes[-1, 0].set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.legend(frameon=False)
    return fig
