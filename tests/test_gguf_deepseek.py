"""DeepSeek-V2 (MLA) GGUFs for llama.cpp's deepseek2: a shrunken DeepSeek-V2-Lite (real widths, 3
layers, 4 experts) read back with the metadata keys, tensor names, shapes and types llama.cpp's
loader and llama-quantize use; with a llama.cpp build at hand (LLAMA_CPP_BIN or the cached CPU
build), llama-quantize gives an F16 copy the same types and llama-bench loads and runs the file."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import gguf
import pytest

from roofline.errors import SpecError
from roofline.llamacpp.gguf_writer import write_gguf
from roofline.specs import load_model
from roofline.specs.quant import file_size

_CACHED = Path("/root/.cache/moe-roofline/llama.cpp/0.3.36-cpu/bin")
BIN = Path(os.environ.get("LLAMA_CPP_BIN") or _CACHED)
needs_llama_cpp = pytest.mark.skipif(
    not (BIN / "llama-bench").exists(), reason=f"no llama.cpp build at {BIN} (set LLAMA_CPP_BIN)"
)


def _small(layers: int = 3, experts: int = 4, **update):
    m = load_model("deepseek-v2-lite")
    moe = m.moe.model_copy(update={"n_experts": experts, "top_k": min(m.moe.top_k, experts)})
    m = m.model_copy(
        update={
            "n_layers": layers,
            "vocab_size": 4096,
            "moe": moe,
            "ffn": m.ffn.model_copy(update={"d_ff": 2816}),
        }
    )
    m = m.model_copy(update=update)
    m.__dict__.pop("tensors", None)
    return m


def _ne(t) -> tuple[int, ...]:
    return tuple(int(x) for x in t.shape)  # GGUF order: ne0 (the row length) first


def test_deepseek2_keys_names_shapes_and_types(tmp_path):
    m = _small()
    path = write_gguf(m, tmp_path / "dsv2.gguf", quant="Q4_K_M")
    r = gguf.GGUFReader(str(path))
    f = {k: v.contents() for k, v in r.fields.items() if not k.startswith("tokenizer.")}
    assert f["general.architecture"] == "deepseek2"
    want = {
        "block_count": 3,
        "embedding_length": 2048,
        "feed_forward_length": 2816,
        "vocab_size": 4096,
        "attention.head_count": 16,
        "attention.head_count_kv": 1,  # MLA as MQA over the latent
        "attention.key_length": 512 + 64,
        "attention.value_length": 512,
        "attention.key_length_mla": 128 + 64,
        "attention.value_length_mla": 128,
        "attention.kv_lora_rank": 512,
        "attention.q_lora_rank": 0,  # required for a non-Lite layer count; 0: plain attn_q
        "rope.dimension_count": 64,
        "leading_dense_block_count": 1,
        "expert_count": 4,
        "expert_used_count": 4,
        "expert_feed_forward_length": 1408,
        "expert_shared_count": 2,
        "expert_weights_norm": False,
        "expert_gating_func": 1,  # softmax
    }
    assert {k: f.get(f"deepseek2.{k}") for k in want} == want
    assert r.fields["deepseek2.expert_weights_norm"].types == [gguf.GGUFValueType.BOOL]

    got = {t.name: (_ne(t), t.tensor_type.name) for t in r.tensors}
    assert not any("attn_kv_b" in n for n in got)  # k_b/v_b only: the loader takes one form
    assert got["token_embd.weight"] == ((2048, 4096), "Q4_K")
    assert got["output.weight"] == ((2048, 4096), "Q6_K")
    for i in range(3):
        b = f"blk.{i}."
        assert got[b + "attn_q.weight"] == ((2048, 16 * 192), "Q4_K")
        assert got[b + "attn_kv_a_mqa.weight"] == ((2048, 576), "Q4_K")
        assert got[b + "attn_kv_a_norm.weight"] == ((512,), "F32")
        # rows of 128 do not take 256-blocks: llama-quantize falls back from Q4_K to Q5_0
        assert got[b + "attn_k_b.weight"] == ((128, 512, 16), "Q5_0")
        assert got[b + "attn_v_b.weight"] == ((512, 128, 16), "Q4_K")
        assert got[b + "attn_output.weight"] == ((2048, 2048), "Q4_K")
        assert got[b + "attn_norm.weight"] == got[b + "ffn_norm.weight"] == ((2048,), "F32")
    assert got["blk.0.ffn_gate.weight"] == got["blk.0.ffn_up.weight"] == ((2048, 2816), "Q4_K")
    assert got["blk.0.ffn_down.weight"] == ((2816, 2048), "Q4_K")
    assert "blk.0.ffn_gate_inp.weight" not in got
    for i in (1, 2):
        b = f"blk.{i}."
        assert got[b + "ffn_gate_inp.weight"] == ((2048, 4), "F32")
        assert got[b + "ffn_gate_exps.weight"] == got[b + "ffn_up_exps.weight"] == ((2048, 1408, 4), "Q4_K")
        assert got[b + "ffn_gate_shexp.weight"] == got[b + "ffn_up_shexp.weight"] == ((2048, 2816), "Q4_K")
    # ffn_down: Q6_K on use_more_bits layers (layer 2 of 3), which rows of 1408 turn into Q8_0
    assert got["blk.1.ffn_down_exps.weight"] == ((1408, 2048, 4), "Q5_0")
    assert got["blk.2.ffn_down_exps.weight"] == ((1408, 2048, 4), "Q8_0")
    assert got["blk.2.ffn_down_shexp.weight"] == ((2816, 2048), "Q6_K")
    assert len(got) == 3 + 3 * 8 + 3 + 2 * 7  # global; attention and norms; dense FFN; MoE

    # the spec counts attn_kv_b in Q4_K; the file holds k_b in Q5_0: per layer 16*512*128 weights
    # at 22/32 instead of 144/256 bytes, the only difference from file_size
    n_bytes = sum(int(t.n_bytes) for t in r.tensors)
    k_b_extra = 3 * 16 * 512 * 128 * (22 / 32 - 144 / 256)
    assert n_bytes == pytest.approx(file_size(m, "Q4_K_M") + k_b_extra, abs=0.5)
    assert n_bytes / file_size(m, "Q4_K_M") - 1 < 0.02


def test_deepseek2_refuses_what_the_loader_cannot_read():
    cases = [
        (_small(moe=_small().moe.model_copy(update={"moe_every": 2})), "moe"),
        (_small(moe=_small().moe.model_copy(update={"d_shared_expert": 1024})), "moe"),
        (_small(moe=_small().moe.model_copy(update={"router_bias": True})), "moe"),
    ]
    lite = load_model("deepseek-v2-lite")
    assert lite.attention.mla is not None
    mla = lite.attention.mla.model_copy(update={"q_lora_rank": 1536})
    cases.append(
        (
            _small(layers=27, attention=lite.attention.model_copy(update={"mla": mla})),
            "attention.mla.q_lora_rank",
        )
    )
    for m, field in cases:
        m.__dict__.pop("tensors", None)
        with pytest.raises(SpecError) as err:
            write_gguf(m, "/nonexistent/never-written.gguf")
        assert err.value.field == field, str(err.value)


@needs_llama_cpp
@pytest.mark.parametrize("quant, ftype", [("Q4_K_M", "Q4_K_M"), ("MXFP4", "MXFP4_MOE")])
def test_llama_quantize_gives_an_f16_copy_the_same_types(tmp_path, quant, ftype):
    m = _small()
    direct = gguf.GGUFReader(str(write_gguf(m, tmp_path / "direct.gguf", quant=quant)))
    f16 = write_gguf(m, tmp_path / "f16.gguf")
    out = tmp_path / "quantized.gguf"
    r = subprocess.run(
        [str(BIN / "llama-quantize"), str(f16), str(out), ftype, "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-1500:]
    want = {t.name: (_ne(t), t.tensor_type.name) for t in gguf.GGUFReader(str(out)).tensors}
    assert {t.name: (_ne(t), t.tensor_type.name) for t in direct.tensors} == want
    if quant == "MXFP4":  # 3-D tensors all MXFP4, per-head k_b/v_b included
        assert want["blk.0.attn_k_b.weight"][1] == want["blk.1.ffn_up_exps.weight"][1] == "MXFP4"


@needs_llama_cpp
def test_llama_bench_runs_the_deepseek2_gguf(tmp_path):
    path = write_gguf(_small(), tmp_path / "dsv2.gguf", quant="Q4_K_M")
    r = subprocess.run(
        [
            str(BIN / "llama-bench"),
            "-m",
            str(path),
            "-t",
            "2",
            "-r",
            "1",
            "-p",
            "16",
            "-n",
            "4",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-1500:]
    assert r.stdout.count('"avg_ts"') == 2
    assert '"model_type": "deepseek2' in r.stdout
