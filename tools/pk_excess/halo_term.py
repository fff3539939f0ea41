"""How much of the app box's P(k) at k = 1-2 comes from its few most massive haloes (their self-power),
against the halo-model mean of the same mass range (Tinker08 x NFW, Duffy08 c(M))."""
import os, sys, json, numpy as np, h5py
OUT = os.environ.get("PKX_OUT", "/tmp/pkx")

from indep_pk import read, paint
import scipy.fft as sfft
from scipy.special import sici
from ember_dist.sim.linear import _colossus, suite_cosmology
from colossus.lss import mass_function

snap, fof, ztag = sys.argv[1], sys.argv[2], float(sys.argv[3])
pos, L, z = read(snap)
N = len(pos); V = L**3; ng = 256; kf = 2*np.pi/L
with h5py.File(fof) as f:
    M = f["mass"][...]; R = f["r_vir"][...] / 1000.0; X = np.stack([f["x"][...], f["y"][...], f["z"][...]], 1) / 1000.0
order = np.argsort(M)[::-1]
print("top haloes M200c [Msun/h]:", ", ".join(f"{M[i]:.3g}" for i in order[:6]))
i1 = sfft.fftfreq(ng, 1/ng); iz = sfft.rfftfreq(ng, 1/ng)
nx, ny, nz = np.meshgrid(i1, i1, iz, indexing="ij", sparse=True)
kk = np.sqrt(nx**2+ny**2+nz**2); W = (np.sinc(nx/ng)*np.sinc(ny/ng)*np.sinc(nz/ng))**2
w = np.where(iz == 0, 1.0, 2.0); w[-1] = 1.0
w = np.broadcast_to(w, kk.shape); b = np.broadcast_to(np.floor(kk).astype(int), kk.shape); m = (b >= 1) & (b <= 12)
cnt = np.bincount(b[m], w[m], 13)[1:]
kb = np.bincount(b[m], (w*np.broadcast_to(kk, kk.shape))[m], 13)[1:]/cnt*kf
def selfpower(sel):
    mask = np.zeros(N, bool)
    for i in sel:
        d = pos - X[i]; d -= L*np.rint(d/L)
        mask |= (d**2).sum(1) < R[i]**2
    g = paint(pos[mask], L, ng, 2) * (ng**3 / N)     # overdensity contribution of these particles only
    p = np.abs(sfft.rfftn(g, workers=1)/W)**2 * V / ng**6
    return np.bincount(b[m], (w*p)[m], 13)[1:]/cnt, int(mask.sum())
out = {"k": kb.tolist(), "z": z}
for ntop in (1, 3):
    p, npart = selfpower(order[:ntop]); out[f"top{ntop}"] = p.tolist()
    print(f"self-power of the top {ntop} haloes ({npart} particles within R200c):", np.round(p[:10], 3))
# halo-model mean of the 1-halo term above the top halo's mass bin and above 5e12
c = _colossus(suite_cosmology()); cos = suite_cosmology()
rhob = cos["omega_m"] * 2.77536627e11
def u_nfw(k, Mh):
    r200 = (3*Mh/(4*np.pi*200*2.77536627e11*(cos["omega_m"]*(1+z)**3 + 1-cos["omega_m"])))**(1/3) * (1+z)  # comoving Mpc/h
    cc = 5.71 * (Mh/2e12)**-0.084 * (1+z)**-0.47   # Duffy et al. 2008, 200c, full sample
    rs = r200/cc; x = k*rs
    si1, ci1 = sici((1+cc)*x); si0, ci0 = sici(x)
    return (np.sin(x)*(si1-si0) - np.sin(cc*x)/((1+cc)*x) + np.cos(x)*(ci1-ci0)) / (np.log(1+cc) - cc/(1+cc))
lnM = np.linspace(np.log(1e11), np.log(1e15), 400); Ms = np.exp(lnM)
dn = mass_function.massFunction(Ms, z, mdef="200c", model="tinker08", q_out="dndlnM")  # (h/Mpc)^3
for cut in (M[order[0]]*0.7, 5e12, 1e11):
    sel = Ms >= cut
    p1h = np.array([np.trapezoid((dn*(Ms/rhob)**2*u_nfw(k, Ms)**2)[sel], lnM[sel]) for k in kb])
    nexp = np.trapezoid(dn[sel], lnM[sel]) * V
    out[f"p1h_mean_above_{cut:.3g}"] = p1h.tolist()
    print(f"halo-model mean 1-halo P above {cut:.3g} Msun/h (expected {nexp:.2f} haloes in the box):", np.round(p1h[:10], 3))
json.dump(out, open(f"{OUT}/halo_term_z{ztag:g}.json", "w"))
