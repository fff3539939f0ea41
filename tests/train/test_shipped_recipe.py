# SPDX-License-Identifier: BSD-3-Clause
"""tools/train_shipped_models.py's record of a bundle's training data when the suite grows."""
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.conftest import load_tool

ROOT = Path(__file__).resolve().parents[2]


def _tool():
    return load_tool("train_shipped_models")


def _store(path, seeds):
    xr.Dataset({"dm": (("slab", "y", "x"), np.ones((len(seeds), 2, 2)))}, attrs={"seeds": list(seeds)}).to_zarr(
        path, mode="w", consolidated=False)


def _suite(tmp_path, train_seeds):
    maps = tmp_path / "suite" / "maps"
    maps.mkdir(parents=True)
    _store(maps / "train_z1.zarr", train_seeds)
    _store(maps / "validation_z1.zarr", (4, 10, 11))
    _store(maps / "test_z1.zarr", (5, 12, 13))
    return tmp_path / "suite"


def _bundle(work, name, training):
    from ember_dist.model.bundle import load_model, update_meta

    dst = work / "models" / name
    shutil.copytree(ROOT / "ember_dist" / "bundles" / "suite-gas-unet", dst)
    b = load_model(dst)
    update_meta(b, training={**b.meta["training"], **training})
    return dst


def test_a_bundle_trained_on_fewer_boxes_keeps_its_training_record(tmp_path):
    """A four-box bundle judged again after the suite grew to eight training boxes must not be relabelled
    as trained on eight."""
    from ember_dist.model.bundle import load_model

    t = _tool()
    data = t.Data("suite", tmp_path / "work", _suite(tmp_path, (0, 1, 2, 3, 6, 7, 8, 9)))
    old = "Gadget-2 suite ... training seeds [0, 1, 2, 3], ...; checkpoint chosen on validation seed(s) [4]"
    path = _bundle(data.work, "suite-gas-unet", {"data": old})
    t.describe("suite-gas-unet", data)
    tr = load_model(path).meta["training"]
    assert tr["data"] == old and "training_seeds" not in tr


def test_a_bundle_of_the_training_store_is_described_with_what_chose_its_checkpoint(tmp_path):
    from ember_dist.model.bundle import load_model

    t = _tool()
    data = t.Data("suite", tmp_path / "work", _suite(tmp_path, (0, 1, 2, 3)))
    scored = "36 validation maps of 'V' (seeds [4, 10, 11])"
    path = _bundle(data.work, "suite-gas-unet", {"training_seeds": [0, 1, 2, 3], "checkpoint_scored_on": scored})
    t.describe("suite-gas-unet", data)
    tr = load_model(path).meta["training"]
    assert "training seeds [0, 1, 2, 3]" in tr["data"] and f"checkpoint chosen on {scored}" in tr["data"]
    assert "held out: seed(s) [5, 12, 13]" in tr["data"] and tr["training_seeds"] == [0, 1, 2, 3]
    assert tr["command"].startswith("ember-dist train --maps")


def test_a_warm_start_the_recipe_ships_nowhere_is_trained_first(tmp_path, monkeypatch):
    """suite-hi-wgan starts from suite-hi-unet-4000-13box, a U-Net trained only for it: training the WGAN alone must
    train that U-Net first, with its own step count, and hand its bundle to --init-from."""
    import ember_dist.cli

    t = _tool()
    data = t.Data("suite", tmp_path / "work", _suite(tmp_path, (0, 1, 2, 3)))
    runs = []

    def fake_train(args):  # the arguments only: real training runs in tests/train/test_loop.py
        out = Path(args[args.index("--out") + 1])
        runs.append((out.name, args))
        out.mkdir(parents=True)
        (out / "bundle.json").write_text("{}")
        return 0

    monkeypatch.setattr(ember_dist.cli, "main", fake_train)
    t.train("suite-hi-wgan", data)
    (u, ua), (w, wa) = runs
    assert (u, w) == ("suite-hi-unet-4000-13box", "suite-hi-wgan")
    assert ua[ua.index("--steps") + 1] == "4000" and ua[ua.index("--kind") + 1] == "unet"
    assert wa[wa.index("--init-from") + 1] == str(data.work / "models" / "suite-hi-unet-4000-13box")
    assert wa[wa.index("--power-weight") + 1] == "30.0" and wa[wa.index("--pdf-weight") + 1] == "300.0"
    t.train("suite-hi-wgan", data)  # both exist now: nothing runs again
    assert len(runs) == 2
    # a run without --only trains the warm start only through the WGAN: never validated or shipped on its own
    names = t.default_names(t.SUITE_RECIPES)
    assert "suite-hi-unet-4000-13box" not in names and {"suite-hi-unet", "suite-hi-wgan"} <= set(names)
    # one per field x input (HR, MR8, MR64) x kind; the warm start and the trials (run by name) are not in it
    assert len(names) == 2 * 3 * 2 and not any(t.SUITE_RECIPES[n].get("trial") for n in names)
    wide = t.train_args("suite-gas-wgan-wide", data)
    assert wide[wide.index("--preset") + 1] == "wide" and wide[wide.index("--steps") + 1] == "6000"
    assert wide[wide.index("--init-from") + 1] == str(data.work / "models" / "suite-gas-unet-wide")
    assert ua[ua.index("--preset") + 1] == "small" and "--score-bispectrum" not in wide
    beq = t.train_args("suite-gas-wgan-wide-beq", data)
    assert beq[beq.index("--score-bispectrum") + 1] == "1.0" and beq[beq.index("--preset") + 1] == "wide"


def test_every_recipe_is_a_valid_training_configuration():
    """Each recipe's options build a TrainConfig (its checks run before any data loads), so a recipe that
    `ember-dist train` would refuse (e.g. --score-bispectrum with --score-metric evaluation) fails here, not after a
    trial's warm start has run for an hour."""
    import dataclasses

    from ember_dist.train.config import TrainConfig

    t = _tool()
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for recipes in (t.RECIPES, t.SUITE_RECIPES):
        for name, r in recipes.items():
            assert set(r) - fields <= {"input", "train_split", "trial", "warm_start_only"}, name
            TrainConfig(**{k: v for k, v in r.items() if k in fields})


def test_a_recipe_on_every_training_box_reads_the_train_all_stores_and_records_their_seeds(tmp_path):
    """A recipe with train_split="train_all" learns from train + train_extra (its target and its MR input), is
    described with those seeds, and its warm start keeps the 13-box store; the others keep the train split."""
    from ember_dist.model.bundle import load_model

    t = _tool()
    suite = _suite(tmp_path, (0, 1, 2, 3))
    for suffix in ("", "_mr8"):
        _store(suite / "maps" / f"train_all_z1{suffix}.zarr", (0, 1, 2, 3, 28, 29))
    data = t.Data("suite", tmp_path / "work", suite)
    args = t.train_args("suite-gas-wgan-mr8-26box", data)
    assert args[args.index("--maps") + 1] == str(suite / "maps" / "train_all_z1.zarr")
    assert args[args.index("--input-maps") + 1] == str(suite / "maps" / "train_all_z1_mr8.zarr")
    warm = t.train_args(data.recipes["suite-gas-wgan-mr8-26box"]["init_from"], data)
    assert warm[warm.index("--maps") + 1] == str(suite / "maps" / "train_z1.zarr")
    assert warm[warm.index("--input-maps") + 1] == str(suite / "maps" / "train_z1_mr8.zarr")
    bright = t.train_args("suite-gas-wgan-mr8-13box-bright", data)
    assert bright[bright.index("--bright-tiles") + 1] == "0.25" and "--bright-tiles" not in warm
    assert args[args.index("--bright-tiles") + 1] == "0.25"  # the 26-box trial builds on the shipped recipe
    hr = t.train_args("suite-hi-wgan-26box", data)
    assert hr[hr.index("--maps") + 1] == str(suite / "maps" / "train_all_z1.zarr") and "--input-maps" not in hr
    gas = t.train_args("suite-gas-wgan-26box-bright", data)  # the wide gas WGAN: its warm start on the 26 boxes too
    gas_warm = t.train_args(data.recipes["suite-gas-wgan-26box-bright"]["init_from"], data)
    for a in (gas, gas_warm):
        assert a[a.index("--maps") + 1] == str(suite / "maps" / "train_all_z1.zarr") and a[a.index("--preset") + 1] == "wide"
    assert gas[gas.index("--bright-tiles") + 1] == "0.25" and gas[gas.index("--score-metric") + 1] == "evaluation"
    assert "--score-bispectrum" not in gas  # the evaluation score has B_eq already
    assert gas[gas.index("--init-from") + 1] == str(data.work / "models" / "suite-gas-unet-wide-26box")
    data.recipes = {**data.recipes, "suite-gas-unet": dict(data.recipes["suite-gas-unet"], train_split="train_all")}
    path = _bundle(data.work, "suite-gas-unet", {"training_seeds": [0, 1, 2, 3, 28, 29]})
    t.describe("suite-gas-unet", data)
    tr = load_model(path).meta["training"]
    assert "training seeds [0, 1, 2, 3, 28, 29]" in tr["data"] and tr["training_seeds"] == [0, 1, 2, 3, 28, 29]


def test_the_validation_score_counts_the_equilateral_bispectrum():
    """The defaults' score sums |mass|, mean |P(k)|, mean |B_eq|, max |PDF| over 1-99% (and mean |CDDF|) errors.
    Without B_eq the MR8 gas WGAN with the P(k) and PDF terms (2026-12-04; docs/evaluation/suite "Statistics
    terms") beat the shipped one, 0.444 vs 0.576, with 2.4x its bispectrum error."""
    from ember_dist.model.bundle import load_model

    t = _tool()
    lever = {"total mass error (median)": 0.004, "mean abs P(k) error, k <= k_Nyq/2": 0.232,
             "mean abs B_eq error, k <= k_Nyq/2": 1.19, "mean abs PDF error": 0.208, "mean abs CDDF error": "",
             "max abs PDF error, 1-99%": 0.153}
    assert t.default_score(lever) == pytest.approx(0.004 + 0.232 + 1.19 + 0.153)
    shipped = load_model("suite-gas-wgan-mr8").meta["validation"]
    row = shipped["table"]
    by_hand = sum(abs(row[c]) for c in ("total mass error (median)", "mean abs P(k) error, k <= k_Nyq/2",
                                        "mean abs B_eq error, k <= k_Nyq/2", "max abs PDF error, 1-99%"))
    # the eighth-session model: 1.374 on validation boxes 4, 10, 11, 1.328 on the six (4, 10, 11, 14-16); the one
    # trained with bright tiles that replaced it (2026-12-05, eighteenth session): 0.384 on the six; the same recipe on
    # 26 training boxes (2026-12-06, twentieth session): 0.363
    assert shipped["default_score"] == pytest.approx(by_hand) == pytest.approx(0.363, abs=1e-3)
    assert shipped["default_score_definition"] == t.SCORE_DEFINITION
    assert t.default_score(row) < t.default_score(lever)
    assert t.default_score({**lever, "mean abs B_eq error, k <= k_Nyq/2": ""}) < 0.576  # how it had won


def test_the_pdf_term_is_the_targets_range_not_a_far_tail_bin():
    """One PDF bin below the 1st percentile at 13x the truth's count (the wide gas WGAN on the validation boxes)
    is the mean-over-bins column's whole difference, and no longer the score's."""
    t = _tool()
    base = {"total mass error (median)": 0.01, "mean abs P(k) error, k <= k_Nyq/2": 0.034,
            "mean abs B_eq error, k <= k_Nyq/2": 0.242, "max abs PDF error, 1-99%": 0.091}
    tail = {**base, "mean abs PDF error": 0.727}
    assert t.default_score(tail) == t.default_score({**base, "mean abs PDF error": 0.05}) == pytest.approx(0.377)


def test_the_shipped_defaults_are_what_the_score_picks_from_their_records(tmp_path):
    """Each shipped suite bundle records its validation table and score; the score recomputed from the table is
    the recorded one (one definition), and the lowest per field and input (the U-Net on a 2% tie) is the
    default ``enrich_box`` takes for that input (DEFAULT_MODELS_BY_INPUT); ``--rescore`` changes nothing."""
    from ember_dist.model.bundle import DEFAULT_MODELS_BY_INPUT, load_model

    t = _tool()
    names = t.default_names(t.SUITE_RECIPES)
    metas = {n: load_model(n).meta["validation"] for n in names}
    scores = {n: t.default_score(v["table"]) for n, v in metas.items()}
    for n, v in metas.items():
        assert v["default_score"] == pytest.approx(scores[n]) and v["default_score_definition"] == t.SCORE_DEFINITION
    chosen = t.choose_defaults(scores, t.SUITE_RECIPES)
    factor = {"HR": 1, **{f"MR{k}": k for k in t.MR_FACTORS}}
    assert {(f, factor[i]): n for (f, i), n in chosen.items()} == {
        (f, k): n for k, by_field in DEFAULT_MODELS_BY_INPUT.items() for f, n in by_field.items()}
    copy = tmp_path / "bundles"
    for n in names:
        shutil.copytree(load_model(n).path, copy / n)
    assert t.rescore(copy, t.SUITE_RECIPES) == pytest.approx(scores)
    assert all((copy / n / "bundle.json").read_bytes() == (load_model(n).path / "bundle.json").read_bytes()
               for n in names)
    assert t.choose_defaults({"a-unet": 1.0, "a-wgan": 0.985}, {"a-unet": dict(field="gas", input="HR", kind="unet"),
                                                                "a-wgan": dict(field="gas", input="HR", kind="wgan")}
                             ) == {("gas", "HR"): "a-unet"}  # within 2%


def test_a_recipe_that_sets_the_papers_loss_weights_passes_them_to_train(tmp_path):
    t = _tool()
    data = t.Data("suite", tmp_path / "work", _suite(tmp_path, (0, 1, 2, 3)))
    args = t.train_args("suite-gas-wgan", data)
    assert "--alpha" not in args and "--gamma" not in args  # the shipped recipe keeps the paper's weights
    data.recipes = {**data.recipes, "suite-gas-wgan": dict(data.recipes["suite-gas-wgan"], alpha=1.0, beta=0.04)}
    args = t.train_args("suite-gas-wgan", data)
    assert args[args.index("--alpha") + 1] == "1.0" and args[args.index("--beta") + 1] == "0.04"
    assert "--gamma" not in args
    assert args[args.index("--seed") + 1] == "0"  # the common seed, unless a recipe names its own
    base, repeat = t.train_args("suite-hi-wgan", data), t.train_args("suite-hi-wgan-ema-s1", data)
    models = data.work / "models"
    assert len(repeat) == len(base) and [(x, y) for x, y in zip(base, repeat) if x != y] == [
        (str(models / "suite-hi-wgan"), str(models / "suite-hi-wgan-ema-s1")), ("suite-hi-wgan", "suite-hi-wgan-ema-s1"),
        ("0", "1")]  # the repeat differs in its name and seed only
    assert base[base.index("--ema-half-life") + 1] == "500" and base[base.index("--score-metric") + 1] == "evaluation"


def test_adopt_makes_a_trial_bundle_the_named_one_and_overwrites_nothing(tmp_path):
    """``--adopt TRIAL NAME``: the trial's weights under the recipe's name; the command, recipe line and the
    tables' model column say NAME, ``trained_as`` says TRIAL; a second adoption is refused."""
    from ember_dist.model.bundle import load_model, update_meta
    from ember_dist.model.testing import random_bundle

    t = _tool()
    work = tmp_path / "work"
    trial = random_bundle(work / "models" / "suite-gas-wgan-wide-beq", "tiny", "gas", seed=3)
    cmd = ("ember-dist train --field gas --out WORK/models/suite-gas-wgan-wide-beq --name suite-gas-wgan-wide-beq "
           "--init-from WORK/models/suite-gas-unet-wide")
    update_meta(trial, name="suite-gas-wgan-wide-beq",
                training={**trial.meta["training"], "command": cmd,
                          "recipe": "python tools/train_shipped_models.py --only suite-gas-wgan-wide-beq"},
                validation={"table": {"model": "suite-gas-wgan-wide-beq", "mean abs PDF error": 0.1},
                            "per_box": {"4": {"model": "suite-gas-wgan-wide-beq", "box": 4}}})
    assert t.main(["--data", "suite", "--work", str(work), "--adopt", "suite-gas-wgan-wide-beq", "suite-gas-wgan",
                   "--adopt-note", "Trained on 2 CPU cores."]) == 0
    b = load_model(work / "models" / "suite-gas-wgan")
    tr = b.meta["training"]
    assert b.name == "suite-gas-wgan" and b.meta["validation"]["table"]["model"] == "suite-gas-wgan"
    assert b.meta["validation"]["per_box"] == {"4": {"model": "suite-gas-wgan", "box": 4}}
    assert tr["command"] == ("ember-dist train --field gas --out WORK/models/suite-gas-wgan --name suite-gas-wgan "
                             "--init-from WORK/models/suite-gas-unet-wide")
    assert tr["recipe"].endswith("--only suite-gas-wgan")
    assert tr["trained_as"].startswith("suite-gas-wgan-wide-beq: the trial recipe that became suite-gas-wgan's")
    assert tr["trained_as"].endswith("Trained on 2 CPU cores.")
    assert (b.path / "generator.weights.h5").read_bytes() == (trial.path / "generator.weights.h5").read_bytes()
    assert load_model(trial.path).name == "suite-gas-wgan-wide-beq"  # the trial is left as it was
    with pytest.raises(SystemExit, match="exists; move it aside"):
        t.main(["--data", "suite", "--work", str(work), "--adopt", "suite-gas-wgan-wide-beq", "suite-gas-wgan"])


def test_adopt_refuses_a_trial_without_its_training_command_and_copies_nothing(tmp_path):
    """A trial trained with --no-eval has no recorded command yet (its recorded evaluation writes it): --adopt says
    so before it copies anything, so that no half-adopted bundle is left behind."""
    from ember_dist.model.bundle import update_meta
    from ember_dist.model.testing import random_bundle

    t = _tool()
    work = tmp_path / "work"
    update_meta(random_bundle(work / "models" / "suite-hi-wgan-mr8-13box", "tiny", "hi", seed=3),
                name="suite-hi-wgan-mr8-13box")
    with pytest.raises(SystemExit, match=r"records no training command .*--only suite-hi-wgan-mr8-13box"):
        t.main(["--data", "suite", "--work", str(work), "--adopt", "suite-hi-wgan-mr8-13box", "suite-hi-wgan-mr8"])
    assert not (work / "models" / "suite-hi-wgan-mr8").exists()


def test_a_bundle_that_misses_a_target_points_to_what_was_tried(tmp_path):
    """Shipping writes evaluation.what_was_tried into a bundle whose recorded evaluation misses a target (once), and
    leaves one that meets them all, or has no evaluation, as it is; the bundle stays valid (checksum rewritten)."""
    from ember_dist.model.bundle import load_model, update_meta
    from ember_dist.model.testing import random_bundle

    sb = load_tool("shipped_bundles")
    miss = random_bundle(tmp_path / "miss", "tiny", "gas", noise=False, seed=1)
    update_meta(miss.path, evaluation={"held_out": "seed 5", "table": {"targets missed": "P(k) band, B_eq"}})
    meets = random_bundle(tmp_path / "meets", "tiny", "gas", noise=False, seed=2)
    update_meta(meets.path, evaluation={"held_out": "seed 5", "table": {"targets missed": ""}})
    bare = random_bundle(tmp_path / "bare", "tiny", "gas", noise=False, seed=3)
    assert [sb.note_what_was_tried(b.path) for b in (miss, meets, bare)] == [True, False, False]
    assert sb.note_what_was_tried(miss.path) is False  # already there
    ev = load_model(miss.path).meta["evaluation"]
    assert ev["what_was_tried"] == sb.WHAT_WAS_TRIED and ev["table"]["targets missed"] == "P(k) band, B_eq"
    assert "what_was_tried" not in load_model(meets.path).meta["evaluation"]
    assert "Issue 18: where the targets stand" in (Path(__file__).parents[2] / "bench" / "README.md").read_text()


def test_validation_per_box_scores_and_the_paired_difference(tmp_path, capsys):
    """Each box's score from its own table row; a model's difference from the default per box, its mean and
    standard error over the boxes (the scatter that three boxes left unmeasured), recorded and rescored."""
    from ember_dist.model.bundle import load_model

    t = _tool()
    row = {"total mass error (median)": 0.01, "mean abs P(k) error, k <= k_Nyq/2": 0.03,
           "mean abs B_eq error, k <= k_Nyq/2": 0.2, "max abs PDF error, 1-99%": 0.06}
    per_box = {"4": row, "10": {**row, "mean abs B_eq error, k <= k_Nyq/2": 0.4}, "14": {**row, "model": "x"}}
    assert t.box_scores(per_box) == pytest.approx({"4": 0.3, "10": 0.5, "14": 0.3})
    mean, se, better, n = t.paired_difference({"4": 0.25, "10": 0.55, "14": 0.2, "99": 0.0}, t.box_scores(per_box))
    assert (mean, better, n) == (pytest.approx(-0.1 / 3), 2, 3)  # box 99 is not in both
    assert se == pytest.approx(np.std([-0.05, 0.05, -0.1], ddof=1) / np.sqrt(3))
    recipes = {"a-unet": dict(field="gas", input="HR", kind="unet"), "a-wgan": dict(field="gas", input="HR",
                                                                                    kind="wgan")}
    t.print_defaults({"a-unet": 0.5, "a-wgan": 0.4}, recipes,
                     {"a-wgan": {"4": 0.3, "10": 0.5}, "a-unet": {"4": 0.6, "10": 0.4}})
    out = capsys.readouterr().out.splitlines()
    assert out == ["default gas HR: a-wgan (a-unet 0.500, a-wgan 0.400)", "  a-unet per box: s4 0.600, s10 0.400; "
                   "minus a-wgan: +0.100 +- 0.200 (lower on 1 of 2 boxes)", "  a-wgan per box: s4 0.300, s10 0.500"]
    # recorded in the bundle with the rows, and scored again from them by --rescore
    b = _bundle(tmp_path / "work", "suite-gas-unet", {})
    assert t.record_validation(load_model(b), {**row, "model": "suite-gas-unet"}, "boxes", per_box) == \
        pytest.approx(0.3)
    v = load_model(b).meta["validation"]
    assert v["per_box"] == per_box and v["per_box_scores"] == pytest.approx({"4": 0.3, "10": 0.5, "14": 0.3})
    before = (b / "bundle.json").read_bytes()
    t.rescore(b.parent, t.SUITE_RECIPES)
    assert (b / "bundle.json").read_bytes() == before
    assert "suite-gas-unet per box: s4 0.300, s10 0.500, s14 0.300" in capsys.readouterr().out
