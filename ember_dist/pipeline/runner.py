# SPDX-License-Identifier: BSD-3-Clause
"""``run_pipeline``: validate a pipeline file, then run its stages, skipping those already done.

Order of events:

1. parse and validate the file (every problem with its line), resolve paths, load the models,
   check the snapshots and the output folder: all before any work;
2. for each stage: compute its key (settings + inputs + the keys of the stages it reads); skip it
   when its record holds the same key and its output exists; resume it when an interrupted run
   of the same key left a resumable output (enrich's tile markers); otherwise say why it reruns,
   delete its old output and run it;
3. record its key, settings, inputs, wall time and peak memory (driver RSS and the cluster's
   process memory, sampled every 0.5 s) and stamp the key into its zarr store.

One Dask client serves every stage; it starts with the first stage that needs it and its
dashboard link is printed.  A stage-level progress bar spans the run; the stages' own bars
(slab maps, tiles, statistics) show under it.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass, field

from .checks import check_output_folder, resolve
from .records import Records, explain_change, remove, stage_key, stamp_store
from .schema import PipelineError, load_pipeline
from .stages import OUTPUTS, build_stages

__all__ = ["run_pipeline", "PipelineResult"]


@dataclass
class Context:
    """What every stage sees."""

    out: str
    spec: dict
    bundles: dict
    progress: bool
    client: object = None
    messages: list = field(default_factory=list)
    actions: dict = field(default_factory=dict)


@dataclass
class PipelineResult:
    """What :func:`run_pipeline` did: per stage ``"skipped"``, ``"ran"`` or ``"resumed"``, and why."""

    output: str
    report: str | None
    actions: dict
    reasons: dict
    messages: list


class _Peak:
    """Peak RSS of this process, sampled in a thread."""

    def __init__(self, interval=0.2):
        import psutil

        self.proc, self.interval, self.peak, self._stop = psutil.Process(), interval, 0, threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self):
        self.peak = self.proc.memory_info().rss
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def _say(ctx, bar, text):
    ctx.messages.append(text)
    if ctx.progress:
        (bar.write if bar is not None else print)(text, file=sys.stderr)


def _connect(ctx, bar):
    from ember_dist.cluster import connect

    cl = ctx.spec["cluster"]
    kw = {}
    if cl["workers"]:
        kw = {"n_workers": cl["workers"]} if cl["profile"] in ("local", "cuda") else {"jobs": cl["workers"]}
    ctx.client = connect(cl["profile"], **kw)
    _say(ctx, bar, f"ember_dist: Dask dashboard at {ctx.client.dashboard_link}")


def _run_stage(ctx, stage, resume):
    """Run one stage with timing and memory sampling; returns the numbers for its record."""
    sampler = None
    if ctx.client is not None:
        from distributed.diagnostics import MemorySampler

        sampler = MemorySampler()
    t0 = time.perf_counter()
    with _Peak() as driver:
        if sampler is not None:
            with sampler.sample(stage.name, client=ctx.client, measure="process", interval=0.5):
                stage.run(ctx, resume)
        else:
            stage.run(ctx, resume)
    seconds = time.perf_counter() - t0
    cluster_peak = None
    if sampler is not None and sampler.samples.get(stage.name):
        cluster_peak = int(max(v for _, v in sampler.samples[stage.name]))
    return {"seconds": round(seconds, 3), "peak_driver_rss_bytes": int(driver.peak),
            "peak_cluster_process_bytes": cluster_peak}


def _decide(rec, started, key, out_exists, stage):
    """("skip" | "resume" | "run", reason)."""
    if rec is not None and rec.get("key") == key and (out_exists or stage.always):
        return ("run", "rerun every time") if stage.always else ("skip", "done with the same inputs and settings")
    if rec is None and started is not None and started.get("key") == key and out_exists:
        if stage.resumable:
            return "resume", "an interrupted run with the same inputs and settings left its output; resuming it"
        return "run", "an interrupted run left a partial output; recomputing it"
    if rec is not None and rec.get("key") == key:
        return "run", "its output is missing"
    return "run", None


def run_pipeline(pipeline, overwrite=False, progress=True, until=None, client=None):
    """Run a pipeline file (or an already parsed spec): deposit -> haloes -> enrich -> statistics -> report.

    Parameters
    ----------
    pipeline : str, os.PathLike or dict
        Path of a pipeline YAML file (see ``deploy/pipeline-laptop.yaml``), or the dict
        :func:`ember_dist.pipeline.schema.load_pipeline` returns.
    overwrite : bool, default False
        Delete an output folder that holds another pipeline's results (or this one's, to start
        afresh).  Without it such a folder is refused before any work.
    progress : bool, default True
        Stage messages, progress bars and the dashboard link on stderr.
    until : str, optional
        Stop after this stage (``deposit``, ``truth``, ``haloes``, ``enrich``, ``statistics``,
        ``reference_<i>``, ``reference_<i>_haloes``, ``reference_statistics``); rerunning without it
        continues from there.
    client : distributed.Client, optional
        Use this client (left open); default: ``cluster.profile`` of the file, closed at the end.

    Returns
    -------
    PipelineResult
    """
    spec = load_pipeline(pipeline) if not isinstance(pipeline, dict) else pipeline
    spec, bundles = resolve(spec)
    out = spec["output"]
    parent = os.path.dirname(out)
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"the parent folder of output {out!r} does not exist; create {parent!r} first")
    keys = {}
    stages = build_stages(spec, bundles, keys)
    names = [s.name for s in stages]
    if until is not None and until not in names:
        raise PipelineError(f"until={until!r} is not a stage of this pipeline; its stages are {', '.join(names)}")
    check_output_folder(out, spec["name"], overwrite)
    records = Records(out)
    records.claim(spec["name"], spec.get("_file"))
    ctx = Context(out=out, spec=spec, bundles=bundles, progress=progress, client=client)
    own_client = client is None
    actions, reasons = ctx.actions, {}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(stages), desc=f"pipeline {spec['name']}", unit="stage", file=sys.stderr, position=0)
    try:
        res = spec["derived"].get("resolution")
        if res:  # the particle downsampling and what it was chosen from, on every run
            _say(ctx, bar, f"dark-matter input: {res['text']}")
        for ref in spec["derived"].get("references") or []:
            _say(ctx, bar, f"reference: {ref['label']} ({ref['path']}, z = {ref['redshift']:.3f}): {ref['slabs']} "
                           f"slabs of {ref['slab_depth']:g} ckpc/h per axis; a different volume from the application")
        for i, stage in enumerate(stages, 1):
            inputs = {k: (v() if callable(v) else v) for k, v in stage.inputs.items()}
            key = stage_key(stage.settings, inputs)
            output = os.path.join(out, stage.output_name)
            rec, started = records.get(stage.name), records.started(stage.name)
            action, why = _decide(rec, started, key, os.path.exists(output), stage)
            actions[stage.name] = {"skip": "skipped", "run": "ran", "resume": "resumed"}[action]
            if why is None:
                why = explain_change(rec, stage.settings, inputs) if rec is not None else "not run yet"
            head = f"[{i}/{len(stages)}] {stage.name}"
            if action == "skip":
                _say(ctx, bar, f"{head}: skipped ({why})")
            else:
                _say(ctx, bar, f"{head}: {'resumes' if action == 'resume' else 'runs'}: {stage.describe} ({why})")
                if action == "run":
                    remove(output)
                records.start(stage.name, key)
                if stage.needs_client and ctx.client is None:
                    _connect(ctx, bar)
                numbers = _run_stage(ctx, stage, action == "resume")
                if output.endswith(".zarr"):
                    stamp_store(output, stage.name, key)
                records.finish(stage.name, dict(numbers, key=key, settings=stage.settings, inputs=inputs,
                                                outputs=[stage.output_name], description=stage.describe))
            keys[stage.name] = key
            reasons[stage.name] = why
            if bar is not None:
                bar.update(1)
            if until == stage.name:
                _say(ctx, bar, f"stopped after stage {until!r} (until=); rerun without it to continue")
                break
    finally:
        if bar is not None:
            bar.close()
        if own_client and ctx.client is not None:
            from ember_dist.cluster import close

            close(ctx.client)
    report = os.path.join(out, OUTPUTS["report"], "report.html")
    return PipelineResult(out, report if os.path.exists(report) and "report" in actions else None, actions, reasons,
                          ctx.messages)
