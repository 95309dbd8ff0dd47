"""The operator inventory: one list serves dense and MoE models, prefill and decode.

`ModelTables` condenses a model under a quantization into the numbers operators need (bytes and
parameters per operator over all layers, per-expert bytes, KV bytes per token...). `step_operators`
turns them, for one forward step of `tokens` tokens from `seqs` sequences with `keys` keys attended
per query and `kv_len` cached tokens read per sequence, into per-operator FLOPs, bytes and kernels.
Step quantities may be floats, numpy arrays or sympy symbols (see mathns). Multiplicity is a count
(layers, experts), never a loop that repeats an operator.

Assumptions, stated once:
- Matmul FLOPs are 2 x tokens x parameters; attention is 4 x heads x head_dim per (query, key) pair
  (QK^T and PV) plus ~5 for the softmax, MLA absorbed (keys of width kv_lora_rank + rope dims, as
  llama.cpp runs it).
- A step reads each touched weight once (weights are shared by all tokens of the step); the
  embedding is a row gather (one row per token); the LM head produces one row of logits per sequence.
- The KV cache of a sequence is read once per step and layer (flash-attention tile re-reads ignored);
  the step writes one K/V entry per token and layer.
- Experts touched per MoE layer follow routing.py (uniform independent routing by default).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from roofline.model.engine import EngineProfile
from roofline.model.routing import distinct_experts, distinct_experts_uniform
from roofline.specs.model import Model
from roofline.specs.quant import KV_DTYPES, tensor_type

#: Operator names in breakdown order, with the class each is plotted under.
OPERATORS: dict[str, str] = {
    "embedding": "embedding",
    "norms": "norms",
    "attn_qkv": "attention",
    "attn_core": "kv",
    "attn_output": "attention",
    "router": "router",
    "experts": "experts",
    "shared_experts": "shared_experts",
    "dense_ffn": "dense_ffn",
    "lm_head": "lm_head",
}


@dataclass(frozen=True)
class ModelTables:
    """Numbers of a model under a quantization, summed over the layers each operator spans."""

    model: Model
    quant: str
    kv_dtype: str
    weight_bytes: dict[str, float]  # per operator, all layers (experts: every expert)
    params: dict[str, float]  # per operator, all layers (experts: every expert)
    dequant_ops: dict[str, float]  # per operator, ops to unpack all its weights once
    layers: dict[str, int]  # how many layers each operator spans
    expert_bytes: float  # one expert, summed over MoE layers
    expert_params: float
    expert_dequant_ops: float
    embedding_row_bytes: float
    kv_elem_bytes: float
    kv_per_token_layer: float  # bytes one token adds to one layer's cache
    qk_dim: float  # per head, attention core width (QK)
    v_dim: float  # per head, PV width
    n_global: int
    n_sliding: int
    popularity: np.ndarray | None = field(default=None, compare=False)

    @property
    def total_weight_bytes(self) -> float:
        return float(sum(self.weight_bytes.values()))


def _op_of(role: str, name: str) -> str:
    if role == "embedding":
        return "embedding"
    if role == "lm_head":
        return "lm_head"
    if role == "norm":
        return "norms"
    if role == "router":
        return "router"
    if role == "expert":
        return "experts"
    if role == "shared_expert":
        return "shared_experts"
    if name.startswith("attn_output"):
        return "attn_output"
    if name.startswith("attn"):
        return "attn_qkv"
    return "dense_ffn"  # dense FFN weights and biases


def build_tables(
    model: Model, quant: str, kv_dtype: str = "f16", popularity: np.ndarray | None = None
) -> ModelTables:
    kv_key = kv_dtype.lower()
    if kv_key not in KV_DTYPES:
        from roofline.errors import SpecError

        raise SpecError("kv-dtype", f"unknown KV-cache type {kv_dtype!r}; known: {', '.join(KV_DTYPES)}")
    wb = dict.fromkeys(OPERATORS, 0.0)
    pr = dict.fromkeys(OPERATORS, 0.0)
    dq = dict.fromkeys(OPERATORS, 0.0)
    layers: dict[str, set[int]] = {op: set() for op in OPERATORS}
    embd_row = 0.0
    for t in model.tensors:
        op = _op_of(t.role, t.name)
        wt = tensor_type(model, t, quant)
        wb[op] += t.numel * wt.bytes_per_weight
        pr[op] += t.numel
        dq[op] += t.numel * wt.dequant_ops
        if t.layer is not None:
            layers[op].add(t.layer)
        if t.role == "embedding":
            embd_row = t.row_length * wt.bytes_per_weight
    if model.tied_embeddings:
        # the LM head is the embedding matrix, stored in the output's type (see quant.tensor_type)
        wb["lm_head"], pr["lm_head"], dq["lm_head"] = wb["embedding"], pr["embedding"], dq["embedding"]
    wb["embedding"], pr["embedding"], dq["embedding"] = 0.0, 0.0, 0.0  # gathered per token instead
    moe = model.moe
    n_exp = moe.n_experts if moe else 1
    a = model.attention
    if a.mla is not None:
        kv_layer = (a.mla.kv_lora_rank + a.mla.qk_rope_head_dim) * KV_DTYPES[kv_key]
        qk_dim, v_dim = a.mla.kv_lora_rank + a.mla.qk_rope_head_dim, a.mla.kv_lora_rank
    else:
        kv_layer = 2 * a.n_kv_heads * a.head_dim * KV_DTYPES[kv_key]
        qk_dim = v_dim = a.head_dim
    n_global = sum(model.is_global_layer(i) for i in range(model.n_layers))
    counts = {op: len(s) for op, s in layers.items()}
    counts.update(embedding=1, lm_head=1, attn_core=model.n_layers, norms=model.n_layers)
    return ModelTables(
        model=model,
        quant=quant,
        kv_dtype=kv_key,
        weight_bytes=wb,
        params=pr,
        dequant_ops=dq,
        layers=counts,
        expert_bytes=wb["experts"] / n_exp,
        expert_params=pr["experts"] / n_exp,
        expert_dequant_ops=dq["experts"] / n_exp,
        embedding_row_bytes=embd_row,
        kv_elem_bytes=KV_DTYPES[kv_key],
        kv_per_token_layer=kv_layer,
        qk_dim=qk_dim,
        v_dim=v_dim,
        n_global=n_global,
        n_sliding=model.n_layers - n_global,
        popularity=popularity,
    )


@dataclass
class OpCost:
    """One operator of one step, totalled over the layers it spans (`count`)."""

    name: str
    count: int
    flops: Any
    weight_bytes: Any
    kv_bytes: Any
    act_bytes: Any
    kernels: Any
    dequant_ops: Any
    key_rows: Any = 0  # attention core: cached key rows visited per query head and sequence

    @property
    def category(self) -> str:
        return OPERATORS[self.name]

    @property
    def bytes(self) -> Any:
        return self.weight_bytes + self.kv_bytes + self.act_bytes


def distinct(tables: ModelTables, tokens: Any) -> Any:
    moe = tables.model.moe
    if moe is None:
        return 0
    if tables.popularity is not None:
        return distinct_experts(tokens, tables.popularity)
    return distinct_experts_uniform(tokens, moe.n_experts, moe.top_k)


def step_operators(
    tb: ModelTables,
    eng: EngineProfile,
    m: Any,
    tokens: Any,
    seqs: Any,
    keys: Any,
    kv_len: Any,
    n_touched: Any = None,
) -> list[OpCost]:
    """Operators of one forward step (see the module docstring for what each argument means).
    `n_touched` overrides the expected number of distinct experts per MoE layer (routing bounds)."""
    mdl, a, kc = tb.model, tb.model.attention, eng.kernels
    d, act = mdl.d_model, eng.activation_bytes
    q_dim, kv_dim = a.n_heads * a.head_dim, a.n_kv_heads * a.head_dim
    n_layers, n_moe = mdl.n_layers, tb.layers["experts"]
    n_dense = tb.layers["dense_ffn"]
    ops: list[OpCost] = []

    def mm(name: str, extra_kernels: float = 0.0, act_io: float = 0.0) -> OpCost:
        count = tb.layers[name]
        return OpCost(
            name,
            count,
            2 * tokens * tb.params[name],
            tb.weight_bytes[name],
            0,
            tokens * act_io * act * count,
            count * (getattr(kc, name) + extra_kernels),
            tb.dequant_ops[name],
        )

    ops.append(
        OpCost("embedding", 1, 0, tokens * tb.embedding_row_bytes, 0, tokens * d * act, kc.embedding, 0)
    )
    norm_count = n_layers * mdl.norms_per_layer + 1
    ops.append(
        OpCost(
            "norms",
            n_layers,
            5 * tokens * d * norm_count,
            tb.weight_bytes["norms"],
            0,
            4 * tokens * d * act * norm_count,
            kc.norms * n_layers,
            0,
        )
    )
    extra = (kc.qk_norm if a.qk_norm else 0) + (kc.qkv_bias if a.qkv_bias else 0)
    ops.append(mm("attn_qkv", extra, d + q_dim + 2 * kv_dim))
    # attention core: keys attended per query and cache read per sequence, capped by sliding windows
    if tb.n_sliding:
        w = a.sliding_window
        keys_sum = tb.n_global * keys + tb.n_sliding * m.min(keys, w)
        kv_sum = tb.n_global * kv_len + tb.n_sliding * m.min(kv_len, w)
    else:
        keys_sum, kv_sum = n_layers * keys, n_layers * kv_len
    core_flops = tokens * keys_sum * a.n_heads * (2 * tb.qk_dim + 2 * tb.v_dim + 5)
    kv_bytes = seqs * kv_sum * tb.kv_per_token_layer + tokens * n_layers * tb.kv_per_token_layer
    ops.append(
        OpCost(
            "attn_core",
            n_layers,
            core_flops,
            0,
            kv_bytes,
            2 * tokens * q_dim * act * n_layers,
            kc.attn_core * n_layers,
            0,
            seqs * keys_sum * a.n_heads,
        )
    )
    ops.append(mm("attn_output", 0, q_dim + d))
    if mdl.moe is not None:
        moe = mdl.moe
        if n_touched is None:
            n_touched = distinct(tb, tokens)
        ops.append(mm("router", 0, d + moe.n_experts))
        exp_kernels = kc.experts + kc.experts_per_extra_k * (moe.top_k - 1)
        if eng.moe_dispatch == "per-expert":
            exp_kernels = exp_kernels + kc.experts_per_distinct * n_touched
        ops.append(
            OpCost(
                "experts",
                n_moe,
                2 * tokens * moe.top_k * tb.expert_params,
                n_touched * tb.expert_bytes,
                0,
                tokens * moe.top_k * (2 * d + 4 * moe.d_expert) * act * n_moe,
                exp_kernels * n_moe,
                n_touched * tb.expert_dequant_ops,
            )
        )
        if moe.n_shared_experts:
            assert moe.d_shared_expert is not None
            width = moe.n_shared_experts * moe.d_shared_expert
            ops.append(mm("shared_experts", 0, 2 * d + 4 * width))
    if n_dense:
        assert mdl.ffn.d_ff is not None
        ops.append(mm("dense_ffn", 0, 2 * d + 4 * mdl.ffn.d_ff))
    ops.append(
        OpCost(
            "lm_head",
            1,
            2 * seqs * tb.params["lm_head"],
            tb.weight_bytes["lm_head"],
            0,
            seqs * (d + mdl.vocab_size) * act,
            kc.lm_head,
            tb.dequant_ops["lm_head"],
        )
    )
    return ops
