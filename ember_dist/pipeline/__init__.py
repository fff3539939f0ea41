# SPDX-License-Identifier: BSD-3-Clause
"""``ember-dist run PIPELINE.yaml``: deposit -> haloes -> enrich -> statistics -> report as resumable stages.

:func:`run_pipeline` runs a pipeline file (:mod:`~ember_dist.pipeline.schema` lists its keys;
``deploy/pipeline-laptop.yaml`` and ``deploy/pipeline-slurm.yaml`` are commented examples).  Each
stage records the hash of its inputs and settings (:mod:`~ember_dist.pipeline.records`), so a
rerun skips what is done, resumes an interrupted enrichment and says which stage reruns and why.
"""
from .runner import PipelineResult, run_pipeline
from .schema import PipelineError, load_pipeline, parse_pipeline_text

__all__ = ["run_pipeline", "load_pipeline", "parse_pipeline_text", "PipelineError", "PipelineResult"]
