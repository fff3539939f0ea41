# SPDX-License-Identifier: BSD-3-Clause
"""The ``ember-dist`` command: thin argparse wrappers around the public functions."""
from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys

from ember_dist.help_format import HelpFormatter
from ember_dist.model.bundle import DEFAULT_MODELS

__all__ = ["main", "build_parser", "HelpFormatter", "command_flags"]

DESCRIPTION = ("Paint baryon fields (gas, HI) onto dark-matter maps with EMBER generators on Dask: "
               "mock snapshots, deposit them to maps, enrich, statistics, plots, training and evaluation. "
               "'ember-dist COMMAND --help' describes each command.")


# Subcommands contributed by other subpackages: (module, function adding the parser).
_PLUGINS = [
    ("ember_dist.deposit.cli", "add_deposit_parser"),
    ("ember_dist.mock.cli", "add_mock_parser"),
    ("ember_dist.sim.cli", "add_simulate_parser"),
    ("ember_dist.stats.cli", "add_stats_parser"),
    ("ember_dist.stats.cli", "add_plot_parser"),
    ("ember_dist.train.cli", "add_train_parser"),
    ("ember_dist.train.cli", "add_evaluate_parser"),
    ("ember_dist.pipeline.cli", "add_run_parser"),
]


def _levels(s):
    """``"3"`` -> 3, ``"3,5"`` -> (3, 5)."""
    try:
        parts = tuple(int(p) for p in s.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a split level; use a level such as 3, or increasing "
                                         "levels such as 3,5") from None
    return parts[0] if len(parts) == 1 else parts


HALO_MODES = ("fastest", "exact", "split", "auto")


def _halo(s):
    """``--halo``: a mode, ``px`` or ``before,after`` px."""
    if s in HALO_MODES:
        return s
    try:
        parts = [int(p) for p in s.split(",")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2):
        raise argparse.ArgumentTypeError(f"{s!r} is not a halo; use one of {', '.join(HALO_MODES)}, a number of "
                                         "pixels (e.g. 768) or before,after pixels (e.g. 768,896)")
    return parts[0] if len(parts) == 1 else tuple(parts)


def _pixel_size(s):
    """``--pixel-size``: ckpc/h, or ``model`` (assume the model's training pixel size)."""
    if s == "model":
        return s
    try:
        return float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a pixel size; give the maps' pixel side in ckpc/h "
                                         "(e.g. 3.66), or 'model' to assume the model's training pixel size") from None


def _enrich_options(args):
    """``enrich_box`` keywords from the parsed ``enrich`` flags (None: not given)."""
    model = args.model.split(",") if args.model and "," in args.model else args.model
    return dict(maps=args.maps, fields=args.field, model=model, out=args.out, samples=args.samples, seed=args.seed,
                tile=args.tile, halo=args.halo, overwrite=args.overwrite, resume=args.resume,
                batch_size=args.batch_size, precision=args.precision, pixel_size=args.pixel_size,
                pixel_tolerance=args.pixel_tolerance, variable=args.variable, progress=not args.quiet,
                split_level=args.split_level, coarse_core=args.coarse_core, dm_rescale=args.dm_rescale)


def _interrupted(out):
    """The one line printed when ``enrich`` is interrupted: what is done, and the command that finishes it."""
    from pathlib import Path

    from ember_dist.io.store import count_done, resume_command

    out = Path(out).absolute()
    if not (out / ".ember" / "run.json").is_file():
        if out.exists():
            return f"ember-dist enrich: interrupted while creating {out}; start again with --overwrite."
        return "ember-dist enrich: interrupted before any tile was written; nothing to resume."
    done, total = count_done(out)
    of = f" of {total}" if total else ""
    return f"ember-dist enrich: interrupted, {done}{of} tasks done; finish the run with: {resume_command(out)}"


def _enrich(args):
    from pathlib import Path

    from ember_dist.engine.enrich import enrich_box
    from ember_dist.engine.resume import nothing_to_do
    from ember_dist.io.store import read_request

    opts = _enrich_options(args)
    out = Path(args.out).absolute()
    # A complete store: enrich_box says so in one line and returns it untouched (no workers needed, nothing written).
    complete = args.resume and nothing_to_do(out, args.maps, read_request(out)) is not None
    client = None
    if (args.scheduler or args.workers) and not complete:
        from ember_dist.cluster import connect
        from ember_dist.io.store import check_output

        check_output(out, None, overwrite=args.overwrite, resume=args.resume)  # refuse before starting workers
        if args.resume:
            from ember_dist.engine.resume import options_from_store

            options_from_store(out, opts)
        client = connect(args.scheduler or "local", **({"n_workers": args.workers} if args.workers else {}))
    try:
        ds = enrich_box(client=client, **opts)
    except KeyboardInterrupt:
        if client is not None:
            from ember_dist.cluster import close

            close(client, quiet=True)
            client = None
        print(_interrupted(args.out), file=sys.stderr, flush=True)
        return 130
    finally:
        if client is not None:
            from ember_dist.cluster import close

            close(client)
    if complete:
        return 0
    print(f"wrote {args.out}: " + ", ".join(f"{v}{tuple(ds[v].shape)} by model {ds[v].attrs.get('model', '?')}"
                                            for v in ds.data_vars))
    return 0


def _models(args):
    from ember_dist.model.bundle import available_models, load_model, models_table

    names = available_models()
    if not names:
        print("no model bundles found")
        return
    for line in models_table([load_model(n) for n in names]):
        print(line)


def _demo(args):
    from ember_dist.demo import run_demo

    fields = tuple(args.field or ("gas", "hi"))
    models = None
    if args.model:
        names = args.model.split(",")
        if len(names) != len(fields):
            raise ValueError(f"--model names {len(names)} bundle(s) for {len(fields)} field(s) ({' '.join(fields)}); "
                             "give one per --field, comma-separated in --field order.")
        models = dict(zip(fields, names))
    if args.toy:
        run_demo(args.out, toy=True, fields=fields, n=args.size or 512, nslab=args.slabs or 2, tile=args.tile,
                 workers=args.workers, seed=args.seed, overwrite=args.overwrite, progress=not args.quiet)
        return
    if args.size:
        raise ValueError("--size sets the toy maps' side; the suite maps are 256^2 px. Add --toy, or leave --size out.")
    run_demo(args.out, fields=fields, models=models, slabs=args.slabs, samples=args.samples, tile=args.tile,
             workers=args.workers, seed=args.seed, overwrite=args.overwrite, progress=not args.quiet)


#: Library parameters whose flag has another name (parameter -> argparse dest of that flag).
_PARAM_DEST = {"fields": "field", "n_neighbours": "neighbours", "rechunk_method": "rechunk", "n_workers": "workers",
               "factor": "downsample"}


def command_flags(parser):
    """``{parameter name: Flag}`` for the options of one subcommand's ``parser``.

    Library errors spell their fix through :func:`ember_dist.errors.spell`; while a command runs
    they name these flags (``--box-size 100``) instead of Python keywords (``box_size=100``).
    """
    from ember_dist.errors import Flag

    flags = {}
    for a in parser._actions:
        if not a.option_strings or a.dest == "help":
            continue
        opt = max(a.option_strings, key=len)
        switch = a.nargs == 0
        flags[a.dest] = Flag(opt, switch=switch, sep=" " if a.nargs in ("+", "*") else ",",
                             metavar=a.metavar or a.dest.upper())
    for param, dest in _PARAM_DEST.items():
        if dest in flags:
            flags.setdefault(param, flags[dest])
    return flags


def _quiet_interrupt(signum, frame):
    """SIGINT during a command: silence Dask's shutdown logs (cancelled tasks, closed comms), then interrupt.

    Child loggers with their own level are silenced too: distributed's logging config sets
    ``tornado.application`` to ERROR, which let a traceback from ``distributed.utils.sync``'s cancel callback
    (NameError on a future not yet created when Ctrl-C arrived) through onto the user's terminal.
    """
    roots = ("distributed", "tornado", "asyncio")
    names = [n for n in list(logging.root.manager.loggerDict) if n.split(".")[0] in roots]
    for name in (*roots, *names):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    raise KeyboardInterrupt


def build_parser():
    from ember_dist import __version__

    p = argparse.ArgumentParser(prog="ember-dist", description=DESCRIPTION, formatter_class=HelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    p.add_argument("--version", action="version", version=f"ember-dist {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    p.commands = sub.choices  # name -> subparser (flags for error messages)
    fmt = HelpFormatter

    e = sub.add_parser("enrich", formatter_class=fmt,
                       help="paint baryon fields onto dark-matter maps (tiles on a Dask cluster, zarr output)")
    e.add_argument("maps", nargs="?", default=None,
                   help="dark-matter maps: .npy, file.h5[:dataset], or a zarr store (variable dm); "
                        "with --resume, default: the input the store was written from")
    e.add_argument("--field", nargs="+", default=None, help="output fields, e.g. gas hi (default gas)")
    e.add_argument("--model", help="bundle name or path (default: the field's default for the maps' dark-matter "
                                     f"resolution: {', '.join(DEFAULT_MODELS.values())} at full resolution, the MR "
                                     "ones for 8x or 64x heavier recorded particles; `ember-dist models` lists them); "
                                     "several fields: comma-separated in --field order, e.g. a,b")
    e.add_argument("--out", required=True, help="output zarr store")
    e.add_argument("--samples", type=int, default=None, help="realisations (seeds seed..seed+N-1; default 1)")
    e.add_argument("--seed", type=int, default=None, help="noise seed of the first realisation (default 0)")
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
    e.add_argument("--pixel-size", type=_pixel_size, default=None,
                   help="input pixel size, ckpc/h; required when the input does not record it (.npy, bare HDF5); "
                        "'model' assumes the model's training pixel size")
    e.add_argument("--pixel-tolerance", type=float, default=None,
                   help="allowed relative mismatch between input and training pixel sizes (default: config, 0.05)")
    e.add_argument("--variable", default=None, help="variable of a zarr input (default dm)")
    e.add_argument("--no-dm-rescale", dest="dm_rescale", action="store_const", const=False, default=None,
                   help="feed the maps as they are, even where their dm_mass_fraction (1 for a dark-matter-only "
                        "deposit) differs from the model's (~0.843 for hydro dark matter) by more than 1%%; by "
                        "default the input is multiplied by model/input fraction, said in one line and recorded")
    e.add_argument("--overwrite", action="store_true", help="replace an existing output store")
    e.add_argument("--resume", action="store_true",
                   help="finish an interrupted run in --out; options left out are taken from the store, options "
                        "given must match it")
    e.add_argument("--workers", type=int, default=None, help="local Dask worker processes")
    e.add_argument("--scheduler", default=None, help="address of a running Dask scheduler (tcp://host:port)")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=_enrich)

    d = sub.add_parser("demo", formatter_class=fmt,
                       help="held-out simulation maps -> suite models on a LocalCluster -> zarr, PNG and errors",
                       description="Enrich the packaged held-out maps of the simulation suite (first test box, seed "
                                   "5, z = 2, 31.25 ckpc/h pixels) with the shipped default suite models "
                                   "(suite-gas-wgan, suite-hi-wgan: the lowest validation score on the suite's six "
                                   "validation boxes) "
                                   "on an embedded LocalCluster, tile by tile; write demo.png (dark matter, truth, "
                                   "predictions) and print the total-mass and P(k) errors against the true maps. "
                                   "--toy runs the toy demo (lognormal maps, toy bundles).")
    d.add_argument("--out", default="ember_demo", help="output directory")
    d.add_argument("--field", nargs="+", default=None, help="fields to predict (default gas hi)")
    d.add_argument("--model", default=None,
                   help="bundle name or path per --field, comma-separated (default: suite-gas-wgan and "
                        "suite-hi-wgan, else the field's other suite model)")
    d.add_argument("--samples", type=int, default=2, help="realisations (noise seeds seed..seed+N-1)")
    d.add_argument("--slabs", type=int, default=None, help="slabs to use (default: all 4; --toy: 2)")
    d.add_argument("--tile", type=int, default=None, help="tile core, px (default 128: 4 tiles per map; --toy 256)")
    d.add_argument("--workers", type=int, default=None, help="local Dask worker processes")
    d.add_argument("--seed", type=int, default=0, help="noise seed of the first realisation")
    d.add_argument("--toy", action="store_true", help="toy demo: lognormal maps and the toy bundles, no truth")
    d.add_argument("--size", type=int, default=None, help="--toy: map side, px (multiple of 16; default 512)")
    d.add_argument("--overwrite", action="store_true", help="replace outputs of a previous demo")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=_demo)

    m = sub.add_parser("models", help="list model bundles (name, field, kind, input resolution, pixel size, "
                                      "held-out errors)")
    m.set_defaults(func=_models)

    for mod, fn in _PLUGINS:
        try:
            add = getattr(importlib.import_module(mod), fn)
        except (ImportError, AttributeError):
            continue  # that part of the package is not built yet
        add(sub)
    return p


def main(argv=None):
    from ember_dist.errors import command_spelling

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    if not args.verbose:  # distributed sets its loggers to INFO when imported: import it, then quiet it
        import distributed  # noqa: F401

        logging.getLogger("distributed").setLevel(logging.WARNING)
    import threading

    main_thread = threading.current_thread() is threading.main_thread()  # only it may set signal handlers
    if main_thread and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _quiet_interrupt)
    try:
        with command_spelling(command_flags(parser.commands[args.command])):
            rc = args.func(args)
    except (ValueError, FileExistsError, FileNotFoundError, KeyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        if isinstance(exc, KeyError) and " " not in str(msg):
            raise  # a bare missing key is a bug, not a message for the user
        print(f"ember-dist {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ember-dist {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        if main_thread and signal.getsignal(signal.SIGINT) is _quiet_interrupt:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    sys.exit(main())
