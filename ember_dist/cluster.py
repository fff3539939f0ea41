# SPDX-License-Identifier: BSD-3-Clause
"""``connect``: one entry point that returns a Dask client for a named profile.

Profiles
--------
``"local"``
    An embedded LocalCluster; scheduler, workers and dashboard listen on 127.0.0.1 only.
``"cuda"``
    A dask-cuda LocalCUDACluster: one worker per visible GPU, one thread each, GPU memory
    growth (no preallocation) set in the workers' environment before Keras is imported.
    Needs the ``gpu`` extra (``pip install "ember_dist[gpu]"``).
``"slurm"``, ``"pbs"``, ``"slurm-gpu"``, ``"pbs-gpu"`` or a path to a ``.yaml`` file
    A dask-jobqueue profile from ``deploy/`` (commented YAML a cluster user adapts).
    Scheduler and workers talk TLS with temporary credentials by default.
a scheduler address
    ``"tcp://host:8786"``, ``"tls://host:8786"`` (pass ``security=`` for TLS).

Examples
--------
>>> connect("nowhere")
Traceback (most recent call last):
...
ValueError: unknown cluster profile 'nowhere'; use 'local', 'cuda', a profile in deploy/ (pbs, pbs-gpu, slurm, slurm-gpu, slurm-localhost), a path to a profile .yaml or a scheduler address such as 'tcp://127.0.0.1:8786'.
>>> p = load_profile("slurm")
>>> p["kind"], p["cluster"]["security"]
('slurm', True)
"""
from __future__ import annotations

import os
import shlex
import warnings
from pathlib import Path

import yaml

from ember_dist import config
from ember_dist.processes import check_main_guard, sigint_ignored  # noqa: F401 (check_main_guard: public here too)

__all__ = ["connect", "close", "load_profile", "make_jobqueue_cluster", "profile_names", "gpu_env"]

#: Keys of a jobqueue profile handled by ember_dist; everything under ``cluster:`` goes to dask-jobqueue.
PROFILE_KEYS = ("kind", "jobs", "wait", "wait-timeout", "lifetime", "lifetime-stagger", "env", "cluster")
_KINDS = {"slurm": "SLURMCluster", "pbs": "PBSCluster"}


def _dash(k):
    return k.replace("_", "-")


def _worker_env(threads, backend):
    """Environment of a CPU worker: the deep-learning runtime gets this worker's share of the cores."""
    return {"EMBER_DIST_THREADS": str(threads), "TF_NUM_INTRAOP_THREADS": str(threads),
            "TF_NUM_INTEROP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": backend}


def gpu_env(preallocate=False, mem_fraction=None, backend="jax"):
    """Environment for GPU workers, to be set before Keras (TensorFlow or JAX) is imported.

    By default both runtimes grow GPU memory on demand instead of grabbing it all, so the
    Dask worker and the model share the card.

    >>> sorted(gpu_env().items())  # doctest: +NORMALIZE_WHITESPACE
    [('KERAS_BACKEND', 'jax'), ('TF_CPP_MIN_LOG_LEVEL', '2'), ('TF_FORCE_GPU_ALLOW_GROWTH', 'true'),
     ('XLA_PYTHON_CLIENT_PREALLOCATE', 'false')]
    >>> gpu_env(preallocate=True, mem_fraction=0.6)["XLA_PYTHON_CLIENT_MEM_FRACTION"]
    '0.6'
    """
    env = {"KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    if preallocate:
        env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "true"
        if mem_fraction is not None:
            env["XLA_PYTHON_CLIENT_MEM_FRACTION"] = str(float(mem_fraction))
    else:
        env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
        env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    return env


def _local_cluster_class():
    """LocalCluster whose nannies are never closed because their worker left (a crash, an OOM kill).

    SpecCluster closes a worker's nanny when ``distributed.deploy.lost-worker-timeout`` (15 s) after the
    worker left none of its name is back: right for a batch job that ended, wrong here, where the nanny is
    restarting that worker. A restart slower than the timeout (TensorFlow's import under load), or a second
    kill while the first restart runs, shrank the cluster for good ("Only 1/2 workers arrived"; reproduced
    with the timeout at 0.5 s: tests/test_processes.py). Scaling down still closes workers (it changes
    the spec, not this path).
    """
    from distributed import LocalCluster
    from distributed.deploy.cluster import Cluster

    class EmberLocalCluster(LocalCluster):
        def _update_worker_status(self, op, msg):
            Cluster._update_worker_status(self, op, msg)  # the bookkeeping, without SpecCluster's close timer

    return EmberLocalCluster


def _local(**overrides):
    from distributed import Client

    opts = dict(config.get("cluster.local"))
    opts.update({_dash(k): v for k, v in overrides.items()})
    n = int(opts["n-workers"])
    threads = max(1, (os.cpu_count() or 1) // n)
    cluster = _local_cluster_class()(
        n_workers=n,
        threads_per_worker=int(opts["threads-per-worker"]),
        processes=True,
        host="127.0.0.1",
        dashboard_address=str(opts["dashboard-address"]),
        memory_limit=opts["memory-limit"],
        security=opts.get("security") or None,
        env=_worker_env(threads, os.environ.get("KERAS_BACKEND", "tensorflow")),
    )
    client = Client(cluster)
    client.register_plugin(_fast_exit_plugin(), name="ember-dist-fast-exit")
    return client


def _exit_now():
    import logging
    import sys

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed stream: nothing left to flush
            pass
    logging.shutdown()
    os._exit(0)


def _fast_exit_plugin():
    """A worker plugin: a closed worker's process skips interpreter finalization.

    A process that has loaded TensorFlow takes seconds to finalize (5.7-7.6 s measured on the
    2-core test machine, in C++ teardown), longer than the 4 s a nanny waits before it kills the
    worker and logs "Worker process still alive after 4.0 seconds, killing" at the end of every
    run.  Once the worker has closed (teardown runs last in ``Worker.close``), nothing is left to
    finalize, so its process exits at once.  Only worker processes started by a nanny do this;
    in-process workers (``processes=False``) never exit early.
    """
    from distributed import WorkerPlugin

    class FastExit(WorkerPlugin):
        def teardown(self, worker):
            import atexit
            import multiprocessing

            if getattr(worker, "nanny", None) and multiprocessing.parent_process() is not None:
                atexit.register(_exit_now)  # registered last: runs first at exit

    return FastExit()


def _cuda(**overrides):
    opts = dict(config.get("cluster.cuda"))
    opts.update({_dash(k): v for k, v in overrides.items()})
    env = gpu_env(bool(opts["preallocate"]), opts.get("mem-fraction"), str(opts["keras-backend"]))
    try:
        from dask_cuda import LocalCUDACluster
    except ImportError as e:
        raise ImportError(
            "profile 'cuda' needs dask-cuda; install the GPU extra: pip install \"ember_dist[gpu]\" "
            "(it pins dask and distributed to the versions dask-cuda supports). On a machine without GPUs "
            "use connect('local')."
        ) from e
    # The nannies inherit this process's environment: set it before dask-cuda starts them, so Keras
    # sees it before it is imported on the workers (LocalCUDACluster replaces a worker's env= with
    # its own CUDA_VISIBLE_DEVICES, so env= cannot carry it).  Variables already set win.
    for k, v in env.items():
        os.environ.setdefault(k, v)
    from distributed import Client

    kwargs = dict(
        n_workers=opts.get("n-workers"),  # None: one per visible GPU
        threads_per_worker=int(opts["threads-per-worker"]),
        host="127.0.0.1",
        dashboard_address=str(opts["dashboard-address"]),
        memory_limit=opts["memory-limit"],  # host memory per GPU worker
        device_memory_limit=opts.get("device-memory-limit") or 0.8,  # spill to host above this fraction
        security=opts.get("security") or None,
    )
    if opts.get("cuda-visible-devices") is not None:
        kwargs["CUDA_VISIBLE_DEVICES"] = opts["cuda-visible-devices"]
    return Client(LocalCUDACluster(**{k: v for k, v in kwargs.items() if v is not None}))


# ---------------------------------------------------------------------------------------------
# dask-jobqueue profiles (deploy/*.yaml)

def _deploy_dirs():
    dirs = []
    custom = config.get("cluster.deploy-dir")
    if custom:
        dirs.append(Path(os.path.expandvars(os.path.expanduser(str(custom)))))
    dirs.append(Path(__file__).resolve().parents[1] / "deploy")  # source checkout / editable install
    return dirs


def profile_names():
    """Names of the jobqueue profiles found in the deploy directories (``*.yaml``; the example
    pipelines ``pipeline-*.yaml`` beside them are ``ember-dist run`` files, not cluster profiles)."""
    names = set()
    for d in _deploy_dirs():
        if d.is_dir():
            names.update(p.stem for p in d.glob("*.yaml") if not p.stem.startswith("pipeline-"))
    return sorted(names)


def _unknown(profile):
    names = ", ".join(profile_names()) or "none found"
    return ValueError(
        f"unknown cluster profile {profile!r}; use 'local', 'cuda', a profile in deploy/ ({names}), "
        "a path to a profile .yaml or a scheduler address such as 'tcp://127.0.0.1:8786'."
    )


def _find_profile(profile):
    p = Path(os.path.expanduser(str(profile)))
    if p.suffix in (".yaml", ".yml"):
        if not p.is_file():
            raise FileNotFoundError(f"cluster profile file {str(p)!r} does not exist; copy one from deploy/ and edit it.")
        return p
    for d in _deploy_dirs():
        if (d / f"{profile}.yaml").is_file() and str(profile) in profile_names():
            return d / f"{profile}.yaml"
    raise _unknown(profile)


def load_profile(profile):
    """Read a jobqueue profile (name in ``deploy/`` or path) into a dict with dashed keys.

    ``kind`` is ``slurm`` or ``pbs``; ``cluster`` holds the keyword arguments of the
    dask-jobqueue cluster class, the other keys are listed in ``PROFILE_KEYS``.
    """
    path = _find_profile(profile)
    data = yaml.safe_load(path.read_text()) or {}
    unknown = sorted(set(data) - set(PROFILE_KEYS))
    if unknown:
        raise ValueError(f"profile {str(path)!r} has unknown keys {unknown!r}; allowed: {list(PROFILE_KEYS)!r} "
                         "(dask-jobqueue options go under 'cluster:').")
    if data.get("kind") not in _KINDS:
        raise ValueError(f"profile {str(path)!r} needs kind: slurm or pbs. Received: kind={data.get('kind')!r}.")
    data["cluster"] = {_dash(k): v for k, v in (data.get("cluster") or {}).items()}
    data["path"] = str(path)
    return data


def _split_overrides(overrides):
    top, cluster = {}, {}
    for k, v in overrides.items():
        (top if _dash(k) in PROFILE_KEYS else cluster)[_dash(k)] = v
    return top, cluster


def make_jobqueue_cluster(profile, **overrides):
    """Build (but do not scale) the dask-jobqueue cluster of a profile.

    Parameters
    ----------
    profile : str or dict
        Profile name, path or the dict from :func:`load_profile`.
    **overrides
        Profile keys (``jobs``, ``wait``, ``lifetime``, ``env``, ...) or dask-jobqueue options
        (``queue="debug"``, ``walltime="00:20:00"``, ``security=False``, ...).

    Returns
    -------
    (cluster, profile dict)
        ``cluster.job_script()`` shows the batch script that ``scale`` submits.
    """
    import dask_jobqueue

    prof = dict(load_profile(profile) if not isinstance(profile, dict) else profile)
    top, cl = _split_overrides(overrides)
    prof.update(top)
    kw = dict(prof["cluster"])
    kw.update(cl)

    security = kw.get("security", True)
    if not security:
        warnings.warn(
            f"profile {prof['path']!r} runs without TLS (security={security!r}): anyone who can reach the "
            "scheduler port on this cluster can connect, run code as you and read your data. Keep the default "
            "security: true unless the network is private to you.", UserWarning, stacklevel=3)
        kw["security"] = None
    elif security is True:
        # Temporary self-signed credentials; workers read them from a directory only this user can read.
        tls_dir = Path(os.path.expandvars(os.path.expanduser(str(kw.get("shared-temp-directory") or "~/.ember_dist/tls"))))
        tls_dir.mkdir(parents=True, exist_ok=True)
        tls_dir.chmod(0o700)
        kw["shared-temp-directory"] = str(tls_dir)

    prologue = list(kw.get("job-script-prologue") or [])
    cores, processes = int(kw.get("cores") or 1), int(kw.get("processes") or 1)
    env = {} if kw.get("worker-command", "distributed.cli.dask_worker") != "distributed.cli.dask_worker" else \
        _worker_env(max(1, cores // processes), "tensorflow")
    env.update({str(k): str(v) for k, v in (prof.get("env") or {}).items()})
    if prof.get("lifetime"):
        # Retire workers before the walltime (tasks move to other workers); works for dask-cuda workers too.
        env["DASK_DISTRIBUTED__WORKER__LIFETIME__DURATION"] = str(prof["lifetime"])
        env["DASK_DISTRIBUTED__WORKER__LIFETIME__STAGGER"] = str(prof.get("lifetime-stagger") or "0s")
    prologue += [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
    kw["job-script-prologue"] = prologue
    if kw.get("log-directory"):
        kw["log-directory"] = os.path.expandvars(os.path.expanduser(str(kw["log-directory"])))

    cls = getattr(dask_jobqueue, _KINDS[prof["kind"]])
    kwargs = {k.replace("-", "_"): v for k, v in kw.items()}
    scheduler_options = dict(kwargs.pop("scheduler_options", None) or {})
    scheduler_options.setdefault("dashboard_address", ":8787")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*shared_temp_directory.*")
        cluster = cls(scheduler_options=scheduler_options, **kwargs)
    return cluster, prof


def _jobqueue(profile, **overrides):
    from distributed import Client

    cluster, prof = make_jobqueue_cluster(profile, **overrides)
    try:
        jobs = int(prof.get("jobs") or 0)
        if jobs:
            cluster.scale(jobs=jobs)
        client = Client(cluster)
        wait = int(prof.get("wait") or 0)
        if wait:
            client.wait_for_workers(wait, timeout=prof.get("wait-timeout") or None)
    except BaseException:
        cluster.close()
        raise
    return client


def connect(profile=None, **overrides):
    """Return a ``distributed.Client`` for ``profile``.

    Parameters
    ----------
    profile : str, default from config ``ember_dist.cluster.profile`` ("local")
        ``"local"``, ``"cuda"``, a jobqueue profile name from ``deploy/`` (``"slurm"``,
        ``"pbs"``, ``"slurm-gpu"``, ...), a path to a profile ``.yaml``, or a scheduler address.
    **overrides
        Options of the profile: e.g. ``n_workers=2`` for ``"local"``; ``jobs=4``,
        ``queue="gpu"``, ``account="abc123"`` for jobqueue profiles; ``Client`` keywords
        (``security=...``) for an address.

    Returns
    -------
    distributed.Client
        Close it with :func:`close` (closes the cluster it started too).

    Notes
    -----
    Jobqueue profiles use TLS with temporary credentials (``security: true``): a client
    without them is refused.  ``security=False`` turns TLS off (with a warning); do that only
    on a network nobody else can reach, since anyone who can connect runs code as you.
    """
    profile = config.get("cluster.profile", profile)
    if profile in ("local", "cuda"):
        check_main_guard(f"connect({profile!r})")
        with sigint_ignored(), warnings.catch_warnings():
            # "Port 8787 is already in use ... on port N instead": the picked port is in client.dashboard_link
            warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
            return _local(**overrides) if profile == "local" else _cuda(**overrides)
    if "://" in str(profile):
        from distributed import Client

        return Client(profile, **overrides)
    if not isinstance(profile, (str, os.PathLike)):
        raise _unknown(profile)
    return _jobqueue(profile, **overrides)


def _quiet_logs():
    import logging

    for name in ("distributed", "tornado", "asyncio"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)


def close(client, quiet=False):
    """Close ``client`` and the cluster it belongs to (if it started one).

    ``quiet``: first silence the workers' logs, so that stopping a cluster whose tasks still run
    (after Ctrl-C) does not print a warning per cancelled task.
    """
    cluster = getattr(client, "cluster", None)
    if quiet and cluster is not None:
        try:
            client.run(_quiet_logs, wait=True)
        except Exception:  # noqa: BLE001 - a dead worker has no logs to silence
            pass
    client.close()
    if cluster is not None:
        cluster.close()
