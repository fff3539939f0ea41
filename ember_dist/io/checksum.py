# SPDX-License-Identifier: BSD-3-Clause
"""sha256 of files, read in blocks (provenance of snapshots, bundles and post-processed files).

>>> import tempfile, os
>>> with tempfile.NamedTemporaryFile(delete=False) as f:
...     _ = f.write(b"abc")
>>> files_sha256(f.name)[:16]
'ba7816bf8f01cfea'
>>> os.remove(f.name)
"""
from __future__ import annotations

import hashlib

__all__ = ["files_sha256"]


def files_sha256(*paths, block=1 << 22):
    """Hex sha256 of the concatenated contents of ``paths`` (in order)."""
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(block), b""):
                h.update(chunk)
    return h.hexdigest()
