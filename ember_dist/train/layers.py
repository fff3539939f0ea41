# SPDX-License-Identifier: BSD-3-Clause
"""Critic-only layers (minibatch statistics never enter the generator)."""
from __future__ import annotations

from ember_dist.model.runtime import import_keras

keras = import_keras()
ops = keras.ops

__all__ = ["MinibatchStdDev"]


@keras.saving.register_keras_serializable(package="ember_dist")
class MinibatchStdDev(keras.layers.Layer):
    """Appends one channel holding the minibatch standard deviation (Karras et al. 2018).

    The standard deviation of every feature at every pixel is taken over the
    batch (groups of ``group_size`` samples; the whole batch when ``group_size``
    is ``None`` or does not divide it), averaged over pixels and channels, and
    broadcast as an extra channel.

    Args:
        group_size: int or None, samples per statistics group.
        epsilon: float, added to the variance before the square root.

    Notes
    -----
    Input shape ``(batch, H, W, C)``; output shape ``(batch, H, W, C + 1)``.
    """

    def __init__(self, group_size=None, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.group_size = None if group_size is None else int(group_size)
        self.epsilon = float(epsilon)

    def call(self, x):
        shape = ops.shape(x)
        b = shape[0]
        g = self.group_size
        static_b = x.shape[0]
        if g is None or static_b is None or static_b % g or g > static_b:
            g = b
        xg = ops.reshape(x, (g, -1, shape[1], shape[2], shape[3]))  # (g, b/g, H, W, C)
        mean = ops.mean(xg, axis=0, keepdims=True)
        std = ops.sqrt(ops.mean(ops.square(xg - mean), axis=0) + self.epsilon)  # (b/g, H, W, C)
        s = ops.mean(std, axis=(1, 2, 3), keepdims=True)  # (b/g, 1, 1, 1)
        s = ops.tile(s, (g, 1, 1, 1))  # sample i -> group i mod (b/g), matching the reshape above
        s = ops.broadcast_to(s, (b, shape[1], shape[2], 1))
        return ops.concatenate([x, ops.cast(s, x.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        c = input_shape[-1]
        return tuple(input_shape[:-1]) + (None if c is None else c + 1,)

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size, "epsilon": self.epsilon}
