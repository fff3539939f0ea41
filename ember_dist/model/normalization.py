# SPDX-License-Identifier: BSD-3-Clause
"""The EMBER normalisation ``x' = log((x / x0)^q + 1) / k`` and its exact inverse.

The paper's Table 2 gives ``x0`` in Msun; maps here are in Msun/h, so the
threshold in map units is ``x0 * h`` with the Hubble parameter of the
simulation the model was trained on (FIRE: h = 0.697).  A bundle records
``x0`` with its unit and that ``h``, so no unit slips between training and
inference.

Examples
--------
>>> n = Normalization.for_field("gas", hubble=0.7)
>>> n.x0_map_units
1050000.0
>>> import numpy as np
>>> x = np.array([0.0, 1e3, 1e6, 1e9])
>>> bool(np.allclose(n.inverse(n.forward(x)), x, rtol=1e-12))
True
>>> Normalization.for_field("stars")
Traceback (most recent call last):
...
ValueError: no EMBER normalisation for field='stars'; known fields are ['dm', 'dmh', 'dmo', 'gas', 'hi']. Pass Normalization(k=..., x0=..., q=...) explicitly.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["Normalization", "ScaledInput", "scale_map", "PAPER_NORMALIZATION"]

#: Paper parameters (Bernardini et al. 2022, Table 2): x0 in Msun.
PAPER_NORMALIZATION = {
    "dm": {"k": 3.0, "x0": 1e7, "q": 1.0},
    "dmo": {"k": 3.0, "x0": 1e7, "q": 1.0},
    "dmh": {"k": 3.0, "x0": 1e7, "q": 1.0},
    "gas": {"k": 3.0, "x0": 1.5e6, "q": 1.0},
    "hi": {"k": 0.9, "x0": 1e4, "q": 0.2},
}


@dataclass(frozen=True)
class Normalization:
    """``x' = log((x/x0)^q + 1)/k`` with ``x0`` given in ``x0_unit``.

    Parameters
    ----------
    k : float
        Divisor of the logarithm.
    x0 : float, Msun (or Msun/h, see ``x0_unit``)
        Mass scale.
    q : float
        Power applied before the logarithm.
    x0_unit : {"Msun", "Msun/h"}
        Unit of ``x0``.  With ``"Msun"`` the threshold in map units (Msun/h)
        is ``x0 * hubble``.
    hubble : float
        h of the simulation the model was trained on.
    """

    k: float
    x0: float
    q: float
    x0_unit: str = "Msun"
    hubble: float = 0.697

    def __post_init__(self):
        if self.x0_unit not in ("Msun", "Msun/h"):
            raise ValueError(f"x0_unit must be 'Msun' or 'Msun/h'. Received: x0_unit={self.x0_unit!r}.")
        for name in ("k", "x0", "q", "hubble"):
            v = getattr(self, name)
            if not np.isfinite(v) or v <= 0:
                raise ValueError(f"`{name}` must be a positive finite number. Received: {name}={v!r}.")

    @classmethod
    def for_field(cls, field, hubble=0.697):
        """The paper's normalisation for ``field`` ("dm", "gas", "hi", ...)."""
        try:
            p = PAPER_NORMALIZATION[field]
        except KeyError:
            raise ValueError(
                f"no EMBER normalisation for field={field!r}; known fields are "
                f"{sorted(PAPER_NORMALIZATION)}. Pass Normalization(k=..., x0=..., q=...) explicitly."
            ) from None
        return cls(hubble=hubble, x0_unit="Msun", **p)

    @property
    def x0_map_units(self):
        """``x0`` in Msun/h, the unit of the maps."""
        return self.x0 * self.hubble if self.x0_unit == "Msun" else self.x0

    def forward(self, x):
        """Normalise a mass map (Msun/h per pixel); computed in float64."""
        x = np.asarray(x, dtype=np.float64)
        return np.log1p((x / self.x0_map_units) ** self.q) / self.k

    def inverse(self, y):
        """Exact inverse of :meth:`forward` (float64); negative inputs clip to 0."""
        y = np.asarray(y, dtype=np.float64)
        return self.x0_map_units * np.expm1(np.maximum(y, 0.0) * self.k) ** (1.0 / self.q)

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        return cls(**{k: d[k] for k in ("k", "x0", "q", "x0_unit", "hubble")})


def scale_map(x, factor):
    """``x * factor`` computed in float64 and rounded to float32 (the dtype of the maps).

    The one definition of how enrichment rescales an input dark-matter map
    (:class:`ScaledInput`): the result is what a map store holding the scaled maps would give.

    >>> scale_map(np.array([1e7], np.float32), 0.843)
    array([8.43e+06], dtype=float32)
    """
    return (np.asarray(x, dtype=np.float64) * float(factor)).astype(np.float32)


@dataclass(frozen=True)
class ScaledInput:
    """An input normalisation applied to the map scaled by ``factor``: ``norm.forward(scale_map(x, factor))``.

    Enrichment uses it where the input dark matter carries another share of Omega_m than the
    model's training input (a dark-matter-only run fed to a model trained on a hydro run's dark
    matter: ``factor`` = 0.843 for Planck 2015).  Since the map is scaled before it is normalised,
    and rounded to float32 like a stored map, a run with it gives bit for bit the output of a run
    on the scaled maps.  Hashable (the input chunk cache keys on it) and picklable.

    Parameters
    ----------
    norm : Normalization
        The bundle's input normalisation.
    factor : float
        Multiplies the input map (Msun/h per pixel) before ``norm``.

    Examples
    --------
    >>> n = Normalization.for_field("dm")
    >>> s = ScaledInput(n, 0.5)
    >>> x = np.array([0.0, 2e7, 4e7], np.float32)
    >>> bool(np.array_equal(s.forward(x), n.forward(x / 2)))
    True
    >>> bool(np.allclose(s.inverse(s.forward(x)), x, rtol=1e-12))
    True
    """

    norm: Normalization
    factor: float

    def __post_init__(self):
        if not np.isfinite(self.factor) or self.factor <= 0:
            raise ValueError(f"`factor` must be a positive finite number. Received: factor={self.factor!r}.")

    @property
    def x0_map_units(self):
        """The threshold of ``norm`` in units of the *unscaled* input map, Msun/h."""
        return self.norm.x0_map_units / self.factor

    def forward(self, x):
        """Normalise the map scaled by ``factor`` (float32-rounded first, as a stored map); float64."""
        return self.norm.forward(scale_map(x, self.factor))

    def inverse(self, y):
        """The unscaled map (float64): ``norm.inverse(y) / factor``."""
        return self.norm.inverse(y) / self.factor
