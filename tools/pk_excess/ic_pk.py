"""P(k) of the app ICs (z = 49) vs linear theory x D^2 and vs the realisation's own seeded modes."""
import os, json, numpy as np
OUT = os.environ.get("PKX_OUT", "/tmp/pkx")

from indep_pk import read, pk
from ember_dist.sim.validation.power3d import power_spectrum_3d
from ember_dist.sim.linear import LinearPower, growth
from ember_dist.sim.lpt import white_noise_k, kgrid
pos, L, z = read("/work/main/sim_suite/app/dmo/gadget/ics.hdf5")
lin = LinearPower(); d49 = growth(49.0)[0]
n = 80; kf = 2*np.pi/L
# the realisation's own linear modes: <|delta_k|^2> = P n^6/L^3 with |w|^2 white noise (mean n^3)
w = white_noise_k(n, 1000)
kx, ky, kz = kgrid(n, L)
k = np.sqrt(kx**2+ky**2+kz**2)
preal = np.abs(w)**2 / n**3 * np.where(k > 0, lin(np.where(k > 0, k, 1)), 0) * d49**2
for a in (kx, ky):
    pass
nyq = (np.abs(kx) >= np.pi*n/L - 1e-9) | (np.abs(ky) >= np.pi*n/L - 1e-9) | (kz >= np.pi*n/L - 1e-9)
preal = np.where(nyq, 0.0, preal)
mult = np.where(np.arange(kz.shape[2]) == 0, 1.0, 2.0); mult[-1] = 1.0
mult = np.broadcast_to(mult[None, None, :], preal.shape)
b = np.broadcast_to(np.floor(k/kf).astype(int), preal.shape)
m = (b >= 1) & (b <= 40)
cnt = np.bincount(b[m], mult[m], 41)[1:]
real = np.bincount(b[m], (mult*preal)[m], 41)[1:]/cnt
r = power_spectrum_3d(pos, L, 256, scheme="cic", interlace=True)
k2, p320, _ = pk(pos, L, 320, 3, True)
kk = r["k"][:40]
out = {"k": kk.tolist(), "project_cic256": r["power"][:40].tolist(), "tsc320_il": p320.tolist(),
       "lin_D2": (lin(kk)*d49**2).tolist(), "realisation_D2": real.tolist(), "D49": d49}
json.dump(out, open(OUT + "/ics.json", "w"))
print("D(49) =", d49)
print("   k    P_cic256   P_tsc320   lin*D^2   real*D^2   cic/lin  tsc/lin  tsc/real")
for i in range(12):
    print(f"{kk[i]:6.3f} {r['power'][i]:.4e} {p320[i]:.4e} {out['lin_D2'][i]:.4e} {real[i]:.4e}  {r['power'][i]/out['lin_D2'][i]:.3f}  {p320[i]/out['lin_D2'][i]:.3f}  {p320[i]/real[i]:.3f}")
