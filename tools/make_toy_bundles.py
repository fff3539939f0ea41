# SPDX-License-Identifier: BSD-3-Clause
"""Train and write the shipped toy bundles ``small-gas-toy`` and ``small-hi-toy``.

These exist so that the demo and the engine run out of the box before trained
EMBER models (the training issue) replace them.  They are trained for a few
hundred steps on a TOY problem: seeded lognormal dark-matter maps (see
``ember_dist.demo.lognormal_map``) mapped to gas and HI by a fixed analytic
relation (``toy_targets`` below).  They know nothing about real baryons; their
bundle metadata says so.

    python tools/make_toy_bundles.py            # ~2-4 min on 2 CPU cores
"""
from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np
from scipy.ndimage import gaussian_filter

from ember_dist.demo import lognormal_map
from ember_dist.engine.seams import measure_seam_errors
from ember_dist.io.conventions import PLANCK15, X_H
from ember_dist.model.bundle import save_bundle, update_meta
from ember_dist.model.normalization import Normalization
from ember_dist.model.presets import get_preset

F_B = PLANCK15["omega_b"] / PLANCK15["omega_m"]  # Planck 2015 baryon fraction


def toy_targets(dm):
    """Toy gas and HI maps (Msun/h per pixel) from a dark-matter map: NOT physics."""
    smooth = gaussian_filter(dm.astype(np.float64), 1.5, mode="wrap")
    mean = smooth.mean()
    gas = F_B / (1 - F_B) * mean * (smooth / mean) ** 0.85
    shield = 1.0 / (1.0 + (4.0 * mean * F_B / gas) ** 2)  # neutral where the gas is dense
    hi = gas * X_H * np.clip(shield, 1e-4, 1.0)
    return gas.astype(np.float32), hi.astype(np.float32)


def main(out_root="ember_dist/bundles", steps=600, tile=64, batch=8, seed=0):
    import keras

    from ember_dist.model.generator import build_generator, inference_model

    preset = get_preset("small")
    rng = np.random.default_rng(seed)
    maps = [lognormal_map(512, seed=100 + i, mean=1e7) for i in range(6)]
    targets = [toy_targets(m) for m in maps]
    nin = Normalization.for_field("dm")
    for fi, field in enumerate(["gas", "hi"]):
        nout = Normalization.for_field(field)
        keras.utils.set_random_seed(seed + fi)
        g = build_generator(preset)
        model = inference_model(g)
        model.compile(optimizer=keras.optimizers.Adam(1e-3, beta_1=0.0, beta_2=0.99, clipnorm=1.0), loss="mse")
        t0 = time.time()
        for step in range(steps):
            xs, ys = [], []
            for _ in range(batch):
                i = rng.integers(len(maps))
                y0, x0 = rng.integers(0, 512 - tile, size=2)
                k = rng.integers(4)
                xs.append(np.rot90(maps[i][y0:y0 + tile, x0:x0 + tile], k))
                ys.append(np.rot90(targets[i][fi][y0:y0 + tile, x0:x0 + tile], k))
            inputs = {"dm": nin.forward(np.stack(xs))[..., None].astype("f4")}
            for lev in range(preset.levels - 1):
                s = tile // 2**lev
                inputs[f"noise_l{lev}"] = rng.normal(size=(batch, s, s, 1)).astype("f4")
            loss = model.train_on_batch(inputs, nout.forward(np.stack(ys))[..., None].astype("f4"))
            if step % 100 == 0 or step == steps - 1:
                print(f"{field} step {step} loss {float(loss):.5f} ({time.time() - t0:.0f} s)", flush=True)
        train_s = time.time() - t0
        name = f"small-{field}-toy"
        b = save_bundle(
            g, os.path.join(out_root, name), name=name, field=field, kind="wgan-generator (MSE-trained toy)",
            preset=preset, input_norm=nin, output_norm=nout, overwrite=True,
            training={
                "pixel_size": 3.66, "input_resolution": "HR (toy lognormal maps, 3.66 ckpc/h pixels)",
                "data": ("TOY: 6 seeded lognormal 512^2 dark-matter maps (ember_dist.demo.lognormal_map, "
                         "seeds 100-105) mapped to gas/HI by the analytic toy relation in "
                         "tools/make_toy_bundles.py:toy_targets. Not trained on any simulation; "
                         "do not use for science. Trained models come from `ember-dist train`."),
                "loss": "MSE on normalised maps (no adversarial term)",
                "steps": steps, "batch": batch, "tile": tile, "optimizer": "Adam(1e-3, beta1=0, beta2=0.99, clipnorm=1)",
                "train_seconds": round(train_s, 1), "hubble": 0.697,
            },
        )
        rows = measure_seam_errors(b, size=256, core=64)
        b = update_meta(b, seam_error=rows, auto_halo_tolerance=1e-3)
        print(name, "seam table", rows, "auto halo", b.auto_halo(), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:2])
