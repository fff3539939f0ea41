# SPDX-License-Identifier: BSD-3-Clause
"""Training throughput (generator iterations per second) of the U-Net and WGAN-GP loops.

    python bench/train.py                                 # tiny and small, unet and wgan, CPU
    python bench/train.py --presets small --kinds wgan --steps 30 --batch 8 --tile 64
    python bench/train.py --presets small --devices 1 2       # data parallelism side by side

Data: a seeded mock suite (``--n`` particles per side) deposited on ``--grid``^2
maps (2 slabs, x and y projections), so the numbers include the real sampler
(tile cut, flips/rotations, noise draws) as well as the compiled train steps.
For each (preset, kind) a fresh :class:`~ember_dist.train.loop.Trainer` runs
``--steps`` iterations; the first iteration (tf.function compilation) is
excluded from the rate.  A WGAN iteration is ``--n-critic`` critic updates
plus one generator update.  ``--devices`` runs each configuration on 1, 2, ...
replicas (:mod:`ember_dist.train.distribute`; ``batch`` is the global batch): the
first GPUs, or, on a machine without GPUs, logical CPU devices that share the
cores (which measures the plumbing's cost, not a speed-up).  Prints one JSON
line per configuration.

``--compare-backends`` times the suite gas WGAN's iteration (small preset, 2 critic steps, per-channel
noise with its own optimizer, P(k) and pixel-PDF terms) on Keras' TensorFlow and JAX backends, each in
a process of its own (one backend per process), alternating ``--rounds`` times: median wall and
process CPU ms per iteration after 3 warm-up iterations, the first iteration (compilation), peak RSS.

``--compare`` (WGAN only) builds two trainers with the same seed in one process, the separate
compiled steps (``fused=False``, the reference) and the fused iteration (``fused=True``), runs
them in alternating blocks of 2 iterations and prints medians of wall and process CPU time per
iteration, their ratios, the largest weight difference between the two after the same
iterations (round-off), and the process's peak RSS.  ``--compare-critic 5 2`` does the same for
two numbers of critic steps per generator step (the first the reference; critic learning rate
``--critic-lr`` for each in turn, e.g. ``--critic-lr 1e-4 3e-4``): a different training, so no
weight difference is printed, only the cost per generator iteration.  ``--compare-ema H`` does it for a run
without and one with the exponential moving average of the generator's weights (``--ema-half-life H``): the same
updates (weight difference 0), the average's cost per iteration.

``--compare-bright-tiles F --maps STORE`` times the sampler alone on a real training store (e.g. the suite's
``sim_suite/maps/train_z1.zarr``, all three projections): a uniform :class:`~ember_dist.train.sampler.TileSampler`
and one with ``bright_tiles=F`` built side by side (construction seconds: the quantile of every target pixel),
then their ``batch(i)`` alternating ``--rounds`` blocks of ``--steps`` batches; median wall ms per batch, the
ratio, peak RSS.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def compare_bright_tiles(args):
    """Uniform tiles vs ``bright_tiles`` on one real store, side by side in this process."""
    import resource

    import numpy as np

    from ember_dist.train.sampler import TileSampler

    if not args.maps:
        raise SystemExit("--compare-bright-tiles needs --maps STORE (e.g. sim_suite/maps/train_z1.zarr)")
    built, samplers = {}, {}
    for name, f in (("uniform", 0.0), ("bright", args.compare_bright_tiles)):
        t0 = time.perf_counter()
        samplers[name] = TileSampler.from_store(args.maps, "gas", axes=("x", "y", "z"), tile=args.tile,
                                                batch=args.batch, noise_levels=3, bright_tiles=f)[0]
        built[name] = time.perf_counter() - t0
    ms = {name: [] for name in samplers}
    for r in range(args.rounds):
        for name, s in samplers.items():
            t0 = time.perf_counter()
            for i in range(args.steps):
                s.batch(r * args.steps + i)
            ms[name].append((time.perf_counter() - t0) / args.steps * 1e3)
    med = {name: float(np.median(v)) for name, v in ms.items()}
    print(json.dumps({"maps": args.maps, "n_maps": int(samplers["uniform"].inputs.shape[0]), "tile": args.tile,
                      "batch": args.batch, "bright_tiles": args.compare_bright_tiles,
                      "build_s": {k: round(v, 2) for k, v in built.items()},
                      "ms_per_batch": {k: round(v, 3) for k, v in med.items()},
                      "bright_over_uniform": round(med["bright"] / med["uniform"], 3),
                      "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}))
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", nargs="+", default=["tiny", "small"])
    ap.add_argument("--kinds", nargs="+", default=["unet", "wgan"])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--tile", type=int, default=64)
    ap.add_argument("--n-critic", type=int, default=5)
    ap.add_argument("--n", type=int, default=32, help="mock particles per side")
    ap.add_argument("--grid", type=int, default=128, help="map side, px")
    ap.add_argument("--devices", type=int, nargs="+", default=[1], help="replica counts to run side by side")
    ap.add_argument("--compare", action="store_true", help="WGAN: separate steps vs fused iteration, alternating")
    ap.add_argument("--compare-critic", type=int, nargs=2, metavar=("REF", "NEW"),
                    help="WGAN: two --n-critic values side by side, alternating (the first the reference)")
    ap.add_argument("--critic-lr", type=float, nargs="+", default=[1e-4],
                    help="--compare-critic: the critic learning rate of each value (one: the same for both)")
    ap.add_argument("--compare-ema", type=float, default=None, metavar="H",
                    help="WGAN: without and with the average of the generator's weights (--ema-half-life H), alternating")
    ap.add_argument("--rounds", type=int, default=6, help="alternating rounds of --compare")
    ap.add_argument("--compare-backends", action="store_true",
                    help="WGAN (the suite gas recipe's step): TensorFlow and JAX, each in its own process, in turn")
    ap.add_argument("--compare-bright-tiles", type=float, default=None, metavar="F",
                    help="the sampler alone, uniform vs bright_tiles=F, on --maps")
    ap.add_argument("--maps", help="--compare-bright-tiles: a training store (target gas, input dm)")
    ap.add_argument("--child", help=argparse.SUPPRESS)  # --compare-backends: maps store of one backend's process
    args = ap.parse_args(argv)
    if args.child:
        return backend_child(args)
    if args.compare_backends:
        return compare_backends(args)
    if args.compare_bright_tiles is not None:
        return compare_bright_tiles(args)

    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if max(args.devices) > 1 and not gpus:  # before TensorFlow initialises
        from ember_dist.train.distribute import logical_cpu_devices

        logical_cpu_devices(max(args.devices))
    import keras

    from ember_dist.model.generator import count_params
    from ember_dist.model.presets import get_preset
    from ember_dist.train.loop import TrainConfig, Trainer
    from ember_dist.train.sampler import TileSampler

    root = tempfile.mkdtemp(prefix="bench_train_")
    maps = _mock_maps(args, root)
    device = f"GPU: {gpus[0].name} ({len(gpus)} GPUs)" if gpus else f"CPU ({os.cpu_count()} cores visible)"
    kind_of = "GPU" if gpus else "CPU"
    names = [d.name for d in tf.config.list_logical_devices(kind_of)]
    if max(args.devices) > len(names):
        raise SystemExit(f"--devices {max(args.devices)}: only {len(names)} {kind_of} devices ({names})")
    if args.compare or args.compare_critic or args.compare_ema:
        return compare(args, maps, root)
    for preset, kind, n in [(p, k, n) for p in args.presets for k in args.kinds for n in args.devices]:
        p = get_preset(preset).with_noise(kind == "wgan")
        s, info = TileSampler.from_store(maps, "gas", tile=args.tile, batch=args.batch,
                                         noise_levels=p.levels - 1 if p.noise else 0, seed=0)
        cfg = TrainConfig(kind=kind, field="gas", preset=preset, steps=args.steps, batch=args.batch,
                          tile=args.tile, n_critic=args.n_critic, checkpoint_every=10**9, log_every=10**9,
                          sample_every=0, devices=names[:n] if n > 1 else None)
        t = Trainer(cfg, s, os.path.join(root, f"work-{preset}-{kind}-{n}"), info)
        t0 = time.perf_counter()
        t.run()
        wall = time.perf_counter() - t0
        c = count_params(t.c) if t.c is not None else 0
        print(json.dumps({
            "preset": preset, "kind": kind, "batch": args.batch, "tile": args.tile,
            "n_critic": args.n_critic if kind == "wgan" else 0, "steps": args.steps,
            "it_per_s": round(t.iterations_per_second(), 3),
            "tiles_per_s": round(t.iterations_per_second() * args.batch, 2),
            "first_step_s": round(wall - t.timed_seconds, 2), "generator_params": count_params(t.g),
            "critic_params": c, "device": device, "backend": keras.backend.backend(),
            "replicas": t.parallel.n, "replica_devices": t.parallel.devices,
        }), flush=True)


def _variants(args):
    """``{label: TrainConfig overrides}`` of the two trainers of ``--compare`` / ``--compare-critic``."""
    if args.compare_ema:  # the same updates; the second also keeps the average of the generator's weights
        return {"plain": dict(n_critic=args.n_critic),
                f"ema_{args.compare_ema:g}": dict(n_critic=args.n_critic, ema_half_life=args.compare_ema)}
    if not args.compare_critic:
        return {"separate": dict(fused=False, n_critic=args.n_critic),
                "fused": dict(fused=True, n_critic=args.n_critic)}
    lrs = (args.critic_lr * 2)[:2] if len(args.critic_lr) == 1 else args.critic_lr[:2]
    return {f"n_critic_{n}": dict(n_critic=n, critic_lr=lr) for n, lr in zip(args.compare_critic, lrs)}


def compare(args, maps, root):
    import resource

    import numpy as np

    from ember_dist.model.presets import get_preset
    from ember_dist.train.loop import TrainConfig, Trainer
    from ember_dist.train.sampler import TileSampler

    variants = _variants(args)
    ref, new = variants
    for preset in args.presets:
        p = get_preset(preset)
        s, info = TileSampler.from_store(maps, "gas", tile=args.tile, batch=args.batch, noise_levels=p.levels - 1,
                                         seed=0)
        tr, first = {}, {}
        for mode, over in variants.items():
            cfg = TrainConfig(kind="wgan", field="gas", preset=preset, steps=10**6, batch=args.batch, tile=args.tile,
                              checkpoint_every=10**9, log_every=10**9, sample_every=0, score_maps=0,
                              tensorboard=False, diagnostics=False, devices=None, **over)
            tr[mode] = Trainer(cfg, s, os.path.join(root, f"cmp-{preset}-{mode}"), info)
            t0 = time.perf_counter()
            tr[mode].train_step()
            first[mode] = time.perf_counter() - t0
        wall = {m: [] for m in tr}
        cpu = {m: [] for m in tr}
        for _ in range(args.rounds):
            for m, t in tr.items():
                for _ in range(2):
                    t0, c0 = time.perf_counter(), time.process_time()
                    t.train_step()
                    wall[m].append(time.perf_counter() - t0)
                    cpu[m].append(time.process_time() - c0)
        med = {m: (float(np.median(wall[m])), float(np.median(cpu[m]))) for m in tr}
        out = {"preset": preset, "batch": args.batch, "tile": args.tile,
               "variants": variants,
               "iterations_each": len(wall[new]) + 1,
               **{f"{m}_wall_ms": round(1e3 * med[m][0], 1) for m in tr},
               **{f"{m}_cpu_ms": round(1e3 * med[m][1], 1) for m in tr},
               **{f"{m}_first_step_s": round(first[m], 1) for m in tr},
               "speedup_wall": round(med[ref][0] / med[new][0], 3),
               "speedup_cpu": round(med[ref][1] / med[new][1], 3)}
        if not args.compare_critic:  # the same updates: their difference is round-off
            w = lambda t: [np.asarray(v) for v in t.g.weights + t.c.weights]  # noqa: E731
            out["max_weight_diff"] = max(float(np.max(np.abs(a - b))) for a, b in zip(w(tr[ref]), w(tr[new])))
        out.update(peak_rss_gb_process=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
                   load_avg_1min=round(os.getloadavg()[0], 1))
        print(json.dumps(out), flush=True)

def _mock_maps(args, root):
    from ember_dist.deposit.api import deposit_snapshot
    from ember_dist.mock import make_mock_suite

    suite = make_mock_suite(os.path.join(root, "suite"), n=args.n, seed=0)
    maps = os.path.join(root, "maps.zarr")
    deposit_snapshot(suite["hydro"], maps, pixel=15000 / args.grid, slabs=2, axes=("x", "y"), fields=("dm", "gas"),
                     align=16)
    return maps


def compare_backends(args):
    import subprocess
    import sys

    import numpy as np

    root = tempfile.mkdtemp(prefix="bench_train_")
    maps = _mock_maps(args, root)
    rows = {"tensorflow": [], "jax": []}
    for r in range(args.rounds):
        for backend in rows:
            env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2", "JAX_PLATFORMS": "cpu"}
            p = subprocess.run([sys.executable, __file__, "--child", maps, "--steps", str(args.steps),
                                "--batch", str(args.batch), "--tile", str(args.tile), "--presets", args.presets[0]],
                               capture_output=True, text=True, env=env)
            line = [l for l in p.stdout.splitlines() if l.startswith("{")]
            if p.returncode or not line:
                raise SystemExit(f"{backend} child failed:\n{p.stderr[-3000:]}")
            rows[backend].append(json.loads(line[-1]))
            print(json.dumps({"round": r, **rows[backend][-1]}), flush=True)
    med = {b: {k: float(np.median([x[k] for x in v])) for k in ("wall_ms", "cpu_ms", "first_step_s", "peak_rss_gb")}
           for b, v in rows.items()}
    print(json.dumps({"summary": med, "jax_speedup_wall": round(med["tensorflow"]["wall_ms"] / med["jax"]["wall_ms"], 3),
                      "jax_speedup_cpu": round(med["tensorflow"]["cpu_ms"] / med["jax"]["cpu_ms"], 3),
                      "spread_wall_ms": {b: [x["wall_ms"] for x in v] for b, v in rows.items()},
                      "load_avg_1min": round(os.getloadavg()[0], 1)}), flush=True)


def backend_child(args):
    """One backend's timing of the suite gas WGAN iteration (``--compare-backends``)."""
    import resource

    import keras
    import numpy as np

    from ember_dist.model.presets import get_preset
    from ember_dist.train.loop import TrainConfig, Trainer
    from ember_dist.train.sampler import TileSampler

    preset = args.presets[0]
    p = get_preset(preset)
    s, info = TileSampler.from_store(args.child, "gas", tile=args.tile, batch=args.batch, noise_levels=p.levels - 1,
                                     seed=0)
    # tools/train_shipped_models.py suite-gas-wgan: n_critic 2, per-channel noise with its own rate, P(k) + PDF terms
    cfg = TrainConfig(kind="wgan", field="gas", preset=preset, steps=10**6, batch=args.batch, tile=args.tile,
                      n_critic=2, critic_lr=3e-4, noise_per_channel=True, noise_lr=1e-3, noise_init=0.02,
                      critic_warmup=0, power_weight=30.0, pdf_weight=300.0, checkpoint_every=10**9,
                      log_every=10**9, sample_every=0, score_maps=0, tensorboard=False, diagnostics=False,
                      devices=None)
    t = Trainer(cfg, s, tempfile.mkdtemp(prefix="bench_backend_"), info)
    t0 = time.perf_counter()
    t.train_step()
    first = time.perf_counter() - t0
    for _ in range(3):
        t.train_step()
    wall, cpu = [], []
    for _ in range(args.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        t.train_step()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    print(json.dumps({"backend": keras.backend.backend(), "preset": preset, "batch": args.batch, "tile": args.tile,
                      "iterations": args.steps, "wall_ms": round(1e3 * float(np.median(wall)), 1),
                      "cpu_ms": round(1e3 * float(np.median(cpu)), 1), "first_step_s": round(first, 1),
                      "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}),
          flush=True)


if __name__ == "__main__":
    main()
