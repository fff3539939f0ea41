# SPDX-License-Identifier: BSD-3-Clause
"""What the cost model (:mod:`ember_dist.engine.cost`) is given: the per-unit costs measured on one machine
(:class:`Rates`), the job (:class:`Job`, :func:`paper_job`) and the hardware it is to run on (:class:`CPUNode`,
:class:`GPU`, the datasheets :data:`A100` and :data:`H100`).  Plain records; the arithmetic is in ``cost``.

>>> paper_job().n_px, paper_job().maps
(27008, 30)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

__all__ = ["Rates", "Job", "CPUNode", "GPU", "A100", "H100", "paper_job"]


@dataclass(frozen=True)
class Rates:
    """Per-unit costs measured on one machine (``bench/pipeline.py``); every ``*_cpu_s*`` is CPU seconds.

    Work that scales with the job (per particle, kernel evaluation, paid multiply-add, Mpx) comes with
    fixed costs that dominate small jobs: the first call of each phase in a fresh process or worker (numba
    cache loads, model builds, graph tracing) and a fixed part of every task, call or map.

    deposit_cpu_s_per_particle : float
        Fixed kernel cost per particle and projection (beside ``deposit_cpu_s_per_eval``), from a fit over
        two map sizes.
    deposit_first_cpu_s, deposit_call_cpu_s, deposit_task_cpu_s : float
        The first ``deposit_snapshot`` call of a process beyond a later one (numba's cached kernels, lazy
        imports); every call (snapshot header, checksum, template, graph); every (chunk, axis, slab) task
        beyond its kernel and map work (slab selection, the slab write).
    stage_cpu_s_per_gmac : {stage: s}
        CPU seconds per 1e9 paid multiply-adds of each split stage (``A1``, ``A2``, ..., ``B``, ``C1``),
        everything the stage's tasks do included (reads, noise, network, writes), less ``stage_task_cpu_s``.
    stage_task_cpu_s : {stage: s}
        Fixed CPU seconds of every task of the stage, from a fit over two map sizes.
    stage_build_cpu_s : {stage: s}
        Once per fresh worker: the first task of each stage beyond a warm one (the stage models are built
        and each is traced on its first call); key ``"load"``: the worker's first-call work outside the
        stages (the model load, the first scan).
    enrich_first_cpu_s, enrich_call_cpu_s : float
        The client process's first ``enrich_box`` call beyond a later one; every call (template, graph,
        barriers, consolidation: client, scheduler and worker outside the stage tasks).
    scan_cpu_s_per_mpx : float
        The validation scan's tasks (one per map, on one worker), per input Mpx.
    outside_cpu_s_per_mpx : float
        Per input Mpx, what the client, the scheduler and the workers spend outside the stage and scan tasks
        beyond ``enrich_call_cpu_s`` (fitted with it over two map sizes; on a loaded machine mostly the Dask
        processes' own CPU over a longer run), spread over the cluster's cores.
    network_cpu_s_per_gmac : float
        The network alone (one whole-map call): the rest of a stage's time is host work (I/O, noise).
    stage_peak_gb : {stage: GB}
        Peak RSS of a worker while it runs that stage's tasks.
    stats_cpu_s_per_mpx : {statistic: s}
        Per megapixel, referred to ``stats_ref_px`` ^ 2 maps; FFT statistics scale with log N.
    stats_cpu_s_per_map : {statistic: s}
        Fixed CPU seconds per map of each statistic (fit over two map sizes).
    stats_first_cpu_s : float
        The first statistics call of a process beyond a later one.
    sched_s_per_task : float
        CPU seconds of the Dask scheduler's process (client + scheduler of a LocalCluster) per task of a
        no-op graph; the figure at the largest size measured, used where no table below was measured.
    sched_s_per_task_by_count, sched_submit_s_per_task_by_count : {tasks: s}
        The same per no-op graph size: sent as one graph (``client.map``/``client.compute``: the deposit, the
        statistics) and submitted one task at a time (``client.submit`` per task: an enrichment stage); see
        :func:`sched_s_per_task`.
    wall_per_cpu : {phase: ratio}
        Wall seconds per CPU second of each phase during the measurement, for predictions on the
        measuring machine itself (its load included).
    """

    cpu_model: str
    cores: int
    smooth_cpu_s_per_particle: float
    deposit_cpu_s_per_eval: float
    map_cpu_s_per_mpx: float
    h_over_spacing: tuple
    stage_cpu_s_per_gmac: dict
    network_cpu_s_per_gmac: float
    stage_peak_gb: dict
    scan_cpu_s_per_mpx: float
    stats_cpu_s_per_mpx: dict
    stats_ref_px: int
    stats_peak_gb: float
    sched_s_per_task: float
    wall_per_cpu: dict = field(default_factory=dict)
    outside_cpu_s_per_mpx: float = 0.0
    deposit_cpu_s_per_particle: float = 0.0
    deposit_first_cpu_s: float = 0.0
    deposit_call_cpu_s: float = 0.0
    deposit_task_cpu_s: float = 0.0
    stage_task_cpu_s: dict = field(default_factory=dict)
    stage_build_cpu_s: dict = field(default_factory=dict)
    enrich_first_cpu_s: float = 0.0
    enrich_call_cpu_s: float = 0.0
    stats_cpu_s_per_map: dict = field(default_factory=dict)
    stats_first_cpu_s: float = 0.0
    sched_s_per_task_by_count: dict = field(default_factory=dict)
    sched_submit_s_per_task_by_count: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        d["h_over_spacing"] = tuple(d["h_over_spacing"])
        for k in ("sched_s_per_task_by_count", "sched_submit_s_per_task_by_count"):  # JSON keys are strings
            d[k] = {int(n): float(v) for n, v in d.get(k, {}).items()}
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    def to_dict(self):
        return asdict(self)


@dataclass(frozen=True)
class Job:
    """One job: a periodic box of ``particles`` dark-matter particles deposited on ``n_px`` ^ 2 maps
    (``axes`` x ``slabs``), enriched (``fields`` fields, ``samples`` realisations, split inference with
    ``core``-px tiles), then ``statistics`` of every enriched map."""

    n_px: int
    axes: int = 3
    slabs: int = 10
    samples: int = 4
    fields: int = 1
    particles: int = 1024**3
    box_size: float = 100_000.0  # ckpc/h
    core: int = 1024
    preset: str = "fiducial"
    split_level: tuple | None = None
    statistics: tuple = ("power", "pdf", "cddf")
    chunk_size: int = 1 << 20  # particles per deposit task

    @property
    def maps(self):
        return self.axes * self.slabs

    @property
    def mpx(self):
        """Megapixels of one map."""
        return self.n_px**2 / 1e6


def paper_job(particles=1024**3, samples=4, fields=1):
    """The paper's case: a 100 Mpc/h box, 27,000^2 px slabs rounded to the alignment (128: 27,008 px,
    3.703 ckpc/h), 3 axes x 10 slabs, the fiducial network, 4 realisations.  ``particles`` (not fixed by
    the paper's case) defaults to 1024^3."""
    from ember_dist.model.presets import get_preset

    a = get_preset("fiducial").alignment
    return Job(n_px=round(27000 / a) * a, particles=particles, samples=samples, fields=fields)


@dataclass(frozen=True)
class CPUNode:
    """A CPU node: ``cores`` at the measured machine's per-core speed, ``memory_gb`` for workers,
    ``io_gb_s`` its share of the file system, ``net_gb_s`` its network."""

    name: str = "2 x 32-core x86 (AVX-512), 256 GB, 100 Gb/s"
    cores: int = 64
    memory_gb: float = 256.0
    io_gb_s: float = 2.0
    net_gb_s: float = 12.5


@dataclass(frozen=True)
class GPU:
    """A GPU from its datasheet (dense TFLOPS per precision, memory bandwidth), an efficiency (fraction
    of the roofline reached by the convolutions), and the host cores and memory beside each GPU."""

    name: str
    tflops: dict
    mem_tb_s: float
    memory_gb: float
    efficiency: float = 0.4
    host_cores: int = 16
    host_memory_gb: float = 128.0
    io_gb_s: float = 2.0
    host_threads: int = 1  # Dask threads per GPU worker (the cuda profile's default: 1)


#: NVIDIA A100 SXM4 80 GB datasheet: FP32 19.5, TF32 156, BF16 312 dense TFLOPS; 2,039 GB/s.
A100 = GPU("NVIDIA A100 SXM4 80GB", {"float32": 19.5, "tf32": 156.0, "bfloat16": 312.0}, 2.039, 80.0)
#: NVIDIA H100 SXM5 80 GB datasheet: FP32 67, TF32 494.7, BF16 989.4 dense TFLOPS; 3,350 GB/s.
H100 = GPU("NVIDIA H100 SXM5 80GB", {"float32": 67.0, "tf32": 494.7, "bfloat16": 989.4}, 3.35, 80.0)
