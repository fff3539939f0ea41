# SPDX-License-Identifier: BSD-3-Clause
"""What makes a trained bundle a shipped default (``tools/train_shipped_models.py`` calls these): the validation
score and the rule that picks one default per field and input from it, scoring the shipped bundles again from
their recorded validation tables, adopting a trial run under a recipe's name, and copying bundles into the
package."""
from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

from ember_dist.train.eval_table import SCORE_COLUMNS, SCORE_DEFINITION, table_score  # noqa: E402,F401

ROOT = Path(__file__).resolve().parent.parent

#: the validation boxes' sum that chooses the defaults (the U-Net on a tie within ``TIE``, relative): defined with
#: the evaluation table (ember_dist.train.eval_table.SCORE_COLUMNS), where a run's checkpoints can be chosen by it too.
TIE = 0.02
#: where a shipped suite bundle's misses and the levers tried against them are written down (issue 18: "ship the
#: best and write the measured numbers and what was tried in bench/README.md and the bundle metadata")
WHAT_WAS_TRIED = ("bench/README.md, section 'Issue 18: where the targets stand, and what was tried' (every lever "
                  "with its result); docs/evaluation/suite/README.md (each trial's tables and figures)")


default_score = table_score  # the validation score of one evaluation table row (the sum of |SCORE_COLUMNS|)


def box_scores(per_box):
    """``{box seed: score}`` from one model's per-box table rows (``report.json``'s ``per_box``)."""
    return {str(s): default_score(r) for s, r in per_box.items()}


def paired_difference(a, b):
    """``(mean, standard error, boxes where a < b, boxes)`` of ``a[s] - b[s]`` over the boxes both score
    (``{box: score}``); a difference within ~2 standard errors is within the choice of boxes.

    >>> a, b = {"4": 0.30, "10": 0.50, "11": 0.40}, {"4": 0.35, "10": 0.52, "11": 0.39}
    >>> mean, se, better, boxes = paired_difference(a, b)
    >>> print(f"{mean:+.3f} +- {se:.4f}, lower on {better} of {boxes}")
    -0.020 +- 0.0173, lower on 2 of 3
    """
    import numpy as np

    common = sorted(set(a) & set(b))
    d = np.array([a[s] - b[s] for s in common], float)
    if d.size == 0:
        return float("nan"), float("nan"), 0, 0
    se = float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else float("nan")
    return float(d.mean()), se, int((d < 0).sum()), int(d.size)


def choose_defaults(scores, recipes):
    """``{(field, input): name}``: per field and input the lowest of ``scores`` ({name: score}), the U-Net on a
    ``TIE`` (2%: the U-Net is deterministic, cheaper and has no adversarial failure modes)."""
    groups = {}
    for n in scores:
        groups.setdefault((recipes[n]["field"], recipes[n]["input"]), []).append(n)
    out = {}
    for key, group in groups.items():
        unet = next((n for n in group if recipes[n]["kind"] == "unet"), None)
        best = min(group, key=scores.get)
        out[key] = unet if unet is not None and scores[unet] <= scores[best] * (1 + TIE) else best
    return out


def print_defaults(scores, recipes, by_box=None):
    """Print each (field, input)'s default and every model's score; with ``by_box`` ({name: {box: score}}) each
    model's score per box and its paired difference from the default (mean +- standard error over boxes)."""
    for (field, inp), best in choose_defaults(scores, recipes).items():
        group = [n for n in scores if (recipes[n]["field"], recipes[n]["input"]) == (field, inp)]
        print(f"default {field} {inp}: {best} ({', '.join(f'{n} {scores[n]:.3f}' for n in group)})", flush=True)
        for n in group if by_box and by_box.get(best) else ():
            per = ", ".join(f"s{s} {v:.3f}" for s, v in sorted(by_box.get(n, {}).items(), key=lambda kv: int(kv[0])))
            line = f"  {n} per box: {per}"
            if n != best and by_box.get(n):
                mean, se, better, boxes = paired_difference(by_box[n], by_box[best])
                line += f"; minus {best}: {mean:+.3f} +- {se:.3f} (lower on {better} of {boxes} boxes)"
            print(line, flush=True)


def record_validation(bundle, row, box, per_box=None):
    """Record a bundle's validation table ``row`` (and its ``per_box`` rows' scores) and return its score."""
    from ember_dist.model.bundle import update_meta

    score = default_score(row)
    v = {"box": box, "default_score": score, "default_score_definition": SCORE_DEFINITION, "table": row}
    if per_box:  # the rows too, so that --rescore can score each box again
        v.update(per_box=per_box, per_box_scores=box_scores(per_box))
    update_meta(bundle, validation=v)
    return score


def rescore(folder, recipes):
    """Score again every suite bundle in ``folder`` from the validation table its metadata records (no model
    runs), under the current ``SCORE_DEFINITION``; rewrite its ``validation`` metadata and print the defaults.
    Returns ``{name: score}``."""
    from ember_dist.model.bundle import load_model

    scores, by_box = {}, {}
    for path in sorted(Path(folder).glob("*/bundle.json")):
        b = load_model(path.parent)
        v = b.meta.get("validation")
        if not v or b.name not in recipes:
            continue
        before = v["default_score"]
        scores[b.name] = record_validation(b, v["table"], v["box"], v.get("per_box"))
        by_box[b.name] = box_scores(v.get("per_box") or {})
        print(f"{b.name}: {before:.3f} -> {scores[b.name]:.3f}", flush=True)
    print_defaults(scores, recipes, by_box)
    return scores


def note_what_was_tried(bundle):
    """Point a bundle's recorded held-out evaluation at where its misses and the levers tried are written
    (``evaluation.what_was_tried``); a bundle without an evaluation or without a miss is left as it is.
    Returns whether it was changed."""
    from ember_dist.model.bundle import load_model, update_meta

    ev = load_model(bundle).meta.get("evaluation") or {}
    if not (ev.get("table") or {}).get("targets missed") or ev.get("what_was_tried") == WHAT_WAS_TRIED:
        return False
    update_meta(bundle, evaluation={**ev, "what_was_tried": WHAT_WAS_TRIED})
    return True


def ship(names, work):
    for n in names:
        src = work / "models" / n
        dst = ROOT / "ember_dist" / "bundles" / n
        if dst.exists():
            shutil.rmtree(dst)
        dst.mkdir(parents=True)
        for f in ("bundle.json", "bundle.json.sha256", "generator.weights.h5"):
            shutil.copy2(src / f, dst / f)
        note_what_was_tried(dst)
        print(f"shipped {dst}", flush=True)


def adopt(trial, name, work, note=""):
    """Make the trained trial bundle ``work/models/<trial>`` the bundle ``work/models/<name>`` (the recipe ``name``
    now describes the trial's training): the same weights; the name, the training command and recipe line and
    the evaluation tables' model column renamed; ``training.trained_as`` records the trial (and ``note``). Then
    ``--ship --only <name>``. Refuses to overwrite an existing ``<name>``."""
    from ember_dist.model.bundle import load_model, update_meta

    src, dst = work / "models" / trial, work / "models" / name
    b = load_model(src)  # a complete, checksummed bundle, or a BundleError naming what is wrong
    if dst.exists():
        raise SystemExit(f"--adopt: {dst} exists; move it aside first (nothing is overwritten)")
    if b.name != trial:
        raise SystemExit(f"--adopt: {src} is the bundle {b.name!r}, not {trial!r}")
    meta = json.loads(json.dumps(b.meta))
    t = meta["training"]
    if "command" not in t:  # describe() writes it with the recorded test evaluation; check before copying
        raise SystemExit(f"--adopt: {src} records no training command (trained with --no-eval); run its recorded "
                         f"evaluation first (`--only {trial}` without --no-eval), then adopt it")
    t["command"] = re.sub(rf"(--out \S*/|--name ){re.escape(trial)}(?=\s|$)", rf"\g<1>{name}", t["command"])
    t["recipe"] = re.sub(rf"--only {re.escape(trial)}(?=\s|$)", f"--only {name}", t.get("recipe", ""))
    t["trained_as"] = " ".join(filter(None, [t.get("trained_as"), f"{trial}: the trial recipe that became {name}'s, "
                                             f"adopted {time.strftime('%Y-%m-%d')}.", note]))
    shutil.copytree(src, dst)
    for key in ("evaluation", "validation"):
        rows = [meta.get(key, {}).get("table") or {}] + list((meta.get(key, {}).get("per_box") or {}).values())
        for row in rows:  # the table and its per-box rows
            if row.get("model") == trial:
                row["model"] = name
    if meta.get("evaluation", {}).get("model") == trial:
        meta["evaluation"]["model"] = name
    update_meta(dst, **{k: meta[k] for k in ("training", "evaluation", "validation") if k in meta}, name=name)
    print(f"adopted {src} as {dst}", flush=True)
    return dst
