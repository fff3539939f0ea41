# SPDX-License-Identifier: BSD-3-Clause
"""Data-parallel training on two logical CPU devices equals the one-device run (tf.distribute).

The runs are in a separate process (``data_parallel_run.py``): TensorFlow's logical devices must
be configured before it initialises, and this test process has initialised it already.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    work = tmp_path_factory.mktemp("dp")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    p = subprocess.run([sys.executable, str(Path(__file__).with_name("data_parallel_run.py")), str(work)],
                       capture_output=True, text=True, env=env, timeout=600)
    lines = [l for l in p.stdout.splitlines() if l.startswith("RESULT ")]
    assert p.returncode == 0 and lines, p.stderr[-4000:]
    return json.loads(lines[-1][len("RESULT "):])


def test_unet_on_two_devices_equals_one_device(result):
    r = result["unet"]
    assert r["replicas"] == 2 and len(result["devices"]) == 2
    assert r["moved_rel"] > 0.1  # the weights moved far more than the two runs differ
    assert r["weights_rel"] < 1e-5 and r["optimizer_rel"] < 1e-4  # without the 1/n loss scale: 4e-4 and ~3
    assert r["loss"][1] == pytest.approx(r["loss"][0], rel=1e-6)


def test_wgan_on_two_devices_equals_one_device_with_per_device_minibatch_groups(result):
    r = result["wgan"]
    assert r["mbstd"] == [2, 2, 4]  # explicit 2 on one device; batch/replicas on two; whole batch on one
    assert r["weights_rel"] < 1e-3 and r["optimizer_rel"] < 1e-2  # WGAN-GP amplifies round-off (measured 5e-5, 9e-4)
    assert r["whole_batch_rel"] > 0.1  # whole-batch minibatch std is another model: the check can fail
    assert r["critic_loss"][1] == pytest.approx(r["critic_loss"][0], rel=1e-5)
    assert r["loss"][1] == pytest.approx(r["loss"][0], rel=1e-5)
    assert result["bundle_data_parallel"] == {"replicas": 2, "devices": result["devices"], "per_device_batch": 2,
                                              "critic_mbstd_group": 2, "strategy": "MirroredStrategy"}


def test_resume_across_device_counts_and_bad_devices(result):
    assert result["resume_one_device_step"] == 3  # one device, same minibatch groups: continues
    assert "mbstd_group=2" in result["resume_refused"]
    bad_name, bad_batch = result["errors"]
    assert "'/cpu:7' is not a TensorFlow device" in bad_name
    assert "batch=3 (--batch) does not split over 2 devices" in bad_batch
