# SPDX-License-Identifier: BSD-3-Clause
"""Scripts: an unguarded call that would start local workers fails at once; a guarded script runs."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from ember_dist.demo import lognormal_map

ROOT = Path(__file__).resolve().parents[1]

HEAD = """\
import numpy as np
import ember_dist as ed
maps = np.load({maps!r})
"""
CALL = "ed.enrich_box(maps, model={model!r}, out={out!r}, tile=32, pixel_size=3.66, progress=False)"
SCRIPTS = {
    "top level": HEAD + CALL + "\n",
    "function called at top level": HEAD + "def main():\n    " + CALL + "\n\nmain()\n",
    "connect at top level": "from ember_dist.cluster import connect\nclient = connect('local')\n",
    "guarded": HEAD + 'if __name__ == "__main__":\n    ds = ' + CALL + '\n    print(ds.attrs["status"], ds["gas"].shape)\n',
}


def _run(tmp_path, kind, bundles):
    maps = tmp_path / "m.npy"
    np.save(maps, lognormal_map(64, seed=1))
    script = tmp_path / "use.py"
    script.write_text(SCRIPTS[kind].format(maps=str(maps), model=str(bundles["unet"].path),
                                           out=str(tmp_path / "o.zarr")))
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=300)
    return p, time.perf_counter() - t0, script


@pytest.mark.parametrize("kind", ["top level", "function called at top level", "connect at top level"])
def test_unguarded_script_fails_at_once_with_the_fix(tmp_path, bundles, kind):
    p, dt, script = _run(tmp_path, kind, bundles)
    assert p.returncode != 0
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("RuntimeError: ") and 'if __name__ == "__main__":' in last and "client=" in last, p.stderr
    assert repr(str(script)) in last
    assert "Nanny" not in p.stderr and "bootstrapping" not in p.stderr
    assert not (tmp_path / "o.zarr").exists()  # nothing was written
    assert dt < 60, dt  # no worker was started (a spawn failure takes a worker start-up and a timeout)


def test_guarded_script_runs(tmp_path, bundles):
    p, _, _ = _run(tmp_path, "guarded", bundles)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "RuntimeError" not in p.stderr
    assert p.stdout.strip().splitlines()[-1] == "complete (1, 1, 1, 64, 64)"
    import xarray as xr

    assert np.isfinite(xr.open_zarr(tmp_path / "o.zarr")["gas"].values).all()
