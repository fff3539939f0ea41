# SPDX-License-Identifier: BSD-3-Clause
"""Keras 3 layers of the EMBER networks (``keras.ops`` only, no backend imports)."""
from ember_dist.model.layers.noise_injection import NoiseInjection
from ember_dist.model.layers.periodic import PeriodicConv, ValidConv

__all__ = ["NoiseInjection", "PeriodicConv", "ValidConv"]
