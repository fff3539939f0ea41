# SPDX-License-Identifier: BSD-3-Clause
"""Lower layers (engine, io, deposit, model) import no higher one (demo, pipeline, cli, stats).

Read from the source text with ``ast``, so imports inside functions count as much as those at
module level, and nothing needs to be imported to check it.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import ember_dist

PACKAGE = Path(ember_dist.__file__).resolve().parent
LOWER = ("engine", "io", "deposit", "model")
HIGHER = ("ember_dist.demo", "ember_dist.pipeline", "ember_dist.cli", "ember_dist.stats")


def _module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path, text=None):
    """``(line, module)`` for every import in ``path`` (or in ``text``, read as that file's source),
    at any depth, relative ones resolved.

    ``from ember_dist import name`` counts as an import of the module that ``ember_dist``'s lazy
    ``__getattr__`` loads ``name`` from (``power_spectrum`` -> ``ember_dist.stats``), or of
    ``ember_dist.name`` when ``name`` is a submodule; ``importlib.import_module("...")`` with a
    literal name counts too.
    """
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text() if text is None else text, str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for a in node.names:
                if base == "ember_dist":
                    out.append((node.lineno, ember_dist._LAZY.get(a.name, f"ember_dist.{a.name}")))
                else:
                    out.append((node.lineno, f"{base}.{a.name}" if node.module is None else base))
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None))
              == "import_module" and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            out.append((node.lineno, node.args[0].value))
    return sorted(out, key=lambda lm: lm[0])


def _higher(module):
    return any(module == h or module.startswith(h + ".") for h in HIGHER)


def test_the_checker_sees_every_form():
    """The checker finds module-level, in-function, relative, lazy-attribute and importlib imports."""
    probe = PACKAGE / "engine" / "_layer_probe.py"  # never written: its text is handed to the checker
    src = ("import ember_dist.cli\n"
           "def f():\n    from ember_dist.demo import lognormal_map\n"
           "def g():\n    from .. import pipeline\n    from ember_dist import power_spectrum\n"
           "def h():\n    import importlib\n    importlib.import_module('ember_dist.stats.power')\n"
           "from ember_dist.io import store\nfrom ember_dist import load_model\n")
    found = [m for _, m in imported_modules(probe, src)]
    assert found == ["ember_dist.cli", "ember_dist.demo", "ember_dist.pipeline", "ember_dist.stats", "importlib",
                     "ember_dist.stats.power", "ember_dist.io", "ember_dist.model.bundle"]
    assert [m for m in found if _higher(m)] == found[:4] + ["ember_dist.stats.power"]


@pytest.mark.parametrize("layer", LOWER)
def test_lower_layers_import_no_higher_layer(layer):
    files = sorted((PACKAGE / layer).rglob("*.py"))
    assert files, f"no modules under ember_dist/{layer}"
    bad = [f"{p.relative_to(PACKAGE.parent)}:{line} imports {m}"
           for p in files for line, m in imported_modules(p) if _higher(m)]
    assert not bad, "lower layers import higher ones:\n" + "\n".join(bad)
