# SPDX-License-Identifier: BSD-3-Clause
"""The dark-matter resolution of the input maps against the models': the default per resolution, and a note
when a model given by name learned from other particles.

A generator learns the dark matter at the particle spacing of its training input: a model trained on the
suite's full-resolution dark matter paints a coarser input's smooth haloes as if they were resolved, and one
trained on a 1-in-8 input adds small-scale power to a full-resolution map that already has it. Deposits record
their particles (``dm_particle_mass``, ``dm_mass_fraction``) and bundles the ones they were trained on; compared
per unit of the matter the dark matter carries (:mod:`ember_dist.deposit.resolution`), their ratio says how
many times fewer particles the input has than the model's.

* A field whose model is left out gets the default of the input's resolution
  (:data:`ember_dist.model.bundle.DEFAULT_MODELS_BY_INPUT`: full resolution, 1 in 8, 1 in 64) when the maps
  record their particles; an input between those resolutions is refused with the fixes.
* A model given by name is used as given; a line says so when its training particles differ from the input's.

Maps that do not record their particles (``.npy``, bare arrays, older deposits) get the full-resolution
defaults, silently, as before.
"""
from __future__ import annotations

import math

from ember_dist.errors import spell_or
from ember_dist.model.bundle import DEFAULT_MODELS_BY_INPUT, load_model

__all__ = ["input_ratio", "defaults_for_input", "resolution_notes", "SAME_INPUT"]

#: Two inputs whose spacing-equivalent particle masses are within this factor count as the same resolution
#: (the suite's 1-in-8 and 1-in-64 twins sit at 8.0x and 64.0x; a deposit's particle mass is exact).
SAME_INPUT = 1.5


def input_ratio(source_attrs, bundle):
    """``input / model`` spacing-equivalent particle mass (8 for a 1-in-8 input to a full-resolution
    model), or None when the maps or the bundle do not record their particles.

    Only what the maps record counts: an older deposit's source snapshot is not opened here (it could be
    large, and a relative path in its attrs would resolve against wherever enrichment runs).
    """
    from ember_dist.deposit.resolution import ATTRS, ParticleMass, bundle_dm_mass  # the deposit package imports numba

    try:
        src = ParticleMass(*(float(source_attrs[k]) for k in ATTRS))
    except (KeyError, TypeError, ValueError):
        return None
    mod = bundle_dm_mass(bundle)
    if mod is None or not (src.equivalent > 0 and mod.equivalent > 0):
        return None
    return src.equivalent / mod.equivalent


def _nearest(q, choices):
    k = min(choices, key=lambda c: abs(math.log(q / c)))
    return k if abs(math.log(q / k)) <= math.log(SAME_INPUT) else None


def defaults_for_input(fields, defaulted, bundles, source_attrs):
    """``({field: bundle}, [lines])``: the default bundles for the input's resolution.

    ``defaulted`` names the fields whose model was left out; their bundles in ``bundles`` are the
    full-resolution defaults. Raises ValueError for an input between the defaults' resolutions.
    """
    out, lines = dict(bundles), []
    for f in fields:
        if f not in defaulted:
            continue
        q = input_ratio(source_attrs, bundles[f])
        if q is None:
            continue
        factors = sorted(k for k, names in DEFAULT_MODELS_BY_INPUT.items() if f in names)
        k = _nearest(q, factors)
        if k is None:
            ways = ["all" if c == 1 else f"1 in {c}" for c in factors]
            ways = ", ".join(ways[:-1]) + " or " + ways[-1] if len(ways) > 1 else ways[0]
            raise ValueError(
                f"the input maps' dark-matter particles are {q:.3g}x as heavy (spacing-equivalent mass) as those "
                f"the default {f} model {bundles[f].name!r} learned from; the {f} defaults learned from {ways} of "
                f"those particles, none within a factor {SAME_INPUT:g}. Deposit the maps from a run of one of those "
                "resolutions (`ember-dist deposit ... --downsample K` keeps 1 particle in K of a finer one), or "
                f"pass a bundle trained on this input as {spell_or('model', Ellipsis, '--model')} (`ember-dist "
                f"models` lists each bundle's input resolution); naming a default there ({bundles[f].name} for {f}) "
                "runs it on these maps with a note.")
        if k != 1:
            out[f] = load_model(DEFAULT_MODELS_BY_INPUT[k][f])
            lines.append(f"{f}: the input has 1/{q:.3g} of the particles of full-resolution dark matter (its "
                         f"spacing-equivalent particle mass is {q:.3g}x); using {out[f].name}, the default for "
                         f"1 in {k}")
    return out, lines


def resolution_notes(bundles, source_attrs, skip=()):
    """Lines for the models given by name whose training particles differ from the input's by more than
    :data:`SAME_INPUT`; fields in ``skip`` are left out."""
    lines = []
    for f, b in bundles.items():
        q = None if f in skip else input_ratio(source_attrs, b)
        if q is not None and abs(math.log(q)) > math.log(SAME_INPUT):
            lines.append(f"{f}: these maps have {max(q, 1 / q):.3g}x {'fewer' if q > 1 else 'more'} dark-matter "
                         f"particles per volume than model {b.name!r} learned from (spacing-equivalent particle "
                         "masses); its small scales will not be what it learned. Pass a model trained on this input "
                         "(`ember-dist models` lists each bundle's input resolution)")
    return lines
