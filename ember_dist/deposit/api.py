# SPDX-License-Identifier: BSD-3-Clause
"""``deposit_snapshot``: particles of a snapshot -> slab maps in a zarr store.

Steps (each distributed with Dask):

1. validate every argument and the snapshot's contents, before any work;
2. read particles lazily (:mod:`ember_dist.io.snapshot`), optionally keep a
   seeded random subset with scaled masses (:mod:`ember_dist.deposit.downsample`);
3. smoothing lengths per species over spatial domains with ghost zones
   (:func:`~ember_dist.deposit.smoothing.smoothing_lengths_distributed`);
4. one deposit task per (particle chunk, axis, slab), summed over chunks, and
   one write task per (field, axis, slab) that stores the map as soon as it is
   done (:mod:`ember_dist.deposit.store`).

A particle belongs to the slab that holds its centre along the projection
axis, and all of its projected kernel goes to that slab's map; so each map
holds exactly the mass of the particles whose centres lie in the slab.

The store records what its dark matter is (:func:`dm_mass_fraction`): ``dm_source``
(``"hydro"`` when the snapshot has gas particles, else ``"dark-matter-only"``) and, when
``dm`` is deposited, ``dm_mass_fraction`` = total PartType1 mass / (Omega_m x RHO_CRIT x
box_size^3), summed over every particle read (all files; before any ``downsample``
rescaling, which conserves it): ~1 - Omega_b/Omega_m (0.843 for Planck 2015) for a hydro
run's dark matter, ~1 for a dark-matter-only run.  Enrichment compares it with the
fraction a model was trained on (:mod:`ember_dist.engine.enrich`).
"""
from __future__ import annotations

import os
import sys

import dask
import dask.array as da
import numpy as np
import xarray as xr

from ember_dist.futures import as_completed_on_own_loop
from ember_dist.io.checksum import files_sha256
from ember_dist.deposit.downsample import downsample_indices
from ember_dist.deposit.grid import coerce_axes, grid_size, projection_axes, slab_edges
from ember_dist.deposit.kernel import deposit_slab, kernel_table
from ember_dist.deposit.smoothing import smoothing_lengths_distributed
from ember_dist.deposit.store import check_target, create_template, mark_complete, write_slab
from ember_dist.io.conventions import RHO_CRIT, X_H, utc_now  # HI = gas mass x X_H x neutral fraction
from ember_dist.io.snapshot import open_snapshot

__all__ = ["deposit_snapshot", "dm_mass_fraction", "FIELDS", "X_H"]

#: Fields and the particle type they come from.
FIELDS = {"dm": 1, "gas": 0, "hi": 0}
_CHECKSUM_LIMIT = 4 << 30
_KERNEL_TEXT = {
    "cubic_spline": "3D cubic spline (Monaghan & Lattanzio 1985), support 2h, projected along the line of sight, "
    "sampled within pixels, normalised so each particle deposits its mass",
    "wendland_c2_2d": "2D Wendland C2 (Dehnen & Aly 2012, as in swiftsimio), support 2h, sampled within pixels, "
    "normalised so each particle deposits its mass",
}


#: What the ``dm_mass_fraction`` attr means (recorded beside it).
DM_FRACTION_NOTE = ("total mass of the deposited PartType1 (dark-matter) particles, all files, before any "
                    "downsample rescaling, / (omega_m * RHO_CRIT * box_size^3): ~1 - omega_b/omega_m for the dark "
                    "matter of a hydrodynamical run, ~1 for a dark-matter-only run")


def dm_mass_fraction(total_mass, omega_m, box_size):
    """Fraction of the cosmic matter density that dark-matter particles of total mass ``total_mass`` carry.

    Parameters
    ----------
    total_mass : float, Msun/h
        Sum of the dark-matter particle masses over the whole box.
    omega_m : float
    box_size : float, ckpc/h

    Returns
    -------
    float
        ``total_mass / (omega_m * RHO_CRIT * box_size**3)``; NaN when ``omega_m`` or ``box_size`` is not positive.

    Examples
    --------
    >>> from ember_dist.io.conventions import RHO_CRIT
    >>> om, ob, box = 0.3089, 0.0486, 8000.0
    >>> round(dm_mass_fraction((om - ob) * RHO_CRIT * box**3, om, box), 6)  # a hydro run's dark matter
    0.842668
    >>> dm_mass_fraction(om * RHO_CRIT * box**3, om, box)  # a dark-matter-only run
    1.0
    """
    if not (omega_m > 0 and box_size > 0):
        return float("nan")
    return float(total_mass) / (float(omega_m) * RHO_CRIT * float(box_size) ** 3)


def _version():
    try:
        from importlib.metadata import version

        return version("ember_dist")
    except Exception:  # noqa: BLE001 - not installed: the source tree's version
        try:
            import ember_dist

            return getattr(ember_dist, "__version__", "unknown")
        except Exception:  # noqa: BLE001
            return "unknown"


def _checksum(files):
    if sum(os.path.getsize(p) for p in files) > _CHECKSUM_LIMIT:
        return "not computed (snapshot > 4 GiB)"
    return files_sha256(*files)


def _coerce_fields(fields):
    if isinstance(fields, str):
        fields = (fields,)
    fields = tuple(str(f).lower() for f in fields)
    bad = [f for f in fields if f not in FIELDS]
    if bad or not fields or len(set(fields)) != len(fields):
        raise ValueError(f"fields={fields!r} must be distinct names among {tuple(FIELDS)!r}, e.g. fields=('dm',).")
    return fields


def _validate(snap, fields, slabs, downsample, n_neighbours):
    if int(slabs) != slabs or slabs < 1:
        raise ValueError(f"slabs={slabs!r} must be a positive integer (EMBER uses 10).")
    if downsample is not None and (int(downsample) != downsample or downsample < 1):
        raise ValueError(f"downsample={downsample!r} must be None or an integer >= 1 (e.g. 64 = 4^3).")
    for f in fields:
        t = FIELDS[f]
        if snap.count(t) == 0:
            raise ValueError(
                f"field {f!r} needs PartType{t} particles, but {snap.files[0]!r} has none; "
                f"drop {f!r} from fields (this snapshot holds gas={snap.count(0)}, dm={snap.count(1)})."
            )
        if f == "hi" and not snap.has(0, "NeutralHydrogenAbundance"):
            raise ValueError(
                f"field 'hi' needs PartType0/NeutralHydrogenAbundance, missing in {snap.files[0]!r}; drop 'hi' from fields."
            )
        n = snap.count(t) // (downsample or 1)
        if n <= n_neighbours:
            raise ValueError(
                f"field {f!r}: {n} particles after downsample={downsample!r} cannot have an {n_neighbours}-th "
                f"neighbour; use a smaller downsample or n_neighbours < {n}."
            )


def _slab_map(pos, h, w, d, r, c, slab, nslab, box, n, pixel, kernel):
    k = np.minimum((pos[:, d] * (nslab / box)).astype(np.int64), nslab - 1)
    sel = k == slab
    return deposit_slab(pos[sel][:, [c, r]], h[sel], w[sel], n, pixel, kernel=kernel)


def _add(*maps):
    out = maps[0].copy()
    for m in maps[1:]:
        out += m
    return out


def _tree_sum(items):
    while len(items) > 1:
        items = [dask.delayed(_add, pure=True)(*items[i : i + 4]) for i in range(0, len(items), 4)]
    return items[0]


def _chunk_total(*chunks):
    """float64 sum of mass chunks (the particles' total mass, Msun/h)."""
    return float(sum(np.sum(c, dtype=np.float64) for c in chunks))


def _species(snap, ptype, downsample, seed):
    """Lazy positions, masses, HI fractions (gas) and the mass scale of one species.

    Also returns the total mass of *all* the species' particles (Msun/h): a float when
    ``downsample`` already computed it, else a delayed sum over the mass chunks, which shares
    their reads with the deposit tasks when computed with them.
    """
    pos = snap.positions(ptype)
    mass = snap.masses(ptype)
    extra = snap.field(ptype, "NeutralHydrogenAbundance") if (ptype == 0 and snap.has(0, "NeutralHydrogenAbundance")) else None
    scale = 1.0
    total = None
    if downsample and downsample > 1:
        idx = downsample_indices(pos.shape[0], downsample, seed)
        kept = mass[idx]
        total, kept_total = dask.compute(mass.sum(), kept.sum())
        scale = float(total / kept_total)
        total = float(total)  # before the rescaling (which conserves it)
        pos, mass = pos[idx], kept * scale
        extra = extra[idx] if extra is not None else None
    mass = mass.rechunk((pos.chunks[0],))
    if extra is not None:
        extra = extra.rechunk((pos.chunks[0],))
    if total is None:
        total = dask.delayed(_chunk_total, pure=True)(*mass.to_delayed().ravel())
    return pos, mass, extra, scale, total


def _chunked(values, chunks, client):
    """``values`` (a NumPy array on this process) as a dask array of ``chunks`` rows per block.

    With a client its blocks are scattered to the workers first, so the graph sent to the scheduler
    holds references, not the data: embedded, the smoothing lengths of 2.7M particles alone made a
    21 MiB graph and distributed's "Sending large graph" warning.
    """
    if client is None:
        return da.from_array(values, chunks=(chunks,))
    stops = np.cumsum(chunks)
    futures = client.scatter([values[stop - size : stop] for stop, size in zip(stops, chunks)])
    return da.concatenate([da.from_delayed(f, shape=(size,), dtype=values.dtype) for f, size in zip(futures, chunks)])


def deposit_snapshot(
    snapshot,
    out,
    pixel=3.66,
    slabs=10,
    axes=("x", "y", "z"),
    fields=("dm",),
    downsample=None,
    seed=0,
    align=128,
    client=None,
    overwrite=False,
    n_neighbours=80,
    length_unit=None,
    chunk_size=1 << 20,
    progress=False,
    kernel="cubic_spline",
):
    """Deposit a snapshot's particles onto slab maps and write them to a zarr store.

    Parameters
    ----------
    snapshot : str or os.PathLike
        Gadget/GIZMO/AREPO or SWIFT HDF5 snapshot (one file, any file of a multi-file
        snapshot, its stem or its directory).
    out : str or os.PathLike
        zarr store to create.
    pixel : float, ckpc/h, default: 3.66
        Requested pixel size; the grid side is the multiple of ``align``
        nearest to ``box_size / pixel`` and the pixel actually used is in the
        ``pixel_size`` attr (``pixel_size_deviation`` = relative difference).
    slabs : int, default: 10
        Slabs per projection axis.
    axes : sequence of {"x", "y", "z"}, default: ("x", "y", "z")
    fields : sequence of {"dm", "gas", "hi"}, default: ("dm",)
        ``dm`` from PartType1, ``gas`` from PartType0 masses, ``hi`` = gas mass
        x 0.76 x ``NeutralHydrogenAbundance``.
    downsample : int or None, default: None
        Keep a seeded random ``1/downsample`` of each species, masses scaled up
        to conserve the total.
    seed : int, default: 0
        Seed of the downsampling.
    align : int, default: 128
        Alignment factor of the map side.
    client : distributed.Client, optional
        Run on this client; otherwise dask's threaded scheduler.
    overwrite : bool, default: False
        Replace an existing ``out``.
    n_neighbours : int, default: 80
        Smoothing length = half the distance to this neighbour.
    length_unit : {"kpc/h", "Mpc/h"} or None
        Override the snapshot's length unit.
    chunk_size : int, default: 1048576
        Particles per task.
    progress : bool, default: False
        Show a progress bar of the slab writes.
    kernel : {"cubic_spline", "wendland_c2_2d"}, default: "cubic_spline"
        Projected kernel (support ``2 h`` for both); see :mod:`ember_dist.deposit.kernel`.

    Returns
    -------
    xarray.Dataset
        The store, opened lazily: variables per field, float32 Msun/h per
        pixel, dims (axis, slab, y, x).  Its attrs include ``dm_source``
        (``"hydro"`` when the snapshot has gas particles, else
        ``"dark-matter-only"``) and, when ``dm`` is deposited,
        ``dm_total_mass`` (Msun/h, every dark-matter particle of every file)
        and ``dm_mass_fraction`` = ``dm_total_mass / (omega_m * RHO_CRIT *
        box_size**3)``: ~0.843 for a hydro run with Planck 2015 baryons, ~1
        for a dark-matter-only run.  ``enrich_box`` rescales inputs whose
        fraction differs from the model's training maps.  With ``dm``, also
        ``dm_particle_mass`` (Msun/h, after downsampling): with the fraction,
        the particle spacing a model's input had
        (:mod:`ember_dist.deposit.resolution`).
    """
    out = os.fspath(out)
    fields = _coerce_fields(fields)
    axes = coerce_axes(axes)
    check_target(out, overwrite)
    snap = open_snapshot(snapshot, length_unit=length_unit, chunk_size=chunk_size)
    box = snap.header.box_size
    grid = grid_size(box, pixel, align)
    _validate(snap, fields, slabs, downsample, n_neighbours)
    kernel_table(kernel)  # raises on an unknown kernel name
    slabs = int(slabs)
    n = grid.n

    attrs = dict(snap.header.cosmology_attrs())
    attrs.update(
        pixel_size=grid.pixel_size,
        slab_depth=float(np.diff(slab_edges(box, slabs))[0]),
        pixel_size_requested=grid.pixel_size_requested,
        pixel_size_deviation=grid.deviation,
        align=grid.align,
        source=os.path.abspath(os.fspath(snapshot)),
        source_files=[os.path.basename(p) for p in snap.files],
        source_format=snap.header.format,
        source_sha256=_checksum(snap.files),
        seed=int(seed),
        downsample=int(downsample or 1),
        n_neighbours=int(n_neighbours),
        kernel=kernel,
        kernel_description=_KERNEL_TEXT[kernel],
        smoothing_length="half the periodic distance to the n_neighbours-th nearest neighbour of the same species",
        slab_assignment="by particle centre along the projection axis",
        hydrogen_mass_fraction=X_H,
        fields=list(fields),
        dm_source="hydro" if snap.count(0) > 0 else "dark-matter-only",
        package="ember_dist",
        package_version=_version(),
        created=utc_now(),
        complete=False,
    )

    species, totals = {}, {}
    for f in fields:
        t = FIELDS[f]
        if t not in species:
            pos, mass, xhi, scale, totals[t] = _species(snap, t, downsample, seed)
            hsml = smoothing_lengths_distributed(pos, box, n_neighbours, client=client)
            species[t] = (pos, mass, xhi, scale, _chunked(hsml, pos.chunks[0], client))
            attrs[f"mass_scale_parttype{t}"] = scale
    create_template(out, fields, axes, slabs, n, grid.pixel_size, attrs, overwrite=overwrite)

    writes = []
    for f in fields:
        pos, mass, xhi, _, hsml = species[FIELDS[f]]
        w = mass * (X_H * xhi) if f == "hi" else mass
        pc, hc, wc = (a.to_delayed().ravel() for a in (pos, hsml, w))
        for ai, ax in enumerate(axes):
            d, r, c = projection_axes(ax)
            for s in range(slabs):
                parts = [
                    dask.delayed(_slab_map, pure=True)(p, hh, ww, d, r, c, s, slabs, box, n, grid.pixel_size, kernel)
                    for p, hh, ww in zip(pc, hc, wc)
                ]
                writes.append(dask.delayed(write_slab)(out, f, ai, s, _tree_sum(parts)))
    # The dark-matter total is summed in the same graph as the maps: its mass chunks are read once for both.
    dm_total = totals.get(FIELDS["dm"]) if "dm" in fields else None
    extra = [dm_total] if dm_total is not None and not isinstance(dm_total, float) else []
    done = _run(writes, client, progress, extra=extra)
    final = {}
    if dm_total is not None:
        dm_total = float(done[0]) if extra else dm_total
        final.update(dm_total_mass=dm_total, dm_mass_fraction=dm_mass_fraction(dm_total, snap.header.omega_m, box),
                     dm_mass_fraction_note=DM_FRACTION_NOTE,
                     # the mass of one deposited particle: the spacing a model's input had, with the fraction
                     dm_particle_mass=dm_total / (snap.count(1) // int(downsample or 1)))
    mark_complete(out, **final)
    return xr.open_zarr(out, consolidated=False)


def _run(tasks, client, progress, extra=()):
    """Compute the slab ``tasks`` (with a progress bar of them) and ``extra`` in one graph; returns extra's results."""
    extra = list(extra)
    if client is not None:
        futures = client.compute(list(tasks) + extra)
        it = as_completed_on_own_loop(futures[:len(tasks)])
        if progress:
            from tqdm.auto import tqdm

            it = tqdm(it, total=len(tasks), desc="slab maps", unit="map")
        for fut in it:
            fut.result()  # raise the first task error here
        return [f.result() for f in futures[len(tasks):]]
    if progress:
        from dask.diagnostics import ProgressBar

        with ProgressBar(out=sys.stderr):  # progress on stderr, like every other bar
            res = dask.compute(*tasks, *extra, scheduler="threads")
    else:
        res = dask.compute(*tasks, *extra, scheduler="threads")
    return list(res[len(tasks):])
