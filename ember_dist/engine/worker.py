# SPDX-License-Identifier: BSD-3-Clause
"""What a worker does with tiles: NumPy in, trimmed NumPy out.

For each tile: read the periodic input window (``plan.canvas``), normalise,
build the coordinate-keyed noise for every decoder level, run the generator on
a fixed-size batch (so every call has the same shape and compiled graphs are
reused, and results do not depend on how tiles were grouped), invert the
normalisation and crop the core.  No Dask here.
"""
from __future__ import annotations

import threading
from typing import NamedTuple

import numpy as np

from ember_dist.model.noise import noise_field

__all__ = ["Job", "tile_inputs", "noise_inputs", "predict_batch", "crop_core"]

#: One generator call at a time per process: the runtime's thread pool (or the GPU) already uses every core
#: the worker has, so a second Dask thread only overlaps its reads, noise and writes with this call.
#: Re-entrant: a task whose inputs are large (coarse feature maps) holds it for its whole run.
NETWORK_LOCK = threading.RLock()


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
    inputs = {"dm": source.read_window(job.axis, job.slab, wy, wx, hy, hx, norm=norm_in)[..., None]}
    if preset.noise:
        inputs.update(noise_inputs(seed + job.sample, range(preset.levels - 1), wy, wx, hy, hx, 0, plan.shape,
                                   job.axis, job.slab))
    return inputs


def noise_inputs(seed, levels, wy, wx, hy, hx, level0, shape, axis, slab):
    """Noise inputs ``{"noise_l{l}": (h, w, 1)}`` for ``levels`` of a window at (wy, wx) given in
    level-``level0`` px (``shape`` is the full map at level 0)."""
    out = {}
    for lev in levels:
        f = 2 ** (lev - level0)
        out[f"noise_l{lev}"] = noise_field(seed, lev, wy // f, wx // f, hy // f, hx // f, shape, axis, slab)[..., None]
    return out


def predict_batch(model, items, batch_size, squeeze=True):
    """Run ``model`` on a list of input dicts, padded to ``batch_size``.

    Returns float32 ``(n, H, W)`` (``squeeze``, one-channel output) or ``(n, H, W, C)``.
    """
    n = len(items)
    pad = items + [items[-1]] * (batch_size - n)  # fixed batch shape; padded results are dropped
    batch = {k: np.stack([it[k] for it in pad]) for k in items[0]}
    with NETWORK_LOCK:
        out = model.predict_on_batch(batch)
    out = out[0] if isinstance(out, (list, tuple)) else out
    out = np.asarray(out, dtype=np.float32)[:n]
    return out[..., 0] if squeeze else out


def crop_core(pred, plan, tile):
    """The core of a predicted canvas."""
    hb = plan.halo[0]
    return pred[hb:hb + tile.ny, hb:hb + tile.nx]
