# SPDX-License-Identifier: BSD-3-Clause
"""In-process reference predictions, without Dask: the whole periodic map, and tiles.

:func:`predict_whole` pads the *whole* map periodically by the exact halo,
builds the noise of that padded canvas and runs the generator once; its
cropped output is what a tiled ``halo="exact"`` run must reproduce.
:func:`predict_tiled` runs a tile plan in one process (used to measure a
bundle's seam error for each halo).
"""
from __future__ import annotations

import numpy as np

from ember_dist.engine.plan import TilePlan
from ember_dist.engine.worker import Job, crop_core, noise_inputs, predict_batch, tile_inputs
from ember_dist.io.common import MapSource

__all__ = ["predict_whole", "predict_tiled", "ArraySource"]


class ArraySource(MapSource):
    """An in-process NumPy stack ``(axis, slab, y, x)`` as a map source (not for Dask)."""

    kind = "array"

    def __init__(self, arr, single=False):
        self.single = single  # one map, read whatever (axis, slab) a job names
        arr = np.asarray(arr, dtype=np.float32)
        while arr.ndim < 4:
            arr = arr[None]
        super().__init__(arr.shape, ("x", "y", "z")[:arr.shape[0]], {}, "array")
        self._arr = arr

    def _open(self):
        return self._arr

    def read_window(self, a, s, *window, norm=None):
        return super().read_window(*((0, 0) if self.single else (a, s)), *window, norm=norm)

    def __getstate__(self):
        return self.__dict__


def predict_whole(bundle, dm, seed=0, axis=0, slab=0, halo=None, model=None):
    """Prediction of the whole periodic map ``dm`` (2D, Msun/h per pixel), float32.

    Parameters
    ----------
    bundle : ModelBundle
    dm : ndarray (ny, nx)
    seed : int
        Noise seed of the realisation.
    axis, slab : int
        Map indices (they key the noise).
    halo : (before, after), px, default: the bundle's exact halo
    model : keras.Model, optional
        Pre-built inference model of ``bundle``.
    """
    model = model or bundle.build()
    hb, ha = halo or bundle.exact_halo
    ny, nx = dm.shape
    canvas = np.pad(np.asarray(dm, np.float32), ((hb, ha), (hb, ha)), mode="wrap")
    inputs = {"dm": bundle.input_norm.forward(canvas).astype(np.float32)[..., None]}
    if bundle.preset.noise:
        inputs.update(noise_inputs(seed, range(bundle.preset.levels - 1), -hb, -hb, *canvas.shape, 0, (ny, nx),
                                   axis, slab))
    out = predict_batch(model, [inputs], 1)[0]
    return bundle.output_norm.inverse(out[hb:hb + ny, hb:hb + nx]).astype(np.float32)


def predict_tiled(bundle, dm, core, halo, seed=0, axis=0, slab=0, model=None):
    """Tiled prediction of one 2D map in this process (same code path as the Dask workers)."""
    model = model or bundle.build()
    src = ArraySource(dm, single=True)
    plan = TilePlan.build(dm.shape, core, halo, bundle.alignment)
    out = np.empty(dm.shape, np.float32)
    for t in plan.tiles():
        inp = tile_inputs(src, plan, Job(0, axis, slab, t), bundle.preset, seed, bundle.input_norm)
        p = predict_batch(model, [inp], 1)[0]
        out[t.y0:t.y0 + t.ny, t.x0:t.x0 + t.nx] = bundle.output_norm.inverse(crop_core(p, plan, t))
    return out
