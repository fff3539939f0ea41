"""Gadget-2 cost per particle-step and wall time per box size, for ember_dist.sim.cost.

    python bench/simulate.py                       # hydro 2x16^3, 2x24^3, 2x32^3 and DMO 32^3, 48^3 to z = 3
    python bench/simulate.py --hydro 16 24 --dmo 32 --box 8000 --z 3

Each box runs in a fresh temporary folder through ember_dist.sim.simulate (ICs + Gadget-2 only);
printed per box: particles, global steps, wall seconds, CPU seconds of the MPI tasks (getrusage of
the reaped children), CPU-s per particle-step, and the cost model's estimate beside them.
"""
import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from ember_dist.sim.cost import estimate_cost
from ember_dist.sim.gadget_run import read_state
from ember_dist.sim.suite import simulate


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        return platform.processor()


def run_box(n, box, z, hydro, ntasks):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "box"
        simulate(out, n=n, box_size=box, redshifts=(z,), seed=1, dm_only=not hydro, ntasks=ntasks, until="runs",
                 progress=False, force=True, log=lambda m: None)
        st = read_state(out / ("hydro" if hydro else "dmo") / "gadget")
        a = st["attempts"][-1]
        parts = (2 if hydro else 1) * n**3
        est = estimate_cost(n, box, z, hydro=hydro, ntasks=ntasks)
        return {"kind": "hydro" if hydro else "dmo", "n": n, "box_ckpc_h": box, "z_end": z, "particles": parts,
                "steps": a["steps"], "wall_s": a["wall_s"], "cpu_s": a["cpu_s"],
                "cpu_per_particle_step": a["cpu_s"] / (parts * max(a["steps"], 1)),
                "estimate_steps": est["steps"], "estimate_cpu_s": round(est["cpu_seconds"], 1)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hydro", type=int, nargs="*", default=[16, 24, 32])
    p.add_argument("--dmo", type=int, nargs="*", default=[32, 48])
    p.add_argument("--box", type=float, default=8000.0)
    p.add_argument("--z", type=float, default=3.0)
    p.add_argument("--np", type=int, default=2, dest="ntasks")
    p.add_argument("--json", help="also write the rows here")
    args = p.parse_args(argv)
    print(f"CPU: {cpu_model()}; Gadget-2 with {args.ntasks} MPI tasks; box {args.box / 1000:g} Mpc/h, z = 49 -> {args.z:g}")
    print(f"{'run':>6} {'n':>4} {'particles':>9} {'steps':>6} {'wall s':>8} {'CPU s':>8} {'CPU-s/part-step':>15} "
          f"{'est steps':>9} {'est CPU s':>9}")
    rows = []
    for hydro, sizes in ((True, args.hydro), (False, args.dmo)):
        for n in sizes:
            r = run_box(n, args.box, args.z, hydro, args.ntasks)
            rows.append(r)
            print(f"{r['kind']:>6} {n:>4} {r['particles']:>9} {r['steps']:>6} {r['wall_s']:>8.1f} {r['cpu_s']:>8.1f} "
                  f"{r['cpu_per_particle_step']:>15.3e} {r['estimate_steps']:>9} {r['estimate_cpu_s']:>9.1f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
