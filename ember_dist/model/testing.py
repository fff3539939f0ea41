# SPDX-License-Identifier: BSD-3-Clause
"""Random-weight bundles for tests and benchmarks (not trained; labelled as such)."""
from __future__ import annotations

import numpy as np

from ember_dist.model.normalization import Normalization
from ember_dist.model.presets import get_preset
from ember_dist.model.runtime import import_keras

__all__ = ["random_bundle"]


def random_bundle(path, preset="tiny", field="gas", noise=True, noise_strength=0.3, seed=0,
                  initializer="he_normal", pixel_size=3.66, overwrite=True):
    """Write a bundle with seeded random weights (He-scaled by default).

    Noise strengths are set to ``noise_strength`` (the paper initialises them
    to 0, which would hide any noise bug).  The metadata says plainly that the
    weights are random.
    """
    keras = import_keras()

    from ember_dist.model.bundle import save_bundle
    from ember_dist.model.generator import build_generator

    p = get_preset(preset).with_noise(noise)
    keras.utils.set_random_seed(seed)
    g = build_generator(p, initializer=initializer)
    if noise:
        rng = np.random.default_rng(seed)
        for layer in g.layers:
            if type(layer).__name__ == "NoiseInjection":
                layer.strength.assign(np.full(layer.strength.shape, noise_strength, np.float32))
                if layer.modulated:  # gains that vary from pixel to pixel (0 would be the unmodulated layer)
                    layer.modulation.assign(rng.normal(0.0, 0.5, layer.modulation.shape).astype(np.float32))
    return save_bundle(
        g, path, name=f"random-{p.name}-{field}", field=field, kind="wgan" if noise else "unet", preset=p,
        input_norm=Normalization.for_field("dm"), output_norm=Normalization.for_field(field),
        training={"pixel_size": pixel_size, "input_resolution": "none",
                  "data": f"NOT TRAINED: random {initializer} weights (seed {seed}) for tests and benchmarks"},
        overwrite=overwrite,
    )
