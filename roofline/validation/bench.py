"""Microbenchmarks of the machine this runs on: memory bandwidth by working-set size, GEMV/GEMM
throughput by shape and dtype, per-call dispatch overhead, and an MoE layer against a dense FFN of
the same active width. CPU with numpy (and torch when installed); a CUDA GPU with torch when one is
present (CUDA events, weight buffers rotated through more than the L2, eager vs CUDA-graph launch).

Runs standalone (`python -m roofline.validation.bench`), importing only numpy, tqdm and torch, so it
also works on a machine without the rest of the package's dependencies; `roofline bench` wraps it.
Each call's time is the best of several repetitions (the machine may be shared).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import platform
import time
from collections.abc import Callable
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
                t, r = _best(lambda: x @ w)
                kind = "gemv" if m == 1 else "gemm"
                rec.add(
                    kind,
                    name,
                    f"M={m} N={n_out} K={k}",
                    w.nbytes + x.nbytes,
                    t,
                    r,
                    flops=2.0 * m * n_out * k,
                    nbytes=w.nbytes + x.nbytes + m * n_out * w.itemsize,
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
        t, r = _best(lambda: x @ w)
        rec.add(
            "gemv",
            "fp32",
            f"M=1 N={n_big} K={k_big}",
            w.nbytes + x.nbytes,
            t,
            r,
            flops=2.0 * n_big * k_big,
            nbytes=w.nbytes + x.nbytes + 4 * n_big,
            notes=f"weights {factor}x the last-level cache: main-memory streaming on all threads",
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


def run(
    device_name: str,
    out_dir: Path,
    quick: bool = False,
    cuda: bool | None = None,
    progress: bool = True,
    source: str | None = None,
) -> list[Path]:
    written = []
    host = f"{cpu_name()}, {os.cpu_count()} CPUs visible, caches {cache_sizes()}"
    rec = Recorder(device_name, "numpy", np.__version__, "CPU", source or f"measured here: {host}")
    torch = _torch()
    on_gpu = cuda is not False and torch is not None and torch.cuda.is_available()
    steps = Steps(cpu_steps(quick) + (cuda_steps(quick) if on_gpu else 0)) if progress else False
    try:
        cpu_benchmarks(rec, quick, steps)
        p = out_dir / f"{device_name}.micro.csv"
        write(rec.rows, p)
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
    for p in run(args.device_name, Path(args.out), args.quick):
        print(f"wrote {p}")


if __name__ == "__main__":
    main()
