# SPDX-License-Identifier: BSD-3-Clause
"""A dark-matter-only input fed to a model trained on hydro dark matter is rescaled by model/input dm_mass_fraction.

The rescaled run must give exactly (bit for bit) the output of an unscaled run on the input maps
multiplied by the factor, in the tiled and the split path alike.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import xarray as xr

import ember_dist as ed
from ember_dist.demo import lognormal_map
from ember_dist.model.bundle import load_model, update_meta

HYDRO = 0.843  # the share of Omega_m in a hydro run's dark matter, as the bundle's training metadata says
DMO_ATTRS = {"pixel_size": 3.66, "dm_mass_fraction": 1.0, "dm_source": "dark-matter-only"}


def _store(path, m, attrs):
    ds = xr.Dataset({"dm": (("axis", "slab", "y", "x"), m[None, None], {"units": "Msun/h"})}, attrs=attrs)
    ds.to_zarr(path, mode="w", consolidated=False)
    return str(path)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """(DMO-like store, store of the same maps x 0.843 in float32 recording nothing about its dark matter, maps)."""
    root = tmp_path_factory.mktemp("dmo")
    m = lognormal_map(48, seed=3, mean=1e7)[:, :40].astype(np.float32)
    scaled = (m.astype(np.float64) * HYDRO).astype(np.float32)  # independent of ember_dist's scale_map
    return _store(root / "dmo.zarr", m, DMO_ATTRS), _store(root / "pre.zarr", scaled, {"pixel_size": 3.66}), m


@pytest.fixture(scope="module")
def hydro_bundle(bundles, tmp_path_factory):
    """The random noisy test bundle, its training metadata saying: hydro dark matter, 84.3% of Omega_m."""
    path = tmp_path_factory.mktemp("b") / "hydro-trained"
    shutil.copytree(bundles["wgan"].path, path)
    b = load_model(path)
    return update_meta(b, training={**b.meta["training"], "dm_mass_fraction": HYDRO, "dm_source": "hydro"})


def _run(maps, bundle, out, client, **kw):
    return ed.enrich_box(maps, fields="gas", model=bundle.path, out=out, client=client, tile=32, seed=5,
                         progress=False, **kw)


@pytest.mark.parametrize("halo", ["exact", "split"])
def test_dmo_input_equals_unscaled_run_on_scaled_maps(inputs, hydro_bundle, bundles, client, tmp_path, capsys, halo):
    dmo, pre, _ = inputs
    extra = {"split_level": 1} if halo == "split" else {}
    ds = _run(dmo, hydro_bundle, tmp_path / "s.zarr", client, halo=halo, **extra)
    said = capsys.readouterr().err
    # the same weights without the metadata (bundles["wgan"]): nothing to compare with, nothing done or said
    ref = _run(pre, bundles["wgan"], tmp_path / "r.zarr", client, halo=halo, **extra)
    assert capsys.readouterr().err == ""
    assert np.array_equal(ds["gas"].values, ref["gas"].values), "rescaled run != unscaled run on the scaled maps"
    assert said.count("input scaled by 0.843") == 1 and "dark-matter-only run (dm carries 100.0% of Omega_m)" in said
    assert "learned from a hydro run's dark matter (84.3%)" in said
    assert ds.attrs["dm_rescale"] is True and json.loads(ds.attrs["dm_input_scale"]) == {"gas": HYDRO}
    assert ds.attrs["source_dm_mass_fraction"] == 1.0 and ds["gas"].attrs["dm_input_scale"] == HYDRO
    assert json.loads(ds.attrs["model_dm_mass_fraction"]) == {"gas": HYDRO}
    assert json.loads(ref.attrs["dm_input_scale"]) == {"gas": 1.0} and ref.attrs["halo_mode"] == halo


def test_switched_off_feeds_the_maps_as_they_are_and_resume_keeps_it(inputs, hydro_bundle, client, tmp_path, capsys):
    from ember_dist.engine.reference import predict_whole

    dmo, _, m = inputs
    out = tmp_path / "off.zarr"
    ds = _run(dmo, hydro_bundle, out, client, halo="exact", dm_rescale=False)
    assert "input NOT scaled (dm_rescale=False; scaling would multiply it by 0.843)" in capsys.readouterr().err
    assert ds.attrs["dm_rescale"] is False and json.loads(ds.attrs["dm_input_scale"]) == {"gas": 1.0}
    ref = predict_whole(hydro_bundle, m, seed=5)  # the unscaled maps' whole periodic map prediction
    assert np.abs(ds["gas"].values[0, 0, 0] - ref).max() <= 1e-5 * np.abs(ref).max()
    # resume: the recorded option comes back from the store, and the other value is refused before any work
    with pytest.raises(ValueError, match=r"dm_rescale=True \(the store was written with dm_rescale=False\)"):
        ed.enrich_box(out=out, resume=True, dm_rescale=True, client=client, progress=False)
    again = ed.enrich_box(out=out, resume=True, client=client, progress=False)
    assert again.attrs["dm_rescale"] is False


def test_store_written_unscaled_refuses_a_rescaled_resume(inputs, hydro_bundle, client, tmp_path):
    """A store begun without rescaling (e.g. before the option existed) cannot be finished rescaled."""
    from ember_dist.io.store import read_request

    dmo, _, _ = inputs
    out = tmp_path / "o.zarr"
    _run(dmo, hydro_bundle, out, client, halo="exact", dm_rescale=False)
    req = out / ".ember" / "request.json"
    rec = read_request(out)
    del rec["dm_rescale"]  # as a store written before dm_rescale was recorded
    req.write_text(json.dumps(rec))
    with pytest.raises(ValueError, match=r"input dark matter would be multiplied by 0.843 for gas \(model / input "
                                         r"dm_mass_fraction\), but the store's was left unscaled; pass dm_rescale=False"):
        ed.enrich_box(out=out, resume=True, client=client, progress=False)


def test_in_memory_dataset_keeps_what_its_dark_matter_is(inputs, tmp_path):
    """An xarray Dataset opened from a deposit (not its path) still tells enrich_box its dm_mass_fraction."""
    from ember_dist.io.api import open_maps

    src = open_maps(xr.open_zarr(inputs[0], consolidated=False), staging_dir=tmp_path)
    assert src.attrs["dm_mass_fraction"] == 1.0 and src.attrs["dm_source"] == "dark-matter-only"
    assert "dm_mass_fraction" not in open_maps(inputs[1]).attrs
