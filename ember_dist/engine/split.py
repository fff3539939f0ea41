# SPDX-License-Identifier: BSD-3-Clause
"""Exact split inference (``halo="split"``): small-halo stages instead of 1,000-px halos.

Almost all of the generator's receptive field comes from its coarse levels.
The network is cut at levels ``0 < s_1 < ... < s_m`` (see
:func:`~ember_dist.model.geometry.pair_geometry`); with ``a, b`` two consecutive
levels of ``(0, s_1, ..., s_m)``:

A_i. tiles at level ``a`` with a small halo: encoder levels ``a..b-1`` and the
     stride-2 entry of level ``b`` -> ``d_b`` (``filters[b]`` channels at
     ``1/2**b`` resolution), written to ``<out>/.ember/split-<field>/d<b>.zarr``.
     Noise-free, so computed once per map whatever the number of realisations.
B.   the deepest segment, level ``s_m`` back to level ``s_m`` -> ``h_{s_m}``.  When
     the coarse map is small enough (its widest tensor within the memory budget
     of one coarse tile) it runs on the whole map with periodic convolutions (no
     halo, no redundant pixels); otherwise it is tiled with its own exact halo.
C_i. tiles at level ``a`` with a small halo: the encoder ``a..b-1`` recomputed
     (cheaper than storing its skips), the decoder from the ``h_b`` window ->
     ``h_a`` (``h<a>.zarr``), or, for ``a = 0``, the output core written into the
     store.  Noise keyed by global coordinates, as everywhere.

Every tiled stage runs its convolutions unpadded (:mod:`ember_dist.model.regions`):
each tensor holds only its exact pixels, so the decoder convolutions near the
output run on little more than the core (fiducial, 1024-px cores: stage C1 pays
1.04x the whole-map multiply-adds instead of its canvas's 1.146x) and the stage
models output the core alone.

Stages are separated by barriers (a tile needs its neighbours' features).  Every
task has a done marker, so ``resume=True`` skips finished tasks of any stage;
intermediates are deleted when the run completes.  The stitched result equals
the whole periodic map's prediction to float rounding.

By default the chain starts at a level chosen per preset by measurement and
goes deeper (two levels at a time) until the deepest coarse map fits the
budget, so memory per task stays bounded by the tile whatever the map size.
"""
from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ember_dist.engine.faults import fault_point
from ember_dist.engine.graph import make_batches
from ember_dist.engine.model_cache import get_stage_model
from ember_dist.engine.plan import TilePlan, coerce_halo
from ember_dist.engine.worker import NETWORK_LOCK, Job, noise_inputs, predict_batch
from ember_dist.errors import spell_or
from ember_dist.io.common import read_wrapped_lead
from ember_dist.io.store import done_markers, is_done, mark_done, write_core
from ember_dist.model.geometry import deep_halo, level_width, pair_geometry

__all__ = ["SplitPlan", "plan_split", "run_split", "stage_jobs", "count_tasks", "default_split_level",
           "DEFAULT_COARSE_CORE"]

#: First split level per preset, chosen by measurement (bench/engine.py).
_DEFAULT_SPLIT = {"fiducial": 3, "small": 2, "tiny": 1}

#: Default core of the coarse tiles at the first split level, px; it also sets the memory budget
#: (core^2 x widest channel count at that level) of every coarse stage.
DEFAULT_COARSE_CORE = 512


def default_split_level(preset):
    return _DEFAULT_SPLIT.get(preset.name, max(1, (preset.levels - 2) // 2))


@dataclass(frozen=True)
class SplitPlan:
    """Tile plans of the stages of split inference.

    ``levels`` are the split levels ``(s_1, ..., s_m)``; ``a[i]`` and ``c[i]`` tile the map at
    level ``(0,) + levels`` ``[i]`` (``c[0]`` is the level-0 output tiling); ``b`` tiles the
    level-``s_m`` map (the whole map, halo 0, when ``periodic``).
    """

    levels: tuple
    a: tuple
    c: tuple
    b: TilePlan
    periodic: bool

    @property
    def split(self):
        return self.levels[0]

    @property
    def output(self):
        """The level-0 tiling of the final stage (one output chunk per core)."""
        return self.c[0]

    @property
    def redundancy(self):
        """Input pixels read per output pixel of each stage (canvas area x tiles / map area)."""
        r = {f"A{i + 1}": p.redundancy for i, p in enumerate(self.a)}
        r["B"] = self.b.redundancy
        r.update({f"C{i + 1}": p.redundancy for i, p in enumerate(self.c)})
        return r

    def stages(self):
        """``{stage: tile plan}`` in the order the stages run."""
        st = {f"A{i + 1}": p for i, p in enumerate(self.a)}
        st["B"] = self.b
        st.update({f"C{i + 1}": self.c[i] for i in range(len(self.c) - 1, -1, -1)})
        return st

    @property
    def halos(self):
        """Tile halo of each tiled stage (all but a periodic B): their models run unpadded and output the cores."""
        return {k: p.halo for k, p in self.stages().items() if not (k == "B" and self.periodic)}

    def stage_compute(self, preset):
        """Multiply-adds each stage pays per output pixel relative to the same stage on the whole map
        (1 for a periodic B).  Tiled stages compute only the exact pixels of each tensor
        (:mod:`ember_dist.model.regions`), so this is below :attr:`redundancy`."""
        from ember_dist.model.geometry import stage_macs
        from ember_dist.model.regions import stage_regions

        macs, halos = stage_macs(preset, self.levels), self.halos
        n0 = self.output.shape[0] * self.output.shape[1]
        out = {}
        for k, p in self.stages().items():
            if k not in halos:
                out[k] = 1.0
                continue
            tiles = p.grid[0] * p.grid[1]
            out[k] = tiles * stage_regions(preset, self.levels, k, p.halo).macs(p.canvas) / (macs[k] * n0)
        return out

    def compute_factor(self, preset):
        """Multiply-adds paid per output pixel relative to one whole-map pass (halos, recomputed encoders)."""
        from ember_dist.model.geometry import stage_macs

        macs = stage_macs(preset, self.levels)
        paid = self.stage_compute(preset)
        one_pass = sum(v for k, v in macs.items() if k[0] != "A")
        return sum(macs[k] * paid[k] for k in macs) / one_pass

    def to_dict(self):
        return {"levels": list(self.levels), "periodic": self.periodic,
                "A": [p.to_dict() for p in self.a], "B": self.b.to_dict(), "C": [p.to_dict() for p in self.c]}


def _coerce_levels(split, preset):
    L = preset.levels
    if isinstance(split, (int, np.integer)) and not isinstance(split, bool):
        levels = (int(split),)
    else:
        try:
            levels = tuple(int(s) for s in split)
        except (TypeError, ValueError):
            raise ValueError(f"split_level must be an int or a sequence of increasing ints. "
                             f"Received: {spell_or('split_level', split)}.") from None
    if not levels or any(b <= a for a, b in zip(levels, levels[1:])) or not all(1 <= s <= L - 2 for s in levels):
        raise ValueError(f"split levels must increase and lie in 1..{L - 2} for preset {preset.name!r}. "
                         f"Received: {spell_or('split_level', split)}.")
    return levels


def _balanced_core(n, c_max, align):
    """The smallest aligned core giving as few tiles along a side of ``n`` px as ``c_max`` allows."""
    c_max = max(align, c_max // align * align)
    per_tile = -(-n // -(-n // c_max))  # ceil(n / number of tiles)
    return min(n, -(-per_tile // align) * align)


def plan_split(shape, core, preset, split=None, coarse_core=None):
    """Plans for split inference of a ``shape`` map with level-0 cores ``core``.

    Parameters
    ----------
    split : int or sequence of int, optional
        Split level(s).  Default: the preset's level, then deeper levels (two at a time) until
        the deepest coarse map fits one coarse tile.
    coarse_core : int, px at the first split level, optional
        Core of the coarse tiles at the first split level (default 512); it also bounds the
        memory of the deeper stages (core^2 x channels of the widest tensor at that level).

    Examples
    --------
    >>> from ember_dist.model.presets import get_preset
    >>> p = plan_split((4096, 4096), 1024, get_preset("fiducial"))
    >>> p.levels, p.periodic, p.b.shape, p.c[0].canvas
    ((3,), True, (512, 512), (1096, 1096))
    >>> p = plan_split((16384, 16384), 1024, get_preset("fiducial"))
    >>> p.levels, p.periodic, p.a[1].core, p.b.shape
    ((3, 5, 6), True, (416, 416), (256, 256))
    """
    L = preset.levels
    shape = tuple(int(n) for n in shape)
    levels = (default_split_level(preset),) if split is None else _coerce_levels(split, preset)
    cc = DEFAULT_COARSE_CORE if coarse_core is None else int(coarse_core)
    if cc <= 0:
        raise ValueError(f"coarse_core must be a positive number of pixels. Received: "
                         f"{spell_or('coarse_core', coarse_core)}.")
    budget = cc * cc * level_width(preset, levels[0])

    def at(lev):
        return tuple(n // 2**lev for n in shape)

    def fits(lev):
        ny, nx = at(lev)
        return ny * nx * level_width(preset, lev) <= budget

    def cores_within_budget(lev, align, halo=0):
        """Balanced aligned cores whose canvas (core + ``halo`` px) squared times the level's widest
        channels stays in the budget: a coarse tile then never holds more than the whole coarse map
        that fits it, so memory per task does not step up when a larger map adds a level to the chain
        (fiducial, core 1024: stage C2's 512 + 28 px tiles at 8192^2 peaked at 2.88 GB against 2.47 GB
        for the whole 512^2 level-3 map of stage B at 4096^2)."""
        c_max = max(align, int(math.isqrt(budget // level_width(preset, lev))) - halo)
        return tuple(_balanced_core(n, c_max, align) for n in at(lev))

    def halo_total(*halos):
        """Widest halo, before + after, px."""
        return max(sum(coerce_halo(h)) for h in halos)

    if split is None:
        while not fits(levels[-1]) and levels[-1] < L - 2:
            levels += (min(levels[-1] + 2, L - 2),)
    chain = (0,) + levels
    a_plans, c_plans = [], []
    for a, b in zip(chain, chain[1:]):
        g = pair_geometry(preset, a, b)
        f = 2 ** (b - a)
        if a == 0:
            ca = core
            align = preset.alignment
        else:
            align = 2 ** (L - 1 - a)
            ca = cores_within_budget(a, align, halo_total(g.a_halo, g.c_halo))
        a_plans.append(TilePlan.build(at(a), ca, g.a_halo, align, halo_alignment=f))
        c_plans.append(TilePlan.build(at(a), ca, g.c_halo, align, halo_alignment=f))
    s = levels[-1]
    pb = 2 ** (L - 1 - s)
    periodic = fits(s)
    if periodic:
        b = TilePlan.build(at(s), at(s), (0, 0), pb)
    else:
        b = TilePlan.build(at(s), cores_within_budget(s, pb, halo_total(deep_halo(preset, s))), deep_halo(preset, s), pb)
    return SplitPlan(levels, tuple(a_plans), tuple(c_plans), b, periodic)


def _store(tmp, kind, lev):
    return str(tmp / f"{kind}{lev}.zarr")


def _stage_task(stage, key, batch, **kw):
    """One batch of tiles of one stage.  Tiles of the level-0 stages (A1, C1) read one-channel windows and
    overlap their reads, noise and writes with another task's network call; tasks of the coarse stages
    read feature windows of tens of channels (and zarr decodes whole chunks of them), so they run alone
    in the worker: with two overlapping, peak RSS at 16384^2 (fiducial, core 1024) rose 0.46 GB.
    A task already marked done (rerun by Dask after its worker died) returns at once."""
    if is_done(kw["out"], kw["field"], key):
        return {"key": key, "tiles": 0, "skipped": True}
    if stage in ("A1", "C1"):
        return _run_stage(stage, key, batch, **kw)
    with NETWORK_LOCK:
        return _run_stage(stage, key, batch, **kw)


def _run_stage(stage, key, batch, *, source, out, field, tmp, bundle_path, sha256, precision, sp, preset, seed,
               norm_in, norm_out, batch_size, samples_b):
    import zarr

    model = get_stage_model(bundle_path, sha256, precision, sp.levels, sp.periodic, stage, sp.halos)
    chain = (0,) + sp.levels
    L = preset.levels
    shape0 = sp.output.shape

    def read_input(plan, a, j):
        """The level-``a`` input window of a tile: normalised dm (a = 0) or d_a."""
        wy, wx = plan.window_start(j.tile)
        hy, hx = plan.canvas
        if a == 0:
            return {"dm": source.read_window(j.axis, j.slab, wy, wx, hy, hx, norm=norm_in)[..., None]}
        d = zarr.open_array(store=_store(tmp, "d", a), mode="r")
        return {"d": read_wrapped_lead(d, (j.axis, j.slab), wy, wx, hy, hx, channels=True)}

    items = []
    if stage[0] == "A":
        i = int(stage[1:])
        a, b = chain[i - 1], chain[i]
        plan, f = sp.a[i - 1], 2 ** (b - a)
        items = [read_input(plan, a, j) for j in batch]
        d = zarr.open_array(store=_store(tmp, "d", b), mode="r+")
        for j, p in zip(batch, predict_batch(model, items, batch_size, squeeze=False)):
            t = j.tile  # the model outputs the core (see SplitPlan.halos)
            d[j.axis, j.slab, t.y0 // f:(t.y0 + t.ny) // f, t.x0 // f:(t.x0 + t.nx) // f] = p[:t.ny // f, :t.nx // f]
    elif stage == "B":
        plan, s = sp.b, sp.levels[-1]
        for j in batch:
            wy, wx = plan.window_start(j.tile)
            it = read_input(plan, s, j)
            if preset.noise:
                it.update(noise_inputs(seed + j.sample, range(s, L - 1), wy, wx, *plan.canvas, s, shape0,
                                       j.axis, j.slab))
            items.append(it)
        h = zarr.open_array(store=_store(tmp, "h", s), mode="r+")
        for j, p in zip(batch, predict_batch(model, items, batch_size, squeeze=False)):
            t = j.tile  # the core: cropped by the model when tiled, the whole map (no halo) when periodic
            h[j.sample, j.axis, j.slab, t.y0:t.y0 + t.ny, t.x0:t.x0 + t.nx] = p[:t.ny, :t.nx]
    else:
        i = int(stage[1:])
        a, b = chain[i - 1], chain[i]
        plan, f = sp.c[i - 1], 2 ** (b - a)
        hs = zarr.open_array(store=_store(tmp, "h", b), mode="r")
        for j in batch:
            wy, wx = plan.window_start(j.tile)
            hy, hx = plan.canvas
            it = read_input(plan, a, j)
            it["h"] = read_wrapped_lead(hs, (j.sample if samples_b > 1 else 0, j.axis, j.slab),
                                        wy // f, wx // f, hy // f, hx // f, channels=True)
            if preset.noise:
                it.update(noise_inputs(seed + j.sample, range(a, b), wy, wx, hy, hx, a, shape0, j.axis, j.slab))
            items.append(it)
        ha = None if a == 0 else zarr.open_array(store=_store(tmp, "h", a), mode="r+")
        for j, p in zip(batch, predict_batch(model, items, batch_size, squeeze=False)):
            t = j.tile
            core = p[:t.ny, :t.nx]
            if ha is None:
                write_core(out, field, (j.sample, j.axis, j.slab), t.y0, t.x0,
                           norm_out.inverse(core[..., 0]).astype(np.float32))
            else:
                ha[j.sample, j.axis, j.slab, t.y0:t.y0 + t.ny, t.x0:t.x0 + t.nx] = core
    fault_point(stage)  # tests only: die with the stage's outputs written and the task not yet marked done
    mark_done(out, field, key)
    return {"key": key, "tiles": len(batch)}


def _create_intermediates(tmp, sp, preset, naxis, nslab, samples_b):
    """``d<b>.zarr`` (written by A tiles) and ``h<b>.zarr`` (read by the C tiles one level up).

    Chunks follow the *reader's* tile core: a stage-C tile decodes only the chunks its window
    touches (with one chunk per whole coarse map, each tile decoded the whole map, up to four
    times for wrapped windows).  Uncompressed: the features are noise-like floats, written once,
    read a few times and deleted, so compression costs CPU and saves little.
    """
    import zarr

    tmp.mkdir(parents=True, exist_ok=True)
    chain = (0,) + sp.levels
    for i, b in enumerate(sp.levels):
        f = 2 ** (b - chain[i])
        (my, mx), (cy, cx) = sp.a[i].shape, sp.a[i].core
        if not Path(_store(tmp, "d", b)).exists():
            zarr.create_array(_store(tmp, "d", b), shape=(naxis, nslab, my // f, mx // f, preset.filters[b]),
                              chunks=(1, 1, cy // f, cx // f, preset.filters[b]), dtype="f4", compressors=None)
        (cy, cx) = sp.c[i].core  # the C tiles at level chain[i] read h_b on their window / f
        if not Path(_store(tmp, "h", b)).exists():
            zarr.create_array(_store(tmp, "h", b),
                              shape=(samples_b, naxis, nslab, my // f, mx // f, preset.filters[b + 1]),
                              chunks=(1, 1, 1, max(1, cy // f), max(1, cx // f), preset.filters[b + 1]), dtype="f4",
                              compressors=None)


def stage_jobs(sp, preset, samples, naxis, nslab):
    """``(stage, jobs)`` in run order: every tile job of each stage of ``sp``."""
    samples_b = samples if preset.noise else 1
    maps = [(a, s) for a in range(naxis) for s in range(nslab)]
    for stage, plan in sp.stages().items():
        # A stages are noise-free (one pass whatever the realisations); C1 writes every realisation.
        reals = 1 if stage[0] == "A" else samples if stage == "C1" else samples_b
        yield stage, [Job(k, a, s, t) for k in range(reals) for a, s in maps for t in plan.tiles()]


def count_tasks(sp, preset, samples, naxis, nslab, batch_size):
    """Number of tasks (batches) of all stages of ``sp``."""
    return sum(-(-len(jobs) // batch_size) for _, jobs in stage_jobs(sp, preset, samples, naxis, nslab))


def run_split(client, *, source, out, field, bundle, sp, samples, seed, precision, batch_size, token, progress,
              progress_fn, norm_in=None):
    """Run the stages for one field; returns the number of tasks run.

    ``norm_in``: the input normalisation of the level-0 windows (default the bundle's; enrichment passes a
    :class:`~ember_dist.model.normalization.ScaledInput` when it rescales the input dark matter).
    """
    out = Path(out)
    tmp = out / ".ember" / f"split-{field}"
    naxis, nslab = source.shape[:2]
    preset = bundle.preset
    samples_b = samples if preset.noise else 1
    _create_intermediates(tmp, sp, preset, naxis, nslab, samples_b)
    common = dict(source=source, out=str(out), field=field, tmp=tmp, bundle_path=str(bundle.path),
                  sha256=bundle.weights_sha256, precision=precision, sp=sp, preset=preset, seed=seed,
                  norm_in=bundle.input_norm if norm_in is None else norm_in, norm_out=bundle.output_norm,
                  batch_size=batch_size,
                  samples_b=samples_b)
    n = 0
    for stage, jobs in stage_jobs(sp, preset, samples, naxis, nslab):
        done = done_markers(out, field)
        futures = []
        for i, batch in enumerate(make_batches(jobs, batch_size)):
            # Final tiles carry the same key as in the other halo modes (one "-": counted as output).
            key = f"{field}-{i:07d}" if stage == "C1" else f"{field}-{stage}-{i:07d}"
            if key in done:
                continue
            futures.append(client.submit(_stage_task, stage, key, batch, **common, pure=False, retries=1,
                                         key=f"enrich-{field}-split{stage}-{i:07d}-{token}"))
        for fut in progress_fn(futures, progress, f"enrich {field} stage {stage}"):
            fut.result()
            fut.release()  # done (marker written): a worker lost later must not make Dask recompute it
        n += len(futures)
    shutil.rmtree(tmp, ignore_errors=True)
    return n
