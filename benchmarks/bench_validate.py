"""Report (not assert) how long the slow commands of issue 13 (items 7-8) take.

    python benchmarks/bench_validate.py [--repeats 5] [--baseline /path/to/older/checkout] [--skip-validate]

Each command runs as `python -m roofline ...` in a fresh process from the repository root, timed by
wall clock and by the CPU time (user + system) of the process: on a shared machine the wall time
says how busy the machine was as much as how fast the command is, so both are printed, with the
load average. Targets (issue 13): `validate` <= 60 s cold on 2 cores, `plot measured` <= 10 s once
the held-out fits are cached, `explain` and `crossover` < 1 s.

Cold means an empty cache (a fresh ROOFLINE_CACHE_DIR: no held-out fits, no lambdified formulas);
warm, the cache the cold run filled (explain and crossover: the median of --repeats warm runs).
`--baseline` runs the same commands from another full checkout (e.g. `git worktree add /tmp/old
<commit>`; commands run in its root, on this checkout's traces) and prints the ratios; a cold
`validate` took 19 min before the speed work.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRACES = str(ROOT / "validation" / "traces")

STARTUP = {
    "explain": ["explain", "--device", "jetson-orin-nano-8gb", "--model", "olmoe-1b-7b"],
    "crossover": [
        "crossover",
        "--device",
        "jetson-orin-nano-8gb",
        "olmoe-1b-7b",
        "llama-3.2-1b",
        "--vary",
        "batch",
    ],
}
TARGETS = {
    "validate (cold)": 60.0,
    "plot measured (warm)": 10.0,
    "explain (cold)": 1.0,
    "explain (warm)": 1.0,
    "crossover (cold)": 1.0,
    "crossover (warm)": 1.0,
}


def run(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one `python -m roofline ARGS`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "roofline", *args], check=True, capture_output=True, cwd=cwd, env=env
    )
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(source: str | None, repeats: int, skip_validate: bool) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) of each command, running the package from `source` (None: this checkout)."""
    env = os.environ.copy()
    cwd = Path(source).resolve() if source else ROOT  # python -m puts the working directory first
    env["PYTHONPATH"] = str(cwd)
    out: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        env["ROOFLINE_CACHE_DIR"] = str(Path(tmp) / "cache")
        report = str(Path(tmp) / "REPORT.md")
        if not skip_validate:
            out["validate (cold)"] = run(["validate", TRACES, "--out", report], env, cwd)
            out["validate (warm)"] = run(["validate", TRACES, "--out", report], env, cwd)
            fig = str(Path(tmp) / "measured.png")
            out["plot measured (warm)"] = run(["plot", "measured", TRACES, "-o", fig, "--force"], env, cwd)
        for name, args in STARTUP.items():
            env["ROOFLINE_CACHE_DIR"] = str(Path(tmp) / name)  # empty: the first run is cold
            out[f"{name} (cold)"] = run(args, env, cwd)
            runs = [run(args, env, cwd) for _ in range(repeats)]
            out[f"{name} (warm)"] = (
                statistics.median(w for w, _ in runs),
                statistics.median(c for _, c in runs),
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5, help="warm runs of explain and crossover (median)")
    parser.add_argument("--baseline", help="another checkout to run the same commands from, for ratios")
    parser.add_argument("--skip-validate", action="store_true", help="only the start-up commands")
    opts = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load:.1f} at start")
    now = measure(None, opts.repeats, opts.skip_validate)
    base = measure(opts.baseline, opts.repeats, opts.skip_validate) if opts.baseline else {}
    print(
        f"{'command':<22} {'wall s':>8} {'CPU s':>8} {'target s':>9}"
        + ("   baseline wall/CPU s   ratio (CPU)" if base else "")
    )
    for name, (wall, cpu) in now.items():
        target = TARGETS.get(name)
        line = f"{name:<22} {wall:8.2f} {cpu:8.2f} {'' if target is None else f'{target:9.0f}':>9}"
        if name in base:
            bw, bc = base[name]
            line += f"   {bw:8.2f} / {bc:8.2f}   {cpu / bc:6.3f}"
        print(line)


if __name__ == "__main__":
    main()
