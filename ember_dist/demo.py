# SPDX-License-Identifier: BSD-3-Clause
"""A seeded lognormal dark-matter map set for demos and tests, and ``run_demo``.

Until the mock simulation suite is used, the demo input is a set of lognormal
fields (:func:`ember_dist.mock.maps.lognormal_map`, re-exported here), scaled to
a mean mass per pixel.  It is a toy stand-in, labelled as such in its attrs.

Examples
--------
>>> ds = make_demo_maps(n=64, nslab=1)
>>> ds["dm"].shape, ds["dm"].attrs["units"]
((1, 1, 64, 64), 'Msun/h')
"""
from __future__ import annotations

import numpy as np

from ember_dist.io.conventions import PLANCK15, map_coords, utc_now
from ember_dist.mock.maps import lognormal_map

__all__ = ["lognormal_map", "make_demo_maps", "run_demo"]


def make_demo_maps(n=512, nslab=2, axes=("x",), seed=0, pixel_size=3.66, mean=1e7):
    """Dark-matter maps ``(axis, slab, y, x)`` as an ``xarray.Dataset`` with variable ``dm``."""
    import xarray as xr

    data = np.stack([np.stack([lognormal_map(n, seed=seed + 1000 * a + s, mean=mean) for s in range(nslab)])
                     for a in range(len(axes))])
    attrs = {"box_size": n * pixel_size, "redshift": 2.0, **PLANCK15, "pixel_size": pixel_size,
             "slab_depth": 1500.0, "created": utc_now(),
             "source": f"ember_dist.mock.maps.lognormal_map (TOY lognormal field, seed {seed}; not a simulation)"}
    ds = xr.Dataset({"dm": (("axis", "slab", "y", "x"), data,
                            {"units": "Msun/h", "long_name": "dark-matter mass per pixel (toy lognormal)"})},
                    coords=map_coords(n, n, pixel_size, axes=axes, nslab=nslab), attrs=attrs)
    return ds


def run_demo(out_dir="ember_demo", n=512, nslab=2, fields=("gas", "hi"), tile=256, workers=None, seed=0,
             overwrite=False, progress=True):
    """Make toy dark-matter maps, enrich them with the bundled models on a LocalCluster, plot.

    Writes ``<out_dir>/dm_maps.zarr``, ``<out_dir>/enriched.zarr`` and ``<out_dir>/demo.png``.
    Returns the enriched Dataset.
    """
    import time
    from pathlib import Path

    from ember_dist.cluster import connect
    from ember_dist.engine.enrich import enrich_box
    from ember_dist.io.store import check_output
    from ember_dist.plots import map_panels

    out_dir = Path(out_dir)
    maps_path, enriched = out_dir / "dm_maps.zarr", out_dir / "enriched.zarr"
    for p in (maps_path, enriched):
        if p.exists() and not overwrite:
            check_output(p, None)  # raises the standard "already exists" error
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    maps = make_demo_maps(n=n, nslab=nslab, seed=seed)
    maps.to_zarr(maps_path, mode="w" if overwrite else "w-")
    client = connect("local", **({"n_workers": workers} if workers else {}))
    try:
        ds = enrich_box(str(maps_path), fields=list(fields), out=enriched, samples=1, seed=seed, tile=tile,
                        client=client, overwrite=overwrite, progress=progress)
        panels = {"dark matter (input)": maps["dm"].values[0, 0]}
        for f in fields:
            panels[f"{f} (emulated)"] = ds[f].values[0, 0, 0]
        png = map_panels(panels, out_dir / "demo.png", pixel_size=maps.attrs["pixel_size"],
                         title=f"ember_dist demo: toy lognormal input, bundled toy models, {n}^2 px slab 0")
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()
    dt = time.perf_counter() - t0
    print(f"ember_dist demo: wrote {maps_path}, {enriched} and {png} in {dt:.1f} s")
    return ds
