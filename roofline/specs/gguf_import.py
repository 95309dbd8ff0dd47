"""GGUF file -> model spec, with the file's own per-tensor storage types.

The architecture is read from the tensors themselves wherever a shape says it (vocabulary and width
from token_embd, FFN and expert widths, which layers attend, run a Mamba-2 or Gated DeltaNet mixer,
or have an FFN, biases, norms, tied embeddings), and from the metadata only where no shape does
(head counts, experts per token, sliding window, context length, SSM head and group counts). The
spec built from them is then checked against the file: every weight matrix of the spec must be in
the file with the same shape, and every tensor of the file must be one of the spec's, so that the
weight bytes the spec derives are the file's bytes. The storage type of each matrix is recorded in
the spec (`gguf_types`, see roofline.specs.model.GGUFTypes); the file type becomes default_quant.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from roofline.errors import SpecError
from roofline.specs.hf_import import shortest_period
from roofline.specs.model import Model
from roofline.specs.quant import FILE_TYPES, WEIGHT_TYPES, file_size, weight_type

#: llama.cpp architecture -> our family (the config.json model_type the same shapes come from)
FAMILIES = {
    "llama": "llama",
    "qwen2": "qwen2",
    "qwen2moe": "qwen2_moe",
    "qwen3": "qwen3",
    "qwen3moe": "qwen3_moe",
    "olmoe": "olmoe",
    "gemma2": "gemma2",
    "gemma3": "gemma3_text",
    "gpt-oss": "gpt_oss",
    "granite": "granite",
    "granitemoe": "granitemoe",
    "qwen3next": "qwen3_next",
    "qwen35": "qwen3_5",
    "qwen35moe": "qwen3_5_moe",
    "nemotron_h": "nemotron_h",
    "nemotron_h_moe": "nemotron_h",
}
#: sliding/global interleave llama.cpp hard-codes per architecture (layer i global iff (i+1) % n == 0)
_GLOBAL_EVERY = {"gemma2": 2, "gemma3": 6, "gpt-oss": 2}
_GATED_GELU = ("gemma2", "gemma3")  # ffn_gate with GELU (GeGLU), not SiLU
_NOT_NORMS = ("attn_q_norm", "attn_k_norm", "ssm_norm", "attn_q_a_norm", "attn_kv_a_norm")
#: blk.N.<name>[.weight|.bias]: llama.cpp names a few recurrent tensors without a suffix (ssm_a, ssm_d)
_BLK = re.compile(r"^blk\.(\d+)\.(.+?)(?:\.(weight|bias))?$")
_TOP = re.compile(r"^(token_embd|output_norm|output)\.(weight|bias)$")


class _File:
    """What the importer needs from a GGUF: metadata values and tensors (name -> type, shape)."""

    def __init__(self, path: Path) -> None:
        import gguf

        self.where = str(path)
        try:
            with path.open("rb") as f:
                magic = f.read(4)
        except OSError as exc:
            raise SpecError(self.where, f"cannot read the file: {exc.strerror or exc}") from None
        if magic != b"GGUF":
            raise SpecError(self.where, f"not a GGUF file (starts with {magic!r}, expected b'GGUF')")
        try:
            reader = gguf.GGUFReader(str(path))
            self.meta = {name: _value(field) for name, field in reader.fields.items()}
            # GGUF lists dims fastest first (ne0 = the row length): reversed, they read as in numpy
            self.tensors = {
                t.name: (t.tensor_type.name, tuple(int(x) for x in reversed(t.shape)), int(t.n_bytes))
                for t in reader.tensors
            }
        except (ValueError, IndexError, KeyError, OverflowError, MemoryError, TypeError) as exc:
            raise SpecError(
                self.where, f"not a readable GGUF file (truncated or corrupt?): {str(exc)[:200]}"
            ) from None
        arch = self.meta.get("general.architecture")
        if not isinstance(arch, str):
            raise SpecError(self.where, "no architecture in the metadata", "general.architecture")
        self.arch = arch

    def key(self, name: str) -> str:
        return f"{self.arch}.{name}"

    def int(self, name: str, default: Any = None) -> Any:
        """A per-model integer; an array (per layer, 0 where a layer has none) gives its largest."""
        v = self.meta.get(self.key(name))
        if isinstance(v, list):
            v = max((x for x in v if isinstance(x, int) and x > 0), default=None)
        if v is None:
            if default is None:
                raise SpecError(self.where, f"architecture {self.arch!r} needs this key", self.key(name))
            return default
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise SpecError(self.where, f"expected a positive integer, got {v!r}", self.key(name))
        return v

    def shape(self, name: str) -> tuple[int, ...] | None:
        t = self.tensors.get(name)
        return None if t is None else t[1]


def _value(field: Any) -> Any:
    """A metadata field's value (str, int, float, bool or a list of them); token lists are long and
    unused, so arrays of strings are left as their length."""
    import gguf

    kinds = field.types
    if not kinds:
        return None
    if kinds[0] == gguf.GGUFValueType.ARRAY:
        if kinds[-1] == gguf.GGUFValueType.STRING:
            return len(field.data)
        return [_scalar(field.parts[i], kinds[-1]) for i in field.data]
    return _scalar(field.parts[field.data[0]], kinds[0])


def _scalar(part: Any, kind: Any) -> Any:
    import gguf

    if kind == gguf.GGUFValueType.STRING:
        return bytes(part).decode("utf-8", errors="replace")
    if kind == gguf.GGUFValueType.BOOL:
        return bool(part[0])
    if kind in (gguf.GGUFValueType.FLOAT32, gguf.GGUFValueType.FLOAT64):
        return float(part[0])
    return int(part[0])


def is_gguf(path: str | Path) -> bool:
    """Whether `path` is meant as a GGUF file: named .gguf, or starting with the GGUF magic."""
    p = Path(path)
    if p.suffix.lower() == ".gguf":
        return True
    try:
        with p.open("rb") as f:
            return f.read(4) == b"GGUF"
    except OSError:
        return False


def import_gguf(path: str | Path, model_id: str | None = None, source: str | None = None) -> dict[str, Any]:
    """Read a GGUF file and return the spec as a plain dict (validated by the caller); the notes say
    which tensors of the file the spec does not describe, if any, and the bytes either way."""
    p = Path(path)
    f = _File(p)
    if f.arch not in FAMILIES:
        raise SpecError(
            f.where,
            f"architecture {f.arch!r} is not supported by the GGUF importer; supported: "
            + ", ".join(sorted(FAMILIES)),
            "general.architecture",
        )
    spec = _architecture(f, model_id or _kebab(p.stem), source or f"imported from {p.name}")
    from roofline.specs.catalog import validate  # catalog imports the importers' callers

    model = validate(dict(spec), Model, f.where)
    recorded, unmatched = _match(f, model)
    file_type = _file_type(f, recorded)
    spec["default_quant"] = file_type
    spec["gguf_types"] = {
        "file_type": file_type,
        "tensors": [{"name": n, "types": t if len(set(t)) > 1 else t[:1]} for n, t in recorded.items()],
    }
    model = validate(dict(spec), Model, f.where)
    file_bytes = sum(b for _, _, b in f.tensors.values())
    spec_bytes = file_size(model, file_type)
    note = (
        f"Imported from the GGUF file {p.name} (architecture {f.arch}, file type {file_type}):"
        f" shapes from its tensors, head counts and the like from its metadata. gguf_types lists"
        f" each matrix's storage type in the file; weight bytes {spec_bytes:,.0f} derived,"
        f" {file_bytes:,} in the file."
    )
    if unmatched:
        note += (
            f" Tensors in the file the spec does not describe (not counted):"
            f" {', '.join(unmatched[:12])}{' ...' if len(unmatched) > 12 else ''}."
        )
    spec["notes"] = note
    return spec


def _kebab(name: str) -> str:
    s = re.sub(r"[^a-z0-9.]+", "-", name.lower()).strip("-.")
    return re.sub(r"-{2,}", "-", s) or "imported-model"


def _layer_tensors(f: _File, n_layers: int) -> list[dict[str, tuple[int, ...]]]:
    """Per layer: tensor base name (`attn_q`, `attn_q.bias` for a bias) -> shape."""
    layers: list[dict[str, tuple[int, ...]]] = [{} for _ in range(n_layers)]
    for name, (_, shape, _) in f.tensors.items():
        m = _BLK.match(name)
        if m and int(m.group(1)) < n_layers:
            base = m.group(2) + (".bias" if m.group(3) == "bias" else "")
            layers[int(m.group(1))][base] = shape
    return layers


def _architecture(f: _File, model_id: str, source: str) -> dict[str, Any]:
    emb = f.shape("token_embd.weight")
    if emb is None or len(emb) != 2:
        raise SpecError(f.where, "no 2-D token_embd.weight tensor", "tensors")
    vocab, d = emb
    n_layers = f.int("block_count")
    layers = _layer_tensors(f, n_layers)
    kinds = [_layer_kind(f, i, t) for i, t in enumerate(layers)]
    attn_layers = [t for t, k in zip(layers, kinds, strict=True) if k.startswith("attention")]
    n_heads = f.int("attention.head_count", default=1)
    n_kv = f.int("attention.head_count_kv", default=n_heads)
    a0 = attn_layers[0] if attn_layers else {}
    k_rows = a0["attn_k"][0] if "attn_k" in a0 else None
    head_dim = f.int("attention.key_length", default=(k_rows // n_kv) if k_rows else d // n_heads)
    q_rows = a0["attn_q"][0] if "attn_q" in a0 else n_heads * head_dim
    attention: dict[str, Any] = {
        "kind": "mha" if n_kv == n_heads else "mqa" if n_kv == 1 else "gqa",
        "n_heads": n_heads,
        "n_kv_heads": n_kv,
        "head_dim": head_dim,
        "qkv_bias": "attn_q.bias" in a0,
        "o_bias": "attn_output.bias" in a0,
        "qk_norm": "attn_q_norm" in a0,
        "sinks": "attn_sinks" in a0,
        "output_gate": q_rows == 2 * n_heads * head_dim,
    }
    window = f.meta.get(f.key("attention.sliding_window"))
    if isinstance(window, int) and window > 0 and f.arch in _GLOBAL_EVERY:
        attention["sliding_window"] = window
        pattern = f.meta.get(f.key("attention.sliding_window_pattern"))
        known = isinstance(pattern, int) and pattern > 0
        attention["global_every"] = pattern if known else _GLOBAL_EVERY[f.arch]
    ffn_layers = [t for t in layers if "ffn_up" in t or "ffn_up_exps" in t]
    dense = next((t for t in ffn_layers if "ffn_up" in t), None)
    gated = any("ffn_gate" in t or "ffn_gate_exps" in t for t in ffn_layers)
    activation = ("geglu" if f.arch in _GATED_GELU else "swiglu") if gated else _ungated(f.arch)
    norms = [k for k, s in layers[0].items() if k.endswith("_norm") and k not in _NOT_NORMS and s == (d,)]
    spec: dict[str, Any] = {
        "id": model_id,
        "name": f.meta.get("general.name") if isinstance(f.meta.get("general.name"), str) else model_id,
        "source": source,
        "family": FAMILIES[f.arch],
        "n_layers": n_layers,
        "d_model": d,
        "vocab_size": vocab,
        "tied_embeddings": "output.weight" not in f.tensors,
        "norm": "layernorm" if any(f"{n}.bias" in layers[0] for n in norms) else "rmsnorm",
        "norms_per_layer": len(norms),
        "attention": attention,
        "ffn": {
            "d_ff": dense["ffn_up"][0] if dense else None,
            "activation": activation,
            "bias": dense is not None and "ffn_up.bias" in dense,
        },
        "moe": _moe(f, layers),
        "layer_pattern": shortest_period(kinds),
    }
    context = f.meta.get(f.key("context_length"))
    if isinstance(context, int) and context > 0:
        spec["max_context"] = context
    first = {k.removesuffix("_only"): i for i, k in reversed(list(enumerate(kinds)))}
    if "linear_attention" in first:
        spec["linear_attention"] = _deltanet(f, layers[first["linear_attention"]])
    if "mamba" in first:
        spec["mamba"] = _mamba(f, layers[first["mamba"]])
    return spec


def _ungated(arch: str) -> str:
    return "relu" if arch.startswith("nemotron_h") else "gelu"


def _layer_kind(f: _File, i: int, t: dict[str, tuple[int, ...]]) -> str:
    if "ssm_ba" in t or "ssm_beta" in t:  # Qwen3-Next fuses beta and alpha, Qwen3.5 splits them
        mixer = "linear_attention"
    elif "ssm_in" in t:
        mixer = "mamba"
    elif "attn_q" in t or "attn_q_a" in t:
        mixer = "attention"
    else:
        mixer = ""
    has_ffn = "ffn_up" in t or "ffn_up_exps" in t
    if not mixer and not has_ffn:
        raise SpecError(f.where, f"layer {i} has neither a token mixer nor an FFN", f"blk.{i}")
    if not mixer:
        return "ffn_only"
    return mixer if has_ffn else f"{mixer}_only"


def _moe(f: _File, layers: list[dict[str, tuple[int, ...]]]) -> dict[str, Any] | None:
    moe_layers = [i for i, t in enumerate(layers) if "ffn_up_exps" in t]
    if not moe_layers:
        return None
    t = layers[moe_layers[0]]
    n_exp, d_expert, _ = t["ffn_up_exps"]
    moe: dict[str, Any] = {
        "n_experts": n_exp,
        "top_k": f.int("expert_used_count"),
        "d_expert": d_expert,
        "expert_bias": "ffn_up_exps.bias" in t,
        "router_bias": "ffn_gate_inp.bias" in t,
        "dense_layers": [i for i, lt in enumerate(layers) if "ffn_up" in lt],
        "router": "sigmoid-topk" if f.meta.get(f.key("expert_gating_func")) == 2 else "softmax-topk",
    }
    if "ffn_up_shexp" in t:
        n_shared = f.int("expert_shared_count", default=1)
        moe["n_shared_experts"] = n_shared
        moe["d_shared_expert"] = t["ffn_up_shexp"][0] // n_shared
        moe["shared_expert_gate"] = "ffn_gate_inp_shexp" in t
    return moe


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for x in shape:
        n *= x
    return n


def _deltanet(f: _File, t: dict[str, tuple[int, ...]]) -> dict[str, Any]:
    """Gated DeltaNet dims: value heads from the beta/alpha projection (one each per value head),
    head_v_dim from the gated norm, the key width from the convolution's channels (2 x key + value)."""
    n_v = t["ssm_ba"][0] // 2 if "ssm_ba" in t else t["ssm_beta"][0]
    head_v = _numel(t["ssm_norm"])
    channels, kernel = t["ssm_conv1d"]
    key_dim = (channels - n_v * head_v) // 2
    n_k = f.int("ssm.group_count")
    return {
        "n_k_heads": n_k,
        "n_v_heads": n_v,
        "head_k_dim": key_dim // n_k,
        "head_v_dim": head_v,
        "conv_kernel": kernel,
    }


def _mamba(f: _File, t: dict[str, tuple[int, ...]]) -> dict[str, Any]:
    d_inner = t["ssm_out"][1]
    n_heads = f.int("ssm.time_step_rank", default=_numel(t["ssm_a"]))
    channels, kernel = t["ssm_conv1d"]
    n_groups = f.int("ssm.group_count", default=1)
    return {
        "n_heads": n_heads,
        "head_dim": d_inner // n_heads,
        "d_state": (channels - d_inner) // (2 * n_groups),
        "n_groups": n_groups,
        "d_conv": kernel,
        "conv_bias": "ssm_conv1d.bias" in t,
        "proj_bias": "ssm_in.bias" in t,
    }


def _match(f: _File, model: Model) -> tuple[dict[str, list[str]], list[str]]:
    """Each spec matrix's type in the file (by base name, in layer order), and the file's tensors
    that are no spec tensor. A spec tensor missing from the file, or of another size, is an error:
    the spec would not describe the file. Matrices must have the spec's shape; small recurrent
    parameters may be laid out otherwise (Nemotron-H's A and D as (heads, 1)); Qwen3.5's split
    ssm_beta + ssm_alpha stand for the spec's fused ssm_ba; per-layer norms are matched by count."""
    by_key: dict[tuple[int | None, str], str] = {}
    for name in f.tensors:
        m = _BLK.match(name)
        if m:
            by_key[(int(m.group(1)), m.group(2) + (".bias" if m.group(3) == "bias" else ""))] = name
        elif name.endswith(".weight") or name.endswith(".bias"):
            base, _, suffix = name.rpartition(".")
            by_key[(None, base + (".bias" if suffix == "bias" else ""))] = name
    recorded: dict[str, list[str]] = {}
    seen: set[str] = set()
    norms_expected = 0
    for t in model.tensors:
        if t.role == "norm" and t.name.startswith("norm"):
            norms_expected += 1
            continue
        base = t.name.removesuffix("_bias") + (".bias" if t.name.endswith("_bias") else "")
        names = [by_key.get((t.layer, b)) for b in (base, base + ".bias")]
        found = [n for n in names if n is not None and n not in seen][:1]
        if not found and t.name == "ssm_ba":
            found = [by_key[(t.layer, h)] for h in ("ssm_beta", "ssm_alpha") if (t.layer, h) in by_key]
        where = found[0] if found else f"blk.{t.layer}.{base}"
        if not found:
            raise SpecError(
                f.where, f"the spec derived from the metadata has {where}, the file does not", where
            )
        kinds = [f.tensors[n][0] for n in found]
        size = sum(_numel(f.tensors[n][1]) for n in found)
        if size != t.numel or (
            t.is_matrix and t.role != "ssm_param" and len(found) == 1 and f.tensors[found[0]][1] != t.shape
        ):
            shapes = " + ".join(str(f.tensors[n][1]) for n in found)
            raise SpecError(
                f.where, f"shape {shapes} in the file, {t.shape} derived from the metadata", where
            )
        seen.update(found)
        if t.is_matrix:
            recorded.setdefault(t.name, []).append(kinds[0])
    rest = [n for n in f.tensors if n not in seen]
    norms = [n for n in rest if n.split(".")[-2 if n.count(".") > 1 else 0].endswith("norm")]
    unmatched = [n for n in rest if n not in norms]
    if len(norms) != norms_expected:
        unmatched.append(f"{len(norms) - norms_expected:+d} norm vectors")
    for n in [*seen, *norms]:
        if len(f.tensors[n][1]) == 1 and f.tensors[n][0] != "F32":
            unmatched.append(f"{n} ({f.tensors[n][0]}; counted as F32)")
    return recorded, unmatched


def _file_type(f: _File, recorded: dict[str, list[str]]) -> str:
    """The file type the GGUF says it is (general.file_type), when it is one of ours; else the file
    type of its most common matrix storage type (by count of tensors), which then labels the mix."""
    import gguf

    code = f.meta.get("general.file_type")
    try:
        name = gguf.LlamaFileType(code).name.removeprefix("MOSTLY_").removeprefix("ALL_")
    except (ValueError, TypeError):
        name = ""
    if name == "MXFP4_MOE":
        name = "MXFP4"
    if name in FILE_TYPES:
        return name
    common = Counter(x for types in recorded.values() for x in types).most_common(1)
    dominant = common[0][0] if common else "F16"
    by_base = {base: ft for ft, base in reversed(FILE_TYPES.items())}
    if dominant in by_base:
        return by_base[dominant]
    bits = weight_type(dominant).bits_per_weight
    return min(FILE_TYPES, key=lambda ft: abs(WEIGHT_TYPES[FILE_TYPES[ft]].bits_per_weight - bits))
