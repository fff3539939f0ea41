"""CAMB non-linear models at the app box's redshifts (z = 2, 3) and k = 0.28-2.06 h/Mpc: the project's
nonlinear_power (HMcode-2020), halofit Takahashi, HMcode-2016/2015, Smith et al. original, and linear."""
import os, json, numpy as np, camb
OUT = os.environ.get("PKX_OUT", "/tmp/pkx")

from ember_dist.sim.linear import suite_cosmology, _camb_params, _amplitude, nonlinear_power, LinearPower, growth
cosmo = suite_cosmology()
a_s = _amplitude(tuple(sorted(cosmo.items())), 100.0)
ks = np.array([0.278, 0.471, 0.670, 0.870, 1.073, 1.265, 1.461, 1.659, 1.858, 2.056])
out = {"k": ks.tolist()}
lin = LinearPower()
for z in (2.0, 3.0):
    out[f"proj_{z}"] = nonlinear_power(ks, z).tolist()
    out[f"lin_colossus_{z}"] = (lin(ks) * growth(z)[0]**2).tolist()
    for v in ["original", "takahashi", "mead", "mead2016", "mead2015", "mead2020"]:
        p = _camb_params(cosmo, [z], 100.0, nonlinear=True, a_s=a_s)
        p.NonLinearModel.set_params(halofit_version=v)
        res = camb.get_results(p)
        kh, _, pk = res.get_matter_power_spectrum(minkh=1e-4, maxkh=100, npoints=1500)
        out[f"{v}_{z}"] = np.exp(np.interp(np.log(ks), np.log(kh), np.log(pk[0]))).tolist()
    p = _camb_params(cosmo, [z], 100.0, nonlinear=False, a_s=a_s)
    res = camb.get_results(p)
    kh, _, pk = res.get_matter_power_spectrum(minkh=1e-4, maxkh=100, npoints=1500)
    out[f"lin_camb_{z}"] = np.exp(np.interp(np.log(ks), np.log(kh), np.log(pk[0]))).tolist()
json.dump(out, open(OUT + "/theory.json", "w"))
for z in (2.0, 3.0):
    print(f"z={z}  k   " + "  ".join(f"{v:>9s}" for v in ["proj", "takahashi", "mead2016", "mead2020", "original", "lin"]))
    for i, k in enumerate(ks):
        print(f"  {k:.3f} " + "  ".join(f"{out[f'{v}_{z}'][i]:9.3f}" for v in ["proj", "takahashi", "mead2016", "mead2020", "original", "lin_camb"]))
