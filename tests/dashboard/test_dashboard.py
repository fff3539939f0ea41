# SPDX-License-Identifier: BSD-3-Clause
"""The Dask dashboard of a running enrichment, opened in headless Chromium (Debian's chromium).

Saves a screenshot of the /status page taken while tile tasks run, and checks that the task
stream (the scheduler's TaskStreamPlugin, which feeds the dashboard's Task Stream plot, and
``client.get_task_stream``) holds the tile tasks ``enrich-gas-...``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import ember_dist as ed
from ember_dist.cluster import close, connect
from ember_dist.demo import make_demo_maps

from .cdp import Browser

#: Where the screenshot is kept after the test (override with EMBER_DASHBOARD_PNG).
PNG = Path(os.environ.get("EMBER_DASHBOARD_PNG", Path(__file__).resolve().parents[2] / "build" / "dashboard.png"))


#: The page's Bokeh documents have arrived and rendered their roots.
READY = "typeof Bokeh !== 'undefined' && Bokeh.documents.length > 0 && Bokeh.documents.every(d => d.roots().length > 0)"
#: Keys of the Task Stream plot's data source, read from the page itself.
TASK_STREAM_KEYS = """(() => {
  for (const doc of Bokeh.documents) for (const m of doc.all_models) {
    if (m.type !== 'ColumnDataSource') continue;
    const d = m.data, get = k => (d instanceof Map ? d.get(k) : d[k]);
    if (get('key') && get('worker_thread') !== undefined) return Array.from(get('key')).map(String);
  }
  return null; })()"""


def _tile_keys_in_task_stream(dask_scheduler):
    plugin = dask_scheduler.plugins.get("task-stream")
    if plugin is None:
        return []
    return [str(r["key"]) for r in plugin.buffer if str(r["key"]).startswith("enrich-gas-")]


def test_dashboard_shows_tile_tasks(chromium, bundles, tmp_path):
    client = connect("local", n_workers=1, dashboard_address="127.0.0.1:0")
    try:
        link = client.dashboard_link
        assert link.startswith("http://127.0.0.1:"), link
        maps = make_demo_maps(256, nslab=2, seed=2)
        client.get_task_stream()  # makes the scheduler record the task stream now (the dashboard does it on first view)
        box = {}

        def run():
            box["ds"] = ed.enrich_box(maps, fields="gas", model=bundles["wgan"].path, out=tmp_path / "o.zarr",
                                      tile=64, client=client, progress=False, halo="exact")  # one tile task per core

        th = threading.Thread(target=run, daemon=True)
        PNG.parent.mkdir(parents=True, exist_ok=True)
        base = link.rsplit("/", 1)[0]
        with Browser(chromium, tmp_path / "chromium-profile") as browser:
            t0 = time.time()
            th.start()
            # The full status page, shot as soon as its Task Stream shows tile tasks (live updates).
            live = browser.visit(link, f"({READY}) && ({TASK_STREAM_KEYS} || []).some(k => k.startsWith('enrich-gas-'))",
                                 timeout=180, settle=0.5, extract_js=TASK_STREAM_KEYS, png=PNG)
            done_at_shot = len({k.split("-")[2] for k in client.run_on_scheduler(_tile_keys_in_task_stream)})
            running = th.is_alive()
            th.join(timeout=300)
            assert not th.is_alive() and "ds" in box
            # The Task Stream page once the run is done: every tile task is there.
            png2 = PNG.with_name(PNG.stem + "-task-stream.png")
            after = browser.visit(f"{base}/individual-task-stream", READY, settle=2.0, extract_js=TASK_STREAM_KEYS,
                                  png=png2)
        assert live is not None and any(k.startswith("enrich-gas-") for k in live), live
        tiles = {k.split("-")[2] for k in after if k.startswith("enrich-gas-")}
        assert len(tiles) == 32, sorted(tiles)

        from PIL import Image

        for p in (PNG, png2):
            img = np.asarray(Image.open(p).convert("RGB"))
            assert img.shape[:2] == (1000, 1600)
        # Task Stream bars are drawn in colour: count strongly coloured pixels in the task-stream page.
        rgb = np.asarray(Image.open(png2).convert("RGB")).astype(int)
        coloured = (rgb.max(axis=2) - rgb.min(axis=2)) > 60
        assert coloured.mean() > 0.02, f"task stream page shows no bars ({coloured.mean():.3%} coloured pixels)"
        # The same tasks through the client API.
        stream = client.get_task_stream(start=t0)
        assert sum(1 for t in stream if str(t["key"]).startswith("enrich-gas-")) == 32
        print(f"\ndashboard screenshots {PNG} ({'run still going' if running else 'run finished'} at capture: "
              f"{done_at_shot}/32 tiles done; {sum(k.startswith('enrich-gas-') for k in live)} tile tasks in the "
              f"page's task stream) and {png2}")
    finally:
        close(client)
