# SPDX-License-Identifier: BSD-3-Clause
"""HI column density distribution of a hydro snapshot: from deposited maps and from fake-spectra.

Maps: ``ember-dist deposit SNAP --fields hi`` (the project's own SPH deposit, smoothing length =
half the distance to the 80th neighbour) in ``slabs`` slabs per axis, then
:func:`ember_dist.stats.cddf.cddf` (every pixel of every slab one sightline of the slab's depth).
Cross-check: ``fake_spectra.spectra.Spectra`` (Bird et al., an independent SPH line-of-sight
code) on random sightlines of the same snapshot with the file's ``NeutralHydrogenAbundance``
(``sf_neutral=False``: no star-forming-gas override), its ``column_density_function`` with the
sightlines cut into ``slabs`` velocity chunks so that both count columns over the same depth.
fake-spectra needs per-particle ``Masses`` in the file and takes temperatures from ``InternalEnergy``:
it reads a scratch copy with ``Masses``; with ``SmoothingLength`` doubled and ``Density`` divided by 8
(fake-spectra takes half of SmoothingLength as its kernel's support and a particle's amount as
Density x support^3, but in Gadget-2 SmoothingLength is the whole support: ~DesNumNgb = 33
neighbours lie inside it in these snapshots; the HI fractions are the file's, so Density enters only
through the amount); and with ``InternalEnergy`` set from the post-processed
``Temperature`` (its own T(u) relation inverted), so its optical depths see the same gas as
:mod:`ember_dist.sim.lya` and its mean flux is an independent check of that code.  Measured on a
development box (2x24^3, 8 Mpc/h, the same 150 sightlines): integrated optical depth within 1%, mean
flux 0.590 (fake-spectra) vs 0.603 (lya) at z = 3 and 0.819 vs 0.821 at z = 2; before the kernel
adapter below, fake-spectra's median sightline column was 11% lower (half the kernel radius).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

from ember_dist.io.conventions import K_B_CGS, M_P_G, X_H

__all__ = ["map_cddf", "fake_spectra_cddf", "log_f_at", "LLS", "DLA", "COMPARE_AT"]

#: log10 N_HI where the report tabulates log10 f of maps, fake-spectra and Prochaska+14.
COMPARE_AT = (13.0, 14.0, 15.0)


def log_f_at(n, f, at=COMPARE_AT):
    """log10 f interpolated (linearly in log-log) at log10 N = ``at``; NaN outside the non-empty bins."""
    n, f = np.asarray(n, np.float64), np.asarray(f, np.float64)
    ok = f > 0
    if ok.sum() < 2:
        return [float("nan")] * len(at)
    x, y = np.log10(n[ok]), np.log10(f[ok])
    return [float(np.interp(a, x, y, left=np.nan, right=np.nan)) for a in at]

#: Lyman-limit (tau_912 = 1) and damped Lyman-alpha column thresholds, cm^-2.
LLS, DLA = 1.6e17, 2.0e20


def map_cddf(snap, work, pixel, slabs, lo=12.0, hi=22.0, per_dex=5, log=print):
    """Deposit ``snap``'s HI (``ember-dist deposit``) into ``work`` and return its CDDF and column stats."""
    import xarray as xr

    from ember_dist.stats.cddf import cddf, column_density_per_mass

    store = Path(work) / (Path(snap).parent.parent.name + "_" + Path(snap).stem + f"_hi_{slabs}slabs_{pixel:g}px.zarr")
    if not store.exists():
        cmd = [sys.executable, "-m", "ember_dist.cli", "deposit", str(snap), "--out", str(store), "--pixel", str(pixel),
               "--slabs", str(slabs), "--axes", "x", "y", "z", "--fields", "hi", "--no-progress"]
        log("  " + " ".join(cmd[2:]))
        subprocess.run(cmd, check=True)
    ds = xr.open_zarr(store, consolidated=False)
    res = cddf(ds, field="hi", lo=lo, hi=hi, per_dex=per_dex)
    a = ds.attrs
    n_per_m = column_density_per_mass(a["pixel_size"], a["redshift"], a["hubble"])
    hi_map = ds["hi"].values.astype(np.float64)
    cols = hi_map * n_per_m
    return {"N": res["N"].values.tolist(), "f": res["f"].values.tolist(), "counts": res["counts"].values.tolist(),
            "n_sightlines": int(res["n_sightlines"]), "dX": float(res.attrs["dX"]), "pixel_size": float(a["pixel_size"]),
            "slab_depth": float(a["slab_depth"]), "redshift": float(a["redshift"]), "max_column": float(cols.max()),
            "n_above_lls": int((cols >= LLS).sum()), "n_above_dla": int((cols >= DLA).sum()), "store": str(store)}


def _prepared_copy(snap, work):
    """A copy of ``snap`` laid out as fake-spectra reads it (``snap_NNN.hdf5`` with per-particle ``Masses``)."""
    num = int(Path(snap).stem.split("_")[-1])
    base = Path(work) / ("fs_" + Path(snap).parent.parent.name)
    dst = base / f"snap_{num:03d}.hdf5"
    if not dst.exists():
        base.mkdir(parents=True, exist_ok=True)
        tmp = Path(str(dst) + ".tmp")
        shutil.copyfile(snap, tmp)
        with h5py.File(tmp, "r+") as f:
            mt = f["Header"].attrs["MassTable"]
            for t in (0, 1):
                g = f.get(f"PartType{t}")
                if g is not None and "Masses" not in g:
                    g["Masses"] = np.full(g["Coordinates"].shape[0], mt[t], dtype=np.float32)
            g = f["PartType0"]
            # Gadget-2's SmoothingLength is the kernel's whole support (about DesNumNgb neighbours inside it);
            # fake-spectra takes half of it as the support and a particle's amount as Density x support^3:
            # doubling SmoothingLength and dividing Density by 8 gives it Gadget's support and the same mass
            g["SmoothingLength"][...] = 2.0 * g["SmoothingLength"][...]
            g["Density"][...] = g["Density"][...] / 8.0
            if "Temperature" in g and "ElectronAbundance" in g:
                # fake-spectra derives T from InternalEnergy and ElectronAbundance; give it the energy of the
                # post-processed (floored) Temperature with its own relation, so both codes see the same gas
                mu = 4.0 / (X_H * (3.0 + 4.0 * g["ElectronAbundance"][...]) + 1.0)
                u = g["Temperature"][...] * K_B_CGS / ((5.0 / 3.0 - 1.0) * M_P_G * mu) / 1.0e10  # (km/s)^2
                g["InternalEnergy"][...] = u.astype(g["InternalEnergy"].dtype)
        tmp.replace(dst)
    return base, num


def fake_spectra_cddf(snap, work, slabs, n_sightlines=600, res_kms=2.0, lo=12.0, hi=22.0, per_dex=5, seed=0):
    """CDDF of fake-spectra's sightlines through ``snap`` (columns summed over ``slabs`` chunks of each line).

    Returns None (with the reason) when fake-spectra is not installed.
    """
    try:
        from fake_spectra import spectra as fs
    except ImportError as e:  # the crosscheck extra
        return {"error": f"fake-spectra not installed ({e}); pip install 'ember_dist[crosscheck]'"}
    base, num = _prepared_copy(snap, work)
    with h5py.File(base / f"snap_{num:03d}.hdf5", "r") as f:
        box = float(f["Header"].attrs["BoxSize"])
    rng = np.random.default_rng(seed)
    axis = np.repeat(np.array([1, 2, 3], np.int32), n_sightlines // 3)
    cofm = rng.random((axis.size, 3)) * box
    sp = fs.Spectra(num, str(base), cofm, axis, res=res_kms, savefile=f"fs_{num:03d}.hdf5", savedir=str(base),
                    reload_file=True, sf_neutral=False, quiet=True, kernel="cubic")
    nbins = sp.nbins
    close = sp.dvbin * nbins / slabs
    dlog = 1.0 / per_dex
    n, f = sp.column_density_function("H", 1, dlogN=dlog, minN=lo, maxN=hi + dlog / 2, line=False, close=close)
    colden = sp.get_col_density("H", 1)
    cb = max(int(round(close / sp.dvbin)), 1)
    chunks = np.add.reduceat(colden, np.arange(0, colden.shape[1], cb), axis=1)
    mean_flux = float(np.mean(np.exp(-sp.get_tau("H", 1, 1215))))
    return {"N_centre": np.asarray(n).tolist(), "f": np.asarray(f).tolist(), "n_sightlines": int(axis.size),
            "chunk_kms": float(cb * sp.dvbin), "v_extent": float(sp.dvbin * nbins), "max_column": float(chunks.max()),
            "n_above_lls": int((chunks >= LLS).sum()), "mean_flux_file_hi": mean_flux,
            "note": "fake-spectra's Spectra with the file's NeutralHydrogenAbundance and the post-processed "
                    "Temperature (given to it as InternalEnergy)"}
