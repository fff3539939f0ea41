# SPDX-License-Identifier: BSD-3-Clause
"""Benchmark: the equilateral bispectrum of one map, ``ember_dist.stats.bispectrum`` against the textbook estimator.

The reference is the FFT shell estimator written the plain way (as ``bispectrum`` was until 2026-12-05): per shell
the inverse FFT of the field on the shell and of the shell's indicator, ``B = sum(F^3) / sum(I^3)`` with the cube
taken by ``**``.  Both run side by side in one process, alternating, on the same seeded log-normal maps (default
16 shells, bin width 1 k_F); the script prints CPU seconds per map for each, their ratio, the largest relative
difference of the values and the process's peak RSS (``VmHWM``).

Usage::

    python bench/bispectrum.py                  # 512^2, 3 rounds of 4 maps
    python bench/bispectrum.py --size 1024 --maps 2
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from pipeline_common import cpu_model  # bench/ is the script's folder


def reference(m, k_f_units, width=1.0):
    """Equilateral bispectrum of the overdensity of ``m`` (square, side N) per shell centre (k_F units), textbook
    form ``sum F^3 / sum I^3 / N^2``: the library's value with box_size = N (B in pixel^4)."""
    m = np.asarray(m, np.float64)
    n = m.shape[-1]
    d = np.fft.rfft2(m / m.mean() - 1.0)
    iy = np.fft.fftfreq(n, 1.0 / n)
    kk = np.sqrt(iy[:, None] ** 2 + np.arange(n // 2 + 1)[None, :] ** 2)
    out = []
    for c in k_f_units:
        s = ((kk >= c - width / 2) & (kk < c + width / 2)).astype(np.float64)
        f = np.fft.irfft2(d * s, s=(n, n))
        i = np.fft.irfft2(s, s=(n, n))
        out.append(np.sum(f**3) / np.sum(i**3) / n**2)
    return np.asarray(out)


def _peak_rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def main(argv=None):
    from ember_dist.stats.bispectrum import bispectrum

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--maps", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args(argv)
    n = a.size
    maps = np.random.default_rng(0).lognormal(size=(a.maps, n, n))
    ds = bispectrum(maps[:1], box_size=float(n))  # default shells; warms the triangle counts' cache
    shells = np.asarray(ds["k1"]) / (2 * np.pi / n)
    lib_t, ref_t, worst = [], [], 0.0
    for _ in range(a.rounds):
        t = time.process_time()
        lib = np.asarray(bispectrum(maps, box_size=float(n))["bispectrum"])
        lib_t.append((time.process_time() - t) / a.maps)
        t = time.process_time()
        ref = np.stack([reference(m, shells) for m in maps])
        ref_t.append((time.process_time() - t) / a.maps)
        worst = max(worst, float(np.max(np.abs(lib / ref - 1))))
    lib_s, ref_s = min(lib_t), min(ref_t)
    print(f"CPU: {cpu_model()}; {n}^2 log-normal maps, {shells.size} equilateral shells, {a.maps} maps x {a.rounds} rounds "
          "(best round, CPU time)")
    print(f"ember_dist.stats.bispectrum: {lib_s:.3f} CPU s per map ({lib_s / (n * n / 1e6):.3f} per Mpx)")
    print(f"textbook estimator:          {ref_s:.3f} CPU s per map")
    print(f"speed-up {ref_s / lib_s:.2f}x; largest relative difference of B {worst:.2e}; peak RSS {_peak_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
