# SPDX-License-Identifier: BSD-3-Clause
"""Tests of the toy mock suite: files read back exactly, seeds, masses, the toy label."""
import json

import h5py
import numpy as np
import pytest

from ember_dist.io.conventions import PLANCK15
from ember_dist.io.snapshot import open_snapshot
from ember_dist.mock import make_mock_suite
from ember_dist.mock.cosmology import linear_power
from ember_dist.io.conventions import RHO_CRIT
from ember_dist.mock.suite import TOY_LABEL, mock_particles
from ember_dist.mock.zeldovich import displacement_field

BOX = 15000.0


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    out = tmp_path_factory.mktemp("mock")
    return make_mock_suite(out, n=32, box_size=BOX, seed=3), mock_particles(n=32, box_size=BOX, seed=3)


def test_snapshot_read_back_exactly(suite):
    paths, parts = suite
    snap = open_snapshot(paths["hydro"])
    assert snap.header.box_size == BOX and snap.header.redshift == 2.0
    assert snap.header.hubble == PLANCK15["hubble"] and snap.header.omega_b == PLANCK15["omega_b"]
    for t in (0, 1):
        np.testing.assert_array_equal(snap.positions(t).compute(), parts["hydro"][t]["Coordinates"])
        np.testing.assert_allclose(snap.masses(t).compute(), parts["hydro"][t]["Masses"], rtol=1e-15)
    for name in ("NeutralHydrogenAbundance", "ElectronAbundance"):
        np.testing.assert_array_equal(snap.field(0, name).compute(), parts["hydro"][0][name])
    np.testing.assert_allclose(snap.field(0, "Density").compute(), parts["hydro"][0]["Density"], rtol=1e-15)
    dmo = open_snapshot(paths["dmo"])
    assert dmo.count(0) == 0 and dmo.count(1) == 32**3
    np.testing.assert_array_equal(dmo.positions(1).compute(), parts["dmo"][1]["Coordinates"])


def test_multi_file_suite_matches_single(tmp_path, suite):
    paths, parts = suite
    multi = make_mock_suite(tmp_path, n=32, box_size=BOX, seed=3, n_files=3)
    snap = open_snapshot(multi["hydro"])
    assert len(snap.files) == 3 and multi["hydro"].endswith("snap_000.0.hdf5")
    np.testing.assert_array_equal(snap.positions(1).compute(), parts["hydro"][1]["Coordinates"])


def test_masses_cosmology_and_toy_label(suite):
    paths, parts = suite
    snap = open_snapshot(paths["hydro"])
    total = snap.masses(0).sum().compute() + snap.masses(1).sum().compute()
    expect = PLANCK15["omega_m"] * RHO_CRIT * BOX**3
    assert abs(total / expect - 1) < 1e-12
    fb = snap.masses(0).sum().compute() / total
    assert abs(fb - PLANCK15["omega_b"] / PLANCK15["omega_m"]) < 1e-12
    dmo_total = open_snapshot(paths["dmo"]).masses(1).sum().compute()
    assert abs(dmo_total / expect - 1) < 1e-12
    with h5py.File(paths["hydro"]) as f:
        assert "TOY" in f["EmberMock"].attrs["toy"]
        assert f["Header"].attrs["NumFilesPerSnapshot"] == 1
        assert list(f["Header"].attrs["NumPart_Total"][:2]) == [32**3, 32**3]
    meta = json.load(open(paths["metadata"]))
    assert meta["toy"] == TOY_LABEL and meta["seed"] == 3


def test_seeded(suite):
    _, parts = suite
    again = mock_particles(n=32, box_size=BOX, seed=3)
    other = mock_particles(n=32, box_size=BOX, seed=4)
    for t in (0, 1):
        np.testing.assert_array_equal(again["hydro"][t]["Coordinates"], parts["hydro"][t]["Coordinates"])
    assert not np.allclose(other["hydro"][1]["Coordinates"], parts["hydro"][1]["Coordinates"])


def test_hi_fraction_rises_with_density(suite):
    _, parts = suite
    g = parts["hydro"][0]
    order = np.argsort(g["Density"])
    x = g["NeutralHydrogenAbundance"][order]
    assert np.all(np.diff(x) >= 0) and 0 < x[0] and x[-1] < 1


def test_zeldovich_modes_match_linear_spectrum():
    """Mode by mode, <|psi_x(k)|^2> = P(k) k_x^2 / k^4 * n^6 / V (numpy's unnormalised FFT)."""
    n, box = 32, BOX
    power = lambda k: linear_power(k, 2.0, PLANCK15)  # noqa: E731
    psi_k = np.fft.fftn(displacement_field(n, box, power, seed=5)[0] / 1000.0)  # Mpc/h
    vol = (box / 1000) ** 3
    kf = 2 * np.pi / (box / 1000)
    k1 = np.fft.fftfreq(n, 1.0 / n) * kf
    kx, ky, kz = np.meshgrid(k1, k1, k1, indexing="ij")
    k2 = kx**2 + ky**2 + kz**2
    nyq = (np.abs(kx) > kf * (n / 2 - 0.5)) | (np.abs(ky) > kf * (n / 2 - 0.5)) | (np.abs(kz) > kf * (n / 2 - 0.5))
    ok = (kx != 0) & ~nyq
    expect = power(np.sqrt(k2[ok])) * kx[ok] ** 2 / k2[ok] ** 2 * n**6 / vol
    ratio = np.abs(psi_k[ok]) ** 2 / expect
    assert abs(ratio.mean() - 1) < 0.03  # ~15000 independent modes: sigma ~ 1 %


def test_refuses_existing_suite(suite):
    paths, _ = suite
    import os

    with pytest.raises(FileExistsError, match="overwrite=True"):
        make_mock_suite(os.path.dirname(paths["metadata"]), n=32, box_size=BOX)
    with pytest.raises(ValueError, match="n=3"):
        make_mock_suite("/nonexistent", n=3)
