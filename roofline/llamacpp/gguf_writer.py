"""Write a GGUF file with random weights for a model spec, with the tensor names, shapes and
architecture metadata llama.cpp needs to load it, and a dummy vocabulary of the right size.

Timing depends on shapes and quantization, not on weight values, with one exception: routing,
which sets how many experts a batch touches. Random routers give near-uniform routing (real models
route less uniformly) only if the hidden states stay diverse, so every random quant block is
zero-mean (`_center`): files written before 2026-12-01 had Q4_K/Q5_K weights with a mean of 0.9 of
their spread, and their MoE batches touched a quarter of the experts. Weights are F16,
streamed tensor by tensor (a 7 B model never sits in memory whole); large tensors repeat a random
block, while routers get fully random rows so that routing stays near-uniform. Recurrent-layer
parameters get values of the sign a trained model has (decays A < 0, D = 1, unit norm weights) so
the state stays finite over long runs; their values do not change the kernels' work.

Hybrid models: Gated DeltaNet layers are written for llama.cpp's `qwen3next`, `qwen35` (dense
FFN) and `qwen35moe` architectures, Mamba-2 layers for `nemotron_h`; tensor names, shapes and
metadata keys as llama.cpp's loaders read them (src/models/qwen3next.cpp, qwen35.cpp,
qwen35moe.cpp, nemotron-h.cpp of the llama.cpp vendored by llama-cpp-python 0.3.36). Those
architectures need at least one recurrent layer (an empty recurrent-state buffer aborts).
DeepSeek-V2 (MLA) is written for llama.cpp's `deepseek2`, MLA keys and the k_b/v_b split in
gguf_deepseek.

With `quant` (a llama-quantize file type such as Q4_K_M, Q8_0 or MXFP4), each tensor is written
directly in the type llama-quantize would give it (`roofline.specs.quant.tensor_type`), as valid
random blocks: random quant bits and sub-block scales, finite fp16 (or E8M0) block scales chosen so
weights stay small. No F16 file is written and nothing is quantized, so large models take seconds
and one file's disk space.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from roofline.errors import SpecError
from roofline.llamacpp import gguf_deepseek
from roofline.specs.model import Model, Tensor
from roofline.specs.quant import check_quant, tensor_type

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
    "gpt_oss": "gpt-oss",
    "probe": "llama",
    "qwen3_next": "qwen3next",
    "qwen3_5": "qwen35",
    "qwen3_5_moe": "qwen35moe",
    "nemotron_h": "nemotron_h",
    "deepseek_v2": gguf_deepseek.ARCH,
}
_NORMS = {
    "gemma2": ["attn_norm", "post_attention_norm", "ffn_norm", "post_ffw_norm"],
    "gpt_oss": ["attn_norm", "post_attention_norm"],
    "qwen3_next": ["attn_norm", "post_attention_norm"],
    "qwen3_5": ["attn_norm", "post_attention_norm"],
    "qwen3_5_moe": ["attn_norm", "post_attention_norm"],
}
#: Gated DeltaNet architectures (llama.cpp reads head_k_dim = head_v_dim = ssm.state_size)
_DELTANET_ARCHES = ("qwen3next", "qwen35", "qwen35moe")
#: recurrent-layer tensors llama.cpp names without a ".weight" suffix, or as a bias
_SUFFIX = {"ssm_a": "", "ssm_d": "", "ssm_dt": "bias"}

#: block layouts of ggml-common.h: (fp16 scale byte offsets, E8M0 scale byte offset or None,
#: int8 sub-block scale (start, end) or None) within one block. Everything else in a block is random
#: quant bits or unsigned 6/4-bit sub-block scales, valid for any value.
_BLOCKS: dict[str, tuple[tuple[int, ...], int | None, tuple[int, int] | None]] = {
    "Q4_0": ((0,), None, None),
    "Q4_1": ((0, 2), None, None),
    "Q5_0": ((0,), None, None),
    "Q5_1": ((0, 2), None, None),
    "Q8_0": ((0,), None, None),
    "IQ4_NL": ((0,), None, None),
    "Q2_K": ((80, 82), None, None),
    "Q3_K": ((108,), None, None),
    "Q4_K": ((0, 2), None, None),
    "Q5_K": ((0, 2), None, None),
    "Q6_K": ((208,), None, (192, 208)),
    "MXFP4": ((), 0, None),
}
#: fp16 block scale per type: dequantized weights stay within a few hundredths
_SCALE = {
    "Q8_0": 2.0**-12,
    "IQ4_NL": 2.0**-12,
    "Q4_0": 2.0**-8,
    "Q4_1": 2.0**-8,
    "Q5_0": 2.0**-9,
    "Q5_1": 2.0**-9,
    "Q2_K": 2.0**-10,
    "Q3_K": 2.0**-12,
    "Q4_K": 2.0**-14,
    "Q5_K": 2.0**-14,
    "Q6_K": 2.0**-14,
}
_MXFP4_E8M0 = 119  # 2**(119 - 127): |w| <= 6 * 2**-8


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
    suffix = _SUFFIX.get(base, "weight") if t.role == "ssm_param" else "weight"
    if base.endswith("_bias"):
        base, suffix = base[: -len("_bias")], "bias"
    return f"blk.{t.layer}.{base}" + (f".{suffix}" if suffix else "")


@dataclass(frozen=True)
class Placed:
    """One tensor as it is written: GGUF name, shape (numpy order: the last dim is GGUF's ne0) and
    the spec tensor it comes from (whose type rules it follows)."""

    name: str
    shape: tuple[int, ...]
    spec: Tensor


def layout(m: Model) -> list[Placed]:
    """The tensors of `m` as llama.cpp's loader for its architecture expects them. Mostly one per
    spec tensor; Qwen3.5 splits the DeltaNet's beta/alpha projection (ssm_ba) into ssm_beta and
    ssm_alpha, Nemotron-H reads A and D as (1, heads) and the gated norm one group per row, and
    deepseek2 reads MLA's attn_kv_b as attn_k_b and attn_v_b (gguf_deepseek.place)."""
    arch = ARCHES.get(m.family)
    out = []
    for t in m.tensors:
        name = gguf_name(m, t)
        if arch in ("qwen35", "qwen35moe") and t.name == "ssm_ba":
            half = (t.shape[0] // 2, t.shape[1])
            out += [
                Placed(f"blk.{t.layer}.ssm_beta.weight", half, t),
                Placed(f"blk.{t.layer}.ssm_alpha.weight", half, t),
            ]
        elif arch == "nemotron_h" and t.name in ("ssm_a", "ssm_d"):
            out.append(Placed(name, (t.shape[0], 1), t))
        elif arch == "nemotron_h" and t.name == "ssm_norm":
            assert m.mamba is not None
            g = m.mamba.n_groups
            out.append(Placed(name, (g, t.shape[0] // g), t))
        elif arch == gguf_deepseek.ARCH:
            out += [Placed(*p) for p in gguf_deepseek.place(m, t, name)]
        else:
            out.append(Placed(name, t.shape, t))
    return out


def _values(t: Tensor, shape: tuple[int, ...], rng: np.random.Generator, block: np.ndarray) -> np.ndarray:
    if t.role == "norm" or t.name in ("ssm_norm", "ssm_d"):
        return np.ones(shape, np.float32)
    if t.name == "ssm_a":  # -exp(A_log): a decay, negative in every trained model
        return -rng.uniform(0.5, 1.5, shape).astype(np.float32)
    if t.role in ("bias", "router") or len(shape) == 1 or t.name.endswith("_bias"):
        return (0.02 * rng.standard_normal(shape)).astype(np.float32)
    return np.resize(block, shape).astype(np.float32)


def ggml_type_name(m: Model, t: Tensor, quant: str | None) -> str:
    """The GGML type `t` is written in: F32 for norms, biases, routers and 1-D tensors; else F16
    (no quant) or what llama-quantize gives it under `quant`."""
    if t.role in ("norm", "bias", "router", "ssm_param") or len(t.shape) == 1 or t.name.endswith("_bias"):
        return "F32"
    if t.name == "ffn_gate_inp_shexp":  # one row: convert_hf_to_gguf keeps it F32, llama-quantize too
        return "F32"
    if quant is None or quant == "F16":
        return "F16"
    return tensor_type(m, t, quant).name


def random_blocks(type_name: str, n_blocks: int, rng: np.random.Generator) -> np.ndarray:
    """`n_blocks` valid random blocks of a quantized GGML type, as bytes (n_blocks, type_size)."""
    import gguf

    qtype = gguf.GGMLQuantizationType[type_name]
    _, size = gguf.GGML_QUANT_SIZES[qtype]
    if type_name not in _BLOCKS:
        raise SpecError("quant", f"no random-block writer for GGML type {type_name}", "quant")
    halves, e8m0, signed = _BLOCKS[type_name]
    b = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    for off in halves:
        d = (_SCALE[type_name] * rng.uniform(0.5, 1.0, n_blocks)).astype(np.float16)
        b[:, off : off + 2] = d.view(np.uint8).reshape(n_blocks, 2)
    if e8m0 is not None:
        b[:, e8m0] = rng.integers(_MXFP4_E8M0 - 1, _MXFP4_E8M0 + 1, n_blocks, endpoint=True, dtype=np.uint8)
    if signed is not None:
        lo, hi = signed
        b[:, lo:hi] = rng.integers(-16, 17, size=(n_blocks, hi - lo), dtype=np.int8).view(np.uint8)
    _center(type_name, b)
    return b


#: types whose weights are d x scale x q + an offset (ggml-common.h): the quants' midpoint, which the
#: offset must cancel for zero-mean weights
_MIDPOINT = {"Q4_1": 7.5, "Q5_1": 15.5, "Q2_K": 1.5, "Q4_K": 7.5, "Q5_K": 15.5}


def _center(type_name: str, b: np.ndarray) -> None:
    """Make random blocks' dequantized weights zero-mean (in place). With random unsigned quants
    and offsets, Q4_K weights average 0.9 of their spread: every matmul output then carries a
    rank-1 term along the all-ones vector, all tokens' hidden states end up parallel after a few
    layers, and a MoE router sends them to the same few experts (16 of 64 per layer in a random
    OLMoE at Q4_K_M, measured with llama.cpp on 64- and 512-token batches; 63-64 once centred).
    Offsets are set to -midpoint x the scale (Q4_1/Q5_1: m = -7.5 d / -15.5 d; K-quants: each
    sub-block's min equal to its scale and dmin = midpoint x d); Q4_0's nibbles of 0 become 8, so
    that q - 8 averages 0. Q5_0 and IQ4_NL keep a mean of 5-8 % of their spread."""
    n = b.shape[0]
    if type_name == "Q4_0":
        lo, hi = b[:, 2:18] & 0x0F, b[:, 2:18] >> 4
        b[:, 2:18] = np.where(lo == 0, 8, lo) | (np.where(hi == 0, 8, hi) << 4)
        return
    if type_name not in _MIDPOINT:
        return
    mid = _MIDPOINT[type_name]
    d_off, m_off = {"Q2_K": (80, 82)}.get(type_name, (0, 2))
    d = b[:, d_off : d_off + 2].copy().view(np.float16).astype(np.float32).reshape(n)
    if type_name in ("Q4_1", "Q5_1"):
        b[:, m_off : m_off + 2] = (-mid * d).astype(np.float16).view(np.uint8).reshape(n, 2)
        return
    b[:, m_off : m_off + 2] = (mid * d).astype(np.float16).view(np.uint8).reshape(n, 2)
    if type_name == "Q2_K":  # scales[16]: low nibble the scale, high nibble the min
        sc = b[:, 0:16] & 0x0F
        b[:, 0:16] = sc | (sc << 4)
        return
    # Q4_K/Q5_K scales[12] (get_scale_min_k4): bytes 0-3 the scales 0-3 (and 4-7's top bits),
    # bytes 4-7 the mins likewise, bytes 8-11 scales 4-7 (low nibble) and mins 4-7 (high nibble)
    b[:, 8:12] = b[:, 4:8]
    sc = b[:, 12:16] & 0x0F
    b[:, 12:16] = sc | (sc << 4)


def _file_type(quant: str | None) -> Any:
    import gguf

    if quant is None or quant == "F16":
        return gguf.LlamaFileType.MOSTLY_F16
    if quant == "MXFP4":
        return gguf.LlamaFileType.MOSTLY_MXFP4_MOE
    return gguf.LlamaFileType[f"MOSTLY_{quant}"]


def _check_hybrid(m: Model, arch: str) -> None:
    """Refuse, naming the field, what llama.cpp's loader for `arch` cannot represent."""
    la, a = m.linear_attention, m.attention
    if arch in _DELTANET_ARCHES:
        if arch == "qwen35" and m.moe is not None:
            raise SpecError(m.id, "family qwen3_5 is llama.cpp's dense qwen35; use qwen3_5_moe", "moe")
        if arch != "qwen35":
            if m.moe is None:
                raise SpecError(m.id, f"llama.cpp's {arch} needs MoE layers (moe section)", "moe")
            if m.moe.n_shared_experts != 1 or not m.moe.shared_expert_gate:
                raise SpecError(m.id, f"llama.cpp's {arch} expects one gated shared expert", "moe")
        if not (a.output_gate and a.qk_norm):
            msg = f"llama.cpp's {arch} attention has an output gate and q/k norms"
            raise SpecError(m.id, msg, "attention")
        if la is not None and la.head_k_dim != la.head_v_dim:
            raise SpecError(
                m.id,
                f"llama.cpp's {arch} reads one head width (ssm.state_size) for keys and values; got"
                f" head_k_dim {la.head_k_dim}, head_v_dim {la.head_v_dim}",
                "linear_attention",
            )
        bad = sorted({k for k in m.layer_pattern if k not in ("attention", "linear_attention")})
    elif arch == "nemotron_h":
        if m.moe is not None:
            raise SpecError(m.id, "nemotron_h MoE (llama.cpp's nemotron_h_moe) is not written", "moe")
        if m.ffn.n_matrices != 2:
            raise SpecError(m.id, "nemotron_h's FFN is up/down with squared ReLU (activation relu)", "ffn")
        bad = sorted({k for k in m.layer_pattern if k not in ("mamba_only", "attention_only", "ffn_only")})
    else:
        bad = sorted({k for k in m.layer_pattern if k != "attention"})
    if bad:
        raise SpecError(m.id, f"llama.cpp's {arch} has no layers of kind {bad}", "layer_pattern")
    recurrent = {"nemotron_h": "mamba", **dict.fromkeys(_DELTANET_ARCHES, "linear_attention")}.get(arch)
    if recurrent and not m.layers_with(recurrent):
        # the recurrent-state buffer would be empty: llama.cpp aborts with GGML_ASSERT(buffer)
        # when it creates the context (llama-cpp-python 0.3.36's llama.cpp, measured here)
        msg = f"llama.cpp's {arch} needs at least one {recurrent} layer to create a context"
        raise SpecError(m.id, msg, "layer_pattern")


def _hybrid_keys(m: Model, arch: str) -> dict[str, Any]:
    """Architecture keys of the hybrid architectures, as llama.cpp's loaders read them (the
    generic ones, heads and lengths, are written by write_gguf)."""
    a, n = m.attention, m.n_layers
    keys: dict[str, Any] = {}
    if arch in _DELTANET_ARCHES:
        la = m.linear_attention
        assert la is not None  # _check_hybrid
        keys["ssm.conv_kernel"], keys["ssm.state_size"] = la.conv_kernel, la.head_k_dim
        keys["ssm.group_count"], keys["ssm.time_step_rank"] = la.n_k_heads, la.n_v_heads
        keys["ssm.inner_size"] = la.value_dim
        keys["attention.recurrent_layers"] = [m.mixer(i) == "linear_attention" for i in range(n)]
        # Qwen3-Next / Qwen3.5 rotate a quarter of each head (partial_rotary_factor 0.25)
        n_rot = a.head_dim // 4
        keys["rope.dimension_count"] = n_rot
        if arch in ("qwen35", "qwen35moe"):
            # interleaved M-RoPE sections: convert_hf_to_gguf's default [11, 11, 10, 0] for 64
            # rotated dims, scaled to this head width (text-only, so only the sum matters)
            s = round(11 * n_rot / 64)
            keys["rope.dimension_sections"] = [s, s, n_rot // 2 - 2 * s, 0]
        if m.moe is not None:
            assert m.moe.d_shared_expert is not None
            keys["expert_shared_feed_forward_length"] = m.moe.n_shared_experts * m.moe.d_shared_expert
    elif arch == "nemotron_h":
        mb = m.mamba
        # a layer with 0 KV heads and 0 FFN width is recurrent; 0 FFN width alone is attention
        keys["attention.head_count_kv"] = [a.n_kv_heads if m.mixer(i) == "attention" else 0 for i in range(n)]
        keys["feed_forward_length"] = [m.ffn.d_ff if m.has_ffn(i) else 0 for i in range(n)]
        keys["attention.layer_norm_epsilon"] = 1e-5
        assert mb is not None  # _check_hybrid
        keys["ssm.conv_kernel"], keys["ssm.inner_size"] = mb.d_conv, mb.d_inner
        keys["ssm.state_size"], keys["ssm.time_step_rank"] = mb.d_state, mb.n_heads
        keys["ssm.group_count"] = mb.n_groups
    return keys


def _add_key(w: Any, key: str, value: Any) -> None:
    if isinstance(value, bool):
        w.add_bool(key, value)
    elif isinstance(value, list):
        w.add_array(key, value)  # bools as BOOL, ints as INT32, as convert_hf_to_gguf writes them
    elif isinstance(value, float):
        w.add_float32(key, value)
    else:
        w.add_uint32(key, value)


def write_gguf(
    m: Model, path: str | Path, seed: int = 0, progress: Any = None, quant: str | None = None
) -> Path:
    """Write `m` with random weights to `path`: F16 matrices, or with `quant` every tensor directly
    in the type llama-quantize would give it (see the module docstring)."""
    import gguf

    if m.family not in ARCHES:
        raise SpecError(
            m.id, f"no GGUF writer for family {m.family!r}; supported: {', '.join(sorted(ARCHES))}", "family"
        )
    quant = check_quant(quant) if quant is not None else None
    arch = ARCHES[m.family]
    a = m.attention
    if arch == gguf_deepseek.ARCH:
        gguf_deepseek.check(m)
    elif a.mla is not None:
        raise SpecError(m.id, "MLA models are written for family deepseek_v2 only", "attention")
    _check_hybrid(m, arch)
    # architecture keys; generic keys they contain are not written a second time
    hybrid = gguf_deepseek.keys(m) if arch == gguf_deepseek.ARCH else _hybrid_keys(m, arch)
    p = Path(path)
    w = gguf.GGUFWriter(str(p), arch)
    w.add_name(f"roofline probe: {m.id}")
    w.add_context_length(32768)
    w.add_embedding_length(m.d_model)
    w.add_block_count(m.n_layers)
    if m.ffn.d_ff and "feed_forward_length" not in hybrid:
        w.add_feed_forward_length(m.ffn.d_ff)
    w.add_head_count(a.n_heads)
    if "attention.head_count_kv" not in hybrid:
        w.add_head_count_kv(a.n_kv_heads)
    if "attention.key_length" not in hybrid:
        w.add_key_length(a.head_dim)
        w.add_value_length(a.head_dim)
    if "rope.dimension_count" not in hybrid:
        w.add_rope_dimension_count(a.head_dim)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_file_type(_file_type(quant))
    for key, value in hybrid.items():
        _add_key(w, f"{arch}.{key}", value)
    if m.moe is not None:
        w.add_expert_count(m.moe.n_experts)
        w.add_expert_used_count(m.moe.top_k)
        own = arch in ("qwen3moe", "olmoe", "gpt-oss", *_DELTANET_ARCHES) or not m.ffn.d_ff
        if own and "expert_feed_forward_length" not in hybrid:
            w.add_expert_feed_forward_length(m.moe.d_expert)
        if not m.ffn.d_ff:
            w.add_feed_forward_length(m.moe.d_expert)
    if arch == "gemma2":
        w.add_sliding_window(a.sliding_window or 4096)
        w.add_attn_logit_softcapping(50.0)
        w.add_final_logit_softcapping(30.0)
    if arch == "gpt-oss":
        w.add_sliding_window(a.sliding_window or 128)
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
    placed = layout(m)
    kinds = [ggml_type_name(m, pt.spec, quant) for pt in placed]
    if arch == gguf_deepseek.ARCH:
        kinds = gguf_deepseek.ggml_types(placed, quant, kinds)
    patterns: dict[str, np.ndarray] = {}
    for pt, kind in zip(placed, kinds, strict=True):
        if kind in ("F32", "F16"):
            dtype = np.dtype(np.float32 if kind == "F32" else np.float16)
            w.add_tensor_info(pt.name, pt.shape, dtype, int(np.prod(pt.shape)) * dtype.itemsize)
            continue
        qtype = gguf.GGMLQuantizationType[kind]
        blk, size = gguf.GGML_QUANT_SIZES[qtype]
        byte_shape = (*pt.shape[:-1], pt.shape[-1] // blk * size)
        w.add_tensor_info(pt.name, byte_shape, np.dtype(np.uint8), int(np.prod(byte_shape)), qtype)
        if kind not in patterns:  # 4096 random blocks, repeated over each tensor of that type
            patterns[kind] = random_blocks(kind, 4096, rng).reshape(-1)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for i, (pt, kind) in enumerate(zip(placed, kinds, strict=True)):
        if kind == "F32":
            data = _values(pt.spec, pt.shape, rng, block)
        elif kind == "F16":
            data = np.resize(block, pt.shape)
        else:
            blk, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[kind]]
            byte_shape = (*pt.shape[:-1], pt.shape[-1] // blk * size)
            data = np.resize(patterns[kind], byte_shape)
        w.write_tensor_data(data)
        if progress:
            progress(i + 1, len(placed))
    w.close()
    return p
