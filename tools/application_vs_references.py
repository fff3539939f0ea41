#!/usr/bin/env python
"""The application run against its references, as docs/application tabulates it, from a pipeline's report.json.

    python tools/application_vs_references.py docs/application/run/report/report.json [--k 2 5 10 20 30 40 60]

Prints, per field, the enriched median P(k) over each reference's at the given k (h/Mpc; linear interpolation
of both spectra), the mean gas fraction in R200c apertures per halo-mass bin beside each reference's (with the
haloes per bin), and the report's own error per statistic and reference (``errors_vs_reference``).
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from ember_dist.stats.curves import interp_loglog

K_DEFAULT = (2, 5, 10, 20, 30, 40, 60)


def power_ratios(report, field, k_hmpc):
    """``{reference label: [P_enriched / P_reference at each k]}``, the enriched median over realisations; both
    spectra interpolated in log-log as the report's figures do (NaN outside a spectrum's k range)."""
    s = report["statistics"][f"power_{field}"]
    at = np.asarray(k_hmpc, float) / 1e3  # h/Mpc -> h/ckpc, the report's units
    p = interp_loglog(s["x"], s["pred_q16_q50_q84"][1], at)
    return {ref["label"]: (p / interp_loglog(ref["statistics"][f"power_{field}"]["x"],
                                             ref["statistics"][f"power_{field}"]["y"], at)).tolist()
            for ref in report["references"]}


def halo_fractions(report, field="gas"):
    """``{label: (fractions per halo-mass bin, haloes per bin)}``: the enriched median first, then each reference."""
    h = report["statistics"]["halos"]
    out = {"enriched": (h[f"pred_fraction_{field}"][1], h["haloes_per_bin"])}
    for ref in report["references"]:
        rh = ref["statistics"]["halos"]
        out[ref["label"]] = (rh[f"fraction_{field}"], rh["haloes_per_bin"])
    return out


def _fmt(v):
    return "-" if v is None or not np.isfinite(v) else f"{v:.3f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("report", help="report.json of `ember-dist run` with input.reference set")
    ap.add_argument("--k", nargs="+", type=float, default=K_DEFAULT, help="wavenumbers, h/Mpc")
    args = ap.parse_args(argv)
    with open(args.report) as f:
        report = json.load(f)
    if not report.get("references"):
        ap.error(f"{args.report}: no references in this report (the pipeline's input.reference was empty)")
    models = report.get("models", {})
    for field in ("gas", "hi"):
        if f"power_{field}" not in report["statistics"]:
            continue
        ks = " / ".join(f"{k:g}" for k in args.k)
        print(f"{field} ({models.get(field, {}).get('name', '?')}): enriched P(k) / reference P(k) at k = {ks} h/Mpc")
        for label, r in power_ratios(report, field, args.k).items():
            print(f"  {label}: {' / '.join(f'{v:.2f}' for v in r)}")
    if "halos" in report["statistics"]:
        print("mean gas fraction in R200c apertures per halo-mass bin (haloes per bin):")
        for label, (frac, n) in halo_fractions(report).items():
            print(f"  {label}: {' / '.join(_fmt(v) for v in frac)} ({' / '.join(str(int(v)) for v in n)})")
    print("report's errors vs each reference (median |enriched / reference - 1| over the bins both cover):")
    for label, e in report.get("errors_vs_reference", {}).items():
        print(f"  {label}: " + ", ".join(f"{k} {v['error']:.3f}" for k, v in sorted(e.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
