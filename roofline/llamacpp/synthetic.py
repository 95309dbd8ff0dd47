"""A family of synthetic probe models whose shapes separate the cost terms: dense FFN width
(weight bandwidth), MHA vs GQA (KV traffic at depth), head width at equal KV bytes (per-pair
attention work), MoE experts / top-k / expert width (expert
dispatch and the union of experts), all on llama.cpp's `llama` architecture so one code path runs them.
Small enough to generate, quantize and bench in seconds to minutes on two cores."""

from __future__ import annotations

from typing import Any

from roofline.specs.catalog import validate
from roofline.specs.model import Model

SOURCE = "synthetic probe model (roofline/llamacpp/synthetic.py); random weights"


def _spec(
    pid: str,
    d: int,
    layers: int,
    heads: int,
    kv: int,
    d_ff: int | None,
    moe: dict[str, Any] | None,
    vocab: int = 32000,
) -> Model:
    data = {
        "id": pid,
        "name": pid,
        "source": SOURCE,
        "family": "probe",
        "n_layers": layers,
        "d_model": d,
        "vocab_size": vocab,
        "tied_embeddings": False,
        "norm": "rmsnorm",
        "norms_per_layer": 2,
        "attention": {
            "kind": "mha" if kv == heads else "gqa",
            "n_heads": heads,
            "n_kv_heads": kv,
            "head_dim": d // heads,
        },
        "ffn": {"d_ff": d_ff, "activation": "swiglu"},
        "moe": moe,
    }
    return validate(data, Model, pid)


def family(tiny: bool = False) -> list[Model]:
    """The probe set; `tiny` is one small dense and one small MoE model (the CI integration test)."""
    if tiny:
        return [
            _spec("probe-tiny-dense", 256, 2, 4, 4, 512, None, vocab=4096),
            _spec(
                "probe-tiny-moe",
                256,
                2,
                4,
                4,
                None,
                {"n_experts": 8, "top_k": 2, "d_expert": 256},
                vocab=4096,
            ),
        ]
    out = []
    for d_ff in (2048, 8192, 16384):  # weight bandwidth and compute
        out.append(_spec(f"probe-dense-ff{d_ff}", 2048, 8, 16, 4, d_ff, None))
    out.append(_spec("probe-dense-mha", 2048, 8, 16, 16, 8192, None))  # 4x the KV bytes of the GQA one
    # the same KV bytes and attention FLOPs as ff8192 in twice the (head, key) rows: per-key work
    out.append(_spec("probe-dense-hd64", 2048, 8, 32, 8, 8192, None))
    for e, k, de in ((8, 2, 2048), (32, 4, 1024), (64, 8, 1024), (64, 1, 1024), (64, 8, 512)):
        out.append(
            _spec(
                f"probe-moe-e{e}-k{k}-f{de}",
                2048,
                8,
                16,
                4,
                None,
                {"n_experts": e, "top_k": k, "d_expert": de},
            )
        )
    return out


def _hybrid(pid: str, family_: str, notes: str, **fields: Any) -> Model:
    data: dict[str, Any] = {
        "id": pid,
        "name": pid,
        "source": SOURCE,
        "family": family_,
        "notes": notes,
        "vocab_size": 32000,
        "tied_embeddings": False,
        "norm": "rmsnorm",
        **fields,
    }
    return validate(data, Model, pid)


#: Qwen3.5-35B-A3B (model_specs/qwen3.5-35b-a3b.yaml) at half width: head widths as published
#: (attention 256, DeltaNet 128, 2 KV heads, expert width 512, top-8 plus one gated shared expert),
#: head counts halved with the width, 64 instead of 256 experts, 8 layers = two 3:1 cycles.
_GDN: dict[str, Any] = {
    "n_layers": 8,
    "d_model": 1024,
    "norms_per_layer": 2,
    "attention": {
        "kind": "gqa",
        "n_heads": 8,
        "n_kv_heads": 2,
        "head_dim": 256,
        "qk_norm": True,
        "output_gate": True,
    },
    "ffn": {"d_ff": None, "activation": "swiglu"},
    "moe": {
        "n_experts": 64,
        "top_k": 8,
        "d_expert": 512,
        "n_shared_experts": 1,
        "d_shared_expert": 512,
        "shared_expert_gate": True,
    },
}
_GDN_NOTES = (
    "Qwen3.5-35B-A3B (model_specs/qwen3.5-35b-a3b.yaml) at half width: d_model 1024 (2048 / 2);"
    " gated attention with 8 query heads (16 / 2) of 256 and 2 KV heads of 256, q/k norm, as"
    " published; Gated DeltaNet with 8 key heads (16 / 2) and 16 value heads (32 / 2) of 128,"
    " conv kernel 4, as published; 64 experts (256 / 4) of width 512, top-8 and one gated shared"
    " expert of 512, as published; vocabulary 32000 (the probe family's, so that the LM head does"
    " not hide the layers); random weights."
)
_GDN_MIXER = {"n_k_heads": 8, "n_v_heads": 16, "head_k_dim": 128, "head_v_dim": 128, "conv_kernel": 4}
#: Nemotron-H (model_specs/nemotron-nano-9b-v2.yaml) at width 1024: Mamba-2 heads of 64 with
#: d_inner = 2 x width (Nemotron-H-8B's expand), state 128 and 8 groups as published, attention
#: heads of 128 with 4 query heads per KV head (Nemotron-H-8B: 32/8), squared-ReLU FFN 4 x width;
#: 12 blocks of one kind each, M - M - * - twice (Nemotron-Nano-9B-v2: 27 M, 4 *, 25 -).
_M2: dict[str, Any] = {
    "n_layers": 12,
    "d_model": 1024,
    "norms_per_layer": 1,
    "attention": {"kind": "gqa", "n_heads": 8, "n_kv_heads": 2, "head_dim": 128},
    "ffn": {"d_ff": 4096, "activation": "relu"},
}
_M2_NOTES = (
    "Nemotron-H (model_specs/nemotron-nano-9b-v2.yaml) at width 1024: Mamba-2 with 32 heads of 64"
    " (d_inner 2048 = 2 x width as in Nemotron-H-8B: 128 heads of 64 at 4096, 32 query / 8 KV"
    " heads, per NVIDIA Megatron-Bridge docs/models/llm/nemotronh.md; 9B-v2: 128 heads of 80 at 4480),"
    " state 128, 8 groups and conv kernel 4 as published; attention with 8 query heads of 128 and"
    " 2 KV heads (4 per KV head; 9B-v2: 40 / 8), no RoPE; squared-ReLU FFN 4096 (4 x width; 9B-v2:"
    " 3.5 x); one kind per block as in Nemotron-H; vocabulary 32000; random weights."
)
_M2_MIXER = {"n_heads": 32, "head_dim": 64, "d_state": 128, "n_groups": 8, "d_conv": 4}


def hybrid_family(tiny: bool = False) -> list[Model]:
    """Two hybrid probes, one Gated DeltaNet (llama.cpp qwen35moe) and one Mamba-2 (nemotron_h),
    each with an attention-heavy control: the same model with all but one recurrent layer replaced
    by an attention layer of the same shape (llama.cpp cannot run these architectures without a
    recurrent layer: its empty state buffer fails GGML_ASSERT(buffer)). Two models with different
    (attention, recurrent) layer counts separate what one attention layer and one recurrent layer
    add per decoded token as the context grows. `tiny`: one small model of each kind, the same
    layer kinds at width 256 and vocabulary 4096 (the end-to-end loading test)."""
    gdn = "linear_attention"
    if tiny:
        small = {"d_model": 256, "vocab_size": 4096}
        gdn_attn = {**_GDN["attention"], "n_heads": 4}
        moe = {**_GDN["moe"], "n_experts": 8, "top_k": 2, "d_expert": 128, "d_shared_expert": 128}
        mixer = {**_GDN_MIXER, "n_k_heads": 1, "n_v_heads": 2}
        m2 = {**_M2, "attention": {**_M2["attention"], "n_heads": 4, "n_kv_heads": 2}}
        return [
            _hybrid(
                "probe-tiny-gdn",
                "qwen3_5_moe",
                "tiny probe-hybrid-gdn",
                layer_pattern=[gdn, gdn, gdn, "attention"],
                linear_attention=mixer,
                **{**_GDN, **small, "n_layers": 4, "attention": gdn_attn, "moe": moe},
            ),
            _hybrid(
                "probe-tiny-mamba2",
                "nemotron_h",
                "tiny probe-hybrid-mamba2",
                layer_pattern=["mamba_only", "ffn_only", "attention_only"],
                mamba={**_M2_MIXER, "n_heads": 8},
                **{**m2, **small, "n_layers": 3, "ffn": {"d_ff": 512, "activation": "relu"}},
            ),
        ]
    return [
        _hybrid(
            "probe-hybrid-gdn",
            "qwen3_5_moe",
            _GDN_NOTES + " Layers: 3 Gated DeltaNet then 1 gated attention, twice (Qwen3.5's 3:1).",
            layer_pattern=[gdn, gdn, gdn, "attention"],
            linear_attention=_GDN_MIXER,
            **_GDN,
        ),
        _hybrid(
            "probe-hybrid-gdn-attn",
            "qwen3_5_moe",
            "Control of probe-hybrid-gdn: 1 Gated DeltaNet then 7 gated attention layers. " + _GDN_NOTES,
            layer_pattern=[gdn] + ["attention"] * 7,
            linear_attention=_GDN_MIXER,
            **_GDN,
        ),
        _hybrid(
            "probe-hybrid-mamba2",
            "nemotron_h",
            _M2_NOTES + " Blocks: Mamba-2, FFN, Mamba-2, FFN, attention, FFN, twice.",
            layer_pattern=["mamba_only", "ffn_only", "mamba_only", "ffn_only", "attention_only", "ffn_only"],
            mamba=_M2_MIXER,
            **_M2,
        ),
        _hybrid(
            "probe-hybrid-mamba2-attn",
            "nemotron_h",
            "Control of probe-hybrid-mamba2: blocks Mamba-2, FFN, then 5 x (attention, FFN). " + _M2_NOTES,
            layer_pattern=["mamba_only", "ffn_only"] + ["attention_only", "ffn_only"] * 5,
            mamba=_M2_MIXER,
            **_M2,
        ),
    ]


def truncated(model: Model, n_layers: int) -> Model:
    """A catalog model at full width with its first `n_layers` layers (same layer pattern), for
    probing real shapes in seconds; its id says so and its source is the original's."""
    data = model.model_dump(mode="json")
    data.update(
        id=f"{model.id}-{n_layers}l",
        name=f"{model.name}, first {n_layers} of {model.n_layers} layers",
        n_layers=n_layers,
        notes=f"{model.id} truncated to {n_layers} layers for probing (roofline/llamacpp/synthetic.py)",
    )
    if len(model.layer_pattern) > n_layers:
        data["layer_pattern"] = list(model.layer_pattern[:n_layers])
    return validate(data, Model, data["id"])
