# SPDX-License-Identifier: BSD-3-Clause
"""Consolidated metadata for every store ember_dist writes, without zarr's warnings.

``xarray.open_zarr(path)`` first looks for consolidated metadata and, when a store has none,
warns (``RuntimeWarning: Failed to open Zarr store with consolidated metadata``) before it
falls back to listing the store.  So each writer (deposit, enrich, stats) consolidates once,
after its last metadata change.  zarr 3 warns on consolidation that it is outside the v3
specification; xarray and zarr read it all the same, so that warning is silenced here, as are
warnings about folders that are not zarr nodes below the root (ember_dist's ``.ember/``
bookkeeping, walked by the recursive consolidation).
"""
from __future__ import annotations

import os
import warnings

__all__ = ["consolidate_quietly"]


def consolidate_quietly(path):
    """``zarr.consolidate_metadata(path)`` with zarr's consolidation warnings silenced.

    Parameters
    ----------
    path : str or os.PathLike
        A zarr directory store.
    """
    import zarr

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        warnings.filterwarnings("ignore", message="Object at .* is not recognized as a component of a Zarr")
        zarr.consolidate_metadata(os.fspath(path))
