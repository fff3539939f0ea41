# SPDX-License-Identifier: BSD-3-Clause
"""SWIFT snapshots written by swiftsimio's own writer, in SWIFT's units (Mpc, 1e10 Msun, no h)."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from ember_dist.io.snapshot import SnapshotError, open_snapshot

sw = pytest.importorskip("swiftsimio")
u = pytest.importorskip("unyt")

H = 0.6774
A = 1 / 3.0  # z = 2
BOX_MPC = 2.5  # comoving Mpc, SWIFT's length unit (no h): 2500 h ckpc/h = 1693.5 ckpc/h
N = 2000


def _write_swift(path, ndm=N, ngas=N, seed=0):
    """A SWIFT snapshot: swiftsimio.Writer (cosmo_units) plus the Cosmology group SWIFT's outputs carry."""
    from swiftsimio.metadata.writer.unit_systems import cosmo_units

    rng = np.random.default_rng(seed)
    box = sw.cosmo_array([BOX_MPC] * 3, u.Mpc, comoving=True, scale_factor=A, scale_exponent=1)
    w = sw.Writer(unit_system=cosmo_units, boxsize=box, scale_factor=A)
    parts = {}
    for name, n, mass in (("dark_matter", ndm, 7.0e7), ("gas", ngas, 1.3e7)):
        pos = rng.random((n, 3)) * BOX_MPC
        m = mass * rng.uniform(0.5, 1.5, n)  # Msun, no h
        ds = getattr(w, name)
        ds.coordinates = pos * u.Mpc * w.a.comoving
        ds.velocities = np.zeros((n, 3)) * u.km / u.s * w.a.comoving**0
        ds.masses = m * u.Msun * w.a.comoving**0
        parts[name] = (pos, m)
    w.gas.internal_energy = np.full(ngas, 1e4) / 1e6 * u.kb * u.K / u.Msun * w.a.comoving**-2
    w.gas.generate_smoothing_lengths()
    w.write(str(path))
    with h5py.File(path, "r+") as f:  # what a SWIFT run writes next to the particles
        f["Header"].attrs["Redshift"] = [1 / A - 1]
        c = f.create_group("Cosmology")
        for k, v in {"Cosmological run": 1, "h": H, "Omega_m": 0.3089, "Omega_b": 0.0486, "Omega_lambda": 0.6911,
                     "Omega_r": 0.0, "Omega_k": 0.0, "w_0": -1.0, "w_a": 0.0, "Redshift": 1 / A - 1,
                     "Scale-factor": A, "H0 [internal units]": 67.74}.items():
            c.attrs[k] = [v]
    return parts


@pytest.fixture(scope="module")
def swift_snap(tmp_path_factory):
    path = tmp_path_factory.mktemp("swift") / "snap_0002.hdf5"
    return path, _write_swift(path)


def test_swift_units_to_ckpc_h_and_msun_h(swift_snap):
    path, parts = swift_snap
    snap = open_snapshot(path)
    hd = snap.header
    assert hd.format == "swift"
    assert hd.box_size == pytest.approx(BOX_MPC * 1000 * H, rel=1e-12)  # 1693.5 ckpc/h
    assert (hd.redshift, hd.hubble, hd.omega_m, hd.omega_b, hd.omega_l) == pytest.approx((2.0, H, 0.3089, 0.0486, 0.6911))
    assert snap.count(0) == N and snap.count(1) == N
    pos, m = parts["dark_matter"]
    np.testing.assert_allclose(snap.positions(1).compute(), pos * 1000 * H, rtol=1e-12)
    np.testing.assert_allclose(snap.masses(1).compute(), m * H, rtol=1e-12)  # Msun -> Msun/h
    np.testing.assert_allclose(snap.masses(0).compute(), parts["gas"][1] * H, rtol=1e-12)
    # the same numbers as swiftsimio's own reading of the file, converted by hand
    ref = sw.load(str(path))
    np.testing.assert_allclose(snap.positions(0).compute(),
                               ref.gas.coordinates.to_comoving().to_value("kpc") * H, rtol=1e-12)
    np.testing.assert_allclose(snap.field(0, "SmoothingLength").compute(),
                               ref.gas.smoothing_lengths.to_comoving().to_value("kpc") * H, rtol=1e-12)
    assert not snap.has(0, "NeutralHydrogenAbundance")


def test_swift_deposit_is_mass_exact(swift_snap, tmp_path):
    from ember_dist.deposit.api import deposit_snapshot

    path, parts = swift_snap
    ds = deposit_snapshot(path, tmp_path / "maps.zarr", pixel=BOX_MPC * 1000 * H / 32, slabs=2, axes=("z",),
                          fields=("dm", "gas"), align=16, n_neighbours=16)
    assert ds.attrs["source_format"] == "swift" and ds.sizes["x"] == 32
    assert ds.attrs["box_size"] == pytest.approx(1693.5) and ds.attrs["hubble"] == H
    for field, name in (("dm", "dark_matter"), ("gas", "gas")):
        total = parts[name][1].sum() * H  # Msun/h
        got = float(ds[field].sum(dtype="f8"))
        assert got == pytest.approx(total, rel=1e-6), field


def test_swift_refuses_length_override_and_needs_cosmology(swift_snap, tmp_path):
    path, _ = swift_snap
    with pytest.raises(ValueError, match=r"SWIFT snapshot.*--length-unit"):
        open_snapshot(path, length_unit="Mpc/h")
    bare = tmp_path / "ics.hdf5"
    _write_swift(bare, ndm=50, ngas=50)
    with h5py.File(bare, "r+") as f:
        del f["Cosmology"]
    with pytest.raises(SnapshotError, match="no cosmology"):
        open_snapshot(bare)


@pytest.mark.parametrize("kind", ["npy", "h5map", "gadget_binary"])
def test_unsupported_file_lists_the_formats(tmp_path, kind):
    if kind == "npy":
        path = tmp_path / "maps.npy"
        np.save(path, np.zeros((4, 4)))
    elif kind == "h5map":
        path = tmp_path / "maps.h5"
        with h5py.File(path, "w") as f:
            f["dm"] = np.zeros((1, 1, 4, 4))
    else:
        path = tmp_path / "snap_000"  # Gadget binary format 1 starts with a 256-byte header block
        path.write_bytes(np.int32(256).tobytes() + bytes(256) + np.int32(256).tobytes())
    with pytest.raises(SnapshotError, match=r"Gadget/GIZMO/AREPO HDF5; SWIFT HDF5") as e:
        open_snapshot(path)
    assert str(path) in str(e.value)
