# SPDX-License-Identifier: BSD-3-Clause
"""One PNG summary of a training run's diagnostics, from its work directory.

    python -m ember_dist.train.diagnostics WORK_DIR [--out FILE]

Reads ``<work>/metrics.csv`` and ``<work>/pk.csv`` (written by :class:`~ember_dist.train.loop.Trainer`)
and draws four panels: the critic's Wasserstein estimate over training; the noise strength per
level; the gradient norms of the perceptual and adversarial terms on the generator (all weights
and the noise strengths alone); and ``P_pred(k) / P_true(k)`` of the whole-map predictions at each
checkpoint.  Panels without data (e.g. a U-Net has no critic) say so.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

__all__ = ["read_metrics", "read_pk", "plot_diagnostics"]


def read_metrics(work):
    """``{column: float array}`` of ``<work>/metrics.csv`` (blank cells are ``nan``)."""
    path = Path(work) / "metrics.csv"
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    cols = rows[0].keys() if rows else []
    return {c: np.array([float(r[c]) if r.get(c) not in (None, "") else np.nan for r in rows]) for c in cols}


def read_pk(work):
    """``{step: (k, mean P_pred / P_true over the scored maps)}`` of ``<work>/pk.csv``."""
    path = Path(work) / "pk.csv"
    if not path.is_file():
        return {}
    acc = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            pt = float(r["power_true"])
            if pt > 0:
                acc.setdefault(int(r["step"]), {}).setdefault(float(r["k"]), []).append(float(r["power_pred"]) / pt)
    return {s: (np.array(sorted(d)), np.array([np.mean(d[k]) for k in sorted(d)])) for s, d in sorted(acc.items())}


def plot_diagnostics(work, out=None):
    """Draw the diagnostics of the run in ``work`` to ``out`` (default ``<work>/diagnostics.png``); returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    work = Path(work)
    out = Path(out) if out else work / "diagnostics.png"
    m, pk = read_metrics(work), read_pk(work)
    step = m.get("step", np.array([]))
    fig, ax = plt.subplots(2, 2, figsize=(10, 7))

    def empty(a, what):
        a.text(0.5, 0.5, f"no {what} logged", ha="center", va="center", transform=a.transAxes)

    a = ax[0, 0]
    if "wasserstein" in m:
        a.plot(step, m["wasserstein"], lw=1)
        a.set_ylabel("critic Wasserstein estimate")
    else:
        empty(a, "critic")
    a.set_title("critic: mean D(real) - mean D(fake)", fontsize=9)
    a = ax[0, 1]
    noise = sorted(c for c in m if c.startswith("noise_l"))
    for c in noise:
        a.plot(step, m[c], lw=1, label=c.replace("noise_", "level "))
    if noise:
        a.legend(fontsize=7)
        a.set_ylabel("strength (RMS over channels)")
    else:
        empty(a, "noise strength")
    a.set_title("injected noise strength per level", fontsize=9)
    a = ax[1, 0]
    grads = [c for c in ("grad_perceptual", "grad_adversarial", "grad_noise_perceptual", "grad_noise_adversarial")
             if c in m]
    for c in grads:
        v = m[c]
        a.plot(step, np.where(v > 0, v, np.nan), lw=1, ls="--" if "noise" in c else "-", label=c[5:])
    if grads and any(np.nanmax(np.where(m[c] > 0, m[c], np.nan), initial=0) > 0 for c in grads):
        a.set_yscale("log")
        a.legend(fontsize=7)
    else:
        empty(a, "gradient norm")
    a.set_title("generator gradient norms (adversarial includes gamma)", fontsize=9)
    for a in (ax[0, 0], ax[0, 1], ax[1, 0]):
        a.set_xlabel("step")
    a = ax[1, 1]
    finite = [np.isfinite(r) & (r > 0) for _, r in pk.values()]
    if pk and any(f.any() for f in finite):
        cmap = plt.get_cmap("viridis")
        steps = list(pk)
        for i, s in enumerate(steps):
            k, r = pk[s]
            r = np.where(np.isfinite(r) & (r > 0), r, np.nan)  # an empty prediction has no spectrum
            a.plot(k, r, color=cmap(i / max(1, len(steps) - 1)), lw=1, label=f"step {s}")
        a.axhline(1.0, color="k", lw=0.5)
        a.axhspan(0.9, 1.1, color="0.85", zorder=0)
        a.set_xscale("log")
        a.set_yscale("log")
        a.set_ylim(1e-3, 1e3)
        a.set_xlabel("k")
        a.legend(fontsize=6, ncol=2)
    else:
        empty(a, "P(k) of a non-empty prediction")
    a.set_title("P_pred(k) / P_true(k) of scored maps at checkpoints (band: 10%)", fontsize=9)
    fig.suptitle(f"training diagnostics: {work.name}", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("work", help="training work directory (holds metrics.csv)")
    ap.add_argument("--out", default=None, help="PNG to write (default: WORK/diagnostics.png)")
    args = ap.parse_args(argv)
    if not (Path(args.work) / "metrics.csv").is_file():
        raise SystemExit(f"{args.work!r} holds no metrics.csv; pass a training work directory (--work-dir of "
                         "`ember-dist train`, default OUT.work).")
    print(plot_diagnostics(args.work, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
