"""Run the physical simulation suite (ember_dist.sim.recipe): paired Gadget-2 boxes for every
seed, then the dark-matter-only application box.  Resumable: rerun the same command after a stop.

    python tools/make_sim_suite.py sim_suite            # every box, test seed early
    python tools/make_sim_suite.py sim_suite --only box_s0 app

Writes OUT/box_s<seed>/ (ember-dist simulate layout) and OUT/app/, and OUT/suite.json.
"""
import argparse
import json
import sys
import time
from pathlib import Path

from ember_dist.sim.recipe import APPLICATION, SUITE, split_of
from ember_dist.sim.suite import simulate


def boxes():
    seeds = SUITE["seeds"]
    order = [seeds["train"][0], *seeds["test"], *seeds["train"][1:], *seeds["validation"]]
    for s in order:
        yield f"box_s{s}", dict(n=SUITE["n"], box_size=SUITE["box_size"], redshifts=SUITE["redshifts"], seed=s)
    app = dict(APPLICATION)
    yield "app", dict(n=app["n"], box_size=app["box_size"], redshifts=app["redshifts"], seed=app["seed"],
                      dm_only=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--only", nargs="*", help="names of boxes to run (box_s<seed>, app)")
    p.add_argument("--nice", type=int, default=10)
    p.add_argument("--until", choices=["runs"], help="stop after the Gadget-2 runs of each box")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"recipe": {"suite": {**SUITE, "seeds": {k: list(v) for k, v in SUITE["seeds"].items()}},
                          "application": APPLICATION}, "boxes": {}}
    for name, kw in boxes():
        if args.only and name not in args.only:
            continue
        t0 = time.perf_counter()
        folder = out / name
        meta = simulate(folder, resume=folder.exists(), nice=args.nice, max_hours=3.0, until=args.until,
                        log=lambda m: print(m, file=sys.stderr, flush=True), **kw)
        summary["boxes"][name] = {"split": "application" if name == "app" else split_of(kw["seed"]),
                                  "wall_s": round(time.perf_counter() - t0, 1), "timings": meta.get("timings")}
        (out / "suite.json").write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
