"""Report (not assert) how repeatable `roofline bench --emit-spec` is on this machine and how well
the specs it emits predict this machine's own llama-bench runs (issue 15.2), live.

    python benchmarks/bench_cpu_spec.py [--runs 3] [--passes N] [--llama-cpp-bin DIR] [--keep DIR]

Runs the full bench --runs times (each of them `bench --emit-spec`, whose figures are the fastest of
its --passes, default 3) (each writes a micro trace and a spec), prints per figure (main
bandwidth, int8 and fp32 peaks, launch latency) the values and their spread (1 - min / max), the
bench's own busy-machine warnings, and for each spec the median and worst |error| of the bundled
llama.cpp-cpu profile on held-out llama-bench runs (decode and prefill, nothing fitted): --held-out
names an e2e trace of this machine (default roofline.validation.emit_spec.HELD_OUT_RUNS, the 2-vCPU
EPYC VM's; XEON_HELD_OUT is the 2-vCPU Xeon VM's). On another machine than the trace's the errors say
nothing. tests/test_emit_spec.py checks the same on committed traces.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--passes", type=int, default=None, help="bench --passes (default: bench's, 3).")
    ap.add_argument("--llama-cpp-bin", default=None)
    ap.add_argument("--keep", default=None, help="Folder to keep the traces and specs in.")
    ap.add_argument("--held-out", default=None, help="e2e trace of this machine's llama-bench runs.")
    args = ap.parse_args()
    from roofline.specs.catalog import check_file
    from roofline.validation.emit_spec import HELD_OUT_RUNS, held_out_errors

    out = Path(args.keep or tempfile.mkdtemp(prefix="bench-cpu-spec-"))
    out.mkdir(parents=True, exist_ok=True)
    figs: dict[str, list[float]] = {}
    for i in range(1, args.runs + 1):
        name = f"bench-run{i}"
        cmd = [sys.executable, "-m", "roofline", "bench", "--device-name", name, "--out", str(out)]
        cmd += ["--emit-spec", str(out / f"{name}.yaml")]
        if args.llama_cpp_bin:
            cmd += ["--llama-cpp-bin", args.llama_cpp_bin]
        if args.passes:
            cmd += ["--passes", str(args.passes)]
        print(f"run {i}: load average {os.getloadavg()[0]:.1f}", flush=True)
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        for line in (r.stdout + r.stderr).splitlines():
            if "WARNING" in line:
                print(f"  {line}")
        if r.returncode != 0:
            sys.exit(f"bench failed: {r.stderr[-2000:]}")
        dev = check_file(out / f"{name}.yaml")
        proc = dev.processors[0]
        for key, val in (
            ("main bandwidth GB/s", dev.main_bandwidth / 1e9),
            ("int8 GFLOP/s", (proc.peak("int8") or 0) / 1e9),
            ("fp32 GFLOP/s", (proc.peak("fp32") or 0) / 1e9),
            ("launch us", proc.launch_latency.value * 1e6 if proc.launch_latency else 0.0),
        ):
            figs.setdefault(key, []).append(val)
        held_out = [Path(args.held_out)] if args.held_out else [ROOT / p for p in HELD_OUT_RUNS]
        errs = held_out_errors(out / f"{name}.yaml", held_out)
        for phase in ("decode", "prefill"):
            e = [abs(x["error"]) for x in errs if x["phase"] == phase]
            signed = statistics.mean(x["error"] for x in errs if x["phase"] == phase)
            print(
                f"  {phase}: median |error| {100 * statistics.median(e):.0f} %, worst {100 * max(e):.0f} %,"
                f" mean signed {100 * signed:+.0f} % ({len(e)} runs)"
            )
    print(f"figures over {args.runs} runs (spread = 1 - min / max):")
    for key, vals in figs.items():
        spread = 1 - min(vals) / max(vals) if max(vals) > 0 else 0.0
        print(f"  {key:<20} {'  '.join(f'{v:8.2f}' for v in vals)}   spread {100 * spread:.0f} %")
    print(f"traces and specs in {out}")


if __name__ == "__main__":
    main()
