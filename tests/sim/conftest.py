"""Gadget-2 for the simulation tests: built once per session (installing its Debian packages where
root and apt-get allow), or the tests skip with the reason."""
import os
import shutil

import pytest


@pytest.fixture(scope="session")
def gadget2():
    from ember_dist.sim import gadget_build as gb

    missing = gb.missing_prerequisites()
    if missing:
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            pytest.skip(f"Gadget-2 needs Debian packages {missing} and installing them needs root and apt-get")
        rc = gb.install_prerequisites(log=lambda m: None)
        if rc != 0 or gb.missing_prerequisites():
            pytest.skip(f"apt-get could not install {gb.missing_prerequisites()} (exit code {rc})")
    return gb.ensure_gadget2(32, log=lambda m: None)
