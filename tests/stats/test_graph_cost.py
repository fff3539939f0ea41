# SPDX-License-Identifier: BSD-3-Clause
"""The statistics' task count of the cost model (ember_dist.stats.graph_cost) against the graphs themselves."""
from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from ember_dist.engine import cost
from ember_dist.stats.graph_cost import stats_collections, stats_graph_tasks
from ember_dist.stats.power import power_spectrum


def test_stats_graph_tasks_extrapolate_the_graph():
    # Three 2048^2 maps in 1024^2 chunks: the count from one and two maps against the three maps' own graph.
    job = cost.Job(n_px=2048, axes=1, slabs=3, samples=1, particles=1000, box_size=1000.0)
    direct = cost.graph_tasks(stats_collections(job, 3, "disk"))
    assert abs(stats_graph_tasks(job, "disk") - direct) <= 3
    assert stats_graph_tasks(cost.Job(n_px=2048, statistics=())) == 0


def _names(collections):
    """Layer names of a graph, less the token (the disk path's names carry a random scratch stem)."""
    from dask.base import collections_to_expr

    keys = collections_to_expr(list(collections), True).optimize().__dask_graph__()
    return sorted(str(k[0] if isinstance(k, tuple) else k).rsplit("-", 1)[0] for k in keys)


def test_unchecked_disk_graph_is_the_checked_one(tmp_path):
    # Where the scratch directory has room, the graph built without the check is the one built with it.
    a = da.zeros((2, 256, 256), chunks=(1, 128, 128), dtype=np.float32)
    checked = power_spectrum(a, box_size=1000.0, rechunk_method="disk", scratch_dir=str(tmp_path), chunk_mib=0.1)
    unchecked = power_spectrum(a, box_size=1000.0, rechunk_method="disk", scratch_dir=str(tmp_path), chunk_mib=0.1,
                               check_scratch=False)
    assert cost.graph_tasks([unchecked]) == cost.graph_tasks([checked]) > 0
    assert _names([unchecked]) == _names([checked])
    # A directory that does not exist stops the checked call; unchecked, the graph is built (and writes nothing).
    missing = str(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="scratch_dir"):
        power_spectrum(a, box_size=1000.0, rechunk_method="disk", scratch_dir=missing, chunk_mib=0.1)
    lazy = power_spectrum(a, box_size=1000.0, rechunk_method="disk", scratch_dir=missing, chunk_mib=0.1,
                          check_scratch=False)
    assert any("read_cols_fft" in str(k) for k in lazy["power"].data.__dask_graph__())
    assert cost.graph_tasks([lazy]) == cost.graph_tasks([checked])
    assert list(tmp_path.iterdir()) == []
