# SPDX-License-Identifier: BSD-3-Clause
"""Run several training recipes side by side on one GPU (Keras on JAX), each within a wall-clock budget.

The recipes are :mod:`train_shipped_models`' (``--only NAME``, no evaluation); each chain (a warm-start
U-Net, then its WGAN) runs in its own process, all at once: the suite's small networks leave most of an
H200 idle (three chains side by side ran 21-22 WGAN iterations/s each there).  A process still training when
the budget ends is stopped and no bundle is written: its best checkpoint's generator weights come back as
``NAME.work/best-generator.npz`` (``g/0000`` ... in the order of ``generator.weights``), with its scores; size the
budget so that the chains finish (the H200 ran 6000 WGAN iterations with 12 scorings in ~340 s).
After each chain the results are packed into ``--pack`` (one ``NAME.tar`` per recipe: the bundle when it
was written, else the best checkpoint's generator weights, with the checkpoint scores, ``metrics.csv``,
``pk.csv`` and the chain's log), since the device machine keeps nothing.

    KERAS_BACKEND=jax python tools/gpu_trials.py --work /tmp/w --suite /tmp/suite --budget 420 \\
        --pack $OUT --chain suite-gas-wgan-6k --chain suite-gas-unet-wide,suite-gas-wgan-wide

``--scale 0.01`` runs every recipe at 1% of its steps (a dry run of the whole path on a CPU).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _child(args):
    """One chain in this process: train each recipe in turn (scaled), then stop."""
    sys.path.insert(0, str(HERE))
    import train_shipped_models as t

    for name in args.names:
        r = t.SUITE_RECIPES[name]
        if args.scale != 1.0:
            r["steps"] = max(2, int(r["steps"] * args.scale))
            r["checkpoint_every"] = max(1, int(r["checkpoint_every"] * args.scale))
            if r.get("critic_warmup"):
                r["critic_warmup"] = max(1, int(r["critic_warmup"] * args.scale))
        t.main(["--data", "suite", "--suite", args.suite, "--work", args.work, "--only", name, "--no-eval"])


def pack(work, name, dest):
    """``dest/NAME.tar``: the bundle if written, else the best (and latest) checkpoint; scores and logs."""
    work = Path(work)
    models = work / "models"
    bundle, run = models / name, models / f"{name}.work"
    files = []
    if (bundle / "bundle.json").is_file():
        files += [p for p in bundle.iterdir() if p.is_file()]
    ck = run / "checkpoints"
    if ck.is_dir():
        files += sorted(ck.glob("*.json")) + [p for p in (ck / "best", ck / "latest") if p.is_file()]
        if not (bundle / "bundle.json").is_file() and (ck / "best").is_file():
            # the best checkpoint's generator weights only (its optimizer states would pass the 16 MiB a file
            # the device returns); no bundle: set them into a generator of the recipe's preset to use them
            best = ck / ((ck / "best").read_text().strip() + ".npz")
            with np.load(best) as z:
                np.savez(run / "best-generator.npz", **{k: z[k] for k in z.files if k.startswith("g/")})
            files.append(run / "best-generator.npz")
    files += [p for p in (run / "metrics.csv", run / "pk.csv", Path(work) / f"{name}.log") if p.is_file()]
    if not files:
        return None
    out = Path(dest) / f"{name}.tar"
    with tarfile.open(out, "w") as tar:
        for p in files:
            tar.add(p, arcname=str(p.relative_to(work)))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", required=True)
    ap.add_argument("--suite", required=True, help="folder holding maps/ (train_z1.zarr, validation_z1.zarr, ...)")
    ap.add_argument("--chain", action="append", default=[], help="comma-separated recipes trained in turn")
    ap.add_argument("--budget", type=float, required=True, help="wall-clock seconds for all chains together")
    ap.add_argument("--pack", required=True, help="folder for the NAME.tar results")
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of every recipe's steps (dry runs)")
    ap.add_argument("--names", nargs="*", help=argparse.SUPPRESS)  # the child's chain
    args = ap.parse_args(argv)
    if args.names:
        return _child(args)
    t0 = time.time()
    Path(args.pack).mkdir(parents=True, exist_ok=True)
    Path(args.work).mkdir(parents=True, exist_ok=True)
    procs = {}
    for chain in args.chain:
        names = chain.split(",")
        log = open(Path(args.work) / f"{names[-1]}.log", "w")  # packed with the chain's last recipe
        cmd = [sys.executable, __file__, "--work", args.work, "--suite", args.suite, "--budget", "0", "--pack",
               args.pack, "--scale", str(args.scale), "--names", *names]
        procs[chain] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy()), names, log)
        print(f"[{time.time() - t0:6.0f} s] started {chain}", flush=True)
    done = {}
    while len(done) < len(procs):
        time.sleep(5)
        over = time.time() - t0 > args.budget
        for chain, (p, names, log) in procs.items():
            if chain in done:
                continue
            if p.poll() is None and over:
                p.terminate()  # SIGTERM; the last checkpoint on disk is complete (written, then renamed)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
            if p.poll() is not None:
                log.close()
                done[chain] = p.returncode
                packed = [str(pack(args.work, n, args.pack)) for n in names]
                print(f"[{time.time() - t0:6.0f} s] {chain}: exit {p.returncode}; packed {packed}", flush=True)
    print(json.dumps({"wall_s": round(time.time() - t0, 1), "exit": done}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
