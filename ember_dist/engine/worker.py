# SPDX-License-Identifier: BSD-3-Clause
"""What a worker does with tiles: NumPy in, trimmed NumPy out.

For each tile: read the periodic input window (``plan.canvas``), normalise,
build the coordinate-keyed noise for every decoder level, run the generator on
a fixed-size batch (so every call has the same shape and compiled graphs are
reused, and results do not depend on how tiles were grouped), invert the
normalisation and crop the core.  No Dask here.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ember_dist.model.noise import noise_field

__all__ = ["Job", "tile_inputs", "predict_batch"]


class Job(NamedTuple):
    """One tile of one map of one realisation."""

    sample: int
    axis: int
    slab: int
    tile: tuple  # engine.plan.Tile


def tile_inputs(source, plan, job, preset, seed, norm_in):
    """Model inputs of one tile: ``{"dm": (H, W, 1), "noise_l{l}": (H/2**l, W/2**l, 1)}``, float32."""
    wy, wx = plan.window_start(job.tile)
    hy, hx = plan.canvas
    dm = source.read_window(job.axis, job.slab, wy, wx, hy, hx)
    inputs = {"dm": norm_in.forward(dm).astype(np.float32)[..., None]}
    if preset.noise:
        for lev in range(preset.levels - 1):
            f = 2**lev
            inputs[f"noise_l{lev}"] = noise_field(
                seed + job.sample, lev, wy // f, wx // f, hy // f, hx // f, plan.shape, job.axis, job.slab
            )[..., None]
    return inputs


def predict_batch(model, items, batch_size):
    """Run ``model`` on a list of input dicts, padded to ``batch_size``; returns (n, H, W) float32."""
    n = len(items)
    if n == 0:
        return np.zeros((0,), np.float32)
    pad = items + [items[-1]] * (batch_size - n)  # fixed batch shape; padded results are dropped
    batch = {k: np.stack([it[k] for it in pad]) for k in items[0]}
    out = model.predict_on_batch(batch)
    out = out[0] if isinstance(out, (list, tuple)) else out
    return np.asarray(out, dtype=np.float32)[:n, ..., 0]


def crop_core(pred, plan, tile):
    """The core of a predicted canvas."""
    hb = plan.halo[0]
    return pred[hb:hb + tile.ny, hb:hb + tile.nx]
