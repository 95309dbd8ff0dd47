"""`roofline model import model.gguf` (roofline/specs/gguf_import.py): shapes from the tensors, the
file's own per-tensor storage types, exact weight bytes, and clear errors for files it cannot read."""

from __future__ import annotations

import copy
from pathlib import Path

import gguf
import numpy as np
import pytest
from click.testing import CliRunner
from test_hybrid_layers import DELTANET, MAMBA

from roofline.cli import main
from roofline.errors import SpecError
from roofline.llamacpp.gguf_writer import layout, write_gguf
from roofline.specs import load_model
from roofline.specs.catalog import validate
from roofline.specs.gguf_import import import_gguf
from roofline.specs.model import Model
from roofline.specs.quant import file_size, tensor_type


def _small(model_id: str, **moe: int) -> Model:
    """A bundled model's architecture at toy width (the GGUF stays a few MB)."""
    d = load_model(model_id).model_dump()
    d.update(id=f"toy-{model_id}", n_layers=6, d_model=256, vocab_size=1000)
    d["attention"].update(n_heads=4, n_kv_heads=2, head_dim=64)
    if d["moe"]:
        d["moe"].update(n_experts=8, top_k=2, d_expert=128, **moe)
    if d["ffn"]["d_ff"]:
        d["ffn"]["d_ff"] = 512
    return validate(d, Model, "toy")


def _file_bytes(path: Path) -> int:
    return sum(int(t.n_bytes) for t in gguf.GGUFReader(str(path)).tensors)


@pytest.mark.parametrize(
    "model_id,quant", [("qwen3-30b-a3b", "Q4_K_M"), ("gemma-2-2b", "Q5_K_M"), ("gpt-oss-20b", "MXFP4")]
)
def test_gguf_import_gives_the_shapes_and_the_exact_bytes(tmp_path, model_id, quant):
    toy = _small(model_id)
    path = write_gguf(toy, tmp_path / "toy.gguf", quant=quant)
    m = validate(import_gguf(path), Model, str(path))
    assert m.total_params == toy.total_params and m.active_params == toy.active_params
    assert m.layer_pattern == toy.layer_pattern and m.attention == toy.attention.model_copy(
        update={"mla": None}
    )
    assert m.default_quant == quant
    assert file_size(m, quant) == _file_bytes(path)  # every tensor, byte for byte
    assert m.kv_bytes_per_token(2, context=8192) == toy.kv_bytes_per_token(2, context=8192)


def _write(spec: Model, path: Path, arch: str, types: dict[str, str], meta: dict) -> Path:
    """A GGUF of `spec` with gguf.GGUFWriter, tensors named and shaped as llama.cpp's loader for
    `arch` reads them (gguf_writer.layout): matrices in types[name] (default F16, or Q8_0 blocks of
    zeros), everything else F32."""
    w = gguf.GGUFWriter(str(path), arch)
    w.add_block_count(spec.n_layers)
    w.add_head_count(spec.attention.n_heads)
    w.add_head_count_kv(spec.attention.n_kv_heads)
    w.add_key_length(spec.attention.head_dim)
    w.add_context_length(4096)
    for key, value in meta.items():
        w.add_uint32(f"{arch}.{key}", value)
    for p in layout(spec):
        t = p.spec
        kind = types.get(t.name, "F16") if t.is_matrix and t.role != "ssm_param" else "F32"
        if kind == "Q8_0":
            blocks = np.zeros((*p.shape[:-1], p.shape[-1] // 32 * 34), np.uint8)
            w.add_tensor(p.name, blocks, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            w.add_tensor(p.name, np.zeros(p.shape, np.float16 if kind == "F16" else np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.mark.parametrize(
    "spec,arch,meta",
    [
        (DELTANET, "qwen3next", {"ssm.group_count": 4}),
        ({**DELTANET, "family": "qwen3_5"}, "qwen35", {"ssm.group_count": 4}),
        (MAMBA, "nemotron_h", {"ssm.group_count": 2}),
    ],
    ids=["deltanet", "deltanet-split-beta-alpha", "mamba2"],
)
def test_gguf_import_of_hybrids_with_a_mixed_file(tmp_path, spec, arch, meta):
    """Hybrid layers are recognised by their tensors as llama.cpp names and shapes them (Qwen3.5's
    split beta/alpha, Nemotron-H's (heads, 1) A and D, grouped norm), and a mix llama-quantize would
    never write (SSM projections in Q8_0, the rest F16) is what the spec counts."""
    toy = validate(copy.deepcopy(spec), Model, "toy")
    path = _write(toy, tmp_path / "hybrid.gguf", arch, {"ssm_in": "Q8_0", "attn_qkv": "Q8_0"}, meta)
    m = validate(import_gguf(path), Model, str(path))
    assert m.layer_pattern == toy.layer_pattern
    assert (m.linear_attention, m.mamba) == (toy.linear_attention, toy.mamba)
    assert m.total_params == toy.total_params
    assert m.recurrent_state_bytes() == toy.recurrent_state_bytes()
    assert file_size(m, m.default_quant) == _file_bytes(path)
    q8 = [t for t in m.tensors if t.name in ("ssm_in", "attn_qkv")]
    assert q8 and all(tensor_type(m, t, m.default_quant).name == "Q8_0" for t in q8)
    # at another file type the recorded types no longer apply: llama-quantize's rules do
    assert file_size(m, "Q4_0") == file_size(toy, "Q4_0")


def test_gguf_import_cli_writes_a_spec_that_predicts(tmp_path):
    path = write_gguf(_small("qwen3-30b-a3b"), tmp_path / "mine.gguf", quant="Q4_K_M")
    out = tmp_path / "mine.yaml"
    runner = CliRunner()
    r = runner.invoke(main, ["model", "import", str(path), "-o", str(out)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["specs", "check", str(out)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["predict", "--device", "rtx-4090", "--model", str(out), "--json"])
    assert r.exit_code == 0, r.output
    assert '"Q4_K_M"' in r.output


@pytest.mark.parametrize(
    "damage,message",
    [
        (lambda b: b[: len(b) // 2], "truncated or corrupt"),
        (lambda b: b[:40], "truncated or corrupt"),
        (lambda b: b"GGML" + b[4:], "not a GGUF file"),
        (lambda b: b"GGUF" + b"\xff" * 60, "truncated or corrupt"),
    ],
    ids=["half", "header-only", "bad-magic", "bad-version"],
)
def test_gguf_import_refuses_damaged_files_clearly(tmp_path, damage, message):
    good = write_gguf(_small("qwen3-4b"), tmp_path / "good.gguf", quant="Q8_0")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(damage(good.read_bytes()))
    with pytest.raises(SpecError, match=message) as err:
        import_gguf(bad)
    assert "bad.gguf" in str(err.value)
    r = CliRunner().invoke(main, ["model", "import", str(bad)], catch_exceptions=False)
    assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output


def test_gguf_import_refuses_an_unknown_architecture(tmp_path):
    w = gguf.GGUFWriter(str(tmp_path / "bert.gguf"), "bert")
    w.add_block_count(1)
    w.add_tensor("token_embd.weight", np.zeros((10, 8), np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(SpecError, match="architecture 'bert' is not supported.*qwen3next"):
        import_gguf(tmp_path / "bert.gguf")


def test_recorded_types_must_name_real_tensors():
    data = _small("qwen3-4b").model_dump()
    data["gguf_types"] = {"file_type": "Q4_K_M", "tensors": [{"name": "attn_zz", "types": ["Q4_K"]}]}
    with pytest.raises(SpecError, match="no tensor 'attn_zz'"):
        validate(copy.deepcopy(data), Model, "x")
    data["gguf_types"]["tensors"] = [{"name": "attn_q", "types": ["Q4_K", "Q6_K"]}]
    with pytest.raises(SpecError, match="2 types for the 6 layers"):
        validate(copy.deepcopy(data), Model, "x")
    data["gguf_types"]["tensors"] = [{"name": "attn_q", "types": ["Q9_Z"]}]
    with pytest.raises(SpecError, match="unknown GGML types"):
        validate(data, Model, "x")
