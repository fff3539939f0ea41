# SPDX-License-Identifier: BSD-3-Clause
"""The JAX training steps (``_jax_step``, for GPUs without TensorFlow) do what the TensorFlow ones do.

The same tiny runs, from the same initial weights and batches, on both backends
(``backend_run.py``, one process per backend; the JAX one with TensorFlow hidden, as on the GPU
machines): every logged metric and every variable after three iterations (weights, Adam moments,
the noise strengths' own optimizer) agree to round-off.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("jax")


def _run(work, backend):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2", "JAX_PLATFORMS": "cpu"}
    if backend == "jax":  # as on the GPU machines, which have JAX and no TensorFlow: any import of it fails
        hide = work / "no-tensorflow"
        hide.mkdir(exist_ok=True)
        (hide / "sitecustomize.py").write_text("import sys\nsys.modules['tensorflow'] = None\n")
        env["PYTHONPATH"] = os.pathsep.join([str(hide), *filter(None, [os.environ.get("PYTHONPATH")])])
    p = subprocess.run([sys.executable, str(Path(__file__).with_name("backend_run.py")), str(work)],
                       capture_output=True, text=True, env=env, timeout=600)
    lines = [l for l in p.stdout.splitlines() if l.startswith("RESULT ")]
    assert p.returncode == 0 and lines, p.stderr[-4000:]
    return json.loads(lines[-1][len("RESULT "):])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    work = tmp_path_factory.mktemp("backends")
    tf = _run(work, "tensorflow")  # first: writes the initial weights
    jx = _run(work, "jax")
    assert (tf["backend"], jx["backend"]) == ("tensorflow", "jax")
    return work, tf, jx


def _rel(a, b):
    return abs(a - b) / max(abs(a), 1e-12)


def _variables_rel(work, name):
    """``{variable: rms(tf - jax) / rms(tf)}`` of a run's saved variables."""
    a, b = np.load(work / f"tensorflow-{name}.npz"), np.load(work / f"jax-{name}.npz")
    assert sorted(a.files) == sorted(b.files)
    return {k: float(np.sqrt(np.mean((a[k] - b[k]) ** 2) / (np.mean(a[k] ** 2) + 1e-30))) for k in a.files}


@pytest.mark.parametrize("name", ["unet", "wgan", "wgan-r1"])
def test_jax_steps_match_tensorflow_over_three_iterations(runs, name):
    work, tf, jx = runs
    assert len(tf[name]) == len(jx[name]) == 3
    for a, b in zip(tf[name], jx[name]):
        assert a.keys() == b.keys()
        # the noise strengths' gradients are sums over noise maps that mostly cancel: round-off shows (5e-3)
        cancelling = [k for k in a if k.startswith(("grad_noise", "noise_push"))]
        worst = max((_rel(a[k], b[k]), k) for k in a if k not in cancelling)
        assert worst[0] < 1e-3, worst  # measured <= 1e-4
        assert all(_rel(a[k], b[k]) < 3e-2 for k in cancelling), [(k, a[k], b[k]) for k in cancelling]
    rel = _variables_rel(work, name)
    groups = {k.rstrip("0123456789") for k in rel}
    assert groups == ({"g", "go"} if name == "unet" else {"g", "go", "c", "co"} | ({"no"} if name == "wgan" else set()))
    # measured <= 7e-5; the noise optimizer's moments given to the wrong levels: 1.3
    assert max(rel.values()) < 1e-3, max((v, k) for k, v in rel.items())
    # and the three iterations did move the networks, by far more than the backends differ
    init, final = np.load(work / f"init-{name}.npz"), np.load(work / f"jax-{name}.npz")
    moved = [float(np.sqrt(np.mean((final[k] - init[k]) ** 2) / (np.mean(init[k] ** 2) + 1e-30)))
             for k in init.files if np.mean(init[k] ** 2) > 0]
    assert np.median(moved) > 1e-3, np.median(moved)


def test_the_noise_floor_holds_on_both_backends(runs):
    """Levels 0-1 of the r1 runs start on their floor 0.05: the channels the updates push down stay exactly on it
    (float32(0.05)) on both backends, the others rise; the free level 2 moves both ways (with level 0 alone held, 5 of
    level 1's 16 channels ended below 0.049)."""
    _, tf, jx = runs
    f = float(np.float32(0.05))
    for r in (tf, jx):
        s = r["wgan-r1-strengths"]
        held = np.abs(np.concatenate([s["dec0_noise"], s["dec1_noise"]]))
        assert held.min() == f and (held == f).sum() >= 2 and (held > f).sum() >= 2, held
        free = np.abs(np.asarray(s["dec2_noise"]))
        assert free.min() < 0.05 - 1e-4 and free.max() > 0.05 + 1e-4, free
    for level in ("dec0_noise", "dec1_noise"):
        assert np.allclose(tf["wgan-r1-strengths"][level], jx["wgan-r1-strengths"][level], atol=1e-6)


def test_jax_steps_match_tensorflow_on_the_pdf_terms_at_the_same_weights(runs):
    _, tf, jx = runs
    a, b = tf["unet-pdf"][0], jx["unet-pdf"][0]
    assert {"pdf", "pdf_log", "pdf_mass", "dssim", "msle"} <= a.keys() == b.keys()
    assert max(_rel(a[k], b[k]) for k in a) < 1e-5  # measured 2e-7


def test_a_jax_run_needs_no_tensorflow_and_uses_one_device(runs):
    _, tf, jx = runs
    assert jx["tensorflow_imported"] is False and tf["tensorflow_imported"] is True
    assert jx["auto_replicas"] == 1 and "needs KERAS_BACKEND=tensorflow" in jx["two_devices"]
    assert tf["two_devices"] is not None and "TensorFlow sees" in tf["two_devices"]  # no GPUs here
