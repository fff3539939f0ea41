# SPDX-License-Identifier: BSD-3-Clause
"""Errors that reach the command line name the flags the user typed, never Python keywords.

Each case runs the real ``ember-dist`` entry point (:func:`ember_dist.cli.main`) on real files; all of
them fail before any cluster starts.
"""
from __future__ import annotations

import re
import subprocess
import sys

import h5py
import numpy as np
import pytest
import xarray as xr

from ember_dist.cli import main
from ember_dist.demo import lognormal_map

#: A Python keyword spelling of a fix (``pixel_size=3.66``, ``overwrite=True``, ``model={...``).
PYTHON_SPELLING = re.compile(r"\b[a-z_]+=(\.\.\.|True|False|-?\d|'|\"|\[|\{|\()")


@pytest.fixture(scope="module")
def npy(tmp_path_factory):
    p = tmp_path_factory.mktemp("cli") / "m.npy"
    np.save(p, np.stack([lognormal_map(64, seed=s) for s in range(2)]))
    return p


def _error(capsys, argv, rc=2):
    assert main([str(a) for a in argv]) == rc
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert not PYTHON_SPELLING.search(err), err
    return err


def test_npy_without_pixel_size_needs_the_flag(capsys, npy, bundles, tmp_path):
    err = _error(capsys, ["enrich", npy, "--model", bundles["unet"].path, "--out", tmp_path / "o.zarr"])
    assert "records no pixel size" in err and "--pixel-size 3.66" in err and "--pixel-size model" in err
    assert not (tmp_path / "o.zarr").exists()
    # The explicit opt-in passes this check (and then fails on the tile, still before any cluster).
    err = _error(capsys, ["enrich", npy, "--model", bundles["unet"].path, "--out", tmp_path / "o.zarr",
                          "--pixel-size", "model", "--tile", "30"])
    assert "--tile 30 is not a multiple" in err and "pass --tile 32" in err


def test_pixel_size_mismatch_names_pixel_tolerance_flag(capsys, npy, bundles, tmp_path):
    err = _error(capsys, ["enrich", npy, "--model", bundles["unet"].path, "--out", tmp_path / "o.zarr",
                          "--pixel-size", "7.32"])
    assert "--pixel-tolerance 1.1 to accept" in err


def test_one_model_for_two_fields_shows_the_comma_form(capsys, npy, tmp_path):
    err = _error(capsys, ["enrich", npy, "--field", "gas", "hi", "--model", "small-gas-toy", "--out",
                          tmp_path / "o.zarr", "--pixel-size", "3.66"])
    assert "--model suite-gas-wgan,suite-hi-wgan" in err  # the defaults, in --field order
    err = _error(capsys, ["enrich", npy, "--field", "gas", "hi", "--model", "a,b,c", "--out", tmp_path / "o.zarr"])
    assert "3 models were given for 2 fields" in err and "--model suite-gas-wgan,suite-hi-wgan" in err


def test_unknown_model_and_field_model_mismatch(capsys, npy, bundles, tmp_path):
    err = _error(capsys, ["enrich", npy, "--model", "no-such-model", "--out", tmp_path / "o.zarr"])
    assert "unknown model 'no-such-model'" in err and "as --model MODEL" in err
    err = _error(capsys, ["enrich", npy, "--field", "hi", "--model", bundles["unet"].path, "--out",
                          tmp_path / "o.zarr"])
    assert "--model suite-hi-wgan" in err and "--field gas" in err


def test_halo_flag_lists_its_valid_values(capsys, npy, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["enrich", str(npy), "--out", str(tmp_path / "o.zarr"), "--halo", "exakt"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "argument --halo: 'exakt' is not a halo; use one of fastest, exact, split, auto" in err
    assert "_halo" not in err
    err = _error(capsys, ["enrich", npy, "--model", "small-gas-toy", "--out", tmp_path / "o.zarr",
                          "--pixel-size", "3.66", "--tile", "32", "--halo", "12"])
    assert "--halo 12,12 is not a non-negative multiple" in err and "--halo 16,16 or --halo exact" in err


def test_existing_output_names_overwrite_and_resume(capsys, npy, tmp_path):
    out = tmp_path / "o.zarr"
    out.mkdir()
    (out / "zarr.json").write_text("{}")
    err = _error(capsys, ["enrich", npy, "--out", out, "--pixel-size", "3.66"])
    assert ("Pass --overwrite to replace it, --resume to finish an interrupted run, or choose another output path "
            "(--out OUT)") in err
    err = _error(capsys, ["enrich", npy, "--out", out, "--overwrite", "--resume"])
    assert "--overwrite and --resume contradict each other" in err


def test_demo_does_not_offer_a_resume_flag_it_lacks(capsys, tmp_path):
    (tmp_path / "dm_maps.zarr").mkdir()
    err = _error(capsys, ["demo", "--out", tmp_path])
    assert "Pass --overwrite to replace it, or choose another output path (--out OUT)" in err and "resume" not in err


def test_snapshot_given_to_enrich_says_deposit_first(capsys, tmp_path):
    snap = tmp_path / "snap_012.hdf5"
    with h5py.File(snap, "w") as f:
        f.create_group("Header").attrs["BoxSize"] = 1000.0
        f.create_dataset("PartType1/Coordinates", data=np.zeros((4, 3)))
    err = _error(capsys, ["enrich", snap, "--out", tmp_path / "o.zarr"])
    assert "is a particle snapshot" in err and f"run `ember-dist deposit {snap} --out maps.zarr" in err


def test_stats_names_box_size_flag(capsys, tmp_path):
    store = tmp_path / "maps.zarr"
    xr.Dataset({"dm": (("y", "x"), lognormal_map(32))}).to_zarr(store)
    err = _error(capsys, ["stats", store, "--field", "dm", "--statistics", "power", "--out", tmp_path / "s"])
    assert "needs 'box_size' (in ckpc/h)" in err and "pass --box-size BOX_SIZE" in err


def test_deposit_errors_use_the_deposit_flags():
    """Flags come from each subcommand's parser: deposit's pixel size is --pixel, enrich's --pixel-size."""
    from ember_dist.cli import build_parser, command_flags
    from ember_dist.deposit.grid import grid_size
    from ember_dist.errors import command_spelling

    parser = build_parser()
    with command_spelling(command_flags(parser.commands["deposit"])), pytest.raises(ValueError) as e:
        grid_size(1000.0, -1.0)
    assert "--pixel -1.0 must be a positive pixel size in ckpc/h, e.g. --pixel 3.66" in str(e.value)
    with pytest.raises(ValueError) as e:  # the Python spelling outside a command
        grid_size(1000.0, -1.0)
    assert "pixel=-1.0 must be a positive pixel size in ckpc/h, e.g. pixel=3.66" in str(e.value)
    assert command_flags(parser.commands["enrich"])["pixel_size"].option == "--pixel-size"


def test_command_line_errors_in_a_subprocess(npy, tmp_path):
    """The installed entry point (not only main()) prints one line and exits 2."""
    p = subprocess.run([sys.executable, "-m", "ember_dist.cli", "enrich", str(npy), "--out", str(tmp_path / "o.zarr"),
                        "--samples", "0", "--pixel-size", "3.66"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip() == "ember-dist enrich: error: samples must be >= 1. Received: --samples 0."


def test_ctrl_c_silences_the_loggers_distributed_configures_itself():
    """Ctrl-C's handler quiets Dask's shutdown logs, also those whose level distributed's own config sets.

    CI of 2026-12-04: distributed's logging config sets ``tornado.application`` to ERROR, so a traceback
    from ``distributed.utils.sync``'s cancel callback reached the terminal under the one-line message.
    Run in a fresh interpreter: the handler changes process-wide logging.
    """
    code = """
import logging, signal, sys
import distributed
from ember_dist import cli
logging.basicConfig(format="%(name)s %(message)s")
logging.getLogger("tornado.application").error("visible before Ctrl-C")
try:
    cli._quiet_interrupt(signal.SIGINT, None)
except KeyboardInterrupt:
    pass
assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
for name in ("tornado.application", "tornado.general", "distributed.client", "distributed.utils", "asyncio"):
    logging.getLogger(name).error("after Ctrl-C")
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("visible before Ctrl-C") == 1, res.stderr  # the logger does reach the terminal
    assert "after Ctrl-C" not in res.stderr, res.stderr
