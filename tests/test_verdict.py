"""The wording of verdicts and of what compare, predict, explain and crossover print (issue 13.13):
no term that prints as zero, one number for routing bounds that coincide, a unit on every value
crossover prints, and a header that says when the engine profile is calibrated. The rules are
pinned, not the numbers (those are the goldens' business)."""

from __future__ import annotations

import re

import pytest
import yaml
from click.testing import CliRunner

from roofline.api import compare, predict
from roofline.cli import main
from roofline.model.engine import load_engine
from roofline.model.workload import Workload

JETSON = "jetson-orin-nano-8gb"
NAMES = ("olmoe-1b-7b", "llama-3.2-1b", "qwen3-30b-a3b", "qwen3-8b", "gemma-2-2b", "rtx-4090", "apple-m2-pro")


def _cli(*args: str) -> str:
    r = CliRunner().invoke(main, list(args))
    assert r.exit_code == 0, r.output
    return r.output


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    """llama.cpp-cuda with a calibration block as `roofline calibrate` writes it (12 rows, 2 devices)."""
    eng = load_engine("llama.cpp-cuda").model_dump(mode="json")
    bw = eng["bandwidth_efficiency"]
    eng["calibration"] = {
        "fitted": {"bandwidth_efficiency": {"value": bw, "sigma": 0.04}},
        "free_parameters": ["bandwidth_efficiency"],
        "covariance": [[0.0016]],
        "residual_sigma_log": 0.2,
        "n_rows": 12,
        "devices": ["rtx-3090", "rtx-4090"],
        "models": ["qwen3-8b"],
        "phases": ["decode"],
        "batch_range": [1, 1],
        "depth_range": [0, 0],
    }
    path = tmp_path_factory.mktemp("profile") / "cuda-calibrated.yaml"
    path.write_text(yaml.safe_dump(eng, sort_keys=False))
    return str(path)


def test_a_term_that_rounds_to_zero_is_not_named():
    a = predict("rtx-4090", "gemma-2-2b")
    b = predict("rtx-4090", "olmoe-1b-7b")
    # the case this pins: the second-largest difference is real but under 0.005 ms (it printed as
    # "activations (+0.00 ms/step)")
    diffs = {k: a.terms()[k] - b.terms()[k] for k in a.terms()}
    assert 0 < diffs["activations"] * 1e3 < 0.005 and a.step_seconds > b.step_seconds
    text = compare("rtx-4090", ["gemma-2-2b", "olmoe-1b-7b"]).verdict
    assert "spends more time on weights (" in text
    assert "activations" not in text
    shown = [float(x) for x in re.findall(r"\(([+-]\d+\.\d+) ms/step\)", text)]
    assert shown and all(abs(x) >= 0.01 for x in shown)


@pytest.mark.parametrize(
    "device,pair",
    [(JETSON, ("olmoe-1b-7b", "llama-3.2-1b")), ("apple-m2-pro", ("llama-3.2-1b", "gemma-2-2b"))],
)
def test_no_verdict_prints_a_zero_term(device, pair):
    for w in (Workload(), Workload(test="pp512"), Workload(batch=8, depth=4096)):
        text = compare(device, list(pair), w).verdict
        assert not re.search(r"[+-]0\.00 ms", text), text


def test_routing_bounds_that_coincide_are_one_number():
    one = compare(JETSON, ["olmoe-1b-7b", "llama-3.2-1b"]).verdict  # one token per step: k experts
    lo, hi = one_bounds = predict(JETSON, "olmoe-1b-7b").routing_bounds_tokens_per_second
    assert lo == pytest.approx(hi) and one_bounds
    assert "Routing bounds" not in one
    assert re.search(r"Routing does not move olmoe-1b-7b: \d+\.\d\dx under any routing\.", one)
    eight = compare(JETSON, ["olmoe-1b-7b", "llama-3.2-1b"], Workload(batch=8)).verdict
    m = re.search(r"Routing bounds for olmoe-1b-7b: (\d+\.\d\d)x-(\d+\.\d\d)x\.", eight)
    assert m and m.group(1) != m.group(2)
    assert "under any routing" not in eight


def test_predict_prints_one_expert_count_when_routing_cannot_change_it():
    out = _cli("predict", "--device", JETSON, "--model", "olmoe-1b-7b")
    assert re.search(r"experts touched per MoE layer: \d+\.\d expected \(under any routing\)", out)
    out = _cli("predict", "--device", JETSON, "--model", "olmoe-1b-7b", "--batch", "8")
    assert re.search(r"expected \((\d+)-(\d+)\)", out)


def test_headers_say_when_the_profile_is_calibrated(calibrated):
    label = "llama.cpp-cuda (calibrated on 12 measured rows of 2 devices)"
    plain = compare("rtx-4090", ["qwen3-30b-a3b", "qwen3-8b"]).verdict
    assert "calibrated" not in plain and "Q4_K_M, llama.cpp-cuda)" in plain
    text = compare("rtx-4090", ["qwen3-30b-a3b", "qwen3-8b"], engine=calibrated).verdict
    assert text.split(":")[0].endswith(f", {label})")
    assert predict("rtx-4090", "qwen3-8b", engine=calibrated).to_json()["calibrated_on"] == (
        "12 measured rows of 2 devices"
    )
    out = _cli("compare", "--device", "rtx-4090", "qwen3-30b-a3b", "qwen3-8b", "--profile", calibrated)
    assert out.splitlines()[0].startswith(f"rtx-4090 ({label}, tg128")  # the table's header
    assert f"{label}):" in out  # the verdict's
    out = _cli("predict", "--device", "rtx-4090", "--model", "qwen3-8b", "--profile", calibrated)
    assert out.splitlines()[0].startswith(f"qwen3-8b on rtx-4090 ({label}, Q4_K_M")
    out = _cli("explain", "--device", "rtx-4090", "--model", "qwen3-8b", "--profile", calibrated)
    assert out.splitlines()[0].startswith(f"qwen3-8b on rtx-4090 ({label}, Q4_K_M")
    out = _cli("predict", "--device", "rtx-4090", "--model", "qwen3-8b")
    assert "calibrated on" not in out.splitlines()[0]


def _unitless_numbers(text: str) -> list[str]:
    """Numbers in `text` followed neither by a unit of the varied quantity nor by x (a ratio); model
    and device names are taken out first (their digits are not values)."""
    for name in NAMES:
        text = text.replace(name, "NAME")
    bad = []
    for m in re.finditer(r"\d[\d,]*(?:\.\d+)?(?:e[+-]?\d+)?", text):
        after = text[m.end() :]
        if not re.match(r"x\b| (sequences?|tokens?|GB/s)\b", after):
            bad.append(text[max(0, m.start() - 20) : m.end() + 12])
    return bad


@pytest.mark.parametrize(
    "args,unit",
    [
        (["--device", "apple-m2-pro", "olmoe-1b-7b", "llama-3.2-1b", "--vary", "bandwidth"], "GB/s"),
        (["--device", "apple-m2-pro", "olmoe-1b-7b", "llama-3.2-1b", "--vary", "batch"], "sequences"),
        (["--device", "rtx-4090", "qwen3-30b-a3b", "qwen3-8b", "--vary", "context"], "tokens"),
        (
            ["--device", "apple-m2-pro", "olmoe-1b-7b", "llama-3.2-1b", "--vary", "bandwidth", "--hi", "1e6"],
            "GB/s",
        ),
    ],
)
def test_every_crossover_value_has_its_unit(args, unit):
    out = _cli("crossover", *args)
    assert f" {unit}" in out
    assert _unitless_numbers(out) == [], out
    assert "e+0" not in out  # batch and depth read as integers, not 1.311e+05


def test_crossover_says_what_it_clipped_and_where_a_model_stops_fitting():
    out = _cli("crossover", "--device", "apple-m2-pro", "olmoe-1b-7b", "llama-3.2-1b", "--vary", "bandwidth")
    assert "range clipped" not in out
    out = _cli(
        *("crossover", "--device", "apple-m2-pro", "olmoe-1b-7b", "llama-3.2-1b"),
        *("--vary", "bandwidth", "--lo", "20", "--hi", "1e6"),
    )
    assert re.search(r"note: range clipped to 20 GB/s to [\d,]+ GB/s, what bandwidth can physically be", out)
    out = _cli("crossover", "--device", "rtx-4090", "qwen3-30b-a3b", "qwen3-8b", "--vary", "context")
    assert re.search(
        r"qwen3-30b-a3b does not fit rtx-4090's usable memory from context depth = [\d,]+ tokens", out
    )
    out = _cli(
        "crossover",
        "--device",
        "apple-m2-pro",
        "olmoe-1b-7b",
        "llama-3.2-1b",
        "--vary",
        "batch",
        "--hi",
        "300",
    )
    assert "at 1 sequence," in out  # singular
