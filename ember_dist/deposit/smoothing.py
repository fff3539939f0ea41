# SPDX-License-Identifier: BSD-3-Clause
"""SPH smoothing lengths from the n-th nearest neighbour, single-process and distributed.

The smoothing length of a particle is half the distance to its
``n_neighbours``-th nearest neighbour (the particle itself not counted), with
periodic distances (scipy's ``cKDTree(boxsize=)``).  With the cubic-spline
kernel of :mod:`ember_dist.deposit.kernel` (support ``2 h``) the kernel then
reaches exactly that neighbour.

The distributed version cuts the box into slabs along x ("domains").  Each
domain task builds a tree of its own particles plus ghosts within ``w`` of the
domain and queries its own particles.  A result ``d <= w`` is exact: every
particle closer than ``d`` lies within ``w`` of the domain, so the ghost set
holds it, and the pair distances are computed by the same code on the same
coordinates.  Particles with ``d > w`` are recomputed with ``w`` doubled until
none is left, so the output equals :func:`smoothing_lengths` bit for bit.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> pos = rng.uniform(0, 100.0, size=(500, 3))
>>> h1 = smoothing_lengths(pos, 100.0, n_neighbours=8)
>>> h2 = smoothing_lengths_distributed(pos, 100.0, n_neighbours=8, n_domains=4, scheduler="sync")
>>> bool(np.array_equal(h1, h2))
True
"""
from __future__ import annotations

import dask
import dask.array as da
import numpy as np
from scipy.spatial import cKDTree

from ember_dist.errors import spell_or

__all__ = ["smoothing_lengths", "smoothing_lengths_distributed", "initial_ghost_width"]


def _validate(n_total, box_size, n_neighbours):
    if int(n_neighbours) != n_neighbours or n_neighbours < 1:
        raise ValueError(f"{spell_or('n_neighbours', n_neighbours)} must be a positive integer (EMBER uses 80).")
    if n_total <= n_neighbours:
        raise ValueError(
            f"{n_total} particles cannot have a {n_neighbours}-th neighbour; pass "
            f"{spell_or('n_neighbours', n_total - 1)} or less, or use more particles (a smaller downsample factor)."
        )
    if not box_size > 0:
        raise ValueError(f"box_size={box_size!r} must be positive, ckpc/h.")


def smoothing_lengths(pos, box_size, n_neighbours=80, workers=1):
    """Half the periodic distance to the ``n_neighbours``-th neighbour, in one process.

    Parameters
    ----------
    pos : array_like, shape (N, 3), ckpc/h
        Positions in ``[0, box_size)``.
    box_size : float, ckpc/h
    n_neighbours : int, default: 80
    workers : int, default: 1
        Threads for the KD-tree query (-1: all cores).

    Returns
    -------
    ndarray, shape (N,), ckpc/h
    """
    pos = np.asarray(pos, dtype=np.float64)
    _validate(len(pos), box_size, n_neighbours)
    tree = cKDTree(pos, boxsize=box_size)
    d, _ = tree.query(pos, k=[int(n_neighbours) + 1], workers=workers)
    return 0.5 * d[:, 0]


def initial_ghost_width(n_total, box_size, n_neighbours):
    """First ghost-zone width: 3 x the n-th neighbour distance at mean density, ckpc/h.

    Wide on purpose: ghosts only enlarge the tree (cheap), while every particle
    whose neighbour lies beyond the zone costs a second round.
    """
    return 3.0 * (3.0 * n_neighbours * box_size**3 / (4.0 * np.pi * n_total)) ** (1.0 / 3.0)


def _owner(x, box_size, n_domains):
    return np.minimum((x * (n_domains / box_size)).astype(np.int64), n_domains - 1)


def _select(chunk, offset, dom, n_domains, box_size, width, want):
    """Rows of one position chunk in domain ``dom`` expanded by ``width`` along x.

    ``want`` (bool per global row or None) restricts the owned rows that need
    an answer.  Returns (global index, positions, owned-and-wanted mask).
    """
    x = chunk[:, 0]
    lo = dom * box_size / n_domains
    length = box_size / n_domains
    w = width * (1.0 + 1e-9) + 1e-9 * box_size  # margin for the float edges of the owner test
    dx = np.mod(x - lo, box_size)
    keep = (dx <= length + w) | (dx >= box_size - w)
    owned = _owner(x, box_size, n_domains) == dom
    keep |= owned
    idx = np.nonzero(keep)[0]
    gidx = idx + offset
    q = owned[idx]
    if want is not None:
        q &= want[gidx]
    return gidx, chunk[idx], q


def _domain_query(parts, box_size, n_neighbours, width):
    """kNN for the owned particles of one domain; returns (global index, h, exact mask)."""
    gidx = np.concatenate([p[0] for p in parts])
    pts = np.concatenate([p[1] for p in parts]) if gidx.size else np.empty((0, 3))
    q = np.concatenate([p[2] for p in parts])
    if not q.any():
        return gidx[:0], np.empty(0), np.empty(0, dtype=bool)
    k = int(n_neighbours) + 1
    if len(pts) < k:  # too few particles even to answer: all need a wider zone
        return gidx[q], np.full(int(q.sum()), np.inf), np.zeros(int(q.sum()), dtype=bool)
    tree = cKDTree(pts, boxsize=box_size)
    d, _ = tree.query(pts[q], k=[k])
    d = d[:, 0]
    return gidx[q], 0.5 * d, d <= width


def smoothing_lengths_distributed(
    pos, box_size, n_neighbours=80, n_domains=None, client=None, scheduler=None, chunk_size=1 << 20
):
    """Smoothing lengths computed per spatial domain with ghost zones (exact).

    Parameters
    ----------
    pos : dask.array.Array or array_like, shape (N, 3), ckpc/h
    box_size : float, ckpc/h
    n_neighbours : int, default: 80
    n_domains : int, optional
        Slabs along x; default: twice the client's threads (or 4), at most one
        per 2 ghost widths.
    client : distributed.Client, optional
        Runs the tasks on this client; otherwise dask's default scheduler.
    scheduler : str, optional
        A dask scheduler name for the local case (``"sync"``, ``"threads"``).
    chunk_size : int, default: 1048576
        Rows per chunk when ``pos`` is not already a dask array.

    Returns
    -------
    ndarray, shape (N,), ckpc/h
        Equal, bit for bit, to :func:`smoothing_lengths`.
    """
    if not isinstance(pos, da.Array):
        pos = da.from_array(np.asarray(pos, dtype=np.float64), chunks=(int(chunk_size), 3))
    n_total = int(pos.shape[0])
    _validate(n_total, box_size, n_neighbours)
    width = initial_ghost_width(n_total, box_size, n_neighbours)
    if n_domains is None:
        threads = sum(client.nthreads().values()) if client is not None else 2
        n_domains = max(1, min(2 * threads if threads > 1 else 4, int(box_size / (2 * width))))
    n_domains = int(n_domains)
    if n_domains < 1:
        raise ValueError(f"n_domains={n_domains!r} must be a positive integer.")
    offsets = np.concatenate([[0], np.cumsum(pos.chunks[0])])[:-1]
    chunks = pos.to_delayed().ravel()
    if client is not None:
        chunks = client.persist(list(chunks))  # read each chunk once for all rounds
    h = np.full(n_total, np.nan)
    want = None
    while True:
        tasks = []
        for dom in range(n_domains):
            parts = [
                dask.delayed(_select, pure=True)(c, int(o), dom, n_domains, box_size, width, want)
                for c, o in zip(chunks, offsets)
            ]
            limit = np.inf if n_domains == 1 else width  # one domain holds every particle: exact
            tasks.append(dask.delayed(_domain_query, pure=True)(parts, box_size, n_neighbours, limit))
        if client is not None:
            results = client.gather(client.compute(tasks))
        else:
            results = dask.compute(*tasks, scheduler=scheduler)
        missing = np.zeros(n_total, dtype=bool)
        for gidx, hh, ok in results:
            h[gidx[ok]] = hh[ok]
            missing[gidx[~ok]] = True
        if not missing.any():
            return h
        width *= 2.0
        want = missing
        if 2.0 * width + box_size / n_domains >= box_size:  # ghosts cover the box: one domain is exact
            n_domains = 1
