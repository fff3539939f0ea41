# SPDX-License-Identifier: BSD-3-Clause
"""Keep TensorFlow's start-up lines off the terminal.

``import tensorflow`` (which ``import keras`` does on the default backend) prints, from C++,
a "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
line and INFO lines such as "oneDNN custom operations are on".  Since TensorFlow moved those
messages to absl logging, ``TF_CPP_MIN_LOG_LEVEL`` no longer silences them (measured with
TensorFlow 2.21: level 2 still prints both, twice).

:func:`install` (called by ``import ember_dist``) sets ``TF_CPP_MIN_LOG_LEVEL=2`` unless the
user set it, and wraps the first ``import tensorflow`` of the process: while it runs, file
descriptor 2 goes to a temporary file; afterwards every line goes back to stderr except
absl INFO lines (``I0000 00:00:... file.cc:123] ...``) and the InitializeLog warning.  Nothing
else is dropped (warnings and errors pass, only later), and nothing is filtered when
``TF_CPP_MIN_LOG_LEVEL`` is 0, i.e. when the user asked for INFO logs.

Examples
--------
>>> _keep(b"I0000 00:00:1796.7 6843 port.cc:153] oneDNN custom operations are on.\\n")
False
>>> _keep(b"E0000 00:00:1796.7 6843 cuda.cc:12] failed to load libcuda\\n")
True
"""
from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

__all__ = ["install"]

_NOISE = (
    re.compile(rb"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"),
    re.compile(rb"^I\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] "),  # absl INFO line
)


def _keep(line):
    return not any(p.match(line) for p in _NOISE)


@contextlib.contextmanager
def _filtered_fd2():
    """Send fd 2 to a temporary file for the duration; then write back the lines worth keeping."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable fd 2: nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            kept = b"".join(line for line in tmp.read().splitlines(keepends=True) if _keep(line))
            if kept:
                os.write(2, kept)


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with _filtered_fd2():
            self._loader.exec_module(module)

    def __getattr__(self, name):  # resource readers, get_source, ...
        return getattr(self._loader, name)


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: hands the real spec of ``tensorflow`` back with a filtering loader, once."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2") in ("0", ""):
            return spec
        spec.loader = _QuietLoader(spec.loader)
        return spec


def install():
    """Set ``TF_CPP_MIN_LOG_LEVEL`` (default 2) and filter the first ``import tensorflow``; idempotent."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules or any(isinstance(f, _QuietFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietFinder())
