#!/usr/bin/env python3
"""The H200 default-build campaign (issue 15), run on the GPU machine by
scripts/probe_h200_default_build.sh: random-weight GGUFs of catalog models, written directly in
their quantized types, then llama-bench (fa 0/1, depths 0/4096/16384, pp512/tg128, default threads),
llama-batched-bench (1/4/16/64 sequences) and a `-t 2` comparison, each run logged line by line
with host timestamps while an NVML sampler (started by the shell script) records GPU power.

    python3 scripts/probe_h200_default_build.py WORK_DIR BIN_DIR GGUF_DIR [--only STEP,...]

Steps run in the order of PLAN, each model's GGUF written ahead of use by a pool of writer
processes as far as GGUF_DIR's free space allows, and deleted after its last step. A file
WORK_DIR/STOP stops the campaign between steps. Everything a step measured stays in
WORK_DIR/runs/ (stdout + timestamped event log) even when a later step fails.

The committed traces (validation/traces/h200-sxm-141gb.default-build.*) came from one machine
in four batches: the plan up to the `fa0` batched runs (qwen3-32b was OOM-killed there), qwen3-32b
again alone, and the rest of the plan in two follow-ups (the last, llama-2-13b, stopped by the
session's time cap after 11 of its 12 tests); the follow-ups ran this script's main() with PLAN
set to those steps.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from roofline.llamacpp.power import run  # noqa: E402

BENCH = [
    "-ngl",
    "99",
    "-fa",
    "0,1",
    "-d",
    "0,4096,16384",
    "-p",
    "512",
    "-n",
    "128",
    "-o",
    "jsonl",
    "--progress",
]
BATCHED = ["-ngl", "99", "-c", "40960", "-b", "2048", "-ub", "512", "-npp", "512", "-ntg", "128",
           "-npl", "1,4,16,64", "--output-format", "jsonl"]  # fmt: skip
THREADS = ["-ngl", "99", "-fa", "0,1", "-d", "0,2048,4096", "-p", "512", "-n", "128", "-r", "3",
           "-o", "jsonl", "--progress"]  # fmt: skip

# (step kind, model, quant, extra): priority order
PLAN: list[tuple[str, str, str, str]] = [
    ("bench", "olmoe-1b-7b", "Q4_K_M", "r3"),
    ("bench", "llama-3.2-1b", "Q4_K_M", "r3"),
    ("bench", "qwen2.5-1.5b", "Q4_K_M", "r3"),
    ("bench", "gemma-2-2b", "Q4_K_M", "r3"),
    ("batched", "olmoe-1b-7b", "Q4_K_M", "fa1"),
    ("batched", "llama-3.2-1b", "Q4_K_M", "fa1"),
    ("threads", "olmoe-1b-7b", "Q4_K_M", "t2"),
    ("threads", "olmoe-1b-7b", "Q4_K_M", "tdefault"),
    ("bench", "qwen3-30b-a3b", "Q4_K_M", "r3"),
    ("bench", "gpt-oss-20b", "MXFP4", "r3"),
    ("bench", "llama-3.1-8b", "Q4_K_M", "r3"),
    ("bench", "qwen3-8b", "Q4_K_M", "r3"),
    ("batched", "qwen3-30b-a3b", "Q4_K_M", "fa1"),
    ("batched", "qwen3-8b", "Q4_K_M", "fa1"),
    ("bench", "mixtral-8x7b", "Q4_K_M", "r3"),
    ("bench", "qwen3-14b", "Q4_K_M", "r3"),
    ("bench", "qwen3-32b", "Q4_K_M", "r3"),
    ("bench", "llama-3.1-70b", "Q4_K_M", "r2"),
    ("bench", "gpt-oss-120b", "MXFP4", "r2"),
    ("batched", "olmoe-1b-7b", "Q4_K_M", "fa0"),
    ("batched", "llama-3.2-1b", "Q4_K_M", "fa0"),
    # the follow-up batches of 2026-12-01 (run on the same machine after the main one)
    ("batched", "gpt-oss-20b", "MXFP4", "fa1"),
    ("bench", "qwen3-4b", "Q4_K_M", "r3"),
    ("bench", "llama-3.2-3b", "Q4_K_M", "r3"),
    ("bench", "qwen2.5-7b", "Q4_K_M", "r3"),
    ("bench", "mistral-7b", "Q4_K_M", "r3"),
    ("bench", "gemma-2-9b", "Q4_K_M", "r3"),
    ("bench", "mistral-small-24b", "Q4_K_M", "r3"),
    ("bench", "qwen2.5-3b", "Q4_K_M", "r3"),
    ("bench", "smollm2-1.7b", "Q4_K_M", "r3"),
    ("bench", "llama-2-7b", "Q4_K_M", "r3"),
    ("bench", "qwen2.5-14b", "Q4_K_M", "r3"),
    ("bench", "llama-2-13b", "Q4_K_M", "r3"),
]
# The micro-batch ladder (issue 16.1): one prompt of N tokens is one micro-batch, so each
# matmul runs with N rows (dense) or about N*k/E rows per expert (MoE); batched decode with short
# prompts separates the matmul shapes from the KV traffic of 64 x 512-token sequences.
LADDER = ["-ngl", "99", "-fa", "1", "-p", "1,2,4,8,16,32,64,128,256,512", "-n", "0", "-r", "3",
          "-o", "jsonl", "--progress"]  # fmt: skip
BATCHED_SHORT = ["-ngl", "99", "-c", "8192", "-b", "2048", "-ub", "512", "-npp", "64", "-ntg", "32",
                 "-npl", "1,2,4,8,16,32,64", "--output-format", "jsonl"]  # fmt: skip
PLAN_LADDER: list[tuple[str, str, str, str]] = [
    ("bench", "qwen3-8b", "Q4_K_M", "ladder"),
    ("batched", "qwen3-8b", "Q4_K_M", "short"),
    ("bench", "qwen3-30b-a3b", "Q4_K_M", "ladder"),
    ("batched", "qwen3-30b-a3b", "Q4_K_M", "short"),
    ("bench", "llama-3.2-1b", "Q4_K_M", "ladder"),
    ("batched", "llama-3.2-1b", "Q4_K_M", "short"),
    ("bench", "olmoe-1b-7b", "Q4_K_M", "ladder"),
    ("batched", "olmoe-1b-7b", "Q4_K_M", "short"),
    ("bench", "qwen3-4b", "Q4_K_M", "ladder"),
    ("batched", "qwen3-4b", "Q4_K_M", "short"),
    ("bench", "llama-3.1-8b", "Q4_K_M", "ladder"),
    ("bench", "mixtral-8x7b", "Q4_K_M", "ladder"),
    ("bench", "deepseek-v2-lite", "Q4_K_M", "ladder"),
    ("bench", "qwen3-8b", "Q8_0", "ladder"),
    ("batched", "mixtral-8x7b", "Q4_K_M", "short"),
    # its writer died twice on the machine (2026-12-01), taking the pool with it: last
    ("bench", "gpt-oss-20b", "MXFP4", "ladder"),
]
# The follow-up of 2026-12-01 (second session): DeepSeek-V2-Lite (its GGUF writer is new) on the
# default plan, and the ladder of the models the first ladder visit could not write
PLAN_FOLLOWUP: list[tuple[str, str, str, str]] = [
    ("bench", "deepseek-v2-lite", "Q4_K_M", "ladder"),
    ("bench", "mixtral-8x7b", "Q4_K_M", "ladder"),
    ("bench", "deepseek-v2-lite", "Q4_K_M", "r3"),
    ("batched", "deepseek-v2-lite", "Q4_K_M", "short"),
    ("batched", "mixtral-8x7b", "Q4_K_M", "short"),
    ("batched", "deepseek-v2-lite", "Q4_K_M", "fa1"),
    ("bench", "qwen3-8b", "Q8_0", "ladder"),
]
# The routing re-measure of 2026-12-01 (third session): the Q4_K_M MoEs again, written with
# zero-mean quant blocks (gguf_writer._center). Before, their Q4_K weights averaged 0.9 of their
# spread, the hidden states of all tokens turned parallel and a batch touched about a quarter of
# each layer's experts, so their prefill and batched decode ran faster than a real model's.
PLAN_ROUTING: list[tuple[str, str, str, str]] = [
    ("bench", "qwen3-30b-a3b", "Q4_K_M", "ladder"),
    ("batched", "qwen3-30b-a3b", "Q4_K_M", "short"),
    ("bench", "olmoe-1b-7b", "Q4_K_M", "ladder"),
    ("batched", "olmoe-1b-7b", "Q4_K_M", "short"),
    ("batched", "qwen3-30b-a3b", "Q4_K_M", "fa1"),
    ("bench", "deepseek-v2-lite", "Q4_K_M", "ladder"),
    ("bench", "qwen3-30b-a3b", "Q4_K_M", "r3"),
    ("bench", "mixtral-8x7b", "Q4_K_M", "ladder"),
]
MARGIN = 3 * 2**30


def _write(model_id: str, quant: str, path: str) -> float:
    import faulthandler

    faulthandler.enable()  # a writer killed by a signal says where (the pool only says "abruptly")
    from roofline.llamacpp.gguf_writer import write_gguf
    from roofline.specs import load_model

    t0 = time.time()
    part = Path(path + ".partial")
    write_gguf(load_model(model_id), part, quant=quant)
    part.replace(path)
    return time.time() - t0


def _size(model_id: str, quant: str) -> int:
    from roofline.specs import load_model
    from roofline.specs.quant import file_size

    m = load_model(model_id)
    return int(file_size(m, quant) * 1.02) + 64 * m.vocab_size + 2**26


def log(work: Path, msg: str) -> None:
    line = f"{time.strftime('%H:%M:%S')} {msg}"
    print(line, flush=True)
    with open(work / "progress.log", "a") as f:
        f.write(line + "\n")


def mark(work: Path, what: str, t0: float, t1: float, **kw) -> None:
    with open(work / "markers.jsonl", "a") as f:
        f.write(json.dumps({"what": what, "t0": t0, "t1": t1, **kw}) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("work", type=Path)
    ap.add_argument("bin", type=Path)
    ap.add_argument("gguf_dir", type=Path)
    ap.add_argument("--only", default="")
    ap.add_argument("--plan", choices=("default", "ladder", "followup", "routing"), default="default")
    ap.add_argument("--writers", type=int, default=6)
    ap.add_argument("--idle", type=float, default=10.0)
    ap.add_argument("--wait-ready", type=Path, help="wait for this file (the build) before the first run")
    args = ap.parse_args()
    work, gg = args.work, args.gguf_dir
    (work / "runs").mkdir(parents=True, exist_ok=True)
    gg.mkdir(parents=True, exist_ok=True)
    plan = {"ladder": PLAN_LADDER, "followup": PLAN_FOLLOWUP, "routing": PLAN_ROUTING}.get(args.plan, PLAN)
    if args.only:
        keep = set(args.only.split(","))
        plan = [s for s in plan if s[1] in keep or f"{s[0]}:{s[1]}" in keep]
    models = list(dict.fromkeys((m, q) for _, m, q, _ in plan))
    last_use = {mq: max(i for i, s in enumerate(plan) if (s[1], s[2]) == mq) for mq in models}
    capacity = shutil.disk_usage(gg).free - MARGIN
    if str(gg.resolve()).startswith("/dev/shm"):
        # tmpfs is RAM: leave half of it to the benchmark (on 2026-11-30 llama-bench was
        # OOM-killed while qwen3-32b ran and llama-3.1-70b's 40 GiB were being written)
        capacity = min(capacity, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2)
    sizes = {mq: _size(*mq) for mq in models}
    log(work, f"plan: {len(plan)} steps, {len(models)} models; {gg}: {capacity / 2**30:.1f} GiB usable")
    pool = ProcessPoolExecutor(max_workers=args.writers)
    futures: dict[tuple[str, str], Future] = {}
    reserved = 0
    queue = [mq for mq in models if sizes[mq] <= capacity]
    for mq in models:
        if sizes[mq] > capacity:
            log(work, f"skip {mq}: {sizes[mq] / 2**30:.1f} GiB does not fit {capacity / 2**30:.1f} GiB")

    def path(mq: tuple[str, str]) -> Path:
        return gg / f"{mq[0]}-{mq[1]}.gguf"

    def prefetch() -> None:
        nonlocal reserved, pool
        while queue and reserved + sizes[queue[0]] <= capacity:
            mq = queue.pop(0)
            reserved += sizes[mq]
            try:
                futures[mq] = pool.submit(_write, mq[0], mq[1], str(path(mq)))
            except BrokenProcessPool:  # a writer died: a fresh pool for the rest
                log(work, "writer pool broken: starting a new one")
                pool = ProcessPoolExecutor(max_workers=args.writers)
                futures[mq] = pool.submit(_write, mq[0], mq[1], str(path(mq)))

    prefetch()
    if args.wait_ready:
        log(work, f"waiting for {args.wait_ready}")
        while not args.wait_ready.exists():
            if (work / "STOP").exists():
                return 1
            time.sleep(2)
        log(work, "binaries ready")
    for exe in ("llama-bench", "llama-batched-bench"):
        r = subprocess.run([str(args.bin / exe), "--version"], capture_output=True, text=True)
        (work / f"{exe}.version.txt").write_text(r.stdout + r.stderr)
    # idle baseline: the GPU does nothing (writers only use the CPU)
    t0 = time.time()
    time.sleep(args.idle)
    mark(work, "idle", t0, time.time())
    for i, (kind, model, quant, extra) in enumerate(plan):
        if (work / "STOP").exists():
            log(work, "STOP file: stopping")
            break
        mq = (model, quant)
        name = f"{model}.{quant}.{kind}-{extra}"
        if mq not in futures:
            log(work, f"{name}: no GGUF (skipped)")
            continue
        try:
            tw = futures[mq].result()
            if tw is not None:
                log(
                    work,
                    f"{model} {quant}: GGUF written in {tw:.0f} s "
                    f"({path(mq).stat().st_size / 2**30:.2f} GiB)",
                )
                futures[mq] = _done(tw)
        except Exception:
            log(work, f"{name}: GGUF writer failed\n{traceback.format_exc()}")
            continue
        f = str(path(mq))
        if kind == "bench" and extra == "ladder":
            cmd = [str(args.bin / "llama-bench"), "-m", f, *LADDER]
        elif kind == "batched" and extra == "short":
            cmd = [str(args.bin / "llama-batched-bench"), "-m", f, *BATCHED_SHORT, "-fa", "on"]
        elif kind == "bench":
            cmd = [str(args.bin / "llama-bench"), "-m", f, *BENCH, "-r", extra[1:]]
        elif kind == "threads":
            cmd = [str(args.bin / "llama-bench"), "-m", f, *THREADS] + (["-t", "2"] if extra == "t2" else [])
        else:
            cmd = [
                str(args.bin / "llama-batched-bench"),
                "-m",
                f,
                *BATCHED,
                "-fa",
                "on" if extra == "fa1" else "off",
            ]
        ev, out = work / "runs" / f"{name}.events.jsonl", work / "runs" / f"{name}.out.jsonl"
        (work / "runs" / f"{name}.cmd.txt").write_text(" ".join(cmd) + "\n")
        log(work, f"{name}: start")
        t0 = time.time()
        rc = run(cmd, ev, out)
        mark(work, name, t0, time.time(), rc=rc)
        log(work, f"{name}: exit {rc} after {time.time() - t0:.0f} s")
        if last_use[mq] == i:
            path(mq).unlink(missing_ok=True)
            reserved -= sizes[mq]
            prefetch()
    pool.shutdown(cancel_futures=True)
    # a closing idle window
    t0 = time.time()
    time.sleep(args.idle)
    mark(work, "idle-end", t0, time.time())
    log(work, "campaign done")
    (work / "DONE").write_text("done\n")
    return 0


def _done(value: float) -> Future:
    f: Future = Future()
    f.set_result(None)
    return f


if __name__ == "__main__":
    sys.exit(main())
