# SPDX-License-Identifier: BSD-3-Clause
"""halo="split" gives the whole periodic map's prediction, like "exact", at small halos."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import ember_dist as ed
from ember_dist.demo import lognormal_map
from ember_dist.engine.reference import predict_whole
from ember_dist.engine.split import plan_split
from ember_dist.io.store import done_markers
from ember_dist.model.geometry import split_geometry

TOL = 1e-5


@pytest.fixture(scope="module")
def maps(tmp_path_factory):
    m = np.stack([lognormal_map(96, seed=10 + s)[:88, :72] for s in range(2)])
    p = tmp_path_factory.mktemp("in") / "m.npy"
    np.save(p, m)
    return p, m


def _split(path, bundle, out, client, **kw):
    kw.setdefault("tile", 32)
    return ed.enrich_box(str(path), model=bundle.path, out=out, client=client, progress=False, pixel_size=3.66,
                         halo="split", **kw)


def test_split_geometry_of_fiducial():
    g = split_geometry("fiducial", 3)
    # Shallow halos are tens of pixels instead of the 768/896 of the whole network.
    assert g.c_halo == (32, 40) and g.a_halo == (16, 24) and g.b_alignment == 16
    p = plan_split((4096, 4096), 1024, __import__("ember_dist.model.presets", fromlist=["x"]).get_preset("fiducial"), 3)
    assert p.output.canvas == (1096, 1096) and p.b.shape == (512, 512) and p.periodic
    with pytest.raises(ValueError, match="split level must be in 1..6"):
        split_geometry("fiducial", 7)


# (kind, split levels, coarse core): the deepest stage runs on the whole periodic coarse map unless the
# coarse core is too small for it, then it is tiled with its exact halo; (1, 2) chains two splits.
@pytest.mark.parametrize("kind,level,cc", [("wgan", 1, None), ("wgan", 2, None), ("unet", 2, None),
                                           ("wgan", (1, 2), None), ("wgan", 1, 8), ("unet", (1, 2), 8),
                                           ("wgan-modulated", (1, 2), 8)])
def test_split_equals_whole_periodic_map(maps, bundles, client, tmp_path, kind, level, cc):
    path, m = maps
    b = bundles[kind]
    sp = plan_split(m.shape[1:], 32, b.preset, level, cc)
    assert sp.periodic == (cc is None)
    ds = _split(path, b, tmp_path / "o.zarr", client, samples=2, seed=7, split_level=level, coarse_core=cc)
    got = ds["gas"].values
    model = b.build()
    for i in range(2):
        for s in range(2):
            ref = predict_whole(b, m[s], seed=7 + i, slab=s, model=model)
            assert np.abs(got[i, 0, s] - ref).max() <= TOL * np.abs(ref).max(), (i, s)
    assert not (tmp_path / "o.zarr" / ".ember" / "split-gas").exists()  # intermediates removed
    assert ds.attrs["halo_mode"] == "split"


def test_split_bitwise_for_one_and_two_workers(maps, bundles, client, client2, tmp_path):
    path, _ = maps
    a = _split(path, bundles["wgan"], tmp_path / "a.zarr", client, seed=2)["gas"].values
    c = _split(path, bundles["wgan"], tmp_path / "c.zarr", client2, seed=2)["gas"].values
    assert np.array_equal(a, c)


def test_split_interrupted_run_resumes(maps, bundles, client, tmp_path):
    path, _ = maps
    ref = _split(path, bundles["wgan"], tmp_path / "ref.zarr", client, samples=4, seed=1)["gas"].values
    out = tmp_path / "o.zarr"
    cmd = [sys.executable, "-m", "ember_dist.cli", "enrich", str(path), "--model", str(bundles["wgan"].path),
           "--out", str(out), "--samples", "4", "--seed", "1", "--tile", "32", "--halo", "split",
           "--pixel-size", "3.66", "--quiet"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        t0 = time.time()
        # Kill during stage C: stage A and B markers exist, a few final ones too.
        while sum(1 for k in done_markers(out, "gas") if k.count("-") == 1) < 2:
            assert time.time() - t0 < 600 and proc.poll() is None, "CLI run ended or stalled before two output tiles were done"
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finals = sum(1 for k in done_markers(out, "gas") if k.count("-") == 1)
    assert finals < 4 * 2 * 9, "run finished before the kill"
    assert (out / ".ember" / "split-gas" / "h1.zarr").exists()
    got = _split(path, bundles["wgan"], out, client, samples=4, seed=1, resume=True)["gas"].values
    assert np.array_equal(got, ref)


@pytest.mark.parametrize("halo", ["split", "exact"])
def test_bfloat16_tiled_equals_whole_in_bfloat16(maps, bundles, client, tmp_path, halo):
    """Seams stay exact within reduced precision: tiled bfloat16 == whole-map bfloat16."""
    path, m = maps
    b = bundles["wgan"]
    ds = ed.enrich_box(str(path), model=b.path, out=tmp_path / "o.zarr", client=client, progress=False,
                       pixel_size=3.66, halo=halo, tile=32, seed=3, precision="bfloat16")
    got = ds["gas"].values[0, 0]
    whole16 = b.build(dtype="mixed_bfloat16")
    whole32 = b.build()
    for s in range(2):
        ref16 = predict_whole(b, m[s], seed=3, slab=s, model=whole16)
        ref32 = predict_whole(b, m[s], seed=3, slab=s, model=whole32)
        seam = np.abs(got[s] - ref16).max() / np.abs(ref16).max()
        prec = np.abs(ref16 - ref32).max() / np.abs(ref32).max()
        assert seam <= TOL, (seam, prec)
        assert prec > 10 * TOL  # the check above is not vacuous: bfloat16 really differs from float32
