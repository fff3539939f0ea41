# SPDX-License-Identifier: BSD-3-Clause
"""Random training tiles from slab map stores written by ``ember_dist.deposit``.

A store holds variables ``(axis, slab, y, x)`` in Msun/h per pixel.  The input
variable (``dm`` of the hydro run, or ``dm`` of a separate dark-matter-only or
downsampled store) and the target variable (``gas`` or ``hi``) are read for the
*training projections* (``x`` and ``y`` by default; ``z`` is held out for
testing, as in the paper), normalised with the bundle's normalisation and kept
in memory as float32.

Batch ``i`` is a pure function of ``(seed, i)``: its random generator is
``numpy.random.default_rng([seed, i])``.  Tiles start anywhere (the maps are
periodic: windows wrap), then get a random flip and a random multiple of 90
degrees; the noise maps of the WGAN generator and the interpolation weights of
the gradient penalty are drawn from the same generator.  Resuming at step ``i``
therefore needs only ``(seed, i)``, and batches can be built in parallel
workers (:class:`TileDataset`, a ``keras.utils.PyDataset``).

Examples
--------
>>> import numpy as np
>>> s = TileSampler.from_arrays(np.ones((2, 1, 64, 64)), np.ones((2, 1, 64, 64)), tile=32, batch=2)
>>> x, y = s.batch(0)
>>> x["dm"].shape, y.shape
((2, 32, 32, 1), (2, 32, 32, 1))
"""
from __future__ import annotations

import numpy as np

from ember_dist.model.normalization import Normalization
from ember_dist.model.runtime import import_keras

__all__ = ["TileSampler", "TileDataset", "open_maps", "open_pair", "augment", "MAP_ATTRS"]

#: store attrs the evaluation's statistics read (pixel size in ckpc/h; the HI CDDF's redshift, h and slab depth)
MAP_ATTRS = ("pixel_size", "redshift", "hubble", "slab_depth")


def open_maps(path, var, axes=("x", "y")):
    """``(float32 array (n_maps, ny, nx), attrs)`` of ``var`` for the projections ``axes`` of a zarr store."""
    import xarray as xr

    ds = xr.open_zarr(str(path), consolidated=False)
    if var not in ds.data_vars:
        raise KeyError(f"store {str(path)!r} has no variable {var!r}; it has {sorted(ds.data_vars)}. "
                       "Pass input_var=/target_var= naming one of them.")
    have = [str(a) for a in ds["axis"].values]
    missing = [a for a in axes if a not in have]
    if missing:
        raise ValueError(f"store {str(path)!r} has projections {have}; requested {list(axes)} "
                         f"(missing {missing}). Deposit them or pass axes=... from {have}.")
    arr = ds[var].sel(axis=list(axes)).values.astype(np.float32)
    return arr.reshape((-1,) + arr.shape[-2:]), dict(ds.attrs)


def open_pair(maps, field, input_var="dm", input_maps=None, axes=("x", "y"), what="input"):
    """``(input, target, target store attrs, input store attrs)`` for the projections ``axes``: ``field``
    of ``maps`` and ``input_var`` of ``input_maps`` (default ``maps``), refused unless paired map by map."""
    tgt, attrs = open_maps(maps, field, axes)
    src, in_attrs = open_maps(input_maps or maps, input_var, axes)
    if src.shape != tgt.shape:
        raise ValueError(f"{what} maps {src.shape} and target maps {tgt.shape} differ in shape; "
                         "deposit both with the same pixel, slabs and axes.")
    return src, tgt, attrs, in_attrs


def _fraction(v):
    """A store's ``dm_mass_fraction`` attr as a float, or None when absent or not a positive number."""
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) and v > 0 else None


def augment(tile, k, flip):
    """Rotate by ``k`` x 90 degrees, then flip left-right when ``flip``; works on (..., y, x)."""
    t = np.rot90(tile, k, axes=(-2, -1))
    return np.flip(t, axis=-1) if flip else t


class TileSampler:
    """Seeded random tiles of (normalised input, normalised target) pairs.

    Parameters
    ----------
    inputs, targets : ndarray (n_maps, ny, nx)
        *Normalised* maps, paired by index.
    tile : int, px
    batch : int
    noise_levels : int
        Number of generator noise inputs (``preset.levels - 1`` for the WGAN generator, 0 for the U-Net).
    seed : int
    augment : bool
        Random flips and 90-degree rotations.
    bright_tiles : float
        Fraction of the tiles (on average; each tile by its own draw) placed over one of the brightest target
        pixels, those at or above the ``bright_quantile`` of all the target maps, drawn uniformly among them and
        at a uniform position inside the tile (so never always at its centre); the rest start anywhere.  Halo
        cores are a few pixels of a 256^2 map: a uniform 64^2 tile holds a massive one in a few batches of a
        run, too few to learn how bright it is (docs/evaluation/suite, eighteenth session).  0: uniform tiles
        only, the draws of a run without it unchanged.
    bright_quantile : float
        The quantile of the target pixels above which a pixel counts as bright.

    >>> t = np.arange(64 * 64, dtype=np.float32).reshape(1, 64, 64)  # the brightest pixel: 4095, at (63, 63)
    >>> s = TileSampler(t, t, tile=16, batch=8, bright_tiles=1.0, bright_quantile=0.9999)
    >>> bool(all(tile.max() == 4095 for tile in s.batch(0)[1]))  # every tile holds it
    True
    """

    def __init__(self, inputs, targets, tile=32, batch=4, noise_levels=0, seed=0, augment=True, bright_tiles=0.0,
                 bright_quantile=0.999):
        inputs = np.asarray(inputs, np.float32)
        targets = np.asarray(targets, np.float32)
        if inputs.shape != targets.shape or inputs.ndim != 3:
            raise ValueError(f"inputs and targets must be (n_maps, ny, nx) of the same shape. "
                             f"Received: {inputs.shape} and {targets.shape}.")
        if tile > min(inputs.shape[1:]):
            raise ValueError(f"tile={tile} is larger than the maps {inputs.shape[1:]}. Pass a smaller tile.")
        self.inputs, self.targets = inputs, targets
        self.tile, self.batch_size = int(tile), int(batch)
        self.noise_levels, self.seed, self.augment = int(noise_levels), int(seed), bool(augment)
        self.bright_tiles = float(bright_tiles)
        if not 0.0 <= self.bright_tiles <= 1.0 or not 0.0 < bright_quantile < 1.0:
            raise ValueError(f"bright_tiles must lie in [0, 1] and bright_quantile in (0, 1). Received: "
                             f"bright_tiles={bright_tiles}, bright_quantile={bright_quantile}.")
        # flat indices (map, y, x) of the bright pixels, drawn from uniformly
        self._bright = (np.flatnonzero(targets >= np.quantile(targets, bright_quantile)) if self.bright_tiles
                        else None)

    @classmethod
    def from_arrays(cls, inputs, targets, input_norm=None, output_norm=None, **kw):
        """From mass maps (Msun/h per pixel), ``(n_maps, ...)`` or ``(axis, slab, y, x)``; normalised here."""
        input_norm = input_norm or Normalization.for_field("dm")
        output_norm = output_norm or Normalization.for_field("gas")
        a = np.asarray(inputs)
        b = np.asarray(targets)
        a = a.reshape((-1,) + a.shape[-2:])
        b = b.reshape((-1,) + b.shape[-2:])
        return cls(input_norm.forward(a).astype(np.float32), output_norm.forward(b).astype(np.float32), **kw)

    @classmethod
    def from_store(cls, maps, field, input_var="dm", input_maps=None, axes=("x", "y"), input_norm=None,
                   output_norm=None, **kw):
        """From zarr stores written by :func:`ember_dist.deposit.api.deposit_snapshot`.

        ``maps`` holds the target ``field``; ``input_maps`` (default ``maps``) holds ``input_var``.
        Normalisations default to the paper's for the input variable and ``field`` with the store's ``hubble``.
        Returns ``(sampler, info)`` with ``info`` = normalisations, pixel size and provenance, including the
        input store's ``dm_mass_fraction`` and ``dm_source`` attrs (None where the store lacks them: stores
        deposited before they were recorded) and its ``dm_particle_mass``
        (:func:`ember_dist.deposit.resolution.store_dm_mass`: older stores are answered from their source
        snapshot while it is there, which fills a missing ``dm_mass_fraction`` too).
        """
        from ember_dist.deposit.resolution import store_dm_mass

        src, tgt, attrs, in_attrs = open_pair(maps, field, input_var, input_maps, axes)
        h = float(attrs.get("hubble", 0.697))
        input_norm = input_norm or Normalization.for_field("dm" if input_var not in ("dmo", "dmh") else input_var,
                                                           hubble=h)
        output_norm = output_norm or Normalization.for_field(field, hubble=h)
        s = cls(input_norm.forward(src).astype(np.float32), output_norm.forward(tgt).astype(np.float32), **kw)
        info = {"input_norm": input_norm, "output_norm": output_norm, "pixel_size": float(attrs.get("pixel_size", 0)),
                "hubble": h, "axes": list(axes), "n_maps": int(src.shape[0]), "map_shape": list(src.shape[1:]),
                "downsample": int(in_attrs.get("downsample", 1)), "input_var": input_var, "field": field,
                "maps": str(maps), "input_maps": str(input_maps or maps),
                "dm_mass_fraction": _fraction(in_attrs.get("dm_mass_fraction")),
                "dm_source": in_attrs.get("dm_source"),
                # what the evaluation's statistics need of the maps (the CDDF's column densities)
                "map_attrs": {k: attrs[k] for k in MAP_ATTRS if k in attrs}}
        dm = store_dm_mass(in_attrs)  # the input's particle spacing, which `input_resolution: auto` matches
        if dm is not None:
            info["dm_particle_mass"] = dm.particle_mass
            if info["dm_mass_fraction"] is None:
                info["dm_mass_fraction"] = dm.mass_fraction
        full = store_dm_mass(attrs)
        if int(in_attrs.get("downsample", 1)) == 1 and dm is not None and full is not None and input_maps:
            # an input from another, lower-resolution run (the suite's dark-matter-only twins): how many times
            # fewer particles it has than the target's run, per unit dark-matter fraction of Omega_m
            factor = int(round(dm.equivalent / full.equivalent))
            if factor > 1:
                dmo = abs(dm.mass_fraction - 1.0) < 0.02  # its dark matter carries all of Omega_m
                info.update(downsample=factor,
                            input_run="lower-resolution dark-matter-only run" if dmo else "lower-resolution run")
        return s, info

    def rng(self, i):
        """The random generator of batch ``i``."""
        return np.random.default_rng([self.seed, int(i)])

    def batch(self, i, with_eps=False):
        """Batch ``i``: ``(inputs dict, target (B, t, t, 1))`` [, eps (B, 1, 1, 1) when ``with_eps``]."""
        rng = self.rng(i)
        n, ny, nx = self.inputs.shape
        t, b = self.tile, self.batch_size
        xs, ys = np.empty((b, t, t), np.float32), np.empty((b, t, t), np.float32)
        for j in range(b):
            if self.bright_tiles and rng.random() < self.bright_tiles:  # a tile over a bright pixel
                m, py, px = np.unravel_index(self._bright[rng.integers(self._bright.size)], (n, ny, nx))
                y0, x0 = (py - rng.integers(t)) % ny, (px - rng.integers(t)) % nx
            else:
                m = rng.integers(n)
                y0, x0 = rng.integers(ny), rng.integers(nx)
            rows = np.arange(y0, y0 + t) % ny
            cols = np.arange(x0, x0 + t) % nx
            k, flip = (int(rng.integers(4)), bool(rng.integers(2))) if self.augment else (0, False)
            xs[j] = augment(self.inputs[m][np.ix_(rows, cols)], k, flip)
            ys[j] = augment(self.targets[m][np.ix_(rows, cols)], k, flip)
        inputs = {"dm": xs[..., None]}
        for lev in range(self.noise_levels):
            s = t // 2**lev
            inputs[f"noise_l{lev}"] = rng.standard_normal((b, s, s, 1), dtype=np.float32)
        out = (inputs, ys[..., None])
        if with_eps:
            out = out + (rng.random((b, 1, 1, 1), dtype=np.float32),)
        return out


def _pydataset_base():
    keras = import_keras()

    return keras.utils.PyDataset


class TileDataset(_pydataset_base()):
    """``keras.utils.PyDataset`` view of a :class:`TileSampler`: item ``i`` is ``sampler.batch(start + i)``.

    ``workers`` / ``use_multiprocessing`` as for any PyDataset; batches are
    deterministic whatever the order they are built in.
    """

    def __init__(self, sampler, steps, start=0, with_eps=False, **kwargs):
        super().__init__(**kwargs)
        self.sampler, self.steps, self.start, self.with_eps = sampler, int(steps), int(start), bool(with_eps)

    def __len__(self):
        return self.steps

    def __getitem__(self, i):
        if i >= self.steps:
            raise IndexError(i)
        return self.sampler.batch(self.start + i, self.with_eps)
