# SPDX-License-Identifier: BSD-3-Clause
"""Dark-matter particle masses: of a snapshot, of a deposit, of a model's training input; and the
downsampling that gives a snapshot the particles a model was trained on.

A model learns the dark matter at the resolution of its training input: the hydro run's dark-matter
particles, perhaps with one in ``K`` kept (masses x ``K``).  A snapshot to enrich should be deposited
from particles of the same *spacing*.  Particle masses say it, once they are compared per unit of
the matter they stand for: a hydro run's dark matter carries ``(Omega_m - Omega_b) / Omega_m`` of the
matter (the gas the rest), a dark-matter-only run's all of it, so a DM-only particle of the same
spacing is ``Omega_m / (Omega_m - Omega_b)`` times heavier.  With

    dm_mass_fraction       = total dark-matter mass / (Omega_m RHO_CRIT box^3)
    spacing-equivalent m   = dm_particle_mass / dm_mass_fraction   (= Omega_m RHO_CRIT box^3 / N)

the downsampling factor that matches a model is ``round(m_model / m_snapshot)``, at least 1.

Deposits of ``dm`` record ``dm_particle_mass`` (Msun/h, after downsampling) and ``dm_mass_fraction``
(:func:`ember_dist.deposit.api.dm_mass_fraction`) in their attrs; training copies them into the
bundle's ``training`` metadata (:func:`ember_dist.train.sampler.TileSampler.from_store`).

Examples
--------
>>> m = ParticleMass(particle_mass=5.779e8, mass_fraction=(0.3089 - 0.0486) / 0.3089)  # hydro run's dm
>>> f"{m.equivalent:.4g}"
'6.858e+08'
>>> matching_factor(8 * m.equivalent, m.equivalent), matching_factor(6.858e8, 8 * 6.858e8)
(8, 1)
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ember_dist.deposit.api import dm_mass_fraction

__all__ = ["ParticleMass", "dm_mass_fraction", "snapshot_dm_mass", "store_dm_mass", "bundle_dm_mass",
           "training_input_store", "matching_factor", "ATTRS"]

#: Deposit attrs (and bundle ``training`` keys) that hold the dark-matter particle mass.
ATTRS = ("dm_particle_mass", "dm_mass_fraction")


@dataclass(frozen=True)
class ParticleMass:
    """A dark-matter particle mass (Msun/h) and the fraction of Omega_m the dark matter carries."""

    particle_mass: float
    mass_fraction: float
    source: str = ""  # where the numbers come from, in words (for the log)

    @property
    def equivalent(self):
        """Spacing-equivalent mass, Msun/h: the particle mass per unit dark-matter fraction of Omega_m."""
        return self.particle_mass / self.mass_fraction

    def attrs(self):
        return {"dm_particle_mass": float(self.particle_mass), "dm_mass_fraction": float(self.mass_fraction)}

    def text(self):
        kind = ("DM-only" if abs(self.mass_fraction - 1) < 0.02 else
                f"dark matter carrying {self.mass_fraction:.3g} of Omega_m")
        return f"{self.equivalent:.4g} Msun/h ({self.particle_mass:.4g} Msun/h, {kind})"


def snapshot_dm_mass(snap, downsample=1):
    """:class:`ParticleMass` of a snapshot's dark matter (PartType1) after keeping 1 particle in ``downsample``.

    ``snap`` is an :func:`ember_dist.io.snapshot.open_snapshot` result or a path.  The total comes
    from ``MassTable`` when the masses are uniform (no read), otherwise from one pass over ``Masses``.
    Returns None when the snapshot has no dark matter.
    """
    if isinstance(snap, (str, os.PathLike)):
        from ember_dist.io.snapshot import open_snapshot

        snap = open_snapshot(snap)
    n = snap.count(1)
    if n == 0:
        return None
    mt = snap.header.mass_table[1]
    total = n * mt if (mt > 0 and not snap.has(1, "Masses")) else float(snap.masses(1).sum().compute())
    kept = n // int(downsample or 1)
    h = snap.header
    return ParticleMass(total / kept, dm_mass_fraction(total, h.omega_m, h.box_size))


def store_dm_mass(attrs):
    """:class:`ParticleMass` a deposit's attrs record, or None.

    Stores written before the attrs existed are answered from their source snapshot when it is
    still there (``source`` and ``downsample`` attrs); otherwise None.
    """
    if all(k in attrs for k in ATTRS):
        return ParticleMass(float(attrs["dm_particle_mass"]), float(attrs["dm_mass_fraction"]))
    src = attrs.get("source")
    if not src or not os.path.exists(str(src)):
        return None
    try:
        return snapshot_dm_mass(str(src), int(attrs.get("downsample", 1)))
    except Exception:  # noqa: BLE001 - a moved or unreadable source: the store does not say
        return None


def training_input_store(bundle):
    """The training input store a bundle names (``--input-maps``, else ``--maps`` of its recorded command;
    else ``input maps:`` of its data text), or None."""
    import re
    import shlex

    t = bundle.meta.get("training", {})
    try:
        words = shlex.split(str(t.get("command") or ""))
    except ValueError:
        words = []
    for flag in ("--input-maps", "--maps"):
        if flag in words[:-1]:
            return words[words.index(flag) + 1]
    m = re.search(r"input maps: ([^;\s]+)", str(t.get("data") or ""))
    return m.group(1) if m else None


def bundle_dm_mass(bundle):
    """:class:`ParticleMass` of the dark matter a bundle was trained on, or None.

    From its ``training`` metadata (``dm_particle_mass``, ``dm_mass_fraction``); for bundles trained
    before training recorded them, from the attrs of the training input store the bundle names
    (:func:`training_input_store`) while that store is on this machine.
    """
    t = bundle.meta.get("training", {})
    if all(t.get(k) for k in ATTRS):
        return ParticleMass(float(t["dm_particle_mass"]), float(t["dm_mass_fraction"]), "the bundle's training metadata")
    store = training_input_store(bundle)
    if store and os.path.isdir(store):
        try:
            import xarray as xr

            m = store_dm_mass(xr.open_zarr(store, consolidated=False).attrs)
        except Exception:  # noqa: BLE001 - not a readable store: the bundle does not say
            return None
        if m is not None:
            return ParticleMass(m.particle_mass, m.mass_fraction, f"its training input {store} (named by the bundle)")
    return None


def matching_factor(model_equivalent, snapshot_equivalent):
    """Particles to merge into one: ``round(model / snapshot)`` of the spacing-equivalent masses, at least 1."""
    return max(1, int(np.rint(float(model_equivalent) / float(snapshot_equivalent))))
