"""Hugging Face config.json -> model spec (the YAML of model_specs/).

Each supported `model_type` maps its config keys onto the spec's fields. Keys a config may omit
because transformers has a default for them are filled from that default (`_DEFAULTS`, copied from
the transformers config classes and named there); anything else missing is an error naming the key.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from roofline.errors import SpecError
from roofline.specs.loading import parse_json, read_input
from roofline.specs.model import MAX_CONTEXT, MAX_EXPERTS, MAX_HEADS, MAX_LAYERS, MAX_VOCAB, MAX_WIDTH

SUPPORTED = (
    "llama",
    "mistral",
    "mixtral",
    "qwen2",
    "qwen2_moe",
    "qwen3",
    "qwen3_moe",
    "olmoe",
    "deepseek_v2",
    "deepseek_v3",
    "gemma2",
    "gemma3",
    "gemma3_text",
    "phimoe",
    "gpt_oss",
    "granitemoe",
    "granite",
    "phi3",
    "llama4",
    "llama4_text",
    "qwen3_next",
    "qwen3_5",
    "qwen3_5_text",
    "qwen3_5_moe",
    "qwen3_5_moe_text",
    "nemotron_h",
    "granitemoehybrid",
    "glm4_moe",
    "glm4_moe_lite",
    "kimi_k2",
    "minimax_m2",
    "hunyuan_v1_moe",
    "ernie4_5_moe",
    "gemma4",
    "gemma4_text",
    "gemma3n",
    "gemma3n_text",
)
#: DeepSeek-V3's architecture under other names: MLA, sigmoid routing, shared experts, dense first layers
MLA_FAMILIES = ("deepseek_v2", "deepseek_v3", "kimi_k2", "glm4_moe_lite")
#: Gated DeltaNet + gated full attention, every full_attention_interval-th layer (Qwen3-Next, 3.5)
DELTANET_FAMILIES = ("qwen3_next", "qwen3_5_text", "qwen3_5_moe_text")

# Defaults of transformers' config classes for keys that published configs leave out.
_DEFAULTS: dict[str, dict[str, Any]] = {
    # Gemma3TextConfig
    "gemma3_text": {
        "vocab_size": 262208,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "sliding_window": 4096,
        "sliding_window_pattern": 6,
        "tie_word_embeddings": True,
        "hidden_activation": "gelu_pytorch_tanh",
    },
    # Gemma2Config
    "gemma2": {"tie_word_embeddings": True, "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh"},
    "qwen2_moe": {"decoder_sparse_step": 1, "mlp_only_layers": []},
    "qwen3_moe": {"decoder_sparse_step": 1, "mlp_only_layers": []},
    "deepseek_v2": {"moe_layer_freq": 1, "first_k_dense_replace": 0, "scoring_func": "softmax"},
    "deepseek_v3": {"moe_layer_freq": 1, "first_k_dense_replace": 0, "scoring_func": "sigmoid"},
    "llama4_text": {"interleave_moe_layer_step": 1},
    # Qwen3NextConfig / Qwen3_5(Moe)TextConfig
    "qwen3_next": {"full_attention_interval": 4, "linear_conv_kernel_dim": 4, "decoder_sparse_step": 1},
    "qwen3_5_text": {"full_attention_interval": 4, "linear_conv_kernel_dim": 4},
    "qwen3_5_moe_text": {"full_attention_interval": 4, "linear_conv_kernel_dim": 4, "decoder_sparse_step": 1},
    # NemotronHConfig
    "nemotron_h": {"conv_kernel": 4, "n_groups": 8, "use_conv_bias": True, "mamba_proj_bias": False},
    # DeepseekV3Config (Kimi-K2 ships that architecture under model_type kimi_k2)
    "kimi_k2": {"moe_layer_freq": 1, "first_k_dense_replace": 0, "scoring_func": "sigmoid"},
    # Glm4MoeLiteConfig (GLM-4.7-Flash), Glm4MoeConfig
    "glm4_moe_lite": {"moe_layer_freq": 1, "first_k_dense_replace": 0, "scoring_func": "sigmoid"},
    "glm4_moe": {"first_k_dense_replace": 0},
    # GraniteMoeHybridConfig
    "granitemoehybrid": {
        "mamba_n_groups": 1,
        "mamba_d_conv": 4,
        "mamba_conv_bias": True,
        "mamba_proj_bias": False,
    },
    # Ernie4_5_MoeConfig
    "ernie4_5_moe": {"moe_layer_start_index": 1, "moe_layer_interval": 1, "moe_num_shared_experts": 0},
    # Gemma4TextConfig
    "gemma4_text": {"hidden_activation": "gelu_pytorch_tanh", "tie_word_embeddings": True},
    # Gemma3nTextConfig
    "gemma3n_text": {
        "hidden_activation": "gelu_pytorch_tanh",
        "tie_word_embeddings": True,
        "sliding_window": 512,
        "vocab_size_per_layer_input": 262144,
        "hidden_size_per_layer_input": 256,
        "altup_num_inputs": 4,
        "laurel_rank": 64,
        "num_kv_shared_layers": 15,
    },
}
_ACT = {
    "relu2": "relu",  # Nemotron-H's squared ReLU: up and down projections, like ReLU
    "silu": "swiglu",
    "swish": "swiglu",
    "gelu_pytorch_tanh": "geglu",
    "gelu": "geglu",
    "gelu_new": "geglu",
}


def _kebab(name: str) -> str:
    s = re.sub(r"[^a-z0-9.]+", "-", name.lower()).strip("-.")
    return re.sub(r"-{2,}", "-", s) or "imported-model"


def import_config(path: str | Path, model_id: str | None = None, source: str | None = None) -> dict[str, Any]:
    """Read a config.json and return the spec as a plain dict (validated by the caller)."""
    p = Path(path)
    cfg = parse_json(read_input(p, what="config file"), str(p))
    if not isinstance(cfg, dict):
        raise SpecError(str(p), "expected a JSON object (a Hugging Face config.json)")
    mid = model_id or _kebab(p.parent.name if p.name == "config.json" else p.stem)
    given = cfg.get("_source")
    return config_to_spec(
        cfg, str(p), mid, source or (given if isinstance(given, str) and given else f"imported from {p.name}")
    )


_MISSING = object()


class _Config:
    """A config's keys read by type: a key present with the wrong type or out of range is an error
    naming it, never a silent default (the string "false" is not false, 0 heads are not "unset")."""

    def __init__(self, c: dict[str, Any], where: str, mt: str) -> None:
        self.c, self.where, self.mt = c, where, mt

    def _error(self, key: str, message: str) -> SpecError:
        return SpecError(self.where, message, key)

    def present(self, key: str) -> bool:
        return self.c.get(key) is not None

    def int(self, key: str, lo: int, hi: int, default: Any = _MISSING) -> Any:
        v = self.c.get(key)
        if v is None:
            if default is _MISSING:
                raise self._error(key, f"model_type {self.mt!r} needs key {key!r}")
            return default
        if isinstance(v, bool) or not isinstance(v, int):
            raise self._error(key, f"expected an integer, got {_shown(v)} ({type(v).__name__})")
        if not lo <= v <= hi:
            raise self._error(key, f"{v} is outside {lo}-{hi:,}")
        return v

    def bool(self, key: str, default: bool = False) -> bool:
        v = self.c.get(key)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise self._error(key, f"expected true or false, got {_shown(v)} ({type(v).__name__})")
        return v

    def str(self, key: str, default: Any = None) -> Any:
        v = self.c.get(key)
        if v is None:
            return default
        if not isinstance(v, str):
            raise self._error(key, f"expected a string, got {_shown(v)} ({type(v).__name__})")
        return v

    def ints(self, key: str, lo: int, hi: int) -> list[int]:
        v = self.c.get(key)
        if v is None:
            return []
        if not isinstance(v, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            raise self._error(key, f"expected a list of integers, got {_shown(v)}")
        if len(v) > MAX_LAYERS or any(not lo <= x <= hi for x in v):
            raise self._error(key, f"expected at most {MAX_LAYERS} integers within {lo}-{hi}")
        return v

    def strs(self, key: str) -> list[str] | None:
        v = self.c.get(key)
        if v is None:
            return None
        if not isinstance(v, list) or len(v) > MAX_LAYERS or not all(isinstance(x, str) for x in v):
            raise self._error(key, f"expected a list of at most {MAX_LAYERS} strings, got {_shown(v)}")
        return v


def _shown(v: Any, limit: int = 60) -> str:
    text = repr(v)
    return text if len(text) <= limit else f"{text[: limit - 8]}...{text[-5:]}"


def config_to_spec(cfg: dict[str, Any], where: str, model_id: str, source: str) -> dict[str, Any]:
    top_type = cfg.get("model_type")
    if not isinstance(top_type, str) or top_type not in SUPPORTED:
        raise SpecError(
            where,
            f"unsupported model_type {_shown(top_type)}; supported: {', '.join(SUPPORTED)}",
            "model_type",
        )
    if cfg.get("text_config") is not None and not isinstance(cfg["text_config"], dict):
        raise SpecError(where, "expected a JSON object", "text_config")
    if isinstance(cfg.get("text_config"), dict):
        # multimodal checkpoint: the text decoder's keys live under text_config
        cfg = {**cfg, **cfg["text_config"]}
        cfg["model_type"] = {
            "gemma3": "gemma3_text",
            "llama4": "llama4_text",
            "qwen3_5": "qwen3_5_text",
            "qwen3_5_moe": "qwen3_5_moe_text",
            "gemma4": "gemma4_text",
            "gemma3n": "gemma3n_text",
        }.get(top_type, top_type)
    inner = cfg.get("model_type")
    mt = inner if isinstance(inner, str) and inner in SUPPORTED else top_type
    c = {**_DEFAULTS.get(mt, {}), **cfg}
    cf = _Config(c, where, mt)

    def need(key: str) -> Any:
        return cf.int(key, 1, MAX_WIDTH)

    n_layers = cf.int("num_hidden_layers", 1, MAX_LAYERS)
    d_model = cf.int("hidden_size", 1, MAX_WIDTH)
    n_heads = cf.int("num_attention_heads", 1, MAX_HEADS)
    n_kv = cf.int("num_key_value_heads", 1, MAX_HEADS, default=n_heads)
    head_dim = cf.int(
        "head_dim",
        1,
        MAX_WIDTH,
        default=cf.int("attention_head_dim", 1, MAX_WIDTH, default=d_model // n_heads),
    )
    if head_dim < 1:
        raise SpecError(
            where, f"hidden_size {d_model} / num_attention_heads {n_heads} is below 1", "head_dim"
        )
    named = [cf.str(k) for k in ("hidden_activation", "mlp_hidden_act", "hidden_act")]  # all type-checked
    act_name = next((n for n in named if n), "silu")
    if act_name not in _ACT:
        raise SpecError(
            where, f"unsupported activation {_shown(act_name)}; known: {sorted(_ACT)}", "hidden_act"
        )
    family = mt.removesuffix("_text")
    attention: dict[str, Any] = {
        "kind": "mha" if n_kv == n_heads else "mqa" if n_kv == 1 else "gqa",
        "n_heads": n_heads,
        "n_kv_heads": n_kv,
        "head_dim": head_dim,
        "qkv_bias": mt in ("qwen2", "qwen2_moe") or cf.bool("attention_bias"),
        "o_bias": mt in ("gpt_oss", "phimoe") and cf.bool("attention_bias"),
        "qk_norm": mt
        in ("qwen3", "qwen3_moe", "olmoe", "gemma3_text", "gemma4_text", "gemma3n_text", *DELTANET_FAMILIES)
        or (mt in ("hunyuan_v1_moe", "minimax_m2") and cf.bool("use_qk_norm")),  # Llama-4's is weightless
        "sinks": mt == "gpt_oss",
        "sliding_window": None,
        "global_every": None,
        "mla": None,
    }
    _sliding(cf, n_layers, attention)
    if mt in MLA_FAMILIES:
        attention["kind"] = "mla"
        attention["n_kv_heads"] = n_heads
        attention["mla"] = {
            "q_lora_rank": cf.int("q_lora_rank", 1, MAX_WIDTH, default=None),
            "kv_lora_rank": need("kv_lora_rank"),
            "qk_nope_head_dim": need("qk_nope_head_dim"),
            "qk_rope_head_dim": cf.int("qk_rope_head_dim", 0, MAX_WIDTH),
            "v_head_dim": need("v_head_dim"),
        }
        attention["head_dim"] = attention["mla"]["qk_nope_head_dim"] + attention["mla"]["qk_rope_head_dim"]
    d_ff_key = "intermediate_size_mlp" if mt == "llama4_text" else "intermediate_size"
    if mt == "gemma3n_text":  # one width per layer (MatFormer slicing): the spec holds one
        d_ff = _per_layer(cf, d_ff_key, 1, MAX_WIDTH)
    else:
        d_ff = cf.int(d_ff_key, 1, MAX_WIDTH, default=None)
    spec: dict[str, Any] = {
        "id": model_id,
        "name": cf.str("_name_or_path") or model_id,
        "source": source,
        "family": family,
        "n_layers": n_layers,
        "d_model": d_model,
        "vocab_size": cf.int("vocab_size", 1, MAX_VOCAB),
        "tied_embeddings": cf.bool("tie_word_embeddings"),
        "norm": "layernorm" if mt == "phimoe" else "rmsnorm",
        "norms_per_layer": 4 if mt in ("gemma2", "gemma3_text", "gemma4_text", "gemma3n_text") else 2,
        "attention": attention,
        "ffn": {"d_ff": d_ff, "activation": _ACT[act_name], "bias": False},
        "moe": _moe(cf, need),
    }
    if mt in DELTANET_FAMILIES:
        _deltanet(cf, spec)
    elif mt == "nemotron_h":
        _nemotron_h(cf, spec)
    elif mt == "granitemoehybrid":
        _granite_hybrid(cf, spec)
    elif mt == "gemma4_text":
        _gemma4(cf, spec)
    elif mt == "gemma3n_text":
        _gemma3n(cf, spec)
    if mt == "minimax_m2":  # q_norm/k_norm over the whole projection (qk_norm_type per_layer)
        attention["qk_norm_whole"] = cf.str("qk_norm_type", "per_layer") == "per_layer"
    mtp = cf.int("num_nextn_predict_layers", 0, 16, default=0)
    if mtp and mt in ("glm4_moe", "glm4_moe_lite"):
        spec["mtp_layers"] = mtp  # shipped in the checkpoint, loaded by llama.cpp, not run
    context = cf.int("max_position_embeddings", 1, MAX_CONTEXT, default=None)
    if context is not None and mt in _RECORD_CONTEXT:
        spec["max_context"] = context
    if spec["moe"] is not None and all(_is_moe(spec["moe"], i) for i in range(n_layers)):
        spec["ffn"]["d_ff"] = None  # no dense layer: the dense width is not used
    return spec


#: families whose imports record max_context (older bundled specs were written without it)
_RECORD_CONTEXT = (
    "glm4_moe",
    "glm4_moe_lite",
    "kimi_k2",
    "ernie4_5_moe",
    "gemma4_text",
    "granitemoehybrid",
    "gemma3n_text",
)


def _granite_hybrid(cf: _Config, spec: dict[str, Any]) -> None:
    """Granite-4.0-H: each layer runs a Mamba-2 mixer or attention (layer_types), then a MoE FFN
    with a shared expert (or a dense FFN in the dense variants)."""
    n_layers = spec["n_layers"]
    types = cf.strs("layer_types")
    if types is None or len(types) != n_layers or set(types) - {"mamba", "attention"}:
        raise SpecError(cf.where, f"expected {n_layers} entries of mamba / attention", "layer_types")
    spec["layer_pattern"] = shortest_period(types)
    heads = cf.int("mamba_n_heads", 1, MAX_HEADS)
    head_dim = cf.int("mamba_d_head", 1, MAX_WIDTH)
    expand = cf.int("mamba_expand", 1, 64, default=None)
    if expand is not None and heads * head_dim != expand * spec["d_model"]:
        raise SpecError(
            cf.where,
            f"mamba_n_heads x mamba_d_head = {heads * head_dim} is not mamba_expand x hidden_size",
            "mamba_d_head",
        )
    if "mamba" in types:
        spec["mamba"] = {
            "n_heads": heads,
            "head_dim": head_dim,
            "d_state": cf.int("mamba_d_state", 1, MAX_WIDTH),
            "n_groups": cf.int("mamba_n_groups", 1, MAX_HEADS),
            "d_conv": cf.int("mamba_d_conv", 1, 1024),
            "conv_bias": cf.bool("mamba_conv_bias", True),
            "proj_bias": cf.bool("mamba_proj_bias"),
        }


def _gemma4(cf: _Config, spec: dict[str, Any]) -> None:
    """Gemma-4: sliding/global interleave where the global layers have wider heads, fewer KV heads
    and K = V; the MoE variants run a dense MLP next to the routed experts in every layer (kept as
    an ungated shared expert: the same weights, read by every token). The small E2B/E4B variants
    add per-layer embeddings and KV shared across their last layers (_per_layer_inputs)."""
    _per_layer_inputs(cf, spec)
    if spec["attention"]["kv_shared_layers"] and cf.bool("use_double_wide_mlp"):
        raise SpecError(
            cf.where,
            "use_double_wide_mlp (the KV-shared layers' FFN twice as wide) is not modelled: the spec"
            " holds one FFN width for every layer",
            "use_double_wide_mlp",
        )
    a = spec["attention"]
    if a["global_every"] is None:
        raise SpecError(cf.where, "expected a sliding/global interleave", "layer_types")
    a["global_head_dim"] = cf.int("global_head_dim", 1, MAX_WIDTH, default=None)
    a["global_n_kv_heads"] = cf.int("num_global_key_value_heads", 1, MAX_HEADS, default=None)
    a["k_eq_v"] = cf.bool("attention_k_eq_v")
    if cf.bool("enable_moe_block"):
        spec["moe"] = {
            "n_experts": cf.int("num_experts", 2, MAX_EXPERTS),
            "top_k": cf.int("top_k_experts", 1, MAX_EXPERTS),
            "d_expert": cf.int("moe_intermediate_size", 1, MAX_WIDTH),
            "n_shared_experts": 1,
            "d_shared_expert": cf.int("intermediate_size", 1, MAX_WIDTH),
            "first_k_dense": 0,
            "moe_every": 1,
            "dense_layers": [],
        }
        spec["ffn"]["d_ff"] = None
    spec["norms_per_layer"] = 7 if spec["moe"] else 4  # + post_feedforward_layernorm_1/_2, pre_..._2


def _per_layer_inputs(cf: _Config, spec: dict[str, Any]) -> None:
    """Per-layer embeddings (hidden_size_per_layer_input wide, vocab_size_per_layer_input rows)
    and the last num_kv_shared_layers layers reusing earlier layers' KV (Gemma-3n, Gemma-4 E)."""
    width = cf.int("hidden_size_per_layer_input", 0, MAX_WIDTH, default=0)
    if width:
        spec["per_layer_embedding"] = {
            "width": width,
            "vocab_size": cf.int("vocab_size_per_layer_input", 1, MAX_VOCAB),
        }
    shared = cf.int("num_kv_shared_layers", 0, MAX_LAYERS, default=0)
    if shared >= spec["n_layers"]:
        raise SpecError(
            cf.where, f"expected fewer than {spec['n_layers']} shared layers", "num_kv_shared_layers"
        )
    spec["attention"]["kv_shared_layers"] = shared


def _gemma3n(cf: _Config, spec: dict[str, Any]) -> None:
    """Gemma-3n: Gemma-3's sliding/global attention (layer_types) with per-layer embeddings, KV
    shared across the last num_kv_shared_layers layers, AltUp over altup_num_inputs residual copies
    and a Laurel low-rank branch per layer (transformers' modeling_gemma3n.py). Activation sparsity
    (activation_sparsity_pattern) zeroes FFN activations after the gate: every weight is still
    read and multiplied, so it changes no cost here."""
    if spec["attention"]["global_every"] is None:
        raise SpecError(cf.where, "expected a sliding/global interleave", "layer_types")
    _per_layer_inputs(cf, spec)
    spec["altup"] = {
        "num_inputs": cf.int("altup_num_inputs", 2, 64),
        "laurel_rank": cf.int("laurel_rank", 0, MAX_WIDTH),
    }


def _deltanet(cf: _Config, spec: dict[str, Any]) -> None:
    """Qwen3-Next / Qwen3.5: Gated DeltaNet layers with a gated full-attention layer every
    full_attention_interval layers (or as `layer_types` lists them)."""
    n_layers = spec["n_layers"]
    types = cf.strs("layer_types")
    if types is None:
        every = cf.int("full_attention_interval", 1, MAX_LAYERS)
        types = ["full_attention" if (i + 1) % every == 0 else "linear_attention" for i in range(n_layers)]
    if len(types) != n_layers or set(types) - {"full_attention", "linear_attention"}:
        raise SpecError(
            cf.where, f"expected {n_layers} entries of full_attention / linear_attention", "layer_types"
        )
    kinds = ["attention" if t == "full_attention" else "linear_attention" for t in types]
    spec["layer_pattern"] = shortest_period(kinds)
    spec["attention"]["output_gate"] = True
    spec["linear_attention"] = {
        "n_k_heads": cf.int("linear_num_key_heads", 1, MAX_HEADS),
        "n_v_heads": cf.int("linear_num_value_heads", 1, MAX_HEADS),
        "head_k_dim": cf.int("linear_key_head_dim", 1, MAX_WIDTH),
        "head_v_dim": cf.int("linear_value_head_dim", 1, MAX_WIDTH),
        "conv_kernel": cf.int("linear_conv_kernel_dim", 1, 1024),
    }


#: hybrid_override_pattern letters (NemotronH): Mamba-2, attention, MLP, MoE; one per block
_NEMOTRON_BLOCKS = {"M": "mamba_only", "*": "attention_only", "-": "ffn_only", "E": "ffn_only"}


def _nemotron_h(cf: _Config, spec: dict[str, Any]) -> None:
    """Nemotron-H / Nemotron 3: each block runs one of a Mamba-2 mixer, attention, an MLP or a MoE
    (hybrid_override_pattern); blocks have one norm each."""
    pattern = cf.str("hybrid_override_pattern")
    if not pattern or set(pattern) - set(_NEMOTRON_BLOCKS) or len(pattern) != spec["n_layers"]:
        raise SpecError(
            cf.where,
            f"expected {spec['n_layers']} letters of M (Mamba-2), * (attention), - (MLP), E (MoE)",
            "hybrid_override_pattern",
        )
    if cf.int("moe_latent_size", 1, MAX_WIDTH, default=None) is not None:
        # Nemotron-3 Super's LatentMoE: the routed experts run in a latent width (fc1/fc2 latent
        # projections around them); a spec's experts read and write d_model
        raise SpecError(
            cf.where,
            "latent MoE (experts in a moe_latent_size-wide space, Nemotron-3 Super) is not modelled:"
            " a spec's experts take and return d_model",
            "moe_latent_size",
        )
    spec["layer_pattern"] = shortest_period([_NEMOTRON_BLOCKS[c] for c in pattern])
    spec["norms_per_layer"] = 1
    spec["mamba"] = {
        "n_heads": cf.int("mamba_num_heads", 1, MAX_HEADS),
        "head_dim": cf.int("mamba_head_dim", 1, MAX_WIDTH),
        "d_state": cf.int("ssm_state_size", 1, MAX_WIDTH),
        "n_groups": cf.int("n_groups", 1, MAX_HEADS),
        "d_conv": cf.int("conv_kernel", 1, 1024),
        "conv_bias": cf.bool("use_conv_bias", True),
        "proj_bias": cf.bool("mamba_proj_bias"),
    }
    moe = spec["moe"]
    if moe is not None:
        moe["dense_layers"] = [i for i, c in enumerate(pattern) if c == "-"]
        if "E" not in pattern:
            spec["moe"] = None
    if spec["moe"] is None or "-" in pattern:
        spec["ffn"]["d_ff"] = cf.int("intermediate_size", 1, MAX_WIDTH)
    else:
        spec["ffn"]["d_ff"] = None


def shortest_period(kinds: list[str]) -> list[str]:
    """The shortest unit that repeats to `kinds` (a spec's layer_pattern repeats over the layers)."""
    n = len(kinds)
    for p in range(1, n + 1):
        if n % p == 0 and kinds == kinds[:p] * (n // p):
            return kinds[:p]
    return kinds


def _is_moe(moe: dict[str, Any], i: int) -> bool:
    return i >= moe["first_k_dense"] and (i + 1) % moe["moe_every"] == 0 and i not in moe["dense_layers"]


def _sliding(cf: _Config, n_layers: int, attention: dict[str, Any]) -> None:
    mt, where = cf.mt, cf.where
    layer_types = cf.strs("layer_types")
    if layer_types is not None and len(layer_types) != n_layers:
        raise SpecError(where, f"has {len(layer_types)} entries for {n_layers} layers", "layer_types")
    window = cf.int("sliding_window", 0, MAX_CONTEXT, default=None) or cf.int(
        "attention_chunk_size", 1, MAX_CONTEXT, default=None
    )
    if mt == "qwen2" or mt == "qwen3" or mt == "qwen2_moe" or mt == "qwen3_moe":
        if not cf.bool("use_sliding_window"):
            return
    if mt == "llama4_text":
        no_rope = cf.ints("no_rope_layers", 0, 1)
        if window and no_rope:
            # chunked attention on RoPE layers; NoPE layers (no_rope_layers[i] == 0) see everything
            layer_types = ["full_attention" if not r else "sliding_attention" for r in no_rope]
        elif window:
            layer_types = [
                "full_attention" if (i + 1) % 4 == 0 else "sliding_attention" for i in range(n_layers)
            ]
    if not window or window >= (cf.int("max_position_embeddings", 1, 10**12, default=None) or float("inf")):
        return  # a window at least as long as the context slides over nothing (Phi-3.5: 262144)
    attention["sliding_window"] = window
    if layer_types:
        glob = [i for i, t in enumerate(layer_types) if t == "full_attention"]
        if not glob:
            return
        step = glob[0] + 1
        if glob == [i for i in range(n_layers) if (i + 1) % step == 0]:
            attention["global_every"] = step
        else:
            raise SpecError(
                where, f"layer_types pattern with global layers {glob[:10]} is not periodic", "layer_types"
            )
    elif mt == "gemma2":
        attention["global_every"] = 2
    elif mt == "gemma3_text":
        attention["global_every"] = cf.int("sliding_window_pattern", 1, MAX_LAYERS, default=6)
    elif mt == "gpt_oss":
        attention["global_every"] = 2


def _moe(cf: _Config, need: Any) -> dict[str, Any] | None:
    mt = cf.mt
    if mt in (
        "llama",
        "mistral",
        "qwen2",
        "qwen3",
        "gemma2",
        "gemma3_text",
        "gemma4_text",  # its MoE (enable_moe_block) is read by _gemma4
        "gemma3n_text",
        "granite",
        "phi3",
        "qwen3_5_text",
    ):
        return None
    if mt == "ernie4_5_moe":
        return _ernie_moe(cf)
    if mt == "hunyuan_v1_moe":
        return _hunyuan_moe(cf)
    if mt == "nemotron_h" and not any(cf.present(k) for k in ("n_routed_experts", "num_experts")):
        return None
    n_exp = next(
        (
            cf.int(k, 2, MAX_EXPERTS)
            for k in ("num_local_experts", "num_experts", "n_routed_experts")
            if cf.present(k)
        ),
        None,
    )
    top_k = next(
        (
            cf.int(k, 1, MAX_EXPERTS)
            for k in ("num_experts_per_tok", "experts_per_token", "top_k_experts")
            if cf.present(k)
        ),
        None,
    )
    if not n_exp or not top_k:
        raise SpecError(
            cf.where, f"model_type {mt!r} needs the number of experts and experts per token", "num_experts"
        )
    moe: dict[str, Any] = {
        "n_experts": n_exp,
        "top_k": top_k,
        "n_shared_experts": 0,
        "d_shared_expert": None,
        "shared_expert_gate": False,
        "expert_bias": mt == "gpt_oss",
        "router_bias": mt == "gpt_oss",
        "first_k_dense": 0,
        "moe_every": 1,
        "dense_layers": [],
        "router": "softmax-topk",
    }
    if mt in ("mixtral", "olmoe", "phimoe", "granitemoe", "gpt_oss", "granitemoehybrid", "minimax_m2"):
        moe["d_expert"] = need("intermediate_size")
        moe["router"] = "softmax-topk" if mt == "olmoe" else "topk-softmax"
        shared = cf.int("shared_intermediate_size", 0, MAX_WIDTH, default=0)
        if mt == "granitemoehybrid" and shared:  # an ungated shared MLP next to the experts
            moe.update(n_shared_experts=1, d_shared_expert=shared)
        if mt == "minimax_m2":
            moe["router"] = "sigmoid-topk" if cf.str("scoring_func") == "sigmoid" else "softmax-topk"
    elif mt in ("qwen2_moe", "qwen3_moe", "qwen3_next", "qwen3_5_moe_text"):
        moe["d_expert"] = need("moe_intermediate_size")
        moe["moe_every"] = cf.int("decoder_sparse_step", 1, MAX_LAYERS, default=1)
        moe["dense_layers"] = cf.ints("mlp_only_layers", 0, MAX_LAYERS)
        shared = cf.int("shared_expert_intermediate_size", 0, MAX_WIDTH, default=0)
        if mt != "qwen3_moe" and shared:  # a sigmoid-gated shared expert
            moe.update(n_shared_experts=1, d_shared_expert=shared, shared_expert_gate=True)
    elif mt == "nemotron_h":
        moe["d_expert"] = need("moe_intermediate_size")
        shared = cf.int("moe_shared_expert_intermediate_size", 0, MAX_WIDTH, default=0)
        if shared:
            moe.update(n_shared_experts=1, d_shared_expert=shared)
        moe["router"] = "sigmoid-topk"
    elif mt in (*MLA_FAMILIES, "glm4_moe"):
        moe["d_expert"] = need("moe_intermediate_size")
        n_shared = cf.int("n_shared_experts", 0, MAX_EXPERTS, default=0)
        if n_shared:
            moe.update(n_shared_experts=n_shared, d_shared_expert=moe["d_expert"])
        moe["first_k_dense"] = cf.int("first_k_dense_replace", 0, MAX_LAYERS, default=0)
        moe["moe_every"] = cf.int("moe_layer_freq", 1, MAX_LAYERS, default=1)
        moe["router"] = (
            "sigmoid-topk"
            if cf.str("scoring_func", "sigmoid" if mt == "glm4_moe" else None) == "sigmoid"
            else "softmax-topk"
        )
    elif mt == "llama4_text":
        moe["d_expert"] = need("intermediate_size")
        moe.update(n_shared_experts=1, d_shared_expert=moe["d_expert"], router="sigmoid-topk")
        moe["moe_every"] = cf.int("interleave_moe_layer_step", 1, MAX_LAYERS, default=1)
    return moe


#: owner/name as the Hub spells repositories (letters, digits, '-', '_', '.'; at most 96 characters)
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


def looks_like_hub_id(ref: str) -> bool:
    """Whether `ref` reads as a Hub repository id (`Qwen/Qwen3-30B-A3B`) and names no local path."""
    return bool(HUB_ID.match(ref)) and not Path(ref).exists() and not ref.endswith((".json", ".gguf"))


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def _hub_cache() -> str | None:
    """The Hub cache folder as huggingface_hub would choose it now (read here, at call time, not
    when huggingface_hub was first imported): HF_HUB_CACHE, else HF_HOME/hub, else its default."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return str(Path(os.environ["HF_HOME"]) / "hub")
    return None


def import_hub(
    repo_id: str, model_id: str | None = None, source: str | None = None, revision: str | None = None
) -> dict[str, Any]:
    """Fetch a Hub repository's config.json through huggingface_hub (its cache first when
    HF_HUB_OFFLINE is set) and return the spec as a plain dict."""
    try:
        import huggingface_hub
        from huggingface_hub import errors
    except ImportError:
        raise SpecError(
            repo_id,
            "reading a Hugging Face Hub id needs huggingface_hub: pip install 'moe-roofline[hub]'"
            " (or download the config.json and import that file)",
        ) from None
    offline = _offline()
    try:
        path = huggingface_hub.hf_hub_download(
            repo_id, "config.json", revision=revision, cache_dir=_hub_cache(), local_files_only=offline
        )
    except errors.LocalEntryNotFoundError:
        why = (
            "HF_HUB_OFFLINE is set and the Hugging Face cache"
            f" ({_hub_cache() or 'the default ~/.cache/huggingface/hub'}) has no config.json for it"
            if offline
            else "the Hub could not be reached and the Hugging Face cache has no copy"
        )
        raise SpecError(
            repo_id, f"{why}: importing a Hub id needs the network or a cached copy of its config.json"
        ) from None
    except errors.GatedRepoError:
        raise SpecError(repo_id, "gated repository: log in (hf auth login) and accept its terms") from None
    except errors.RepositoryNotFoundError:
        raise SpecError(repo_id, "no such Hugging Face repository (or it is private)") from None
    except errors.RevisionNotFoundError:
        raise SpecError(repo_id, f"the repository has no revision {revision!r}") from None
    except errors.EntryNotFoundError:
        raise SpecError(repo_id, "the repository has no config.json (a GGUF-only repository?)") from None
    except (errors.HfHubHTTPError, OSError) as exc:
        raise SpecError(repo_id, f"could not fetch config.json from the Hub: {str(exc)[:200]}") from None
    url = f"https://huggingface.co/{repo_id}/blob/{revision or 'main'}/config.json"
    name = repo_id.split("/")[1]
    spec = import_config(path, model_id or _kebab(name), source or url)
    if spec["name"] == spec["id"] or spec["name"].startswith("/"):
        spec["name"] = name
    return spec


def _per_layer(cf: _Config, key: str, lo: int, hi: int, default: Any = _MISSING) -> Any:
    """An integer that a config may give once or per layer (Hunyuan's moe_topk: [8, 8, ...]); a list
    whose entries differ is an error (the spec holds one value per model)."""
    v = cf.c.get(key)
    if isinstance(v, list):
        values = cf.ints(key, lo, hi)
        if not values or len(set(values)) != 1:
            raise SpecError(cf.where, f"expected the same value for every layer, got {_shown(v)}", key)
        return values[0]
    return cf.int(key, lo, hi, default)


def _ernie_moe(cf: _Config) -> dict[str, Any]:
    """ERNIE-4.5 MoE: experts from moe_layer_start_index to moe_layer_end_index, every
    moe_layer_interval-th layer; moe_num_shared_experts shared experts of moe_intermediate_size."""
    n_layers = cf.int("num_hidden_layers", 1, MAX_LAYERS)
    width = cf.int("moe_intermediate_size", 1, MAX_WIDTH)
    n_shared = cf.int("moe_num_shared_experts", 0, MAX_EXPERTS)
    end = cf.int("moe_layer_end_index", -1, MAX_LAYERS, default=-1)
    end = n_layers - 1 if end < 0 else end
    return {
        "n_experts": cf.int("moe_num_experts", 2, MAX_EXPERTS),
        "top_k": cf.int("moe_k", 1, MAX_EXPERTS),
        "d_expert": width,
        "n_shared_experts": n_shared,
        "d_shared_expert": width if n_shared else None,
        "first_k_dense": cf.int("moe_layer_start_index", 0, MAX_LAYERS),
        "moe_every": cf.int("moe_layer_interval", 1, MAX_LAYERS),
        "dense_layers": list(range(end + 1, n_layers)),
        "router": "softmax-topk",
    }


def _hunyuan_moe(cf: _Config) -> dict[str, Any]:
    """Hunyuan-A13B: every layer MoE; with use_mixed_mlp_moe, num_shared_expert shared MLPs of
    intermediate_size run next to the experts."""
    n_shared = (
        _per_layer(cf, "num_shared_expert", 0, MAX_EXPERTS, default=0) if cf.bool("use_mixed_mlp_moe") else 0
    )
    return {
        "n_experts": cf.int("num_experts", 2, MAX_EXPERTS),
        "top_k": _per_layer(cf, "moe_topk", 1, MAX_EXPERTS),
        "d_expert": _per_layer(cf, "moe_intermediate_size", 1, MAX_WIDTH),
        "n_shared_experts": n_shared,
        "d_shared_expert": cf.int("intermediate_size", 1, MAX_WIDTH) if n_shared else None,
        "first_k_dense": 0,
        "moe_every": 1,
        "dense_layers": [],
        "router": "softmax-topk",
    }
