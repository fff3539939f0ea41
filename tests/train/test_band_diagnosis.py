# SPDX-License-Identifier: BSD-3-Clause
"""tools/band_diagnosis.py: the truth's distance from the realisations' mean against their spread."""
import json

import numpy as np
import pytest

from tests.conftest import load_tool

PIX = 15000 / 64


@pytest.fixture(scope="module")
def maps(tmp_path_factory):
    from ember_dist.deposit.api import deposit_snapshot
    from ember_dist.mock import make_mock_suite

    root = tmp_path_factory.mktemp("band_maps")
    suite = make_mock_suite(root / "suite", n=32, seed=0)
    deposit_snapshot(suite["hydro"], root / "maps.zarr", pixel=PIX, slabs=3, axes=("z",), fields=("dm", "gas"),
                     align=16)
    return root / "maps.zarr"


def test_band_diagnosis_of_a_noisy_generator_agrees_with_the_evaluation(maps, tmp_path):
    """Its coverage per k range, pooled over the ranges, is the evaluation's band coverage (k <= 3/4 k_Nyq) of
    the same maps, realisations and seeds; the noise gives the realisations a spread; the figure is written."""
    from ember_dist.model.testing import random_bundle
    from ember_dist.train.evaluate import evaluate

    b = random_bundle(tmp_path / "wgan", "tiny", "gas", noise=True, noise_strength=0.3, seed=4, pixel_size=PIX)
    t = load_tool("band_diagnosis")
    assert t.main([str(b.path), "--maps", str(maps), "--realisations", "4", "--out", str(tmp_path / "d")]) == 0
    (d,) = json.loads((tmp_path / "d" / "diagnosis.json").read_text())
    assert (tmp_path / "d" / "spread.png").stat().st_size > 10_000
    assert d["n_maps"] == 3 and d["realisations"] == 4
    tracking = d["tracking_in_k_nyquist"]  # three maps: the map-to-map view is there, its shares finite
    assert list(tracking) == list(d["ranges_in_k_nyquist"])
    assert all(np.isfinite(r["model_r2"]) and 0 <= r["dm_r2"] <= 1 for r in tracking.values())
    ranges = d["ranges_in_k_nyquist"]
    assert list(ranges) == ["0.0-0.25", "0.25-0.5", "0.5-0.75"]
    pooled = sum(r["coverage"] * r["bins"] for r in ranges.values()) / sum(r["bins"] for r in ranges.values())
    report = evaluate(str(b.path), str(maps), axes=("z",), realisations=4, seed=0)
    assert pooled == pytest.approx(report["power_band_coverage"], rel=1e-12)
    assert all(r["realisation_spread"] > 0.005 and np.isfinite(r["median_abs_z"]) for r in ranges.values())


def test_band_diagnosis_reads_another_input(maps, tmp_path):
    """--input-maps: the model reads that store's dark matter (an MR model's twins), the truth stays the maps';
    another box's dark matter changes every prediction, so the per-map errors differ from the run on the maps' own."""
    from ember_dist.deposit.api import deposit_snapshot
    from ember_dist.mock import make_mock_suite
    from ember_dist.model.testing import random_bundle

    other = make_mock_suite(tmp_path / "suite", n=32, seed=7)
    deposit_snapshot(other["hydro"], tmp_path / "other.zarr", pixel=PIX, slabs=3, axes=("z",), fields=("dm",), align=16)
    b = random_bundle(tmp_path / "wgan", "tiny", "gas", noise=True, noise_strength=0.3, seed=4, pixel_size=PIX)
    t = load_tool("band_diagnosis")
    own, _, _ = t.diagnose(str(b.path), str(maps), ("z",), 4)
    alien, _, _ = t.diagnose(str(b.path), str(maps), ("z",), 4, input_maps=str(tmp_path / "other.zarr"))
    assert "input" not in own["maps"] and alien["maps"].endswith(f"input {tmp_path / 'other.zarr'}")
    e = [[r["per_map_error"] for r in d["ranges_in_k_nyquist"].values()] for d in (own, alien)]
    assert not np.allclose(e[0], e[1], rtol=1e-3)
    with pytest.raises(SystemExit):
        t.main([str(b.path), "--maps", str(maps), "--input-maps", str(tmp_path / "nowhere.zarr"), "--out", str(tmp_path)])


def test_band_diagnosis_refuses_what_has_no_spread(maps, tmp_path):
    from ember_dist.model.testing import random_bundle

    unet = random_bundle(tmp_path / "unet", "tiny", "gas", noise=False, seed=5, pixel_size=PIX)
    t = load_tool("band_diagnosis")
    with pytest.raises(SystemExit, match="a U-Net"):
        t.main([str(unet.path), "--maps", str(maps), "--out", str(tmp_path / "u")])
    with pytest.raises(SystemExit):
        t.main([str(unet.path), "--maps", str(tmp_path / "nowhere.zarr"), "--out", str(tmp_path / "u")])


def test_tile_power_spread_is_zero_without_noise_and_counts_tiles(maps, tmp_path):
    """Per-tile view of the spread term: zero noise strengths give two identical realisations (spread 0, the energy
    score the mean error); a noisy generator's realisations differ; bins are the loss's up to tile / 2."""
    from ember_dist.model.testing import random_bundle
    from ember_dist.train.calibration import tile_power_spread

    quiet = random_bundle(tmp_path / "q", "tiny", "gas", noise=True, noise_strength=0.0, seed=4, pixel_size=PIX)
    d = tile_power_spread(str(quiet.path), str(maps), tile=32, batch=4, batches=2)
    assert d["bin_edges_k_fundamental"] == [1, 2, 3, 4, 6, 8, 11, 16] and d["tiles"] == 8
    for view in ("linear", "log"):
        assert len(d[view]["error"]) == 7 and d[view]["spread"] == [0.0] * 7
        assert d[view]["energy_score"] == pytest.approx(np.mean(d[view]["error"]), rel=1e-12)
    noisy = random_bundle(tmp_path / "n", "tiny", "gas", noise=True, noise_strength=0.3, seed=4, pixel_size=PIX)
    d = tile_power_spread(str(noisy.path), str(maps), tile=32, batch=4, batches=2)
    assert min(d["linear"]["spread"]) > 0 and d["linear"]["energy_score"] < np.mean(d["linear"]["error"])
    unet = random_bundle(tmp_path / "u", "tiny", "gas", noise=False, seed=5, pixel_size=PIX)
    with pytest.raises(ValueError, match="a U-Net"):
        tile_power_spread(str(unet.path), str(maps))


def test_noise_scale_tool_reproduces_the_evaluation_at_one_and_silences_the_noise_at_zero(maps, tmp_path):
    """tools/noise_scale.py: x1 is the evaluation's report (same maps, realisations, seeds); x0 leaves the
    realisations identical (no spread in any k range)."""
    from ember_dist.model.testing import random_bundle
    from ember_dist.train.evaluate import evaluate

    b = random_bundle(tmp_path / "wgan", "tiny", "gas", noise=True, noise_strength=0.3, seed=4, pixel_size=PIX)
    t = load_tool("noise_scale")
    assert t.main([str(b.path), "--maps", str(maps), "--axes", "z", "--scales", "1", "0", "--levels", "0", "1",
                   "--realisations", "3", "--out", str(tmp_path / "n")]) == 0
    res = json.loads((tmp_path / "n" / "noise-scale.json").read_text())["scales"]
    ref = evaluate(str(b.path), str(maps), axes=("z",), realisations=3, seed=0)
    for key in ("total_mass_frac_error_median", "power_max_abs_frac_error_low", "power_band_coverage",
                "bispectrum_mean_abs_frac_error", "pdf_max_abs_frac_error_1_99"):
        assert res["1.0"][key] == pytest.approx(ref[key], rel=1e-12), key
    assert all(r["realisation_spread"] > 0 for r in res["1.0"]["spread"].values())
    # levels 0-1 silenced: level 2's noise still makes the realisations differ
    assert all(r["realisation_spread"] > 0 for r in res["0.0"]["spread"].values())
    assert t.main([str(b.path), "--maps", str(maps), "--axes", "z", "--scales", "0", "--realisations", "3",
                   "--out", str(tmp_path / "all")]) == 0
    silent = json.loads((tmp_path / "all" / "noise-scale.json").read_text())["scales"]["0.0"]["spread"]
    assert all(r["realisation_spread"] == 0 for r in silent.values())


def test_level_spread_is_zero_without_that_noise_and_quadratic_in_small_strengths(maps, tmp_path):
    """The spread one level's noise makes alone: 0 with its strengths at 0 (every other level is off), x4 when
    small strengths double (the network is linear in a small perturbation), and the tool writes the same numbers."""
    from ember_dist.model.testing import random_bundle
    from ember_dist.train.calibration import level_spread

    b = random_bundle(tmp_path / "wgan", "tiny", "gas", noise=True, noise_strength=0.003, seed=4, pixel_size=PIX)
    off = level_spread(b.path, maps, [0], 0.0, axes=("z",), n_maps=2)
    assert off["n_maps"] == 2 and off["noise_levels"] == {"noise_l0": 0.0, "noise_l1": 0.0, "noise_l2": 0.0}
    assert all(v == 0.0 for v in off["ranges"].values()), off
    one, two = (level_spread(b.path, maps, [0], s, axes=("z",), n_maps=2)["ranges"] for s in (1.0, 2.0))
    assert list(one) == ["0-0.25", "0.25-0.5", "0.5-0.75", "0.75-1"] and all(v > 0 for v in one.values())
    assert all(two[r] / one[r] == pytest.approx(4.0, rel=0.05) for r in one), (one, two)
    t = load_tool("level_spread")
    assert t.main([str(b.path), "--maps", str(maps), "--axes", "z", "--levels", "0", "--scales", "1", "2",
                   "--n-maps", "2", "--out", str(tmp_path / "ls")]) == 0
    rows = json.loads((tmp_path / "ls" / "level-spread.json").read_text())["rows"]
    assert [r["scale"] for r in rows] == [1.0, 2.0] and rows[0]["ranges"] == pytest.approx(one, rel=1e-9)
    unet = random_bundle(tmp_path / "unet", "tiny", "gas", noise=False, seed=5, pixel_size=PIX)
    with pytest.raises(SystemExit, match="a U-Net"):
        t.main([str(unet.path), "--maps", str(maps), "--axes", "z", "--levels", "0", "--out", str(tmp_path / "u")])


def test_map_tracking_against_scipy_and_the_limits():
    """``map_tracking`` per bin: the input's share is scipy's linregress r^2 of ln P_true on ln P_dm; a model whose
    mean is the truth times a constant follows all of it (r^2 1, residual 0, slope 1); one whose ln P is 0.6 x the
    truth's has slope 0.6 (scipy's); a model blind to the maps (the same power for every map) follows none (r^2 0)."""
    from scipy.stats import linregress

    from ember_dist.train.calibration import map_tracking

    rng = np.random.default_rng(3)
    ld = 0.4 * rng.standard_normal((50, 1))
    lt = 0.7 * ld + 0.2 * rng.standard_normal((50, 1))
    pt, pd = np.exp(lt), np.exp(ld)
    real = 1.3 * pt[:, None] * np.exp(0.05 * rng.standard_normal((50, 6, 1)))
    d = map_tracking([1.0], pt, real, pd, 1.0, ranges=((0.0, 1.0),))["0.0-1.0"]
    assert d["dm_r2"] == pytest.approx(linregress(ld[:, 0], lt[:, 0]).rvalue ** 2, rel=1e-12)
    assert d["truth_log_scatter"] == pytest.approx(lt.std(), rel=1e-12)
    assert d["realisation_log_spread"] == pytest.approx(0.05, rel=0.25)
    # left: only the noise of the mean of 6 realisations, 0.05 / sqrt(6) in ln P
    assert d["model_r2"] > 0.99 and d["residual_log_scatter"] == pytest.approx(0.05 / np.sqrt(6), rel=0.3)
    assert d["model_slope"] == pytest.approx(1.0, abs=0.02)
    # a model that compresses the maps' differences: ln <P_pred> = 0.6 ln P_true + c, scipy's slope
    squeezed = np.exp(0.6 * lt)[:, None] * np.ones((1, 6, 1))
    d = map_tracking([1.0], pt, squeezed, pd, 1.0, ranges=((0.0, 1.0),))["0.0-1.0"]
    assert d["model_slope"] == pytest.approx(linregress(lt[:, 0], 0.6 * lt[:, 0]).slope, rel=1e-9)
    assert d["model_slope"] == pytest.approx(0.6, rel=1e-9)
    blind = np.ones((50, 6, 1))
    d = map_tracking([1.0], pt, blind, pd, 1.0, ranges=((0.0, 1.0),))["0.0-1.0"]
    assert d["model_r2"] == pytest.approx(0.0, abs=1e-12)
    assert d["residual_log_scatter"] == pytest.approx(lt.std(), rel=1e-12)
    with pytest.raises(ValueError, match="maps >= 3"):
        map_tracking([1.0], pt[:2], real[:2], pd[:2], 1.0)


def test_noise_push_per_term_is_the_derivative_in_the_strengths_scale(tmp_path):
    """tools/noise_push.py: per term and level, dL/d ln s_l equals a central finite difference of that term's loss
    with level l's noise strengths scaled by 1 +- h (same batch, same noise maps); every term's is finite; the JSON is
    written; a U-Net checkpoint is refused."""
    from ember_dist.deposit.api import deposit_snapshot
    from ember_dist.mock import make_mock_suite
    from ember_dist.train import noise
    from ember_dist.train.loop import TrainConfig, Trainer
    from ember_dist.train.losses import LossWeights, perceptual_loss
    from ember_dist.train.sampler import TileSampler

    suite = make_mock_suite(tmp_path / "suite", n=32, seed=0)
    store = tmp_path / "maps.zarr"
    deposit_snapshot(suite["hydro"], store, pixel=PIX, slabs=2, axes=("x", "y"), fields=("dm", "gas"), align=16)
    cfg = TrainConfig(kind="wgan", field="gas", preset="tiny", steps=2, batch=4, tile=32, n_critic=1, critic_warmup=0,
                      checkpoint_every=2, sample_every=0, score_maps=0, tensorboard=False, diagnostics=False,
                      noise_init=0.2, power_weight=1.0)
    s, info = TileSampler.from_store(store, "gas", tile=32, batch=4, noise_levels=3, seed=cfg.seed)
    tr = Trainer(cfg, s, tmp_path / "w", info)
    tr.run()
    ckpt = tr.latest_checkpoint()
    t = load_tool("noise_push")
    levels, push, weights = t.push_by_term(ckpt, str(store), axes=("x", "y"), batches=1)
    assert levels == [0, 1, 2] and set(push) >= {"dssim", "msle", "msle_energy", "power", "spread", "adversarial"}
    assert set(weights) == set(push) and weights["power"] == 1.0 and weights["adversarial"] == cfg.loss_weights.gamma
    x, y = s.batch(10**9)
    layers = noise.layers(tr.g)
    w0 = [np.array(l.strength) for l in layers]

    def msle_loss(level, f):
        for l, v in zip(layers, w0):
            l.strength.assign(v * (f if noise._level(l) == level else 1.0))
        out = float(perceptual_loss(y, tr.g(x, training=True), LossWeights(0.0, cfg.loss_weights.beta), tr.levels)[0])
        for l, v in zip(layers, w0):
            l.strength.assign(v)
        return out

    h = 1e-2
    for i, lev in enumerate(levels):
        fd = (msle_loss(lev, 1 + h) - msle_loss(lev, 1 - h)) / (2 * h)
        assert push["msle"][i] == pytest.approx(fd, rel=0.05, abs=1e-9), (lev, push["msle"][i], fd)
    assert all(np.isfinite(v).all() for v in push.values())
    assert t.main([str(ckpt), "--maps", str(store), "--batches", "1", "--out", str(tmp_path / "np")]) == 0
    written = json.loads((tmp_path / "np" / "noise-push.json").read_text())
    assert written["levels"] == [0, 1, 2] and written["run_weights"]["power"] == 1.0
    assert written["run_weights"]["spread"] == 0.0  # not in the run: pushed at weight 1, recorded as 0
    unet = Trainer(TrainConfig(kind="unet", field="gas", preset="tiny", steps=1, batch=4, tile=32, checkpoint_every=1,
                               sample_every=0, score_maps=0, tensorboard=False),
                   TileSampler.from_store(store, "gas", tile=32, batch=4)[0], tmp_path / "u", info)
    unet.run()
    with pytest.raises(SystemExit, match="unet checkpoint: no noise"):
        t.push_by_term(unet.latest_checkpoint(), str(store))
