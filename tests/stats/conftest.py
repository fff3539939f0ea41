# SPDX-License-Identifier: BSD-3-Clause
"""Shared fixtures for the statistics tests: seeded fields with known spectra."""
import numpy as np
import pytest


def gaussian_field(n, box, pk, seed=0):
    """Seeded Gaussian random field with power spectrum ``pk(k)`` (k in h/ckpc).

    Returns the map and the full-plane |k| grid (h/ckpc). With D the unnormalised DFT,
    <|D_k|^2> = N^4 P(k) / L^2.
    """
    rng = np.random.default_rng(seed)
    w = np.fft.fft2(rng.normal(size=(n, n)))
    kf = 2 * np.pi / box
    iy = np.fft.fftfreq(n, 1.0 / n)
    kk = np.sqrt(iy[:, None] ** 2 + iy[None, :] ** 2) * kf
    p = np.zeros_like(kk)
    p[kk > 0] = pk(kk[kk > 0])
    d = np.fft.ifft2(w * np.sqrt(p * n**2 / box**2)).real
    return d, kk


@pytest.fixture
def lognormal_map():
    """A positive, skewed 128^2 float32 map (Msun/h per pixel)."""
    rng = np.random.default_rng(42)
    return (1e6 * rng.lognormal(0.0, 1.0, size=(128, 128))).astype(np.float32)


@pytest.fixture(scope="module")
def client():
    """A real in-process distributed cluster (2 workers, 1 thread each)."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster, timeout="30s") as c:
            yield c
