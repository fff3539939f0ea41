# SPDX-License-Identifier: BSD-3-Clause
"""``ember-dist train``: train a U-Net or WGAN-GP model on deposited maps and write its bundle.

Imports of Keras/TensorFlow happen when the command runs, not when the parser is built.
"""
from __future__ import annotations

import sys
from pathlib import Path

from ember_dist.help_format import HelpFormatter

__all__ = ["add_train_parser", "add_evaluate_parser"]


def _train(args):
    if args.val_input_maps is not None and args.val_maps is None:
        raise ValueError("--val-input-maps needs --val-maps (the validation store holding the target field).")
    for opt, path in (("--maps", args.maps), ("--input-maps", args.input_maps), ("--val-maps", args.val_maps),
                      ("--val-input-maps", args.val_input_maps)):
        if path is not None and not Path(path).exists():  # before TensorFlow loads (seconds)
            raise FileNotFoundError(f"{opt} {path!r} does not exist. Pass a zarr store written by "
                                    "`ember-dist deposit`.")
    from ember_dist.model.bundle import check_bundle_path

    check_bundle_path(args.out, args.overwrite)  # before TensorFlow loads (train() checks it again)
    from ember_dist.train.loop import train

    weights = None
    if args.alpha is not None or args.beta is not None or args.gamma is not None:
        from ember_dist.train.losses import loss_weights

        try:
            base = loss_weights(args.kind, args.field).to_dict()
        except ValueError:
            base = {"alpha": 1.0, "beta": 1.0, "gamma": 1.0 if args.kind == "wgan" else None}
        for k in ("alpha", "beta", "gamma"):
            if getattr(args, k) is not None:
                base[k] = getattr(args, k)
        weights = base

    def progress(step, m):
        if not args.quiet:
            print(f"step {step}/{args.steps} " + " ".join(f"{k}={v:.4g}" for k, v in m.items()), flush=True)

    b = train(args.maps, args.field, args.out, kind=args.kind, preset=args.preset, steps=args.steps,
              work_dir=args.work_dir, input_var=args.input_var, input_maps=args.input_maps, axes=tuple(args.axes),
              name=args.name, overwrite=args.overwrite, progress=progress, batch=args.batch, tile=args.tile,
              lr=args.lr, critic_lr=args.critic_lr, n_critic=args.n_critic, checkpoint_every=args.checkpoint_every,
              keep_checkpoints=args.keep_checkpoints,
              log_every=args.log_every, sample_every=args.sample_every, seed=args.seed, weights=weights,
              bright_tiles=args.bright_tiles,
              seam_size=args.seam_size, end_lr_factor=args.end_lr_factor, power=args.lr_power,
              init_from=args.init_from, noise_init=args.noise_init, critic_warmup=args.critic_warmup,
              devices=args.devices, mbstd_group=args.mbstd_group, penalty=args.penalty, gp_weight=args.penalty_weight,
              noise_per_channel=args.noise_per_channel,
              noise_modulated=args.noise_modulated, noise_lr=args.noise_lr, fused=args.fused,
              critic_width=args.critic_width, perceptual_from_level=args.perceptual_from_level,
              power_weight=args.power_weight, pdf_weight=args.pdf_weight,
              pdf_log_weight=args.pdf_log_weight, pdf_mass_weight=args.pdf_mass_weight,
              mass_weight=args.mass_weight, tile_power_weight=args.tile_power_weight,
              spread_weight=args.spread_weight, perceptual_energy=args.perceptual_energy,
              noise_floor=tuple(args.noise_floor or ()),
              score_maps=args.score_maps, score_bispectrum=args.score_bispectrum,
              score_metric=args.score_metric, ema_half_life=args.ema_half_life, val_maps=args.val_maps, val_input_maps=args.val_input_maps,
              notice=lambda m: print(f"ember-dist train: {m}", file=sys.stderr, flush=True))
    t = b.meta["training"]
    print(f"wrote bundle {b.path}: {b.name} field={b.field} kind={b.meta['kind']} steps={t['steps']} "
          f"({t['iterations_per_second']:.3g} it/s on {t['data_parallel']['replicas']} device(s)); "
          f"auto halo {b.auto_halo()}")
    return 0


def add_train_parser(subparsers):
    fmt = HelpFormatter
    p = subparsers.add_parser("train", formatter_class=fmt,
                              help="train a U-Net or WGAN-GP generator on deposited slab maps, write a bundle")
    p.add_argument("--maps", required=True, help="zarr store from `ember-dist deposit` holding the target field")
    p.add_argument("--field", required=True, choices=["gas", "hi"], help="target variable")
    p.add_argument("--out", required=True, help="bundle directory to write")
    p.add_argument("--kind", default="unet", choices=["unet", "wgan"],
                   help="U-Net (perceptual loss) or WGAN-GP with the multi-scale critic")
    p.add_argument("--preset", default="small", help="generator architecture preset (tiny, small, wide, fiducial)")
    p.add_argument("--steps", type=int, default=1000, help="generator iterations")
    p.add_argument("--input-maps", default=None, help="store holding the input (default: --maps), e.g. a DM-only "
                   "or downsampled deposit")
    p.add_argument("--input-var", default="dm", help="input variable in the input store")
    p.add_argument("--axes", nargs="+", default=["x", "y"], help="training projections (the rest are held out)")
    p.add_argument("--batch", type=int, default=8, help="tiles per step (global: split over --devices)")
    p.add_argument("--tile", type=int, default=64, help="training tile side, px")
    p.add_argument("--lr", type=float, default=1e-4, help="initial generator learning rate (polynomial decay)")
    p.add_argument("--critic-lr", type=float, default=1e-4, help="initial critic learning rate (wgan)")
    p.add_argument("--end-lr-factor", type=float, default=0.01, help="final learning rate / initial")
    p.add_argument("--lr-power", type=float, default=1.0, help="power of the polynomial learning-rate decay")
    p.add_argument("--init-from", default=None, help="bundle whose generator weights start the run (e.g. a trained "
                   "U-Net to warm-start a WGAN); same preset")
    p.add_argument("--critic-warmup", type=int, default=0, help="first iterations that train only the critic (wgan)")
    p.add_argument("--noise-init", type=float, default=0.0, help="initial noise-injection strength (wgan; paper: 0)")
    p.add_argument("--n-critic", type=int, default=5, help="critic steps per generator step (wgan)")
    p.add_argument("--penalty", default="gp", choices=["gp", "r1"], help="critic regulariser (wgan): the paper's "
                   "two-sided gradient penalty at interpolates, or R1 on real samples")
    p.add_argument("--penalty-weight", type=float, default=10.0, help="weight of --penalty (gp: lambda; r1: gamma, "
                   "the term is gamma/2 * mean ||grad D(real)||^2)")
    p.add_argument("--noise-per-channel", action="store_true", help="one noise strength per feature channel "
                   "(StyleGAN) instead of one per level (wgan)")
    p.add_argument("--noise-modulated", action="store_true", help="scale each noise injection pixel by pixel "
                   "by a gain its features set (wgan): noise where the features say the target is unpredictable")
    p.add_argument("--noise-lr", type=float, default=None, help="initial learning rate of the noise strengths "
                   "(own Adam, same decay; default: --lr)")
    p.add_argument("--fused", action="store_true", help="one compiled call per WGAN iteration instead of one per "
                   "critic/generator update (same updates to round-off; longer compilation)")
    p.add_argument("--critic-width", type=int, default=1, help="multiplier of the critic's widths (wgan; 1: the "
                   "paper's critic, as wide as the generator's encoder)")
    p.add_argument("--perceptual-from-level", type=int, default=0, help="compare the final output with the "
                   "target in the perceptual loss only after block-averaging both over 2**LEVEL pixels, leaving "
                   "smaller scales to the adversarial term (wgan; 0: pixel by pixel, the paper)")
    p.add_argument("--power-weight", type=float, default=0.0, help="weight of a P(k) term in the generator loss: "
                   "squared log ratio of the predicted and true mass power of each batch in radial bins (0: none, "
                   "the paper)")
    p.add_argument("--pdf-weight", type=float, default=0.0, help="weight of a pixel-PDF term in the generator "
                   "loss: Wasserstein-1 distance between the batch's predicted and true normalised pixel values "
                   "(0: none, the paper)")
    p.add_argument("--pdf-log-weight", type=float, default=0.0, help="weight of a pixel-PDF term in ln(mass): "
                   "Wasserstein-1 distance between the batch's predicted and true ln(mass per pixel), every decade "
                   "weighing the same, the emptiest pixels included (0: none, the paper)")
    p.add_argument("--pdf-mass-weight", type=float, default=0.0, help="weight of a pixel-PDF term in mass: "
                   "Wasserstein-1 distance between the batch's predicted and true mass per pixel over the true mean, "
                   "which the brightest pixels (halo cores) dominate (0: none, the paper)")
    p.add_argument("--mass-weight", type=float, default=0.0, help="weight of a total-mass term: squared log ratio "
                   "of the batch's predicted and true total mass (0: none, the paper)")
    p.add_argument("--tile-power-weight", type=float, default=0.0, help="weight of a per-tile P(k) term: mean "
                   "|ln(1 + P_pred) - ln(1 + P_true)| of each tile's power in units of the batch's mean, so that each "
                   "tile, not only the batch, gets its own small-scale power (0: none, the paper)")
    p.add_argument("--spread-weight", type=float, default=0.0, help="weight of the energy score of each tile's "
                   "P(k) over two realisations with independent noise, which asks them to scatter as the truth "
                   "does about them (wgan; the generator runs twice per step; 0: none, the paper)")
    p.add_argument("--perceptual-energy", type=float, default=0.0, metavar="E", help="in [0, 1]: the DSSIM/MSLE "
                   "terms as the energy score of two realisations, their mean distance from the truth minus E x half "
                   "their distance from each other; at 1 MSLE no longer charges for the realisations' spread (wgan; "
                   "the generator runs twice per step; 0: one realisation, the paper)")
    p.add_argument("--noise-floor", type=float, nargs="+", default=None, metavar="F", help="least |strength| of "
                   "the noise injections of decoder levels 0, 1, ... during training, held after every update "
                   "(wgan; e.g. 0.06 0.05: the finest levels kept near the scale of their features; default: free)")
    p.add_argument("--alpha", type=float, default=None, help="DSSIM weight (default: the paper's)")
    p.add_argument("--beta", type=float, default=None, help="MSLE weight (default: the paper's)")
    p.add_argument("--gamma", type=float, default=None, help="adversarial weight (default: the paper's)")
    p.add_argument("--devices", default="auto", help="data parallelism: 'auto' (every GPU when there are two or "
                   "more), 1 (one device), N (the first N GPUs) or comma-separated TensorFlow device names; "
                   "--batch is the global batch, split evenly")
    p.add_argument("--mbstd-group", type=int, default=None, help="samples per critic minibatch-stddev group "
                   "(default: the per-device batch)")
    p.add_argument("--val-maps", default=None, help="validation store (a box trained on by no model, e.g. the "
                   "suite's validation seed): its maps score the checkpoints and pick the exported one "
                   "(default: the first --score-maps training maps)")
    p.add_argument("--val-input-maps", default=None, help="store holding the validation input (default: "
                   "--val-maps), e.g. its downsampled dark matter for an MR model")
    p.add_argument("--score-maps", type=int, default=2, help="training maps scored at each checkpoint when "
                   "there is no --val-maps (0: no scoring; the last step is exported)")
    p.add_argument("--score-bispectrum", type=float, default=0.0, help="weight of the equilateral-bispectrum "
                   "error (the evaluation's B_eq) in each checkpoint's score (default 0: P(k) and mass alone)")
    p.add_argument("--score-metric", default="power", choices=["power", "evaluation"], help="checkpoint score: "
                   "'power' (P(k) and mass, + --score-bispectrum) or 'evaluation' (the validation score that chooses "
                   "the shipped defaults: mass, P(k), B_eq, pixel PDF and HI CDDF errors as `ember-dist evaluate` "
                   "computes them, of one prediction per scored map)")
    p.add_argument("--ema-half-life", type=float, default=0.0, help="half-life in steps of an exponential moving "
                   "average of the generator's weights, which checkpoints are scored with and the bundle exports "
                   "(StyleGAN's; 0: the weights themselves)")
    p.add_argument("--checkpoint-every", type=int, default=500, help="checkpoint (and score) period, steps")
    p.add_argument("--keep-checkpoints", type=int, default=3, help="newest checkpoints kept besides the best one "
                   "(more: a run can be rescored with another checkpoint score afterwards)")
    p.add_argument("--log-every", type=int, default=10, help="metrics.csv / TensorBoard / progress period, steps")
    p.add_argument("--sample-every", type=int, default=500, help="sample PNG period in steps (0: none)")
    p.add_argument("--seed", type=int, default=0, help="seeds the weights and every batch")
    p.add_argument("--bright-tiles", type=float, default=0.0, help="fraction of the training tiles placed over one "
                   "of the target's brightest pixels (top 0.1%%: halo cores), the rest anywhere (0: uniform, the paper)")
    p.add_argument("--work-dir", default=None, help="checkpoints, metrics.csv, samples (default: OUT.work); "
                   "an existing one is resumed from its last checkpoint")
    p.add_argument("--name", default=None, help="bundle name (default: the OUT directory name)")
    p.add_argument("--seam-size", type=int, default=None, help="test map side for the seam-error table")
    p.add_argument("--overwrite", action="store_true", help="replace an existing bundle directory")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-step progress lines")
    p.set_defaults(func=_train)
    return p


def _evaluate(args):
    from ember_dist.train.evaluate import evaluate, evaluate_models

    if len(args.model) > 1 or args.table:
        if not args.out:
            raise SystemExit("ember-dist evaluate: several models (or --table) need --out for the table and figures")
        ins = args.input_maps if args.input_maps and len(args.input_maps) > 1 else (args.input_maps or [None])[0]
        rows = evaluate_models(args.model, args.maps, args.out, input_maps=ins, field=args.field,
                               input_var=args.input_var, axes=tuple(args.axes), realisations=args.realisations,
                               seed=args.seed, overwrite=args.overwrite)
        print(Path(args.out, "table.md").read_text(), end="")
        print(f"wrote {args.out}/table.md, table.csv, report.json and figures for {len(rows)} model(s)")
        return 0
    r = evaluate(args.model[0], args.maps, field=args.field, out=args.out,
                 input_maps=(args.input_maps or [None])[0], input_var=args.input_var, axes=tuple(args.axes),
                 realisations=args.realisations, seed=args.seed, overwrite=args.overwrite)
    print(f"{r['model']} ({r['kind']}, {r['field']}) on {r['n_maps']} held-out maps x {r['realisations']} "
          f"realisation(s): median total-mass error {100 * r['total_mass_frac_error_median']:+.1f}%")
    print("k [h/ckpc]\tmedian P(k) fractional error")
    for k, e in zip(r["power_k"], r["power_frac_error_median"]):
        print(f"{k:.4g}\t" + ("nan" if e is None else f"{e:+.3f}"))
    if args.out:
        print(f"wrote {args.out}/report.json and power_error.csv")
    return 0


def add_evaluate_parser(subparsers):
    fmt = HelpFormatter
    p = subparsers.add_parser("evaluate", formatter_class=fmt,
                              help="predict held-out maps with bundles; Table-4-like table (total-mass error), "
                              "P(k), PDF and HI CDDF errors and figures")
    p.add_argument("--model", required=True, nargs="+", help="bundle directories or names (several: one table "
                   "and shared figures; same field)")
    p.add_argument("--maps", required=True, help="zarr store from `ember-dist deposit` holding the true field")
    p.add_argument("--field", default=None, help="true field variable (default: the bundle's)")
    p.add_argument("--input-maps", default=None, nargs="+", help="store holding the input (default: --maps); "
                   "one for all models or one per model (e.g. a 64x-downsampled deposit for MR models)")
    p.add_argument("--input-var", default="dm")
    p.add_argument("--axes", nargs="+", default=["z"], help="held-out projections")
    p.add_argument("--table", action="store_true", help="write the table and figures even for one model")
    p.add_argument("--realisations", type=int, default=1, help="WGAN realisations per map")
    p.add_argument("--seed", type=int, default=0, help="noise seed of the first realisation (the i-th: seed + i)")
    p.add_argument("--out", default=None, help="report directory")
    p.add_argument("--overwrite", action="store_true", help="replace the report in an --out that already holds files")
    p.set_defaults(func=_evaluate)
    return p
