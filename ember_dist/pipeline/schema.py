# SPDX-License-Identifier: BSD-3-Clause
"""The pipeline file: its keys, their types and defaults, and validation with YAML line numbers.

A pipeline file is YAML with the sections below (``deploy/pipeline-laptop.yaml`` is a commented
example).  :func:`load_pipeline` parses it with PyYAML's node API, so every key and value keeps
its line (``yaml.Node.start_mark``), checks every key against :data:`SCHEMA` and returns a plain
dict with the defaults filled in.  All problems are reported at once, each as
``FILE, line N: section.key: what is wrong; allowed ...``.

Examples
--------
>>> spec = parse_pipeline_text("output: out\\ninput: {maps: m.zarr}\\nenrich: {models: {gas: g}}\\n")
>>> spec["deposit"]["slabs"], spec["enrich"]["realisations"], spec["cluster"]["profile"]
(10, 1, 'local')
>>> parse_pipeline_text("output: out\\ninput: {maps: m.zarr}\\nenrich: {models: {gas: g}, precision: f16}\\n")
Traceback (most recent call last):
...
ember_dist.pipeline.schema.PipelineError: pipeline.yaml, line 3: enrich.precision: 'f16' is not allowed; allowed values: float32, bfloat16
"""
from __future__ import annotations

from dataclasses import dataclass, field

import yaml

__all__ = ["PipelineError", "SCHEMA", "load_pipeline", "parse_pipeline_text", "STATISTICS", "FIELDS"]

#: Statistics the pipeline computes (``statistics.compute``).
STATISTICS = ("power", "pdf", "cddf", "halos")
#: Fields a pipeline can paint.
FIELDS = ("gas", "hi")


class PipelineError(ValueError):
    """A pipeline file or its inputs are wrong; the message names the key, the line and the fix."""


@dataclass(frozen=True)
class Key:
    """One key of the schema: its kind, default and allowed values.

    kind: ``int``, ``float``, ``str``, ``bool``, ``list`` (of ``item``), ``map`` (str -> ``item``),
    ``section`` (nested :data:`SCHEMA`-like dict in ``keys``).  ``auto`` lets the string ``"auto"``
    stand for "derive it" (e.g. from the models); ``none`` lets ``null`` through.
    """

    kind: str
    default: object = None
    allowed: tuple = ()
    item: str = "str"
    keys: dict = field(default_factory=dict)
    required: bool = False
    minimum: float | None = None
    auto: bool = False
    none: bool = False
    doc: str = ""


def _section(doc="", required=False, **keys):
    return Key("section", keys=keys, required=required, doc=doc)


#: The pipeline file's keys.  Lengths in ckpc/h, masses in Msun/h; paths relative to the file.
SCHEMA = {
    "name": Key("str", none=True, doc="label of this pipeline (default: the file name without .yaml)"),
    "output": Key("str", required=True, doc="output folder of every stage, the report and the stage records"),
    "input": _section(
        "what to enrich", required=True,
        snapshot=Key("str", none=True, doc="dark-matter-only snapshot (Gadget/GIZMO HDF5)"),
        maps=Key("str", none=True, doc="existing dark-matter maps (zarr with variable dm, .npy, file.h5:dm)"),
        truth=Key("str", none=True, doc="hydrodynamical snapshot at the same redshift (truth gas / HI)"),
        halos=Key("str", default="fof", doc="'fof' (friends-of-friends on the snapshot), 'none' or a CSV/HDF5 "
                                           "catalogue (x, y, z, r_vir, mass)"),
        reference=Key("list", none=True, item="str",
                      doc="hydro snapshots of other boxes at the same redshift (e.g. the training suite's held-out "
                          "seed), deposited on slabs as deep as the application's: statistics to compare with "
                          "where input has no truth (a different volume)"),
    ),
    "deposit": _section(
        "snapshot -> slab maps",
        axes=Key("list", default=["x", "y", "z"], item="str", allowed=("x", "y", "z")),
        slabs=Key("int", default=10, minimum=1),
        pixel=Key("float", default="auto", auto=True, minimum=0.0,
                  doc="pixel size, ckpc/h (auto: the models' training pixel size)"),
        input_resolution=Key("str", default="auto", allowed=("auto", "HR", "MR"), item="int",
                             doc="HR (all particles), MR (1 in 64) or an integer downsampling factor; "
                                 "auto: the factor that gives the snapshot's dark matter the particle mass of "
                                 "the models' training input (as they were trained where bundles do not say)"),
        seed=Key("int", default=0, doc="seed of the particle downsampling"),
        kernel=Key("str", default="cubic_spline", allowed=("cubic_spline", "wendland_c2_2d")),
        n_neighbours=Key("int", default=80, minimum=1),
    ),
    "enrich": _section(
        "slab maps -> baryon maps", required=True,
        models=Key("map", required=True, item="str", allowed=FIELDS, doc="bundle name or folder per field"),
        realisations=Key("int", default=1, minimum=1),
        seed=Key("int", default=0),
        halo=Key("str", default="fastest", allowed=("fastest", "exact", "split", "auto")),
        tile=Key("int", default=2048, minimum=1),
        precision=Key("str", default="float32", allowed=("float32", "bfloat16")),
        batch_size=Key("int", default=1, minimum=1),
    ),
    "statistics": _section(
        "statistics of the enriched (and truth) maps",
        compute=Key("list", default=list(STATISTICS), item="str", allowed=STATISTICS),
        cddf=_section(lo=Key("float", default=17.0), hi=Key("float", default=23.0),
                      per_dex=Key("int", default=10, minimum=1)),
        halos=_section(min_members=Key("int", default=20, minimum=2),
                       linking_length=Key("float", default=0.2, minimum=0.0,
                                          doc="FoF b, in mean interparticle separations"),
                       mass_bins=Key("int", default=6, minimum=1),
                       radius_factor=Key("float", default=1.0, minimum=0.0,
                                         doc="aperture radius in units of R200c (1: the paper's R200c)"),
                       min_mass=Key("float", none=True, doc="Msun/h")),
    ),
    "cluster": _section(
        "where the work runs",
        profile=Key("str", default="local", doc="local, cuda, a deploy/ profile (slurm, pbs, ...), a profile "
                                                ".yaml or a scheduler address"),
        workers=Key("int", none=True, minimum=1, doc="local workers / jobqueue jobs"),
    ),
}


def _marks(node, path=(), out=None):
    """{key path: line} for every key of a YAML node tree (lines 1-based)."""
    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            p = path + (str(k.value),)
            out[p] = k.start_mark.line + 1
            out[p + ("<value>",)] = v.start_mark.line + 1
            _marks(v, p, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            out[path + (i,)] = v.start_mark.line + 1
            _marks(v, path + (i,), out)
    return out


def _type_ok(kind, v):
    if kind == "int":
        return isinstance(v, int) and not isinstance(v, bool)
    if kind == "float":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if kind == "str":
        return isinstance(v, str)
    if kind == "bool":
        return isinstance(v, bool)
    return False


_KIND_TEXT = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false",
              "list": "a list", "map": "a mapping", "section": "a mapping"}


class _Checker:
    def __init__(self, source, marks):
        self.source, self.marks, self.errors = source, marks, []

    def err(self, path, msg, value=False):
        line = self.marks.get(tuple(path) + (("<value>",) if value else ()), self.marks.get(tuple(path)))
        where = f"{self.source}, line {line}" if line else self.source
        self.errors.append(f"{where}: {'.'.join(str(p) for p in path)}: {msg}")

    def section(self, keys, data, path):
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self.err(path, f"must be a mapping of keys ({', '.join(keys)}), got {data!r}", value=True)
            return {}
        out = {}
        for k in data:
            if k not in keys:
                self.err(path + (k,), f"unknown key; allowed keys{' in ' + '.'.join(path) if path else ''}: "
                                      f"{', '.join(keys)}")
        for k, spec in keys.items():
            if k not in data:
                if spec.required:
                    where = ".".join(path) if path else "the top level"
                    self.err(path or (k,), f"missing required key {k!r} in {where} ({spec.doc or spec.kind})")
                out[k] = self.section(spec.keys, {}, path + (k,)) if spec.kind == "section" else spec.default
                continue
            out[k] = self.value(spec, data[k], path + (k,))
        return out

    def value(self, spec, v, path):
        if spec.kind == "section":
            return self.section(spec.keys, v, path)
        if v is None and (spec.none or not spec.required):
            return spec.default if not spec.none else None
        if spec.auto and v == "auto":
            return v
        if spec.kind == "list":
            if not isinstance(v, list):
                v = [v] if _type_ok(spec.item, v) else v
            if not isinstance(v, list):
                self.err(path, f"must be a list of {spec.item} values, got {v!r}", value=True)
                return spec.default
            for i, x in enumerate(v):
                self.scalar(spec.item, spec.allowed, x, path + (i,), spec.minimum)
            if len(set(map(str, v))) != len(v) or not v:
                self.err(path, f"must be a non-empty list of distinct values, got {v!r}", value=True)
            return list(v)
        if spec.kind == "map":
            if not isinstance(v, dict) or not v:
                self.err(path, f"must be a mapping such as {{{spec.allowed[0]}: NAME}}, got {v!r}", value=True)
                return {}
            for k, x in v.items():
                if spec.allowed and k not in spec.allowed:
                    self.err(path + (k,), f"unknown key; allowed keys: {', '.join(spec.allowed)}")
                self.scalar(spec.item, (), x, path + (k,), None)
            return dict(v)
        if spec.item == "int" and spec.kind == "str" and _type_ok("int", v):  # e.g. input_resolution: 64
            if v < 1:
                self.err(path, f"{v!r} must be >= 1 (1 keeps every particle)", value=True)
            return v
        self.scalar(spec.kind, spec.allowed, v, path, spec.minimum)
        return float(v) if spec.kind == "float" and _type_ok("float", v) else v

    def scalar(self, kind, allowed, v, path, minimum):
        if not _type_ok(kind, v):
            hint = f"; allowed values: {', '.join(map(str, allowed))}" if allowed else ""
            self.err(path, f"{v!r} is not {_KIND_TEXT[kind]}{hint}", value=True)
            return
        if allowed and v not in allowed:
            self.err(path, f"{v!r} is not allowed; allowed values: {', '.join(map(str, allowed))}", value=True)
        if minimum is not None and v < minimum:
            self.err(path, f"{v!r} must be >= {minimum:g}", value=True)


def parse_pipeline_text(text, source="pipeline.yaml"):
    """Validate pipeline YAML ``text``; returns the spec dict with defaults filled in.

    Raises
    ------
    PipelineError
        Listing every problem with its line, the key and the allowed keys or values.
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark else ""
        raise PipelineError(f"{source}{line}: not valid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(data, dict):
        raise PipelineError(f"{source}: a pipeline file is a YAML mapping with keys {', '.join(SCHEMA)}; "
                            "see deploy/pipeline-laptop.yaml")
    chk = _Checker(source, _marks(node))
    spec = chk.section(SCHEMA, data, ())
    inp = data.get("input") if isinstance(data.get("input"), dict) else {}
    if isinstance(inp, dict) and bool(inp.get("snapshot")) == bool(inp.get("maps")):
        chk.err(("input",), "give exactly one of input.snapshot (a dark-matter-only snapshot to deposit) "
                           "and input.maps (dark-matter maps already deposited)")
    if chk.errors:
        raise PipelineError("\n".join(chk.errors))
    spec["_marks"] = chk.marks
    return spec


def load_pipeline(path):
    """Read and validate the pipeline file ``path`` (see :func:`parse_pipeline_text`).

    Relative paths in the file stay as written; :func:`ember_dist.pipeline.runner.run_pipeline`
    resolves them against the file's folder.
    """
    import os

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"pipeline file {path!r} does not exist; see deploy/pipeline-laptop.yaml "
                                "for a commented example")
    with open(path) as f:
        spec = parse_pipeline_text(f.read(), source=os.path.basename(path))
    if not spec["name"]:
        spec["name"] = os.path.splitext(os.path.basename(path))[0]
    spec["_file"] = os.path.abspath(path)
    return spec
