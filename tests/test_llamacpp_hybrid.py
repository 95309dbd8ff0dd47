"""Hybrid models measured (issue 12.3). The probe writer's Gated DeltaNet and Mamba-2 GGUFs load in
llama.cpp; on the committed CPU traces, a recurrent layer decodes in the same time at any depth
while an attention layer's time grows with it; the model says the same, and its error per row is
printed (pytest -s) and bounded."""

from __future__ import annotations

import json
import math
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np
import pytest

from roofline.api import predict
from roofline.errors import SpecError
from roofline.llamacpp.gguf_writer import ggml_type_name, layout, write_gguf
from roofline.llamacpp.synthetic import hybrid_family
from roofline.model.workload import Workload
from roofline.specs import load_model
from roofline.specs.model import Model
from roofline.specs.quant import file_size
from roofline.traces.files import E2ERow, read_e2e
from roofline.validation.calibrate import best_of_repeats

ROOT = Path(__file__).resolve().parents[1]
#: the hybrid runs (two sweeps of the same probes), a dense reference measured in the same session,
#: and Qwen3.5-35B-A3B at full width with its first 4 layers
TRACES = sorted(ROOT.glob("validation/traces/sandbox-epyc-2vcpu.hybrid*.llama.cpp.e2e.csv"))
DEVICE = "sandbox-epyc-2vcpu"
#: (hybrid, its attention-heavy control): same shapes, different (attention, recurrent) counts
PAIRS = [("probe-hybrid-gdn", "probe-hybrid-gdn-attn"), ("probe-hybrid-mamba2", "probe-hybrid-mamba2-attn")]
DEPTHS = (4096, 16384)
#: a plain dense model (llama architecture) measured in the same session
REFERENCE = "probe-dense-ff2048"


# ---- the writer ---------------------------------------------------------------------------------
def test_hybrid_ggufs_carry_llama_cpp_names_shapes_and_keys(tmp_path):
    gdn, mamba = hybrid_family(tiny=True)
    for m, arch in ((gdn, "qwen35moe"), (mamba, "nemotron_h")):
        path = write_gguf(m, tmp_path / f"{m.id}.gguf", quant="Q4_K_M")
        reader = gguf.GGUFReader(str(path))
        got = {t.name: t for t in reader.tensors}
        want = {p.name: p for p in layout(m)}
        assert set(got) == set(want)
        for name, p in want.items():
            assert tuple(int(x) for x in reversed(got[name].shape)) == p.shape, name
            assert got[name].tensor_type.name == ggml_type_name(m, p.spec, "Q4_K_M"), name
        fields = reader.fields
        assert fields["general.architecture"].contents() == arch
        assert fields[f"{arch}.ssm.conv_kernel"].contents() == 4
        if arch == "qwen35moe":
            la = gdn.linear_attention
            assert la is not None
            assert fields[f"{arch}.ssm.state_size"].contents() == la.head_k_dim
            assert fields[f"{arch}.ssm.group_count"].contents() == la.n_k_heads
            assert fields[f"{arch}.ssm.time_step_rank"].contents() == la.n_v_heads
            assert fields[f"{arch}.attention.recurrent_layers"].contents() == [True, True, True, False]
            # Qwen3.5 splits the fused beta/alpha projection; the attention query carries its gate
            assert got["blk.0.ssm_beta.weight"].shape.tolist() == [256, la.n_v_heads]
            assert "blk.0.ssm_ba.weight" not in got and "blk.3.attn_q.weight" in got
            q = gdn.attention.n_heads * gdn.attention.head_dim
            assert got["blk.3.attn_q.weight"].shape.tolist() == [256, 2 * q]
            a = np.asarray(got["blk.0.ssm_a"].data)
            assert (a < 0).all()  # decays, as -exp(A_log)
        else:
            mb = mamba.mamba
            assert mb is not None
            assert fields[f"{arch}.ssm.inner_size"].contents() == mb.d_inner
            assert fields[f"{arch}.attention.head_count_kv"].contents() == [0, 0, 2]
            assert fields[f"{arch}.feed_forward_length"].contents() == [0, 512, 0]
            assert got["blk.0.ssm_a"].shape.tolist() == [1, mb.n_heads]
            assert got["blk.0.ssm_norm.weight"].shape.tolist() == [mb.d_inner // mb.n_groups, mb.n_groups]
            assert got["blk.0.ssm_dt.bias"].tensor_type.name == "F32"
            assert got["blk.0.ssm_conv1d.bias"].tensor_type.name == "F32"


def test_writer_refuses_what_llama_cpp_cannot_run():
    gdn, mamba = hybrid_family(tiny=True)
    cases = [
        (gdn.model_copy(update={"layer_pattern": ("attention",), "linear_attention": None}), "layer_pattern"),
        (gdn.model_copy(update={"moe": None, "ffn": gdn.ffn.model_copy(update={"d_ff": 512})}), "moe"),
        (mamba.model_copy(update={"layer_pattern": ("mamba",)}), "layer_pattern"),
    ]
    for m, field in cases:
        m.__dict__.pop("tensors", None)
        with pytest.raises(SpecError) as err:
            write_gguf(m, "/nonexistent/never-written.gguf")
        assert err.value.field == field, str(err.value)


@pytest.mark.skipif(not os.environ.get("LLAMA_CPP_BIN"), reason="set LLAMA_CPP_BIN to llama.cpp's bin")
def test_llama_bench_runs_the_hybrid_ggufs(tmp_path):
    bench = Path(os.environ["LLAMA_CPP_BIN"]) / "llama-bench"
    gdn, mamba = hybrid_family(tiny=True)
    # the same DeltaNet layers as llama.cpp's qwen3next, and as qwen35 with a dense FFN
    dense = {"moe": None, "ffn": gdn.ffn.model_copy(update={"d_ff": 512})}
    variants = [
        gdn.model_copy(update={"family": "qwen3_next", "id": "probe-tiny-next"}),
        gdn.model_copy(update={"family": "qwen3_5", "id": "probe-tiny-q35", **dense}),
    ]
    for v in variants:
        v.__dict__.pop("tensors", None)
    for m in (gdn, mamba, *variants):
        path = write_gguf(m, tmp_path / f"{m.id}.gguf", quant="Q4_K_M")
        r = subprocess.run(
            [str(bench), "-m", str(path), "-t", "2", "-r", "1", "-p", "16", "-n", "4", "-o", "json"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0, r.stderr[-1500:]
        assert r.stdout.count('"avg_ts"') == 2


# ---- the measured traces ---------------------------------------------------------------------
@dataclass(frozen=True)
class Pair:
    hybrid: Model
    control: Model
    steps: dict[tuple[str, str, int], E2ERow]  # (model id, test, depth) -> row


def _counts(m: Model) -> tuple[int, int]:
    """(attention layers, recurrent layers)."""
    return len(m.layers_with("attention")), len(m.layers_with("linear_attention")) + len(
        m.layers_with("mamba")
    )


def growth(
    hybrid: Model, control: Model, step: dict[str, dict[int, float]], depth: int
) -> tuple[float, float]:
    """Seconds one attention layer and one recurrent layer add to a decode step from depth 0 to
    `depth`: the step's growth is n_attention * a + n_recurrent * r in each model (FFN, router,
    LM head and weight reads do not depend on the depth), two models with different counts give a
    and r."""
    (ha, hr), (ca, cr) = _counts(hybrid), _counts(control)
    dh = step[hybrid.id][depth] - step[hybrid.id][0]
    dc = step[control.id][depth] - step[control.id][0]
    a, r = np.linalg.solve(np.array([[ha, hr], [ca, cr]], float), np.array([dh, dc]))
    return float(a), float(r)


@pytest.fixture(scope="module")
def rows() -> list[E2ERow]:
    """Every measured row, repeated configurations merged to the fastest (the machine is shared:
    sharing can only slow a run down; calibrate.best_of_repeats)."""
    return best_of_repeats([r for t in TRACES for r in read_e2e(t)])


def _spec(row: E2ERow) -> Model:
    return load_model(row.model)


def _by_model(rows: list[E2ERow]) -> dict[str, Model]:
    return {m.id: m for m in (_spec(r) for r in rows)}


def _decode_steps(rows: list[E2ERow], tps: list[float]) -> dict[str, dict[int, float]]:
    """Seconds per decoded token, by model id and depth, from the tg128 rows and their t/s."""
    out: dict[str, dict[int, float]] = {}
    for r, value in zip(rows, tps, strict=True):
        if r.test == "tg128":
            out.setdefault(Path(r.model).stem, {})[r.depth] = 1.0 / value
    return out


def fastest_reps() -> dict[tuple[str, str, int], float]:
    """Tokens/s of the fastest repetition of each (model, test, depth) over every committed run,
    from llama-bench's raw JSON (samples_ns). A decode step on two shared vCPUs waits for both
    threads: a rep whose thread was descheduled runs up to 20x slower (the spread is in the raw
    files), so, as calibrate.best_of_repeats does for whole runs, the fastest is the estimate."""
    out: dict[tuple[str, str, int], float] = {}
    for f in ROOT.glob("validation/traces/sandbox-epyc-2vcpu.hybrid*.llama.cpp.*.llama-bench.json"):
        model = f.name.split(".llama.cpp.")[1].rsplit(".", 2)[0].rsplit(".", 1)[0]
        for rec in json.loads(f.read_text()):
            n = rec["n_prompt"] or rec["n_gen"]
            key = (model, f"{'pp' if rec['n_prompt'] else 'tg'}{n}", int(rec["n_depth"]))
            out[key] = max([out.get(key, 0.0), *(n / (ns * 1e-9) for ns in rec["samples_ns"])])
    return out


def _predicted(rows: list[E2ERow]) -> list[float]:
    return [
        predict(DEVICE, _spec(r), Workload(r.test, r.depth), quant=r.quant).tokens_per_second for r in rows
    ]


def test_trace_covers_both_hybrids_and_controls_at_three_depths(rows):
    seen = {(Path(r.model).stem, r.test, r.depth) for r in rows}
    for pair in PAIRS:
        for mid in pair:
            for test in ("pp512", "tg128"):
                for depth in (0, *DEPTHS):
                    assert (mid, test, depth) in seen
    assert all("shared" in r.notes for r in rows)  # the conditions are recorded with the rows


def _slope(values: dict[int, float]) -> float:
    """Least-squares slope through the origin of a per-layer growth against the depth (s/token)."""
    return sum(v * d for d, v in values.items()) / sum(d * d for d in values)


def test_llama_quantize_sizes_match_the_quant_rules():
    """The probe quantized F16 files with llama-quantize; the size llama-bench reports is what
    specs.quant's Q4_K_M rules give for the hybrid tensor kinds. They agree to 0.01 %: the one gap
    is ffn_gate_inp_shexp, a single row (1 x d) that llama-quantize leaves F32 (ggml counts it
    1-D) and the rules quantize, 3.5 kB a layer."""
    for f in ROOT.glob("validation/traces/sandbox-epyc-2vcpu.hybrid*.llama.cpp.*.llama-bench.json"):
        rec = json.loads(f.read_text())[0]
        model = f.name.split(".llama.cpp.")[1].rsplit(".", 2)[0].rsplit(".", 1)[0]
        m = load_model(str(ROOT / f"validation/traces/probe_specs/{model}.yaml"))
        assert rec["model_n_params"] == m.total_params, model
        assert file_size(m, "Q4_K_M") == pytest.approx(rec["model_size"], rel=1e-4), model


def test_measured_recurrent_layers_decode_flat_in_depth_attention_layers_do_not(rows):
    models, best = _by_model(rows), fastest_reps()
    tg = [r for r in rows if r.test == "tg128" and Path(r.model).stem in {m for p in PAIRS for m in p}]
    step = _decode_steps(tg, [best[(Path(r.model).stem, r.test, r.depth)] for r in tg])
    for hid, cid in PAIRS:
        grow = {d: growth(models[hid], models[cid], step, d) for d in DEPTHS}
        attn = {d: a for d, (a, _) in grow.items()}
        rec = {d: r for d, (_, r) in grow.items()}
        # an attention layer reads every cached key and value: the deeper, the slower
        assert attn[16384] > 2 * attn[4096] > 0, (hid, grow)
        # a recurrent layer reads a fixed state: its growth with depth is an order of magnitude
        # below an attention layer's (what is left is the noise of a shared machine)
        assert abs(_slope(rec)) < 0.1 * _slope(attn), (hid, grow)
        # and so the hybrid's decode slows down far less than its attention-heavy control
        assert step[hid][16384] / step[hid][0] < step[cid][16384] / step[cid][0], hid


def test_model_predicts_flat_recurrent_and_growing_attention(rows):
    models = _by_model(rows)
    tg = [r for r in rows if r.test == "tg128" and Path(r.model).stem in {m for p in PAIRS for m in p}]
    step = _decode_steps(tg, _predicted(tg))
    for hid, cid in PAIRS:
        a4, r4 = growth(models[hid], models[cid], step, 4096)
        a16, r16 = growth(models[hid], models[cid], step, 16384)
        assert a16 > 2 * a4 > 0
        assert abs(r16) < 1e-6 * a16 and abs(r4) < 1e-6 * a4  # exactly flat: a constant state
        for mid in (hid, cid):
            by_op = [
                {o.op: o.seconds for o in predict(DEVICE, models[mid], Workload("tg128", d)).breakdown}
                for d in (0, *DEPTHS)
            ]
            assert by_op[0]["ssm_core"] == pytest.approx(by_op[2]["ssm_core"], rel=1e-12)
            assert by_op[2]["attn_core"] > 10 * by_op[0]["attn_core"]


#: Cases the model misses by more than 1.5x, and why (none at present). Since the VM's spec gained its
#: measured int8 kernel rate (2026-12-01), the attention core's cost decides prefill at depth: on these
#: probes the added time from depth 0 to 4096 is well below the model's, while the study's four models
#: on the same build and VM add 2-3x more than the model at depth 2048. One attention efficiency per
#: engine cannot hold both. GDN pp512 at depth 4096 was 2.15x predicted against 1.37x measured; with
#: the 2026-12-02 refit (attention efficiency 0.114 -> 0.140) it is 2.03x, 1.48x off: inside the bound
#: by a hair, not explained.
_HYBRID_MISSES: dict[tuple[str, str, int], str] = {}


@pytest.mark.parametrize(
    ("pair", "test", "depth"),
    [
        pytest.param(
            pair,
            test,
            depth,
            marks=pytest.mark.xfail(strict=True, reason=_HYBRID_MISSES[(pair[0], test, depth)])
            if (pair[0], test, depth) in _HYBRID_MISSES
            else (),
            id=f"{pair[0]}-{test}-d{depth}",
        )
        for pair in PAIRS
        for test in ("tg128", "pp512")
        for depth in (0, *DEPTHS)
    ],
)
def test_model_predicts_how_much_faster_the_hybrid_is_at_each_depth(rows, pair, test, depth):
    """The hybrid's throughput over its attention-heavy control's, measured (fastest reps) and
    predicted, within 1.5x: the effect the recurrent state has on the answer, free of what the two
    models share (weights read per token, the machine's speed: see test_prediction_error_per_row)."""
    models, best = _by_model(rows), fastest_reps()
    hid, cid = pair
    measured = best[(hid, test, depth)] / best[(cid, test, depth)]
    w = Workload(test, depth)
    predicted = (
        predict(DEVICE, models[hid], w, quant="Q4_K_M").tokens_per_second
        / predict(DEVICE, models[cid], w, quant="Q4_K_M").tokens_per_second
    )
    assert abs(math.log(predicted / measured)) < math.log(1.5), (hid, test, depth, measured, predicted)


def test_prediction_error_per_row(rows):
    """Every row's error, printed (pytest -s). The device spec and its llama.cpp-cpu profile were
    fitted to this VM's earlier runs, and the probe-dense-ff2048 trace of 2026-11-28 has pp512
    302 t/s and tg128 87 t/s where this session measures 1073 and 152-244 with the same llama.cpp
    commit (rebuilt today, GGML_NATIVE): the host changed or those runs were slowed by sharing (a
    sweep here under load 5 ran 4x slower), and every prediction here is some 3x slow, hybrid or
    not. The test holds the hybrids to the plain dense reference measured in the
    same session: their mean error (geometric, against the fastest reps) within 2x of its (the
    calibration's warning level), so what the hybrid layers add to the error is bounded."""
    best = fastest_reps()
    pred = _predicted(rows)
    lines = [
        f"{'model':26} {'test':6} {'depth':>6} {'avg t/s':>8} {'fastest':>8} {'predicted':>9} {'error':>6}"
        f" {'vs fastest':>10}"
    ]
    error = {}
    for r, p in sorted(zip(rows, pred, strict=True), key=lambda x: (x[0].model, x[0].test, x[0].depth)):
        mid = Path(r.model).stem
        fast = best[(mid, r.test, r.depth)]
        error[(mid, r.test, r.depth)] = p / fast
        lines.append(
            f"{mid:26} {r.test:6} {r.depth:>6} {r.tokens_per_s:>8.1f} {fast:>8.1f} {p:>9.1f}"
            f" {p / r.tokens_per_s - 1:>+6.0%} {p / fast - 1:>+10.0%}"
        )
    print("\n" + "\n".join(lines))  # shown with pytest -s, and with a failure

    def mean_log(mid: str) -> float:
        logs = [math.log(e) for (m, _, _), e in error.items() if m == mid]
        return sum(logs) / len(logs)

    ref = mean_log(REFERENCE)
    for mid in {m for p in PAIRS for m in p}:
        assert abs(mean_log(mid) - ref) < math.log(2.0), (mid, math.exp(mean_log(mid)), math.exp(ref))
