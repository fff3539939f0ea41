# SPDX-License-Identifier: BSD-3-Clause
"""The P(k) error of chosen models from an ``ember-dist evaluate`` report, on the targets' scale.

    python tools/power_error_figure.py WORK/eval-hi/report.json --models suite-hi-unet suite-hi-wgan --out hi.png

``power.png`` of the evaluation draws every model of the report on one axis, so that MR models' errors of x10^3
set its scale; this draws only the named ones, linear from -60% to +60%: the median over maps of each model's
error (``power_frac_error_median``), the min-max over its realisations' medians (a WGAN), the 10% and 20% bands of
the targets and the lines at k_Nyq/2 and 3/4 k_Nyq where they apply.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ember_dist.stats.plots import _plt, save_figure  # noqa: E402


def power_error_figure(report, models, labels=None, title=None, ylim=0.6):
    """The figure of ``models`` (names in ``report``, the dict of ``report.json``)."""
    plt = _plt()
    by_name = {m["model"]: m for m in report["models"]}
    missing = [n for n in models if n not in by_name]
    if missing:
        raise SystemExit(f"not in the report: {', '.join(missing)} (it has {', '.join(by_name)})")
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    ax.axhspan(-0.2, 0.2, color="grey", alpha=0.12, lw=0)
    ax.axhspan(-0.1, 0.1, color="grey", alpha=0.2, lw=0)
    ax.axhline(0, color="k", lw=0.8)
    k_nyq = None
    for name, label in zip(models, labels or models):
        m = by_name[name]
        k = np.asarray(m["power_k"], float) * 1e3  # h/Mpc
        k_nyq = float(m["k_nyquist"]) * 1e3
        line, = ax.plot(k, np.asarray(m["power_frac_error_median"], float), lw=1.5,
                        label=f"{label} ({m['n_maps']} maps x {m['realisations']})")
        per_real = np.asarray(m.get("power_frac_error_per_realisation") or [], float)
        if per_real.ndim == 2 and per_real.shape[0] > 1:
            ax.fill_between(k, per_real.min(axis=0), per_real.max(axis=0), color=line.get_color(), alpha=0.2, lw=0)
    for frac, text in ((0.5, "k_Nyq/2"), (0.75, "3/4 k_Nyq")):
        ax.axvline(frac * k_nyq, color="k", ls=":", lw=0.8)
        ax.text(frac * k_nyq, ylim * 0.92, f" {text}", fontsize=7, va="top")
    ax.set_xscale("log")
    ax.set_xlim(right=0.8 * k_nyq)
    ax.set_ylim(-ylim, ylim)
    ax.set_xlabel("k [h/Mpc]")
    ax.set_ylabel("P_pred / P_true - 1 (median over maps)")
    ax.set_title(title or "P(k) error on held-out maps (bands: 10% and 20% targets; shade: realisations' min-max)",
                 fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("report", help="report.json of ember-dist evaluate")
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--labels", nargs="+", default=None, help="legend text per model (default: the names)")
    ap.add_argument("--title", default=None)
    ap.add_argument("--out", required=True, help="PNG to write (refused if it exists)")
    args = ap.parse_args(argv)
    if args.labels and len(args.labels) != len(args.models):
        ap.error(f"--labels: {len(args.labels)} given for {len(args.models)} models")
    out = Path(args.out)
    if out.exists():
        ap.error(f"{out} exists; remove it or choose another --out (nothing is overwritten)")
    fig = power_error_figure(json.loads(Path(args.report).read_text()), args.models, args.labels, args.title)
    save_figure(fig, out)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
