# SPDX-License-Identifier: BSD-3-Clause
"""The deep-learning runtime (Keras, TensorFlow), imported once and without its start-up lines.

Importing TensorFlow 2.21 (directly, or as Keras's backend) writes lines such as::

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:1796271633.675684   23949 port.cc:153] oneDNN custom operations are on. ...

to the process's stderr, twice (two shared libraries each carry a copy of absl), in every
``ember-dist`` command and every Dask worker that loads a model.  They are written by C++ static
initialisers while the libraries load, before TensorFlow's logging is configured, so
``TF_CPP_MIN_LOG_LEVEL``, ``ABSL_MIN_LOG_LEVEL`` and ``GLOG_minloglevel`` do not reach them, and
Python's ``sys.stderr`` is never involved.  The only handle is the file descriptor itself:
:func:`quiet_import` points fd 2 at a temporary file during the import, then writes every line
that is not one of the known start-up lines (:data:`STARTUP_LINES`) to the real stderr, so
warnings and errors raised during the import still appear (after it, in their order).

Every module of ember_dist that imports Keras or TensorFlow does it through :func:`import_keras` or
:func:`import_tensorflow`; the first such call pays for the import, later calls are dictionary
look-ups.  ``TF_CPP_MIN_LOG_LEVEL=0`` in the environment switches the filter off.
"""
from __future__ import annotations

import importlib
import os
import re
import sys
import tempfile
import threading

__all__ = ["import_keras", "import_tensorflow", "quiet_import", "filter_startup_lines", "STARTUP_LINES"]

# absl/glog prefix of a C++ log line: severity + MMDD, time, thread id, file:line]
_GLOG = r"[IWEF]\d{4} [\d:.]+\s+\d+ [\w.\-/]+:\d+\] "

#: The start-up lines removed (regular expressions matched against a whole line).
STARTUP_LINES = tuple(re.compile(p) for p in (
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    _GLOG + r"oneDNN custom operations are on\. .*",
    _GLOG + r"This TensorFlow binary is optimized to use available CPU instructions in performance-critical "
            r"operations\.",
    r"To enable the following instructions: .*, in other operations, rebuild TensorFlow with the appropriate "
    r"compiler flags\.",
    _GLOG + r"Unable to register (cuDNN|cuFFT|cuBLAS) factory: Attempting to register factory for plugin "
            r"\1 when one has already been registered",
))

_LOCK = threading.RLock()  # one import at a time may own fd 2 (model loads run in worker threads)
_depth = 0  # nesting of quiet_import in the thread holding _LOCK: only the outermost redirects fd 2
_imported = set()  # names quiet_import has finished importing: later calls only look them up


def filter_startup_lines(data):
    """``data`` (bytes written to stderr) without the lines matching :data:`STARTUP_LINES`."""
    kept = []
    for line in data.splitlines(keepends=True):
        text = line.rstrip(b"\r\n").decode("utf-8", "replace")
        if not any(p.fullmatch(text) for p in STARTUP_LINES):
            kept.append(line)
    return b"".join(kept)


def quiet_import(name):
    """``importlib.import_module(name)``, with the runtime's start-up lines kept off stderr (fd 2).

    Output written to fd 2 during the import (by C++ or Python) is held in a temporary file and
    written to the real stderr when the import returns or raises, less the known start-up lines.
    """
    global _depth
    module = sys.modules.get(name) if name in _imported else None
    if module is not None:
        return module
    with _LOCK:
        if _depth or os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
            return importlib.import_module(name)
        try:
            held = tempfile.TemporaryFile()
        except OSError:  # nowhere to hold the output: import as is
            return importlib.import_module(name)
        with held:
            _flush()
            try:
                saved = os.dup(2)
            except OSError:  # no stderr to protect
                return importlib.import_module(name)
            os.dup2(held.fileno(), 2)
            _depth += 1
            try:
                module = importlib.import_module(name)
                _imported.add(name)
                return module
            finally:
                _depth -= 1
                _flush()
                os.dup2(saved, 2)
                os.close(saved)
                held.seek(0)
                _write_all(2, filter_startup_lines(held.read()))


def import_keras():
    """The ``keras`` module (imported through :func:`quiet_import`)."""
    return quiet_import("keras")


def import_tensorflow():
    """The ``tensorflow`` module (imported through :func:`quiet_import`)."""
    return quiet_import("tensorflow")


def _flush():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass


def _write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]
