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


def test_a_killed_local_worker_comes_back_even_after_the_lost_worker_timeout(tmp_path):
    """ember's LocalCluster keeps the nanny of a killed worker, which restarts it, however long that takes.

    Stock SpecCluster closes the nanny ``lost-worker-timeout`` after the worker left; at 0.5 s (a TensorFlow
    worker restarting under load takes longer than the default 15 s) the cluster stays at one worker. Run in a
    fresh interpreter: tests/conftest.py pushes the timeout past the session for the other tests.
    """
    script = tmp_path / "kill.py"
    script.write_text(textwrap.dedent("""\
        import os, signal, sys, time
        import dask
        dask.config.set({"distributed.deploy.lost-worker-timeout": "0.5s"})
        from distributed import LocalCluster
        from ember_dist.cluster import close, connect

        if __name__ == "__main__":
            c = connect("local", n_workers=2)
            c.wait_for_workers(2, timeout=120)
            pids = sorted(c.run(os.getpid).values())
            os.kill(pids[0], signal.SIGKILL)
            new, t0 = [], time.monotonic()
            while time.monotonic() - t0 < 120:  # until the restarted worker has replaced the killed one
                time.sleep(1)
                try:
                    new = sorted(c.run(os.getpid).values())
                except Exception:  # the dead worker still listed: ask again
                    continue
                if pids[0] not in new and len(new) == 2:
                    break
            assert pids[0] not in new and pids[1] in new and len(new) == 2, (pids, new)
            time.sleep(2)  # past the 0.5 s timer
            assert isinstance(c.cluster, LocalCluster) and len(c.cluster.workers) == 2, list(c.cluster.workers)
            print("ok", flush=True)
            close(c, quiet=True)
        """))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=400, env=env,
                         cwd=tmp_path)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stdout + res.stderr[-3000:]
