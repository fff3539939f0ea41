# SPDX-License-Identifier: BSD-3-Clause
"""The application run's two pieces: ``input_resolution: auto`` from particle masses, and references (hydro
snapshots of other boxes) deposited on the application's slab depth and compared as a different volume.

Real snapshots: the Gadget-2 suite's box_s0 (hydro and DM-only) and box_s5 (a held-out test seed), z = 2,
2 x 40^3 particles in 8000 ckpc/h (read only)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr

from ember_dist.io.conventions import RHO_CRIT, X_H
from ember_dist.pipeline import PipelineError, parse_pipeline_text, run_pipeline
from ember_dist.pipeline.checks import resolve
from ember_dist.pipeline.schema import load_pipeline

from .conftest import workspace, write_pipeline

SUITE = Path(__file__).resolve().parents[2] / "sim_suite"
HYDRO0, DMO0 = SUITE / "box_s0" / "hydro" / "snap_001.hdf5", SUITE / "box_s0" / "dmo" / "snap_001.hdf5"
HYDRO5 = SUITE / "box_s5" / "hydro" / "snap_001.hdf5"
needs_suite = pytest.mark.skipif(not HYDRO5.is_file(), reason="the Gadget-2 suite's snapshots are not here")
SUITE_PIXEL = 31.25


@pytest.fixture(scope="module")
def suite_models(tmp_path_factory):
    """Random tiny gas/HI bundles at the suite's 31.25 ckpc/h pixels (their training metadata is set per test)."""
    from ember_dist.model.testing import random_bundle

    root = tmp_path_factory.mktemp("suite-models")
    for i, f in enumerate(("gas", "hi")):
        random_bundle(root / f, "tiny", f, noise=True, seed=i, pixel_size=SUITE_PIXEL)
    return root


def _spec(folder, snapshot, models, **extra):
    """Write and load a pipeline file enriching ``snapshot`` with the bundles in ``models``."""
    text = (f"output: out\ninput:\n  snapshot: {snapshot}\n" + "".join(f"  {k}: {v}\n" for k, v in extra.items())
            + f"deposit: {{axes: [z], slabs: 4, pixel: {SUITE_PIXEL}}}\n"
            + f"enrich: {{models: {{gas: {models / 'gas'}, hi: {models / 'hi'}}}}}\n"
            + "statistics: {compute: [power, pdf, cddf, halos], halos: {min_members: 10, mass_bins: 3}}\n")
    path = Path(folder) / "pipeline.yaml"
    path.write_text(text)
    return load_pipeline(path)


def _set_training(models, **training):
    from ember_dist.model.bundle import load_model, update_meta

    for f in ("gas", "hi"):
        b = load_model(models / f)
        t = {k: v for k, v in b.meta["training"].items() if k not in ("dm_particle_mass", "dm_mass_fraction")}
        update_meta(b, training={**t, **training})


def _heavier_dmo(src, dst, k, box=None):
    """A DM-only snapshot with 1 particle of ``src`` in ``k`` kept and MassTable x k (same cosmology; the
    coordinates rescaled to a ``box`` of another size if given)."""
    with h5py.File(src, "r") as f, h5py.File(dst, "w") as g:
        hdr = g.create_group("Header")
        for a, v in f["Header"].attrs.items():
            hdr.attrs[a] = v
        scale = 1.0 if box is None else box / float(f["Header"].attrs["BoxSize"])
        hdr.attrs["BoxSize"] = float(f["Header"].attrs["BoxSize"]) * scale
        n = int(f["Header"].attrs["NumPart_Total"][1]) // k
        for a in ("NumPart_ThisFile", "NumPart_Total"):
            v = np.array(f["Header"].attrs[a])
            v[1] = n
            hdr.attrs[a] = v
        mt = np.array(f["Header"].attrs["MassTable"], np.float64)
        mt[1] *= k
        hdr.attrs["MassTable"] = mt
        p = g.create_group("PartType1")
        for name in ("Coordinates", "ParticleIDs", "Velocities"):
            p.create_dataset(name, data=f["PartType1"][name][::k][:n] * (scale if name == "Coordinates" else 1))


@needs_suite
def test_auto_downsampling_from_particle_masses(suite_models, tmp_path):
    from ember_dist.deposit.api import deposit_snapshot
    from ember_dist.train.sampler import TileSampler

    # an MR8 training input as the suite's maps are made: box_s0's hydro dark matter, 1 particle in 8 kept;
    # its deposit records the particle mass, and training (TileSampler.from_store) copies it for the bundle
    mr8 = tmp_path / "mr8.zarr"
    deposit_snapshot(HYDRO0, mr8, pixel=500.0, slabs=1, axes=("z",), fields=("dm",), downsample=8, seed=8, align=16)
    hydro0 = deposit_snapshot(HYDRO0, tmp_path / "hr.zarr", pixel=500.0, slabs=1, axes=("z",),
                              fields=("dm", "gas"), align=16)
    _, info = TileSampler.from_store(str(tmp_path / "hr.zarr"), "gas", input_maps=str(mr8), axes=("z",), tile=8)
    with h5py.File(HYDRO0, "r") as f:
        h = f["Header"].attrs
        m_dm = h["MassTable"][1] * 1e10  # Msun/h
        om, ob, box = h["Omega0"], h["OmegaBaryon"], h["BoxSize"]
        total_dm = m_dm * h["NumPart_Total"][1]
    assert info["dm_particle_mass"] == pytest.approx(8 * m_dm, rel=1e-9)  # 64000 // 8 kept, masses x 8
    assert info["dm_mass_fraction"] == pytest.approx((om - ob) / om, rel=1e-4)
    assert info["dm_mass_fraction"] == pytest.approx(total_dm / (om * RHO_CRIT * box**3), rel=1e-12)
    assert hydro0.attrs["dm_particle_mass"] == pytest.approx(m_dm, rel=1e-9)
    _set_training(suite_models, dm_particle_mass=info["dm_particle_mass"], dm_mass_fraction=info["dm_mass_fraction"],
                  input_resolution="downsampled dark matter (1/8 of the particles)")

    # the hydro run itself: its particles are the MR8 input's, 8 times lighter -> 1 in 8
    spec, _ = resolve(_spec(tmp_path, HYDRO0, suite_models))
    assert spec["derived"]["downsample"] == 8
    text = spec["derived"]["resolution"]["text"]
    assert text.startswith("input 1 particle in 8 (auto, from the particle masses); models")
    assert "models trained on particles of 5.487e+09 Msun/h; snapshot's are 6.858e+08 Msun/h" in text

    # its DM-only twin: particles 1/0.843 heavier at the same spacing; per unit dark-matter fraction still 8
    # (raw masses would give round(8 x 0.843) = 7)
    spec, _ = resolve(_spec(tmp_path, DMO0, suite_models))
    assert spec["derived"]["downsample"] == 8

    # a DM-only box whose particles are 8x heavier (the application box's spacing) -> every particle kept
    heavy = tmp_path / "dmo_heavy.hdf5"
    _heavier_dmo(DMO0, heavy, 8)
    spec, _ = resolve(_spec(tmp_path, heavy, suite_models))
    assert spec["derived"]["downsample"] == 1
    assert "input 1 particle in 1 (auto, from the particle masses)" in spec["derived"]["resolution"]["text"]

    # the application box (140^3 DM-only particles in 56000 ckpc/h, 400 ckpc/h apart like the MR8 input), through
    # deploy/pipeline-application.yaml with these bundles in place of the suite's: every particle kept; the
    # references (the test seeds 5, 12, 13) on 4 slabs of the application's 2000 ckpc/h
    app_yaml = Path(__file__).resolve().parents[2] / "deploy" / "pipeline-application.yaml"
    if (SUITE / "app" / "dmo" / "snap_001.hdf5").is_file():
        s = load_pipeline(app_yaml)
        s["enrich"]["models"] = {"gas": str(suite_models / "gas"), "hi": str(suite_models / "hi")}
        spec, _ = resolve(s)
        assert spec["derived"]["downsample"] == 1
        assert ("input 1 particle in 1 (auto, from the particle masses); models trained on particles of 5.487e+09 "
                "Msun/h; snapshot's are 5.487e+09 Msun/h") in spec["derived"]["resolution"]["text"]
        refs = spec["derived"]["references"]
        assert [(r["slabs"], r["slab_depth"], r["label"]) for r in refs] == [
            (4, 2000.0, f"hydro suite (seed {s}, 8 Mpc/h)") for s in (5, 12, 13)]

    # an explicit factor the masses contradict is refused, naming both masses
    s = _spec(tmp_path, heavy, suite_models)
    s["deposit"]["input_resolution"] = 8
    with pytest.raises(PipelineError, match="8 keeps 1 particle in 8, but model 'random-tiny-gas' .* 1 in 1 matches"):
        resolve(s)

    # bundles trained before training recorded the mass: read from the training input store their command names
    _set_training(suite_models, input_resolution="downsampled dark matter (1/8 of the particles)",
                  command=f"ember-dist train --maps {tmp_path / 'hr.zarr'} --field gas --input-maps {mr8} --seed 0")
    spec, _ = resolve(_spec(tmp_path, heavy, suite_models))
    assert spec["derived"]["downsample"] == 1
    assert f"the models' mass read from its training input {mr8} (named by the bundle)" in spec["derived"]["resolution"][
        "text"]
    spec, _ = resolve(_spec(tmp_path, HYDRO0, suite_models))
    assert spec["derived"]["downsample"] == 8

    # bundles that neither record the mass nor name a store here keep the old rule: what their input_resolution names
    _set_training(suite_models, input_resolution="downsampled dark matter (1/8 of the particles)",
                  command="ember-dist train --maps WORK/hr.zarr --input-maps WORK/mr8.zarr")
    spec, _ = resolve(_spec(tmp_path, heavy, suite_models))
    assert spec["derived"]["downsample"] == 8
    assert "their bundles record no training particle mass" in spec["derived"]["resolution"]["text"]


TWIN0 = SUITE / "box_s0" / "mr8" / "dmo" / "snap_001.hdf5"


@pytest.mark.skipif(not TWIN0.is_file(), reason="the suite's low-resolution twin of box_s0 is not in this checkout")
def test_a_twin_run_input_is_recorded_as_mr8_and_matches_the_application_box(suite_models, tmp_path):
    """The MR8 input from box_s0's 20^3 dark-matter-only twin (a run, not a subsample): training records 1/8 from
    the particle masses per unit dark-matter fraction, and the pipeline then keeps every particle of the
    application box (same spacing) and 1 in 8 of the hydro run."""
    from ember_dist.deposit.api import deposit_snapshot
    from ember_dist.train.export import _data_metadata
    from ember_dist.train.sampler import TileSampler

    kw = dict(pixel=500.0, slabs=1, axes=("z",), align=16)
    deposit_snapshot(TWIN0, tmp_path / "twin.zarr", fields=("dm",), **kw)
    deposit_snapshot(HYDRO0, tmp_path / "hr.zarr", fields=("dm", "gas"), **kw)
    deposit_snapshot(DMO0, tmp_path / "dmo.zarr", fields=("dm",), **kw)
    _, info = TileSampler.from_store(str(tmp_path / "hr.zarr"), "gas", input_maps=str(tmp_path / "twin.zarr"),
                                     axes=("z",), tile=8)
    with h5py.File(TWIN0, "r") as f, h5py.File(HYDRO0, "r") as g:
        m_twin, m_hydro = f["Header"].attrs["MassTable"][1] * 1e10, g["Header"].attrs["MassTable"][1] * 1e10
        om, ob = g["Header"].attrs["Omega0"], g["Header"].attrs["OmegaBaryon"]
    assert info["dm_particle_mass"] == pytest.approx(m_twin, rel=1e-9)
    assert info["dm_mass_fraction"] == pytest.approx(1.0, rel=1e-12)
    assert m_twin == pytest.approx(8 * m_hydro * om / (om - ob), rel=1e-9)  # 8x the particles' mass per unit fraction
    assert info["downsample"] == 8 and info["input_run"] == "lower-resolution dark-matter-only run"
    meta = _data_metadata(info)
    assert meta["input_resolution"].startswith("low-resolution dark matter (1/8 of the particles")
    # the same-resolution dark-matter-only run is not a lower-resolution input
    _, same = TileSampler.from_store(str(tmp_path / "hr.zarr"), "gas", input_maps=str(tmp_path / "dmo.zarr"),
                                     axes=("z",), tile=8)
    assert "downsample" not in same or same["downsample"] == 1
    assert _data_metadata(same)["input_resolution"].startswith("HR")
    _set_training(suite_models, dm_particle_mass=info["dm_particle_mass"], dm_mass_fraction=info["dm_mass_fraction"],
                  input_resolution=meta["input_resolution"])
    assert resolve(_spec(tmp_path, HYDRO0, suite_models))[0]["derived"]["downsample"] == 8
    heavy = tmp_path / "dmo_heavy.hdf5"
    _heavier_dmo(DMO0, heavy, 8)  # the application box's particle mass
    assert resolve(_spec(tmp_path, heavy, suite_models))[0]["derived"]["downsample"] == 1


def _slab_masses(path, depth, weight):
    """Independent: sum of ``weight`` (per gas particle, Msun/h) per slab along z, by particle centre."""
    with h5py.File(path, "r") as f:
        h = f["Header"].attrs
        box = float(h["BoxSize"])
        z = np.mod(f["PartType0/Coordinates"][:, 2].astype(np.float64), box)
        m = (f["PartType0/Masses"][:] if "Masses" in f["PartType0"] else np.full(z.size, h["MassTable"][0])) * 1e10
        w = weight(m, f["PartType0"])
    k = np.minimum((z / depth).astype(np.int64), int(round(box / depth)) - 1)
    return np.bincount(k, weights=w, minlength=int(round(box / depth)))


@needs_suite
def test_reference_stage_on_the_held_out_seed(suite_models, tmp_path):
    from ember_dist.pipeline.runner import Context
    from ember_dist.pipeline.stages import build_stages
    from ember_dist.pipeline.statistics import read_statistics

    _set_training(suite_models)
    spec, bundles = resolve(_spec(tmp_path, DMO0, suite_models, reference=f"[{HYDRO5}]"))
    (ref,) = spec["derived"]["references"]
    assert (ref["slabs"], ref["slab_depth"], ref["label"]) == (4, 2000.0, "hydro suite (seed 5, 8 Mpc/h)")
    stages = {s.name: s for s in build_stages(spec, bundles, {})}
    assert {"reference_0", "reference_0_haloes", "reference_statistics"} <= set(stages)
    assert set(stages["reference_0"].inputs) == {"snapshot"}  # it reads no stage of the application
    assert set(stages["reference_statistics"].inputs) == {"stage:reference_0", "stage:reference_0_haloes"}
    out = tmp_path / "out"
    out.mkdir()
    ctx = Context(out=str(out), spec=spec, bundles=bundles, progress=False)
    for name in ("reference_0", "reference_0_haloes", "reference_statistics"):
        stages[name].run(ctx, False)

    ds = xr.open_zarr(out / "reference_0.zarr", consolidated=False)
    assert ds.attrs["pixel_size"] == SUITE_PIXEL and ds.attrs["slab_depth"] == 2000.0
    assert dict(ds.sizes) == {"axis": 1, "slab": 4, "y": 256, "x": 256}
    gas = ds["gas"].astype(np.float64).sum(("y", "x")).isel(axis=0).values
    want = _slab_masses(HYDRO5, 2000.0, lambda m, p: m)
    np.testing.assert_allclose(gas, want, rtol=2e-6)
    assert want.min() > 0.1 * want.mean()  # four real slabs, none empty
    hi = ds["hi"].astype(np.float64).sum(("y", "x")).isel(axis=0).values
    np.testing.assert_allclose(hi, _slab_masses(HYDRO5, 2000.0, lambda m, p: m * X_H * p["NeutralHydrogenAbundance"][:]),
                               rtol=2e-5)

    # FoF haloes of the reference's dark matter, each particle weighed as a DM-only run's of the same spacing
    with h5py.File(out / "reference_0_haloes.h5") as f, h5py.File(HYDRO5) as s:
        h = s["Header"].attrs
        m_equiv = h["Omega0"] * RHO_CRIT * h["BoxSize"] ** 3 / h["NumPart_Total"][1]
        masses = f["mass"][:]
    assert masses.size > 10
    np.testing.assert_allclose(masses / m_equiv, np.round(masses / m_equiv), rtol=1e-9)
    assert masses.min() == pytest.approx(10 * m_equiv, rel=1e-9)  # min_members 10

    st = read_statistics(str(out / "reference_statistics.zarr"))
    assert {"ref0/power_gas", "ref0/pdf_hi", "ref0/cddf", "ref0/halos"} <= set(st)
    assert int(st["ref0/pdf_gas"]["counts"].sum() + st["ref0/pdf_gas"]["n_zero"].sum()
               + st["ref0/pdf_gas"]["n_below"].sum() + st["ref0/pdf_gas"]["n_above"].sum()) == 4 * 256**2
    assert float(st["ref0/halos"]["mass_gas"].sum()) > 0


@needs_suite
def test_reference_refusals_name_the_key_line_and_fix(suite_models, tmp_path):
    _set_training(suite_models)
    dmo5, z3 = SUITE / "box_s5" / "dmo" / "snap_001.hdf5", SUITE / "box_s5" / "hydro" / "snap_000.hdf5"
    app = tmp_path / "app6000.hdf5"  # an application box of 6000 ckpc/h: 4 slabs of 1500, which 8000 is not made of
    _heavier_dmo(DMO0, app, 1, box=6000.0)
    s = _spec(tmp_path, app, suite_models, reference=f"[{HYDRO5}, {z3}, {dmo5}]")
    with pytest.raises(PipelineError) as e:
        resolve(s)
    lines = str(e.value).splitlines()
    assert any(ln.startswith("pipeline.yaml, line 4: input.reference.0: its box of 8000 ckpc/h is not a whole "
                             "number of the application's slabs (1500 ckpc/h deep = 6000 / 4); choose") for ln in lines)
    s["deposit"]["slabs"] = 3  # 2000 ckpc/h slabs: the first reference is fine now
    with pytest.raises(PipelineError) as e:
        resolve(s)
    assert "input.reference.0" not in str(e.value) and "input.reference.1" in str(e.value)
    assert any("input.reference.1: its redshift 3.000 differs from the application's 2.000 by more than 0.05" in ln
               for ln in lines)
    assert any("input.reference.2:" in ln and "has no gas (PartType0)" in ln for ln in lines)

    base = "output: out\ninput:\n  snapshot: s.hdf5\n  reference: REF\nenrich: {models: {gas: g}}\n"
    for ref, msg in [("{a: 1}", "pipeline.yaml, line 4: input.reference: must be a list of str values"),
                     ("[1.5]", "pipeline.yaml, line 4: input.reference.0: 1.5 is not a string")]:
        with pytest.raises(PipelineError, match=msg):
            parse_pipeline_text(base.replace("REF", ref))
    with pytest.raises(PipelineError, match="line 4: input.references: unknown key; allowed keys in input: snapshot, "
                                            "maps, truth, halos, reference"):
        parse_pipeline_text(base.replace("reference:", "references:"))
    assert parse_pipeline_text(base.replace("REF", "a.hdf5"))["input"]["reference"] == ["a.hdf5"]
    assert parse_pipeline_text(base.replace("  reference: REF\n", ""))["input"]["reference"] is None


def test_toy_pipeline_with_a_reference_box_reruns_only_what_reads_it(toy, client, tmp_path_factory):
    """No truth: the enriched toy box against other toy boxes (seeds 1 and 2; each holds FoF haloes)."""
    from ember_dist.mock.suite import make_mock_suite

    refs = tmp_path_factory.mktemp("toy-refs")
    for seed in (1, 2):
        make_mock_suite(refs / f"s{seed}", n=32, box_size=3750.0, seed=seed)
    d = workspace(toy, "with-reference")
    os.symlink(refs, d / "refs")
    inp = {"snapshot": "suite/dmo/snap_000.hdf5", "truth": None, "halos": "fof",
           "reference": ["refs/s1/hydro/snap_000.hdf5"]}
    res = run_pipeline(write_pipeline(d, input=inp), progress=False, client=client)
    stages = ["deposit", "haloes", "enrich", "statistics", "reference_0", "reference_0_haloes", "reference_statistics",
              "report"]
    assert list(res.actions) == stages and set(res.actions.values()) == {"ran"}
    assert any(m.startswith("dark-matter input: input 1 particle in 64 (deposit.input_resolution: MR)")
               for m in res.messages)
    assert any(m.startswith("reference: hydro ") and "a different volume" in m for m in res.messages)
    doc = json.loads((d / "out" / "report" / "report.json").read_text())
    (ref,) = doc["references"]
    assert ref["slabs"] == 2 and ref["slab_depth"] == 1875.0 and ref["label"] == "hydro snap_000.hdf5 (3.75 Mpc/h)"
    err = doc["errors_vs_reference"][ref["label"]]
    assert {"power_gas", "pdf_hi", "cddf", "halo_fraction_gas"} <= set(err)
    assert err["power_gas"]["n_bins"] > 3 and np.isfinite(err["power_gas"]["error"])
    assert ref["statistics"]["halos"]["n_haloes"] > 0 and len(ref["statistics"]["halos"]["fraction_gas"]) == 3
    page = (d / "out" / "report" / "report.html").read_text()
    assert "Statistics against the hydro suite (a different volume)" in page and "cosmic variance" in page
    assert ref["label"] in page and "Statistics against the truth" not in page

    # another reference: its stages and the report rerun, the application's stages are skipped
    inp["reference"] = ["refs/s2/hydro/snap_000.hdf5"]
    res = run_pipeline(write_pipeline(d, input=inp), progress=False, client=client)
    assert [res.actions[s] for s in stages] == ["skipped"] * 4 + ["ran"] * 4
    assert res.reasons["reference_0"].startswith("its input snapshot changed (path, size or modification time")
    assert res.reasons["reference_statistics"] == "stage reference_0 it reads was rerun; stage reference_0_haloes it reads was rerun"


def test_reference_error_only_over_the_k_both_boxes_cover():
    from ember_dist.pipeline.statistics import _reference_error

    k = np.geomspace(1e-3, 1e-1, 41)  # a large box: from its own fundamental mode
    pred = {"x": k.tolist(), "pred_q16_q50_q84": np.stack([0.5 * k**-2, k**-2, 2 * k**-2]).tolist()}
    kr = np.geomspace(5e-3, 2e-1, 23)  # a smaller box's bins, past the large box's last k
    e = _reference_error(pred, {"x": kr.tolist(), "y": (1.25 * kr**-2).tolist()}, log_interp=True)
    inside = kr[(kr >= 1e-3) & (kr <= 1e-1 * (1 + 1e-9))]
    assert e["n_bins"] == inside.size and e["x_range"] == pytest.approx([inside[0], inside[-1]])
    assert e["error"] == pytest.approx(0.2, rel=1e-9)  # |1 / 1.25 - 1|, power laws interpolate exactly in log-log
    same = _reference_error(pred, {"x": k.tolist(), "y": (2 * k**-2).tolist()}, log_interp=False)
    assert same["n_bins"] == 41 and same["error"] == pytest.approx(0.5)
