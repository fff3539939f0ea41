# SPDX-License-Identifier: BSD-3-Clause
"""Known answers for ember_dist.stats.mass and ember_dist.stats.pdf."""
import dask.array as da
import numpy as np
import pytest

from ember_dist.stats import pixel_pdf, total_mass
from ember_dist.stats.pdf import log_edges


def test_total_mass_float64_accumulation():
    m = np.full((3000, 3000), 1.1, np.float32)  # 9e6 pixels
    exact = 9e6 * float(np.float32(1.1))
    ds = total_mass(da.from_array(m, chunks=1000)).compute()
    assert float(ds["mass"]) == pytest.approx(exact, rel=1e-12)
    assert float(total_mass(m)["mass"]) == pytest.approx(exact, rel=1e-12)


def test_total_mass_stack_dims(lognormal_map):
    st = np.stack([lognormal_map, 2 * lognormal_map])
    ds = total_mass(da.from_array(st, chunks=(1, 64, 64)), dims=("sample", "y", "x")).compute()
    ref = st.astype(np.float64).sum(axis=(1, 2))
    np.testing.assert_allclose(ds["mass"], ref, rtol=1e-12)
    assert ds["mass"].dims == ("sample",)


def test_pdf_exact_counts_dask_equals_numpy(lognormal_map):
    m = lognormal_map.copy()
    m[0, :5] = 0
    edges = log_edges(1e5, 1e7, per_dex=20)
    ref = pixel_pdf(m, edges=edges)
    got = pixel_pdf(da.from_array(m, chunks=(40, 50)), edges=edges).compute()
    np.testing.assert_array_equal(got["counts"], ref["counts"])
    c, _ = np.histogram(m[m > 0].astype(np.float64), bins=edges)
    np.testing.assert_array_equal(ref["counts"], c)
    total = int(ref["counts"].sum() + ref["n_zero"] + ref["n_below"] + ref["n_above"])
    assert total == m.size and int(ref["n_zero"]) == 5
    # pdf integrates to the in-range fraction
    frac = float((ref["pdf"] * np.log10(ref["m_hi"] / ref["m_lo"])).sum())
    assert frac == pytest.approx(int(ref["counts"].sum()) / m.size, rel=1e-12)
    assert ref["m"].attrs["units"] == "Msun/h"


def test_pdf_bad_edges():
    with pytest.raises(ValueError, match="log_edges"):
        pixel_pdf(np.ones((4, 4)), edges=[3.0, 2.0])


def test_pdf_and_mass_on_client(client, lognormal_map):
    a = da.from_array(lognormal_map, chunks=64)
    pdf, mass = client.compute([pixel_pdf(a), total_mass(a)])
    np.testing.assert_array_equal(pdf.result(timeout=60)["counts"], pixel_pdf(lognormal_map)["counts"])
    assert float(mass.result(timeout=60)["mass"]) == pytest.approx(float(lognormal_map.sum(dtype=np.float64)))
