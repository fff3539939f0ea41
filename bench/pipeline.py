# SPDX-License-Identifier: BSD-3-Clause
"""Per-stage costs of the whole pipeline, the cost model's predictions, and a check of the model.

    python bench/pipeline.py --check --json bench/pipeline.json   # measure, predict, check (one run)
    python bench/pipeline.py --quick --json /tmp/p.json            # small preset
    python bench/pipeline.py --predict --rates bench/pipeline.json # the paper's case from recorded rates
    python bench/pipeline.py --only scheduler --rates bench/pipeline.json --json bench/pipeline.json
                                                                   # the scheduler anew, the other rates kept
    python bench/pipeline.py --only statistics --rates bench/pipeline.json --json bench/pipeline.json
                                                                   # the statistics anew (e.g. after a faster
                                                                   # estimator), the other rates kept

Measures on this machine, as CPU seconds of the process tree (this process's threads and its Dask
workers: they hold under a shared machine's load; wall seconds and the load average are printed beside):

* deposit (``pipeline_measure``): the first call of the process and the fixed cost per call and per task
  (16^3 particles, 1 against 8 slabs); smoothing lengths per particle; the kernel per evaluation and per
  particle as ``deposit_snapshot`` runs it (32^3 toy mock at the paper's mean particle spacing, 256^2 and
  512^2 px x 4 slabs) and alone on one thread; zeroing and adding a float64 map per Mpx (2048^2);
* statistics (``pipeline_measure``): P(k), pixel PDF, CDDF per Mpx and per map (4 x 512^2 and 1 x 2048^2
  maps), the first call of the process; the bispectrum per Mpx (512^2);
* enrich (``pipeline_enrich``): every split stage on two map sizes, each on a fresh 1-worker LocalCluster:
  CPU per paid multiply-add and per task, the stage model's build on a fresh worker, work outside the
  stages per call and per Mpx, peak RSS per stage;
* the scheduler (``pipeline_measure.measure_scheduler``: no-op graphs of 1e3, 1e4 and 1e5 tasks on the
  pipeline's LocalCluster and on the threaded scheduler; CPU s per task and peak RSS) and the network alone
  (one whole map), for the cluster and GPU predictions.

``--check`` then runs a small job end to end in a fresh process (``pipeline_check``), in the same run and
so at the same load, and prints its CPU seconds per phase against the model (exit status 1 when the total
misses by more than 25 %), with wall seconds beside them.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from ember_dist.engine import cost  # noqa: E402
from pipeline_common import cpu_model, load, make_bundle, preload, say  # noqa: E402


#: The scheduler's figures among the rates (``measure_scheduler``'s keys).
SCHED_RATES = ("sched_s_per_task", "sched_s_per_task_by_count", "sched_submit_s_per_task_by_count")


def _args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small preset (levels 1, 2, 3) instead of fiducial (3, 5, 6)")
    ap.add_argument("--json", default=None, help="write the measured rates, predictions and check here")
    ap.add_argument("--rates", default=None, help="use these recorded rates (a --json file) instead of measuring")
    ap.add_argument("--check", action="store_true", help="run a small job end to end against the model")
    ap.add_argument("--predict", action="store_true", help="only print the predictions of --rates")
    ap.add_argument("--sizes", default="2048,512", help="enrich map sides, px, comma-separated (default 2048,512)")
    ap.add_argument("--runs", type=int, default=2,
                    help="enrich calls per size, the first on a fresh worker (default 2)")
    ap.add_argument("--tasks", default="1000,10000,100000",
                    help="no-op graph sizes for the scheduler figures, comma-separated (default 1000,10000,100000)")
    ap.add_argument("--submit-tasks", default="1000,10000",
                    help="no-op tasks submitted one by one as an enrichment stage submits them, comma-separated "
                         "(default 1000,10000)")
    ap.add_argument("--only", choices=("scheduler", "statistics"), default=None,
                    help="measure only this and take every other rate from --rates (written with it to --json)")
    ap.add_argument("--network-px", type=int, default=1024, help="map side of the network-alone figure (default 1024)")
    args = ap.parse_args(argv)
    if args.predict and not args.rates:
        ap.error("--predict needs --rates FILE (a --json file of an earlier run)")
    if args.only and (not args.rates or args.predict or args.check):
        ap.error("--only needs --rates FILE (the other rates) and goes without --predict and --check")
    args.tasks = tuple(int(n) for n in str(args.tasks).split(","))
    args.submit_tasks = tuple(int(n) for n in str(args.submit_tasks).split(","))
    return args


def measure(args, tmp, cpu_name):
    """Every rate, in the order that keeps first calls first; the check right after the enrichment's."""
    from pipeline_check import run_check
    from pipeline_enrich import measure_enrich
    from pipeline_measure import measure_deposit, measure_network, measure_scheduler, measure_stats

    preset, levels = ("small", (1, 2, 3)) if args.quick else ("fiducial", (3, 5, 6))
    (tmp / "d").mkdir()
    dep, dep_info = measure_deposit(tmp / "d")
    st, st_info = measure_stats()
    bundle = make_bundle(tmp / "bundle", preset)
    (tmp / "e").mkdir()
    sizes = tuple(int(s) for s in args.sizes.split(","))
    en, en_info = measure_enrich(tmp / "e", bundle, preset, levels, sizes, n_runs=args.runs)
    rates = cost.Rates(cpu_model=cpu_name, cores=os.cpu_count(), **dep, **st, **en,
                       network_cpu_s_per_gmac=0.0, sched_s_per_task=0.0,
                       wall_per_cpu={"deposit": dep_info["wall_per_cpu"], "enrich": en_info["wall_per_cpu"],
                                     "stats": st_info["wall_per_cpu"]})
    out = {"enrich": en_info, "deposit": dep_info, "stats": st_info, "quick": args.quick}
    if args.check:  # next to the calibration (the scheduler and network figures do not enter the check)
        (tmp / "c").mkdir()
        out["check"] = run_check(rates, tmp / "c", bundle, preset, levels)
    out["scheduler"] = sched = measure_scheduler(args.tasks, args.submit_tasks)
    net = measure_network(bundle, levels, args.network_px)
    out["rates"] = dataclasses.replace(rates, network_cpu_s_per_gmac=net,
                                       **{k: sched[k] for k in SCHED_RATES}).to_dict()
    return out


def measure_scheduler_only(args, out):
    """``--only scheduler``: the scheduler's figures anew in the recorded rates ``out`` (a --json file)."""
    from pipeline_measure import measure_scheduler

    t0 = datetime.now(timezone.utc).isoformat(timespec="seconds")
    sched = measure_scheduler(args.tasks, args.submit_tasks)
    out["scheduler"] = dict(sched, measured_at=t0, argv=sys.argv[1:], cpu_model=cpu_model(),
                            load_average_end=os.getloadavg())
    out["rates"].update({k: sched[k] for k in SCHED_RATES})
    return out


def measure_statistics_only(args, out):
    """``--only statistics``: the statistics' rates anew in the recorded rates ``out`` (a --json file)."""
    from pipeline_measure import measure_stats

    t0 = datetime.now(timezone.utc).isoformat(timespec="seconds")
    st, st_info = measure_stats()
    out["statistics_remeasured"] = dict(st, measured_at=t0, argv=sys.argv[1:], cpu_model=cpu_model(),
                                        load_average_end=os.getloadavg(), wall_per_cpu=st_info["wall_per_cpu"])
    out["rates"].update(st)
    return out


def main(argv=None):
    args = _args(argv)
    cpu_name = cpu_model()
    say(f"# {cpu_name}; {os.cpu_count()} cores; {datetime.now(timezone.utc).isoformat(timespec='seconds')}; "
        f"load average {os.getloadavg()}")
    preload()
    from pipeline_report import print_predictions, print_rates

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.rates:
            out = json.loads(Path(args.rates).read_text())
            if args.only == "scheduler":
                out = measure_scheduler_only(args, out)
            elif args.only == "statistics":
                out = measure_statistics_only(args, out)
            else:
                out.pop("check", None)
        else:
            out = measure(args, tmp, cpu_name)
            out.update(measured_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), argv=sys.argv[1:],
                       load_average_end=os.getloadavg())
        rates = cost.Rates.from_dict(out["rates"])
        print_rates(rates, out.get("enrich", {}).get("stage_cpu_s_per_mpx"))
        job, rows = print_predictions(rates)
        out["predictions"] = {"job": job.__dict__, "rows": rows}
        if args.check and args.rates:
            from pipeline_check import run_check

            say("\n(note: --rates with --check compares against rates measured at another time and load)")
            preset, levels = ("small", (1, 2, 3)) if out.get("quick") else ("fiducial", (3, 5, 6))
            (tmp / "c").mkdir()
            out["check"] = run_check(rates, tmp / "c", make_bundle(tmp / "bundle", preset), preset, levels)
    say(f"# end {datetime.now(timezone.utc).isoformat(timespec='seconds')}; load average {os.getloadavg()}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))
    return 0 if not args.check or out["check"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
