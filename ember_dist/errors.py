# SPDX-License-Identifier: BSD-3-Clause
"""How an error message names the parameter that fixes it.

Library errors name their fix as a Python keyword (``pass tile=256``).  When the same error
reaches the command line, the user typed flags, not keywords, so the message must say
``--tile 256``.  Library code spells parameters through :func:`spell`; the ``ember-dist``
command runs each subcommand inside :func:`command_spelling`, which maps parameter names to
that subcommand's flags (built from its argparse parser, in one place: ``ember_dist.cli``).

Examples
--------
>>> spell("tile", 256), spell("overwrite", True), spell("variable")
('tile=256', 'overwrite=True', 'variable=...')
>>> flags = {"tile": Flag("--tile"), "overwrite": Flag("--overwrite", switch=True),
...          "model": Flag("--model", sep=","), "variable": Flag("--variable", metavar="NAME")}
>>> with command_spelling(flags):
...     spell("tile", 256), spell("overwrite", True), spell("model", {"gas": "a", "hi": "b"}), spell("variable")
('--tile 256', '--overwrite', '--model a,b', '--variable NAME')
>>> with command_spelling(flags):
...     spell("resume", True) is None, in_command()
(True, True)
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass

__all__ = ["Flag", "spell", "spell_or", "option", "command_spelling", "in_command", "alternatives"]

_FLAGS = contextvars.ContextVar("ember_dist_command_flags", default=None)


@dataclass(frozen=True)
class Flag:
    """A command-line option: its name, whether it takes no value, and how several values are joined."""

    option: str
    switch: bool = False
    sep: str = " "
    metavar: str = "..."


def _python(name, value):
    if value is Ellipsis:
        return f"{name}=..."
    return f"{name}={value!r}"


def _cli(flag, value):
    if flag.switch:
        return flag.option
    if value is Ellipsis:
        return f"{flag.option} {flag.metavar}"
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        value = flag.sep.join(str(v) for v in value)
    return f"{flag.option} {value}"


def spell(name, value=Ellipsis):
    """``name=value`` as the user passes it here: a Python keyword, or the flag of the running command.

    Returns None when a command runs that has no flag for ``name`` (the caller leaves that hint out).
    """
    flags = _FLAGS.get()
    if flags is None:
        return _python(name, value)
    flag = flags.get(name)
    return None if flag is None else _cli(flag, value)


def spell_or(name, value=Ellipsis, fallback=""):
    """:func:`spell`, or ``fallback`` when the running command has no flag for ``name``."""
    s = spell(name, value)
    return fallback if s is None else s


def option(name, python=None):
    """The bare name of parameter ``name``: ``--pixel`` in a command, else ``python`` (default ``name``).

    >>> option("align", "align=")
    'align='
    """
    flags = _FLAGS.get()
    if flags is None:
        return name if python is None else python
    flag = flags.get(name)
    return flag.option if flag is not None else (name if python is None else python)


def alternatives(*options):
    """Join ``(spelling, purpose)`` pairs whose spelling exists: ``"pass A to x, or B to y"``.

    >>> alternatives(("overwrite=True", "to replace it"), (None, "to resume"), ("another out=...", ""))
    'pass overwrite=True to replace it, or another out=...'
    """
    parts = [f"{s} {why}".rstrip() for s, why in options if s]
    if not parts:
        return ""
    return "pass " + (parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + ", or " + parts[-1])


def in_command():
    """True while an ``ember-dist`` command runs (errors then name flags)."""
    return _FLAGS.get() is not None


@contextlib.contextmanager
def command_spelling(flags):
    """Spell parameters as the flags in ``flags`` (``{parameter name: Flag}``) inside this block."""
    token = _FLAGS.set(dict(flags))
    try:
        yield
    finally:
        _FLAGS.reset(token)
