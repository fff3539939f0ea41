# SPDX-License-Identifier: BSD-3-Clause
"""Seam error of tiled inference against the whole periodic map, per halo.

The table a bundle stores (``seam_error``) and ``halo="auto"`` uses:
``max |tiled - whole| / max |whole|`` for aligned halos from 0 up to the exact
halo, measured on a seeded lognormal test map with the bundle's own weights.
"""
from __future__ import annotations

import numpy as np

from ember_dist.engine.reference import predict_tiled, predict_whole
from ember_dist.mock.maps import lognormal_map

__all__ = ["measure_seam_errors"]


def measure_seam_errors(bundle, size=None, core=None, seed=0, model=None, dm=None):
    """List of ``{"halo": [b, a], "max_rel_error": e}`` for halos 0, A, 2A, ... up to exact.

    Parameters
    ----------
    bundle : ModelBundle
    size : int, px, default 4 x the exact halo sum, rounded to the alignment
    core : int, px, default size // 4
    dm : ndarray, optional
        Test map (Msun/h per pixel); default: a seeded lognormal field around the
        input normalisation scale.
    """
    a = bundle.alignment
    hb, ha = bundle.exact_halo
    size = size or max(4 * a, -(-2 * (hb + ha) // a) * a)
    core = core or max(a, (size // 4) // a * a)
    if dm is None:
        dm = lognormal_map(size, seed=seed, mean=bundle.input_norm.x0_map_units)
    model = model or bundle.build()
    ref = predict_whole(bundle, dm, seed=seed, model=model)
    scale = float(np.abs(ref).max()) or 1.0
    rows = []
    k = 0
    while True:
        h = (min(k * a, hb), min(k * a, ha))
        tiled = predict_tiled(bundle, dm, core, h, seed=seed, model=model)
        rows.append({"halo": list(h), "max_rel_error": float(np.abs(tiled - ref).max() / scale)})
        if h == (hb, ha):
            break
        k += 1
    return rows
