# SPDX-License-Identifier: BSD-3-Clause
"""The report stage: ``report/report.html`` (one page), its PNGs and ``report.json`` (every number shown).

The page shows the input (with the particle downsampling and what it was chosen from) and the models
(with the held-out errors recorded in their bundles), the maps, every statistic of the enriched maps
(median and 16-84% over realisations) against the truth maps deposited from the hydrodynamical
snapshot, against the references (hydro snapshots of other boxes, ``input.reference``: a different
volume) and against observations, the halo gas content, and the wall time and peak memory of each
stage.
"""
from __future__ import annotations

import html
import json
import os

import numpy as np
import xarray as xr

from ember_dist.io.conventions import utc_now
from ember_dist.stats.plots import plot_units

from . import figures
from .records import Records
from .statistics import _per_sample, read_statistics, summarise, summarise_references

__all__ = ["report_run", "write_report"]

_CSS = """body{font-family:sans-serif;max-width:1200px;margin:1em auto;color:#222}
table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #bbb;padding:2px 8px;font-size:13px}
th{background:#eee}img{max-width:100%;border:1px solid #ddd;margin:4px 0}.note{color:#666;font-size:13px}"""


def _first_map(ds, var):
    a = ds[var]
    return np.asarray(a.isel({d: 0 for d in a.dims if d not in ("y", "x")}).values, np.float64)


def _maps(out, fields, pdir, references=()):
    from .stages import OUTPUTS, reference_output

    pred = xr.open_zarr(os.path.join(out, OUTPUTS["enrich"]))
    truth_p, dm_p = os.path.join(out, OUTPUTS["truth"]), os.path.join(out, OUTPUTS["deposit"])
    truth = xr.open_zarr(truth_p, consolidated=False) if os.path.exists(truth_p) else None
    rows = []
    if os.path.exists(dm_p):
        rows.append(("dm", {"input (dark matter)": _first_map(xr.open_zarr(dm_p, consolidated=False), "dm")}))
    for f in fields:
        panels = {}
        if truth is not None and f in truth:
            panels["truth (hydro)"] = _first_map(truth, f)
        for i in range(min(2, pred.sizes.get("sample", 1))):
            panels[f"enriched, realisation {i}"] = _first_map(pred.isel(sample=i), f)
        for i, ref in enumerate(references[:1]):  # another volume: its own first slab
            p = os.path.join(out, reference_output(i))
            ds = xr.open_zarr(p, consolidated=False) if os.path.exists(p) else None
            if ds is not None and f in ds:
                panels[ref["label"]] = _first_map(ds, f)
        rows.append((f, panels))
    return figures.maps_figure(rows, os.path.join(pdir, "maps.png"), float(pred.attrs["pixel_size"])), pred.attrs


def _models(bundles):
    out = {}
    for f, b in bundles.items():
        ev = b.meta.get("evaluation", {})
        out[f] = {"name": b.name, "field": b.field, "kind": b.meta.get("kind"), "weights_sha256": b.weights_sha256,
                  "input_resolution": b.meta.get("training", {}).get("input_resolution"),
                  "pixel_size": b.pixel_size, "held_out": ev.get("held_out"), "held_out_errors": ev.get("table", {}),
                  "training_data": b.meta.get("training", {}).get("data")}
    return out


def _table(rows, header):
    th = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.4g}"
    if v is None:
        return "-"
    return str(v)


def _mib(b):
    return None if b is None else round(b / 2**20, 1)


def _error_summary(entry):
    """Median over x of |median prediction / truth - 1| (bins where both are positive)."""
    if "truth" not in entry or "pred_q16_q50_q84" not in entry:
        return None
    t, p = np.asarray(entry["truth"], float), np.asarray(entry["pred_q16_q50_q84"], float)[1]
    ok = (t > 0) & (p > 0) & np.isfinite(t) & np.isfinite(p)
    return float(np.median(np.abs(p[ok] / t[ok] - 1))) if ok.any() else None


def _curves(refs, name):
    """``[{"label", "x", "y"}]`` of statistic ``name`` over the references that have it."""
    return [dict(label=r["label"], **r["statistics"][name]) for r in refs if name in r["statistics"]]


def write_report(out, spec, bundles, actions=None):
    """Draw the figures and write ``report.html`` and ``report.json`` under ``out/report``."""
    from ember_dist.stats.observations import REFERENCES, noterdaeme2012_dla_incidence

    from .stages import OUTPUTS

    pdir = os.path.join(out, OUTPUTS["report"])
    os.makedirs(pdir, exist_ok=True)
    fields = list(spec["enrich"]["models"])
    stats = read_statistics(os.path.join(out, OUTPUTS["statistics"]))
    settings = {"fields": fields, "mass_bins": spec["statistics"]["halos"]["mass_bins"]}
    summary = summarise(stats, settings)
    derived = spec.get("derived", {})
    ref_path = os.path.join(out, OUTPUTS["reference_statistics"])
    refs = []
    if derived.get("references") and os.path.exists(ref_path):
        refs = summarise_references(read_statistics(ref_path), summary, derived["references"], settings)
    maps_png, attrs = _maps(out, fields, pdir, refs)
    pngs = [("Maps", maps_png)]
    labels = {"power": ("k", "P(k)"), "pdf": ("mass per pixel", "dN/dlog10 m per pixel")}  # units: the statistics'
    for name, entry in summary.items():
        base = name.split("_")[0]
        if base in labels and f"pred/{name}" in stats:
            s = _per_sample(stats[f"pred/{name}"], entry["y_name"], {"power": "k_bin", "pdf": "m_bin"}[base])
            pngs.append((name, figures.statistic_figure(entry["x"], s, entry.get("truth"),
                                                        os.path.join(pdir, f"{name}.png"), *labels[base], name,
                                                        references=_curves(refs, name),
                                                        units=(entry["x_units"], entry["y_units"]))))
    if "cddf" in summary:
        s = _per_sample(stats["pred/cddf"], "f", "N_bin")
        pngs.append(("cddf", figures.cddf_figure(summary["cddf"]["x"], s, summary["cddf"].get("truth"),
                                                 os.path.join(pdir, "cddf.png"), float(attrs["redshift"]),
                                                 references=_curves(refs, "cddf"))))
    if "halos" in summary:
        ob = float(attrs["omega_b"]) / float(attrs["omega_m"])
        pngs.append(("halos", figures.halo_figure(summary["halos"], fields, os.path.join(pdir, "halos.png"), ob,
                                                  references=[{"label": r["label"], "halos": r["statistics"]["halos"]}
                                                              for r in refs if "halos" in r["statistics"]])))
    records = Records(out).all()
    if actions:  # this pipeline's stages only (a reference dropped from the file leaves its old record)
        records = {n: r for n, r in records.items() if n in actions}
    obs = {"noterdaeme2012_dla_incidence_derived": noterdaeme2012_dla_incidence(), "references": REFERENCES}
    doc = {"pipeline": spec["name"], "file": spec.get("_file"), "created": utc_now(), "input": spec["input"],
           "output": out, "geometry": {k: attrs.get(k) for k in ("box_size", "pixel_size", "slab_depth", "redshift",
                                                               "hubble", "omega_m", "omega_b", "omega_l")},
           "models": _models(bundles), "stages": records, "statistics": summary, "observations": obs,
           "errors_vs_truth": {n: _error_summary(e) for n, e in summary.items() if isinstance(e, dict)},
           "input_resolution": derived.get("resolution"),
           "references": refs,
           "errors_vs_reference": {r["label"]: r["errors"] for r in refs},
           "figures": [os.path.basename(p) for _, p in pngs], "this_run": actions or {},
           "aperture_factor": spec["statistics"]["halos"]["radius_factor"]}
    with open(os.path.join(pdir, "report.json"), "w") as f:
        json.dump(doc, f, indent=1, default=str)
    with open(os.path.join(pdir, "report.html"), "w") as f:
        f.write(_html(doc, pngs))
    return os.path.join(pdir, "report.html")


def _html(doc, pngs):
    g, st = doc["geometry"], doc["statistics"]
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>ember_dist report: "
             f"{html.escape(doc['pipeline'])}</title><style>{_CSS}</style></head><body>",
             f"<h1>ember_dist pipeline report: {html.escape(doc['pipeline'])}</h1>",
             f"<p class='note'>written {doc['created']} from {html.escape(str(doc['file']))}; every number on this "
             "page is in <a href='report.json'>report.json</a>.</p>",
             "<h2>Input and geometry</h2>",
             _table([[k, v] for k, v in doc["input"].items()]
                    + ([["dark-matter input", doc["input_resolution"]["text"]]] if doc.get("input_resolution") else [])
                    + [[k, v] for k, v in g.items()], ["", "value"]),
             "<h2>Models and their held-out errors</h2>"]
    for f, m in doc["models"].items():
        parts.append(f"<h3>{html.escape(f)}: {html.escape(m['name'])} ({html.escape(str(m['kind']))})</h3>"
                     f"<p class='note'>input: {html.escape(str(m['input_resolution']))}; pixel {m['pixel_size']:.4g} "
                     f"ckpc/h; trained on: {html.escape(str(m['training_data']))}</p>")
        errs = m["held_out_errors"]
        parts.append(_table([[k, v] for k, v in errs.items()], ["held-out check (" + str(m["held_out"]) + ")", "value"])
                     if errs else "<p class='note'>this bundle records no held-out evaluation.</p>")
    parts.append("<h2>Maps</h2>" + _img(pngs[0][1]))
    if any(e is not None for e in doc["errors_vs_truth"].values()):
        parts.append("<h2>Statistics against the truth</h2><p class='note'>median over x of |median enriched / truth - "
                     "1| (truth: the hydrodynamical snapshot deposited on the same slabs)</p>"
                     + _table([[n, e] for n, e in doc["errors_vs_truth"].items() if e is not None],
                              ["statistic", "error"]))
    elif not doc.get("references"):
        parts.append("<h2>Statistics</h2><p class='note'>no truth (input.truth) and no reference (input.reference): "
                     "the enriched statistics are drawn alone.</p>")
    if doc.get("references"):
        parts.append(_references_html(doc))
    for name, p in pngs[1:]:
        if name not in ("cddf", "halos"):
            parts.append(f"<h3>{html.escape(name)}</h3>{_img(p)}")
    if "cddf" in st:
        c, obs = st["cddf"], doc["observations"]
        q = c.get("pred_dla_incidence", [None] * 3)
        parts.append("<h2>HI column density distribution and observations</h2>" + _img(dict(pngs)["cddf"]))
        enriched = ([["enriched (median)", q[1]], ["enriched (16%)", q[0]], ["enriched (84%)", q[2]]]
                    if c.get("realisations", 2) > 1 else [[figures.enriched_label(1), q[1]]])
        parts.append(_table(enriched + [["truth", c.get("truth_dla_incidence")]]
                            + [[r["label"] + " (a different volume)", r["statistics"]["cddf"].get("dla_incidence")]
                               for r in doc.get("references", []) if "cddf" in r["statistics"]]
                            + [["Noterdaeme+2012 (integrated by ember_dist from their f(N,X) bins)",
                                obs["noterdaeme2012_dla_incidence_derived"]]],
                            ["DLA incidence dN/dX, N >= 10^20.3 cm^-2", "value"]))
        parts.append(f"<p class='note'>slab depth absorption distance dX = {c['dX']:.5g}. References: "
                     + "; ".join(html.escape(v) for v in obs["references"].values()) + "</p>")
    if "halos" in st:
        h = st["halos"]
        small = h.get("apertures_below_half_pixel", 0)
        parts.append(f"<h2>Gas and HI in haloes</h2><p class='note'>{h['n_haloes']} haloes; aperture "
                     f"{doc['aperture_factor']:g} x R200c of the halo mass, projected through the slab"
                     + (f"; <b>{small} apertures are narrower than half a pixel</b> (they may hold no pixel centre: "
                        "use finer pixels or a larger statistics.halos.radius_factor)" if small else "")
                     + "</p>" + _img(dict(pngs)["halos"]))
        if "mass_bin_edges" in h:
            e = h["mass_bin_edges"]
            refh = [r for r in doc.get("references", []) if "fraction_gas" in r["statistics"].get("halos", {})]
            rows = [[f"{e[i]:.3g}-{e[i + 1]:.3g}", h["haloes_per_bin"][i],
                     h.get("pred_fraction_gas", [[None] * len(e)] * 3)[1][i],
                     (h.get("truth_fraction_gas") or [None] * len(e))[i]]
                    + [x for r in refh for x in (r["statistics"]["halos"]["haloes_per_bin"][i],
                                                 r["statistics"]["halos"]["fraction_gas"][i])]
                    for i in range(len(e) - 1)]
            one = h.get("realisations", 2) == 1
            parts.append(_table(rows, ["halo mass [Msun/h]", "haloes",
                                       f"gas fraction enriched ({'1 realisation' if one else 'median'})",
                                       "gas fraction truth"]
                                + [x for r in refh for x in (f"haloes, {r['label']}", f"gas fraction, {r['label']}")]))
    rows = [[n, doc["this_run"].get(n, "-"), r.get("seconds"), _mib(r.get("peak_driver_rss_bytes")),
             _mib(r.get("peak_cluster_process_bytes")), r.get("finished"), r.get("key", "")[:12]]
            for n, r in doc["stages"].items()]
    parts.append("<h2>Stages: wall time and peak memory</h2>" + _table(
        rows, ["stage", "this run", "seconds", "peak driver RSS [MiB]", "peak cluster process memory [MiB]",
               "finished (UTC)", "key"]))
    parts.append("<p class='note'>cluster memory: the sum of the Dask workers' process memory, sampled every 0.5 s "
                 "by distributed's MemorySampler; driver: this process's RSS, sampled every 0.2 s.</p></body></html>")
    return "\n".join(parts)


def _references_html(doc):
    """The references section: what they are, that they are other volumes, and the differences per statistic."""
    g = doc["geometry"]
    parts = ["<h2>Statistics against the hydro suite (a different volume)</h2>"]
    for r in doc["references"]:
        parts.append(
            f"<p class='note'><b>{html.escape(r['label'])}</b>: {html.escape(str(r['path']))}, z = {r['redshift']:.3f}, "
            f"box {r['box_size']:g} ckpc/h, deposited at the pipeline's pixel size on {r['slabs']} slabs of "
            f"{r['slab_depth']:g} ckpc/h per axis (the application's slab depth); haloes: "
            + html.escape("friends-of-friends on its dark matter, weighed per unit dark-matter fraction as in a "
                          "DM-only run" if r.get("halos") == "fof" else f"its own catalogue {r.get('halos')}")
            + ".</p>")
    parts.append(
        "<p class='note'>A reference is <b>a different volume</b> from the enriched box "
        f"({_fmt(g.get('box_size'))} ckpc/h): its haloes and filaments are not the application's, so no map is "
        "compared pixel by pixel and these are differences between the statistics of two boxes, cosmic variance "
        "included (largest for the smaller box and at its lowest k), not errors on the same slabs. Error: median over "
        "x of |median enriched / reference - 1| over the bins where both are positive; P(k) only over the k both "
        "boxes cover (the enriched median interpolated in log k onto the reference's bins); halo gas fractions in "
        "the enriched run's halo-mass bins.</p>")
    rows = []
    for r in doc["references"]:
        for name, e in r["errors"].items():
            rows.append([r["label"], name, None if e is None else e["error"], None if e is None else e["n_bins"],
                         _x_range(e)])
    parts.append(_table(rows, ["reference", "statistic", "median |enriched / reference - 1|", "bins compared",
                               "x range compared"]))
    return "\n".join(parts)


def _x_range(e):
    """The x range an error compared, lengths in Mpc/h as the figures show them (k in h/Mpc)."""
    if not e or "x_range" not in e:
        return "-"
    (lo, hi), units = plot_units(e["x_range"], e.get("x_units", ""))
    return f"{lo:.4g} - {hi:.4g}" + (f" {units}" if units else "")


def _img(path):
    name = os.path.basename(path)
    return f"<img src='{html.escape(name)}' alt='{html.escape(name)}'>"


def report_run(ctx, resume):
    write_report(ctx.out, ctx.spec, ctx.bundles, ctx.actions)
