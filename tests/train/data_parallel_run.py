# SPDX-License-Identifier: BSD-3-Clause
"""Train the same tiny runs on one device and on two logical CPU devices; print the differences as JSON.

Run in its own process by ``test_data_parallel.py``: logical devices must be configured before
TensorFlow initialises.  ``python data_parallel_run.py WORKDIR``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def main(work):
    from ember_dist.train.distribute import logical_cpu_devices

    devices = logical_cpu_devices(2)
    from ember_dist.model.normalization import Normalization
    from ember_dist.train.loop import TrainConfig, Trainer
    from ember_dist.train.sampler import TileSampler

    rng = np.random.default_rng(0)
    dm = np.exp(rng.standard_normal((3, 64, 64))) * 3e7
    gas = dm * (0.12 + 0.05 * rng.random((3, 64, 64)))
    info = {"input_norm": Normalization.for_field("dm"), "output_norm": Normalization.for_field("gas")}

    def run(kind, name, steps=3, **kw):
        s = TileSampler.from_arrays(dm, gas, tile=32, batch=4, noise_levels=3 if kind == "wgan" else 0, seed=1)
        cfg = TrainConfig(kind=kind, field="gas", preset="tiny", steps=steps, batch=4, tile=32, lr=1e-3,
                          critic_lr=1e-3, n_critic=2, checkpoint_every=100, log_every=1, sample_every=0,
                          tensorboard=False, seed=5, score_maps=1, **kw)
        t = Trainer(cfg, s, Path(work) / name, info)
        m = t.run()
        return t, m

    def diff(a, b, groups=("g", "c")):
        """Largest rms(a - b) / rms(a) over the variables of ``groups`` (g, c: models; go, co: optimizers)."""
        worst = 0.0
        for ka, va in a._variables().items():
            for p, q in zip(va, b._variables()[ka]) if ka in groups else ():
                p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
                worst = max(worst, float(np.sqrt(np.mean((p - q) ** 2) / (np.mean(p**2) + 1e-30))))
        return worst

    out = {"devices": devices}
    one, m1 = run("unet", "unet-1")
    two, m2 = run("unet", "unet-2", devices=devices)
    out["unet"] = {"replicas": two.parallel.n, "weights_rel": diff(one, two), "optimizer_rel": diff(one, two, ("go",)),
                   "loss": [m1["loss"], m2["loss"]], "moved_rel": diff(one, run("unet", "unet-0", steps=1)[0])}
    one, m1 = run("wgan", "wgan-1", mbstd_group=2)
    two, m2 = run("wgan", "wgan-2", devices=devices)
    whole, _ = run("wgan", "wgan-whole")  # one device, minibatch std over all 4 samples
    out["wgan"] = {"replicas": two.parallel.n, "mbstd": [one.mbstd_group, two.mbstd_group, whole.mbstd_group],
                   "weights_rel": diff(one, two), "optimizer_rel": diff(one, two, ("go", "co")),
                   "whole_batch_rel": diff(whole, two),
                   "critic_loss": [m1["critic_loss"], m2["critic_loss"]], "loss": [m1["loss"], m2["loss"]]}
    bundle = two.write_bundle(Path(work) / "bundle", seam_size=64, seam_core=32)
    out["bundle_data_parallel"] = bundle.meta["training"]["data_parallel"]
    # resumed on one device with the same minibatch groups: continues; without them: refused
    again = Trainer(TrainConfig(**{**two.cfg.to_dict(), "devices": None, "mbstd_group": 2, "steps": 4}),
                    two.sampler, Path(work) / "wgan-2", info)
    out["resume_one_device_step"] = again.restore()
    try:
        Trainer(TrainConfig(**{**two.cfg.to_dict(), "devices": None, "steps": 4}), two.sampler,
                Path(work) / "wgan-2", info).restore()
        out["resume_refused"] = None
    except ValueError as e:
        out["resume_refused"] = str(e)
    from ember_dist.train.distribute import DataParallel

    errors = []
    for bad in ({"devices": ["/cpu:0", "/cpu:7"], "batch": 4}, {"devices": devices, "batch": 3}):
        try:
            DataParallel(**bad)
            errors.append(None)
        except ValueError as e:
            errors.append(str(e))
    out["errors"] = errors
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
