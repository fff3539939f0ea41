# SPDX-License-Identifier: BSD-3-Clause
"""One loaded generator per worker process: a Dask worker plugin plus a process cache.

Loading a bundle builds the Keras graph and reads the weights (seconds); the
plugin does it once when the worker starts (and again after a worker restart,
since plugins are re-run), so tile tasks only look the model up.
"""
from __future__ import annotations

import logging
import os
import threading
import time

from distributed.diagnostics.plugin import WorkerPlugin

from ember_dist.engine.faults import fault_point

__all__ = ["ModelCache", "get_model", "register_models", "runtime_threads", "worker_layout", "PLUGIN_NAME"]

log = logging.getLogger("ember_dist")

PLUGIN_NAME = "ember-model-cache"
_CACHE = {}
_LOCK = threading.Lock()


#: glibc ``mallopt`` parameters and the values the engine's workers use (see :func:`_tune_malloc`).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
MALLOC_MMAP_THRESHOLD = 32 * 2**20  # glibc's own ceiling for its dynamic threshold
MALLOC_TRIM_THRESHOLD = 64 * 2**20  # twice that, as glibc's dynamic rule sets it


def _tune_malloc():
    """Serve tile-sized buffers from the heap again in a Dask worker (glibc only).

    The nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536`` (so freed memory goes back to
    the OS). Setting it also switches off glibc's dynamic mmap threshold, so every buffer over
    128 KiB (a tile's input window, noise planes, their float64 temporaries, ...) becomes a fresh
    ``mmap`` whose pages fault and are zeroed on first touch.  Measured on the split path
    (fiducial, 4096^2, 1024-px cores, one worker): the NumPy parts of the tile tasks ran 1.7-2x
    slower and the run took 24.6 s instead of 19.5 s.  The thresholds set here are what glibc's
    dynamic rule settles at (32 MiB mmap, 64 MiB trim), so a worker keeps at most ~64 MiB of
    freed heap per arena: bounded, whatever the map size.  Arenas are capped at the runtime's
    thread count (glibc allows 8 per core): with the default, the per-stage peaks of a fiducial
    8192^2 split run were 0.1-0.3 GB higher (C2 3.16 GB against 2.92 GB with 2 arenas, same speed).
    """
    if not os.environ.get("MALLOC_TRIM_THRESHOLD_"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        arenas = int(os.environ.get("EMBER_DIST_THREADS") or os.cpu_count() or 1)
        return bool(libc.mallopt(_M_ARENA_MAX, max(2, arenas))
                    and libc.mallopt(_M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD)
                    and libc.mallopt(_M_TRIM_THRESHOLD, MALLOC_TRIM_THRESHOLD))
    except (OSError, AttributeError):  # not glibc
        return False


def _configure_threads():
    """Give the deep-learning runtime the cores this worker owns (set before Keras loads)."""
    _tune_malloc()
    n = os.environ.get("EMBER_DIST_THREADS")
    if n:
        for var in ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS"):
            os.environ.setdefault(var, n)
        os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")


def runtime_threads():
    """Intra-op threads this worker's deep-learning runtime was given (None: the runtime's default)."""
    n = os.environ.get("TF_NUM_INTRAOP_THREADS") or os.environ.get("EMBER_DIST_THREADS")
    return int(n) if n else None


def get_stage_model(bundle_path, sha256, precision, levels, periodic, stage, halos=None):
    """Stage ``stage`` (``"A1"``, ``"B"``, ``"C2"``, ...) of split inference at ``levels`` (shared weights);
    the stages named in ``halos`` (stage -> tile halo) run unpadded and output their cores (see ``chain_models``)."""
    halos = tuple(sorted((k, tuple(v)) for k, v in (halos or {}).items()))
    key = (str(bundle_path), sha256, precision, "split", tuple(levels), bool(periodic), halos)
    with _LOCK:
        if key not in _CACHE:
            _configure_threads()
            from ember_dist.model.bundle import load_model
            from ember_dist.model.generator import build_generator, chain_models

            b = load_model(bundle_path)
            g = build_generator(b.preset, dtype=None if precision == "float32" else "mixed_bfloat16",
                                initializer="zeros")  # the weights are loaded next (see ModelBundle.build)
            g.load_weights(str(b.weights_path))
            models = chain_models(g, b.preset, levels, periodic=periodic, halos=dict(halos))
            _CACHE[key] = {(k if isinstance(k, str) else f"{k[0]}{k[1]}"): m for k, m in models.items()}
        return _CACHE[key][stage]


def get_model(bundle_path, sha256, precision="float32", halo=None):
    """The inference model of a bundle, loaded once per process and verified by checksum.

    With ``halo`` (a tile halo at least the receptive field, see
    :func:`~ember_dist.model.regions.network_regions`) the model runs its convolutions unpadded and
    outputs the core alone; it shares the loaded model's layers.
    """
    key = (str(bundle_path), sha256, precision)
    with _LOCK:
        if key not in _CACHE:
            _configure_threads()
            from ember_dist.model.bundle import load_model

            b = load_model(bundle_path)
            if b.weights_sha256 != sha256:
                raise RuntimeError(
                    f"bundle {bundle_path} changed on disk during the run (sha256 {b.weights_sha256[:12]} != "
                    f"{sha256[:12]}); restore it or restart the run."
                )
            dtype = None if precision == "float32" else "mixed_bfloat16"
            _CACHE[key] = b.build(dtype=dtype)
            _CACHE[key + ("preset",)] = b.preset
        if halo is None:
            return _CACHE[key]
        ckey = key + ("unpadded", tuple(halo))
        if ckey not in _CACHE:
            from ember_dist.model.generator import unpadded_network

            _CACHE[ckey] = unpadded_network(_CACHE[key], _CACHE[key + ("preset",)], tuple(halo))
        return _CACHE[ckey]


class ModelCache(WorkerPlugin):
    """Worker plugin that loads the run's models when the worker starts.

    Parameters
    ----------
    models : list of (bundle_path, sha256, precision)
    """

    name = PLUGIN_NAME

    def __init__(self, models):
        self.models = [tuple(m) for m in models]

    async def setup(self, worker):
        # In a thread: building a large model takes seconds to minutes on a busy node, and a plugin that
        # blocks the worker's event loop that long misses heartbeats and gets the worker restarted.
        import asyncio

        fault_point("plugin")
        loop = asyncio.get_running_loop()
        for m in self.models:
            await loop.run_in_executor(None, get_model, *m)


def register_models(client, models, attempts=3):
    """Register :class:`ModelCache` for ``models`` on every current and future worker, surviving lost workers.

    The scheduler stores the plugin before it broadcasts it, so a worker that joins or restarts later
    gets it when it registers; a worker that dies while setting it up fails the broadcast with a
    ``CommClosedError`` (issue 16: a worker SIGKILLed during registration failed the whole run).  The
    broadcast is retried on the workers still alive; if workers keep dying it gives up with a warning,
    since tasks load models on demand (:func:`get_model`) and the plugin only loads them ahead of time.
    A plugin whose setup raises (a changed bundle, say) still raises here.
    """
    from distributed.comm.core import CommClosedError

    plugin = ModelCache(models)
    for i in range(attempts):
        try:
            client.register_plugin(plugin)
            return True
        except CommClosedError as e:
            log.info("a worker was lost while loading the models (%s); registering again", e)
            time.sleep(0.2 * (i + 1))
    log.warning("workers kept dying while the models were being loaded (%d attempts); tasks load them on demand",
                attempts)
    return False


def worker_layout(client):
    """The cluster's layout as JSON for the provenance: workers, Dask threads and runtime threads of each.

    Results do not depend on it (tests/engine/test_layout.py: one worker of two threads and two of one
    give the same bits); it is recorded so that a claim of equal bits can be checked against it.  Workers
    lost while it is asked are left out.
    """
    import json

    nthreads = {a: w.get("nthreads") for a, w in client.scheduler_info(n_workers=-1)["workers"].items()}
    runtime = client.run(runtime_threads, on_error="ignore")
    return json.dumps({"workers": len(nthreads), "threads_per_worker": sorted(nthreads.values()),
                       "runtime_threads_per_worker": sorted((v for v in runtime.values() if v is not None))},
                      sort_keys=True)
