# SPDX-License-Identifier: BSD-3-Clause
"""3D power spectrum of particles in a periodic box: mass assignment, interlacing, deconvolution.

Why hand-written (about 60 lines of numpy): the libraries that do this are not usable here.
Pylians3 (``Pk_library``) compiles Cython/C extensions at install time; nbodykit is unmaintained
and needs MPI and Python <= 3.8; ``cosmax`` (PyPI, JAX) describes its API as unstable; powerbox
works on gridded fields only.  The estimator below is the textbook one (Hockney & Eastwood 1981;
Jing 2005 for the window; Sefusatti et al. 2016 for interlacing) and is tested on analytic cases
(a lattice displaced by one plane wave, a Poisson sample: ``tests/sim/test_validate.py``).

Conventions (as :mod:`ember_dist.stats.power` in 2D): ``delta_k = (L/N)^3 FFT(delta)``,
``P = |delta_k|^2 / L^3``; bin i covers ``[i, i + 1) k_F`` with ``k_F = 2 pi / L``, the DC mode
is dropped, ``k`` is the mean ``|k|`` of the bin's modes, ``n_modes`` counts every mode of the
full sphere (``k`` and ``-k`` both), so the Gaussian error of a bin is ``P sqrt(2 / n_modes)``.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(1)
>>> p = power_spectrum_3d(rng.random((20000, 3)) * 100.0, 100.0, 32)
>>> bool(abs(np.median(p["power"][:8]) * 20000 / 100.0**3 - 1) < 0.1)  # shot noise L^3/N
True
"""
from __future__ import annotations

import numpy as np

__all__ = ["assign", "power_spectrum_3d", "Shells", "SCHEMES"]

#: Mass-assignment schemes and the order p of their window ``W(k) = prod sinc(k_i H / 2)^p``.
SCHEMES = {"ngp": 1, "cic": 2, "tsc": 3}


def _weights(u, order):
    """Grid offsets and weights of one coordinate (in cell units) for an assignment of ``order``."""
    if order == 1:
        i = np.floor(u + 0.5).astype(np.int64)
        return [(i, np.ones_like(u))]
    if order == 2:
        i = np.floor(u).astype(np.int64)
        d = u - i
        return [(i, 1.0 - d), (i + 1, d)]
    i = np.floor(u + 0.5).astype(np.int64)
    d = u - i
    return [(i - 1, 0.5 * (0.5 - d) ** 2), (i, 0.75 - d**2), (i + 1, 0.5 * (0.5 + d) ** 2)]


def assign(pos, box, ngrid, scheme="cic", weights=None, shift=0.0):
    """Mass per cell of particles ``pos`` (N, 3) on an ``ngrid^3`` periodic grid; cell centres at ``i H``.

    ``shift`` (in cells) moves every particle by ``+shift`` cells first (interlacing uses 0.5).
    """
    order = SCHEMES[scheme]
    u = np.mod(np.asarray(pos, np.float64) / (box / ngrid) + shift, ngrid)
    w0 = np.ones(len(u)) if weights is None else np.asarray(weights, np.float64)
    grid = np.zeros(ngrid**3)
    per_dim = [_weights(u[:, d], order) for d in range(3)]
    for ix, wx in per_dim[0]:
        for iy, wy in per_dim[1]:
            for iz, wz in per_dim[2]:
                flat = ((ix % ngrid) * ngrid + iy % ngrid) * ngrid + iz % ngrid
                grid += np.bincount(flat, weights=w0 * wx * wy * wz, minlength=ngrid**3)
    return grid.reshape(ngrid, ngrid, ngrid)


def power_spectrum_3d(pos, box, ngrid, *, scheme="cic", interlace=True, weights=None, nbins=None):
    """Power spectrum of the (weighted) particle overdensity, deconvolved by the assignment window.

    Parameters
    ----------
    pos : (N, 3) array, same length unit as ``box`` (e.g. Mpc/h)
    box : float
    ngrid : int
        FFT grid per side (2-4x the particle lattice).
    scheme : {"ngp", "cic", "tsc"}
    interlace : bool
        Average with a grid shifted by half a cell (cancels the odd aliases; Sefusatti et al. 2016).
    weights : (N,) array, optional
        Particle masses (equal masses by default).
    nbins : int, optional
        Number of ``k_F``-wide bins (default: up to the grid's Nyquist frequency).

    Returns
    -------
    dict
        ``k`` (mean |k| per bin), ``power``, ``n_modes`` (full-sphere count), ``k_lo``, ``k_hi``,
        ``shot_noise`` (``L^3 sum w^2 / (sum w)^2``, not subtracted), ``k_nyquist_grid``.
    """
    pos = np.asarray(pos, np.float64)
    w = np.ones(len(pos)) if weights is None else np.asarray(weights, np.float64)
    order = SCHEMES[scheme]
    mean = w.sum() / ngrid**3
    dk = np.fft.rfftn(assign(pos, box, ngrid, scheme, w) / mean - 1.0)
    kf = 2.0 * np.pi / box
    k1 = np.fft.fftfreq(ngrid, 1.0 / ngrid) * kf
    kz = np.fft.rfftfreq(ngrid, 1.0 / ngrid) * kf
    kx, ky, kzz = np.meshgrid(k1, k1, kz, indexing="ij", sparse=True)
    if interlace:
        d2 = np.fft.rfftn(assign(pos, box, ngrid, scheme, w, shift=0.5) / mean - 1.0)
        half = 0.5 * box / ngrid
        dk = 0.5 * (dk + d2 * np.exp(1j * (kx + ky + kzz) * half))
    h = box / ngrid
    window = (np.sinc(kx * h / (2 * np.pi)) * np.sinc(ky * h / (2 * np.pi)) * np.sinc(kzz * h / (2 * np.pi))) ** order
    pk = np.abs(dk / window) ** 2 * (box / ngrid) ** 6 / box**3
    shells = Shells(ngrid, box, nbins)
    out = {"k": shells.k, "power": shells.mean(pk), "n_modes": shells.n_modes}
    nb, kf = shells.nbins, shells.kf
    out["k_lo"] = np.arange(1, nb + 1) * kf
    out["k_hi"] = out["k_lo"] + kf
    out["shot_noise"] = box**3 * float((w**2).sum() / w.sum() ** 2)
    out["k_nyquist_grid"] = np.pi * ngrid / box
    return out


class Shells:
    """``k_F``-wide shells of an ``ngrid^3`` rfft grid of a box ``box`` (bin i: ``[i, i + 1) k_F``, DC dropped).

    rfft stores ``kz >= 0`` only: the planes ``kz = 0`` and ``kz = Nyquist`` (even ``ngrid``) stand for
    themselves, the others for their mirror too, so every sum weights them twice; ``n_modes`` counts the full
    sphere and ``k`` is the mean ``|k|`` of each shell's modes.
    """

    def __init__(self, ngrid, box, nbins=None):
        self.kf = 2.0 * np.pi / box
        k1, kz = np.fft.fftfreq(ngrid, 1.0 / ngrid), np.fft.rfftfreq(ngrid, 1.0 / ngrid)  # in units of k_F
        units = np.sqrt(k1[:, None, None] ** 2 + k1[None, :, None] ** 2 + kz[None, None, :] ** 2)
        mult = np.full(kz.shape, 2.0)
        mult[0] = 1.0
        if ngrid % 2 == 0:
            mult[-1] = 1.0
        self.nbins = int(nbins or ngrid // 2)
        idx = np.floor(units).astype(np.int64)  # exact on integer units; i = 0 holds only the DC mode
        self._ok = (idx >= 1) & (idx <= self.nbins)
        self._idx = idx[self._ok]
        self._mult = np.broadcast_to(mult[None, None, :], units.shape)[self._ok]
        self.n_modes = self.sum(np.ones(units.shape))
        self.k = self.mean(units) * self.kf

    def sum(self, values):
        """Mode-weighted sum of ``values`` (an rfft-shaped array) per shell."""
        return np.bincount(self._idx, weights=self._mult * np.asarray(values)[self._ok],
                           minlength=self.nbins + 1)[1:]

    def mean(self, values):
        """Mean of ``values`` over each shell's modes (NaN for an empty shell)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.sum(values) / self.n_modes
