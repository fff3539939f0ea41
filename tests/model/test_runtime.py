# SPDX-License-Identifier: BSD-3-Clause
"""ember_dist.model.runtime: the runtime's start-up lines are kept off stderr, nothing else is."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ember_dist
from ember_dist.model.runtime import STARTUP_LINES, filter_startup_lines

# What TensorFlow 2.21 (CPU build) printed on `import keras` here, and the GPU builds' factory lines.
TF_LINES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796271633.675684   23949 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders. To turn "
    "them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.",
    "I0000 00:00:1796271633.762536   23949 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use "
    "available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 AVX512F AVX512_VNNI AVX512_BF16 AVX512_FP16 AVX_VNNI FMA, in other "
    "operations, rebuild TensorFlow with the appropriate compiler flags.",
    "E0000 00:00:1732000000.123456    4242 cuda_dnn.cc:8310] Unable to register cuDNN factory: Attempting to register "
    "factory for plugin cuDNN when one has already been registered",
    "E0000 00:00:1732000000.123456    4242 cuda_fft.cc:477] Unable to register cuFFT factory: Attempting to register "
    "factory for plugin cuFFT when one has already been registered",
    "E0000 00:00:1732000000.123456    4242 cuda_blas.cc:1418] Unable to register cuBLAS factory: Attempting to "
    "register factory for plugin cuBLAS when one has already been registered",
]
# Lines that must get through: real errors, and near misses of the start-up lines.
KEPT = [
    "E0000 00:00:1732000000.123456    4242 cuda_dnn.cc:522] Could not create cudnn handle: CUDNN_STATUS_NOT_INITIALIZED",
    "W0000 00:00:1732000000.123456    4242 port.cc:153] oneDNN custom operations are off",
    "Traceback (most recent call last):",
    "ImportError: libcudart.so.12: cannot open shared object file: No such file or directory",
    "note: WARNING: All log messages before absl::InitializeLog() is called are written to STDERR (quoted)",
    "",
]
# Substrings of the start-up lines, for checking a process's stderr.
MARKERS = ("absl::InitializeLog", "oneDNN custom operations", "optimized to use available CPU instructions",
           "To enable the following instructions", "Unable to register")


def test_filter_removes_exactly_the_startup_lines():
    data = "".join(f"{line}\n" for pair in zip(TF_LINES, KEPT) for line in pair).encode()
    data += "".join(f"{line}\n" for line in TF_LINES[len(KEPT):]).encode()
    assert filter_startup_lines(data).decode() == "".join(f"{line}\n" for line in KEPT)
    assert all(any(p.fullmatch(line) for p in STARTUP_LINES) for line in TF_LINES)
    assert filter_startup_lines(b"no newline at the end") == b"no newline at the end"


def _probe(tmp_path, body):
    """A module ``ember_probe`` in ``tmp_path`` whose import runs ``body``."""
    (tmp_path / "ember_probe.py").write_text(textwrap.dedent(body))


def _run(tmp_path, code, **env):
    """Run ``code`` in a fresh interpreter (generous timeout: importing TensorFlow at low priority on a busy
    machine has taken over 300 s)."""
    root = str(Path(ember_dist.__file__).resolve().parents[1])  # this checkout's ember_dist
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), root]), **env}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=1200)


_FAKE_IMPORT = """
    import os, sys
    os.write(2, b"deliberate line before\\n")
    for line in {lines!r}:
        os.write(2, (line + "\\n").encode())
    print("python-level warning", file=sys.stderr)
    os.write(2, b"deliberate line after\\n")
    {tail}
"""


@pytest.mark.parametrize("level, shown", [("2", False), ("0", True)])
def test_quiet_import_keeps_other_output(tmp_path, level, shown):
    """Fast, no TensorFlow: fd-2 lines written during an import come back in order, less the start-up
    lines; ``TF_CPP_MIN_LOG_LEVEL=0`` shows everything."""
    _probe(tmp_path, _FAKE_IMPORT.format(lines=TF_LINES, tail=""))
    r = _run(tmp_path, "import os; from ember_dist.model.runtime import quiet_import; quiet_import('ember_probe');"
                       "os.write(2, b'after the import\\n')", TF_CPP_MIN_LOG_LEVEL=level)
    assert r.returncode == 0, r.stderr
    expected = ["deliberate line before"] + (TF_LINES if shown else []) + [
        "python-level warning", "deliberate line after", "after the import"]
    assert r.stderr.splitlines() == expected


def test_quiet_import_shows_output_of_a_failed_import(tmp_path):
    _probe(tmp_path, _FAKE_IMPORT.format(lines=TF_LINES, tail="raise ImportError('probe failed')"))
    r = _run(tmp_path, "from ember_dist.model.runtime import quiet_import; quiet_import('ember_probe')",
             TF_CPP_MIN_LOG_LEVEL="2")
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert lines[:3] == ["deliberate line before", "python-level warning", "deliberate line after"]
    assert lines[-1] == "ImportError: probe failed"
    assert not any(m in r.stderr for m in MARKERS)


def test_real_tensorflow_startup_lines_are_filtered(tmp_path):
    """The real import: TensorFlow prints its start-up lines despite TF_CPP_MIN_LOG_LEVEL=2 (the control,
    a plain import), and none reaches stderr through ``quiet_import``; a line written to fd 2 during the
    import still does."""
    _probe(tmp_path, """
        import os
        os.write(2, b"deliberate line before keras\\n")
        import keras
        os.write(2, b"deliberate line after keras\\n")
    """)
    env = {"TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}
    plain = _run(tmp_path, "import ember_probe", **env)
    assert plain.returncode == 0, plain.stderr
    quiet = _run(tmp_path, "from ember_dist.model.runtime import quiet_import; quiet_import('ember_probe')", **env)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr.splitlines() == ["deliberate line before keras", "deliberate line after keras"]
    assert not any(m in quiet.stderr for m in MARKERS)
    if not any(m in plain.stderr for m in MARKERS):  # the control: seen on Intel AVX-512, silent on AMD EPYC (AVX2)
        pytest.skip("TensorFlow printed no start-up lines on this CPU, so the filter had nothing to remove "
                    "(the deliberate lines passed through it, checked above)")
    assert "absl::InitializeLog" in plain.stderr and "oneDNN custom operations" in plain.stderr
