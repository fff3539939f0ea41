# SPDX-License-Identifier: BSD-3-Clause
"""Tests of the Gadget/GIZMO/AREPO HDF5 snapshot reader."""
import h5py
import numpy as np
import pytest

from ember_dist.io.snapshot import SnapshotError, open_snapshot, snapshot_files
from ember_dist.mock.gadget_writer import write_gadget_snapshot

BOX = 1000.0
HEADER = dict(box_size=BOX, redshift=2.0, hubble=0.6774, omega_m=0.3089, omega_l=0.6911, omega_b=0.0486)


def _particles(seed=0, ngas=300, ndm=400):
    rng = np.random.default_rng(seed)
    return {
        0: {
            "Coordinates": rng.uniform(0, BOX, (ngas, 3)),
            "Masses": rng.uniform(1e6, 2e6, ngas),
            "SmoothingLength": rng.uniform(1, 5, ngas),
            "Density": rng.uniform(0.1, 10, ngas),
            "NeutralHydrogenAbundance": rng.uniform(0, 1, ngas),
            "ElectronAbundance": rng.uniform(0, 1.2, ngas),
        },
        1: {"Coordinates": rng.uniform(0, BOX, (ndm, 3)), "Masses": np.full(ndm, 7.5e6)},
    }


@pytest.fixture(scope="module")
def parts():
    return _particles()


def test_single_file_roundtrip(tmp_path, parts):
    path = write_gadget_snapshot(str(tmp_path / "snap_000"), HEADER, parts)
    snap = open_snapshot(path)
    h = snap.header
    assert (h.box_size, h.redshift, h.hubble, h.omega_m, h.omega_l, h.omega_b) == (1000.0, 2.0, 0.6774, 0.3089, 0.6911, 0.0486)
    assert h.num_part_total[:2] == (300, 400) and len(snap.files) == 1
    np.testing.assert_array_equal(snap.positions(0).compute(), parts[0]["Coordinates"])
    np.testing.assert_array_equal(snap.positions(1).compute(), parts[1]["Coordinates"])
    np.testing.assert_allclose(snap.masses(0).compute(), parts[0]["Masses"], rtol=1e-15)
    for name in ("SmoothingLength", "NeutralHydrogenAbundance", "ElectronAbundance"):
        np.testing.assert_allclose(snap.field(0, name).compute(), parts[0][name], rtol=1e-15)
    np.testing.assert_allclose(snap.field(0, "Density").compute(), parts[0]["Density"], rtol=1e-14)


def test_mass_table(tmp_path, parts):
    path = write_gadget_snapshot(str(tmp_path / "snap_000"), HEADER, parts)
    with h5py.File(path) as f:
        assert "Masses" not in f["PartType1"] and f["Header"].attrs["MassTable"][1] > 0
    snap = open_snapshot(path)
    m = snap.masses(1).compute()
    assert m.shape == (400,)
    np.testing.assert_allclose(m, 7.5e6, rtol=1e-15)


@pytest.mark.parametrize("n_files", [2, 3])
def test_multi_file(tmp_path, parts, n_files):
    single = open_snapshot(write_gadget_snapshot(str(tmp_path / "one" / "snap_000"), HEADER, parts))
    path = write_gadget_snapshot(str(tmp_path / "many" / "snap_000"), HEADER, parts, n_files=n_files)
    assert path.endswith("snap_000.0.hdf5")
    for p in (path, path.replace(".0.hdf5", ".1.hdf5"), str(tmp_path / "many" / "snap_000"), str(tmp_path / "many")):
        snap = open_snapshot(p, chunk_size=37)
        assert len(snap.files) == n_files
    assert snap.positions(0).numblocks[0] > n_files  # chunks within files
    for t in (0, 1):
        np.testing.assert_array_equal(snap.positions(t).compute(), single.positions(t).compute())
        np.testing.assert_array_equal(snap.masses(t).compute(), single.masses(t).compute())


def test_missing_file_of_multi_file(tmp_path, parts):
    path = write_gadget_snapshot(str(tmp_path / "snap_000"), HEADER, parts, n_files=3)
    (tmp_path / "snap_000.2.hdf5").unlink()
    with pytest.raises(FileNotFoundError, match="NumFilesPerSnapshot=3.*snap_000.2.hdf5"):
        snapshot_files(path)


def test_mpc_units_and_override(tmp_path, parts):
    path = write_gadget_snapshot(str(tmp_path / "snap_000"), HEADER, parts, length_unit="Mpc/h")
    with h5py.File(path) as f:
        assert f["Header"].attrs["BoxSize"] == 1.0
    snap = open_snapshot(path)
    assert snap.header.box_size == 1000.0 and snap.header.length_factor == 1000.0
    np.testing.assert_allclose(snap.positions(0).compute(), parts[0]["Coordinates"], rtol=1e-15)
    np.testing.assert_allclose(snap.field(0, "SmoothingLength").compute(), parts[0]["SmoothingLength"], rtol=1e-15)
    np.testing.assert_allclose(snap.field(0, "Density").compute(), parts[0]["Density"], rtol=1e-14)
    wrong = open_snapshot(path, length_unit="kpc/h")  # explicit override wins
    assert wrong.header.box_size == 1.0
    np.testing.assert_allclose(wrong.positions(1).compute(), parts[1]["Coordinates"] / 1000.0, rtol=1e-15)


def test_no_unit_attribute_warns_and_assumes_kpc(tmp_path, parts):
    path = write_gadget_snapshot(str(tmp_path / "snap_000"), HEADER, parts)
    with h5py.File(path, "r+") as f:
        del f["Header"].attrs["UnitLength_in_cm"]
    with pytest.warns(UserWarning, match="length_unit='Mpc/h'"):
        snap = open_snapshot(path)
    assert snap.header.box_size == BOX
    assert open_snapshot(path, length_unit="Mpc/h").header.box_size == 1e6


def test_missing_field_names_file_and_field(tmp_path, parts):
    p = {0: {k: v for k, v in parts[0].items() if k != "NeutralHydrogenAbundance"}, 1: parts[1]}
    path = write_gadget_snapshot(str(tmp_path / "snap_000"), HEADER, p)
    snap = open_snapshot(path)
    assert not snap.has(0, "NeutralHydrogenAbundance")
    with pytest.raises(SnapshotError, match=r"snap_000.hdf5: dataset 'PartType0/NeutralHydrogenAbundance' is missing"):
        snap.field(0, "NeutralHydrogenAbundance")


def test_missing_particle_type_and_header(tmp_path, parts):
    path = write_gadget_snapshot(str(tmp_path / "snap_000"), HEADER, {1: parts[1]})
    snap = open_snapshot(path)
    with pytest.raises(SnapshotError, match="no gas particles.*PartType0"):
        snap.positions(0)
    with h5py.File(path, "r+") as f:
        del f["Header"].attrs["HubbleParam"]
    with pytest.raises(SnapshotError, match="'HubbleParam' is missing"):
        open_snapshot(path)
    bad = tmp_path / "bad.hdf5"
    with h5py.File(bad, "w") as f:
        f.create_group("PartType1")
    with pytest.raises(SnapshotError, match="no 'Header' group"):
        open_snapshot(bad)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_snapshot(tmp_path / "nope.hdf5")


def test_lazy_until_computed(tmp_path, parts):
    path = write_gadget_snapshot(str(tmp_path / "snap_000"), HEADER, parts)
    pos = open_snapshot(path, chunk_size=100).positions(0)
    assert pos.chunks[0] == (100, 100, 100)
    assert "Snapshot" in repr(open_snapshot(path))
