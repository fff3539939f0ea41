# SPDX-License-Identifier: BSD-3-Clause
"""Why a WGAN misses the P(k) band target: per map and k bin, the truth's distance from the mean of the
realisations against their spread (``ember_dist.train.calibration``).

    python tools/band_diagnosis.py suite-gas-wgan suite-hi-wgan --out DIR            # validation boxes, z axis
    python tools/band_diagnosis.py MODEL --maps sim_suite/maps/test_z1.zarr --axes x y z --realisations 8 --out DIR
    python tools/band_diagnosis.py suite-gas-wgan-mr8 --input-maps sim_suite/maps/validation_z1_mr8.zarr --out DIR
    python tools/band_diagnosis.py MODEL --axes x y z --tiles 20 --out DIR    # + the loss's view, 20 batches of tiles

Writes ``DIR/diagnosis.json`` (per model and k range: band coverage, median |z|, the per-map error of the
realisations' mean, the error of its median over maps (what the evaluation's P(k) columns report), the
realisations' relative spread, the truth's scatter about their mean; and ``tracking_in_k_nyquist``, from
``ember_dist.train.calibration.map_tracking``: how much of the truth's map-to-map change of ln P the model's
per-map mean follows, and how much a straight line in the input's own dark-matter ln P explains) and
``DIR/spread.png`` (the first three per k bin, and below them the tracking per k bin).  A calibrated emulator has per-map error ~ spread and coverage ~ 0.68-0.71.  ``--tiles N`` adds, per model,
the same question on N batches of 64-px tiles as the loss's spread term sees it
(``ember_dist.train.calibration.tile_power_spread``).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def diagnose(model, maps, axes, realisations, seed=0, input_maps=None):
    """``(summary dict, k, curves)`` of one model on ``maps``."""
    from ember_dist.train.calibration import map_tracking, spread_curves, spread_diagnosis, tracking_curves
    from ember_dist.train.eval_stats import maps_power
    from ember_dist.train.evaluate import per_map_power, predict_held_out

    b, truth, dm, preds, attrs = predict_held_out(model, maps, input_maps=input_maps, axes=axes,
                                                     realisations=realisations, seed=seed)
    if preds.shape[1] < 2:
        raise SystemExit(f"{b.name} gives one prediction per map (a U-Net): no spread to diagnose")
    k, pt, pp, k_nyq = per_map_power(truth, preds, attrs)
    _, pd = maps_power(np.asarray(dm, np.float64), attrs)  # the input's, for the tracking
    tracked = len(pt) >= 3  # map-to-map statistics need a few maps
    summary = {"model": b.name, "maps": f"{maps} axes {list(axes)}" + (f", input {input_maps}" if input_maps else ""), "n_maps": int(pt.shape[0]),
               "realisations": int(pp.shape[1]), "k_nyquist_h_per_ckpc": k_nyq,
               "ranges_in_k_nyquist": spread_diagnosis(k, pt, pp, k_nyq),
               "tracking_in_k_nyquist": (map_tracking(k, pt, pp, pd, k_nyq) if tracked
                                         else "not computed: needs >= 3 maps")}
    curves = spread_curves(pt, pp)
    if tracked:
        curves["tracking"] = tracking_curves(pt, pp, pd)
    return summary, k / k_nyq, curves


def figure(results, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = 2 if all("tracking" in c for _, _, c in results) else 1
    fig, axs = plt.subplots(rows, len(results), figsize=(5.5 * len(results), 4.2 * rows), squeeze=False)
    for i, (summary, x, c) in enumerate(results):
        sel, ax = x <= 0.75, axs[0][i]
        ax.plot(x[sel], c["per_map_error"][sel], label="per-map |error| of the realisations' mean")
        ax.plot(x[sel], c["error_of_median"][sel], label="|median over maps of that error|")
        ax.plot(x[sel], c["realisation_spread"][sel], label="realisations' spread (std / mean)")
        ax.set_yscale("log")
        ax.set_xlabel("k / k_Nyquist")
        ax.set_title(f"{summary['model']} ({summary['n_maps']} maps x {summary['realisations']})", fontsize=9)
        ax.grid(alpha=0.3)
        if rows == 2:  # the map-to-map view: what the model follows, what the input's own power would
            t, ax = c["tracking"], axs[1][i]
            ax.plot(x[sel], t["model_r2"][sel], label="model: share of the truth's ln P variance over maps it follows")
            ax.plot(x[sel], t["dm_r2"][sel], label="a straight line in the input's own ln P_dm (r^2)")
            ax.plot(x[sel], t["model_slope"][sel], ls="-.", label="slope of ln <P_pred> on ln P_true over maps (1: follows)")
            ax.plot(x[sel], t["residual_log_scatter"][sel], ls="--", label="std of ln P_true - ln <P_pred> over maps")
            ax.plot(x[sel], t["realisation_log_spread"][sel], ls=":", label="realisations' std of ln P")
            ax.set_ylim(-0.2, 1.6)
            ax.set_xlabel("k / k_Nyquist")
            ax.grid(alpha=0.3)
    axs[0][0].set_ylabel("fraction of P_true (median over maps)")
    axs[0][0].legend(fontsize=7)
    if rows == 2:
        axs[1][0].set_ylabel("per k bin, over maps")
        axs[1][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="WGAN bundle names or paths")
    ap.add_argument("--maps", default=str(ROOT / "sim_suite" / "maps" / "validation_z1.zarr"))
    ap.add_argument("--input-maps", default=None, help="the dark matter the model reads, where it is not the maps' "
                    "own (an MR model: e.g. sim_suite/maps/validation_z1_mr8.zarr); the tracking then asks what that "
                    "input's power could tell")
    ap.add_argument("--axes", nargs="+", default=["z"])
    ap.add_argument("--realisations", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tiles", type=int, default=0, help="batches of 64-px tiles for the per-tile view (0: none)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    if args.realisations < 2:
        ap.error("--realisations must be >= 2 (a spread needs two)")
    if args.input_maps and not Path(args.input_maps).exists():
        ap.error(f"--input-maps {args.input_maps} does not exist; run `python tools/make_sim_suite.py sim_suite --maps`")
    if not Path(args.maps).exists():
        ap.error(f"--maps {args.maps} does not exist; run `python tools/make_sim_suite.py sim_suite --maps` first")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for m in args.models:
        results.append(diagnose(m, args.maps, tuple(args.axes), args.realisations, args.seed, args.input_maps))
        if args.tiles:
            from ember_dist.train.calibration import tile_power_spread

            results[-1][0]["tiles"] = tile_power_spread(m, args.maps, tuple(args.axes), batches=args.tiles)
        print(json.dumps(results[-1][0], indent=1), flush=True)
    (out / "diagnosis.json").write_text(json.dumps([r[0] for r in results], indent=1) + "\n")
    figure(results, out / "spread.png")
    print(f"wrote {out / 'diagnosis.json'} and {out / 'spread.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
