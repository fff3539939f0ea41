"""Independent P(k) of a Gadget snapshot: own TSC / CIC assignment, scipy.fft, no interlacing or interlacing.
Bins identical to the project's ([i, i+1) k_F) so numbers line up."""
import sys, json, time
import numpy as np, h5py, scipy.fft as sfft

def read(path):
    with h5py.File(path, "r") as f:
        a = f["Header"].attrs
        L = float(a["BoxSize"]) / 1000.0
        pos = np.asarray(f["PartType1/Coordinates"][...], np.float64) / 1000.0 % L
        return pos, L, float(a["Redshift"])

def paint(pos, L, ng, order, shift=0.0):
    u = pos / (L / ng) + shift          # cell centres at integer u
    grid = np.zeros(ng**3)
    if order == 3:   # TSC, centred on nearest cell
        c = np.rint(u).astype(np.int64); d = u - c
        ws = [(-1, 0.5*(0.5-d)**2), (0, 0.75-d**2), (1, 0.5*(0.5+d)**2)]
    elif order == 2:  # CIC
        c = np.floor(u).astype(np.int64); d = u - c
        ws = [(0, 1-d), (1, d)]
    else:            # NGP
        c = np.rint(u).astype(np.int64); ws = [(0, np.ones_like(u))]
    for ox, wx in ws:
        for oy, wy in ws:
            for oz, wz in ws:
                ix = (c[:, 0] + ox) % ng; iy = (c[:, 1] + oy) % ng; iz = (c[:, 2] + oz) % ng
                grid += np.bincount((ix*ng + iy)*ng + iz, weights=wx[:, 0]*wy[:, 1]*wz[:, 2], minlength=ng**3)
    return grid.reshape(ng, ng, ng)

def pk(pos, L, ng, order, interlace, nbins=40):
    N = len(pos)
    kf = 2*np.pi/L
    f = sfft.rfftn(paint(pos, L, ng, order) * (ng**3 / N) - 1.0, workers=1)
    i1 = sfft.fftfreq(ng, 1/ng); iz = sfft.rfftfreq(ng, 1/ng)
    nx, ny, nz = np.meshgrid(i1, i1, iz, indexing="ij", sparse=True)
    if interlace:
        f2 = sfft.rfftn(paint(pos, L, ng, order, 0.5) * (ng**3 / N) - 1.0, workers=1)
        f = 0.5*(f + f2*np.exp(1j*np.pi*(nx+ny+nz)/ng))
    W = (np.sinc(nx/ng)*np.sinc(ny/ng)*np.sinc(nz/ng))**order
    p = np.abs(f/W)**2 * L**3 / ng**6
    kk = np.sqrt(nx**2+ny**2+nz**2)
    w = np.where(iz == 0, 1.0, 2.0); w[-1] = 1.0 if ng % 2 == 0 else 2.0
    w = np.broadcast_to(w, p.shape)
    b = np.floor(kk).astype(int); b = np.broadcast_to(b, p.shape)
    m = (b >= 1) & (b <= nbins)
    cnt = np.bincount(b[m], w[m], nbins+1)[1:]
    ps = np.bincount(b[m], (w*p)[m], nbins+1)[1:]
    ks = np.bincount(b[m], (w*np.broadcast_to(kk, p.shape))[m], nbins+1)[1:]
    return ks/cnt*kf, ps/cnt, cnt

if __name__ == "__main__":
    path = sys.argv[1]
    pos, L, z = read(path)
    out = {"path": path, "z": z, "L": L}
    
    from ember_dist.sim.validation.power3d import power_spectrum_3d
    t = time.time()
    r = power_spectrum_3d(pos, L, 256, scheme="cic", interlace=True)
    out["project_cic256_il"] = r["power"][:40].tolist(); out["k"] = r["k"][:40].tolist(); out["n_modes"] = r["n_modes"][:40].tolist()
    for name, ng, order, il in [("tsc320_il", 320, 3, True), ("cic512", 512, 2, False), ("ngp160", 160, 1, False), ("tsc128_il", 128, 3, True)]:
        k, p, c = pk(pos, L, ng, order, il)
        out[name] = p.tolist(); out["k_" + name] = k.tolist()
        print(name, "done", round(time.time()-t), file=sys.stderr)
    json.dump(out, open(sys.argv[2], "w"))
