# SPDX-License-Identifier: BSD-3-Clause
"""The figures of ``ember-dist stats`` / ``ember-dist plot``: one PNG per statistic.

Each figure has a title (field, statistic, realisations), axis labels with units in the
figures' units (k in h/Mpc, P(k) in (Mpc/h)^2: :func:`ember_dist.stats.plots.plot_units`),
and an error panel whose y range holds every error drawn.  The total-mass figure has one
tick per map, named ``axis/slab``.
"""
from __future__ import annotations

import os

import numpy as np

__all__ = ["PLOT_SPECS", "statistic_figure", "make_plots"]


def _mean_except(da_, keep):
    other = [d for d in da_.dims if d not in keep]
    return da_.mean(other) if other else da_


def _curve(ds, var, xdim):
    """(samples or single curve) of ``var`` averaged over dims other than sample/xdim."""
    v = _mean_except(ds[var], ("sample", xdim))
    if "sample" in v.dims:
        return v.transpose("sample", xdim).values
    return v.values


#: Figure of each statistic: (x variable, x dim, y variable, x label, y label, title, log x, log y).
#: Labels get the variables' units, in the figures' units (:func:`ember_dist.stats.plots.plot_units`).
PLOT_SPECS = {
    "power": ("k", "k_bin", "power", "k", "P(k)", "power spectrum", True, True),
    "pdf": ("m", "m_bin", "pdf", "mass per pixel", "dN/dlog10 m per pixel", "pixel PDF", True, True),
    "cddf": ("N", "N_bin", "f", "N_HI", "f(N_HI)", "HI column density distribution", True, True),
    "bispectrum": ("k1", "triangle", "bispectrum", "k", "B(k, k, k)", "equilateral bispectrum", True, False),
}


def _label(name, units):
    return f"{name} [{units}]" if units and units != "1" else name


def _title(field, what, ds):
    n = ds.sizes.get("sample")
    return f"{field}: {what}" + (f" ({n} realisations: median, 16-84% band)" if n and n > 1 else "")


def _map_names(da_):
    """``axis/slab`` names of the maps stacked along ``map`` (indices where labels are missing)."""
    idx = da_.indexes.get("map") if "map" in da_.dims else None
    if idx is None:
        return [str(i) for i in range(da_.sizes.get("map", 1))]
    return ["/".join(str(v) for v in (t if isinstance(t, tuple) else (t,))) for t in idx]


def _stack_maps(m):
    lead = [d for d in m.dims if d != "sample"]
    return m.stack(map=lead) if lead else m.expand_dims(map=[0])


def statistic_figure(name, ds, truth=None, field=None):
    """The figure of one computed statistic (``ds``, and ``truth`` on the same bins), or None.

    Parameters
    ----------
    name : str
        Among :data:`STATISTICS`.
    ds, truth : xarray.Dataset
        The prediction's statistic and the truth's (optional).
    field : str, optional
        Field name for the title (default: the statistic's ``field`` attr).

    Returns
    -------
    matplotlib.figure.Figure or None
        None for a statistic without a figure.
    """
    from .plots import halo_panel, plot_units, stats_panel

    t = truth
    fld = field or ds.attrs.get("field", "")
    if name in PLOT_SPECS:
        xv, xdim, var, xl, yl, what, lx, ly = PLOT_SPECS[name]
        x, xu = plot_units(ds[xv].values, ds[xv].attrs.get("units", ""))
        yunits = ds[var].attrs.get("units", "")
        samples, yu = plot_units(_curve(ds, var, xdim), yunits)
        tv = None if t is None else plot_units(_curve(t, var, xdim), yunits)[0]
        return stats_panel(x, truth=tv, samples=samples, xlabel=_label(xl, xu), ylabel=_label(yl, yu),
                           logx=lx, logy=ly, title=_title(fld, what, ds))
    if name == "total_mass":
        flat = _stack_maps(ds["mass"])
        samples = flat.transpose("sample", "map").values if "sample" in flat.dims else flat.values
        tv = None if t is None else _stack_maps(t["mass"]).values
        names = _map_names(flat)
        return stats_panel(np.arange(len(names)), truth=tv, samples=samples, xlabel="map (axis/slab)",
                           ylabel=_label("total mass", ds["mass"].attrs.get("units", "Msun/h")), logx=False,
                           logy=True, title=_title(fld, "total mass per map", ds), xticklabels=names)
    if name == "halos":
        var = [k for k in ds.data_vars if k.startswith("mass_")][0]
        pm = _mean_except(ds[var], ("axis", "halo")) if "sample" in ds[var].dims else ds[var]
        hm = ds["mass"].broadcast_like(pm)
        tm = None if t is None else t[var].broadcast_like(pm).values
        return halo_panel(hm.values, pm.values, truth_mass=tm, title=f"{fld}: mass within r_vir of haloes")
    return None


def make_plots(pred, truth, out, overwrite=True, field=None):
    """Draw one PNG per statistic in ``out`` (:func:`statistic_figure`); returns the written paths.

    Parameters
    ----------
    pred, truth : dict of str -> xarray.Dataset
        Computed statistics (``truth`` may be empty).
    out : str or path
    overwrite : bool
    field : str, optional
        Field name for the titles.
    """
    from .plots import save_figure

    truth = truth or {}
    paths = []
    for name, ds in pred.items():
        fig = statistic_figure(name, ds, truth.get(name), field)
        if fig is not None:
            paths.append(save_figure(fig, os.path.join(os.fspath(out), f"{name}.png"), overwrite=overwrite))
    return paths
