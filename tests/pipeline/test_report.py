# SPDX-License-Identifier: BSD-3-Clause
"""The report as a person sees it: report.html opened in headless Chromium (Debian's chromium, driven over the
DevTools protocol); the screenshot is not blank and every image on the page loaded."""
from __future__ import annotations

import json

import numpy as np

from tests.dashboard.cdp import Browser

IMAGES = "Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])"


def test_report_renders_in_chromium(reference, chromium, tmp_path):
    import matplotlib.image as mpimg

    d, res, _ = reference
    doc = json.loads((d / "out" / "report" / "report.json").read_text())
    assert {"maps.png", "power_gas.png", "pdf_hi.png", "cddf.png", "halos.png"} <= set(doc["figures"])
    assert doc["stages"]["enrich"]["seconds"] > 0 and doc["stages"]["enrich"]["peak_cluster_process_bytes"] > 0
    assert doc["observations"]["noterdaeme2012_dla_incidence_derived"] > 0
    png = tmp_path / "report.png"
    with Browser(chromium, tmp_path / "profile", size=(1280, 2400)) as browser:
        images = browser.visit("file://" + res.report, "document.readyState === 'complete'", timeout=60, settle=1.0,
                               extract_js=IMAGES, png=png)
    assert len(images) == len(doc["figures"]), images
    assert all(ok and width > 0 for _, ok, width in images), images  # every <img> loaded
    shot = mpimg.imread(png)[..., :3]
    assert shot.shape[0] >= 2000 and shot.std() > 0.05  # not a blank page
    assert len(np.unique((shot.reshape(-1, 3) * 255).astype(np.uint8), axis=0)) > 500  # figures, not just text
