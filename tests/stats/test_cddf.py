# SPDX-License-Identifier: BSD-3-Clause
"""Known answers for ember_dist.stats.cddf."""
import dask.array as da
import numpy as np
import pytest

from ember_dist.stats import cddf
from ember_dist.stats.cddf import absorption_distance, column_density_per_mass

GEOM = dict(pixel_size=3.6621, redshift=2.0, hubble=0.6774, slab_depth=1500.0)


def test_absorption_distance_reference():
    assert absorption_distance(1500.0, 2.0) == pytest.approx(4.503115e-3, rel=1e-7)


def test_column_density_reference():
    # REFERENCES.md: 1 Msun per pixel -> 3.84268e13 cm^-2; DLA 2e20 -> 5.2047e6 Msun
    per_msun = column_density_per_mass(3.6621, 2.0, 0.6774) * 0.6774
    assert per_msun == pytest.approx(3.84268e13, rel=1e-5)
    assert 2e20 / per_msun == pytest.approx(5.2047e6, rel=1e-5)


def test_uniform_map_single_bin():
    fac = column_density_per_mass(GEOM["pixel_size"], GEOM["redshift"], GEOM["hubble"])
    n_target = 10 ** 20.55  # inside bin [20.5, 20.6)
    m = np.full((2, 32, 32), n_target / fac)
    ds = cddf(m, dims=("slab", "y", "x"), **GEOM)
    f = ds["f"].values
    i = int(np.argmax(f))
    dn = float(ds["N_hi"][i] - ds["N_lo"][i])
    assert np.count_nonzero(f) == 1
    assert float(ds["N_lo"][i]) <= n_target < float(ds["N_hi"][i])
    assert f[i] == pytest.approx(1.0 / (dn * absorption_distance(1500.0, 2.0)), rel=1e-12)
    assert int(ds["n_sightlines"]) == 2 * 32 * 32


def test_first_moment_is_hi_density(lognormal_map):
    m = lognormal_map.astype(np.float64) * 3.0  # all pixels well inside 1e17..1e23 cm^-2
    ds = cddf(da.from_array(m, chunks=32), lo=15, hi=25, **GEOM).compute()
    assert int(ds["counts"].sum()) == m.size
    rho = m.sum() / (m.size * GEOM["pixel_size"] ** 2 * GEOM["slab_depth"])
    assert float(ds["rho_hi"]) == pytest.approx(rho, rel=1e-10)
    assert float(ds["rho_hi_moment"]) == pytest.approx(rho, rel=1e-10)
    ref = cddf(m, lo=15, hi=25, **GEOM)
    np.testing.assert_allclose(ds["f"], ref["f"], rtol=1e-12)


def test_missing_redshift_names_fix():
    with pytest.raises(ValueError, match="pass redshift="):
        cddf(np.ones((4, 4)), pixel_size=1.0, hubble=0.7, slab_depth=10.0)


def test_cddf_on_client(client, lognormal_map):
    got = client.compute(cddf(da.from_array(lognormal_map, chunks=64), lo=15, hi=25, **GEOM)).result(timeout=60)
    np.testing.assert_array_equal(got["counts"], cddf(lognormal_map, lo=15, hi=25, **GEOM)["counts"])
