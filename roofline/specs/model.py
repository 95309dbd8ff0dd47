"""Schema of a decoder-only LLM and the weight tensors it implies.

The spec stores what a config.json says (see model_specs/README.md). Everything else, the tensor
inventory, parameter counts, which layers are MoE or use a sliding window, is derived here, so there
is one place where a model's shapes are worked out. Tensors are named as in GGUF files
(`blk.N.attn_q.weight` -> `attn_q`) so the llama.cpp quantization rules can be applied to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from math import prod
from typing import Literal

from pydantic import Field, field_validator, model_validator

from roofline.specs.hardware import KEBAB
from roofline.specs.sourced import Frozen

Activation = Literal["swiglu", "geglu", "gelu", "relu"]

# Upper bounds that no published model comes near (largest bundled: 94 layers, d_model 8192, 262k
# vocabulary, 256 experts): past them a spec is a typo, and loops over layers or experts would hang.
MAX_LAYERS = 10_000
MAX_WIDTH = 1_000_000  # d_model, head_dim, FFN and expert widths, latent ranks
MAX_HEADS = 65_536
MAX_VOCAB = 10_000_000
MAX_EXPERTS = 16_384
MAX_CONTEXT = 100_000_000  # tokens: sliding windows
MATRICES_PER_FFN: dict[str, int] = {"swiglu": 3, "geglu": 3, "gelu": 2, "relu": 2}


class MLA(Frozen):
    """Multi-head latent attention (DeepSeek-V2/V3): K and V are compressed into a shared latent."""

    q_lora_rank: int | None = Field(default=None, gt=0, le=MAX_WIDTH)
    kv_lora_rank: int = Field(gt=0, le=MAX_WIDTH)
    qk_nope_head_dim: int = Field(gt=0, le=MAX_WIDTH)
    qk_rope_head_dim: int = Field(ge=0, le=MAX_WIDTH)
    v_head_dim: int = Field(gt=0, le=MAX_WIDTH)


class Attention(Frozen):
    kind: Literal["mha", "gqa", "mqa", "mla"]
    n_heads: int = Field(gt=0, le=MAX_HEADS)
    n_kv_heads: int = Field(gt=0, le=MAX_HEADS)
    head_dim: int = Field(gt=0, le=MAX_WIDTH)
    qkv_bias: bool = False
    o_bias: bool = False
    qk_norm: bool = False
    sinks: bool = False
    output_gate: bool = False  # Qwen3-Next/3.5: q_proj also yields a sigmoid gate on the output
    sliding_window: int | None = Field(default=None, gt=0, le=MAX_CONTEXT)
    global_every: int | None = Field(default=None, gt=0, le=MAX_LAYERS)
    # Gemma-4: the global (full-context) layers have their own geometry: wider heads
    # (global_head_dim), fewer KV heads (global_n_kv_heads), and K = V (k_eq_v: no v_proj; the
    # cache still holds K and V, which differ after their norms). None: as the sliding layers.
    global_head_dim: int | None = Field(default=None, gt=0, le=MAX_WIDTH)
    global_n_kv_heads: int | None = Field(default=None, gt=0, le=MAX_HEADS)
    k_eq_v: bool = False
    # qk_norm over the whole q/k projection rather than one head at a time (OLMoE, MiniMax-M2)
    qk_norm_whole: bool = False
    # Gemma-3n / Gemma-4 E-models (num_kv_shared_layers): the last kv_shared_layers layers compute
    # no K and V and store no cache; each attends over the cache of the last earlier layer of its
    # own kind (sliding or global), which it reads again. They hold no k/v projections.
    kv_shared_layers: int = Field(default=0, ge=0, le=MAX_LAYERS)
    mla: MLA | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Attention:
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must be divisible by n_kv_heads ({self.n_kv_heads})")
        expected = {
            "mha": self.n_kv_heads == self.n_heads,
            "mqa": self.n_kv_heads == 1,
            "gqa": 1 < self.n_kv_heads < self.n_heads,
            "mla": True,
        }[self.kind]
        if not expected:
            raise ValueError(
                f"kind {self.kind!r} does not match n_heads={self.n_heads}, n_kv_heads={self.n_kv_heads}"
                " (mha: equal; gqa: 1 < n_kv_heads < n_heads; mqa: n_kv_heads = 1)"
            )
        if (self.kind == "mla") != (self.mla is not None):
            raise ValueError("'mla' dims are required for kind mla and only for it")
        if self.global_every is not None and self.sliding_window is None:
            raise ValueError("global_every needs a sliding_window")
        if self.global_n_kv_heads is not None and self.n_heads % self.global_n_kv_heads:
            raise ValueError(
                f"n_heads ({self.n_heads}) must be divisible by global_n_kv_heads ({self.global_n_kv_heads})"
            )
        glob = self.global_head_dim or self.global_n_kv_heads or self.k_eq_v
        if glob and (self.global_every is None or self.mla is not None):
            raise ValueError("global_head_dim, global_n_kv_heads and k_eq_v need a sliding/global interleave")
        if self.kv_shared_layers and self.mla is not None:
            raise ValueError("kv_shared_layers is not defined for MLA")
        return self

    def geometry(self, is_global: bool) -> tuple[int, int]:
        """(head_dim, n_kv_heads) of a global or a sliding layer."""
        if not is_global:
            return self.head_dim, self.n_kv_heads
        return self.global_head_dim or self.head_dim, self.global_n_kv_heads or self.n_kv_heads


class FFN(Frozen):
    d_ff: int | None = Field(default=None, gt=0, le=MAX_WIDTH)
    activation: Activation = "swiglu"
    bias: bool = False

    @property
    def n_matrices(self) -> int:
        return MATRICES_PER_FFN[self.activation]


class MoE(Frozen):
    n_experts: int = Field(gt=1, le=MAX_EXPERTS)
    top_k: int = Field(gt=0, le=MAX_EXPERTS)
    d_expert: int = Field(gt=0, le=MAX_WIDTH)
    n_shared_experts: int = Field(default=0, ge=0, le=MAX_EXPERTS)
    d_shared_expert: int | None = Field(default=None, gt=0, le=MAX_WIDTH)
    shared_expert_gate: bool = False
    expert_bias: bool = False
    router_bias: bool = False
    first_k_dense: int = Field(default=0, ge=0, le=MAX_LAYERS)
    moe_every: int = Field(default=1, gt=0, le=MAX_LAYERS)
    dense_layers: tuple[int, ...] = Field(default=(), max_length=MAX_LAYERS)
    router: Literal["softmax-topk", "topk-softmax", "sigmoid-topk"] = "softmax-topk"

    @model_validator(mode="after")
    def _consistent(self) -> MoE:
        if self.top_k > self.n_experts:
            raise ValueError(f"top_k ({self.top_k}) exceeds n_experts ({self.n_experts})")
        if self.n_shared_experts and self.d_shared_expert is None:
            raise ValueError("n_shared_experts > 0 needs d_shared_expert (width of one shared expert)")
        return self


class GatedDeltaNet(Frozen):
    """Gated DeltaNet linear attention (Qwen3-Next, Qwen3.5): instead of a KV cache that grows with
    the context, each value head keeps a head_k_dim x head_v_dim state, updated by the delta rule
    once per token; a short causal convolution runs over the q, k, v channels first."""

    n_k_heads: int = Field(gt=0, le=MAX_HEADS)  # linear_num_key_heads
    n_v_heads: int = Field(gt=0, le=MAX_HEADS)  # linear_num_value_heads
    head_k_dim: int = Field(gt=0, le=MAX_WIDTH)  # linear_key_head_dim
    head_v_dim: int = Field(gt=0, le=MAX_WIDTH)  # linear_value_head_dim
    conv_kernel: int = Field(default=4, gt=0, le=1024)  # linear_conv_kernel_dim

    @model_validator(mode="after")
    def _consistent(self) -> GatedDeltaNet:
        if self.n_v_heads % self.n_k_heads:
            raise ValueError(
                f"n_v_heads ({self.n_v_heads}) must be a multiple of n_k_heads ({self.n_k_heads})"
            )
        return self

    @property
    def conv_width(self) -> int:
        return self.conv_kernel

    @property
    def key_dim(self) -> int:
        return self.n_k_heads * self.head_k_dim

    @property
    def value_dim(self) -> int:
        return self.n_v_heads * self.head_v_dim

    @property
    def conv_channels(self) -> int:
        """Channels of the causal convolution: q, k and v."""
        return 2 * self.key_dim + self.value_dim

    @property
    def state_elements(self) -> int:
        """Recurrent state of one sequence in one layer: the delta-rule matrices and the
        convolution's last conv_kernel - 1 inputs."""
        return (
            self.n_v_heads * self.head_k_dim * self.head_v_dim + (self.conv_kernel - 1) * self.conv_channels
        )

    @property
    def scan_elements(self) -> int:
        """State elements the delta rule updates per token (the convolution's are few)."""
        return self.n_v_heads * self.head_k_dim * self.head_v_dim


class Mamba2(Frozen):
    """Mamba-2 selective state-space mixer (Nemotron-H, Granite-4.0-H): n_heads heads of head_dim
    channels, each with a d_state state per channel; B and C are shared by the heads of a group."""

    n_heads: int = Field(gt=0, le=MAX_HEADS)  # mamba_num_heads
    head_dim: int = Field(gt=0, le=MAX_WIDTH)  # mamba_head_dim (d_inner = n_heads * head_dim)
    d_state: int = Field(gt=0, le=MAX_WIDTH)  # ssm_state_size
    n_groups: int = Field(default=1, gt=0, le=MAX_HEADS)
    d_conv: int = Field(default=4, gt=0, le=1024)  # conv_kernel
    conv_bias: bool = True
    proj_bias: bool = False  # in_proj / out_proj biases (use_bias)

    @model_validator(mode="after")
    def _consistent(self) -> Mamba2:
        if self.n_heads % self.n_groups:
            raise ValueError(f"n_heads ({self.n_heads}) must be a multiple of n_groups ({self.n_groups})")
        return self

    @property
    def conv_width(self) -> int:
        return self.d_conv

    @property
    def d_inner(self) -> int:
        return self.n_heads * self.head_dim

    @property
    def conv_channels(self) -> int:
        """Channels of the causal convolution: x, B and C."""
        return self.d_inner + 2 * self.n_groups * self.d_state

    @property
    def state_elements(self) -> int:
        return self.d_inner * self.d_state + (self.d_conv - 1) * self.conv_channels

    @property
    def scan_elements(self) -> int:
        return self.d_inner * self.d_state


class PerLayerEmbedding(Frozen):
    """Per-layer embeddings (Gemma-3n, Gemma-4 E2B/E4B): a second token table of vocab_size rows of
    n_layers x width, of which one row (width values per layer) is gathered per token; the model
    projects its hidden state to the same n_layers x width, and each layer mixes its slice back
    into the residual stream through a gate (d_model -> width) and a projection (width -> d_model).
    The table is large (Gemma-3n E4B: 2.35B parameters) but a token reads only one row of it."""

    width: int = Field(gt=0, le=MAX_WIDTH)  # hidden_size_per_layer_input
    vocab_size: int = Field(gt=0, le=MAX_VOCAB)  # vocab_size_per_layer_input


class AltUp(Frozen):
    """Gemma-3n's Alternating Updates: the residual stream is kept as num_inputs copies; the
    embedding is projected into num_inputs - 1 extra copies (and back before the LM head) by
    d_model x d_model matrices; each layer predicts all copies from the active one with a
    num_inputs x num_inputs mixture chosen by a small router (d_model -> num_inputs), runs on
    the active copy, then corrects the others. Laurel (laurel_rank) is a low-rank residual
    branch per layer: d_model -> rank -> d_model, then a norm."""

    num_inputs: int = Field(ge=2, le=64)  # altup_num_inputs
    laurel_rank: int = Field(default=0, ge=0, le=MAX_WIDTH)  # laurel_rank; 0 = no Laurel branch


class RecordedTypes(Frozen):
    """A tensor's storage types as a GGUF file has them (`roofline model import model.gguf`):
    one type for every layer holding the tensor, or one per such layer in layer order."""

    name: str = Field(min_length=1, max_length=100)  # GGUF base name: token_embd, output, attn_v, ...
    types: tuple[str, ...] = Field(min_length=1, max_length=MAX_LAYERS)


class GGUFTypes(Frozen):
    """The per-tensor storage types of one GGUF file, so that its weight bytes are exact.

    They apply when a prediction runs at `file_type` (the spec's default_quant); any other --quant
    re-derives the types by llama-quantize's rules, as for every other spec. Tensors that are not
    listed (norms, biases, routers, SSM parameters) are F32, as in every GGUF the importer accepts."""

    file_type: str
    tensors: tuple[RecordedTypes, ...] = Field(min_length=1, max_length=10_000)


#: What a layer runs (Model.layer_pattern). A mixer name alone: that token mixer, then the layer's
#: FFN (dense or MoE, by the `moe` rules); with "_only": the mixer and no FFN; "ffn_only": an FFN
#: and no mixer (Nemotron-H's blocks hold one of the three).
MIXERS = ("attention", "linear_attention", "mamba")
LAYER_KINDS = (*MIXERS, *(f"{m}_only" for m in MIXERS), "ffn_only")


class Model(Frozen):
    """A model as described by `model_specs/<id>.yaml`."""

    id: str
    name: str
    source: str = Field(min_length=1)
    family: str
    notes: str = ""
    n_layers: int = Field(gt=0, le=MAX_LAYERS)
    d_model: int = Field(gt=0, le=MAX_WIDTH)
    vocab_size: int = Field(gt=0, le=MAX_VOCAB)
    tied_embeddings: bool
    norm: Literal["rmsnorm", "layernorm"] = "rmsnorm"
    norms_per_layer: int = Field(default=2, ge=0, le=16)
    attention: Attention
    ffn: FFN
    moe: MoE | None = None
    # hybrid models: which layers run which mixer (LAYER_KINDS), repeated over the layers when
    # shorter than n_layers (Qwen3-Next: 3 x linear_attention then attention), and the mixers' shapes
    # what the publisher ships (gpt-oss: MXFP4): the default --quant; None = Q4_K_M
    default_quant: str | None = None
    max_context: int | None = Field(default=None, gt=0, le=MAX_CONTEXT)  # max_position_embeddings
    layer_pattern: tuple[str, ...] = Field(default=("attention",), min_length=1, max_length=MAX_LAYERS)
    linear_attention: GatedDeltaNet | None = None
    mamba: Mamba2 | None = None
    per_layer_embedding: PerLayerEmbedding | None = None
    altup: AltUp | None = None
    gguf_types: GGUFTypes | None = None  # per-tensor types read from a GGUF file (see GGUFTypes)
    # multi-token-prediction modules the checkpoint ships (num_nextn_predict_layers): each one
    # decoder layer shaped like the last, plus eh_proj (2 d -> d) and two norms. llama.cpp loads
    # them (memory, file size) but plain decode never runs them; publishers leave them out of
    # their parameter counts (DeepSeek-V3's 671B, GLM-4.5's 355B)
    mtp_layers: int = Field(default=0, ge=0, le=16)

    @field_validator("id")
    @classmethod
    def _kebab(cls, v: str) -> str:
        if not KEBAB.match(v):
            raise ValueError(f"expected a kebab-case id such as 'llama-3.2-1b', got {v!r}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Model:
        if self.moe is not None:
            bad = [i for i in self.moe.dense_layers if not 0 <= i < self.n_layers]
            if bad:
                raise ValueError(f"moe.dense_layers {bad[:10]} outside 0..{self.n_layers - 1}")
            if not any(self.is_moe_layer(i) for i in range(self.n_layers)):
                raise ValueError("moe is set but no layer is a MoE layer (check first_k_dense/moe_every)")
        if self.ffn.d_ff is None and any(
            self.has_ffn(i) and not self.is_moe_layer(i) for i in range(self.n_layers)
        ):
            raise ValueError("ffn.d_ff is required: some layers have a dense FFN")
        bad = sorted(set(self.layer_pattern) - set(LAYER_KINDS))
        if bad:
            raise ValueError(f"layer_pattern: unknown layer kinds {bad}; known: {', '.join(LAYER_KINDS)}")
        for mixer, spec in (("linear_attention", self.linear_attention), ("mamba", self.mamba)):
            used = any(k in (mixer, f"{mixer}_only") for k in self.layer_pattern)
            if used and spec is None:
                raise ValueError(f"layer_pattern uses {mixer} layers but the spec has no '{mixer}' section")
            if spec is not None and not used:
                raise ValueError(f"'{mixer}' is set but no layer in layer_pattern uses it")
        shared = self.attention.kv_shared_layers
        if shared >= self.n_layers:
            raise ValueError(
                f"attention.kv_shared_layers ({shared}) must be below n_layers ({self.n_layers})"
            )
        if shared:
            first = self.n_layers - shared
            for i in range(first, self.n_layers):
                if self.mixer(i) == "attention" and self.kv_source_layer(i) is None:
                    kind = "global" if self.is_global_layer(i) else "sliding"
                    raise ValueError(
                        f"attention.kv_shared_layers {shared}: layer {i} ({kind}) has no earlier {kind}"
                        f" attention layer below layer {first} whose cache it could reuse"
                    )
        if self.gguf_types is not None:
            self._check_recorded_types(self.gguf_types)
        return self

    def _check_recorded_types(self, g: GGUFTypes) -> None:
        from roofline.specs.quant import known_weight_type  # quant imports this module

        layers: dict[str, list[int | None]] = {}
        for t in self.tensors:
            layers.setdefault(t.name, []).append(t.layer)
        for entry in g.tensors:
            if entry.name not in layers:
                raise ValueError(f"gguf_types: the model has no tensor {entry.name!r}")
            n = len(layers[entry.name])
            if len(entry.types) not in (1, n):
                raise ValueError(
                    f"gguf_types: {entry.name} has {len(entry.types)} types for the {n} layers holding it"
                    " (give one, or one per layer)"
                )
            bad = [x for x in entry.types if not known_weight_type(x)]
            if bad:
                raise ValueError(f"gguf_types: {entry.name}: unknown GGML types {sorted(set(bad))}")

    @cached_property
    def recorded_types_by_tensor(self) -> dict[tuple[str, int | None], str]:
        g = self.gguf_types
        if g is None:
            return {}
        layers: dict[str, list[int | None]] = {}
        for t in self.tensors:
            layers.setdefault(t.name, []).append(t.layer)
        out = {}
        for entry in g.tensors:
            held = layers[entry.name]
            types = entry.types * len(held) if len(entry.types) == 1 else entry.types
            out.update({(entry.name, i): x for i, x in zip(held, types, strict=True)})
        return out

    def recorded_type(self, tensor: Tensor, quant: str) -> str | None:
        """The GGML type the imported GGUF stores `tensor` in, when `quant` is that file's type."""
        g = self.gguf_types
        if g is None or quant != g.file_type:
            return None
        return self.recorded_types_by_tensor.get((tensor.name, tensor.layer))

    # ---- layer layout --------------------------------------------------------------------
    def layer_kind(self, i: int) -> str:
        """What layer i runs (one of LAYER_KINDS): layer_pattern repeated over the layers."""
        return self.layer_pattern[i % len(self.layer_pattern)]

    def mixer(self, i: int) -> str | None:
        """Layer i's token mixer (attention, linear_attention or mamba), None for an FFN-only layer."""
        kind = self.layer_kind(i)
        return None if kind == "ffn_only" else kind.removesuffix("_only")

    def has_ffn(self, i: int) -> bool:
        kind = self.layer_kind(i)
        return kind in MIXERS or kind == "ffn_only"

    def layers_with(self, mixer: str) -> list[int]:
        return [i for i in range(self.n_layers) if self.mixer(i) == mixer]

    @property
    def is_hybrid(self) -> bool:
        return self.layer_pattern != ("attention",)

    def is_moe_layer(self, i: int) -> bool:
        m = self.moe
        if m is None or not self.has_ffn(i):
            return False
        return i >= m.first_k_dense and (i + 1) % m.moe_every == 0 and i not in m.dense_layers

    def is_kv_shared_layer(self, i: int) -> bool:
        """Whether attention layer i reuses an earlier layer's KV cache (attention.kv_shared_layers)."""
        shared = self.attention.kv_shared_layers
        return bool(shared) and i >= self.n_layers - shared and self.mixer(i) == "attention"

    def kv_source_layer(self, i: int) -> int | None:
        """The layer whose cache attention layer i attends over: i itself, or for a KV-shared layer
        the last layer of the same kind (sliding or global) before the shared ones (transformers'
        Gemma3nTextAttention.kv_shared_layer_index); None when there is none."""
        if not self.is_kv_shared_layer(i):
            return i
        first = self.n_layers - self.attention.kv_shared_layers
        glob = self.is_global_layer(i)
        own = [j for j in range(first) if self.mixer(j) == "attention" and self.is_global_layer(j) == glob]
        return own[-1] if own else None

    def is_global_layer(self, i: int) -> bool:
        """Whether layer i attends to the whole context (else a sliding window of `sliding_window`)."""
        a = self.attention
        if a.sliding_window is None:
            return True
        return a.global_every is not None and (i + 1) % a.global_every == 0

    @property
    def is_moe(self) -> bool:
        return self.moe is not None

    @property
    def n_moe_layers(self) -> int:
        return sum(self.is_moe_layer(i) for i in range(self.n_layers))

    # ---- tensors and parameter counts ----------------------------------------------------
    @cached_property
    def tensors(self) -> tuple[Tensor, ...]:
        return tuple(_tensors(self))

    @property
    def total_params(self) -> int:
        """Parameters of the model as publishers count them: MTP modules left out (mtp_params)."""
        return sum(t.numel for t in self.tensors if t.role != "mtp")

    @property
    def mtp_params(self) -> int:
        """Parameters of the MTP modules: loaded, not run in plain decode."""
        return sum(t.numel for t in self.tensors if t.role == "mtp")

    @property
    def active_params(self) -> int:
        """Parameters used per token: everything except the routed experts not chosen
        (top_k of n_experts), embeddings and LM head included, as publishers count them."""
        total = 0
        for t in self.tensors:
            if t.role == "mtp":
                continue
            if t.role == "expert":
                assert self.moe is not None
                total += t.numel * self.moe.top_k // self.moe.n_experts
            else:
                total += t.numel
        return total

    @property
    def per_layer_embedding_params(self) -> int:
        """Parameters of the per-layer embedding table (a token reads one row of it); included in
        total_params and, like the token embedding, in active_params."""
        return sum(t.numel for t in self.tensors if t.role == "per_layer_embedding")

    def kv_bytes_per_token(self, bytes_per_element: float, context: int | None = None) -> float:
        """KV-cache bytes one token adds over all layers (MLA caches the latent plus the rope key;
        KV-shared layers add none). With `context`, sliding-window layers stop growing past their
        window: the mean bytes per token of a `context`-long cache."""
        a = self.attention
        total = 0.0
        for i in self.layers_with("attention"):
            if self.is_kv_shared_layer(i):
                continue  # reads an earlier layer's cache, stores none
            per_layer = self.kv_elements_per_token_layer(i) * bytes_per_element
            if context is None or self.is_global_layer(i):
                total += per_layer
            else:
                assert a.sliding_window is not None
                total += per_layer * min(context, a.sliding_window) / context
        return total

    def kv_elements_per_token_layer(self, i: int) -> int:
        """Cache elements one token adds to attention layer i: K and V of its KV heads, or MLA's
        latent plus the rope key."""
        a = self.attention
        if a.mla is not None:
            return a.mla.kv_lora_rank + a.mla.qk_rope_head_dim
        head_dim, n_kv = a.geometry(self.is_global_layer(i))
        return 2 * n_kv * head_dim

    def recurrent_state_bytes(self, bytes_per_element: float = 4.0) -> float:
        """Bytes of recurrent state one sequence holds over all linear-attention and Mamba layers
        (constant in the context; llama.cpp keeps it in F32)."""
        total = 0
        for mixer, spec in (("linear_attention", self.linear_attention), ("mamba", self.mamba)):
            if spec is not None:
                total += len(self.layers_with(mixer)) * spec.state_elements
        return total * bytes_per_element


@dataclass(frozen=True)
class Tensor:
    """One weight tensor; `shape` is (n_experts, rows, cols) for merged expert tensors, as in GGUF.

    `cols` (the last dim) is the input dimension: the one llama.cpp's block quantization runs along.
    """

    name: str
    layer: int | None
    shape: tuple[int, ...]
    role: str

    @property
    def numel(self) -> int:
        return prod(self.shape)

    @property
    def row_length(self) -> int:
        return self.shape[-1]

    @property
    def is_matrix(self) -> bool:
        return len(self.shape) >= 2


def _tensors(m: Model) -> list[Tensor]:
    d = m.d_model
    out = [Tensor("token_embd", None, (m.vocab_size, d), "embedding")]
    out += _side_tensors(m, None)
    mixer_tensors = {
        "attention": _attention_tensors,
        "linear_attention": _linear_attention_tensors,
        "mamba": _mamba_tensors,
    }
    for i in range(m.n_layers):
        mixer = m.mixer(i)
        if mixer is not None:
            out += mixer_tensors[mixer](m, i)
        if m.has_ffn(i):
            out += _ffn_tensors(m, i)
        out += _side_tensors(m, i)
        out += [Tensor(f"norm{j}", i, (d,), "norm") for j in range(m.norms_per_layer)]
        if m.norm == "layernorm":
            out += [Tensor(f"norm{j}_bias", i, (d,), "norm") for j in range(m.norms_per_layer)]
    out.append(Tensor("output_norm", None, (d,), "norm"))
    if not m.tied_embeddings:
        out.append(Tensor("output", None, (m.vocab_size, d), "lm_head"))
    for i in range(m.n_layers, m.n_layers + m.mtp_layers):
        out += _mtp_tensors(m, i, mixer_tensors)
    return out


def _side_tensors(m: Model, i: int | None) -> list[Tensor]:
    """Per-layer embeddings and AltUp/Laurel (Gemma-3n, Gemma-4 E-models; transformers'
    Gemma3nTextModel and Gemma3nTextDecoderLayer), named as llama.cpp's gemma3n GGUFs name them.
    i None: the model-level tensors (the per-layer table, the projection to all layers' inputs
    and its norm, AltUp's projections in and out of the extra copies); else layer i's."""
    d, ple, alt = m.d_model, m.per_layer_embedding, m.altup
    t: list[Tensor] = []
    if i is None:
        if ple is not None:
            n = m.n_layers * ple.width
            t += [
                Tensor("per_layer_token_embd", None, (ple.vocab_size, n), "per_layer_embedding"),
                Tensor("per_layer_model_proj", None, (n, d), "per_layer"),
                Tensor("per_layer_proj_norm", None, (ple.width,), "norm"),
            ]
        if alt is not None:
            t += [
                Tensor("altup_proj", None, (alt.num_inputs - 1, d, d), "per_layer"),
                Tensor("altup_unembd_proj", None, (alt.num_inputs - 1, d, d), "per_layer"),
            ]
        return t
    if ple is not None:
        t += [
            Tensor("inp_gate", i, (ple.width, d), "per_layer"),
            Tensor("proj", i, (d, ple.width), "per_layer"),
            Tensor("post_norm", i, (d,), "norm"),
        ]
    if alt is not None:
        n = alt.num_inputs
        t += [
            Tensor("altup_correct_coef", i, (n, n), "per_layer"),
            Tensor("altup_correct_scale", i, (d,), "norm"),
            Tensor("altup_predict_coef", i, (n * n, n), "per_layer"),
            Tensor("altup_router", i, (n, d), "per_layer"),
            Tensor("altup_router_norm", i, (d,), "norm"),
        ]
        if alt.laurel_rank:
            t += [
                Tensor("laurel_l", i, (alt.laurel_rank, d), "per_layer"),
                Tensor("laurel_r", i, (d, alt.laurel_rank), "per_layer"),
                Tensor("laurel_post_norm", i, (d,), "norm"),
            ]
    return t


def _mtp_tensors(m: Model, i: int, mixer_tensors: dict) -> list[Tensor]:
    """One MTP module (DeepSeek-V3 / GLM-4.5 layout, GGUF's nextn tensors at block i): eh_proj over
    [embedding; hidden], enorm and hnorm, one decoder layer like the model's last, and the shared
    head's norm; the embedding and LM head are the model's own. Role "mtp": loaded, never run."""
    d, last = m.d_model, m.n_layers - 1
    layer: list[Tensor] = [Tensor("nextn_eh_proj", i, (d, 2 * d), "mtp")]
    layer += [Tensor(f"nextn_{n}", i, (d,), "mtp") for n in ("enorm", "hnorm", "shared_head_norm")]
    mixer = m.mixer(last)
    if mixer is not None:
        layer += mixer_tensors[mixer](m, i)
    if m.has_ffn(last):
        layer += _ffn_tensors(m, i)
    layer += [Tensor(f"norm{j}", i, (d,), "norm") for j in range(m.norms_per_layer)]
    return [Tensor(t.name, t.layer, t.shape, "mtp") for t in layer]


def _attention_tensors(m: Model, i: int) -> list[Tensor]:
    d, a = m.d_model, m.attention
    t: list[Tensor] = []
    if a.mla is not None:
        mla = a.mla
        qk_head = mla.qk_nope_head_dim + mla.qk_rope_head_dim
        if mla.q_lora_rank:
            t += [
                Tensor("attn_q_a", i, (mla.q_lora_rank, d), "attention"),
                Tensor("attn_q_a_norm", i, (mla.q_lora_rank,), "norm"),
                Tensor("attn_q_b", i, (a.n_heads * qk_head, mla.q_lora_rank), "attention"),
            ]
        else:
            t.append(Tensor("attn_q", i, (a.n_heads * qk_head, d), "attention"))
        t += [
            Tensor("attn_kv_a_mqa", i, (mla.kv_lora_rank + mla.qk_rope_head_dim, d), "attention"),
            Tensor("attn_kv_a_norm", i, (mla.kv_lora_rank,), "norm"),
            Tensor(
                "attn_kv_b",
                i,
                (a.n_heads * (mla.qk_nope_head_dim + mla.v_head_dim), mla.kv_lora_rank),
                "attention",
            ),
            Tensor("attn_output", i, (d, a.n_heads * mla.v_head_dim), "attention"),
        ]
        return t
    is_global = m.is_global_layer(i)
    head_dim, n_kv = a.geometry(is_global)
    q, kv = a.n_heads * head_dim, n_kv * head_dim
    shared = m.is_kv_shared_layer(i)  # no k/v projections: it attends over an earlier layer's cache
    t.append(Tensor("attn_q", i, (2 * q if a.output_gate else q, d), "attention"))
    if not shared:
        t.append(Tensor("attn_k", i, (kv, d), "attention"))
    if not (a.k_eq_v and is_global) and not shared:
        t.append(Tensor("attn_v", i, (kv, d), "attention"))
    t.append(Tensor("attn_output", i, (d, q), "attention"))
    if a.qkv_bias:
        t.append(Tensor("attn_q_bias", i, (q,), "bias"))
        if not shared:
            t += [Tensor("attn_k_bias", i, (kv,), "bias"), Tensor("attn_v_bias", i, (kv,), "bias")]
    if a.o_bias:
        t.append(Tensor("attn_output_bias", i, (d,), "bias"))
    if a.qk_norm:
        # OLMoE and MiniMax-M2 normalise the whole q/k projection; Qwen3 and Gemma one head at a time.
        per_head = m.family != "olmoe" and not a.qk_norm_whole
        t.append(Tensor("attn_q_norm", i, (head_dim if per_head else q,), "norm"))
        if not shared:
            t.append(Tensor("attn_k_norm", i, (head_dim if per_head else kv,), "norm"))
    if a.sinks:
        t.append(Tensor("attn_sinks", i, (a.n_heads,), "bias"))
    return t


def _linear_attention_tensors(m: Model, i: int) -> list[Tensor]:
    """A Gated DeltaNet layer (transformers' Qwen3NextGatedDeltaNet, modeling_qwen3_next.py):
    in_proj_qkvz (q, k, v and the output gate z), in_proj_ba (per value head: beta and the decay's
    alpha), the depthwise causal convolution over q, k, v (no bias), per-head A_log and dt_bias, the
    gated RMSNorm (one head_v_dim weight shared by the heads) and out_proj."""
    la = m.linear_attention
    assert la is not None
    d = m.d_model
    return [  # GGUF names as llama.cpp's qwen3next loads them (attn_qkv + attn_gate = in_proj_qkvz)
        Tensor("attn_qkv", i, (la.conv_channels, d), "ssm"),
        Tensor("attn_gate", i, (la.value_dim, d), "ssm"),
        Tensor("ssm_ba", i, (2 * la.n_v_heads, d), "ssm"),
        Tensor("ssm_conv1d", i, (la.conv_channels, la.conv_kernel), "ssm_param"),
        Tensor("ssm_dt", i, (la.n_v_heads,), "ssm_param"),
        Tensor("ssm_a", i, (la.n_v_heads,), "ssm_param"),
        Tensor("ssm_norm", i, (la.head_v_dim,), "ssm_param"),
        Tensor("ssm_out", i, (d, la.value_dim), "ssm"),
    ]


def _mamba_tensors(m: Model, i: int) -> list[Tensor]:
    """A Mamba-2 mixer (transformers' NemotronHMamba2Mixer): in_proj to x, the gate z, B, C and dt;
    the depthwise causal convolution over x, B, C; per-head A_log, D and dt_bias; the gated RMSNorm
    over d_inner and out_proj."""
    mb = m.mamba
    assert mb is not None
    d = m.d_model
    t = [
        Tensor("ssm_in", i, (2 * mb.d_inner + 2 * mb.n_groups * mb.d_state + mb.n_heads, d), "ssm"),
        Tensor("ssm_conv1d", i, (mb.conv_channels, mb.d_conv), "ssm_param"),
        Tensor("ssm_dt", i, (mb.n_heads,), "ssm_param"),
        Tensor("ssm_a", i, (mb.n_heads,), "ssm_param"),
        Tensor("ssm_d", i, (mb.n_heads,), "ssm_param"),
        Tensor("ssm_norm", i, (mb.d_inner,), "ssm_param"),
        Tensor("ssm_out", i, (d, mb.d_inner), "ssm"),
    ]
    if mb.conv_bias:
        t.append(Tensor("ssm_conv1d_bias", i, (mb.conv_channels,), "ssm_param"))
    if mb.proj_bias:
        t += [
            Tensor("ssm_in_bias", i, (t[0].shape[0],), "ssm_param"),
            Tensor("ssm_out_bias", i, (d,), "ssm_param"),
        ]
    return t


def _ffn_tensors(m: Model, i: int) -> list[Tensor]:
    d = m.d_model
    n_mat = m.ffn.n_matrices
    if not m.is_moe_layer(i):
        assert m.ffn.d_ff is not None
        return _mlp(d, m.ffn.d_ff, n_mat, i, "", "ffn", m.ffn.bias)
    moe = m.moe
    assert moe is not None
    e = moe.n_experts
    t = [Tensor("ffn_gate_inp", i, (e, d), "router")]
    if moe.router_bias:
        t.append(Tensor("ffn_gate_inp_bias", i, (e,), "router"))
    names = ("ffn_gate_exps", "ffn_up_exps", "ffn_down_exps")[3 - n_mat :]
    for name in names:
        shape = (e, d, moe.d_expert) if name == "ffn_down_exps" else (e, moe.d_expert, d)
        t.append(Tensor(name, i, shape, "expert"))
        if moe.expert_bias:
            t.append(Tensor(f"{name}_bias", i, (e, shape[1]), "expert"))
    if moe.n_shared_experts:
        assert moe.d_shared_expert is not None
        width = moe.n_shared_experts * moe.d_shared_expert
        t += _mlp(d, width, n_mat, i, "_shexp", "shared_expert", False)
        if moe.shared_expert_gate:
            t.append(Tensor("ffn_gate_inp_shexp", i, (1, d), "shared_expert"))
    return t


def _mlp(d: int, width: int, n_mat: int, i: int, suffix: str, role: str, bias: bool) -> list[Tensor]:
    t = []
    if n_mat == 3:
        t.append(Tensor(f"ffn_gate{suffix}", i, (width, d), role))
    t += [Tensor(f"ffn_up{suffix}", i, (width, d), role), Tensor(f"ffn_down{suffix}", i, (d, width), role)]
    if bias:
        t += [
            Tensor(f"ffn_up{suffix}_bias", i, (width,), "bias"),
            Tensor(f"ffn_down{suffix}_bias", i, (d,), "bias"),
        ]
        if n_mat == 3:
            t.append(Tensor(f"ffn_gate{suffix}_bias", i, (width,), "bias"))
    return t
