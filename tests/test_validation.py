"""Traces, importers, calibration and the report."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from roofline.model.uncertainty import interval
from roofline.traces.files import E2ERow, TraceError, read_e2e, write_rows
from roofline.traces.importers import import_llama_bench, import_public
from roofline.validation.calibrate import calibrate, scenario

DATA = Path(__file__).parent / "data"
LB = DATA / "llama_bench"
HEADER = "device,engine,model,quant,test,depth,batch,tokens_per_s,source\n"


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_llama_bench_formats(fmt):
    rows = import_llama_bench(LB / f"example.{fmt}", device="ryzen-9-7950x")
    assert [(r.test, r.tokens_per_s) for r in rows] == [("pp512", 1450.2), ("tg128", 96.3)]
    assert all(
        r.model == "llama-3.2-1b" and r.quant == "Q4_K_M" and r.engine == "llama.cpp-cpu" for r in rows
    )
    assert "b4404" in rows[0].engine_version


def test_llama_bench_markdown_needs_model_and_reads_depth():
    with pytest.raises(TraceError, match="--model"):
        import_llama_bench(LB / "example.md", device="ryzen-9-7950x")
    rows = import_llama_bench(LB / "example.md", device="ryzen-9-7950x", model="llama-3.2-1b")
    assert [(r.test, r.depth, r.tokens_per_s) for r in rows] == [
        ("pp512", 0, 1450.2),
        ("tg128", 0, 96.3),
        ("tg128", 2048, 80.1),
    ]


def test_public_import_maps_and_counts_skips():
    path = Path(__file__).resolve().parents[2] / "shared" / "data" / "public_measurements.csv"
    if not path.exists():
        pytest.skip("shared/ is not beside this checkout")
    rows, skipped = import_public(path)
    assert len(rows) > 50 and sum(skipped.values()) > 0
    assert all(r.source for r in rows)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("rtx-4090,llama.cpp-cuda,llama-3.1-8b,Q4_K_M,tg128,0,1,-3,x\n", "line 2: column 'tokens_per_s'"),
        ("rtx-4090,llama.cpp-cuda,llama-3.1-8b,Q4_K_M,tg128,0,1,nan,x\n", "finite"),
        ("rtx-4090,llama.cpp-cuda,llama-3.1-8b,Q4_K_M,tg128,0,1,0,x\n", "positive"),
        ("rtx-9999,llama.cpp-cuda,llama-3.1-8b,Q4_K_M,tg128,0,1,10,x\n", "unknown device 'rtx-9999'"),
        ("rtx-4090,llama.cpp-cuda,llama-3.1-8b,Q4_K_M,xx128,0,1,10,x\n", "expected ppN or tgN"),
        ("rtx-4090,llama.cpp-cuda,llama-3.1-8b,Q4_K_M,tg128,0,1,10,\n", "column 'source' is empty"),
    ],
)
def test_bad_traces_name_file_and_line(tmp_path, body, needle):
    p = tmp_path / "bad.e2e.csv"
    p.write_text(HEADER + body)
    with pytest.raises(TraceError, match=needle) as exc:
        read_e2e(p)
    assert str(p) in str(exc.value)


def test_missing_column(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("device,model\nx,y\n")
    with pytest.raises(TraceError, match="missing column"):
        read_e2e(p)


def test_no_overwrite_without_force(tmp_path):
    row = E2ERow("rtx-4090", "llama.cpp-cuda", "llama-3.1-8b", "Q4_K_M", "tg128", 0, 1, 100.0, "x")
    write_rows(tmp_path / "a.csv", [row])
    with pytest.raises(TraceError, match="--force"):
        write_rows(tmp_path / "a.csv", [row])


def _synthetic_rows(truth: dict[str, float], noise: float, seed: int = 1) -> list[E2ERow]:
    """Rows 'measured' by the model itself with known parameters: calibration must recover them."""
    rng = np.random.default_rng(seed)
    rows = []
    for device in ("rtx-4090", "rtx-3090", "rtx-3060-12gb"):
        for model in ("llama-3.1-8b", "llama-3.2-1b", "olmoe-1b-7b", "qwen3-4b"):
            for test in ("tg128", "pp512"):
                row = E2ERow(device, "llama.cpp-cuda", model, "Q4_K_M", test, 0, 1, 1.0, "synthetic")
                s = scenario(row)
                tps = s.tokens_per_second(s.engine.model_copy(update=truth)) * float(
                    np.exp(rng.normal(0, noise))
                )
                rows.append(E2ERow(device, "llama.cpp-cuda", model, "Q4_K_M", test, 0, 1, tps, "synthetic"))
    return rows


def test_calibration_recovers_known_parameters():
    truth = {
        "bandwidth_efficiency": 0.62,
        "compute_efficiency": 0.27,
        "kernel_overhead_scale": 2.0,
        "per_step_overhead": 4e-4,
    }
    fit = calibrate(_synthetic_rows(truth, noise=0.0), "llama.cpp-cuda")
    assert fit.converged and fit.residual_sigma < 1e-3
    for k in ("bandwidth_efficiency", "compute_efficiency"):
        assert fit.params[k] == pytest.approx(truth[k], rel=0.02)
    # the truth's attention core follows compute_efficiency; noiseless rows pin it even at depth 0
    if "attention_efficiency" in fit.free:
        assert fit.params["attention_efficiency"] == pytest.approx(truth["compute_efficiency"], rel=0.1)


def test_parameters_the_rows_barely_see_keep_their_defaults():
    # with 10 % noise, depth-0 rows cannot determine the attention core (t < 2): it is not fitted
    # and the profile keeps its own setting for it
    truth = {"bandwidth_efficiency": 0.6, "compute_efficiency": 0.3}
    rows = _synthetic_rows(truth, noise=0.1, seed=2)
    fit = calibrate(rows, "llama.cpp-cuda")
    assert "attention_efficiency" not in fit.free
    base = scenario(rows[0]).engine
    assert fit.profile(base).attention_efficiency == base.attention_efficiency
    for k in fit.free:
        assert fit.sigma[k] <= 0.5 * abs(fit.params[k])


def test_interval_covers_about_what_it_claims():
    truth = {"bandwidth_efficiency": 0.6, "compute_efficiency": 0.3}
    train = _synthetic_rows(truth, noise=0.1, seed=2)
    fit = calibrate(train, "llama.cpp-cuda")
    prof = fit.profile(scenario(train[0]).engine)
    test = _synthetic_rows(truth, noise=0.1, seed=3)
    inside = []
    for r in test:
        lo, _, hi = interval(scenario(r, prof), prof, n=100)
        inside.append(lo <= r.tokens_per_s <= hi)
    assert 0.55 <= np.mean(inside) <= 0.97  # claims 80 %


def test_calibrate_cli_refuses_overwrite(tmp_path):
    out = tmp_path / "p.yaml"
    out.write_text("keep me")
    trace = tmp_path / "t.e2e.csv"
    write_rows(trace, _synthetic_rows({"bandwidth_efficiency": 0.6}, 0.05))
    r = subprocess.run(
        ["roofline", "calibrate", str(trace), "--engine", "llama.cpp-cuda", "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "--force" in r.stderr and out.read_text() == "keep me"
    r = subprocess.run(
        ["roofline", "calibrate", str(trace), "--engine", "llama.cpp-cuda", "-o", str(out), "--force"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    r = subprocess.run(
        [
            "roofline",
            "predict",
            "--device",
            "rtx-4090",
            "--model",
            "qwen3-8b",
            "--engine",
            str(out),
            "--depth",
            "100000",
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert "interval_tokens_per_second" in r.stdout and "outside the calibrated range" in r.stdout


def test_micro_calibration_from_the_committed_h200_trace():
    from roofline.traces.files import read_micro
    from roofline.validation.calibrate import calibrate_micro

    trace = Path(__file__).parents[1] / "validation" / "traces" / "h200-sxm-141gb.micro.csv"
    prof, info = calibrate_micro(read_micro(trace), "h200-sxm-141gb", "llama.cpp-cuda")
    # HBM3e copies reach 85-95 % of the 4.8 TB/s peak; bf16 GEMMs 60-90 % of the dense peak
    assert 0.8 < prof.bandwidth_efficiency <= 1.0
    assert 0.5 < prof.compute_efficiency <= 1.0
    # a kernel replayed in a CUDA graph costs well under an eager launch
    assert info["kernel_overhead_s"]["value"] < 0.5 * info["kernel_overhead_s"]["eager_s"]


def test_micro_profile_predicts_without_interval(tmp_path):
    import yaml

    from roofline.api import predict
    from roofline.traces.files import read_micro
    from roofline.validation.calibrate import calibrate_micro

    trace = Path(__file__).parents[1] / "validation" / "traces" / "h200-sxm-141gb.micro.csv"
    prof, _ = calibrate_micro(read_micro(trace), "h200-sxm-141gb", "llama.cpp-cuda")
    path = tmp_path / "h200.yaml"
    path.write_text(yaml.safe_dump(prof.model_dump(mode="json")))
    p = predict("h200-sxm-141gb", "olmoe-1b-7b", engine=str(path))
    assert p.tokens_per_second > 0 and not p.warnings
    other = predict("rtx-4090", "olmoe-1b-7b", engine=str(path))
    assert any("microbenchmarks of h200-sxm-141gb" in w for w in other.warnings)


def test_repeated_runs_merge_to_the_fastest():
    from roofline.validation.calibrate import best_of_repeats

    mk = lambda tps, depth=0: E2ERow(  # noqa: E731
        "rtx-4090", "llama.cpp-cuda", "llama-3.2-1b", "Q4_K_M", "tg128", depth, 1, tps, "x"
    )
    rows = best_of_repeats([mk(100.0), mk(120.0), mk(90.0), mk(50.0, depth=2048)])
    assert sorted(r.tokens_per_s for r in rows) == [50.0, 120.0]


def test_calibration_separates_attention_from_weights():
    # rows at depth 0 and 2048 from models with head_dim 64 and 128, GQA and MHA, at two quantizations:
    # the fit must tell the attention core's efficiency, per-pair work and KV bandwidth apart from the
    # weights' bandwidth and compute
    truth = {
        "bandwidth_efficiency": 0.6,
        "compute_efficiency": 0.7,
        "attention_efficiency": 0.15,
        "attention_key_ops": 100.0,
        # decode at depth: the MHA rows (OLMoE) KV-bound, the GQA ones compute-bound in the attention
        # core, where the per-key-row work shows (at 0.15 every decode row was KV-bound on this VM's
        # spec, and nothing measured attention_key_ops)
        "kv_bandwidth_efficiency": 0.3,
    }
    rows = []
    for model in ("llama-3.2-1b", "qwen2.5-1.5b", "olmoe-1b-7b"):
        for quant in ("Q4_K_M", "Q8_0"):
            for test in ("tg128", "pp512"):
                for depth in (0, 2048):
                    key = ("sandbox-epyc-2vcpu", "llama.cpp-cpu", model, quant, test, depth, 1)
                    s = scenario(E2ERow(*key, 1.0, "s"))
                    rows.append(E2ERow(*key, s.tokens_per_second(s.engine.model_copy(update=truth)), "s"))
    fit = calibrate(rows, "llama.cpp-cpu")
    assert fit.converged and fit.residual_sigma < 1e-2
    for k in truth:
        assert fit.params[k] == pytest.approx(truth[k], rel=0.05), k


def test_balanced_fit_weighs_devices_not_rows():
    """Two devices whose decode runs at different shares of their bandwidth, one measured 7x more
    often: a row-weighted fit follows the busy device; a device-weighted one lands between them."""
    rows = []
    for device, eff, models in (
        (
            "rtx-4090",
            0.8,
            [
                "llama-3.1-8b",
                "llama-3.2-1b",
                "qwen3-4b",
                "qwen3-8b",
                "qwen3-14b",
                "mistral-7b",
                "llama-3.2-3b",
            ],
        ),
        ("rtx-3090", 0.5, ["llama-3.1-8b"]),
    ):
        for model in models:
            row = E2ERow(device, "llama.cpp-cuda", model, "Q4_K_M", "tg128", 0, 1, 1.0, "synthetic")
            s = scenario(row)
            tps = s.tokens_per_second(s.engine.model_copy(update={"bandwidth_efficiency": eff}))
            rows.append(E2ERow(device, "llama.cpp-cuda", model, "Q4_K_M", "tg128", 0, 1, tps, "synthetic"))
    free = ("bandwidth_efficiency",)
    by_row = calibrate(rows, "llama.cpp-cuda", free).params["bandwidth_efficiency"]
    by_device = calibrate(rows, "llama.cpp-cuda", free, balance_devices=True).params["bandwidth_efficiency"]
    assert 0.5 < by_row < 0.8 and 0.5 < by_device < 0.8
    assert abs(by_row - 0.8) < abs(by_device - 0.8)  # the busy device pulls the row-weighted fit
    assert abs(by_device - 0.5) < abs(by_row - 0.5)


def test_traces_find_their_probe_specs_from_any_directory(tmp_path, monkeypatch):
    """Probe rows name their model by a path written at the repository root; read from elsewhere,
    the path is found next to the trace (issue 13.6: calibrate/validate outside the root)."""
    from roofline.specs.catalog import load_model

    trace = Path(__file__).resolve().parents[1] / "validation" / "traces"
    trace = next(trace.glob("sandbox-epyc-2vcpu.synthetic*.e2e.csv"))
    monkeypatch.chdir(tmp_path)
    rows = [r for r in read_e2e(trace) if r.model.endswith(".yaml")]
    assert rows
    for r in rows[:3]:
        assert load_model(r.model).id.startswith("probe-")
