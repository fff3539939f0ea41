"""Does the enriched application box over-respond to its dark matter?  Gas-to-dark-matter power ratio
P_gas(k) / P_dm(k) of the enriched application run beside the held-out test boxes' true ratio over the
dark matter the model reads there (the boxes' low-resolution twins), at the same k.

    python tools/pk_excess/gas_response.py [RUN] [--input-maps sim_suite/maps/test_z1_mr8.zarr] [--field gas]

RUN is an ``ember-dist run`` output folder (dm.zarr, enriched.zarr; default docs/application/run). Both
spectra are slab means of the overdensity P(k) (ember_dist.stats.power), compared at the given k by the
report's log-log interpolation. A ratio at the application box at or below the test boxes' says the model
paints no more power per unit of dark-matter power than the truth has; the box's excess over the 8 Mpc/h
references then comes with its dark matter.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import xarray as xr

from ember_dist.stats.curves import interp_loglog
from ember_dist.stats.power import power_spectrum

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tools/: the k of the application's tables
from application_vs_references import K_DEFAULT  # noqa: E402


def mean_power(ds, field, k_hmpc):
    """Mean over every map of ``ds[field]`` (a deposited or enriched store) of the overdensity P(k), at k (h/Mpc)."""
    p = power_spectrum(ds, field=field).compute()
    power = p["power"].mean([d for d in p["power"].dims if d != "k_bin"])
    return interp_loglog(p["k"].values, power.values, np.asarray(k_hmpc, float) / 1e3)


def _open(path):
    return xr.open_zarr(path, consolidated=False)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", nargs="?", default="docs/application/run")
    ap.add_argument("--truth", default="sim_suite/maps/test_z1.zarr", help="held-out hydro maps (gas, hi)")
    ap.add_argument("--input-maps", default="sim_suite/maps/test_z1_mr8.zarr", help="the dark matter the model "
                    "reads on those boxes (the MR8 twins: the application box's particle spacing)")
    ap.add_argument("--field", default="gas", choices=["gas", "hi"])
    ap.add_argument("--k", nargs="+", type=float, default=K_DEFAULT, help="wavenumbers, h/Mpc")
    a = ap.parse_args(argv)
    rows = {
        "application: enriched": mean_power(_open(f"{a.run}/enriched.zarr").isel(sample=0), a.field, a.k),
        "application: dark matter": mean_power(_open(f"{a.run}/dm.zarr"), "dm", a.k),
        "test boxes: true": mean_power(_open(a.truth), a.field, a.k),
        "test boxes: input dark matter": mean_power(_open(a.input_maps), "dm", a.k),
    }
    app = rows["application: enriched"] / rows["application: dark matter"]
    test = rows["test boxes: true"] / rows["test boxes: input dark matter"]
    print(f"k [h/Mpc]: {' / '.join(f'{k:g}' for k in a.k)}")
    for name, v in [("application dark matter / test boxes' input dark matter",
                     rows["application: dark matter"] / rows["test boxes: input dark matter"]),
                    (f"application {a.field} (enriched) / test boxes' true {a.field}",
                     rows["application: enriched"] / rows["test boxes: true"]),
                    (f"P_{a.field} / P_dm, application (enriched)", app),
                    (f"P_{a.field} / P_dm, test boxes (truth over the input)", test),
                    ("application ratio / test boxes' ratio", app / test)]:
        print(f"{name}: {' / '.join(f'{x:.2f}' for x in v)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
