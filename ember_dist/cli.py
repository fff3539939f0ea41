# SPDX-License-Identifier: BSD-3-Clause
"""The ``ember-dist`` command: thin argparse wrappers around the public functions."""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

__all__ = ["main", "build_parser", "HelpFormatter"]

DESCRIPTION = ("Paint baryon fields (gas, HI) onto dark-matter maps with EMBER generators on Dask: "
               "mock snapshots, deposit them to maps, enrich, statistics, plots, training and evaluation. "
               "'ember-dist COMMAND --help' describes each command.")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default unless it is ``None``/``False`` or its help already says it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default in (None, False) or "default" in text:
            return text
        return super()._get_help_string(action)

# Subcommands contributed by other subpackages: (module, function adding the parser).
_PLUGINS = [
    ("ember_dist.deposit.cli", "add_deposit_parser"),
    ("ember_dist.mock.cli", "add_mock_parser"),
    ("ember_dist.stats.cli", "add_stats_parser"),
    ("ember_dist.stats.cli", "add_plot_parser"),
    ("ember_dist.train.cli", "add_train_parser"),
    ("ember_dist.train.cli", "add_evaluate_parser"),
    ("ember_dist.pipeline.cli", "add_run_parser"),
]


def _levels(s):
    """``"3"`` -> 3, ``"3,5"`` -> (3, 5)."""
    parts = tuple(int(p) for p in s.split(","))
    return parts[0] if len(parts) == 1 else parts


def _halo(s):
    if s in ("exact", "auto", "split", "fastest"):
        return s
    parts = [int(p) for p in s.split(",")]
    return parts[0] if len(parts) == 1 else tuple(parts)


def _enrich(args):
    from ember_dist.engine.enrich import enrich_box

    client = None
    if args.scheduler or args.workers:
        from ember_dist.cluster import connect

        client = connect(args.scheduler or "local", **({"n_workers": args.workers} if args.workers else {}))
    model = args.model
    if model and len(args.field) > 1:
        model = dict(zip(args.field, model.split(","))) if "," in model else model
    try:
        ds = enrich_box(args.maps, fields=args.field, model=model, out=args.out, samples=args.samples,
                        seed=args.seed, tile=args.tile, halo=args.halo, client=client, overwrite=args.overwrite,
                        resume=args.resume, batch_size=args.batch_size, precision=args.precision,
                        pixel_size=args.pixel_size, variable=args.variable, progress=not args.quiet,
                        split_level=args.split_level, coarse_core=args.coarse_core)
    finally:
        if client is not None:
            client.close()
    print(f"wrote {args.out}: " + ", ".join(f"{v}{tuple(ds[v].shape)} by model {ds[v].attrs.get('model', '?')}"
                                            for v in ds.data_vars))


def _models(args):
    from ember_dist.model.bundle import available_models, load_model

    names = available_models()
    if not names:
        print("no model bundles found")
    for n in names:
        print(load_model(n).describe())


def _demo(args):
    from ember_dist.demo import run_demo

    run_demo(args.out, n=args.size, nslab=args.slabs, tile=args.tile, workers=args.workers, seed=args.seed,
             overwrite=args.overwrite, progress=not args.quiet)


def build_parser():
    from ember_dist import __version__

    p = argparse.ArgumentParser(prog="ember-dist", description=DESCRIPTION, formatter_class=HelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    p.add_argument("--version", action="version", version=f"ember-dist {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    fmt = HelpFormatter

    e = sub.add_parser("enrich", formatter_class=fmt,
                       help="paint baryon fields onto dark-matter maps (tiles on a Dask cluster, zarr output)")
    e.add_argument("maps", help="dark-matter maps: .npy, file.h5[:dataset], or a zarr store (variable dm)")
    e.add_argument("--field", nargs="+", default=["gas"], help="output fields, e.g. gas hi")
    e.add_argument("--model", help="bundle name or path (default: bundled model per field); "
                                     "several fields: comma-separated in --field order")
    e.add_argument("--out", required=True, help="output zarr store")
    e.add_argument("--samples", type=int, default=1, help="realisations (seeds seed..seed+N-1)")
    e.add_argument("--seed", type=int, default=0, help="noise seed of the first realisation")
    e.add_argument("--tile", type=int, default=None, help="tile core size, px (default: config, 2048)")
    e.add_argument("--halo", type=_halo, default=None,
                   help="fastest | exact | split | auto | px | before,after px (default: config, fastest = split or "
                        "exact, whichever computes less for the same exact map)")
    e.add_argument("--split-level", type=_levels, default=None,
                   help="level(s) where --halo split cuts the network, e.g. 3 or 3,5 (default: per preset)")
    e.add_argument("--coarse-core", type=int, default=None, help="coarse-stage tile core for --halo split, px at "
                                                                 "the first split level (default 512)")
    e.add_argument("--batch-size", type=int, default=None, help="tiles per generator call")
    e.add_argument("--precision", choices=["float32", "bfloat16"], default=None)
    e.add_argument("--pixel-size", type=float, default=None, help="input pixel size, ckpc/h, if not recorded")
    e.add_argument("--variable", default=None, help="variable of a zarr input (default dm)")
    e.add_argument("--overwrite", action="store_true", help="replace an existing output store")
    e.add_argument("--resume", action="store_true", help="finish an interrupted run in --out")
    e.add_argument("--workers", type=int, default=None, help="local Dask worker processes")
    e.add_argument("--scheduler", default=None, help="address of a running Dask scheduler (tcp://host:port)")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=_enrich)

    d = sub.add_parser("demo", formatter_class=fmt,
                       help="toy lognormal maps -> bundled models on a LocalCluster -> zarr + PNG")
    d.add_argument("--out", default="ember_demo", help="output directory")
    d.add_argument("--size", type=int, default=512, help="map side, px (multiple of 16)")
    d.add_argument("--slabs", type=int, default=2, help="slabs")
    d.add_argument("--tile", type=int, default=256, help="tile core, px")
    d.add_argument("--workers", type=int, default=None, help="local Dask worker processes")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--overwrite", action="store_true", help="replace outputs of a previous demo")
    d.add_argument("--quiet", action="store_true")
    d.set_defaults(func=_demo)

    m = sub.add_parser("models", help="list model bundles (name, field, kind, input resolution)")
    m.set_defaults(func=_models)

    for mod, fn in _PLUGINS:
        try:
            add = getattr(importlib.import_module(mod), fn)
        except (ImportError, AttributeError):
            continue  # that part of the package is not built yet
        add(sub)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    if not args.verbose:  # distributed sets its loggers to INFO when imported: import it, then quiet it
        import distributed  # noqa: F401

        logging.getLogger("distributed").setLevel(logging.WARNING)
    try:
        args.func(args)
    except (ValueError, FileExistsError, FileNotFoundError) as exc:
        print(f"ember-dist {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
