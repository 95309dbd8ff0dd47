"""Write a GGUF file with random weights for a model spec, with the tensor names, shapes and
architecture metadata llama.cpp needs to load it, and a dummy vocabulary of the right size.

Timing depends on shapes and quantization, not on weight values, with one exception: random
router weights give near-uniform routing (real models route less uniformly). Weights are F16,
streamed tensor by tensor (a 7 B model never sits in memory whole); large tensors repeat a random
block, while routers get fully random rows so that routing stays near-uniform.

With `quant` (a llama-quantize file type such as Q4_K_M, Q8_0 or MXFP4), each tensor is written
directly in the type llama-quantize would give it (`roofline.specs.quant.tensor_type`), as valid
random blocks: random quant bits and sub-block scales, finite fp16 (or E8M0) block scales chosen so
weights stay small. No F16 file is written and nothing is quantized, so large models take seconds
and one file's disk space.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from roofline.errors import SpecError
from roofline.specs.model import Model, Tensor
from roofline.specs.quant import check_quant, tensor_type

#: our family -> llama.cpp architecture name
ARCHES = {
    "llama": "llama",
    "mistral": "llama",
    "mixtral": "llama",
    "qwen2": "qwen2",
    "qwen3": "qwen3",
    "olmoe": "olmoe",
    "gemma2": "gemma2",
    "qwen3_moe": "qwen3moe",
    "gpt_oss": "gpt-oss",
    "probe": "llama",
}
_NORMS = {
    "gemma2": ["attn_norm", "post_attention_norm", "ffn_norm", "post_ffw_norm"],
    "gpt_oss": ["attn_norm", "post_attention_norm"],
}

#: block layouts of ggml-common.h: (fp16 scale byte offsets, E8M0 scale byte offset or None,
#: int8 sub-block scale (start, end) or None) within one block. Everything else in a block is random
#: quant bits or unsigned 6/4-bit sub-block scales, valid for any value.
_BLOCKS: dict[str, tuple[tuple[int, ...], int | None, tuple[int, int] | None]] = {
    "Q4_0": ((0,), None, None),
    "Q4_1": ((0, 2), None, None),
    "Q5_0": ((0,), None, None),
    "Q5_1": ((0, 2), None, None),
    "Q8_0": ((0,), None, None),
    "IQ4_NL": ((0,), None, None),
    "Q2_K": ((80, 82), None, None),
    "Q3_K": ((108,), None, None),
    "Q4_K": ((0, 2), None, None),
    "Q5_K": ((0, 2), None, None),
    "Q6_K": ((208,), None, (192, 208)),
    "MXFP4": ((), 0, None),
}
#: fp16 block scale per type: dequantized weights stay within a few hundredths
_SCALE = {
    "Q8_0": 2.0**-12,
    "IQ4_NL": 2.0**-12,
    "Q4_0": 2.0**-8,
    "Q4_1": 2.0**-8,
    "Q5_0": 2.0**-9,
    "Q5_1": 2.0**-9,
    "Q2_K": 2.0**-10,
    "Q3_K": 2.0**-12,
    "Q4_K": 2.0**-14,
    "Q5_K": 2.0**-14,
    "Q6_K": 2.0**-14,
}
_MXFP4_E8M0 = 119  # 2**(119 - 127): |w| <= 6 * 2**-8


def gguf_name(m: Model, t: Tensor) -> str:
    if t.layer is None:
        return {
            "token_embd": "token_embd.weight",
            "output_norm": "output_norm.weight",
            "output": "output.weight",
        }[t.name]
    base = t.name
    if base.startswith("norm"):
        idx = int(base[4:].split("_")[0])
        names = _NORMS.get(m.family, ["attn_norm", "ffn_norm"])
        base = names[idx]
    suffix = "weight"
    if base.endswith("_bias"):
        base, suffix = base[: -len("_bias")], "bias"
    return f"blk.{t.layer}.{base}.{suffix}"


def _values(t: Tensor, rng: np.random.Generator, block: np.ndarray) -> np.ndarray:
    if t.role == "norm":
        return np.ones(t.shape, np.float32)
    if t.role in ("bias", "router") or len(t.shape) == 1 or t.name.endswith("_bias"):
        return (0.02 * rng.standard_normal(t.shape)).astype(np.float32)
    return np.resize(block, t.shape)


def ggml_type_name(m: Model, t: Tensor, quant: str | None) -> str:
    """The GGML type `t` is written in: F32 for norms, biases, routers and 1-D tensors; else F16
    (no quant) or what llama-quantize gives it under `quant`."""
    if t.role in ("norm", "bias", "router") or len(t.shape) == 1 or t.name.endswith("_bias"):
        return "F32"
    if quant is None or quant == "F16":
        return "F16"
    return tensor_type(m, t, quant).name


def random_blocks(type_name: str, n_blocks: int, rng: np.random.Generator) -> np.ndarray:
    """`n_blocks` valid random blocks of a quantized GGML type, as bytes (n_blocks, type_size)."""
    import gguf

    qtype = gguf.GGMLQuantizationType[type_name]
    _, size = gguf.GGML_QUANT_SIZES[qtype]
    if type_name not in _BLOCKS:
        raise SpecError("quant", f"no random-block writer for GGML type {type_name}", "quant")
    halves, e8m0, signed = _BLOCKS[type_name]
    b = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    for off in halves:
        d = (_SCALE[type_name] * rng.uniform(0.5, 1.0, n_blocks)).astype(np.float16)
        b[:, off : off + 2] = d.view(np.uint8).reshape(n_blocks, 2)
    if e8m0 is not None:
        b[:, e8m0] = rng.integers(_MXFP4_E8M0 - 1, _MXFP4_E8M0 + 1, n_blocks, endpoint=True, dtype=np.uint8)
    if signed is not None:
        lo, hi = signed
        b[:, lo:hi] = rng.integers(-16, 17, size=(n_blocks, hi - lo), dtype=np.int8).view(np.uint8)
    return b


def _file_type(quant: str | None) -> Any:
    import gguf

    if quant is None or quant == "F16":
        return gguf.LlamaFileType.MOSTLY_F16
    if quant == "MXFP4":
        return gguf.LlamaFileType.MOSTLY_MXFP4_MOE
    return gguf.LlamaFileType[f"MOSTLY_{quant}"]


def write_gguf(
    m: Model, path: str | Path, seed: int = 0, progress: Any = None, quant: str | None = None
) -> Path:
    """Write `m` with random weights to `path`: F16 matrices, or with `quant` every tensor directly
    in the type llama-quantize would give it (see the module docstring)."""
    import gguf

    if m.family not in ARCHES:
        raise SpecError(
            m.id, f"no GGUF writer for family {m.family!r}; supported: {', '.join(sorted(ARCHES))}", "family"
        )
    quant = check_quant(quant) if quant is not None else None
    arch = ARCHES[m.family]
    a = m.attention
    if a.mla is not None:
        raise SpecError(m.id, "MLA models are not supported by the probe writer", "attention")
    p = Path(path)
    w = gguf.GGUFWriter(str(p), arch)
    w.add_name(f"roofline probe: {m.id}")
    w.add_context_length(32768)
    w.add_embedding_length(m.d_model)
    w.add_block_count(m.n_layers)
    if m.ffn.d_ff:
        w.add_feed_forward_length(m.ffn.d_ff)
    w.add_head_count(a.n_heads)
    w.add_head_count_kv(a.n_kv_heads)
    w.add_key_length(a.head_dim)
    w.add_value_length(a.head_dim)
    w.add_rope_dimension_count(a.head_dim)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_file_type(_file_type(quant))
    if m.moe is not None:
        w.add_expert_count(m.moe.n_experts)
        w.add_expert_used_count(m.moe.top_k)
        if arch in ("qwen3moe", "olmoe", "gpt-oss") or not m.ffn.d_ff:
            w.add_expert_feed_forward_length(m.moe.d_expert)
            if not m.ffn.d_ff:
                w.add_feed_forward_length(m.moe.d_expert)
    if arch == "gemma2":
        w.add_sliding_window(a.sliding_window or 4096)
        w.add_attn_logit_softcapping(50.0)
        w.add_final_logit_softcapping(30.0)
    if arch == "gpt-oss":
        w.add_sliding_window(a.sliding_window or 128)
    # a dummy SentencePiece-style vocabulary of the right size
    n = m.vocab_size
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(256)]
    tokens += [f"t{i}" for i in range(n - len(tokens))]
    types = [2, 3, 3] + [6] * 256 + [1] * (n - 259)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens[:n])
    w.add_token_scores([0.0] * n)
    w.add_token_types(types[:n])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    rng = np.random.default_rng(seed)
    block = (0.02 * rng.standard_normal(1 << 20)).astype(np.float16)
    tensors = list(m.tensors)
    kinds = [ggml_type_name(m, t, quant) for t in tensors]
    patterns: dict[str, np.ndarray] = {}
    for t, kind in zip(tensors, kinds, strict=True):
        if kind in ("F32", "F16"):
            dtype = np.dtype(np.float32 if kind == "F32" else np.float16)
            w.add_tensor_info(gguf_name(m, t), t.shape, dtype, int(np.prod(t.shape)) * dtype.itemsize)
            continue
        qtype = gguf.GGMLQuantizationType[kind]
        blk, size = gguf.GGML_QUANT_SIZES[qtype]
        byte_shape = (*t.shape[:-1], t.shape[-1] // blk * size)
        w.add_tensor_info(gguf_name(m, t), byte_shape, np.dtype(np.uint8), int(np.prod(byte_shape)), qtype)
        if kind not in patterns:  # 4096 random blocks, repeated over each tensor of that type
            patterns[kind] = random_blocks(kind, 4096, rng).reshape(-1)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for i, (t, kind) in enumerate(zip(tensors, kinds, strict=True)):
        if kind == "F32":
            data = _values(t, rng, block).astype(np.float32)
        elif kind == "F16":
            data = np.resize(block, t.shape)
        else:
            blk, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[kind]]
            byte_shape = (*t.shape[:-1], t.shape[-1] // blk * size)
            data = np.resize(patterns[kind], byte_shape)
        w.write_tensor_data(data)
        if progress:
            progress(i + 1, len(tensors))
    w.close()
    return p
