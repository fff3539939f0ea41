# SPDX-License-Identifier: BSD-3-Clause
"""Package defaults (``config.yaml``) installed into ``dask.config`` under ``ember_dist``.

>>> get("engine.halo")
'fastest'
>>> get("engine.halo", "auto")
'auto'
"""
from __future__ import annotations

from pathlib import Path

import dask
import yaml

__all__ = ["get"]

_DEFAULTS = yaml.safe_load((Path(__file__).with_name("config.yaml")).read_text())
dask.config.update_defaults(_DEFAULTS)


def get(key, value=None):
    """``value`` if given (not None), else ``dask.config`` ``ember_dist.<key>``."""
    return value if value is not None else dask.config.get(f"ember_dist.{key}")
