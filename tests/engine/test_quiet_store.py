# SPDX-License-Identifier: BSD-3-Clause
"""Reading an enriched store is silent: no zarr warning about .ember/, no consolidated-metadata warning."""
from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

import ember_dist as ed
from ember_dist.demo import lognormal_map


def test_enriched_store_reads_without_warnings(bundles, client, tmp_path):
    maps = tmp_path / "m.npy"
    np.save(maps, np.stack([lognormal_map(64, seed=s) for s in range(2)]))
    out = tmp_path / "o.zarr"
    ed.enrich_box(str(maps), model=bundles["unet"].path, out=out, samples=1, seed=0, tile=32, client=client,
                  progress=False, pixel_size=3.66)
    assert (out / ".ember" / "run.json").is_file() and (out / ".ember" / "zarr.json").is_file()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for consolidated in (None, True, False):  # ember-dist stats reads with consolidated=False
            ds = xr.open_zarr(out, consolidated=consolidated)
            assert list(ds.data_vars) == ["gas"] and float(ds["gas"].sum()) > 0
