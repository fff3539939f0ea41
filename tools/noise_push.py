# SPDX-License-Identifier: BSD-3-Clause
"""Which term of the generator's loss asks for less noise, and at which level?

At a checkpoint of a WGAN run, per loss term and decoder level ``l``: ``dL_term / d ln s_l``, the derivative of the term
with respect to a common scale of level ``l``'s noise strengths (``sum_w w dL/dw`` over that level's strengths),
averaged over training batches (never the ones a run trains on: indices from 10^9).  Positive: the term asks for
less noise at that level; negative: for more.  The run's logged ``noise_push_*`` sum the perceptual terms together;
this splits them (DSSIM, MSLE, each also in the energy form of ``--perceptual-energy``, and every statistics term of
``ember_dist.train.config.BATCH_TERMS`` at the run's weight, or 1 where the run left it out) and sets the critic's term
(gamma x adversarial) beside them.

    python tools/noise_push.py WORK/models/RUN.work/checkpoints/ckpt-00002000.npz --maps sim_suite/maps/train_all_z1.zarr --axes x y z --out DIR

Writes ``DIR/noise-push.json`` and prints a table.  TensorFlow backend (the training's).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

def term_configs(cfg):
    """``{name: (LossWeights, StepTerms keywords, the run's weight)}``: each term of the generator's loss alone, at the
    run's weight (a statistics term the run left out at 1, its run weight 0)."""
    from ember_dist.train.config import BATCH_TERMS
    from ember_dist.train.losses import LossWeights

    w = cfg.loss_weights
    out = {"dssim": (LossWeights(w.alpha, 0.0, w.gamma), {}, w.alpha),
           "msle": (LossWeights(0.0, w.beta, w.gamma), {}, w.beta),
           "dssim_energy": (LossWeights(w.alpha, 0.0, w.gamma), {"perceptual_energy": 1.0}, w.alpha),
           "msle_energy": (LossWeights(0.0, w.beta, w.gamma), {"perceptual_energy": 1.0}, w.beta)}
    for name in BATCH_TERMS:
        run = getattr(cfg, name)
        out[name.replace("_weight", "")] = (LossWeights(0.0, 0.0, w.gamma), {name: run or 1.0}, run)
    return out


def push_by_term(checkpoint, maps, axes=("x", "y"), batches=8, input_maps=None):
    """``(levels, {term: [dL/d ln s_l per level]}, {term: the run's weight})`` at ``checkpoint`` (a run's
    ``ckpt-*.npz``) on ``batches`` batches of ``maps``' tiles, sampled as the run sampled them (tile, batch, bright
    tiles)."""
    import tensorflow as tf

    from ember_dist.model.presets import get_preset
    from ember_dist.train import checkpoints, noise
    from ember_dist.train import losses as L
    from ember_dist.train._tf_step import StepFunctions
    from ember_dist.train.config import TrainConfig
    from ember_dist.train.loop import Trainer
    from ember_dist.train.sampler import TileSampler
    from ember_dist.train.step_terms import flip_noise

    cfg = TrainConfig(**checkpoints.read_state(checkpoint)["config"])
    if cfg.kind != "wgan":
        raise SystemExit(f"{checkpoint} is a {cfg.kind} checkpoint: no noise to push")
    sampler, info = TileSampler.from_store(maps, cfg.field, input_maps=input_maps, axes=tuple(axes), tile=cfg.tile,
                                           batch=cfg.batch, noise_levels=get_preset(cfg.preset).levels - 1,
                                           seed=cfg.seed, bright_tiles=cfg.bright_tiles)
    tr = Trainer(cfg, sampler, Path(tempfile.mkdtemp(prefix="noise-push-")) / "w", info)
    tr.restore(checkpoint)
    layers = noise.layers(tr.g)
    strengths = [l.strength for l in layers]
    levels = [noise._level(l) for l in layers]
    w = cfg.loss_weights
    batch_list = [sampler.batch(10**9 + j) for j in range(batches)]

    def push(loss_of):
        acc = np.zeros(len(layers))
        for x, y in batch_list:
            with tf.GradientTape() as tape:
                loss = loss_of(x, y, tr.g(x, training=True))
            grads = tape.gradient(loss, strengths)
            acc += [float(tf.reduce_sum(v * g)) if g is not None else 0.0 for v, g in zip(strengths, grads)]
        return (acc / batches).tolist()

    out, run_weights = {}, {}
    for name, (weights, kw, run_weights[name]) in term_configs(cfg).items():
        sf = StepFunctions(tr.g, weights, tr.levels, tr.g_opt, tr.c, tr.c_opt, jit=False, n_critic=cfg.n_critic,
                           power_norm=info["output_norm"], tile=cfg.tile, **kw)
        out[name] = push(lambda x, y, outs, sf=sf: sf._perceptual(
            y, outs, lambda: tr.g(flip_noise(x), training=True))[0])

    def adversarial(x, y, outs):
        _, fake = tr.steps._real_fake(x, y, outs)
        fake = {k: tf.convert_to_tensor(v, tf.float32) for k, v in fake.items()}
        return w.gamma * L.generator_adversarial(tr.c(fake, training=True))

    out["adversarial"], run_weights["adversarial"] = push(adversarial), w.gamma
    return levels, out, run_weights


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", help="a WGAN run's checkpoint (RUN.work/checkpoints/ckpt-*.npz)")
    p.add_argument("--maps", required=True, help="the store whose tiles the terms see (the run's training maps)")
    p.add_argument("--input-maps", default=None)
    p.add_argument("--axes", nargs="+", default=["x", "y"])
    p.add_argument("--batches", type=int, default=8)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    levels, out, weight = push_by_term(a.checkpoint, a.maps, a.axes, a.batches, a.input_maps)
    d = Path(a.out)
    d.mkdir(parents=True, exist_ok=True)
    (d / "noise-push.json").write_text(json.dumps({"checkpoint": str(a.checkpoint), "maps": a.maps, "axes": a.axes,
                                                   "batches": a.batches, "levels": levels, "push": out,
                                                   "run_weights": weight}, indent=1))
    print(f"dL/d ln s_l (> 0: the term asks for less noise at level l); {a.checkpoint}, {a.batches} batches")
    print("| term | weight | " + " | ".join(f"l{l}" for l in levels) + " |")
    print("|---|---|" + "---|" * len(levels))
    for name, v in out.items():
        wt = f"{weight[name]:g}" if weight[name] else "1 (not in the run)"
        print(f"| {name} | {wt} | " + " | ".join(f"{x:+.3g}" for x in v) + " |")
    print(f"wrote {d / 'noise-push.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
