"""Amplitude of the app realisation (seed 1000, 80^3, 32 Mpc/h) against the ensemble it is drawn from:
sigma(R) of its own linear modes / sigma(R) expected from the same discrete modes; and HMcode's response."""
import numpy as np, camb

from ember_dist.sim.linear import LinearPower, suite_cosmology, _camb_params, _amplitude
from ember_dist.sim.lpt import white_noise_k, kgrid
n, L = 80, 32.0
lin = LinearPower(); w = white_noise_k(n, 1000); kx, ky, kz = kgrid(n, L); k = np.sqrt(kx**2 + ky**2 + kz**2)
kn = np.pi * n / L
ok = (k > 0) & (np.abs(kx) < kn - 1e-9) & (np.abs(ky) < kn - 1e-9) & (kz < kn - 1e-9)
mult = np.where(np.arange(kz.shape[2]) == 0, 1.0, 2.0)[None, None, :]
p = np.where(ok, lin(np.where(k > 0, k, 1.0)), 0.0)
real = np.abs(w) ** 2 / n**3
for R in (8.0, 4.96, 2.0, 1.0):
    x = k * R; W = np.where(x > 0, 3 * (np.sin(x) - x * np.cos(x)) / np.where(x > 0, x, 1) ** 3, 1.0)
    s_real = (mult * p * real * W**2).sum(); s_exp = (mult * p * W**2).sum()
    print(f"R = {R:5.2f} Mpc/h: sigma_realisation / sigma_expected(same modes) = {np.sqrt(s_real / s_exp):.4f}")
cosmo = suite_cosmology(); ks = np.array([0.87, 1.07, 1.27, 1.46, 1.66, 1.86])
a_s = _amplitude(tuple(sorted(cosmo.items())), 100.0)
for z in (2.0, 3.0):
    out = []
    for f in (1.0, 1.05):
        res = camb.get_results(_camb_params(cosmo, [z], 100.0, nonlinear=True, a_s=a_s * f**2))
        kh, _, pk = res.get_matter_power_spectrum(minkh=1e-4, maxkh=100, npoints=1500)
        out.append(np.interp(ks, kh, pk[0]))
    print(f"z = {z:g}: HMcode2020 P(sigma8 x 1.05) / P(sigma8) at k = {ks}: {np.round(out[1] / out[0], 3)}")
