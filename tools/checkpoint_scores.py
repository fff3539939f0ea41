# SPDX-License-Identifier: BSD-3-Clause
"""Each kept checkpoint's score of one or more training runs, per term: a table (markdown) and a figure.

Reads ``<work>/checkpoints/ckpt-*.json`` of each run (``ember-dist train``'s work directory, ``OUT.work``):
the score each checkpoint was given and, where the run scored with ``--score-metric evaluation``, its terms
(mass, P(k), B_eq, PDF, CDDF errors; ``score_terms``).  The figure draws the total and every term against the
step, one colour per run, the exported (best) checkpoint of each run circled.

Usage::

    python tools/checkpoint_scores.py W/models/run-a.work W/models/run-b.work --out scores.png
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ember_dist.train.eval_table import SCORE_COLUMNS

#: short labels of the validation score's terms (SCORE_COLUMNS, which orders them)
SHORT = {"total mass error (median)": "mass", "mean abs P(k) error, k <= k_Nyq/2": "P(k)",
         "mean abs B_eq error, k <= k_Nyq/2": "B_eq", "max abs PDF error, 1-99%": "PDF",
         "mean abs CDDF error": "CDDF"}


def read_run(work):
    """``(rows, best step)``: one dict per checkpoint (step, score, and its terms where recorded), by step."""
    ck = Path(work) / "checkpoints"
    if not ck.is_dir():
        raise FileNotFoundError(f"{str(work)!r} has no checkpoints/ folder; pass a training work directory "
                                "(the bundle's OUT.work).")
    rows = []
    for js in sorted(ck.glob("ckpt-*.json")):
        s = json.loads(js.read_text())
        rows.append({"step": int(s["step"]), "score": s.get("score"), **(s.get("score_terms") or {})})
    best = (ck / "best").read_text().strip() if (ck / "best").is_file() else None
    best_step = int(best.split("-")[-1]) if best else None
    return sorted(rows, key=lambda r: r["step"]), best_step


def markdown(runs):
    """One table per run: step, score and its terms (percent), the best checkpoint marked."""
    out = []
    for name, (rows, best) in runs.items():
        terms = [c for c in SCORE_COLUMNS if any(c in r for r in rows)]
        out += [f"**{name}** (exported: step {best})", "",
                "| step | score | " + " | ".join(SHORT.get(c, c) for c in terms) + " |",
                "|---" * (2 + len(terms)) + "|"]
        for r in rows:
            mark = " *" if r["step"] == best else ""
            cells = [f"{100 * r[c]:{'+' if c.startswith('total mass') else ''}.1f}%" if r.get(c) is not None else ""
                     for c in terms]  # the mass error signed, the others are |errors|
            out.append(f"| {r['step']}{mark} | {r['score']:.3f} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def figure(runs, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    terms = [c for c in SCORE_COLUMNS if any(c in r for rows, _ in runs.values() for r in rows)]
    fig, axes = plt.subplots(1, 1 + len(terms), figsize=(3.2 * (1 + len(terms)), 3.2), squeeze=False)
    for i, (name, (rows, best)) in enumerate(runs.items()):
        colour = f"C{i}"
        for ax, key in zip(axes[0], ["score"] + terms):
            pts = [(r["step"], abs(r[key])) for r in rows if r.get(key) is not None]
            if not pts:
                continue
            ax.plot(*zip(*pts), "-o", ms=3, color=colour, label=name if key == "score" else None)
            ax.plot([s for s, _ in pts if s == best], [v for s, v in pts if s == best], "o", ms=10, mfc="none",
                    color=colour)
    for ax, key in zip(axes[0], ["score"] + terms):
        ax.set_title("checkpoint score" if key == "score" else f"|{SHORT.get(key, key)} error|", fontsize=10)
        ax.set_xlabel("step")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("each checkpoint's score on the validation maps (circled: exported)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("work", nargs="+", help="training work directories (OUT.work)")
    ap.add_argument("--out", default=None, help="figure (PNG); the table goes next to it as .md, and to stdout")
    a = ap.parse_args(argv)
    runs = {Path(w).name.removesuffix(".work"): read_run(w) for w in a.work}
    text = markdown(runs)
    print(text)
    if a.out:
        figure(runs, a.out)
        Path(a.out).with_suffix(".md").write_text(text + "\n")
        print(f"wrote {a.out} and {Path(a.out).with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
