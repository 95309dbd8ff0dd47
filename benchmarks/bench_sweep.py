"""Report (not assert) the sweep throughput of the lambdified model and the CLI cold start.

    python benchmarks/bench_sweep.py

Targets from the cost-model issue: >= 1e6 grid points/s on 2 cores; `roofline compare` <= 1 s.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def sweep_rate(n: int = 1_000_000) -> dict[str, float]:
    from roofline.model.symbolic import build

    t0 = time.perf_counter()
    sm = build("jetson-orin-nano-8gb", "olmoe-1b-7b")
    f = sm.function()
    compile_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    b = rng.integers(1, 256, n).astype(float)
    d = rng.integers(0, 32768, n).astype(float)
    w = rng.uniform(20e9, 400e9, n)
    f(b[:10], d[:10], w[:10])
    times = []
    for _ in range(5):
        t = time.perf_counter()
        f(b, d, w)
        times.append(time.perf_counter() - t)
    best = min(times)
    return {"points": n, "compile_seconds": compile_s, "best_seconds": best, "points_per_second": n / best}


def cold_start(repeats: int = 5) -> dict[str, float]:
    cmd = [
        "roofline",
        "compare",
        "--device",
        "jetson-orin-nano-8gb",
        "olmoe-1b-7b",
        "llama-3.2-1b",
        "qwen2.5-1.5b",
        "gemma-2-2b",
    ]
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, cwd=tmp, env=os.environ.copy())
            times.append(time.perf_counter() - t)
    return {"median_seconds": statistics.median(times), "min_seconds": min(times)}


if __name__ == "__main__":
    s = sweep_rate()
    print(
        f"sweep: {s['points_per_second']:.3g} points/s ({s['points']} points in {s['best_seconds']:.3f} s; "
        f"build + lambdify {s['compile_seconds']:.2f} s)"
    )
    c = cold_start()
    print(
        f"cold start `roofline compare` (4 models): median {c['median_seconds']:.2f} s, "
        f"min {c['min_seconds']:.2f} s  [python {sys.version.split()[0]}, {os.cpu_count()} cpus]"
    )
