# SPDX-License-Identifier: BSD-3-Clause
"""Export a trained generator as a bundle, with its training record and measured seam errors.

:func:`training_metadata` assembles the bundle's ``training`` record (what the data were, how
the run was set up and how far it went) from a :class:`~ember_dist.train.loop.Trainer`;
:func:`write_bundle` picks the checkpoint to export, writes the bundle and adds the seam-error
table.  The record's keys and their order are part of ``bundle.json``.

Examples
--------
>>> from ember_dist.train.config import TrainConfig
>>> _loss_text(TrainConfig(kind="unet"))
'alpha*sum_scales DSSIM + beta*sum_scales MSLE'
>>> cfg = TrainConfig(kind="wgan", penalty="r1", power=2.0, lr=2e-4, critic_lr=1e-4)
>>> _optimizer_text(cfg)
'Adam(beta1=0, beta2=0.99), polynomial decay power 2 from lr=0.0002 (critic 0.0001) to x0.01'
>>> _penalty_text(cfg)
'R1 on real samples, (gamma/2) mean ||grad D(real)||^2 with gamma = 10'
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ember_dist.model.runtime import import_keras
from ember_dist.train import checkpoints

__all__ = ["training_metadata", "write_bundle"]


def _loss_text(cfg):
    """The training loss of ``cfg`` in words."""
    return (("alpha*sum_scales DSSIM + beta*sum_scales MSLE" if not cfg.perceptual_energy else
             f"[mean over two realisations of (alpha*sum_scales DSSIM + beta*sum_scales MSLE) to the truth - "
             f"{cfg.perceptual_energy:g}/2 x the same between them]")
            + (f" + {cfg.power_weight:g}*(ln P_pred(k) - ln P_true(k))^2 (mass power of each batch, radial bins)"
               if cfg.power_weight else "")
            + (f" + {cfg.pdf_weight:g}*W1(pixel values; the batch's normalised maps)" if cfg.pdf_weight else "")
            + (f" + {cfg.pdf_log_weight:g}*W1(ln mass per pixel; the batch's maps)" if cfg.pdf_log_weight else "")
            + (f" + {cfg.pdf_mass_weight:g}*W1(mass per pixel / mean; the batch's maps)" if cfg.pdf_mass_weight else "")
            + (f" + {cfg.mass_weight:g}*(ln M_pred - ln M_true)^2 (the batch's total mass)" if cfg.mass_weight else "")
            + (f" + {cfg.tile_power_weight:g}*|ln(1 + P_pred(k)) - ln(1 + P_true(k))| (each tile's power over the batch's mean)"
               if cfg.tile_power_weight else "")
            + (f" + {cfg.spread_weight:g}*energy score of each tile's P(k) over two realisations"
               if cfg.spread_weight else "")
            + (" + gamma*adversarial (WGAN, "
            + ("R1 penalty gamma " if cfg.penalty == "r1" else "gradient penalty ")
            + f"{cfg.gp_weight:g}, {cfg.n_critic} critic steps per generator step"
            + (f", critic {cfg.critic_width}x the generator's widths" if cfg.critic_width != 1 else "")
            + (f"; the final output enters DSSIM/MSLE block-averaged over {2 ** cfg.perceptual_from_level} px"
               if cfg.perceptual_from_level else "") + ")"
            if cfg.kind == "wgan" else ""))


def _optimizer_text(cfg):
    """The optimizers and learning-rate schedule of ``cfg`` in words."""
    return (f"Adam(beta1=0, beta2=0.99), polynomial decay power {cfg.power:g} from lr={cfg.lr:g}"
            + (f" (critic {cfg.critic_lr:g})" if cfg.kind == "wgan" else "")
            + f" to x{cfg.end_lr_factor:g}")


def _data_metadata(info):
    """The record of the training data, from the sampler's ``info``."""
    down = int(info.get("downsample", 1))
    return {
        "pixel_size": float(info.get("pixel_size", 0.0)),
        "input_resolution": "HR (full-resolution dark matter)" if down == 1
        else f"downsampled dark matter (1/{down} of the particles)" if not info.get("input_run")
        else f"low-resolution dark matter (1/{down} of the particles: a {info['input_run']})",
        "data": info.get("data", "maps: " + str(info.get("maps", "?")) + "; input maps: "
                         + str(info.get("input_maps", "?"))),
        "input_variable": info.get("input_var"),
        # Share of Omega_m the input dark matter carries (input store's attr; None: not recorded there):
        # ~0.843 for a hydro run's dark matter. enrich_box rescales inputs that differ from it.
        "dm_mass_fraction": info.get("dm_mass_fraction"),
        "dm_source": info.get("dm_source"),
        # the input's dark-matter particle mass (Msun/h, after downsampling): with dm_mass_fraction, the
        # particle spacing the pipeline's `input_resolution: auto` matches (ember_dist.deposit.resolution)
        "dm_particle_mass": info.get("dm_particle_mass"),
        "projections": info.get("axes"),
        "n_maps": info.get("n_maps"),
        "map_shape": info.get("map_shape"),
        "hubble": info.get("hubble"),
    }


def _penalty_text(cfg):
    """The critic's regulariser of ``cfg`` in words."""
    return {"gp": f"two-sided gradient penalty at interpolates, weight {cfg.gp_weight:g}",
            "r1": f"R1 on real samples, (gamma/2) mean ||grad D(real)||^2 with gamma = {cfg.gp_weight:g}"}[cfg.penalty]


def training_metadata(trainer, chosen, exported_step, extra=None):
    """The bundle's ``training`` record of ``trainer``'s run, exporting ``chosen`` (in words) of ``exported_step``.

    Reads the generator's noise strengths as they are now: load the exported weights first.
    ``extra`` entries are added last.
    """
    keras = import_keras()

    cfg, t = trainer.cfg, trainer
    wgan = cfg.kind == "wgan"
    return {
        **_data_metadata(t.info),
        "kind": cfg.kind,
        "steps": t.step,
        "exported_step": exported_step,
        "steps_requested": cfg.steps,
        "batch": cfg.batch,
        "tile": cfg.tile,
        "bright_tiles": cfg.bright_tiles or None,
        "loss": _loss_text(cfg),
        "loss_weights": cfg.loss_weights.to_dict(),
        "optimizer": _optimizer_text(cfg),
        "seed": cfg.seed,
        "init_from": t.init_info,
        "noise_init": cfg.noise_init if wgan else None,
        "critic_warmup": cfg.critic_warmup if wgan else None,
        "noise_strengths": t.noise_strengths() or None,
        "noise_per_channel": cfg.noise_per_channel if wgan else None,
        "noise_modulated": cfg.noise_modulated if wgan else None,
        "noise_floor": list(cfg.noise_floor) if wgan and cfg.noise_floor else None,
        "noise_lr": (cfg.noise_lr if cfg.noise_lr is not None else cfg.lr) if wgan else None,
        "critic_penalty": _penalty_text(cfg) if wgan else None,
        "fused_iteration": cfg.fused if wgan else None,
        "checkpoint": chosen,
        "checkpoint_scored_on": t.score_set.source,
        "final_metrics": t.last_metrics,
        "train_seconds": round(t.train_seconds, 1),
        "iterations_per_second": round(t.iterations_per_second(), 4),
        "backend": keras.backend.backend(),
        "device": training_device(),
        "data_parallel": {**t.parallel.describe(), "per_device_batch": cfg.batch // t.parallel.n,
                          "critic_mbstd_group": t.mbstd_group if wgan else None},
        **(extra or {}),
    }


def training_device():
    """What the steps ran on: the accelerator's name (JAX or TensorFlow GPU), else the CPU's model name."""
    backend = import_keras().backend.backend()
    if backend == "jax":
        import jax

        d = jax.devices()[0]
        if d.platform != "cpu":
            return d.device_kind
    elif backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            return tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0]).get(
                "device_name", gpus[0].name)
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def _load_best(trainer):
    """Load the best checkpoint's generator weights into ``trainer``; returns ``(chosen, step)`` for the record,
    or ``None`` when no checkpoint was scored."""
    best = trainer.best_checkpoint()
    if best is None:
        return None
    cfg = trainer.cfg
    with np.load(best[0]) as z:
        checkpoints.load_group(z, "g" if trainer.ema is None else "ema", trainer.g.weights)
    among = (f"whole-map predictions of {trainer.score_set.source}, among the kept checkpoints "
             f"(every {cfg.checkpoint_every} steps, the last {cfg.keep_checkpoints} and the best)")
    if trainer.ema is not None:
        among += (f"; the exported weights are the checkpoint's exponential moving average of the generator's weights "
                  f"(half-life {cfg.ema_half_life:g} steps; ember_dist.train.ema), which it was scored with")
    if cfg.score_metric == "evaluation":
        from ember_dist.train.eval_table import SCORE_FORMULA

        return (f"step {best[1]}: lowest score {best[2]:.4g} = {SCORE_FORMULA}"
                f" (ember_dist.train.evaluate.score_predictions, one prediction per map, noise seed 0) over "
                f"{among}"), best[1]
    b_term = (f" + {cfg.score_bispectrum:g} x mean |B_eq,pred/B_eq,true - 1| for k <= k_Nyquist/2 "
              "(ember_dist.train.scoring.equilateral_error)" if cfg.score_bispectrum else "")
    return (f"step {best[1]}: lowest score {best[2]:.4g} = ln-k-weighted mean |ln(P_pred(k)/P_true(k))| "
            f"for k <= k_Nyquist/2 + |ln(M_pred/M_true)| (ember_dist.train.scoring.prediction_score){b_term} over "
            f"{among}"), best[1]


def write_bundle(trainer, out, name=None, seam_size=None, seam_core=None, overwrite=False, extra_training=None,
                 use_best=True):
    """Save ``trainer``'s generator as a bundle (:meth:`~ember_dist.train.loop.Trainer.write_bundle`)."""
    from ember_dist.engine.seams import measure_seam_errors
    from ember_dist.model.bundle import save_bundle, update_meta

    cfg, info = trainer.cfg, trainer.info
    chosen, step = (_load_best(trainer) if use_best else None) or (None, trainer.step)
    if chosen is None:  # no scored checkpoint: the last step's weights, or their average where the run keeps one
        chosen = f"the last step ({trainer.step})"
        if trainer.ema is not None:
            trainer.ema.copy_to_weights()
            chosen += f": the exponential moving average of the generator's weights (half-life {cfg.ema_half_life:g} steps)"
    training = training_metadata(trainer, chosen, step, extra_training)
    b = save_bundle(trainer.g, out, name=name or Path(out).name, field=cfg.field, kind=cfg.kind,
                    preset=trainer.preset, input_norm=info["input_norm"], output_norm=info["output_norm"],
                    training=training, overwrite=overwrite)
    rows = measure_seam_errors(b, size=seam_size, core=seam_core)
    return update_meta(b, seam_error=rows)
