"""Is the app box's most massive z = 2 halo a rare peak of its initial field, and what is P(k) without it?
1. Lagrangian patch of its particles (IDs -> lattice), 2. peak height of the linear field (seed 1000) top-hat
smoothed on the halo's Lagrangian radius, 3. P(k) with the halo's particles spread uniformly over its Lagrangian sphere."""
import os, sys, json, numpy as np, h5py
OUT = os.environ.get("PKX_OUT", "/tmp/pkx")

from ember_dist.sim.validation.power3d import power_spectrum_3d
from ember_dist.sim.linear import LinearPower, growth, nonlinear_power
from ember_dist.sim.lpt import white_noise_k, kgrid
snap, fof = sys.argv[1], sys.argv[2]
with h5py.File(snap) as f:
    z = float(f["Header"].attrs["Redshift"]); L = float(f["Header"].attrs["BoxSize"]) / 1000
    pos = f["PartType1/Coordinates"][...].astype(np.float64) / 1000 % L; ids = f["PartType1/ParticleIDs"][...].astype(np.int64)
with h5py.File(fof) as f:
    M = f["mass"][...]; R = f["r_vir"][...] / 1000; X = np.stack([f["x"][...], f["y"][...], f["z"][...]], 1) / 1000
i0 = np.argmax(M); n = 80; sp = L / n
d = pos - X[i0]; d -= L * np.rint(d / L); inh = (d**2).sum(1) < R[i0]**2
q = np.stack(np.unravel_index(ids[inh] - 1, (n, n, n)), 1) * sp          # lattice point (IDs 1.. in C order)
qc = X[i0] + (((q - X[i0]) + L/2) % L - L/2).mean(0)                        # Lagrangian centre (periodic)
rho = 0.3089 * 2.77536627e11
RL = (3 * M[i0] / (4 * np.pi * rho))**(1/3)
print(f"z = {z:g}: top halo M200c = {M[i0]:.3g} Msun/h, {inh.sum()} particles in R200c = {R[i0]:.3f} Mpc/h; Lagrangian radius {RL:.2f} Mpc/h, Lagrangian centre {qc % L}")
# linear field of the realisation at z, top-hat smoothed on RL
lin = LinearPower(); D = growth(z)[0]
w = white_noise_k(n, 1000); kx, ky, kz = kgrid(n, L); k = np.sqrt(kx**2 + ky**2 + kz**2)
amp = np.sqrt(np.where(k > 0, lin(np.where(k > 0, k, 1)), 0) * n**3 / L**3) * D
x = k * RL; wth = np.where(x > 0, 3 * (np.sin(x) - x * np.cos(x)) / np.where(x > 0, x, 1)**3, 1)
dlt = np.fft.irfftn(w * amp * wth, s=(n, n, n))
sig = dlt.std()
imax = np.unravel_index(np.argmax(dlt), dlt.shape); pmax = np.array(imax) * sp
dd = (pmax - qc + L/2) % L - L/2
iq = tuple(np.rint(qc / sp).astype(int) % n)
dist = np.sqrt((dd**2).sum())
print(f"linear delta (z = {z:g}) top-hat R = {RL:.2f}: rms {sig:.3f}; box maximum {dlt.max():.3f} ({dlt.max()/sig:.2f} sigma) "
      f"at {dist:.2f} Mpc/h from the halo's Lagrangian centre; value at that centre {dlt[iq]:.3f}; delta_c = 1.686")
# P(k) with the halo's particles spread uniformly over its Lagrangian sphere (mass kept, collapse undone)
rng = np.random.default_rng(1)
u = rng.standard_normal((inh.sum(), 3)); u /= np.linalg.norm(u, axis=1)[:, None]
u *= RL * rng.random(inh.sum())[:, None]**(1/3)
pos2 = pos.copy(); pos2[inh] = (X[i0] + u) % L
ng = 256
p1 = power_spectrum_3d(pos, L, ng); p2 = power_spectrum_3d(pos2, L, ng)
hm = nonlinear_power(p1["k"], z)
print("   k    P/HMcode   P(halo spread)/HMcode")
for i in range(10):
    print(f"{p1['k'][i]:6.3f}  {p1['power'][i]/hm[i]:.3f}  {p2['power'][i]/hm[i]:.3f}")
json.dump({"k": p1["k"][:12].tolist(), "p": p1["power"][:12].tolist(), "p_spread": p2["power"][:12].tolist(), "hm": hm[:12].tolist()},
          open(f"{OUT}/halo_origin_z{z:.0f}.json", "w"))
