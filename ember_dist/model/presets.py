# SPDX-License-Identifier: BSD-3-Clause
"""Architecture presets of the EMBER generator.

``filters[l]`` is the width of encoder level ``l``; level 0 runs at full
resolution and every later level starts with a stride-2 convolution, so a
preset with ``L`` levels has alignment factor ``2**(L-1)``.  The decoder at
level ``l`` has ``filters[l+1]`` channels (the paper's layout, which
reproduces its 57.7 k multiply-adds per output pixel).

Examples
--------
>>> get_preset("fiducial").alignment
128
>>> get_preset("small").alignment
16
>>> get_preset("huge")
Traceback (most recent call last):
...
ValueError: unknown architecture preset 'huge'; available presets are ['fiducial', 'small', 'tiny', 'wide']. Pass one of them as preset=...
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

__all__ = ["Preset", "PRESETS", "get_preset"]


@dataclass(frozen=True)
class Preset:
    """Generator architecture description (JSON-serialisable).

    Parameters
    ----------
    name : str
    filters : tuple of int
        Encoder widths per level; ``len(filters)`` is the number of levels.
    noise : bool
        Inject coordinate-keyed noise in every decoder level (WGAN generator);
        ``False`` gives the deterministic U-Net.
    negative_slope : float
        LeakyReLU slope.
    noise_per_channel : bool
        One noise strength per feature channel of each injection (StyleGAN) instead of one per
        level (the paper).  Recorded in bundles so loading rebuilds the same weights.
    noise_modulated : bool
        Scale each injection's noise pixel by pixel by a gain the features there set
        (:class:`~ember_dist.model.layers.NoiseInjection` ``modulated``): noise where the features say
        the target is unpredictable (halo cores), none in voids.  Recorded in bundles.
    """

    name: str
    filters: tuple
    noise: bool = True
    negative_slope: float = 0.2
    noise_per_channel: bool = False
    noise_modulated: bool = False

    @property
    def levels(self):
        return len(self.filters)

    @property
    def alignment(self):
        """Translation-equivariance period of the network, in input pixels."""
        return 2 ** (self.levels - 1)

    def with_noise(self, noise):
        return replace(self, noise=bool(noise))

    def with_noise_per_channel(self, per_channel):
        return replace(self, noise_per_channel=bool(per_channel))

    def with_noise_modulated(self, modulated):
        return replace(self, noise_modulated=bool(modulated))

    def to_dict(self):
        d = asdict(self)
        d["filters"] = list(self.filters)
        return d

    @classmethod
    def from_dict(cls, d):
        return cls(d["name"], tuple(int(f) for f in d["filters"]), bool(d["noise"]), float(d["negative_slope"]),
                   bool(d.get("noise_per_channel", False)),  # absent from bundles written before they existed
                   bool(d.get("noise_modulated", False)))


PRESETS = {
    # Bernardini et al. 2022: 8 levels, 8..512 filters, bottleneck 512 (30.7 M parameters).
    "fiducial": Preset("fiducial", (8, 16, 32, 64, 128, 256, 512, 512)),
    # For demos and tests on CPU: 5 levels, alignment 16.
    "small": Preset("small", (8, 16, 32, 32, 64)),
    # The small layout (5 levels, alignment 16) at twice the widths: 4x the parameters, for GPU training.
    "wide": Preset("wide", (16, 32, 64, 64, 128)),
    # For fast unit tests: 4 levels, alignment 8.
    "tiny": Preset("tiny", (4, 8, 8, 16)),
}


def get_preset(name):
    """Look up a preset by name (a :class:`Preset` is returned unchanged)."""
    if isinstance(name, Preset):
        return name
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown architecture preset {name!r}; available presets are {sorted(PRESETS)}. "
            "Pass one of them as preset=..."
        ) from None
