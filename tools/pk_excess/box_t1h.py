"""One-halo error of one 32 Mpc/h box with the mass function of a *periodic* box of that size, against the
universe's (what ember_dist.sim.validation uses): Tinker08 f(sigma) with sigma^2(M) lowered by the variance of
the modes a 32 Mpc/h box lacks (sigma^2 of CAMB's spectrum minus that of the box's own discrete modes)."""
import warnings
import numpy as np
from colossus.halo import concentration, mass_so
from colossus.lss import mass_function
from ember_dist.io.conventions import RHO_CRIT
from ember_dist.sim.linear import LinearPower, _colossus, nonlinear_power, suite_cosmology
from ember_dist.sim.validation import hmf
warnings.filterwarnings("ignore", message="Some masses or redshifts")

L, ng = 32.0, 160
cosmo = suite_cosmology(); lp = LinearPower(cosmo); co = _colossus(cosmo)
ps = {"model": "ember_camb", "path": hmf._camb_table(cosmo)}
rho_m = cosmo["omega_m"] * RHO_CRIT * 1e9  # (Msun/h) / (Mpc/h)^3
i = np.fft.fftfreq(ng, 1.0 / ng)
kk = 2 * np.pi / L * np.sqrt(sum(a**2 for a in np.meshgrid(i, i, i, indexing="ij"))); kk[0, 0, 0] = 1.0
pk_box = lp(kk.ravel()).reshape(kk.shape); pk_box[0, 0, 0] = 0.0
kc = np.logspace(-4, 2, 4000); pk_c = lp(kc)
w2 = lambda x: (3 * (np.sin(x) - x * np.cos(x)) / x**3) ** 2
rg = np.array([1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 16.0, 24.0])
missing = np.array([np.trapezoid(kc**3 * pk_c * w2(kc * r) / (2 * np.pi**2), np.log(kc))
                    - np.sum(pk_box * w2(kk * r)) / L**3 for r in rg])  # z = 0
print("sigma^2(R, z=0) the box lacks, R =", rg, ":", np.round(missing, 4))
ks = np.array([1.073, 1.461, 1.659, 1.858])
lnm = np.linspace(np.log(1e9), np.log(1e16), 500); m = np.exp(lnm)
r_l = (3 * m / (4 * np.pi * rho_m)) ** (1 / 3)
for z in (2.0, 3.0):
    s_u = co.sigma(r_l, z, ps_args=ps)
    s_b = np.sqrt(np.maximum(s_u**2 - np.interp(np.log(r_l), np.log(rg), missing) * co.growthFactor(z) ** 2,
                             1e-4 * s_u**2))
    c = concentration.concentration(m, "200c", z, model="duffy08")
    r200 = mass_so.M_to_R(m, z, "200c") / 1000.0 * (1 + z)
    u4 = hmf.nfw_u(ks[:, None] * (r200 / c)[None], c[None]) ** 4
    for name, s in (("universe", s_u), ("periodic 32 Mpc/h box", s_b)):
        f = mass_function.massFunction(s, z, q_in="sigma", q_out="f", mdef="200c", model="tinker08", ps_args=ps)
        dn = f * rho_m / m * np.abs(np.gradient(np.log(s), lnm))
        t = np.trapezoid(dn * (m / rho_m) ** 4 * u4, lnm, axis=1)
        n_top = L**3 * np.trapezoid(np.where(m > 4.39e13, dn, 0.0), lnm)
        err = np.sqrt(t / L**3) / nonlinear_power(ks, z)
        print(f"z = {z:g}, {name}: sigma(R_L = 4.96) = {np.interp(4.96, r_l, s):.3f}, haloes above 4.39e13 per box"
              f" {n_top:.4f}, one-halo error of one box at k = {ks}: {np.round(err, 3)}")
