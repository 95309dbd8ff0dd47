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


def _row(kind, shape, seconds, harness="numpy"):
    return {
        "harness": harness,
        "kind": kind,
        "dtype": "fp32",
        "shape": shape,
        "working_set_bytes": 1024,
        "seconds": seconds,
        "notes": "best of 3 rounds",
    }


def test_passes_keep_each_measurement_fastest_pass():
    """Whole-bench passes merge per measurement: the fastest pass wins (a neighbour only slows a
    measurement), in the first pass's order, and the spread between passes is reported."""
    from roofline.validation.bench import _pass_warning, fastest_passes

    first = [_row("gemv", "M=1", 2.0), _row("gemm", "M=512", 1.0), _row("gemv", "M=1", 0.5, "int8dot.c")]
    second = [_row("gemm", "M=512", 1.25), _row("gemv", "M=1", 1.0), _row("gemv", "M=1", 0.5, "int8dot.c")]
    rows, spreads = fastest_passes([first, second])
    assert [(r["harness"], r["kind"], r["seconds"]) for r in rows] == [
        ("numpy", "gemv", 1.0),
        ("numpy", "gemm", 1.0),
        ("int8dot.c", "gemv", 0.5),
    ]
    assert [round(s, 3) for _, s in spreads] == [0.5, 0.2, 0.0]
    assert rows[0]["notes"].endswith("fastest of 2 passes, spread 50 % (seconds per pass: 2/1)")
    (warning,) = _pass_warning(spreads, 2)
    assert warning.startswith("2 of 3 measurements differ by more than 10 % between the 2 passes")
    # one pass: the rows as measured, no pass spread
    assert fastest_passes([first]) == (first, [])


def test_bench_refuses_zero_passes(tmp_path):
    import subprocess

    r = subprocess.run(
        ["roofline", "bench", "--quick", "--passes", "0", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "--passes" in r.stderr and "Traceback" not in r.stderr


def test_traced_host_reads_back_what_the_bench_recorded():
    """The host a bench records in its rows' source is read back as it was (a CPU name with a comma
    included), and a trace that names none gives this machine."""
    from roofline.validation.bench import Host, this_host, traced_host

    host = Host("Some CPU, rev 2", 4, {"L1": 49152, "L3": 2**25}, 8 * 2**30)
    assert traced_host(["numpy run", f"measured here: {host.describe()}"]) == host
    arm = Host("Neoverse-V2", 72, {"L2": 2**20}, 2**37, "aarch64")
    assert traced_host([f"measured here: {arm.describe()}"]) == arm
    # an older trace: no memory recorded
    old = "measured here: AMD EPYC, 2 CPUs visible, caches {'L1': 49152, 'L3': 33554432}"
    assert traced_host([old]) == Host("AMD EPYC", 2, {"L1": 49152, "L3": 33554432}, 0)
    assert traced_host(["no host here"]) == this_host()
