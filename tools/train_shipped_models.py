# SPDX-License-Identifier: BSD-3-Clause
"""Regenerate the shipped EMBER bundles: ``--data suite`` (the Gadget-2 suite, the defaults) or ``toy``.

    python tools/train_shipped_models.py --data suite --work /tmp/ember-suite   # suite maps, every model, evaluation
    python tools/train_shipped_models.py --data suite --work W --only suite-hi-unet suite-hi-wgan
    python tools/train_shipped_models.py --data suite --work W --validate       # + validation boxes: the defaults
    python tools/train_shipped_models.py --data suite --work W --ship           # then copy into ember_dist/bundles
    python tools/train_shipped_models.py --data suite --work W --rescore        # the shipped bundles' validation
                                                                                # scores again from their records
    python tools/train_shipped_models.py --data suite --work W --adopt suite-gas-wgan-wide suite-gas-wgan
                                                                                # a trial run becomes the recipe's
    python tools/train_shipped_models.py --work /tmp/ember-train                # the TOY bundles (tests, demo of
                                                                                # the machinery)

``--data suite`` reads the maps of ``tools/make_sim_suite.py SUITE --maps`` (default ``sim_suite``):
training on ``maps/train_z1.zarr`` (z = 2, every training seed, projections x, y and z), held out
``maps/test_z1.zarr`` (the test seeds, never used in training nor for a choice, all projections); MR8 models take
``*_mr8.zarr`` (each box's 20^3 dark-matter-only twin: 8x fewer particles, the box's phases; until
2026-12-03 1 particle in 8 of the hydro run kept, masses x8), MR64 models ``*_mr64.zarr`` (10^3 twins).  The steps below for the toy data:

Run it with ``nice -n 15`` on a shared machine.  Steps (each skipped when its output exists, so an
interrupted run continues; training resumes from its last checkpoint):

1. data: ``make_mock_suite(n=128, seed=0)`` (TOY: Zel'dovich dark matter, smoothed gas, self-shielding
   HI), deposited with ``deposit_snapshot`` on 256^2 maps (58.6 ckpc/h pixels), 8 slabs of
   1875 ckpc/h per axis, projections x, y, z: ``hr.zarr`` (dm, gas, hi); and the dark matter alone
   with one particle in 64 kept, masses scaled (``downsample=64, seed=1``): ``mr.zarr``;
2. training with ``ember-dist train`` (``RECIPES`` in ``tools/shipped_recipes.py``; x and y projections = 16 maps per field);
   the WGANs start from the trained U-Net of the same field and input (``--init-from``);
3. evaluation on the held-out z projection (8 maps; WGAN: 8 realisations) with
   ``ember-dist evaluate`` per field, written to ``<work>/eval-<field>/``; the measured errors are
   added to each bundle's ``evaluation`` metadata;
4. with ``--ship``: the bundles are copied to ``ember_dist/bundles/<name>``.

Times on the shared 2-core development CPU are recorded in each bundle's ``training`` metadata and
in bench/README.md (Training section).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from ember_dist.sim.recipe import twin_n

ROOT = Path(__file__).resolve().parent.parent
SUITE = dict(n=128, seed=0)
GRID, SLABS = 256, 8

# the recipes live beside this script (tools/ is a folder of scripts, not a package)
if str(ROOT / "tools") not in sys.path:
    sys.path.insert(0, str(ROOT / "tools"))
from shipped_bundles import (SCORE_DEFINITION, adopt, box_scores, choose_defaults, default_score,  # noqa: E402,F401
                             paired_difference, print_defaults, record_validation, rescore, ship)
from shipped_recipes import COMMON, MR_FACTORS, RECIPES, SUITE_RECIPES  # noqa: E402


class Data:
    """Where one data set's maps are: training store, held-out store, input stores per resolution."""

    def __init__(self, kind, work, suite=None):
        self.kind, self.work = kind, Path(work)
        if kind == "toy":
            self.recipes = RECIPES
            self.train = self.held_out = self.work / "hr.zarr"
            self.inputs = {"HR": self.work / "hr.zarr", "MR": self.work / "mr.zarr"}
            self.held_out_inputs = self.inputs
            self.validation, self.validation_inputs = None, {}
            self.train_axes, self.held_out_axes = ("x", "y"), ("z",)
            self.held_out_text = "z projection of the training suite (8 slabs), never seen in training"
        else:
            maps = self.maps = Path(suite) / "maps"
            self.recipes = SUITE_RECIPES
            self.train, self.held_out = maps / "train_z1.zarr", maps / "test_z1.zarr"
            self.inputs = self._inputs("train")
            self.held_out_inputs = self._inputs("test")
            # the validation seeds score the checkpoints (model selection); the test seeds only the final table
            self.validation = maps / "validation_z1.zarr"
            self.validation_inputs = self._inputs("validation")
            self.train_axes = self.held_out_axes = ("x", "y", "z")
            self.held_out_text = None  # filled from the store's seeds by data_text()

    def _inputs(self, split):
        """``{input: store}`` of a suite split at z = 2: ``HR`` its own maps, ``MR<k>`` its twins'."""
        maps = self.maps
        return {"HR": maps / f"{split}_z1.zarr", **{f"MR{k}": maps / f"{split}_z1_mr{k}.zarr" for k in MR_FACTORS}}

    def _training_inputs(self, recipe):
        """``{input: store}`` a recipe learns from: the ``train`` split's, or those of the split its ``train_split``
        names (``train_all``: ``train`` + ``train_extra``, tools/make_sim_suite.py)."""
        if self.kind == "toy" or recipe.get("train_split", "train") == "train":
            return self.inputs
        return self._inputs(recipe["train_split"])

    def train_store(self, recipe):
        """The store of a recipe's target maps."""
        return self._training_inputs(recipe)["HR"]

    def input_store(self, recipe):
        """The store of a recipe's input dark matter (the target's store for HR input)."""
        return self._training_inputs(recipe)[recipe["input"]]

    def train_seeds(self, recipe):
        """The seeds stacked in a recipe's training store (``None`` for the toy data)."""
        if self.kind == "toy":
            return None
        import xarray as xr

        return xr.open_zarr(str(self.train_store(recipe)), consolidated=False).attrs.get("seeds")

    def data_text(self, recipe, scored_on=None):
        """The training data of ``recipe``; ``scored_on``: what the exported checkpoint was chosen on (the
        bundle's ``checkpoint_scored_on``; default: the validation store now)."""
        if self.kind == "toy":
            return TOY_DATA_TEXT + ("; input: dark matter with 1 particle in 64 kept (masses x64)"
                                    if recipe["input"] == "MR" else "; input: full-resolution dark matter of the "
                                    "hydro run")
        import xarray as xr

        a = xr.open_zarr(str(self.train_store(recipe)), consolidated=False).attrs
        t = xr.open_zarr(str(self.held_out), consolidated=False).attrs
        v = xr.open_zarr(str(self.validation), consolidated=False).attrs
        chosen = scored_on or f"validation seed(s) {v.get('seeds')}"
        return (f"Gadget-2 suite (ember_dist.sim.recipe SUITE: 2x40^3 particles, 8000 ckpc/h, adiabatic SPH, "
                f"HI post-processed with Gamma_HI calibrated to the observed mean Lya flux) at z = 2, training seeds "
                f"{a.get('seeds')}, deposited on 256^2 maps of 31.25 ckpc/h, 4 slabs of 2000 ckpc/h per axis, "
                f"projections x, y, z; checkpoint chosen on {chosen}; held out: seed(s) {t.get('seeds')}"
                + (f"; input: {self._mr_text(recipe)}" if recipe["input"].startswith("MR")
                   else "; input: full-resolution dark matter of the hydro run"))

    def _mr_text(self, recipe):
        """What an MR input store holds: the boxes' dark-matter-only twins, or (older maps) a subsample."""
        import xarray as xr

        a = xr.open_zarr(str(self.input_store(recipe)), consolidated=False).attrs
        k = int(recipe["input"][2:])
        if int(a.get("downsample", 1)) > 1:
            return f"dark matter of the hydro run with 1 particle in {k} kept (masses x{k})"
        return (f"each box's {twin_n(k)}^3-particle dark-matter-only Gadget-2 twin (same phases, {k}x fewer "
                "particles: tools/make_sim_suite.py)")

    def validation_description(self):
        import xarray as xr

        seeds = xr.open_zarr(str(self.validation), consolidated=False).attrs.get("seeds")
        return (f"suite seed(s) {seeds} (validation split, never trained on: chooses the defaults; what chose the "
                "exported checkpoint is the training metadata's checkpoint_scored_on; not the reported held-out "
                "numbers), z = 2, projections x, y, z")

    def held_out_description(self):
        if self.held_out_text:
            return self.held_out_text
        import xarray as xr

        seeds = xr.open_zarr(str(self.held_out), consolidated=False).attrs.get("seeds")
        return f"suite seed(s) {seeds} (test split, never used in training), z = 2, projections x, y, z"


def make_data(work):
    from ember_dist.deposit.api import deposit_snapshot
    from ember_dist.mock import make_mock_suite

    suite = work / "suite"
    if not (suite / "mock_suite.json").is_file():
        make_mock_suite(suite, overwrite=True, **SUITE)
    box = json.loads((suite / "mock_suite.json").read_text())["box_size"]
    common = dict(pixel=box / GRID, slabs=SLABS, axes=("x", "y", "z"), align=16, overwrite=True)
    if not _complete(work / "hr.zarr"):
        deposit_snapshot(suite / "hydro", work / "hr.zarr", fields=("dm", "gas", "hi"), **common)
    if not _complete(work / "mr.zarr"):
        deposit_snapshot(suite / "hydro", work / "mr.zarr", fields=("dm",), downsample=64, seed=1, **common)


def _complete(store):
    from ember_dist.deposit.store import is_complete

    return is_complete(store)


def train_args(name, data, work=None):
    """The ``ember-dist train`` arguments of recipe ``name`` (``work`` replaces the work folder, for the record)."""
    from ember_dist.train.config import BATCH_TERMS

    r = data.recipes[name]
    w = Path(work) if work is not None else data.work
    a = ["train", "--maps", str(data.train_store(r)), "--field", r["field"], "--kind", r["kind"],
         "--steps", str(r["steps"]), "--lr", str(r["lr"]), "--end-lr-factor", str(r["end_lr_factor"]),
         "--checkpoint-every", str(r["checkpoint_every"]), "--out", str(w / "models" / name), "--name", name,
         "--axes", *data.train_axes, "--preset", r.get("preset", "small"), *COMMON]
    if r.get("seed") is not None:  # a recipe's own seed (a repeat of a recipe: the scatter of training itself)
        a[a.index("--seed") + 1] = str(r["seed"])
    if r["input"] != "HR":
        a += ["--input-maps", str(data.input_store(r))]
    if data.validation is not None:
        a += ["--val-maps", str(data.validation)]
        if r["input"] != "HR":
            a += ["--val-input-maps", str(data.validation_inputs[r["input"]])]
    if r["kind"] == "wgan":
        a += ["--critic-lr", str(r["critic_lr"]), "--n-critic", str(r["n_critic"]),
              "--noise-init", str(r["noise_init"]), "--critic-warmup", str(r["critic_warmup"])]
        if r.get("noise_per_channel"):
            a += ["--noise-per-channel"]
        if r.get("noise_modulated"):
            a += ["--noise-modulated"]
        if r.get("noise_lr"):
            a += ["--noise-lr", str(r["noise_lr"])]
        if r.get("noise_floor"):
            a += ["--noise-floor", *map(str, r["noise_floor"])]
        for key in ("perceptual_from_level", "critic_width", "perceptual_energy"):  # where a recipe sets them (defaults: the paper's)
            if r.get(key):
                a += ["--" + key.replace("_", "-"), str(r[key])]
    for key in BATCH_TERMS:  # terms beyond the paper's in the generator loss
        if r.get(key):
            a += ["--" + key.replace("_", "-"), str(r[key])]
    if r.get("keep_checkpoints"):  # every checkpoint kept, where a recipe is to be rescored afterwards
        a += ["--keep-checkpoints", str(r["keep_checkpoints"])]
    if r.get("bright_tiles"):  # tiles over the brightest pixels (halo cores), where a recipe asks for them
        a += ["--bright-tiles", str(r["bright_tiles"])]
    if r.get("ema_half_life"):  # the generator's weights averaged over steps, where a recipe asks for it
        a += ["--ema-half-life", str(r["ema_half_life"])]
    if r.get("score_metric"):  # checkpoints chosen by the validation score itself, where a recipe asks for it
        a += ["--score-metric", r["score_metric"]]
    if r.get("score_bispectrum"):  # B_eq in the checkpoint score, where a recipe asks for it
        a += ["--score-bispectrum", str(r["score_bispectrum"])]
    for key in ("alpha", "beta", "gamma"):  # the paper's loss weights (DSSIM, MSLE, adversarial), where a recipe sets them
        if r.get(key) is not None:
            a += ["--" + key, str(r[key])]
    if r.get("init_from"):
        a += ["--init-from", str(w / "models" / r["init_from"])]
    return a


def train(name, data):
    from ember_dist.cli import main

    if (data.work / "models" / name / "bundle.json").is_file():
        print(f"{name}: bundle exists, skipped", flush=True)
        return
    init = data.recipes[name].get("init_from")
    if init:  # the warm start first (e.g. suite-hi-unet-4000, which is trained only for suite-hi-wgan)
        train(init, data)
    args = train_args(name, data)
    print("ember-dist " + " ".join(args), flush=True)
    t0 = time.time()
    rc = main(args)
    if rc:
        raise SystemExit(f"{name}: ember-dist train exited with {rc}")
    print(f"{name}: {time.time() - t0:.0f} s wall", flush=True)


TOY_DATA_TEXT = (
    "TOY mock suite (ember_dist.mock.make_mock_suite n=128, seed=0, box 15000 ckpc/h, z=2: Zel'dovich dark "
    "matter, pressure-smoothed gas with a seeded random displacement, self-shielding HI recipe; not a "
    "hydrodynamical simulation), deposited on 256^2 maps (58.59 ckpc/h pixels), 8 slabs of 1875 ckpc/h per "
    "axis; trained on the x and y projections (16 maps), z held out")


def describe(name, data):
    """Record the data and the exact command in the bundle's training metadata."""
    from ember_dist.model.bundle import load_model, update_meta

    b = load_model(data.work / "models" / name)
    t = dict(b.meta["training"])
    # the input's particle mass (what input_resolution: auto compares), for bundles trained before it was recorded:
    # the suite's boxes all have the same particles, so the training store now answers for any of them
    dm = _input_dark_matter(data.input_store(data.recipes[name]))
    missing = {k: v for k, v in dm.items() if t.get(k) is None}
    t.update(missing)
    seeds = data.train_seeds(data.recipes[name])
    before = t.get("training_seeds")
    if before is None and t.get("data"):  # bundles written before training_seeds was recorded
        m = re.search(r"training seeds \[([0-9, ]*)\]", t["data"])
        before = [int(x) for x in m.group(1).split(",") if x.strip()] if m else None
    if before is not None and seeds is not None and list(before) != list(seeds):
        # trained on other boxes (e.g. before the suite grew): its record of them stays; only where it is
        # judged now (its validation and evaluation metadata) changes
        print(f"{name}: trained on seeds {before}, not the training store's {seeds}: training record kept", flush=True)
        if missing:
            update_meta(b, training=t)
        return
    scored_on = t.get("checkpoint_scored_on")
    if scored_on:  # the store's path from its sim_suite folder on, not this machine's
        scored_on = re.sub(r"'[^']*/(sim_suite/[^']*)'", r"'\1'", scored_on)
    t["data"] = data.data_text(data.recipes[name], scored_on)
    if seeds is not None:
        t["training_seeds"] = list(seeds)
    t["recipe"] = (f"python tools/train_shipped_models.py --data {data.kind}"
                   + (" --suite SUITE" if data.kind == "suite" else "") + f" --work WORK --only {name}")
    t["command"] = "ember-dist " + " ".join(train_args(name, data, Path("WORK")))
    update_meta(b, training=t)


def _input_dark_matter(store):
    """``dm_mass_fraction``, ``dm_source``, ``dm_particle_mass`` of a training input store (what enrichment's
    input rescaling and the pipeline's ``input_resolution: auto`` compare with), through
    :func:`ember_dist.deposit.resolution.store_dm_mass` (the store's attrs, or for stores deposited before
    deposits recorded them, the snapshot it was deposited from)."""
    import xarray as xr

    from ember_dist.deposit.resolution import store_dm_mass

    a = xr.open_zarr(str(store), consolidated=False).attrs
    m = store_dm_mass(a)
    if m is None:
        return {}
    # a dark-matter-only run's particles carry all of Omega_m; a hydro run's leave Omega_b to the gas
    return {**m.attrs(), "dm_source": a.get("dm_source", "hydro" if m.mass_fraction < 0.999 else "dark-matter-only")}


def _evaluate_per_field(names, data, maps, inputs, prefix, realisations, before=None):
    """``(field, out, group, rows)`` per field: ``names`` of that field evaluated on ``maps`` (their input from
    ``inputs[recipe input]``) into ``WORK/{prefix}-{field}``; ``before(name)`` runs first for each."""
    from ember_dist.train.evaluate import evaluate_models

    work = data.work
    for field in ("gas", "hi"):
        group = [n for n in names if data.recipes[n]["field"] == field and (work / "models" / n).is_dir()]
        if not group:
            continue
        for n in group:
            if before is not None:
                before(n)
        ins = [str(inputs[data.recipes[n]["input"]]) for n in group]
        out = work / f"{prefix}-{field}"
        rows = evaluate_models([str(work / "models" / n) for n in group], str(maps), out, input_maps=ins,
                               axes=data.held_out_axes, realisations=realisations, overwrite=True)
        yield field, out, group, rows


def evaluate(names, data, realisations=8):
    """Evaluate ``names`` per field on the held-out maps; store the errors in each bundle."""
    from ember_dist.model.bundle import load_model, update_meta

    work = data.work
    for field, out, group, rows in _evaluate_per_field(names, data, data.held_out, data.held_out_inputs, "eval",
                                                       realisations, before=lambda n: describe(n, data)):
        print((out / "table.md").read_text(), flush=True)
        doc = json.loads((out / "report.json").read_text())
        reps = {r["model"]: r for r in doc["models"]}
        for n, row in zip(group, rows):
            r = reps[n]
            ev = {"held_out": data.held_out_description(),
                  "realisations": r["realisations"], "table": row,
                  "power_k": r["power_k"], "power_frac_error_median": r["power_frac_error_median"]}
            if doc.get("per_box", {}).get(n):  # each test box's row too (the box-to-box scatter)
                ev["per_box"] = doc["per_box"][n]
            if "cddf_frac_error" in r:
                ev.update(cddf_N=r["cddf_N"], cddf_frac_error=r["cddf_frac_error"])
            update_meta(load_model(work / "models" / n), evaluation=ev)


def validate(names, data, realisations=8):
    """Evaluate ``names`` on the validation boxes (suite only), store each bundle's ``validation`` metadata with
    its default score, and print the default each (field, input) gets: the lowest score, the U-Net on a tie."""
    from ember_dist.model.bundle import load_model

    scores, by_box = {}, {}
    for _, out, group, rows in _evaluate_per_field(names, data, data.validation, data.validation_inputs, "val",
                                                   realisations):
        per_box = json.loads((out / "report.json").read_text()).get("per_box", {})
        for n, row in zip(group, rows):
            box = f"{data.validation_description()}, {row['maps x realisations']} maps x realisations"
            scores[n] = record_validation(load_model(data.work / "models" / n), row, box, per_box.get(n))
            by_box[n] = box_scores(per_box.get(n, {}))
    print_defaults(scores, data.recipes, by_box)


def default_names(recipes):
    """The models a run without --only trains, validates, evaluates and ships: all but the warm starts."""
    return [n for n, r in recipes.items() if not (r.get("warm_start_only") or r.get("trial"))]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True, help="work directory (data, checkpoints, bundles, reports)")
    ap.add_argument("--data", choices=["toy", "suite"], default="toy",
                    help="training data: the Gadget-2 suite's maps or the toy mock suite (default)")
    ap.add_argument("--suite", default=str(ROOT / "sim_suite"),
                    help="--data suite: the folder of tools/make_sim_suite.py (maps/ inside)")
    ap.add_argument("--only", nargs="+", default=None,
                    help="models to train (default all of --data but the warm starts trained only for a WGAN)")
    ap.add_argument("--no-eval", action="store_true")
    ap.add_argument("--validate", action="store_true",
                    help="--data suite: also evaluate on the validation boxes, record it, print the defaults")
    ap.add_argument("--realisations", type=int, default=8, help="WGAN realisations per held-out map")
    ap.add_argument("--ship", action="store_true", help="copy the bundles into ember_dist/bundles")
    ap.add_argument("--adopt", nargs=2, metavar=("TRIAL", "NAME"), default=None,
                    help="make the trained trial bundle WORK/models/TRIAL the bundle NAME (its recipe now the trial's); "
                         "nothing else")
    ap.add_argument("--adopt-note", default="", help="--adopt: a sentence for training.trained_as (where, how)")
    ap.add_argument("--rescore", nargs="?", const=str(ROOT / "ember_dist" / "bundles"), default=None, metavar="DIR",
                    help="--data suite: score every bundle in DIR (default: the shipped ones) again from its recorded "
                         "validation table under the current definition, record it, print the defaults; nothing else")
    args = ap.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    data = Data(args.data, work, args.suite)
    unknown = sorted(set(args.only or ()) - set(data.recipes))
    if unknown:
        ap.error(f"--only: no {args.data} recipe named {', '.join(unknown)} (choose from {', '.join(data.recipes)})")
    names = args.only or default_names(data.recipes)
    if (args.validate or args.rescore) and data.validation is None:  # before any training
        ap.error("--validate and --rescore need --data suite (the toy data has no validation boxes)")
    if args.rescore:
        rescore(args.rescore, data.recipes)
        return 0
    if args.adopt:
        missing = [n for n in args.adopt if n not in data.recipes]
        if missing:
            ap.error(f"--adopt: no {args.data} recipe named {', '.join(missing)}")
        adopt(*args.adopt, work, args.adopt_note)
        return 0
    if args.data == "toy":
        make_data(work)
    else:
        # the stores of the inputs these models (and their warm starts) read; all maps of the default list
        inputs, todo, stores = set(), list(names), [data.held_out, data.validation]
        while todo:
            r = data.recipes[todo.pop()]
            inputs.add(r["input"])
            stores += [data.train_store(r), data.input_store(r)]
            todo += [r["init_from"]] if r.get("init_from") else []
        for inp in sorted(inputs - {"HR"}):
            stores += [data.held_out_inputs[inp], data.validation_inputs[inp]]
        missing = sorted({str(p) for p in stores if not _complete(p)})
        if missing:
            ap.error(f"--data suite: maps missing or incomplete: {', '.join(missing)}; "
                     f"run `python tools/make_sim_suite.py {args.suite} --maps` first")
    for n in names:
        train(n, data)
    if args.validate:
        validate(names, data, args.realisations)
    if not args.no_eval:
        evaluate(names, data, args.realisations)
    if args.ship:
        ship(names, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
