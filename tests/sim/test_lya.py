# SPDX-License-Identifier: BSD-3-Clause
"""Lyman-alpha sightlines: column conservation, the Gunn-Peterson optical depth of uniform gas,
and the flux calibration factor."""
import numpy as np
import pytest

from ember_dist.deposit.kernel import cubic_spline_projected
from ember_dist.io.conventions import KPC_CM, LYA_SIGMA_V, M_H_G, MSUN_G
from ember_dist.sim import lya

COSMO = dict(redshift=3.0, hubble=0.6774, omega_m=0.3089, omega_l=0.6911)


def test_single_particle_column_is_conserved_and_profile_centred():
    box, a, h = 1000.0, 0.25, 0.6774
    pos, vel = np.array([[500.0, 500.0, 300.0]]), np.array([[0.0, 0.0, 40.0]])
    tau, v_box = lya.optical_depths(pos, vel, np.array([1e6]), np.array([50.0]), np.array([1e4]), box=box,
                                    lines=np.array([[500.0, 500.0]]), n_pixels=2048, **COSMO)
    dv = v_box / 2048
    n_col = 1e6 * MSUN_G / h / M_H_G * cubic_spline_projected()[0] / 25.0**2 * (h / (a * KPC_CM)) ** 2
    assert tau.sum() * dv == pytest.approx(LYA_SIGMA_V * n_col, rel=1e-12)
    v_expect = 300.0 * v_box / box + 40.0  # Hubble flow + peculiar velocity
    assert (np.argmax(tau[0]) + 0.5) * dv == pytest.approx(v_expect, abs=dv)
    # thermal width: b = sqrt(2 k T / m_H) = 12.85 km/s at 1e4 K -> 1/e half width
    above = np.flatnonzero(tau[0] > tau[0].max() / np.e) * dv
    assert (above[-1] - above[0] + dv) / 2 == pytest.approx(12.85, rel=0.05)


def test_uniform_gas_gives_the_gunn_peterson_depth():
    box, n = 2000.0, 16
    grid = (np.indices((n,) * 3).reshape(3, -1).T + 0.5) * (box / n)
    m_hi = np.full(n**3, 2e4)  # Msun/h of HI per particle
    hsml = np.full(n**3, 2.5 * box / n)
    tau, v_box = lya.optical_depths(grid, np.zeros_like(grid), m_hi, hsml, np.full(n**3, 1e4), box=box,
                                    n_sightlines=300, n_pixels=256, seed=4, **COSMO)
    a, h = 0.25, COSMO["hubble"]
    n_hi = m_hi.sum() * MSUN_G / h / M_H_G / (a * box * KPC_CM / h) ** 3  # physical cm^-3
    tau_gp = LYA_SIGMA_V * n_hi * (a * box * KPC_CM / h) / v_box  # sigma n_HI / H(z)
    assert tau.mean() == pytest.approx(tau_gp, rel=0.02)
    assert tau.std() / tau.mean() < 0.1  # nearly uniform along and across sightlines


def test_tau_scale_for_flux_round_trip():
    tau = np.random.default_rng(0).lognormal(0.0, 1.5, (50, 100))
    s = lya.tau_scale_for_flux(tau, 0.68)
    assert lya.mean_flux(tau, s) == pytest.approx(0.68, abs=1e-9)
    assert lya.tau_scale_for_flux(tau, 0.87) < s
    with pytest.raises(ValueError, match="between 0 and 1"):
        lya.tau_scale_for_flux(tau, 1.2)
