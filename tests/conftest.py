# SPDX-License-Identifier: BSD-3-Clause
"""Shared fixtures: random-weight bundles and real LocalClusters (session-scoped)."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def bundles(tmp_path_factory):
    """Random tiny-preset bundles: noisy generator ("wgan") and U-Net, field gas."""
    from ember_dist.model.testing import random_bundle

    root = tmp_path_factory.mktemp("bundles")
    return {
        "wgan": random_bundle(root / "wgan", "tiny", "gas", noise=True, seed=1),
        "unet": random_bundle(root / "unet", "tiny", "gas", noise=False, seed=2),
    }


def _cluster(n, threads=1):
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=n, threads_per_worker=threads, processes=True, host="127.0.0.1",
                           dashboard_address=":0", env={"TF_NUM_INTRAOP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
                                                        "KERAS_BACKEND": "tensorflow"})
    return Client(cluster, timeout="60s")


@pytest.fixture(scope="session")
def client():
    c = _cluster(1)
    yield c
    c.close()
    c.cluster.close()


@pytest.fixture(scope="session")
def client2():
    """Two workers of two threads each (the local profile's threads): tasks of one worker overlap."""
    c = _cluster(2, threads=2)
    yield c
    c.close()
    c.cluster.close()


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

