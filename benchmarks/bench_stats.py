"""Benchmark of the statistics stage on benchmark-sized data (one core).

Targets: a 10,000-resample clustered bootstrap of weighted accuracy on 565K scored items (~130K image
clusters, 6 classes) in under 30 s with peak memory under 2 GB; a 10,000-draw null simulation (test
against random guess) for one topic of 50K items in under 10 s. The last line printed is a JSON object.

Times are reported both as wall time and as this process's CPU time (BLAS pinned to one thread, so CPU
time is single-core time). ``targets_met`` judges CPU time, because on a shared machine wall time measures
the other tenants; ``targets_met_wall`` is given beside it.

    .venv/bin/python benchmarks/bench_stats.py
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one core, before numpy loads BLAS

import json  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402

from mammovqa.stats.bootstrap import cluster_bootstrap, compress_rows  # noqa: E402
from mammovqa.stats.random_guess import random_guess_pvalues  # noqa: E402
from mammovqa.stats.simulate import simulate_scored  # noqa: E402
from mammovqa.stats.weighted import cluster_stats, wacc_from_sums  # noqa: E402


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> dict:
    big = simulate_scored(n_clusters=130_000, items_per_cluster=4.35, fixed_size=False,
                          class_probs=(0.4, 0.25, 0.15, 0.1, 0.06, 0.04), class_accuracy=(0.3, 0.4, 0.5, 0.6, 0.7, 0.8),
                          n_options=(2, 3, 4, 6), cluster_effect=0.1, seed=0)
    t0, c0 = time.perf_counter(), time.process_time()
    stats = cluster_stats(big, "record_id")
    res = cluster_bootstrap(stats.matrix, wacc_from_sums, n_boot=10_000, seed=0, method="bca")
    t_boot, c_boot = time.perf_counter() - t0, time.process_time() - c0
    n_distinct = compress_rows(stats.matrix)[0].shape[0]
    peak_mb = _peak_mb()

    topic = simulate_scored(n_clusters=50_000, items_per_cluster=1, class_probs=(0.5, 0.3, 0.2),
                            n_options=(3,), random_guesser=True, seed=1)
    t0, c0 = time.perf_counter(), time.process_time()
    p_sup, _ = random_guess_pvalues(topic["correct"], topic["gold"], topic["random_p"], n_sim=10_000, seed=0)
    t_null, c_null = time.perf_counter() - t0, time.process_time() - c0

    out = {
        "bootstrap_items": len(big), "bootstrap_clusters": stats.n_clusters, "bootstrap_classes": stats.n_classes,
        "bootstrap_distinct_cluster_rows": int(n_distinct), "bootstrap_resamples": 10_000,
        "bootstrap_bca_wall_s": round(t_boot, 2), "bootstrap_bca_cpu_s": round(c_boot, 2), "bootstrap_estimate": round(res.estimate, 5),
        "bootstrap_ci": [round(res.ci_low, 5), round(res.ci_high, 5)], "peak_rss_mb": round(peak_mb, 1),
        "null_items": len(topic), "null_draws": 10_000, "null_wall_s": round(t_null, 3), "null_cpu_s": round(c_null, 3), "null_p_superiority": p_sup,
        "target_bootstrap_s": 30, "target_peak_mb": 2048, "target_null_s": 10,
    }
    out["targets_met"] = bool(c_boot < 30 and peak_mb < 2048 and c_null < 10)
    out["targets_met_wall"] = bool(t_boot < 30 and peak_mb < 2048 and t_null < 10)
    return out


if __name__ == "__main__":
    print(json.dumps(main()))
