"""The CPU kernels `roofline bench` times (llama.cpp's MUL_MAT, or the int8 microkernel), the spec it
emits from them, and that spec's held-out check on this machine's own llama-bench runs (issue 15.2).

The checks use committed bench traces (three `roofline bench` runs each) of a 2-vCPU EPYC VM and of
a 2-vCPU Xeon VM, with llama-bench runs of the same VM made right after them, not a live bench;
benchmarks/bench_cpu_spec.py is the live version."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from roofline.specs.catalog import check_file
from roofline.traces.files import read_micro
from roofline.validation.bench import (
    Recorder,
    find_test_backend_ops,
    int8_microkernel,
    parse_perf,
)
from roofline.validation.emit_spec import HELD_OUT_RUNS, XEON_HELD_OUT, held_out_errors, int8_peak, write_spec

ROOT = Path(__file__).parents[1]
#: three `roofline bench` runs in a row at load ~1 (2026-12-01, the earlier protocol: the int8 figure
#: from llama.cpp's test-backend-ops), with this machine's llama-bench runs measured right after them
#: (emit_spec.HELD_OUT_RUNS); the earlier bench-run1..3 ran at load 4-6
RUNS = sorted((ROOT / "validation" / "traces").glob("sandbox-epyc-2vcpu.bench-quiet*.micro.csv"))
#: a 2-vCPU Xeon VM the repository had never seen (2026-12-02, validation/traces/emitted-spec/README.md),
#: three runs each of: the single-pass bench; `bench --emit-spec` (fastest of 3 passes) with the int8
#: microkernel's 20 chunks of ~15 ms, then the machine's llama-bench runs; the same with the current
#: 200 spin-synchronised chunks of ~1.5 ms, then llama-bench again (emit_spec.XEON_HELD_OUT)
XEON_DIR = ROOT / "validation" / "traces" / "emitted-spec"
XEON_SINGLE = sorted(XEON_DIR.glob("sandbox-xeon-2vcpu.single-pass*.micro.csv"))
XEON_COARSE = sorted(XEON_DIR.glob("sandbox-xeon-2vcpu.coarse-chunks*.micro.csv"))
XEON_PASSES = sorted(XEON_DIR.glob("sandbox-xeon-2vcpu.bench*.micro.csv"))
XEON_COARSE_HELD_OUT = (
    "validation/traces/emitted-spec/sandbox-xeon-2vcpu.after-coarse-chunks.llama.cpp.e2e.csv",
)
#: the EPYC VM type again on 2026-12-02 (a slower instance: 32-41 GB/s where the 12-01 one read
#: 49-72), three `bench --emit-spec` runs as shipped, then its llama-bench runs
#: (validation/traces/emitted-spec/README.md)
EPYC_DEC02 = sorted(XEON_DIR.glob("sandbox-epyc-2vcpu.dec02-bench*.micro.csv"))
EPYC_DEC02_HELD_OUT = (
    "validation/traces/emitted-spec/sandbox-epyc-2vcpu.dec02-after-bench.llama.cpp.e2e.csv",
)
#: the Xeon VM type on another host (480 MiB of L3 where the first read 300), later on 2026-12-02,
#: with a llama.cpp build: three `bench --emit-spec` runs that timed llama.cpp's own MUL_MAT kernels,
#: then its llama-bench runs (validation/traces/emitted-spec/README.md)
XEON_DEC02B = sorted(XEON_DIR.glob("sandbox-xeon-2vcpu.dec02b-bench*.micro.csv"))
XEON_DEC02B_HELD_OUT = (
    "validation/traces/emitted-spec/sandbox-xeon-2vcpu.dec02b-after-bench.llama.cpp.e2e.csv",
)

# test-backend-ops perf output as this build prints it (colour codes included)
PERF_OUT = (
    "Testing 1 devices\n\nBackend 1/1: CPU\n  Device description: AMD EPYC\n"
    "  MUL_MAT(type_a=q4_K,type_b=f32,m=4096,n=1,k=14336,bs=[1,1],nr=[1,1],per=[0,1,2,3],k_v=0,o=1):"
    "          134 runs -  7461.01 us/run - 117.44 MFLOP/run - \x1b[1;34m 15.74 GFLOPS\x1b[0m\n"
    "  MUL_MAT(type_a=f16,type_b=f32,m=4096,n=512,k=14336,bs=[1,1],nr=[1,1],per=[0,1,2,3],k_v=0,o=1):"
    "            2 runs - 912345.50 us/run -  60.13 GFLOP/run - \x1b[1;34m 65.91 GFLOPS\x1b[0m\n"
    "  Backend CPU: \x1b[1;32mOK\x1b[0m\n"
)


def test_parse_perf_reads_each_case():
    got = parse_perf(PERF_OUT)
    assert got == {
        ("MUL_MAT", "q4_K", 4096, 1, 14336): 7461.01,
        ("MUL_MAT", "f16", 4096, 512, 14336): 912345.50,
    }
    assert parse_perf("no timings here\n") == {}
    # a MUL_MAT_ID line as the vendored build prints it
    line = (
        "  MUL_MAT_ID(type_a=q8_0,type_b=f32,n_mats=32,n_used=4,b=0,m=1792,n=512,k=2048,amax=1.000000,"
        "m_v=0):        7 runs - 157756.00 us/run -  15.03 GFLOP/run -  95.29 GFLOPS\n"
    )
    assert parse_perf(line) == {("MUL_MAT_ID", "q8_0", 1792, 512, 2048): 157756.00}


def test_the_bench_records_llama_cpp_s_expert_kernel(tmp_path):
    """With a test-backend-ops that prints MUL_MAT and MUL_MAT_ID timings, the bench records both:
    the routed-expert rows carry their expert count in the shape and their FLOPs (2 x n x used x m x
    k), and the spec made from them lists the unrepacked types' expert rates."""
    from roofline.validation.bench import EXPERT_SHAPE, llama_cpp_kernels

    fake = tmp_path / "test-backend-ops"
    mm = "".join(
        f"  MUL_MAT(type_a={t},type_b=f32,m=4096,n={n},k=14336,bs=[1,1],nr=[1,1]): 10 runs - {us} us/run\n"
        for t, n, us in (
            ("q4_K", 1, 900.0),
            ("q4_K", 512, 120000.0),
            ("q8_0", 1, 1400.0),
            ("q8_0", 512, 300000.0),
        )
    )
    mid = "".join(
        f"  MUL_MAT_ID(type_a={t},type_b=f32,n_mats=32,n_used=4,b=0,m=1792,n=512,k=2048,amax=1.0): 5 runs - "
        f"{us} us/run\n"
        for t, us in (("q4_K", 45000.0), ("q6_K", 53000.0), ("q8_0", 150000.0))
    )
    fake.write_text(
        "#!/bin/sh\n# reads GGML_N_THREADS\n"
        f'case "$*" in *MUL_MAT_ID*) printf \'%s\' "{mid}";; *) printf \'%s\' "{mm}";; esac\n'
    )
    fake.chmod(0o755)
    rec = Recorder("t", "llama.cpp test-backend-ops", "test", "CPU", "measured here: test")
    llama_cpp_kernels(rec, fake, progress=False, rounds=1)
    experts = [r for r in rec.rows if "experts=" in r["shape"]]
    assert {r["dtype"] for r in experts} == {"q4_K", "q6_K", "q8_0"}, rec.warnings
    e = EXPERT_SHAPE
    q8 = next(r for r in experts if r["dtype"] == "q8_0")
    assert q8["flops"] == 2.0 * 512 * e["n_used"] * e["m"] * e["k"] and q8["seconds"] == pytest.approx(0.15)
    assert any(r["shape"].startswith("M=512 N=4096") for r in rec.rows)


def test_missing_build_is_said_not_raised(tmp_path):
    exe, why = find_test_backend_ops(tmp_path)
    assert exe is None and str(tmp_path) in why and "--llama-cpp-bin" in why


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler")
def test_int8_microkernel_runs_and_is_sane():
    rec = Recorder("t", "int8dot.c", "1", "CPU", "measured here: test")
    int8_microkernel(rec, quick=True, progress=False)
    assert rec.rows, rec.warnings
    gemv, gemm = rec.rows
    rates = [r["flops"] / r["seconds"] for r in (gemv, gemm)]
    # an int8 dot product on any CPU of the last 15 years: more than 1 GOP/s, less than 100 TOP/s
    assert all(1e9 < x < 1e14 for x in rates)
    assert (gemv["kind"], gemv["dtype"], gemm["kind"], gemm["dtype"]) == ("gemv", "q8_0", "gemm", "q4_0")
    assert (
        gemv["shape"].startswith("M=1 ") and gemm["shape"].startswith("M=4 ") and "threads=" in gemm["shape"]
    )
    # the tiled loop multiplies each weight vector loaded with 4 rows: it never runs slower per
    # multiply-add than the mat-vec product, which loads a weight per multiply (a noisy machine
    # can narrow the margin, not reverse it by half)
    assert rates[1] > 0.5 * rates[0]


def test_emitted_spec_takes_the_int8_peak_from_the_kernels(tmp_path):
    trace = RUNS[0]
    rows = read_micro(trace)
    rate, row = int8_peak(rows)
    assert row.dtype in ("q4_K", "q8_0") and row.harness != "numpy"
    spec = tmp_path / "box.yaml"
    write_spec(rows, "box", str(trace), spec)
    dev = check_file(spec)
    proc = dev.processors[0]
    assert proc.peak("int8") == pytest.approx(rate, rel=1e-3)
    assert str(trace) in proc.vector["int8"].source and row.shape in proc.vector["int8"].source
    # the fp32 peak is numpy's GEMM, not llama.cpp's F16 kernel
    numpy_best = max(r.flops / r.seconds for r in rows if r.harness == "numpy" and r.kind == "gemm")
    assert proc.peak("fp32") == pytest.approx(numpy_best, rel=1e-3)


def _not_met(*values, id: str, reason: str):
    """A parameter set whose target is not met: a strict xfail with the figures measured."""
    return pytest.param(*values, id=id, marks=pytest.mark.xfail(strict=True, reason=reason))


def _figures(trace: Path, tmp_path: Path) -> dict[str, float]:
    spec = tmp_path / f"{trace.stem.replace('.', '-')}.yaml"
    write_spec(read_micro(trace), spec.stem, str(trace), spec)
    dev = check_file(spec)
    proc = dev.processors[0]
    return {"main_bandwidth": dev.main_bandwidth, "int8": proc.peak("int8"), "fp32": proc.peak("fp32")}


def _spread(values: list[float]) -> float:
    return 1 - min(values) / max(values)


#: issue 15's targets for a spec from `bench --emit-spec` alone: median |error| of the machine's own
#: llama-bench rows, per phase
HELD_OUT_TARGETS = (("decode", 0.25), ("prefill", 0.35))


def _held_out(trace: Path, held_out: list[Path], tmp_path: Path, engine: Any = "llama.cpp-cpu"):
    """The spec emitted from `trace` (written under tmp_path) and its held-out errors on the 16
    llama-bench rows of `held_out` (the study's four models, Q4_K_M/Q8_0, pp512/tg128)."""
    spec = tmp_path / f"held-out-{trace.stem.replace('.', '-')}.yaml"
    write_spec(read_micro(trace), spec.stem, str(trace), spec)
    errs = held_out_errors(spec, held_out, engine=engine)
    assert len(errs) == 16
    return spec, errs


def _assert_within_targets(errs: list[dict[str, Any]], label: str) -> None:
    for phase, limit in HELD_OUT_TARGETS:
        e = [abs(x["error"]) for x in errs if x["phase"] == phase]
        assert np.median(e) <= limit, (label, phase, sorted(e))


@pytest.mark.xfail(
    strict=True,
    reason="not met (2026-12-01, load ~1): main-memory bandwidth drifted 55 -> 66 -> 72 GB/s over three "
    "runs two minutes apart while each run's back-to-back rounds agreed within 1-6 %: the busy warning "
    "sees only the spread inside a run, not drift between runs",
)
def test_busy_rounds_are_flagged_where_runs_disagree(tmp_path):
    """Where the three committed runs disagree by more than 10 % on a figure, the bench flagged the
    rows that figure comes from in at least one run (its rounds differed by more than 10 %): the
    warning says so when a spec's figures are not to be trusted."""
    assert len(RUNS) == 3
    figs = [_figures(t, tmp_path) for t in RUNS]
    source_rows = {
        "main_bandwidth": lambda r: r.harness == "numpy" and "main-memory" in r.notes,
        "fp32": lambda r: r.harness == "numpy" and r.kind == "gemm",
        "int8": lambda r: r.dtype in ("q4_K", "q8_0"),
    }
    for key, is_source in source_rows.items():
        if _spread([f[key] for f in figs]) <= 0.10:
            continue
        spreads = [
            float(m.group(1))
            for t in RUNS
            for r in read_micro(t)
            if is_source(r) and (m := re.search(r"spread (\d+) %", r.notes))
        ]
        assert spreads and max(spreads) > 10, key


@pytest.mark.parametrize(
    "runs",
    [
        _not_met(
            RUNS,
            id="quiet-2026-12-01",
            reason="not met by these runs' main-memory bandwidth: 55-72 GB/s (23.5 %) best of all "
            "rows, 49-66 GB/s (26 %) from the 256 MiB GEMV, while llama.cpp's int8 kernels agreed "
            "within 4.6 % and numpy's fp32 GEMM within 3.8 %; at load 4-6 every figure varied "
            "28-37 % (the bench-run1..3 traces)",
        ),
        _not_met(
            XEON_SINGLE,
            id="xeon-single-pass",
            reason="one pass of the bench is not repeatable on this shared VM: main bandwidth 20.5 / "
            "24.8 / 22.4 GB/s (17 %), int8 297 / 202 / 307 GOP/s (34 %), fp32 206 / 218 / 295 GFLOP/s "
            "(30 %)",
        ),
        _not_met(
            XEON_COARSE,
            id="xeon-3-passes-coarse-chunks",
            reason="fastest of 3 passes with the int8 microkernel's 20 chunks of ~15 ms: "
            "bandwidth 24.4-26.7 GB/s (8.6 %) and fp32 285-298 GFLOP/s (4.3 %) agree, the 2-thread int8 "
            "rate does not: 271 / 323 / 296 GOP/s (16 %) while the 1-thread rate held at 161-163",
        ),
        pytest.param(XEON_PASSES, id="xeon-3-passes"),
        pytest.param(XEON_DEC02B, id="xeon-480m-l3-llama-cpp-kernels"),
        _not_met(
            EPYC_DEC02,
            id="epyc-2026-12-02",
            reason="main-memory bandwidth 31.9 / 40.7 / 41.3 GB/s (23 %): the first run warned that 59 "
            "of 97 measurements differed by more than 10 % between its passes; int8 441 / 438 / 442 "
            "GOP/s (0.9 %) and fp32 190 / 192 / 187 GFLOP/s (2.8 %) agree",
        ),
    ],
)
def test_three_bench_runs_agree_within_10_percent(tmp_path, runs):
    assert len(runs) == 3
    figs = [_figures(t, tmp_path) for t in runs]
    for key in figs[0]:
        assert _spread([f[key] for f in figs]) <= 0.10, (key, [f[key] for f in figs])


def _cpu_profile_without_this_machine():
    """The bundled llama.cpp-cpu profile refitted without this machine (the bundled defaults were
    fitted on six CPUs, this VM among them): its efficiencies come from the other CPUs' public rows."""
    from roofline.model.engine import load_engine
    from roofline.validation.calibrate import calibrate
    from roofline.validation.report import load_traces

    rows = [
        r
        for r in load_traces(sorted((ROOT / "validation" / "traces").glob("public*.e2e.csv")))
        if r.engine == "llama.cpp-cpu" and r.device != "sandbox-epyc-2vcpu" and (r.build or 2000) >= 2000
    ]
    assert len({r.device for r in rows}) >= 4
    base = load_engine("llama.cpp-cpu")
    # the recipe scripts/fit_default_profiles.py fitted the bundled profile with
    assert base.fit is not None and base.fit.parameters != "all"
    free = tuple(base.fit.parameters)
    return calibrate(rows, base, free, balance_devices=base.fit.devices_weighted_equally).profile(base)


@pytest.mark.parametrize(
    "runs, held_out",
    [
        _not_met(
            RUNS,
            HELD_OUT_RUNS,
            id="quiet-2026-12-01",
            reason="the first of these runs read 49 GB/s from the 256 MiB GEMV where the next two, "
            "minutes later, read 64-66: its spec puts decode 26 % off (the other two 4 %); with "
            "the best of all rows (its 4x-cache triad, 55 GB/s) it had been 17 %; prefill is met "
            "(5-7 %)",
        ),
        _not_met(
            XEON_COARSE,
            XEON_COARSE_HELD_OUT,
            id="xeon-3-passes-coarse-chunks",
            reason="decode median 23 / 35 / 26 % too fast, the same miss as the shipped protocol's "
            "(below); prefill is met (26 / 13 / 20 %; 48 / 39 / 43 % before x86 Q8_0 GEMMs ran at "
            "their measured rate)",
        ),
        _not_met(
            XEON_PASSES,
            XEON_HELD_OUT,
            id="xeon-3-passes",
            reason="decode not met on this Xeon VM: median 30 / 31 / 33 % too fast (every dense row "
            "22-70 % too fast, OLMoE Q4_K_M right); its llama.cpp decode streamed 11-13 GB/s whatever "
            "the weight type (Q8_0 and Q4_K alike), against 25 GB/s from the bench's GEMV, while the "
            "EPYC VMs' decode follows their bench. Prefill is met since x86 Q8_0 GEMMs run at the "
            "measured 0.30 of the tiled rate (12 / 15 / 21 %; was 40-45 %). The VM's own llama-bench "
            "moved -27 to +37 % per row between two sweeps 20 minutes apart.",
        ),
        pytest.param(XEON_DEC02B, XEON_DEC02B_HELD_OUT, id="xeon-480m-l3-llama-cpp-kernels"),
        _not_met(
            EPYC_DEC02,
            EPYC_DEC02_HELD_OUT,
            id="epyc-2026-12-02",
            reason="decode 25.3 / 6.0 / 6.2 %: the first run's spec, whose bench warned that 59 of 97 "
            "measurements moved more than 10 % between passes, read 31.9 GB/s where the next two read "
            "40.7-41.3, and misses by a hair; prefill is met by all three (17 %)",
        ),
    ],
)
def test_emitted_spec_predicts_this_machine_held_out(tmp_path, runs, held_out):
    """A spec emitted from a bench trace alone (no llama.cpp run) predicts this machine's own
    llama-bench runs, measured right after the bench: decode within 25 % and prefill within 35 %
    (median of the rows), with a CPU profile fitted on other CPUs only: neither the spec nor the
    profile has seen a run of this machine. The EPYC VM is among the bundled profile's six CPUs, so
    its check refits the profile without it; the Xeon VM is not, so its check is a new user's path:
    `bench --emit-spec`, then `predict` with the bundled profile."""
    epyc = runs in (RUNS, EPYC_DEC02)
    prof = _cpu_profile_without_this_machine() if epyc else "llama.cpp-cpu"
    assert len(runs) == 3
    for trace in runs:
        _, errs = _held_out(trace, [ROOT / p for p in held_out], tmp_path, engine=prof)
        _assert_within_targets(errs, trace.name)


def test_spec_describes_the_traced_machine_not_the_reader(tmp_path):
    """A spec emitted from a committed trace takes the CPU, its count and its cache sizes from the
    trace's source, not from the machine running the test: read on a 300 MiB-L3 Xeon, the EPYC trace's
    main-memory figure had come from a cache-resident stream (220 GB/s) because no working set reached
    4x the reader's cache."""
    trace = RUNS[0]
    spec = tmp_path / "epyc.yaml"
    write_spec(read_micro(trace), "epyc", str(trace), spec)
    dev = check_file(spec)
    assert dev.name.startswith("AMD EPYC, 2 vCPU")
    # that trace predates the recorded MemTotal: the capacity says whose it is
    assert "the trace has none" in dev.memory[0].capacity.source
    caps = sorted(c.capacity.value for c in dev.processors[0].caches)
    assert caps[-1] == 32 * 2**20
    numpy_gemv = [r for r in read_micro(trace) if r.harness == "numpy" and r.kind == "gemv"]
    largest = max(numpy_gemv, key=lambda r: r.working_set_bytes)
    assert largest.working_set_bytes >= 8 * 32 * 2**20
    assert "GEMV over 256 MiB" in dev.memory[0].bandwidth.source
    assert dev.main_bandwidth == pytest.approx(largest.bytes / largest.seconds, rel=1e-3)


def test_an_emitted_spec_says_its_instruction_set(tmp_path):
    """The emitted spec names the traced CPU's instruction set (Processor.isa): from the architecture
    the bench records, else (older traces) from the int8 microkernel's build where it ran (the Xeon
    trace), else from the CPU's name (the EPYC trace of test-backend-ops), so that x86's Q8_0 GEMM
    path applies to it."""
    from roofline.validation.emit_spec import trace_isa

    for trace in (XEON_PASSES[0], RUNS[0]):
        spec = tmp_path / f"{trace.stem.replace('.', '-')}.yaml"
        write_spec(read_micro(trace), spec.stem, str(trace), spec)
        assert check_file(spec).processors[0].isa == "x86-64", trace.name
    assert trace_isa([], "Apple M2 Max") == "arm64"
    assert trace_isa([], "Some RISC-V board") is None
    # a trace that records the machine's architecture says it outright, whatever the CPU is called
    assert trace_isa([], "Some RISC-V board", "aarch64") == "arm64"
    assert trace_isa([], "Intel(R) Xeon(R) Processor", "x86_64") == "x86-64"


#: the 16-vCPU Emerald Rapids host of the lent H200 machine (2026-12-02): one `bench --emit-spec` with
#: llama.cpp's test-backend-ops, then the study's four models (validation/traces/emitted-spec/README.md)
EMR = XEON_DIR / "xeon-emr-16vcpu-vm.bench1.micro.csv"
EMR_HELD_OUT = XEON_DIR / "xeon-emr-16vcpu-vm.after-bench.llama.cpp.e2e.csv"


def test_emitted_spec_predicts_the_h200_hosts_cpu_held_out(tmp_path):
    """A 16-vCPU server CPU no bundled fit has seen (the CPU profile's six devices do not include
    it): its spec from one bench run with llama.cpp's kernels predicts its own llama-bench runs,
    decode within 25 % and prefill within 35 % (median of the rows), with the bundled profile."""
    _, errs = _held_out(EMR, [EMR_HELD_OUT], tmp_path)
    _assert_within_targets(errs, EMR.name)


def test_the_x86_q8_0_gemm_share_is_what_llama_cpp_measured():
    """llama.cpp's own MUL_MAT rates at a prefill micro-batch, q8_0 over q4_K, on every x86 trace
    that timed them (an AMD EPYC and two Intel Xeon VMs): a property of the machine (within 10 %
    across its runs and thread counts) that differs between machines (0.27-0.40), which is why an
    emitted spec carries its own rates (Processor.gemm_rates); llama.cpp-cpu's narrow_gemm_efficiency,
    the fallback for a CPU known by its datasheet, lies inside the measured range."""
    from roofline.model.engine import load_engine

    share = load_engine("llama.cpp-cpu").value("narrow_gemm_efficiency")
    by_machine: dict[str, list[float]] = {}
    for name, traces in (("epyc", RUNS), ("emr", [EMR, EMR_DEC02B]), ("xeon-480m", XEON_DEC02B)):
        for trace in traces:
            rates = {
                (r.dtype, r.shape.split("threads=")[1]): r.flops / r.seconds
                for r in read_micro(trace)
                if r.harness == "llama.cpp test-backend-ops" and r.shape.startswith("M=512 ")
            }
            by_machine.setdefault(name, []).extend(
                v / rates[("q4_K", t)] for (dt, t), v in rates.items() if dt == "q8_0"
            )
    assert sum(map(len, by_machine.values())) >= 12
    for name, ratios in by_machine.items():
        assert _spread(ratios) <= 0.10, (name, sorted(ratios))
    every = [x for ratios in by_machine.values() for x in ratios]
    assert min(every) <= share <= max(every), (share, sorted(every))
    assert _spread([float(np.median(r)) for r in by_machine.values()]) > 0.2


def test_an_emitted_spec_carries_llama_cpp_s_gemm_rates_and_the_model_takes_them(tmp_path):
    """With a llama.cpp build, the emitted spec lists llama.cpp's own tiled GEMM rate per quantized
    type at the int8 peak's thread count (Processor.gemm_rates), and an x86 Q8_0 matmul in prefill
    runs at that measured share of the Q4_K one; without a build (int8dot.c) the spec has none."""
    from roofline.model.cost import narrow_slowdown
    from roofline.model.scenario import resolve
    from roofline.model.workload import Workload

    trace = XEON_DEC02B[0]
    spec = tmp_path / "xeon-rates.yaml"
    write_spec(read_micro(trace), spec.stem, str(trace), spec)
    proc = check_file(spec).processors[0]
    rows = {
        r.dtype: r.flops / r.seconds
        for r in read_micro(trace)
        if r.harness == "llama.cpp test-backend-ops"
        and r.shape.startswith("M=512 ")
        and r.shape.endswith("threads=2")
    }
    assert set(proc.gemm_rates) == {"Q4_K", "Q8_0"}
    assert proc.gemm_share("Q8_0") == pytest.approx(rows["q8_0"] / rows["q4_K"], rel=1e-3)
    assert proc.gemm_share("Q4_K") == 1.0 and proc.peak("int8") == pytest.approx(rows["q4_K"], rel=1e-3)
    s = resolve(spec, "llama-3.2-1b", Workload(test="pp512"), quant="Q8_0")
    ffn = {t.op.name: t for t in s.step().times}["dense_ffn"]
    assert narrow_slowdown(ffn.op, s.machine, s.engine) == pytest.approx(
        rows["q4_K"] / rows["q8_0"] - 1, rel=1e-3
    )
    old = tmp_path / "xeon-no-build.yaml"
    write_spec(read_micro(XEON_PASSES[0]), old.stem, str(XEON_PASSES[0]), old)
    assert check_file(old).processors[0].gemm_rates == {}


#: the same VM an hour later (2026-12-02 08:02-08:25), after the bench learnt to time llama.cpp's
#: MUL_MAT_ID: one `bench --emit-spec`, then the same llama-bench runs
XEON_DEC02C = XEON_DIR / "sandbox-xeon-2vcpu.dec02c-bench1.micro.csv"
XEON_DEC02C_HELD_OUT = XEON_DIR / "sandbox-xeon-2vcpu.dec02c-after-bench.llama.cpp.e2e.csv"
#: the H200 machine's 16-vCPU Emerald Rapids host again (2026-12-02 08:34-08:56): the same llama-bench
#: runs on 16 threads, then one `bench --emit-spec` (2 passes) that timed MUL_MAT_ID too
EMR_DEC02B = XEON_DIR / "xeon-emr-16vcpu-vm.dec02b-bench1.micro.csv"
EMR_DEC02B_HELD_OUT = XEON_DIR / "xeon-emr-16vcpu-vm.dec02b-before-bench.llama.cpp.e2e.csv"


def test_measured_expert_rates_enter_the_spec_by_the_kernel_llama_bench_runs(tmp_path):
    """The bench times llama.cpp's MUL_MAT_ID for Q4_K, Q6_K and Q8_0; test-backend-ops runs the
    unrepacked kernels, so the spec takes the MUL_MAT_ID rate of the types llama-bench does not repack
    on x86 (Q6_K, Q8_0) and, for Q4_K (repacked: one gemv per routed row), its mat-vec MUL_MAT rate."""
    from roofline.validation.emit_spec import REPACKED

    rows = read_micro(XEON_DEC02C)
    timed = {r.dtype for r in rows if "experts=" in r.shape}
    assert timed == {"q4_K", "q6_K", "q8_0"}
    spec = tmp_path / "xeon-experts.yaml"
    write_spec(rows, spec.stem, str(XEON_DEC02C), spec)
    proc = check_file(spec).processors[0]
    assert proc.isa == "x86-64" and "Q4_K" in REPACKED["x86-64"] and "Q8_0" not in REPACKED["x86-64"]
    assert set(proc.expert_gemm_rates) == {"Q4_K", "Q6_K", "Q8_0"}

    def rate(dtype: str, expert: bool) -> float:
        r = next(
            r
            for r in rows
            if r.dtype == dtype
            and r.shape.endswith("threads=2")
            and (("experts=" in r.shape) if expert else r.shape.startswith("M=1 "))
        )
        return r.flops / r.seconds

    assert proc.expert_gemm_rates["Q8_0"].value == pytest.approx(rate("q8_0", True), rel=1e-3)
    assert proc.expert_gemm_rates["Q6_K"].value == pytest.approx(rate("q6_K", True), rel=1e-3)
    assert proc.expert_gemm_rates["Q4_K"].value == pytest.approx(rate("q4_K", False), rel=1e-3)
    assert "per-row gemv" in proc.expert_gemm_rates["Q4_K"].source
    # the expert kernels are not the dense one: neither the int8 peak nor the dense rates take them
    assert proc.peak("int8") == pytest.approx(proc.gemm_rates["Q4_K"].value)


@pytest.mark.parametrize(
    "trace, held_out",
    [
        pytest.param(XEON_DEC02C, XEON_DEC02C_HELD_OUT, id="xeon-2vcpu"),
        pytest.param(EMR_DEC02B, EMR_DEC02B_HELD_OUT, id="emerald-rapids-16vcpu"),
    ],
)
def test_measured_expert_rates_bring_moe_prefill_closer_on_this_machine(tmp_path, trace, held_out):
    """Held out on the machine they were measured on (two x86 VMs): the spec with llama.cpp's
    expert rates predicts decode within 25 % and prefill within 35 % (median), and OLMoE pp512 at
    Q8_0 and Q4_K_M (experts on the measured rates) comes out closer to the measured run than with
    the same spec stripped of those rates (the profile's fitted per-row expert costing)."""
    import yaml

    spec, errs = _held_out(trace, [held_out], tmp_path)
    _assert_within_targets(errs, trace.name)
    stripped = tmp_path / "held-out-no-experts.yaml"
    data = yaml.safe_load(spec.read_text())
    data["id"] = stripped.stem
    del data["processors"][0]["expert_gemm_rates"]
    stripped.write_text(yaml.safe_dump(data))
    without = held_out_errors(stripped, [held_out])

    def olmoe_pp(rows, quant):
        return next(
            x for x in rows if x["model"] == "olmoe-1b-7b" and x["quant"] == quant and x["phase"] == "prefill"
        )

    for quant in ("Q8_0", "Q4_K_M"):
        assert abs(olmoe_pp(errs, quant)["error"]) < abs(olmoe_pp(without, quant)["error"])
    for x, y in zip(errs, without, strict=True):  # the dense models have no routed experts
        assert x["model"] == y["model"] and (x["model"] == "olmoe-1b-7b" or x["error"] == y["error"])
