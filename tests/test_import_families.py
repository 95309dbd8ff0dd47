"""Architecture the 2026 families brought (issue 12): Gemma-4's global layers with their own geometry,
MTP modules loaded but not run, dense MLPs beside routed experts, per-layer config lists; checked by
hand-derived bytes and FLOPs, not by the tool's own earlier output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from roofline.api import predict
from roofline.errors import SpecError
from roofline.model.engine import load_engine
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


def _flash_attention_core(model, depth):
    """The decode step's attention core on an RTX 4090 with flash attention on, where the fused
    kernel reads K and V and writes the new entries, nothing else (without it the scores are
    materialised too: cost.py's other helper)."""
    eng = predict("rtx-4090", model, Workload()).engine
    engine = load_engine(eng) if isinstance(eng, str) else eng
    if "flash_attention" in type(engine).model_fields:
        engine = engine.model_copy(update={"flash_attention": True})
    step = predict("rtx-4090", model, Workload(depth=depth), engine=engine)
    return {o.op: o for o in step.breakdown}["attn_core"]


def test_gemma4_decode_reads_each_layer_class_at_its_width():
    m = load_model("gemma-4-31b")
    depth = 8192
    op = _flash_attention_core(m, depth)
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


def test_gemma4_small_variants_import_with_per_layer_embeddings_and_shared_kv():
    """Gemma-4 E4B's keys (hidden 2560, 42 layers, 18 KV-shared, per-layer inputs of 256) on the
    31B config: the importer reads them; a double-wide MLP in the shared layers is refused."""
    cfg = json.loads((CONFIGS / "gemma-4-31b.json").read_text())
    text = cfg["text_config"]
    text.update(
        hidden_size=2560,
        num_hidden_layers=42,
        intermediate_size=10240,
        num_attention_heads=8,
        num_key_value_heads=2,
        num_global_key_value_heads=None,
        attention_k_eq_v=False,
        layer_types=["full_attention" if i % 6 == 5 else "sliding_attention" for i in range(42)],
        hidden_size_per_layer_input=256,
        vocab_size_per_layer_input=262144,
        num_kv_shared_layers=18,
        use_double_wide_mlp=False,
    )
    spec = config_to_spec(cfg, "gemma.json", "x", "test")
    assert spec["per_layer_embedding"] == {"width": 256, "vocab_size": 262144}
    assert spec["attention"]["kv_shared_layers"] == 18
    text["use_double_wide_mlp"] = True
    with pytest.raises(SpecError, match="use_double_wide_mlp"):
        config_to_spec(cfg, "gemma.json", "x", "test")
    text["num_kv_shared_layers"] = 42
    with pytest.raises(SpecError, match="num_kv_shared_layers"):
        config_to_spec(cfg, "gemma.json", "x", "test")


# ---- Gemma-3n E4B: hand-derived from its config (35 layers, d 2048, 8 heads, 2 KV heads of 256,
# global every 5th layer, window 512, last 15 layers KV-shared, per-layer inputs 256 wide, AltUp
# over 4 copies, Laurel rank 64, GEGLU FFN of 16384, tied vocabulary of 262400)
G3N_KV_ELEMS = 2 * 2 * 256  # K and V of 2 heads of 256, per token and layer


def test_gemma3n_shared_layers_store_no_kv_and_read_their_source():
    m = load_model("gemma-3n-e4b")
    # layers 0-19 own a cache: globals 4, 9, 14, 19; layers 20-34 reuse 18 (sliding) or 19 (global)
    assert [m.kv_source_layer(i) for i in (19, 20, 24, 29, 33, 34)] == [19, 18, 19, 19, 18, 19]
    assert m.kv_bytes_per_token(2) == 20 * G3N_KV_ELEMS * 2
    ctx = 32768  # 16 sliding layers hold 512 tokens, 4 global layers the whole context
    assert m.kv_bytes_per_token(2, context=ctx) == pytest.approx(
        (16 * G3N_KV_ELEMS * 512 / ctx + 4 * G3N_KV_ELEMS) * 2
    )
    shared = {t.name: t.shape for t in m.tensors if t.layer == 25}
    own = {t.name: t.shape for t in m.tensors if t.layer == 0}
    assert "attn_k" not in shared and "attn_v" not in shared and "attn_k_norm" not in shared
    assert shared["attn_q"] == (8 * 256, 2048) and own["attn_k"] == own["attn_v"] == (2 * 256, 2048)


def test_gemma3n_decode_reads_35_layers_of_kv_and_writes_20():
    m = load_model("gemma-3n-e4b")
    depth = 8192
    op = _flash_attention_core(m, depth)
    ctx = depth + 1
    kv = KV_DTYPES["f16"]
    read = (28 * min(ctx, 512) + 7 * ctx) * G3N_KV_ELEMS * kv  # every attention layer reads its cache
    written = 20 * G3N_KV_ELEMS * kv
    assert op.kv_bytes == pytest.approx(read + written, rel=0.01)
    # the cache at the end of tg128: 16 sliding layers hold 512 tokens, 4 global layers all of them
    footprint = predict("rtx-4090", m, Workload(depth=depth)).memory.kv_cache_bytes
    end = depth + 128
    assert footprint == pytest.approx((16 * 512 + 4 * end) * G3N_KV_ELEMS * kv)


def test_gemma3n_per_layer_embedding_is_stored_but_one_row_is_read():
    m = load_model("gemma-3n-e4b")
    table = 262144 * 35 * 256
    assert m.per_layer_embedding_params == table == 2_348_810_240
    d, n = 2048, 4
    per_layer = 2 * 256 * d + (n * n + n * n * n + n * d) + 2 * 64 * d  # PLE gate/proj, AltUp, Laurel
    side = 35 * 256 * d + 2 * (n - 1) * d * d + 35 * per_layer  # + projection to the inputs, AltUp in/out
    tb = build_tables(m, "F16")
    assert tb.params["per_layer_input"] == side
    assert tb.per_layer_row_bytes == 35 * 256 * 2  # one F16 row
    # streamed per step: everything but the per-layer table (norms in F32 add ~0.01 %)
    assert tb.total_weight_bytes == pytest.approx((m.total_params - table) * 2, rel=1e-3)
    assert file_size(m, "F16") == pytest.approx(m.total_params * 2, rel=1e-3)  # but it is stored
    step = predict("rtx-4090", m, Workload(), quant="F16")
    op = {o.op: o for o in step.breakdown}["per_layer_input"]
    assert op.weight_bytes == pytest.approx(side * 2 + 35 * 256 * 2)
    # AltUp's mix of its 4 copies twice per layer, beside 2 FLOPs per weight
    assert op.flops == pytest.approx(2 * side + 35 * (2 * n * n * d + 4 * n * d))


def test_gemma3n_import_reads_altup_laurel_and_uniform_ffn():
    cfg = json.loads((CONFIGS / "gemma-3n-e4b.json").read_text())
    spec = config_to_spec(cfg, "gemma3n.json", "x", "test")
    assert spec["altup"] == {"num_inputs": 4, "laurel_rank": 64}
    assert spec["ffn"]["d_ff"] == 16384 and spec["attention"]["global_every"] == 5
    cfg["text_config"]["intermediate_size"] = [8192] * 10 + [16384] * 25
    with pytest.raises(SpecError, match="intermediate_size: expected the same value for every layer"):
        config_to_spec(cfg, "gemma3n.json", "x", "test")


def test_gemma3n_runs_cost_the_same_stacked_and_one_at_a_time():
    """The per_layer_input operator goes through model.stacked's arrays like every other one."""
    from roofline.model.scenario import resolve
    from roofline.model.stacked import stack

    scens = [
        resolve(dev, "gemma-3n-e4b", Workload(test=test, depth=depth))
        for dev in ("rtx-4090", "jetson-orin-nano-8gb")
        for test, depth in (("tg128", 0), ("tg128", 16384), ("pp512", 4096))
    ]
    by_engine: dict[str, list] = {}
    for s in scens:
        by_engine.setdefault(s.engine.name, []).append(s)
    for group in by_engine.values():
        eng = group[0].engine
        got = stack(group).tokens_per_second(eng)
        assert got.tolist() == [s.tokens_per_second(eng) for s in group]
    assert all("per_layer_input" in {o.name for o in s.ops} for s in scens)


def test_nemotron_latent_moe_is_refused_not_mismodelled():
    cfg = json.loads((CONFIGS / "nemotron-3-nano-30b-a3b.json").read_text())
    cfg["moe_latent_size"] = 1024  # Nemotron-3 Super: experts in a latent width
    with pytest.raises(SpecError, match="moe_latent_size: latent MoE"):
        config_to_spec(cfg, "nemotron.json", "x", "test")
    cfg["moe_latent_size"] = None  # the Nano checkpoint's null: a plain MoE
    assert config_to_spec(cfg, "nemotron.json", "x", "test")["moe"]["n_experts"] == 128
