# SPDX-License-Identifier: BSD-3-Clause
"""TensorFlow-backend training steps (``tf.GradientTape``); everything else in ``train`` is backend-agnostic.

The losses come from :mod:`ember_dist.train.losses` (``keras.ops``); only the
gradients and ``tf.function`` compilation are TensorFlow-specific here.  All
randomness (tiles, noise maps, interpolation weights of the gradient penalty)
arrives as inputs, so a step is a pure function of the weights, the optimizer
state and its inputs.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from ember_dist.train import losses as L

__all__ = ["input_gradients", "gradient_penalty", "StepFunctions"]


def input_gradients(critic, inputs, wrt):
    """Gradients of ``sum(critic(inputs))`` with respect to ``inputs[name]`` for ``name in wrt``."""
    xs = [tf.convert_to_tensor(inputs[n], tf.float32) for n in wrt]
    with tf.GradientTape() as tape:
        tape.watch(xs)
        feed = {k: tf.convert_to_tensor(v, tf.float32) for k, v in inputs.items()}
        d = critic({**feed, **dict(zip(wrt, xs))}, training=True)
        s = tf.reduce_sum(d)
    return tape.gradient(s, xs)


def gradient_penalty(critic, real, fake, eps, wrt):
    """Two-sided penalty at ``x_hat = eps * real + (1 - eps) * fake`` for the inputs named in ``wrt``.

    ``real`` and ``fake`` are critic input dicts sharing the conditioning inputs; ``eps`` has shape
    ``(batch, 1, 1, 1)``.
    """
    eps = tf.cast(eps, tf.float32)
    xhat = dict(real)
    for n in wrt:
        xhat[n] = eps * tf.cast(real[n], tf.float32) + (1.0 - eps) * tf.cast(fake[n], tf.float32)
    return L.gradient_penalty_from_grads(input_gradients(critic, xhat, wrt))


def _by_level(outputs, levels):
    return dict(zip(levels, outputs))


class StepFunctions:
    """Compiled train steps for one generator (and critic)."""

    def __init__(self, generator, weights, levels, g_opt, critic=None, c_opt=None, gp_weight=L.GP_WEIGHT,
                 data_range=1.0, jit=True, parallel=None):
        self.g, self.c = generator, critic
        self.w, self.levels = weights, list(levels)
        self.g_opt, self.c_opt = g_opt, c_opt
        self.gp_weight = float(gp_weight)
        self.data_range = float(data_range)
        self.scale_names = [f"scale_l{l}" for l in self.levels if l > 0]
        self.wrt = ["target"] + self.scale_names
        if parallel is None:
            from ember_dist.train.distribute import DataParallel

            parallel = DataParallel()
        self.loss_scale = parallel.loss_scale  # replicas' gradients are summed (distribute.py)
        self.unet_step = parallel.compile(self._unet_step, jit)
        self.critic_step = parallel.compile(self._critic_step, jit)
        self.generator_step = parallel.compile(self._generator_step, jit)

    def _perceptual(self, target, outputs):
        return L.perceptual_loss(target, outputs, self.w, self.levels, self.data_range)

    def _unet_step(self, inputs, target):
        with tf.GradientTape() as tape:
            outs = self.g(inputs, training=True)
            loss, d, m = self._perceptual(target, outs)
            scaled = loss * self.loss_scale
        grads = tape.gradient(scaled, self.g.trainable_variables)
        self.g_opt.apply_gradients(zip(grads, self.g.trainable_variables))
        return {"loss": loss, "dssim": d, "msle": m}

    def _real_fake(self, inputs, target, outs):
        dm = inputs["dm"]
        real = {"target": target, "dm": dm}
        fake = {"target": outs[0], "dm": dm}
        for o, lev in zip(outs, self.levels):
            if lev > 0:
                real[f"scale_l{lev}"] = L.downsample(target, lev)
                fake[f"scale_l{lev}"] = o
        return real, fake

    def _critic_step(self, inputs, target, eps):
        outs = self.g(inputs, training=False)
        real, fake = self._real_fake(inputs, target, outs)
        with tf.GradientTape() as tape:
            d_real = self.c(real, training=True)
            d_fake = self.c(fake, training=True)
            w = L.critic_wasserstein(d_real, d_fake)
            gp = gradient_penalty(self.c, real, fake, eps, self.wrt)
            loss = w + self.gp_weight * gp
            scaled = loss * self.loss_scale
        grads = tape.gradient(scaled, self.c.trainable_variables)
        self.c_opt.apply_gradients(zip(grads, self.c.trainable_variables))
        return {"critic_loss": loss, "wasserstein": -w, "gp": gp}

    def _generator_step(self, inputs, target):
        with tf.GradientTape() as tape:
            outs = self.g(inputs, training=True)
            p, d, m = self._perceptual(target, outs)
            _, fake = self._real_fake(inputs, target, outs)
            adv = L.generator_adversarial(self.c(fake, training=True))
            loss = p + self.w.gamma * adv
            scaled = loss * self.loss_scale
        grads = tape.gradient(scaled, self.g.trainable_variables)
        self.g_opt.apply_gradients(zip(grads, self.g.trainable_variables))
        return {"loss": loss, "perceptual": p, "dssim": d, "msle": m, "adversarial": adv}


class ScalarWriter:
    """TensorBoard scalars in ``logdir``, written with TensorFlow's own ``tf.summary.write``.

    The ``tensorboard`` package is not needed to write them (only to view them): each value is a
    scalar tensor tagged with the metadata of TensorBoard's ``scalars`` plugin.
    """

    def __init__(self, logdir):
        from tensorflow.core.framework import summary_pb2

        self.w = tf.summary.create_file_writer(str(logdir))
        self.md = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))

    def write(self, step, metrics):
        with self.w.as_default():
            for k, v in metrics.items():
                tf.summary.write(k, tf.constant(float(v), tf.float32), step=int(step), metadata=self.md)
        self.w.flush()

    def close(self):
        self.w.close()
