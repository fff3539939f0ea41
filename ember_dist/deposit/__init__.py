# SPDX-License-Identifier: BSD-3-Clause
"""From particles to slab maps: smoothing lengths, kernel deposit, downsampling.

The public entry point is :func:`deposit_snapshot`; the pieces it uses are
public too, for use on arrays that did not come from a snapshot file.
"""
from ember_dist.deposit.grid import grid_size
from ember_dist.deposit.smoothing import smoothing_lengths, smoothing_lengths_distributed
from ember_dist.deposit.kernel import deposit_slab, cubic_spline_projected
from ember_dist.deposit.downsample import downsample_indices, downsample
from ember_dist.deposit.api import deposit_snapshot

__all__ = [
    "deposit_snapshot",
    "grid_size",
    "smoothing_lengths",
    "smoothing_lengths_distributed",
    "deposit_slab",
    "cubic_spline_projected",
    "downsample_indices",
    "downsample",
]
