# SPDX-License-Identifier: BSD-3-Clause
"""Random particle subsets with masses scaled to conserve the total (EMBER's "ds" inputs).

Examples
--------
>>> import numpy as np
>>> idx = downsample_indices(1000, 8, seed=0)
>>> len(idx), bool(np.all(np.diff(idx) > 0))
(125, True)
>>> m = np.ones(1000)
>>> keep, scale = downsample(m, 8, seed=0)
>>> float(m[keep].sum() * scale)
1000.0
>>> downsample_indices(10, 0, seed=0)
Traceback (most recent call last):
...
ValueError: factor=0 must be an integer >= 1 (e.g. 64 keeps one particle in 64, 4^3).
"""
from __future__ import annotations

import numpy as np

from ember_dist.errors import spell_or

__all__ = ["downsample_indices", "downsample"]


def downsample_indices(n_total, factor, seed=0):
    """Sorted indices of a seeded random subset of ``n_total // factor`` particles.

    Parameters
    ----------
    n_total : int
    factor : int
        Keep one particle in ``factor`` (64 = 4^3 turns 256^3 into 64^3).
    seed : int, default: 0

    Returns
    -------
    ndarray of int64, sorted
    """
    if int(factor) != factor or factor < 1:
        raise ValueError(f"{spell_or('factor', factor)} must be an integer >= 1 (e.g. 64 keeps one particle in 64, "
                         "4^3).")
    keep = int(n_total) // int(factor)
    if keep < 1:
        raise ValueError(f"{spell_or('factor', factor)} keeps no particle of {n_total}; pass "
                         f"{spell_or('factor', n_total)} or less.")
    if factor == 1:
        return np.arange(int(n_total), dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(int(n_total), size=keep, replace=False)).astype(np.int64)


def downsample(masses, factor, seed=0):
    """Subset indices and the mass scale that conserves the total mass.

    Parameters
    ----------
    masses : array_like (numpy or dask), shape (N,), Msun/h
    factor : int
    seed : int, default: 0

    Returns
    -------
    idx : ndarray of int64
    scale : float or dask scalar
        Multiply the kept masses by it: ``sum(masses[idx]) * scale == sum(masses)``.
    """
    idx = downsample_indices(masses.shape[0], factor, seed)
    if factor == 1:
        return idx, 1.0
    return idx, masses.sum() / masses[idx].sum()
