# SPDX-License-Identifier: BSD-3-Clause
"""U-Net and WGAN-GP training loops with checkpoints, exact resume, logs, samples and the final bundle.

One *iteration* is one generator update; a WGAN iteration also makes
``n_critic`` critic updates first, each on its own batch.  Batch ``j`` of the
run is ``sampler.batch(j)`` (a pure function of ``(seed, j)``), so the whole
random state of a run is its seed and step.

Work directory layout::

    <work>/checkpoints/ckpt-00000100.npz   weights (generator, critic), optimizer states
    <work>/checkpoints/ckpt-00000100.json  step, seed, config, next batch index, metrics
    <work>/checkpoints/latest              name of the newest complete checkpoint
    <work>/checkpoints/best                name of the lowest-score checkpoint
    <work>/metrics.csv                     one row per logged step
    <work>/tensorboard/                    the same metrics as TensorBoard scalars
    <work>/samples/step-00000100.png       dm / truth / prediction of a fixed tile
    <work>/pk.csv, diagnostics.png         P(k) of the scored predictions, summary plot (diagnostics)

A checkpoint is written to temporary files and renamed, and ``latest`` is
updated last, so an interrupted run resumes from the last complete one.
Resuming restores every weight and optimizer variable (Adam moments and
iteration counter, hence the learning-rate schedule) and the batch index:
continuing is bit-identical to an uninterrupted run on the same machine and
thread settings.

The gradient steps are in :mod:`ember_dist.train._tf_step` (TensorFlow
backend) or :mod:`ember_dist.train._jax_step` (JAX: a GPU without TensorFlow);
this module is backend-agnostic.  It drives the rest of the package:
:mod:`~ember_dist.train.config` (:class:`TrainConfig`), :mod:`~ember_dist.train.build`
(networks, optimizers, warm start), :mod:`~ember_dist.train.noise` (noise strengths),
:mod:`~ember_dist.train.checkpoints` (the checkpoint files), :mod:`~ember_dist.train.logs`
(metrics, TensorBoard, samples), :mod:`~ember_dist.train.scoring` (checkpoint scores) and
:mod:`~ember_dist.train.export` (the bundle).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from ember_dist.model.presets import get_preset
from ember_dist.model.runtime import import_keras
from ember_dist.train import build, checkpoints, export, logs, noise
from ember_dist.train.config import BATCH_TERMS, TrainConfig
from ember_dist.train.ema import WeightAverage
from ember_dist.train.losses import output_levels
from ember_dist.train.scoring import ScoreMaps, prediction_score

__all__ = ["TrainConfig", "Trainer", "train", "prediction_score"]


STEP_MODULES = {"tensorflow": "ember_dist.train._tf_step", "jax": "ember_dist.train._jax_step"}


def step_functions_class():
    """The backend's :class:`StepFunctions` (TensorFlow or JAX); other backends are refused with the fix."""
    import importlib

    backend = import_keras().backend.backend()
    if backend not in STEP_MODULES:
        raise NotImplementedError(
            f"training steps exist for the TensorFlow and JAX backends (KERAS_BACKEND={backend!r}); run training "
            "with KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax. The trained bundle runs on any backend."
        )
    return importlib.import_module(STEP_MODULES[backend]).StepFunctions


class Trainer:
    """One training run in a work directory; ``run()`` resumes from the last checkpoint there."""

    def __init__(self, config, sampler, work_dir, info=None, score_on=None):
        """``score_on``: a :class:`~ember_dist.train.scoring.ScoreMaps` the checkpoints are scored on
        (e.g. a validation box); default the first ``config.score_maps`` training maps."""
        StepFunctions = step_functions_class()
        from ember_dist.train.distribute import DataParallel

        self.cfg, self.sampler, self.info = config, sampler, dict(info or {})
        self.score_set = score_on if score_on is not None else ScoreMaps.training(sampler, config.score_maps,
                                                                                  (info or {}).get("map_attrs"))
        self.work = Path(work_dir)
        self.preset = build.run_preset(config)
        build.check_sampler(sampler, config, self.preset)
        self.parallel = DataParallel(config.devices, config.batch)
        self.mbstd_group = build.mbstd_group(config, self.parallel.n)
        build.check_batch_terms(config, self.parallel.n, self.info)
        if self.parallel.n > 1:
            logging.getLogger("ember_dist").info("training on %d devices %s, %d samples each", self.parallel.n,
                                                 self.parallel.devices, config.batch // self.parallel.n)
        with self.parallel.scope():  # variables mirrored over the devices when there are several
            self.g, self.c = build.networks(config, self.preset, self.mbstd_group)
            self.init_info = build.warm_start(self.g, self.preset, config.init_from) if config.init_from else None
            if self.preset.noise and config.noise_init:
                noise.fill(self.g, config.noise_init)
            self.floors_held = noise.hold_floor(self.g, config.noise_floor)  # {} for a U-Net: no noise layers
            noise_vars = [l.strength for l in self.noise_layers()]
            # modulated noise: the gains' weights train with the strengths (--noise-lr), not at the generator's lr
            noise_vars += [l.modulation for l in self.noise_layers() if l.modulated]
            self.ema = WeightAverage(self.g.weights, config.ema_half_life) if config.ema_half_life else None
            self.g_opt, self.n_opt, self.c_opt = build.optimizers(config, self.g, self.c, noise_vars)
        self.levels = output_levels(self.preset.levels)
        self.steps = StepFunctions(self.g, config.loss_weights, self.levels, self.g_opt, self.c, self.c_opt,
                                   config.gp_weight, config.data_range, jit=config.jit, parallel=self.parallel,
                                   n_critic=config.n_critic, penalty=config.penalty, noise_opt=self.n_opt,
                                   noise_variables=noise_vars,
                                   perceptual_from_level=config.perceptual_from_level,
                                   perceptual_energy=config.perceptual_energy,
                                   power_norm=self.info.get("output_norm"), tile=config.tile,
                                   **{name: getattr(config, name) for name in BATCH_TERMS})
        self.step = 0
        self._pool, self._ahead = None, {}
        self._runlog = logs.RunLog(self.work, config.tensorboard)
        self.last_metrics = {}
        self.train_seconds = 0.0
        self.timed_steps = 0
        self.timed_seconds = 0.0
        (self.work / "checkpoints").mkdir(parents=True, exist_ok=True)  # after every check above

    def noise_layers(self):
        """The generator's noise-injection layers, level 0 first (empty for the U-Net)."""
        return noise.layers(self.g)

    def noise_strengths(self):
        """``{layer name: strength}`` of the WGAN generator's noise injections."""
        return noise.strengths(self.g)

    def noise_levels(self):
        """``{"noise_l{l}": RMS of the strengths of level l}`` (the value itself when one per level)."""
        return noise.noise_levels(self.g)

    # -- state -------------------------------------------------------------------------------------
    def _variables(self):
        groups = {"g": self.g.weights, "go": self.g_opt.variables}
        if self.n_opt is not None:
            groups["no"] = self.n_opt.variables
        if self.c is not None:
            groups.update(c=self.c.weights, co=self.c_opt.variables)
        if self.ema is not None:
            groups["ema"] = self.ema.shadow
        return groups

    def batches_per_step(self):
        return self.cfg.n_critic + 1 if self.cfg.kind == "wgan" else 1

    def checkpoint(self):
        """Write the checkpoint of the current step (:mod:`~ember_dist.train.checkpoints`); returns its path."""
        keras = import_keras()

        ck = self.work / "checkpoints"
        name = f"ckpt-{self.step:08d}"
        path = checkpoints.write_arrays(ck, name, {k: [keras.ops.convert_to_numpy(v) for v in vs]
                                                   for k, vs in self._variables().items()})
        score = self.score(record=True)
        state = {"step": self.step, "seed": self.cfg.seed, "score": score, **self._score_terms(),
                 "next_batch": self.step * self.batches_per_step(),
                 "config": self.cfg.to_dict(), "metrics": self.last_metrics,
                 "train_seconds": self.train_seconds, "timed_steps": self.timed_steps,
                 "timed_seconds": self.timed_seconds, "parallel": self.parallel.describe(),
                 "mbstd_group_effective": self.mbstd_group}
        checkpoints.write_state(ck, name, state)
        checkpoints.update_best(ck, name, score)
        checkpoints.prune(ck, self.cfg.keep_checkpoints)
        return path

    def latest_checkpoint(self):
        return checkpoints.latest(self.work / "checkpoints")

    def restore(self, path=None):
        """Load a checkpoint (default the latest); returns its step or ``None`` when there is none."""
        path = Path(path) if path else self.latest_checkpoint()
        if path is None:
            return None
        state = checkpoints.read_state(path)
        checkpoints.check_config(path, state["config"], self.cfg.to_dict())
        was = state.get("mbstd_group_effective")
        if self.c is not None and was is not None and was != self.mbstd_group:
            raise ValueError(f"checkpoint {str(path)!r} was written with critic minibatch-stddev groups of {was} "
                             f"samples; on {self.parallel.n} device(s) this run's are {self.mbstd_group}. Pass "
                             f"mbstd_group={was} (it must divide the per-device batch) or the devices of that run.")
        with np.load(path) as z:
            for k, vs in self._variables().items():
                if k == "ema":
                    self.ema.load(z[f"ema/{i:04d}"] for i in range(len(vs)))
                else:
                    checkpoints.load_group(z, k, vs)
        self.step = int(state["step"])
        self.last_metrics = state.get("metrics", {})
        self.train_seconds = float(state.get("train_seconds", 0.0))
        self.timed_steps = int(state.get("timed_steps", 0))
        self.timed_seconds = float(state.get("timed_seconds", 0.0))
        return self.step

    # -- training ----------------------------------------------------------------------------------
    def train_step(self):
        """One iteration at ``self.step``; returns the metrics as floats."""
        j = self.step * self.batches_per_step()
        m = {}
        if self.cfg.kind == "wgan" and self.cfg.fused:
            cb = [self._batch(j + r, True) for r in range(self.cfg.n_critic)]
            gb = self._batch(j + self.cfg.n_critic, False) if self.step >= self.cfg.critic_warmup else None
            m.update({k: float(v) for k, v in self.steps.wgan_iteration(cb, gb).items()})
        elif self.cfg.kind == "wgan":
            for r in range(self.cfg.n_critic):
                x, y, eps = self._batch(j + r, True)
                m.update({k: float(v) for k, v in self.steps.critic_step(x, y, eps).items()})
            if self.step >= self.cfg.critic_warmup:
                x, y = self._batch(j + self.cfg.n_critic, False)
                m.update({k: float(v) for k, v in self.steps.generator_step(x, y).items()})
        else:
            x, y = self._batch(j, False)
            m.update({k: float(v) for k, v in self.steps.unet_step(x, y).items()})
        self.step += 1
        if self.ema is not None:
            self.ema.update()
        m["lr"] = float(np.asarray(self.g_opt.learning_rate))
        return m

    def diagnostics(self):
        """Logged diagnostics of the WGAN (``{}`` for the U-Net or with ``diagnostics`` off).

        Noise strength per level (:meth:`noise_levels`) and the generator's gradient norms of the
        perceptual and adversarial terms on a fixed batch never used for training.
        """
        if not self.cfg.diagnostics or self.c is None:
            return {}
        if getattr(self, "_diag_batch", None) is None:
            self._diag_batch = self.sampler.batch(2**40 + 1)
        g = self.steps.generator_diagnostics(*self._diag_batch)
        return {**self.noise_levels(), **{k: float(v) for k, v in g.items()}}

    def _batch(self, j, eps):
        """Batch ``j`` (pure function of (seed, j)), built ahead by a thread when ``prefetch`` > 0."""
        if not self.cfg.prefetch:
            return self.sampler.batch(j, eps)
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(1, thread_name_prefix="ember-train-batches")
            self._ahead = {}
        nb = self.batches_per_step()
        for a in range(j, j + self.cfg.prefetch + 1):
            if a not in self._ahead:
                self._ahead[a] = self._pool.submit(self.sampler.batch, a, self.cfg.kind == "wgan" and a % nb < nb - 1)
        for a in [a for a in self._ahead if a < j]:
            del self._ahead[a]
        out = self._ahead.pop(j).result()
        return out if eps or len(out) == 2 else out[:2]

    def score(self, record=False):
        """:meth:`score_weights` of the average of the generator's weights where the run keeps one
        (``ema_half_life``), else of the weights themselves."""
        if self.ema is None:
            return self.score_weights(record)
        with self.ema.applied():
            return self.score_weights(record)

    def score_weights(self, record=False):
        """Checkpoint score of the generator's current weights: whole-map predictions of :attr:`score_set`
        (training maps or a validation box).

        :func:`~ember_dist.train.scoring.prediction_score` (lower is better) averaged over the maps
        (noise seed 0); ``nan`` when disabled or undefined (e.g. an empty prediction).  With
        ``record`` (and ``diagnostics``) the P(k) of each prediction and its truth go to ``<work>/pk.csv``.
        """
        from ember_dist.model.generator import inference_model

        n = len(self.score_set) if self.cfg.score_maps else 0
        if n <= 0 or "input_norm" not in self.info:
            return float("nan")
        if getattr(self, "_infer", None) is None:
            self._infer = inference_model(self.g)
        return self.score_set.score(self._infer, self.preset, self.info["input_norm"], self.info["output_norm"],
                                    step=self.step, pixel_size=float(self.info.get("pixel_size") or 1.0),
                                    pk_csv=self.work / "pk.csv" if record and self.cfg.diagnostics else None,
                                    bispectrum_weight=self.cfg.score_bispectrum, metric=self.cfg.score_metric,
                                    field=self.cfg.field)

    def _score_terms(self):
        """``{"score_terms": {column: value}}`` of the last :meth:`score` with the "evaluation" metric, else ``{}``."""
        terms = getattr(self.score_set, "last_terms", None) if self.cfg.score_metric == "evaluation" else None
        return {"score_terms": terms} if terms else {}

    def rescore(self):
        """Score every kept checkpoint again with :meth:`score` and point ``best`` at the lowest.

        Makes the export independent of the metric a checkpoint was scored with when written (e.g. a
        run resumed after the metric changed).  Restores the current weights; returns ``{step: score}``.
        """
        def score():  # of the weights rescore() loaded: the checkpoint's average where the run keeps one
            value = self.score_weights()
            terms = self._score_terms().get("score_terms")
            return value if terms is None else (value, terms)

        return checkpoints.rescore(self.work / "checkpoints", self.g.weights, score,
                                   group="g" if self.ema is None else "ema")

    def best_checkpoint(self):
        """``(path, step, score)`` of the lowest-score checkpoint kept, or ``None``."""
        return checkpoints.best(self.work / "checkpoints")

    def sample_image(self):
        """Write dm / truth / prediction of a fixed tile (normalised units) as a PNG; returns its path."""
        x, y = self.sampler.batch(2**40)  # a fixed batch never used for training
        pred = np.asarray(self.g(x, training=False)[0])
        return logs.plot_sample(self.work / "samples" / f"step-{self.step:08d}.png", x["dm"], y, pred,
                                self.cfg.field, self.cfg.kind, self.step)

    def run(self, max_steps=None, resume=True, progress=None):
        """Train until ``config.steps`` (or ``max_steps`` more iterations); checkpoint at the end.

        Returns the metrics of the last iteration.
        """
        if resume:
            self.restore()
        stop = self.cfg.steps if max_steps is None else min(self.cfg.steps, self.step + int(max_steps))
        first = True
        while self.step < stop:
            m = self._timed_step(first)
            first = False
            if self.step % self.cfg.log_every == 0 or self.step == stop:
                m = {**m, **self.diagnostics()}
                self._runlog.write(self.step, round(self.train_seconds, 3), m)
                if progress:
                    progress(self.step, m)
            if self.cfg.sample_every and self.step % self.cfg.sample_every == 0:
                self.sample_image()
            if self.step % self.cfg.checkpoint_every == 0 and self.step != stop:
                self.checkpoint()
        self.checkpoint()
        self.close()
        if self.cfg.diagnostics:
            from ember_dist.train.diagnostics import plot_diagnostics

            plot_diagnostics(self.work)
        return self.last_metrics

    def _timed_step(self, first):
        """:meth:`train_step`, timed; the ``first`` of a session includes compilation and is left out of the rate."""
        t0 = time.perf_counter()
        m = self.train_step()
        dt = time.perf_counter() - t0
        self.train_seconds += dt
        if not first:  # the first step of a session includes compilation
            self.timed_steps += 1
            self.timed_seconds += dt
        self.last_metrics = m
        return m

    def close(self):
        """Stop the batch prefetch thread and close the TensorBoard writer (a later ``run`` opens them again)."""
        if self._pool is not None:
            for f in self._ahead.values():
                f.cancel()
            self._pool.shutdown(wait=True)
            self._pool, self._ahead = None, {}
        self._runlog.close()

    def iterations_per_second(self):
        return self.timed_steps / self.timed_seconds if self.timed_seconds > 0 else float("nan")

    # -- export ------------------------------------------------------------------------------------
    def write_bundle(self, out, name=None, seam_size=None, seam_core=None, overwrite=False, extra_training=None,
                     use_best=True):
        """Save the generator as a bundle with honest training metadata and its measured seam-error table.

        The training metadata records the input store's ``dm_mass_fraction`` and ``dm_source`` (None
        where that store lacks them), which :func:`~ember_dist.engine.enrich.enrich_box` compares with
        the maps it enriches.

        With ``use_best`` the generator weights of the best-scoring checkpoint (:meth:`score`) are
        exported when one exists; otherwise those of the last step.
        """
        return export.write_bundle(self, out, name=name, seam_size=seam_size, seam_core=seam_core, overwrite=overwrite,
                                   extra_training=extra_training, use_best=use_best)


def train(maps, field, out, kind="unet", preset="small", steps=1000, work_dir=None, input_var="dm",
          input_maps=None, axes=("x", "y"), name=None, overwrite=False, progress=None, seam_size=None,
          seam_core=None, notice=None, val_maps=None, val_input_maps=None, val_axes=None, **config):
    """Train a model on deposited maps and write its bundle to ``out``; returns the :class:`ModelBundle`.

    ``work_dir`` (default ``<out>.work``) keeps checkpoints, ``metrics.csv`` and sample images;
    an existing one is resumed from its last checkpoint, and ``notice(message)`` says so (default: a
    warning on the ``ember_dist`` logger).  ``val_maps`` (with ``val_input_maps`` holding its input,
    default ``val_maps``; projections ``val_axes``, default all): a validation store whose maps score
    the checkpoints instead of the training maps (:mod:`ember_dist.train.scoring`).  Other keywords go to
    :class:`TrainConfig`.  An existing bundle ``out`` is refused before any work unless ``overwrite``.
    """
    from ember_dist.model.bundle import check_bundle_path
    from ember_dist.train.sampler import TileSampler

    check_bundle_path(out, overwrite)  # before any work; the bundle is replaced when training ends
    cfg = TrainConfig(kind=kind, field=field, preset=preset, steps=steps, **config)
    p = get_preset(preset).with_noise(kind == "wgan")
    sampler, info = TileSampler.from_store(maps, field, input_var=input_var, input_maps=input_maps, axes=axes,
                                           tile=cfg.tile, batch=cfg.batch,
                                           noise_levels=p.levels - 1 if p.noise else 0, seed=cfg.seed,
                                           bright_tiles=cfg.bright_tiles)
    score_on = None
    if val_maps is not None:
        score_on = ScoreMaps.validation(val_maps, field, info, input_maps=val_input_maps, input_var=input_var,
                                        axes=val_axes)
    work = Path(work_dir) if work_dir else Path(str(out).rstrip("/") + ".work")
    t = Trainer(cfg, sampler, work, info, score_on=score_on)
    last = t.latest_checkpoint()
    notice = notice or logging.getLogger("ember_dist").warning
    if last is not None:
        step = int(checkpoints.read_state(last)["step"])
        notice(f"resuming from checkpoint step {step}/{cfg.steps} in {str(work)!r}"
               + (" (training complete: the bundle is written from it)" if step >= cfg.steps else "")
               + "; to train afresh, delete that directory or pass work_dir= (--work-dir)")
    t.run(progress=progress)
    t.rescore()  # every kept checkpoint with the current metric, so the export never mixes metrics
    return t.write_bundle(out, name=name, overwrite=overwrite, seam_size=seam_size, seam_core=seam_core)
