# SPDX-License-Identifier: BSD-3-Clause
"""The ``ember-dist mock`` subcommand (wired into :mod:`ember_dist.cli`).

Example::

    ember-dist mock mock_suite/ --n 64 --seed 0 --box-size 15000
"""
from __future__ import annotations


from ember_dist.help_format import HelpFormatter

__all__ = ["add_mock_parser", "run_mock"]


def add_mock_parser(subparsers):
    """Add ``mock`` to an argparse ``subparsers`` object; returns the parser."""
    p = subparsers.add_parser(
        "mock",
        help="write the toy mock simulation suite (hydro + DM-only HDF5 snapshots)",
        description=(
            "Write a seeded TOY simulation suite as Gadget HDF5 snapshots: Zel'dovich dark matter (dmh, dmo), "
            "smoothed gas and a self-shielding HI fraction. For tests and demos; not a simulation."
        ),
        formatter_class=HelpFormatter,
    )
    p.add_argument("out_dir", help="folder to write hydro/, dmo/ and mock_suite.json into")
    p.add_argument("--n", type=int, default=64, help="particles per side of each species")
    p.add_argument("--box-size", type=float, default=15000.0, help="box side, ckpc/h")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--redshift", type=float, default=2.0, help="output redshift")
    p.add_argument("--n-files", type=int, default=1, help="files per snapshot")
    p.add_argument("--overwrite", action="store_true", help="replace an existing suite in out_dir")
    p.set_defaults(func=run_mock)
    return p


def run_mock(args):
    """Run ``mock`` from parsed arguments; prints the written paths, returns 0."""
    from tqdm.auto import tqdm

    from ember_dist.mock.suite import make_mock_suite

    with tqdm(total=1, desc=f"mock suite {args.n}^3", disable=None) as bar:
        paths = make_mock_suite(
            args.out_dir,
            n=args.n,
            box_size=args.box_size,
            seed=args.seed,
            redshift=args.redshift,
            n_files=args.n_files,
            overwrite=args.overwrite,
        )
        bar.update(1)
    for k, v in paths.items():
        print(f"{k}: {v}")
    return 0
