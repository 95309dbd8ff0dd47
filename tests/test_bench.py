"""The microbenchmark harness runs (quick mode), writes a readable trace, and emits a valid spec."""

from __future__ import annotations

from roofline.specs.catalog import check_file
from roofline.traces.files import read_micro
from roofline.validation.bench import Recorder, Steps, cpu_benchmarks, cpu_steps
from roofline.validation.emit_spec import write_spec


def test_quick_cpu_bench_and_emitted_spec(tmp_path):
    rec = Recorder("test-vm", "numpy", "x", "CPU", "measured here: test")
    steps = Steps(cpu_steps(quick=True))  # the bar is drawn only on a terminal: none here
    cpu_benchmarks(rec, quick=True, progress=steps)
    steps.close()
    assert steps.done == steps.total  # the count the bar shows (and its time left) is the bench's
    kinds = {r["kind"] for r in rec.rows}
    assert {
        "stream-read",
        "stream-copy",
        "stream-triad",
        "gemv",
        "gemm",
        "launch",
        "moe-dispatch",
        "dense-ffn",
    } <= kinds
    from roofline.validation.bench import write

    trace = tmp_path / "test-vm.micro.csv"
    write(rec.rows, trace)
    rows = read_micro(trace)
    assert len(rows) == len(rec.rows) and all(r.seconds > 0 for r in rows)
    spec = tmp_path / "test-vm.yaml"
    write_spec(rows, "test-vm", str(trace), spec)
    dev = check_file(spec)
    assert dev.main_bandwidth > 1e8
    sources = [f.source for _, f in dev.figures() if f.source]
    assert any(str(trace) in s for s in sources)


def test_quick_bench_refuses_to_emit_a_spec(tmp_path):
    """--quick's small GEMMs understate compute ~18x: no spec is written from them (issue 13.2)."""
    import subprocess

    r = subprocess.run(
        ["roofline", "bench", "--quick", "--out", str(tmp_path), "--emit-spec", str(tmp_path / "m.yaml")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "--emit-spec needs the full bench" in r.stderr
    assert not (tmp_path / "m.yaml").exists() and not list(tmp_path.glob("*.csv"))
