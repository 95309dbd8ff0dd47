"""model.stacked costs many runs at once with cost.op_times' arithmetic: it must give what
Scenario.tokens_per_second gives, to the last bit, on every committed measured run and under any
profile calibration may try (a cost-model change it does not follow fails here first)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from roofline.model.engine import PARAMETER_BOUNDS, load_engine
from roofline.model.stacked import stack
from roofline.model.uncertainty import interval, intervals
from roofline.validation.calibrate import Runs, calibrate, with_params
from roofline.validation.report import load_traces

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def rows():
    return load_traces(sorted((ROOT / "validation" / "traces").glob("*.e2e.csv")))


@pytest.fixture(scope="module")
def runs():
    return Runs()


def _draw(rng, base):
    """A profile with a random subset of the fitted parameters anywhere in their bounds."""
    update = {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in PARAMETER_BOUNDS.items() if rng.random() < 0.7}
    return with_params(base, update)


def test_every_committed_run_costs_the_same_as_one_at_a_time(rows, runs):
    rng = np.random.default_rng(0)
    engines = sorted({r.engine for r in rows})
    assert len(rows) > 500 and len(engines) >= 5
    for name in engines:
        base = load_engine(name)
        scens = [runs(r) for r in rows if r.engine == name]
        stacked = stack(scens)
        for eng in [base] + [_draw(rng, base) for _ in range(4)]:
            want = np.array([s.tokens_per_second(eng) for s in scens])
            got = stacked.tokens_per_second(eng)
            assert np.array_equal(got, want), name
            assert stacked.matches(eng)


def test_a_changed_cost_is_noticed(rows, runs):
    # matches() is what callers check before trusting the arrays: it must see a difference
    scens = [runs(r) for r in rows[:40]]
    stacked = stack(scens)
    eng = load_engine(scens[0].engine.name)
    broken = stack(scens)
    object.__setattr__(broken, "weight_bytes", broken.weight_bytes * 1.01)
    assert stacked.matches(eng) and not broken.matches(eng)


def test_intervals_equal_one_run_at_a_time(rows, runs):
    cuda = [r for r in rows if r.engine == "llama.cpp-cuda"]
    train = [r for r in cuda if r.device != "rtx-4090"]
    test = [r for r in cuda if r.device == "rtx-4090"][:25]
    fit = calibrate(train, "llama.cpp-cuda", runs=runs)
    prof = fit.profile(load_engine("llama.cpp-cuda"))
    lo, mid, hi = intervals(stack([runs(r) for r in test]), prof, n=50)
    for k, r in enumerate(test):
        assert (lo[k], mid[k], hi[k]) == interval(runs(r), prof, n=50)
    assert np.all(lo < mid) and np.all(mid < hi)


def test_runs_resolve_each_configuration_once(rows):
    runs = Runs()
    a = runs(rows[0])
    assert runs(rows[0]) is a
    twin = [r for r in rows if (r.device, r.model, r.quant) == (rows[0].device, rows[0].model, rows[0].quant)]
    other = next(
        r for r in twin if (r.test, r.depth, r.batch) != (rows[0].test, rows[0].depth, rows[0].batch)
    )
    assert runs(other).tables is a.tables  # the model's tables are built once per configuration


def test_runs_of_different_structure_are_refused(rows, runs):
    cpu = next(r for r in rows if r.engine == "llama.cpp-cpu")
    cuda = next(r for r in rows if r.engine == "llama.cpp-cuda")
    with pytest.raises(ValueError, match="structural"):
        stack([runs(cpu), runs(cuda)])


def test_measured_kernel_rates_cost_the_same_stacked(tmp_path):
    """A CPU spec with measured GEMM and expert rates (Processor.gemm_rates, expert_gemm_rates, as
    `bench --emit-spec` writes them with a llama.cpp build) costs the same stacked as one at a time:
    the x86 Q8_0 share and the routed experts take the measured rates in both paths."""
    import yaml

    from roofline.model.scenario import resolve
    from roofline.model.workload import Workload

    spec = yaml.safe_load((ROOT / "hardware_specs" / "sandbox-xeon-2vcpu.yaml").read_text())
    spec["id"] = "measured-rates"
    proc = spec["processors"][0]
    proc["isa"] = "x86-64"
    proc["gemm_rates"] = {
        "Q4_K": {"value": "500 GFLOPS", "source": "measured: test figures"},
        "Q8_0": {"value": "190 GFLOPS", "source": "measured: test figures"},
    }
    proc["expert_gemm_rates"] = {
        t: {"value": f"{v} GFLOPS", "source": "measured: test figures"}
        for t, v in (("Q4_K", 260), ("Q6_K", 150), ("Q8_0", 95))
    }
    path = tmp_path / "measured-rates.yaml"
    path.write_text(yaml.safe_dump(spec))
    scens = [
        resolve(path, model, Workload(test=test), engine="llama.cpp-cpu", quant=quant)
        for model in ("olmoe-1b-7b", "llama-3.2-1b")
        for quant in ("Q4_K_M", "Q8_0")
        for test in ("pp512", "tg128")
    ]
    stacked = stack(scens)
    assert stacked.measured_spf.any() and stacked.narrow.any()
    eng = load_engine("llama.cpp-cpu")
    want = np.array([s.tokens_per_second(eng) for s in scens])
    assert np.array_equal(stacked.tokens_per_second(eng), want)
