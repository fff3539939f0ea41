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

    def run(kind, name, after_one=None, **kw):
        """A 3-step run; ``after_one``: a dict that receives its variables after the first step."""
        s = TileSampler.from_arrays(dm, gas, tile=32, batch=4, noise_levels=3 if kind == "wgan" else 0, seed=1)
        # no diagnostics or checkpoint scoring: nothing here reads them, and each costs compiled functions per run
        cfg = TrainConfig(kind=kind, field="gas", preset="tiny", steps=3, batch=4, tile=32, lr=1e-3,
                          critic_lr=1e-3, n_critic=2, checkpoint_every=100, log_every=1, sample_every=0,
                          tensorboard=False, seed=5, score_maps=0, diagnostics=False, **kw)
        t = Trainer(cfg, s, Path(work) / name, info)
        m = t.run(progress=None if after_one is None else lambda step, _: step == 1 and after_one.update(state(t)))
        return t, m

    def state(t):
        """``{group: [arrays]}`` of a trainer's variables (g, c: models; go, co: optimizers)."""
        return {k: [np.array(v).astype(np.float64) for v in vs] for k, vs in t._variables().items()}

    def diff(a, b, groups=("g", "c")):
        """Largest rms(a - b) / rms(a) over the variables of ``groups`` (trainers or :func:`state` dicts)."""
        a, b = (state(t) if isinstance(t, Trainer) else t for t in (a, b))
        worst = 0.0
        for ka, va in a.items():
            for p, q in zip(va, b[ka]) if ka in groups else ():
                worst = max(worst, float(np.sqrt(np.mean((p - q) ** 2) / (np.mean(p**2) + 1e-30))))
        return worst

    out = {"devices": devices}
    step1 = {}
    one, m1 = run("unet", "unet-1", after_one=step1)
    two, m2 = run("unet", "unet-2", devices=devices)
    out["unet"] = {"replicas": two.parallel.n, "weights_rel": diff(one, two), "optimizer_rel": diff(one, two, ("go",)),
                   "loss": [m1["loss"], m2["loss"]], "moved_rel": diff(one, step1)}  # steps 2 and 3 moved them
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
