"""GGUF probe models written directly in a quantized type (no F16 file, no llama-quantize): the
tensors carry the types llama-quantize would give them, the shapes of the spec, and valid blocks
whose scales are finite and whose weights stay small."""

from __future__ import annotations

import gguf
import numpy as np
import pytest
from gguf import quants

from roofline.llamacpp.gguf_writer import _BLOCKS, ggml_type_name, gguf_name, random_blocks, write_gguf
from roofline.specs import load_model
from roofline.specs.quant import tensor_type


def _small(model_id: str, layers: int = 2, experts: int | None = None):
    m = load_model(model_id)
    update: dict = {"n_layers": layers, "vocab_size": 4096}
    if experts and m.moe is not None:
        update["moe"] = m.moe.model_copy(update={"n_experts": experts, "top_k": min(m.moe.top_k, experts)})
    m = m.model_copy(update=update)
    m.__dict__.pop("tensors", None)
    return m


@pytest.mark.parametrize("type_name", sorted(_BLOCKS))
def test_random_blocks_dequantize_to_small_finite_weights(type_name):
    qtype = gguf.GGMLQuantizationType[type_name]
    blk, size = gguf.GGML_QUANT_SIZES[qtype]
    b = random_blocks(type_name, 64, np.random.default_rng(1))
    assert b.shape == (64, size) and b.dtype == np.uint8
    w = quants.dequantize(b.reshape(1, -1), qtype)
    assert w.shape == (1, 64 * blk)
    assert np.isfinite(w).all()
    assert 0 < np.abs(w).max() < 0.5
    assert np.unique(w).size > 8  # random, not a constant


@pytest.mark.parametrize("type_name", sorted(_BLOCKS))
def test_random_blocks_are_zero_mean(type_name):
    """A weight mean that is a sizeable share of the spread puts a rank-1 term along the all-ones
    vector into every matmul output: the hidden states of all tokens turn parallel and a random
    router sends them to the same few experts (Q4_K blocks used to average 0.9 of their spread)."""
    qtype = gguf.GGMLQuantizationType[type_name]
    w = quants.dequantize(random_blocks(type_name, 4096, np.random.default_rng(2)).reshape(1, -1), qtype)
    w = w.astype(np.float64)
    assert abs(w.mean()) < 0.1 * w.std()


@pytest.mark.parametrize(
    "model_id, quant, experts",
    [
        ("llama-3.2-1b", "Q4_K_M", None),
        ("qwen3-30b-a3b", "Q4_K_M", 4),
        ("gpt-oss-20b", "MXFP4", 4),
        ("gemma-2-2b", "Q8_0", None),
    ],
)
def test_quantized_gguf_reads_back_with_llama_quantize_types(tmp_path, model_id, quant, experts):
    m = _small(model_id, experts=experts)
    path = write_gguf(m, tmp_path / f"{model_id}-{quant}.gguf", quant=quant)
    reader = gguf.GGUFReader(str(path))
    got = {t.name: t for t in reader.tensors}
    want = {gguf_name(m, t): t for t in m.tensors}
    assert set(got) == set(want)
    seen = set()
    for name, t in want.items():
        rt = got[name]
        assert tuple(int(x) for x in reversed(rt.shape)) == t.shape, name
        kind = ggml_type_name(m, t, quant)
        assert rt.tensor_type.name == kind, name
        if kind not in ("F32", "F16"):
            assert kind == tensor_type(m, t, quant).name
            rows = rt.data.reshape(-1, rt.data.shape[-1])[:8]
            w = quants.dequantize(rows, rt.tensor_type)
            assert np.isfinite(w).all() and np.abs(w).max() < 0.5, name
        else:
            assert np.isfinite(np.asarray(rt.data, dtype=np.float32)).all(), name
        seen.add(kind)
    ftype = "MOSTLY_MXFP4_MOE" if quant == "MXFP4" else f"MOSTLY_{quant}"
    want_file_type = gguf.LlamaFileType[ftype]
    assert reader.fields["general.file_type"].contents() == int(want_file_type)
    if quant == "Q4_K_M":
        assert {"Q4_K", "Q6_K", "F32"} <= seen  # the mix: attn_v / ffn_down / output get Q6_K
    if quant == "MXFP4":
        assert got["blk.0.ffn_up_exps.weight"].tensor_type.name == "MXFP4"
        assert got["blk.0.ffn_up_exps.bias"].tensor_type.name == "F32"  # biases are never quantized
        assert got["blk.0.attn_q.weight"].tensor_type.name == "Q8_0"
        assert reader.fields["general.architecture"].contents() == "gpt-oss"
        assert "blk.0.post_attention_norm.weight" in got and "blk.0.attn_sinks.weight" in got


def test_f16_writer_unchanged_without_quant(tmp_path):
    m = _small("llama-3.2-1b", layers=1)
    reader = gguf.GGUFReader(str(write_gguf(m, tmp_path / "f16.gguf")))
    kinds = {t.name: t.tensor_type.name for t in reader.tensors}
    assert kinds["blk.0.attn_q.weight"] == "F16" and kinds["blk.0.attn_norm.weight"] == "F32"
