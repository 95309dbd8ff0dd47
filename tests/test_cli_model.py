"""predict/compare/explain/crossover/sweep from the command line: the JSON contract and exit codes."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from roofline.api import compare, predict
from roofline.model.symbolic import build, crossover
from roofline.model.workload import Workload


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["roofline", *args], capture_output=True, text=True, timeout=120)


def test_predict_json_contract():
    r = _cli("predict", "--device", "jetson-orin-nano-8gb", "--model", "olmoe-1b-7b", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key, kind in [
        ("device", str),
        ("model", str),
        ("quant", str),
        ("engine", str),
        ("workload", dict),
        ("tokens_per_second", float),
        ("seconds_per_token", float),
        ("bound", str),
        ("breakdown", list),
        ("memory", dict),
        ("energy", dict),
    ]:
        assert isinstance(out[key], kind), key
    assert out["workload"] == {"batch": 1, "test": "tg128", "depth": 0, "phase": "decode"}
    assert out["bound"] in ("memory", "compute", "overhead")
    for row in out["breakdown"]:
        assert {"op", "seconds", "flops", "bytes", "bound"} <= set(row)
    for key in ("weights_bytes", "kv_cache_bytes", "total_bytes", "usable_bytes", "fits"):
        assert key in out["memory"]
    assert out["energy"]["joules_per_token"] > 0
    # llama-bench semantics: tgN throughput = N / total time = 1 / mean step time at batch 1
    assert out["tokens_per_second"] == pytest.approx(1 / out["seconds_per_token"])


def test_prefill_semantics():
    p = predict("rtx-4090", "llama-3.1-8b", Workload(test="pp512", depth=0))
    assert p.seconds_per_token == pytest.approx(1 / p.tokens_per_second)
    assert p.workload.phase == "prefill"


def test_compare_json_has_ratio_and_verdict():
    r = _cli("compare", "--device", "apple-m2-pro", "olmoe-1b-7b", "llama-3.2-1b", "--json")
    out = json.loads(r.stdout)
    a, b = out["predictions"]
    assert out["ratio"] == pytest.approx(a["tokens_per_second"] / b["tokens_per_second"])
    assert "olmoe-1b-7b is" in out["verdict"] and "llama-3.2-1b" in out["verdict"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--quant", "Q9_Z"], "unknown quantization"),
        (["--test", "tg"], "test must look like"),
        (["--depth", "-5"], "depth must be >= 0"),
        (["--engine", "tensorrt"], "unknown engine"),
        (["--kv-dtype", "q3"], "unknown KV-cache type"),
    ],
)
def test_bad_options_exit_2(args, needle):
    r = _cli("predict", "--device", "apple-m2-pro", "--model", "llama-3.2-1b", *args)
    assert r.returncode == 2, r.stdout
    assert needle in r.stderr and "Traceback" not in r.stderr


def test_engine_needing_a_missing_processor():
    r = _cli("predict", "--device", "ryzen-9-7950x", "--model", "llama-3.2-1b", "--engine", "llama.cpp-cuda")
    assert r.returncode == 2 and "runs on a gpu" in r.stderr


@pytest.mark.parametrize(
    ("device", "model", "test"),
    [
        ("jetson-orin-nano-8gb", "olmoe-1b-7b", "tg128"),
        ("apple-m2-pro", "qwen3-30b-a3b", "pp512"),
        ("ryzen-9-7950x", "deepseek-v2-lite", "tg64"),
        ("rtx-4090", "gemma-2-2b", "pp256"),
    ],
)
def test_symbolic_equals_numeric(device, model, test):
    """The lambdified sympy expression and the direct numeric path are the same formula."""
    for batch, depth in [(1, 0), (4, 1000), (32, 8000)]:
        w = Workload(test=test, depth=depth, batch=batch)
        p = predict(device, model, w)
        if not p.memory.fits:
            continue
        sm = build(device, model, Workload(test=test))
        f = sm.function()
        assert float(f(batch, depth, sm.values["bandwidth"])) == pytest.approx(p.tokens_per_second, rel=1e-9)


def test_crossover_marks_equal_throughput():
    c = crossover("apple-m2-pro", "olmoe-1b-7b", "llama-3.2-1b", "bandwidth")
    assert len(c.points) == 1
    bw = c.points[0]
    sa, sb = build("apple-m2-pro", "olmoe-1b-7b"), build("apple-m2-pro", "llama-3.2-1b")
    assert float(sa.function()(1, 0, bw)) == pytest.approx(float(sb.function()(1, 0, bw)), rel=1e-6)


def test_crossover_none_in_range_says_so():
    r = _cli("crossover", "--device", "apple-m2-pro", "olmoe-1b-7b", "llama-3.2-1b", "--vary", "context")
    assert r.returncode == 0 and "no crossover" in r.stdout


def test_sweep_matches_predict(tmp_path):
    out = tmp_path / "s.csv"
    r = _cli(
        "sweep",
        "--devices",
        "apple-m2-pro",
        "--models",
        "olmoe-1b-7b,llama-3.2-1b",
        "--batch",
        "1,4",
        "--depth",
        "0,2048",
        "-o",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    lines = out.read_text().splitlines()
    assert len(lines) == 1 + 2 * 2 * 2
    row = lines[1].split(",")
    p = predict("apple-m2-pro", row[1], Workload(test="tg128", batch=int(row[5]), depth=int(row[6])))
    assert float(row[7]) == pytest.approx(p.tokens_per_second, rel=1e-9)


def test_study_direction_with_the_study_build():
    """Seed study (arXiv 2606.21428): OLMoE behind Llama-3.2-1B on both devices, further behind on the
    Jetson. With the llama.cpp build the study used (b4404) on the Jetson and Metal on the M2 Pro."""
    jet = compare("jetson-orin-nano-8gb", ["olmoe-1b-7b", "llama-3.2-1b"], engine="llama.cpp-cuda-b4404")
    m2 = compare("apple-m2-pro", ["olmoe-1b-7b", "llama-3.2-1b"])
    assert jet.ratio < 1 and m2.ratio < 1
    assert jet.ratio < m2.ratio
    assert np.isfinite(jet.ratio)


def test_compare_across_devices_ranks_the_boards():
    """The 'which board should I buy' question: the same models on several devices, one table each
    and, per model, the devices fastest first; the numbers are predict's."""
    import json
    import subprocess

    args = ["roofline", "compare", "--devices", "rtx-4090,jetson-orin-nano-8gb", "qwen3-30b-a3b", "qwen3-8b"]
    out = subprocess.run([*args, "--json"], capture_output=True, text=True, check=True).stdout
    data = json.loads(out)
    assert data["devices"] == ["rtx-4090", "jetson-orin-nano-8gb"] and len(data["comparisons"]) == 2
    got = data["predictions"][1][0]["tokens_per_second"]
    assert got == pytest.approx(predict("jetson-orin-nano-8gb", "qwen3-30b-a3b").tokens_per_second)
    text = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    assert "qwen3-30b-a3b, fastest first: rtx-4090" in text


def test_explain_latex_is_a_paste_ready_align_block():
    import subprocess

    out = subprocess.run(
        ["roofline", "explain", "--device", "apple-m2-pro", "--model", "llama-3.2-1b", "--latex"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    body = [line for line in out if not line.startswith("%")]
    assert body[0] == r"\begin{align}" and body[-1] == r"\end{align}"
    assert any(r"t_{\text{attn\_qkv}} &= " in line for line in body)
    assert all(line.endswith(r"\\") for line in body[1:-2])
    assert any(line.startswith("% W = main-memory bandwidth (bytes/s)") for line in out)
