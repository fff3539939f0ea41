# SPDX-License-Identifier: BSD-3-Clause
"""Noise a user should not see: zarr warnings on our stores, a killed worker at the end of a run."""
from __future__ import annotations

import os
import time
import warnings

import numpy as np
import xarray as xr

HEADER = dict(box_size=500.0, redshift=2.0, hubble=0.6774, omega_m=0.3089, omega_l=0.6911, omega_b=0.0486)


def test_deposited_store_opens_without_consolidated_metadata_warning(tmp_path):
    from ember_dist.deposit.api import deposit_snapshot
    from ember_dist.mock.gadget_writer import write_gadget_snapshot

    rng = np.random.default_rng(0)
    path = write_gadget_snapshot(str(tmp_path / "snap_000"), HEADER,
                                 {1: {"Coordinates": rng.uniform(0, 500, (400, 3)), "Masses": np.full(400, 1e7)}})
    deposit_snapshot(path, tmp_path / "maps.zarr", pixel=500 / 16, slabs=1, axes=("z",), align=16, n_neighbours=16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = xr.open_zarr(tmp_path / "maps.zarr")  # xarray's default: consolidated metadata, else a RuntimeWarning
    assert abs(float(ds["dm"].sum(dtype="f8")) / 4e9 - 1) < 1e-6


def test_meta_folder_of_an_unfinished_store_is_a_zarr_group(tmp_path):
    """A store being written (not yet consolidated) lists .ember/ as a group, so reads stay silent."""
    from ember_dist.io.store import create_store

    ds = xr.Dataset({"gas": (("sample", "y", "x"), np.zeros((1, 32, 32), np.float32))})
    create_store(tmp_path / "o.zarr", ds.chunk(), {"seed": 0}, (1, 16, 16))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = xr.open_zarr(tmp_path / "o.zarr", consolidated=False)
    assert list(got.data_vars) == ["gas"] and bool(got["gas"].isnull().all())


def _slow_exit():
    import atexit

    atexit.register(time.sleep, 8)  # like TensorFlow's seconds of C++ teardown at interpreter exit
    return os.getpid()


def test_local_cluster_closes_without_killing_workers():
    """A worker whose process is slow to finalize still closes at once (no 'still alive ... killing')."""
    from ember_dist.cluster import close, connect

    client = connect("local", n_workers=1, dashboard_address=":0")
    try:
        assert client.submit(_slow_exit, pure=False).result() != os.getpid()
    finally:
        t0 = time.perf_counter()
        close(client)
        took = time.perf_counter() - t0
    assert took < 3.5, f"closing took {took:.1f} s: the nanny waited for the worker process and killed it"
