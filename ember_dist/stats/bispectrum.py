# SPDX-License-Identifier: BSD-3-Clause
"""2D bispectrum by the FFT shell estimator: equilateral by default, any triangle.

Examples
--------
>>> import numpy as np
>>> m = np.random.default_rng(0).lognormal(size=(32, 32))
>>> ds = bispectrum(m, box_size=320.0)
>>> ds["bispectrum"].dims, bool(np.all(ds["n_triangles"] > 0))
(('triangle',), True)
>>> bispectrum(m, box_size=320.0, triangles=[[0.1, 0.1, 0.5]])
Traceback (most recent call last):
...
ValueError: triangle 0 (k1, k2, k3) = [0.1, 0.1, 0.5] h/ckpc violates the triangle inequality; pass sides with k3 <= k1 + k2
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import xarray as xr

from ._common import finalize, as_map, is_dask

__all__ = ["bispectrum", "triangle_counts"]


def _kgrid_half(n):
    """|k| in units of k_F on the rfft half plane of an n x n grid (exact for integers)."""
    iy = np.fft.fftfreq(n, 1.0 / n)
    ix = np.arange(n // 2 + 1, dtype=np.float64)
    return np.sqrt(iy[:, None] ** 2 + ix[None, :] ** 2)


def _shell(kk, centre, width):
    """Indicator of the modes with centre - width/2 <= |k| < centre + width/2 (k_F units)."""
    return ((kk >= centre - width / 2) & (kk < centre + width / 2)).astype(np.float64)


@lru_cache(maxsize=64)
def _counts_on_grid(n, tri, width):
    kk = _kgrid_half(n)
    shells = {}
    out = []
    for t in tri:
        for c in t:
            if c not in shells:
                shells[c] = np.fft.irfft2(_shell(kk, c, width), s=(n, n))
        i1, i2, i3 = (shells[c] for c in t)
        out.append(round(float(np.sum(i1 * i2 * i3)) * n**4))
    return tuple(out)


def triangle_counts(tri, width, n):
    """Number of ordered mode triples q1 + q2 + q3 = 0 with q_i in shell i.

    Parameters
    ----------
    tri : sequence of (c1, c2, c3)
        Shell centres in units of k_F.
    width : float
        Shell width in units of k_F.
    n : int
        Grid side, pixels.

    Returns
    -------
    tuple of int

    Notes
    -----
    Counts do not depend on the data and, when every shell lies below 2/3 of the
    Nyquist frequency (no aliased triangles), not on ``n`` either: they are then
    computed once on the smallest such grid and cached.

    Examples
    --------
    >>> triangle_counts([(3.0, 3.0, 3.0)], 1.0, 64) == triangle_counts([(3.0, 3.0, 3.0)], 1.0, 4096)
    True
    """
    tri = tuple(tuple(float(c) for c in t) for t in tri)
    rmax = max(max(t) for t in tri) + width / 2
    small = int(np.ceil(3 * rmax)) + 2
    small += small % 2
    return _counts_on_grid(min(n, max(small, 8)) if small < n else n, tri, float(width))


def _full_plane_modes(half, n):
    """Modes of the full n x n plane that a Hermitian-symmetric indicator on the rfft half plane selects: the
    columns ix = 0 (and ix = n/2 for even n) once, every other column twice (its mirror -ix)."""
    w = np.full(half.shape[-1], 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    return float(half.sum(axis=0) @ w)


def _bispec_map(m, tri, width, counts, overdensity):
    """[B (raw units: sum F1F2F3 / count * N^4), P1, P2, P3 (sum |D|^2 / modes)] per triangle."""
    m = np.asarray(m, dtype=np.float64)
    n = m.shape[-1]
    if overdensity:
        m = m / m.mean() - 1.0
    d = np.fft.rfft2(m)
    kk = _kgrid_half(n)
    cache = {}

    def fields(c):
        if c not in cache:
            if len(cache) >= 3:
                cache.pop(next(iter(cache)))
            s = _shell(kk, c, width)
            f = np.fft.irfft2(d * s, s=(n, n))
            # sum I^2 of the shell's indicator by Parseval: its full-plane mode count / N^2 (no second transform)
            cache[c] = (f, float(np.sum(f * f)) / (_full_plane_modes(s, n) / float(n) ** 2))
        return cache[c]

    out = np.zeros((len(tri), 4))
    for j, t in enumerate(tri):
        (f1, p1), (f2, p2), (f3, p3) = (fields(c) for c in t)
        # sum F1 F2 F3 as one product and a dot: numpy's f**3 goes through pow() (22 ms per 512^2 map, 5x the
        # shell's inverse FFT)
        s = float(np.dot((f1 * f2).ravel(), f3.ravel()))
        out[j] = (s * n**4 / counts[j] if counts[j] else np.nan, p1, p2, p3)
    return out


def bispectrum(data, k=None, *, triangles=None, bin_width=1.0, box_size=None, overdensity=True,
               field=None, dims=None, **params):
    """Bispectrum B(k1, k2, k3) of a map or a stack, by the FFT shell estimator.

    Parameters
    ----------
    data : ndarray, dask.array.Array, xarray.DataArray or xarray.Dataset
        Mass per pixel (Msun/h), ``(..., y, x)``, square.
    k : array_like, h/ckpc, optional
        Sides of equilateral triangles. Default: up to 16 shells, evenly spaced from
        2 k_F to 2/3 of the Nyquist frequency.
    triangles : array_like, shape (M, 3), h/ckpc, optional
        General triangles (k1, k2, k3); overrides ``k``.
    bin_width : float
        Shell width in units of k_F = 2 pi / box_size.
    box_size : float, ckpc/h, optional
    overdensity : bool
        Bispectrum of delta = m / <m> - 1 (default) or of the mass map.
    field, dims, **params
        See :func:`ember_dist.stats._common.as_map`.

    Returns
    -------
    xarray.Dataset
        On ``triangle``: ``k1``, ``k2``, ``k3`` (h/ckpc, shell centres), ``n_triangles``.
        On leading dims + ``triangle``: ``bispectrum``, the shell powers ``power_1..3`` and
        the reduced ``Q = B / (P1 P2 + P2 P3 + P3 P1)``.

    Notes
    -----
    With D the unnormalised DFT, F_i = IFFT(D on shell i), I_i = IFFT(shell i indicator)
    (NumPy's 1/N^2 inverse): B = (L^2)^2 / N^6 sum F1 F2 F3 / sum I1 I2 I3. Shell i holds
    the modes with |k| in [k_i - w/2, k_i + w/2). Each map is transformed in one task
    (Dask inputs are processed map by map, so one map must fit a worker).
    """
    mi = as_map(data, dims=dims, field=field, box_size=box_size, **params)
    L = mi.param("box_size", "bispectrum")
    n = mi.npix
    kf = 2 * np.pi / L
    if triangles is None:
        if k is None:
            top = max(2.0, np.floor(n / 3.0 / bin_width) * bin_width)
            k = np.unique(np.round(np.linspace(2.0, top, 16) / bin_width) * bin_width) * kf
        k = np.atleast_1d(np.asarray(k, np.float64))
        triangles = np.stack([k, k, k], axis=-1)
    tri_k = np.atleast_2d(np.asarray(triangles, np.float64))
    if tri_k.ndim != 2 or tri_k.shape[1] != 3:
        raise ValueError(f"triangles must have shape (M, 3), got {tri_k.shape!r}")
    for j, t in enumerate(tri_k):
        s = np.sort(t)
        if s[2] > s[0] + s[1] + bin_width * kf:
            raise ValueError(
                f"triangle {j} (k1, k2, k3) = {t.tolist()!r} h/ckpc violates the triangle "
                "inequality; pass sides with k3 <= k1 + k2"
            )
    tri = tuple(tuple(float(c) for c in np.round(t / kf, 9)) for t in tri_k)
    counts = triangle_counts(tri, bin_width, n)
    a = mi.data

    def per_map(block):
        lead = block.shape[:-2]
        flat = block.reshape((-1,) + block.shape[-2:])
        res = np.stack([_bispec_map(x, tri, bin_width, counts, overdensity) for x in flat])
        return res.reshape(lead + (len(tri), 4))

    if is_dask(a):
        a = a.rechunk((1,) * (a.ndim - 2) + (n, n))
        res = a.map_blocks(per_map, dtype=np.float64,
                           chunks=a.chunks[:-2] + ((len(tri),), (4,)))
    else:
        res = per_map(np.asarray(a))
    area = L**2
    bnorm = area**2 / float(n) ** 6
    pnorm = area / float(n) ** 4
    b = res[..., 0] * bnorm
    p1, p2, p3 = (res[..., i] * pnorm for i in (1, 2, 3))
    dims_out = mi.lead_dims + ("triangle",)
    ds = xr.Dataset(coords=mi.lead_coords())
    ds = ds.assign_coords(triangle=("triangle", np.arange(len(tri))))
    for i, name in enumerate(("k1", "k2", "k3")):
        ds[name] = ("triangle", tri_k[:, i], {"units": "h/ckpc", "long_name": f"shell {i + 1} centre"})
    ds["n_triangles"] = ("triangle", np.asarray(counts, np.int64), {"units": "1"})
    bu = "(ckpc/h)^4" if overdensity else "(Msun/h)^3 (ckpc/h)^4"
    pu = "(ckpc/h)^2" if overdensity else "(Msun/h)^2 (ckpc/h)^2"
    ds["bispectrum"] = (dims_out, b, {"units": bu, "long_name": "bispectrum"})
    for i, p in enumerate((p1, p2, p3)):
        ds[f"power_{i + 1}"] = (dims_out, p, {"units": pu, "long_name": f"power in shell {i + 1}"})
    ds["Q"] = (dims_out, res[..., 0] * bnorm / (pnorm**2 * (res[..., 1] * res[..., 2] + res[..., 2] * res[..., 3]
                                                          + res[..., 3] * res[..., 1])),
               {"units": "1", "long_name": "reduced bispectrum B / (P1 P2 + P2 P3 + P3 P1)"})
    ds.attrs.update(box_size=L, n_pixels=n, bin_width_kf=float(bin_width), overdensity=int(bool(overdensity)),
                    convention="B = L^4 / N^6 sum F1 F2 F3 / sum I1 I2 I3 (FFT shell estimator)")
    return finalize(ds)
