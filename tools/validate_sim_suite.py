#!/usr/bin/env python
"""Validation report of a simulation suite (issue 17 item 5): figures, README.md and results.json.

    python tools/validate_sim_suite.py SUITE_DIR --out docs/simulation [--work /tmp/ember_simval]

Reads every finished snapshot of SUITE_DIR (box_*/{hydro,dmo}; nothing is written there) and
checks the dark-matter P(k) against CAMB halofit, the halo mass function against Tinker et al.
(2008), the gas/dark-matter power ratio, the Lyman-alpha mean flux (with the Gamma_HI scale that
matches the observed one) and the HI column density distribution against Prochaska et al. (2014)
and fake-spectra.  Deposited maps and scratch copies go to --work.
"""
import argparse
import sys
from pathlib import Path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("suite", help="suite folder (holds box_*/simulation.json)")
    ap.add_argument("--out", default="docs/simulation", help="report folder (default: docs/simulation)")
    ap.add_argument("--work", default="/tmp/ember_simval_work",
                    help="scratch folder for maps and copies, reused as a cache: empty it after re-running a box")
    ap.add_argument("--cddf-pixel", type=float, default=31.25, help="map pixel for the CDDF, ckpc/h (default: 31.25)")
    ap.add_argument("--cddf-slabs", type=int, default=5, help="slabs per axis for the CDDF (default: 5)")
    ap.add_argument("--sightlines", type=int, default=200, help="Lyman-alpha sightlines per axis and box (default: 200)")
    ap.add_argument("--no-fake-spectra", action="store_true", help="skip the fake-spectra cross-check")
    a = ap.parse_args(argv)
    if not Path(a.suite).is_dir():
        ap.error(f"SUITE_DIR {a.suite}: no such folder (give the folder that holds box_*/simulation.json)")
    if Path(a.out).resolve().is_relative_to(Path(a.suite).resolve()):
        ap.error(f"--out {a.out} lies inside the suite folder, which the report only reads; choose another folder")
    from ember_dist.sim.validation.report import write_report

    write_report(a.suite, a.out, a.work, cddf_pixel=a.cddf_pixel, cddf_slabs=a.cddf_slabs, n_per_axis=a.sightlines,
                 fake_spectra=not a.no_fake_spectra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
