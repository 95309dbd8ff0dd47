"""Report (not assert) the sweep throughput of the lambdified model and the CLI cold start.

    python benchmarks/bench_sweep.py [--baseline /path/to/older/checkout]

Targets from the cost-model issue: >= 1e6 grid points/s on 2 cores; `roofline compare` <= 1 s.
"""

from __future__ import annotations

import argparse
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


COLD_START = {
    "--help": ["--help"],
    "predict": ["predict", "--device", "apple-m2-pro", "--model", "olmoe-1b-7b"],
    "compare (4 models)": [
        "compare",
        "--device",
        "jetson-orin-nano-8gb",
        "olmoe-1b-7b",
        "llama-3.2-1b",
        "qwen2.5-1.5b",
        "gemma-2-2b",
    ],
}


def cold_start(args: list[str], repeats: int = 7, source: str | None = None) -> dict[str, float]:
    """Wall time of `python -m roofline ARGS` in a fresh process; `source`: run another checkout's
    package instead (e.g. a worktree of an older commit) for a before/after ratio."""
    env = os.environ.copy()
    if source:
        env["PYTHONPATH"] = source
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            t = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "roofline", *args], check=True, capture_output=True, cwd=tmp, env=env
            )
            times.append(time.perf_counter() - t)
    return {"median_seconds": statistics.median(times), "min_seconds": min(times)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--baseline", help="another checkout (e.g. `git worktree add /tmp/old <commit>`) to compare"
    )
    opts = parser.parse_args()
    s = sweep_rate()
    print(
        f"sweep: {s['points_per_second']:.3g} points/s ({s['points']} points in {s['best_seconds']:.3f} s; "
        f"build + lambdify {s['compile_seconds']:.2f} s)"
    )
    print(f"cold start, median of 7 [python {sys.version.split()[0]}, {os.cpu_count()} cpus]:")
    for name, args in COLD_START.items():
        c = cold_start(args)
        line = f"  {name:<20} {c['median_seconds']:.3f} s (min {c['min_seconds']:.3f})"
        if opts.baseline:
            b = cold_start(args, source=opts.baseline)
            ratio = c["median_seconds"] / b["median_seconds"]
            line += f"; baseline {b['median_seconds']:.3f} s: ratio {ratio:.2f}"
        print(line)
