# SPDX-License-Identifier: BSD-3-Clause
"""Dark-matter maps for the demo, the notebooks and the tests: the packaged held-out suite box, and toy lognormal maps.

:func:`suite_demo_maps` reads ``ember_dist/data/suite_demo.npz`` (``tools/make_demo_data.py``): the z projection
of the simulation suite's first test box (Gadget-2, 2x40^3 particles in 8000 ckpc/h, seed 5, never used in
training) at z = 2, 4 slabs of 256^2 pixels of 31.25 ckpc/h, with the dark matter and the true gas and HI of
the hydro run. :func:`make_demo_maps` makes seeded lognormal dark-matter maps
(:func:`ember_dist.mock.maps.lognormal_map`), a toy stand-in labelled as such in its attrs.

Examples
--------
>>> ds = make_demo_maps(n=64, nslab=1)
>>> ds["dm"].shape, ds["dm"].attrs["units"]
((1, 1, 64, 64), 'Msun/h')
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ember_dist.io.conventions import PLANCK15, map_coords, utc_now
from ember_dist.mock.maps import lognormal_map

__all__ = ["make_demo_maps", "suite_demo_maps", "DEMO_DATA", "DEMO_VARIABLES"]

#: The packaged held-out suite maps (``tools/make_demo_data.py``).
DEMO_DATA = Path(__file__).resolve().parent / "data" / "suite_demo.npz"
#: Variables of :data:`DEMO_DATA`: the input and the truths.
DEMO_VARIABLES = ("dm", "gas", "hi")


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


def suite_demo_maps(slabs=None, path=None, replicas=1):
    """The packaged held-out suite maps as an ``xarray.Dataset``.

    Parameters
    ----------
    slabs : int, optional
        Keep the first ``slabs`` slabs (default all 4).
    replicas : int, default 1
        Tile every map ``replicas`` x ``replicas`` times: the projection of a periodic box is periodic, so
        the result is the map of a box ``replicas`` times wider made of copies of this one (a large input
        for exercising a cluster with real dark matter; the same physics, no new structure). Above 1 it is
        recorded in the attrs ``replicas``, ``box_size`` and ``description``.
    path : str or Path, optional
        Another ``.npz`` written by ``tools/make_demo_data.py`` (default :data:`DEMO_DATA`).

    Returns
    -------
    xarray.Dataset
        ``dm``, ``gas``, ``hi`` (Msun/h per pixel, float32) with dims ``(axis, slab, y, x)``, one
        axis (the projection kept); attrs: geometry (``pixel_size``, ``box_size``, ``slab_depth``,
        ckpc/h), ``redshift``, cosmology, simulation ``seed``, ``description`` and provenance.
    """
    import xarray as xr

    path = Path(path or DEMO_DATA)
    if not path.is_file():
        raise FileNotFoundError(f"demo maps {str(path)!r} not found; the package install is incomplete. Reinstall "
                                "ember_dist, or regenerate them with `python tools/make_demo_data.py` in a checkout "
                                "with the simulation suite's maps.")
    with np.load(path, allow_pickle=False) as z:
        attrs = json.loads(str(z["attrs"]))
        arrays = {v: z[v] for v in DEMO_VARIABLES}
    nslab, ny, nx = arrays["dm"].shape
    if slabs is not None:
        if not 1 <= int(slabs) <= nslab:
            from ember_dist.errors import spell_or

            raise ValueError(f"the demo maps have {nslab} slabs; pass {spell_or('slabs', nslab)} or fewer (at "
                             f"least 1). Received: {spell_or('slabs', slabs)}.")
        nslab = int(slabs)
    try:
        r = int(replicas)
    except (TypeError, ValueError):
        r = 0
    if r < 1 or r != replicas:
        raise ValueError(f"replicas must be a positive integer (copies per side). Received: replicas={replicas!r}.")
    if r > 1:
        arrays = {v: np.tile(a[:nslab], (1, r, r)) for v, a in arrays.items()}
        ny, nx = ny * r, nx * r
        attrs.update(replicas=r, box_size=float(attrs["box_size"]) * r,
                     description=f"{attrs.get('description', '').rstrip('. ')}; tiled {r} x {r} (periodic replicas of "
                                 "one box).")
    long_names, units = attrs.pop("long_names", {}), attrs.pop("units", "Msun/h")
    attrs.pop("total_mass", None)  # of the full set; kept in the file for the check in the tests
    data = {v: (("axis", "slab", "y", "x"), a[None, :nslab], {"units": units, "long_name": long_names.get(v, v)})
            for v, a in arrays.items()}
    attrs["demo_data"] = path.name
    return xr.Dataset(data, coords=map_coords(ny, nx, attrs["pixel_size"], axes=[attrs.get("axis", "z")],
                                              nslab=nslab), attrs=attrs)
