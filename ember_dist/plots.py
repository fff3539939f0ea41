# SPDX-License-Identifier: BSD-3-Clause
"""Map figures (PNG): panels of mass maps side by side on a log colour scale."""
from __future__ import annotations

import numpy as np

__all__ = ["map_panels"]


def map_panels(panels, path, title=None, pixel_size=None, dpi=110):
    """Save maps side by side as a PNG.

    Parameters
    ----------
    panels : dict of str -> 2D ndarray, Msun/h per pixel
        Panel title -> map; each panel gets its own log10 colour scale (1st-99.9th percentile).
    path : str or Path
        Output PNG.
    pixel_size : float, ckpc/h, optional
        Axes in cMpc/h when given, else in pixels.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4.2), constrained_layout=True, squeeze=False)
    for ax, (name, m) in zip(axes[0], panels.items()):
        m = np.asarray(m, dtype=np.float64)
        pos = m[m > 0]
        lo, hi = (np.percentile(pos, [1, 99.9]) if pos.size else (1.0, 10.0))
        extent = None
        if pixel_size:
            extent = [0, m.shape[1] * pixel_size / 1000, 0, m.shape[0] * pixel_size / 1000]
            ax.set_xlabel("x [cMpc/h]")
            ax.set_ylabel("y [cMpc/h]")
        im = ax.imshow(np.log10(np.clip(m, lo, hi)), origin="lower", cmap="magma", extent=extent,
                       interpolation="nearest")
        ax.set_title(name)
        fig.colorbar(im, ax=ax, shrink=0.8, label=r"$\log_{10}$ M [M$_\odot$/h per pixel]")
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
