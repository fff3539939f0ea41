# SPDX-License-Identifier: BSD-3-Clause
"""The argparse help formatter shared by ``ember-dist`` and the subcommands that packages add to it.

A module of its own so that a package's subcommand (``ember_dist.deposit.cli``, ...) need not import
:mod:`ember_dist.cli`, which imports those subcommands in turn.
"""
from __future__ import annotations

import argparse

__all__ = ["HelpFormatter"]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default unless it is ``None``/``False`` or its help already says it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default in (None, False) or "default" in text:
            return text
        return super()._get_help_string(action)
