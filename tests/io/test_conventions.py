"""The one definition of each physical constant, checked against two independent libraries."""
import numpy as np
import pytest

from ember_dist.io import conventions as cv


def test_constants_match_astropy():
    u = pytest.importorskip("astropy.units")
    c = pytest.importorskip("astropy.constants")
    assert cv.KPC_CM == pytest.approx(u.kpc.to(u.cm), rel=1e-12)
    assert cv.MSUN_G == pytest.approx(c.M_sun.cgs.value, rel=1e-5)
    assert cv.M_P_G == pytest.approx(c.m_p.cgs.value, rel=1e-9)
    assert cv.K_B_CGS == pytest.approx(c.k_B.cgs.value, rel=1e-12)
    assert cv.C_KMS == pytest.approx(c.c.to(u.km / u.s).value, rel=1e-12)
    # hydrogen atom = proton + electron (binding energy negligible here)
    assert cv.M_H_G == pytest.approx((c.m_p + c.m_e).cgs.value, rel=1e-6)
    # critical density: 3 H0^2 / (8 pi G), H0 = 100 h km/s/Mpc, in (Msun/h)/(ckpc/h)^3
    h0 = 100 * u.km / u.s / u.Mpc
    rho = (3 * h0**2 / (8 * np.pi * c.G)).to(u.Msun / u.kpc**3).value
    assert cv.RHO_CRIT == pytest.approx(rho, rel=1e-4)
    assert 270 < cv.RHO_CRIT < 280  # the 27.75 copy in the toy suite was ten times too small
    # Lyman-alpha: pi e^2 / (m_e c) * f * lambda, f = 0.4164, lambda = 1215.67 Angstrom
    sigma_v = (np.pi * c.e.gauss**2 / (c.m_e * c.c) * 0.4164 * 1215.67 * u.AA).to(u.cm**2 * u.km / u.s).value
    assert cv.LYA_SIGMA_V == pytest.approx(sigma_v, rel=1e-6)


def test_constants_match_colossus():
    const = pytest.importorskip("colossus.utils.constants")
    assert cv.RHO_CRIT == pytest.approx(const.RHO_CRIT_0_KPC3, rel=1e-6)
    assert cv.KPC_CM == pytest.approx(const.KPC, rel=1e-10)
    assert cv.MSUN_G == pytest.approx(const.MSUN, rel=1e-4)


def test_no_second_copy_of_a_constant():
    """No module of the package assigns these names itself: they are imported from conventions."""
    import pathlib
    import re

    root = pathlib.Path(cv.__file__).resolve().parents[1]
    names = ("KPC_CM", "MSUN_G", "M_H_G", "M_P_G", "K_B_CGS", "C_KMS", "X_H", "RHO_CRIT", "LYA_SIGMA_V")
    pat = re.compile(rf"^\s*({'|'.join(names)})\s*=", re.M)
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if p.name != "conventions.py" and pat.search(p.read_text())]
    assert offenders == []
