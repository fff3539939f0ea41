# SPDX-License-Identifier: BSD-3-Clause
"""Starting local worker processes safely: the ``__main__`` guard check, and Ctrl-C reaching only the client.

Dask starts the workers of a local cluster with the ``spawn`` start method by default: each worker
process re-imports the user's ``__main__`` script.  A script that calls ``enrich_box`` (or
``connect("local")``) at its top level, outside ``if __name__ == "__main__":``, would run again in
every worker, and Dask would fail after a while with "Nanny failed to start".
:func:`check_main_guard` refuses such a call at once, with the fix.
"""
from __future__ import annotations

import contextlib
import signal
import sys
import threading
from pathlib import Path

__all__ = ["check_main_guard", "sigint_ignored"]


def _guarded_lines(path):
    """Line ranges of the ``if __name__ == "__main__":`` blocks of the script at ``path``."""
    import ast

    try:
        tree = ast.parse(Path(path).read_text(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return None
    ranges = []
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            names = {n.id for n in ast.walk(node.test) if isinstance(n, ast.Name)}
            consts = {n.value for n in ast.walk(node.test) if isinstance(n, ast.Constant)}
            if "__name__" in names and "__main__" in consts:
                ranges.append((node.lineno, node.end_lineno))
    return ranges


def _unguarded_call():
    """``(script, line)`` when this call comes from a script's top level outside ``if __name__ == "__main__":``.

    Looks at the outermost frame of the ``__main__`` script (the line the script is executing) and
    at the script's source; None for interactive sessions, notebooks, ``python -c`` and guarded calls.
    The workers of a local cluster re-import that script (``spawn``/``forkserver`` start methods), so
    an unguarded call would start clusters in every worker.
    """
    import inspect

    frame, top = inspect.currentframe(), None
    while frame is not None:
        if frame.f_code.co_name == "<module>":
            name = frame.f_globals.get("__name__")
            if name == "__mp_main__":  # inside a worker process that re-imports the script
                return frame.f_code.co_filename, frame.f_lineno
            if name == "__main__":
                top = frame
        frame = frame.f_back
    if top is None:
        return None
    script, line = top.f_code.co_filename, top.f_lineno
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    if not main_file or Path(main_file).resolve() != Path(script).resolve():
        return None  # code run by a notebook kernel, an IDE or exec(): nothing re-imports it
    ranges = _guarded_lines(script)
    if ranges is None or any(a <= line <= b for a, b in ranges):
        return None
    return script, line


def check_main_guard(what="connect('local')"):
    """Raise at once when ``what`` would start local worker processes from an unguarded script.

    Under the ``spawn`` and ``forkserver`` start methods (Dask's default is ``spawn``) each worker
    process re-imports the ``__main__`` script; without an ``if __name__ == "__main__":`` guard it
    would run the script's work again, and Dask would fail later with "Nanny failed to start".
    """
    import dask

    method = dask.config.get("distributed.worker.multiprocessing-method", "spawn")
    if method not in ("spawn", "forkserver"):
        return
    where = _unguarded_call()
    if where is None:
        return
    script, line = where
    raise RuntimeError(
        f"{what} starts local Dask worker processes, which re-import your script {script!r}, and line {line} of "
        f"it runs outside an `if __name__ == \"__main__\":` block: put the script's work under that guard, or pass "
        "client=... for a cluster you started yourself."
    )


@contextlib.contextmanager
def sigint_ignored():
    """Ignore SIGINT while worker processes start: they inherit it, so Ctrl-C (sent by the terminal to the
    whole process group) reaches only this process, which stops them in order instead of each worker
    printing a KeyboardInterrupt traceback.  Workers a nanny restarts later do not inherit it."""
    main = threading.current_thread() is threading.main_thread()
    old = signal.getsignal(signal.SIGINT) if main else None
    if main:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        if main:
            signal.signal(signal.SIGINT, old)
