# SPDX-License-Identifier: BSD-3-Clause
"""Train tiny runs on this process's Keras backend from given initial weights; save what they did.

Run in its own process by ``test_jax_steps.py`` once with ``KERAS_BACKEND=tensorflow`` and once with
``KERAS_BACKEND=jax`` (a process has one backend).  ``python backend_run.py WORKDIR``: the first run
(no ``WORKDIR/init-*.npz``) saves its initial weights there, the next loads them, so both backends
start from the same networks (their initialisers draw different numbers) and see the same batches
(numpy, a pure function of the seed).  Writes ``WORKDIR/<backend>-<run>.npz`` (final weights) and
prints ``RESULT {json}`` (each run's metrics per step).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

RUNS = {  # name: (kind, TrainConfig keywords); together they reach every branch of the steps
    "unet": ("unet", {"power_weight": 10.0, "mass_weight": 1.0, "tile_power_weight": 1.0}),
    # the PDF terms are W1 distances of sorted pixels: their gradient is a sign per pixel, which round-off
    # flips once the weights differ at all, so only this run's first step is comparable
    "unet-pdf": ("unet", {"pdf_weight": 1.0, "pdf_log_weight": 1.0, "pdf_mass_weight": 1.0}),
    "wgan": ("wgan", {"noise_lr": 1e-2, "noise_init": 0.05, "critic_warmup": 1, "power_weight": 10.0,
                      "spread_weight": 1.0, "perceptual_energy": 1.0}),
    # levels 0-1 start on their floor: the strengths the updates push down are held there (the constraint)
    "wgan-r1": ("wgan", {"penalty": "r1", "fused": False, "noise_init": 0.05, "noise_floor": (0.05, 0.05),
                         "noise_per_channel": True}),
}


def main(work):
    import keras

    from ember_dist.model.normalization import Normalization
    from ember_dist.train.loop import TrainConfig, Trainer
    from ember_dist.train.sampler import TileSampler

    work = Path(work)
    backend = keras.backend.backend()
    rng = np.random.default_rng(0)
    dm = np.exp(rng.standard_normal((3, 64, 64))) * 3e7
    gas = dm * (0.12 + 0.05 * rng.random((3, 64, 64)))
    info = {"input_norm": Normalization.for_field("dm"), "output_norm": Normalization.for_field("gas")}
    out = {"backend": backend}
    for name, (kind, kw) in RUNS.items():
        s = TileSampler.from_arrays(dm, gas, tile=32, batch=4, noise_levels=3 if kind == "wgan" else 0, seed=1)
        cfg = TrainConfig(kind=kind, field="gas", preset="tiny", steps=3, batch=4, tile=32, lr=1e-3, critic_lr=1e-3,
                          n_critic=2, checkpoint_every=100, log_every=1, sample_every=0, tensorboard=False, seed=5,
                          score_maps=0, diagnostics=kind == "wgan", **kw)
        t = Trainer(cfg, s, work / f"{backend}-{name}", info)
        init = work / f"init-{name}.npz"
        models = {"g": t.g} if t.c is None else {"g": t.g, "c": t.c}
        if init.exists():
            with np.load(init) as z:
                for k, m in models.items():
                    m.set_weights([z[f"{k}{i}"] for i in range(len(m.weights))])
        else:
            np.savez(init, **{f"{k}{i}": np.asarray(w) for k, m in models.items() for i, w in enumerate(m.weights)})
        steps = []
        t.run(progress=lambda step, m: steps.append({k: float(v) for k, v in m.items()}))
        out[name] = steps
        out[name + "-strengths"] = t.noise_strengths()
        np.savez(work / f"{backend}-{name}.npz", **{f"{k}{i}": np.asarray(w) for k, vs in t._variables().items()
                                                     for i, w in enumerate(vs)})
    from ember_dist.train.distribute import DataParallel

    out["auto_replicas"] = DataParallel("auto").n
    try:
        DataParallel(2)
        out["two_devices"] = None
    except ValueError as e:
        out["two_devices"] = str(e)
    # whether TensorFlow was imported (test_jax_steps hides it from the JAX run, as on the GPU machines)
    out["tensorflow_imported"] = sys.modules.get("tensorflow") is not None
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
