"""Microbenchmarks of the machine this runs on: memory bandwidth by working-set size, GEMV/GEMM
throughput by shape and dtype, per-call dispatch overhead, and an MoE layer against a dense FFN of
the same active width. CPU with numpy (and torch when installed); a CUDA GPU with torch when one is
present (CUDA events, weight buffers rotated through more than the L2, eager vs CUDA-graph launch).

Runs standalone (`python -m roofline.validation.bench`), importing only numpy, tqdm and torch, so it
also works on a machine without the rest of the package's dependencies; `roofline bench` wraps it.
Each call's time is the best of several repetitions (the machine may be shared).

On a CPU, llama.cpp's decode on a few threads is limited by its quantized dot-product kernels, not by
numpy's fp32 GEMM: with a llama.cpp build (`--llama-cpp-bin`, $LLAMA_CPP_BIN, or the cache of
scripts/build_llama_cpp.sh) the bench times llama.cpp's own MUL_MAT kernels (test-backend-ops perf
mode) at decode (n=1) and prefill (n=512) shapes per weight type and thread count, and its routed-expert
MUL_MAT_ID at a prefill micro-batch (`bench --emit-spec` writes both into the spec as the CPU's
gemm_rates and expert_gemm_rates); without one, a
compiled int8 dot-product microkernel (int8dot.c, the kernel ggml runs for Q8_0) when a C compiler is
found. The figures a spec is made from (main-memory GEMVs, GEMMs, these kernels) are measured in
several rounds after a warm-up; each row keeps the best round and notes the spread, and a spread over
BUSY_SPREAD is reported as a sign that the machine was busy.
"""

from __future__ import annotations

import argparse
import ast
import csv
import datetime
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from roofline.traces.files import MICRO_COLUMNS as COLUMNS  # noqa: E402 (light: no pydantic)


class Steps:
    """Progress over the whole bench: one bar counting its steps (a size, a shape, a weight set), with
    the rate and the time left, and what runs now. tqdm draws it on a terminal; nothing is drawn
    when stderr is not one, or without tqdm."""

    def __init__(self, total: int) -> None:
        self.total, self.done = total, 0
        try:
            from tqdm import tqdm

            self.bar: Any = tqdm(total=total, desc="bench", unit="step", disable=None, dynamic_ncols=True)
        except ImportError:
            self.bar = None

    def now(self, what: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(what)

    def advance(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def cpu_steps(quick: bool) -> int:
    """Steps cpu_benchmarks takes: bandwidth sizes, GEMV/GEMM shapes, large GEMVs, dispatch, the MoE
    layer's weights and its token counts."""
    return (10 if quick else 18) + (2 if quick else 3) + (1 if quick else 2) + 1 + 1 + (2 if quick else 3)


def cuda_steps(quick: bool) -> int:
    """Steps cuda_benchmarks takes: copy sizes, host-to-device, GEMV/GEMM shapes, eager and graph
    launches, and per MoE configuration its weights and token counts."""
    return 13 + 1 + (2 if quick else 5) + 2 + 2 * (1 + (2 if quick else 4))


def _progress(items: list[Any], desc: str, progress: bool | Steps) -> Any:
    """The items, counted on `progress` (a Steps; True: a bar of this loop alone; False: none)."""
    if progress is True:
        progress = Steps(len(items))
        try:
            yield from _progress(items, desc, progress)
        finally:
            progress.close()
        return
    for item in items:
        if isinstance(progress, Steps):
            progress.now(desc)
        yield item
        if isinstance(progress, Steps):
            progress.advance()


def _step(progress: bool | Steps, what: str) -> Any:
    """One step of the bench that is not a loop (e.g. making weights), counted on `progress`."""
    return _progress([None], what, progress)


def _best(fn: Callable[[], Any], min_time: float = 0.02, max_reps: int = 200) -> tuple[float, int]:
    fn()
    best, total, reps = float("inf"), 0.0, 0
    while reps < 3 or (total < min_time and reps < max_reps):
        t = time.perf_counter()
        fn()
        dt = time.perf_counter() - t
        best, total, reps = min(best, dt), total + dt, reps + 1
    return best, reps


#: Spread between the best and the worst round above which the machine is taken to have been busy.
BUSY_SPREAD = 0.10
#: Rounds the figures a spec is made from are measured in (the best is kept).
ROUNDS = 3


def _rounds(fn: Callable[[], Any], rounds: int = ROUNDS, min_time: float = 0.05) -> tuple[float, int, float]:
    """Best time of `fn` over `rounds` rounds (each the best of its repetitions, after a warm-up), its
    repetitions in all, and the spread: 1 - best / worst round (0: every round as fast as the best)."""
    per_round, reps = [], 0
    for _ in range(rounds):
        t, r = _best(fn, min_time=min_time)
        per_round.append(t)
        reps += r
    return min(per_round), reps, 1.0 - min(per_round) / max(per_round)


def _spread_note(spread: float, rounds: int) -> str:
    return f"best of {rounds} rounds; spread {100 * spread:.0f} %" + (
        " (busy machine?)" if spread > BUSY_SPREAD else ""
    )


def cache_sizes() -> dict[str, int]:
    """Data/unified cache sizes of CPU 0 from sysfs (what the VM exposes)."""
    out: dict[str, int] = {}
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    for idx in sorted(base.glob("index*")):
        try:
            if (idx / "type").read_text().strip() == "Instruction":
                continue
            level = (idx / "level").read_text().strip()
            size = (idx / "size").read_text().strip()
        except OSError:
            continue
        mult = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(size[-1], 1)
        out[f"L{level}"] = int(size.rstrip("KMG")) * mult
    return out


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def meminfo_bytes() -> int:
    """MemTotal of this machine (0 where /proc/meminfo is missing)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass(frozen=True)
class Host:
    """The machine a bench ran on, as its trace records it in every row's source."""

    cpu: str
    cpus: int
    caches: dict[str, int]
    memory: int  # bytes; 0 if unknown
    arch: str = ""  # platform.machine(): x86_64, aarch64, arm64 ...; "" if unknown

    def describe(self) -> str:
        return (
            f"{self.cpu}, {self.cpus} CPUs visible, caches {self.caches}, memory {self.memory} B, "
            f"arch {self.arch or 'unknown'}"
        )


def this_host() -> Host:
    return Host(cpu_name(), os.cpu_count() or 1, cache_sizes(), meminfo_bytes(), platform.machine())


_HOST = re.compile(r"measured here: (?P<cpu>.+?), (?P<n>\d+) CPUs visible, caches (?P<caches>\{[^}]*\})")
_MEMORY = re.compile(r"memory (\d+) B")
_ARCH = re.compile(r"arch ([A-Za-z0-9_]+)")


def traced_host(sources: list[str]) -> Host:
    """The host a trace's rows name in their source (Host.describe's text), so that what is made
    from a trace elsewhere describes the machine that ran it: this machine where no row names one,
    memory 0 and arch "" where an older trace did not record them."""
    for text in sources:
        hit = _HOST.search(text)
        if hit:
            caches = ast.literal_eval(hit["caches"])
            if not (isinstance(caches, dict) and all(isinstance(v, int) for v in caches.values())):
                caches = cache_sizes()
            mem, arch = _MEMORY.search(text), _ARCH.search(text)
            return Host(
                hit["cpu"],
                int(hit["n"]),
                caches,
                int(mem.group(1)) if mem else 0,
                "" if arch is None or arch.group(1) == "unknown" else arch.group(1),
            )
    return this_host()


def _busy_warning(spreads: list[tuple[str, float]], measured: str, between: str, advice: str) -> list[str]:
    """One warning when any of `spreads` (what, 1 - fastest / slowest) exceeds BUSY_SPREAD."""
    busy = [(w, s) for w, s in spreads if s > BUSY_SPREAD]
    if not busy:
        return []
    what, worst = max(busy, key=lambda ws: ws[1])
    return [
        f"{len(busy)} of {len(spreads)} {measured} differ by more than {100 * BUSY_SPREAD:.0f} % between "
        f"{between} (worst: {what}, {100 * worst:.0f} %): {advice}"
    ]


class Recorder:
    def __init__(self, device: str, harness: str, version: str, backend: str, source: str) -> None:
        self.rows: list[dict[str, Any]] = []
        self.common = {
            "device": device,
            "harness": harness,
            "harness_version": version,
            "backend": backend,
            "date": datetime.date.today().isoformat(),
            "source": source,
            "command": "roofline bench",
        }
        self.warnings: list[str] = []
        self.spreads: list[tuple[str, float]] = []

    def busy(self, what: str, spread: float) -> None:
        """Keep the spread of a measurement taken in rounds (busy_warning summarises them)."""
        self.spreads.append((what, spread))

    def busy_warning(self) -> list[str]:
        """One warning when any measurement's rounds differ by more than BUSY_SPREAD."""
        return _busy_warning(
            self.spreads,
            f"{self.common['harness']} measurements",
            "rounds",
            "the machine was busy; each keeps its best round, but a rerun on a quiet machine is more "
            "reliable",
        )

    def add(
        self,
        kind: str,
        dtype: str,
        shape: str,
        ws: float,
        seconds: float,
        reps: int,
        flops: float = 0.0,
        nbytes: float = 0.0,
        notes: str = "",
    ) -> None:
        self.rows.append(
            {
                **self.common,
                "kind": kind,
                "dtype": dtype,
                "shape": shape,
                "working_set_bytes": int(ws),
                "flops": flops,
                "bytes": nbytes,
                "seconds": seconds,
                "repeats": reps,
                "notes": notes,
            }
        )


def cpu_benchmarks(rec: Recorder, quick: bool = False, progress: bool | Steps = True) -> None:
    caches = cache_sizes()
    llc = max(caches.values(), default=32 * 2**20)
    top = 4 * llc if not quick else min(4 * llc, 64 * 2**20)
    sizes = [int(s) for s in np.geomspace(16 * 1024, top, 10 if quick else 18)]
    for n_bytes in _progress(sizes, "bandwidth", progress):
        n = max(n_bytes // 4, 16)
        a = np.ones(n, np.float32)
        b = np.ones(n, np.float32)
        c = np.ones(n, np.float32)
        t, r = _best(lambda: a.sum())
        rec.add("stream-read", "fp32", f"n={n}", 4 * n, t, r, nbytes=4 * n)
        t, r = _best(lambda: np.copyto(b, a))
        rec.add("stream-copy", "fp32", f"n={n}", 8 * n, t, r, nbytes=8 * n)

        def triad() -> None:
            np.multiply(c, 3.0, out=a)
            np.add(a, b, out=a)

        t, r = _best(triad)
        rec.add(
            "stream-triad",
            "fp32",
            f"n={n}",
            12 * n,
            t,
            r,
            nbytes=20 * n,
            notes="a = b + s*c as two numpy passes: 5 arrays of traffic",
        )
    shapes = [(4096, 4096), (2048, 8192), (8192, 2048)] if not quick else [(1024, 1024), (2048, 512)]
    ms = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512] if not quick else [1, 8, 64]
    torch = _torch()
    dtypes = [("fp32", np.float32)]
    for n_out, k in _progress(shapes, "gemv/gemm", progress):
        for name, dt in dtypes:
            w = np.random.default_rng(0).standard_normal((k, n_out)).astype(dt)
            for m in ms:
                x = np.ones((m, k), dt)
                rounds = 1 if quick else ROUNDS
                t, r, spread = _rounds(lambda: x @ w, rounds, min_time=0.02)
                kind = "gemv" if m == 1 else "gemm"
                if m >= 64:  # the GEMMs the fp32 peak is read from
                    rec.busy(f"numpy {name} GEMM M={m} N={n_out} K={k}", spread)
                rec.add(
                    kind,
                    name,
                    f"M={m} N={n_out} K={k}",
                    w.nbytes + x.nbytes,
                    t,
                    r,
                    flops=2.0 * m * n_out * k,
                    nbytes=w.nbytes + x.nbytes + m * n_out * w.itemsize,
                    notes=_spread_note(spread, rounds),
                )
        if torch is not None:
            wt = torch.randn(n_out, k, dtype=torch.bfloat16)
            for m in ms:
                xt = torch.ones(m, k, dtype=torch.bfloat16)
                t, r = _best(lambda: torch.nn.functional.linear(xt, wt))
                rec.add(
                    "gemv" if m == 1 else "gemm",
                    "bf16",
                    f"M={m} N={n_out} K={k}",
                    2 * (n_out * k + m * k),
                    t,
                    r,
                    flops=2.0 * m * n_out * k,
                    nbytes=2.0 * (n_out * k + m * k + m * n_out),
                    notes="torch CPU",
                )
    # matrix-vector products over weights of 4x the last-level cache: all threads streaming from DRAM
    # (numpy's own streaming kernels above use one thread)
    k_big = 4096
    for factor in _progress([4, 8] if not quick else [1], "gemv over main memory", progress):
        n_big = max(4096, int(factor * llc / (4 * k_big))) if not quick else 4096
        w = np.random.default_rng(0).standard_normal((k_big, n_big)).astype(np.float32)
        x = np.ones((1, k_big), np.float32)
        rounds = 1 if quick else ROUNDS
        t, r, spread = _rounds(lambda: x @ w, rounds, min_time=0.1)
        rec.busy(f"main-memory GEMV over {w.nbytes / 2**20:.0f} MiB", spread)
        rec.add(
            "gemv",
            "fp32",
            f"M=1 N={n_big} K={k_big}",
            w.nbytes + x.nbytes,
            t,
            r,
            flops=2.0 * n_big * k_big,
            nbytes=w.nbytes + x.nbytes + 4 * n_big,
            notes=f"weights {factor}x the last-level cache: main-memory streaming on all threads; "
            + _spread_note(spread, rounds),
        )
    for _ in _step(progress, "dispatch"):
        tiny_a, tiny_b = np.ones(1, np.float32), np.ones(1, np.float32)
        t, r = _best(lambda: np.add(tiny_a, tiny_b, out=tiny_a), max_reps=20000)
        rec.add("launch", "fp32", "n=1 np.add", 8, t, r, notes="per-call dispatch overhead of a numpy ufunc")
    _moe_cpu(rec, quick, progress)


def _moe_cpu(rec: Recorder, quick: bool, progress: bool | Steps) -> None:
    e, k, d, de = (64, 8, 2048, 1024) if not quick else (16, 4, 512, 256)
    rng = np.random.default_rng(0)
    for _ in _step(progress, f"moe weights ({3 * e * d * de * 4 / 2**30:.1f} GiB)"):
        wg = rng.standard_normal((e, d, de)).astype(np.float32)
        wu = rng.standard_normal((e, d, de)).astype(np.float32)
        wd = rng.standard_normal((e, de, d)).astype(np.float32)
        dense_g = rng.standard_normal((d, k * de)).astype(np.float32)
        dense_u = rng.standard_normal((d, k * de)).astype(np.float32)
        dense_d = rng.standard_normal((k * de, d)).astype(np.float32)
    for n in _progress([1, 8, 64] if not quick else [1, 8], "moe", progress):
        x = rng.standard_normal((n, d)).astype(np.float32)
        choice = np.stack([rng.choice(e, k, replace=False) for _ in range(n)])

        def moe() -> np.ndarray:
            out = np.zeros_like(x)
            for ex in np.unique(choice):
                rows = np.nonzero((choice == ex).any(axis=1))[0]
                h = x[rows]
                a = (h @ wg[ex]) * (h @ wu[ex])
                out[rows] += a @ wd[ex]
            return out

        def dense() -> np.ndarray:
            return ((x @ dense_g) * (x @ dense_u)) @ dense_d

        touched = len(np.unique(choice))
        t, r = _best(moe)
        flops = 2.0 * n * k * 3 * d * de
        rec.add(
            "moe-dispatch",
            "fp32",
            f"N={n} E={e} k={k} d={d} de={de} touched={touched}",
            touched * 3 * d * de * 4,
            t,
            r,
            flops=flops,
            nbytes=touched * 3 * d * de * 4,
            notes="numpy: gather, per-expert matmuls, scatter-add",
        )
        t, r = _best(dense)
        rec.add(
            "dense-ffn",
            "fp32",
            f"N={n} d={d} width={k * de}",
            3 * d * k * de * 4,
            t,
            r,
            flops=flops,
            nbytes=3 * d * k * de * 4,
            notes="dense FFN of the MoE's active width",
        )


#: test-backend-ops' perf-mode MUL_MAT shape (M weight rows of K; a Llama-3-8B FFN matrix), timed at
#: the token counts of a decode step and of a prefill micro-batch, for these weight types (bytes/weight)
KERNEL_M, KERNEL_K = 4096, 14336
KERNEL_TOKENS = (1, 512)
KERNEL_TYPES = ("q4_K", "q8_0", "f16")
#: bytes per weight of the types timed (ggml's block sizes: Q4_K 144 B and Q6_K 210 B per 256, Q8_0 34
#: B per 32)
TYPE_BYTES = {"q4_K": 144 / 256, "q6_K": 210 / 256, "q8_0": 34 / 32, "f16": 2.0}
#: test-backend-ops' perf-mode MUL_MAT_ID shape (routed experts: N_MATS experts of M x K, each of the
#: n tokens routed to N_USED of them; at n = 512 each expert gets 64 rows on average, as OLMoE's at a
#: 512-token micro-batch), timed at a prefill micro-batch for these weight types (Q6_K: Q4_K_M's
#: share of the expert down projections)
EXPERT_SHAPE = {"n_mats": 32, "n_used": 4, "m": 1792, "k": 2048}
EXPERT_TYPES = ("q4_K", "q8_0", "q6_K")
#: ggml's quantized types: their dot products run on the int8 units (activations quantized to Q8)
QUANTIZED = ("q4_K", "q8_0", "q4_0", "q6_K")
_PERF_LINE = re.compile(r"^\s*(MUL_MAT(?:_ID)?)\((.*?)\):\s+(\d+) runs -\s+([\d.]+) us/run")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def default_llama_cpp_bin() -> Path:
    """Where scripts/build_llama_cpp.sh leaves its CPU build (its LLAMA_CPP_CACHE default)."""
    cache = os.environ.get("LLAMA_CPP_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "moe-roofline" / "llama.cpp"
    )
    version = os.environ.get("LLAMA_CPP_PYTHON_VERSION", "0.3.36")
    return Path(cache) / f"{version}-cpu" / "bin"


def find_test_backend_ops(given: str | Path | None = None) -> tuple[Path | None, str]:
    """llama.cpp's test-backend-ops in `given` (a bin directory or the executable), else in
    $LLAMA_CPP_BIN, else in build_llama_cpp.sh's cache; with why none was found."""
    tried = []
    for cand in (given, os.environ.get("LLAMA_CPP_BIN"), default_llama_cpp_bin()):
        if not cand:
            continue
        path = Path(cand)
        exe = path if path.is_file() else path / "test-backend-ops"
        tried.append(str(exe))
        if exe.is_file() and os.access(exe, os.X_OK):
            return exe, ""
        if given is not None and cand == given:
            return None, f"no test-backend-ops executable at {exe} (--llama-cpp-bin)"
    return None, "no llama.cpp test-backend-ops found (tried " + ", ".join(
        tried
    ) + "; LLAMA_CPP_TEST_OPS=1 scripts/build_llama_cpp.sh builds it)"


def thread_counts() -> list[int]:
    """One thread and all the CPUs this process may use."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return sorted({1, n})


def parse_perf(text: str) -> dict[tuple[str, str, int, int, int], float]:
    """test-backend-ops perf console output -> {(op, weight type, M, n tokens, K): microseconds per op}."""
    out = {}
    for line in _ANSI.sub("", text).splitlines():
        hit = _PERF_LINE.match(line)
        if not hit:
            continue
        params = dict(re.findall(r"(\w+)=([^,\[]+|\[[^\]]*\])", hit.group(2)))
        try:
            key = (hit.group(1), params["type_a"], int(params["m"]), int(params["n"]), int(params["k"]))
        except (KeyError, ValueError):
            continue
        out[key] = float(hit.group(4))
    return out


def _patched_threads(exe: Path) -> bool:
    """Whether this test-backend-ops reads GGML_N_THREADS (scripts/build_llama_cpp.sh patches it in;
    a stock build runs the CPU back-end on half the CPUs it sees)."""
    try:
        return b"GGML_N_THREADS" in exe.read_bytes()
    except OSError:
        return False


def llama_cpp_kernels(
    rec: Recorder, exe: Path, quick: bool = False, progress: bool | Steps = True, rounds: int = ROUNDS
) -> None:
    """Time llama.cpp's MUL_MAT (weights x f32 activations, quantized to Q8 inside for the quantized
    types) with its own perf mode: each run is the mean over >= 1 s after a warm-up run; `rounds`
    runs per thread count, the best kept. The same weight matrix is reused, so at K=14336 a Q4_K one
    (33 MB) may sit partly in the last-level cache: these are kernel rates, not DRAM rates."""
    types = ["q8_0"] if quick else list(KERNEL_TYPES)
    tokens = [1] if quick else list(KERNEL_TOKENS)
    patched = _patched_threads(exe)
    threads = thread_counts() if patched else [max(1, (os.cpu_count() or 2) // 2)]
    if quick:
        threads, rounds = threads[-1:], 1
    if not patched:
        rec.warnings.append(
            f"{exe} does not read GGML_N_THREADS (not built by scripts/build_llama_cpp.sh): timed on "
            f"{threads[0]} thread(s), half the CPUs it sees"
        )
    regex = (
        f"type_a=({'|'.join(types)}),type_b=f32,m={KERNEL_M},n=({'|'.join(map(str, tokens))}),"
        f"k={KERNEL_K},bs=\\[1,1\\],nr=\\[1,1\\]"
    )
    cmd = [str(exe), "perf", "-b", "CPU", "-o", "MUL_MAT", "-p", regex]
    rec.common["command"] = " ".join(cmd[:-1]) + f" '{regex}'"
    e = EXPERT_SHAPE
    id_regex = (
        f"type_a=({'|'.join(EXPERT_TYPES)}),type_b=f32,n_mats={e['n_mats']},n_used={e['n_used']},b=0,"
        f"m={e['m']},n=512,k={e['k']},"
    )
    id_cmd = [str(exe), "perf", "-b", "CPU", "-o", "MUL_MAT_ID", "-p", id_regex]
    for t in _progress(threads, "llama.cpp MUL_MAT", progress):
        times: dict[tuple[str, str, int], list[float]] = {}  # (op, type, n tokens) -> seconds
        for _ in range(rounds):
            for c in [cmd] if quick else [cmd, id_cmd]:
                found = _perf(rec, exe, c, t)
                if found is None:
                    if c is cmd:  # without the dense kernels the bench has nothing to go on
                        return
                    continue
                for (op, typ, m, n, k), us in found.items():
                    if (op, m, k) in (("MUL_MAT", KERNEL_M, KERNEL_K), ("MUL_MAT_ID", e["m"], e["k"])):
                        times.setdefault((op, typ, n), []).append(us * 1e-6)
        for (op, typ, n), secs in sorted(times.items()):
            best, spread = min(secs), 1.0 - min(secs) / max(secs)
            rec.busy(f"llama.cpp {op} {typ} n={n} on {t} threads", spread)
            if op == "MUL_MAT":
                kind, shape = ("gemv" if n == 1 else "gemm"), f"M={n} N={KERNEL_M} K={KERNEL_K}"
                flops, w_bytes = 2.0 * n * KERNEL_M * KERNEL_K, TYPE_BYTES[typ] * KERNEL_M * KERNEL_K
                act, what = 4.0 * n * (KERNEL_K + KERNEL_M), "MUL_MAT"
            else:
                kind = "gemm"
                shape = f"M={n} N={e['m']} K={e['k']} experts={e['n_mats']} used={e['n_used']}"
                flops = 2.0 * n * e["n_used"] * e["m"] * e["k"]
                w_bytes = TYPE_BYTES[typ] * e["n_mats"] * e["m"] * e["k"]
                act = 4.0 * n * e["n_used"] * (e["k"] + e["m"])
                rows = n * e["n_used"] // e["n_mats"]
                what = f"MUL_MAT_ID (routed experts, {rows} rows per expert on average)"
            rec.add(
                kind,
                typ,
                f"{shape} threads={t}",
                w_bytes + act,
                best,
                len(secs),
                flops=flops,
                nbytes=w_bytes + act,
                notes=f"llama.cpp test-backend-ops perf {what} on {t} thread(s), each run the mean over "
                f">= 1 s; " + _spread_note(spread, len(secs)),
            )


def _perf(
    rec: Recorder, exe: Path, cmd: list[str], threads: int
) -> dict[tuple[str, str, int, int, int], float] | None:
    """One test-backend-ops perf run on `threads` threads: its timings (parse_perf), or None with a
    warning saying why there are none."""
    try:
        run = subprocess.run(
            cmd,
            env={**os.environ, "GGML_N_THREADS": str(threads)},
            capture_output=True,
            text=True,
            timeout=900,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        rec.warnings.append(f"{exe} could not run ({exc}): llama.cpp kernels not measured")
        return None
    found = parse_perf(run.stdout)
    if run.returncode != 0 or not found:
        tail = (run.stderr or run.stdout).strip().splitlines()[-1:] or ["no output"]
        rec.warnings.append(f"{exe} gave no {cmd[5]} timings (exit {run.returncode}: {tail[0][:200]})")
        return None
    return found


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


#: Rounds of the int8 microkernel (each ~0.3 s): its all-thread figure is the one most exposed to a
#: neighbour taking a core of a small VM, and it is cheap to repeat.
INT8_ROUNDS = 5


def int8_microkernel(
    rec: Recorder, quick: bool = False, progress: bool | Steps = True, rounds: int = INT8_ROUNDS
) -> None:
    """Time int8dot.c compiled here for this CPU, per thread count: ggml's Q8_0 x Q8_0 block dot
    product as a mat-vec product (decode's kernel) and the tiled inner loop of its prefill GEMMs
    (the int8 rate the spec takes as its peak), weights L2-resident; skipped with a warning when no
    C compiler works."""
    cc = _compiler()
    threads = thread_counts()[-1:] if quick else thread_counts()
    if quick:
        rounds = 1
    if cc is None:
        rec.warnings.append(
            "no C compiler (cc, gcc, clang; or $CC): the int8 dot-product microkernel is skipped"
        )
        for _ in _progress(threads, "int8 microkernel (skipped)", progress):
            pass
        return
    src = Path(__file__).with_name("int8dot.c")
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "int8dot"
        built = None
        for flags in (["-O3", "-march=native"], ["-O3"]):
            r = subprocess.run(
                [cc, *flags, "-pthread", str(src), "-o", str(exe)], capture_output=True, text=True
            )
            if r.returncode == 0:
                built = flags
                break
        if built is None:
            rec.warnings.append(f"{cc} could not compile {src.name}: the int8 microkernel is skipped")
            return
        rec.common["command"] = f"{cc} {' '.join(built)} -pthread int8dot.c && int8dot THREADS PASSES COLS"

        def once(t: int, passes: int, cols: int) -> dict[str, str]:
            out = subprocess.run(
                [str(exe), str(t), str(passes), str(cols)], capture_output=True, text=True, timeout=300
            )
            return dict(kv.split("=", 1) for kv in out.stdout.split() if "=" in kv)

        modes = (  # cols, kind, dtype
            # cols 1: ggml's Q8_0 mat-vec dot product (decode); cols 4: the tiled inner loop of its
            # prefill GEMMs (Q4 nibbles as unsigned bytes, each weight vector multiplied with 4
            # activation rows while in a register): the int8 rate a tiled kernel approaches
            (1, "gemv", "q8_0"),
            (4, "gemm", "q4_0"),
        )
        for t in _progress(threads, "int8 microkernel", progress):
            passes = {}
            for cols, _, _ in modes:
                probe = once(t, 200, cols)  # warm-up, and how many passes fill ~0.3 s
                passes[cols] = max(200, int(200 * 0.3 / max(float(probe["seconds"]), 1e-6)))
            # the two modes' rounds alternate, so each mode's rounds are spread over twice the time
            # and a busy stretch of the machine is less likely to cover all of them
            runs: dict[int, list[dict[str, str]]] = {cols: [] for cols, _, _ in modes}
            for _ in range(rounds):
                for cols, _, _ in modes:
                    runs[cols].append(once(t, passes[cols], cols))
            for cols, kind, dtype in modes:
                # per pass, in each round's fastest chunk (all threads on their cores at once)
                secs = [float(r["best_chunk_seconds"]) / int(r["chunk_passes"]) for r in runs[cols]]
                best, spread = min(secs), 1.0 - min(secs) / max(secs)
                rec.busy(f"int8 microkernel ({kind}) on {t} threads", spread)
                first = runs[cols][0]
                rows, k = int(first["rows"]), int(first["k"])
                w_bytes = rows * k * (36 / 32 if cols == 1 else 1.0)
                what = (
                    "ggml's Q8_0 dot product, weights in L2"
                    if cols == 1
                    else "the tiled GEMM inner loop, 4 activation rows per weight vector, weights in L2"
                )
                rec.add(
                    kind,
                    dtype,
                    f"M={cols} N={rows} K={k} threads={t}",
                    w_bytes,
                    best,
                    rounds,
                    flops=2.0 * rows * k * cols,
                    nbytes=w_bytes,
                    notes=f"int8dot.c ({first['isa']}): {what}; fastest of "
                    f"{int(first['passes']) // int(first['chunk_passes'])} chunks per round; "
                    + _spread_note(spread, rounds),
                )


def kernel_steps(quick: bool) -> int:
    """Steps kernel_benchmarks takes: one per thread count."""
    return 1 if quick else len(thread_counts())


def kernel_benchmarks(
    device: str,
    source: str,
    llama_cpp_bin: str | Path | None = None,
    quick: bool = False,
    progress: bool | Steps = True,
) -> Recorder:
    """The quantized dot-product kernels llama.cpp runs: its own MUL_MAT with a build, else the
    compiled microkernel. Returns their rows and warnings (what was skipped, a busy machine)."""
    exe, why = find_test_backend_ops(llama_cpp_bin)
    if exe is not None:
        info = exe.parent.parent / "BUILD-INFO"
        version = info.read_text().splitlines()[0] if info.is_file() else str(exe)
        rec = Recorder(device, "llama.cpp test-backend-ops", version, "CPU", source)
        llama_cpp_kernels(rec, exe, quick, progress)
        if rec.rows:
            return rec
        warnings = rec.warnings
    else:
        warnings = [why]
    rec = Recorder(device, "int8dot.c", "1", "CPU", source)
    rec.warnings += warnings + ["the quantized-kernel figures come from the int8 microkernel instead"]
    int8_microkernel(rec, quick, progress)
    return rec


def _torch() -> Any:
    try:
        import torch

        return torch
    except ImportError:
        return None


def cuda_benchmarks(rec: Recorder, quick: bool = False, progress: bool | Steps = True) -> None:
    import torch

    dev = torch.device("cuda")
    props = torch.cuda.get_device_properties(dev)
    l2 = getattr(props, "L2_cache_size", 50 * 2**20)

    def timed(fn: Callable[[], Any], reps: int = 20) -> float:
        fn()
        torch.cuda.synchronize()
        best = float("inf")
        for _ in range(3):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(reps):
                fn()
            end.record()
            end.synchronize()
            best = min(best, start.elapsed_time(end) / 1e3 / reps)
        return best

    for n_bytes in _progress(
        [int(s) for s in np.geomspace(2**20, 2**32 if not quick else 2**28, 13)], "copy", progress
    ):
        a = torch.empty(n_bytes // 2, dtype=torch.bfloat16, device=dev)
        b = torch.empty_like(a)
        t = timed(lambda: b.copy_(a))
        rec.add("stream-copy", "bf16", f"bytes={n_bytes}", 2 * n_bytes, t, 20, nbytes=2 * n_bytes)
    for _ in _step(progress, "host to device"):
        host = torch.empty(2**28, dtype=torch.uint8, pin_memory=True)
        gpu = torch.empty(2**28, dtype=torch.uint8, device=dev)
        t = timed(lambda: gpu.copy_(host, non_blocking=True), reps=5)
        rec.add("copy-h2d", "u8", "bytes=268435456 pinned", 2**28, t, 5, nbytes=2**28)
    shapes = [(4096, 4096), (8192, 8192), (14336, 4096), (4096, 14336), (1024, 2048)]
    ms = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    for n_out, k in _progress(shapes if not quick else shapes[:2], "gemv/gemm", progress):
        n_buf = max(2, int(np.ceil(4 * l2 / (n_out * k * 2))))
        ws = [torch.randn(n_out, k, dtype=torch.bfloat16, device=dev) for _ in range(n_buf)]
        for m in ms:
            x = torch.randn(m, k, dtype=torch.bfloat16, device=dev)
            state = {"i": 0}

            def step() -> None:
                state["i"] = (state["i"] + 1) % n_buf
                torch.nn.functional.linear(x, ws[state["i"]])

            t = timed(step)
            rec.add(
                "gemv" if m == 1 else "gemm",
                "bf16",
                f"M={m} N={n_out} K={k}",
                2 * (n_out * k + m * k),
                t,
                20,
                flops=2.0 * m * n_out * k,
                nbytes=2.0 * (n_out * k + m * k + m * n_out),
                notes=f"weights rotated over {n_buf} buffers (> 4x L2)",
            )
    tiny = torch.zeros(1, device=dev)
    for _ in _step(progress, "launch, eager"):
        t = timed(lambda: tiny.add_(1.0), reps=1000)
        rec.add(
            "launch",
            "fp32",
            "1-element add_, eager",
            4,
            t,
            1000,
            notes="per-kernel time launching back to back",
        )
    for _ in _step(progress, "launch, CUDA graph"):
        _graph_launch(rec, timed, tiny)
    _moe_cuda(rec, timed, quick, progress)


def _graph_launch(rec: Recorder, timed: Callable[..., float], tiny: Any) -> None:
    import torch

    g = torch.cuda.CUDAGraph()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            tiny.add_(1.0)
    torch.cuda.current_stream().wait_stream(s)
    with torch.cuda.graph(g):
        for _ in range(100):
            tiny.add_(1.0)
    t = timed(g.replay, reps=20) / 100
    rec.add(
        "launch-graph",
        "fp32",
        "1-element add_ x100 in a CUDA graph",
        4,
        t,
        2000,
        notes="per-kernel time inside a replayed CUDA graph",
    )


def _moe_cuda(
    rec: Recorder, timed: Callable[..., float], quick: bool, progress: bool | Steps = False
) -> None:
    import torch

    dev = torch.device("cuda")
    for e, k, d, de in ((64, 8, 2048, 1024), (128, 8, 2048, 768)):
        for _ in _step(progress, f"moe weights, {e} experts"):
            wg = torch.randn(e, de, d, dtype=torch.bfloat16, device=dev)
            wu = torch.randn(e, de, d, dtype=torch.bfloat16, device=dev)
            wd = torch.randn(e, d, de, dtype=torch.bfloat16, device=dev)
            dg = torch.randn(k * de, d, dtype=torch.bfloat16, device=dev)
            du = torch.randn(k * de, d, dtype=torch.bfloat16, device=dev)
            dd = torch.randn(d, k * de, dtype=torch.bfloat16, device=dev)
        for n in _progress([1, 16, 128, 512] if not quick else [1, 16], f"moe, {e} experts", progress):
            x = torch.randn(n, d, dtype=torch.bfloat16, device=dev)
            choice = torch.stack([torch.randperm(e, device=dev)[:k] for _ in range(n)])
            touched = int(torch.unique(choice).numel())
            experts = torch.unique(choice).tolist()
            rows_of = {ex: torch.nonzero((choice == ex).any(dim=1)).flatten() for ex in experts}

            def per_expert() -> None:
                out = torch.zeros_like(x)
                for ex in experts:
                    rows = rows_of[ex]
                    h = x.index_select(0, rows)
                    a = torch.nn.functional.silu(h @ wg[ex].T) * (h @ wu[ex].T)
                    out.index_add_(0, rows, a @ wd[ex].T)

            def dense() -> None:
                torch.nn.functional.silu(x @ dg.T) * (x @ du.T) @ dd.T

            flops = 2.0 * n * k * 3 * d * de
            t = timed(per_expert, reps=5)
            rec.add(
                "moe-dispatch",
                "bf16",
                f"N={n} E={e} k={k} d={d} de={de} touched={touched}",
                touched * 3 * d * de * 2,
                t,
                5,
                flops=flops,
                nbytes=touched * 3 * d * de * 2,
                notes="torch eager: one gather/matmul/scatter group per touched expert (per-expert dispatch)",
            )
            t = timed(dense, reps=20)
            rec.add(
                "dense-ffn",
                "bf16",
                f"N={n} d={d} width={k * de}",
                3 * d * k * de * 2,
                t,
                20,
                flops=flops,
                nbytes=3 * d * k * de * 2,
                notes="dense FFN of the MoE's active width",
            )


def write(rows: list[dict[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(COLUMNS))
        w.writeheader()
        w.writerows(rows)


def _row_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["harness"], row["kind"], row["dtype"], row["shape"], row["working_set_bytes"])


def fastest_passes(
    passes: list[list[dict[str, Any]]],
) -> tuple[list[dict[str, Any]], list[tuple[str, float]]]:
    """Merge whole-bench passes: each measurement keeps its fastest pass (a neighbour on a shared
    machine only ever slows a measurement down), in the first pass's order, its notes saying so. Also
    returns each measurement's spread between passes (1 - fastest / slowest)."""
    if len(passes) == 1:
        return passes[0], []
    by_key: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for rows in passes:
        for row in rows:
            by_key.setdefault(_row_key(row), []).append(row)
    merged, spreads = [], []
    for row in passes[0]:
        seen = by_key[_row_key(row)]
        best = min(seen, key=lambda r: r["seconds"])
        spread = 1.0 - best["seconds"] / max(r["seconds"] for r in seen)
        spreads.append((f"{row['harness']} {row['kind']} {row['dtype']} {row['shape']}", spread))
        each = "/".join(f"{r['seconds']:.4g}" for r in seen)
        merged.append(
            {
                **best,
                "notes": f"{best['notes']}; fastest of {len(seen)} passes, spread {100 * spread:.0f} % "
                f"(seconds per pass: {each})",
            }
        )
    return merged, spreads


def _pass_warning(spreads: list[tuple[str, float]], passes: int) -> list[str]:
    return _busy_warning(
        spreads,
        "measurements",
        f"the {passes} passes",
        "each keeps its fastest pass; if a figure matters, rerun with more --passes when the machine "
        "is quieter",
    )


def run(
    device_name: str,
    out_dir: Path,
    quick: bool = False,
    cuda: bool | None = None,
    progress: bool = True,
    source: str | None = None,
    llama_cpp_bin: str | Path | None = None,
    warnings: list[str] | None = None,
    passes: int = 1,
) -> list[Path]:
    """Run the bench and write its traces; what it skipped and the signs of a busy machine are
    appended to `warnings`. With `passes` > 1 the CPU bench runs that many times in a row and each
    measurement keeps its fastest pass: on a shared VM a neighbour's burst of load lasts seconds to
    minutes, longer than one measurement's rounds, so only passes minutes apart see past it."""
    if passes < 1:
        raise ValueError(f"passes must be at least 1, got {passes}")
    written = []
    # traced_host reads this back: a spec made from the trace elsewhere describes this machine
    cpu_source = source or f"measured here: {this_host().describe()}"
    torch = _torch()
    on_gpu = cuda is not False and torch is not None and torch.cuda.is_available()
    total = passes * (cpu_steps(quick) + kernel_steps(quick)) + (cuda_steps(quick) if on_gpu else 0)
    steps = Steps(total) if progress else False
    try:
        runs, notes = [], []
        for _ in range(passes):
            rec = Recorder(device_name, "numpy", np.__version__, "CPU", cpu_source)
            cpu_benchmarks(rec, quick, steps)
            krec = kernel_benchmarks(device_name, cpu_source, llama_cpp_bin, quick, steps)
            runs.append(rec.rows + krec.rows)
            notes = rec.warnings + krec.warnings  # what was skipped: the same every pass
            if passes == 1:
                notes += rec.busy_warning() + krec.busy_warning()
        rows, spreads = fastest_passes(runs)
        if warnings is not None:
            warnings += notes + _pass_warning(spreads, passes)
        p = out_dir / f"{device_name}.micro.csv"
        write(rows, p)
        written.append(p)
        if on_gpu:
            written.append(_run_cuda(device_name, out_dir, quick, cuda, source, steps))
    finally:
        if isinstance(steps, Steps):
            steps.close()
    return written


def _run_cuda(
    device_name: str, out_dir: Path, quick: bool, cuda: bool | None, source: str | None, steps: bool | Steps
) -> Path:
    torch = _torch()
    name = torch.cuda.get_device_name(0)
    grec = Recorder(
        device_name if cuda else f"{device_name}-gpu",
        "torch-cuda",
        torch.__version__,
        "CUDA",
        source or f"measured here: {name}",
    )
    cuda_benchmarks(grec, quick, steps)
    p = out_dir / f"{grec.common['device']}.micro.csv"
    write(grec.rows, p)
    return p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device-name", default=platform.node() or "this-machine")
    ap.add_argument("--out", default="validation/traces")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--cuda-only", action="store_true")
    ap.add_argument("--llama-cpp-bin", default=None, help="llama.cpp bin directory with test-backend-ops")
    args = ap.parse_args()
    if args.cuda_only:
        import torch

        rec = Recorder(
            args.device_name,
            "torch-cuda",
            torch.__version__,
            "CUDA",
            f"measured here: {torch.cuda.get_device_name(0)}",
        )
        cuda_benchmarks(rec, args.quick, True)
        path = Path(args.out) / f"{args.device_name}.micro.csv"
        write(rec.rows, path)
        print(f"wrote {path} ({len(rec.rows)} rows)")
        return
    warnings: list[str] = []
    for p in run(
        args.device_name, Path(args.out), args.quick, llama_cpp_bin=args.llama_cpp_bin, warnings=warnings
    ):
        print(f"wrote {p}")
    for w in warnings:
        print(f"WARNING: {w}")


if __name__ == "__main__":
    main()
