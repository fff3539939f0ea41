# SPDX-License-Identifier: BSD-3-Clause
"""A seeded lognormal dark-matter map set for demos and tests, and ``run_demo``.

Until the mock simulation suite is used, the demo input is a lognormal field
whose Gaussian parent has a power-law spectrum ``P(k) ~ k**-2.2`` with a cutoff
at a few pixels (a projected-density look), scaled to a mean mass per pixel.
It is a toy stand-in, labelled as such in its attrs.

Examples
--------
>>> m = lognormal_map(64, seed=1, mean=1e7)
>>> m.shape, m.dtype, bool(abs(m.mean() / 1e7 - 1) < 1e-5)
((64, 64), dtype('float32'), True)
"""
from __future__ import annotations

import numpy as np

from ember_dist.io.conventions import PLANCK15, map_coords, utc_now

__all__ = ["lognormal_map", "make_demo_maps", "run_demo"]


def lognormal_map(n, seed=0, mean=1e7, slope=-2.2, sigma=1.3, cutoff=3.0):
    """A periodic lognormal map of ``n x n`` pixels with mean ``mean`` (Msun/h per pixel), float32."""
    rng = np.random.default_rng(seed)
    ky = np.fft.fftfreq(n)[:, None]
    kx = np.fft.rfftfreq(n)[None, :]
    k = np.hypot(ky, kx) * n  # in units of the fundamental mode
    amp = np.zeros_like(k)
    nz = k > 0
    amp[nz] = k[nz] ** (slope / 2) * np.exp(-(k[nz] / (n / cutoff)) ** 2)
    g = np.fft.irfft2(amp * (rng.normal(size=k.shape) + 1j * rng.normal(size=k.shape)), s=(n, n))
    g *= sigma / g.std()
    m = np.exp(g)
    return (m * (mean / m.mean())).astype(np.float32)


def make_demo_maps(n=512, nslab=2, axes=("x",), seed=0, pixel_size=3.66, mean=1e7):
    """Dark-matter maps ``(axis, slab, y, x)`` as an ``xarray.Dataset`` with variable ``dm``."""
    import xarray as xr

    data = np.stack([np.stack([lognormal_map(n, seed=seed + 1000 * a + s, mean=mean) for s in range(nslab)])
                     for a in range(len(axes))])
    attrs = {"box_size": n * pixel_size, "redshift": 2.0, **PLANCK15, "pixel_size": pixel_size,
             "slab_depth": 1500.0, "created": utc_now(),
             "source": f"ember_dist.demo.lognormal_map (TOY lognormal field, seed {seed}; not a simulation)"}
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
