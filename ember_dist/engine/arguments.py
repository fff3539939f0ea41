# SPDX-License-Identifier: BSD-3-Clause
"""``enrich_box``'s field and model arguments, coerced once: names -> verified bundles per field.

Errors spell the fix as the user passes it (keywords, or flags on the command line).
"""
from __future__ import annotations

import os

from ember_dist.errors import spell_or
from ember_dist.model.bundle import BundleError, default_model_name, load_model

__all__ = ["coerce_fields", "resolve_models"]


def coerce_fields(fields):
    if isinstance(fields, str):
        fields = [fields]
    fields = list(fields)
    if not fields or len(set(fields)) != len(fields):
        raise ValueError("fields must be a non-empty list of distinct names such as "
                         f"{spell_or('fields', ['gas', 'hi'])}. "
                         f"Received: {spell_or('fields', fields)}.")
    return fields


def _default_names(fields):
    names = {}
    for f in fields:
        try:
            names[f] = default_model_name(f)
        except BundleError:
            names[f] = f"<{f} model>"
    return names


def resolve_models(fields, model):
    if isinstance(model, (list, tuple)):
        if len(model) != len(fields):
            raise ValueError(
                f"{len(model)} models were given for {len(fields)} fields {fields!r}; pass one model per field, in "
                f"the same order: {spell_or('model', _default_names(fields))}."
            )
        model = dict(zip(fields, model))
    if model is None or isinstance(model, (str, os.PathLike)) or hasattr(model, "meta"):
        if model is not None and len(fields) > 1:
            raise ValueError(
                f"one model was given for fields {fields!r}; pass one per field, e.g. "
                f"{spell_or('model', _default_names(fields))}, or leave it out to use the bundled defaults."
            )
        model = {f: model for f in fields}
    missing = [f for f in fields if f not in model]
    if missing:
        raise ValueError(f"model dict has no entry for fields {missing!r}. Received keys: {sorted(model)!r}.")
    bundles = {}
    for f in fields:
        b = load_model(model[f] if model[f] is not None else default_model_name(f))
        if b.field != f:
            raise BundleError(
                f"model {b.name!r} predicts field {b.field!r}, not {f!r}. Pass a {f} model, e.g. "
                f"{spell_or('model', _default_names([f])[f])} if that default exists, or "
                f"{spell_or('fields', [b.field])}."
            )
        bundles[f] = b
    return bundles
