# SPDX-License-Identifier: BSD-3-Clause
"""Exact split inference (``halo="split"``): three tiled stages instead of 1,000-px halos.

Almost all of the generator's receptive field comes from its coarse levels.
Splitting at level ``s`` (see :func:`~ember_dist.model.geometry.split_geometry`):

A. level-0 tiles with a small halo: encoder levels ``0..s-1`` and the stride-2
   entry of level ``s`` -> ``d_s`` (``filters[s]`` channels at ``1/2**s``
   resolution), written to ``<out>/.ember/split-<field>/d.zarr``.  Noise-free,
   so computed once per map whatever the number of realisations.
B. level-s tiles of the coarse map with their own exact halo: the rest of the
   network back to level ``s`` -> ``h_s`` (``h.zarr``; one per realisation for
   the noisy generator, one in all for the U-Net).  Noise keyed by global
   coordinates, as everywhere.
C. level-0 tiles with a small halo: the shallow encoder recomputed (cheaper than
   storing its skips), the shallow decoder from the ``h_s`` window, crop, write
   the core into the output store.

Stages are separated by barriers (a stage-B tile needs its neighbours' ``d_s``).
Every task has a done marker, so ``resume=True`` skips finished tasks of any
stage; intermediates are deleted when the run completes.  The stitched result
equals the whole periodic map's prediction to float rounding.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ember_dist.engine.graph import make_batches
from ember_dist.engine.model_cache import get_stage_model
from ember_dist.engine.plan import TilePlan
from ember_dist.engine.worker import Job, noise_inputs, predict_batch
from ember_dist.io.common import read_wrapped_lead
from ember_dist.io.store import done_markers, mark_done, write_core
from ember_dist.model.geometry import split_geometry

__all__ = ["SplitPlan", "plan_split", "run_split", "default_split_level"]

#: Split level per preset, chosen by measurement (bench/engine.py).
_DEFAULT_SPLIT = {"fiducial": 3, "small": 2, "tiny": 1}


def default_split_level(preset):
    return _DEFAULT_SPLIT.get(preset.name, max(1, (preset.levels - 2) // 2))


@dataclass(frozen=True)
class SplitPlan:
    """Tile plans of the three stages (A and C at level 0, B at level ``split``)."""

    split: int
    a: TilePlan
    b: TilePlan
    c: TilePlan
    geometry: object

    @property
    def redundancy(self):
        """Level-0-equivalent pixels computed per output pixel, weighted by nothing (per stage)."""
        return {"A": self.a.redundancy, "B": self.b.redundancy, "C": self.c.redundancy}

    def to_dict(self):
        return {"split": self.split, "A": self.a.to_dict(), "B": self.b.to_dict(), "C": self.c.to_dict(),
                "geometry": self.geometry.to_dict()}


def plan_split(shape, core, preset, split=None, coarse_core=None):
    """Plans for split inference of a ``shape`` map with level-0 cores ``core``.

    Parameters
    ----------
    coarse_core : int, level-s px, optional
        Core of the stage-B tiles; default: the whole coarse map up to 1024 px.
    """
    s = default_split_level(preset) if split is None else int(split)
    g = split_geometry(preset, s)
    f = 2**s
    a = TilePlan.build(shape, core, g.a_halo, preset.alignment, halo_alignment=f)
    c = TilePlan.build(shape, core, g.c_halo, preset.alignment, halo_alignment=f)
    coarse = (shape[0] // f, shape[1] // f)
    if coarse_core is None:
        coarse_core = min(max(coarse), 1024) // g.b_alignment * g.b_alignment
    b = TilePlan.build(coarse, coarse_core, g.b_halo, g.b_alignment)
    return SplitPlan(s, a, b, c, g)


def _stage_task(stage, key, batch, *, source, out, field, tmp, bundle_path, sha256, precision, sp, preset, seed,
                norm_in, norm_out, batch_size, samples_b):
    import zarr

    model = get_stage_model(bundle_path, sha256, precision, sp.split, stage)
    f = 2**sp.split
    L = preset.levels
    items = []
    if stage == "A":
        plan = sp.a
        for j in batch:
            wy, wx = plan.window_start(j.tile)
            dm = source.read_window(j.axis, j.slab, wy, wx, *plan.canvas)
            items.append({"dm": norm_in.forward(dm).astype(np.float32)[..., None]})
        d = zarr.open_array(store=str(tmp / "d.zarr"), mode="r+")
        for j, p in zip(batch, predict_batch(model, items, batch_size, squeeze=False)):
            hb = plan.halo[0] // f
            t = j.tile
            d[j.axis, j.slab, t.y0 // f:(t.y0 + t.ny) // f, t.x0 // f:(t.x0 + t.nx) // f] = \
                p[hb:hb + t.ny // f, hb:hb + t.nx // f]
    elif stage == "B":
        plan = sp.b
        d = zarr.open_array(store=str(tmp / "d.zarr"), mode="r")
        for j in batch:
            wy, wx = plan.window_start(j.tile)
            it = {"d": read_wrapped_lead(d, (j.axis, j.slab), wy, wx, *plan.canvas, channels=True)}
            if preset.noise:
                it.update(noise_inputs(seed + j.sample, range(sp.split, L - 1), wy, wx, *plan.canvas, sp.split,
                                 sp.c.shape, j.axis, j.slab))
            items.append(it)
        h = zarr.open_array(store=str(tmp / "h.zarr"), mode="r+")
        for j, p in zip(batch, predict_batch(model, items, batch_size, squeeze=False)):
            hb, t = plan.halo[0], j.tile
            h[j.sample, j.axis, j.slab, t.y0:t.y0 + t.ny, t.x0:t.x0 + t.nx] = p[hb:hb + t.ny, hb:hb + t.nx]
    else:
        plan = sp.c
        h = zarr.open_array(store=str(tmp / "h.zarr"), mode="r")
        for j in batch:
            wy, wx = plan.window_start(j.tile)
            hy, hx = plan.canvas
            dm = source.read_window(j.axis, j.slab, wy, wx, hy, hx)
            it = {"dm": norm_in.forward(dm).astype(np.float32)[..., None],
                  "h": read_wrapped_lead(h, (j.sample if samples_b > 1 else 0, j.axis, j.slab),
                                        wy // f, wx // f, hy // f, hx // f, channels=True)}
            if preset.noise:
                it.update(noise_inputs(seed + j.sample, range(0, sp.split), wy, wx, hy, hx, 0, plan.shape,
                                 j.axis, j.slab))
            items.append(it)
        for j, p in zip(batch, predict_batch(model, items, batch_size, squeeze=False)):
            hb, t = plan.halo[0], j.tile
            core = norm_out.inverse(p[hb:hb + t.ny, hb:hb + t.nx, 0]).astype(np.float32)
            write_core(out, field, (j.sample, j.axis, j.slab), t.y0, t.x0, core)
    mark_done(out, field, key)
    return {"key": key, "tiles": len(batch)}


def _create_intermediates(tmp, sp, preset, naxis, nslab, samples_b):
    import zarr

    tmp.mkdir(parents=True, exist_ok=True)
    f = 2**sp.split
    (my, mx), (cy, cx) = sp.b.shape, sp.a.core
    if not (tmp / "d.zarr").exists():
        zarr.create_array(str(tmp / "d.zarr"), shape=(naxis, nslab, my, mx, preset.filters[sp.split]),
                          chunks=(1, 1, cy // f, cx // f, preset.filters[sp.split]), dtype="f4")
    if not (tmp / "h.zarr").exists():
        by, bx = sp.b.core
        zarr.create_array(str(tmp / "h.zarr"), shape=(samples_b, naxis, nslab, my, mx, preset.filters[sp.split + 1]),
                          chunks=(1, 1, 1, by, bx, preset.filters[sp.split + 1]), dtype="f4")


def run_split(client, *, source, out, field, bundle, sp, samples, seed, precision, batch_size, token, progress,
              progress_fn):
    """Run the three stages for one field; returns the number of tasks run."""
    out = Path(out)
    tmp = out / ".ember" / f"split-{field}"
    naxis, nslab = source.shape[:2]
    preset = bundle.preset
    samples_b = samples if preset.noise else 1
    _create_intermediates(tmp, sp, preset, naxis, nslab, samples_b)
    common = dict(source=source, out=str(out), field=field, tmp=tmp, bundle_path=str(bundle.path),
                  sha256=bundle.weights_sha256, precision=precision, sp=sp, preset=preset, seed=seed,
                  norm_in=bundle.input_norm, norm_out=bundle.output_norm, batch_size=batch_size,
                  samples_b=samples_b)
    stages = [
        ("A", [Job(0, a, s, t) for a in range(naxis) for s in range(nslab) for t in sp.a.tiles()]),
        ("B", [Job(i, a, s, t) for i in range(samples_b) for a in range(naxis) for s in range(nslab)
               for t in sp.b.tiles()]),
        ("C", [Job(i, a, s, t) for i in range(samples) for a in range(naxis) for s in range(nslab)
               for t in sp.c.tiles()]),
    ]
    n = 0
    for stage, jobs in stages:
        done = done_markers(out, field)
        futures = []
        for i, batch in enumerate(make_batches(jobs, batch_size)):
            key = f"{field}-{i:07d}" if stage == "C" else f"{field}-{stage}-{i:07d}"
            if key in done:
                continue
            futures.append(client.submit(_stage_task, stage, key, batch, **common, pure=False, retries=1,
                                         key=f"enrich-{field}-split{stage}-{i:07d}-{token}"))
        for fut in progress_fn(futures, progress, f"enrich {field} stage {stage}"):
            fut.result()
        n += len(futures)
    shutil.rmtree(tmp, ignore_errors=True)
    return n
