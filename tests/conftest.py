# SPDX-License-Identifier: BSD-3-Clause
"""Shared fixtures: random-weight bundles and real LocalClusters (session-scoped)."""
from __future__ import annotations

import contextlib
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import dask  # noqa: E402
import pytest  # noqa: E402

# SpecCluster closes a worker's nanny for good when, ``lost-worker-timeout`` (15 s) after the worker
# left, no worker of its name is registered. The timer of one SIGKILL can fire while a later kill of
# the same worker is still restarting (CI, 2026-12-04: "Only 1/2 workers arrived after 60" in every
# fault test after the third; reproduced with a 4 s timeout and two kills 3.5 s apart). The tests'
# nannies restart their workers and no test waits for a lost SLURM job to be replaced, so the timer is
# pushed past the session. Set once: a dask.config.set context per fixture would be undone out of order
# when a module fixture closes before a session fixture opened after it.
dask.config.set({"distributed.deploy.lost-worker-timeout": "1h"})


@pytest.fixture(scope="session")
def bundles(tmp_path_factory):
    """Random tiny-preset bundles: noisy generator ("wgan"), one whose noise gains vary pixel by pixel
    ("wgan-modulated") and U-Net, field gas."""
    from ember_dist.model.presets import get_preset
    from ember_dist.model.testing import random_bundle

    root = tmp_path_factory.mktemp("bundles")
    return {
        "wgan": random_bundle(root / "wgan", "tiny", "gas", noise=True, seed=1),
        "unet": random_bundle(root / "unet", "tiny", "gas", noise=False, seed=2),
        "wgan-modulated": random_bundle(root / "wgan-modulated", get_preset("tiny").with_noise_modulated(True), "gas",
                                        noise=True, seed=3),
    }


@contextlib.contextmanager
def local_client(n, threads=1, **env):
    """A client of a LocalCluster of ``n`` nanny-restarted worker processes on this machine."""
    from distributed import Client, LocalCluster

    env = {"TF_NUM_INTRAOP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow", **env}
    cluster = LocalCluster(n_workers=n, threads_per_worker=threads, processes=True, host="127.0.0.1",
                           dashboard_address=":0", env=env)
    c = Client(cluster, timeout="60s")
    try:
        yield c
    finally:
        c.close()
        cluster.close()


@pytest.fixture(scope="session")
def client():
    with local_client(1) as c:
        yield c


@pytest.fixture(scope="session")
def client2():
    """Two workers of two threads each (the local profile's threads): tasks of one worker overlap."""
    with local_client(2, threads=2) as c:
        yield c


def _browser():
    import shutil

    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="session")
def chromium():
    """Debian's chromium: found on PATH, else installed with apt-get (root), else the test skips saying why."""
    import shutil
    import subprocess

    exe = _browser()
    if exe:
        return exe
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("this browser test needs Debian's chromium, or root and apt-get to install it")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "-y", "-q", "--no-install-recommends", "install", "chromium"]
    if subprocess.run(apt, env=env, capture_output=True, timeout=900).returncode != 0:
        subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=300", "-q", "update"], env=env, capture_output=True,
                       timeout=900)
        r = subprocess.run(apt, env=env, capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, f"apt-get could not install chromium: {r.stderr[-2000:]}"
    exe = _browser()
    assert exe, "apt-get installed chromium but no chromium executable is on PATH"
    return exe


def as_from_a_terminal(cmd):
    """``cmd`` (``[sys.executable, "-m", module, *args]``) with SIGINT at Python's default, as from a terminal.

    A job that a non-interactive shell starts in the background (``cmd &``, ``nohup``) inherits SIGINT
    ignored, and Python then installs no KeyboardInterrupt handler: the CLI rightly keeps ignoring Ctrl-C
    there, so a test that sends it one must give the child the disposition a terminal gives it (a pytest run
    started that way saw its Ctrl-C test's child finish with exit code 0).
    """
    assert cmd[:2] == [sys.executable, "-m"], cmd
    code = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "sys.argv = sys.argv[1:]; runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)")
    return [sys.executable, "-c", code, *cmd[2:]]


def load_tool(name):
    """A fresh module of ``tools/<name>.py`` (the tools are scripts, not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "tools" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
