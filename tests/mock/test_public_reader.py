# SPDX-License-Identifier: BSD-3-Clause
"""A public reader (pynbody, optional) reads the mock suite's snapshot files too."""
import warnings

import numpy as np
import pytest

from ember_dist.io.snapshot import open_snapshot
from ember_dist.mock import make_mock_suite

pynbody = pytest.importorskip("pynbody", reason="pynbody not installed (pip install pynbody)")


def test_pynbody_reads_mock_snapshot(tmp_path):
    paths = make_mock_suite(tmp_path, n=16, box_size=4000.0, seed=0, n_files=2)
    ours = open_snapshot(paths["hydro"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pynbody warns that the files carry no per-dataset cosmological factors
        f = pynbody.load(paths["hydro"][: -len(".0.hdf5")])  # pynbody takes the stem of a multi-file snapshot
        assert len(f.dm) == ours.count(1) and len(f.gas) == ours.count(0)
        assert f.properties["h"] == ours.header.hubble and f.properties["omegaM0"] == ours.header.omega_m
        np.testing.assert_allclose(np.asarray(f.dm["pos"]), ours.positions(1).compute(), rtol=1e-14)
        np.testing.assert_allclose(np.asarray(f.gas["pos"]), ours.positions(0).compute(), rtol=1e-14)
        # pynbody keeps file units: 1e10 Msun/h
        np.testing.assert_allclose(np.asarray(f.gas["mass"]) * 1e10, ours.masses(0).compute(), rtol=1e-12)
        np.testing.assert_allclose(np.asarray(f.dm["mass"]) * 1e10, ours.masses(1).compute(), rtol=1e-12)
