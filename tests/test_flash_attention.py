"""Flash attention as a time term (issue 16.2): the trace column, the workload switch and the physics
of materialised scores, checked by hand-derived bytes and FLOPs and against the H200 default-build
rows measured with -fa 0 and -fa 1."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from roofline.errors import WorkloadError
from roofline.model.engine import load_engine
from roofline.model.operators import SCORE_READ_BYTES, SCORE_WRITE_BYTES, SOFTMAX_BYTES
from roofline.model.scenario import resolve
from roofline.model.stacked import stack
from roofline.model.workload import Workload
from roofline.traces.files import E2ERow, TraceError, read_e2e, write_rows
from roofline.validation.calibrate import scenario

H200 = Path(__file__).parents[1] / "validation" / "traces" / "h200-sxm-141gb.default-build.llama.cpp.e2e.csv"
# the MoEs at Q4_K_M re-measured with zero-mean random weights (validation/traces/superseded/README.md)
H200_ROUTING = H200.with_name("h200-sxm-141gb.routing.llama.cpp.e2e.csv")


def _row(**kw) -> E2ERow:
    base = dict(
        device="h200-sxm-141gb",
        engine="llama.cpp-cuda",
        model="llama-3.2-1b",
        quant="Q4_K_M",
        test="pp512",
        depth=0,
        batch=1,
        tokens_per_s=1000.0,
        source="test",
    )
    return E2ERow(**{**base, **kw})


def _one_row_with(tmp_path: Path, column: str, text: str, **kw) -> Path:
    """A one-row trace written by write_rows, then that row's `column` cell replaced by `text`
    (in a folder of its own under tmp_path)."""
    (tmp_path / column).mkdir()
    path = tmp_path / column / "t.e2e.csv"
    write_rows(path, [_row(**kw)])
    body = path.read_text().splitlines()
    head = body[0].split(",")
    cells = next(csv.reader([body[1]]))
    cells[head.index(column)] = text
    out = tmp_path / column / "u.e2e.csv"
    with out.open("w", newline="") as f:
        csv.writer(f).writerows([head, cells])
    return out


# ---- trace column ---------------------------------------------------------------------------------
def test_flash_attn_column_round_trips_and_old_files_read(tmp_path):
    rows = [_row(flash_attn=True), _row(flash_attn=False, depth=4096), _row(depth=16384)]
    path = tmp_path / "t.e2e.csv"
    write_rows(path, rows)
    assert [r.flash_attn for r in read_e2e(path)] == [True, False, None]
    # a file written before the column existed: every row takes the engine's default
    old = tmp_path / "old.e2e.csv"
    with path.open() as f, old.open("w", newline="") as g:
        recs = list(csv.DictReader(f))
        cols = [c for c in recs[0] if c != "flash_attn"]
        w = csv.DictWriter(g, fieldnames=cols)
        w.writeheader()
        for rec in recs:
            w.writerow({c: rec[c] for c in cols})
    assert [r.flash_attn for r in read_e2e(old)] == [None, None, None]


@pytest.mark.parametrize(("text", "want"), [("on", True), ("off", False), ("auto", None), ("-1", None)])
def test_flash_attn_spellings(tmp_path, text, want):
    assert read_e2e(_one_row_with(tmp_path, "flash_attn", text))[0].flash_attn is want


def test_a_bad_flash_attn_cell_names_file_line_and_column(tmp_path):
    path = _one_row_with(tmp_path, "flash_attn", "maybe")
    with pytest.raises(TraceError, match=r"u\.e2e\.csv: line 2: column 'flash_attn': expected 1/0"):
        read_e2e(path)


def test_the_h200_default_build_rows_say_their_fa():
    rows = read_e2e(H200)
    assert {r.flash_attn for r in rows} == {True, False}
    for r in rows:  # the column agrees with what llama-bench printed into the notes
        assert f"fa {int(r.flash_attn)};" in r.notes


def test_llama_bench_json_fills_the_column(tmp_path):
    from roofline.traces.importers import read_llama_bench

    rec = {
        "build_commit": "abc",
        "build_number": 1,
        "backends": "CUDA",
        "model_type": "llama 1B Q4_K - Medium",
        "model_n_params": 1235814432,
        "n_prompt": 512,
        "n_gen": 0,
        "n_depth": 0,
        "avg_ts": 1000.0,
        "avg_ns": 512000000,
        "flash_attn": True,
    }
    path = tmp_path / "b.json"
    import json

    path.write_text(json.dumps([rec, {**rec, "flash_attn": False}, {**rec, "flash_attn": -1}]))
    rows = read_llama_bench(path, "h200-sxm-141gb", model="llama-3.2-1b").rows
    assert [r.flash_attn for r in rows] == [True, False, None]


# ---- workload -------------------------------------------------------------------------------------
def test_the_workload_overrides_the_engine_default():
    eng = load_engine("llama.cpp-cuda")
    assert eng.flash_attention  # llama-bench's -fa auto: on where CUDA has the kernel
    on = resolve("h200-sxm-141gb", "llama-3.1-8b", Workload(test="pp512", depth=4096))
    off = on.at(Workload(test="pp512", depth=4096, flash_attention=False))
    assert on.flash_attention and not off.flash_attention
    assert {o.name for o in off.ops} - {o.name for o in on.ops} == {"attn_softmax", "attn_values"}
    with pytest.raises(WorkloadError, match="flash_attention"):
        Workload(flash_attention="yes")  # type: ignore[arg-type]


# ---- physics --------------------------------------------------------------------------------------
def test_materialised_scores_bytes_and_flops_by_hand():
    """llama-3.1-8b (32 layers, 32 query heads of 128, 8 KV heads), pp512 at depth 4096: one
    micro-batch of 512 queries, each scoring every key in the cache (4096 + 512, masked ones
    included)."""
    s = resolve("h200-sxm-141gb", "llama-3.1-8b", Workload(test="pp512", depth=4096, flash_attention=False))
    ops = {o.name: o for o in s.ops}
    pairs = 512 * 32 * (4096 + 512) * 32
    assert ops["attn_softmax"].kv_bytes == pytest.approx(SOFTMAX_BYTES * pairs)
    assert ops["attn_core"].flops == pytest.approx(2 * 128 * pairs)
    assert ops["attn_values"].flops == pytest.approx(2 * 128 * pairs)
    kv_cache = (4096 + 512) * 32 * 2 * 8 * 128 * 2  # K and V, f16, every layer
    k_store = 512 * 32 * 8 * 128 * 2 * 2
    assert ops["attn_core"].kv_bytes == pytest.approx(kv_cache / 2 + k_store + SCORE_WRITE_BYTES * pairs)
    assert ops["attn_values"].kv_bytes == pytest.approx(kv_cache / 2 + SCORE_READ_BYTES * pairs)
    # QK^T runs at cuBLAS's fp32 FMA peak (GGML_PREC_F32), PV on the tensor cores
    assert s.machine.peak(ops["attn_core"].peak) == pytest.approx(66.9e12)
    assert s.machine.peak(ops["attn_values"].peak) > 10 * s.machine.peak(ops["attn_core"].peak)


@pytest.mark.parametrize("model", ["llama-3.1-8b", "olmoe-1b-7b", "gemma-2-2b"])
@pytest.mark.parametrize("test", ["pp512", "tg128"])
def test_materialising_scores_is_never_faster_and_costs_more_with_depth(model, test):
    def seconds(depth, fa):
        w = Workload(test=test, depth=depth, flash_attention=fa)
        return 1 / resolve("h200-sxm-141gb", model, w).tokens_per_second()

    extra = [seconds(d, False) - seconds(d, True) for d in (0, 4096, 16384)]
    assert extra[0] >= 0
    assert extra[0] <= extra[1] <= extra[2]


def test_stacked_follows_runs_with_flash_attention_on_and_off():
    scens = [
        resolve("h200-sxm-141gb", m, Workload(test=t, depth=d, flash_attention=fa))
        for m in ("llama-3.2-1b", "olmoe-1b-7b")
        for t in ("pp512", "tg128")
        for d in (0, 16384)
        for fa in (True, False, None)
    ]
    st = stack(scens)
    eng = load_engine("llama.cpp-cuda").model_copy(update={"score_efficiency": 0.3})
    assert st.matches(eng)


# ---- against measurements -------------------------------------------------------------------------
def test_fa_ratio_of_gqa_models_on_the_h200_follows_the_measurement():
    """fa 1 / fa 0 throughput of pp512, measured on the H200 default build, against the prediction
    from the bundled profile, for models with grouped-query attention (the MHA models' fused kernel
    is slower than these physics say: see the report of issue 16.2)."""
    rows = [r for r in read_e2e(H200) + read_e2e(H200_ROUTING) if r.batch == 1 and r.test == "pp512"]
    by: dict[tuple[str, int], dict[bool, E2ERow]] = {}
    for r in rows:
        by.setdefault((r.model, r.depth), {})[bool(r.flash_attn)] = r
    errs = []
    for model in ("llama-3.2-1b", "llama-3.1-8b", "qwen3-8b", "qwen3-30b-a3b", "mistral-7b"):
        for depth in (4096, 16384):
            pair = by[(model, depth)]
            measured = pair[True].tokens_per_s / pair[False].tokens_per_s
            predicted = scenario(pair[True]).tokens_per_second() / scenario(pair[False]).tokens_per_second()
            errs.append(predicted / measured - 1)
    assert np.median(np.abs(errs)) < 0.2
    assert max(np.abs(errs)) < 0.4


# ---- the ubatch column (llama-bench -ub), beside -fa -------------------------------------------------
def test_ubatch_column_round_trips_and_reaches_the_workload(tmp_path):
    rows = [_row(test="pp2048", ubatch=2048), _row(test="pp2048")]
    path = tmp_path / "t.e2e.csv"
    write_rows(path, rows)
    got = read_e2e(path)
    assert [r.ubatch for r in got] == [2048, None]
    a, b = scenario(got[0]), scenario(got[1])
    assert (a.vars.steps, b.vars.steps) == (1, 4)
    assert a.tokens_per_second() != b.tokens_per_second()


@pytest.mark.parametrize("text", ["0", "x", "1.5", "-512"])
def test_a_bad_ubatch_cell_names_file_line_and_column(tmp_path, text):
    with pytest.raises(TraceError, match=r"u\.e2e\.csv.*line 2.*'ubatch'"):
        read_e2e(_one_row_with(tmp_path, "ubatch", text))


def test_kv_type_column_sets_the_cache_type(tmp_path):
    """kv_type (llama-bench -ctk): a q8_0 cache holds 34 bytes per 32 elements where f16 holds 64, so
    decode at depth reads less KV; a bad type names the column."""
    rows = [_row(test="tg128", depth=16384, kv_type="q8_0"), _row(test="tg128", depth=16384)]
    path = tmp_path / "t.e2e.csv"
    write_rows(path, rows)
    got = read_e2e(path)
    assert [r.kv_type for r in got] == ["q8_0", ""]
    q8, f16 = ({o.name: o for o in scenario(r).ops} for r in got)
    assert q8["attn_core"].kv_bytes == pytest.approx(f16["attn_core"].kv_bytes * (34 / 32) / 2, rel=0.02)
    with pytest.raises(TraceError, match=r"line 2.*'kv_type'"):
        read_e2e(_one_row_with(tmp_path, "kv_type", "q9_9"))
