# SPDX-License-Identifier: BSD-3-Clause
"""The application statistics against hand computations: absorption distance, f(N, X), DLA incidence, R200c,
gas fractions, and the shipped observations."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy.integrate import quad

from ember_dist.stats import cddf
from ember_dist.stats.absorbers import incidence
from ember_dist.stats.cddf import absorption_distance, column_density_per_mass
from ember_dist.stats.halo_gas import gas_fraction_bins, r200c
from ember_dist.stats.observations import noterdaeme2012_cddf, prochaska2014_log_f

C = 299792.458
COSMO = dict(hubble=0.6774, omega_m=0.3089, omega_l=0.6911)


def test_absorption_distance_by_hand_and_by_integration():
    z, depth = 2.5, 10000.0  # ckpc/h: a 10 cMpc/h slab
    # by hand: dX = (H0/c)(1+z)^2 dL, H0 = 100 h km/s/Mpc and dL = 10 Mpc/h, so h cancels
    assert absorption_distance(depth, z) == pytest.approx(100.0 / C * 3.5**2 * 10.0, rel=1e-12)
    # the same from X = int (1+z)^2 H0/H(z) dz over the redshift interval that spans dL comoving
    h0 = 100.0  # km/s/(Mpc/h)

    def hz(zz):
        return h0 * np.sqrt(COSMO["omega_m"] * (1 + zz) ** 3 + COSMO["omega_l"])

    def chi(zz):  # comoving distance in Mpc/h
        return quad(lambda x: C / hz(x), 0.0, zz)[0]

    from scipy.optimize import brentq

    z2 = brentq(lambda zz: chi(zz) - chi(z) - depth / 1000.0, z, z + 0.1)
    dx = quad(lambda x: (1 + x) ** 2 * h0 / hz(x), z, z2)[0]
    # thin slab: the formula at the slab's mid redshift equals the integral to second order in dz
    assert absorption_distance(depth, 0.5 * (z + z2)) == pytest.approx(dx, rel=1e-5)
    assert absorption_distance(depth, z) != pytest.approx(dx, rel=1e-3)  # at the slab's start: off by O(dz)


def test_cddf_is_counts_per_dn_dx_and_sightline():
    z, pix, depth = 2.0, 58.59375, 1875.0
    fac = column_density_per_mass(pix, z, COSMO["hubble"])
    m = np.zeros((8, 8), np.float32)
    m[0, 0] = 10**21.05 / fac  # one DLA sightline of 64, in the bin [10^21, 10^21.1)
    ds = cddf(m, pixel_size=pix, redshift=z, hubble=COSMO["hubble"], slab_depth=depth)
    i = int(np.nonzero(ds["counts"].values)[0][0])
    assert ds["N_lo"].values[i] == pytest.approx(10**21.0) and ds["counts"].values[i] == 1
    dn = 10**21.1 - 10**21.0
    dx = 100.0 / C * 3.0**2 * 1.875
    assert float(ds["f"][i]) == pytest.approx(1.0 / (dn * dx * 64), rel=1e-9)
    assert float(incidence(ds)) == pytest.approx(1.0 / (dx * 64), rel=1e-9)  # one absorber over 64 dX


def test_r200c_by_hand():
    m, z = 1e12, 3.0
    e2 = 0.3 * 4.0**3 + 0.7
    r_phys = (3 * m / (4 * np.pi * 200 * 277.536627 * e2)) ** (1 / 3)
    assert float(r200c(m, z, 0.3, 0.7)) == pytest.approx(r_phys * 4.0, rel=1e-12)


def test_gas_fraction_bins_means_per_bin():
    halos = xr.Dataset({"mass": ("halo", [1e10, 2e10, 1e12, 3e12]),
                        "mass_gas": (("sample", "axis", "halo"),
                                     np.array([[[1e9, 4e9, 1e11, 6e11]], [[1e9, 2e9, 2e11, 3e11]]]))})
    fr = gas_fraction_bins(halos, edges=[5e9, 1e11, 1e13])
    assert fr["n_haloes"].values.tolist() == [2, 2]
    np.testing.assert_allclose(fr["fraction"].values, [[0.15, 0.15], [0.1, 0.15]])


def test_observations_are_the_shipped_numbers():
    assert float(prochaska2014_log_f(21.0)) == pytest.approx(-22.82)
    assert np.isnan(prochaska2014_log_f(23.0))  # no extrapolation past the last pivot
    n = noterdaeme2012_cddf()
    assert n.attrs["reference"].startswith("Noterdaeme et al. 2012, A&A 547, L1")
    assert float(n["log10_f"].sel(bin=0)) == -21.44
