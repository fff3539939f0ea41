# SPDX-License-Identifier: BSD-3-Clause
"""The configuration of a training run: :class:`TrainConfig`, checked when it is made.

Everything that defines a run is one JSON-serialisable dataclass; a checkpoint stores it
(:meth:`TrainConfig.to_dict`) and a resume compares it (:mod:`ember_dist.train.checkpoints`).

Examples
--------
>>> TrainConfig(kind="wgan", field="hi").loss_weights
LossWeights(alpha=5.0, beta=0.02, gamma=50.0)
>>> TrainConfig(kind="gan")
Traceback (most recent call last):
...
ValueError: kind must be 'unet' or 'wgan'. Received: kind='gan'.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from dataclasses import field as _field

from ember_dist.model.presets import get_preset
from ember_dist.train.losses import GP_WEIGHT, PENALTIES, LossWeights, loss_weights

#: the generator-loss terms beyond the paper's (weights >= 0; 0 leaves a term out), all statistics of the whole batch
#: (binned power sums, a sort of its pixels, per-tile power in units of the batch's mean): one device only
BATCH_TERMS = ("power_weight", "pdf_weight", "pdf_log_weight", "pdf_mass_weight", "mass_weight", "tile_power_weight",
               "spread_weight")
#: those computed in mass: they need the target's normalisation to turn the maps back into mass
MASS_TERMS = ("power_weight", "pdf_log_weight", "pdf_mass_weight", "mass_weight", "tile_power_weight", "spread_weight")

__all__ = ["TrainConfig"]


@dataclass
class TrainConfig:
    """Everything that defines a training run (JSON-serialisable).

    Parameters
    ----------
    kind : {"unet", "wgan"}
    field : {"gas", "hi"}
    preset : str
    steps : int
        Generator iterations.
    batch, tile : int
    lr, critic_lr : float
        Initial Adam learning rates, decayed polynomially (``power``) to
        ``lr * end_lr_factor`` over the run.
    n_critic : int
        Critic updates per generator update (WGAN).
    weights : dict, optional
        ``{"alpha", "beta", "gamma"}``; default the paper's for ``kind``/``field``.
    checkpoint_every, log_every, sample_every : int, steps (0 disables samples)
    score_maps : int
        Training maps predicted whole at every checkpoint to score it by the
        power-spectrum error (the paper's best-checkpoint choice); 0 disables.
    score_bispectrum : float
        Weight of the equilateral-bispectrum error (:func:`~ember_dist.train.scoring.equilateral_error`, the
        evaluation's B_eq) added to each checkpoint's score; 0 (default): P(k) and mass alone.
    ema_half_life : float
        Half-life in steps of an exponential moving average of the generator's weights
        (:class:`~ember_dist.train.ema.WeightAverage`); checkpoints are scored with it and the bundle exports
        it.  0 (default): the weights themselves.
    score_metric : {"power", "evaluation"}
        What a checkpoint is scored by: "power" (default) the P(k) and mass score above; "evaluation" the
        validation score that chooses the shipped defaults (mass, P(k), B_eq, pixel PDF and, for HI, CDDF
        errors of one prediction of each scored map, as ``ember-dist evaluate`` computes them;
        :data:`~ember_dist.train.eval_table.SCORE_COLUMNS`), so that a run cannot drift in a statistic its
        checkpoint score does not see.
    prefetch : int
        Batches built ahead in a background thread (0: build in the loop).
    tensorboard : bool
        Also write the logged metrics as TensorBoard scalars in ``<work>/tensorboard``.
    keep_checkpoints : int
    seed : int
        Seeds weights initialisation (``keras.utils.set_random_seed``) and all batches.
    bright_tiles : float
        Fraction of the training tiles placed over one of the target's brightest pixels (its top 0.1%; halo
        cores), the rest anywhere (:class:`~ember_dist.train.sampler.TileSampler`); 0 (the paper): uniform tiles.
    init_from : str, optional
        Bundle (path or name) whose generator weights start the run (warm start), layer by layer
        by name; e.g. a trained U-Net for a WGAN (the noise strengths, absent from a U-Net, keep
        ``noise_init``).  The bundle's preset must have the same filters.
    critic_warmup : int
        First WGAN iterations that train only the critic (the generator waits).  A warm-started
        generator is otherwise pushed by the gradients of an untrained critic.
    noise_init : float
        Initial strength of every noise injection of the WGAN generator (the paper: 0).  With
        Adam a scalar moves by about ``lr`` per step, so from 0 it cannot grow in a short run.
    devices : "auto", None, int or list of str
        Data parallelism (:mod:`ember_dist.train.distribute`): ``"auto"`` (default) every GPU when
        there are two or more, else one device; ``None`` or 1 one device; ``n`` the first ``n``
        GPUs; or TensorFlow device names.  ``batch`` is the global batch, split evenly.
    mbstd_group : int, optional
        Samples per minibatch-standard-deviation group of the critic; default the batch on one
        device (``batch / replicas``).  A run on ``n`` devices equals the one-device run with
        ``mbstd_group = batch / n``.
    fused : bool
        Run a whole WGAN iteration (``n_critic`` critic updates and the generator update) as one
        compiled call (one host round trip instead of ``n_critic + 1``; the generator outputs of
        the critic batches in one forward pass); the same updates to round-off.  Off by default: on
        the 2-core CPU it gained nothing measurable and compiles 2-4x longer (bench/README.md).
    penalty : {"gp", "r1"}
        Critic regulariser: the paper's two-sided gradient penalty at interpolates (weight
        ``gp_weight``), or R1 on real samples, ``(gp_weight / 2) * mean ||grad D(real)||^2``.
    noise_per_channel : bool
        One noise strength per feature channel (StyleGAN) instead of one per level (WGAN).
    noise_modulated : bool
        Scale each noise injection pixel by pixel by a gain its features set (WGAN; ``modulated`` of
        :class:`~ember_dist.model.layers.NoiseInjection`); the gain's weights start at 0 (gain 1) and
        train with the noise strengths (their optimizer and ``noise_lr`` where set; the noise diagnostics then
        include them). At the generator's lr they hardly moved in 2000 steps (gains 0.98-0.99).
    noise_lr : float, optional
        Initial learning rate of the noise strengths (own Adam optimizer, same decay); default: they
        are trained with the generator's ``lr``.
    critic_width : int
        Multiplier of the critic's widths (block ``l`` has ``critic_width * filters[l]`` channels); 1 the
        paper's critic, whose widths are the generator's encoder widths (8 at full resolution in the
        ``small`` preset).
    perceptual_from_level : int
        Level at which the final (full-resolution) output enters the perceptual loss: 0 the paper (pixel by
        pixel); ``l > 0`` compares the output block-averaged over ``2**l`` pixels with the target averaged
        the same way, so that below that scale only the adversarial term shapes the map (WGAN only).
    power_weight : float
        Weight of a P(k) term in the generator loss (:func:`~ember_dist.train.stat_terms.power_spectrum_loss`:
        squared log ratio of the batch's predicted and true mass power in radial bins of the tile); 0 (the
        paper) leaves it out.
    pdf_weight : float
        Weight of a pixel-PDF term in the generator loss
        (:func:`~ember_dist.train.stat_terms.pixel_distribution_loss`: the Wasserstein-1 distance between
        the batch's predicted and true normalised pixel values); 0 (the paper) leaves it out.
    pdf_log_weight : float
        Weight of a pixel-PDF term in ln(mass) (:func:`~ember_dist.train.stat_terms.log_mass_distribution_loss`:
        the Wasserstein-1 distance between the batch's predicted and true ln(mass per pixel), which weighs the
        emptiest pixels as the evaluation's log-binned PDF and CDDF do); 0 (the paper) leaves it out.
    pdf_mass_weight : float
        Weight of a pixel-PDF term in mass (:func:`~ember_dist.train.stat_terms.mass_distribution_loss`: the
        Wasserstein-1 distance between the batch's predicted and true mass per pixel over the true mean, which
        the brightest pixels dominate, the tail that sets the bispectrum); 0 (the paper) leaves it out.
    mass_weight : float
        Weight of a total-mass term (:func:`~ember_dist.train.stat_terms.total_mass_loss`: the squared log ratio of
        the batch's predicted and true total mass, which the evaluation's mass target judges and no other term
        sees); 0 (the paper) leaves it out.
    tile_power_weight : float
        Weight of a per-tile P(k) term (:func:`~ember_dist.train.stat_terms.tile_power_loss`: the mean
        |ln(1 + P_pred) - ln(1 + P_true)| of each tile's power in units of the batch's mean, which asks each tile for
        its own small-scale power where the P(k) term sums the batch); 0 (the paper) leaves it out.
    spread_weight : float
        Weight of the energy score of each tile's P(k) over two realisations
        (:func:`~ember_dist.train.stat_terms.power_energy_score`; the generator runs twice per step, the second
        time on flipped noise maps), which asks the realisations to scatter as the truth does about them
        (WGAN only); 0 (the paper) leaves it out.
    perceptual_energy : float
        In [0, 1]: the perceptual terms as the kernel (energy) score of two realisations
        (:func:`~ember_dist.train.losses.perceptual_energy_loss`: their mean distance from the truth minus
        ``perceptual_energy`` times half their distance from each other; the generator runs twice per step, the
        second time on flipped noise maps).  At 1 the MSLE term judges the realisations' mean and not their spread,
        which the adversarial and statistics terms then set; 0 (the paper): one realisation's perceptual loss
        (WGAN only).
    noise_floor : tuple of float
        ``noise_floor[l]``: the least ``|strength|`` of each noise injection at decoder level ``l`` during
        training (:func:`~ember_dist.train.noise.hold_floor`; applied after every update and to the start);
        empty (the paper), or 0 at a level, leaves the strengths free (WGAN only).
    diagnostics : bool
        At every logged step also log (WGAN) the noise strength per level (``noise_l{l}``, the RMS over
        channels), the gradient norms of the perceptual and adversarial terms on a fixed batch
        (:meth:`~ember_dist.train._tf_step.StepFunctions._generator_diagnostics`); at every
        checkpoint write P(k) of the scored predictions and their truth to ``<work>/pk.csv``; at the
        end draw ``<work>/diagnostics.png`` (:mod:`ember_dist.train.diagnostics`).
    """

    kind: str = "unet"
    field: str = "gas"
    preset: str = "small"
    steps: int = 1000
    batch: int = 8
    tile: int = 64
    lr: float = 1e-4
    critic_lr: float = 1e-4
    end_lr_factor: float = 0.01
    power: float = 1.0
    n_critic: int = 5
    gp_weight: float = GP_WEIGHT
    weights: dict | None = None
    data_range: float = 1.0
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    log_every: int = 10
    sample_every: int = 500
    score_maps: int = 2
    score_bispectrum: float = 0.0
    score_metric: str = "power"
    ema_half_life: float = 0.0
    tensorboard: bool = True
    prefetch: int = 2
    seed: int = 0
    bright_tiles: float = 0.0
    jit: bool = True
    fused: bool = False
    penalty: str = "gp"
    noise_per_channel: bool = False
    noise_modulated: bool = False
    noise_lr: float | None = None
    critic_width: int = 1
    perceptual_from_level: int = 0
    power_weight: float = 0.0
    pdf_weight: float = 0.0
    pdf_log_weight: float = 0.0
    pdf_mass_weight: float = 0.0
    mass_weight: float = 0.0
    tile_power_weight: float = 0.0
    spread_weight: float = 0.0
    perceptual_energy: float = 0.0
    noise_floor: tuple = ()
    diagnostics: bool = True
    init_from: str | None = None
    noise_init: float = 0.0
    critic_warmup: int = 0
    devices: object = "auto"
    mbstd_group: int | None = None
    extra: dict = _field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in ("unet", "wgan"):
            raise ValueError(f"kind must be 'unet' or 'wgan'. Received: kind={self.kind!r}.")
        p = get_preset(self.preset)
        if self.tile % p.alignment:
            raise ValueError(f"tile={self.tile} must be a multiple of the preset's alignment {p.alignment}.")
        if self.kind == "wgan" and self.tile % (2 * p.alignment):
            raise ValueError(f"tile={self.tile} must be a multiple of {2 * p.alignment} for the critic of preset "
                             f"{p.name!r} (it halves the map once more than the generator).")
        if self.steps < 1 or self.batch < 1:
            raise ValueError(f"steps and batch must be >= 1. Received: steps={self.steps}, batch={self.batch}.")
        if self.penalty not in PENALTIES:
            raise ValueError(f"penalty must be one of {list(PENALTIES)} (--penalty). Received: penalty={self.penalty!r}.")
        if self.ema_half_life < 0:
            raise ValueError(f"ema_half_life must be >= 0 steps (--ema-half-life; 0: no average). "
                             f"Received: ema_half_life={self.ema_half_life}.")
        if self.score_metric not in ("power", "evaluation"):
            raise ValueError("score_metric must be 'power' or 'evaluation' (--score-metric). "
                             f"Received: score_metric={self.score_metric!r}.")
        if self.score_metric == "evaluation" and self.score_bispectrum:
            raise ValueError(f"score_bispectrum={self.score_bispectrum} belongs to score_metric='power'; the "
                             "'evaluation' score has its B_eq term already (--score-bispectrum with --score-metric).")
        if self.critic_width < 1:
            raise ValueError(f"critic_width must be >= 1 (--critic-width). Received: critic_width={self.critic_width}.")
        if self.perceptual_from_level and (self.kind != "wgan" or not 0 < self.perceptual_from_level < p.levels):
            raise ValueError(f"perceptual_from_level={self.perceptual_from_level} needs kind='wgan' (a U-Net has only "
                             f"the perceptual loss) and 0 <= level < {p.levels} (the preset's levels); "
                             "--perceptual-from-level.")
        if self.critic_width != 1 and self.kind != "wgan":
            raise ValueError(f"critic_width={self.critic_width} needs kind='wgan' (a U-Net has no critic).")
        if self.spread_weight and self.kind != "wgan":
            raise ValueError(f"spread_weight={self.spread_weight} needs kind='wgan' (a U-Net has one realisation "
                             "per map, no spread); --spread-weight.")
        if not 0.0 <= self.perceptual_energy <= 1.0 or (self.perceptual_energy and self.kind != "wgan"):
            raise ValueError(f"perceptual_energy={self.perceptual_energy} must be in [0, 1] (above 1 the loss pays for "
                             "any spread without bound) and needs kind='wgan' (a U-Net has one realisation); "
                             "--perceptual-energy.")
        if not 0.0 <= self.bright_tiles <= 1.0:
            raise ValueError(f"bright_tiles must be a fraction in [0, 1] (--bright-tiles). "
                             f"Received: bright_tiles={self.bright_tiles}.")
        for name in BATCH_TERMS:
            if not (getattr(self, name) >= 0 and math.isfinite(getattr(self, name))):
                raise ValueError(f"{name} must be a finite number >= 0 (--{name.replace('_', '-')}). "
                                 f"Received: {name}={getattr(self, name)}.")
        self.noise_floor = tuple(float(f) for f in self.noise_floor or ())
        if self.noise_floor and (self.kind != "wgan" or len(self.noise_floor) > p.levels - 1
                                 or not all(f >= 0 and math.isfinite(f) for f in self.noise_floor)):
            raise ValueError(f"noise_floor={list(self.noise_floor)} needs kind='wgan' and one finite value >= 0 per "
                             f"decoder level from level 0, at most {p.levels - 1} for preset {p.name!r} "
                             "(--noise-floor F0 F1 ...).")
        if self.noise_lr is not None and not self.noise_lr > 0:
            raise ValueError(f"noise_lr must be > 0 (--noise-lr). Received: noise_lr={self.noise_lr}.")
        if self.mbstd_group is not None and (self.mbstd_group < 1 or self.batch % self.mbstd_group):
            raise ValueError(f"mbstd_group={self.mbstd_group} must divide batch={self.batch}.")

    @property
    def loss_weights(self):
        if self.weights:
            return LossWeights(**self.weights)
        return loss_weights(self.kind, self.field)

    def to_dict(self):
        return asdict(self)
