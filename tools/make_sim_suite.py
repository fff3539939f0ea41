"""Run the physical simulation suite (ember_dist.sim.recipe): paired Gadget-2 boxes for every
seed, then the dark-matter-only application box.  Resumable: rerun the same command after a stop.

    python tools/make_sim_suite.py sim_suite            # every box, test seed early
    python tools/make_sim_suite.py sim_suite --only box_s0 app

Writes OUT/box_s<seed>/ (ember-dist simulate layout) with its lower-resolution dark-matter-only twins
OUT/box_s<seed>/mr8/ and mr64/ (same phases, 8x and 64x fewer particles: recipe.SUITE["mr_factors"]), OUT/app/,
and OUT/suite.json; then the
maps the models learn from (``--maps``), at MAP_PIXEL ckpc/h, MAP_SLABS slabs per axis, all three
projections, per output redshift index K:

    OUT/maps/box_s<seed>_zK.zarr       dm, gas, hi of the hydro run (full resolution)
    OUT/maps/box_s<seed>_zK_mr8.zarr   dm of the box's 20^3 dark-matter-only twin (MR input), mr64: 10^3
    OUT/maps/{train,validation,test,train_extra}_zK[_mr8|_mr64].zarr   the boxes of each split stacked along `slab`
    OUT/maps/train_all_zK[_mr8|_mr64].zarr     train + train_extra (every training box)
    OUT/maps/app_zK.zarr               dm of the application box
"""
import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from ember_dist.sim.recipe import APPLICATION, SUITE, split_of, twin_n
from ember_dist.sim.suite import simulate


def boxes():
    seeds = SUITE["seeds"]
    order = [seeds["train"][0], *seeds["test"], *seeds["train"][1:], *seeds["validation"], *seeds["train_extra"]]
    for s in order:
        yield f"box_s{s}", dict(n=SUITE["n"], box_size=SUITE["box_size"], redshifts=SUITE["redshifts"], seed=s,
                                gamma_scale=SUITE["gamma_hi_scale"])
    app = dict(APPLICATION)
    yield "app", dict(n=app["n"], box_size=app["box_size"], redshifts=app["redshifts"], seed=app["seed"],
                      dm_only=True)


def twin_dir(out, name, factor):
    """Folder of box ``name``'s dark-matter-only twin with ``factor`` times fewer particles."""
    return out / name / f"mr{factor}"


def write_summary(out, wall_s=None):
    """OUT/suite.json: the recipe and every finished box on disk (a run of some boxes keeps the others).

    ``wall_s``: ``{name: seconds}`` measured by this command; a box without it keeps the wall time
    recorded before, else its simulation.json's created -> finished span.
    """
    from datetime import datetime

    path = out / "suite.json"
    before = json.loads(path.read_text()).get("boxes", {}) if path.exists() else {}
    summary = {"recipe": {"suite": {**SUITE, "seeds": {k: list(v) for k, v in SUITE["seeds"].items()}},
                          "application": APPLICATION}, "boxes": {}}
    for name, kw in boxes():
        sim = out / name / "simulation.json"
        meta = json.loads(sim.read_text()) if sim.exists() else {}
        if not meta.get("complete"):
            continue
        wall = (wall_s or {}).get(name) or before.get(name, {}).get("wall_s")
        if wall is None and meta.get("created") and meta.get("finished"):
            wall = round((datetime.fromisoformat(meta["finished"]) - datetime.fromisoformat(meta["created"]))
                         .total_seconds(), 1)
        summary["boxes"][name] = {"split": "application" if name == "app" else split_of(kw["seed"]),
                                  "wall_s": wall, "timings": meta.get("timings")}
        twins = {f"mr{k}": json.loads(t.read_text()).get("timings") for k in SUITE["mr_factors"]
                 if name != "app" and (t := twin_dir(out, name, k) / "simulation.json").exists()}
        if twins:
            summary["boxes"][name]["twins"] = twins
    path.write_text(json.dumps(summary, indent=2))
    return summary


MAP_PIXEL, MAP_SLABS, MAP_ALIGN = 31.25, 4, 16


def _complete(store, source_sha256=None):
    """``store`` is whole and, with ``source_sha256``, was deposited from the file of that sha256."""
    from ember_dist.deposit.store import is_complete

    if not is_complete(store):
        return False
    if source_sha256 is None:
        return True
    import xarray as xr

    return xr.open_zarr(str(store), consolidated=False).attrs.get("source_sha256") == source_sha256


def refresh_suite_hi(out):
    """Give every finished suite box the recipe's one UV background (``SUITE["gamma_hi_scale"]``)."""
    from ember_dist.sim.suite import refresh_hi

    for name, kw in boxes():
        if name == "app":
            continue
        for i, g in enumerate(kw["gamma_scale"]):
            snap = out / name / "hydro" / f"snap_{i:03d}.hdf5"
            if snap.exists():
                refresh_hi(snap, g, log=lambda m: print(m, file=sys.stderr, flush=True))


def make_maps(out, z_index):
    """Deposit every finished box at output ``z_index`` and stack the boxes of each split."""
    from ember_dist.deposit.api import deposit_snapshot
    from ember_dist.io.checksum import files_sha256

    maps = out / "maps"
    maps.mkdir(exist_ok=True)
    common = dict(pixel=MAP_PIXEL, slabs=MAP_SLABS, axes=("x", "y", "z"), align=MAP_ALIGN, overwrite=True)
    per_split = {}
    for name, kw in boxes():
        snap = out / name / ("dmo" if name == "app" else "hydro") / f"snap_{z_index:03d}.hdf5"
        if not snap.exists():
            print(f"maps: {snap} not there yet, skipped", file=sys.stderr)
            continue
        stem = maps / f"{name}_z{z_index}"
        jobs = [(snap, Path(f"{stem}.zarr"), ("dm",) if name == "app" else ("dm", "gas", "hi"))]
        if name != "app":
            twins = [(twin_dir(out, name, k) / "dmo" / f"snap_{z_index:03d}.hdf5", Path(f"{stem}_mr{k}.zarr"), ("dm",))
                     for k in SUITE["mr_factors"]]
            missing = [str(t[0]) for t in twins if not t[0].exists()]
            if missing:
                print(f"maps: {name} skipped: its twins' snapshots {', '.join(missing)} are not there yet (run "
                      f"tools/make_sim_suite.py {out} --only {name})", file=sys.stderr)
                continue
            jobs += twins
        for src, store, fields in jobs:
            sha = files_sha256(src)
            if not _complete(store, sha):
                print(f"maps: depositing {src} -> {store}", file=sys.stderr, flush=True)
                deposit_snapshot(src, store, fields=fields, **common)
        if name != "app":
            per_split.setdefault(split_of(kw["seed"]), []).append((kw["seed"], stem))
    # every split, and train_all: every training box (train + train_extra), what a recipe with
    # train_split="train_all" learns from (tools/train_shipped_models.py)
    per_split["train_all"] = per_split.get("train", []) + per_split.get("train_extra", [])
    seeds = SUITE["seeds"]
    for split, members in per_split.items():
        wanted = seeds["train"] + seeds["train_extra"] if split == "train_all" else seeds[split]
        missing = sorted(set(wanted) - {s for s, _ in members})
        if missing:  # a split store without some of its boxes would change the training data silently
            print(f"maps: {split}_z{z_index}* not stacked: seeds {missing} of the recipe are not deposited yet",
                  file=sys.stderr)
            continue
        for suffix in ("", *(f"_mr{k}" for k in SUITE["mr_factors"])):
            _stack([Path(f"{stem}{suffix}.zarr") for _, stem in sorted(members)], [s for s, _ in sorted(members)],
                   maps / f"{split}_z{z_index}{suffix}.zarr")


def _stack(stores, seeds, target):
    """Concatenate box stores along ``slab`` (slab index renumbered; seeds and sources in attrs)."""
    import numpy as np
    import xarray as xr

    parts = [xr.open_zarr(s, consolidated=False) for s in stores]
    sources = [p.attrs.get("source_sha256") for p in parts]
    if _complete(target):
        done = xr.open_zarr(str(target), consolidated=False).attrs
        if done.get("seeds") == list(seeds) and done.get("source_sha256s") == sources:
            return
    ds = xr.concat(parts, dim="slab", combine_attrs="override")
    ds = ds.assign_coords(slab=np.arange(ds.sizes["slab"]))
    ds.attrs.update(seeds=list(seeds), boxes=[str(s) for s in stores], source_sha256s=sources,
                    slab_box_seed=[int(s) for s in seeds for _ in range(parts[0].sizes["slab"])])
    for v in ds.data_vars.values():
        v.encoding.pop("chunks", None)
        v.encoding.pop("preferred_chunks", None)
    ds.attrs.pop("complete", None)  # set only once every chunk is written
    tmp, old = target.with_name(target.name + ".tmp"), target.with_name(target.name + ".old")
    for p in (tmp, old):
        if p.exists():
            shutil.rmtree(p)
    ds.to_zarr(tmp, mode="w", consolidated=False)
    import zarr

    zarr.open_group(str(tmp), mode="r+").attrs["complete"] = True
    # swapped in by renames: a trainer reading the previous store never sees a half-written one
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    if old.exists():
        shutil.rmtree(old)
    print(f"maps: {target} <- seeds {list(seeds)}", file=sys.stderr)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--only", nargs="*", help="names of boxes to run, in this order (box_s<seed>, app)")
    p.add_argument("--nice", type=int, default=10)
    p.add_argument("--until", choices=["runs"], help="stop after the Gadget-2 runs of each box")
    p.add_argument("--maps", action="store_true", help="only deposit the finished boxes into maps (no runs)")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.maps:
        refresh_suite_hi(out)
        for k in range(len(SUITE["redshifts"])):
            make_maps(out, k)
        return 0
    todo = dict(boxes())
    unknown = sorted(set(args.only or ()) - set(todo))
    if unknown:
        p.error(f"--only: no box named {', '.join(unknown)} (the recipe's boxes: {', '.join(todo)})")
    for name in args.only or todo:  # in the order given
        kw = todo[name]
        t0 = time.perf_counter()
        folder = out / name
        sim = folder / "simulation.json"
        done_before = sim.exists() and json.loads(sim.read_text()).get("complete")
        log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
        simulate(folder, resume=folder.exists(), nice=args.nice, max_hours=3.0, until=args.until, log=log, **kw)
        wall = round(time.perf_counter() - t0, 1)  # the box alone; its twins record their own timings
        if name != "app":  # the MR inputs: dark-matter-only twins with the box's phases (seconds each)
            for k in SUITE["mr_factors"]:
                twin = twin_dir(out, name, k)
                simulate(twin, n=twin_n(k), box_size=kw["box_size"], redshifts=kw["redshifts"], seed=kw["seed"],
                         parent_n=kw["n"], dm_only=True, resume=twin.exists(), nice=args.nice, until=args.until,
                         log=log)
        # a box finished before this command keeps its recorded (or created -> finished) wall time
        write_summary(out, None if done_before else {name: wall})
    return 0


if __name__ == "__main__":
    sys.exit(main())
