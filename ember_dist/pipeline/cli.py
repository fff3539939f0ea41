# SPDX-License-Identifier: BSD-3-Clause
"""The ``ember-dist run`` subcommand (wired by :mod:`ember_dist.cli`)."""
from __future__ import annotations

from ember_dist.help_format import HelpFormatter

__all__ = ["add_run_parser", "run_command"]

STAGES = ("deposit", "truth", "haloes", "enrich", "statistics", "reference_<i>", "reference_<i>_haloes",
          "reference_statistics", "report")


def add_run_parser(subparsers):
    """Add ``run PIPELINE.yaml [--overwrite] [--until STAGE] [--quiet]``."""
    p = subparsers.add_parser(
        "run", formatter_class=HelpFormatter,
        help="run a pipeline file: deposit -> haloes -> enrich -> statistics -> HTML report, resumable",
        description="Run the stages a pipeline file describes (see deploy/pipeline-laptop.yaml). Rerunning the same "
                    "command skips finished stages, resumes an interrupted enrichment and reruns (saying why) every "
                    "stage whose inputs or settings changed.")
    p.add_argument("pipeline", help="pipeline YAML file")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an output folder holding another pipeline's results (or start this one afresh)")
    p.add_argument("--until", default=None, metavar="STAGE",
                   help=f"stop after this stage ({', '.join(STAGES)}; the pipeline refuses a name that is not one of "
                        "its stages); rerun without it to continue")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=run_command)
    return p


def run_command(args):
    from .runner import run_pipeline

    res = run_pipeline(args.pipeline, overwrite=args.overwrite, progress=not args.quiet, until=args.until)
    for stage, action in res.actions.items():
        print(f"{stage}: {action} ({res.reasons.get(stage, '')})")
    print(f"report: {res.report}" if res.report else f"output: {res.output}")
    return 0
