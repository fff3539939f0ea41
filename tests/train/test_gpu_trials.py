# SPDX-License-Identifier: BSD-3-Clause
"""tools/gpu_trials.py packs what a device run must bring back, within the device's per-file limit."""
from __future__ import annotations

import json
import tarfile

import numpy as np

from tests.conftest import load_tool


def _tool():
    return load_tool("gpu_trials")


def _run_dir(work, name, bundle):
    """A work folder as a training run leaves it: checkpoints (two kept, 'best' the first), logs, maybe a bundle."""
    ck = work / "models" / f"{name}.work" / "checkpoints"
    ck.mkdir(parents=True)
    for step, score in ((500, 0.2), (1000, 0.3)):
        np.savez(ck / f"ckpt-{step:08d}.npz", **{"g/0000": np.full(3, step, np.float32),
                                                 "c/0000": np.zeros(5), "go/0000": np.zeros(3)})
        (ck / f"ckpt-{step:08d}.json").write_text(json.dumps({"step": step, "score": score}))
    (ck / "best").write_text("ckpt-00000500\n")
    (ck / "latest").write_text("ckpt-00001000\n")
    (ck.parent / "metrics.csv").write_text("step,loss\n500,1\n")
    (work / f"{name}.log").write_text("step 1000/1000\n")
    if bundle:
        b = work / "models" / name
        b.mkdir()
        for f in ("bundle.json", "bundle.json.sha256", "generator.weights.h5"):
            (b / f).write_text(f)


def test_pack_brings_the_bundle_or_the_best_generator_and_the_scores(tmp_path):
    t = _tool()
    _run_dir(tmp_path, "done", bundle=True)
    _run_dir(tmp_path, "cut", bundle=False)
    out = tmp_path / "out"
    out.mkdir()
    with tarfile.open(t.pack(tmp_path, "done", out)) as tar:
        names = set(tar.getnames())
    assert {"models/done/bundle.json", "models/done/generator.weights.h5", "done.log",
            "models/done.work/checkpoints/ckpt-00000500.json", "models/done.work/checkpoints/best",
            "models/done.work/metrics.csv"} <= names
    assert not any(n.endswith(".npz") for n in names)  # the bundle holds the weights
    with tarfile.open(t.pack(tmp_path, "cut", out)) as tar:
        names = set(tar.getnames())
        assert "models/cut.work/best-generator.npz" in names and "models/cut/bundle.json" not in names
        tar.extract("models/cut.work/best-generator.npz", tmp_path / "x")
    with np.load(tmp_path / "x" / "models/cut.work/best-generator.npz") as z:
        assert z.files == ["g/0000"] and z["g/0000"][0] == 500  # the best checkpoint's generator only
    assert t.pack(tmp_path, "never-started", out) is None
