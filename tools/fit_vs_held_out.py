# SPDX-License-Identifier: BSD-3-Clause
"""Does a model miss P(k) on the maps it trained on too? Its P(k) error on training and on held-out maps, side by side.

A miss that is there on the training maps as well is the fit (loss balance, capacity, training length); one
that appears only on held-out boxes is generalisation (too few boxes, box-to-box variance). Whole-map
predictions (``ember_dist.engine.reference.predict_whole``), the evaluation's P(k) of each map's overdensity,
``e(k) = median over maps of <P_pred>_realisations / P_true - 1``.

    python tools/fit_vs_held_out.py suite-gas-wgan --maps 12 --realisations 2 --out fit-gas.png

prints the errors at 5-75 h/Mpc and writes the figure (and a CSV beside it).
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
K_PRINT = (5, 10, 20, 30, 40, 50, 75)  # h/Mpc


def power_error(bundle, store, field, nmaps, nreal, axis="z"):
    """``(k in h/Mpc, e(k))`` of ``bundle`` on the first ``nmaps`` ``axis`` maps of ``store`` (the statistic of
    :func:`ember_dist.demo.held_out_errors`)."""
    import xarray as xr

    from ember_dist.demo import held_out_errors
    from ember_dist.engine.reference import predict_whole

    ds = xr.open_zarr(store, consolidated=False)
    if "axis" in ds.dims:
        ds = ds.sel(axis=axis)
    dm, truth = ds["dm"].values[:nmaps], ds[field].values[:nmaps]
    preds = np.stack([[predict_whole(bundle, m, seed=s) for s in range(nreal)] for m in dm])
    e = held_out_errors(truth, preds, float(ds.attrs["pixel_size"]))
    return np.asarray(e["k"]) * 1000.0, np.asarray(e["power_frac_error"])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model", help="bundle name or path")
    p.add_argument("--train", default=str(ROOT / "sim_suite/maps/train_z1.zarr"), help="training maps store")
    p.add_argument("--held-out", default=str(ROOT / "sim_suite/maps/test_z1.zarr"), help="held-out maps store")
    p.add_argument("--maps", type=int, default=12, help="maps from each store (z projection, first slabs)")
    p.add_argument("--realisations", type=int, default=2)
    p.add_argument("--out", default="fit_vs_held_out.png", help="figure (PNG); the CSV is written beside it")
    a = p.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ember_dist.model.bundle import load_model

    b = load_model(a.model)
    rows = {}
    plt.figure(figsize=(6.5, 4))
    for label, store in (("training maps", a.train), ("held-out maps", a.held_out)):
        k, e = power_error(b, store, b.field, a.maps, a.realisations)
        rows[label] = e
        plt.semilogx(k, e, label=f"{label} ({Path(store).name})")
        near = [int(np.argmin(abs(k - kk))) for kk in K_PRINT]
        print(f"{b.name} {label:14s} " + "  ".join(f"{k[i]:.0f}: {100 * e[i]:+.0f}%" for i in near), flush=True)
    k_nyq = np.pi / b.pixel_size * 1000.0
    plt.axhspan(-0.1, 0.1, color="0.88", zorder=0)
    plt.axvline(k_nyq / 2, color="0.5", ls=":")
    plt.ylim(-1, 1)
    plt.xlabel("k [h/Mpc]")
    plt.ylabel("P_pred / P_true - 1 (median over maps)")
    plt.title(f"{b.name}: {a.maps} maps x {a.realisations} realisations each")
    plt.legend()
    plt.tight_layout()
    plt.savefig(a.out, dpi=110)
    with open(Path(a.out).with_suffix(".csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["k_h_per_Mpc", *rows])
        w.writerows(zip(k, *rows.values()))
    print(f"wrote {a.out} and {Path(a.out).with_suffix('.csv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
