# SPDX-License-Identifier: BSD-3-Clause
"""Run by test_regions.py in a fresh process with KERAS_BACKEND set: unpadded split stages and an unpadded
exact-halo tile against the zero-padded models on that backend; prints one JSON line."""
import json
import sys


def main(backend):
    import numpy as np
    import keras
    assert keras.backend.backend() == backend
    from ember_dist.model.generator import build_generator, chain_models, unpadded_network, inference_model
    from ember_dist.engine.split import plan_split
    from ember_dist.model.presets import get_preset
    from ember_dist.model.graph import stage_graph
    from ember_dist.model.geometry import receptive_field
    p = get_preset("small")
    g = build_generator(p, noise=True, initializer="he_normal")
    sp = plan_split((256, 192), 64, p, (1, 2), 8)
    full = chain_models(g, p, sp.levels); crop = chain_models(g, p, sp.levels, halos=sp.halos)
    rng = np.random.default_rng(0); worst = 0
    for st, plan in sp.stages().items():
        key = st if st == "B" else (st[0], int(st[1:]))
        inputs, a, b, _ = stage_graph(p, sp.levels, st)
        cy, cx = plan.canvas
        x = [rng.normal(size=(1, cy // 2 ** (l - a), cx // 2 ** (l - a), ch)).astype("float32") for l, ch in inputs.values()]
        f = 2 ** (b - a); hb = plan.halo[0] // f; ny, nx = plan.core[0] // f, plan.core[1] // f
        w = np.asarray(full[key].predict_on_batch(x))[:, hb:hb + ny, hb:hb + nx]; c = np.asarray(crop[key].predict_on_batch(x))
        worst = max(worst, float(np.abs(w - c).max() / np.abs(w).max()))
    inf = inference_model(g); h = receptive_field(p).exact_halo(); un = unpadded_network(inf, p, h)
    cy = 32 + sum(h); x = [rng.normal(size=(1, cy // 2**l, cy // 2**l, 1)).astype("float32") for l in [0] + list(range(p.levels - 1))]
    w = np.asarray(inf.predict_on_batch(x))[:, h[0]:h[0] + 32, h[0]:h[0] + 32]; c = np.asarray(un.predict_on_batch(x))
    print(json.dumps({"backend": backend, "stages": worst, "exact": float(np.abs(w - c).max() / np.abs(w).max()),
                      "shape": list(c.shape)}))


if __name__ == "__main__":
    main(sys.argv[1])
