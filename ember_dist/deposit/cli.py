# SPDX-License-Identifier: BSD-3-Clause
"""The ``ember-dist deposit`` subcommand (wired into :mod:`ember_dist.cli`).

Example::

    ember-dist deposit snap_012.hdf5 --out maps.zarr --pixel 3.66 --slabs 10 \\
        --axes x y z --fields dm --downsample 64
"""
from __future__ import annotations


from ember_dist.help_format import HelpFormatter

__all__ = ["add_deposit_parser", "run_deposit"]


def add_deposit_parser(subparsers):
    """Add ``deposit`` to an argparse ``subparsers`` object; returns the parser."""
    p = subparsers.add_parser(
        "deposit",
        help="deposit snapshot particles onto slab maps (zarr)",
        description=(
            "Read a Gadget/GIZMO/AREPO or SWIFT HDF5 snapshot, compute SPH smoothing lengths (half the distance to "
            "the n-th neighbour) and deposit the particles onto slab maps of mass per pixel (Msun/h) in a zarr store."
        ),
        formatter_class=HelpFormatter,
    )
    p.add_argument("snapshot", help="snapshot file (snap_012.hdf5 or snap_012.0.hdf5), stem, or snapdir")
    p.add_argument("--out", required=True, help="zarr store to create (e.g. maps.zarr)")
    p.add_argument("--pixel", type=float, default=3.66, help="requested pixel size, ckpc/h")
    p.add_argument("--slabs", type=int, default=10, help="slabs per projection axis")
    p.add_argument("--axes", nargs="+", default=["x", "y", "z"], choices=["x", "y", "z"], help="projection axes")
    p.add_argument("--fields", nargs="+", default=["dm"], choices=["dm", "gas", "hi"], help="maps to make")
    p.add_argument("--downsample", type=int, default=None, help="keep 1 particle in N (e.g. 64 = 4^3), masses scaled")
    p.add_argument("--seed", type=int, default=0, help="seed of the downsampling")
    p.add_argument("--align", type=int, default=128, help="map side is a multiple of this (model alignment factor)")
    p.add_argument("--neighbours", type=int, default=80, help="smoothing length = half the distance to this neighbour")
    p.add_argument("--kernel", default="cubic_spline", choices=["cubic_spline", "wendland_c2_2d"], help="SPH kernel")
    p.add_argument("--length-unit", default=None, help="override the snapshot length unit: kpc/h or Mpc/h")
    p.add_argument("--scheduler", default=None, help="address of a dask scheduler; default: local threads")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out store")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run_deposit)
    return p


def run_deposit(args):
    """Run ``deposit`` from parsed arguments; prints a one-line summary, returns 0."""
    from ember_dist.deposit.api import deposit_snapshot

    client = None
    if args.scheduler:
        from distributed import Client

        client = Client(args.scheduler)
    try:
        ds = deposit_snapshot(
            args.snapshot,
            args.out,
            pixel=args.pixel,
            slabs=args.slabs,
            axes=tuple(args.axes),
            fields=tuple(args.fields),
            downsample=args.downsample,
            seed=args.seed,
            align=args.align,
            client=client,
            overwrite=args.overwrite,
            n_neighbours=args.neighbours,
            length_unit=args.length_unit,
            progress=not args.no_progress,
            kernel=args.kernel,
        )
    finally:
        if client is not None:
            client.close()
    a = ds.attrs
    print(
        f"wrote {args.out}: fields {list(ds.data_vars)}, {ds.sizes['axis']} axes x {ds.sizes['slab']} slabs of "
        f"{ds.sizes['y']}x{ds.sizes['x']} px, pixel {a['pixel_size']:.6g} ckpc/h "
        f"(requested {a['pixel_size_requested']:g}, deviation {a['pixel_size_deviation']:+.3e})"
        + (f"; {a['dm_source']} run, its dark matter carries {a['dm_mass_fraction']:.1%} of Omega_m"
           if "dm_mass_fraction" in a else "")
    )
    return 0
