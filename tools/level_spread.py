# SPDX-License-Identifier: BSD-3-Clause
"""How much the noise of some decoder levels alone moves a WGAN's output, per k range.

    python tools/level_spread.py suite-gas-wgan WORK/models/suite-gas-wgan-floor --levels 0 1 --scales 1 40 --out DIR

For each model and scale s: every other level's strengths at 0, those of ``--levels`` x s, two realisations of the
first ``--n-maps`` maps; ``P(a - b) / (2 P_true)`` per k range in k_Nyquist
(``ember_dist.train.calibration.level_spread``). It tells a network that filters a level's noise out (~0 however
strong the strengths) from one that passes it on; and where in k it lands (docs/evaluation/suite, thirteenth
session: trained with its fine strengths held up, the gas WGAN moved that noise above 3/4 k_Nyq). Writes
``DIR/level-spread.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="WGAN bundle names or paths")
    ap.add_argument("--maps", default=str(ROOT / "sim_suite" / "maps" / "validation_z1.zarr"))
    ap.add_argument("--axes", nargs="+", default=["x"])
    ap.add_argument("--levels", nargs="+", type=int, required=True, help="decoder levels whose noise varies")
    ap.add_argument("--scales", nargs="+", type=float, default=[1.0])
    ap.add_argument("--n-maps", type=int, default=3)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    if not Path(args.maps).exists():
        ap.error(f"--maps {args.maps} does not exist; run `python tools/make_sim_suite.py sim_suite --maps` first")
    from ember_dist.train.calibration import level_spread

    rows = []
    for m in args.models:
        for s in args.scales:
            try:
                r = level_spread(m, args.maps, args.levels, s, tuple(args.axes), args.n_maps)
            except ValueError as e:
                raise SystemExit(f"{m}: {e}") from None
            rows.append({"model": m, **r})
            print(f"{m} x{s:g}: " + ", ".join(f"{k} k_Nyq {v:.3g}" for k, v in r["ranges"].items()), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "level-spread.json").write_text(json.dumps({"maps": args.maps, "axes": args.axes, "rows": rows},
                                                      indent=1) + "\n")
    print(f"wrote {out / 'level-spread.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
