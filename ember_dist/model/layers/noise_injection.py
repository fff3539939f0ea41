# SPDX-License-Identifier: BSD-3-Clause
"""``NoiseInjection``: ``f' = f + w * eta`` with one trainable scalar ``w`` (or one per channel)."""
from __future__ import annotations

from ember_dist.model.runtime import import_keras

keras = import_keras()
ops = keras.ops

__all__ = ["NoiseInjection"]


@keras.saving.register_keras_serializable(package="ember_dist")
class NoiseInjection(keras.layers.Layer):
    """Adds an explicit noise map, scaled by one trainable strength, to features.

    The noise is an *input* (see :mod:`ember_dist.model.noise`), never drawn
    inside the layer, so the output is a pure function of its inputs on every
    Keras backend.

    Args:
        initial_strength: float, initial value of ``w`` (the paper uses 0).
        per_channel: bool, one strength per feature channel, shape ``(C,)`` (StyleGAN's
            per-channel scaling), instead of one scalar.

    Notes
    -----
    Input shape: a list ``[features, eta]``: ``(batch, H, W, C)`` and
    ``(batch, H, W, 1)``.  Output shape: ``(batch, H, W, C)``.
    """

    def __init__(self, initial_strength=0.0, per_channel=False, **kwargs):
        super().__init__(**kwargs)
        self.initial_strength = float(initial_strength)
        self.per_channel = bool(per_channel)

    def build(self, input_shape):
        feat, eta = input_shape
        if eta[-1] not in (1, None):
            raise ValueError(f"noise input must have 1 channel. Received: eta shape={eta!r}.")
        if self.per_channel and feat[-1] is None:
            raise ValueError(f"per-channel noise strengths need a known channel count. Received: {feat!r}.")
        self.strength = self.add_weight(
            shape=(int(feat[-1]),) if self.per_channel else (), initializer=keras.initializers.Constant(self.initial_strength), name="strength"
        )

    def call(self, inputs):
        feat, eta = inputs
        return ops.add(feat, ops.multiply(ops.cast(self.strength, feat.dtype), ops.cast(eta, feat.dtype)))

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "initial_strength": self.initial_strength, "per_channel": self.per_channel}
