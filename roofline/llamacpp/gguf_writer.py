"""Write a GGUF file with random weights for a model spec, with the tensor names, shapes and
architecture metadata llama.cpp needs to load it, and a dummy vocabulary of the right size.

Timing depends on shapes and quantization, not on weight values, with one exception: random
router weights give near-uniform routing (real models route less uniformly). Weights are F16,
streamed tensor by tensor (a 7 B model never sits in memory whole); large tensors repeat a random
block, while routers get fully random rows so that routing stays near-uniform.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from roofline.errors import SpecError
from roofline.specs.model import Model, Tensor

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
    "probe": "llama",
}
_NORMS = {"gemma2": ["attn_norm", "post_attention_norm", "ffn_norm", "post_ffw_norm"]}


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
    if t.role in ("bias", "router") or len(t.shape) == 1:
        return (0.02 * rng.standard_normal(t.shape)).astype(np.float32)
    return np.resize(block, t.shape)


def write_gguf(m: Model, path: str | Path, seed: int = 0, progress: Any = None) -> Path:
    import gguf

    if m.family not in ARCHES:
        raise SpecError(
            m.id, f"no GGUF writer for family {m.family!r}; supported: {', '.join(sorted(ARCHES))}", "family"
        )
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
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    if m.moe is not None:
        w.add_expert_count(m.moe.n_experts)
        w.add_expert_used_count(m.moe.top_k)
        if arch in ("qwen3moe", "olmoe") or not m.ffn.d_ff:
            w.add_expert_feed_forward_length(m.moe.d_expert)
            if not m.ffn.d_ff:
                w.add_feed_forward_length(m.moe.d_expert)
    if arch == "gemma2":
        w.add_sliding_window(a.sliding_window or 4096)
        w.add_attn_logit_softcapping(50.0)
        w.add_final_logit_softcapping(30.0)
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
    for t in tensors:
        dtype = np.float32 if (t.role in ("norm", "bias", "router") or len(t.shape) == 1) else np.float16
        nbytes = int(np.prod(t.shape)) * np.dtype(dtype).itemsize
        w.add_tensor_info(gguf_name(m, t), t.shape, np.dtype(dtype), nbytes)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for i, t in enumerate(tensors):
        w.write_tensor_data(_values(t, rng, block))
        if progress:
            progress(i + 1, len(tensors))
    w.close()
    return p
