# SPDX-License-Identifier: BSD-3-Clause
"""``ember-dist demo``: the suite models on held-out simulation maps; toy lognormal maps for tests.

:func:`run_demo` enriches the dark matter of the packaged held-out suite box
(:func:`~ember_dist.demo_maps.suite_demo_maps`, re-exported here) with the installed suite models
(:data:`DEFAULT_MODELS`) on a Dask cluster, tile by tile, and compares with the truth.

`lognormal_map` (:func:`ember_dist.mock.maps.lognormal_map`) and :func:`make_demo_maps`
(:mod:`ember_dist.demo_maps`), re-exported here, make seeded lognormal dark-matter maps whose Gaussian parent
has a power-law spectrum ``P(k) ~ k**-2.2`` with a cutoff at a few pixels: a toy stand-in for tests and for
``ember-dist demo --toy``, labelled as such in its attrs.

Examples
--------
>>> ds = make_demo_maps(n=64, nslab=1)
>>> ds["dm"].shape, ds["dm"].attrs["units"]
((1, 1, 64, 64), 'Msun/h')
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ember_dist.demo_maps import DEMO_DATA, make_demo_maps, suite_demo_maps
from ember_dist.io.conventions import utc_now
from ember_dist.model.bundle import DEFAULT_MODELS, FALLBACK_MODELS, TOY_MODELS
from ember_dist.mock.maps import lognormal_map

__all__ = ["lognormal_map", "make_demo_maps", "suite_demo_maps", "choose_models", "held_out_errors", "run_demo",
           "DEFAULT_MODELS", "FALLBACK_MODELS", "DEMO_DATA", "DEMO_K", "JSON_UNITS"]

#: Wavenumbers (h/ckpc) at which the demo prints the P(k) error (nearest bin): 5, 10, 20, 40 h/Mpc.
DEMO_K = (0.005, 0.01, 0.02, 0.04)
#: Tile core of the suite demo, px: each 256^2 map is cut into 4 tiles.
DEMO_TILE = 128
#: How the figure and the printed table name the fields.
FIELD_LABELS = {"dm": "dark matter", "gas": "gas", "hi": "HI"}

def choose_models(fields=("gas", "hi"), models=None, available=None):
    """The demo's bundle per field, and one-line notes on every fallback taken.

    Per field: ``models[field]`` when given; else :data:`DEFAULT_MODELS` (the shipped default) when
    installed; else :data:`FALLBACK_MODELS` (the field's other suite model). A field with neither is left out
    with a note; when no field has a suite bundle, the result is empty (the caller runs the toy demo).

    Returns
    -------
    (dict, list of str)
        ``{field: bundle name or path}`` and the notes.

    Examples
    --------
    >>> chosen, notes = choose_models(("gas", "hi"), available=["suite-gas-unet", "suite-hi-unet"])
    >>> chosen
    {'gas': 'suite-gas-unet', 'hi': 'suite-hi-unet'}
    >>> for note in notes: print(note)
    suite-gas-wgan is not installed; gas uses suite-gas-unet (U-Net: one deterministic prediction)
    suite-hi-wgan is not installed; hi uses suite-hi-unet (U-Net: one deterministic prediction)
    """
    if available is None:
        from ember_dist.model.bundle import available_models

        available = available_models()
    models, chosen, notes = dict(models or {}), {}, []
    unknown = [f for f in fields if f not in DEFAULT_MODELS and f not in models]
    if unknown:
        raise ValueError(f"the demo predicts {', '.join(DEFAULT_MODELS)}; no suite model for field(s) "
                         f"{', '.join(unknown)}.")
    for f in fields:
        if f in models:
            chosen[f] = models[f]
        elif DEFAULT_MODELS[f] in available:
            chosen[f] = DEFAULT_MODELS[f]
        elif FALLBACK_MODELS[f] in available:
            chosen[f] = FALLBACK_MODELS[f]
            unet = "-unet" in FALLBACK_MODELS[f]
            notes.append(f"{DEFAULT_MODELS[f]} is not installed; {f} uses {FALLBACK_MODELS[f]}"
                         + (" (U-Net: one deterministic prediction)" if unet else ""))
        else:
            notes.append(f"no suite bundle for {f} ({DEFAULT_MODELS[f]}, {FALLBACK_MODELS[f]}) is installed; "
                         f"{f} is left out")
    return chosen, notes


def held_out_errors(truth, preds, pixel_size, k=DEMO_K, bin_width=1.0):
    """Total-mass and power-spectrum errors of predictions against the true maps.

    The statistics of ``ember-dist evaluate`` (:mod:`ember_dist.train.evaluate`): total-mass
    fractional error ``sum(pred) / sum(true) - 1`` per map and realisation; P(k) fractional error
    of the overdensity, ``P_pred(k) / P_true(k) - 1`` with ``P_pred`` averaged over realisations,
    median over maps.

    Parameters
    ----------
    truth : array_like, (maps, y, x), Msun/h per pixel
    preds : array_like, (maps, realisations, y, x), Msun/h per pixel
    pixel_size : float, ckpc/h
    k : sequence of float, h/ckpc
        Wavenumbers to report (nearest bin).

    Returns
    -------
    dict
        ``mass_error`` (maps x realisations), ``mass_error_median``, ``k`` (bin centres, h/ckpc),
        ``power_frac_error`` (per bin), ``power_frac_error_at`` (``[[k_bin, error], ...]`` for
        ``k``), ``power_mean_abs_error_half_nyquist`` (mean |error| over the bins with
        k <= k_Nyquist / 2, k_Nyquist = pi / pixel_size).
    """
    import warnings

    from ember_dist.stats.power import power_spectrum

    truth = np.asarray(truth, np.float64)
    preds = np.asarray(preds, np.float64)
    if preds.ndim != 4 or truth.ndim != 3 or preds.shape[0] != truth.shape[0] or preds.shape[2:] != truth.shape[1:]:
        raise ValueError(f"truth (maps, y, x) and preds (maps, realisations, y, x) do not match: {truth.shape} "
                         f"and {preds.shape}.")
    nmaps, nreal = preds.shape[:2]
    mass = preds.sum(axis=(2, 3)) / truth.sum(axis=(1, 2))[:, None] - 1.0
    box = float(pixel_size) * truth.shape[-1]
    pt = power_spectrum(truth, box_size=box, bin_width=bin_width)
    pp = power_spectrum(preds.reshape((-1,) + preds.shape[2:]), box_size=box, bin_width=bin_width)
    kk = np.asarray(pt["k"])
    p_true = np.asarray(pt["power"])
    p_pred = np.asarray(pp["power"]).reshape(nmaps, nreal, -1).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        frac = np.nanmedian(p_pred / p_true - 1.0, axis=0)
        low = kk <= 0.5 * np.pi / float(pixel_size)
        mean_abs = float(np.nanmean(np.abs(frac[low])))
    at = [[float(kk[i]), float(frac[i])] for i in (int(np.argmin(np.abs(kk - k0))) for k0 in k)]
    return {"mass_error": mass.tolist(), "mass_error_median": float(np.median(mass)), "k": kk.tolist(),
            "power_frac_error": [float(v) for v in frac], "power_frac_error_at": at,
            "power_mean_abs_error_half_nyquist": mean_abs}


def _signed(v):
    return "nan" if not np.isfinite(v) else f"{v:+.1%}"


def _table(errors, names):
    """The printed lines: a header and one row per field, columns aligned."""
    first = next(iter(errors.values()))
    ks = ", ".join(f"{k * 1000:.3g}" for k, _ in first["power_frac_error_at"])  # h/ckpc -> h/Mpc
    rows = [("field", "model", "total mass error, median (range)", f"P(k) error at k = {ks} h/Mpc",
             "mean |P(k) error|, k <= k_Nyq/2")]
    for f, e in errors.items():
        m = np.asarray(e["mass_error"])
        rows.append((FIELD_LABELS.get(f, f), names[f],
                     f"{_signed(e['mass_error_median'])} ({_signed(m.min())} .. {_signed(m.max())})",
                     " ".join(_signed(v) for _, v in e["power_frac_error_at"]),
                     f"{e['power_mean_abs_error_half_nyquist']:.1%}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in rows]


def _figure(path, dm, truths, preds, names, pixel_size, title):
    """One row per field: dark matter | truth | prediction(s), truth and predictions on one log scale."""
    from ember_dist.stats.plots import _plt

    plt = _plt()
    ncol = 2 + max(p.shape[0] for p in preds.values())
    fig, axes = plt.subplots(len(truths), ncol, figsize=(3.1 * ncol + 1.4, 3.1 * len(truths) + 0.5), squeeze=False,
                             layout="constrained")
    side = dm.shape[-1] * float(pixel_size) / 1000.0
    ext = (0, side, 0, side)

    def _log(m):
        return np.log10(np.maximum(np.asarray(m, np.float64), 1e-30))

    def _range(m):
        a = _log(m)
        return np.percentile(a[a > -30], [1, 99.9])

    lo_dm, hi_dm = _range(dm)
    for row, f in enumerate(truths):
        ax = axes[row]
        im = ax[0].imshow(_log(dm), origin="lower", extent=ext, cmap="viridis", vmin=lo_dm, vmax=hi_dm)
        fig.colorbar(im, ax=ax[0], shrink=0.85, label=r"log$_{10}$ dark matter [M$_\odot$/h per pixel]")
        ax[0].set_title("dark matter (input)", fontsize=10)
        lo, hi = _range(truths[f])
        lab = FIELD_LABELS.get(f, f)
        panels = [(f"{lab} truth (Gadget-2)", truths[f])]
        if len(preds[f]) == 1:
            panels.append((f"{lab}: {names[f]}", preds[f][0]))
        else:
            panels += [(f"{lab}: {names[f]}, realisation {i}", p) for i, p in enumerate(preds[f])]
        for j, (t, m) in enumerate(panels, start=1):
            im = ax[j].imshow(_log(m), origin="lower", extent=ext, cmap="magma", vmin=lo, vmax=hi)
            ax[j].set_title(t, fontsize=9)
        fig.colorbar(im, ax=list(ax[1:len(panels) + 1]), shrink=0.85,
                     label=rf"log$_{{10}}$ {lab} [M$_\odot$/h per pixel]")
        for j in range(len(panels) + 1, ncol):
            ax[j].set_visible(False)
        for a in ax:
            if row == len(truths) - 1:
                a.set_xlabel("x [Mpc/h]")
            a.xaxis.set_major_locator(plt.MaxNLocator(4))
            a.yaxis.set_major_locator(plt.MaxNLocator(4))
        ax[0].set_ylabel("y [Mpc/h]")
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _outputs(out_dir, overwrite):
    from ember_dist.io.store import check_output

    out_dir = Path(out_dir)
    maps_path, enriched = out_dir / "dm_maps.zarr", out_dir / "enriched.zarr"
    for p in (maps_path, enriched):
        if p.exists() and not overwrite:
            check_output(p, None)  # raises the standard "already exists" error
    return out_dir, maps_path, enriched


def _cluster(client, workers):
    from ember_dist.cluster import connect

    if client is not None:
        return client, False
    return connect("local", **({"n_workers": workers} if workers else {})), True


def _run_toy(out_dir, n, nslab, fields, tile, workers, seed, overwrite, progress, client):
    import time

    from ember_dist.cluster import close
    from ember_dist.engine.enrich import enrich_box
    from ember_dist.plots import map_panels

    out_dir, maps_path, enriched = _outputs(out_dir, overwrite)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    maps = make_demo_maps(n=n, nslab=nslab, seed=seed)
    maps.to_zarr(maps_path, mode="w" if overwrite else "w-")
    client, own = _cluster(client, workers)
    try:
        ds = enrich_box(str(maps_path), fields=list(fields), model=[TOY_MODELS[f] for f in fields],
                        out=enriched, samples=1, seed=seed, tile=tile,
                        client=client, overwrite=overwrite, progress=progress)
        panels = {"dark matter (input)": maps["dm"].values[0, 0]}
        for f in fields:
            panels[f"{f} (emulated)"] = ds[f].values[0, 0, 0]
        png = map_panels(panels, out_dir / "demo.png", pixel_size=maps.attrs["pixel_size"],
                         title=f"ember_dist demo: toy lognormal input, bundled toy models, {n}^2 px slab 0")
    finally:
        if own:
            close(client)
    dt = time.perf_counter() - t0
    print(f"ember_dist demo (toy): wrote {maps_path}, {enriched} and {png} in {dt:.1f} s")
    return ds


#: ``units`` of demo.json: the unit of each key in it that has one (``"1"``: a ratio; k as the statistics
#: store it, h/ckpc: multiply by 1000 for the h/Mpc the printed table shows).
JSON_UNITS = {"k": "h/ckpc", "power_frac_error_at": ["h/ckpc", "1"], "power_frac_error": "1",
              "power_mean_abs_error_half_nyquist": "1", "mass_error": "1", "mass_error_median": "1", "tile": "px",
              "enrich_s": "s", "wall_s": "s"}


def run_demo(out_dir="ember_demo", *, toy=False, fields=("gas", "hi"), models=None, slabs=None, samples=2,
             tile=None, workers=None, seed=0, overwrite=False, progress=True, client=None, n=512, nslab=2):
    """Enrich held-out simulation maps with the suite models on a Dask cluster; compare with the truth.

    The packaged maps (:func:`suite_demo_maps`) are written to ``<out_dir>/dm_maps.zarr``
    (``dm`` and the true ``gas``, ``hi``), their dark matter is enriched into
    ``<out_dir>/enriched.zarr`` (``samples`` realisations, tiles of ``tile`` px), and
    ``<out_dir>/demo.png`` shows slab 0: dark matter, each field's truth and predictions.
    The held-out errors (:func:`held_out_errors`) are printed and written to ``<out_dir>/demo.json``,
    whose ``units`` entry names the unit of each of its keys that has one (:data:`JSON_UNITS`; k in h/ckpc).

    Parameters
    ----------
    out_dir : str or Path
    toy : bool
        Run the toy demo instead: lognormal maps (``n`` px, ``nslab`` slabs, 3.66 ckpc/h) and the
        toy bundles; no truth, no errors. Also taken, with a note, when no suite bundle is installed.
    fields : sequence of str
    models : dict, optional
        ``{field: bundle name or path}``; default per field :func:`choose_models`.
    slabs : int, optional
        Use the first ``slabs`` of the 4 slabs (default all).
    samples : int
        Realisations (noise seeds ``seed .. seed + samples - 1``).
    tile : int, px, optional
        Tile core (default 128: each 256^2 map in 4 tiles; toy demo 256).
    workers : int, optional
        Local worker processes of the embedded LocalCluster.
    client : distributed.Client, optional
        A cluster of your own (left open); default an embedded LocalCluster, closed at the end.

    Returns
    -------
    xarray.Dataset
        The enriched store, opened lazily.
    """
    import time

    from ember_dist.cluster import close
    from ember_dist.engine.enrich import enrich_box
    from ember_dist.model.bundle import load_model

    if not toy:
        out_dir, maps_path, enriched = _outputs(out_dir, overwrite)  # refuse before any work
        chosen, notes = choose_models(fields, models)
        for note in notes:
            print(f"ember_dist demo: {note}", flush=True)
        if not chosen:
            print("ember_dist demo: no suite bundle is installed; running the toy demo (lognormal maps, toy "
                  "bundles) instead", flush=True)
    if toy or not chosen:
        return _run_toy(out_dir, n, nslab, fields, tile or 256, workers, seed, overwrite, progress, client)

    from ember_dist.errors import spell_or

    t0 = time.perf_counter()
    tile = int(tile or DEMO_TILE)
    maps = suite_demo_maps(slabs)
    bundles = {f: load_model(m) for f, m in chosen.items()}
    align = max(b.alignment for b in bundles.values())  # checked before anything is written
    if int(samples) < 1:
        raise ValueError(f"samples must be at least 1. Received: {spell_or('samples', samples)}.")
    if tile < align or tile % align:
        raise ValueError(f"the tile core must be a positive multiple of the models' alignment, {align} px, e.g. "
                         f"{spell_or('tile', max(align, tile - tile % align))}. Received: {spell_or('tile', tile)}.")
    out_dir.mkdir(parents=True, exist_ok=True)
    maps.to_zarr(maps_path, mode="w" if overwrite else "w-")
    if samples > 1 and not any(b.preset.noise for b in bundles.values()):
        print(f"ember_dist demo: {', '.join(b.name for b in bundles.values())} take(s) no noise (U-Net): one "
              f"realisation instead of {samples} identical ones", flush=True)
        samples = 1
    client, own = _cluster(client, workers)
    try:
        t1 = time.perf_counter()
        ds = enrich_box(str(maps_path), fields=list(chosen), model=chosen, out=enriched, samples=samples,
                        seed=seed, tile=tile, client=client, overwrite=overwrite, progress=progress)
        t_enrich = time.perf_counter() - t1
        n_workers = len(client.scheduler_info().get("workers", {}))
    finally:
        if own:
            close(client)
    a = maps.attrs
    px = float(a["pixel_size"])
    truths = {f: maps[f].values[0] for f in chosen}  # (slab, y, x)
    preds = {f: ds[f].values[:, 0] for f in chosen}  # (sample, slab, y, x)
    errors = {f: held_out_errors(truths[f], preds[f].transpose(1, 0, 2, 3), px) for f in chosen}
    shown = {f: preds[f][:, 0] if bundles[f].preset.noise else preds[f][:1, 0] for f in chosen}
    nslab_used, ny, nx = truths[next(iter(chosen))].shape
    where = (f"held-out suite box (seed {a.get('seed')}, never trained on), z = {float(a['redshift']):.2f}, "
             f"{a.get('axis', 'z')} projection")
    png = _figure(out_dir / "demo.png", maps["dm"].values[0, 0], {f: truths[f][0] for f in chosen}, shown,
                  {f: bundles[f].name for f in chosen}, px,
                  f"ember_dist demo: {where}, slab 0 of {nslab_used} ({a['slab_depth'] / 1000:g} Mpc/h deep), "
                  f"{nx}^2 px of {px:g} ckpc/h")
    wall = time.perf_counter() - t0
    summary = {
        "maps": a.get("description"), "demo_data": a.get("demo_data"), "slabs": nslab_used, "samples": samples,
        "seed": seed, "tile": tile, "tiles_per_map": -(-ny // tile) * -(-nx // tile), "workers": n_workers,
        "enrich_s": round(t_enrich, 2), "wall_s": round(wall, 2), "created": utc_now(),
        "fields": {f: {"model": bundles[f].name, "kind": bundles[f].meta.get("kind"),
                       "weights_sha256": bundles[f].weights_sha256, **errors[f]} for f in chosen},
        "units": JSON_UNITS,
    }
    (out_dir / "demo.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"ember_dist demo: {where}: {nslab_used} maps of {ny}x{nx} px ({px:g} ckpc/h), "
          f"{samples} realisations, tiles of {tile} px ({summary['tiles_per_map']} per map) on {n_workers} "
          f"worker(s); errors against the true maps:")
    for line in _table(errors, {f: bundles[f].name for f in chosen}):
        print(line)
    print(f"ember_dist demo: wrote {maps_path}, {enriched}, {png} and {out_dir / 'demo.json'} in {wall:.1f} s "
          f"(enrichment {t_enrich:.1f} s)", flush=True)
    return ds
