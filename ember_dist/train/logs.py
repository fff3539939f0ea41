# SPDX-License-Identifier: BSD-3-Clause
"""What a training run logs as it goes: ``metrics.csv`` rows, TensorBoard scalars and sample images.

``<work>/metrics.csv`` has one row per logged step, with the columns of the latest row; a resumed
run drops the rows past its checkpoint before appending (they are written again).  The scalars go
to ``<work>/tensorboard`` through :class:`~ember_dist.train._tf_step.ScalarWriter`, opened on the
first logged step.  :func:`~ember_dist.train.diagnostics.read_metrics` reads the csv back.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> path = Path(tempfile.mkdtemp()) / "metrics.csv"
>>> for step in (1, 2, 3, 2):  # the last: a run resumed at step 1 logs step 2 again
...     append_metrics_row(path, {"step": step, "loss": 1.0 / step})
>>> print(path.read_text().replace("\\r", ""), end="")
step,loss
1,1.0
2,0.5
>>> import shutil; shutil.rmtree(path.parent)
"""
from __future__ import annotations

import csv
from pathlib import Path

__all__ = ["append_metrics_row", "RunLog", "plot_sample"]


def append_metrics_row(path, row):
    """Append ``row`` (``{"step": ..., metric: value}``) to the csv ``path``, dropping rows of that step and later."""
    rows = []
    if path.is_file():  # drop rows past a resumed step (written after the last checkpoint)
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["step"]) < row["step"]]
    keys = list(row)
    rows.append(row)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def _scalar_writer(logdir):
    """TensorFlow's TensorBoard writer, or ``False`` (said once) where TensorFlow is not installed (a JAX run)."""
    import importlib.util
    import logging

    if importlib.util.find_spec("tensorflow") is None:
        logging.getLogger("ember_dist").warning(
            "TensorBoard scalars are written with TensorFlow, which is not installed: the metrics go to "
            "metrics.csv only (pass tensorboard=False to TrainConfig to silence this)")
        return False
    from ember_dist.train._tf_step import ScalarWriter

    return ScalarWriter(logdir)


class RunLog:
    """The logged metrics of a run in ``work``: ``metrics.csv`` and, with ``tensorboard``, TensorBoard scalars."""

    def __init__(self, work, tensorboard):
        self.work, self.tensorboard = Path(work), bool(tensorboard)
        self._tb = None

    def write(self, step, wall_s, metrics):
        """Log ``metrics`` of ``step`` after ``wall_s`` seconds of training."""
        append_metrics_row(self.work / "metrics.csv", {"step": step, "wall_s": wall_s, **metrics})
        if self.tensorboard:
            if self._tb is None:
                self._tb = _scalar_writer(self.work / "tensorboard")
            if self._tb is not False:
                self._tb.write(step, metrics)

    def close(self):
        """Close the TensorBoard writer (a later :meth:`write` opens it again)."""
        if self._tb:
            self._tb.close()
            self._tb = None


def plot_sample(path, dm, truth, pred, field, kind, step):
    """Draw dm / truth / prediction of up to two tiles ``(n, ny, nx, 1)`` (normalised units) to the PNG ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(exist_ok=True)
    n = min(2, truth.shape[0])
    fig, ax = plt.subplots(n, 3, figsize=(7.5, 2.5 * n), squeeze=False)
    vmax = float(max(truth[:n].max(), pred[:n].max(), 1e-6))
    for r in range(n):
        for c, (img, title) in enumerate([(dm[r, ..., 0], "dm (normalised)"),
                                          (truth[r, ..., 0], f"{field} truth"),
                                          (pred[r, ..., 0], f"{field} {kind}")]):
            ax[r, c].imshow(img, origin="lower", vmin=0, vmax=None if c == 0 else vmax)
            ax[r, c].set_title(title, fontsize=8)
            ax[r, c].axis("off")
    fig.suptitle(f"step {step}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
