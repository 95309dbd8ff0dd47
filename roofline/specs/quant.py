"""Weight formats: bytes per weight (scales included), which tensors get which type, dequant cost.

Block layouts are those of ggml (`ggml/src/ggml-common.h`): a block of `block` weights takes
`block_bytes` bytes, scales and minima included, so bits per weight = 8 * block_bytes / block.
File types such as Q4_K_M are *mixes*: llama.cpp's `llama_tensor_get_type` (src/llama-quant.cpp)
gives some tensors more bits. `tensor_type` re-implements the rules that matter for size and
bandwidth (output/embedding, attn_v, attn_k, attn_output, ffn_down, the block-size fallbacks);
rules that only apply with an importance matrix or to IQ1/IQ2/IQ3 types are left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from roofline.errors import SpecError
from roofline.specs.model import Model, Tensor


@dataclass(frozen=True)
class WeightType:
    """A storage type: `block` weights in `block_bytes` bytes.

    `dequant_ops` is an *estimate* of the integer/float operations per weight needed to turn the
    stored form into something the FMA units take (unpack nibbles, apply sub-block scales and
    minima). It is a documented default, to be calibrated, not a measured figure.
    """

    name: str
    block: int
    block_bytes: float
    dequant_ops: float

    @property
    def bits_per_weight(self) -> float:
        return 8.0 * self.block_bytes / self.block

    @property
    def bytes_per_weight(self) -> float:
        return self.block_bytes / self.block


# Block sizes and bytes from ggml-common.h (block_q4_0: fp16 d + 16 B of nibbles = 18 B / 32 weights,
# block_q4_K: 2 fp16 + 12 B scales + 128 B quants = 144 B / 256, etc.).
_TYPES = [
    WeightType("F32", 1, 4, 0.0),
    WeightType("F16", 1, 2, 1.0),
    WeightType("BF16", 1, 2, 1.0),
    WeightType("Q8_0", 32, 34, 1.0),
    WeightType("Q6_K", 256, 210, 4.0),
    WeightType("Q5_K", 256, 176, 4.0),
    WeightType("Q5_1", 32, 24, 3.0),
    WeightType("Q5_0", 32, 22, 3.0),
    WeightType("Q4_K", 256, 144, 3.0),
    WeightType("Q4_1", 32, 20, 2.0),
    WeightType("Q4_0", 32, 18, 2.0),
    WeightType("IQ4_NL", 32, 18, 3.0),
    WeightType("IQ4_XS", 256, 136, 3.0),
    WeightType("Q3_K", 256, 110, 5.0),
    WeightType("Q2_K", 256, 84, 4.0),
    WeightType("MXFP4", 32, 17, 3.0),
    WeightType("FP8", 1, 1, 1.0),
]
WEIGHT_TYPES: dict[str, WeightType] = {t.name: t for t in _TYPES}

#: File types (llama-quantize's names) -> the base type of their ordinary matrices.
FILE_TYPES: dict[str, str] = {
    "F32": "F32",
    "F16": "F16",
    "BF16": "BF16",
    "Q8_0": "Q8_0",
    "Q6_K": "Q6_K",
    "Q5_K_M": "Q5_K",
    "Q5_K_S": "Q5_K",
    "Q5_1": "Q5_1",
    "Q5_0": "Q5_0",
    "Q4_K_M": "Q4_K",
    "Q4_K_S": "Q4_K",
    "Q4_1": "Q4_1",
    "Q4_0": "Q4_0",
    "IQ4_NL": "IQ4_NL",
    "IQ4_XS": "IQ4_XS",
    "Q3_K_L": "Q3_K",
    "Q3_K_M": "Q3_K",
    "Q3_K_S": "Q3_K",
    "Q2_K": "Q2_K",
    "MXFP4": "MXFP4",
}

#: KV-cache element types (llama.cpp -ctk/-ctv names and generic ones) -> bytes per element.
KV_DTYPES: dict[str, float] = {
    "f32": 4.0,
    "f16": 2.0,
    "bf16": 2.0,
    "fp8": 1.0,
    "q8_0": 34 / 32,
    "q5_1": 24 / 32,
    "q5_0": 22 / 32,
    "q4_1": 20 / 32,
    "q4_0": 18 / 32,
    "iq4_nl": 18 / 32,
}

_GENERIC = re.compile(r"^(INT8|INT4)(?:-G(\d{1,9}))?$")
MAX_GROUP = 65_536
_FALLBACK = {
    "Q4_K": "Q5_0",
    "Q5_K": "Q5_1",
    "Q6_K": "Q8_0",
    "Q2_K": "IQ4_NL",
    "Q3_K": "IQ4_NL",
    "IQ4_XS": "IQ4_NL",
}


def quant_names() -> list[str]:
    return [*FILE_TYPES, "FP8", "INT8-G128", "INT4-G128", "INT4-G32"]


def check_quant(name: str) -> str:
    """Normalise a quantization name or raise a SpecError listing the known ones."""
    up = name.strip().upper()
    if up in FILE_TYPES or up == "FP8":
        return up
    generic = _GENERIC.match(up)
    if generic and 1 <= int(generic.group(2) or 128) <= MAX_GROUP:
        return up
    if generic:
        raise SpecError("quant", f"{name!r}: group size must be 1-{MAX_GROUP} weights per scale")
    raise SpecError(
        "quant",
        f"unknown quantization {name[:40]!r}; known: {', '.join(quant_names())}"
        " (INT4/INT8 take any group size, e.g. INT4-G64)",
    )


def _generic_type(name: str) -> WeightType:
    if name == "FP8":
        return WEIGHT_TYPES["FP8"]
    match = _GENERIC.match(name)
    assert match
    bits, group = int(match.group(1)[3:]), int(match.group(2) or 128)
    # one fp16 scale and (for int4, asymmetric as in GPTQ/AWQ) a 4-bit zero point per group
    scale_bits = 16 + (4 if bits == 4 else 0)
    return WeightType(name, group, (group * bits + scale_bits) / 8, 2.0 if bits == 4 else 1.0)


def known_weight_type(name: str) -> bool:
    """Whether `name` is a GGML storage type (ours, or any the gguf package knows)."""
    try:
        weight_type(name)
    except SpecError:
        return False
    return True


@lru_cache(maxsize=64)
def weight_type(name: str) -> WeightType:
    """A GGML storage type by name. Types this module does not list (IQ2_XXS, TQ1_0, ...) take
    their block layout from the gguf package; their dequant_ops is an estimate (4, as for the
    K-quants with sub-block scales), not a calibrated figure."""
    if name in WEIGHT_TYPES:
        return WEIGHT_TYPES[name]
    import gguf

    try:
        qtype = gguf.GGMLQuantizationType[name]
        block, size = gguf.GGML_QUANT_SIZES[qtype]
    except KeyError:
        raise SpecError("quant", f"unknown GGML type {name[:40]!r}") from None
    return WeightType(name, block, size, 4.0)


def storage_type(name: str) -> WeightType:
    """The storage type a model table names a tensor's weights by: a GGML type (weight_type) or a
    generic format (FP8, INT4-G128, ...)."""
    if name == "FP8" or _GENERIC.match(name):
        return _generic_type(name)
    return weight_type(name)


def _use_more_bits(i: int, n: int) -> bool:
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def tensor_type(model: Model, tensor: Tensor, quant: str) -> WeightType:
    """The storage type llama-quantize (or a generic int/fp8 scheme) gives `tensor` under `quant`."""
    quant = check_quant(quant)
    recorded = model.recorded_type(tensor, quant)
    if recorded is not None:  # imported from a GGUF file: what that file stores (model.GGUFTypes)
        return weight_type(recorded)
    if not tensor.is_matrix or tensor.role in ("router", "bias", "norm", "ssm_param"):
        # 1-D tensors, biases and the MoE router stay F32 (convert_hf_to_gguf keeps
        # ffn_gate_inp in F32 and llama-quantize never quantizes it); so do the small 2-D SSM
        # convolution weights (llama-quantize skips ssm_conv1d).
        return WEIGHT_TYPES["F32"]
    if quant not in FILE_TYPES:
        if tensor.role in ("embedding", "lm_head"):
            return WEIGHT_TYPES["BF16"]  # GPTQ/AWQ/fp8 checkpoints keep these in 16 bit
        return _generic_type(quant)
    name = _llama_cpp_type(model, tensor, quant)
    wt = WEIGHT_TYPES[name]
    if tensor.row_length % wt.block:
        name = _FALLBACK.get(name, "F16")
        if tensor.row_length % WEIGHT_TYPES[name].block:
            name = "F16"
    return WEIGHT_TYPES[name]


def _llama_cpp_type(m: Model, t: Tensor, ftype: str) -> str:
    base = FILE_TYPES[ftype]
    if ftype in ("F32", "F16", "BF16") or t.role == "mtp":
        return base  # MTP (nextn) blocks: the base type; the per-layer bumps index main layers
    if ftype == "MXFP4":
        return "MXFP4" if t.role == "expert" else "Q8_0"
    n_layer = m.n_layers
    n_expert = m.moe.n_experts if m.moe else 1
    n_gqa = m.attention.n_heads // m.attention.n_kv_heads
    i = t.layer if t.layer is not None else 0
    is_output = t.role == "lm_head" or (t.role == "embedding" and m.tied_embeddings)
    if is_output:
        if t.row_length % WEIGHT_TYPES[base].block:
            return "Q8_0"
        return base if base == "Q8_0" else "Q6_K"
    if t.role == "embedding":
        return base
    if t.name == "attn_v" or (t.name == "attn_qkv" and t.role == "ssm"):
        if m.is_hybrid:
            # llama-quantize counts the tensors it treats as attn_v: attn_v itself and a Gated
            # DeltaNet layer's fused attn_qkv (category ATTENTION_QKV), in layer order
            wv = sorted(m.layers_with("attention") + m.layers_with("linear_attention"))
            i, n_layer = wv.index(i), len(wv)
        new = base
        if ftype == "Q2_K":
            new = "Q4_K" if n_gqa >= 4 else "Q3_K"
        elif ftype == "Q3_K_M":
            new = "Q5_K" if i < 2 else "Q4_K"
        elif ftype == "Q3_K_L":
            new = "Q5_K"
        elif ftype in ("IQ4_NL", "IQ4_XS") and n_gqa >= 4:
            new = "Q5_K"
        elif ftype in ("Q4_K_M", "Q5_K_M") and _use_more_bits(i, n_layer):
            new = "Q6_K"
        elif ftype == "Q4_K_S" and i < 4:
            new = "Q5_K"
        if n_layer == 80 and m.family in ("llama", "qwen2") and new in ("Q3_K", "Q4_K"):
            new = "Q5_K"  # llama.cpp's LLM_TYPE_70B rule: attn_v is 8x smaller than attn_q
        if n_expert == 8:
            new = "Q8_0"
        return new
    if t.name == "attn_k" and n_expert == 8:
        return "Q8_0"
    if t.name.startswith("ffn_down"):
        if m.is_hybrid and n_expert == 1:
            # ... and, without experts, indexes ffn_down by a counter of those tensors, still
            # against the number of all layers (n_ffn_down = n_layer_all)
            i = [j for j in range(m.n_layers) if m.has_ffn(j)].index(i)
        if ftype == "Q2_K":
            return "Q3_K"
        if ftype == "Q3_K_M":
            return "Q5_K" if i < n_layer // 16 else "Q4_K"
        if ftype == "Q3_K_L":
            return "Q5_K"
        if ftype == "Q4_K_M":
            return "Q6_K" if _use_more_bits(i, n_layer) else base
        if ftype == "Q5_K_M" and _use_more_bits(i, n_layer):
            return "Q6_K"
        if ftype in ("IQ4_NL", "IQ4_XS") and i < n_layer // 8:
            return "Q5_K"
        if ftype == "Q4_K_S" and i < n_layer // 8:
            return "Q5_K"
        return base
    if t.name == "attn_output":
        if n_expert == 8:
            if ftype in ("Q2_K", "Q3_K_S", "Q3_K_M", "IQ4_NL", "Q4_K_S", "Q4_K_M", "IQ4_XS"):
                return "Q5_K"
            return base
        return {"Q2_K": "Q3_K", "Q3_K_M": "Q4_K", "Q3_K_L": "Q5_K"}.get(ftype, base)
    return base


def tensor_bytes(model: Model, tensor: Tensor, quant: str) -> float:
    return tensor.numel * tensor_type(model, tensor, quant).bytes_per_weight


def file_size(model: Model, quant: str) -> float:
    """Bytes of all weight tensors under `quant` (what llama-bench reports as the model size)."""
    return _file_size(model, check_quant(quant))


@lru_cache(maxsize=256)
def _file_size(model: Model, quant: str) -> float:
    # cached: footprints at many workloads (crossover, sweep) ask again for the same model, and a
    # 10,000-layer spec has ~1e5 tensors
    return sum(tensor_bytes(model, t, quant) for t in model.tensors)


def type_mix(model: Model, quant: str) -> dict[str, float]:
    """Share of the weight count stored in each type, e.g. {'Q4_K': 0.82, 'Q6_K': 0.17, ...}."""
    counts: dict[str, int] = {}
    for t in model.tensors:
        name = tensor_type(model, t, quant).name
        counts[name] = counts.get(name, 0) + t.numel
    total = sum(counts.values())
    return {k: v / total for k, v in sorted(counts.items(), key=lambda kv: -kv[1])}
