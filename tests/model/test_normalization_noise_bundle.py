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
