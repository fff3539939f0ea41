# SPDX-License-Identifier: BSD-3-Clause
"""dm_mass_fraction and dm_source of deposited stores, on the committed Gadget-2 suite box (2x40^3, 8000 ckpc/h).

The expected fractions come from the snapshot headers alone: a hydro run's dark matter carries
Omega_m - Omega_b of the matter, a dark-matter-only run all of Omega_m.
"""
from pathlib import Path

import h5py
import pytest

from ember_dist.deposit import deposit_snapshot

BOX_S0 = Path(__file__).resolve().parents[2] / "sim_suite" / "box_s0"
KW = dict(pixel=500.0, slabs=1, axes=("z",), align=16, n_neighbours=32)  # 16^2 maps: the deposit costs ~1 s

pytestmark = pytest.mark.skipif(not (BOX_S0 / "hydro" / "snap_001.hdf5").is_file(),
                                reason="the committed Gadget-2 suite box sim_suite/box_s0 is not in this checkout")


def _header_fraction(path, hydro):
    h = h5py.File(path, "r")["Header"].attrs
    om, ob = float(h["Omega0"]), float(h["OmegaBaryon"])
    return (om - ob) / om if hydro else 1.0


@pytest.mark.parametrize("run,kind", [("hydro", "hydro"), ("dmo", "dark-matter-only")])
def test_real_gadget2_snapshots(run, kind, tmp_path):
    snap = BOX_S0 / run / "snap_001.hdf5"
    expect = _header_fraction(snap, run == "hydro")
    assert expect == pytest.approx({"hydro": 0.8427, "dmo": 1.0}[run], abs=1e-4)  # 1 - 0.0486/0.3089
    ds = deposit_snapshot(snap, tmp_path / "m.zarr", **KW)
    assert ds.attrs["dm_source"] == kind
    assert ds.attrs["dm_mass_fraction"] == pytest.approx(expect, abs=1e-3)
    # the total is over all 40^3 particles, not one slab: the map holds it too (mass-conserving deposit)
    assert float(ds.dm.sum(dtype="f8")) == pytest.approx(ds.attrs["dm_total_mass"], rel=1e-6)


def test_downsampled_deposit_keeps_the_fraction(tmp_path):
    snap = BOX_S0 / "hydro" / "snap_001.hdf5"
    ds = deposit_snapshot(snap, tmp_path / "m.zarr", downsample=8, **KW)
    assert ds.attrs["mass_scale_parttype1"] == pytest.approx(8.0)
    assert ds.attrs["dm_mass_fraction"] == pytest.approx(_header_fraction(snap, True), abs=1e-3)


def test_gas_only_deposit_records_the_source_not_a_fraction(tmp_path):
    ds = deposit_snapshot(BOX_S0 / "hydro" / "snap_001.hdf5", tmp_path / "g.zarr", fields=("gas",), downsample=8,
                          **KW)
    assert ds.attrs["dm_source"] == "hydro" and "dm_mass_fraction" not in ds.attrs
