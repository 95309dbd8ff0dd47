"""Systems and placements (issue 17): the split costs agree with the single-device path where they
must, obey the invariants a split must, and pick the placement public measurements found best."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roofline import api, systems
from roofline.errors import RooflineError, SpecError, WorkloadError
from roofline.model.placement import Placement, parse_placement, resolve_system, system_step
from roofline.model.workload import Workload
from roofline.specs.catalog import check_file, load_system, validate
from roofline.specs.system import System
from roofline.validation import placements

ROOT = Path(__file__).resolve().parents[1]
DECODE, PREFILL = Workload(test="tg128"), Workload(test="pp512")


@pytest.fixture(scope="module")
def qwen_4060() -> tuple:
    return (
        resolve_system("desktop-rtx-4060-r9-7950x", "qwen3-30b-a3b", DECODE),
        resolve_system("desktop-rtx-4060-r9-7950x", "qwen3-30b-a3b", PREFILL),
    )


def test_every_bundled_system_loads():
    for f in sorted((ROOT / "system_specs").glob("*.yaml")):
        spec = check_file(f)
        assert isinstance(spec, System) and spec.id == f.stem


@pytest.mark.parametrize("test", ["tg128", "pp512"])
def test_all_on_one_gpu_is_the_single_device_prediction(test):
    """A placement that keeps everything on the accelerator costs what predict costs on it alone."""
    w = Workload(test=test)
    step = system_step("h200-machine", "qwen3-30b-a3b", w, Placement())
    alone = api.predict("h200-sxm-141gb", "qwen3-30b-a3b", w)
    assert step.tokens_per_second == pytest.approx(alone.tokens_per_second, rel=1e-9)
    assert step.link_seconds == 0


def test_cpu_only_is_the_host_prediction():
    step = system_step("desktop-rtx-4090-r9-7950x", "qwen3-8b", DECODE, Placement(gpus=0))
    alone = api.predict("ryzen-9-7950x", "qwen3-8b", DECODE, engine="llama.cpp-cpu")
    assert step.tokens_per_second == pytest.approx(alone.tokens_per_second, rel=1e-9)


def test_weights_are_conserved_across_parts(qwen_4060):
    """However the experts are split, the parts together hold the whole model once."""
    dec, _ = qwen_4060
    whole = dec.gpu.footprint.weights
    for k in (0, 1, 24, 48):
        parts = dec.step(Placement(n_cpu_moe=k)).parts
        assert sum(p.weight_bytes for p in parts) == pytest.approx(whole, rel=1e-9)


@settings(max_examples=25, deadline=None)
@given(k=st.integers(0, 47))
def test_one_more_cpu_expert_layer_frees_gpu_memory_and_is_never_faster_in_decode(qwen_4060, k):
    dec, _ = qwen_4060
    a, b = dec.step(Placement(n_cpu_moe=k)), dec.step(Placement(n_cpu_moe=k + 1))
    gpu = lambda s: next(p for p in s.parts if p.role == "gpu")  # noqa: E731
    assert gpu(b).weight_bytes < gpu(a).weight_bytes
    assert b.tokens_per_second <= a.tokens_per_second * (1 + 1e-12)


@settings(max_examples=20, deadline=None)
@given(ngl=st.integers(0, 48))
def test_fewer_gpu_layers_are_never_faster_in_decode(qwen_4060, ngl):
    dec, _ = qwen_4060
    assert dec.step(Placement(ngl=ngl)).tokens_per_second <= dec.step(
        Placement(ngl=ngl + 1)
    ).tokens_per_second * (1 + 1e-12)


def test_prefill_with_host_experts_pays_the_weight_copy(qwen_4060):
    """llama.cpp's op offload: pp512 with experts in host RAM copies the experts it uses over PCIe,
    so the copy time is those bytes at the link's bandwidth."""
    _, pre = qwen_4060
    step = pre.step(Placement(n_cpu_moe=48))
    gpu = next(p for p in step.parts if p.role == "gpu")
    link = load_system("desktop-rtx-4060-r9-7950x").link("host")
    experts = next(o for o in pre.gpu.ops if o.name == "experts")
    assert gpu.copy_seconds == pytest.approx(float(experts.weight_bytes) / link.bandwidth.value, rel=1e-9)
    assert any("op offload" in n for n in step.notes)


def test_place_puts_a_big_moe_experts_on_the_cpu_of_an_8gb_box():
    """gpt-oss-120b (59 GiB) on an RTX 4060 (8 GB) + 64 GB host: only CPU-expert or -ngl placements
    fit, and the best one keeps attention on the GPU with the experts on the CPU."""
    rep = systems.place("desktop-rtx-4060-r9-7950x", "gpt-oss-120b")
    assert rep.best_decode is not None and rep.best_decode.fits
    assert rep.best_decode.placement.n_cpu_moe > 0
    assert not next(c for c in rep.candidates if c.placement == Placement()).fits


def test_place_keeps_a_small_dense_model_on_the_gpu():
    rep = systems.place("desktop-rtx-4060-r9-7950x", "qwen3-8b")
    assert rep.best_decode is not None and rep.best_decode.placement == Placement()


def test_tensor_parallel_splits_the_weights():
    one = system_step("hgx-8x-h200", "llama-3.1-70b", DECODE, parse_placement("tp=1"))
    eight = system_step("hgx-8x-h200", "llama-3.1-70b", DECODE, parse_placement("tp=8"))
    assert eight.parts[0].weight_bytes == pytest.approx(one.parts[0].weight_bytes / 8, rel=0.01)
    assert eight.link_seconds > 0 and one.link_seconds == 0


def test_unified_memory_shares_one_memory():
    step = system_step("apple-m4-max-unified", "qwen3-30b-a3b", DECODE, Placement(n_cpu_moe=24))
    assert any("unified memory" in n for n in step.notes) and step.link_bytes == 0
    # Qwen3-235B: each share alone is under the 96 GiB, together they are not
    big = system_step("apple-m4-max-unified", "qwen3-235b-a22b", DECODE, Placement(n_cpu_moe=60))
    assert all(p.fits for p in big.parts) and not big.fits


@pytest.mark.parametrize(
    "text, message",
    [
        ("ngl=-1", "whole number"),
        ("ngl=x", "whole number"),
        ("sm=diagonal", "layer, row"),
        ("bogus=1", "key=value"),
    ],
)
def test_bad_placements_are_clear_errors(text, message):
    with pytest.raises(WorkloadError, match=message):
        parse_placement(text)


def test_placement_beyond_the_system_is_refused():
    with pytest.raises(WorkloadError, match="needs 2 accelerators"):
        system_step("desktop-rtx-4090-r9-7950x", "qwen3-8b", DECODE, Placement(gpus=2))


def test_a_system_without_a_host_link_is_refused():
    data = {
        "id": "x",
        "name": "x",
        "host": {"device": "ryzen-9-7950x"},
        "accelerators": [{"device": "rtx-4090"}],
    }
    with pytest.raises(SpecError, match="needs a link of kind 'host'"):
        validate(data, System, "x.yaml")


def test_predicted_best_placement_matches_the_measured_best():
    """Public measurements (validation/data/public_placement.csv) with several placements of one model
    on one machine: the fastest predicted placement is the fastest measured one in every group."""
    rows, _ = placements.check(ROOT / "validation/data/public_placement.csv")
    summ = placements.summary(rows)
    assert summ["best_placement"], "no group with several placements"
    assert summ["best_placement_right"] == len(summ["best_placement"])


def test_place_cli(tmp_path):
    r = subprocess.run(
        ["roofline", "place", "--system", "desktop-rtx-4060-r9-7950x", "--model", "qwen3-30b-a3b", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["tool"]["name"] == "moe-roofline" and out["best_decode"]["fits"]
    assert "--n-cpu-moe" in out["best_decode"]["flags"]
    bad = subprocess.run(
        ["roofline", "place", "--system", "no-such-system", "--model", "qwen3-8b"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "unknown system id" in bad.stderr and "Traceback" not in bad.stderr


def test_errors_are_roofline_errors():
    assert issubclass(WorkloadError, RooflineError)


def test_compare_on_a_system_weighs_a_moe_with_cpu_experts_against_a_dense_model_on_the_gpu():
    r = subprocess.run(
        [
            "roofline",
            "compare",
            "--system",
            "desktop-rtx-4060-r9-7950x",
            "qwen3-30b-a3b",
            "qwen3-8b",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    moe, dense = out["models"]
    assert moe["best_decode"]["placement"]["n_cpu_moe"] > 0  # the MoE does not fit 8 GB whole
    assert (
        dense["best_decode"]["placement"]["n_cpu_moe"] == 0
        and dense["best_decode"]["placement"]["ngl"] is None
    )
    assert out["verdict"].startswith("decode: qwen3-30b-a3b")


def test_placement_figure_data_adds_up_and_draws(tmp_path):
    """The placement bars' parts sum to each placement's time per token (1 / its throughput), CPU
    expert time appears only where experts are on the CPU, and the figure and its CSV are written."""
    from roofline import plots

    pls = [Placement(), Placement(n_cpu_moe=31), Placement(gpus=0)]
    data = plots.placement_data("desktop-rtx-4060-r9-7950x", ["qwen3-30b-a3b"], DECODE, pls)
    assert data.seconds_per_token.sum(axis=1) == pytest.approx(1 / data.tokens_per_second, rel=1e-9)
    cpu_exp = data.seconds_per_token[:, data.parts.index("cpu_experts")]
    assert cpu_exp[0] == 0 and cpu_exp[1] > 0
    assert list(data.fits) == [False, True, True]
    r = subprocess.run(
        [
            "roofline",
            "plot",
            "placement",
            "--system",
            "desktop-rtx-4060-r9-7950x",
            "qwen3-30b-a3b",
            "qwen3-8b",
            "-o",
            str(tmp_path / "p.png"),
            "--data",
            str(tmp_path / "p.csv"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "p.png").stat().st_size > 0 and "cpu_experts" in (tmp_path / "p.csv").read_text()


def test_predict_on_a_system_with_a_placement():
    r = subprocess.run(
        [
            "roofline",
            "predict",
            "--system",
            "desktop-rtx-4060-r9-7950x",
            "--model",
            "qwen3-30b-a3b",
            "--placement",
            "n-cpu-moe=31",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    want = system_step("desktop-rtx-4060-r9-7950x", "qwen3-30b-a3b", DECODE, Placement(n_cpu_moe=31))
    assert out["tokens_per_second"] == pytest.approx(want.tokens_per_second, rel=1e-9)
    assert out["flags"] == "-ngl 49 --n-cpu-moe 31" and {p["role"] for p in out["parts"]} == {"cpu", "gpu"}
    both = subprocess.run(
        ["roofline", "predict", "--device", "rtx-4090", "--system", "h200-machine", "--model", "qwen3-8b"],
        capture_output=True,
        text=True,
    )
    assert both.returncode == 2 and "--device D, or --system S" in both.stderr


def test_llama_cpp_pipelines_prefill_micro_batches_across_gpus():
    """-sm layer over 2 GPUs with every layer on them: a 1024-token prompt is 2 micro-batches of 512,
    pipelined, so the GPUs' time is (1 + 1/2) / 2 of running them one after the other; decode and a
    single micro-batch are not pipelined."""
    w = Workload(test="pp1024")
    step = system_step("desktop-2x-rtx-3090-r9-7950x", "llama-3.1-8b", w, Placement(gpus=2))
    gpu = sum(p.seconds for p in step.parts if p.role.startswith("gpu"))
    rest = (
        sum(p.seconds for p in step.parts if not p.role.startswith("gpu"))
        + step.link_seconds
        + step.host_seconds
    )
    assert step.seconds - rest == pytest.approx(0.75 * gpu, rel=1e-9)
    for test in ("pp512", "tg128"):
        one = system_step(
            "desktop-2x-rtx-3090-r9-7950x", "llama-3.1-8b", Workload(test=test), Placement(gpus=2)
        )
        gpu = sum(p.seconds for p in one.parts if p.role.startswith("gpu"))
        rest = (
            sum(p.seconds for p in one.parts if not p.role.startswith("gpu"))
            + one.link_seconds
            + one.host_seconds
        )
        assert one.seconds - rest == pytest.approx(gpu, rel=1e-9)


def test_system_crossover_rechooses_placements_as_context_grows():
    """On the 8 GB box the dense model has to give up GPU layers as its KV cache grows, and the
    MoE more of its experts: every point re-chooses, and the chosen placements show it."""
    c = systems.system_crossover("desktop-rtx-4060-r9-7950x", "qwen3-30b-a3b", "qwen3-8b", "depth", points=5)
    assert c.grid[0] == 0 and c.grid[-1] == 131072
    assert c.placements_b[0] == "all on the GPU" and c.placements_b[-1] != "all on the GPU"
    assert all(r is not None and r > 0 for r in c.ratio)
    for x, r in zip(c.grid, c.ratio, strict=True):
        w = Workload(test="tg128", depth=int(x))
        a = systems.best_step("desktop-rtx-4060-r9-7950x", "qwen3-30b-a3b", w)
        b = systems.best_step("desktop-rtx-4060-r9-7950x", "qwen3-8b", w)
        assert r == pytest.approx(a.tokens_per_second / b.tokens_per_second, rel=1e-12)
    with pytest.raises(WorkloadError, match="batch or depth"):
        systems.system_crossover("h200-machine", "qwen3-8b", "qwen3-4b", "bandwidth")
