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
- The KV cache of a sequence is read once per step and layer (flash-attention tile re-reads ignored:
  the query tiles of one head run side by side and share each K/V tile through the last-level
  cache); the step writes one K/V entry per token and layer. A KV-shared layer (Gemma-3n/4
  E-models) reads its source layer's cache again and writes none.
- Per-layer embeddings: a token gathers one row of the per-layer table (n_layers x width values);
  the table itself is stored (footprint) but, like the token embedding, never streamed.
- Flash attention (`flash`, llama-bench's -fa) decides how the attention core runs:
  - on: one fused kernel per layer (ggml_flash_attn_ext; llama.cpp CUDA's fattn-mma-f16 / fattn-vec)
    keeps the scores of a tile of queries in registers and shared memory: nothing but Q, K, V and
    the output touches memory, and a query visits only the keys its causal mask lets it see (the
    kernel skips key tiles masked for its whole query tile: `keys`, the causal mean).
  - off: the scores are materialised (llama-graph.cpp build_attn_mha without flash attention:
    kq = mul_mat(k, q); soft_max_ext(kq, mask); kqv = mul_mat(v, kq); cont). Three operators, as
    three kernels run one after the other: `attn_core` (QK^T over every key in the cache, masked
    ones included: `kv_len` keys, at the engine's score_precision; it reads K and writes the scores
    as f32, SCORE_WRITE_BYTES per (query, key, head) pair), `attn_softmax` (reads and writes the
    scores: SOFTMAX_BYTES per pair; the mask is shared by all heads and served by the cache) and
    `attn_values` (reads V and the scores through an f16 copy, SCORE_READ_BYTES per pair, then PV
    at the attention core's precision). Scores are gigabytes at long context, so they stream
    through main memory like the KV cache (counted in kv_bytes). V (stored transposed without
    flash attention) is read once, like K.
- Experts touched per MoE layer follow routing.py (uniform independent routing by default).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from roofline.errors import SpecError
from roofline.model.engine import EngineProfile
from roofline.model.routing import distinct_experts, distinct_experts_uniform
from roofline.specs.model import Model, Tensor
from roofline.specs.quant import KV_DTYPES, tensor_type

#: Weight types a matmul reads without unpacking quantization blocks.
FLOAT_TYPES = ("F32", "F16", "BF16")

#: Operator names in breakdown order, with the class each is plotted under.
OPERATORS: dict[str, str] = {
    "embedding": "embedding",
    "norms": "norms",
    "per_layer_input": "embedding",
    "attn_qkv": "attention",
    "attn_core": "kv",
    "attn_softmax": "kv",
    "attn_values": "kv",
    "attn_output": "attention",
    "ssm_in": "attention",
    "ssm_core": "kv",
    "ssm_out": "attention",
    "router": "router",
    "experts": "experts",
    "shared_experts": "shared_experts",
    "dense_ffn": "dense_ffn",
    "lm_head": "lm_head",
}


#: Bytes per (query, key, head) pair of materialised attention scores (flash attention off): QK^T
#: writes them as f32 (llama.cpp marks KQ GGML_PREC_F32); the softmax reads them and writes the
#: probabilities (f32 in, f32 out); the PV matmul converts the probabilities to f16 (4 read + 2
#: written) and reads the f16 copy (2). ggml's CPU mul_mat converts its f32 src1 to the f16 dot
#: type the same way; CUDA's decode mat-vec (mmvf) reads the f32 scores directly (4, not 8: an
#: over-count of 4 B per pair there, small next to the KV cache in decode).
SCORE_WRITE_BYTES = 4
SOFTMAX_BYTES = 8
SCORE_READ_BYTES = 8
#: FLOPs per pair of the softmax (max, subtract, exp, sum, scale).
SOFTMAX_FLOPS = 5

#: FLOPs per state element and token of a Gated DeltaNet layer's delta rule: decay the state (1),
#: read it at k (2), add the outer product of k and the correction (2), read it at q (2), gates (1).
DELTA_RULE_FLOPS = 8
#: ... and of a Mamba-2 scan: decay (1), add dt * x * B (2), read out with C (2).
SSM_SCAN_FLOPS = 5

#: Graph nodes per layer of Gemma-3n's side paths (estimated from the order of operations in
#: transformers' Gemma3nTextDecoderLayer, not counted in a llama.cpp graph): the per-layer input
#: (gate matmul, GELU, multiply, projection, norm, add), AltUp (router norm, router, tanh,
#: coefficient matmuls, the prediction mix, innovation, correction, scale) and Laurel (two
#: matmuls, norm, add).
PER_LAYER_INPUT_KERNELS = 6
ALTUP_KERNELS = 16
LAUREL_KERNELS = 4


@dataclass(frozen=True)
class ModelTables:
    """Numbers of a model under a quantization, summed over the layers each operator spans."""

    model: Model
    quant: str
    kv_dtype: str
    weight_bytes: dict[str, float]  # per operator, all layers (experts: every expert)
    params: dict[str, float]  # per operator, all layers (experts: every expert)
    dequant_by_type: dict[str, dict[str, float]]  # per operator and weight type, ops to unpack them once
    float_params: dict[str, float]  # per operator, parameters stored as F16/BF16/F32
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
    # recurrent layers (linear attention, Mamba): per sequence, all such layers together
    recurrent_state_bytes: float = 0.0  # F32 state, read and written once per step
    recurrent_flops_per_token: float = 0.0  # state update and readout, convolution
    recurrent_act_width: float = 0.0  # activation channels the recurrent cores read and write
    # global (full-context) attention layers when their geometry differs (Gemma-4: wider heads,
    # fewer KV heads); None: as kv_per_token_layer / qk_dim / v_dim
    kv_per_token_global: float | None = None
    global_qk_dim: float | None = None
    global_v_dim: float | None = None
    # KV-shared layers (Gemma-3n/4 E-models) among the global and the sliding attention layers:
    # they read their source layer's cache but write none
    n_kv_shared_global: int = 0
    n_kv_shared_sliding: int = 0
    # per-layer embeddings and AltUp/Laurel (operator per_layer_input): bytes of the per-layer
    # table's row a token gathers; FLOPs and activation channels per token beyond the matmuls
    # (AltUp's mix of its residual copies); graph nodes per step
    per_layer_row_bytes: float = 0.0
    side_flops_per_token: float = 0.0
    side_act_width: float = 0.0
    side_kernels: float = 0.0
    popularity: np.ndarray | None = field(default=None, compare=False)
    # per operator and weight type, parameters stored in it (all layers)
    params_by_type: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def total_weight_bytes(self) -> float:
        return float(sum(self.weight_bytes.values()))

    @cached_property
    def dequant_ops(self) -> dict[str, float]:
        """Per operator, ops to unpack all its weights once (dequant_by_type summed over types)."""
        return {op: float(sum(by.values())) for op, by in self.dequant_by_type.items()}

    def is_float(self, op: str) -> bool:
        """Whether most of an operator's weights are float (F16/BF16/F32), not quantized: its
        matmuls then take the engine's float path (EngineProfile.float_precision)."""
        return self.float_params[op] > self.params[op] / 2


#: Which operator a tensor's weights belong to, by the tensor's role in the model spec.
ROLE_OPERATOR: dict[str, str] = {
    "embedding": "embedding",
    "lm_head": "lm_head",
    "norm": "norms",
    "router": "router",
    "expert": "experts",
    "shared_expert": "shared_experts",
    "ffn": "dense_ffn",
    "ssm_param": "ssm_core",
    "per_layer": "per_layer_input",
    "per_layer_embedding": "per_layer_input",
}


def operator_of(tensor: Tensor, where: str = "model") -> str:
    """The operator a weight tensor is read by. Attention weights and biases go by their GGUF name
    (the output projection is its own operator); a role or bias this inventory does not know is an
    error, never filed under some operator by default."""
    role, name = tensor.role, tensor.name
    if role in ROLE_OPERATOR:
        return ROLE_OPERATOR[role]
    if role in ("attention", "bias") and name.startswith("attn"):
        return "attn_output" if name.startswith("attn_output") else "attn_qkv"
    if role == "ssm":  # linear-attention / Mamba projections into and out of the recurrent core
        return "ssm_out" if name.startswith("ssm_out") else "ssm_in"
    if role == "bias" and name.startswith("ffn_"):
        return "dense_ffn"
    raise SpecError(
        where,
        f"tensor role {role!r} has no operator in the cost model "
        f"(known roles: {', '.join([*ROLE_OPERATOR, 'attention', 'bias', 'ssm'])})",
        f"tensors.{name}",
    )


def build_tables(
    model: Model, quant: str, kv_dtype: str = "f16", popularity: np.ndarray | None = None
) -> ModelTables:
    kv_key = kv_dtype.lower()
    if kv_key not in KV_DTYPES:
        raise SpecError("kv-dtype", f"unknown KV-cache type {kv_dtype!r}; known: {', '.join(KV_DTYPES)}")
    wb = dict.fromkeys(OPERATORS, 0.0)
    pr = dict.fromkeys(OPERATORS, 0.0)
    dq_type: dict[str, dict[str, float]] = {op: {} for op in OPERATORS}
    by_type: dict[str, dict[str, float]] = {op: {} for op in OPERATORS}
    fl = dict.fromkeys(OPERATORS, 0.0)
    layers: dict[str, set[int]] = {op: set() for op in OPERATORS}
    embd_row = ple_row = 0.0
    for t in model.tensors:
        if t.role == "mtp":
            continue  # MTP modules are loaded (footprint: quant.file_size) but not run in decode
        op = operator_of(t, model.id)
        wt = tensor_type(model, t, quant)
        if t.role == "per_layer_embedding":  # gathered, one row per token (footprint: file_size)
            ple_row = t.row_length * wt.bytes_per_weight
            continue
        wb[op] += t.numel * wt.bytes_per_weight
        pr[op] += t.numel
        dq_type[op][wt.name] = dq_type[op].get(wt.name, 0.0) + t.numel * wt.dequant_ops
        by_type[op][wt.name] = by_type[op].get(wt.name, 0.0) + t.numel
        if wt.name in FLOAT_TYPES:
            fl[op] += t.numel
        if t.layer is not None:
            layers[op].add(t.layer)
        if t.role == "embedding":
            embd_row = t.row_length * wt.bytes_per_weight
    if model.tied_embeddings:
        # the LM head is the embedding matrix, stored in the output's type (see quant.tensor_type)
        for table in (wb, pr, fl, dq_type, by_type):
            table["lm_head"] = table["embedding"]
    for table in (wb, pr, fl):
        table["embedding"] = 0.0  # gathered per token instead
    dq_type["embedding"] = {}
    moe = model.moe
    n_exp = moe.n_experts if moe else 1
    a = model.attention
    if a.mla is not None:
        kv_layer = (a.mla.kv_lora_rank + a.mla.qk_rope_head_dim) * KV_DTYPES[kv_key]
        qk_dim, v_dim = a.mla.kv_lora_rank + a.mla.qk_rope_head_dim, a.mla.kv_lora_rank
    else:
        kv_layer = 2 * a.n_kv_heads * a.head_dim * KV_DTYPES[kv_key]
        qk_dim = v_dim = a.head_dim
    global_dim, global_kv = a.geometry(True)
    differs = a.mla is None and (global_dim, global_kv) != (a.head_dim, a.n_kv_heads)
    attn_layers = model.layers_with("attention")
    n_global = sum(model.is_global_layer(i) for i in attn_layers)
    counts = {op: len(s) for op, s in layers.items()}
    counts.update(embedding=1, lm_head=1, attn_core=len(attn_layers), norms=model.n_layers)
    flops, width = 0.0, 0.0
    for mixer, spec, per_element in (
        ("linear_attention", model.linear_attention, DELTA_RULE_FLOPS),
        ("mamba", model.mamba, SSM_SCAN_FLOPS),
    ):
        if spec is not None:
            n = len(model.layers_with(mixer))
            flops += n * (per_element * spec.scan_elements + 2 * spec.conv_width * spec.conv_channels)
            width += n * spec.conv_channels
    counts["ssm_core"] = len(model.layers_with("linear_attention")) + len(model.layers_with("mamba"))
    shared = [i for i in attn_layers if model.is_kv_shared_layer(i)]
    shared_global = sum(model.is_global_layer(i) for i in shared)
    side_flops, side_width, side_kernels = _side_paths(model)
    return ModelTables(
        model=model,
        quant=quant,
        kv_dtype=kv_key,
        weight_bytes=wb,
        params=pr,
        dequant_by_type=dq_type,
        float_params=fl,
        layers=counts,
        expert_bytes=wb["experts"] / n_exp,
        expert_params=pr["experts"] / n_exp,
        expert_dequant_ops=sum(dq_type["experts"].values()) / n_exp,
        embedding_row_bytes=embd_row,
        kv_elem_bytes=KV_DTYPES[kv_key],
        kv_per_token_layer=kv_layer,
        qk_dim=qk_dim,
        v_dim=v_dim,
        n_global=n_global,
        n_sliding=len(attn_layers) - n_global,
        recurrent_state_bytes=model.recurrent_state_bytes(),
        recurrent_flops_per_token=flops,
        recurrent_act_width=width,
        kv_per_token_global=2 * global_kv * global_dim * KV_DTYPES[kv_key] if differs else None,
        global_qk_dim=global_dim if differs else None,
        global_v_dim=global_dim if differs else None,
        n_kv_shared_global=shared_global,
        n_kv_shared_sliding=len(shared) - shared_global,
        per_layer_row_bytes=ple_row,
        side_flops_per_token=side_flops,
        side_act_width=side_width,
        side_kernels=side_kernels,
        popularity=popularity,
        params_by_type=by_type,
    )


def _side_paths(model: Model) -> tuple[float, float, float]:
    """Per token, beyond the matmuls of operator per_layer_input: FLOPs, activation channels read
    and written, and graph nodes per step. AltUp mixes its n residual copies twice per layer
    (prediction: an n x n mix of n x d values, 2 n^2 d FLOPs plus n d adds; correction: ~3 n d),
    reading and writing all n copies each time (4 n d channels); the per-layer input reads its
    width-wide slice and adds d_model channels back; Laurel reads and writes d_model."""
    d, n_layers = model.d_model, model.n_layers
    ple, alt = model.per_layer_embedding, model.altup
    flops = width = kernels = 0.0
    if ple is not None:
        width += n_layers * ple.width + n_layers * (ple.width + 2 * d)
        kernels += n_layers * PER_LAYER_INPUT_KERNELS
    if alt is not None:
        n = alt.num_inputs
        flops += n_layers * (2 * n * n * d + 4 * n * d)
        width += n_layers * 4 * n * d + 2 * (n - 1) * d  # + the projections in and out of the copies
        kernels += n_layers * ALTUP_KERNELS
        if alt.laurel_rank:
            width += n_layers * 2 * d
            kernels += n_layers * LAUREL_KERNELS
    return flops, width, kernels


@dataclass(frozen=True)
class Operator:
    """One operator of one step, totalled over the layers it spans (`count`), with what its cost
    needs: FLOPs and the peak (`peak`: "matmul" or "attention", see cost.Machine) and engine
    efficiency (`efficiency`, an EngineProfile field) they run at; bytes by what they are (weights,
    KV cache, activations); kernels, host round trips (`syncs`) and weight-unpacking work.

    `kind` says what it is: "gather" (embedding rows), "elementwise" (norms), "matmul" (weights shared
    by every token of the step), "routed_matmul" (routed experts: each token reads k of E, so a step
    reads only the experts its tokens chose; `stored_weight_bytes` holds them all) or "attention"
    (the attention core over the KV cache; `key_rows` cached key rows visited per query head and
    sequence). `shape` is (M, N, K) of one layer's weights as one GEMM: M activation rows per weight
    matrix (for routed experts, per touched expert), K the input width and N = parameters / K."""

    name: str
    category: str
    kind: str
    count: int
    flops: Any
    weight_bytes: Any
    kv_bytes: Any
    act_bytes: Any
    kernels: Any
    dequant_ops: Any = 0
    peak: str = "matmul"
    efficiency: str = "compute_efficiency"
    key_rows: Any = 0
    syncs: Any = 0
    stored_weight_bytes: Any = 0.0
    shape: tuple[Any, Any, Any] | None = None
    # the quantized matmuls' kernel path (cost.op_times): `tiled` (a condition: bool, or sympy when
    # the step's tokens are symbolic) says the engine runs its many-token tiled kernel, which fills
    # its tiles with `tile_rows` activation rows per weight matrix; `matvec` says it runs the
    # few-token mat-vec kernel (EngineProfile.small_batch_efficiency). Neither: the engine's one path.
    tile_rows: Any = None
    tiled: Any = False
    matvec: Any = False
    f16_bytes: Any = 0.0  # the touched weights as F16 (an engine that dequantizes before a float GEMM)
    # the matmul's input width K as its per-output costs see it: the weight-weighted harmonic mean
    # over its matrices (a FFN's gate and up read d inputs per output, its down d_ff), so that
    # sum_i w_i (1 + c / K_i) = W (1 + c / inner) (EngineProfile.matmul_output_macs); None: not a GEMM
    inner: Any = None
    # the matmul's weights by storage type: (type, share of its parameters); () where not a matmul
    weight_types: tuple[tuple[str, float], ...] = ()

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


def kernel_counts(eng: EngineProfile, m: Any, tokens: Any, prefill: bool) -> dict[str, Any]:
    """Kernels per layer (per step for the per-model operators) of each operator in this step: the
    engine's prefill counts in a prefill step and in a decode step of more tokens than
    `decode_kernels_max_tokens` (a Piecewise in the step's tokens when they are symbolic), else its
    decode counts (EngineProfile.kernels, prefill_kernels)."""
    decode = eng.kernels.model_dump()
    if eng.prefill_kernels is None:
        return decode
    many = eng.prefill_kernels.model_dump()
    if eng.decode_kernels_max_tokens is None:
        return many if prefill else decode
    big = tokens > eng.decode_kernels_max_tokens
    return {k: v if many[k] == v else m.select([(many[k], big)], v) for k, v in decode.items()}


def step_operators(
    tb: ModelTables,
    eng: EngineProfile,
    m: Any,
    tokens: Any,
    seqs: Any,
    keys: Any,
    kv_len: Any,
    n_touched: Any = None,
    prefill: bool = False,
    flash: bool | None = None,
) -> list[Operator]:
    """Operators of one forward step (see the module docstring for what each argument means).
    `n_touched` overrides the expected number of distinct experts per MoE layer (routing bounds);
    `prefill` says the routed experts' matmuls run tiled kernels (Operator.tile_rows); `flash` says
    whether the attention core runs as one flash-attention kernel (None: the engine's default)."""
    if flash is None:
        flash = eng.flash_attention
    mdl, a = tb.model, tb.model.attention
    kc = kernel_counts(eng, m, tokens, prefill)
    few = eng.decode_kernels_max_tokens

    def path(rows: Any, tiles_in_prefill: bool = True) -> dict[str, Any]:
        """A quantized matmul's kernel path for `rows` activation rows: with a few-token limit, the
        mat-vec kernel up to it and the tiled kernel above (llama.cpp CUDA: MMVQ up to 8 rows, MMQ
        above, for prefill and decode alike); without one, the tiled kernel in prefill."""
        if few is None:
            tiled = prefill and tiles_in_prefill
            return {"tile_rows": rows if tiled else None, "tiled": tiled}
        tiled = rows > few
        return {"tile_rows": rows, "tiled": tiled, "matvec": rows <= few}

    d, act = mdl.d_model, eng.activation_bytes
    q_dim, kv_dim = a.n_heads * a.head_dim, a.n_kv_heads * a.head_dim
    n_layers, n_moe = mdl.n_layers, tb.layers["experts"]
    n_attn, n_recurrent = tb.layers["attn_core"], tb.layers["ssm_core"]
    ops: list[Operator] = []

    def mm(name: str, extra_kernels: float = 0.0, act_io: float = 0.0, inner: Any = None) -> Operator:
        count = tb.layers[name]
        per_layer = tb.params[name] / max(count, 1)
        is_float = tb.is_float(name)
        return Operator(
            name=name,
            category=OPERATORS[name],
            kind="matmul",
            peak="matmul_float" if is_float else "matmul",
            efficiency="float_compute_efficiency" if is_float else "compute_efficiency",
            count=count,
            flops=2 * tokens * tb.params[name],
            weight_bytes=tb.weight_bytes[name],
            kv_bytes=0,
            act_bytes=tokens * act_io * act * count,
            kernels=count * (kc[name] + extra_kernels),
            dequant_ops=unpack_ops(tb, eng, name, tokens),
            stored_weight_bytes=tb.weight_bytes[name],
            shape=(tokens, per_layer / d, d),
            inner=d if inner is None else inner,
            weight_types=type_shares(tb, name),
            **({} if is_float else {**path(tokens), "f16_bytes": 2.0 * tb.params[name]}),
        )

    ops.append(
        Operator(
            name="embedding",
            category=OPERATORS["embedding"],
            kind="gather",
            count=1,
            flops=0,
            weight_bytes=tokens * tb.embedding_row_bytes,
            kv_bytes=0,
            act_bytes=tokens * d * act,
            kernels=kc["embedding"],
        )
    )
    norm_count = n_layers * mdl.norms_per_layer + 1
    ops.append(
        Operator(
            name="norms",
            category=OPERATORS["norms"],
            kind="elementwise",
            count=n_layers,
            flops=5 * tokens * d * norm_count,
            weight_bytes=tb.weight_bytes["norms"],
            kv_bytes=0,
            act_bytes=4 * tokens * d * act * norm_count,
            kernels=kc["norms"] * n_layers,
            stored_weight_bytes=tb.weight_bytes["norms"],
        )
    )
    if tb.layers["per_layer_input"]:
        # per-layer embeddings, AltUp and Laurel (Gemma-3n/4 E-models): small matmuls every token
        # runs, the per-layer table's row it gathers, and AltUp's mixing of the residual copies
        n_side = tb.layers["per_layer_input"]
        side_float = tb.is_float("per_layer_input")
        ops.append(
            Operator(
                name="per_layer_input",
                category=OPERATORS["per_layer_input"],
                kind="matmul",
                peak="matmul_float" if side_float else "matmul",
                efficiency="float_compute_efficiency" if side_float else "compute_efficiency",
                count=n_side,
                flops=2 * tokens * tb.params["per_layer_input"] + tokens * tb.side_flops_per_token,
                weight_bytes=tb.weight_bytes["per_layer_input"] + tokens * tb.per_layer_row_bytes,
                kv_bytes=0,
                act_bytes=tokens * tb.side_act_width * act,
                kernels=tb.side_kernels,
                dequant_ops=unpack_ops(tb, eng, "per_layer_input", tokens),
                stored_weight_bytes=tb.weight_bytes["per_layer_input"],
                shape=(tokens, tb.params["per_layer_input"] / n_side / d, d),
            )
        )
    extra = (kc["qk_norm"] if a.qk_norm else 0) + (kc["qkv_bias"] if a.qkv_bias else 0)
    ops.append(mm("attn_qkv", extra, d + q_dim + 2 * kv_dim))
    # attention core: keys attended per query and cache read per sequence, capped by sliding windows;
    # global layers may have their own head width and KV heads (ModelTables.kv_per_token_global)
    kv_g = tb.kv_per_token_layer if tb.kv_per_token_global is None else tb.kv_per_token_global
    qk_g = tb.qk_dim if tb.global_qk_dim is None else tb.global_qk_dim
    v_g = tb.v_dim if tb.global_v_dim is None else tb.global_v_dim
    if tb.n_sliding:
        w = a.sliding_window
        keys_s, kv_s = tb.n_sliding * m.min(keys, w), tb.n_sliding * m.min(kv_len, w)
    else:
        keys_s = kv_s = 0
    keys_g, kv_glob = tb.n_global * keys, tb.n_global * kv_len
    keys_sum = keys_g + keys_s
    written = (tb.n_global - tb.n_kv_shared_global) * kv_g + (
        tb.n_sliding - tb.n_kv_shared_sliding
    ) * tb.kv_per_token_layer
    if n_attn and not flash:
        ops.extend(_materialised_attention(tb, kc, tokens, seqs, kv_glob, kv_s, written, q_dim * act))
        ops.append(mm("attn_output", 0, q_dim + d, inner=q_dim))
    elif n_attn:
        per_pair_s, per_pair_g = 2 * tb.qk_dim + 2 * tb.v_dim + 5, 2 * qk_g + 2 * v_g + 5
        ops.append(
            Operator(
                name="attn_core",
                category=OPERATORS["attn_core"],
                kind="attention",
                count=n_attn,
                flops=tokens * a.n_heads * (keys_g * per_pair_g + keys_s * per_pair_s),
                weight_bytes=0,
                kv_bytes=seqs * (kv_glob * kv_g + kv_s * tb.kv_per_token_layer) + tokens * written,
                act_bytes=2 * tokens * q_dim * act * n_attn,
                kernels=kc["attn_core"] * n_attn,
                peak="attention",
                efficiency="attention_efficiency",
                key_rows=seqs * keys_sum * a.n_heads,
            )
        )
        ops.append(mm("attn_output", 0, q_dim + d))
    if n_recurrent:
        # linear attention / Mamba: each sequence's state is read and written once per step (one
        # token per sequence in decode; a whole micro-batch in prefill's chunked scan), whatever
        # the context; the per-token update runs on the vector units
        ops.append(mm("ssm_in", 0, d + tb.params["ssm_in"] / n_recurrent / d))
        ops.append(
            Operator(
                name="ssm_core",
                category=OPERATORS["ssm_core"],
                kind="recurrent",
                count=n_recurrent,
                flops=tokens * tb.recurrent_flops_per_token,
                weight_bytes=tb.weight_bytes["ssm_core"],
                kv_bytes=2 * seqs * tb.recurrent_state_bytes,
                act_bytes=2 * tokens * tb.recurrent_act_width * act,
                kernels=kc["ssm_core"] * n_recurrent,
                peak="vector",
                efficiency="attention_efficiency",
                stored_weight_bytes=tb.weight_bytes["ssm_core"],
            )
        )
        ops.append(mm("ssm_out", 0, d + tb.params["ssm_out"] / n_recurrent / d))
    if mdl.moe is not None:
        moe = mdl.moe
        if n_touched is None:
            n_touched = distinct(tb, tokens)
        ops.append(mm("router", 0, d + moe.n_experts))
        rows = tokens * moe.top_k / n_touched  # activation rows per touched expert
        # MUL_MAT_ID takes its kernel path by the step's tokens; its tiles fill with each expert's rows
        expert_path = (
            path(rows)
            if few is None
            else {}
            if tb.is_float("experts")
            else {**path(tokens), "tile_rows": rows}
        )
        if not tb.is_float("experts"):
            expert_path["f16_bytes"] = 2.0 * n_touched * tb.expert_params  # over the MoE layers
        exp_kernels = kc["experts"] + kc["experts_per_extra_k"] * (moe.top_k - 1)
        if eng.moe_dispatch == "per-expert":
            exp_kernels = exp_kernels + kc["experts_per_distinct"] * n_touched
        ops.append(
            Operator(
                name="experts",
                category=OPERATORS["experts"],
                kind="routed_matmul",
                count=n_moe,
                flops=2 * tokens * moe.top_k * tb.expert_params,
                weight_bytes=n_touched * tb.expert_bytes,
                kv_bytes=0,
                act_bytes=tokens * moe.top_k * (2 * d + 4 * moe.d_expert) * act * n_moe,
                kernels=exp_kernels * n_moe,
                dequant_ops=expert_unpack_ops(tb, eng, n_touched, tokens * moe.top_k),
                peak="matmul_float" if tb.is_float("experts") else "matmul",
                efficiency="expert_compute_efficiency",
                syncs=n_moe * eng.moe_syncs_per_layer,
                stored_weight_bytes=tb.weight_bytes["experts"],
                shape=(rows, tb.expert_params / max(n_moe, 1) / d, d),
                inner=_ffn_inner(d, moe.d_expert),
                weight_types=type_shares(tb, "experts"),
                **expert_path,
            )
        )
        if moe.n_shared_experts:
            assert moe.d_shared_expert is not None
            width = moe.n_shared_experts * moe.d_shared_expert
            ops.append(mm("shared_experts", 0, 2 * d + 4 * width, inner=_ffn_inner(d, moe.d_shared_expert)))
    if tb.layers["dense_ffn"]:
        assert mdl.ffn.d_ff is not None
        ffn_inner = _ffn_inner(d, mdl.ffn.d_ff, mdl.ffn.n_matrices)
        ops.append(mm("dense_ffn", 0, 2 * d + 4 * mdl.ffn.d_ff, inner=ffn_inner))
    ops.append(
        Operator(
            name="lm_head",
            category=OPERATORS["lm_head"],
            kind="matmul",
            count=1,
            flops=2 * seqs * tb.params["lm_head"],
            weight_bytes=tb.weight_bytes["lm_head"],
            kv_bytes=0,
            act_bytes=seqs * (d + mdl.vocab_size) * act,
            kernels=kc["lm_head"],
            dequant_ops=unpack_ops(tb, eng, "lm_head", seqs),
            peak="matmul_float" if tb.is_float("lm_head") else "matmul",
            efficiency="float_compute_efficiency" if tb.is_float("lm_head") else "compute_efficiency",
            stored_weight_bytes=tb.weight_bytes["lm_head"],
            shape=(seqs, mdl.vocab_size, d),
            weight_types=type_shares(tb, "lm_head"),
            # the logits of each sequence's last token only: rows = sequences, never tiled in prefill
            **({} if tb.is_float("lm_head") else path(seqs, tiles_in_prefill=False)),
        )
    )
    return ops


def type_shares(tb: ModelTables, name: str) -> tuple[tuple[str, float], ...]:
    """Operator `name`'s weights by storage type: (type, share of its parameters), largest first."""
    by = tb.params_by_type.get(name, {})
    total = sum(by.values())
    if total <= 0:
        return ()
    return tuple(sorted(((t, n / total) for t, n in by.items()), key=lambda tn: -tn[1]))


def _row_unpacked(tb: ModelTables, eng: EngineProfile, name: str) -> float:
    """Ops to unpack once the weights of operator `name` whose type has no tiled GEMM in the engine
    (EngineProfile.gemm_types): those are unpacked again for every activation row."""
    if eng.gemm_types is None:
        return 0.0
    return sum(v for t, v in tb.dequant_by_type[name].items() if t not in eng.gemm_types)


def unpack_ops(tb: ModelTables, eng: EngineProfile, name: str, rows: Any) -> Any:
    """Ops to unpack a (dense) matmul's weights in one step of `rows` activation rows: once for
    the types the engine multiplies with a tiled GEMM, once per row for the others."""
    per_row = _row_unpacked(tb, eng, name)
    return tb.dequant_ops[name] - per_row + rows * per_row


def expert_unpack_ops(tb: ModelTables, eng: EngineProfile, n_touched: Any, routed_rows: Any) -> Any:
    """Ops to unpack the routed experts' weights in one step: each touched expert once where its
    type runs a tiled GEMM (EngineProfile.gemm_types, expert_gemm), else once per routed row
    (`routed_rows` = tokens x top-k: each token unpacks its own experts' blocks)."""
    per_expert = tb.expert_dequant_ops
    if not eng.expert_gemm:
        return routed_rows * per_expert
    assert tb.model.moe is not None
    per_row = _row_unpacked(tb, eng, "experts") / tb.model.moe.n_experts
    return n_touched * (per_expert - per_row) + routed_rows * per_row


def _ffn_inner(d: float, d_ff: float, n_matrices: int = 3) -> float:
    """An FFN's input width as its per-output costs see it (Operator.inner): its d x d_ff matrices
    read d inputs per output (gate and up; up alone in an ungated FFN) but the down projection
    d_ff, so the weight-weighted harmonic mean of the widths. Experts are gated (3 matrices)."""
    return n_matrices / ((n_matrices - 1) / d + 1.0 / d_ff)


def _materialised_attention(
    tb: ModelTables,
    kc: dict[str, Any],
    tokens: Any,
    seqs: Any,
    kv_glob: Any,
    kv_s: Any,
    written: Any,
    q_act: float,
) -> list[Operator]:
    """The attention core without flash attention, as the three kernels that run it (module
    docstring): QK^T with the KV stores, the softmax, PV. Every query of a sequence scores every key
    in its cache (`kv_glob` over the global layers and `kv_s` over the sliding ones, summed over
    layers), masked keys included; K is read by QK^T and V by PV, once per sequence and step (MLA:
    V is a view of the latent rows QK^T reads)."""
    a, n_attn = tb.model.attention, tb.layers["attn_core"]
    kv_g = tb.kv_per_token_layer if tb.kv_per_token_global is None else tb.kv_per_token_global
    qk_g = tb.qk_dim if tb.global_qk_dim is None else tb.global_qk_dim
    v_g = tb.v_dim if tb.global_v_dim is None else tb.global_v_dim
    pairs = tokens * a.n_heads * (kv_glob + kv_s)  # (query, key, head) pairs over all layers
    cache = seqs * (kv_glob * kv_g + kv_s * tb.kv_per_token_layer)
    k_share = 1.0 if a.mla is not None else tb.qk_dim / (tb.qk_dim + tb.v_dim)
    common: dict[str, Any] = {"category": OPERATORS["attn_core"], "count": n_attn, "weight_bytes": 0}
    return [
        Operator(
            name="attn_core",
            kind="attention",
            flops=2 * tokens * a.n_heads * (kv_glob * qk_g + kv_s * tb.qk_dim),
            kv_bytes=k_share * cache + tokens * written + SCORE_WRITE_BYTES * pairs,
            act_bytes=tokens * q_act * n_attn,
            kernels=kc["attn_scores"] * n_attn,
            peak="scores",
            efficiency="score_efficiency",
            **common,
        ),
        Operator(
            name="attn_softmax",
            kind="elementwise",
            flops=SOFTMAX_FLOPS * pairs,
            kv_bytes=SOFTMAX_BYTES * pairs,
            act_bytes=0,
            kernels=kc["attn_softmax"] * n_attn,
            peak="vector",
            efficiency="score_efficiency",
            **common,
        ),
        Operator(
            name="attn_values",
            kind="attention",
            flops=2 * tokens * a.n_heads * (kv_glob * v_g + kv_s * tb.v_dim),
            kv_bytes=(1 - k_share) * cache + SCORE_READ_BYTES * pairs,
            act_bytes=tokens * q_act * n_attn,
            kernels=kc["attn_values"] * n_attn,
            peak="attention",
            efficiency="attention_efficiency",
            **common,
        ),
    ]
