# SPDX-License-Identifier: BSD-3-Clause
"""Is a stochastic generator's spread calibrated?  Per map and k bin, how far the truth's P(k) lies from the
mean of the realisations' P(k), against how much those realisations scatter.

The evaluation's band target (the realisations' 16-84 % band holds the truth in >= 2/3 of the (map, k) pairs)
is met by an emulator whose realisations vary as much as the truth varies around their mean; it fails for two
reasons this module tells apart: a per-map error of the mean (the model paints a map's small-scale power wrong,
differently for each map) larger than the realisations' spread, or a spread too small for the truth's own
randomness.  For a calibrated emulator ``z = (P_true - <P_pred>) / std(P_pred)`` behaves like one more
realisation's: median |z| ~ 0.67 (Gaussian), coverage ~ 0.68; and the scatter of ``P_true / <P_pred>`` between
maps is about the realisations' relative spread.
"""
from __future__ import annotations

import numpy as np

from ember_dist.train.evaluate import band_coverage

__all__ = ["spread_diagnosis", "spread_curves", "map_tracking", "tracking_curves", "tile_power_spread", "level_spread", "K_RANGES"]

#: k ranges, in units of the Nyquist wavenumber, that the diagnosis summarises
K_RANGES = ((0.0, 0.25), (0.25, 0.5), (0.5, 0.75))


def _spread_terms(p_true, p_real):
    """Per (map, bin): the realisations' mean and std, the mean's fractional error, their relative spread."""
    mean, std = p_real.mean(axis=1), p_real.std(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return mean, std, mean / p_true - 1.0, std / mean


def spread_diagnosis(k, p_true, p_real, k_nyquist, ranges=K_RANGES):
    """Per k range: band coverage, the truth's distance from the realisations' mean and their spread.

    Parameters
    ----------
    k : array_like, shape (bins,)
    p_true : array_like, shape (maps, bins)
    p_real : array_like, shape (maps, realisations, bins)
        At least 2 realisations.
    k_nyquist : float
        ``ranges`` are in units of it, ``(lo, hi]``.

    Returns
    -------
    dict
        ``{"lo-hi": {...}}`` with, over the (map, bin) pairs of the range (medians over them):
        ``coverage`` (:func:`~ember_dist.train.evaluate.band_coverage`), ``median_abs_z``,
        ``per_map_error`` (|<P_pred> / P_true - 1|), ``error_of_median`` (|median over maps of
        <P_pred> / P_true - 1|, the error the evaluation's P(k) columns report), ``realisation_spread``
        (std / mean of the realisations' P), ``truth_scatter`` (std over maps of P_true / <P_pred>,
        median over bins) and ``bins``.

    >>> rng = np.random.default_rng(0)
    >>> real = 1.0 + 0.05 * rng.standard_normal((200, 8, 10))
    >>> true = 1.0 + 0.05 * rng.standard_normal((200, 10))
    >>> d = spread_diagnosis(np.arange(1, 11), true, real, 10.0, ranges=((0.0, 1.0),))["0.0-1.0"]
    >>> round(d["coverage"], 1), round(d["realisation_spread"], 2), round(d["truth_scatter"], 2)
    (0.7, 0.05, 0.05)
    """
    k = np.asarray(k, np.float64)
    p_true = np.asarray(p_true, np.float64)
    p_real = np.asarray(p_real, np.float64)
    if p_real.ndim != 3 or p_real.shape[1] < 2:
        raise ValueError(f"p_real must be (maps, realisations >= 2, bins). Received: shape {p_real.shape}.")
    mean, std, err, spread = _spread_terms(p_true, p_real)
    with np.errstate(divide="ignore", invalid="ignore"):
        z, ratio = (p_true - mean) / std, p_true / mean
    out = {}
    for lo, hi in ranges:
        s = (k > lo * k_nyquist) & (k <= hi * k_nyquist) & np.isfinite(p_true).all(axis=0)
        if not s.any():
            continue
        out[f"{lo}-{hi}"] = {
            "coverage": band_coverage(p_true[:, s], p_real[:, :, s]),
            "median_abs_z": float(np.nanmedian(np.abs(z[:, s]))),
            "per_map_error": float(np.nanmedian(np.abs(err[:, s]))),
            "error_of_median": float(np.nanmedian(np.abs(np.nanmedian(err[:, s], axis=0)))),
            "realisation_spread": float(np.nanmedian(spread[:, s])),
            "truth_scatter": float(np.nanmedian(np.nanstd(ratio[:, s], axis=0))),
            "bins": int(s.sum()),
        }
    return out


def spread_curves(p_true, p_real):
    """Per k bin, medians over maps: ``per_map_error`` |<P_pred> / P_true - 1|, ``realisation_spread``
    std / mean of the realisations' P, and ``error_of_median`` |median over maps of <P_pred> / P_true - 1|
    (arrays of shape (bins,)); the figure of ``tools/band_diagnosis.py``.

    >>> c = spread_curves([[1.0, 2.0], [1.0, 2.0]], [[[1.1, 2.0], [1.3, 2.0]], [[0.9, 2.0], [1.1, 2.0]]])
    >>> c["per_map_error"].round(3).tolist(), c["error_of_median"].round(3).tolist()
    ([0.1, 0.0], [0.1, 0.0])
    """
    _, _, err, spread = _spread_terms(np.asarray(p_true, np.float64), np.asarray(p_real, np.float64))
    return {"per_map_error": np.nanmedian(np.abs(err), axis=0), "realisation_spread": np.nanmedian(spread, axis=0),
            "error_of_median": np.abs(np.nanmedian(err, axis=0))}


def _r2(resid, y):
    """``1 - var(resid) / var(y)`` over axis 0 (maps), per bin."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 - resid.var(axis=0) / y.var(axis=0)


def tracking_curves(p_true, p_real, p_dm):
    """Per k bin (arrays of shape (bins,)): :func:`map_tracking`'s quantities before the medians over a k range,
    and ``finite`` (the bins every map's truth and realisations' mean fill); the figure of
    ``tools/band_diagnosis.py``."""
    p_true, p_dm, p_real = (np.asarray(v, np.float64) for v in (p_true, p_dm, p_real))
    if p_real.ndim != 3 or p_true.shape != p_dm.shape or p_true.shape[0] < 3:
        raise ValueError(f"p_true, p_dm must be (maps >= 3, bins) and p_real (maps, realisations, bins). Received: "
                         f"{p_true.shape}, {p_dm.shape}, {p_real.shape}.")
    with np.errstate(divide="ignore", invalid="ignore"):
        lt, lm, ld = np.log(p_true), np.log(p_real.mean(axis=1)), np.log(p_dm)
        spread = np.log(p_real).std(axis=1, ddof=1) if p_real.shape[1] > 1 else np.full_like(lt, np.nan)
        slope = ((lt - lt.mean(axis=0)) * (lm - lm.mean(axis=0))).mean(axis=0) / lt.var(axis=0)
    resid = lt - lm
    corr = np.array([np.corrcoef(lt[:, j], ld[:, j])[0, 1] if np.isfinite(lt[:, j]).all() and np.isfinite(ld[:, j]).all()
                     else np.nan for j in range(lt.shape[1])])
    return {"truth_log_scatter": lt.std(axis=0), "model_r2": _r2(resid, lt), "model_slope": slope, "dm_r2": corr ** 2,
            "residual_log_scatter": resid.std(axis=0), "realisation_log_spread": np.nanmedian(spread, axis=0),
            "finite": np.isfinite(lt).all(axis=0) & np.isfinite(lm).all(axis=0)}


def map_tracking(k, p_true, p_real, p_dm, k_nyquist, ranges=K_RANGES):
    """Does the model follow the truth's map-to-map changes of P(k), and could the input have told it?

    The band misses where each map's small-scale power is off by more than the realisations spread
    (:func:`spread_diagnosis`).  This asks why, per k bin across maps, in ln P (a map with twice the power is
    +0.69 whatever the bin's mean): how much the truth's power changes from map to map (``truth_log_scatter``, the
    std over maps of ln P_true); which share of that variance the model's per-map mean follows (``model_r2`` =
    1 - var(ln P_true - ln <P_pred>) / var(ln P_true): a constant offset costs nothing, 1 is perfect, <= 0 no
    better than one number for every map); the slope of ln <P_pred> on ln P_true across maps (``model_slope``: 1
    follows, < 1 compresses the maps' differences toward their mean, so the brightest maps get too little); which
    share the input map's own dark-matter power at the same k explains in a straight line (``dm_r2``, the squared correlation of ln P_true with ln P_dm: what the simplest
    per-map predictor from the input reaches); the scatter the model leaves (``residual_log_scatter``, std of
    ln P_true - ln <P_pred>) against the realisations' own spread in ln P (``realisation_log_spread``, their std,
    median over maps).  A calibrated emulator has ``residual_log_scatter ~ realisation_log_spread``; a model
    with ``model_r2`` well below ``dm_r2`` leaves on the table what the input holds.

    Parameters
    ----------
    k : array_like, shape (bins,)
    p_true, p_dm : array_like, shape (maps, bins)
        The truth's and the input dark matter's overdensity power per map.
    p_real : array_like, shape (maps, realisations, bins)
    k_nyquist : float
        ``ranges`` are in units of it, ``(lo, hi]``.

    Returns
    -------
    dict
        ``{"lo-hi": {...}}``: the quantities above, each the median over the range's bins, and ``bins``.

    >>> rng = np.random.default_rng(1)
    >>> ld = 0.3 * rng.standard_normal((2000, 4))               # the input's ln P_dm about its mean
    >>> lt = ld + 0.3 * rng.standard_normal((2000, 4))          # the truth: half its variance from the input
    >>> real = np.exp(ld[:, None] + 0.3 * rng.standard_normal((2000, 8, 4)))  # follows the input, spread 0.3
    >>> d = map_tracking(np.arange(1, 5), np.exp(lt), real, np.exp(ld), 4.0, ranges=((0.0, 1.0),))["0.0-1.0"]
    >>> [round(d[n], 1) for n in ("truth_log_scatter", "model_r2", "model_slope", "dm_r2", "residual_log_scatter",
    ...                            "realisation_log_spread")]
    [0.4, 0.5, 0.5, 0.5, 0.3, 0.3]
    """
    k = np.asarray(k, np.float64)
    curves = tracking_curves(p_true, p_real, p_dm)
    out = {}
    for lo, hi in ranges:
        s = (k > lo * k_nyquist) & (k <= hi * k_nyquist) & curves["finite"]
        if s.any():
            out[f"{lo}-{hi}"] = {n: float(np.nanmedian(c[s])) for n, c in curves.items() if n != "finite"} | {
                "bins": int(s.sum())}
    return out


def tile_power_spread(model, maps, axes=("z",), tile=64, batch=8, batches=20, seed=123):
    """The same question on training tiles, as the spread term of the loss sees it
    (:func:`~ember_dist.train.stat_terms.power_energy_score`): per radial bin of a tile's P(k), the mean |P_a - P_t|
    (error) and |P_a - P_b| (spread) of two realisations of ``model`` (the second on the first's noise maps
    flipped, as in training) over ``batches`` random batches of ``maps`` tiles, in units of the batch's mean true
    power in the bin (``linear``) and in ln P (``log``, where an empty tile weighs as much as a halo).

    Returns ``{"bin_edges_k_fundamental", "tiles", "linear": {"error", "spread", "energy_score"}, "log": {...}}``;
    a calibrated emulator has error ~ spread in every bin (for two draws of a Gaussian, E|a - t| = E|a - b|).
    """
    from ember_dist.model.bundle import load_model
    from ember_dist.train import losses as L
    from ember_dist.train.sampler import TileSampler
    from ember_dist.train.step_terms import flip_noise

    b = load_model(model)
    if not b.preset.noise:
        raise ValueError(f"{b.name} has no noise inputs (a U-Net): its realisations cannot differ.")
    sampler, _ = TileSampler.from_store(maps, b.field, axes=tuple(axes), tile=tile, batch=batch,
                                        noise_levels=b.preset.levels - 1, seed=seed,
                                        input_norm=b.input_norm, output_norm=b.output_norm)
    net, onehot, window = b.build(), *L.power_bins(tile)
    final = lambda x: np.asarray(net(x))  # noqa: E731  (the inference model: the final output only)
    rows = {"linear": ([], []), "log": ([], [])}
    for i in range(int(batches)):
        x, y = sampler.batch(i)
        t, (pa, pb) = L.tile_powers(y, (final(x), final(flip_noise(x))), b.output_norm.k, b.output_norm.q,
                                    onehot, window)
        t, pa, pb = (np.asarray(v, np.float64) for v in (t, pa, pb))
        for name, f in (("linear", lambda v: v), ("log", lambda v: np.log(v + 1e-30))):
            rows[name][0].append(np.abs(f(pa) - f(t)))
            rows[name][1].append(np.abs(f(pa) - f(pb)))
    out = {"bin_edges_k_fundamental": [e for e in L.POWER_BIN_EDGES if e <= tile // 2], "tiles": int(batch * batches)}
    for name, (err, spr) in rows.items():
        err, spr = np.concatenate(err), np.concatenate(spr)
        out[name] = {"error": err.mean(axis=0).tolist(), "spread": spr.mean(axis=0).tolist(),
                     "energy_score": float(err.mean() - 0.5 * spr.mean())}
    return out


def level_spread(model, maps, levels, scale=1.0, axes=("x",), n_maps=3, ranges=K_RANGES + ((0.75, 1.0),)):
    """How much the noise of decoder ``levels`` alone moves the output of WGAN ``model``: with every other level's
    strengths at 0 and those of ``levels`` x ``scale``, two realisations (seeds 0 and 1) of each of the first
    ``n_maps`` maps of ``maps``; per k range (in k_Nyquist), the mean over maps and bins of
    ``P(a - b) / (2 P_true)`` (mass maps' power, not overdensities': a difference has mean ~0), the variance one
    realisation gets from those levels, in units of the truth's power.  A network that learned to filter a level's
    noise out shows ~0 however strong its strengths.

    Returns ``{"levels", "scale", "n_maps", "noise_levels": {...} (RMS strengths as used), "ranges": {"a-b": value}}``.
    """
    from ember_dist.model.bundle import load_model
    from ember_dist.stats.power import power_spectrum
    from ember_dist.train import noise
    from ember_dist.train.evaluate import predict_held_out

    b = load_model(model)
    if not b.preset.noise:
        raise ValueError(f"{b.name} has no noise inputs (a U-Net): its realisations cannot differ.")
    net = b.build()
    others = [lev for lev in range(b.preset.levels - 1) if lev not in set(levels)]
    with noise.scaled(net, 0.0, others), noise.scaled(net, scale, levels):
        used = noise.noise_levels(net)
        _, truth, _, preds, attrs = predict_held_out(b.path, maps, axes=tuple(axes), realisations=2, seed=0, net=net,
                                                     n_maps=int(n_maps))
    n = len(truth)
    diff = preds[:, 0] - preds[:, 1]
    pixel = float(attrs.get("pixel_size", 1.0))
    box = pixel * truth.shape[-1]
    pt = power_spectrum(np.asarray(truth, np.float64), box_size=box, overdensity=False)
    pd = power_spectrum(diff.astype(np.float64), box_size=box, overdensity=False)
    k, k_nyq = np.asarray(pt["k"]), np.pi / pixel
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.asarray(pd["power"]) / (2.0 * np.asarray(pt["power"]))
    out = {f"{lo:g}-{hi:g}": float(np.nanmean(ratio[:, (k > lo * k_nyq) & (k <= hi * k_nyq)])) for lo, hi in ranges}
    return {"levels": [int(v) for v in levels], "scale": float(scale), "n_maps": n, "noise_levels": used,
            "ranges": out}
