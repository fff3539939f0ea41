# SPDX-License-Identifier: BSD-3-Clause
"""``NoiseInjection``: ``f' = f + w * eta`` with one trainable scalar ``w`` (or one per channel), optionally
scaled pixel by pixel by a gain the features set (``f' = f + w * g(f) * eta``)."""
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
        modulated: bool, multiply the noise at each pixel by the gain
            ``g = exp(B tanh(f . m / B))``, ``B`` = :attr:`GAIN_BOUND`, with one trainable weight ``m``
            per feature channel, initialised to 0 (``g = 1``: the unmodulated layer).  The gain reads
            only the features at the same pixel, so the layer stays pointwise (tiles stitch exactly)
            and the network can put noise where its features say the target is unpredictable (halo
            cores) and none in voids, which one strength per channel cannot.  ``B = 3`` bounds the
            gain to ``[e^-3, e^3]`` (0.05-20x), so that no pixel's noise runs away.

    Notes
    -----
    Input shape: a list ``[features, eta]``: ``(batch, H, W, C)`` and
    ``(batch, H, W, 1)``.  Output shape: ``(batch, H, W, C)``.
    """

    GAIN_BOUND = 3.0

    def __init__(self, initial_strength=0.0, per_channel=False, modulated=False, **kwargs):
        super().__init__(**kwargs)
        self.initial_strength = float(initial_strength)
        self.per_channel = bool(per_channel)
        self.modulated = bool(modulated)

    def build(self, input_shape):
        feat, eta = input_shape
        if eta[-1] not in (1, None):
            raise ValueError(f"noise input must have 1 channel. Received: eta shape={eta!r}.")
        if self.per_channel and feat[-1] is None:
            raise ValueError(f"per-channel noise strengths need a known channel count. Received: {feat!r}.")
        if self.modulated and feat[-1] is None:
            raise ValueError(f"modulated noise needs a known channel count. Received: {feat!r}.")
        self.strength = self.add_weight(
            shape=(int(feat[-1]),) if self.per_channel else (), initializer=keras.initializers.Constant(self.initial_strength), name="strength"
        )
        if self.modulated:
            self.modulation = self.add_weight(shape=(int(feat[-1]),), initializer="zeros", name="modulation")

    def gain(self, feat):
        """The noise gain ``g(f)`` at each pixel, shape ``(batch, H, W, 1)`` (modulated layers only)."""
        b = self.GAIN_BOUND
        z = ops.sum(ops.multiply(feat, ops.cast(self.modulation, feat.dtype)), axis=-1, keepdims=True)
        return ops.exp(ops.multiply(b, ops.tanh(ops.divide(z, b))))

    def call(self, inputs):
        feat, eta = inputs
        eta = ops.cast(eta, feat.dtype)
        if self.modulated:
            eta = ops.multiply(eta, self.gain(feat))
        return ops.add(feat, ops.multiply(ops.cast(self.strength, feat.dtype), eta))

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "initial_strength": self.initial_strength, "per_channel": self.per_channel,
                "modulated": self.modulated}
