"""Physics regression for the cost model: hand-computed bytes, KV traffic, the distinct-expert law."""

from __future__ import annotations

import math

import numpy as np
import pytest

from roofline.api import predict
from roofline.model.routing import bounds, distinct_experts, distinct_experts_uniform, zipf_popularity
from roofline.model.workload import Workload

TG1 = Workload(test="tg1", depth=0, batch=1)  # one decode step at context 1


def weight_bytes(p) -> float:
    return sum(o.weight_bytes for o in p.breakdown)


def test_llama_3_2_1b_f16_decode_bytes_by_hand():
    # Llama-3.2-1B: 16 layers, d 2048, 32 q heads / 8 kv heads of 64, d_ff 8192, vocab 128256, tied.
    # Per layer: q 2048x2048 + k,v 2 x 2048x512 + o 2048x2048 = 10,485,760; FFN 3 x 2048x8192 = 50,331,648.
    # A decode token reads every layer matrix (F16, 2 B), the whole tied embedding as the LM head
    # (128256 x 2048 F16), one embedding row (2048 x 2 B), and the F32 norms (16 x 2 x 2048 + 2048).
    layer = 10_485_760 + 50_331_648
    expected = 2 * (16 * layer + 128_256 * 2048) + 2048 * 2 + 4 * (16 * 2 * 2048 + 2048)
    got = weight_bytes(predict("rtx-4090", "llama-3.2-1b", TG1, quant="F16", engine="ideal"))
    assert got == pytest.approx(expected, rel=1e-12)


def test_llama_3_2_1b_q4_k_m_decode_bytes_by_hand():
    # Q4_K_M (llama.cpp): Q4_K = 144 B / 256 weights, Q6_K = 210 B / 256. attn_v and ffn_down get
    # Q6_K on "use_more_bits" layers: i < 2, i >= 14, or (i - 2) % 3 == 2 -> 8 of 16 layers.
    # The tied embedding, doubling as the output, is Q6_K; norms stay F32.
    q4, q6 = 144 / 256, 210 / 256
    qo = 2 * 2048 * 2048 * q4 + 2048 * 512 * q4  # q, o, k: always Q4_K
    v = lambda more: 2048 * 512 * (q6 if more else q4)  # noqa: E731
    gate_up = 2 * 2048 * 8192 * q4
    down = lambda more: 2048 * 8192 * (q6 if more else q4)  # noqa: E731
    more = [i < 2 or i >= 14 or (i - 2) % 3 == 2 for i in range(16)]
    assert sum(more) == 8
    layers = sum(qo + v(m) + gate_up + down(m) for m in more)
    expected = layers + 128_256 * 2048 * q6 + 2048 * q6 + 4 * (16 * 2 * 2048 + 2048)
    got = weight_bytes(predict("rtx-4090", "llama-3.2-1b", TG1, quant="Q4_K_M", engine="ideal"))
    assert got == pytest.approx(expected, rel=1e-12)


def test_olmoe_f16_decode_bytes_by_hand():
    # OLMoE-1B-7B: 16 layers, d 2048, MHA 16 x 128, 64 experts of width 1024, top-8, vocab 50304, untied.
    # A batch-1 decode step reads 8 experts x 3 x 2048 x 1024 per layer (F16), attention 4 x 2048^2
    # (F16), the F32 router (64 x 2048) and q/k norms (2 x 2048), the LM head and one embedding row.
    attn = 4 * 2048 * 2048 * 2 + 2 * 2048 * 4
    experts = 8 * 3 * 2048 * 1024 * 2
    router = 64 * 2048 * 4
    expected = 16 * (attn + experts + router) + 50_304 * 2048 * 2 + 2048 * 2 + 4 * (16 * 2 * 2048 + 2048)
    got = weight_bytes(predict("rtx-4090", "olmoe-1b-7b", TG1, quant="F16", engine="ideal"))
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("model", "per_token_layer"),
    [
        ("llama-3.2-1b", 2 * 8 * 64 * 2),  # GQA: 8 KV heads x 64 x K,V x f16
        ("olmoe-1b-7b", 2 * 16 * 128 * 2),  # MHA: 16 heads x 128
        ("deepseek-v2-lite", (512 + 64) * 2),  # MLA: latent 512 + rope key 64
    ],
)
def test_kv_read_bytes_in_decode(model, per_token_layer):
    depth = 1000
    p = predict("h100-sxm-80gb", model, Workload(test="tg1", depth=depth), engine="ideal")
    core = next(o for o in p.breakdown if o.op == "attn_core")
    n_layers = {"llama-3.2-1b": 16, "olmoe-1b-7b": 16, "deepseek-v2-lite": 27}[model]
    # the step reads depth + 1 cached entries per layer and writes one
    assert core.kv_bytes == pytest.approx(n_layers * per_token_layer * (depth + 1 + 1))


def test_distinct_experts_limits():
    assert distinct_experts_uniform(1, 64, 8) == pytest.approx(8)  # N = 1 -> k
    assert distinct_experts_uniform(7, 64, 64) == pytest.approx(64)  # k = E -> E
    assert distinct_experts_uniform(10_000, 64, 8) == pytest.approx(64)  # N -> inf -> E
    # 2 tokens: 64 (1 - (56/64)^2) = 15.0
    assert distinct_experts_uniform(2, 64, 8) == pytest.approx(64 * (1 - (56 / 64) ** 2))
    assert bounds(4, 64, 8) == (8, 32) and bounds(100, 64, 8) == (8, 64)


def test_skewed_routing_touches_fewer_experts():
    uniform = zipf_popularity(64, 8, 0.0)
    assert np.allclose(uniform, 8 / 64)
    skewed = zipf_popularity(64, 8, 1.2)
    assert skewed.sum() == pytest.approx(8) and skewed.max() <= 1.0
    for n in (1, 4, 32, 512):
        assert distinct_experts(n, skewed) <= distinct_experts(n, uniform) + 1e-9
    assert distinct_experts(1, skewed) == pytest.approx(8)


def test_batch_reads_union_of_experts():
    # batch 16 in decode touches E(1-(1-k/E)^16) experts per layer, not 16 k and not k
    p = predict("h100-sxm-80gb", "olmoe-1b-7b", Workload(test="tg1", batch=16), engine="ideal")
    expected = 64 * (1 - (1 - 8 / 64) ** 16)
    assert p.experts.expected_distinct_per_layer == pytest.approx(expected)
    exp_op = next(o for o in p.breakdown if o.op == "experts")
    one = next(
        o for o in predict("h100-sxm-80gb", "olmoe-1b-7b", TG1, engine="ideal").breakdown if o.op == "experts"
    )
    assert exp_op.weight_bytes == pytest.approx(one.weight_bytes / 8 * expected)


def test_prefill_is_compute_heavier_than_decode():
    pp = predict("rtx-4090", "llama-3.1-8b", Workload(test="pp512"), engine="ideal")
    tg = predict("rtx-4090", "llama-3.1-8b", Workload(test="tg128"), engine="ideal")
    assert pp.tokens_per_second > 10 * tg.tokens_per_second
    assert tg.bound == "memory"


def test_ideal_decode_is_bandwidth_over_bytes():
    # speed of light: a memory-bound batch-1 step takes bytes / peak bandwidth
    p = predict("h100-sxm-80gb", "llama-3.1-8b", TG1, engine="ideal")
    total = sum(o.weight_bytes + o.kv_bytes for o in p.breakdown)
    assert p.step_seconds == pytest.approx(total / 3.35e12, rel=0.02)


def test_does_not_fit_uses_offload():
    p = predict("jetson-orin-nano-8gb", "qwen3-30b-a3b", Workload(), quant="Q4_K_M")
    assert not p.memory.fits
    assert p.memory.offload_tier is not None and p.memory.offload_bytes_per_step > 0
    assert any(o.op == "offload" for o in p.breakdown) and p.warnings
    fits = predict("dgx-spark-gb10", "qwen3-30b-a3b", Workload(), quant="Q4_K_M")
    assert fits.memory.fits


def test_energy_is_positive_and_scales_with_time():
    a = predict("jetson-orin-nano-8gb", "llama-3.2-1b", Workload())
    b = predict("jetson-orin-nano-8gb", "gemma-2-2b", Workload())
    assert 0 < a.energy.joules_per_token < b.energy.joules_per_token
    assert math.isfinite(a.energy.average_watts)


def test_attention_core_runs_at_its_own_peak_and_efficiency():
    # the llama.cpp CPU profile puts the attention core on the fp32 vector FMAs at its own efficiency
    from roofline.model.engine import load_engine
    from roofline.specs.catalog import load_device

    eng = load_engine("llama.cpp-cpu")
    p = predict("sandbox-epyc-2vcpu", "llama-3.2-1b", Workload(test="tg128", depth=2048), engine=eng)
    core = next(o for o in p.breakdown if o.op == "attn_core")
    fp32 = load_device("sandbox-epyc-2vcpu").processor("cpu").peak("fp32", "vector")
    assert eng.attention_precision == "fp32"
    rows = 32 * 16 * (2048 + (128 + 1) / 2)  # query heads x layers x mean keys over tg128
    work = core.flops + rows * eng.attention_key_ops
    assert core.compute_seconds == pytest.approx(work / (fp32 * eng.attention_efficiency), rel=1e-9)
    # halving the attention efficiency doubles the core's compute time and nothing else
    half = eng.model_copy(update={"attention_efficiency": eng.attention_efficiency / 2})
    q = predict("sandbox-epyc-2vcpu", "llama-3.2-1b", Workload(test="tg128", depth=2048), engine=half)
    for a, b in zip(p.breakdown, q.breakdown, strict=True):
        factor = 2.0 if a.op == "attn_core" else 1.0
        assert b.compute_seconds == pytest.approx(factor * a.compute_seconds, rel=1e-9)


def test_attention_key_ops_add_work_per_key_row_not_per_query():
    from roofline.model.engine import load_engine

    eng = load_engine("ideal")
    more_eng = eng.model_copy(update={"attention_key_ops": 105.0})
    for test, seqs_x_keys in (("tg1", 1000 + 1), ("pp512", 1000 + (512 + 1) / 2)):
        w = Workload(test=test, depth=1000)
        base = predict("rtx-4090", "llama-3.2-1b", w, engine=eng)
        more = predict("rtx-4090", "llama-3.2-1b", w, engine=more_eng)
        a, b = (next(o for o in x.breakdown if o.op == "attn_core") for x in (base, more))
        # 105 FLOP-equivalents per key row: heads x layers x mean keys, once per sequence (decode)
        # and once per prompt, not per query (prefill)
        rows = 32 * 16 * seqs_x_keys
        assert b.flops == a.flops
        extra = 105 * rows / a.flops * a.compute_seconds
        assert b.compute_seconds - a.compute_seconds == pytest.approx(extra, rel=1e-9)


def test_expert_compute_efficiency_moves_only_the_routed_experts():
    from roofline.model.engine import load_engine

    eng = load_engine("llama.cpp-cpu")
    w = Workload(test="pp512")
    base = predict("sandbox-epyc-2vcpu", "olmoe-1b-7b", w, engine=eng)
    half = eng.model_copy(update={"expert_compute_efficiency": eng.value("expert_compute_efficiency") / 2})
    slow = predict("sandbox-epyc-2vcpu", "olmoe-1b-7b", w, engine=half)
    for a, b in zip(base.breakdown, slow.breakdown, strict=True):
        if a.op == "experts":
            # weight unpacking runs on the vector units and is not part of the matmuls' efficiency
            assert b.compute_seconds > a.compute_seconds
        else:
            assert b.compute_seconds == pytest.approx(a.compute_seconds, rel=1e-12)
    assert slow.tokens_per_second < base.tokens_per_second


def test_float_weights_take_the_engines_float_path():
    """llama.cpp CUDA multiplies quantized weights with MMQ's int8 tensor cores and F16 weights with
    cuBLAS in fp16: on an RTX 4090 (660.6 int8 TOPS, 330.3 fp16 TFLOPS with fp16 accumulate) the
    same prefill matmul FLOPs take twice as long from an F16 file as from a Q8_0 one at the same
    share of peak, and the shipped profile's two shares scale that. The shipped profile caps MMQ's
    peak at matmul_vector_ratio x the fp32 vector peak (82.6 TFLOPS), which cuBLAS does not share."""
    from roofline.model.engine import load_engine

    w = Workload(test="pp512")
    # MMQ's tile fill (matmul_half_rows) and per-output cost (matmul_output_macs) are quantized-path
    # terms: cuBLAS's F16 path has neither
    shipped = load_engine("llama.cpp-cuda").model_copy(
        update={"matmul_half_rows": None, "matmul_output_macs": None}
    )
    # isolate the peaks: no vector cap, the same share of each
    same_share = shipped.model_copy(update={"float_compute_efficiency": None, "matmul_vector_ratio": None})
    assert shipped.matmul_vector_ratio is not None
    mmq_peak = min(660.6, shipped.matmul_vector_ratio * 82.6)
    for eng, ratio in (
        (same_share, 2.0),
        (
            shipped,
            mmq_peak * shipped.compute_efficiency / (330.3 * shipped.value("float_compute_efficiency")),
        ),
    ):
        ops = {
            q: {o.op: o for o in predict("rtx-4090", "llama-3.1-8b", w, engine=eng, quant=q).breakdown}
            for q in ("F16", "Q8_0")
        }
        f16, q8 = ops["F16"]["attn_qkv"], ops["Q8_0"]["attn_qkv"]
        assert f16.flops == q8.flops
        assert f16.compute_seconds == pytest.approx(ratio * q8.compute_seconds, rel=1e-9)


def test_a_model_runs_in_its_published_format_unless_told_otherwise():
    """gpt-oss ships its experts in MXFP4: that is its default, not Q4_K_M (58.9 vs 81.7 GiB)."""
    from roofline.specs import load_model
    from roofline.specs.quant import file_size

    p = predict("rtx-4090", "gpt-oss-120b")
    assert p.quant == "MXFP4"
    assert p.memory.weights_bytes == pytest.approx(file_size(load_model("gpt-oss-120b"), "MXFP4"))
    assert (
        predict("rtx-4090", "gpt-oss-120b", quant="Q4_K_M").memory.weights_bytes
        > 1.3 * p.memory.weights_bytes
    )
    assert predict("rtx-4090", "llama-3.1-8b").quant == "Q4_K_M"


def test_a_depth_past_the_models_context_warns():
    assert not any(
        "maximum context" in w for w in predict("rtx-4090", "llama-3.1-8b", Workload(depth=4096)).warnings
    )
    deep = predict("rtx-4090", "llama-3.1-8b", Workload(depth=131072))
    assert any("exceeds llama-3.1-8b's maximum context of 131072" in w for w in deep.warnings)


def test_expert_matmuls_lose_efficiency_to_their_shape_in_prefill():
    """An expert GEMM fed 32 tokens fills fewer of its tiles than a dense GEMM fed 512: with half
    rows of 32 the expert matmuls run at half their large-M efficiency and the dense ones at
    512/544 of it, by their shapes alone; a decode step of one token takes the mat-vec path."""
    from roofline.model.engine import load_engine
    from roofline.model.scenario import resolve

    plain = load_engine("llama.cpp-cuda").model_copy(
        update={"matmul_half_rows": None, "expert_half_rows": None, "small_batch_efficiency": None}
    )
    eng = plain.model_copy(update={"matmul_half_rows": 32.0})
    pre = {
        o.name: o for o in resolve("h200-sxm-141gb", "qwen3-30b-a3b", Workload(test="pp512"), engine=eng).ops
    }
    assert pre["experts"].shape[0] == pytest.approx(512 * 8 / 128, rel=1e-3)  # all 128 experts touched
    assert pre["experts"].tile_rows == pytest.approx(32, rel=1e-3) and pre["experts"].tiled
    assert pre["attn_qkv"].tile_rows == pytest.approx(512) and pre["attn_qkv"].tiled
    assert not pre["lm_head"].tiled and pre["lm_head"].matvec  # the last token's logits only
    dec = {o.name: o for o in resolve("h200-sxm-141gb", "qwen3-30b-a3b", Workload(), engine=eng).ops}
    assert not dec["experts"].tiled and dec["experts"].matvec
    runs = [
        resolve("h200-sxm-141gb", "qwen3-30b-a3b", Workload(test="pp512"), engine=e) for e in (plain, eng)
    ]
    full, half = ({t.op.name: t for t in s.step().times} for s in runs)
    assert half["experts"].compute == pytest.approx(2 * full["experts"].compute, rel=2e-3)
    assert half["attn_qkv"].compute == pytest.approx(544 / 512 * full["attn_qkv"].compute, rel=1e-9)


def test_few_token_steps_run_mat_vec_kernels_at_the_vector_peak():
    """With small_batch_efficiency set, a step of up to decode_kernels_max_tokens tokens runs its
    quantized matmuls at that share of the vector peak, each token a further pass; above it the
    tiled path's rate holds, the same for a prefill of N tokens and a decode of N sequences."""
    from roofline.model.engine import load_engine
    from roofline.model.scenario import resolve

    eng = load_engine("llama.cpp-cuda").model_copy(update={"small_batch_efficiency": 0.25})
    assert eng.decode_kernels_max_tokens == 8

    def ffn(w: Workload):
        s = resolve("h200-sxm-141gb", "qwen3-8b", w, engine=eng)
        return next(t for t in s.step().times if t.op.name == "dense_ffn"), s.machine

    for n in (1, 4, 8):
        t, mc = ffn(Workload(test=f"pp{n}"))
        assert t.op.matvec and not t.op.tiled
        assert t.compute == pytest.approx(t.op.flops / (mc.vector_peak * 0.25), rel=1e-9)
        assert ffn(Workload(batch=n))[0].compute == pytest.approx(t.compute, rel=1e-9)
    t16, mc = ffn(Workload(test="pp16"))
    assert t16.op.tiled and not t16.op.matvec
    assert t16.compute < t16.op.flops / (mc.vector_peak * 0.25)


def test_prefill_launches_are_not_graph_replays():
    from roofline.model.engine import load_engine
    from roofline.model.scenario import resolve

    eng = load_engine("llama.cpp-cuda").model_copy(update={"prefill_kernel_overhead_scale": 2.0})
    dec = resolve("h200-sxm-141gb", "llama-3.1-8b", Workload(), engine=eng).machine.kernel_overhead
    pre = resolve(
        "h200-sxm-141gb", "llama-3.1-8b", Workload(test="pp512"), engine=eng
    ).machine.kernel_overhead
    assert pre == pytest.approx(dec * 2.0 / eng.kernel_overhead_scale)


def test_builds_before_mmq_by_default_dequantize_to_a_float_gemm():
    """llama.cpp CUDA builds before June 2024 multiplied quantized weights by more than 32 rows with
    FP16 cuBLAS: a run of such a build (its number known) costs pp512's matmuls at the float peak plus
    a dequantize kernel per matrix; its decode, and every run of an unknown or current build, keep
    the MMQ/MMVQ paths."""
    from roofline.model.engine import load_engine
    from roofline.model.scenario import resolve

    w = Workload(test="pp512")
    old = resolve("rtx-4090", "llama-3.1-8b", w, engine="llama.cpp-cuda", build=2843)
    new = resolve("rtx-4090", "llama-3.1-8b", w, engine="llama.cpp-cuda", build=7000)
    unknown = resolve("rtx-4090", "llama-3.1-8b", w, engine="llama.cpp-cuda")
    assert old.engine.float_gemm_min_rows == 32 and new.engine.float_gemm_min_rows is None
    assert new.tokens_per_second() == unknown.tokens_per_second()
    t_old, t_new = ({t.op.name: t for t in s.step().times} for s in (old, new))
    ffn, mc, eng = t_old["dense_ffn"], old.machine, old.engine
    assert ffn.compute == pytest.approx(
        ffn.op.flops / (mc.float_peak * eng.value("float_compute_efficiency"))
    )
    from roofline.model import cost

    r_mem = cost.streamed(mc.main_bandwidth, mc) * eng.bandwidth_efficiency  # the kernels' streaming limit
    dequant = (ffn.op.weight_bytes + ffn.op.f16_bytes) / r_mem
    assert ffn.seconds == pytest.approx(max(ffn.compute, ffn.memory) + dequant + ffn.overhead, rel=1e-12)
    assert t_new["dense_ffn"].seconds < ffn.seconds
    dec = [
        resolve("rtx-4090", "llama-3.1-8b", engine="llama.cpp-cuda", build=b).tokens_per_second()
        for b in (2843, 7000)
    ]
    assert dec[0] == dec[1]
    # a profile fitted from the current one (what calibration hands back) takes the variant for such runs
    fitted = load_engine("llama.cpp-cuda").model_copy(update={"compute_efficiency": 0.5})
    assert old.step(engine=fitted).seconds == old.at(w).step(engine=fitted).seconds
    assert old.step(engine=fitted).seconds != new.step(engine=fitted).seconds


def test_streaming_limit_combines_dram_and_in_flight_bytes():
    """With stream_bytes_per_cycle, a byte of weights costs its DRAM time plus its share of the
    multiprocessors' in-flight limit (k x SMs x clock): on the H200 (132 SMs at 1.98 GHz, 4.8 TB/s)
    k = 10 gives 1 / (1/4.8 + 1/2.61) = 1.69 TB/s, and a device without SM figures keeps its DRAM
    bandwidth, with a warning."""
    from roofline.model import cost
    from roofline.model.engine import load_engine
    from roofline.specs import load_device

    eng = load_engine("llama.cpp-cuda").model_copy(update={"stream_bytes_per_cycle": 10.0})
    h200 = load_device("h200-sxm-141gb")
    mc = cost.resolve_machine(h200, eng)
    assert mc.stream_limit == pytest.approx(10.0 * 132 * 1.98e9)
    assert cost.streamed(mc.main_bandwidth, mc) == pytest.approx(1 / (1 / 4.8e12 + 1 / (10.0 * 132 * 1.98e9)))
    assert cost.streamed(2 * mc.main_bandwidth, mc) > cost.streamed(mc.main_bandwidth, mc)
    bare = h200.model_copy(
        update={
            "processors": tuple(
                p.model_copy(update={"multiprocessors": None, "clock": None}) for p in h200.processors
            )
        }
    )
    mc2 = cost.resolve_machine(bare, eng)
    assert mc2.stream_limit is None and cost.streamed(4.8e12, mc2) == 4.8e12
    assert any("stream_bytes_per_cycle" in w for w in mc2.warnings)
    # decode of a bandwidth-bound model slows by what the limit takes, no more
    w = Workload(test="tg128")
    fast = predict(h200, "llama-3.1-8b", w, engine=eng.model_copy(update={"stream_bytes_per_cycle": None}))
    slow = predict(h200, "llama-3.1-8b", w, engine=eng)
    assert slow.tokens_per_second < fast.tokens_per_second


def test_per_output_cost_follows_the_input_width():
    """matmul_output_macs: a tiled GEMM of input width K runs at K / (K + c) of its rate. A dense
    FFN's width is the harmonic mean over its matrices (gate and up read d = 4096 inputs per output,
    down d_ff = 14336 on Llama-3.1-8B), so its pp512 compute time grows by 1 + c / K_eff, and the
    mat-vec path of decode is untouched."""
    from roofline.model.engine import load_engine

    eng = load_engine("llama.cpp-cuda")
    assert eng.matmul_output_macs is not None
    without = eng.model_copy(update={"matmul_output_macs": None})
    k_eff = 3 / (2 / 4096 + 1 / 14336)
    for test, factor in (("pp512", 1 + eng.matmul_output_macs / k_eff), ("tg128", 1.0)):
        w = Workload(test=test)
        a = {o.op: o for o in predict("h200-sxm-141gb", "llama-3.1-8b", w, engine=eng).breakdown}
        b = {o.op: o for o in predict("h200-sxm-141gb", "llama-3.1-8b", w, engine=without).breakdown}
        assert a["dense_ffn"].compute_seconds == pytest.approx(
            factor * b["dense_ffn"].compute_seconds, rel=1e-9
        )


def test_cpu_types_without_a_tiled_gemm_unpack_their_weights_per_activation_row():
    """llama.cpp-cpu (gemm_types): Q6_K has no tiled kernel (no repack, no sgemm), so a 512-token
    micro-batch unpacks each Q6_K block 512 times, against once for Q4_0 (repacked); decode, one
    row, costs the same either way. Routed experts (MUL_MAT_ID) unpack per routed row whatever
    their type (expert_gemm false): each token its top-k experts'."""
    from roofline.model.engine import load_engine
    from roofline.model.operators import build_tables
    from roofline.model.scenario import resolve
    from roofline.specs import load_model

    def ops(model, w, quant, engine):
        return {o.name: o for o in resolve("ryzen-9-7950x", model, w, engine=engine, quant=quant).ops}

    eng = load_engine("llama.cpp-cpu")
    assert "Q6_K" not in eng.gemm_types and "Q4_0" in eng.gemm_types and eng.expert_gemm is False
    tiled = eng.model_copy(update={"gemm_types": None, "expert_gemm": True})
    pp = Workload(test="pp512")
    for quant, rows in (("Q6_K", 512), ("Q4_0", 1)):
        a, b = ops("llama-3.1-8b", pp, quant, eng), ops("llama-3.1-8b", pp, quant, tiled)
        tb = build_tables(load_model("llama-3.1-8b"), quant)
        assert a["dense_ffn"].dequant_ops == pytest.approx(rows * tb.dequant_ops["dense_ffn"], rel=1e-12)
        assert b["dense_ffn"].dequant_ops == pytest.approx(tb.dequant_ops["dense_ffn"], rel=1e-12)
    one = Workload(test="tg1")
    dec = predict("ryzen-9-7950x", "llama-3.1-8b", one, quant="Q6_K", engine=eng)
    assert dec.tokens_per_second == pytest.approx(
        predict("ryzen-9-7950x", "llama-3.1-8b", one, quant="Q6_K", engine=tiled).tokens_per_second, rel=1e-12
    )
    moe = ops("olmoe-1b-7b", pp, "Q4_0", eng)
    tb = build_tables(load_model("olmoe-1b-7b"), "Q4_0")
    assert moe["experts"].dequant_ops == pytest.approx(512 * 8 * tb.expert_dequant_ops, rel=1e-12)
    with pytest.raises(Exception, match="unknown weight type 'Q9_X'"):
        eng.model_validate({**eng.model_dump(), "gemm_types": ("Q9_X",)})


def test_half_precision_slower_than_fp32_runs_in_fp32():
    """The Tesla P40 does fp16 at 1/64 of its fp32 rate: llama.cpp runs its attention kernels (and
    any other fp16 kernel family) in fp32 there, so the attention core's peak is the fp32 one."""
    from roofline.model import cost
    from roofline.model.engine import load_engine
    from roofline.specs import load_device

    p40 = load_device("tesla-p40")
    eng = load_engine("llama.cpp-cuda")
    assert eng.attention_precision == "fp16"
    proc = p40.processors[0]
    assert proc.peak("fp16", "best") < proc.peak("fp32", "vector")
    mc = cost.resolve_machine(p40, eng)
    assert mc.attention_peak == proc.peak("fp32", "vector")
    h200 = load_device("h200-sxm-141gb")
    assert cost.resolve_machine(h200, eng).attention_peak == h200.processors[0].peak("fp16", "best")


def test_a_runs_ubatch_sets_its_micro_batches():
    """Workload.ubatch (llama-bench -ub; a trace's ubatch column) splits a prompt into micro-batches
    of that size instead of the engine's: pp2048 at -ub 2048 is one step of 2048 tokens, at the
    profile's 512 four steps of 512; decode is unaffected."""
    from roofline.errors import WorkloadError
    from roofline.model import cost
    from roofline.model.engine import load_engine
    from roofline.model.mathns import NUMPY

    eng = load_engine("llama.cpp-cuda")
    assert eng.ubatch == 512
    sv = cost.step_vars(Workload(test="pp2048", ubatch=2048), eng, NUMPY).to_floats()
    assert (sv.steps, sv.tokens) == (1, 2048)
    sv = cost.step_vars(Workload(test="pp2048"), eng, NUMPY).to_floats()
    assert (sv.steps, sv.tokens) == (4, 512)
    big = predict("rtx-4090", "llama-3.1-8b", Workload(test="pp2048", ubatch=2048), quant="Q4_0")
    small = predict("rtx-4090", "llama-3.1-8b", Workload(test="pp2048", ubatch=16), quant="Q4_0")
    assert big.tokens_per_second > small.tokens_per_second
    for bad in (0, 1.5, True):
        with pytest.raises(WorkloadError, match="ubatch"):
            Workload(test="pp512", ubatch=bad)


def test_the_attention_core_runs_on_the_units_the_engine_names():
    """attention_unit: llama.cpp's HIP flash attention runs on the SIMD lanes (its tile and vec
    kernels), so on the R9700 its peak is the vector fp16 rate (95.7 TFLOPS), half the WMMA one the
    weight matmuls get; CUDA's runs on the tensor cores (the matrix fp16 peak)."""
    from roofline.model import cost
    from roofline.model.engine import load_engine
    from roofline.specs import load_device

    rocm, r9700 = load_engine("llama.cpp-rocm"), load_device("radeon-ai-pro-r9700")
    assert rocm.attention_unit == "vector"
    proc = r9700.processors[0]
    mc = cost.resolve_machine(r9700, rocm)
    assert mc.attention_peak == proc.peak("fp16", "vector") < proc.peak("fp16", "matrix")
    cuda, h200 = load_engine("llama.cpp-cuda"), load_device("h200-sxm-141gb")
    assert cost.resolve_machine(h200, cuda).attention_peak == h200.processors[0].peak("fp16", "matrix")


def test_x86_q8_0_prefill_runs_the_narrow_gemm_and_arm_does_not():
    """llama.cpp-cpu: a tiled matmul's Q8_0 share runs at narrow_gemm_efficiency of the tiled rate
    on an x86 CPU (tinyBLAS_Q0_AVX), not on an arm64 one, not in decode (mat-vec), and not for the
    routed experts the engine multiplies per row; a Q4_K_M model's matmuls carry their own shares."""
    from roofline.model.cost import narrow_slowdown
    from roofline.model.engine import load_engine
    from roofline.model.scenario import resolve

    eng = load_engine("llama.cpp-cpu")
    eff = eng.value("narrow_gemm_efficiency")
    assert eng.narrow_gemm_types == {"x86-64": ("Q8_0",)} and 0 < eff < 1

    def ffn(device: str, test: str, quant: str, engine=eng, model="llama-3.1-8b"):
        s = resolve(device, model, Workload(test=test), engine=engine, quant=quant)
        return s, {t.op.name: t for t in s.step().times}

    s, t = ffn("ryzen-9-7950x", "pp512", "Q8_0")
    assert narrow_slowdown(t["dense_ffn"].op, s.machine, eng) == pytest.approx(1 / eff - 1)
    _, wide = ffn("ryzen-9-7950x", "pp512", "Q8_0", eng.model_copy(update={"narrow_gemm_efficiency": 1.0}))
    unpack = t["dense_ffn"].op.dequant_ops / (s.machine.dequant_peak * eng.dequant_efficiency)
    narrow_mm, wide_mm = (x["dense_ffn"].compute - unpack for x in (t, wide))
    assert narrow_mm == pytest.approx(wide_mm / eff, rel=1e-9)
    s, t = ffn("apple-m2-max", "pp512", "Q8_0")
    assert s.machine.processor.isa == "arm64" and narrow_slowdown(t["dense_ffn"].op, s.machine, eng) == 0.0
    s, t = ffn("ryzen-9-7950x", "tg128", "Q8_0")
    assert narrow_slowdown(t["dense_ffn"].op, s.machine, eng) == 0.0  # decode: not tiled
    s, t = ffn("ryzen-9-7950x", "pp512", "Q8_0", model="olmoe-1b-7b")
    assert narrow_slowdown(t["experts"].op, s.machine, eng) == 0.0  # MUL_MAT_ID: per-row dot products
    s, t = ffn("ryzen-9-7950x", "pp512", "Q4_K_M")
    shares = dict(t["dense_ffn"].op.weight_types)
    assert set(shares) <= {"Q4_K", "Q6_K"} and sum(shares.values()) == pytest.approx(1.0)
    assert narrow_slowdown(t["dense_ffn"].op, s.machine, eng) == 0.0


def test_a_cpu_s_measured_gemm_rates_replace_the_profile_s_narrow_share():
    """Where a CPU spec lists measured tiled-GEMM rates per weight type (Processor.gemm_rates, from
    `bench --emit-spec` with llama.cpp's kernels), an x86 Q8_0 matmul runs at its rate over the
    fastest type's, not at the profile's narrow_gemm_efficiency; a faster measured Q8_0 kernel never
    makes prefill slower, and a spec without the rates keeps the profile's figure."""
    from roofline.model.cost import narrow_slowdown
    from roofline.model.engine import load_engine
    from roofline.model.scenario import resolve
    from roofline.specs.catalog import load_device
    from roofline.specs.hardware import Processor

    eng = load_engine("llama.cpp-cpu")
    base = load_device("ryzen-9-7950x")

    def with_rates(q8: float):
        rates = Processor.model_validate(
            {
                "name": "rates",
                "kind": "cpu",
                "vector": {"fp32": {"value": "1 GFLOPS", "source": "test"}},
                "gemm_rates": {
                    "Q4_K": {"value": "500 GFLOPS", "source": "test"},
                    "Q8_0": {"value": f"{q8} GFLOPS", "source": "test"},
                },
            }
        ).gemm_rates
        proc = base.processors[0].model_copy(update={"gemm_rates": rates})
        return base.model_copy(update={"processors": (proc, *base.processors[1:])})

    def prefill(dev):
        s = resolve(dev, "llama-3.1-8b", Workload(test="pp512"), engine=eng, quant="Q8_0")
        ffn = {t.op.name: t for t in s.step().times}["dense_ffn"]
        return s, ffn, s.tokens_per_second()

    s, ffn, _ = prefill(with_rates(200.0))
    assert s.machine.processor.gemm_share("Q8_0") == pytest.approx(0.4)
    assert narrow_slowdown(ffn.op, s.machine, eng) == pytest.approx(1 / 0.4 - 1)
    s, ffn, _ = prefill(base)
    assert narrow_slowdown(ffn.op, s.machine, eng) == pytest.approx(
        1 / eng.value("narrow_gemm_efficiency") - 1
    )
    speeds = [prefill(with_rates(q8))[2] for q8 in (100.0, 200.0, 350.0, 500.0)]
    assert all(a <= b for a, b in zip(speeds, speeds[1:], strict=False)) and speeds[0] < speeds[-1]
    with pytest.raises(ValueError, match="unknown weight type"):
        Processor.model_validate(
            {
                "name": "x",
                "kind": "cpu",
                "vector": {"fp32": {"value": "1 GFLOPS", "source": "t"}},
                "gemm_rates": {"Q9_X": {"value": "1 GFLOPS", "source": "t"}},
            }
        )


def test_measured_expert_rates_cost_a_prefill_s_routed_experts():
    """Where a CPU spec lists llama.cpp's measured MUL_MAT_ID rate for every weight type of the routed
    experts (Processor.expert_gemm_rates), a prefill step's experts take flops x sum(share / rate);
    decode (mat-vec) and a type the spec does not list keep the profile's costing, and a faster
    measured kernel never makes prefill slower."""
    from roofline.model.cost import expert_seconds_per_flop
    from roofline.model.engine import load_engine
    from roofline.model.scenario import resolve
    from roofline.specs.catalog import load_device
    from roofline.specs.hardware import Processor

    eng = load_engine("llama.cpp-cpu")
    base = load_device("ryzen-9-7950x")

    def with_rates(**gflops: float):
        rates = Processor.model_validate(
            {
                "name": "rates",
                "kind": "cpu",
                "vector": {"fp32": {"value": "1 GFLOPS", "source": "test"}},
                "expert_gemm_rates": {
                    t: {"value": f"{v} GFLOPS", "source": "test"} for t, v in gflops.items()
                },
            }
        ).expert_gemm_rates
        proc = base.processors[0].model_copy(update={"expert_gemm_rates": rates})
        return base.model_copy(update={"processors": (proc, *base.processors[1:])})

    def experts(dev, test: str = "pp512", quant: str = "Q8_0"):
        s = resolve(dev, "olmoe-1b-7b", Workload(test=test), engine=eng, quant=quant)
        return s, {t.op.name: t for t in s.step().times}["experts"]

    s, ex = experts(with_rates(Q8_0=100.0))
    assert expert_seconds_per_flop(ex.op, s.machine) == pytest.approx(1 / 100e9)
    assert ex.compute == pytest.approx(ex.op.flops / 100e9)
    plain_s, plain = experts(base)
    assert expert_seconds_per_flop(plain.op, plain_s.machine) == 0.0 and plain.compute != ex.compute
    s, ex = experts(with_rates(Q8_0=100.0), test="tg128")  # decode: per-row dot products, not timed
    assert expert_seconds_per_flop(ex.op, s.machine) == 0.0
    s, ex = experts(with_rates(Q4_K=300.0), quant="Q4_K_M")  # Q4_K_M's experts hold Q6_K too
    assert {t for t, _ in ex.op.weight_types} > {"Q4_K"} and expert_seconds_per_flop(ex.op, s.machine) == 0.0
    s, ex = experts(with_rates(Q4_K=300.0, Q6_K=150.0), quant="Q4_K_M")
    shares = dict(ex.op.weight_types)
    want = shares["Q4_K"] / 300e9 + shares["Q6_K"] / 150e9
    assert expert_seconds_per_flop(ex.op, s.machine) == pytest.approx(want)
    speeds = [
        resolve(
            with_rates(Q8_0=v), "olmoe-1b-7b", Workload(test="pp512"), engine=eng, quant="Q8_0"
        ).tokens_per_second()
        for v in (50.0, 100.0, 200.0, 400.0)
    ]
    assert all(a <= b for a, b in zip(speeds, speeds[1:], strict=False)) and speeds[0] < speeds[-1]


def test_each_weight_type_streams_at_its_own_limit():
    """stream_type_ratio: an operator's weights stream at the limit of their type (ratio x
    stream_bytes_per_cycle x SMs x clock), byte-weighted: on the H200 at k = 10, Q3_K's 0.38 gives
    1 / (1/4.8 + 1/(0.38 x 2.61)) = 0.82 TB/s; an operator without listed types keeps the run's
    rate, all ratios 1 change nothing, and the stacked arrays cost it the same."""
    from roofline.model import cost
    from roofline.model.engine import load_engine
    from roofline.model.stacked import stack
    from roofline.specs import load_device

    h200 = load_device("h200-sxm-141gb")
    base = load_engine("llama.cpp-cuda").model_copy(
        update={"stream_bytes_per_cycle": 10.0, "stream_type_ratio": {}}
    )
    q3 = base.model_copy(update={"stream_type_ratio": {"Q3_K": 0.38}})
    mc = cost.resolve_machine(h200, q3)
    limit = 10.0 * 132 * 1.98e9
    assert cost.streamed(4.8e12, mc, 0.38) == pytest.approx(1 / (1 / 4.8e12 + 1 / (0.38 * limit)))
    w = Workload(test="tg128")
    plain = predict(h200, "llama-3.1-8b", w, quant="Q3_K_S", engine=base)
    slow = predict(h200, "llama-3.1-8b", w, quant="Q3_K_S", engine=q3)
    same = predict(
        h200,
        "llama-3.1-8b",
        w,
        quant="Q3_K_S",
        engine=base.model_copy(update={"stream_type_ratio": {"Q3_K": 1.0}}),
    )
    assert same.tokens_per_second == pytest.approx(plain.tokens_per_second, rel=1e-12)
    assert slow.tokens_per_second < 0.8 * plain.tokens_per_second
    # the FFN's weights are all Q3_K in Q3_K_S: their memory time grows by the ratio of the two rates
    # (its activations, a few kB at the activation bandwidth, are not limited: hence 1e-3, not exact)
    ffn = lambda p: next(o for o in p.breakdown if o.op == "dense_ffn")  # noqa: E731
    want = cost.streamed(4.8e12, mc) / cost.streamed(4.8e12, mc, 0.38)
    got = ffn(slow).memory_seconds / ffn(plain).memory_seconds
    assert got == pytest.approx(want, rel=1e-3) and got < want
    from roofline.model.scenario import resolve

    assert stack([resolve(h200, "llama-3.1-8b", w, quant="Q3_K_S", engine=q3)]).matches(q3)
