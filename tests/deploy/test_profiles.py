# SPDX-License-Identifier: BSD-3-Clause
"""Cluster profiles: rendered job scripts, TLS by default (a client without credentials is refused),
loopback-only local profile, clear errors.  No batch system needed."""
from __future__ import annotations

import dask_jobqueue  # noqa: F401  (before distributed.utils_test)
import pytest

from ember_dist import cluster as ec
from ember_dist.cluster import connect, gpu_env, load_profile, make_jobqueue_cluster, profile_names

JOBQUEUE_PROFILES = ["slurm", "slurm-gpu", "pbs", "pbs-gpu", "slurm-localhost"]


@pytest.fixture()
def render(tmp_path):
    made = []

    def _render(name, **kw):
        kw.setdefault("interface", "lo")
        kw.setdefault("log_directory", str(tmp_path / "logs"))
        kw.setdefault("shared_temp_directory", str(tmp_path / "tls"))
        kw.setdefault("scheduler_options", {"dashboard_address": "127.0.0.1:0"})
        cl, prof = make_jobqueue_cluster(name, **kw)
        made.append(cl)
        return cl, prof, cl.job_script()

    yield _render
    for cl in made:
        cl.close()


def test_profiles_are_found():
    assert set(JOBQUEUE_PROFILES) <= set(profile_names())


@pytest.mark.parametrize("name", JOBQUEUE_PROFILES)
def test_every_profile_renders_with_tls(render, name, tmp_path):
    cl, prof, script = render(name)
    assert prof["cluster"]["security"] is True
    assert cl.scheduler_address.startswith("tls://127.0.0.1:")
    for flag in ("--tls-ca-file", "--tls-cert", "--tls-key", "--protocol tls://"):
        assert flag in script
    # Temporary credentials live in the private directory, readable by this user only.
    assert str(tmp_path / "tls") in script and oct((tmp_path / "tls").stat().st_mode & 0o777) == "0o700"
    assert "export KERAS_BACKEND=" in script


def test_slurm_cpu_script(render):
    _, _, s = render("slurm", account="abc123", queue="short", cores=4, memory="16GB", walltime="00:40:00")
    for line in ("#SBATCH -p short", "#SBATCH -A abc123", "#SBATCH --cpus-per-task=4", "#SBATCH --mem=15G",
                 "#SBATCH -t 00:40:00", "export EMBER_DIST_THREADS=4", "export TF_NUM_INTRAOP_THREADS=4",
                 "export DASK_DISTRIBUTED__WORKER__LIFETIME__DURATION=55m",
                 "export DASK_DISTRIBUTED__WORKER__LIFETIME__STAGGER=4m", "-m distributed.cli.dask_worker",
                 "--nthreads 4", "source ~/ember/.venv/bin/activate"):
        assert line in s, line


def test_slurm_gpu_script_runs_dask_cuda_workers(render):
    _, _, s = render("slurm-gpu")
    assert "#SBATCH --gres=gpu:1" in s
    assert "-m dask cuda worker tls://" in s and "distributed.cli.dask_worker" not in s
    # One thread per GPU worker: the profile's --nthreads 1 comes last (click keeps the last value).
    cmd = s.strip().splitlines()[-1]
    assert cmd.rindex("--nthreads 1") > cmd.index("--nthreads")
    for var in ("KERAS_BACKEND=jax", "XLA_PYTHON_CLIENT_PREALLOCATE=false", "TF_FORCE_GPU_ALLOW_GROWTH=true"):
        assert f"export {var}" in s
    # Environment is set in the prologue, i.e. before the worker (and Keras) starts.
    assert s.index("export KERAS_BACKEND") < s.index("-m dask cuda worker")


def test_pbs_scripts(render):
    _, _, s = render("pbs", account="proj1")
    assert "#PBS -q workq" in s and "#PBS -A proj1" in s and "#PBS -l select=1:ncpus=8:mem=32GB" in s
    _, _, g = render("pbs-gpu")
    assert "ngpus=1" in g and "-m dask cuda worker" in g


def test_security_off_warns_and_drops_tls(render):
    with pytest.warns(UserWarning, match="without TLS"):
        cl, _, s = render("slurm-localhost", security=False)
    assert "--tls-" not in s and cl.scheduler_address.startswith("tcp://")


def test_client_without_credentials_is_refused(render):
    import asyncio

    from distributed import Client
    from distributed.comm import connect as comm_connect
    from distributed.security import Security

    cl, _, _ = render("slurm-localhost")
    addr = cl.scheduler_address
    with pytest.raises(TypeError, match="TLS expects a `ssl_context`"):
        Client(addr, timeout="5s")
    # Credentials from another (temporary) CA: the scheduler rejects the handshake.  (Raw comm
    # connections, so no extra client event-loop thread is needed on a loaded machine.)
    other = Security.temporary()

    async def attempt(address, **kw):
        comm = await comm_connect(address, timeout="10s", **kw)
        await comm.close()

    with pytest.raises(OSError, match="TLS certificate does not match"):
        asyncio.run(attempt(addr, **other.get_connection_args("client")))
    # Plain TCP to the TLS port gets nowhere either.
    with pytest.raises((OSError, TimeoutError)):
        asyncio.run(attempt(addr.replace("tls://", "tcp://")))
    # The cluster's own credentials work.
    with Client(cl, timeout="30s") as c:
        assert c.scheduler_info()["address"] == addr


def test_local_profile_listens_on_loopback_only():
    c = connect("local", n_workers=1, dashboard_address="127.0.0.1:0")
    try:
        assert c.scheduler.address.startswith("tcp://127.0.0.1:")
        assert c.dashboard_link.startswith("http://127.0.0.1:")
        info = c.scheduler_info()
        assert all(a.startswith("tcp://127.0.0.1:") for a in info["workers"])
    finally:
        ec.close(c)


def test_address_profile_connects():
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address=":0") as lc:
        c = connect(lc.scheduler_address, timeout="10s")
        assert c.scheduler.address == lc.scheduler_address
        c.close()


def test_cuda_profile_without_dask_cuda_names_the_extra():
    try:
        import dask_cuda  # noqa: F401
        pytest.skip("dask-cuda is installed; the GPU path is exercised on GPU machines")
    except ImportError:
        pass
    with pytest.raises(ImportError, match=r'pip install "ember_dist\[gpu\]"'):
        connect("cuda")


def test_gpu_env_defaults_grow_memory():
    env = gpu_env()
    assert env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true" and env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    assert env["KERAS_BACKEND"] == "jax"


def test_profile_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown cluster profile 'nope'.*slurm"):
        connect("nope")
    with pytest.raises(FileNotFoundError, match="copy one from deploy/"):
        load_profile(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: slurm\nqueue: debug\n")
    with pytest.raises(ValueError, match="unknown keys \\['queue'\\].*under 'cluster:'"):
        load_profile(bad)
    bad.write_text("kind: lsf\n")
    with pytest.raises(ValueError, match="kind: slurm or pbs"):
        load_profile(bad)


def test_user_profile_path_and_overrides(render, tmp_path):
    p = tmp_path / "mine.yaml"
    p.write_text("kind: slurm\njobs: 3\ncluster:\n  queue: mine\n  cores: 2\n  memory: 4GB\n")
    cl, prof, s = render(str(p), walltime="00:05:00", jobs=5)
    assert prof["jobs"] == 5 and "#SBATCH -p mine" in s and "#SBATCH -t 00:05:00" in s
