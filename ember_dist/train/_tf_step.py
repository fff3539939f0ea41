# SPDX-License-Identifier: BSD-3-Clause
"""TensorFlow-backend training steps (``tf.GradientTape``); everything else in ``train`` is backend-agnostic.

The losses come from :mod:`ember_dist.train.losses` (``keras.ops``) through
:class:`~ember_dist.train.step_terms.StepTerms`; only the gradients and ``tf.function``
compilation are TensorFlow-specific here.  All
randomness (tiles, noise maps, interpolation weights of the gradient penalty)
arrives as inputs, so a step is a pure function of the weights, the optimizer
state and its inputs.
"""
from __future__ import annotations

from ember_dist.model.runtime import import_keras, import_tensorflow
from ember_dist.train import losses as L
from ember_dist.train.step_terms import StepTerms, flip_noise

keras = import_keras()
tf = import_tensorflow()

__all__ = ["input_gradients", "gradient_penalty", "r1_penalty", "StepFunctions"]


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


def r1_penalty(critic, real, wrt):
    """R1 penalty ``mean_i ||grad D(real_i)||^2`` over the inputs named in ``wrt`` (conditioning held fixed)."""
    return L.r1_penalty_from_grads(input_gradients(critic, real, wrt))


def _by_level(outputs, levels):
    return dict(zip(levels, outputs))


class StepFunctions(StepTerms):
    """Compiled train steps for one generator (and critic)."""

    def __init__(self, generator, weights, levels, g_opt, critic=None, c_opt=None, gp_weight=L.GP_WEIGHT,
                 data_range=1.0, jit=True, parallel=None, n_critic=5, penalty="gp", noise_opt=None,
                 noise_variables=(), perceptual_from_level=0, power_norm=None, tile=None, **batch_terms):
        self.g, self.c = generator, critic
        self._init_terms(weights, levels, gp_weight, data_range, penalty, perceptual_from_level, power_norm, tile,
                         **batch_terms)
        self.g_opt, self.c_opt = g_opt, c_opt
        # noise strengths with their own optimizer (learning rate); None: one optimizer for all
        self.noise_opt = noise_opt
        self.noise_all_ids = {id(v) for v in noise_variables}
        self.noise_ids = self.noise_all_ids if noise_opt is not None else set()
        if parallel is None:
            from ember_dist.train.distribute import DataParallel

            parallel = DataParallel()
        self.loss_scale = parallel.loss_scale  # replicas' gradients are summed (distribute.py)
        self.unet_step = parallel.compile(self._unet_step, jit)
        self.critic_step = parallel.compile(self._critic_step, jit)
        self.generator_step = parallel.compile(self._generator_step, jit)
        if critic is not None:
            self.generator_diagnostics = parallel.compile(self._generator_diagnostics, jit)
        self.n_critic = int(n_critic)
        if critic is not None:
            self._iteration = {g: parallel.compile(lambda *a, g=g: self._wgan_iteration(*a, train_generator=g), jit)
                               for g in (True, False)}

    def _unet_step(self, inputs, target):
        with tf.GradientTape() as tape:
            outs = self.g(inputs, training=True)
            loss, d, m, extra = self._perceptual(target, outs)
            scaled = loss * self.loss_scale
        self._apply_generator(tape.gradient(scaled, self.g.trainable_variables))
        return {"loss": loss, "dssim": d, "msle": m, **extra}

    def _apply_generator(self, grads):
        """Generator update; the noise strengths by their own optimizer when there is one."""
        tv = self.g.trainable_variables
        if self.noise_opt is None:
            self.g_opt.apply_gradients(zip(grads, tv))
            return
        main = [(g, v) for g, v in zip(grads, tv) if id(v) not in self.noise_ids]
        noise = [(g, v) for g, v in zip(grads, tv) if id(v) in self.noise_ids]
        self.g_opt.apply_gradients(main)
        self.noise_opt.apply_gradients(noise)

    def _critic_step(self, inputs, target, eps, outs=None):
        if outs is None:
            outs = self.g(inputs, training=False)
        real, fake = self._real_fake(inputs, target, outs)
        with tf.GradientTape() as tape:
            d_real = self.c(real, training=True)
            d_fake = self.c(fake, training=True)
            w = L.critic_wasserstein(d_real, d_fake)
            if self.penalty == "r1":
                gp = r1_penalty(self.c, real, self.wrt)
                loss = w + 0.5 * self.gp_weight * gp
            else:
                gp = gradient_penalty(self.c, real, fake, eps, self.wrt)
                loss = w + self.gp_weight * gp
            scaled = loss * self.loss_scale
        grads = tape.gradient(scaled, self.c.trainable_variables)
        self.c_opt.apply_gradients(zip(grads, self.c.trainable_variables))
        return {"critic_loss": loss, "wasserstein": -w, "gp": gp}

    def _generator_step(self, inputs, target):
        with tf.GradientTape() as tape:
            outs = self.g(inputs, training=True)
            p, d, m, extra = self._perceptual(target, outs, lambda: self.g(flip_noise(inputs), training=True))
            _, fake = self._real_fake(inputs, target, outs)
            adv = L.generator_adversarial(self.c(fake, training=True))
            loss = p + self.w.gamma * adv
            scaled = loss * self.loss_scale
        self._apply_generator(tape.gradient(scaled, self.g.trainable_variables))
        return {"loss": loss, "perceptual": p, "dssim": d, "msle": m, "adversarial": adv, **extra}

    def _generator_diagnostics(self, inputs, target):
        """Gradient norms of the perceptual and the (gamma-weighted) adversarial terms on the generator.

        ``grad_perceptual`` / ``grad_adversarial``: over all generator weights; ``grad_noise_perceptual``
        / ``grad_noise_adversarial``: over the noise strengths only; ``noise_push_perceptual`` /
        ``noise_push_adversarial``: ``-sum sign(w) dL/dw`` over the strengths ``w``, the rate at which
        gradient descent on that term alone grows ``|w|`` (> 0: the term asks for more noise).  No update.
        """
        tv = self.g.trainable_variables
        with tf.GradientTape(persistent=True) as tape:
            outs = self.g(inputs, training=True)
            p, _, _, _ = self._perceptual(target, outs, lambda: self.g(flip_noise(inputs), training=True))
            _, fake = self._real_fake(inputs, target, outs)
            adv = self.w.gamma * L.generator_adversarial(self.c(fake, training=True))
        gp_, ga_ = tape.gradient(p, tv), tape.gradient(adv, tv)
        del tape

        def norm(gs, keep):
            sq = [tf.reduce_sum(tf.square(g)) for g, v in zip(gs, tv) if g is not None and keep(v)]
            return tf.sqrt(tf.add_n(sq)) if sq else tf.constant(0.0)

        def push(gs):
            d = [-tf.reduce_sum(tf.sign(v) * g) for g, v in zip(gs, tv) if g is not None and is_noise(v)]
            return tf.add_n(d) if d else tf.constant(0.0)

        is_noise = lambda v: id(v) in self.noise_all_ids  # noqa: E731
        return {"grad_perceptual": norm(gp_, lambda v: True), "grad_adversarial": norm(ga_, lambda v: True),
                "grad_noise_perceptual": norm(gp_, is_noise), "grad_noise_adversarial": norm(ga_, is_noise),
                "noise_push_perceptual": push(gp_), "noise_push_adversarial": push(ga_)}


    def wgan_iteration(self, critic_batches, generator_batch=None):
        """One WGAN iteration in one compiled call: ``len(critic_batches)`` critic updates, then one
        generator update on ``generator_batch`` (none when it is ``None``, e.g. during a critic warm-up).

        ``critic_batches`` is a list of ``(inputs, target, eps)``.  The generator does not change
        during the critic updates, so its outputs for all of them come from one forward pass over
        the stacked batches (per-sample the same network; only the round-off of a larger
        convolution batch may differ).  Returns the metrics of the last critic update and of the
        generator update.
        """
        xc, yc, ec = self._stack_critic_batches(critic_batches)
        if generator_batch is None:
            return self._iteration[False](xc, yc, ec)
        return self._iteration[True](xc, yc, ec, *generator_batch)

    def _wgan_iteration(self, xc, yc, ec, xg=None, yg=None, train_generator=True):
        n = self.n_critic
        rows = int(yc.shape[0]) // n  # samples per critic batch on this replica
        part = lambda a, r: a[r * rows:(r + 1) * rows]  # noqa: E731
        outs = self.g(xc, training=False)
        m = {}
        for r in range(n):
            m = self._critic_step({k: part(v, r) for k, v in xc.items()}, part(yc, r), part(ec, r),
                                  [part(o, r) for o in outs])
        if train_generator:
            m = {**m, **self._generator_step(xg, yg)}
        return m


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
