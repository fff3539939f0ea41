# SPDX-License-Identifier: BSD-3-Clause
"""The default model follows the input's dark-matter resolution; a model given by name is kept, with a note."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import ember_dist as ed
from ember_dist.engine.input_resolution import defaults_for_input, input_ratio, resolution_notes
from ember_dist.io.conventions import PLANCK15
from ember_dist.mock.maps import lognormal_map
from ember_dist.model.bundle import DEFAULT_MODELS_BY_INPUT, load_model

HR = load_model("suite-gas-wgan")
M_HR = HR.meta["training"]["dm_particle_mass"]  # Msun/h, the hydro run's dark matter (84.3% of Omega_m)
F_HR = HR.meta["training"]["dm_mass_fraction"]


def _attrs(k, fraction=1.0):
    """Deposit attrs of dark matter with 1/k of the suite's particles, from a run whose dm carries ``fraction``."""
    return {"dm_particle_mass": k * M_HR * fraction / F_HR, "dm_mass_fraction": fraction}


def test_the_ratio_compares_spacing_equivalent_masses(tmp_path):
    # a dark-matter-only particle at the suite's spacing is Omega_m / (Omega_m - Omega_b) heavier: the same input
    assert input_ratio(_attrs(1, fraction=1.0), HR) == pytest.approx(1.0, rel=1e-12)
    assert input_ratio({"dm_particle_mass": M_HR, "dm_mass_fraction": F_HR}, HR) == pytest.approx(1.0, rel=1e-12)
    assert input_ratio(_attrs(8), HR) == pytest.approx(8.0, rel=1e-12)
    assert input_ratio({"pixel_size": 31.25}, HR) is None  # maps that do not record their particles
    # an older deposit's snapshot is not opened: only what the maps record counts
    (tmp_path / "snap.hdf5").write_bytes(b"not a snapshot")
    assert input_ratio({"source": str(tmp_path / "snap.hdf5"), "downsample": 1}, HR) is None


@pytest.mark.parametrize("k", [1, 8, 64])
def test_left_out_models_follow_the_input_resolution(k):
    bundles = {f: load_model(DEFAULT_MODELS_BY_INPUT[1][f]) for f in ("gas", "hi")}
    chosen, lines = defaults_for_input(["gas", "hi"], {"gas", "hi"}, bundles, _attrs(k * 1.2))  # 20% off: same input
    assert {f: b.name for f, b in chosen.items()} == DEFAULT_MODELS_BY_INPUT[k]
    assert len(lines) == (0 if k == 1 else 2)
    assert all(f"the default for 1 in {k}" in line for line in lines)
    for f, b in chosen.items():  # the chosen bundles did learn from that input
        assert input_ratio(_attrs(k), b) == pytest.approx(1.0, rel=1e-6)


def test_an_input_between_the_defaults_is_refused_with_the_fixes():
    with pytest.raises(ValueError) as e:
        defaults_for_input(["gas"], {"gas"}, {"gas": HR}, _attrs(3.0))
    msg = str(e.value)
    assert "3x as heavy" in msg and "'suite-gas-wgan'" in msg and "learned from all, 1 in 8 or 1 in 64 of those particles" in msg
    assert "--downsample K" in msg and "as model=..." in msg and "ember-dist models" in msg
    assert "naming a default there (suite-gas-wgan for gas) runs it" in msg
    # a model given by name is not replaced, whatever the input
    chosen, lines = defaults_for_input(["gas"], set(), {"gas": HR}, _attrs(3.0))
    assert chosen["gas"] is HR and lines == []


def test_a_model_given_by_name_for_another_input_gets_a_note():
    notes = resolution_notes({"gas": HR}, _attrs(8))
    assert len(notes) == 1 and "8x fewer dark-matter particles per volume than model 'suite-gas-wgan'" in notes[0]
    assert resolution_notes({"gas": load_model("suite-gas-wgan-mr8")}, _attrs(1))[0].startswith(
        "gas: these maps have 8x more")
    assert resolution_notes({"gas": HR}, _attrs(1.3)) == [] and resolution_notes({"gas": HR}, _attrs(8), {"gas"}) == []


def _maps(k):
    m = lognormal_map(64, seed=3, mean=4e7)[None, None].astype(np.float32)
    attrs = {**PLANCK15, "pixel_size": 31.25, "box_size": 2000.0, "redshift": 2.0, **_attrs(k), "dm_source": "dark-matter-only"}
    return xr.Dataset({"dm": (("axis", "slab", "y", "x"), m, {"units": "Msun/h"})}, attrs=attrs)


def test_enrich_box_takes_the_mr8_defaults_for_a_coarse_run_and_records_them(client, tmp_path, capsys):
    ds = ed.enrich_box(_maps(8), fields=["gas", "hi"], out=tmp_path / "o.zarr", tile=32, client=client, progress=False)
    assert (ds["gas"].attrs["model"], ds["hi"].attrs["model"]) == ("suite-gas-wgan-mr8", "suite-hi-wgan-mr8")
    err = capsys.readouterr().err
    assert "using suite-gas-wgan-mr8, the default for 1 in 8" in err and "using suite-hi-wgan-mr8" in err
    # resuming keeps the store's models: none is chosen again (a store with no record would say "using ...")
    ds = ed.enrich_box(_maps(8), fields=["gas", "hi"], out=tmp_path / "o.zarr", resume=True, client=client,
                       progress=False)
    assert (ds["gas"].attrs["model"], ds["hi"].attrs["model"]) == ("suite-gas-wgan-mr8", "suite-hi-wgan-mr8")
    assert "using" not in capsys.readouterr().err
    with pytest.raises(ValueError, match="3x as heavy"):
        ed.enrich_box(_maps(3), fields=["gas"], out=tmp_path / "p.zarr", tile=32, client=client, progress=False)
    assert not (tmp_path / "p.zarr").exists() and not list(tmp_path.glob(".ember-staging-*"))
