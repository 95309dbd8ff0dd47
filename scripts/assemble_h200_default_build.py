#!/usr/bin/env python3
"""Turn what scripts/probe_h200_default_build.sh packed (h200-default-build.tgz, unpacked in DIR)
into trace files:

    python3 scripts/assemble_h200_default_build.py DIR [DIR ...] [--out validation/traces] [--stem NAME]

(several DIRs: one per visit or follow-up batch, each with its own power samples and markers)

- <out>/h200-sxm-141gb.<stem>.llama.cpp.e2e.csv: llama-bench rows (pp512/tg128 at each depth,
  fa 0 and 1, default threads; the `-t 2` comparison runs too) and llama-batched-bench decode rows
  (batch = sequences), with the conditions in `notes`;
- <out>/power/h200-sxm-141gb.<stem>.power.csv: GPU energy per row (columns in validation/README.md;
  in a subfolder, since every *.csv directly in validation/traces/ is read as a trace);
- <out>/raw/h200-sxm-141gb.<stem>.runs.tgz: every run's stdout, timestamped event log and command,
  the markers, environment and the NVML samples.

A run that failed is listed, not imported. Numbers are taken as the tools printed them.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from roofline.llamacpp.batched_bench import (
    import_batched_bench,  # noqa: E402
    read_batched_bench,  # noqa: E402
)
from roofline.llamacpp.power import (  # noqa: E402
    batched_bench_windows,
    idle_watts,
    llama_bench_windows,
    read_events,
    read_samples,
    window_energy,
)
from roofline.traces.files import E2ERow, write_rows
from roofline.traces.importers import import_llama_bench

DEVICE = "h200-sxm-141gb"
POWER_COLUMNS = (
    "device", "engine", "model", "quant", "test", "depth", "batch", "fa", "threads", "tokens_per_s",
    "tokens", "window_s", "avg_watts", "idle_watts", "joules_per_token", "joules_per_token_above_idle",
    "joules_counter", "joules_samples", "n_samples", "sample_hz", "poll_hz", "window_ok", "energy_source",
    "run", "date", "notes",
)  # fmt: skip
#: the vendored llama.cpp commit (llama-cpp-python 0.3.36's CHANGELOG: "update llama.cpp to
#: ggml-org/llama.cpp@0c1e57098"); the binaries, built from a tarball, stamp "unknown" / b0
ENGINE_VERSION = "llama.cpp 0c1e570 (llama-cpp-python 0.3.36 vendored; binary stamp: commit unknown, b0)"
MIN_WINDOW_S = 1.0  # ten NVML refreshes
_NAME = re.compile(r"^(?P<model>.+)\.(?P<quant>[A-Z0-9_]+)\.(?P<kind>bench|batched|threads)-(?P<extra>\w+)$")


def build_info(d: Path) -> str:
    info = d / "bin" / "BUILD-INFO"
    return " ".join(info.read_text().split()) if info.is_file() else "unknown build"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("dirs", type=Path, nargs="+")
    ap.add_argument("--out", type=Path, default=Path("validation/traces"))
    ap.add_argument("--stem", default="default-build")
    args = ap.parse_args()
    e2e: list[E2ERow] = []
    power: list[dict] = []
    failed: list[str] = []
    for d in args.dirs:
        _assemble(d, e2e, power, failed)
    args.out.mkdir(parents=True, exist_ok=True)
    e2e_path = args.out / f"{DEVICE}.{args.stem}.llama.cpp.e2e.csv"
    write_rows(e2e_path, e2e, force=True)
    pw_path = args.out / "power" / f"{DEVICE}.{args.stem}.power.csv"
    pw_path.parent.mkdir(parents=True, exist_ok=True)
    with pw_path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(POWER_COLUMNS))
        w.writeheader()
        w.writerows(power)
    raw = args.out / "raw" / f"{DEVICE}.{args.stem}.runs.tgz"
    raw.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(raw, "w:gz") as tar:
        for d in args.dirs:
            for p in sorted(d.rglob("*")):
                if p.is_file():
                    tar.add(p, arcname=f"{d.name}/{p.relative_to(d)}")
    print(f"{e2e_path}: {len(e2e)} rows; {pw_path}: {len(power)} rows; {raw}")
    for x in failed:
        print("FAILED:", x)
    return 0


def _assemble(d: Path, e2e: list[E2ERow], power: list[dict], failed: list[str]) -> None:
    samples = read_samples(d / "power.csv")
    markers = [json.loads(x) for x in (d / "markers.jsonl").read_text().splitlines() if x.strip()]
    idle = [m for m in markers if m["what"] == "idle"]
    idle_w = idle_watts(samples, idle[0]["t0"] + 1.0, idle[0]["t1"]) if idle else float("nan")
    print(
        f"{d}: idle {idle_w:.1f} W; NVML readings at {samples.hz:.1f} Hz (polled at {samples.poll_hz:.1f} Hz)"
    )
    binfo = build_info(d)
    source = (
        f"measured here: {DEVICE} (lent H200 machine, no network), default llama.cpp CUDA build: {binfo}; "
        "random-weight GGUFs written directly in the quant's per-tensor types "
        "(roofline/llamacpp/gguf_writer.py); "
        "scripts/probe_h200_default_build.sh"
    )
    build_note = (
        "default build: flash-attention CUDA kernels compiled in (GGML_CUDA_FA=ON, FA_ALL_QUANTS off), "
        "sm_90, static, GGML_NATIVE off (AVX2/FMA/F16C), cuBLAS; ngl 99 (all layers on the GPU)"
    )
    for out in sorted((d / "runs").glob("*.out.jsonl")):
        name = out.name[: -len(".out.jsonl")]
        m = _NAME.match(name)
        if not m:
            continue
        model, quant, kind, extra = m["model"], m["quant"], m["kind"], m["extra"]
        cmd = (d / "runs" / f"{name}.cmd.txt").read_text().strip()
        cmd_short = re.sub(r"/\S*/(llama-[a-z-]+)", r"\1", cmd)
        events = read_events(d / "runs" / f"{name}.events.jsonl")
        marker = next((mk for mk in markers if mk["what"] == name), None)
        rc = marker.get("rc") if marker else None
        if rc not in (0, None):
            failed.append(f"{d.name}/{name}: exit {rc}; not imported")
            continue
        if not out.read_text().strip():
            failed.append(f"{d.name}/{name}: no results")
            continue
        cut = ""
        if marker is None:
            n_planned = next(
                (int(x.group(2)) for ev in events for x in [_PLANNED.search(ev["line"])] if x), 0
            )
            n_done = sum(1 for x in out.read_text().splitlines() if x.startswith("{"))
            cut = f"; run stopped by the campaign's time cap after {n_done} of {n_planned} tests"
            failed.append(
                f"{d.name}/{name}: stopped by the time cap after {n_done} of {n_planned} tests (kept)"
            )
        if kind in ("bench", "threads"):
            recs = [json.loads(x) for x in out.read_text().splitlines() if x.strip().startswith("{")]
            rows = import_llama_bench(out, DEVICE, model=model, source=source)
            windows = llama_bench_windows(events, recs)
            for r, rec, win in zip(rows, recs, windows, strict=True):
                fa = int(rec.get("flash_attn", -1))
                threads = rec.get("n_threads", "")
                reps = len(rec.get("samples_ns") or [])
                r.command = cmd_short
                r.engine_version = ENGINE_VERSION
                r.notes = (
                    f"{build_note}; fa {fa}; threads {threads}"
                    f"{' (llama-bench default)' if kind == 'bench' or extra == 'tdefault' else ' (-t 2)'}; "
                    f"n_batch {rec.get('n_batch', '')}; n_ubatch {rec.get('n_ubatch', '')}; "
                    f"type_k {rec.get('type_k', '')}; type_v {rec.get('type_v', '')}; {reps} reps, stddev "
                    f"{float(rec.get('stddev_ts', 0)):.2f} t/s; run {name}{cut}; "
                    f"cpu {rec.get('cpu_info', '')}; gpu {rec.get('gpu_info', '')}"
                )
                if extra == "ladder":
                    _warm_rate(r, rec)
                e2e.append(r)
                n_tok = int(rec.get("n_prompt") or rec.get("n_gen")) * reps
                power.append(_power(r, fa, threads, n_tok, win, samples, idle_w, name))
        else:
            recs = read_batched_bench(out.read_text(), str(out))
            date = marker.get("t0") if marker else None
            rows = import_batched_bench(
                out, DEVICE, model, quant, source, engine_version=ENGINE_VERSION, command=cmd_short,
                date=_iso(date) if date else "", notes=f"{build_note}; run {name}{cut}",
            )  # fmt: skip
            wins = batched_bench_windows(events)
            for r, rec, (_, _, tgw) in zip(rows, recs, wins, strict=True):
                fa = int(rec.get("flash_attn", -1))
                power.append(
                    _power(r, fa, r.threads, int(rec["pl"]) * int(rec["tg"]), [tgw], samples, idle_w, name)
                )
            e2e += rows


_PLANNED = re.compile(r"benchmark (\d+)/(\d+): starting")


def _warm_rate(r: E2ERow, rec: dict) -> None:
    """The ladder's rate is the median repetition: llama-bench warms up with at most 32 tokens, so
    the first repetition of each larger shape runs cold (CUDA loads kernels lazily) and was 20-60 %
    slower on the H200, which its average would carry into a 3-repetition row."""
    ns = sorted(int(x) for x in rec.get("samples_ns") or [])
    if not ns:
        return
    n = int(rec.get("n_prompt") or rec.get("n_gen"))
    r.tokens_per_s = n / (ns[len(ns) // 2] / 1e9)
    cold = [round(n / (x / 1e9), 1) for x in rec["samples_ns"]]
    avg = float(rec["avg_ts"])
    r.notes += f"; tokens_per_s = median repetition (llama-bench avg_ts {avg:.1f}; repetitions {cold} t/s)"


def _version(d: Path) -> str:
    for out in (d / "runs").glob("*bench-*.out.jsonl"):
        for line in out.read_text().splitlines():
            if line.startswith("{"):
                r = json.loads(line)
                return f"llama.cpp {r.get('build_commit', '')} (b{r.get('build_number', '')})"
    return ""


def _iso(t: float) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _power(r: E2ERow, fa, threads, tokens: int, windows, samples, idle_w: float, run: str) -> dict:
    e = window_energy(samples, windows)
    j = e.joules
    source = "nvml-energy-counter" if j == e.joules_counter else "nvml-power-samples"
    ok = e.seconds >= MIN_WINDOW_S
    return {
        "device": r.device, "engine": r.engine, "model": r.model, "quant": r.quant, "test": r.test,
        "depth": r.depth, "batch": r.batch, "fa": fa, "threads": threads, "tokens_per_s": r.tokens_per_s,
        "tokens": tokens, "window_s": round(e.seconds, 4), "avg_watts": round(e.watts, 2),
        "idle_watts": round(idle_w, 2), "joules_per_token": round(j / tokens, 6),
        "joules_per_token_above_idle": round((j - idle_w * e.seconds) / tokens, 6),
        "joules_counter": "" if e.joules_counter is None else round(e.joules_counter, 3),
        "joules_samples": round(e.joules_samples, 3), "n_samples": e.n_samples,
        "sample_hz": round(samples.hz, 1), "poll_hz": round(samples.poll_hz, 1), "window_ok": int(ok),
        "energy_source": source, "run": run, "date": r.date,
        "notes": "energy over the timed windows only (llama-bench repetitions / batched-bench decode loop)"
        + ("" if ok else f"; window under {MIN_WINDOW_S:g} s (< ten 10 Hz NVML refreshes): uncertain"),
    }  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
