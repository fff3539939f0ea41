# SPDX-License-Identifier: BSD-3-Clause
"""Known answers for ember_dist.stats.power."""
import dask.array as da
import numpy as np
import pytest
import xarray as xr

from ember_dist.stats.power import cross_power_spectrum, fft2_half, power_spectrum

from .conftest import gaussian_field


def _mode_average(kk, values, n, width=1.0):
    """Input spectrum averaged over the same independent modes the estimator uses."""
    nh = n // 2 + 1
    iy = np.fft.fftfreq(n, 1.0 / n)
    kh = np.sqrt(iy[:, None] ** 2 + iy[None, :nh] ** 2)  # integer units of k_F, exact
    vh = values[:, :nh]
    w = np.ones(kh.shape)
    drop = (iy < 0) & (iy != -(n // 2))
    w[np.ix_(drop, [0, n // 2])] = 0
    w[0, 0] = 0
    b = np.floor(kh / width).astype(int)
    nb = b.max() + 1
    cnt = np.bincount(b.ravel(), w.ravel(), nb)
    avg = np.bincount(b.ravel(), (w * vh).ravel(), nb) / np.where(cnt > 0, cnt, 1)
    return avg[1:], cnt[1:]


def test_gaussian_field_recovers_input_spectrum():
    n, box = 256, 1000.0
    pk = lambda k: 1e4 * (k / 0.05) ** -2.0  # noqa: E731
    d, kk = gaussian_field(n, box, pk, seed=3)
    ps = power_spectrum(d, box_size=box, overdensity=False)
    p_in = np.zeros_like(kk)
    p_in[kk > 0] = pk(kk[kk > 0])
    avg, cnt = _mode_average(kk, p_in, n)
    np.testing.assert_array_equal(ps["n_modes"].values, cnt)
    z = (ps["power"].values - avg) / (avg / np.sqrt(cnt))
    assert np.all(np.abs(z) < 5), np.abs(z).max()
    assert abs(np.mean(z**2) - 1) < 0.3  # the scatter is the mode-count one
    # mean |k| per bin
    k_avg, _ = _mode_average(kk, kk, n)
    np.testing.assert_allclose(ps["k"].values, k_avg, rtol=1e-12)


def test_white_noise_level():
    n, box, s = 128, 500.0, 3.0
    d = np.random.default_rng(7).normal(0, s, size=(n, n))
    ps = power_spectrum(d, box_size=box, overdensity=False)
    expect = s**2 * (box / n) ** 2
    p, cnt = ps["power"].values, ps["n_modes"].values
    z = (p - expect) / (expect / np.sqrt(cnt))
    assert np.all(np.abs(z) < 5)
    total = np.sum(p * cnt) / cnt.sum()
    assert abs(total / expect - 1) < 5 / np.sqrt(cnt.sum())
    assert ps["power"].attrs["units"] == "(Msun/h)^2 (ckpc/h)^2"
    assert ps["k"].attrs["units"] == "h/ckpc"


@pytest.mark.parametrize("n", [64, 63])
def test_parseval(n):
    d = np.random.default_rng(n).lognormal(size=(n, n))
    d -= d.mean()
    box = 100.0
    ps = power_spectrum(d, box_size=box, overdensity=False)
    full = np.abs(np.fft.fft2(d)) ** 2
    selfconj = sum(full[i, j] for i in {0, n // 2} for j in {0, n // 2} if n % 2 == 0 and (i or j))
    indep = float(np.sum(ps["power"] * ps["n_modes"])) * n**4 / box**2
    np.testing.assert_allclose(2 * indep - selfconj, n**2 * np.sum(d**2), rtol=1e-6)
    f = fft2_half(d)
    wt = np.full(f.shape[-1], 2.0)
    wt[0] = 1
    if n % 2 == 0:
        wt[-1] = 1
    np.testing.assert_allclose(np.sum(np.abs(f) ** 2 * wt), n**2 * np.sum(d**2), rtol=1e-10)


def test_dask_equals_numpy_stack(lognormal_map):
    rng = np.random.default_rng(5)
    stack = (lognormal_map * rng.lognormal(size=(2, 3, 1, 1))).astype(np.float32)
    ref = power_spectrum(stack, box_size=2000.0)
    lazy = power_spectrum(da.from_array(stack, chunks=(1, 2, 32, 64)), box_size=2000.0, chunk_mib=0.05)
    assert lazy["power"].chunks is not None  # lazy until computed
    got = lazy.compute()
    assert got["power"].dims == ("axis", "slab", "k_bin")
    np.testing.assert_allclose(got["power"], ref["power"], rtol=1e-6)
    np.testing.assert_allclose(got["n_modes"], ref["n_modes"], rtol=0)
    np.testing.assert_allclose(got["k"], ref["k"], rtol=1e-12)


def test_overdensity_and_window(lognormal_map):
    m = lognormal_map
    raw = power_spectrum(m, box_size=1.0e3, overdensity=False)
    dlt = power_spectrum(m, box_size=1.0e3)
    np.testing.assert_allclose(dlt["power"], raw["power"] / float(np.mean(m, dtype=np.float64)) ** 2, rtol=1e-9)
    cic = power_spectrum(m, box_size=1.0e3, window="cic")
    assert np.all(cic["power"].values >= dlt["power"].values)
    with pytest.raises(ValueError, match="window='spline'"):
        power_spectrum(m, box_size=1.0e3, window="spline")


def test_xarray_attrs_and_cross(lognormal_map):
    m = np.stack([lognormal_map, lognormal_map[::-1]])
    arr = xr.DataArray(m, dims=("sample", "y", "x"), coords={"sample": [0, 1]})
    ds = xr.Dataset({"gas": arr}, attrs={"box_size": 1500.0, "redshift": 2.0})
    ps = power_spectrum(ds)
    assert ps["power"].dims == ("sample", "k_bin")
    assert ps.attrs["box_size"] == 1500.0 and ps.attrs["redshift"] == 2.0
    cr = cross_power_spectrum(ds, lognormal_map, field="gas")
    np.testing.assert_allclose(cr["r"].sel(sample=0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(cr["power_2"].sel(sample=1), ps["power"].sel(sample=0), rtol=1e-12)
    assert np.all(np.abs(cr["r"].sel(sample=1)) <= 1 + 1e-12)
    assert float(np.abs(cr["r"].sel(sample=1)).mean()) < 0.5
    lazy = cross_power_spectrum(da.from_array(m, chunks=(1, 64, 64)), lognormal_map, box_size=1500.0)
    np.testing.assert_allclose(lazy["r"].values, cr["r"].values, rtol=1e-6)


def test_distributed_client_matches_numpy(client, lognormal_map):
    ref = power_spectrum(lognormal_map, box_size=1000.0)
    fut = client.compute(power_spectrum(da.from_array(lognormal_map, chunks=32), box_size=1000.0, chunk_mib=0.1))
    got = fut.result(timeout=60)
    np.testing.assert_allclose(got["power"], ref["power"], rtol=1e-6)


def test_cross_on_client(client, lognormal_map):
    lazy = cross_power_spectrum(da.from_array(lognormal_map, chunks=64), lognormal_map[::-1], box_size=1000.0)
    got = client.compute(lazy).result(timeout=60)
    ref = cross_power_spectrum(lognormal_map, lognormal_map[::-1], box_size=1000.0)
    np.testing.assert_allclose(got["r"], ref["r"], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("method", ["tasks", "p2p", "disk"])
def test_transposition_methods_on_client(client, lognormal_map, method, tmp_path):
    ref = power_spectrum(lognormal_map, box_size=1000.0)
    lazy = power_spectrum(da.from_array(lognormal_map, chunks=32), box_size=1000.0, chunk_mib=0.1,
                          rechunk_method=method, scratch_dir=str(tmp_path))
    np.testing.assert_allclose(client.compute(lazy).result(timeout=60)["power"], ref["power"], rtol=1e-6)
    assert list(tmp_path.iterdir()) == []  # "disk" removes its scratch files


@pytest.mark.parametrize("chunks", [(1, 2, 24, 20), (2, 2, 50, 50), (1, 1, 17, 50)])
def test_disk_transposition_stack_and_uneven_chunks(chunks, tmp_path):
    rng = np.random.default_rng(3)
    m = rng.lognormal(size=(2, 2, 50, 50)).astype(np.float32)
    got = power_spectrum(da.from_array(m, chunks=chunks), box_size=500.0, chunk_mib=0.01,
                         rechunk_method="disk", scratch_dir=str(tmp_path)).compute()
    np.testing.assert_allclose(got["power"], power_spectrum(m, box_size=500.0)["power"], rtol=1e-12)
    f = fft2_half(da.from_array(m[1, 1], chunks=chunks[-2:]), 0.01, "disk", str(tmp_path)).compute()
    np.testing.assert_array_equal(f, np.fft.rfft2(m[1, 1].astype(np.float64)))  # same operations
    cr = cross_power_spectrum(da.from_array(m[0], chunks=chunks[1:]), m[1, 0], box_size=500.0,
                              chunk_mib=0.01, rechunk_method="disk", scratch_dir=str(tmp_path)).compute()
    np.testing.assert_allclose(cr["r"], cross_power_spectrum(m[0], m[1, 0], box_size=500.0)["r"],
                               rtol=1e-10, atol=1e-12)


def test_auto_transposition_goes_through_disk_on_one_machine(client, lognormal_map, tmp_path):
    from ember_dist.stats.power import resolve_rechunk_method

    # the in-process cluster's workers report this machine's address: scratch files are shared
    assert resolve_rechunk_method("auto", 10**6, str(tmp_path)) == "disk"
    lazy = power_spectrum(da.from_array(lognormal_map, chunks=32), box_size=1000.0, chunk_mib=0.1,
                          scratch_dir=str(tmp_path))
    assert any("read_cols_fft" in str(k) for k in lazy["power"].data.__dask_graph__())
    ref = power_spectrum(lognormal_map, box_size=1000.0)
    np.testing.assert_allclose(client.compute(lazy).result(timeout=60)["power"], ref["power"], rtol=1e-6)
    assert list(tmp_path.iterdir()) == []


def test_auto_transposition_falls_back_without_room_and_disk_says_so(tmp_path):
    from ember_dist.stats.power import resolve_rechunk_method
    from ember_dist.stats.transposition import _is_this_machine

    assert resolve_rechunk_method("auto", 10**6, str(tmp_path)) == "disk"  # no client: threads, one machine
    assert resolve_rechunk_method("auto", 10**18, str(tmp_path)) is None  # an exabyte does not fit: p2p
    with pytest.raises(OSError, match="GiB of scratch space.*rechunk_method='p2p'"):
        resolve_rechunk_method("disk", 10**18, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="scratch_dir"):
        resolve_rechunk_method("disk", 1, str(tmp_path / "missing"))
    assert _is_this_machine("127.0.0.1") and not _is_this_machine("203.0.113.7")  # TEST-NET-3


def test_disk_reader_refuses_a_scratch_file_other_tasks_did_not_write(tmp_path):
    """A scratch directory that is not shared: the reader sees another machine's (or no) file."""
    from ember_dist.stats.fft_disk import _read_cols_fft

    n, cuts = 8, (0, 5)
    path = tmp_path / "x.cols"
    path.write_bytes(b"\0" * (n * 5 * 16) + b"\x01\x00")  # data holes, one of two writers' flags
    with pytest.raises(RuntimeError, match="1 of 2 parts.*shares"):
        _read_cols_fft(np.full((n,), 1), np.array([0]), paths=[str(path)], n=n, cuts=cuts, nflags=2)
    with pytest.raises(RuntimeError, match="0 of 2 parts"):
        _read_cols_fft(np.full((n,), 1), np.array([0]), paths=[str(tmp_path / "none")], n=n, cuts=cuts, nflags=2)
    path.write_bytes(b"\0" * (n * 5 * 16) + b"\x01\x01")
    assert _read_cols_fft(np.full((n,), 1), np.array([0]), paths=[str(path)], n=n, cuts=cuts,
                          nflags=2).shape == (n, 5)
