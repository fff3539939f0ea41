# SPDX-License-Identifier: BSD-3-Clause
"""A WGAN's noise strengths multiplied by s at inference: the evaluation's numbers and the band diagnosis per s.

    python tools/noise_scale.py suite-gas-wgan --scales 1 20 40 --levels 0 1 --out DIR          # validation boxes
    python tools/noise_scale.py suite-gas-wgan --maps sim_suite/maps/test_z1.zarr --scales 1 40 --levels 0 1 --out DIR

An experiment, not an option of the product: it asks whether the noise a trained generator carries can paint the
power it misses (docs/evaluation/suite, twelfth session). Writes ``DIR/noise-scale.json``: per s, the report's mass,
P(k), band, B_eq, PDF (and CDDF) errors (``ember_dist.train.evaluate``) and ``ember_dist.train.calibration``'s
spread diagnosis, each for the same maps, realisations and seeds.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: the report's numbers kept per scale
KEYS = ("total_mass_frac_error_median", "power_mean_abs_frac_error_low", "power_max_abs_frac_error_low",
        "power_max_abs_frac_error_mid", "power_band_coverage", "bispectrum_mean_abs_frac_error",
        "pdf_max_abs_frac_error_1_99", "cddf_max_abs_frac_error_min10")


def run(model, maps, scales, levels=None, axes=("x", "y", "z"), realisations=8, seed=0):
    """``{str(s): {report numbers..., "spread": diagnosis}}`` of ``model`` with its noise strengths (at
    ``levels``, default all) x s."""
    from ember_dist.model.bundle import load_model
    from ember_dist.train import noise
    from ember_dist.train.calibration import spread_diagnosis
    from ember_dist.train.evaluate import evaluate_predictions, per_map_power, predict_held_out

    b = load_model(model)
    if not b.preset.noise:
        raise SystemExit(f"{b.name} has no noise (a U-Net): nothing to scale")
    net, out = b.build(), {}
    for s in scales:
        with noise.scaled(net, s, levels):
            _, truth, _, preds, attrs = predict_held_out(b.path, maps, axes=tuple(axes), realisations=realisations,
                                                         seed=seed, net=net)
        r = evaluate_predictions(b, truth, preds, attrs, maps, axes=tuple(axes), seed=seed)
        k, pt, pp, k_nyq = per_map_power(truth, preds, attrs)
        out[str(s)] = {**{key: r.get(key) for key in KEYS}, "spread": spread_diagnosis(k, pt, pp, k_nyq)}
        print(f"s = {s}: " + ", ".join(f"{key} {out[str(s)][key]}" for key in KEYS if r.get(key) is not None),
              flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="WGAN bundle name or path")
    ap.add_argument("--maps", default=str(ROOT / "sim_suite" / "maps" / "validation_z1.zarr"))
    ap.add_argument("--axes", nargs="+", default=["x", "y", "z"])
    ap.add_argument("--scales", nargs="+", type=float, required=True)
    ap.add_argument("--levels", nargs="+", type=int, default=None, help="decoder levels to scale (default: all)")
    ap.add_argument("--realisations", type=int, default=8)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    if not Path(args.maps).exists():
        ap.error(f"--maps {args.maps} does not exist; run `python tools/make_sim_suite.py sim_suite --maps` first")
    if args.realisations < 2:
        ap.error("--realisations must be >= 2 (a band needs a spread)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res = {"model": args.model, "maps": args.maps, "axes": args.axes, "levels": args.levels,
           "realisations": args.realisations,
           "scales": run(args.model, args.maps, args.scales, args.levels, args.axes, args.realisations)}
    (out / "noise-scale.json").write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {out / 'noise-scale.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
