# SPDX-License-Identifier: BSD-3-Clause
"""Post-process a Gadget-2 adiabatic SPH snapshot into the gas fields ember_dist learns.

:func:`postprocess_snapshot` reads a Gadget-2 HDF5 snapshot (units kpc/h, 1e10 Msun/h, km/s; a
``Header`` without unit attributes or ``OmegaBaryon``; gas ``Density`` comoving, ``InternalEnergy``
the physical specific energy in (km/s)^2; gas masses in ``MassTable[0]``) and writes a copy with

* ``PartType0/Temperature`` (K), ``PartType0/NeutralHydrogenAbundance`` (n_HI / n_H) and
  ``PartType0/ElectronAbundance`` (n_e / n_H), from :mod:`ember_dist.sim.ionisation` (photo-heated
  temperature floor, dense gas at 1e4 K, H + He ionisation equilibrium in a tabulated UV background,
  collisional ionisation, Rahmati et al. 2013 self-shielding);
* the header completed for other readers: ``OmegaBaryon``, ``NumPart_Total_HighWord`` (Gadget-2 calls
  it ``NumPart_Total_HW``), ``UnitLength_in_cm``, ``UnitMass_in_g``, ``UnitVelocity_in_cm_per_s``;
* an ``EmberSim/HI`` group whose attributes state every assumption and parameter.

The copy is written to ``path_out + ".tmp"`` and renamed into place when complete, so a file at
``path_out`` is always whole; :func:`is_postprocessed` tells a finished output from anything else.

The physics functions of :mod:`ember_dist.sim.ionisation` are re-exported here.
"""
from __future__ import annotations

import os
import shutil

import h5py
import numpy as np

from ember_dist.io.checksum import files_sha256
from ember_dist.io.conventions import GADGET_UNITS, KPC_CM, M_H_G, MSUN_G, RHO_CRIT, X_H, utc_now
from ember_dist.sim.ionisation import (  # noqa: F401  (re-exported API)
    RAHMATI13,
    RAHMATI13_GRAY_SIGMA,
    UVB_TABLES,
    HIParams,
    collisional_rates,
    ionisation_state,
    neutral_fraction,
    recombination_rates,
    self_shielding_density,
    self_shielding_factor,
    temperature,
    temperature_from_u,
    uvb_rates,
)

__all__ = [
    "postprocess_snapshot", "postprocess_fields", "is_postprocessed", "HIParams", "temperature", "temperature_from_u",
    "neutral_fraction", "ionisation_state", "uvb_rates", "self_shielding_factor", "self_shielding_density",
    "recombination_rates", "collisional_rates", "UVB_TABLES",
]

#: Name of the group holding the post-processing record.
RECORD_GROUP = "EmberSim/HI"
_FIELDS = ("Temperature", "NeutralHydrogenAbundance", "ElectronAbundance")
_OMEGA_B_RTOL = 0.01


def is_postprocessed(path):
    """Whether ``path`` is a finished output of :func:`postprocess_snapshot` (a ``.tmp`` never is)."""
    path = os.fspath(path)
    if path.endswith(".tmp") or not os.path.isfile(path):
        return False
    try:
        with h5py.File(path, "r") as f:
            return RECORD_GROUP in f and bool(f[RECORD_GROUP].attrs.get("complete", False))
    except OSError:
        return False


def _sha256(path):
    return files_sha256(path)


def _read_input(path, omega_b):
    """Header values and gas arrays, checked before any work; errors name the problem and the fix."""
    with h5py.File(path, "r") as f:
        if "Header" not in f:
            raise ValueError(f"{path}: no 'Header' group; this is not a Gadget HDF5 snapshot.")
        h = dict(f["Header"].attrs)
        need = ("Time", "Redshift", "HubbleParam", "Omega0", "BoxSize", "MassTable", "NumPart_ThisFile")
        miss = [k for k in need if k not in h]
        if miss:
            raise ValueError(f"{path}: Header attributes {miss!r} are missing; a Gadget-2 snapshot has them.")
        if int(np.ravel(h.get("NumFilesPerSnapshot", 1))[0]) != 1:
            raise ValueError(f"{path}: a multi-file snapshot (NumFilesPerSnapshot = {h['NumFilesPerSnapshot']}); "
                             "run Gadget-2 with NumFilesPerSnapshot 1 to post-process it.")
        for key, want in GADGET_UNITS.items():
            if key in h and abs(float(np.ravel(h[key])[0]) / want - 1) > 1e-3:
                raise ValueError(f"{path}: {key} = {float(np.ravel(h[key])[0]):g}, but this post-processing assumes "
                                 f"Gadget-2 units kpc/h, 1e10 Msun/h, km/s ({key} = {want:g}).")
        gas = f.get("PartType0")
        n = int(h["NumPart_ThisFile"][0])
        if gas is None or n == 0 or any(k not in gas for k in ("Density", "InternalEnergy")):
            raise ValueError(f"{path}: PartType0 with 'Density' and 'InternalEnergy' is required (a hydro run's "
                             "snapshot); a dark-matter-only snapshot has no gas to post-process.")
        rho = np.asarray(gas["Density"], dtype=np.float64)
        u = np.asarray(gas["InternalEnergy"], dtype=np.float64)
        mass = float(h["MassTable"][0]) * n if float(h["MassTable"][0]) > 0 else (
            float(np.sum(gas["Masses"], dtype=np.float64)) if "Masses" in gas else 0.0)
        dtype = gas["Density"].dtype
    if not (np.all(rho > 0) and np.all(np.isfinite(rho))) or np.any(u < 0):
        raise ValueError(f"{path}: PartType0/Density must be positive and InternalEnergy non-negative.")
    if mass <= 0:
        raise ValueError(f"{path}: gas masses are undefined (MassTable[0] = 0 and no PartType0/Masses).")
    implied = mass * 1e10 / (RHO_CRIT * float(h["BoxSize"]) ** 3)  # Omega_b of the gas particles
    for label, val in (("omega_b", omega_b), ("Header OmegaBaryon", h.get("OmegaBaryon"))):
        if val is not None and abs(float(val) / implied - 1) > _OMEGA_B_RTOL:
            raise ValueError(f"{label} = {float(val):g} disagrees with the gas particle masses (Omega_b = {implied:.5g}) "
                             "by more than 1%; pass the Omega_b the run was made with, or omega_b=None.")
    ob = implied if omega_b is None else float(omega_b)
    return h, rho, u, ob, ("parameter" if omega_b is not None else "gas particle masses"), dtype


def _record(h, path_in, z_uvb, omega_b, ob_source, p, gammas, n_ssh):
    """Attributes of the ``EmberSim/HI`` group: every assumption, in words and numbers."""
    try:
        from importlib.metadata import version
        pkg = version("ember_dist")
    except Exception:  # noqa: BLE001 - running from a source tree
        pkg = "unknown"
    return {
        "run_physics": "adiabatic SPH run (Gadget-2 TreePM gravity + SPH hydrodynamics): no radiative cooling, no "
                       "UV photo-heating, no star formation, no feedback, no metals; all of these are absent from "
                       "the particle data and stood in for only by the rules below",
        "temperature_model": "T = (5/3 - 1) mu m_p u / k_B from InternalEnergy (physical, (km/s)^2), "
                             "mu = 4 / (1 + 3 X + 4 X x_e) of the solved ionisation state; then T = max(T, t0 "
                             "(rho/rho_mean_b)^(floor_gamma - 1)) (photo-heated floor); gas with n_H > dense_nh "
                             "set to dense_temperature (stand-in for radiative cooling)",
        "t0_K": float(p.t0), "floor_gamma": float(p.floor_gamma), "dense_nh_cm3": float(p.dense_nh),
        "dense_temperature_K": float(p.dense_temperature),
        "ionisation_model": "equilibrium of H and He with photo-ionisation, collisional ionisation and radiative + "
                            "dielectronic recombination (Katz, Weinberg & Hernquist 1996 eqs. 33-38), solved "
                            "jointly with the temperature",
        "recombination": "case A, Hui & Gnedin (1997) fits for H+, He+, He++; He+ dielectronic Cen (1992)",
        "collisional_ionisation": "Cen (1992) / Katz et al. (1996) table 2" if p.collisional else "off",
        "uvb": p.uvb, "uvb_citation": UVB_TABLES[p.uvb][1], "uvb_file": UVB_TABLES[p.uvb][0],
        "uvb_interpolation": "linear in log10 Gamma against log10(1+z)",
        "redshift_uvb": float(z_uvb), "redshift_header": float(np.ravel(h["Redshift"])[0]),
        "gamma_scale": float(p.gamma_scale), "self_shielding_on": bool(p.self_shielding),
        "collisional_on": bool(p.collisional),
        "gamma_hi_table_s": gammas[0], "gamma_hei_table_s": gammas[1], "gamma_heii_table_s": gammas[2],
        "gamma_hi_used_s": gammas[0] * p.gamma_scale,
        "gamma_note": "Gamma_HI is a free parameter to calibrate against the observed mean Lyman-alpha flux",
        "self_shielding": ("Rahmati et al. (2013) eq. 14, (1-f)[1+(n_H/n0)^beta]^alpha1 + f[1+n_H/n0]^alpha2 with "
                           f"{RAHMATI13!r}, n0 = 1.003 n_H,SSh from their eq. 13 (gray cross-section of the FG09 "
                           "background, their table 2, f_g = Omega_b/Omega_m), applied to the H and He photo-rates")
        if p.self_shielding else "off",
        "n_H_SSh_at_1e4K_cm3": n_ssh,
        "not_modelled": "molecular hydrogen, local ionising sources, radiative transfer beyond the Rahmati fit, "
                        "patchy He II reionisation, non-equilibrium ionisation",
        "hydrogen_mass_fraction": X_H, "omega_b": float(omega_b), "omega_b_source": ob_source,
        "fields_written": list(_FIELDS), "source": os.path.abspath(path_in), "source_sha256": _sha256(path_in),
        "package": "ember_dist", "package_version": pkg, "created": utc_now(), "complete": True,
    }


def postprocess_fields(path_in, *, redshift=None, omega_b=None, t0=1.5e4, floor_gamma=1.5, dense_nh=0.1,
                       dense_temperature=1.0e4, uvb="fg20", gamma_scale=1.0, self_shielding=True, collisional=True,
                       chunk_size=1 << 20, progress=False):
    """Gas temperature, HI and electron abundances of a Gadget-2 snapshot, and their record; writes nothing.

    Parameters
    ----------
    path_in : str or os.PathLike
        Single-file Gadget-2 HDF5 snapshot of an adiabatic hydro run.
    redshift : float, optional
        Redshift of the UV background; default the header ``Redshift``.  Densities always use the
        header ``Time`` (scale factor).
    omega_b : float, optional
        Baryon density parameter (mean baryon density of the floor).  Default: from the gas particle
        masses; a value off from those by more than 1% is refused.
    t0, floor_gamma, dense_nh, dense_temperature, uvb, gamma_scale, self_shielding, collisional
        See :class:`ember_dist.sim.ionisation.HIParams` (K, -, cm^-3, K, table name, -, bool, bool).
    chunk_size : int, default: 1048576
        Particles solved at once (bounds memory).
    progress : bool, default: False
        Show a progress bar over the chunks.

    Returns
    -------
    fields : dict of ndarray
        ``Temperature`` (K), ``NeutralHydrogenAbundance``, ``ElectronAbundance``, one value per gas
        particle in file order, in the dtype of the snapshot's ``Density``.
    record : dict
        JSON-serialisable statement of every assumption and parameter (what ``EmberSim/HI`` holds),
        including ``omega_b`` (to write as the header ``OmegaBaryon``).
    """
    path_in = os.fspath(path_in)
    p = HIParams(t0=t0, floor_gamma=floor_gamma, dense_nh=dense_nh, dense_temperature=dense_temperature,
                 uvb=uvb, gamma_scale=gamma_scale, self_shielding=self_shielding, collisional=collisional)
    if not os.path.isfile(path_in):
        raise FileNotFoundError(f"Snapshot {path_in!r} does not exist; check the path.")
    h, rho, u, ob, ob_source, dtype = _read_input(path_in, omega_b)
    z = float(np.ravel(h["Redshift"])[0]) if redshift is None else float(redshift)
    gammas = [float(g) for g in uvb_rates(z, p.uvb)]  # raises on a redshift outside the table, before any work
    hub, a = float(np.ravel(h["HubbleParam"])[0]), float(np.ravel(h["Time"])[0])
    # comoving 1e10 (Msun/h)/(ckpc/h)^3 -> physical hydrogen atoms per cm^3
    n_h = rho * (X_H * 1e10 * MSUN_G * hub**2 / (KPC_CM**3 * a**3 * M_H_G))
    delta = rho * 1e10 / (ob * RHO_CRIT)
    fb = ob / float(np.ravel(h["Omega0"])[0])
    out = {k: np.empty(rho.shape, dtype=dtype) for k in _FIELDS}
    starts = range(0, rho.size, int(chunk_size))
    if progress:
        from tqdm.auto import tqdm
        starts = tqdm(starts, desc="HI post-processing", unit="chunk")
    for s in starts:
        sl = slice(s, s + int(chunk_size))
        t, x_hi, x_e = ionisation_state(u[sl], n_h[sl], delta[sl], z, p, baryon_fraction=fb)
        out["Temperature"][sl], out["NeutralHydrogenAbundance"][sl], out["ElectronAbundance"][sl] = t, x_hi, x_e
    n_ssh = float(self_shielding_density(z, 1e4, gammas[0] * p.gamma_scale, fb))
    return out, _record(h, path_in, z, ob, ob_source, p, gammas, n_ssh)


def postprocess_snapshot(path_in, path_out, *, overwrite=False, **kwargs):
    """Write a copy of a Gadget-2 snapshot with gas temperature, HI and electron abundances.

    The copy gets the three ``PartType0`` fields of :func:`postprocess_fields`, the completed header
    (``OmegaBaryon``, ``NumPart_Total_HighWord``, Gadget unit attributes) and the ``EmberSim/HI``
    record; it is written to ``path_out + ".tmp"`` and renamed when whole.

    Parameters
    ----------
    path_in : str or os.PathLike
        Single-file Gadget-2 HDF5 snapshot of an adiabatic hydro run (left unchanged).
    path_out : str or os.PathLike
        The copy to write.
    overwrite : bool, default: False
        Replace an existing ``path_out``.
    **kwargs
        ``redshift``, ``omega_b``, ``t0``, ``floor_gamma``, ``dense_nh``, ``dense_temperature``, ``uvb``,
        ``gamma_scale``, ``self_shielding``, ``collisional``, ``chunk_size``, ``progress`` of
        :func:`postprocess_fields`.

    Returns
    -------
    str
        ``path_out``.
    """
    path_in, path_out = os.fspath(path_in), os.fspath(path_out)
    if os.path.exists(path_out) and os.path.exists(path_in) and os.path.samefile(path_in, path_out):
        raise ValueError(f"path_out {path_out!r} is the input snapshot; write the copy to another path.")
    if os.path.exists(path_out) and not overwrite:
        raise FileExistsError(f"{path_out!r} exists; pass overwrite=True to replace it.")
    fields, record = postprocess_fields(path_in, **kwargs)
    with h5py.File(path_in, "r") as f:
        h = dict(f["Header"].attrs)
    _write_copy(path_in, path_out, h, record["omega_b"], fields, record)
    return path_out


def _write_copy(path_in, path_out, h, omega_b, fields, record):
    tmp = path_out + ".tmp"
    if os.path.exists(tmp):
        os.remove(tmp)  # a leftover of a killed run: never taken as the output
    try:
        shutil.copyfile(path_in, tmp)
        with h5py.File(tmp, "r+") as f:
            hdr = f["Header"].attrs
            hdr["OmegaBaryon"] = float(omega_b)
            if "NumPart_Total_HighWord" not in hdr:
                hw = h.get("NumPart_Total_HW", np.zeros_like(np.asarray(h.get("NumPart_Total", np.zeros(6, np.uint32)))))
                hdr["NumPart_Total_HighWord"] = np.asarray(hw)
            for key, val in GADGET_UNITS.items():
                hdr[key] = float(val)
            gas = f["PartType0"]
            units = {"Temperature": "K", "NeutralHydrogenAbundance": "n_HI / n_H", "ElectronAbundance": "n_e / n_H"}
            for name, arr in fields.items():
                if name in gas:
                    del gas[name]
                gas.create_dataset(name, data=arr).attrs["units"] = units[name]
            grp = f.require_group(RECORD_GROUP)
            for key, val in record.items():
                grp.attrs[key] = val
        os.replace(tmp, path_out)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
