# SPDX-License-Identifier: BSD-3-Clause
"""Workers serve tile-sized buffers from the heap despite the nanny's MALLOC_TRIM_THRESHOLD_."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

_PROBE = r"""
import resource, numpy as np
from ember_dist.engine.model_cache import _tune_malloc

def faults():
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        a = np.ones(2**20)  # 8 MiB: one tile-sized temporary, freed at once
        del a
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0

before = faults()
tuned = _tune_malloc()
print(before, tuned, faults())
"""


def test_nanny_sets_the_trim_threshold_the_engine_undoes(client):
    # the premise, on a real nanny-started worker
    assert client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_")).popitem()[1] == "65536"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_tuned_malloc_reuses_freed_buffers_instead_of_faulting_new_pages():
    env = dict(os.environ, MALLOC_TRIM_THRESHOLD_="65536")
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True)
    before, tuned, after = out.stdout.split()
    assert tuned == "True"
    # each 8 MiB buffer was a fresh mmap whose pages fault on first touch before (10,320 faults for the
    # 20 buffers here: fault-around maps several pages per fault), reused heap memory after (513)
    assert int(before) >= 20 * 4 and int(after) < int(before) / 5, (before, after)
