# SPDX-License-Identifier: BSD-3-Clause
"""Known answers for ember_dist.stats.halos."""
import dask.array as da
import h5py
import numpy as np
import pytest
import xarray as xr

from ember_dist.stats import halo_masses
from ember_dist.stats.halos import binned_quantiles, halo_catalogue, projected_axes, read_halo_catalogue

BOX, N, NSLAB = 1000.0, 200, 2


def _catalogue(nh=40, seed=0):
    rng = np.random.default_rng(seed)
    return halo_catalogue(x=rng.uniform(0, BOX, nh), y=rng.uniform(0, BOX, nh), z=rng.uniform(0, BOX, nh),
                          r_vir=rng.uniform(12, 60, nh), mass=10 ** rng.uniform(10, 13, nh))


def test_uniform_map_gives_disc_area():
    sigma = 7.0  # Msun/h per (ckpc/h)^2
    pix = BOX / N
    maps = np.full((3, NSLAB, N, N), sigma * pix**2, np.float32)
    cat = _catalogue()
    ds = halo_masses(maps, cat, box_size=BOX, slab_depth=BOX / NSLAB)
    r = cat["r_vir"].values
    expect = np.pi * r**2 * sigma
    # pixels with centres inside R lie between discs of radius R -/+ pix / sqrt(2)
    tol = np.pi * ((r + pix / np.sqrt(2)) ** 2 - r**2) * sigma
    got = ds["mass_map"].values
    assert got.shape == (3, cat.sizes["halo"])
    assert np.all(np.abs(got - expect) <= tol)
    assert np.mean(np.abs(got - expect) / expect) < 0.02


def test_periodic_roll_changes_nothing():
    rng = np.random.default_rng(3)
    pix = BOX / N
    m = rng.lognormal(size=(N, N))
    cat = _catalogue(seed=5)
    base = halo_masses(m, cat, box_size=BOX, axes=("z",))["mass_map"].values
    sy, sx = 77, 131
    rolled = np.roll(m, (sy, sx), axis=(0, 1))
    # along z, map rows follow y and columns x
    cat2 = cat.copy()
    cat2["y"] = (cat["y"] + sy * pix) % BOX
    cat2["x"] = (cat["x"] + sx * pix) % BOX
    got = halo_masses(rolled, cat2, box_size=BOX, axes=("z",))["mass_map"].values
    np.testing.assert_allclose(got, base, rtol=1e-12)
    # a halo on the corner: its disc wraps onto all four corners
    corner = halo_catalogue(x=[1.0], y=[2.0], z=[0.0], r_vir=[50.0], mass=[1e12])
    ones = halo_masses(np.ones((N, N)), corner, box_size=BOX)["mass_map"].values
    assert ones[0, 0] == pytest.approx(np.pi * (50 / pix) ** 2, abs=np.pi * ((50 / pix + 0.71) ** 2 - (50 / pix) ** 2))


def test_dask_and_slabs_match_numpy_and_environment():
    rng = np.random.default_rng(9)
    maps = rng.lognormal(size=(2, 3, NSLAB, N, N)).astype(np.float32)  # sample, axis, slab
    arr = xr.DataArray(maps, dims=("sample", "axis", "slab", "y", "x"), coords={"axis": ["x", "y", "z"]})
    dset = xr.Dataset({"gas": arr}, attrs={"box_size": BOX, "slab_depth": BOX / NSLAB})
    cat = _catalogue(seed=2)
    ref = halo_masses(dset, cat)
    lazy = halo_masses(dset.chunk({"sample": 1, "axis": 1, "slab": 1, "y": 64, "x": 64}), cat)
    got = lazy.compute()
    np.testing.assert_allclose(got["mass_gas"], ref["mass_gas"], rtol=1e-10)
    assert got["mass_gas"].dims == ("sample", "axis", "halo")
    # brute force one halo along y: rows follow x, columns z
    h = 7
    d, iy, ix = projected_axes("y")
    pos = np.array([cat[c].values[h] for c in "xyz"])
    s = int(pos[d] // (BOX / NSLAB))
    pc = (np.arange(N) + 0.5) * BOX / N
    dy = (pc - pos[iy] + BOX / 2) % BOX - BOX / 2
    dx = (pc - pos[ix] + BOX / 2) % BOX - BOX / 2
    inside = dy[:, None] ** 2 + dx[None, :] ** 2 < cat["r_vir"].values[h] ** 2
    assert float(ref["mass_gas"].sel(axis="y", sample=1, halo=h)) == pytest.approx(
        maps[1, 1, s][inside].sum(dtype=np.float64), rel=1e-10)
    assert int(ref["slab"].sel(axis="y", halo=h)) == s
    # environment: brute-force neighbour count in the same slab, periodic 2D distance
    sl = ref["slab"].sel(axis="y").values
    p2 = np.stack([cat["z"].values, cat["x"].values], -1)
    dd = np.abs(p2[:, None] - p2[None])
    dd = np.minimum(dd, BOX - dd)
    close = (np.hypot(dd[..., 0], dd[..., 1]) <= 300.0) & (sl[:, None] == sl[None])
    env = halo_masses(dset, cat, env_radius=300.0)
    np.testing.assert_array_equal(env["n_neighbours"].sel(axis="y"), close.sum(1) - 1)
    assert env["environment"].attrs["units"] == "(ckpc/h)^-2"


def test_read_catalogue_csv_hdf5(tmp_path):
    cat = _catalogue(nh=5)
    csv = tmp_path / "h.csv"
    np.savetxt(csv, np.stack([cat[k].values for k in ("x", "y", "z", "r_vir", "mass")], -1),
               delimiter=",", header="x,y,z,Rvir,M200", comments="")
    h5 = tmp_path / "h.hdf5"
    with h5py.File(h5, "w") as f:
        f["pos"] = np.stack([cat[k].values for k in "xyz"], -1)
        f["rvir"] = cat["r_vir"].values
        f["Mvir"] = cat["mass"].values
    for p in (csv, h5):
        got = read_halo_catalogue(p)
        for k in ("x", "y", "z", "r_vir", "mass"):
            np.testing.assert_allclose(got[k], cat[k], rtol=1e-12)
    with pytest.raises(KeyError, match="no 'mass' column"):
        np.savetxt(csv, np.ones((2, 4)), delimiter=",", header="x,y,z,rvir", comments="")
        read_halo_catalogue(csv)


def test_binned_quantiles():
    x = np.repeat([1e10, 1e12], 101)
    y = np.concatenate([np.arange(101.0), 2 * np.arange(101.0)])
    ds = binned_quantiles(x, y, bins=[1e9, 1e11, 1e13])
    np.testing.assert_allclose(ds["y"].sel(quantile=0.5), [50, 100])
    np.testing.assert_allclose(ds["y"].sel(quantile=0.16), [16, 32])


def test_friends_of_friends_wraps_the_box():
    from ember_dist.io.conventions import RHO_CRIT
    from ember_dist.stats.fof import friends_of_friends

    rng = np.random.default_rng(4)
    clump = np.mod(rng.normal(0, 3.0, size=(80, 3)) + [1.0, 999.0, 500.0], 1000.0)  # straddles two faces
    pos = np.vstack([clump, rng.uniform(0, 1000, size=(300, 3))])
    cat = friends_of_friends(pos, 1000.0, 1e9, linking_length=6.0, min_members=30)
    assert cat.sizes["halo"] == 1 and int(cat["n_members"][0]) >= 78
    d = (np.array([float(cat[c][0]) for c in "xyz"]) - [1.0, 999.0, 500.0] + 500) % 1000 - 500
    assert np.all(np.abs(d) < 1.5)
    m = float(cat["mass"][0])
    assert float(cat["r_vir"][0]) == pytest.approx((3 * m / (4 * np.pi * 200 * 0.3089 * RHO_CRIT)) ** (1 / 3))
