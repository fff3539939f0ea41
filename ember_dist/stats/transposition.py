# SPDX-License-Identifier: BSD-3-Clause
"""Rows-to-columns transposition of the distributed 2D FFT: method choice and strip layout.

:func:`resolve_rechunk_method` turns ``rechunk_method=`` into the method used (``"disk"``
where every worker sees this machine's scratch directory and it has room, Dask's shuffle
otherwise); :func:`scratch_nbytes` is the scratch space the ``"disk"`` method needs and
:func:`split_even` cuts a chunk row into the row strips both methods transform.

>>> split_even(10, 4)
(4, 3, 3)
"""
from __future__ import annotations

import logging

import numpy as np

from ember_dist.errors import option, spell_or

__all__ = ["resolve_rechunk_method", "scratch_root", "scratch_nbytes", "split_even"]

log = logging.getLogger(__name__)


def scratch_root(scratch_dir):
    """The scratch directory used: ``scratch_dir``, else Dask's ``temporary-directory``, else the system's."""
    import tempfile

    import dask

    return scratch_dir or dask.config.get("temporary-directory", None) or tempfile.gettempdir()


def _worker_hosts():
    """Hosts of the current distributed client's workers, or None without a client."""
    try:
        from distributed import get_client

        client = get_client()
    except (ImportError, ValueError):
        return None
    return {w.get("host") for w in client.scheduler_info(n_workers=-1)["workers"].values()}


def _is_this_machine(host):
    """Whether ``host`` (an address as the scheduler reports it) is one of this machine's."""
    import socket

    import psutil  # a dependency of distributed

    if str(host).startswith("127.") or host in ("localhost", "::1", socket.gethostname()):
        return True
    return any(a.address == host for addrs in psutil.net_if_addrs().values() for a in addrs)


def resolve_rechunk_method(method, nbytes, scratch_dir=None, check=True):
    """The transposition method that ``rechunk_method=method`` means for a transform of ``nbytes``.

    ``"auto"`` is ``"disk"`` where every worker sees this process's scratch directory (no
    distributed client, i.e. Dask's threaded or synchronous scheduler, or a client whose
    workers all run on this machine, like a ``LocalCluster``) and the directory has room for
    the scratch files (1.1 x ``nbytes``); otherwise ``None`` (Dask's default, the p2p shuffle).
    An explicit ``"disk"`` is checked for room before any work starts, unless ``check`` is
    False: then it is taken as it is, the scratch directory not looked at (a graph built to
    be counted or inspected, not computed here).

    >>> resolve_rechunk_method("p2p", 10**9)
    'p2p'
    >>> resolve_rechunk_method("disk", 10**18, check=False)  # an exabyte: no disk has room
    'disk'
    >>> resolve_rechunk_method("sideways", 1)
    Traceback (most recent call last):
    ...
    ValueError: rechunk_method='sideways' is unknown; use 'auto', 'disk', 'p2p', 'tasks' or None (Dask's default)
    """
    import shutil

    if method not in (None, "auto", "disk", "p2p", "tasks"):
        raise ValueError(f"rechunk_method={method!r} is unknown; use 'auto', 'disk', 'p2p', 'tasks' "
                         "or None (Dask's default)")
    if method not in ("auto", "disk") or (method == "disk" and not check):
        return method
    root = scratch_root(scratch_dir)
    try:
        free = shutil.disk_usage(root).free
    except OSError as e:
        if method == "disk":
            raise FileNotFoundError(f"scratch_dir {root!r} of the 'disk' transposition is not usable ({e}); "
                                    f"pass {option('scratch_dir', 'scratch_dir=')} an existing directory "
                                    "every worker can write") from None
        free = 0
    room = free >= 1.1 * nbytes
    if method == "disk":
        if not room:
            raise OSError(f"the 'disk' transposition needs {nbytes / 2**30:.2f} GiB of scratch space but "
                          f"{root!r} has {free / 2**30:.2f} GiB free; pass {option('scratch_dir', 'scratch_dir=')} "
                          f"a larger disk or {spell_or('rechunk_method', 'p2p')}")
        return "disk"
    hosts = _worker_hosts()
    local = hosts is None or (len(hosts) == 1 and _is_this_machine(next(iter(hosts))))
    if local and room:
        log.info("P(k): rows-to-columns transposition through %.2f GiB of scratch files in %s",
                 nbytes / 2**30, root)
        return "disk"
    why = "workers on other machines" if not local else f"only {free / 2**30:.2f} GiB free in {root!r}"
    log.info("P(k): transposition by Dask's shuffle (%s; pass rechunk_method='disk' with a shared "
             "scratch_dir to avoid it)", why)
    return None


def scratch_nbytes(a):
    """Bytes of the 'disk' transposition's two scratch files for ``a`` (input copy + float64 half plane)."""
    n = a.shape[-1]
    nlead = int(np.prod(a.shape[:-2], dtype=np.int64))
    return nlead * (a.shape[-2] * n * a.dtype.itemsize + a.shape[-2] * (n // 2 + 1) * 16)


def split_even(h, width):
    """Split ``h`` rows into ceil(h / width) near-equal parts."""
    k = -(-int(h) // max(1, width))
    base, extra = divmod(int(h), k)
    return (base + 1,) * extra + (base,) * (k - extra)
