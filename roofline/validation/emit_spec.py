"""Write a hardware spec for the machine a microbenchmark trace was measured on, every figure
sourced to that trace: bandwidth of each cache level and of main memory (the best streaming rate
whose working set sits in that level), peak FLOP/s per dtype (the best GEMM), dispatch latency, and
the int8 peak: the best rate of the quantized dot-product kernels llama.cpp runs on a CPU (its own
MUL_MAT on Q4_K/Q8_0 weights, or the int8dot.c microkernel)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from roofline.specs.hardware import PRECISIONS
from roofline.traces.files import MicroRow
from roofline.validation.bench import QUANTIZED, meminfo_bytes, traced_host


def _rate(r: MicroRow) -> float:
    return r.bytes / r.seconds


#: Harnesses whose rows time numpy/torch (bandwidth, float GEMM); the others time quantized kernels.
FLOAT_HARNESSES = ("numpy", "torch", "torch-cuda")


def _routed(r: MicroRow) -> bool:
    """Whether a kernel row times llama.cpp's routed-expert MUL_MAT_ID (the bench writes its expert
    count into the shape)."""
    return "experts=" in r.shape


def _threads(r: MicroRow) -> int:
    hit = re.search(r"threads=(\d+)", r.shape)
    return int(hit.group(1)) if hit else 0


def int8_peak(rows: list[MicroRow]) -> tuple[float, MicroRow] | None:
    """The best FLOP/s of the quantized dot-product kernels (Q4_K/Q8_0 weights, Q8 activations) over
    the shapes and thread counts measured, with its row; None when the trace has none. Any thread
    count: on a busy machine ggml's spinning barriers can make all threads slower than one, and the
    best rate measured is still a lower bound on what the machine does."""
    quant = [r for r in rows if r.dtype in QUANTIZED and r.flops > 0 and r.seconds > 0 and not _routed(r)]
    if not quant:
        return None
    best = max(quant, key=lambda r: (r.flops / r.seconds, _threads(r)))
    return best.flops / best.seconds, best


#: Weight types llama.cpp's CPU back-end repacks into interleaved blocks when it loads a model, per
#: instruction set (vendored llama.cpp 0c1e570, ggml-cpu/repack.cpp ggml_repack_get_optimal_repack_type:
#: AVX2 Q4_0/Q4_K/IQ4_NL/MXFP4, AVX-512 also Q2_K; Arm NEON dotprod Q4_0/Q4_K/Q5_K/Q6_K/IQ4_NL/MXFP4/Q8_0).
#: test-backend-ops allocates its weights in the plain CPU buffer, so it times these types' unrepacked
#: kernels; a repacked MUL_MAT_ID runs one gemv per routed row (repack.cpp forward_mul_mat_id) instead.
#: So a MUL_MAT_ID rate goes into the spec only for types that llama-bench runs unrepacked; a repacked
#: type's expert rate is its mat-vec MUL_MAT rate (n = 1), the per-row gemv's nearest timed kernel.
REPACKED = {
    "x86-64": frozenset({"Q4_0", "Q4_K", "IQ4_NL", "MXFP4", "Q2_K"}),
    "arm64": frozenset({"Q4_0", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "MXFP4", "Q8_0"}),
}
#: test-backend-ops' type names of the quantized kernels -> the weight type names of the specs
GGUF_NAMES = {"q4_K": "Q4_K", "q8_0": "Q8_0", "q4_0": "Q4_0", "q6_K": "Q6_K"}


def gemm_rates(kernels: list[MicroRow], experts: bool = False) -> dict[str, tuple[float, MicroRow]]:
    """llama.cpp's own tiled GEMM rate per quantized weight type (its GGUF name: q4_K -> Q4_K), with
    its row: test-backend-ops MUL_MAT at the prefill micro-batch, all at the thread count of the
    fastest (the int8 peak's), so that their ratios are one machine state's (Processor.gemm_rates).
    With `experts`, its MUL_MAT_ID rates instead (routed experts at a prefill micro-batch,
    Processor.expert_gemm_rates). Empty where the trace has no such rows (no llama.cpp build:
    int8dot.c times one kernel only; traces before 2026-12-02 09:00 have no MUL_MAT_ID)."""
    tiled = [
        r
        for r in kernels
        if r.harness == "llama.cpp test-backend-ops"
        and r.kind == "gemm"
        and r.dtype in QUANTIZED
        and r.flops > 0
        and r.seconds > 0
    ]
    dense = [r for r in tiled if not _routed(r)]
    if not dense:
        return {}
    best = max(dense, key=lambda r: r.flops / r.seconds)
    same = [
        r
        for r in tiled
        if _threads(r) == _threads(best)
        and _routed(r) == experts
        and (experts or r.shape.split()[:3] == best.shape.split()[:3])
    ]
    out: dict[str, tuple[float, MicroRow]] = {}
    for r in same:
        name = GGUF_NAMES[r.dtype]
        rate = r.flops / r.seconds
        if name not in out or rate > out[name][0]:
            out[name] = (rate, r)
    return out


def expert_rates(kernels: list[MicroRow], isa: str | None) -> dict[str, tuple[float, MicroRow, str]]:
    """Per weight type, the rate llama-bench's routed experts run at on the traced machine, with the row
    it comes from and what that row timed (Processor.expert_gemm_rates): MUL_MAT_ID for the types
    llama.cpp leaves unrepacked on `isa`; for a repacked type (one gemv per routed row) the same type's
    mat-vec MUL_MAT (n = 1) at the same thread count, the nearest kernel timed (unrepacked, its weights
    in the last-level cache where an expert's sit in L2: a lower bound on the repacked gemv's rate).
    Empty for an unknown instruction set or a trace without MUL_MAT_ID rows."""
    repacked = REPACKED.get(isa or "")
    if repacked is None:
        return {}
    out = {}
    for t, (rate, row) in gemm_rates(kernels, experts=True).items():
        if t not in repacked:
            out[t] = (rate, row, "MUL_MAT_ID")
            continue
        gemv = [
            r
            for r in kernels
            if r.harness == "llama.cpp test-backend-ops"
            and r.kind == "gemv"
            and r.dtype == row.dtype
            and _threads(r) == _threads(row)
            and r.seconds > 0
        ]
        if gemv:
            best = max(gemv, key=lambda r: r.flops / r.seconds)
            out[t] = (best.flops / best.seconds, best, "per-row gemv of repacked experts: MUL_MAT")
    return out


#: platform.machine() names (recorded by the bench since 2026-12-02), int8dot.c's instruction-set
#: names (its `isa=`, in the trace's notes) and the CPU names whose instruction set they tell.
_ARCHES = {"x86_64": "x86-64", "amd64": "x86-64", "aarch64": "arm64", "arm64": "arm64"}
_X86_KERNELS = ("avx512-vnni", "avx-vnni", "avx2")
_X86_NAMES = ("intel", "amd", "xeon", "epyc", "ryzen", "opteron", "pentium", "celeron")
_ARM_NAMES = ("apple", "neoverse", "cortex", "arm", "ampere", "graviton")


def trace_isa(kernels: list[MicroRow], cpu: str, arch: str = "") -> str | None:
    """The traced machine's instruction set (Processor.isa): from its recorded architecture, else
    (older traces) from the int8 microkernel's build where it ran, else from the CPU's name; None
    where none tells."""
    if arch.lower() in _ARCHES:
        return _ARCHES[arch.lower()]
    for r in kernels:
        if r.harness.startswith("int8dot") and any(f"({k})" in r.notes for k in _X86_KERNELS):
            return "x86-64"
    words = set(re.findall(r"[a-z0-9]+", cpu.lower()))
    if words & set(_X86_NAMES):
        return "x86-64"
    if words & set(_ARM_NAMES):
        return "arm64"
    return None


def spec_from_trace(rows: list[MicroRow], device_id: str, trace_path: str) -> dict[str, Any]:
    src = f"measured: {trace_path}"
    kernels = [r for r in rows if r.harness not in FLOAT_HARNESSES]
    host = traced_host([r.source for r in rows])
    caches = host.caches
    memory, memory_source = host.memory, "/proc/meminfo MemTotal"
    if not memory:
        memory, memory_source = (
            meminfo_bytes(),
            "/proc/meminfo MemTotal of the machine that wrote the spec (the trace has none)",
        )
    rows = [r for r in rows if r.harness in FLOAT_HARNESSES]
    stream = [r for r in rows if r.kind in ("stream-read", "stream-copy", "stream-triad") and r.bytes > 0]
    if not stream:
        raise ValueError("the trace has no streaming-bandwidth rows")
    llc = max(caches.values(), default=0)
    # Main memory's bandwidth is read off the matrix-vector product over the largest weights (8x the
    # last-level cache): BLAS runs it on all threads and it only reads, the access pattern of
    # llama.cpp's decode, and the larger its weights the less of them a big host cache the VM does
    # not report can hold. numpy's streaming kernels run on one thread, and the triad's traffic
    # depends on write-allocate (4 to 6 arrays' worth for its two passes); they are the fallback.
    big = [r for r in rows if r.working_set_bytes >= 4 * llc and r.bytes > 0]
    gemv = [r for r in big if r.kind == "gemv"]
    streamed = [r for r in big if r.kind in ("stream-read", "stream-copy", "stream-triad")]
    if gemv:
        largest = max(r.working_set_bytes for r in gemv)
        main_bw = max(_rate(r) for r in gemv if r.working_set_bytes == largest)
        bw_source = f"GEMV over {largest / 2**20:.0f} MiB of weights on all threads"
    elif streamed:
        main_bw = max(_rate(r) for r in streamed)
        bw_source = "best streaming rate with a working set >= 4x the last-level cache"
    else:
        main_bw = max(_rate(r) for r in stream)
        bw_source = "best streaming rate (no working set reached 4x the last-level cache)"
    levels = []
    prev = 0
    for name, cap in sorted(caches.items(), key=lambda kv: kv[1]):
        inside = [r for r in stream if prev / 2 < r.working_set_bytes <= cap / 2 and r.kind == "stream-read"]
        if inside:
            levels.append(
                {
                    "name": f"{name} (per core, as the VM reports it)",
                    "capacity": {
                        "value": f"{cap / 1024:.0f} KiB",
                        "source": "/sys/devices/system/cpu/cpu0/cache",
                    },
                    "bandwidth": {"value": f"{max(_rate(r) for r in inside) / 1e9:.1f} GB/s", "source": src},
                }
            )
        prev = cap
    gemm = [r for r in rows if r.kind in ("gemm", "gemv") and r.flops > 0]
    peaks: dict[str, Any] = {}
    for dt in sorted({r.dtype for r in gemm} & set(PRECISIONS)):
        best = max(r.flops / r.seconds for r in gemm if r.dtype == dt)
        peaks[dt] = {
            "value": f"{best / 1e9:.1f} GFLOPS",
            "source": f"{src} (best GEMM: a lower bound on peak)",
        }
    found = int8_peak(kernels)
    if found is not None:
        rate, row = found
        peaks["int8"] = {
            "value": f"{rate / 1e9:.1f} GFLOPS",
            "source": f"{src} (best quantized dot-product kernel measured: {row.harness} "
            f"{row.dtype} {row.shape}; a lower bound on peak)",
        }
    rates = gemm_rates(kernels)
    isa = trace_isa(kernels, host.cpu, host.arch)
    experts = expert_rates(kernels, isa)
    launch = [r.seconds for r in rows if r.kind == "launch"]
    proc: dict[str, Any] = {
        "name": f"{host.cpu} ({host.cpus} vCPU)",
        "kind": "cpu",
        "vector": peaks,
        "caches": list(reversed(levels)),
    }
    if rates:
        proc["gemm_rates"] = {
            t: {
                "value": f"{rate / 1e9:.1f} GFLOPS",
                "source": f"{src} (llama.cpp test-backend-ops MUL_MAT {row.dtype} {row.shape})",
            }
            for t, (rate, row) in sorted(rates.items())
        }
    if experts:
        proc["expert_gemm_rates"] = {
            t: {
                "value": f"{rate / 1e9:.1f} GFLOPS",
                "source": f"{src} (llama.cpp test-backend-ops {what} {row.dtype} {row.shape})",
            }
            for t, (rate, row, what) in sorted(experts.items())
        }
    if isa is not None:
        proc["isa"] = isa
    if launch:
        proc["launch_latency"] = {
            "value": f"{min(launch) * 1e6:.2f} us",
            "source": f"{src} (numpy ufunc dispatch)",
        }
    return {
        "id": device_id,
        "name": f"{host.cpu}, {host.cpus} vCPU virtual machine",
        "kind": "cpu",
        "notes": "Emitted by `roofline bench --emit-spec` from a measured trace. A VM hides the host's "
        "socket layout, DIMM population, clocks and power; cache sizes are what the VM reports.",
        "memory": [
            {
                "name": "main memory (as the VM sees it)",
                "capacity": {"value": f"{memory / 2**30:.1f} GiB", "source": memory_source},
                "usable_capacity": {
                    "value": f"{0.8 * memory / 2**30:.1f} GiB",
                    "estimated": True,
                    "reason": "80 % of MemTotal, leaving the rest to the OS and page cache",
                },
                "bandwidth": {
                    "value": f"{main_bw / 1e9:.1f} GB/s",
                    "source": f"{src} ({bw_source})",
                },
            }
        ],
        "processors": [proc],
        "power": {
            "mode": "unknown (virtual machine)",
            "max": {
                "value": "100 W",
                "estimated": True,
                "reason": "a VM exposes no power figures; placeholder so energy can be computed",
            },
        },
        "default_engine": "llama.cpp-cpu",
    }


def write_spec(rows: list[MicroRow], device_id: str, trace_path: str, out: Path) -> None:
    out.write_text(yaml.safe_dump(spec_from_trace(rows, device_id, trace_path), sort_keys=False, width=110))


#: This machine's own llama-bench runs of bundled models (2 threads, depths 0 and 2048): the held-out
#: answer an emitted spec of it is checked against (they fit nothing).
#: this machine's llama-bench runs measured right after the bench-quiet runs (its speed drifts 2-4x
#: over days on a shared VM, so an older sweep cannot score today's spec)
HELD_OUT_RUNS = ("validation/traces/sandbox-epyc-2vcpu.quiet.llama.cpp.e2e.csv",)
#: The same check on a 2-vCPU Xeon VM the repository had never seen, with the current bench (each
#: figure the fastest of 3 passes): its llama-bench runs right after three `bench --emit-spec` runs,
#: kept in their own folder, out of `roofline validate`'s top-level traces (no spec of that VM ships).
XEON_HELD_OUT = ("validation/traces/emitted-spec/sandbox-xeon-2vcpu.after-bench.llama.cpp.e2e.csv",)


def held_out_errors(device: Any, traces: list[Path], engine: Any = "llama.cpp-cpu") -> list[dict[str, Any]]:
    """Predict each measured run in `traces` on `device` (a spec path or Device) with `engine` (a
    profile name, path or EngineProfile; default the bundled CPU one), nothing fitted to the runs:
    one record per row with its phase and signed relative error (predicted / measured - 1)."""
    from roofline.api import predict
    from roofline.traces.files import read_e2e
    from roofline.validation.calibrate import row_workload

    out = []
    for path in traces:
        for r in read_e2e(path):
            w = row_workload(r)
            got = predict(
                device, r.model, w, engine=engine, quant=r.quant, kv_dtype=r.kv_dtype
            ).tokens_per_second
            out.append(
                {
                    "model": r.model,
                    "quant": r.quant,
                    "test": r.test,
                    "depth": r.depth,
                    "phase": "decode" if r.test.startswith("tg") else "prefill",
                    "measured": r.tokens_per_s,
                    "predicted": got,
                    "error": got / r.tokens_per_s - 1,
                }
            )
    return out
