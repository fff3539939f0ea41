# SPDX-License-Identifier: BSD-3-Clause
"""Input checks that run before any enrichment task is scheduled.

:func:`scan_map` streams one map in row bands (memory bounded by a band, not
the map) and returns counts of NaN, Inf and negative pixels with the first
offender, the total mass (float64) and a sha256 of the float32 bytes.
:func:`check_scans` turns the scans into one error naming slab, pixel and fix.
:func:`check_pixel_size` compares the input's pixel with the model's training pixel, and
:func:`dm_input_scale` the share of Omega_m their dark matter carries (``dm_mass_fraction``).
"""
from __future__ import annotations

import hashlib
import json
import math

import numba
import numpy as np

from ember_dist.errors import spell_or

__all__ = ["input_dm_scales", "scan_map", "check_scans", "check_pixel_size", "check_pixel_recorded", "source_checksum",
           "dm_fraction", "dm_input_scale", "dm_scale_message", "DM_FRACTION_TOLERANCE"]

#: Relative difference between the input's and the model's ``dm_mass_fraction`` above which the input is rescaled.
DM_FRACTION_TOLERANCE = 0.01


@numba.njit(cache=True, nogil=True)
def _band_stats(rows):
    """NaN, Inf and negative counts and the float64 sum of the finite pixels, in one pass (NumPy needed
    six passes and two boolean temporaries per band)."""
    nan = inf = neg = 0
    mass = 0.0
    for v in rows.ravel():
        if v != v:
            nan += 1
        elif v == np.inf or v == -np.inf:
            inf += 1
            neg += v < 0
        else:
            neg += v < 0
            mass += v
    return nan, inf, neg, mass


#: Largest row of storage chunks (bytes, float32) the scan reads at once instead of 1024-row bands.
ROW_BUDGET = 256 * 2**20


def scan_map(source, a, s, band=1024, fill_cache=False):
    """Scan map ``(a, s)`` of ``source``; returns a dict of counts, first bad pixel, mass and sha256.

    With ``fill_cache`` (the engine's scan tasks) a chunked map that fits half of this process's
    :func:`~ember_dist.io.common.chunk_cache` is left there, keyed by its sha256, so tiles run on this
    worker do not decode it again.
    """
    from ember_dist.engine.faults import fault_point
    from ember_dist.io.common import chunk_cache, chunk_key

    fault_point("scan")
    ny, nx = source.shape[2:]
    # Bands never straddle a row of storage chunks, and a band inside a chunk row would decode that row's
    # chunks once per band (4x for the engine's 512-row bands at 4096^2 with 2048-px chunks), so a shorter
    # band is widened to the whole chunk row when that fits ROW_BUDGET; read_rows decodes one block of
    # chunks at a time, so memory is a band plus about one block.
    chunks = getattr(source, "chunks", None)
    cy = (chunks or (ny,))[0]
    if chunks and cy > band and cy * nx * 4 <= ROW_BUDGET:
        band = cy
    cache = chunk_cache() if fill_cache and chunks else None
    keep = cache is not None and 0 < ny * nx * 4 <= cache.max_bytes // 2
    pending, row = [], []  # decoded chunks of the map; bands of the current chunk row
    h = hashlib.sha256()
    res = {"axis": a, "slab": s, "nan": 0, "inf": 0, "neg": 0, "first": None, "mass": 0.0}
    y1 = 0
    while y1 < ny:
        y0, y1 = y1, min(ny, y1 + band, (y1 // cy + 1) * cy)
        rows = np.ascontiguousarray(source.read_rows(a, s, y0, y1), dtype="<f4")
        h.update(rows)
        nan, inf, neg, mass = _band_stats(rows)
        res["mass"] += mass
        for k, c in (("nan", nan), ("inf", inf), ("neg", neg)):
            res[k] += c
            if c and res["first"] is None:
                m = {"nan": np.isnan, "inf": np.isinf, "neg": lambda r: r < 0}[k](rows)
                iy, ix = np.argwhere(m)[0]
                res["first"] = (k, int(y0 + iy), int(ix), float(rows[iy, ix]))
        if keep:
            row.append(rows)
            if y1 % cy == 0 or y1 == ny:
                block = np.concatenate(row) if len(row) > 1 else row[0]
                cx = chunks[1]
                pending += [((y0 // cy, ix), np.ascontiguousarray(block[:, ix * cx:(ix + 1) * cx]))
                            for ix in range(-(-nx // cx))]
                row = []
    res["sha256"] = h.hexdigest()
    for (iy, ix), c in pending:
        cache.put(chunk_key(res["sha256"], None, chunks, (a, s), iy, ix), c)
    return res


def source_checksum(scans):
    """sha256 over the per-map sha256s, in (axis, slab) order."""
    h = hashlib.sha256()
    for r in sorted(scans, key=lambda r: (r["axis"], r["slab"])):
        h.update(r["sha256"].encode())
    return h.hexdigest()


def check_scans(scans, axes, description):
    """Raise one ``ValueError`` listing every map with NaN, Inf or negative masses."""
    bad = [r for r in sorted(scans, key=lambda r: (r["axis"], r["slab"])) if r["nan"] or r["inf"] or r["neg"]]
    if not bad:
        return
    lines = []
    for r in bad[:10]:
        kind, y, x, v = r["first"]
        lines.append(
            f"  axis={axes[r['axis']]!r} slab={r['slab']}: {r['nan']} NaN, {r['inf']} Inf, {r['neg']} negative "
            f"pixels; first {kind} at (y={y}, x={x}) = {v!r}"
        )
    more = f"\n  ... and {len(bad) - 10} more maps" if len(bad) > 10 else ""
    raise ValueError(
        f"input maps {description} contain invalid masses (maps must hold finite, non-negative Msun/h per "
        "pixel):\n" + "\n".join(lines) + more +
        "\nFix the maps before enriching (e.g. re-deposit them, or replace bad pixels with "
        "np.nan_to_num(m, nan=0.0, posinf=0.0).clip(min=0)). Nothing was scheduled or written."
    )


def check_pixel_size(pixel_size, model_pixel_size, tolerance, model_name):
    """Raise when the input pixel size is far from the model's training pixel size.

    >>> check_pixel_size(3.7, 3.66, 0.05, "m")
    >>> check_pixel_size(7.32, 3.66, 0.05, "m")
    Traceback (most recent call last):
    ...
    ValueError: input pixel size 7.32 ckpc/h differs from the training pixel size of model 'm', 3.66 ckpc/h, by 100.0% (tolerance 5.0%); the generator learned structure at its training resolution. Re-deposit the maps with `ember-dist deposit ... --pixel 3.66`, pass a model trained at 7.32 ckpc/h (`ember-dist models` lists each bundle's pixel size), or pass pixel_tolerance=1.1 to accept the mismatch.
    """
    if pixel_size is None:
        return
    dev = abs(pixel_size / model_pixel_size - 1.0)
    if dev > tolerance:
        enough = round(math.ceil(dev * 10) / 10 + 0.1, 1)
        raise ValueError(
            f"input pixel size {pixel_size:g} ckpc/h differs from the training pixel size of model {model_name!r}, "
            f"{model_pixel_size:g} ckpc/h, by {100 * dev:.1f}% (tolerance {100 * tolerance:.1f}%); the generator "
            "learned structure at its training resolution. Re-deposit the maps with `ember-dist deposit ... "
            f"--pixel {model_pixel_size:g}`, pass a model trained at {pixel_size:g} ckpc/h (`ember-dist models` "
            f"lists each bundle's pixel size), or pass {spell_or('pixel_tolerance', enough)} to accept the mismatch."
        )


def check_pixel_recorded(pixel_size, description, model_pixel_size):
    """Raise when the input records no pixel size (``.npy``, bare arrays): the user must state it.

    >>> check_pixel_recorded(3.66, "npy:m.npy", 3.66)
    >>> check_pixel_recorded(None, "npy:m.npy", 3.66)
    Traceback (most recent call last):
    ...
    ValueError: input npy:m.npy records no pixel size; pass the maps' pixel side in ckpc/h (pixel_size=3.66 if they match the model), or pixel_size='model' to assume the model's training pixel size 3.66 ckpc/h.
    """
    if pixel_size is not None:
        return
    raise ValueError(
        f"input {description} records no pixel size; pass the maps' pixel side in ckpc/h "
        f"({spell_or('pixel_size', model_pixel_size)} if they match the model), or {spell_or('pixel_size', 'model')} "
        f"to assume the model's training pixel size {model_pixel_size:g} ckpc/h."
    )


def dm_fraction(v):
    """A recorded ``dm_mass_fraction`` as a float, or None when absent or not a positive finite number.

    >>> dm_fraction(0.843), dm_fraction(None), dm_fraction("n/a"), dm_fraction(float("nan"))
    (0.843, None, None, None)
    """
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


def dm_input_scale(input_fraction, model_fraction, tolerance=DM_FRACTION_TOLERANCE):
    """Factor to multiply the input dark-matter maps by before the generator, or None (leave them).

    ``dm_mass_fraction`` (recorded by :func:`~ember_dist.deposit.api.deposit_snapshot`) is the share
    of Omega_m the dark-matter particles carry: ~1 - Omega_b/Omega_m for a hydro run, ~1 for a
    dark-matter-only run, whose maps are then 1/(1 - Omega_b/Omega_m) heavier than the hydro dark
    matter a model was trained on.  The factor is ``model_fraction / input_fraction`` when both are
    known and differ by more than ``tolerance`` (relative); otherwise None.

    >>> dm_input_scale(1.0, 0.843)
    0.843
    >>> dm_input_scale(0.8427, 0.8430) is None, dm_input_scale(None, 0.843) is None
    (True, True)
    """
    fi, fm = dm_fraction(input_fraction), dm_fraction(model_fraction)
    if fi is None or fm is None or abs(fm / fi - 1.0) <= tolerance:
        return None
    return fm / fi


def _kind(source):
    if source == "dark-matter-only":
        return "a dark-matter-only run"
    if source == "hydro":
        return "a hydro run's dark matter"
    return "dark matter"


def dm_scale_message(input_fraction, input_source, model_name, model_fraction, model_source, factor, applied=True):
    """The one line enrichment prints when the input's ``dm_mass_fraction`` differs from the model's.

    >>> dm_scale_message(1.0, "dark-matter-only", "x", 0.843, "hydro", 0.843)
    "input is a dark-matter-only run (dm carries 100.0% of Omega_m); model 'x' learned from a hydro run's dark matter (84.3%): input scaled by 0.843"
    >>> dm_scale_message(1.0, None, "x", 0.843, None, 0.843, applied=False)
    "input is dark matter (dm carries 100.0% of Omega_m); model 'x' learned from dark matter (84.3%): input NOT scaled (dm_rescale=False; scaling would multiply it by 0.843)"
    """
    head = (f"input is {_kind(input_source)} (dm carries {input_fraction:.1%} of Omega_m); model "
            f"{model_name!r} learned from {_kind(model_source)} ({model_fraction:.1%})")
    if applied:
        return f"{head}: input scaled by {factor:.4g}"
    return (f"{head}: input NOT scaled ({spell_or('dm_rescale', False, '--no-dm-rescale')}; scaling would multiply "
            f"it by {factor:.4g})")


def input_dm_scales(source, bundles, dm_rescale):
    """``({field: factor}, [message lines], provenance attrs)``: the input rescaling per field.

    A field is rescaled when its bundle and the input both record ``dm_mass_fraction`` and they differ
    by more than 1% (:func:`dm_input_scale`) and ``dm_rescale``; a line
    is written for every such field (also when ``dm_rescale`` is off: it then says the input is not
    scaled).  Where either side does not record it, nothing is done or said.
    """
    fi = dm_fraction(source.attrs.get("dm_mass_fraction"))
    src_kind = source.attrs.get("dm_source")
    scales, lines = {}, []
    for f, b in bundles.items():
        factor = dm_input_scale(fi, b.dm_mass_fraction)
        if factor is None:
            continue
        lines.append(dm_scale_message(fi, src_kind, b.name, b.dm_mass_fraction, b.dm_source, factor, dm_rescale))
        if dm_rescale:
            scales[f] = factor
    attrs = {
        "dm_rescale": bool(dm_rescale),
        "dm_input_scale": json.dumps({f: scales.get(f, 1.0) for f in bundles}),
        "dm_input_scale_note": "; ".join(lines) if lines else (
            "input not rescaled: its dm_mass_fraction and the model's agree within 1%, or one of them is not "
            "recorded"),
        "source_dm_mass_fraction": fi,
        "source_dm_source": src_kind,
        "model_dm_mass_fraction": json.dumps({f: b.dm_mass_fraction for f, b in bundles.items()}),
    }
    return scales, lines, attrs
