"""GPU power during llama.cpp runs: an NVML sampler, a runner that timestamps each line a benchmark
prints, and the energy of the timed windows those lines mark.

On the GPU machine (NVML through `pynvml`, i.e. the nvidia-ml-py package):

    python -m roofline.llamacpp.power sample --out power.csv --hz 50 [--stop-file STOP]
    python -m roofline.llamacpp.power run --events ev.jsonl --stdout out.jsonl -- llama-bench ... --progress

`sample` writes one row per tick: host time (time.time()), the board's power (NVML's averaged
reading and, where the driver offers it, the instantaneous one), the NVML total-energy counter,
SM clock and utilisation. `run` starts the command, stores its stdout, and logs every stdout and
stderr line with the host time it arrived (the benchmark's stderr is unbuffered; llama-bench's
`--progress` lines mark the start of each timed repetition).

Windows: llama-bench (`--progress`, `-o jsonl`) prints "benchmark K/N: prompt run i/R" (or
"generation run i/R") just before it starts the clock of repetition i, and reports each
repetition's duration in `samples_ns`; so repetition i's timed window is [line time, line time +
duration]: depth prefills, warm-ups and model loads fall outside. llama-batched-bench (`-oj`)
prints one JSON line per configuration right after its decode loop: the decode window is
[line time - t_tg, line time] and the prompt window precedes it by t_pp.

Energy over a window comes from the NVML energy counter, interpolated linearly between the
instants it changed (on the H200 the driver refreshes the counter and the power readings every
100 ms, whatever the polling rate), else from the power samples (trapezoids); both are reported.
A window shorter than a few refreshes (a pp512 of a small model takes tens of milliseconds) is
resolved only to about one refresh interval's energy at each end.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

SAMPLE_COLUMNS = ("t", "power_w", "power_instant_w", "energy_j", "sm_mhz", "util_gpu")


# ---- on the GPU machine ------------------------------------------------------------------------
def sample(out: Path, hz: float = 50.0, stop_file: Path | None = None, duration: float | None = None) -> None:
    """Sample NVML at `hz` into `out` (CSV, SAMPLE_COLUMNS) until `stop_file` exists or `duration`."""
    import pynvml as nv

    nv.nvmlInit()
    h = nv.nvmlDeviceGetHandleByIndex(0)
    field = getattr(nv, "NVML_FI_DEV_POWER_INSTANT", None)

    def instant() -> float | str:
        if field is None:
            return ""
        try:
            v = nv.nvmlDeviceGetFieldValues(h, [field])[0]
            return v.value.uiVal / 1000.0 if v.nvmlReturn == 0 else ""
        except Exception:  # noqa: BLE001 - an optional reading
            return ""

    def read(fn, *a, scale: float | None = None):
        try:
            v = fn(h, *a)
            return v / scale if scale else v
        except Exception:  # noqa: BLE001 - a missed reading leaves an empty cell
            return ""

    period = 1.0 / hz
    t_end = time.time() + duration if duration else None
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(SAMPLE_COLUMNS)
        nxt = time.time()
        while not (stop_file and stop_file.exists()) and not (t_end and time.time() > t_end):
            t = time.time()
            util = read(nv.nvmlDeviceGetUtilizationRates)
            w.writerow(
                (
                    f"{t:.4f}",
                    read(nv.nvmlDeviceGetPowerUsage, scale=1000.0),
                    instant(),
                    read(nv.nvmlDeviceGetTotalEnergyConsumption, scale=1000.0),
                    read(nv.nvmlDeviceGetClockInfo, nv.NVML_CLOCK_SM),
                    util.gpu if hasattr(util, "gpu") else "",
                )
            )
            f.flush()
            nxt += period
            time.sleep(max(0.0, nxt - time.time()))


def run(cmd: Sequence[str], events: Path, stdout: Path) -> int:
    """Run `cmd`, storing its stdout in `stdout` and every line of both streams, with the host time
    it arrived, in `events` (JSON lines: t, stream, line). Returns the exit code."""
    lock = threading.Lock()
    ev = open(events, "a")
    out = open(stdout, "a")
    p = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)

    def pump(stream, name: str) -> None:
        for line in stream:
            t = time.time()
            with lock:
                ev.write(json.dumps({"t": round(t, 4), "stream": name, "line": line.rstrip("\n")}) + "\n")
                ev.flush()
                if name == "out":
                    out.write(line)
                    out.flush()

    threads = [
        threading.Thread(target=pump, args=(p.stdout, "out")),
        threading.Thread(target=pump, args=(p.stderr, "err")),
    ]
    for th in threads:
        th.start()
    rc = p.wait()
    for th in threads:
        th.join()
    ev.close()
    out.close()
    return rc


# ---- analysis (anywhere) -----------------------------------------------------------------------
@dataclass
class Samples:
    """NVML readings at the instants they changed (the driver refreshes them at ~10 Hz on an H200,
    whatever the polling rate): repeated readings are dropped, keeping the first, separately for
    the power reading (`t`, `power`) and the energy counter (`te`, `energy`)."""

    t: list[float]
    power: list[float]  # W, the instantaneous reading where there is one, else NVML's average
    te: list[float] = field(default_factory=list)
    energy: list[float] = field(default_factory=list)  # J, NVML's counter (empty when there is none)
    poll_hz: float = 0.0  # how often the sampler asked

    @property
    def hz(self) -> float:
        """The effective sampling rate: energy-counter updates per second where there is a counter,
        else power updates per second."""
        ts = self.te or self.t
        return (len(ts) - 1) / (ts[-1] - ts[0]) if len(ts) > 1 else 0.0


def _changes(ts: list[float], vs: list[float]) -> tuple[list[float], list[float]]:
    out_t, out_v = [], []
    for t, v in zip(ts, vs, strict=True):
        if not out_v or v != out_v[-1]:
            out_t.append(t)
            out_v.append(v)
    return out_t, out_v


def read_samples(path: str | Path) -> Samples:
    t, p, e = [], [], []
    with open(path, newline="") as f:
        for rec in csv.DictReader(f):
            try:
                ti = float(rec["t"])
                pi = float(rec["power_instant_w"] or rec["power_w"])
                ei = float(rec["energy_j"]) if rec["energy_j"] else float("nan")
            except (KeyError, ValueError, TypeError):
                continue  # a line cut off when the sampler was stopped, or a missed reading
            t.append(ti)
            p.append(pi)
            e.append(ei)
    poll = (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0
    tp, pp = _changes(t, p)
    te, ee = ([], []) if any(x != x for x in e) else _changes(t, e)
    return Samples(tp, pp, te, ee, poll)


def _interp(xs: list[float], ys: list[float], x: float) -> float:
    import bisect

    i = bisect.bisect_left(xs, x)
    if i <= 0:
        return ys[0]
    if i >= len(xs):
        return ys[-1]
    x0, x1 = xs[i - 1], xs[i]
    return ys[i - 1] + (ys[i] - ys[i - 1]) * (x - x0) / (x1 - x0) if x1 > x0 else ys[i]


@dataclass
class WindowEnergy:
    seconds: float
    joules_counter: float | None  # from the NVML energy counter
    joules_samples: float  # from the power samples
    n_samples: int  # power updates inside the windows
    counter_updates: int  # energy-counter updates inside the windows

    @property
    def joules(self) -> float:
        """The energy counter where the driver has one, else the power samples."""
        return self.joules_counter if self.joules_counter is not None else self.joules_samples

    @property
    def watts(self) -> float:
        return self.joules / self.seconds if self.seconds > 0 else float("nan")


def window_energy(s: Samples, windows: Sequence[tuple[float, float]]) -> WindowEnergy:
    """Energy over a set of disjoint windows [(t0, t1), ...] of host time."""
    seconds = sum(b - a for a, b in windows)
    n = 0
    updates: set[float] = set()
    e_samples = 0.0
    e_counter = 0.0 if s.energy else None
    for a, b in windows:
        inside = [i for i, t in enumerate(s.t) if a <= t <= b]
        n += len(inside)
        # trapezoids over the window, the ends interpolated
        pts = [(a, _interp(s.t, s.power, a))] + [(s.t[i], s.power[i]) for i in inside]
        pts.append((b, _interp(s.t, s.power, b)))
        e_samples += sum((t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in zip(pts, pts[1:], strict=False))
        if e_counter is not None:
            e_counter += _interp(s.te, s.energy, b) - _interp(s.te, s.energy, a)
            updates.update(v for t, v in zip(s.te, s.energy, strict=True) if a <= t <= b)
    return WindowEnergy(seconds, e_counter, e_samples, n, len(updates))


def read_events(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


_RUN = re.compile(r"benchmark (\d+)/(\d+): (prompt|generation) run (\d+)/(\d+)")


def llama_bench_windows(events: list[dict], records: list[dict]) -> list[list[tuple[float, float]]]:
    """Per llama-bench record (stdout order = benchmark order), the timed windows of its repetitions."""
    starts: dict[int, dict[int, float]] = {}
    for ev in events:
        m = _RUN.search(ev["line"]) if ev["stream"] == "err" else None
        if m:
            starts.setdefault(int(m.group(1)), {})[int(m.group(4))] = ev["t"]
    out = []
    for k, rec in enumerate(records, start=1):
        reps = starts.get(k, {})
        ns = rec.get("samples_ns") or []
        if len(reps) != len(ns):
            raise ValueError(f"benchmark {k}: {len(reps)} progress marks for {len(ns)} repetitions")
        out.append([(reps[i + 1], reps[i + 1] + d / 1e9) for i, d in enumerate(ns)])
    return out


def batched_bench_windows(events: list[dict]) -> list[tuple[dict, tuple[float, float], tuple[float, float]]]:
    """Per llama-batched-bench JSON line: (record, prompt window, decode window)."""
    out = []
    for ev in events:
        line = ev["line"].strip()
        if ev["stream"] != "out" or not line.startswith("{"):
            continue
        rec = json.loads(line)
        t1 = ev["t"]
        tg0 = t1 - rec["t_tg"]
        out.append((rec, (tg0 - rec["t_pp"], tg0), (tg0, t1)))
    return out


def idle_watts(s: Samples, t0: float, t1: float) -> float:
    vals = [p for t, p in zip(s.t, s.power, strict=True) if t0 <= t <= t1]
    return sum(vals) / len(vals) if vals else float("nan")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m roofline.llamacpp.power")
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("sample")
    a.add_argument("--out", type=Path, required=True)
    a.add_argument("--hz", type=float, default=50.0)
    a.add_argument("--stop-file", type=Path)
    a.add_argument("--duration", type=float)
    b = sub.add_parser("run")
    b.add_argument("--events", type=Path, required=True)
    b.add_argument("--stdout", type=Path, required=True)
    b.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    if args.cmd == "sample":
        sample(args.out, args.hz, args.stop_file, args.duration)
        return 0
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    return run(cmd, args.events, args.stdout)


if __name__ == "__main__":
    sys.exit(main())
