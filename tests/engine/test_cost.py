# SPDX-License-Identifier: BSD-3-Clause
"""The cost model's arithmetic on hand-computed cases (no measurement); the task counts against the graph the
deposit builds (seconds: the deposit package's import).  The statistics' count: tests/stats/test_graph_cost.py."""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from ember_dist.engine import cost
from ember_dist.engine.split import plan_split
from ember_dist.model.presets import get_preset

STAGES = ("A1", "A2", "A3", "B", "C3", "C2", "C1")


def rates(**kw):
    base = dict(cpu_model="test", cores=2, smooth_cpu_s_per_particle=0.0, deposit_cpu_s_per_eval=0.0,
                map_cpu_s_per_mpx=0.0, h_over_spacing=(1.0,), stage_cpu_s_per_gmac={k: 1.0 for k in STAGES},
                network_cpu_s_per_gmac=0.5, stage_peak_gb={k: 1.0 for k in STAGES}, scan_cpu_s_per_mpx=0.0,
                stats_cpu_s_per_mpx={"power": 0.0, "pdf": 0.0, "cddf": 0.0}, stats_ref_px=4096,
                stats_peak_gb=0.3, sched_s_per_task=0.0, wall_per_cpu={"deposit": 1.0, "enrich": 1.0, "stats": 1.0})
    base.update(kw)
    return cost.Rates(**base)


JOB = cost.Job(n_px=4096, axes=1, slabs=1, samples=2, particles=1000, box_size=1000.0)


def test_stage_work_counts_tasks_and_paid_macs():
    p = get_preset("fiducial")
    paid = plan_split((4096, 4096), 1024, p).stage_compute(p)
    w = {s["stage"]: s for s in cost.stage_work(JOB)}
    assert list(w) == ["A1", "B", "C1"]
    # 4 x 4 tiles of 1024 px; A once per map, B (whole 512^2 coarse map) and C1 once per realisation.
    assert (w["A1"]["tasks"], w["B"]["tasks"], w["C1"]["tasks"]) == (16, 2, 32)
    assert w["C1"]["gmac"] == pytest.approx(27864 * paid["C1"] * 4096**2 * 2 / 1e9)
    assert w["B"]["gmac"] == pytest.approx(29520 * 1.0 * 4096**2 * 2 / 1e9)
    # C1 writes the float32 output and reads its 1096^2 input window and the h3 window (128 channels, /8).
    assert w["C1"]["bytes"] == 2 * (16 * 1096**2 * 4 + 16 * (1096**2 // 64) * 128 * 4 + 4096**2 * 4)


def test_cpu_waves_memory_and_scheduler():
    w = {s["stage"]: s for s in cost.stage_work(JOB)}
    node = cost.CPUNode("4 cores", cores=4, memory_gb=100.0, io_gb_s=1e6)
    r = cost.predict_cpu(JOB, rates(), node, nodes=1, fs_gb_s=1e9)
    st = {s["stage"]: s for s in r["stages"]}
    assert r["workers_per_node"] == 4 and r["cores_per_worker"] == 1
    # 16 A1 tasks on 4 one-core workers: 4 waves of one task's CPU seconds (1 s per GMAC).
    assert st["A1"]["wall_s"] == pytest.approx(4 * w["A1"]["gmac"] / 16)
    assert st["C1"]["wall_s"] == pytest.approx(8 * w["C1"]["gmac"] / 32)
    assert st["B"]["wall_s"] == pytest.approx(w["B"]["gmac"] / 2)
    # Memory for 2 workers only (1 GB peak each): 2 cores per worker, 8 waves of half a task's CPU time.
    r2 = cost.predict_cpu(JOB, rates(), cost.CPUNode("small", 4, 2.5, 1e6), nodes=1, fs_gb_s=1e9)
    a1 = next(s for s in r2["stages"] if s["stage"] == "A1")
    assert r2["workers_per_node"] == 2 and a1["wall_s"] == pytest.approx(8 * (w["A1"]["gmac"] / 16) / 2)
    # A scheduler at 10 s per task (C1: 32 tasks of ~30 CPU s) bounds C1 at tasks x 10 s + one task.
    no_stats = dataclasses.replace(JOB, statistics=())  # (counting the statistics' graph takes seconds)
    r3 = cost.predict_cpu(no_stats, rates(sched_s_per_task=10.0), node, nodes=1, fs_gb_s=1e9)
    c1 = next(s for s in r3["stages"] if s["stage"] == "C1")
    assert c1["bound"] == "scheduler" and c1["wall_s"] == pytest.approx(320 + w["C1"]["gmac"] / 32)


def test_deposit_work_by_hand():
    # 1000 particles in a 1000 ckpc/h box: spacing 100; 128 px: pixel 7.8125; h = spacing, so the
    # support 2h is 25.6 px and the bounding box (2 x 25.6 + 1)^2 = 2724.84 pixel centres.
    job = cost.Job(n_px=128, axes=3, slabs=2, samples=1, particles=1000, box_size=1000.0)
    d = cost.deposit_work(job, rates(deposit_cpu_s_per_eval=1e-8, smooth_cpu_s_per_particle=1e-5,
                                     map_cpu_s_per_mpx=0.01))
    assert d["evals_per_particle"] == pytest.approx(52.2**2)
    assert d["kernel_cpu_s"] == pytest.approx(1000 * 3 * 52.2**2 * 1e-8)
    assert d["smooth_cpu_s"] == pytest.approx(1e-2)
    assert d["tasks"] == 6 and d["map_cpu_s"] == pytest.approx(6 * 0.01 * 128**2 / 1e6)


def test_gpu_roofline_by_hand():
    t = cost.gpu_seconds_per_gmac("fiducial", cost.A100, "tf32")
    # level 0: 8 channels, 2.25 x 8 = 18 FLOP/B x 2.039 TB/s = 36.7 TFLOPS (memory bound), at 40 %.
    assert t[0] == pytest.approx(2e9 / (18 * 2.039e12) / 0.4)
    # level 7: 512 channels, compute bound at the TF32 peak.
    assert t[7] == pytest.approx(2e9 / 156e12 / 0.4)


def test_paper_job_is_aligned_and_uses_the_deep_chain():
    job = cost.paper_job()
    assert job.n_px == 27008 and job.n_px % 128 == 0 and job.maps == 30
    w = {s["stage"]: s for s in cost.stage_work(job)}
    assert list(w) == list(STAGES)
    assert w["C1"]["tasks"] == 27 * 27 * 30 * 4 and w["A1"]["tasks"] == 27 * 27 * 30
    assert w["B"]["tasks"] == 4 * 30 * 4 and not w["B"]["periodic"]
    assert math.isclose(sum(s["gmac"] for s in w.values() if s["stage"][0] != "A") / (57687.65625 * 27008**2 * 120 / 1e9),
                        1.0, rel_tol=0.25)


def test_fit_rate_and_fixed_recovers_both_terms():
    # 0.05 CPU s per GMAC + 0.3 per task: two map sizes with the same task count separate them.
    rate, fixed = cost.fit_rate_and_fixed([10.0, 100.0], [2, 2], [10 * 0.05 + 2 * 0.3, 100 * 0.05 + 2 * 0.3])
    assert rate == pytest.approx(0.05) and fixed == pytest.approx(0.3)
    # Tasks proportional to the work: no fixed part can be told apart, the least-squares rate takes it all.
    rate, fixed = cost.fit_rate_and_fixed([10.0, 40.0], [1, 4], [1.0, 4.4])
    assert fixed == 0.0 and rate == pytest.approx((10 * 1.0 + 40 * 4.4) / (10**2 + 40**2))


FIXED = dict(stage_cpu_s_per_gmac={k: 0.0 for k in STAGES}, stage_task_cpu_s={"A1": 0.5, "B": 2.0, "C1": 0.25},
             stage_build_cpu_s={"load": 3.0, "A1": 1.0, "B": 0.5, "C1": 0.25, "C2": 100.0},
             enrich_first_cpu_s=0.7, enrich_call_cpu_s=1.1, scan_cpu_s_per_mpx=0.1,
             outside_cpu_s_per_mpx=0.05,
             deposit_first_cpu_s=0.4, deposit_call_cpu_s=0.07, deposit_task_cpu_s=0.01, deposit_cpu_s_per_particle=2e-6,
             stats_cpu_s_per_map={"power": 0.1, "pdf": 0.05, "cddf": 0.02}, stats_first_cpu_s=0.5,
             wall_per_cpu={"deposit": 2.0, "enrich": 3.0, "stats": 4.0})


def test_this_machine_fixed_terms_by_hand():
    # JOB: one 4096^2 map, 2 realisations: A1 16 tasks, B 2, C1 32 (test_stage_work_counts_tasks_and_paid_macs).
    r = cost.this_machine(JOB, rates(**FIXED))
    # Enrich: per task 16 x 0.5 + 2 x 2.0 + 32 x 0.25 = 20; one fresh worker builds A1, B, C1 and loads the
    # model (3 + 1 + 0.5 + 0.25; C2 is not in this job's chain); scan and the rest outside the tasks
    # (0.1 + 0.05) x 16.777216 Mpx; first + call 1.8.
    assert r["parts"]["enrich"]["model build"] == pytest.approx(4.75)
    assert r["cpu_s"]["enrich"] == pytest.approx(20 + 4.75 + 0.15 * 16.777216 + 1.8)
    # Deposit: 1000 particles in one chunk, 1 axis x 1 slab = 1 task; 2e-6 per particle and projection.
    assert r["cpu_s"]["deposit"] == pytest.approx(0.4 + 0.07 + 0.01 + 1000 * 2e-6)
    # Statistics: 2 maps (1 axis x 1 slab x 2 realisations) x (0.1 + 0.05 + 0.02) + the first call.
    assert r["cpu_s"]["stats"] == pytest.approx(2 * 0.17 + 0.5)
    assert r["enrich"] == pytest.approx(3.0 * r["cpu_s"]["enrich"])
    assert r["stats"] == pytest.approx(4.0 * r["cpu_s"]["stats"])
    assert r["cpu_total_s"] == pytest.approx(sum(r["cpu_s"].values()))


def test_cluster_pays_build_once_per_worker_and_fixed_per_task():
    w = {s["stage"]: s for s in cost.stage_work(JOB)}
    node = cost.CPUNode("4 cores", cores=4, memory_gb=100.0, io_gb_s=1e6)
    base = rates(stage_task_cpu_s={"A1": 0.5})
    plain = cost.predict_cpu(JOB, base, node, nodes=2, fs_gb_s=1e9)
    built = cost.predict_cpu(JOB, rates(stage_task_cpu_s={"A1": 0.5}, stage_build_cpu_s={"load": 3.0, "A1": 1.0}),
                             node, nodes=2, fs_gb_s=1e9)
    # 8 one-core workers: 16 A1 tasks in 2 waves of (GMAC per task x 1 s + 0.5 s).
    a1 = next(s for s in plain["stages"] if s["stage"] == "A1")
    assert a1["wall_s"] == pytest.approx(2 * (w["A1"]["gmac"] / 16 + 0.5))
    # Every worker builds once, in parallel: + 4 s of wall, + 8 x 4 CPU s.
    assert built["enrich_wall_s"] - plain["enrich_wall_s"] == pytest.approx(4.0)
    assert built["cpu_s"] - plain["cpu_s"] == pytest.approx(8 * 4.0)


def test_sched_s_per_task_interpolates_in_log_tasks():
    r = rates(sched_s_per_task=5e-4, sched_s_per_task_by_count={1000: 1e-3, 10000: 1.5e-3, 100000: 3e-3},
              sched_submit_s_per_task_by_count={1000: 4e-3, 10000: 6e-3})
    assert cost.sched_s_per_task(r, 1000) == pytest.approx(1e-3)
    # 10^4.5 tasks: half-way in log between 1.5e-3 and 3e-3.
    assert cost.sched_s_per_task(r, 10**4.5) == pytest.approx(2.25e-3)
    # Outside the sizes measured: the nearest size's figure (beyond the largest, an extrapolation).
    assert cost.sched_s_per_task(r, 10) == pytest.approx(1e-3)
    assert cost.sched_s_per_task(r, 10**7) == pytest.approx(3e-3)
    assert cost.sched_s_per_task(r, 10**3.5, submit=True) == pytest.approx(5e-3)
    # No submit table: the one-graph table; no table at all: the single figure.
    assert cost.sched_s_per_task(rates(sched_submit_s_per_task_by_count={}, sched_s_per_task_by_count={1000: 2e-3}),
                                 5000, submit=True) == pytest.approx(2e-3)
    assert cost.sched_s_per_task(rates(sched_s_per_task=7e-4), 5000) == pytest.approx(7e-4)
    # Recorded rates come back from JSON with string keys.
    back = cost.Rates.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back.sched_s_per_task_by_count == {1000: 1e-3, 10000: 1.5e-3, 100000: 3e-3}


def test_paper_case_task_counts():
    from ember_dist.engine.split import count_tasks

    job = cost.paper_job()
    p = get_preset("fiducial")
    n = cost.job_tasks(dataclasses.replace(job, statistics=()), threads=1024)
    # The enrichment stages: what enrich_box submits (split.count_tasks, batches of one tile).
    enrich = sum(n[s] for s in STAGES)
    assert enrich == count_tasks(plan_split((27008, 27008), 1024, p), p, 4, 3, 10, 1) == 120_780
    # Deposit: 1024 particle chunks of 2^20; per map 1024 kernel tasks, 256 + 64 + 16 + 4 + 1 adds and a
    # write; 4 per chunk + 1 shared.
    assert n["deposit"] == 4 * 1024 + 1 + 30 * (1024 + 341 + 1) == 45_077
    # Smoothing: ghost width 3 x (3 x 80 x 1e15 / (4 pi 1024^3))^(1/3) = 783 ckpc/h, so 63 domains of
    # 1587 ckpc/h whatever the threads beyond 32: 1024 chunk reads + 63 x (1024 selections + 1 query).
    assert n["smoothing"] == 1024 + 63 * 1025 and cost.smoothing_tasks(job, 16)[1] == 32


def test_deposit_graph_tasks_match_the_deposit_graph(tmp_path, monkeypatch):
    import ember_dist.deposit.api as api
    from ember_dist.mock import make_mock_suite

    snap = make_mock_suite(tmp_path / "mock", n=16, box_size=15000.0, seed=1)["dmo"]
    seen = []

    def count(tasks, client, progress, extra=()):  # the graph deposit_snapshot would compute, not run
        seen.append(cost.graph_tasks(list(tasks) + list(extra)))
        return [1.0] * len(extra)

    monkeypatch.setattr(api, "_run", count)
    # Smoothing lengths are computed before the graph and enter it as an array: ones will do, and save seconds.
    monkeypatch.setattr(api, "smoothing_lengths_distributed", lambda pos, *a, **k: np.ones(pos.shape[0]))
    api.deposit_snapshot(snap, tmp_path / "d.zarr", pixel=15000 / 64, slabs=2, axes=("x", "z"), align=16,
                         n_neighbours=32, chunk_size=256)
    # 16^3 particles in 16 chunks of 256, 2 axes x 2 slabs: 4 x 16 + 1 + 4 x (16 + 4 + 1 + 1) = 153.
    job = cost.Job(n_px=64, axes=2, slabs=2, particles=16**3, box_size=15000.0, chunk_size=256)
    assert seen == [cost.deposit_graph_tasks(job)] == [153]
    # The smoothing's domains follow deposit.smoothing's ghost width (the model has its own copy of the formula).
    from ember_dist.deposit.smoothing import initial_ghost_width

    for n, box in ((16**3, 15000.0), (1024**3, 100_000.0)):
        job = cost.Job(n_px=64, particles=n, box_size=box)
        width = initial_ghost_width(n, box, 80)
        assert cost.smoothing_tasks(job, 4096)[1] == max(1, min(8192, int(box / (2 * width))))


def test_statistics_tasks_come_from_the_callers_counter():
    # The engine imports no statistics: the caller's counter gives the statistics' tasks, asked for P(k)'s
    # transposition through scratch files on one node and by p2p on several.
    asked = []

    def counter(job, rechunk_method):
        asked.append(rechunk_method)
        return {"disk": 100, "p2p": 250}[rechunk_method]

    node = cost.CPUNode("4 cores", cores=4, memory_gb=100.0, io_gb_s=1e6)
    r1 = cost.predict_cpu(JOB, rates(sched_s_per_task=0.1), node, nodes=1, fs_gb_s=1e9, stats_tasks=counter)
    r2 = cost.predict_cpu(JOB, rates(sched_s_per_task=0.1), node, nodes=2, fs_gb_s=1e9, stats_tasks=counter)
    assert asked == ["disk", "p2p"]
    assert (r1["tasks"]["statistics"], r2["tasks"]["statistics"]) == (100, 250)
    # Statistics of no CPU cost: the scheduler's 100 x 0.1 s bound the phase.
    assert r1["sched_s"]["statistics"] == pytest.approx(10.0) and r1["stats_wall_s"] == pytest.approx(10.0)
    assert r1["stats_bound"] == "scheduler"
    assert cost.job_tasks(JOB, rechunk_method="p2p", stats_tasks=counter)["statistics"] == 250
    g = cost.predict_gpu(JOB, rates(sched_s_per_task=0.1), gpus=1, stats_tasks=counter)
    assert g["stats_wall_s"] == pytest.approx(10.0) and asked[-1] == "disk"
    # Without a counter: an error where the statistics' graph counts, nothing asked where it does not (no
    # scheduler cost, or no statistics).
    with pytest.raises(ValueError, match="stats_tasks=stats_graph_tasks"):
        cost.predict_cpu(JOB, rates(sched_s_per_task=0.1), node, nodes=1, fs_gb_s=1e9)
    with pytest.raises(ValueError, match="stats_tasks=stats_graph_tasks"):
        cost.job_tasks(JOB)
    assert cost.predict_cpu(JOB, rates(), node, nodes=1, fs_gb_s=1e9)["tasks"]["statistics"] == 0
    assert cost.job_tasks(dataclasses.replace(JOB, statistics=()))["statistics"] == 0


def test_cpu_scheduler_terms_and_smoothing_domains():
    job = dataclasses.replace(JOB, statistics=())
    node = cost.CPUNode("4 cores", cores=4, memory_gb=100.0, io_gb_s=1e6)
    r = cost.predict_cpu(job, rates(sched_s_per_task=0.1, smooth_cpu_s_per_particle=1e-3), node, nodes=2,
                         fs_gb_s=1e9)
    # 1000 particles in 1000 ckpc/h: the ghost width (801 ckpc/h) leaves one domain, so the smoothing's
    # 1 CPU s runs on one core of the 8; its graph (1 chunk read + 1 x (1 selection + 1 query)) 0.3 s.
    assert r["deposit"]["smooth_domains"] == 1 and r["tasks"]["smoothing"] == 3
    assert r["deposit"]["smooth_wall_s"] == pytest.approx(1.0) and r["deposit"]["smooth_bound"] == "compute"
    # The deposit's graph: 4 + 1 + (1 + 0 + 1) = 7 tasks at 0.1 s, beside one kernel task of no cost.
    assert r["tasks"]["deposit"] == 7 and r["deposit"]["bound"] == "scheduler"
    assert r["deposit"]["wall_s"] == pytest.approx(1.0 + 0.7)
    # Each split stage: its tasks x 0.1 s (C1: 32 tasks); no statistics, no statistics' graph.
    assert r["sched_s"]["C1"] == pytest.approx(3.2) and r["tasks"]["statistics"] == 0
