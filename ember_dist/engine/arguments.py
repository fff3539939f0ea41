# SPDX-License-Identifier: BSD-3-Clause
"""``enrich_box``'s arguments, coerced once and checked before any work.

:func:`checked_options` takes the options left out on resume from the store, then coerces the
fields and models to verified bundles per field; :func:`with_engine_defaults` fills the engine
options left out from config.  Errors spell the fix as the user passes it (keywords, or flags on
the command line).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

from ember_dist import config
from ember_dist.engine import resume as resume_
from ember_dist.errors import spell_or
from ember_dist.io.store import check_output
from ember_dist.model.bundle import BundleError, default_model_name, load_model

__all__ = ["coerce_fields", "defaulted_fields", "resolve_models", "Options", "checked_options", "with_engine_defaults"]

log = logging.getLogger("ember_dist")


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


def defaulted_fields(fields, model):
    """The fields whose model was left out (``model`` None, or None for that field in a dict or sequence).

    >>> sorted(defaulted_fields(["gas", "hi"], None)), defaulted_fields(["gas", "hi"], {"gas": "m", "hi": None})
    (['gas', 'hi'], {'hi'})
    >>> defaulted_fields(["gas"], "m")
    set()
    """
    if model is None:
        return set(fields)
    if isinstance(model, dict):
        return {f for f in fields if model.get(f) is None}
    if isinstance(model, (list, tuple)):
        return {f for f, m in zip(fields, model) if m is None}
    return set()


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


@dataclass(frozen=True)
class Options:
    """``enrich_box``'s options after :func:`checked_options` (and :func:`with_engine_defaults`).

    The first fields are ``enrich_box``'s keywords of the same names (on resume, those left out
    are the store's); ``bundles`` holds the verified bundle per field, ``recorded`` the store's
    recorded request (None unless resuming a store that has one), ``halo_asked`` the halo as asked
    (before ``"fastest"`` picks a mode), recorded in a new store.
    """

    maps: object
    fields: list
    model: object
    samples: int
    seed: int
    tile: object
    halo: object
    batch_size: object
    precision: object
    pixel_size: object
    variable: object
    dataset: object
    split_level: object
    coarse_core: object
    dm_rescale: object
    bundles: dict
    recorded: dict | None = None
    halo_asked: object = None
    pixel_tolerance: float | None = None
    progress: bool | None = None

    @property
    def model_px(self):
        """Whether ``pixel_size="model"`` (assume the model's training pixel size)."""
        return isinstance(self.pixel_size, str) and self.pixel_size == "model"


def checked_options(out, given, *, overwrite=False, resume=False):
    """:class:`Options` from ``given`` (``enrich_box``'s keywords, None where left out), checked in order.

    Raises on the output path (:func:`~ember_dist.io.store.check_output`), on options given that
    differ from a resumed store's, on missing maps, bad fields or samples, and on models that cannot
    be loaded, or differ from the resumed store's, all before anything is read.
    """
    check_output(out, None, overwrite=overwrite, resume=resume)  # fail fast, before reading anything
    opts, recorded = dict(given), None
    if resume:  # options not given come from the store; those given must match it
        opts, recorded = resume_.options_from_store(out, given)
    if opts["maps"] is None:
        raise ValueError(f"no input maps were given; pass the dark-matter maps "
                         f"({spell_or('maps', Ellipsis, 'the MAPS argument')}).")
    fields = coerce_fields(("gas",) if opts["fields"] is None else opts["fields"])
    samples = int(1 if opts["samples"] is None else opts["samples"])
    seed = int(0 if opts["seed"] is None else opts["seed"])
    if samples < 1:
        raise ValueError(f"samples must be >= 1. Received: {spell_or('samples', samples)}.")
    bundles = resolve_models(fields, opts["model"])
    if recorded is not None and (problems := resume_.check_models(recorded, bundles)):
        raise resume_.refuse(out, problems)
    opts.update(fields=fields, samples=samples, seed=seed)
    return Options(**{k: opts[k] for k in given}, bundles=bundles, recorded=recorded)


def with_engine_defaults(opts, pixel_tolerance=None, progress=None):
    """``opts`` with the engine options left out taken from config (``engine.*``); checks the precision."""
    tile = int(config.get("engine.tile", opts.tile))
    halo = config.get("engine.halo", opts.halo)
    batch_size = int(config.get("engine.batch-size", opts.batch_size))
    precision = config.get("engine.precision", opts.precision)
    if precision not in ("float32", "bfloat16"):
        raise ValueError(f"precision must be 'float32' or 'bfloat16'. Received: {spell_or('precision', precision)}.")
    if precision == "bfloat16" and (note := _bf16_note()):
        log.warning(note)
    return replace(opts, tile=tile, halo=halo, halo_asked=list(halo) if isinstance(halo, (list, tuple)) else halo,
                   batch_size=batch_size, precision=precision,
                   pixel_tolerance=float(config.get("engine.pixel-tolerance", pixel_tolerance)),
                   progress=bool(config.get("engine.progress", progress)),
                   dm_rescale=bool(config.get("engine.dm-rescale", opts.dm_rescale)))


def _bf16_note(cpuinfo=None):
    """A sentence when this CPU has no fast bfloat16 path (AMX), else None.

    AVX512-BF16 alone is not one: on an Intel Xeon with AVX512-BF16 and no AMX, TensorFlow's
    oneDNN ran the fiducial generator 1.4x slower in mixed bfloat16 than in float32 (whole
    2048^2 map, 3.7 s vs 2.6 s; split 4096^2 in bench/engine.py, 20.5 s vs 15.1 s).

    >>> _bf16_note("flags : fpu avx512f amx_bf16 amx_tile") is None
    True
    >>> "1.4x slower" in _bf16_note("flags : fpu avx512f avx512_bf16")
    True
    >>> "emulated" in _bf16_note("flags : fpu avx2")
    True
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return None
    if "amx_bf16" in cpuinfo:
        return None
    if "avx512_bf16" in cpuinfo:
        return ("precision='bfloat16': this CPU has AVX512-BF16 but no AMX; on such a CPU bench/engine.py measured "
                "bfloat16 1.4x slower than float32 (use float32 here; GPU workers are unaffected)")
    return ("precision='bfloat16': this CPU has no AMX or AVX512-BF16 instructions, so bfloat16 convolutions are "
            "emulated; on such a CPU bench/engine.py measured no speed-up over float32 (GPU workers are unaffected)")
