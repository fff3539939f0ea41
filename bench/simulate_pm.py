"""jaxpm particle-mesh against Gadget-2 TreePM on the application box's initial conditions (issue 17).

    pip install jaxpm                  # or: pip install -e ".[pm]"  (jaxpm 0.1.6, JAX on the CPU)
    python bench/simulate_pm.py                          # mesh 1x and 2x the particle grid, 32 steps
    python bench/simulate_pm.py --mesh 2 --steps 20 40 --json pm.json

Initial conditions: exactly those of ``sim_suite/app`` (``ember_dist.sim.ics.make_initial_conditions``:
2LPT of CAMB's spectrum at its n, box and seed, z = 49: 80^3 particles in 32 Mpc/h when bench/README.md's
figures were measured, 140^3 in 56 Mpc/h since 2026-12-03), handed to the PM code as
positions and momenta.  Gravity: jaxpm's PM kernels (CIC paint and read, 1/k^2 potential,
fourth-order finite-difference gradient) on a mesh of ``--mesh`` times the particle grid.  Time
stepping: FastPM's kick-drift-kick (Feng et al. 2016), whose factors use jaxpm's growth functions so
linear modes grow exactly; ``--steps`` steps linear in a from z = 49 to z = 2, with z = 3 a step
boundary.  jaxpm's own ``cic_paint``/``cic_read`` need one particle per mesh cell, so the mesh of 2x
calls their kernels (``_cic_paint_impl``/``_cic_read_impl``) on the flat particle list.

Each configuration runs in a fresh process (its own peak RSS) and prints one JSON line: CPU seconds
(process time, all threads) and wall of the PM run (compilation included) and of the ICs, peak RSS,
the dark-matter P(k) ratio jaxpm / Gadget-2 per k band up to the particle Nyquist frequency
(``ember_dist.sim.validation.power3d``, CIC + interlacing on the validation's 256^3 grid), and halo
counts per 0.25-dex bin from >= 100 particles (``ember_dist.sim.halos``: FoF b = 0.2, then M200c)
beside those of the Gadget-2 catalogues ``sim_suite/app/dmo/fof_00N.h5``.
"""
import argparse
import importlib.util
import json
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from ember_dist.sim.halos import halo_catalogue_of
from ember_dist.sim.ics import make_initial_conditions
from ember_dist.sim.linear import suite_cosmology
from ember_dist.sim.validation.checks import grid_for
from ember_dist.sim.validation.power3d import power_spectrum_3d
from ember_dist.sim.validation.suite_data import read_particles, snapshot_header

APP = Path(__file__).resolve().parents[1] / "sim_suite" / "app"
BANDS = (0.0, 0.5, 1.0, 2.0, 4.0, np.inf)  # h/Mpc; the last band ends at the particle Nyquist frequency
MIN_PARTICLES, DEX = 100, 0.25
MAP_Z, MAP_BANDS = 2.0, (0.0, 1.0, 4.0, 10.0, 30.0, np.inf)  # projected maps: redshift, k bands (h/Mpc)


def cpu_model():
    import subprocess

    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    return next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "?")


def app_parameters():
    """n, box (ckpc/h), seed, z_init and output redshifts of the Gadget-2 application box."""
    return json.loads((APP / "simulation.json").read_text())["parameters"]


def measure(pos_mpc, box_mpc, n, particle_mass, z, *, fof=None):
    """P(k) up to the particle Nyquist frequency and halo masses (FoF, M200c; Msun/h) of one snapshot."""
    pk = power_spectrum_3d(pos_mpc, box_mpc, grid_for(n), scheme="cic", interlace=True)
    keep = pk["k_hi"] <= np.pi * n / box_mpc + 1e-9
    pk = {k: pk[k][keep] for k in ("k", "power", "n_modes")}
    if fof is None:  # our own catalogue, as ember_dist.sim.suite.snapshot_halos makes it for Gadget-2
        cat = halo_catalogue_of(pos_mpc * 1000.0, particle_mass, box_mpc * 1000.0, z, suite_cosmology()["omega_m"])
    else:
        with h5py.File(fof, "r") as f:
            cat = {k: f["all_fof"][k][...] for k in ("m_fof", "m200c")}
    return pk, {k: np.asarray(cat[k], np.float64) for k in ("m_fof", "m200c")}


def dm_map(snapshot, pixel, tmp):
    """Whole-box dark-matter mass map projected along z at ``pixel`` ckpc/h, as the pipeline deposits it."""
    from ember_dist.deposit.api import deposit_snapshot

    ds = deposit_snapshot(snapshot, Path(tmp) / "map.zarr", pixel=pixel, slabs=1, axes=("z",), align=1,
                          length_unit="kpc/h", overwrite=True)
    return np.asarray(ds["dm"][0, 0], np.float64)


def map_compare(m_pm, m_gadget, box):
    """P(k) ratio and correlation coefficient r(k) of the projected maps per k band (2D, h/Mpc)."""
    from ember_dist.stats.power import cross_power_spectrum

    ps = cross_power_spectrum(m_pm, m_gadget, box_size=box)
    k, nm = ps["k"].values * 1000.0, ps["n_modes"].values
    out = {"pixel_ckpc_h": box / m_pm.shape[0], "k_nyquist_pixel": np.pi * m_pm.shape[0] / box * 1000.0}
    for lo, hi in zip(MAP_BANDS, MAP_BANDS[1:]):
        s = (k >= lo) & (k < hi) & (nm > 0)
        if not s.any():
            continue
        w = lambda v: float((nm * ps[v].values)[s].sum())  # noqa: E731
        out[f"{lo:g}-{k[s].max():.1f}"] = {"pk_ratio": round(w("power_1") / w("power_2"), 4),
                                           "r": round(float(w("power") / np.sqrt(w("power_1") * w("power_2"))), 4)}
    return out


def gadget_reference(par, pixel):
    """Measurements of the Gadget-2 snapshots snap_000 (z = 3) and snap_001 (z = 2): P(k), haloes, map."""
    out = {}
    for i, z in enumerate(par["redshifts"]):
        snap = APP / "dmo" / f"snap_{i:03d}.hdf5"
        pos, m = read_particles(snap, 1)
        pk, halos = measure(pos, snapshot_header(snap)["box"], par["n"], m[0], z, fof=APP / "dmo" / f"fof_{i:03d}.h5")
        with tempfile.TemporaryDirectory() as tmp:
            out[z] = (pk, halos, dm_map(snap, pixel, tmp) if pixel and z == MAP_Z else None)
    return out


def schedule(a_init, a_out, steps):
    """Step boundaries linear in a from ``a_init`` to the last output, each output a boundary."""
    ends = np.array([a_init, *a_out])
    per = np.maximum(1, np.round(steps * np.diff(ends) / (ends[-1] - ends[0])).astype(int))
    per[-1] += steps - per.sum()
    return np.concatenate([[a_init]] + [np.linspace(lo, hi, m + 1)[1:] for lo, hi, m in zip(ends, ends[1:], per)])


def kdk_factors(cosmo, a):
    """FastPM kick, drift, kick factors of each step (Feng et al. 2016): exact for the linear growing mode.

    With momentum ``p = a^3 E dx/da`` and force ``F = 1.5 Omega_m grad lap^-1 delta``, the linear mode has
    ``x = D psi``, ``p = G_p psi`` (``G_p = a^3 E dD/da``, jaxpm's ``Gf``) and ``F = a^2 E dG_p/da psi``.
    """
    import jax.numpy as jnp
    import jax_cosmo as jc
    from jaxpm.growth import Gf, dGfa, growth_factor

    ac = 0.5 * (a[1:] + a[:-1])
    aa = jnp.asarray(np.concatenate([a, ac]), jnp.float32)
    d, gp = np.asarray(growth_factor(cosmo, aa)), np.asarray(Gf(cosmo, aa))
    gf = np.asarray(aa**2 * jnp.sqrt(jc.background.Esqr(cosmo, aa)) * dGfa(cosmo, aa))
    m = len(a)
    i0, i1, ic = np.arange(m - 1), np.arange(1, m), np.arange(m, 2 * m - 1)
    return np.stack([(gp[ic] - gp[i0]) / gf[i0], (d[i1] - d[i0]) / gp[ic], (gp[i1] - gp[ic]) / gf[i1]], axis=1)


def make_step(nmesh, n_particles, omega_m):
    """Jitted ``force(x)`` and KDK ``step(x, p, f, factors)``; positions in mesh cells."""
    import jax
    import jax.numpy as jnp
    from jaxpm.distributed import fft3d, ifft3d
    from jaxpm.kernels import fftk, gradient_kernel, invlaplace_kernel
    from jaxpm.painting import _cic_paint_impl, _cic_read_impl

    def force(x):
        rho = _cic_paint_impl(jnp.zeros((nmesh,) * 3, x.dtype), x) * (nmesh**3 / n_particles)  # 1 + delta
        delta_k = fft3d(rho)
        kvec = fftk(delta_k)
        pot_k = delta_k * invlaplace_kernel(kvec)
        g = [_cic_read_impl(ifft3d(-gradient_kernel(kvec, i) * pot_k), x) for i in range(3)]
        return 1.5 * omega_m * jnp.stack(g, axis=-1)

    def step(x, p, f, fac):
        p = p + fac[0] * f
        x = jnp.mod(x + fac[1] * p, nmesh)
        f = force(x)
        return x, p + fac[2] * f, f

    return jax.jit(force), jax.jit(step)


def evolve(x, p, a, a_out, nmesh, cosmo, omega_m):
    """Run the KDK steps over boundaries ``a``; positions (mesh cells) at each of ``a_out``."""
    import jax.numpy as jnp

    force, step = make_step(nmesh, len(x), omega_m)
    fac = jnp.asarray(kdk_factors(cosmo, a), jnp.float32)
    x, p = jnp.asarray(x, jnp.float32), jnp.asarray(p, jnp.float32)
    f, out = force(x), {}
    for i in range(len(a) - 1):
        x, p, f = step(x, p, f, fac[i])
        for ao in a_out:
            if np.isclose(a[i + 1], ao, rtol=1e-6):
                out[ao] = np.asarray(x, np.float64)
    return out


def initial_state(par, cosmo, nmesh):
    """The Gadget-2 run's particles at z_init as PM positions (mesh cells) and momenta p = a v_pec / H0."""
    ic = make_initial_conditions(par["n"], par["box_size"], par["seed"], par["z_init"], cosmo=cosmo,
                                 order=par["lpt_order"], parent_n=par.get("parent_n"))["dmo"][1]
    a, cell = 1.0 / (1.0 + par["z_init"]), par["box_size"] / nmesh  # ckpc/h
    h0 = 0.1  # km/s per ckpc/h; Gadget velocities are v_pec / sqrt(a)
    return ic["Coordinates"] / cell, a**1.5 * ic["Velocities"] / h0 / cell, float(ic["Masses"])


def write_snapshot(path, pos_ckpc, particle_mass, par, z, cosmo):
    """The PM particles as a Gadget HDF5 snapshot (velocities not kept: zeros) for the deposit."""
    from ember_dist.sim.ics import write_ic_file

    n = len(pos_ckpc)
    header = {"box_size": par["box_size"], "redshift": z, "time": 1.0 / (1.0 + z), **cosmo}
    write_ic_file(path, header, {1: {"Coordinates": pos_ckpc, "Velocities": np.zeros((n, 3)), "Masses": particle_mass,
                                     "ParticleIDs": np.arange(1, n + 1, dtype=np.uint32)}})


def compare(pk, halos, ref, particle_mass):
    """P(k) ratio per band and per bin, halo counts per bin beside Gadget-2's (``ref``)."""
    (pk_g, halos_g, _), k, nm = ref, pk["k"], pk["n_modes"]
    bands = {}
    for lo, hi in zip(BANDS, BANDS[1:]):
        s = (k >= lo) & (k < hi)
        bands[f"{lo:g}-{k[s].max():.2f}"] = round(float((nm * pk["power"])[s].sum() / (nm * pk_g["power"])[s].sum()), 4)
    m_min = MIN_PARTICLES * particle_mass
    nb = int(np.floor(np.log10(halos_g["m_fof"].max() / m_min) / DEX)) + 1
    edges = m_min * 10.0 ** (DEX * np.arange(nb + 1))
    counts = {f"{kind}_{run}": np.histogram(h[kind][np.isfinite(h[kind])], edges)[0].tolist()
              for run, h in (("pm", halos), ("gadget", halos_g)) for kind in ("m_fof", "m200c")}
    return {"pk_ratio_bands": bands, "k": np.round(k, 3).tolist(),
            "pk_ratio": np.round(pk["power"] / pk_g["power"], 4).tolist(),
            "mass_edges": [float(f"{e:.3e}") for e in edges], **counts}


def run_config(mesh_factor, steps, par, ref, pixel):
    """ICs + PM run in this (fresh) process; timings, peak RSS and the comparison with Gadget-2."""
    import jax_cosmo as jc

    cosmo = suite_cosmology()
    nmesh = mesh_factor * par["n"]
    c0, w0 = time.process_time(), time.perf_counter()
    x, p, m_p = initial_state(par, cosmo, nmesh)
    c1, w1 = time.process_time(), time.perf_counter()
    jcosmo = jc.Cosmology(Omega_c=cosmo["omega_m"] - cosmo["omega_b"], Omega_b=cosmo["omega_b"], h=cosmo["hubble"],
                          n_s=cosmo["n_s"], sigma8=cosmo["sigma8"], Omega_k=0.0, w0=-1.0, wa=0.0)
    a_out = sorted(1.0 / (1.0 + z) for z in par["redshifts"])
    a = schedule(1.0 / (1.0 + par["z_init"]), a_out, steps)
    snaps = evolve(x, p, a, a_out, nmesh, jcosmo, cosmo["omega_m"])
    c2, w2 = time.process_time(), time.perf_counter()
    row = {"code": "jaxpm", "mesh": nmesh, "particles": par["n"] ** 3, "box_mpc_h": par["box_size"] / 1000.0,
           "steps": len(a) - 1, "pm_cpu_s": round(c2 - c1, 1), "pm_wall_s": round(w2 - w1, 1),
           "ics_cpu_s": round(c1 - c0, 1), "ics_wall_s": round(w1 - w0, 1),
           "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)}
    box_mpc = par["box_size"] / 1000.0
    for ao, xm in snaps.items():
        z = round(1.0 / ao - 1.0, 6)
        pos = np.mod(xm * (box_mpc / nmesh), box_mpc)
        row[f"z={z:g}"] = compare(*measure(pos, box_mpc, par["n"], m_p, z), ref[z], m_p)
        if ref[z][2] is not None:
            with tempfile.TemporaryDirectory() as tmp:
                write_snapshot(Path(tmp) / "pm.hdf5", pos * 1000.0, m_p, par, z, cosmo)
                row[f"z={z:g}"]["map"] = map_compare(dm_map(Path(tmp) / "pm.hdf5", pixel, tmp), ref[z][2],
                                                     par["box_size"])
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mesh", type=int, nargs="+", default=[1, 2], help="PM mesh per side / particles per side")
    p.add_argument("--steps", type=int, nargs="+", default=[32])
    p.add_argument("--map-pixel", type=float, default=31.25, help="ckpc/h of the z = 2 map comparison; 0: none")
    p.add_argument("--json", help="also write the rows (with P(k) ratios per bin) here")
    args = p.parse_args(argv)
    if importlib.util.find_spec("jaxpm") is None:
        sys.exit("jaxpm is not installed: pip install jaxpm  (or pip install -e '.[pm]')")
    par = app_parameters()
    print(f"# CPU: {cpu_model()}; Gadget-2 app box: {json.dumps(par)}", flush=True)
    ref = gadget_reference(par, args.map_pixel)
    rows = []
    for mesh in args.mesh:
        for steps in args.steps:
            with multiprocessing.get_context("spawn").Pool(1) as pool:  # fresh process: its own peak RSS
                row = pool.apply(run_config, (mesh, steps, par, ref, args.map_pixel))
            rows.append(row)
            short = {k: ({kk: vv for kk, vv in v.items() if kk not in ("k", "pk_ratio", "mass_edges")}
                         if isinstance(v, dict) else v) for k, v in row.items()}
            print(json.dumps(short), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
