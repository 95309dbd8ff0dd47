"""Hugging Face config.json -> model spec (the YAML of model_specs/).

Each supported `model_type` maps its config keys onto the spec's fields. Keys a config may omit
because transformers has a default for them are filled from that default (`_DEFAULTS`, copied from
the transformers config classes and named there); anything else missing is an error naming the key.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from roofline.errors import SpecError

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
)

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
}
_ACT = {
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
    try:
        cfg = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(str(p), f"cannot read file ({exc})") from None
    except json.JSONDecodeError as exc:
        raise SpecError(str(p), f"line {exc.lineno}: invalid JSON ({exc.msg})") from None
    if not isinstance(cfg, dict):
        raise SpecError(str(p), "expected a JSON object (a Hugging Face config.json)")
    mid = model_id or _kebab(p.parent.name if p.name == "config.json" else p.stem)
    return config_to_spec(cfg, str(p), mid, source or cfg.get("_source") or f"imported from {p.name}")


def config_to_spec(cfg: dict[str, Any], where: str, model_id: str, source: str) -> dict[str, Any]:
    top_type = cfg.get("model_type")
    if top_type not in SUPPORTED:
        raise SpecError(
            where, f"unsupported model_type {top_type!r}; supported: {', '.join(SUPPORTED)}", "model_type"
        )
    if isinstance(cfg.get("text_config"), dict):
        # multimodal checkpoint: the text decoder's keys live under text_config
        cfg = {**cfg, **cfg["text_config"]}
        cfg["model_type"] = {"gemma3": "gemma3_text", "llama4": "llama4_text"}.get(top_type, top_type)
    mt = cfg["model_type"] if cfg.get("model_type") in SUPPORTED else top_type
    c = {**_DEFAULTS.get(mt, {}), **cfg}

    def need(key: str) -> Any:
        if key not in c or c[key] is None:
            raise SpecError(where, f"model_type {mt!r} needs key {key!r}", key)
        return c[key]

    n_layers, d_model, n_heads = need("num_hidden_layers"), need("hidden_size"), need("num_attention_heads")
    n_kv = c.get("num_key_value_heads") or n_heads
    head_dim = c.get("head_dim") or d_model // n_heads
    act_name = c.get("hidden_activation") or c.get("hidden_act") or "silu"
    if act_name not in _ACT:
        raise SpecError(where, f"unsupported activation {act_name!r}; known: {sorted(_ACT)}", "hidden_act")
    family = mt.removesuffix("_text")
    attention: dict[str, Any] = {
        "kind": "mha" if n_kv == n_heads else "mqa" if n_kv == 1 else "gqa",
        "n_heads": n_heads,
        "n_kv_heads": n_kv,
        "head_dim": head_dim,
        "qkv_bias": mt in ("qwen2", "qwen2_moe") or bool(c.get("attention_bias", False)),
        "o_bias": mt in ("gpt_oss", "phimoe") and bool(c.get("attention_bias", False)),
        "qk_norm": mt in ("qwen3", "qwen3_moe", "olmoe", "gemma3_text"),
        "sinks": mt == "gpt_oss",
        "sliding_window": None,
        "global_every": None,
        "mla": None,
    }
    _sliding(c, mt, n_layers, attention)
    if mt in ("deepseek_v2", "deepseek_v3"):
        attention["kind"] = "mla"
        attention["n_kv_heads"] = n_heads
        attention["mla"] = {
            k: c.get(k)
            for k in ("q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim")
        }
        attention["head_dim"] = need("qk_nope_head_dim") + need("qk_rope_head_dim")
    d_ff = c.get("intermediate_size_mlp") if mt == "llama4_text" else c.get("intermediate_size")
    spec: dict[str, Any] = {
        "id": model_id,
        "name": c.get("_name_or_path") or model_id,
        "source": source,
        "family": family,
        "n_layers": n_layers,
        "d_model": d_model,
        "vocab_size": need("vocab_size"),
        "tied_embeddings": bool(c.get("tie_word_embeddings", False)),
        "norm": "layernorm" if mt == "phimoe" else "rmsnorm",
        "norms_per_layer": 4 if mt in ("gemma2", "gemma3_text") else 2,
        "attention": attention,
        "ffn": {"d_ff": d_ff, "activation": _ACT[act_name], "bias": False},
        "moe": _moe(c, mt, need),
    }
    if spec["moe"] is not None and all(_is_moe(spec["moe"], i) for i in range(n_layers)):
        spec["ffn"]["d_ff"] = None  # no dense layer: the dense width is not used
    return spec


def _is_moe(moe: dict[str, Any], i: int) -> bool:
    return i >= moe["first_k_dense"] and (i + 1) % moe["moe_every"] == 0 and i not in moe["dense_layers"]


def _sliding(c: dict[str, Any], mt: str, n_layers: int, attention: dict[str, Any]) -> None:
    layer_types = c.get("layer_types")
    window = c.get("sliding_window") or c.get("attention_chunk_size")
    if mt == "qwen2" or mt == "qwen3" or mt == "qwen2_moe" or mt == "qwen3_moe":
        if not c.get("use_sliding_window", False):
            return
    if mt == "llama4_text":
        no_rope = c.get("no_rope_layers")
        if window and no_rope:
            # chunked attention on RoPE layers; NoPE layers (no_rope_layers[i] == 0) see everything
            layer_types = ["full_attention" if not r else "sliding_attention" for r in no_rope]
        elif window:
            layer_types = [
                "full_attention" if (i + 1) % 4 == 0 else "sliding_attention" for i in range(n_layers)
            ]
    if not window or window >= (c.get("max_position_embeddings") or float("inf")):
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
                "config", f"layer_types pattern with global layers {glob} is not periodic", "layer_types"
            )
    elif mt == "gemma2":
        attention["global_every"] = 2
    elif mt == "gemma3_text":
        attention["global_every"] = c.get("sliding_window_pattern", 6)
    elif mt == "gpt_oss":
        attention["global_every"] = 2


def _moe(c: dict[str, Any], mt: str, need: Any) -> dict[str, Any] | None:
    if mt in ("llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3_text", "granite", "phi3"):
        return None
    n_exp = c.get("num_local_experts") or c.get("num_experts") or c.get("n_routed_experts")
    top_k = c.get("num_experts_per_tok") or c.get("experts_per_token")
    if not n_exp or not top_k:
        raise SpecError(
            "config", f"model_type {mt!r} needs the number of experts and experts per token", "num_experts"
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
    if mt in ("mixtral", "olmoe", "phimoe", "granitemoe", "gpt_oss"):
        moe["d_expert"] = need("intermediate_size")
        moe["router"] = "softmax-topk" if mt == "olmoe" else "topk-softmax"
    elif mt in ("qwen2_moe", "qwen3_moe"):
        moe["d_expert"] = need("moe_intermediate_size")
        moe["moe_every"] = c.get("decoder_sparse_step") or 1
        moe["dense_layers"] = list(c.get("mlp_only_layers") or [])
        if mt == "qwen2_moe" and c.get("shared_expert_intermediate_size"):
            moe.update(
                n_shared_experts=1,
                d_shared_expert=c["shared_expert_intermediate_size"],
                shared_expert_gate=True,
            )
    elif mt in ("deepseek_v2", "deepseek_v3"):
        moe["d_expert"] = need("moe_intermediate_size")
        if c.get("n_shared_experts"):
            moe.update(n_shared_experts=c["n_shared_experts"], d_shared_expert=moe["d_expert"])
        moe["first_k_dense"] = c.get("first_k_dense_replace") or 0
        moe["moe_every"] = c.get("moe_layer_freq") or 1
        moe["router"] = "sigmoid-topk" if c.get("scoring_func") == "sigmoid" else "softmax-topk"
    elif mt == "llama4_text":
        moe["d_expert"] = need("intermediate_size")
        moe.update(n_shared_experts=1, d_shared_expert=moe["d_expert"], router="sigmoid-topk")
        moe["moe_every"] = c.get("interleave_moe_layer_step") or 1
    return moe
