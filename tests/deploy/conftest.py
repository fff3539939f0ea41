# SPDX-License-Identifier: BSD-3-Clause
"""The SLURM lane: a real single-node SLURM (deploy/slurm/local-slurm.sh) for the session.

The ``slurm`` fixture installs slurm-wlm and munge with apt-get when they are missing, starts
munged, slurmctld and slurmd on free loopback ports with a private state directory, exports
``SLURM_CONF`` and stops the daemons by PID at the end.  It skips only when the machine cannot
run them (not root, or no apt-get and no SLURM installed).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import dask_jobqueue  # noqa: F401  (import before distributed.utils_test, see REFERENCES.md)
import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "slurm" / "local-slurm.sh"


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _why_not():
    have = all(shutil.which(x) for x in ("slurmctld", "slurmd", "munged", "sbatch"))
    if os.geteuid() != 0:
        return "SLURM lane needs root (it starts munged, slurmctld and slurmd); run the suite as root, e.g. in CI"
    if not have and not shutil.which("apt-get"):
        return "SLURM lane needs slurm-wlm and munge, or apt-get to install them (Debian/Ubuntu)"
    return None


@pytest.fixture(scope="session")
def slurm():
    """A running single-node SLURM; yields its private directory (``SLURM_CONF`` is exported)."""
    why = _why_not()
    if why:
        pytest.skip(why)
    d = Path(tempfile.mkdtemp(prefix="ember-slurm-"))  # under /tmp: user munge must traverse it
    d.chmod(0o755)
    ctld, slurmd = _free_ports(2)
    env = dict(os.environ, EMBER_SLURM_DIR=str(d), EMBER_SLURMCTLD_PORT=str(ctld), EMBER_SLURMD_PORT=str(slurmd))
    t0 = time.perf_counter()
    r = subprocess.run([str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True, timeout=60)
        if r.returncode == 3:  # packages missing and not installable
            pytest.skip(f"SLURM lane: {r.stderr.strip()}")
        pytest.fail(f"local-slurm.sh start failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    print(f"\nSLURM up in {time.perf_counter() - t0:.1f} s: {r.stderr.strip()}")
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(d / "slurm.conf")
    try:
        yield d
    finally:
        subprocess.run(["scancel", "--user", "root"], capture_output=True, timeout=30)
        subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True, timeout=120)
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old
        shutil.rmtree(d, ignore_errors=True)
