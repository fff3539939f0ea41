# SPDX-License-Identifier: BSD-3-Clause
"""Download, build and cache the Gadget-2 executable (Springel 2005, GPL: run as a program, never copied in).

Gadget-2's only copy on a package registry is inside the PyPI source distribution of
``amuse-gadget2`` (AMUSE's wrapper); its ``src/`` tree is the public Gadget-2 2.0.7 source with
AMUSE's communicator variable.  :func:`ensure_gadget2` downloads that sdist (pinned by sha256),
unpacks it into the cache, sets the world communicator after ``MPI_Init`` (AMUSE leaves
``GADGET_WORLD`` unset), writes the compile options and runs ``make``.  Each option set is built
once into its own folder of ``$EMBER_DIST_CACHE`` (default ``~/.cache/ember_dist``)::

    gadget2/<options-hash>/Gadget2       the executable
    gadget2/<options-hash>/build.log     make's output
    gadget2/<options-hash>/BUILD.json    options, source sha256, build time

Compile options (``Makefile``'s ``OPT``): periodic TreePM gravity with a ``PMGRID^3`` mesh,
Peano-Hilbert ordering, HDF5 snapshots, unequal softenings (gas and dark matter), synchronised
steps with the timestep limiter of Durier & Dalla Vecchia (2012), single-precision FFTW 2.

Debian packages it needs: :data:`APT_PACKAGES` (``make gadget2-deps`` installs them).

Examples
--------
>>> build_options(64)[:3]
['-DPERIODIC', '-DPMGRID=64', '-DPEANOHILBERT']
>>> len(options_key(64)) == 16 and options_key(64) != options_key(128)
True
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import time
import urllib.request
from pathlib import Path

__all__ = ["ensure_gadget2", "missing_prerequisites", "GadgetBuildError", "APT_PACKAGES", "cache_dir",
           "build_options", "options_key", "SDIST_URL", "SDIST_SHA256"]

#: amuse-gadget2 2024.6.0 on PyPI (files.pythonhosted.org), pinned.
SDIST_URL = ("https://files.pythonhosted.org/packages/3f/3b/ef6da7b92b6f2376203cadd4e4cfeefb6e0278fe0b932a"
             "09268ca99d9cbf/amuse_gadget2-2024.6.0.tar.gz")
SDIST_SHA256 = "3e3ed3cc26fe07a0a6781c2f8a75df9f55e32bd70e134d94c1c040386e4f3205"
_SRC_IN_SDIST = "amuse_gadget2-2024.6.0/src/amuse/community/gadget2/src"

#: Debian packages: MPI compilers, GSL, serial HDF5, FFTW 2 with its MPI real transforms.
APT_PACKAGES = ("make", "gcc", "libopenmpi-dev", "openmpi-bin", "libgsl-dev", "libhdf5-dev", "fftw-dev",
                "sfftw-dev")

#: What each prerequisite is checked by, and the package that provides it.
_CHECKS = (
    ("mpicc", "libopenmpi-dev"), ("mpirun", "openmpi-bin"), ("gsl-config", "libgsl-dev"), ("make", "make"),
    ("/usr/include/hdf5/serial/hdf5.h", "libhdf5-dev"), ("/usr/include/srfftw_mpi.h", "sfftw-dev"),
    ("/usr/include/sfftw.h", "sfftw-dev"),
)
_HDF5_INC = "/usr/include/hdf5/serial"
_HDF5_LIB = "/usr/lib/x86_64-linux-gnu/hdf5/serial"


class GadgetBuildError(RuntimeError):
    """Gadget-2 cannot be built here: says what is missing and how to get it."""


def cache_dir():
    """Root of ember_dist's build cache (``$EMBER_DIST_CACHE``, default ``~/.cache/ember_dist``)."""
    return Path(os.environ.get("EMBER_DIST_CACHE", Path.home() / ".cache" / "ember_dist"))


def build_options(pmgrid):
    """The ``OPT`` compile flags for a TreePM mesh of ``pmgrid^3`` cells."""
    return ["-DPERIODIC", f"-DPMGRID={int(pmgrid)}", "-DPEANOHILBERT", "-DHAVE_HDF5", "-DH5_USE_16_API",
            "-DUNEQUALSOFTENINGS", "-DSYNCHRONIZATION", "-DNOSTOP_WHEN_BELOW_MINTIMESTEP",
            "-DTIMESTEP_LIMITER=4", "-DTIMESTEP_UPDATE"]


def options_key(pmgrid):
    """Cache key of one build: the source and the options."""
    text = SDIST_SHA256 + " ".join(build_options(pmgrid))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def missing_prerequisites():
    """Debian packages whose files are missing here (empty when everything is installed)."""
    missing = []
    for what, pkg in _CHECKS:
        found = os.path.exists(what) if what.startswith("/") else shutil.which(what) is not None
        if not found and pkg not in missing:
            missing.append(pkg)
    return missing


def _download(dest):
    tmp = dest.with_suffix(".part")
    with urllib.request.urlopen(SDIST_URL, timeout=120) as r, open(tmp, "wb") as f:
        shutil.copyfileobj(r, f)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        tmp.unlink()
        raise GadgetBuildError(f"downloaded {SDIST_URL} has sha256 {digest}, expected {SDIST_SHA256}: "
                               "refusing to build it (a changed or corrupted file)")
    os.replace(tmp, dest)


def _unpack(sdist, dest):
    """Extract only Gadget-2's C source tree into ``dest``."""
    tmp = dest.with_name(dest.name + ".unpack")
    shutil.rmtree(tmp, ignore_errors=True)
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(_SRC_IN_SDIST + "/") and m.isfile()]
        tar.extractall(tmp, members=members, filter="data")
    shutil.move(tmp / _SRC_IN_SDIST, dest)
    shutil.rmtree(tmp)


def _patch_world_communicator(src):
    main = src / "main.c"
    text = main.read_text()
    anchor = "MPI_Init(&argc, &argv);"
    if "GADGET_WORLD = MPI_COMM_WORLD;" not in text:
        if anchor not in text:
            raise GadgetBuildError(f"{main}: cannot find {anchor!r} to set the world communicator after it")
        main.write_text(text.replace(anchor, anchor + "\n  GADGET_WORLD = MPI_COMM_WORLD;", 1))


def ensure_gadget2(pmgrid=64, *, jobs=2, log=print):
    """Path of a Gadget-2 executable built with :func:`build_options` (built on first use, ~35 s).

    Parameters
    ----------
    pmgrid : int, default: 64
        Cells per side of the particle-mesh grid (a compile-time option of Gadget-2).
    jobs : int, default: 2
        Parallel ``make`` jobs.
    log : callable
        Receives one-line progress messages.

    Raises
    ------
    GadgetBuildError
        When a prerequisite is missing (the message names the Debian packages and the install
        command), the download fails its checksum, or ``make`` fails (the message points at the log).
    """
    folder = cache_dir() / "gadget2" / options_key(pmgrid)
    exe = folder / "Gadget2"
    if exe.exists() and (folder / "BUILD.json").exists():
        return exe
    missing = missing_prerequisites()
    if missing:
        raise GadgetBuildError(
            "Gadget-2 needs Debian packages that are not installed: " + " ".join(missing)
            + f". Install them with `apt-get install -y {' '.join(APT_PACKAGES)}` (or `make gadget2-deps` "
            "as root), then rerun.")
    folder.parent.mkdir(parents=True, exist_ok=True)
    sdist = folder.parent / Path(SDIST_URL).name
    if not sdist.exists():
        log(f"downloading Gadget-2 source (amuse-gadget2 sdist from PyPI) to {sdist}")
        _download(sdist)
    work = folder.with_name(folder.name + ".build")
    shutil.rmtree(work, ignore_errors=True)
    _unpack(sdist, work)
    _patch_world_communicator(work)
    (work / "makefile_options").write_text("OPT += " + " ".join(build_options(pmgrid)) + "\n")
    log(f"building Gadget-2 (PMGRID={pmgrid}) in {work} ...")
    t0 = time.perf_counter()
    cmd = ["make", f"-j{int(jobs)}", "Gadget2", "OPTIMIZE=-O2 -w", f"HDF5INCL=-I{_HDF5_INC}",
           f"HDF5LIB=-L{_HDF5_LIB} -lhdf5 -lz",
           # Gadget-2's Makefile leaves FFTW out of the final link; name every library here.
           "LIBS=$(HDF5LIB) $(FFTW_LIB) $(GSL_LIBS) -lgsl -lgslcblas -lm"]
    with open(work / "build.log", "w") as out:
        rc = subprocess.call(cmd, cwd=work, stdout=out, stderr=subprocess.STDOUT)
    if rc != 0 or not (work / "Gadget2").exists():
        raise GadgetBuildError(f"building Gadget-2 failed (make exit code {rc}); see {work / 'build.log'}")
    (work / "BUILD.json").write_text(json.dumps({
        "source": SDIST_URL, "sha256": SDIST_SHA256, "options": build_options(pmgrid),
        "build_seconds": round(time.perf_counter() - t0, 1), "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }, indent=2))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(work, folder)  # the folder appears whole or not at all
    log(f"built {exe} in {time.perf_counter() - t0:.0f} s")
    return exe


def install_prerequisites(log=print):
    """Install :data:`APT_PACKAGES` with apt-get (root only); returns apt's exit code."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise GadgetBuildError("installing Gadget-2's packages needs root and apt-get; run as root: "
                               f"apt-get install -y {' '.join(APT_PACKAGES)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=600", "-y", "-q", "--no-install-recommends"]
    log(f"apt-get install {' '.join(APT_PACKAGES)} ...")
    rc = subprocess.call(apt + ["install", *APT_PACKAGES], env=env, stdout=subprocess.DEVNULL)
    if rc != 0:  # a fresh machine may have no package lists yet
        subprocess.call(["apt-get", "-o", "DPkg::Lock::Timeout=600", "-q", "update"], env=env,
                        stdout=subprocess.DEVNULL)
        rc = subprocess.call(apt + ["install", *APT_PACKAGES], env=env, stdout=subprocess.DEVNULL)
    return rc


def main(argv=None):
    """``python -m ember_dist.sim.gadget_build [--install-deps] [--pmgrid N]``: build (and cache) Gadget-2."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m ember_dist.sim.gadget_build", description=main.__doc__)
    p.add_argument("--install-deps", action="store_true", help="apt-get install the Debian packages first (root)")
    p.add_argument("--pmgrid", type=int, default=64, help="particle-mesh cells per side")
    args = p.parse_args(argv)
    try:
        if args.install_deps and missing_prerequisites():
            install_prerequisites()
        print(ensure_gadget2(args.pmgrid))
    except GadgetBuildError as exc:
        print(f"error: {exc}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
