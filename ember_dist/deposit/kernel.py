# SPDX-License-Identifier: BSD-3-Clause
"""Mass-conserving deposit of particles onto a periodic 2D grid with a projected SPH kernel.

Kernel: the 3D cubic spline of Monaghan & Lattanzio (1985) with support
``2 h``, ``W(r, h) = w(r/h) / (pi h^3)``, ``w(q) = 1 - 1.5 q^2 + 0.75 q^3``
(q < 1), ``0.25 (2 - q)^3`` (1 <= q < 2), 0 beyond.  Projected along the line
of sight it becomes ``Sigma(R) = F(R/h) / h^2`` with ``F`` tabulated once
(:func:`cubic_spline_projected`) and normalised so that ``int 2 pi s F ds = 1``.

Pixel integration, per particle, with ``Hp = 2 h / pixel`` the support radius in pixels:

* ``Hp >= 1``: ``F`` is sampled at ``s x s`` points inside every pixel the
  support touches (``s = ceil(4 / Hp)`` clipped to 1..4, pixel centres when
  ``Hp >= 4``);
* ``Hp < 1`` (kernels near or below the pixel size): ``F`` is sampled on an
  8 x 8 grid of cell centres spanning the support, in kernel coordinates,
  and each sample is binned into the pixel that contains it;
* if no sample carries weight (a kernel far below a pixel), the whole mass
  goes to the pixel holding the particle.

The weights are then divided by their sum, so each particle deposits exactly
its mass (mass is conserved to float64 rounding).  Pixel indices wrap around
the periodic edges.  Sums accumulate in float64.

Examples
--------
>>> import numpy as np
>>> out = np.zeros((8, 8))
>>> deposit_slab(np.array([[7.9, 0.1]]), np.array([1.5]), np.array([2.0]), 8, 1.0, out=out)
>>> round(float(out.sum()), 12), bool(out[0, 0] > 0 and out[7, 7] > 0)
(2.0, True)
"""
from __future__ import annotations

import numba
import numpy as np
from scipy import integrate

__all__ = ["cubic_spline", "cubic_spline_projected", "wendland_c2_2d", "kernel_table", "KERNELS", "deposit_slab", "TABLE_SIZE"]

#: Samples of the projected-kernel table on s in [0, 2].
TABLE_SIZE = 4097


def cubic_spline(q):
    """Dimensionless 3D cubic spline ``w(q)`` (``W = w / (pi h^3)``), support q < 2."""
    q = np.asarray(q, dtype=np.float64)
    return np.where(q < 1, 1 - 1.5 * q**2 + 0.75 * q**3, np.where(q < 2, 0.25 * (2 - q) ** 3, 0.0))


_TABLE = None


def cubic_spline_projected():
    """Table of the projected kernel ``F(s)``, s = R/h on ``linspace(0, 2, TABLE_SIZE)``.

    ``Sigma(R) = F(R/h) / h^2`` is the column integral of the unit-mass 3D
    kernel, normalised so that ``int_0^2 2 pi s F(s) ds = 1``.

    Returns
    -------
    ndarray, shape (TABLE_SIZE,)
    """
    global _TABLE
    if _TABLE is None:
        s = np.linspace(0.0, 2.0, TABLE_SIZE)
        x, wq = np.polynomial.legendre.leggauss(64)
        # integrate w(sqrt(s^2 + z^2)) over z in [0, zmax], split where q = 1 (w is piecewise smooth)
        z1 = np.sqrt(np.clip(1.0 - s * s, 0.0, None))
        z2 = np.sqrt(np.clip(4.0 - s * s, 0.0, None))
        f = np.zeros_like(s)
        for a, b in ((np.zeros_like(s), z1), (z1, z2)):
            half = 0.5 * (b - a)
            z = a[:, None] + half[:, None] * (x[None, :] + 1.0)
            f += half * (cubic_spline(np.hypot(s[:, None], z)) @ wq)
        f *= 2.0 / np.pi
        norm = integrate.simpson(2 * np.pi * s * f, x=s)
        _TABLE = f / norm
    return _TABLE


def wendland_c2_2d():
    """Table of the 2D Wendland C2 kernel (Dehnen & Aly 2012) with support ``2 h``.

    ``F(s) = C (1 - s/2)^4 (1 + 2 s)`` on s = R/h in [0, 2], normalised to unit
    mass.  This is the kernel swiftsimio's projection backends use (with their
    ``H = kernel_gamma * h_swift``); it is here to cross-check the deposit
    against swiftsimio, not as the default.

    Returns
    -------
    ndarray, shape (TABLE_SIZE,)
    """
    s = np.linspace(0.0, 2.0, TABLE_SIZE)
    q = s / 2.0
    f = (1.0 - q) ** 4 * (1.0 + 4.0 * q)
    return f / integrate.simpson(2 * np.pi * s * f, x=s)


#: Kernel names accepted by :func:`deposit_slab` and their table builders.
KERNELS = {"cubic_spline": cubic_spline_projected, "wendland_c2_2d": wendland_c2_2d}


def kernel_table(kernel):
    """The projected-kernel table of a kernel name in :data:`KERNELS`."""
    if kernel not in KERNELS:
        raise ValueError(f"kernel={kernel!r} is not known; pass one of {sorted(KERNELS)!r}.")
    return KERNELS[kernel]()


@numba.njit(cache=True, nogil=True)
def _table_value(table, s):
    if s >= 2.0:
        return 0.0
    u = s * (table.shape[0] - 1) / 2.0
    i = int(u)
    if i >= table.shape[0] - 1:
        return table[table.shape[0] - 1]
    t = u - i
    return table[i] * (1.0 - t) + table[i + 1] * t


@numba.njit(cache=True, nogil=True)
def _deposit(px, py, hsml, mass, n, dx, table, out):
    """Core loop; px, py in pixel units (any real value), hsml in pixel units."""
    npart = px.shape[0]
    maxr = 0.0
    for p in range(npart):
        if hsml[p] > maxr:
            maxr = hsml[p]
    side = 2 * int(np.ceil(2.0 * maxr)) + 4
    buf = np.zeros((side, side))
    for p in range(npart):
        x = px[p]
        y = py[p]
        h = hsml[p]
        m = mass[p]
        H = 2.0 * h
        i0 = int(np.floor(x - H))
        j0 = int(np.floor(y - H))
        i1 = int(np.floor(x + H))
        j1 = int(np.floor(y + H))
        ni = i1 - i0 + 1
        nj = j1 - j0 + 1
        wsum = 0.0
        if H >= 1.0:
            s = int(np.ceil(4.0 / H))
            if s < 1:
                s = 1
            if s > 4:
                s = 4
            inv_h = 1.0 / h
            if s == 1:  # fast path: pixel centres, only inside the support circle
                H2 = H * H
                last = table.shape[0] - 1
                scale = 0.5 * last * inv_h
                for jj in range(nj):
                    dy = j0 + jj + 0.5 - y
                    dy2 = dy * dy
                    for ii in range(ni):
                        ddx = i0 + ii + 0.5 - x
                        r2 = ddx * ddx + dy2
                        w = 0.0
                        if r2 < H2:
                            u = np.sqrt(r2) * scale
                            k = int(u)
                            if k < last:
                                t = u - k
                                w = table[k] * (1.0 - t) + table[k + 1] * t
                        buf[jj, ii] = w
                        wsum += w
            for jj in range(nj if s > 1 else 0):
                for ii in range(ni):
                    acc = 0.0
                    for b in range(s):
                        yc = j0 + jj + (b + 0.5) / s
                        for a in range(s):
                            xc = i0 + ii + (a + 0.5) / s
                            r = np.sqrt((xc - x) ** 2 + (yc - y) ** 2)
                            acc += _table_value(table, r * inv_h)
                    buf[jj, ii] = acc
                    wsum += acc
        else:
            for jj in range(nj):
                for ii in range(ni):
                    buf[jj, ii] = 0.0
            if h > 0.0:
                k = 4
                step = H / k
                for b in range(2 * k):
                    oy = (b - k + 0.5) * step
                    yc = y + oy
                    for a in range(2 * k):
                        ox = (a - k + 0.5) * step
                        xc = x + ox
                        r = np.sqrt(ox * ox + oy * oy)
                        w = _table_value(table, r / h)
                        if w > 0.0:
                            ii = int(np.floor(xc)) - i0
                            jj = int(np.floor(yc)) - j0
                            if ii < 0:
                                ii = 0
                            if jj < 0:
                                jj = 0
                            if ii >= ni:
                                ii = ni - 1
                            if jj >= nj:
                                jj = nj - 1
                            buf[jj, ii] += w
                            wsum += w
        if wsum > 0.0:
            f = m / wsum
            for jj in range(nj):
                gj = (j0 + jj) % n
                for ii in range(ni):
                    w = buf[jj, ii]
                    if w != 0.0:
                        out[gj, (i0 + ii) % n] += f * w
        else:
            out[int(np.floor(y)) % n, int(np.floor(x)) % n] += m


def deposit_slab(pos2d, hsml, mass, n, pixel_size, out=None, kernel="cubic_spline"):
    """Deposit particles onto a periodic ``n x n`` map, mass per pixel.

    Parameters
    ----------
    pos2d : ndarray, shape (N, 2), ckpc/h
        (column, row) coordinates, i.e. map ``x`` then map ``y``, in ``[0, n * pixel_size)``
        (values outside wrap periodically).
    hsml : ndarray, shape (N,), ckpc/h
        Smoothing lengths (kernel support ``2 hsml``).
    mass : ndarray, shape (N,), Msun/h
    n : int
        Pixels per side.
    pixel_size : float, ckpc/h
    out : ndarray, shape (n, n), float64, optional
        Accumulated into in place (rows = y, columns = x).
    kernel : {"cubic_spline", "wendland_c2_2d"}, default: "cubic_spline"
        Projected kernel; both have support ``2 hsml``.

    Returns
    -------
    ndarray, shape (n, n), float64, Msun/h per pixel, or None
        The new map; None when ``out`` was given (the map is accumulated there).
    """
    pos2d = np.ascontiguousarray(pos2d, dtype=np.float64)
    hsml = np.ascontiguousarray(hsml, dtype=np.float64)
    mass = np.ascontiguousarray(mass, dtype=np.float64)
    if pos2d.ndim != 2 or pos2d.shape[1] != 2 or len(hsml) != len(pos2d) or len(mass) != len(pos2d):
        raise ValueError(
            f"pos2d {pos2d.shape!r}, hsml {hsml.shape!r} and mass {mass.shape!r} must be (N, 2), (N,), (N,)."
        )
    if np.any(~np.isfinite(hsml)) or np.any(hsml < 0):
        raise ValueError("hsml holds negative or non-finite smoothing lengths; compute them with smoothing_lengths().")
    table = kernel_table(kernel)
    given = out is not None
    if out is None:
        out = np.zeros((int(n), int(n)))
    elif out.shape != (n, n) or out.dtype != np.float64:
        raise ValueError(f"out has shape {out.shape!r} and dtype {out.dtype}; it must be ({n}, {n}) float64.")
    inv = 1.0 / pixel_size
    px = np.mod(pos2d[:, 0] * inv, n)
    py = np.mod(pos2d[:, 1] * inv, n)
    if len(px):
        _deposit(px, py, hsml * inv, mass, int(n), 1.0, table, out)
    return None if given else out
