"""P(k) ratio of snapshots (project estimator, CIC interlaced) at matched redshift; prints vs HMcode2020."""
import sys, numpy as np

from ember_dist.sim.validation.power3d import power_spectrum_3d
from ember_dist.sim.validation.suite_data import read_particles, snapshot_header
from ember_dist.sim.linear import nonlinear_power
ng = int(sys.argv[1]); paths = sys.argv[2:]
res = []
for p in paths:
    h = snapshot_header(p); pos, m = read_particles(p, 1)
    r = power_spectrum_3d(pos, h["box"], ng, scheme="cic", interlace=True)
    res.append((p, h, r))
k = res[0][2]["k"]; z = res[0][1]["redshift"]
hm = nonlinear_power(k, z)
kmax = 2.6
print(f"z = {z:.3f}; columns: k, n_modes, P/HMcode2020 per snapshot, P/P(first)")
for i in np.where(k < kmax)[0]:
    print(f"{k[i]:6.3f} {int(res[0][2]['n_modes'][i]):6d} " + " ".join(f"{r['power'][i]/hm[i]:6.3f}" for _, _, r in res)
          + "  |  " + " ".join(f"{r['power'][i]/res[0][2]['power'][i]:6.3f}" for _, _, r in res[1:]))
