# SPDX-License-Identifier: BSD-3-Clause
"""The statistics stage: P(k), pixel PDF, HI CDDF and halo gas of the enriched and truth maps, in one Dask pass.

Written to ``statistics.zarr``, one group per statistic and map set (``pred/power_gas``,
``truth/cddf``, ``pred/halos``, ...), each as the statistic functions return it (per realisation,
axis and slab where they keep them); :func:`summarise` reduces them to what the report shows
(median and 16-84% over realisations of the per-realisation mean over axes and slabs).

The references (``input.reference``: hydro snapshots of other boxes) get the same statistics in
``reference_statistics.zarr`` (groups ``ref<i>/<name>``), in a stage of their own so that a changed
reference leaves the enriched statistics alone; :func:`summarise_references` sets them beside the
enriched ones.
"""
from __future__ import annotations

import os
import sys
import warnings

import numpy as np
import xarray as xr

from ember_dist.stats.curves import interp_loglog

__all__ = ["statistics_run", "compute_statistics", "summarise", "read_statistics", "reference_statistics_run",
           "summarise_references"]


def _set_statistics(label, ds, settings, catalogue, out):
    from ember_dist.stats import cddf, pixel_pdf, power_spectrum
    from ember_dist.stats.halo_gas import halo_gas

    todo = settings["compute"]
    fields = [f for f in settings["fields"] if f in ds]
    for f in fields:
        if "power" in todo:
            out[f"{label}/power_{f}"] = power_spectrum(ds, field=f)
        if "pdf" in todo:
            out[f"{label}/pdf_{f}"] = pixel_pdf(ds, field=f)
    if "cddf" in todo and "hi" in fields:
        c = settings["cddf"]
        out[f"{label}/cddf"] = cddf(ds, field="hi", lo=c["lo"], hi=c["hi"], per_dex=c["per_dex"])
    if "halos" in todo and catalogue is not None and fields:
        out[f"{label}/halos"] = halo_gas(ds, catalogue, fields, radius_factor=settings["radius_factor"])
    return out


def compute_statistics(pred, truth, settings, catalogue=None):
    """Lazy statistics: dict ``"pred/<name>"`` / ``"truth/<name>"`` -> xarray.Dataset."""
    out = {}
    _set_statistics("pred", pred, settings, catalogue, out)
    if truth is not None:
        _set_statistics("truth", truth, settings, catalogue, out)
    return out


def _clean_attrs(ds):
    ds = ds.copy()
    ds.attrs = {k: v for k, v in ds.attrs.items() if isinstance(v, (str, int, float))}
    return ds


def statistics_run(settings):
    def run(ctx, resume):
        from ember_dist.stats.halos import read_halo_catalogue

        from .stages import OUTPUTS

        pred = xr.open_zarr(os.path.join(ctx.out, OUTPUTS["enrich"]))
        tpath = os.path.join(ctx.out, OUTPUTS["truth"])
        truth = xr.open_zarr(tpath, consolidated=False) if os.path.exists(tpath) else None
        hpath = os.path.join(ctx.out, OUTPUTS["haloes"])
        cat = read_halo_catalogue(hpath) if os.path.exists(hpath) else None
        lazy = compute_statistics(pred, truth, settings, cat)
        _compute_and_write(ctx, lazy, os.path.join(ctx.out, OUTPUTS["statistics"]))
    return run


def _compute_and_write(ctx, lazy, store):
    import shutil

    import dask

    if ctx.progress and ctx.client is not None:
        from distributed import progress

        futures = ctx.client.compute(list(lazy.values()))
        progress(futures, multi=False)
        print(file=sys.stderr)
        done = dict(zip(lazy, [f.result() for f in futures]))
    else:
        done = dict(zip(lazy, dask.compute(*lazy.values())))
    tmp = store + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    with warnings.catch_warnings():  # the axis labels are fixed-width strings, which zarr 3 flags as unstable
        warnings.filterwarnings("ignore", message=".*does not have a Zarr V3 specification.*")
        for name, ds in done.items():
            _clean_attrs(ds).to_zarr(tmp, group=name, mode="w", consolidated=False)
    shutil.rmtree(store, ignore_errors=True)
    os.replace(tmp, store)


def reference_statistics_run(settings, n):
    """The statistics of the ``n`` references' truth maps: groups ``ref<i>/<name>`` of ``reference_statistics.zarr``."""
    def run(ctx, resume):
        from ember_dist.stats.halos import read_halo_catalogue

        from .stages import OUTPUTS, reference_output

        lazy = {}
        for i in range(n):
            ds = xr.open_zarr(os.path.join(ctx.out, reference_output(i)), consolidated=False)
            hpath = os.path.join(ctx.out, reference_output(i, haloes=True))
            cat = read_halo_catalogue(hpath) if os.path.exists(hpath) else None
            if cat is not None and cat.sizes["halo"] == 0:  # a small reference box may hold no halo
                cat = None
            _set_statistics(f"ref{i}", ds, settings, cat, lazy)
        _compute_and_write(ctx, lazy, os.path.join(ctx.out, OUTPUTS["reference_statistics"]))
    return run


def read_statistics(path):
    """The groups of a ``statistics.zarr`` as a dict name -> loaded Dataset."""
    import zarr

    root = zarr.open_group(path, mode="r")
    out = {}
    for label, g in root.groups():
        for name, _ in g.groups():
            out[f"{label}/{name}"] = xr.open_zarr(path, group=f"{label}/{name}", consolidated=False).load()
    return out


def _q(a, axis=0):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN bins
        return np.nanpercentile(a, [16, 50, 84], axis=axis)


def _per_sample(ds, var, xdim):
    v = ds[var]
    other = [d for d in v.dims if d not in ("sample", xdim)]
    v = v.mean(other) if other else v
    return v.transpose("sample", xdim).values if "sample" in v.dims else v.values[None]


def summarise(stats, settings):
    """Numbers the report shows: per statistic, x values, truth curve, 16/50/84% over realisations."""
    from ember_dist.stats.absorbers import incidence
    from ember_dist.stats.halo_gas import gas_fraction_bins

    spec = {"power": ("k", "k_bin", "power"), "pdf": ("m", "m_bin", "pdf"), "cddf": ("N", "N_bin", "f")}
    out = {}
    for key, ds in stats.items():
        label, name = key.split("/")
        base = name.split("_")[0]
        if base in spec:
            xv, xdim, var = spec[base]
            s = _per_sample(ds, var, xdim)
            entry = out.setdefault(name, {"x": ds[xv].values.tolist(), "x_name": xv,
                                          "x_units": ds[xv].attrs.get("units", ""), "y_name": var,
                                          "y_units": ds[var].attrs.get("units", "")})
            if label == "pred":
                entry["pred_q16_q50_q84"] = _q(s).tolist()
                entry["realisations"] = int(s.shape[0])
            else:
                entry["truth"] = s.mean(axis=0).tolist()
            if base == "cddf":
                inc = np.atleast_1d(incidence(ds).values)
                entry[f"{label}_dla_incidence"] = _q(inc).tolist() if label == "pred" else float(inc.mean())
                entry["dX"] = float(ds.attrs.get("dX", np.nan))
        elif name == "halos":
            h = out.setdefault("halos", {"halo_mass": ds["mass"].values.tolist(), "n_haloes": int(ds.sizes["halo"]),
                                         "aperture_radius": ds["r_vir"].values.tolist()})
            if "aperture_below_pixel" in ds:
                h["apertures_below_half_pixel"] = int(ds["aperture_below_pixel"].values.sum())
            edges = None
            for f in settings["fields"]:
                if f"mass_{f}" not in ds:
                    continue
                m = ds[f"mass_{f}"]
                m = m.mean("axis") if "axis" in m.dims else m
                h[f"{label}_mass_{f}"] = (_q(m.transpose("sample", "halo").values).tolist() if "sample" in m.dims
                                          else m.values.tolist())
                if label == "pred":
                    h["realisations"] = int(m.sizes.get("sample", 1))
                fr = gas_fraction_bins(ds, field=f, bins=settings["mass_bins"], edges=edges)
                edges = np.concatenate([fr["m_lo"].values, fr["m_hi"].values[-1:]])
                v = fr["fraction"].transpose(*(["sample"] if "sample" in fr["fraction"].dims else []), "mass_bin").values
                h["mass_bin_edges"] = edges.tolist()
                h["haloes_per_bin"] = fr["n_haloes"].values.tolist()
                h[f"{label}_fraction_{f}"] = _q(v).tolist() if v.ndim == 2 else v.tolist()
    return out


def _reference_error(pred, ref, log_interp):
    """Median over x of |enriched median / reference - 1| over the x both cover (bins where both are positive).

    With ``log_interp`` (P(k) of boxes of different sizes: different k bins) the enriched median is
    interpolated in log-log onto the reference's x inside the range both boxes cover.
    """
    if not pred or "pred_q16_q50_q84" not in pred:
        return None
    xp, p = np.asarray(pred["x"], float), np.asarray(pred["pred_q16_q50_q84"], float)[1]
    xr_, r = np.asarray(ref["x"], float), np.asarray(ref["y"], float)
    if log_interp or xp.shape != xr_.shape or not np.allclose(xp, xr_, rtol=1e-9):
        p = interp_loglog(xp, p, xr_)  # NaN outside the enriched curve's range: those bins drop out below
    ok = (r > 0) & (p > 0) & np.isfinite(r) & np.isfinite(p)
    if not ok.any():
        return None
    return {"error": float(np.median(np.abs(p[ok] / r[ok] - 1))), "n_bins": int(ok.sum()),
            "x_range": [float(xr_[ok].min()), float(xr_[ok].max())]}


def summarise_references(ref_stats, summary, refs, settings):
    """Per reference (``refs``: the pipeline's derived references): its curves and their differences
    from the enriched median in ``summary`` (see :func:`summarise`).

    The reference is a different volume: its curves are drawn beside the enriched ones, and the
    "errors" are differences of statistics between two boxes (cosmic variance included), P(k) only
    over the k both boxes cover.  Halo gas fractions use the enriched run's halo-mass bins.
    """
    from ember_dist.stats.absorbers import incidence
    from ember_dist.stats.halo_gas import gas_fraction_bins

    spec = {"power": ("k", "k_bin", "power"), "pdf": ("m", "m_bin", "pdf"), "cddf": ("N", "N_bin", "f")}
    out = []
    for i, ref in enumerate(refs):
        entry = dict(ref, statistics={}, errors={})
        for key, ds in ref_stats.items():
            label, name = key.split("/")
            if label != f"ref{i}":
                continue
            base = name.split("_")[0]
            if base in spec:
                xv, xdim, var = spec[base]
                e = {"x": ds[xv].values.tolist(), "y": _per_sample(ds, var, xdim).mean(axis=0).tolist(),
                     "x_units": ds[xv].attrs.get("units", ""), "y_units": ds[var].attrs.get("units", "")}
                if base == "cddf":
                    e["dla_incidence"] = float(np.atleast_1d(incidence(ds).values).mean())
                entry["statistics"][name] = e
                err = _reference_error(summary.get(name), e, log_interp=base == "power")
                entry["errors"][name] = err if err is None else dict(err, x_units=e["x_units"])
            elif name == "halos":
                h = {"halo_mass": ds["mass"].values.tolist(), "n_haloes": int(ds.sizes["halo"])}
                edges = summary.get("halos", {}).get("mass_bin_edges")
                for f in settings["fields"]:
                    if f"mass_{f}" not in ds:
                        continue
                    m = ds[f"mass_{f}"]
                    h[f"mass_{f}"] = (m.mean("axis") if "axis" in m.dims else m).values.tolist()
                    fr = gas_fraction_bins(ds, field=f, bins=settings["mass_bins"], edges=edges)
                    h[f"fraction_{f}"] = fr["fraction"].values.tolist()
                    h["haloes_per_bin"] = fr["n_haloes"].values.tolist()
                    h["mass_bin_edges"] = np.concatenate([fr["m_lo"].values, fr["m_hi"].values[-1:]]).tolist()
                    pred = summary.get("halos", {}).get(f"pred_fraction_{f}")
                    if pred is not None and edges is not None:
                        p, r = np.asarray(pred, float)[1], np.asarray(h[f"fraction_{f}"], float)
                        ok = np.isfinite(p) & np.isfinite(r) & (r > 0)
                        entry["errors"][f"halo_fraction_{f}"] = ({"error": float(np.median(np.abs(p[ok] / r[ok] - 1))),
                                                                  "n_bins": int(ok.sum())} if ok.any() else None)
                entry["statistics"]["halos"] = h
        out.append(entry)
    return out
