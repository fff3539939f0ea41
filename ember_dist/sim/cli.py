# SPDX-License-Identifier: BSD-3-Clause
"""The ``ember-dist simulate`` subcommand (wired into :mod:`ember_dist.cli`).

Example::

    ember-dist simulate box0 --n 32 --box-size 8000 --redshifts 3 2 --seed 0
"""
from __future__ import annotations

import shlex
import sys

from ember_dist.help_format import HelpFormatter

__all__ = ["add_simulate_parser", "run_simulate"]


def add_simulate_parser(subparsers):
    """Add ``simulate`` to an argparse ``subparsers`` object; returns the parser."""
    p = subparsers.add_parser(
        "simulate",
        help="run a Gadget-2 hydro box and its dark-matter-only twin (snapshots, HI, haloes)",
        description=(
            "Run a periodic cosmological box with Gadget-2 (TreePM gravity + adiabatic SPH; downloaded and "
            "built on first use) from 2LPT initial conditions of CAMB's linear spectrum, and its "
            "dark-matter-only twin from the same particles; write Gadget HDF5 snapshots at each redshift, the "
            "post-processed gas temperature and HI fraction, and friends-of-friends + M200c halo catalogues. "
            "The cost is estimated first and a run that cannot finish here is refused unless --force."
        ),
        formatter_class=HelpFormatter,
    )
    p.add_argument("out", help="folder for the run (hydro/, dmo/, simulation.json)")
    p.add_argument("--n", type=int, default=32, help="particles per side of each species")
    p.add_argument("--box-size", type=float, default=8000.0, help="box side, ckpc/h")
    p.add_argument("--redshifts", type=float, nargs="+", default=[3.0, 2.0], help="output redshifts, decreasing")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial conditions' white noise")
    p.add_argument("--z-init", type=float, default=49.0, help="redshift of the initial conditions")
    p.add_argument("--dm-only", action="store_true", help="run only the dark-matter-only box")
    p.add_argument("--parent-n", type=int, metavar="N",
                   help="a lower-resolution twin of the N^3 box of the same seed (same large-scale phases)")
    p.add_argument("--np", type=int, default=2, dest="ntasks", help="MPI tasks of each Gadget-2 run")
    p.add_argument("--pmgrid", type=int, help="particle-mesh cells per side (default 2 n, at most 512)")
    p.add_argument("--zeldovich", action="store_true", help="first-order (Zel'dovich) initial conditions instead of 2LPT")
    p.add_argument("--max-hours", type=float, default=2.0, help="refuse runs estimated to take longer here")
    p.add_argument("--force", action="store_true", help="run even when the estimate says it cannot finish here")
    p.add_argument("--restart-every", type=float, default=120.0,
                   help="seconds between Gadget-2 restart files (what a killed run loses at most)")
    p.add_argument("--resume", action="store_true", help="continue the run in OUT")
    p.add_argument("--overwrite", action="store_true", help="delete OUT and start again")
    p.add_argument("--no-postprocess", action="store_true", help="skip the HI post-processing and halo catalogues")
    p.add_argument("--gamma-scale", type=float, nargs="+", metavar="S",
                   help="Gamma_HI scale per output redshift, used as given (one UV background for a suite of boxes); "
                        "default: each snapshot calibrated to the observed mean Lyman-alpha flux on its own")
    p.set_defaults(func=run_simulate)
    return p


def run_simulate(args):
    """Run ``simulate`` from parsed arguments; exits 2 with one line on a refused or failed run, 130 on Ctrl-C."""
    from ember_dist.sim.cost import CostError
    from ember_dist.sim.gadget_build import GadgetBuildError
    from ember_dist.sim.gadget_run import GadgetRunError
    from ember_dist.sim.suite import simulate

    try:
        simulate(args.out, n=args.n, box_size=args.box_size, redshifts=args.redshifts, seed=args.seed,
                z_init=args.z_init, dm_only=args.dm_only, parent_n=args.parent_n, ntasks=args.ntasks, pmgrid=args.pmgrid,
                lpt_order=1 if args.zeldovich else 2, resume=args.resume, overwrite=args.overwrite,
                force=args.force, max_hours=args.max_hours, postprocess=not args.no_postprocess,
                restart_every=args.restart_every, gamma_scale=args.gamma_scale,
                log=lambda m: print(m, file=sys.stderr))
    except (CostError, GadgetBuildError, GadgetRunError) as exc:
        print(f"ember-dist simulate: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        argv = [a for a in sys.argv[1:] if a not in ("--resume", "--overwrite")]
        print(f"\nember-dist simulate: interrupted; Gadget-2 keeps restart files, so `ember-dist "
              f"{shlex.join(argv)} --resume` continues from the last one", file=sys.stderr)
        sys.exit(130)
    print(f"simulation complete: {args.out}/simulation.json")
    return 0
