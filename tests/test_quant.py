"""Quantization: ggml block sizes, llama.cpp's per-tensor mixes, and file sizes vs published GGUFs."""

from __future__ import annotations

import pytest

from roofline.errors import SpecError
from roofline.specs import load_model
from roofline.specs.quant import WEIGHT_TYPES, check_quant, file_size, tensor_type, type_mix

GIB = 2**30

# Model sizes printed by llama-bench (GiB of tensor data) in public runs; rows of
# shared/data/public_measurements.csv, each with its source. Llama-3-8B/70B have the shapes of
# Llama-3.1-8B/70B (only RoPE scaling and context differ).
PUBLISHED_GGUF_GIB = [
    ("llama-3.1-8b", "Q4_K_M", 4.58, "github.com/XiongjieDai/GPU-Benchmarks-on-LLM-Inference (Llama-3-8B)"),
    ("llama-3.1-8b", "F16", 14.96, "github.com/XiongjieDai/GPU-Benchmarks-on-LLM-Inference (Llama-3-8B)"),
    (
        "llama-3.1-70b",
        "Q4_K_M",
        39.59,
        "github.com/XiongjieDai/GPU-Benchmarks-on-LLM-Inference (Llama-3-70B)",
    ),
    ("llama-3.2-3b", "Q4_K_M", 1.87, "public_measurements.csv, Llama-3.2-3B-Instruct Q4_K_M"),
    ("olmoe-1b-7b", "Q4_K_M", 3.92, "public_measurements.csv, OLMoE-1B-7B-0924-Instruct Q4_K_M"),
    ("qwen3-30b-a3b", "Q4_K_M", 17.28, "public_measurements.csv, Qwen3-30B-A3B Q4_K_M"),
    ("mixtral-8x7b", "Q8_0", 46.22, "github.com/ggml-org/llama.cpp/pull/4406 (llama-bench, b1631)"),
    ("mixtral-8x7b", "Q6_K", 35.74, "github.com/ggml-org/llama.cpp/pull/4406 (llama-bench, b1631)"),
    ("mixtral-8x7b", "Q4_0", 24.62, "github.com/ggml-org/llama.cpp/pull/4406 (llama-bench, b1631)"),
    ("gpt-oss-20b", "MXFP4", 11.27, "public_measurements.csv, gpt-oss-20b MXFP4"),
]
# Not used: the same PR's Mixtral K-quant mixes (Q2_K 14.57, Q3_K_M 18.96, Q4_K_M 24.62, Q5_K_M
# 30.02 GiB) come from the first day of Mixtral support (Dec 2023), before llama.cpp's current
# per-tensor rules for 8-expert models; its Q4_K_M row even prints the Q4_0 size.


@pytest.mark.parametrize(("model_id", "quant", "gib", "source"), PUBLISHED_GGUF_GIB)
def test_file_size_matches_published_gguf(model_id, quant, gib, source):
    predicted = file_size(load_model(model_id), quant) / GIB
    assert predicted == pytest.approx(gib, rel=0.03), (
        f"{model_id} {quant}: {predicted:.3f} vs {gib} ({source})"
    )


def test_bits_per_weight_of_ggml_blocks():
    # ggml-common.h: block_q4_K = 144 B per 256 weights, block_q6_K = 210 B, block_q8_0 = 34 B per 32
    assert WEIGHT_TYPES["Q4_K"].bits_per_weight == 4.5
    assert WEIGHT_TYPES["Q6_K"].bits_per_weight == 6.5625
    assert WEIGHT_TYPES["Q8_0"].bits_per_weight == 8.5
    assert WEIGHT_TYPES["Q4_0"].bits_per_weight == 4.5
    assert WEIGHT_TYPES["MXFP4"].bits_per_weight == 4.25


def test_q4_k_m_mix_follows_llama_cpp_rules():
    m = load_model("llama-3.2-1b")  # 16 layers, tied embeddings
    by_name = {(t.name, t.layer): t for t in m.tensors}
    # tied embedding doubles as the output matrix -> Q6_K
    assert tensor_type(m, by_name[("token_embd", None)], "Q4_K_M").name == "Q6_K"
    # use_more_bits(i, 16): layers 0,1 (first 1/8), 14,15 (last 1/8), and (i-2) % 3 == 2 -> 4,7,10,13
    more = {i for i in range(16) if tensor_type(m, by_name[("ffn_down", i)], "Q4_K_M").name == "Q6_K"}
    assert more == {0, 1, 4, 7, 10, 13, 14, 15}
    assert tensor_type(m, by_name[("attn_q", 3)], "Q4_K_M").name == "Q4_K"
    assert tensor_type(m, by_name[("norm0", 3)], "Q4_K_M").name == "F32"


def test_router_stays_f32_and_mixtral_attn_v_is_q8():
    m = load_model("mixtral-8x7b")
    router = next(t for t in m.tensors if t.role == "router")
    attn_v = next(t for t in m.tensors if t.name == "attn_v")
    assert tensor_type(m, router, "Q4_K_M").name == "F32"
    assert tensor_type(m, attn_v, "Q4_K_M").name == "Q8_0"


def test_row_length_fallback():
    # a row that is not a multiple of 256 cannot hold Q4_K blocks: llama.cpp falls back to Q5_0
    m = load_model("gpt-oss-20b")  # d_model 2880 = 11.25 x 256
    q = next(t for t in m.tensors if t.name == "attn_q")
    assert tensor_type(m, q, "Q4_K_M").name == "Q5_0"


def test_mix_shares_sum_to_one():
    mix = type_mix(load_model("olmoe-1b-7b"), "Q4_K_M")
    assert sum(mix.values()) == pytest.approx(1.0)
    assert next(iter(mix)) == "Q4_K"


def test_generic_formats():
    m = load_model("llama-3.1-8b")
    # INT4 with group 128: 4 bits + (16-bit scale + 4-bit zero) / 128 = 4.156 bits on linear layers
    size = file_size(m, "INT4-G128")
    emb = 2 * m.vocab_size * m.d_model * 2  # embedding and LM head stay bf16
    assert size == pytest.approx(
        emb + (m.total_params - 2 * m.vocab_size * m.d_model) * 4.15625 / 8, rel=1e-3
    )


def test_unknown_quant_is_a_clear_error():
    with pytest.raises(SpecError, match="unknown quantization 'Q4_K_X'.*Q4_K_M"):
        check_quant("Q4_K_X")
