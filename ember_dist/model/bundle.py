# SPDX-License-Identifier: BSD-3-Clause
"""Model bundles: Keras weights (HDF5) plus a JSON description, checksum-verified.

A bundle is a directory::

    <name>/bundle.json            architecture preset, field, kind, normalisation,
                                  alignment, receptive field, seam-error table,
                                  training description, provenance, weights sha256
    <name>/generator.weights.h5   Keras weights (no code, nothing unpickled)
    <name>/bundle.json.sha256     sha256 of bundle.json

Loading rebuilds the network from the preset with ember_dist's own code and
then loads the weights; both files are verified against their checksums first.

Bundles are looked up by path, then by name in the user model directory
(``EMBER_DIST_MODEL_DIR``, default ``~/.ember_dist/models``), then among the
bundles shipped in ``ember_dist/bundles``.
"""
from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ember_dist.errors import spell_or
from ember_dist.io.checksum import files_sha256
from ember_dist.model.normalization import Normalization
from ember_dist.model.presets import Preset

__all__ = ["ModelBundle", "load_model", "available_models", "save_bundle", "default_model_name",
           "DEFAULT_MODELS", "DEFAULT_MODELS_BY_INPUT", "FALLBACK_MODELS", "TOY_MODELS",
           "BundleError", "BundleExistsError", "check_bundle_path", "models_table", "BUNDLE_FORMAT"]

BUNDLE_FORMAT = "ember_dist.bundle/1"
_WEIGHTS = "generator.weights.h5"
_META = "bundle.json"

#: Default bundle per output field, taken when no model is given (``enrich_box``, ``ember-dist enrich``, the
#: demo): the shipped suite model with the lowest score on the suite's six validation boxes
#: (``tools/train_shipped_models.py --validate``: |mass| + mean |P(k)| + mean |B_eq| + max |PDF| over 1-99% (+ mean
#: |CDDF|), the U-Net on a 2% tie; docs/evaluation/suite). Both take full-resolution dark matter at 31.25
#: ckpc/h pixels (Gadget-2 suite, z = 2); maps at another pixel size are refused before any work.
DEFAULT_MODELS = {"gas": "suite-gas-wgan", "hi": "suite-hi-wgan"}
#: The defaults per input resolution, keyed by how many times fewer dark-matter particles the input has than
#: the suite's full-resolution runs (1, 8, 64: the suite boxes' lower-resolution twins); each the model that
#: scored lowest on the validation twins (docs/evaluation/suite "The bispectrum in the validation score").
#: ``enrich_box`` picks by the input maps' recorded particle mass (:mod:`ember_dist.engine.input_resolution`).
DEFAULT_MODELS_BY_INPUT = {1: DEFAULT_MODELS,
                           8: {"gas": "suite-gas-wgan-mr8", "hi": "suite-hi-wgan-mr8"},
                           64: {"gas": "suite-gas-wgan-mr64", "hi": "suite-hi-wgan-mr64"}}
#: The field's other suite model, which the demo takes when the default is not installed.
FALLBACK_MODELS = {"gas": "suite-gas-unet", "hi": "suite-hi-unet"}
#: The toy bundles (600 steps on lognormal maps and an analytic relation, 3.66 ckpc/h pixels;
#: ``tools/make_toy_bundles.py``): for tests and ``ember-dist demo --toy``, never for science.
TOY_MODELS = {"gas": "small-gas-toy", "hi": "small-hi-toy"}

#: Rows of the ``evaluation["table"]`` metadata (written by ``ember_dist.train.evaluate`` through
#: ``tools/train_shipped_models.py``) that ``ember-dist models`` lists.
EVAL_MASS_KEY = "total mass error (median)"
EVAL_POWER_KEY = "mean abs P(k) error, k <= k_Nyq/2"


class BundleError(ValueError):
    """A bundle is missing, unknown, corrupt or inconsistent."""


class BundleExistsError(BundleError, FileExistsError):
    """A bundle directory to write exists and ``overwrite`` was not given."""


def check_bundle_path(path, overwrite=False):
    """Raise :class:`BundleExistsError` when bundle directory ``path`` exists and ``overwrite`` is false.

    Cheap (no Keras import): training calls it before any work, :func:`save_bundle` again when writing.
    """
    if Path(path).exists() and not overwrite:
        raise BundleExistsError(f"bundle directory {str(path)!r} exists. Pass overwrite=True (--overwrite) to "
                                "replace it, or choose another out= (--out) path.")


def _sha256(path):
    return files_sha256(path)


def _shipped_dir():
    return Path(__file__).resolve().parent.parent / "bundles"


def user_model_dir():
    """The user model directory (``EMBER_DIST_MODEL_DIR`` or ``~/.ember_dist/models``)."""
    return Path(os.environ.get("EMBER_DIST_MODEL_DIR", Path.home() / ".ember_dist" / "models"))


def _candidates():
    out = {}
    for root in (_shipped_dir(), user_model_dir()):  # user bundles shadow shipped ones
        if root.is_dir():
            for d in sorted(root.iterdir()):
                if (d / _META).is_file():
                    out[d.name] = d
    return out


def available_models():
    """Names of the bundles found (shipped and in the user model directory)."""
    return sorted(_candidates())


def default_model_name(field):
    """The shipped default bundle for ``field``."""
    try:
        return DEFAULT_MODELS[field]
    except KeyError:
        raise BundleError(
            f"no default model for field={field!r}; defaults exist for {sorted(DEFAULT_MODELS)}. "
            f"Pass {spell_or('model', Ellipsis, 'model=...')} (a bundle name or path); available bundles: "
            f"{available_models()}."
        ) from None


@dataclass(frozen=True)
class ModelBundle:
    """A verified model bundle on disk.

    Attributes
    ----------
    path : Path
    meta : dict
        The parsed ``bundle.json``.
    """

    path: Path
    meta: dict

    @property
    def name(self):
        return self.meta["name"]

    @property
    def field(self):
        return self.meta["field"]

    @property
    def preset(self):
        return Preset.from_dict(self.meta["preset"])

    @property
    def alignment(self):
        return int(self.meta["alignment"])

    @property
    def weights_sha256(self):
        return self.meta["weights"]["sha256"]

    @property
    def weights_path(self):
        return self.path / self.meta["weights"]["file"]

    @property
    def input_norm(self):
        return Normalization.from_dict(self.meta["normalization"]["input"])

    @property
    def output_norm(self):
        return Normalization.from_dict(self.meta["normalization"]["output"])

    @property
    def pixel_size(self):
        """Training pixel size, ckpc/h."""
        return float(self.meta["training"]["pixel_size"])

    @property
    def dm_mass_fraction(self):
        """Share of Omega_m carried by the dark matter of the training input maps, or None.

        Recorded from the training input store's ``dm_mass_fraction`` attr (~0.843 for a hydro
        run's dark matter, ~1 for a dark-matter-only run); None for bundles trained before it was
        recorded, or on stores that lack it.
        """
        v = self.meta.get("training", {}).get("dm_mass_fraction")
        try:
            v = float(v)
        except (TypeError, ValueError):
            return None
        return v if math.isfinite(v) and v > 0 else None

    @property
    def dm_source(self):
        """``"hydro"`` or ``"dark-matter-only"``: what the training input's dark matter came from, or None."""
        return self.meta.get("training", {}).get("dm_source")

    @property
    def exact_halo(self):
        return tuple(self.meta["receptive_field"]["exact_halo"])

    def auto_halo(self):
        """Smallest measured halo whose seam error is below the bundle's tolerance."""
        tol = float(self.meta.get("auto_halo_tolerance", 1e-3))
        ok = [tuple(r["halo"]) for r in self.meta.get("seam_error", []) if r["max_rel_error"] <= tol]
        if not ok:
            return self.exact_halo
        return min(ok, key=lambda h: (h[0] + h[1], h))

    def build(self, dtype=None):
        """Rebuild the generator and load the weights; returns the inference model."""
        from ember_dist.model.generator import build_generator, inference_model

        # zeros: every weight is loaded next; a random initializer would compile one XLA program per
        # kernel shape under JAX (most of a worker's model load there) for values thrown away
        g = build_generator(self.preset, dtype=dtype, initializer="zeros")
        g.load_weights(str(self.weights_path))
        return inference_model(g)

    def held_out_errors(self):
        """The bundle's recorded held-out errors (``evaluation`` metadata); None where absent.

        Returns
        -------
        dict
            ``mass_error`` (median total-mass fractional error), ``power_error`` (mean |P(k)
            fractional error| for k <= k_Nyquist / 2), ``held_out`` (what it was evaluated on),
            ``maps_x_realisations``, ``targets_missed`` (the evaluation's targets this model misses, in words;
            ``""`` when it meets them all).
        """
        ev = self.meta.get("evaluation") or {}
        table = ev.get("table") or {}

        def num(v):
            return float(v) if isinstance(v, (int, float)) else None

        return {"mass_error": num(table.get(EVAL_MASS_KEY)), "power_error": num(table.get(EVAL_POWER_KEY)),
                "held_out": ev.get("held_out"), "maps_x_realisations": table.get("maps x realisations"),
                "targets_missed": table.get("targets missed")}

    def describe(self):
        t = self.meta.get("training", {})
        return (f"{self.name}\tfield={self.field}\tkind={self.meta.get('kind')}\t"
                f"input={t.get('input_resolution', '?')}\tpixel={self.pixel_size:g} ckpc/h")


def input_downsample(text):
    """How many times fewer dark-matter particles a bundle's ``input_resolution`` text names: ``"... (1/8 of the
    particles ...)"`` -> 8 (a subsample or a lower-resolution run), ``"HR (full-resolution ...)"`` -> 1, else None.

    >>> input_downsample("low-resolution dark matter (1/8 of the particles: a lower-resolution run)"), input_downsample("HR")
    (8, 1)
    """
    import re

    text = str(text or "")
    m = re.search(r"1/(\d+)", text)
    if m:
        return int(m.group(1))
    if text.startswith("HR") or "full-resolution" in text:
        return 1
    return None


def _input_label(text):
    """Short input resolution: ``HR``, ``MR 1/64`` (from the training description)."""
    text = str(text or "?")
    if "downsampled" in text or "low-resolution" in text:
        k = input_downsample(text)
        return f"MR 1/{k}" if k else "MR"
    return text.split(" (")[0]


def models_table(bundles):
    """Lines of ``ember-dist models``: one row per bundle, columns aligned, ``-`` where a value is absent.

    Columns: name, field, kind, input resolution, training pixel size (ckpc/h), the input it is the default
    for (:data:`DEFAULT_MODELS_BY_INPUT`: ``HR``, ``MR 1/8``, ...), and from the bundle's ``evaluation``
    metadata the held-out median total-mass error, the mean |P(k) error| for k <= k_Nyquist / 2, the targets
    missed (``none`` when all are met) and what the errors were measured on.
    """
    def pct(v, signed):
        return "-" if v is None else f"{v:+.1%}" if signed else f"{v:.1%}"

    default_for = {name: "HR" if k == 1 else f"MR 1/{k}" for k, d in DEFAULT_MODELS_BY_INPUT.items()
                   for name in d.values()}
    header = ("name", "field", "kind", "input", "pixel [ckpc/h]", "default for", "held-out mass error",
              "mean |P(k) error| k<=k_Nyq/2", "targets missed", "held out on (maps x realisations)")
    rows = []
    for b in bundles:
        e = b.held_out_errors()
        on = e["held_out"] or "-"
        if e["held_out"] and e["maps_x_realisations"]:
            on += f" ({e['maps_x_realisations']})"
        missed = e["targets_missed"]
        rows.append((b.name, b.field, str(b.meta.get("kind", "?")),
                     _input_label(b.meta.get("training", {}).get("input_resolution")), f"{b.pixel_size:.4g}",
                     default_for.get(b.name, "-"), pct(e["mass_error"], True), pct(e["power_error"], False),
                     "-" if missed is None else missed or "none", on))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in [header, *rows]]


def _verify(path):
    meta_file, sums = path / _META, path / (_META + ".sha256")
    if not sums.is_file():
        raise BundleError(f"bundle {str(path)!r} has no {sums.name}; it is incomplete. Re-export it with save_bundle().")
    if _sha256(meta_file) != sums.read_text().split()[0]:
        raise BundleError(
            f"bundle {str(path)!r}: {_META} does not match its checksum (corrupt or edited). "
            "Restore the bundle from its source or re-export it with save_bundle()."
        )
    meta = json.loads(meta_file.read_text())
    if meta.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"bundle {str(path)!r} has format {meta.get('format')!r}; this ember_dist reads {BUNDLE_FORMAT!r}.")
    w = path / meta["weights"]["file"]
    if not w.is_file():
        raise BundleError(f"bundle {str(path)!r} is missing its weights file {w.name!r}.")
    got = _sha256(w)
    if got != meta["weights"]["sha256"]:
        raise BundleError(
            f"bundle {str(path)!r}: weights sha256 {got[:12]}... does not match the recorded "
            f"{meta['weights']['sha256'][:12]}... (corrupt or tampered). Restore the bundle from its source."
        )
    return meta


def load_model(model):
    """Find, verify and describe a model bundle.

    Parameters
    ----------
    model : str, os.PathLike or ModelBundle
        A bundle directory, or the name of a shipped or user bundle.

    Returns
    -------
    ModelBundle

    Examples
    --------
    >>> load_model("no-such-model")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ember_dist.model.bundle.BundleError: unknown model 'no-such-model'; available models: [...]. Pass one of them, or a bundle directory path, as model=...
    """
    if isinstance(model, ModelBundle):
        return model
    p = Path(model)
    if not (p / _META).is_file():
        found = _candidates()
        if str(model) not in found:
            raise BundleError(
                f"unknown model {str(model)!r}; available models: {sorted(found)}. "
                f"Pass one of them, or a bundle directory path, as {spell_or('model', Ellipsis, 'model=...')}"
            )
        p = found[str(model)]
    return ModelBundle(p.resolve(), _verify(p))


def save_bundle(generator, path, *, name, field, kind, preset, input_norm, output_norm, training,
                seam_error=None, auto_halo_tolerance=1e-3, extra=None, overwrite=False):
    """Write ``generator``'s weights and description as a bundle directory.

    Parameters
    ----------
    generator : keras.Model
        Built with :func:`~ember_dist.model.generator.build_generator` from ``preset``.
    path : str or Path
    name, field, kind : str
        ``kind`` is ``"unet"`` or ``"wgan"`` (or a free description).
    preset : Preset
    input_norm, output_norm : Normalization
    training : dict
        Must hold ``pixel_size`` (ckpc/h) and ``input_resolution``; say honestly what it was trained on.
        ``dm_mass_fraction`` (the training input store's attr: share of Omega_m its dark matter carries)
        lets enrichment rescale inputs of another kind (:attr:`ModelBundle.dm_mass_fraction`).
    seam_error : list of dict, optional
        ``[{"halo": [before, after], "max_rel_error": e}, ...]`` measured for this bundle.

    Returns
    -------
    ModelBundle
    """
    import ember_dist
    from ember_dist.io.conventions import utc_now
    from ember_dist.model.geometry import receptive_field

    path = Path(path)
    check_bundle_path(path, overwrite)
    if path.exists():
        shutil.rmtree(path)
    for k in ("pixel_size", "input_resolution"):
        if k not in training:
            raise BundleError(f"training description needs {k!r}. Received keys: {sorted(training)!r}.")
    path.mkdir(parents=True)
    generator.save_weights(str(path / _WEIGHTS))
    rf = receptive_field(preset)
    meta = {
        "format": BUNDLE_FORMAT,
        "name": name,
        "field": field,
        "kind": kind,
        "preset": preset.to_dict(),
        "alignment": preset.alignment,
        "receptive_field": rf.to_dict(),
        "normalization": {"input": input_norm.to_dict(), "output": output_norm.to_dict()},
        "seam_error": seam_error or [],
        "auto_halo_tolerance": auto_halo_tolerance,
        "training": training,
        "provenance": {"created": utc_now(), "ember_dist_version": ember_dist.__version__},
        "weights": {"file": _WEIGHTS, "sha256": _sha256(path / _WEIGHTS)},
        **(extra or {}),
    }
    (path / _META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    (path / (_META + ".sha256")).write_text(_sha256(path / _META) + "  " + _META + "\n")
    return load_model(path)


def update_meta(bundle, **changes):
    """Rewrite ``bundle.json`` with ``changes`` merged in, and its checksum."""
    b = load_model(bundle)
    meta = {**b.meta, **changes}
    (b.path / _META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    (b.path / (_META + ".sha256")).write_text(_sha256(b.path / _META) + "  " + _META + "\n")
    return load_model(b.path)
