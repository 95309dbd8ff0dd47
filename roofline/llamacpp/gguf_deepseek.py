"""DeepSeek-V2 (family deepseek_v2) for gguf_writer, as llama.cpp's `deepseek2` loader reads it
(src/models/deepseek2.cpp of the llama.cpp vendored by llama-cpp-python 0.3.36).

MLA is written in the form convert_hf_to_gguf writes today (conversion/deepseek.py): attention as
MQA over the latent, head_count_kv 1, key_length kv_lora_rank + qk_rope_head_dim, value_length
kv_lora_rank, the per-head sizes in key_length_mla / value_length_mla, and the spec's attn_kv_b
split into attn_k_b (n_heads, kv_lora_rank, qk_nope_head_dim) and attn_v_b (n_heads,
v_head_dim, kv_lora_rank). With key_length_mla set the loader requires k_b/v_b and takes no
attn_kv_b (an extra tensor fails the load), so only this form is written; it is the absorbed-MLA
path llama.cpp runs for current GGUFs, with a KV cache of kv_lora_rank + rope dims per token.
"""

from __future__ import annotations

from typing import Any

from roofline.errors import SpecError
from roofline.specs.model import Model, Tensor

ARCH = "deepseek2"


def check(m: Model) -> None:
    """Refuse, naming the field, what llama.cpp's deepseek2 loader cannot represent."""
    a, moe = m.attention, m.moe
    if a.mla is None:
        raise SpecError(m.id, "llama.cpp's deepseek2 needs MLA attention (attention.mla)", "attention")
    if moe is None:
        raise SpecError(m.id, "llama.cpp's deepseek2 writer needs MoE layers (moe section)", "moe")
    if moe.moe_every != 1 or moe.dense_layers:
        raise SpecError(m.id, "llama.cpp's deepseek2 has dense layers only in front (first_k_dense)", "moe")
    if moe.n_shared_experts and moe.d_shared_expert != moe.d_expert:
        # the loader sizes the shared expert n_ff_exp * expert_shared_count
        raise SpecError(m.id, "llama.cpp's deepseek2 needs d_shared_expert == d_expert", "moe")
    if moe.shared_expert_gate or moe.expert_bias or moe.router_bias:
        msg = "llama.cpp's deepseek2 has no shared-expert gate, expert biases or router bias"
        raise SpecError(m.id, msg, "moe")
    if m.ffn.n_matrices != 3 or m.ffn.bias:
        raise SpecError(m.id, "llama.cpp's deepseek2 FFNs are gate/up/down without biases", "ffn")
    if a.qkv_bias or a.o_bias or a.qk_norm:
        raise SpecError(m.id, "llama.cpp's deepseek2 attention has no biases or q/k norms", "attention")
    if a.mla.q_lora_rank and (m.n_layers in (26, 27) or (m.n_layers == 48 and m.vocab_size == 128256)):
        # the loader takes these layer counts for the Lite variants and never reads q_lora_rank
        msg = f"llama.cpp's deepseek2 reads no q_lora_rank for {m.n_layers} layers (Lite variants)"
        raise SpecError(m.id, msg, "attention.mla.q_lora_rank")
    if m.mtp_layers:
        raise SpecError(m.id, "MTP (nextn) layers are not written for deepseek2", "mtp_layers")


def keys(m: Model) -> dict[str, Any]:
    """Architecture keys (without the `deepseek2.` prefix), including the generic ones whose values
    differ under MLA (head_count_kv, key/value lengths, rope dims), which write_gguf then skips."""
    mla, moe = m.attention.mla, m.moe
    assert mla is not None and moe is not None  # check()
    return {
        "vocab_size": m.vocab_size,
        "attention.head_count_kv": 1,
        "attention.key_length": mla.kv_lora_rank + mla.qk_rope_head_dim,
        "attention.value_length": mla.kv_lora_rank,
        "attention.key_length_mla": mla.qk_nope_head_dim + mla.qk_rope_head_dim,
        "attention.value_length_mla": mla.v_head_dim,
        "attention.kv_lora_rank": mla.kv_lora_rank,
        "attention.q_lora_rank": mla.q_lora_rank or 0,  # required unless Lite; 0: a plain attn_q
        "rope.dimension_count": mla.qk_rope_head_dim,
        "leading_dense_block_count": moe.first_k_dense,
        "expert_feed_forward_length": moe.d_expert,
        "expert_shared_count": moe.n_shared_experts,
        "expert_weights_scale": 1.0,
        "expert_weights_norm": False,
        # llama_expert_gating_func_type: 1 softmax, 2 sigmoid
        "expert_gating_func": 2 if moe.router == "sigmoid-topk" else 1,
    }


def place(m: Model, t: Tensor, name: str) -> list[tuple[str, tuple[int, ...], Tensor]]:
    """(GGUF name, numpy shape, spec tensor for its type) of `t`: attn_kv_b becomes attn_k_b and
    attn_v_b (same weight count), each typed by its own row length (k_b rows are
    qk_nope_head_dim long, so a 256-block type falls back as llama-quantize does)."""
    if t.name != "attn_kv_b":
        return [(name, t.shape, t)]
    a = m.attention
    assert a.mla is not None
    h, r = a.n_heads, a.mla.kv_lora_rank
    k_b = (h, r, a.mla.qk_nope_head_dim)  # GGUF ne {nope, kv_lora_rank, n_head}
    v_b = (h, a.mla.v_head_dim, r)  # GGUF ne {kv_lora_rank, v_head_dim, n_head}
    return [
        (f"blk.{t.layer}.attn_k_b.weight", k_b, Tensor("attn_k_b", t.layer, k_b, t.role)),
        (f"blk.{t.layer}.attn_v_b.weight", v_b, Tensor("attn_v_b", t.layer, v_b, t.role)),
    ]


def ggml_types(placed: list[Any], quant: str | None, kinds: list[str]) -> list[str]:
    """`kinds` (quant.tensor_type's types of the placed tensors) with llama-quantize's MXFP4_MOE
    rule for deepseek2: every 3-D tensor becomes MXFP4, so also the per-head k_b and v_b
    (tensor_type gives MXFP4 to experts only)."""
    if quant != "MXFP4":
        return kinds
    split = ("attn_k_b.weight", "attn_v_b.weight")
    return ["MXFP4" if x.name.endswith(split) else k for x, k in zip(placed, kinds, strict=True)]
