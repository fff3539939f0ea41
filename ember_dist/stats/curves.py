# SPDX-License-Identifier: BSD-3-Clause
"""Comparing statistic curves sampled at different x (P(k) of boxes of different sizes has different k bins).

One log-log interpolation for every comparison of two such curves: the report's figures, its errors against a
reference box, ``tools/application_vs_references.py``.  ``np.interp`` in log space rather than
``scipy.interpolate``: a power law between two bins is what P(k), a PDF's tail and a CDDF are locally, and the
curves are monotonic in x; outside the sampled range the answer is NaN, never a flat or extrapolated value.
"""
from __future__ import annotations

import numpy as np

__all__ = ["interp_loglog"]


def interp_loglog(x, y, at):
    """``y(x)`` interpolated in log-log at ``at`` (NaN outside x's positive range).

    Only the points with ``x > 0`` and finite ``y > 0`` are used; exact on a power law:

    >>> x = np.array([1.0, 2.0, 4.0, 8.0])
    >>> interp_loglog(x, 3.0 * x ** -2.5, [1.5, 5.0, 9.0]) / (3.0 * np.array([1.5, 5.0, 9.0]) ** -2.5)
    array([ 1.,  1., nan])
    """
    x, y, at = (np.asarray(v, np.float64) for v in (x, y, at))
    ok = (x > 0) & (y > 0) & np.isfinite(y)
    out = np.full(at.shape, np.nan)
    if ok.sum() < 2:
        return out
    inside = (at >= x[ok].min() * (1 - 1e-9)) & (at <= x[ok].max() * (1 + 1e-9))
    out[inside] = np.exp(np.interp(np.log(at[inside]), np.log(x[ok]), np.log(y[ok])))
    return out
