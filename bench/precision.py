# SPDX-License-Identifier: BSD-3-Clause
"""bfloat16 against float32 for a trained bundle, and when bfloat16 is safe.

    python bench/precision.py --model small-hi-unet --maps maps.zarr --axes z --realisations 4 [--record]

On held-out maps (``--axes``, default the z projection; every slab up to
``--max-maps``) it predicts the whole periodic map (the prediction every halo
mode reproduces) in float32 and in mixed bfloat16, side by side in one process,
for ``--realisations`` noise seeds (one for a U-Net), and prints:

* speed: seconds per map in each precision (after a warm-up call) and the ratio;
* the bfloat16 difference: rms of (bf16 - f32) over rms of f32, and the power
  spectrum ratio |P_bf16(k) / P_f32(k) - 1| (median and worst k);
* the scale it must be small against: the spread between realisations of the
  noisy generator (rms of the difference of two realisations over rms, and the
  median |P_r(k) / <P>(k) - 1|), and the model's own error against the truth
  (rms of (f32 - truth) over rms of truth, median |P_f32 / P_true - 1|);
* the verdict: bfloat16 is *safe* for this model when both its rms and its P(k)
  difference are below a tenth of the smallest of those scales.

``--record`` writes the figures and the verdict into the bundle's metadata
(``precision.bfloat16``, checksum updated).  Speeds depend on the CPU: without
AMX or AVX512-BF16 bfloat16 convolutions are emulated (see bench/README.md).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

SAFE_FRACTION = 0.1  # bfloat16 is safe when its difference is below this fraction of the reference scale


def _rms_rel(a, b):
    return float(np.sqrt(np.mean((a.astype(np.float64) - b) ** 2)) / np.sqrt(np.mean(np.asarray(b, np.float64) ** 2)))


def _pk(m, box):
    from ember_dist.stats import power_spectrum

    return power_spectrum(np.asarray(m, np.float64), box_size=box)["power"].values


def _pk_rel(a, b, box):
    pa, pb = _pk(a, box), _pk(b, box)
    ok = pb > 0
    return np.abs(pa[ok] / pb[ok] - 1)


def measure(model, maps, axes=("z",), realisations=4, max_maps=4, input_var="dm", field=None):
    """The figures described in the module docstring, as a dict."""
    from ember_dist.engine.reference import predict_whole
    from ember_dist.model.bundle import load_model
    from ember_dist.train.sampler import open_maps

    b = load_model(model)
    field = field or b.field
    truth, attrs = open_maps(maps, field, axes)
    dm, _ = open_maps(maps, input_var, axes)
    truth, dm = truth[:max_maps], dm[:max_maps]
    box = float(attrs.get("pixel_size", b.pixel_size)) * dm.shape[-1]
    nreal = int(realisations) if b.preset.noise else 1
    nets = {"float32": b.build(), "bfloat16": b.build(dtype="mixed_bfloat16")}
    for net in nets.values():  # warm-up: trace this shape once per precision
        predict_whole(b, dm[0], seed=0, model=net)
    pred, secs = {}, {}
    for prec, net in nets.items():
        t = time.perf_counter()
        pred[prec] = np.stack([np.stack([predict_whole(b, d, seed=r, slab=i, model=net) for r in range(nreal)])
                               for i, d in enumerate(dm)])  # (maps, real, y, x)
        secs[prec] = (time.perf_counter() - t) / (len(dm) * nreal)
    f32, bf = pred["float32"], pred["bfloat16"]
    diff_rms = [_rms_rel(bf[i, r], f32[i, r]) for i in range(len(dm)) for r in range(nreal)]
    diff_pk = np.concatenate([_pk_rel(bf[i, r], f32[i, r], box) for i in range(len(dm)) for r in range(nreal)])
    err_rms = [_rms_rel(f32[i, r], truth[i]) for i in range(len(dm)) for r in range(nreal)]
    err_pk = np.concatenate([_pk_rel(f32[i, r], truth[i], box) for i in range(len(dm)) for r in range(nreal)])
    res = {
        "model": b.name, "field": field, "kind": b.meta.get("kind"), "maps": int(len(dm)), "map_shape": list(dm.shape[1:]),
        "realisations": nreal,
        "seconds_per_map": {k: round(v, 4) for k, v in secs.items()},
        "bf16_speedup": round(secs["float32"] / secs["bfloat16"], 3),
        "bf16_rms_diff": float(np.median(diff_rms)),
        "bf16_pk_diff_median": float(np.median(diff_pk)), "bf16_pk_diff_max": float(diff_pk.max()),
        "model_rms_error": float(np.median(err_rms)), "model_pk_error_median": float(np.median(err_pk)),
    }
    scales = {"rms": [res["model_rms_error"]], "pk": [res["model_pk_error_median"]]}
    if nreal > 1:
        spread_rms = [_rms_rel(f32[i, r], f32[i, r + 1]) for i in range(len(dm)) for r in range(nreal - 1)]
        pk_real = np.stack([[_pk(f32[i, r], box) for r in range(nreal)] for i in range(len(dm))])
        spread_pk = np.abs(pk_real / pk_real.mean(axis=1, keepdims=True) - 1)
        res["realisation_rms_spread"] = float(np.median(spread_rms))
        res["realisation_pk_spread_median"] = float(np.median(spread_pk))
        scales["rms"].append(res["realisation_rms_spread"])
        scales["pk"].append(res["realisation_pk_spread_median"])
    ref_rms, ref_pk = min(scales["rms"]), min(scales["pk"])
    res["safe"] = bool(res["bf16_rms_diff"] < SAFE_FRACTION * ref_rms and
                       res["bf16_pk_diff_median"] < SAFE_FRACTION * ref_pk)
    res["rule"] = (f"bfloat16 is safe when its rms and median P(k) differences from float32 are below "
                   f"{SAFE_FRACTION:g} x the smallest of the model's error against the truth"
                   + (" and the spread between realisations" if nreal > 1 else "") + " on held-out maps")
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="bundle name or path")
    ap.add_argument("--maps", required=True, help="zarr store with the input (dm) and target variables")
    ap.add_argument("--axes", default="z", help="held-out projections, comma-separated")
    ap.add_argument("--realisations", type=int, default=4)
    ap.add_argument("--max-maps", type=int, default=4)
    ap.add_argument("--input-var", default="dm")
    ap.add_argument("--record", action="store_true", help="write the figures into the bundle metadata")
    args = ap.parse_args(argv)
    cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True, text=True).stdout.strip()
    print(f"# {cpu}; {os.cpu_count()} cores")
    res = measure(args.model, args.maps, tuple(args.axes.split(",")), args.realisations, args.max_maps,
                  args.input_var)
    print(json.dumps(res, indent=1))
    if args.record:
        from ember_dist.model.bundle import load_model, update_meta

        b = load_model(args.model)
        prec = dict(b.meta.get("precision", {}))
        prec["bfloat16"] = {**res, "cpu": cpu.split(":", 1)[-1].strip(), "measured_with": "bench/precision.py"}
        update_meta(b.path, precision=prec)
        print(f"recorded in {b.path / 'bundle.json'}")


if __name__ == "__main__":
    main()
