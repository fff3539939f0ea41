# SPDX-License-Identifier: BSD-3-Clause
"""Synchronous data parallelism for training: one model replica per device (``tf.distribute``).

Every batch of ``B`` samples is split over the ``n`` replicas *strided*: replica ``r`` gets
samples ``r, r + n, r + 2n, ...``.  Each replica computes its losses as means over its ``B/n``
samples, scaled by ``1/n``; Keras' TensorFlow optimizer sums the replicas' gradients
(``all_reduce``) before one update of the mirrored variables, so an update is that of the whole
batch on one device up to the order of floating-point sums.  The one batch statistic of the
models, the critic's minibatch standard deviation, is taken per replica: the trainer builds the
critic with groups of at most ``B/n`` samples, and with the strided split the single-device
grouping (sample ``i`` in group ``i mod (B/g)``) puts exactly one replica's samples in a group.
A run on ``n`` devices therefore reproduces the single-device run with
``mbstd_group = B/n`` (tested on two logical CPU devices).

Examples
--------
>>> resolve_devices(None), resolve_devices(1)
(None, None)
"""
from __future__ import annotations

import contextlib

from ember_dist.model.runtime import import_tensorflow

__all__ = ["resolve_devices", "DataParallel", "logical_cpu_devices"]


def _gpus():
    tf = import_tensorflow()

    return [d.name for d in tf.config.list_logical_devices("GPU")]


def resolve_devices(devices):
    """The device names to replicate over, or ``None`` for one device (no strategy).

    ``devices``: ``None`` or ``1`` (one device), ``"auto"`` (every GPU when there are two or
    more, else one device; always one device on a backend other than TensorFlow), an int ``n >= 2``
    (the first ``n`` GPUs) or a sequence / comma-separated string of TensorFlow device names (e.g.
    ``"/gpu:0,/gpu:1"``; one name places the run there).
    """
    if devices is None or devices == 1 or devices == "1":
        return None
    from ember_dist.model.runtime import import_keras

    backend = import_keras().backend.backend()
    if backend != "tensorflow":  # replicas are tf.distribute's; the JAX steps run on JAX's default device
        if isinstance(devices, str) and devices.strip().lower() == "auto":
            return None
        raise ValueError(f"devices={devices!r}: training on several devices needs KERAS_BACKEND=tensorflow (this "
                         f"process runs {backend!r}, on one device); pass devices=None or 'auto' (--devices auto).")
    if isinstance(devices, str) and devices.strip().lower() == "auto":
        gpus = _gpus()
        return gpus if len(gpus) > 1 else None
    if isinstance(devices, str) and devices.strip().isdigit():
        devices = int(devices)
    if isinstance(devices, int):
        if devices < 1:
            raise ValueError(f"devices must be >= 1. Received: devices={devices}.")
        gpus = _gpus()
        if len(gpus) < devices:
            raise ValueError(f"devices={devices} asks for {devices} GPUs; TensorFlow sees {len(gpus)} ({gpus}). "
                             "Pass devices='auto' (--devices auto), fewer devices, or explicit device names.")
        return gpus[:devices]
    names = [d.strip() for d in (devices.split(",") if isinstance(devices, str) else devices) if d.strip()]
    if not names:
        return None
    tf = import_tensorflow()

    known = [tf.DeviceSpec.from_string(d.name) for d in tf.config.list_logical_devices()]
    for n in names:
        s = tf.DeviceSpec.from_string(n)
        kind = (s.device_type or "").upper()
        if not any(k.device_type == kind and k.device_index == s.device_index for k in known):
            names_here = [d.name for d in tf.config.list_logical_devices()]
            raise ValueError(f"device {n!r} is not a TensorFlow device here; known: {names_here}. Pass "
                             "devices='auto' (--devices auto) or names from that list.")
    if len(set(names)) != len(names):
        raise ValueError(f"devices lists a device twice: {names}.")
    return names


_STRATEGIES = {}


def _strategy(devices):
    """One strategy per device set and process.

    A second ``MirroredStrategy`` over the same devices numbers its collective all-reduces from the
    same keys as the first, and TensorFlow then matches them against the first one's (``Shape
    mismatch in the collective instance``): several runs in one session (a notebook) share one.
    """
    tf = import_tensorflow()

    if devices not in _STRATEGIES:
        _STRATEGIES[devices] = (tf.distribute.OneDeviceStrategy(devices[0]) if len(devices) == 1
                                else tf.distribute.MirroredStrategy(list(devices)))
    return _STRATEGIES[devices]


class DataParallel:
    """Replicas of the models on ``devices`` (``None``: one device, everything passes through)."""

    def __init__(self, devices=None, batch=None):
        self.devices = resolve_devices(devices)
        self.n = 1 if self.devices is None else len(self.devices)
        if batch is not None and batch % self.n:
            raise ValueError(f"batch={batch} (--batch) does not split over {self.n} devices {self.devices}; pass a "
                             f"batch that is a multiple of {self.n} (e.g. {self.n * max(1, batch // self.n)}).")
        self.strategy = None if self.devices is None else _strategy(tuple(self.devices))

    @property
    def loss_scale(self):
        """Factor on each replica's loss: its gradients are summed over the replicas."""
        return 1.0 / self.n

    def scope(self):
        """Build models and optimizers inside this context (their variables are then mirrored)."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def split(self, *args):
        """Per-replica values of nested batch structures (axis 0 split strided over the replicas)."""
        if self.strategy is None:
            return args
        tf = import_tensorflow()

        n = self.n

        def part(ctx):
            r = ctx.replica_id_in_sync_group
            return tf.nest.map_structure(lambda a: tf.convert_to_tensor(a[r::n]), args)

        return self.strategy.experimental_distribute_values_from_function(part)

    def compile(self, fn, jit=True):
        """``fn(*batch) -> {name: scalar}`` run on every replica; metrics averaged over the replicas.

        With ``jit`` the step is a ``tf.function``; the split of the batch happens outside it.
        """
        tf = import_tensorflow()

        if self.strategy is None:
            if jit:
                return tf.function(fn, reduce_retracing=True)
            # eager Keras calls refuse dicts mixing arrays and tensors (the critic's inputs would)
            return lambda *args: fn(*tf.nest.map_structure(tf.convert_to_tensor, args))
        strategy = self.strategy
        mean = tf.distribute.ReduceOp.MEAN

        def step(per_replica):
            out = strategy.run(fn, args=per_replica)
            return {k: strategy.reduce(mean, v, axis=None) for k, v in out.items()}

        run = tf.function(step, reduce_retracing=True) if jit else step
        return lambda *args: run(self.split(*args))

    def describe(self):
        """JSON-ready summary for the logs and the bundle metadata."""
        return {"replicas": self.n, "devices": self.devices,
                "strategy": None if self.strategy is None else type(self.strategy).__name__}


def logical_cpu_devices(n):
    """Split the host CPU into ``n`` logical TensorFlow devices (before TensorFlow initialises).

    For testing and benchmarking data parallelism without GPUs; returns their names.
    """
    tf = import_tensorflow()

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
    return [d.name for d in tf.config.list_logical_devices("CPU")]
