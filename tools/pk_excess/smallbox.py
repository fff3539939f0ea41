"""Small DMO Gadget-2 runs with the project's own ICs / parameter file / runner, one setting changed.

    python smallbox.py OUT n box_ckpc seed variant [--match-n N]

variant: base | dtK (ErrTolIntAccuracy and MaxSizeTimestep divided by K) | epsF (softening x F)
--match-n N: white noise = the low-k modes of the seed's N^3 noise (same phases as an N^3 box)
"""
import json, time, shutil, argparse
from pathlib import Path
import numpy as np

from ember_dist.sim.ics import make_initial_conditions, write_ic_file
from ember_dist.sim.lpt import white_noise_k
from ember_dist.sim.gadget_run import write_parameter_file, run_gadget
from ember_dist.sim.gadget_build import ensure_gadget2
from ember_dist.sim.linear import suite_cosmology
import ember_dist.sim.ics as icsmod

ap = argparse.ArgumentParser()
ap.add_argument("out"); ap.add_argument("n", type=int); ap.add_argument("box", type=float); ap.add_argument("seed", type=int)
ap.add_argument("variant"); ap.add_argument("--match-n", type=int); ap.add_argument("--pmgrid", type=int)
a = ap.parse_args()
out = Path(a.out); folder = out / a.variant / "gadget"; folder.mkdir(parents=True, exist_ok=True)
cosmo = suite_cosmology(); n = a.n
ic_path = out / "ics.hdf5"
if not ic_path.exists():
    if a.match_n:
        big = white_noise_k(a.match_n, a.seed)
        h = n // 2
        idx = np.r_[0:h, a.match_n - h:a.match_n]
        small = big[np.ix_(idx, idx, np.arange(h + 1))] * np.sqrt(n**3 / a.match_n**3)
        orig = icsmod.lpt_displacements
        icsmod.lpt_displacements = lambda *args, **kw: orig(*args, noise_k=small, **kw)
    ic = make_initial_conditions(n, a.box, a.seed, 49.0, cosmo=cosmo)
    write_ic_file(ic_path, ic["header"], ic["dmo"])
    json.dump(ic["meta"], open(out / "ics_meta.json", "w"))
shutil.copy(ic_path, folder / "ics.hdf5")
soft = a.box / n / 30.0; tol = 0.025; maxdt = 0.025
v = a.variant
if v.startswith("dt"):
    tol /= float(v[2:]); maxdt /= float(v[2:])
elif v.startswith("eps"):
    soft *= float(v[3:])
write_parameter_file(folder, box_size=a.box, cosmo=cosmo, a_begin=1 / 50.0, a_outputs=[0.25, 1 / 3.0],
                     softening=soft, hydro=False, max_timestep=maxdt)
txt = (folder / "params.txt").read_text().replace("ErrTolIntAccuracy            0.025", f"ErrTolIntAccuracy            {tol}")
(folder / "params.txt").write_text(txt)
pm = a.pmgrid or min(2 * n, 512)
exe = ensure_gadget2(pm)
t0 = time.time()
st = run_gadget(folder, exe, ntasks=2, nice=15, log=print)
print(v, "wall", round(time.time() - t0), "s", "steps", st["attempts"][-1].get("steps"), "cpu", st["attempts"][-1].get("cpu_s"))
