# SPDX-License-Identifier: BSD-3-Clause
"""Sampler, training steps, exact resume, and a trained bundle that loads and predicts.

Data: a 32^3 mock suite deposited on 64^2 maps (2 slabs, x/y/z), once per module.
"""
from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import zarr

keras = pytest.importorskip("keras")

from ember_dist.model.normalization import Normalization  # noqa: E402
from ember_dist.train import build  # noqa: E402
from ember_dist.train.loop import TrainConfig, Trainer  # noqa: E402
from ember_dist.train.losses import perceptual_loss  # noqa: E402
from ember_dist.train.sampler import TileDataset, TileSampler  # noqa: E402


@pytest.fixture(scope="module")
def maps(tmp_path_factory):
    from ember_dist.deposit.api import deposit_snapshot
    from ember_dist.mock import make_mock_suite

    root = tmp_path_factory.mktemp("train_maps")
    suite = make_mock_suite(root / "suite", n=32, seed=0)
    deposit_snapshot(suite["hydro"], root / "maps.zarr", pixel=15000 / 64, slabs=2, axes=("x", "y", "z"),
                     fields=("dm", "gas", "hi"), align=16)
    deposit_snapshot(suite["hydro"], root / "dm_ds8.zarr", pixel=15000 / 64, slabs=2, axes=("x", "y", "z"),
                     fields=("dm",), align=16, downsample=8, seed=1)
    return root / "maps.zarr"


def _sampler(maps, kind="unet", seed=0, batch=4):
    return TileSampler.from_store(maps, "gas", tile=32, batch=batch, noise_levels=3 if kind == "wgan" else 0,
                                  seed=seed)


def _cfg(kind="unet", **kw):
    base = dict(kind=kind, field="gas", preset="tiny", steps=10, batch=4, tile=32, lr=1e-3, critic_lr=1e-3,
                n_critic=2, checkpoint_every=100, log_every=1, sample_every=0, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def test_sampler_store_projections_determinism_augmentation(maps):
    s, info = _sampler(maps, "wgan")
    assert info["n_maps"] == 4 and info["axes"] == ["x", "y"] and info["map_shape"] == [64, 64]  # z held out
    assert info["hubble"] == pytest.approx(0.6774)
    x, y, eps = s.batch(5, with_eps=True)
    assert x["dm"].shape == (4, 32, 32, 1) and y.shape == (4, 32, 32, 1) and eps.shape == (4, 1, 1, 1)
    assert [x[f"noise_l{l}"].shape[1] for l in range(3)] == [32, 16, 8]
    x2, y2, _ = s.batch(5, with_eps=True)
    assert all(np.array_equal(x[k], x2[k]) for k in x) and np.array_equal(y, y2)
    assert not np.array_equal(s.batch(6)[1], y)
    # normalisation: the target is the bundle normalisation of the gas map
    assert 0.0 <= y.min() and y.max() < 5.0
    # flips/rotations move input and target together: identical maps stay identical
    m = np.random.default_rng(1).random((2, 64, 64)) * 1e7
    same = TileSampler.from_arrays(m, m, input_norm=Normalization.for_field("gas"),
                                   output_norm=Normalization.for_field("gas"), tile=16, batch=8)
    xs, ys = same.batch(0)
    assert np.array_equal(xs["dm"], ys)
    ds = TileDataset(s, steps=3, start=5, with_eps=True)
    assert len(ds) == 3 and np.array_equal(ds[0][1], y)


def _weights(model):
    return [np.array(v) for v in model.weights]


def test_unet_steps_reduce_loss(maps, tmp_path):
    s, info = _sampler(maps)
    tr = Trainer(_cfg(steps=12, checkpoint_every=4), s, tmp_path / "w", info)
    x, y = s.batch(10**6)

    def loss():
        return float(perceptual_loss(y, tr.g(x), tr.cfg.loss_weights, tr.levels)[0])

    before = loss()
    tr.run()
    after = loss()
    assert after < 0.9 * before, (before, after)
    # best checkpoint by the power-spectrum error of whole training-map predictions

    scores = {int(p.stem[5:]): json.loads(p.read_text())["score"]
              for p in (tmp_path / "w" / "checkpoints").glob("ckpt-*.json")}
    finite = {k: v for k, v in scores.items() if np.isfinite(v)}  # an all-zero early prediction scores nan
    assert sorted(scores) == [4, 8, 12] and finite, scores
    path, step, score = tr.best_checkpoint()
    assert score == min(finite.values()) and scores[step] == score and path.is_file()
    again = tr.rescore()  # same metric: same scores and choice
    assert again.keys() == scores.keys() and tr.best_checkpoint()[1] == step
    assert all(np.isclose(again[k], scores[k], equal_nan=True) for k in scores)
    rows = list(csv.DictReader(open(tmp_path / "w" / "metrics.csv")))
    assert any((tmp_path / "w" / "tensorboard").glob("events.out.tfevents.*"))
    assert [int(r["step"]) for r in rows] == list(range(1, 13)) and {"loss", "dssim", "msle", "lr"} <= set(rows[0])


def test_wgan_steps_run_and_change_weights(maps, tmp_path):
    s, info = _sampler(maps, "wgan")
    tr = Trainer(_cfg("wgan", steps=2, sample_every=2, diagnostics=False, score_maps=0, tensorboard=False), s,
                 tmp_path / "w", info)  # diagnostics, scores, TensorBoard: asserted by other tests
    g0, c0 = _weights(tr.g), _weights(tr.c)
    m = tr.run()
    assert all(np.isfinite(v) for v in m.values())
    assert {"critic_loss", "gp", "wasserstein", "adversarial", "perceptual"} <= set(m)
    changed = lambda a, b: sum(not np.array_equal(u, v) for u, v in zip(a, b))  # noqa: E731
    assert changed(g0, _weights(tr.g)) > len(g0) // 2
    assert changed(c0, _weights(tr.c)) > len(c0) // 2
    assert int(np.array(tr.c_opt.iterations)) == 4 and int(np.array(tr.g_opt.iterations)) == 2
    assert (tmp_path / "w" / "samples" / "step-00000002.png").stat().st_size > 1000


def test_wgan_levers_critic_width_perceptual_level_and_power_term(maps, tmp_path):
    """--critic-width 2 doubles every critic width; --power-weight logs the P(k) term (the generator's loss
    includes it); --perceptual-from-level 1 runs; the bundle's loss text names both."""
    s, info = _sampler(maps, "wgan")
    cfg = _cfg("wgan", steps=2, sample_every=0, diagnostics=False, score_maps=0, tensorboard=False, critic_width=2,
               perceptual_from_level=1, power_weight=3.0, pdf_weight=2.0, pdf_log_weight=0.5, pdf_mass_weight=0.25,
               mass_weight=0.125, tile_power_weight=0.0625)
    tr = Trainer(cfg, s, tmp_path / "w", info)
    widths = [tr.c.get_layer(f"c{l}_conv1").filters for l in range(tr.preset.levels)]
    assert widths == [2 * f for f in tr.preset.filters]
    m = tr.run()
    assert m["power"] > 0 and np.isfinite(m["loss"])
    w = cfg.loss_weights
    assert m["pdf"] > 0 and m["pdf_log"] > 0 and m["pdf_mass"] > 0 and m["mass"] > 0 and m["tile_power"] > 0
    assert m["perceptual"] == pytest.approx(3.0 * m["power"] + 2.0 * m["pdf"] + 0.5 * m["pdf_log"]
                                            + 0.25 * m["pdf_mass"] + 0.125 * m["mass"] + 0.0625 * m["tile_power"]
                                            + w.alpha * m["dssim"] + w.beta * m["msle"], rel=1e-4)
    from ember_dist.train.export import _loss_text

    text = _loss_text(cfg)
    assert "3*(ln P_pred(k) - ln P_true(k))^2" in text and "block-averaged over 2 px" in text and "2*W1(pixel" in text
    assert "0.5*W1(ln mass per pixel" in text and "0.25*W1(mass per pixel / mean" in text
    assert "0.125*(ln M_pred - ln M_true)^2 (the batch's total mass)" in text
    assert "0.0625*|ln(1 + P_pred(k)) - ln(1 + P_true(k))| (each tile's power over the batch's mean)" in text
    assert "critic 2x the generator's widths" in text
    with pytest.raises(ValueError, match="perceptual_from_level=1 needs kind='wgan'"):
        _cfg("unet", perceptual_from_level=1)
    with pytest.raises(ValueError, match="critic_width=2 needs kind='wgan'"):
        _cfg("unet", critic_width=2)
    with pytest.raises(ValueError, match="pdf_weight must be a finite number >= 0"):
        _cfg("wgan", pdf_weight=float("nan"))
    with pytest.raises(ValueError, match="not implemented on 2 devices"):
        build.check_batch_terms(cfg, 2, info)
    with pytest.raises(ValueError, match="power_weight and pdf_log_weight and pdf_mass_weight and mass_weight and tile_power_weight need the "
                       "target's normalisation"):
        build.check_batch_terms(cfg, 1, {})
    with pytest.raises(ValueError, match="pdf_log_weight must be a finite number >= 0"):
        _cfg("wgan", pdf_log_weight=-1.0)


def test_spread_term_runs_the_generator_on_flipped_noise(maps, tmp_path):
    """--spread-weight adds w x the energy score of two realisations' per-tile ln P(k) to the generator's loss;
    the second realisation's noise maps are the first's flipped in both axes (the same white-noise law), the
    dark matter unchanged; a U-Net refuses the term."""
    s, info = _sampler(maps, "wgan")
    cfg = _cfg("wgan", steps=2, sample_every=0, diagnostics=False, score_maps=0, tensorboard=False, spread_weight=2.0)
    tr = Trainer(cfg, s, tmp_path / "w", info)
    x, _ = s.batch(0)
    from ember_dist.train.step_terms import flip_noise

    r = flip_noise(x)
    assert np.array_equal(r["dm"], x["dm"]) and np.array_equal(r["noise_l1"], x["noise_l1"][:, ::-1, ::-1])
    m = tr.run()
    w = cfg.loss_weights
    assert m["spread"] > 0 and np.isfinite(m["loss"])
    assert m["perceptual"] == pytest.approx(2.0 * m["spread"] + w.alpha * m["dssim"] + w.beta * m["msle"], rel=1e-4)
    from ember_dist.train.export import _loss_text

    assert "2*energy score of each tile's P(k) over two realisations" in _loss_text(cfg)
    with pytest.raises(ValueError, match="spread_weight=1.0 needs kind='wgan'"):
        _cfg("unet", spread_weight=1.0)
    with pytest.raises(ValueError, match="spread_weight must be a finite number >= 0"):
        _cfg("wgan", spread_weight=-1.0)
    with pytest.raises(ValueError, match="spread_weight are statistics of the whole batch"):
        build.check_batch_terms(cfg, 2, info)
    with pytest.raises(ValueError, match="spread_weight need the target's normalisation"):
        build.check_batch_terms(cfg, 1, {})


def test_perceptual_energy_scores_two_realisations_and_is_checked(maps, tmp_path):
    """--perceptual-energy: the DSSIM/MSLE metrics are the two realisations' mean distance from the truth, and the loss
    is below alpha x DSSIM + beta x MSLE by the energy x half their distance from each other (> 0: their noise maps
    differ); the recipe text says so; a U-Net and energies outside [0, 1] are refused."""
    s, info = _sampler(maps, "wgan")
    cfg = _cfg("wgan", steps=2, sample_every=0, diagnostics=False, score_maps=0, tensorboard=False, noise_init=0.1,
               critic_warmup=0, perceptual_energy=1.0)
    m = Trainer(cfg, s, tmp_path / "w", info).run()
    w = cfg.loss_weights
    assert np.isfinite(m["loss"]) and m["dssim"] > 0 and m["msle"] > 0
    assert m["perceptual"] < w.alpha * m["dssim"] + w.beta * m["msle"] - 1e-4
    from ember_dist.train.export import _loss_text

    assert "1/2 x the same between them" in _loss_text(cfg) and "between them" not in _loss_text(_cfg("wgan"))
    with pytest.raises(ValueError, match=r"perceptual_energy=1.0 must be in \[0, 1\].*needs kind='wgan'"):
        _cfg("unet", perceptual_energy=1.0)
    with pytest.raises(ValueError, match="perceptual_energy=1.5 must be in"):
        _cfg("wgan", perceptual_energy=1.5)


def test_resume_refuses_an_option_the_checkpoint_predates(tmp_path):
    """A checkpoint written before power_weight existed resumes at its default, not with a new value."""
    from ember_dist.train.checkpoints import check_config

    saved = {k: v for k, v in _cfg("wgan").to_dict().items() if k != "power_weight"}
    check_config(tmp_path / "ck", saved, _cfg("wgan").to_dict())  # the default: resumes
    with pytest.raises(ValueError, match="power_weight"):
        check_config(tmp_path / "ck", saved, _cfg("wgan", power_weight=10.0).to_dict())
    # a tuple-valued option the checkpoint predates (noise_floor, default ()) resumes at its default too
    saved = {k: v for k, v in _cfg("wgan").to_dict().items() if k != "noise_floor"}
    check_config(tmp_path / "ck", saved, _cfg("wgan").to_dict())
    with pytest.raises(ValueError, match="noise_floor"):
        check_config(tmp_path / "ck", saved, _cfg("wgan", noise_floor=(0.1,)).to_dict())


def test_checkpoint_resume_is_bit_identical(maps, tmp_path):
    s, info = _sampler(maps, "wgan")
    # no diagnostics, checkpoint scores or TensorBoard: read by other tests, not by this one
    quiet = dict(diagnostics=False, score_maps=0, tensorboard=False)
    cfg = _cfg("wgan", steps=4, checkpoint_every=2, **quiet)
    a = Trainer(cfg, s, tmp_path / "a", info)
    a.run()
    b = Trainer(cfg, s, tmp_path / "b", info)
    b.run(max_steps=2)  # "interrupted" after the checkpoint of step 2
    assert (tmp_path / "b" / "checkpoints" / "latest").read_text().strip() == "ckpt-00000002"
    b2 = Trainer(cfg, s, tmp_path / "b", info)  # fresh process state: new models, restored from disk
    assert b2.restore() == 2
    b2.run()
    assert b2.step == a.step == 4
    for u, v in zip(a._variables().items(), b2._variables().items()):
        assert u[0] == v[0]
        for p, q in zip(u[1], v[1]):
            assert np.array_equal(np.array(p), np.array(q)), p.path
    ra = list(csv.DictReader(open(tmp_path / "a" / "metrics.csv")))
    rb = list(csv.DictReader(open(tmp_path / "b" / "metrics.csv")))
    assert [(r["step"], r["loss"], r["critic_loss"]) for r in ra] == [(r["step"], r["loss"], r["critic_loss"])
                                                                      for r in rb]
    with pytest.raises(ValueError, match="different configuration"):
        Trainer(_cfg("wgan", steps=4, checkpoint_every=2, lr=5e-4, **quiet), s, tmp_path / "b", info).restore()


@pytest.fixture(scope="module")
def trained(maps, tmp_path_factory):
    """A tiny U-Net trained for 3 steps by the CLI: (exit code, bundle dir, root)."""
    from ember_dist.cli import main

    root = tmp_path_factory.mktemp("trained")
    out = root / "tiny-gas-unet"
    rc = main(["train", "--maps", str(maps), "--field", "gas", "--kind", "unet", "--preset", "tiny",
               "--steps", "3", "--batch", "2", "--tile", "32", "--out", str(out), "--checkpoint-every", "2",
               "--sample-every", "0", "-q"])
    return rc, out, root


def test_cli_train_writes_bundle_that_loads_and_predicts(maps, trained):
    import xarray as xr

    from ember_dist.engine.reference import predict_whole
    from ember_dist.model.bundle import load_model

    rc, out, root = trained
    assert rc == 0
    b = load_model(out)
    assert b.meta["kind"] == "unet" and b.field == "gas" and not b.preset.noise
    t = b.meta["training"]
    assert t["steps"] == 3 and t["pixel_size"] == pytest.approx(15000 / 64) and t["projections"] == ["x", "y"]
    assert t["loss_weights"] == {"alpha": 1.0, "beta": 2.0, "gamma": None}
    assert t["checkpoint"].startswith(f"step {t['exported_step']}: lowest score")
    assert b.meta["seam_error"] and b.meta["seam_error"][-1]["max_rel_error"] < 1e-5
    assert b.output_norm.hubble == pytest.approx(0.6774)
    ds = xr.open_zarr(str(maps), consolidated=False)
    # the training input store's share of Omega_m in dark matter (mock hydro run: 1 - Omega_b/Omega_m) is recorded
    fb = ds.attrs["omega_b"] / ds.attrs["omega_m"]
    assert t["dm_mass_fraction"] == pytest.approx(1 - fb, rel=1e-9) and t["dm_source"] == "hydro"
    assert b.dm_mass_fraction == t["dm_mass_fraction"] and b.dm_source == "hydro"
    # and its particle mass (mock: 32^3 dark-matter particles holding that share of Omega_m RHO_CRIT box^3)
    from ember_dist.io.conventions import RHO_CRIT

    assert t["dm_particle_mass"] == pytest.approx((1 - fb) * ds.attrs["omega_m"] * RHO_CRIT * 15000.0**3 / 32**3,
                                                  rel=1e-9)
    dm_z = ds["dm"].sel(axis="z").isel(slab=0).values
    pred = predict_whole(b, dm_z)
    assert pred.shape == (64, 64) and np.isfinite(pred).all() and pred.min() >= 0
    assert (root / "tiny-gas-unet.work" / "checkpoints" / "ckpt-00000003.npz").is_file()


def test_cli_train_and_evaluate_refuse_existing_outputs(maps, trained, tmp_path, capsys):
    """Existing bundles and reports are refused before any work; a rerun says it resumes; failed
    validation leaves no work directory behind."""
    import shutil

    from ember_dist.cli import main

    out = tmp_path / "b"
    shutil.copytree(trained[1], out)
    shutil.copytree(str(trained[1]) + ".work", str(out) + ".work")
    args = ["train", "--maps", str(maps), "--field", "gas", "--kind", "unet", "--preset", "tiny", "--steps", "3",
            "--batch", "2", "--tile", "32", "--out", str(out), "--checkpoint-every", "2", "--sample-every", "0", "-q"]
    meta = (out / "bundle.json").read_bytes()
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "exists" in err and "--overwrite" in err
    assert (out / "bundle.json").read_bytes() == meta
    assert main(args + ["--overwrite"]) == 0
    assert "resuming from checkpoint step 3/3" in capsys.readouterr().err
    bad = tmp_path / "new"
    assert main([str(bad) if a == str(out) else a for a in args] + ["--devices", "2"]) == 2
    assert "asks for 2 GPUs" in capsys.readouterr().err and not (tmp_path / "new.work").exists()
    ev = ["evaluate", "--model", str(out), "--maps", str(maps), "--out", str(tmp_path / "rep")]
    assert main(ev) == 0
    before = (tmp_path / "rep" / "report.json").stat().st_mtime_ns
    assert main(ev) == 2
    assert "already holds" in capsys.readouterr().err
    assert (tmp_path / "rep" / "report.json").stat().st_mtime_ns == before
    assert main(ev + ["--overwrite"]) == 0


def test_evaluate_held_out_report(maps, tmp_path, bundles, trained, capsys):

    from ember_dist.cli import main
    from ember_dist.train.evaluate import evaluate

    r = evaluate(bundles["wgan"].path, maps, out=tmp_path / "rep", realisations=2)
    assert r["held_out_axes"] == ["z"] and r["n_maps"] == 2 and r["realisations"] == 2
    assert np.asarray(r["total_mass_frac_error"]).shape == (2, 2)
    assert len(r["power_k"]) == len(r["power_frac_error_median"]) > 10
    assert json.loads((tmp_path / "rep" / "report.json").read_text())["model"] == r["model"]
    assert main(["evaluate", "--model", str(trained[1]), "--maps", str(maps), "--realisations", "3"]) == 0
    text = capsys.readouterr().out
    assert "2 held-out maps x 1 realisation(s)" in text  # a U-Net gives one prediction
    r = evaluate(trained[1], maps)
    assert np.isfinite(r["total_mass_frac_error"]).all() and any(e is not None for e in r["power_frac_error_median"])


def test_sampler_downsampled_input_store(maps):
    """MR -> HR: input dark matter from a separately deposited, 8x-downsampled store."""
    lo = maps.parent / "dm_ds8.zarr"
    s_hr, _ = _sampler(maps)
    s_lo, info = TileSampler.from_store(maps, "hi", input_maps=lo, tile=32, batch=2, seed=0)
    assert info["downsample"] == 8 and info["input_maps"] == str(lo) and info["field"] == "hi"
    assert info["dm_mass_fraction"] == pytest.approx(0.8427, abs=1e-3) and info["dm_source"] == "hydro"  # Planck 15
    assert info["output_norm"].k == pytest.approx(0.9)  # the paper's HI normalisation
    assert s_lo.inputs.shape == s_hr.inputs.shape and not np.array_equal(s_lo.inputs, s_hr.inputs)
    # the input mass is conserved by the downsampling (masses scaled up), per projection
    np.testing.assert_allclose(Normalization.for_field("dm", 0.6774).inverse(s_lo.inputs).sum(),
                               Normalization.for_field("dm", 0.6774).inverse(s_hr.inputs).sum(), rtol=1e-3)


def test_warm_start_from_unet_bundle_and_noise_init(maps, trained, tmp_path):
    """A WGAN run can start from a trained U-Net's weights, with non-zero noise strengths."""
    from ember_dist.model.bundle import load_model

    s, info = _sampler(maps, "wgan")
    tr = Trainer(_cfg("wgan", steps=1, init_from=str(trained[1]), noise_init=0.25), s, tmp_path / "w", info)
    src = load_model(trained[1]).build()
    for name in ("enc0_conv1", "enc3_down", "dec0_conv2", "dec1_conv1", "final"):
        for u, v in zip(src.get_layer(name).get_weights(), tr.g.get_layer(name).get_weights()):
            assert np.array_equal(u, v), name
    assert tr.init_info["bundle"] == "tiny-gas-unet" and tr.init_info["layers_copied"] > 10
    assert list(tr.noise_strengths().values()) == [0.25, 0.25, 0.25]
    s5, _ = TileSampler.from_store(maps, "gas", tile=32, batch=4, noise_levels=4, seed=0)
    with pytest.raises(ValueError, match="same preset"):
        Trainer(_cfg("wgan", preset="small", tile=32, init_from=str(trained[1])), s5, tmp_path / "x", info)


def test_warm_start_from_a_per_channel_wgan_keeps_its_strengths(tmp_path):
    """A WGAN fine-tuned from a WGAN with per-channel noise strengths starts from those strengths, not their mean
    (a U-Net or a one-per-level WGAN source still fills every channel with the level's value)."""
    from ember_dist.model.bundle import save_bundle
    from ember_dist.model.generator import build_generator
    from ember_dist.model.presets import get_preset
    from ember_dist.train import noise

    p = get_preset("tiny").with_noise(True).with_noise_per_channel(True)
    src = build_generator(p)
    for i, layer in enumerate(noise.layers(src)):
        layer.strength.assign(np.linspace(0.01, 0.1, layer.strength.shape[0]).astype(np.float32) * (i + 1))
    save_bundle(src, tmp_path / "b", name="pc", field="gas", kind="wgan", preset=p,
                input_norm=Normalization.for_field("dm"), output_norm=Normalization.for_field("gas"),
                training={"pixel_size": 3.66, "input_resolution": "none", "data": "test"})
    dst = build_generator(p)
    build.warm_start(dst, p, tmp_path / "b")
    assert noise.strengths(dst) == noise.strengths(src)
    one = build_generator(p.with_noise_per_channel(False))
    build.warm_start(one, p.with_noise_per_channel(False), tmp_path / "b")
    assert [np.mean(v) for v in noise.strengths(src).values()] == pytest.approx(list(noise.strengths(one).values()))


def test_noise_floor_holds_the_fine_strengths_resumes_and_is_recorded(maps, tmp_path):
    """--noise-floor: the start is projected onto it, every update keeps |w| >= floor at the held levels (here a
    noise learning rate of 0.05 on a map that asks for little noise: free levels fall below it), a checkpoint
    resumes with it, the bundle records it; bad values are refused before any work."""
    from ember_dist.cli import main
    from ember_dist.train import noise

    for bad in (dict(kind="unet", noise_floor=(0.1,)), dict(kind="wgan", noise_floor=(0.1, 0.1, 0.1, 0.1)),
                dict(kind="wgan", noise_floor=(-0.1,)), dict(kind="wgan", noise_floor=(float("nan"),))):
        with pytest.raises(ValueError, match="--noise-floor"):
            _cfg(**bad)
    s, info = _sampler(maps, "wgan")
    quiet = dict(diagnostics=False, score_maps=0, tensorboard=False, noise_per_channel=True, noise_lr=0.05)
    cfg = _cfg("wgan", steps=4, checkpoint_every=2, noise_init=0.02, noise_floor=(0.06, 0.0), **quiet)
    tr = Trainer(cfg, s, tmp_path / "w", info)
    assert tr.floors_held == {"dec0_noise": 0.06}
    assert np.all(np.asarray(noise.strengths(tr.g)["dec0_noise"]) == np.float32(0.06))  # projected at the start
    tr.run(max_steps=2)
    again = Trainer(cfg, s, tmp_path / "w", info)
    assert again.restore() == 2  # the list in the checkpoint's JSON equals the config's tuple
    again.run()
    st = noise.strengths(again.g)
    assert np.min(np.abs(st["dec0_noise"])) >= np.float32(0.06)
    assert np.min(np.abs(st["dec1_noise"] + st["dec2_noise"])) < 0.02  # the free levels went down (lr 0.05)
    out = tmp_path / "b"
    assert main(["train", "--maps", str(maps), "--field", "gas", "--kind", "wgan", "--preset", "tiny", "--steps", "2",
                 "--batch", "4", "--tile", "32", "--n-critic", "1", "--out", str(out), "--checkpoint-every", "2",
                 "--sample-every", "0", "--noise-floor", "0.05", "0.04", "--seam-size", "64", "-q"]) == 0
    t = json.loads((out / "bundle.json").read_text())["training"]
    assert t["noise_floor"] == [0.05, 0.04]
    assert abs(t["noise_strengths"]["dec0_noise"]) >= np.float32(0.05)
    assert abs(t["noise_strengths"]["dec1_noise"]) >= np.float32(0.04)


def test_modulated_noise_gains_train_resume_and_are_recorded(maps, tmp_path):
    """--noise-modulated: the gains start at 0 and move with the noise strengths' updates, a checkpoint resumes with
    them bit for bit, and the bundle rebuilds the modulated generator with the trained gains."""
    from ember_dist.cli import main
    from ember_dist.model.bundle import load_model
    from ember_dist.train import noise

    s, info = _sampler(maps, "wgan")
    quiet = dict(diagnostics=False, score_maps=0, tensorboard=False, noise_per_channel=True, noise_modulated=True,
                 noise_lr=0.01)  # the gains train with the strengths
    cfg = _cfg("wgan", steps=4, checkpoint_every=2, noise_init=0.05, critic_warmup=0, **quiet)
    tr = Trainer(cfg, s, tmp_path / "w", info)
    assert all(np.all(np.asarray(l.modulation) == 0) for l in noise.layers(tr.g))
    tr.run(max_steps=2)
    again = Trainer(cfg, s, tmp_path / "w", info)
    assert again.restore() == 2
    for a, b in zip(noise.layers(tr.g), noise.layers(again.g)):
        np.testing.assert_array_equal(np.asarray(a.modulation), np.asarray(b.modulation))
    again.run()
    assert all(np.any(np.asarray(l.modulation) != 0) for l in noise.layers(again.g))
    out = tmp_path / "b"
    assert main(["train", "--maps", str(maps), "--field", "gas", "--kind", "wgan", "--preset", "tiny", "--steps", "2",
                 "--batch", "4", "--tile", "32", "--n-critic", "1", "--critic-warmup", "0", "--out", str(out),
                 "--checkpoint-every", "2", "--sample-every", "0", "--noise-init", "0.05", "--noise-modulated",
                 "--seam-size", "64", "-q"]) == 0
    meta = json.loads((out / "bundle.json").read_text())
    assert meta["preset"]["noise_modulated"] is True and meta["training"]["noise_modulated"] is True
    mods = [np.asarray(l.modulation) for l in noise.layers(load_model(out).build())]
    assert len(mods) == 3 and all(np.any(m != 0) for m in mods)


def test_evaluate_models_table_and_figures(maps, bundles, trained, tmp_path, capsys):
    """Several models on the held-out projection: Table-4-like table, P(k)/PDF figures; HI adds the CDDF."""

    from ember_dist.cli import main
    from ember_dist.model.testing import random_bundle
    from ember_dist.train.evaluate import evaluate_models

    rows = evaluate_models([bundles["wgan"].path, trained[1]], maps, tmp_path / "rep", realisations=3)
    assert [r["model"] for r in rows] == [bundles["wgan"].name, "tiny-gas-unet"]
    assert rows[0]["maps x realisations"] == "2 x 3" and rows[1]["maps x realisations"] == "2 x 1"
    assert all(np.isfinite(r["total mass error (median)"]) for r in rows) and rows[1]["input"] == "HR"
    for f in ("table.md", "table.csv", "report.json", "maps.png", "power.png", "bispectrum.png", "pdf.png"):
        assert (tmp_path / "rep" / f).stat().st_size > 100, f
    assert not (tmp_path / "rep" / "cddf.png").exists()
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert len(rep["models"][0]["power_frac_error_per_realisation"]) == 3
    assert len(rep["models"][0]["bispectrum_frac_error_per_realisation"]) == 3
    assert set(rep["columns"]) >= set(rep["targets"]) and "mean abs B_eq error, k <= k_Nyq/2" in rep["columns"]
    band = "P(k) 16-84% band coverage, k <= 3/4 k_Nyq"
    assert 0 <= rows[0][band] <= 1 and rows[1][band] is None  # the U-Net's one prediction has no band
    assert all(np.isfinite(r["mean abs B_eq error, k <= k_Nyq/2"]) and r["targets missed"] for r in rows)
    assert rep["models"][0]["targets"]["total mass error (median)"]["target"] == "|value| <= 0.02"
    md = (tmp_path / "rep" / "table.md").read_text()
    assert "- **mean abs B_eq error, k <= k_Nyq/2**: median over realisations" in md
    hi = random_bundle(tmp_path / "hi", "tiny", "hi", noise=False, seed=4)
    lo = str(maps.parent / "dm_ds8.zarr")
    assert main(["evaluate", "--model", str(hi.path), "--maps", str(maps), "--input-maps", lo, "--table",
                 "--out", str(tmp_path / "hi-rep")]) == 0
    assert "| model |" in capsys.readouterr().out
    rep = json.loads((tmp_path / "hi-rep" / "report.json").read_text())["models"][0]
    assert rep["input_maps"] == lo and "cddf_frac_error" in rep and (tmp_path / "hi-rep" / "cddf.png").is_file()
    assert "cddf_max_abs_frac_error_min10" in rep and rep["targets"]["total mass error (median)"]["target"] == \
        "|value| <= 0.05"
    with pytest.raises(ValueError, match="different fields"):
        evaluate_models([trained[1], hi.path], maps, tmp_path / "x")
    assert "per_box" not in json.loads((tmp_path / "rep" / "report.json").read_text())  # no record of the boxes
    # maps of two simulation boxes (a stacked suite store records slab_box_seed): each box's row beside the table
    two = tmp_path / "two-boxes.zarr"
    shutil.copytree(maps, two)
    zarr.open_group(str(two), mode="r+").attrs["slab_box_seed"] = [7, 9]
    rows = evaluate_models([trained[1]], two, tmp_path / "rep2")
    rep = json.loads((tmp_path / "rep2" / "report.json").read_text())
    per_box = rep["per_box"]["tiny-gas-unet"]
    assert list(per_box) == ["7", "9"] and all(r["maps x realisations"] == "1 x 1" for r in per_box.values())
    masses = [r["total mass error (median)"] for r in per_box.values()]
    assert np.median(masses) == pytest.approx(rows[0]["total mass error (median)"])  # 2 maps: the two boxes' mean
    assert (tmp_path / "rep2" / "per-box.md").read_text().count("| tiny-gas-unet |") == 2


def test_prediction_score_weights_scales_and_sees_mass():
    """Checkpoint score: 0 for the truth, sees a mass bias, ignores power above k_Nyquist/2."""
    from ember_dist.train.loop import prediction_score

    rng = np.random.default_rng(0)
    n = 64
    truth = np.exp(rng.standard_normal((n, n)))
    ky, kx = np.meshgrid(np.fft.fftfreq(n) * 2 * np.pi, np.fft.fftfreq(n) * 2 * np.pi, indexing="ij")
    kk = np.hypot(ky, kx)

    def cut(lo, hi):  # remove the modes lo <= |k| < hi (1/pixel), keep the mean
        f = np.fft.fft2(truth)
        f[(kk >= lo) & (kk < hi)] = 0
        return np.fft.ifft2(f).real

    assert prediction_score(truth, truth) == pytest.approx(0.0, abs=1e-12)
    assert prediction_score(truth, 1.1 * truth) == pytest.approx(np.log(1.1), rel=1e-9)
    assert np.isnan(prediction_score(truth, np.zeros_like(truth)))
    assert prediction_score(truth, cut(0.55 * np.pi, 10)) < 1e-9  # only modes past k_Nyq/2
    assert prediction_score(truth, cut(0.1, 0.3)) > 0.1


def test_equilateral_error_sees_phases_that_the_power_spectrum_cannot():
    """B_eq term of the checkpoint score (--score-bispectrum): 0 for the truth, |1.1^3 - 1| for a 10% brighter
    overdensity (B ~ delta^3), and large for the same maps with random Fourier phases, whose P(k) is the truth's."""
    from ember_dist.stats.bispectrum import bispectrum
    from ember_dist.train.scoring import equilateral_error, prediction_score

    rng = np.random.default_rng(1)
    n = 64
    truths = np.exp(1.5 * rng.standard_normal((3, n, n)))  # lognormal: strongly non-Gaussian
    w = np.fft.fft2(rng.standard_normal(truths.shape))  # Hermitian random phases: the result stays real
    phases = w / np.abs(w)
    phases[:, 0, 0] = 1.0  # keep the mean
    gauss = np.fft.ifft2(np.abs(np.fft.fft2(truths)) * phases).real
    assert equilateral_error(truths, truths) == pytest.approx(0.0, abs=1e-12)
    mean = truths.mean(axis=(1, 2), keepdims=True)
    brighter = mean + 1.1 * (truths - mean)  # overdensity x 1.1, same mass
    assert equilateral_error(truths, brighter) == pytest.approx(1.1**3 - 1, rel=1e-6)
    # by hand from the stats module: mean over maps, shells up to k_Nyq/2 (k in 1/pixel)
    bt = bispectrum(truths, box_size=n)
    k = np.asarray(bt["k1"])
    btm = np.asarray(bt["bispectrum"]).mean(axis=0)
    bgm = np.asarray(bispectrum(gauss, k=k, box_size=n)["bispectrum"]).mean(axis=0)
    keep = k <= 0.5 * np.pi
    assert equilateral_error(truths, gauss) == pytest.approx(np.mean(np.abs(bgm[keep] / btm[keep] - 1)), rel=1e-9)
    assert equilateral_error(truths, gauss) > 0.5
    assert max(prediction_score(t, g) for t, g in zip(truths, gauss)) < 1e-9  # P(k) and mass: identical


@pytest.mark.parametrize("b_weight", [0.0, 2.0])
def test_checkpoints_scored_on_a_validation_store(maps, tmp_path, b_weight):
    """--val-maps: the checkpoints are scored on maps never trained on, and the bundle says so; with
    --score-bispectrum W the score adds W x the maps' equilateral-bispectrum error."""

    import xarray as xr

    from ember_dist.engine.reference import predict_whole
    from ember_dist.model.bundle import load_model
    from ember_dist.train.loop import train
    from ember_dist.train.scoring import equilateral_error, prediction_score

    b = train(maps, "gas", tmp_path / "b", kind="unet", preset="tiny", steps=4, batch=2, tile=32,
              checkpoint_every=2, log_every=2, sample_every=0, seed=0, tensorboard=False, seam_size=64,
              val_maps=maps, val_axes=("z",), score_bispectrum=b_weight, bright_tiles=0.5 if b_weight else 0.0)
    t = b.meta["training"]
    assert t["bright_tiles"] == (0.5 if b_weight else None)  # the tiles over the brightest pixels, recorded
    assert t["checkpoint_scored_on"] == f"2 validation maps of {str(maps)!r}"
    assert "2 validation maps" in t["checkpoint"] and "training maps" not in t["checkpoint"]
    assert ("equilateral_error" in t["checkpoint"]) == bool(b_weight)
    best = (tmp_path / "b.work" / "checkpoints" / "best").read_text().strip()
    recorded = json.loads((tmp_path / "b.work" / "checkpoints" / f"{best}.json").read_text())["score"]
    # independently: the exported bundle's whole-map predictions of the z projection, scored map by map
    ds = xr.open_zarr(str(maps), consolidated=False)
    b = load_model(tmp_path / "b")
    truths = ds["gas"].sel(axis="z").values[:2]
    preds = [predict_whole(b, ds["dm"].sel(axis="z").values[i]) for i in range(2)]
    scores = [prediction_score(truths[i], preds[i]) for i in range(2)]
    b_err = equilateral_error(truths, np.stack(preds)) if b_weight else 0.0
    assert recorded == pytest.approx(np.mean(scores) + b_weight * b_err, rel=1e-4)
    assert b_err == 0.0 or b_err > 1e-3  # the term is there and moves the score
    trained_on = [prediction_score(ds["gas"].sel(axis="x").values[i], predict_whole(b, ds["dm"].sel(axis="x").values[i]))
                  for i in range(2)]
    assert abs(np.mean(trained_on) - np.mean(scores)) > 1e-3  # the training maps would have scored it otherwise


def test_checkpoints_scored_by_the_evaluation_score(maps, tmp_path):
    """--score-metric evaluation: each checkpoint's score is the validation score (mass, P(k), B_eq, PDF, CDDF)
    that `ember-dist evaluate` gives the exported weights on the same maps, its terms kept in the checkpoint,
    and a resumed run rescored with it chooses by it (the checkpoint scores change from the P(k) metric's)."""
    from ember_dist.train.eval_table import COLUMNS, SCORE_COLUMNS, report_score
    from ember_dist.train.evaluate import evaluate
    from ember_dist.train.loop import train

    kw = dict(kind="unet", preset="tiny", steps=4, batch=2, tile=32, checkpoint_every=2, log_every=2, sample_every=0,
              seed=0, tensorboard=False, seam_size=64, val_maps=maps, val_axes=("z",), keep_checkpoints=5)
    train(maps, "hi", tmp_path / "p", **kw)  # the P(k) metric first; then resumed with the evaluation one
    ck = tmp_path / "p.work" / "checkpoints"
    by_power = {js.name: json.loads(js.read_text())["score"] for js in sorted(ck.glob("ckpt-*.json"))}
    assert len(by_power) == 2 and all("score_terms" not in json.loads(js.read_text()) for js in ck.glob("*.json"))
    b = train(maps, "hi", tmp_path / "b", work_dir=tmp_path / "p.work", score_metric="evaluation", **kw)
    assert "max |PDF error|" in b.meta["training"]["checkpoint"] and "CDDF" in b.meta["training"]["checkpoint"]
    states = {js.name: json.loads(js.read_text()) for js in sorted(ck.glob("ckpt-*.json"))}
    assert all(abs(states[n]["score"] - by_power[n]) > 1e-3 for n in states)  # rescored with the new metric
    best = json.loads((ck / ((ck / "best").read_text().strip() + ".json")).read_text())
    assert best["score"] == min(v["score"] for v in states.values())
    # independently: ember-dist evaluate of the exported (best) weights on the validation maps, one realisation
    r = evaluate(tmp_path / "b", maps, axes=("z",), realisations=1)
    assert best["score"] == pytest.approx(report_score(r), rel=1e-6)
    terms = best["score_terms"]
    assert set(terms) == set(SCORE_COLUMNS)  # HI: the CDDF term too
    for c in SCORE_COLUMNS:
        assert terms[c] == pytest.approx(r[COLUMNS[c][0]], rel=1e-6)
    assert report_score(r) == pytest.approx(sum(abs(v) for v in terms.values()))
    # tools/checkpoint_scores.py tabulates and draws what the checkpoints hold
    from tests.conftest import load_tool

    t = load_tool("checkpoint_scores")
    assert t.main([str(tmp_path / "p.work"), "--out", str(tmp_path / "scores.png")]) == 0
    table = (tmp_path / "scores.md").read_text()
    step = best["step"]
    assert f"| {step} * | {best['score']:.3f} | " in table and f"| {100 * terms['max abs PDF error, 1-99%']:.1f}% |" in table
    assert table.count(" * |") == 1 and (tmp_path / "scores.png").stat().st_size > 10_000


def test_weight_average_is_what_checkpoints_score_and_the_bundle_exports(maps, tmp_path):
    """--ema-half-life H: training steps are the same as without it; the average kept is the recursion
    beta^n-weighted over every step's weights (computed here by hand from a run without it, step by step),
    the checkpoints hold it and are scored with it, a resumed run continues it, and the bundle exports it."""
    import keras

    from ember_dist.model.bundle import load_model

    s, info = _sampler(maps)
    plain = Trainer(_cfg(steps=4, seed=0), s, tmp_path / "plain", info)  # seed 3's tiny U-Net predicts zeros: no score
    beta = 0.5 ** (1 / 2.0)
    avg = [np.array(v, np.float64) for v in plain.g.weights]
    for _ in range(4):
        plain.train_step()
        avg = [beta * a + (1 - beta) * np.array(v, np.float64) for a, v in zip(avg, plain.g.weights)]
    cfg = _cfg(steps=4, seed=0, ema_half_life=2.0, checkpoint_every=2, score_maps=2)
    tr = Trainer(cfg, s, tmp_path / "ema", info)
    tr.run(max_steps=2)  # checkpoint at step 2; then a fresh trainer resumes from it
    tr = Trainer(cfg, s, tmp_path / "ema", info)
    tr.run()
    assert all(np.array_equal(np.array(u), np.array(v)) for u, v in zip(plain.g.weights, tr.g.weights))  # same steps
    assert all(np.allclose(a, e, rtol=1e-6, atol=1e-7) for a, e in zip(avg, tr.ema.shadow))
    assert max(float(np.max(np.abs(a - np.array(v)))) for a, v in zip(avg, tr.g.weights)) > 1e-4  # it differs
    with np.load(tmp_path / "ema" / "checkpoints" / "ckpt-00000004.npz") as z:
        kept = [z[f"ema/{i:04d}"] for i in range(len(avg))]
    assert all(np.allclose(a, k, rtol=1e-6, atol=1e-7) for a, k in zip(avg, kept))
    with tr.ema.applied():
        want = tr.score_weights()
    assert want != tr.score_weights() and tr.score() == pytest.approx(want, rel=1e-6)
    assert tr.rescore()[4] == pytest.approx(want, rel=1e-6)
    b = tr.write_bundle(tmp_path / "bundle", seam_size=64)
    assert "moving average" in b.meta["training"]["checkpoint"]
    exported = load_model(tmp_path / "bundle").build().weights
    ck = tmp_path / "ema" / "checkpoints" / f"ckpt-{int(b.meta['training']['exported_step']):08d}.npz"
    with np.load(ck) as z:
        assert all(np.allclose(keras.ops.convert_to_numpy(v), z[f"ema/{i:04d}"], atol=1e-7)
                   for i, v in enumerate(exported))


def test_evaluation_score_metric_is_checked():
    from ember_dist.train.config import TrainConfig

    with pytest.raises(ValueError, match="score_metric must be"):
        TrainConfig(score_metric="pdf")
    with pytest.raises(ValueError, match="already"):
        TrainConfig(score_metric="evaluation", score_bispectrum=1.0)


def test_critic_warmup_holds_the_generator(maps, tmp_path):
    s, info = _sampler(maps, "wgan")
    tr = Trainer(_cfg("wgan", steps=2, critic_warmup=1), s, tmp_path / "w", info)
    g0 = _weights(tr.g)
    tr.train_step()
    assert all(np.array_equal(u, v) for u, v in zip(g0, _weights(tr.g)))  # generator waited
    assert int(np.array(tr.c_opt.iterations)) == 2 and int(np.array(tr.g_opt.iterations)) == 0
    tr.train_step()
    assert int(np.array(tr.g_opt.iterations)) == 1


SHIPPED = ["small-gas-unet", "small-hi-unet", "small-gas-wgan", "small-hi-wgan", "small-gas-unet-mr",
           "small-hi-unet-mr"]


def test_shipped_trained_bundles_load_predict_and_say_what_they_are():
    """The mock-suite bundles of tools/train_shipped_models.py: honest metadata, and they predict."""
    from ember_dist.engine.reference import predict_whole
    from ember_dist.model.bundle import available_models, default_model_name, load_model

    assert set(SHIPPED) <= set(available_models())
    # the mock-suite bundles (58.59 ckpc/h) are never a default: the defaults learned from the Gadget-2 suite
    for field in ("gas", "hi"):
        d = load_model(default_model_name(field))
        assert d.name == f"suite-{field}-wgan" and d.field == field and d.pixel_size == 31.25
        assert "Gadget-2" in d.meta["training"]["data"] and d.name not in SHIPPED
    dm = np.exp(np.random.default_rng(0).standard_normal((64, 64))) * 4e7
    for name in SHIPPED:
        b = load_model(name)
        t = b.meta["training"]
        assert t["pixel_size"] == pytest.approx(15000 / 256) and "TOY mock suite" in t["data"]
        assert t["command"].startswith("ember-dist train") and (b.preset.noise == (b.meta["kind"] == "wgan"))
        assert ("1/64" in t["input_resolution"]) == name.endswith("-mr")
        ev = b.meta["evaluation"]["table"]
        assert ev["model"] == name and abs(ev["total mass error (median)"]) < 0.25
        pred = predict_whole(b, dm)
        assert pred.shape == dm.shape and np.isfinite(pred).all() and pred.min() >= 0


def test_eager_steps_equal_compiled_steps(maps, tmp_path):
    """jit=False (eager, for debugging) runs the same WGAN-GP step as the tf.function (it failed on the
    critic's dict of arrays and tensors before)."""
    s, info = _sampler(maps, "wgan")
    runs = []
    for jit in (True, False):
        tr = Trainer(_cfg("wgan", steps=1, jit=jit, score_maps=0, tensorboard=False, diagnostics=False), s,
                     tmp_path / str(jit), info)
        start = _weights(tr.g) + _weights(tr.c)
        tr.run()
        runs.append(_weights(tr.g) + _weights(tr.c))
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(start, runs[1]))
    differ = max(float(np.max(np.abs(a - b))) for a, b in zip(*runs))
    assert differ < 1e-4 and moved > 100 * differ, (differ, moved)  # graph vs eager round-off only
