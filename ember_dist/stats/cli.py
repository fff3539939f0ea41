# SPDX-License-Identifier: BSD-3-Clause
"""The ``ember-dist stats`` and ``ember-dist plot`` subcommands (wired by ``ember_dist.cli``).

``stats`` opens a zarr store with ``xarray.open_zarr``, computes the statistics of one
field (and of a truth store) in one Dask pass, writes them to ``OUT/stats.zarr`` (one
group per statistic: ``pred/<name>``, ``truth/<name>``, and ``summary/<name>_quantiles``
(16/50/84 over ``sample``) and ``summary/<name>_error`` (fractional error against the truth,
with its quantiles); open one with ``xr.open_zarr(path, group="pred/power")``), draws PNGs
in ``OUT`` (k in h/Mpc, titled, error axes fitted to the data) and prints a short table
(:mod:`ember_dist.stats.table`) and the group names.
``plot`` redraws the PNGs from such a ``stats.zarr`` (and, with ``--maps``, map panels).

Examples
--------
>>> import argparse
>>> p = argparse.ArgumentParser(prog="ember-dist")
>>> sub = p.add_subparsers(dest="command")
>>> add_stats_parser(sub) is not None and add_plot_parser(sub) is not None
True
>>> a = p.parse_args(["stats", "pred.zarr", "--field", "hi", "--out", "res"])
>>> a.func.__name__, resolve_statistics(a.statistics, a.field)
('run_stats', ['total_mass', 'pdf', 'power', 'cddf'])
"""
from __future__ import annotations

import os

import xarray as xr

from ember_dist.help_format import HelpFormatter
from ember_dist.io.store import check_complete
from ember_dist.io.zarr_meta import consolidate_quietly

from .figures import make_plots, statistic_figure

__all__ = ["add_stats_parser", "add_plot_parser", "run_stats", "run_plot", "compute_statistics",
           "make_plots", "statistic_figure", "resolve_statistics", "summaries", "STATISTICS"]

#: Statistic names accepted by ``--statistics``.
STATISTICS = ("total_mass", "pdf", "power", "bispectrum", "cddf", "halos")
_HI_NAMES = {"hi", "h1", "nhi", "m_hi"}


def resolve_statistics(spec, field):
    """List of statistics from ``--statistics`` ("auto" adds ``cddf`` for HI fields)."""
    if spec in (None, "auto"):
        names = ["total_mass", "pdf", "power"] + (["cddf"] if str(field).lower() in _HI_NAMES else [])
    else:
        names = [s.strip() for s in spec.split(",") if s.strip()]
    bad = [s for s in names if s not in STATISTICS]
    if bad:
        raise ValueError(f"unknown statistics {bad!r}; choose from {', '.join(STATISTICS)} (comma separated)")
    return names


def _params(args):
    return {k: getattr(args, k, None) for k in ("box_size", "redshift", "hubble", "slab_depth", "pixel_size")}


def compute_statistics(ds, field, names, *, halos=None, rechunk_method="auto", scratch_dir=None, **params):
    """Lazy statistics of ``ds[field]`` as a dict name -> xarray.Dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        Store opened with ``xarray.open_zarr`` (dims from (sample, axis, slab, y, x)).
    field : str
    names : sequence of str
        Among :data:`STATISTICS`.
    halos : str or xarray.Dataset, optional
        Halo catalogue for ``"halos"``.
    rechunk_method, scratch_dir
        P(k) transposition (see :func:`ember_dist.stats.power_spectrum`).
    **params
        Overrides of the store's attrs (``box_size`` in ckpc/h, ``redshift``, ...).
    """
    from . import bispectrum, cddf, halo_masses, pixel_pdf, power_spectrum, total_mass

    if field not in ds:
        raise KeyError(f"field {field!r} is not in the store (it has {list(ds.data_vars)!r}); pass --field with one of those")
    params = {k: v for k, v in params.items() if v is not None}
    funcs = {
        "total_mass": lambda: total_mass(ds, field=field, **params),
        "pdf": lambda: pixel_pdf(ds, field=field, **params),
        "power": lambda: power_spectrum(ds, field=field, rechunk_method=rechunk_method, scratch_dir=scratch_dir,
                                        **params),
        "bispectrum": lambda: bispectrum(ds, field=field, **params),
        "cddf": lambda: cddf(ds, field=field, **params),
        "halos": lambda: halo_masses(ds, halos, fields=[field], **params),
    }
    if "halos" in names and halos is None:
        raise ValueError("the 'halos' statistic needs a halo catalogue; pass --halos CATALOGUE (CSV or HDF5)")
    return {n: funcs[n]() for n in names}


#: Main variable of each statistic (summarised over realisations and against the truth).
MAIN_VARIABLE = {"total_mass": "mass", "pdf": "pdf", "power": "power", "bispectrum": "bispectrum",
                 "cddf": "f", "halos": "mass_{field}"}


def summaries(pred, truth, field):
    """16/50/84 quantiles over ``sample`` and fractional errors against the truth.

    Returns a dict ``"<name>_quantiles"`` / ``"<name>_error"`` -> xarray.Dataset.
    """
    from .realisations import fractional_error, realisation_quantiles

    out = {}
    for name, ds in pred.items():
        var = MAIN_VARIABLE[name].format(field=field)
        if var not in ds:
            continue
        if "sample" in ds[var].dims:
            out[f"{name}_quantiles"] = realisation_quantiles(ds, variables=[var])
        if name in truth and var in truth[name]:
            out[f"{name}_error"] = fractional_error(ds, truth[name], variables=[var])
    return out


def _write(results, store, prefix, field):
    """Write each statistic to the group ``prefix/name``; returns the group names."""
    for name, ds in results.items():
        ds = ds.copy()
        ds.attrs = {k: v for k, v in ds.attrs.items() if isinstance(v, (str, int, float))}
        ds.attrs["field"] = str(field)
        ds.to_zarr(store, group=f"{prefix}/{name}", mode="w", consolidated=False)
    return [f"{prefix}/{name}" for name in results]


def _report(store, out, paths, groups, rows):
    """What a run prints last: the numbers, the files, and how to open the groups."""
    from .table import format_table

    if rows:
        print(format_table(rows))
    print(f"wrote {store} and {len(paths)} PNG(s) in {out}")
    print(f"{os.path.basename(store)} holds one group per statistic (xr.open_zarr({store!r}) alone is empty); "
          f"open one with xr.open_zarr({store!r}, group={groups[0]!r}). Groups: {', '.join(groups)}")


def _client(args):
    """A client for ``--scheduler`` (profile or address) or ``--workers`` (LocalCluster); None: threads."""
    if not (args.scheduler or args.workers):
        return None
    from ember_dist.cluster import connect

    return connect(args.scheduler or "local", **({"n_workers": args.workers} if args.workers else {}))


def _compute(collections, client, progress):
    """``dask.compute(*collections)`` with a progress bar (distributed's or dask's)."""
    import sys

    import dask

    if client is None:
        from dask.diagnostics import ProgressBar

        if not progress:
            return dask.compute(*collections)
        with ProgressBar(out=sys.stderr):
            return dask.compute(*collections)
    from distributed import progress as show

    futures = client.compute(list(collections))
    if progress:
        show(futures, multi=False)
        print(file=sys.stderr)
    return tuple(f.result() for f in futures)


def run_stats(args):
    """Entry point of ``ember-dist stats`` (see :func:`add_stats_parser`)."""
    out = os.fspath(args.out)
    store = os.path.join(out, "stats.zarr")
    if os.path.exists(store) and not args.overwrite:
        raise FileExistsError(f"{store!r} exists; pass --overwrite to replace it or choose another --out")
    names = resolve_statistics(args.statistics, args.field)
    for path in (args.store, args.truth):
        if path and not os.path.exists(path):
            raise FileNotFoundError(f"no store at {path!r}; pass the path of a zarr store written by "
                                    "`ember-dist enrich` or `ember-dist deposit`")
    for path in (args.store, args.truth):  # a store an enrich run is still writing (or left unfinished)
        if path:
            check_complete(xr.open_zarr(path, consolidated=False).attrs, repr(path), out=os.path.abspath(path))
    client = _client(args)
    kw = dict(halos=args.halos, rechunk_method=None if args.rechunk == "dask" else args.rechunk,
              scratch_dir=args.scratch_dir, **_params(args))
    try:
        ds = xr.open_zarr(args.store, consolidated=False)
        pred = compute_statistics(ds, args.field, names, **kw)
        truth = {}
        if args.truth:
            tds = xr.open_zarr(args.truth, consolidated=False)
            truth = compute_statistics(tds, args.truth_field or args.field, names, **kw)
        pred, truth = _compute((pred, truth), client, not args.quiet)
    finally:
        if client is not None:
            from ember_dist.cluster import close

            close(client)
    os.makedirs(out, exist_ok=True)
    groups = _write(pred, store, "pred", args.field)
    groups += _write(truth, store, "truth", args.truth_field or args.field)
    groups += _write(summaries(pred, truth, args.field), store, "summary", args.field)
    consolidate_quietly(store)
    paths = make_plots(pred, truth, out, overwrite=True, field=args.field)
    from .table import summary_rows

    _report(store, out, paths, groups, summary_rows(pred, truth))
    return 0


def _read_group(store, group):
    try:
        return xr.open_zarr(store, group=group, consolidated=False).load()
    except (FileNotFoundError, KeyError, OSError):
        return None


def run_plot(args):
    """Entry point of ``ember-dist plot`` (see :func:`add_plot_parser`)."""
    src = os.fspath(args.stats)
    store = src if src.endswith(".zarr") else os.path.join(src, "stats.zarr")
    if not os.path.exists(store):
        raise FileNotFoundError(f"no statistics at {store!r}; run `ember-dist stats ... --out DIR` first")
    out = args.out or os.path.dirname(os.path.abspath(store))
    pred, truth = {}, {}
    only = resolve_statistics(args.only, None) if args.only else STATISTICS
    for name in only:
        p = _read_group(store, f"pred/{name}")
        if p is not None:
            pred[name] = p
            t = _read_group(store, f"truth/{name}")
            if t is not None:
                truth[name] = t
    paths = make_plots(pred, truth, out, overwrite=args.overwrite)
    if args.maps:
        from .plots import map_panels, save_figure

        panels = {}
        for label, path, fld in (("truth", args.truth, args.truth_field or args.field),
                                 ("prediction", args.maps, args.field)):
            if not path:
                continue
            arr = xr.open_zarr(path, consolidated=False)[fld]
            arr = arr.isel({d: 0 for d in arr.dims if d not in ("y", "x", "sample")})
            samples = arr.isel(sample=slice(0, 3)) if "sample" in arr.dims else arr.expand_dims(sample=[0])
            step = max(1, arr.sizes["x"] // 1024)
            for i in range(samples.sizes["sample"]):
                m = samples.isel(sample=i).coarsen(y=step, x=step, boundary="trim").sum()
                panels[label if samples.sizes["sample"] == 1 else f"{label} {i}"] = m.values
        fig = map_panels(panels)
        paths.append(save_figure(fig, os.path.join(out, "maps.png"), overwrite=args.overwrite))
    print(f"wrote {len(paths)} PNG(s) in {out}")
    return 0


def _add_params(p):
    g = p.add_argument_group("geometry and cosmology (default: the store's attrs)")
    g.add_argument("--box-size", type=float, default=None, help="map side, ckpc/h")
    g.add_argument("--pixel-size", type=float, default=None, help="pixel side, ckpc/h")
    g.add_argument("--slab-depth", type=float, default=None, help="slab depth (sightline length), ckpc/h")
    g.add_argument("--redshift", type=float, default=None, help="redshift z")
    g.add_argument("--hubble", type=float, default=None, help="h = H0 / (100 km/s/Mpc)")


def add_stats_parser(subparsers):
    """Add ``stats STORE --field F [--truth T --truth-field F] --out DIR`` to ``subparsers``."""
    p = subparsers.add_parser(
        "stats", help="summary statistics of a map store (P(k), PDF, CDDF, ...) with plots",
        description="Compute statistics of one field of a zarr store (and of a truth store) in one "
                    "Dask pass; write OUT/stats.zarr (groups pred/<name>, truth/<name>) and PNGs.",
        formatter_class=HelpFormatter)
    p.add_argument("store", help="zarr store (xarray.open_zarr) with maps, Msun/h per pixel")
    p.add_argument("--field", default="gas", help="variable to analyse (gas, hi, dm, ...)")
    p.add_argument("--truth", default=None, help="truth zarr store to compare against")
    p.add_argument("--truth-field", default=None, help="variable in the truth store; None means the --field value")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--statistics", default="auto",
                   help=f"comma-separated subset of {','.join(STATISTICS)}; auto = total_mass,pdf,power"
                        " (+cddf for HI)")
    p.add_argument("--halos", default=None, help="halo catalogue (CSV or HDF5) for the 'halos' statistic")
    p.add_argument("--scheduler", default=None,
                   help="cluster profile (local, slurm, ...) or address of a running Dask scheduler; "
                        "default: threads in this process")
    p.add_argument("--workers", type=int, default=None, help="local Dask worker processes (a LocalCluster)")
    p.add_argument("--rechunk", default="auto", choices=["auto", "disk", "p2p", "tasks", "dask"],
                   help="P(k) rows-to-columns transposition: auto = scratch files where all workers share this "
                        "machine's disk, else Dask's p2p shuffle; disk needs --scratch-dir shared by all workers "
                        "on a multi-node cluster; dask = Dask's configured default")
    p.add_argument("--scratch-dir", default=None,
                   help="directory of the disk transposition's scratch files (about 3x the map's float32 size "
                        "per map; default: Dask's temporary-directory or the system's)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT/stats.zarr")
    _add_params(p)
    p.set_defaults(func=run_stats)
    return p


def add_plot_parser(subparsers):
    """Add ``plot STATS [--out DIR] [--maps STORE --field F --truth T]`` to ``subparsers``."""
    p = subparsers.add_parser(
        "plot", help="PNG figures from computed statistics (and map panels)",
        description="Draw the statistics panels from OUT/stats.zarr written by `ember-dist stats`; "
                    "with --maps, also map panels (truth and up to 3 samples).",
        formatter_class=HelpFormatter)
    p.add_argument("stats", help="directory holding stats.zarr, or the stats.zarr path")
    p.add_argument("--out", default=None, help="output directory (default: next to stats.zarr)")
    p.add_argument("--maps", default=None, help="prediction zarr store for map panels")
    p.add_argument("--field", default="gas", help="variable of --maps")
    p.add_argument("--truth", default=None, help="truth zarr store for map panels")
    p.add_argument("--truth-field", default=None, help="variable of --truth; None means the --field value")
    p.add_argument("--only", default=None, help=f"comma-separated subset of {','.join(STATISTICS)} to draw")
    p.add_argument("--overwrite", action="store_true", help="replace existing PNGs")
    p.set_defaults(func=run_plot)
    return p
