# SPDX-License-Identifier: BSD-3-Clause
"""JAX-backend training steps: the same steps as :mod:`ember_dist.train._tf_step`, as pure functions.

Keras 3 on JAX keeps no gradient tape: each step is a pure function of the weights, the optimizer
states and the batch (``Model.stateless_call``, ``Optimizer.stateless_apply``), differentiated with
``jax.grad`` and compiled with ``jax.jit``.  :class:`StepFunctions` keeps the interface of the
TensorFlow one (``unet_step``, ``critic_step``, ``generator_step``, ``generator_diagnostics``,
``wgan_iteration``): before a call it reads the Keras variables' current values, after it assigns
the new ones, so checkpoints, warm starts, scoring and export see ordinary Keras variables.

The losses come from :mod:`ember_dist.train.losses` (``keras.ops``), shared with the TensorFlow
steps; the penalties' gradients of the critic with respect to its inputs are a nested ``jax.grad``.
One device only (multi-device data parallelism is :mod:`ember_dist.train.distribute`, TensorFlow).
"""
from __future__ import annotations

from ember_dist.model.runtime import import_keras
from ember_dist.train import losses as L
from ember_dist.train.step_terms import StepTerms, flip_noise

keras = import_keras()

import jax  # noqa: E402  (after Keras picked its backend)
import jax.numpy as jnp  # noqa: E402

__all__ = ["StepFunctions"]


def _values(variables):
    return [v.value for v in variables]


def _assign(variables, values):
    for v, x in zip(variables, values):
        v.assign(x)


class StepFunctions(StepTerms):
    """Compiled (``jax.jit``) train steps for one generator (and critic); arguments as the TensorFlow one's."""

    def __init__(self, generator, weights, levels, g_opt, critic=None, c_opt=None, gp_weight=L.GP_WEIGHT,
                 data_range=1.0, jit=True, parallel=None, n_critic=5, penalty="gp", noise_opt=None,
                 noise_variables=(), perceptual_from_level=0, power_norm=None, tile=None, **batch_terms):
        if parallel is not None and parallel.n > 1:
            raise NotImplementedError(f"training on {parallel.n} devices needs the TensorFlow backend "
                                      "(KERAS_BACKEND=tensorflow); on JAX a run uses one device (devices=None).")
        self.g, self.c = generator, critic
        self._init_terms(weights, levels, gp_weight, data_range, penalty, perceptual_from_level, power_norm, tile,
                         **batch_terms)
        self.g_opt, self.c_opt, self.noise_opt = g_opt, c_opt, noise_opt
        self.loss_scale = 1.0
        # positions in the generator's trainable variables, each in the order its optimizer was built with
        # (build.optimizers: the noise strengths level 0 first, the rest as the model lists them)
        where = {id(v): i for i, v in enumerate(generator.trainable_variables)}
        self._noise_idx = [where[id(v)] for v in noise_variables]
        self._main_idx = [i for i in range(len(where)) if i not in set(self._noise_idx)]
        self.n_critic = int(n_critic)
        compile_ = jax.jit if jit else (lambda f, **kw: f)
        self._unet = compile_(self._unet_pure)
        self._critic = compile_(self._critic_pure)
        self._generator = compile_(self._generator_pure)
        if critic is not None:
            self._diagnostics = compile_(self._diagnostics_pure)
            self._iteration = {g: compile_(lambda s, *a, g=g: self._iteration_pure(s, *a, train_generator=g))
                               for g in (True, False)}

    # -- state: the Keras variables' values in, new values out ------------------------------------
    def _groups(self):
        groups = {"g_tv": self.g.trainable_variables, "g_ntv": self.g.non_trainable_variables,
                  "go": self.g_opt.variables}
        if self.noise_opt is not None:
            groups["no"] = self.noise_opt.variables
        if self.c is not None:
            groups.update(c_tv=self.c.trainable_variables, c_ntv=self.c.non_trainable_variables,
                          co=self.c_opt.variables)
        return groups

    def _state(self):
        return {k: _values(vs) for k, vs in self._groups().items()}

    def _run(self, pure, *args, update=True):
        args = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), args)
        out = pure(self._state(), *args)
        if not update:
            return out
        new, metrics = out
        for k, vs in self._groups().items():
            if k in new:
                _assign(vs, new[k])
        return metrics

    def unet_step(self, inputs, target):
        return self._run(self._unet, inputs, target)

    def critic_step(self, inputs, target, eps):
        return self._run(self._critic, inputs, target, eps)

    def generator_step(self, inputs, target):
        return self._run(self._generator, inputs, target)

    def generator_diagnostics(self, inputs, target):
        """Gradient norms of the perceptual and (gamma-weighted) adversarial terms; see the TensorFlow one's."""
        return self._run(self._diagnostics, inputs, target, update=False)

    def wgan_iteration(self, critic_batches, generator_batch=None):
        """``n_critic`` critic updates then one generator update (none when ``generator_batch`` is ``None``),
        in one compiled call; the generator's outputs for the critic batches come from one forward pass."""
        xc, yc, ec = self._stack_critic_batches(critic_batches)
        if generator_batch is None:
            return self._run(self._iteration[False], xc, yc, ec)
        return self._run(self._iteration[True], xc, yc, ec, *generator_batch)

    # -- the networks as functions of their weights ------------------------------------------------
    def _gen(self, s, g_tv, inputs, training):
        outs, ntv = self.g.stateless_call(g_tv, s["g_ntv"], inputs, training=training)
        return list(outs), ntv

    def _crit(self, s, c_tv, inputs):
        d, ntv = self.c.stateless_call(c_tv, s["c_ntv"], inputs, training=True)
        return d, ntv

    def _input_gradients(self, s, c_tv, inputs):
        """Gradients of ``sum(critic(inputs))`` with respect to the inputs named in :attr:`wrt`."""
        def total(xs):
            return jnp.sum(self._crit(s, c_tv, {**inputs, **xs})[0])

        g = jax.grad(total)({n: inputs[n] for n in self.wrt})
        return [g[n] for n in self.wrt]

    def _apply_generator(self, s, grads):
        """New ``g_tv`` / ``go`` (/ ``no``): the noise strengths by their own optimizer when there is one."""
        tv = s["g_tv"]
        if self.noise_opt is None:
            new_tv, go = self.g_opt.stateless_apply(s["go"], grads, tv)
            return {"g_tv": list(new_tv), "go": list(go)}
        mi, ni = self._main_idx, self._noise_idx
        new_main, go = self.g_opt.stateless_apply(s["go"], [grads[i] for i in mi], [tv[i] for i in mi])
        new_noise, no = self.noise_opt.stateless_apply(s["no"], [grads[i] for i in ni], [tv[i] for i in ni])
        new_tv = list(tv)
        for i, x in zip(mi, new_main):
            new_tv[i] = x
        for i, x in zip(ni, new_noise):
            new_tv[i] = x
        return {"g_tv": new_tv, "go": list(go), "no": list(no)}

    # -- the steps ---------------------------------------------------------------------------------
    def _unet_pure(self, s, inputs, target):
        def loss_fn(g_tv):
            outs, ntv = self._gen(s, g_tv, inputs, True)
            loss, d, m, extra = self._perceptual(target, outs)
            return loss, ({"loss": loss, "dssim": d, "msle": m, **extra}, ntv)

        grads, (metrics, ntv) = jax.grad(loss_fn, has_aux=True)(s["g_tv"])
        return {**s, **self._apply_generator(s, grads), "g_ntv": list(ntv)}, metrics

    def _critic_pure(self, s, inputs, target, eps, outs=None):
        if outs is None:
            outs, _ = self._gen(s, s["g_tv"], inputs, False)
        outs = [jax.lax.stop_gradient(o) for o in outs]
        real, fake = self._real_fake(inputs, target, outs)

        def loss_fn(c_tv):
            d_real, _ = self._crit(s, c_tv, real)
            d_fake, ntv = self._crit(s, c_tv, fake)
            w = L.critic_wasserstein(d_real, d_fake)
            if self.penalty == "r1":
                gp = L.r1_penalty_from_grads(self._input_gradients(s, c_tv, real))
                loss = w + 0.5 * self.gp_weight * gp
            else:
                xhat = dict(real)
                for n in self.wrt:
                    xhat[n] = eps * real[n] + (1.0 - eps) * fake[n]
                gp = L.gradient_penalty_from_grads(self._input_gradients(s, c_tv, xhat))
                loss = w + self.gp_weight * gp
            return loss, ({"critic_loss": loss, "wasserstein": -w, "gp": gp}, ntv)

        grads, (metrics, ntv) = jax.grad(loss_fn, has_aux=True)(s["c_tv"])
        c_tv, co = self.c_opt.stateless_apply(s["co"], grads, s["c_tv"])
        return {**s, "c_tv": list(c_tv), "co": list(co), "c_ntv": list(ntv)}, metrics

    def _generator_terms(self, s, g_tv, inputs, target):
        """Perceptual terms and the gamma-weighted adversarial term of the generator at weights ``g_tv``."""
        outs, ntv = self._gen(s, g_tv, inputs, True)
        p, d, m, extra = self._perceptual(target, outs, lambda: self._gen(s, g_tv, flip_noise(inputs), True)[0])
        _, fake = self._real_fake(inputs, target, outs)
        adv = L.generator_adversarial(self._crit(s, s["c_tv"], fake)[0])
        return p, d, m, extra, adv, ntv

    def _generator_pure(self, s, inputs, target):
        def loss_fn(g_tv):
            p, d, m, extra, adv, ntv = self._generator_terms(s, g_tv, inputs, target)
            loss = p + self.w.gamma * adv
            return loss, ({"loss": loss, "perceptual": p, "dssim": d, "msle": m, "adversarial": adv, **extra}, ntv)

        grads, (metrics, ntv) = jax.grad(loss_fn, has_aux=True)(s["g_tv"])
        return {**s, **self._apply_generator(s, grads), "g_ntv": list(ntv)}, metrics

    def _diagnostics_pure(self, s, inputs, target):
        # one forward pass, both gradients (the TensorFlow step's persistent tape)
        def terms(tv):
            p, _, _, _, adv, _ = self._generator_terms(s, tv, inputs, target)
            return p, self.w.gamma * adv

        (p, adv), pull = jax.vjp(terms, s["g_tv"])
        (gp_,) = pull((jnp.ones_like(p), jnp.zeros_like(adv)))
        (ga_,) = pull((jnp.zeros_like(p), jnp.ones_like(adv)))
        noise = set(self._noise_idx)

        def norm(gs, keep):
            sq = [jnp.sum(jnp.square(g)) for i, g in enumerate(gs) if keep(i)]
            return jnp.sqrt(sum(sq)) if sq else jnp.float32(0.0)

        def push(gs):
            d = [-jnp.sum(jnp.sign(s["g_tv"][i]) * gs[i]) for i in self._noise_idx]
            return sum(d) if d else jnp.float32(0.0)

        return {"grad_perceptual": norm(gp_, lambda i: True), "grad_adversarial": norm(ga_, lambda i: True),
                "grad_noise_perceptual": norm(gp_, lambda i: i in noise),
                "grad_noise_adversarial": norm(ga_, lambda i: i in noise),
                "noise_push_perceptual": push(gp_), "noise_push_adversarial": push(ga_)}

    def _iteration_pure(self, s, xc, yc, ec, xg=None, yg=None, train_generator=True):
        n = self.n_critic
        rows = int(yc.shape[0]) // n  # samples per critic batch
        part = lambda a, r: a[r * rows:(r + 1) * rows]  # noqa: E731
        outs, _ = self._gen(s, s["g_tv"], xc, False)
        m = {}
        for r in range(n):
            s, m = self._critic_pure(s, {k: part(v, r) for k, v in xc.items()}, part(yc, r), part(ec, r),
                                     [part(o, r) for o in outs])
        if train_generator:
            s, mg = self._generator_pure(s, xg, yg)
            m = {**m, **mg}
        return s, m
