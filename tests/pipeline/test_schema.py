# SPDX-License-Identifier: BSD-3-Clause
"""Bad pipeline files and bad inputs are refused before any work, with the key, the allowed values and the line."""
from __future__ import annotations

import os

import pytest

from ember_dist.pipeline import PipelineError, parse_pipeline_text, run_pipeline
from ember_dist.pipeline.checks import check_output_folder

from .conftest import write_pipeline, workspace

GOOD = """\
output: out
input:
  snapshot: snap.hdf5
deposit:
  slabs: 2
enrich:
  models: {gas: small-gas-unet-mr}
"""


def _error(text):
    with pytest.raises(PipelineError) as e:
        parse_pipeline_text(text)
    return str(e.value)


def test_good_file_gets_defaults():
    spec = parse_pipeline_text(GOOD)
    assert spec["deposit"]["slabs"] == 2 and spec["deposit"]["axes"] == ["x", "y", "z"]
    assert spec["enrich"]["precision"] == "float32" and spec["statistics"]["halos"]["radius_factor"] == 1.0


def test_unknown_key_names_line_and_allowed_keys():
    msg = _error(GOOD.replace("  slabs: 2", "  slabs: 2\n  slab_count: 3"))
    assert "pipeline.yaml, line 6: deposit.slab_count: unknown key" in msg
    assert "allowed keys in deposit: axes, slabs, pixel, input_resolution" in msg


def test_wrong_type_and_value_name_line_and_allowed_values():
    msg = _error(GOOD.replace("  slabs: 2", "  slabs: two\n  axes: [z, w]") + "  precision: float16\n")
    lines = msg.splitlines()
    assert "pipeline.yaml, line 5: deposit.slabs: 'two' is not an integer" in lines
    assert "pipeline.yaml, line 6: deposit.axes.1: 'w' is not allowed; allowed values: x, y, z" in lines
    assert ("pipeline.yaml, line 9: enrich.precision: 'float16' is not allowed; allowed values: float32, bfloat16"
            in lines)


def test_missing_required_and_conflicting_inputs():
    assert "missing required key 'enrich'" in _error("output: out\ninput: {snapshot: s.hdf5}\n")
    msg = _error(GOOD.replace("  snapshot: snap.hdf5", "  snapshot: snap.hdf5\n  maps: m.zarr"))
    assert "pipeline.yaml, line 2: input: give exactly one of input.snapshot" in msg
    assert "not valid YAML" in _error("output: [out\n")


def test_missing_files_and_models_named_with_lines(toy, tmp_path):
    d = workspace(toy, "bad-inputs")
    path = write_pipeline(d, input={"snapshot": "suite/dmo/nothing.hdf5"}, enrich={"models": {"gas": "no-such-model",
                                                                                             "hi": "./models/hi"}})
    with pytest.raises(PipelineError) as e:
        run_pipeline(path, progress=False)
    msg = str(e.value)
    assert "input.snapshot: no such file or folder" in msg and "nothing.hdf5" in msg
    assert "enrich.models.gas: model 'no-such-model' not found" in msg
    assert "line " in msg
    assert not (d / "out").exists()  # nothing written


def test_input_resolution_must_match_the_models(toy):
    d = workspace(toy, "bad-resolution")
    path = write_pipeline(d, deposit={"input_resolution": "HR", "pixel": 58.59375},
                          enrich={"models": {"gas": "small-gas-unet-mr", "hi": "small-hi-unet-mr"}})
    with pytest.raises(PipelineError, match="'HR' keeps 1 particle in 1, but model 'small-gas-unet-mr'"):
        run_pipeline(path, progress=False)


def test_output_folder_of_another_pipeline_is_refused(tmp_path):
    from ember_dist.pipeline.records import Records

    out = tmp_path / "out"
    Records(out).claim("first", "first.yaml")
    (out / "dm.zarr").mkdir()
    with pytest.raises(FileExistsError, match="holds the results of pipeline 'first'.*--overwrite"):
        check_output_folder(str(out), "second", overwrite=False)
    assert check_output_folder(str(out), "first", overwrite=False) == "continue"
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="holds no pipeline results"):
        check_output_folder(str(other), "first", overwrite=True)
    assert (other / "notes.txt").exists()
    assert check_output_folder(str(out), "second", overwrite=True) == "replaced" and not out.exists()


def test_example_pipelines_validate():
    from ember_dist.pipeline import load_pipeline

    root = os.path.join(os.path.dirname(__file__), "..", "..", "deploy")
    for name in ("pipeline-laptop.yaml", "pipeline-slurm.yaml"):
        spec = load_pipeline(os.path.join(root, name))
        assert spec["enrich"]["models"]["hi"] == "small-hi-unet-mr"
    app = load_pipeline(os.path.join(root, "pipeline-application.yaml"))
    # the references: the suite's first three test seeds (never trained on)
    from ember_dist.sim.recipe import SUITE

    assert app["input"]["reference"] == [f"../sim_suite/box_s{s}/hydro/snap_001.hdf5"
                                         for s in SUITE["seeds"]["test"][:3]]
    assert (app["deposit"]["pixel"], app["statistics"]["halos"]["min_mass"]) == (31.25, 1.1e11)
    # slabs as deep as the training slabs (2000 ckpc/h) in the recipe's application box
    from ember_dist.sim.recipe import APPLICATION

    assert APPLICATION["box_size"] / app["deposit"]["slabs"] == 2000.0


def test_missing_toy_suite_names_the_command_in_the_file_comments(tmp_path, monkeypatch):
    """The laptop example without its toy suite: the error ends with the `ember-dist mock` command its comments
    give, and that command, run as printed, creates what was missing."""
    import shlex
    import shutil

    from ember_dist.cli import main
    from ember_dist.pipeline import load_pipeline
    from ember_dist.pipeline.checks import resolve

    root = os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "pipeline-laptop.yaml")
    (tmp_path / "deploy").mkdir()
    path = tmp_path / "deploy" / "pipeline-laptop.yaml"
    shutil.copy(root, path)
    monkeypatch.chdir(tmp_path)  # as the comments say: from the repository root
    with pytest.raises(PipelineError) as e:
        resolve(load_pipeline(str(path)))
    lines = str(e.value).splitlines()
    assert "input.snapshot: no such file or folder" in lines[0] and "input.truth: no such file" in lines[1]
    assert lines[-1] == ("pipeline-laptop.yaml: create input.snapshot and input.truth (a TOY suite, as the file's "
                         "comments say) with: ember-dist mock suite --n 48 --box-size 5625 --seed 0")
    assert main(shlex.split(lines[-1].split(" with: ")[1])[1:]) == 0
    spec, _ = resolve(load_pipeline(str(path)))  # now the inputs are there and valid
    assert spec["input"]["snapshot"] == str(tmp_path / "suite" / "dmo" / "snap_000.hdf5")
    # Without that comment there is no hint (nothing is guessed).
    shutil.rmtree(tmp_path / "suite")
    path.write_text("".join(ln for ln in open(root) if "ember-dist mock" not in ln))
    with pytest.raises(PipelineError) as e:
        resolve(load_pipeline(str(path)))
    assert "input.snapshot: no such file" in str(e.value) and "ember-dist mock" not in str(e.value)
