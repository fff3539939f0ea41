# SPDX-License-Identifier: BSD-3-Clause
"""Benchmark: particles per second for smoothing lengths and the kernel deposit.

Particles are the dark matter of the toy mock suite (Zel'dovich, z = 2,
15 Mpc/h box) at three particle counts; the deposit projects all of them onto
one periodic map at three grid sizes.  Also times one end-to-end
``deposit_snapshot`` run, and the agreement with swiftsimio when installed.

Usage::

    python bench/deposit.py            # 32^3, 64^3, 128^3 particles; 256, 512, 1024 px
    python bench/deposit.py --quick    # 16^3, 32^3, 64^3; 128, 256, 512 px
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import tempfile
import time

import numpy as np

from ember_dist.deposit import deposit_snapshot
from ember_dist.deposit.kernel import deposit_slab
from ember_dist.deposit.smoothing import smoothing_lengths, smoothing_lengths_distributed
from ember_dist.mock import make_mock_suite
from ember_dist.mock.suite import mock_particles

BOX = 15000.0


def _cpu():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except Exception:  # noqa: BLE001
        pass
    return platform.processor() or "unknown"


def _best(fn, repeat):
    best = np.inf
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--neighbours", type=int, default=80)
    args = ap.parse_args(argv)
    sizes = (16, 32, 64) if args.quick else (32, 64, 128)
    grids = (128, 256, 512) if args.quick else (256, 512, 1024)
    print(f"CPU: {_cpu()} ({os.cpu_count()} cores); box {BOX:g} ckpc/h; n_neighbours {args.neighbours}; "
          f"load average at start {os.getloadavg()[0]:.1f}")
    deposit_slab(np.zeros((1, 2)), np.ones(1), np.ones(1), 8, 1.0)  # compile numba first
    print("\n| particles | smoothing, 1 process | smoothing, distributed (threads) | " + " | ".join(f"deposit {g}^2" for g in grids) + " |")
    print("|---" * (3 + len(grids)) + "|")
    for n in sizes:
        pos = mock_particles(n=n, box_size=BOX, seed=0)["dmo"][1]["Coordinates"]
        npart = len(pos)
        t1, h = _best(lambda: smoothing_lengths(pos, BOX, args.neighbours), 1)
        t2, h2 = _best(lambda: smoothing_lengths_distributed(pos, BOX, args.neighbours, chunk_size=1 << 18), 1)
        assert np.array_equal(h, h2)
        m = np.ones(npart)
        cells = [f"{npart:,} ({n}^3)", f"{npart / t1:,.0f}/s ({t1:.2f} s)", f"{npart / t2:,.0f}/s ({t2:.2f} s)"]
        for g in grids:
            td, _ = _best(lambda: deposit_slab(pos[:, :2], h, m, g, BOX / g), 2 if npart * g < 3e8 else 1)
            hp = np.median(2 * h / (BOX / g))
            cells.append(f"{npart / td:,.0f}/s ({td:.2f} s, median support {hp:.1f} px)")
        print("| " + " | ".join(cells) + " |")

    print(f"load average after the table: {os.getloadavg()[0]:.1f}")
    n, g = sizes[1], grids[1]
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_mock_suite(tmp, n=n, box_size=BOX, seed=0)
        t = time.perf_counter()
        deposit_snapshot(paths["dmo"], os.path.join(tmp, "m.zarr"), pixel=BOX / g, slabs=10, fields=("dm",),
                         align=128, n_neighbours=args.neighbours)
        te = time.perf_counter() - t
    print(f"\nend to end: deposit_snapshot of {n}^3 DM, 3 axes x 10 slabs of {g}^2 px, local threads: {te:.2f} s "
          f"({n**3 / te:,.0f} particles/s)")

    try:
        from swiftsimio.visualisation.projection_backends import backends
        from swiftsimio.visualisation.projection_backends.kernels import kernel_gamma
    except ImportError:
        print("swiftsimio not installed: no cross-check")
        return
    box = 4000.0
    gas = mock_particles(n=32, box_size=box, seed=0)["hydro"][0]
    h = smoothing_lengths(gas["Coordinates"], box, n_neighbours=32)
    sel = gas["Coordinates"][:, 2] < box / 2
    pos, h, m = gas["Coordinates"][sel][:, :2], h[sel], gas["Masses"][sel]
    print("\nswiftsimio cross-check: gas of a 32^3 mock (4 Mpc/h), half the box along z, h from 32 neighbours")
    print("| grid | kernel (ours) | swiftsimio backend | max abs diff / max | sum abs diff / sum | correlation |")
    print("|---|---|---|---|---|---|")
    for g in (32, 64, 128):
        hs = (2.0 * h / float(kernel_gamma)) / box
        for backend in ("subsampled", "renormalised"):
            img = backends[backend](pos[:, 0] / box, pos[:, 1] / box, m.astype(np.float32), hs.astype(np.float32), g, 1.0, 1.0)
            sw = np.asarray(img, dtype=np.float64).T / g**2
            for kernel in ("wendland_c2_2d", "cubic_spline"):
                ours = deposit_slab(pos, h, m, g, box / g, kernel=kernel)
                d = np.abs(ours - sw)
                c = np.corrcoef(ours.ravel(), sw.ravel())[0, 1]
                print(f"| {g}^2 | {kernel} | {backend} | {d.max() / ours.max():.2e} | {d.sum() / ours.sum():.2e} | {c:.6f} |")


if __name__ == "__main__":
    main()
