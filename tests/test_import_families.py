"""Architecture the 2026 families brought (issue 12): Gemma-4's global layers with their own geometry,
MTP modules loaded but not run, dense MLPs beside routed experts, per-layer config lists; checked by
hand-derived bytes and FLOPs, not by the tool's own earlier output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from roofline.api import predict
from roofline.errors import SpecError
from roofline.model.operators import build_tables
from roofline.model.workload import Workload
from roofline.specs import load_model
from roofline.specs.hf_import import config_to_spec
from roofline.specs.quant import KV_DTYPES, file_size, tensor_bytes

CONFIGS = Path(__file__).parent / "data" / "hf_configs"


def test_gemma4_global_layers_have_their_own_kv_geometry():
    m = load_model("gemma-4-31b")
    # 50 sliding layers: 16 KV heads of 256; 10 global layers: 4 KV heads of 512, K and V cached
    sliding, glob = 2 * 16 * 256, 2 * 4 * 512
    assert m.kv_bytes_per_token(2) == (50 * sliding + 10 * glob) * 2
    w, ctx = 1024, 32768
    assert m.kv_bytes_per_token(2, context=ctx) == pytest.approx((50 * sliding * w / ctx + 10 * glob) * 2)
    g = {t.name: t.shape for t in m.tensors if t.layer == 5}  # (5 + 1) % 6 == 0: global
    s = {t.name: t.shape for t in m.tensors if t.layer == 0}
    assert "attn_v" not in g and g["attn_k"] == (4 * 512, 5376) and g["attn_q"] == (32 * 512, 5376)
    assert s["attn_v"] == s["attn_k"] == (16 * 256, 5376) and s["attn_output"] == (5376, 32 * 256)


def test_gemma4_decode_reads_each_layer_class_at_its_width():
    m = load_model("gemma-4-31b")
    depth = 8192
    op = {o.op: o for o in predict("rtx-4090", m, Workload(depth=depth)).breakdown}["attn_core"]
    ctx = depth + 1  # the cache read at the first generated token holds the prompt and that token
    kv = KV_DTYPES["f16"]
    sliding = 50 * min(ctx, 1024) * 2 * 16 * 256 * kv
    glob = 10 * ctx * 2 * 4 * 512 * kv
    written = (50 * 2 * 16 * 256 + 10 * 2 * 4 * 512) * kv
    assert op.kv_bytes == pytest.approx(sliding + glob + written, rel=0.01)


def test_mtp_modules_are_loaded_but_not_run():
    m = load_model("glm-4.5-air")
    assert m.mtp_layers == 1
    mtp = [t for t in m.tensors if t.role == "mtp"]
    # one MoE decoder layer (128 experts of 1408, a shared expert, attention) plus eh_proj (2d -> d)
    assert {t.layer for t in mtp} == {46}
    assert m.mtp_params > 128 * 3 * 4096 * 1408 + 2 * 4096 * 4096
    assert m.total_params + m.mtp_params == sum(t.numel for t in m.tensors)
    quant = "Q4_K_M"
    tb = build_tables(m, quant)
    mtp_bytes = sum(tensor_bytes(m, t, quant) for t in mtp)
    assert tb.total_weight_bytes + mtp_bytes == pytest.approx(
        file_size(m, quant) - tensor_bytes(m, m.tensors[0], quant)  # the embedding is gathered, not read
    )
    assert predict("rtx-4090", m, Workload()).memory.weights_bytes == pytest.approx(file_size(m, quant))


def test_ernie_layer_layout_and_shared_experts():
    m = load_model("ernie-4.5-21b-a3b")
    assert [m.is_moe_layer(i) for i in range(3)] == [False, True, True] and m.n_moe_layers == 27
    assert m.moe is not None and m.moe.n_shared_experts == 2 and m.moe.d_shared_expert == 1536


def test_gemma4_moe_keeps_the_dense_mlp_as_a_shared_expert():
    m = load_model("gemma-4-26b-a4b")
    per_layer = {t.name: t.shape for t in m.tensors if t.layer == 0}
    assert per_layer["ffn_up_shexp"] == (2112, 2816) and per_layer["ffn_up_exps"] == (128, 704, 2816)
    assert "ffn_gate_inp_shexp" not in per_layer  # ungated: read by every token


def test_per_layer_lists_must_agree():
    cfg = json.loads((CONFIGS / "hunyuan-a13b.json").read_text())
    cfg["moe_topk"] = [8] * 31 + [4]
    with pytest.raises(SpecError, match="moe_topk: expected the same value for every layer"):
        config_to_spec(cfg, "hunyuan.json", "x", "test")


def test_gemma4_small_variants_are_refused_not_mismodelled():
    cfg = json.loads((CONFIGS / "gemma-4-31b.json").read_text())
    cfg["text_config"]["hidden_size_per_layer_input"] = 256
    with pytest.raises(SpecError, match="per-layer embeddings"):
        config_to_spec(cfg, "gemma.json", "x", "test")
