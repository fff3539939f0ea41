# SPDX-License-Identifier: BSD-3-Clause
"""Regenerate the demo maps shipped in ``ember_dist/data/`` from the simulation suite's held-out store.

    python tools/make_demo_data.py                       # sim_suite/maps/test_z1.zarr -> ember_dist/data/
    python tools/make_demo_data.py --maps OTHER.zarr --out /tmp/demo.npz

``ember-dist demo`` enriches these maps: the z projection, every slab, of the suite's first test box
(seed 5, z = 2; never trained on), variables ``dm``, ``gas`` and ``hi`` in Msun/h per pixel,
float32 exactly as the store holds them (no rounding, so totals match it to float32 summation
error). One compressed ``.npz`` (numpy only, nothing pickled): the three arrays ``(slab, y, x)``
and ``attrs``, a JSON string with the geometry, cosmology, provenance and the float64 total mass
of every slab of every variable (the check that the arrays were not changed on the way).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "sim_suite" / "maps" / "test_z1.zarr"
sys.path.insert(0, str(ROOT))

from ember_dist.demo_maps import DEMO_DATA, DEMO_VARIABLES  # noqa: E402
from ember_dist.io.checksum import files_sha256  # noqa: E402
from ember_dist.io.conventions import DATASET_ATTRS, utc_now  # noqa: E402
from ember_dist.sim.recipe import SUITE  # noqa: E402

#: Source-store attrs copied as they are (geometry, cosmology, deposit recipe, provenance).
KEEP = (*DATASET_ATTRS, "source", "source_sha256", "source_format", "n_neighbours", "kernel", "kernel_description",
        "smoothing_length", "slab_assignment", "hydrogen_mass_fraction", "package_version")


def _relative(path):
    """``path`` from its ``sim_suite`` folder on (no machine-specific prefix), else as given."""
    parts = Path(path).parts
    return str(Path(*parts[parts.index("sim_suite"):])) if "sim_suite" in parts else str(path)


def make(maps=SOURCE, out=DEMO_DATA, axis="z"):
    import xarray as xr

    ds = xr.open_zarr(maps, consolidated=False)
    missing = [v for v in DEMO_VARIABLES if v not in ds]
    if missing:
        raise SystemExit(f"{maps}: no variable(s) {', '.join(missing)}; the demo needs {', '.join(DEMO_VARIABLES)}")
    src = ds.attrs
    per_slab = src.get("slab_box_seed")
    if per_slab is not None:  # a stacked split store: the demo is the first test seed's box alone
        box = SUITE["seeds"]["test"][0]
        ds = ds.isel(slab=np.flatnonzero(np.asarray(per_slab) == box))
        if ds.sizes["slab"] == 0:
            raise SystemExit(f"{maps}: no slab of seed {box} (its slab_box_seed attr: {sorted(set(per_slab))})")
        src = {**src, "slab_box_seed": [box] * ds.sizes["slab"]}
    sel = ds.sel(axis=axis)
    arrays = {v: np.ascontiguousarray(sel[v].values) for v in DEMO_VARIABLES}
    for v, a in arrays.items():
        if a.dtype != np.float32 or a.ndim != 3:
            raise SystemExit(f"{maps}: {v} is {a.dtype} {a.shape}; expected float32 (slab, y, x)")
    seeds = sorted(set(src.get("slab_box_seed", src.get("seeds", []))))
    attrs = {k: src[k] for k in KEEP if k in src}
    if "source" in attrs:
        attrs["source"] = _relative(attrs["source"])
    seed = seeds[0] if len(seeds) == 1 else seeds
    attrs.update(
        axis=axis,
        seed=seed,
        units="Msun/h",
        long_names={v: sel[v].attrs.get("long_name", v) for v in DEMO_VARIABLES},
        source_store=_relative(maps),
        source_store_created=src.get("created"),
        total_mass={v: [float(x) for x in a.astype(np.float64).sum(axis=(1, 2))] for v, a in arrays.items()},
        description=(f"held-out test box of the ember_dist simulation suite (Gadget-2, 2x{SUITE['n']}^3 particles, "
                     f"{src['box_size']:g} ckpc/h, simulation seed {seed}, never used in training), z = "
                     f"{float(src['redshift']):.2f}: {axis} projection, {arrays['dm'].shape[0]} slabs of "
                     f"{src['slab_depth']:g} ckpc/h, {src['pixel_size']:g} ckpc/h pixels; dm = dark matter of the "
                     "hydro run, gas = total gas, hi = neutral hydrogen; mass per pixel, Msun/h"),
        made_by="tools/make_demo_data.py",
        made=utc_now(),
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez_compressed(tmp, attrs=np.array(json.dumps(attrs, sort_keys=True)), **arrays)
    tmp.replace(out)
    print(f"wrote {out} ({out.stat().st_size / 2**20:.2f} MiB, sha256 {files_sha256(out)[:12]}): "
          f"{', '.join(f'{v}{arrays[v].shape}' for v in DEMO_VARIABLES)} from {maps}")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--maps", default=str(SOURCE), help="suite map store (dm, gas, hi; axis, slab, y, x)")
    ap.add_argument("--out", default=str(DEMO_DATA), help="output .npz")
    ap.add_argument("--axis", default="z", help="projection to keep")
    args = ap.parse_args(argv)
    make(args.maps, args.out, args.axis)
    return 0


if __name__ == "__main__":
    sys.exit(main())
