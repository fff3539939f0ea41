# SPDX-License-Identifier: BSD-3-Clause
"""Normalisation (paper parameters), coordinate-keyed noise, bundle discovery."""
from __future__ import annotations

import numpy as np
import pytest

from ember_dist.model.bundle import available_models, load_model
from ember_dist.model.noise import noise_field
from ember_dist.model.normalization import Normalization


@pytest.mark.parametrize("field,k,x0,q", [("dm", 3, 1e7, 1), ("gas", 3, 1.5e6, 1), ("hi", 0.9, 1e4, 0.2)])
def test_paper_normalisation_and_exact_inverse(field, k, x0, q):
    n = Normalization.for_field(field, hubble=0.6774)
    x = np.geomspace(1e-2, 1e12, 300)
    y = n.forward(x)
    np.testing.assert_allclose(y, np.log((x / (x0 * 0.6774)) ** q + 1) / k, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(n.inverse(y), x, rtol=1e-9)
    assert n.forward(0.0) == 0.0


def _noise_numpy(seed, level, y0, x0, ny, nx, shape, axis=0, slab=0):
    """The all-NumPy noise of the earlier releases (bits stores were written with): SplitMix64 on arrays."""
    m1, m2, gold = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB), np.uint64(0x9E3779B97F4A7C15)

    def mix(z):
        z = (z ^ (z >> np.uint64(30))) * m1
        z = (z ^ (z >> np.uint64(27))) * m2
        return z ^ (z >> np.uint64(31))

    f = 2**level
    with np.errstate(over="ignore"):
        key = np.uint64(0)
        for part in (seed, level, axis, slab):
            key = mix(key ^ (np.uint64(int(part) & 0xFFFFFFFFFFFFFFFF) + gold))
        iy = np.mod(np.arange(y0, y0 + ny, dtype=np.int64), shape[0] // f).astype(np.uint64)
        ix = np.mod(np.arange(x0, x0 + nx, dtype=np.int64), shape[1] // f).astype(np.uint64)
        c = (iy[:, None] << np.uint64(32)) | ix[None, :]
        h1 = mix(mix(c ^ key) + gold)
        h2 = mix(h1 ^ m1)
    u1 = ((h1 >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)
    u2 = (h2 >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
    return (np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)).astype(np.float32)


@pytest.mark.parametrize("args", [(7, 0, -36, -36, 300, 280, (512, 512)), (123456789, 3, 5, -9, 40, 33, (1024, 768), 2, 7),
                                  (2**40 + 3, 1, 0, 0, 64, 64, (128, 128), 1, 0)])
def test_noise_bits_equal_the_all_numpy_version(args):
    """The numba hash gives the same bits as the NumPy arrays did (stores stay reproducible)."""
    assert np.array_equal(noise_field(*args), _noise_numpy(*args))


def test_noise_is_standard_normal_and_keyed_by_everything():
    a = noise_field(1, 0, 0, 0, 256, 256, (256, 256))
    assert abs(a.mean()) < 4 / 256 and abs(a.std() - 1) < 4 / 256 * 1.5
    assert abs(np.corrcoef(a[:, :-1].ravel(), a[:, 1:].ravel())[0, 1]) < 0.02
    for kw in ({"seed": 2}, {"level": 1}, {"axis": 1}, {"slab": 1}):
        args = {"seed": 1, "level": 0, "axis": 0, "slab": 0, **kw}
        b = noise_field(args["seed"], args["level"], 0, 0, 64, 64, (256, 256), args["axis"], args["slab"])
        assert not np.array_equal(a[:64, :64], b)
    # Periodic: the window starting one map period later is identical.
    w = noise_field(1, 2, -5, 7, 16, 16, (256, 256))
    assert np.array_equal(w, noise_field(1, 2, -5 + 64, 7 - 64, 16, 16, (256, 256)))
    with pytest.raises(ValueError, match="not a multiple of 2\\*\\*level=8"):
        noise_field(1, 3, 0, 0, 4, 4, (100, 96))


def test_shipped_bundles_are_verified_and_honest():
    names = available_models()
    assert {"small-gas-toy", "small-hi-toy"} <= set(names)
    b = load_model("small-hi-toy")
    assert b.field == "hi" and b.alignment == 16 and b.pixel_size == 3.66
    assert "TOY" in b.meta["training"]["data"]
    assert b.meta["seam_error"][-1]["halo"] == list(b.exact_halo)
    assert b.meta["seam_error"][-1]["max_rel_error"] <= 1e-5
