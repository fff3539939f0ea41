# SPDX-License-Identifier: BSD-3-Clause
"""Summary statistics of maps, lazy and distributed with Dask.

Every function takes a 2D map or a stack (NumPy, Dask, ``xarray.DataArray`` or
``xarray.Dataset`` with ``field=``) and returns an ``xarray.Dataset`` with units.
Lazy inputs give lazy outputs: compute several statistics in one pass with
``dask.compute(ds1, ds2, ...)``.
"""
from .bispectrum import bispectrum
from .cddf import cddf
from .halos import halo_masses
from .mass import total_mass
from .pdf import pixel_pdf
from .power import cross_power_spectrum, power_spectrum
from .realisations import fractional_error, realisation_quantiles

__all__ = ["total_mass", "pixel_pdf", "power_spectrum", "cross_power_spectrum", "bispectrum", "cddf", "halo_masses",
           "realisation_quantiles", "fractional_error"]
