# SPDX-License-Identifier: BSD-3-Clause
"""An exponential moving average of the generator's weights (Karras et al. 2018, 2020; Yazici et al. 2019).

A WGAN's generator weights oscillate from step to step as generator and critic chase each other: on the suite's
HI recipe one seed's checkpoint scores moved between 0.43 and 1.38 from one checkpoint to the next.  The
average of the weights over the last few hundred steps is a better generator than any one of them; it is what
StyleGAN and BigGAN export.  Training itself is unchanged (the average is not fed back), so a run with the
average takes the same steps as one without; checkpoints keep it (group ``ema``), are scored with it and the
bundle exports it.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np

__all__ = ["WeightAverage"]


class WeightAverage:
    """``shadow = beta * shadow + (1 - beta) * weights`` after every step, ``beta = 0.5 ** (1 / half_life)``.

    ``weights``: the generator's variables (Keras); the average starts at their current values (after a
    warm start) and lives in float64 NumPy arrays (a few ms per step for the suite's presets; one definition
    on every backend).

    >>> class V:  # a stand-in for a Keras variable: numpy() and assign()
    ...     def __init__(self, a): self.a = np.asarray(a, np.float64)
    ...     def numpy(self): return self.a
    ...     def assign(self, a): self.a = np.asarray(a, np.float64)
    >>> w = [V([0.0])]
    >>> avg = WeightAverage(w, half_life=1)
    >>> w[0].assign([1.0]); avg.update(); w[0].assign([1.0]); avg.update()
    >>> float(avg.shadow[0][0])  # 0 -> 0.5 -> 0.75
    0.75
    >>> with avg.applied():
    ...     float(w[0].a[0])
    0.75
    >>> float(w[0].a[0])
    1.0
    """

    def __init__(self, weights, half_life):
        if not half_life > 0:
            raise ValueError(f"half_life must be > 0 steps (--ema-half-life). Received: {half_life!r}.")
        self.weights = list(weights)
        self.half_life = float(half_life)
        self.beta = 0.5 ** (1.0 / self.half_life)
        self.shadow = [self._value(v).copy() for v in self.weights]

    @staticmethod
    def _value(v):
        return np.array(v.numpy() if hasattr(v, "numpy") else v, dtype=np.float64)

    def update(self):
        """One step of the average with the weights as they are now."""
        for s, v in zip(self.shadow, self.weights):
            s *= self.beta
            s += (1.0 - self.beta) * self._value(v)

    def load(self, arrays):
        """Set the average to ``arrays`` (a checkpoint's ``ema`` group, in order)."""
        arrays = list(arrays)
        if len(arrays) != len(self.shadow):
            raise ValueError(f"the checkpoint holds {len(arrays)} averaged weights, the generator {len(self.shadow)}.")
        self.shadow = [np.array(a, np.float64) for a in arrays]

    def copy_to_weights(self):
        """Give the generator the average (for good: e.g. before exporting the last step)."""
        _assign(self.weights, self.shadow)

    @contextmanager
    def applied(self):
        """The generator holds the average inside the block, its own weights again after it."""
        saved = [self._value(v) for v in self.weights]
        try:
            self.copy_to_weights()
            yield self
        finally:
            _assign(self.weights, saved)


def _assign(variables, arrays):
    for v, a in zip(variables, arrays):
        v.assign(a.astype(_dtype(v)))


def _dtype(v):
    """A variable's NumPy dtype (Keras gives a string, TensorFlow a DType), float32 when it has none."""
    d = getattr(v, "dtype", None)
    try:
        return np.dtype(getattr(d, "name", d) or np.float32)
    except TypeError:
        return np.float32
