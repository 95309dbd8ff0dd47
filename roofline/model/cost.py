"""From operators to time, memory and energy: the roofline proper.

Per operator: compute time = FLOPs / (peak x efficiency) (+ weight unpacking on the vector units;
the attention core against the peak and efficiency of its own kernels, see EngineProfile),
memory time = bytes / (serving level's bandwidth x efficiency), overhead = kernels x per-kernel
time. Its time is max(compute, memory) + overhead: compute and memory overlap perfectly within an
operator, while a kernel's fixed start-up cost does not (the Hockney form t = t0 + bytes / r_inf,
with t0 the per-kernel overhead). A step adds per-step and per-layer host overhead and, when the
model does not fit, the time to fetch non-resident weights from the offload tier.

Which level serves weights and KV: a decode step streams every touched weight once, so on-chip
reuse across steps happens only if the whole step's working set fits a level (an LRU cache smaller
than a cyclic scan hits nothing). The innermost level with a known bandwidth that holds the working
set serves it; otherwise main memory. Activations are served by the largest cache with a known
bandwidth (they are produced and consumed back to back).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from roofline.errors import SpecError
from roofline.model.engine import EngineProfile
from roofline.model.operators import ModelTables, Operator, step_operators
from roofline.model.workload import Workload
from roofline.specs.hardware import Device, Processor
from roofline.specs.quant import file_size, storage_type


@dataclass(frozen=True)
class Machine:
    """The device as one engine sees it: processor, usable peaks, levels and overheads (SI floats)."""

    device: Device
    processor: Processor
    peak_flops: float
    vector_peak: float
    attention_peak: float  # peak of the precision and units the attention core runs on
    float_peak: float  # peak of the matmuls on float (F16/BF16/F32) weights
    dequant_peak: float  # peak of the units that unpack quantized weights (EngineProfile.dequant_precision)
    main_bandwidth: float
    cache_levels: tuple[tuple[str, float, float], ...]  # (name, capacity, bandwidth), innermost first
    act_bandwidth: float
    kernel_overhead: float
    warnings: tuple[str, ...] = ()
    score_peak: float | None = None  # QK^T's when scores are materialised (None: attention_peak)
    # what the engine's kernels can stream from main memory at most, whatever the DRAM offers
    # (EngineProfile.stream_bytes_per_cycle x multiprocessors x clock; None: no such limit)
    stream_limit: float | None = None

    def peak(self, name: str) -> float:
        """The peak an operator's FLOPs run at (Operator.peak): the matmuls' on quantized weights
        ("matmul") or on float weights ("matmul_float"), the attention core's ("attention"), QK^T's
        without flash attention ("scores") or the vector units' ("vector": recurrent scans, the
        softmax)."""
        return {
            "attention": self.attention_peak,
            "scores": self.attention_peak if self.score_peak is None else self.score_peak,
            "vector": self.vector_peak,
            "matmul_float": self.float_peak,
        }.get(name, self.peak_flops)


def resolve_machine(
    device: Device, eng: EngineProfile, is_moe: bool = False, tiled_prefill: bool = False
) -> Machine:
    """The device as `eng` sees it; `tiled_prefill` (see prefill_overheads) says whether the step
    pays the engine's prefill per-kernel overhead."""
    kind = eng.processor
    if kind == "auto":
        kind = "gpu" if device.processor("gpu") else "cpu"
    proc = device.processor(kind)
    if proc is None:
        have = ", ".join(p.kind for p in device.processors)
        raise SpecError(
            device.id, f"engine {eng.name} runs on a {kind} but the device has only: {have}", "processors"
        )
    warnings: list[str] = []
    fp32 = proc.peak("fp32", "vector")

    def usable(precision: str, unit: str) -> float | None:
        """The processor's peak at `precision` on `unit`; a half-precision rate below the fp32 one
        (Pascal GeForce/Tesla: fp16 at 1/64) makes engines run that kernel family in fp32 instead
        (llama.cpp: fast_fp16_available is false)."""
        found = proc.peak(precision, unit)
        if found is not None and precision in ("fp16", "bf16") and fp32 is not None and fp32 > found:
            return fp32
        return found

    peak = usable(eng.compute_precision, eng.compute_unit)
    if peak is None:
        for prec in ("fp16", "bf16", "fp32"):
            peak = proc.peak(prec, "best")
            if peak is not None:
                warnings.append(
                    f"{device.id} lists no {eng.compute_precision} peak on its {kind} "
                    f"{eng.compute_unit} units; using its {prec} peak"
                )
                break
    if peak is None:
        raise SpecError(device.id, f"processor {proc.name!r} lists no usable peak compute", "processors")
    vector = fp32 or proc.peak("fp16", "vector") or peak

    def other_peak(precision: str | None, what: str, unit: str | None = None) -> float:
        """The peak of a kernel family that runs at its own precision (None: the weight matmuls')
        on its own units (None: the engine's compute_unit)."""
        unit = unit or eng.compute_unit
        if (precision is None or precision == eng.compute_precision) and unit == eng.compute_unit:
            return peak
        precision = precision or eng.compute_precision
        found = usable(precision, unit) or usable(precision, "best")
        if found is None:
            warnings.append(
                f"{device.id} lists no {precision} peak on its {kind}; {what} uses the weight matmuls' peak"
            )
        return found or peak

    attn_peak = other_peak(eng.attention_precision, "the attention core", eng.attention_unit)
    deq_peak = (
        vector if eng.dequant_precision is None else other_peak(eng.dequant_precision, "weight unpacking")
    )
    float_peak = other_peak(eng.float_precision, "the matmuls on float weights")
    score_peak = None
    if eng.score_precision is not None:
        score_peak = other_peak(eng.score_precision, "QK^T without flash attention")
    if eng.matmul_vector_ratio is not None:
        # the quantized matmuls' own kernels only: the other kernel families keep their units' peaks
        peak = min(peak, eng.matmul_vector_ratio * vector)
    levels = [
        (lv.name, lv.capacity.value, lv.bandwidth.value)
        for lv in device.hierarchy(proc)[1:]
        if lv.bandwidth is not None
    ]
    levels.sort(key=lambda x: -x[2])  # fastest (innermost) first
    act_bw = max((bw for _, _, bw in levels), default=device.main_bandwidth)
    if eng.kernel_overhead is not None:
        k_ovh = eng.kernel_overhead
    elif proc.launch_latency is not None:
        scale = eng.kernel_overhead_scale
        if is_moe and eng.moe_kernel_overhead_scale is not None:
            scale = eng.moe_kernel_overhead_scale
        if tiled_prefill and eng.prefill_kernel_overhead_scale is not None:
            scale = eng.prefill_kernel_overhead_scale
        k_ovh = proc.launch_latency.value * scale
    else:
        k_ovh = 0.0
        warnings.append(f"{device.id}'s {kind} has no launch_latency: kernel overhead taken as 0")
    stream_limit = None
    if eng.stream_bytes_per_cycle is not None:
        if proc.multiprocessors is not None and proc.clock is not None:
            stream_limit = eng.stream_bytes_per_cycle * proc.multiprocessors.value * proc.clock.value
        else:
            warnings.append(
                f"{device.id}'s {kind} lists no multiprocessors and clock: {eng.name}'s streaming limit "
                "(stream_bytes_per_cycle) is not applied, so its weight reads may come out too fast"
            )
    return Machine(
        device,
        proc,
        peak,
        vector,
        attn_peak,
        float_peak,
        deq_peak,
        device.main_bandwidth,
        tuple(levels),
        act_bw,
        k_ovh,
        tuple(warnings),
        score_peak,
        stream_limit,
    )


def streamed(bandwidth: Any, mc: Machine, ratio: float = 1.0) -> Any:
    """Main memory's bandwidth as the engine's kernels draw it: each multiprocessor keeps a bounded
    number of bytes in flight, so a byte costs its DRAM transfer time plus its share of the
    in-flight limit's (1/B = 1/bandwidth + 1/stream_limit), a smooth approach to the lesser of the
    two (Little's law). `ratio` scales the limit (a weight type's, EngineProfile.stream_type_ratio).
    Without a stream limit, the bandwidth itself."""
    if mc.stream_limit is None:
        return bandwidth
    return 1 / (1 / bandwidth + 1 / (mc.stream_limit * ratio))


def weight_stream_factor(
    o: Operator, mc: Machine, eng: EngineProfile, m: Any, ws: Any, main_bw: Any, bw: Any
) -> Any:
    """How much longer operator `o`'s weights take to stream than at `bw` (the serving bandwidth at
    the default streaming limit): its weight bytes by type, each at its type's streaming limit
    (EngineProfile.stream_type_ratio). 1 without a stream limit or a listed type."""
    ratios = eng.stream_type_ratio
    if mc.stream_limit is None or not any(t in ratios for t, _ in o.weight_types):
        return 1.0
    nbytes = {t: share * storage_type(t).bytes_per_weight for t, share in o.weight_types}
    total = sum(nbytes.values())
    per_byte = sum(
        b / serving_bandwidth(ws, mc, eng, m, streamed(main_bw, mc, ratios.get(t, 1.0)))
        for t, b in nbytes.items()
    )
    return per_byte / total * bw


def prefill_overheads(eng: EngineProfile, prefill: bool, tokens: float) -> bool:
    """Whether a step pays the engine's prefill per-kernel overhead: a prefill step on the tiled
    kernels. A prefill of no more tokens than `decode_kernels_max_tokens` runs the decode step's
    kernels (llama.cpp CUDA: MMVQ, the same CUDA graph as a decode step of that many tokens), so it
    pays the decode overhead."""
    few = eng.decode_kernels_max_tokens
    return prefill and (few is None or tokens > few)


@dataclass(frozen=True)
class StepVars:
    """Quantities of one step (floats, numpy arrays or sympy symbols)."""

    tokens: Any
    seqs: Any
    keys: Any
    kv_len: Any
    steps: Any  # steps in the whole test
    tokens_in_test: Any  # tokens the test produces or consumes (all sequences)

    def to_floats(self) -> StepVars:
        """The same step at one point, as plain floats."""
        return StepVars(*(float(np.asarray(v)) for v in dataclasses.astuple(self)))


def step_vars(w: Workload, eng: EngineProfile, m: Any, batch: Any = None, depth: Any = None) -> StepVars:
    """Decode: one token per sequence per step, at the test's mean context (step time is linear in
    context, so the mean step time is the step time at the mean context). Prefill: the prompt of
    every sequence in micro-batches of `ubatch` tokens; queries attend on average to depth + (N+1)/2
    keys (causal)."""
    b = w.batch if batch is None else batch
    dep = w.depth if depth is None else depth
    n = w.n_tokens
    if w.phase == "decode":
        ctx = dep + (n + 1) / 2
        return StepVars(tokens=b, seqs=b, keys=ctx, kv_len=ctx, steps=n, tokens_in_test=b * n)
    steps = m.ceil(b * n / w.micro_batch(eng.ubatch))
    tokens = b * n / steps
    seqs = m.max(1, b / steps)
    return StepVars(
        tokens=tokens,
        seqs=seqs,
        keys=dep + (n + 1) / 2,
        kv_len=dep + (n + m.min(tokens, n)) / 2,
        steps=steps,
        tokens_in_test=b * n,
    )


@dataclass(frozen=True)
class OpTime:
    op: Operator
    compute: Any
    memory: Any
    overhead: Any
    seconds: Any  # max(compute, memory) + overhead


def op_times(ops: list[Operator], mc: Machine, eng: EngineProfile, m: Any, main_bw: Any) -> list[OpTime]:
    """Each operator's time from what it says of itself: its FLOPs (and per-key-row work) at its
    peak and efficiency, plus weight unpacking on the engine's dequant units; its weight and KV
    bytes at the serving level's bandwidth, activations at the activation level's; its kernels at
    the per-kernel overhead and its host round trips at the engine's sync latency."""
    ws = reuse_set(ops)
    # weights stream through the engine's matmul kernels (streamed: their in-flight limit); the KV
    # cache is read by the attention kernels and is not limited (limiting it too fitted the CUDA
    # rows worse held out: decode 11.1 % vs 10.8 %, the H200's 13.4 % vs 12.3 %)
    bw = serving_bandwidth(ws, mc, eng, m, streamed(main_bw, mc))
    kv_bw = serving_bandwidth(ws, mc, eng, m, main_bw)
    r_mem, r_act = bw * eng.bandwidth_efficiency, mc.act_bandwidth * eng.bandwidth_efficiency
    r_kv = kv_bw * eng.value("kv_bandwidth_efficiency")
    r_deq = mc.dequant_peak * eng.dequant_efficiency
    out = []
    for o in ops:
        rate = mc.peak(o.peak) * eng.value(o.efficiency)
        if o.tile_rows is not None:
            half = eng.value("expert_half_rows" if o.kind == "routed_matmul" else "matmul_half_rows")
            if half:
                rate = _pick(m, o.tiled, rate * o.tile_rows / (o.tile_rows + half), rate)  # half-filled tiles
            if eng.matmul_output_macs is not None and o.inner is not None:
                rate = _pick(m, o.tiled, rate * o.inner / (o.inner + eng.matmul_output_macs), rate)
        narrow = narrow_slowdown(o, mc, eng)
        if narrow:
            rate = _pick(m, o.tiled, narrowed(rate, narrow), rate)
        if o.matvec is not False and eng.small_batch_efficiency is not None:
            rate = _pick(m, o.matvec, mc.vector_peak * eng.small_batch_efficiency, rate)
        compute = (o.flops + o.key_rows * eng.attention_key_ops) / rate if o.key_rows else o.flops / rate
        if eng.dequant_cost:
            compute = compute + o.dequant_ops / r_deq
        measured = expert_seconds_per_flop(o, mc)
        if measured:
            compute = _pick(m, o.tiled, o.flops * measured, compute)
        memory = o.weight_bytes * weight_stream_factor(o, mc, eng, m, ws, main_bw, bw) / r_mem
        memory = memory + o.kv_bytes / r_kv + o.act_bytes / r_act
        extra = 0.0
        fg = float_gemm(o, eng)
        if fg is not False:
            # dequantize to F16 in a kernel of its own (read the quantized weights, write the F16
            # ones), then a float GEMM reading the F16 weights at the float peak
            f_compute = o.flops / (mc.float_peak * eng.value("float_compute_efficiency"))
            compute = _pick(m, fg, f_compute, compute)
            memory = _pick(m, fg, o.f16_bytes / r_mem + o.act_bytes / r_act, memory)
            extra = _pick(m, fg, (o.weight_bytes + o.f16_bytes) / r_mem, 0.0)
        overhead = o.kernels * mc.kernel_overhead
        if o.syncs:
            overhead = overhead + o.syncs * eng.sync_latency
        out.append(OpTime(o, compute, memory, overhead, m.max(compute, memory) + extra + overhead))
    return out


def narrow_slowdown(o: Operator, mc: Machine, eng: EngineProfile) -> float:
    """How much longer a tiled matmul takes for the share of its weights whose GEMM is a narrow
    kernel on this processor's instruction set (EngineProfile.narrow_gemm_types): the sum over those
    types of share x (1 / efficiency - 1), each type's efficiency its measured rate over the fastest
    type's where the processor lists them (Processor.gemm_rates), else the profile's
    narrow_gemm_efficiency. 0 where no type is narrow, where the operator never runs tiled, or for
    routed experts the engine multiplies per row (expert_gemm false)."""
    types = eng.narrow_gemm_types.get(mc.processor.isa or "", ())
    if not types or o.tiled is False or o.tile_rows is None or o.peak != "matmul":
        return 0.0
    if o.kind == "routed_matmul" and not eng.expert_gemm:
        return 0.0
    slowdown = 0.0
    for t, share in o.weight_types:
        if t in types:
            eff = mc.processor.gemm_share(t)
            eff = eng.value("narrow_gemm_efficiency") if eff is None else eff
            slowdown += share * (1.0 / eff - 1.0)
    return float(slowdown)


def expert_seconds_per_flop(o: Operator, mc: Machine) -> float:
    """Seconds per FLOP of a prefill step's routed-expert matmul where the processor lists the engine's
    measured MUL_MAT_ID rate for every weight type it holds (Processor.expert_gemm_rates; the
    share-weighted harmonic mean); 0 where it does not (the profile's expert efficiency applies)."""
    rates = mc.processor.expert_gemm_rates
    if not rates or o.kind != "routed_matmul" or o.tile_rows is None or o.peak != "matmul":
        return 0.0
    if not o.weight_types or any(t not in rates for t, _ in o.weight_types):
        return 0.0
    return float(sum(share / rates[t].value for t, share in o.weight_types))


def narrowed(rate: Any, slowdown: Any) -> Any:
    """A tiled matmul's rate when its narrow-kernel share makes it `slowdown` longer (narrow_slowdown:
    the time-weighted mean of the kernels' rates; numbers or arrays)."""
    return rate / (1.0 + slowdown)


def serving_bandwidth(ws: Any, mc: Machine, eng: EngineProfile, m: Any, main_bw: Any) -> Any:
    """The bandwidth a step's working set of `ws` bytes is served at: the innermost cache level
    that holds it, else `main_bw` (main memory as the kernels draw it)."""
    if eng.use_caches and mc.cache_levels:
        return m.select([(lbw, ws <= cap) for _, cap, lbw in mc.cache_levels], main_bw)
    return main_bw


def reuse_set(ops: list[Operator]) -> Any:
    """The bytes a cache level must hold for a step's weights and KV to stay there until the next
    step: every weight and KV byte the step reads, and for routed experts all of the layer's experts
    (the next token may route to any of them), not only those this step touched."""
    return sum(
        (o.stored_weight_bytes if o.kind == "routed_matmul" else o.weight_bytes) + o.kv_bytes for o in ops
    )


def float_gemm(o: Operator, eng: EngineProfile) -> Any:
    """Whether a quantized matmul runs the engine's dequantize + float GEMM path (its rows above
    float_gemm_min_rows): False, or a condition (a bool, or sympy when the step's tokens are
    symbols). Rows above the threshold are on the tiled path whenever the path is a condition (the
    threshold is at least the few-token limit), so the rows alone decide."""
    if eng.float_gemm_min_rows is None or o.peak != "matmul" or o.tile_rows is None or o.tiled is False:
        return False
    return o.tile_rows > eng.float_gemm_min_rows


def _pick(m: Any, cond: Any, yes: Any, no: Any) -> Any:
    """`yes` where the kernel-path condition holds, else `no` (a plain choice for a known bool)."""
    if isinstance(cond, (bool, np.bool_)):
        return yes if cond else no
    return m.select([(yes, cond)], no)


def serving_level(ops: list[Operator], mc: Machine, eng: EngineProfile) -> str:
    ws = float(reuse_set(ops))
    if eng.use_caches:
        for name, cap, _ in mc.cache_levels:
            if ws <= cap:
                return name
    return mc.device.main_memory.name


# ---- memory footprint and offload -----------------------------------------------------------
@dataclass
class Footprint:
    weights: float
    kv_cache: float
    workspace: float
    runtime: float
    usable: float

    @property
    def total(self) -> float:
        return self.weights + self.kv_cache + self.workspace + self.runtime

    @property
    def fits(self) -> bool:
        return self.total <= self.usable

    @property
    def excess(self) -> float:
        return max(0.0, self.total - self.usable)


def footprint(tb: ModelTables, mc: Machine, eng: EngineProfile, w: Workload, sv: StepVars) -> Footprint:
    """Weights as stored, a KV cache for `batch` sequences of depth + N tokens (sliding-window layers
    hold at most their window) plus each sequence's recurrent state (linear-attention and Mamba
    layers), workspace for one micro-batch (activations, logits, and without flash attention the
    materialised attention scores), and the engine's fixed runtime buffers."""
    mdl = tb.model
    ctx = w.context
    kv = w.batch * ctx * mdl.kv_bytes_per_token(tb.kv_elem_bytes, context=ctx)
    kv += w.batch * tb.recurrent_state_bytes  # linear-attention / Mamba layers: constant per sequence
    t = float(sv.tokens)
    widest = max(mdl.ffn.d_ff or 0, (mdl.moe.top_k * mdl.moe.d_expert) if mdl.moe else 0)
    work = t * (6 * mdl.d_model + 4 * widest) * eng.activation_bytes + float(sv.seqs) * mdl.vocab_size * 4
    flash = eng.flash_attention if w.flash_attention is None else w.flash_attention
    if not flash:
        work += mdl.attention.n_heads * t * float(sv.kv_len) * 4
    return Footprint(
        file_size(mdl, tb.quant), kv, work, eng.runtime_overhead_bytes, mc.device.usable_capacity
    )


@dataclass
class Offload:
    tier: str | None
    bandwidth: float
    bytes_per_step: float
    seconds_per_step: float
    resident_expert_fraction: float | None


def offload(
    mc: Machine, fp: Footprint, ops: list[Operator], locality: float, model: str = "the model"
) -> Offload:
    """When the footprint exceeds usable memory, the excess lives on the offload tier (host RAM over
    PCIe, or storage through mmap) and whatever of it a step touches is fetched, serially, at that
    tier's bandwidth. MoE: experts are the first to go; a resident fraction r of each layer's experts
    stays, and a touched expert misses with probability (1 - r)(1 - locality), locality being the
    chance routing reuses an expert fetched for a recent token. Dense weights beyond that are all
    touched every step."""
    if fp.fits:
        return Offload(None, 0.0, 0.0, 0.0, None)
    excess = fp.excess
    tiers = [t for t in mc.device.offload if t.capacity.value >= excess]
    if not tiers:
        raise SpecError(
            mc.device.id,
            f"{model} needs {fp.total / 2**30:.1f} GiB but the device has "
            f"{fp.usable / 2**30:.1f} GiB usable and no offload tier with "
            f"{excess / 2**30:.1f} GiB free",
            "offload",
        )
    tier = max(tiers, key=lambda t: t.bandwidth.value)
    routed = [o for o in ops if o.kind == "routed_matmul"]
    touched_dense = float(sum(o.weight_bytes for o in ops if o.kind != "routed_matmul"))
    resident = None
    if routed:
        all_experts = float(sum(o.stored_weight_bytes for o in routed))
        touched_exp = float(sum(o.weight_bytes for o in routed))
        resident = max(0.0, 1.0 - excess / all_experts)
        fetched = touched_exp * (1 - resident) * (1 - locality)
        fetched += min(max(0.0, excess - all_experts), touched_dense)
    else:
        fetched = min(excess, touched_dense)
    bw = tier.bandwidth.value
    return Offload(tier.name, bw, fetched, fetched / bw, resident)


def host_seconds(device: Device, n_layers: int, eng: EngineProfile, mc: Machine) -> float:
    """Fixed host work per step: the engine's per-step and per-layer overhead, its per-step kernels
    (embedding and sampling set-up), and the device's per-token host overhead where the spec has one."""
    host = (
        eng.per_step_overhead + eng.per_layer_overhead * n_layers + eng.kernels.per_step * mc.kernel_overhead
    )
    if device.host_overhead_per_token is not None:
        host += device.host_overhead_per_token.value
    return host


__all__ = [
    "Footprint",
    "Machine",
    "Offload",
    "OpTime",
    "StepVars",
    "footprint",
    "offload",
    "op_times",
    "prefill_overheads",
    "resolve_machine",
    "serving_level",
    "step_operators",
    "step_vars",
]
