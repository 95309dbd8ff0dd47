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
