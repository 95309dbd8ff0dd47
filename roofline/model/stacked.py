"""Many resolved runs under one engine profile at a time: the step cost as arrays.

Calibration costs the same few hundred measured runs under hundreds of candidate profiles that
differ only in what it fits (efficiencies and overheads, engine.PARAMETER_BOUNDS), and an interval
costs each run under 200 profiles drawn from a fit's covariance. Everything else a run's step cost
depends on is fixed once the run is resolved: its operators, the level serving its working set, its
offload time, its host work per layer. `stack` gathers those once into arrays over (run, operator);
`Stacked.tokens_per_second(engine)` then costs every run in a few numpy operations instead of a
Python loop per run and operator.

The arithmetic is cost.op_times', cost.host_seconds', cost.resolve_machine's kernel overhead and
Scenario.step's sum, operation for operation in the same order (the operators of a step are added
one after the other, as `sum` does), so it gives Scenario.tokens_per_second to the last bit.
`Stacked.matches` compares the two; callers check it once and fall back to the per-scenario path
if the cost model ever changes without this module (tests/test_stacked.py fails first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from roofline.model import cost
from roofline.model.engine import EngineProfile
from roofline.model.mathns import NUMPY
from roofline.model.scenario import STRUCTURAL, Scenario


@dataclass(frozen=True)
class Stacked:
    """Runs resolved with engine profiles of one structure; per-operator arrays are (operator slot,
    run), padded with slots that cost nothing (`valid` False), per-run arrays (run,)."""

    scenarios: tuple[Scenario, ...]
    efficiencies: tuple[str, ...]  # the EngineProfile fields operators run at (Operator.efficiency)
    valid: np.ndarray
    flops: np.ndarray
    key_rows: np.ndarray
    dequant_ops: np.ndarray
    weight_bytes: np.ndarray
    kv_bytes: np.ndarray
    act_bytes: np.ndarray
    kernels: np.ndarray
    syncs: np.ndarray
    tile_rows: np.ndarray  # 1 where the operator has no tiles (see `tiled`)
    stream_factor: np.ndarray  # cost.weight_stream_factor (1: the run's serving bandwidth)
    tiled: np.ndarray
    routed: np.ndarray  # routed experts (their tiles fill at expert_half_rows)
    inner: np.ndarray  # Operator.inner of the tiled matmuls (0: none)
    narrow: np.ndarray  # cost.narrow_slowdown (0: none)
    measured_spf: np.ndarray  # cost.expert_seconds_per_flop (0: none)
    matvec: np.ndarray
    float_gemm: np.ndarray  # dequantized to F16 for a float GEMM (the run's build, see cost.op_times)
    f16_bytes: np.ndarray
    peak: np.ndarray  # the peak (FLOP/s) each operator's FLOPs run at
    efficiency: np.ndarray  # index into `efficiencies`
    # per run
    serving_bandwidth: np.ndarray  # main memory's or the cache level's holding the working set
    kv_serving_bandwidth: np.ndarray  # the same, without the engine's streaming limit (the KV cache)
    act_bandwidth: np.ndarray
    vector_peak: np.ndarray
    float_peak: np.ndarray
    dequant_peak: np.ndarray
    launch_latency: np.ndarray  # 0 where the processor lists none
    has_launch_latency: np.ndarray
    is_moe: np.ndarray
    tiled_prefill: np.ndarray  # pays the prefill per-kernel overhead (cost.prefill_overheads)
    n_layers: np.ndarray
    host_per_token: np.ndarray
    has_host_per_token: np.ndarray
    offload_seconds: np.ndarray
    tokens_in_test: np.ndarray
    steps: np.ndarray

    def __len__(self) -> int:
        return len(self.scenarios)

    def tokens_per_second(self, engine: EngineProfile) -> np.ndarray:
        """Each run's throughput under `engine`: Scenario.tokens_per_second(engine), for all runs at
        once. `engine` may differ from the runs' own profiles in efficiencies and overheads (what
        calibration fits and draws), not in what shapes the operators or picks the peaks and memory
        levels (scenario.STRUCTURAL, processor, precisions, use_caches). Terms that
        are zero for an operator (no cached keys, no host round trips, a padding slot) add an exact
        0.0, which changes no sum; non-finite parameters take the branches cost.op_times takes."""
        eng = engine
        bw = self.serving_bandwidth
        r_mem = bw * eng.bandwidth_efficiency
        r_act = self.act_bandwidth * eng.bandwidth_efficiency
        r_kv = self.kv_serving_bandwidth * eng.value("kv_bandwidth_efficiency")
        r_deq = self.dequant_peak * eng.dequant_efficiency
        effs = np.array([eng.value(n) for n in self.efficiencies] or [1.0])
        rate = self.peak * effs[self.efficiency]
        half_m, half_e = eng.value("matmul_half_rows"), eng.value("expert_half_rows")
        if (half_m or half_e) and self.tiled.any():
            half = np.where(self.routed, half_e, half_m)
            filled = self.tiled & (half != 0)
            rate = np.where(filled, rate * self.tile_rows / (self.tile_rows + half), rate)
        if eng.matmul_output_macs is not None and self.tiled.any():
            with_inner = self.tiled & (self.inner > 0)
            inner = np.where(with_inner, self.inner, 1.0)
            rate = np.where(with_inner, rate * inner / (inner + eng.matmul_output_macs), rate)
        if self.narrow.any():  # cost.narrow_slowdown
            rate = np.where(self.tiled & (self.narrow > 0), cost.narrowed(rate, self.narrow), rate)
        if eng.small_batch_efficiency is not None and self.matvec.any():
            rate = np.where(self.matvec, self.vector_peak * eng.small_batch_efficiency, rate)
        key_ops = eng.attention_key_ops
        if np.isfinite(key_ops):
            compute = (self.flops + self.key_rows * key_ops) / rate
        else:
            compute = np.where(
                self.key_rows != 0, (self.flops + self.key_rows * key_ops) / rate, self.flops / rate
            )
        if eng.dequant_cost:
            compute = compute + self.dequant_ops / r_deq
        if self.measured_spf.any():  # cost.expert_seconds_per_flop
            compute = np.where(self.tiled & (self.measured_spf > 0), self.flops * self.measured_spf, compute)
        memory = (
            self.weight_bytes * self.stream_factor / r_mem + self.kv_bytes / r_kv + self.act_bytes / r_act
        )
        extra: Any = 0.0
        if self.float_gemm.any():
            f_compute = self.flops / (self.float_peak * eng.value("float_compute_efficiency"))
            compute = np.where(self.float_gemm, f_compute, compute)
            memory = np.where(self.float_gemm, self.f16_bytes / r_mem + self.act_bytes / r_act, memory)
            extra = np.where(self.float_gemm, (self.weight_bytes + self.f16_bytes) / r_mem, 0.0)
        k_ovh = self.kernel_overhead(eng)
        overhead = self.kernels * k_ovh
        if np.isfinite(eng.sync_latency):
            overhead = overhead + self.syncs * eng.sync_latency
        else:
            overhead = np.where(self.syncs != 0, overhead + self.syncs * eng.sync_latency, overhead)
        times = np.maximum(compute, memory) + extra + overhead
        if not np.all(np.isfinite(k_ovh)):
            times = np.where(self.valid, times, 0.0)
        total = times[0] if len(times) else np.zeros(len(self))
        for t in times[1:]:  # one operator after the other, as Scenario.step adds them
            total = total + t
        host = eng.per_step_overhead + eng.per_layer_overhead * self.n_layers + eng.kernels.per_step * k_ovh
        host = host + self.host_per_token  # 0.0 where the device lists none
        seconds = total + host + self.offload_seconds
        return self.tokens_in_test / (self.steps * seconds)

    def kernel_overhead(self, eng: EngineProfile) -> np.ndarray:
        """Seconds per kernel of each run under `eng` (cost.resolve_machine's rule; 0 where the
        processor lists no launch latency)."""
        if eng.kernel_overhead is not None:
            return np.full(len(self), float(eng.kernel_overhead))
        scale: Any = eng.kernel_overhead_scale
        if eng.moe_kernel_overhead_scale is not None:
            scale = np.where(self.is_moe, eng.moe_kernel_overhead_scale, scale)
        if eng.prefill_kernel_overhead_scale is not None:
            scale = np.where(self.tiled_prefill, eng.prefill_kernel_overhead_scale, scale)
        if np.all(np.isfinite(scale)):
            return self.launch_latency * scale
        return np.where(self.has_launch_latency, self.launch_latency * scale, 0.0)

    def matches(self, engine: EngineProfile, rtol: float = 1e-12) -> bool:
        """Whether the arrays give what Scenario.tokens_per_second gives for every run under
        `engine` (one pass of the per-scenario path)."""
        want = np.array([s.tokens_per_second(engine) for s in self.scenarios])
        got = self.tokens_per_second(engine)
        return bool(np.allclose(got, want, rtol=rtol, atol=0.0))


def stack(scenarios: Sequence[Scenario]) -> Stacked:
    """Gather the runs' fixed numbers once. The runs may be of any devices, models and workloads;
    their engine profiles must agree on the structural fields (they shape the operators)."""
    scens = tuple(scenarios)
    if scens:
        ref = scens[0].engine
        for s in scens[1:]:
            if s.engine is not ref and any(getattr(s.engine, f) != getattr(ref, f) for f in STRUCTURAL):
                raise ValueError("stacked runs must share the engine's structural fields")
    n = len(scens)
    width = max((len(s.ops) for s in scens), default=0)
    effs: list[str] = sorted({o.efficiency for s in scens for o in s.ops})

    def table(fill: float = 0.0) -> np.ndarray:
        return np.full((width, n), fill)

    valid = np.zeros((width, n), dtype=bool)
    flops, key_rows, dequant, wb, kvb, act = table(), table(), table(), table(), table(), table()
    kernels, syncs, tile_rows, peak = table(), table(), table(1.0), table(1.0)
    stream_factor = table(1.0)
    inner, narrow, measured_spf = table(), table(), table()
    tiled = np.zeros((width, n), dtype=bool)
    routed = np.zeros((width, n), dtype=bool)
    matvec = np.zeros((width, n), dtype=bool)
    float_gemm = np.zeros((width, n), dtype=bool)
    f16 = table()
    eff_idx = np.zeros((width, n), dtype=int)
    per_run = {
        k: np.zeros(n)
        for k in (
            "serving_bandwidth",
            "kv_serving_bandwidth",
            "act_bandwidth",
            "vector_peak",
            "float_peak",
            "dequant_peak",
            "launch_latency",
            "n_layers",
            "host_per_token",
            "offload_seconds",
            "tokens_in_test",
            "steps",
        )
    }
    flags = {
        k: np.zeros(n, dtype=bool)
        for k in ("has_launch_latency", "is_moe", "tiled_prefill", "has_host_per_token")
    }
    for i, s in enumerate(scens):
        mc, eng, ops = s.machine, s.engine, list(s.ops)
        ws = float(cost.reuse_set(ops))
        per_run["serving_bandwidth"][i] = bw = _serving_bandwidth(ws, mc, eng)
        for j, o in enumerate(ops):
            stream_factor[j, i] = float(
                cost.weight_stream_factor(o, mc, eng, NUMPY, ws, mc.main_bandwidth, bw)
            )
            valid[j, i] = True
            flops[j, i] = float(o.flops)
            key_rows[j, i] = float(o.key_rows)
            dequant[j, i] = float(o.dequant_ops)
            wb[j, i], kvb[j, i], act[j, i] = float(o.weight_bytes), float(o.kv_bytes), float(o.act_bytes)
            kernels[j, i], syncs[j, i] = float(o.kernels), float(o.syncs)
            if o.tile_rows is not None:
                tiled[j, i], tile_rows[j, i] = bool(o.tiled), float(o.tile_rows)
                inner[j, i] = float(o.inner) if o.inner is not None else 0.0
                narrow[j, i] = cost.narrow_slowdown(o, mc, eng)
                measured_spf[j, i] = cost.expert_seconds_per_flop(o, mc)
            routed[j, i], matvec[j, i] = o.kind == "routed_matmul", bool(o.matvec)
            f16[j, i] = float(o.f16_bytes)
            float_gemm[j, i] = bool(cost.float_gemm(o, eng))
            peak[j, i] = mc.peak(o.peak)
            eff_idx[j, i] = effs.index(o.efficiency)
        per_run["kv_serving_bandwidth"][i] = _serving_bandwidth(ws, mc, eng, streamed=False)
        per_run["act_bandwidth"][i] = mc.act_bandwidth
        per_run["vector_peak"][i] = mc.vector_peak
        per_run["float_peak"][i] = mc.float_peak
        per_run["dequant_peak"][i] = mc.dequant_peak
        latency = mc.processor.launch_latency
        flags["has_launch_latency"][i] = latency is not None
        per_run["launch_latency"][i] = latency.value if latency is not None else 0.0
        flags["is_moe"][i] = s.model.is_moe
        flags["tiled_prefill"][i] = cost.prefill_overheads(eng, s.prefill, s.vars.tokens)
        per_run["n_layers"][i] = s.model.n_layers
        hpt = s.device.host_overhead_per_token
        flags["has_host_per_token"][i] = hpt is not None
        per_run["host_per_token"][i] = hpt.value if hpt is not None else 0.0
        per_run["offload_seconds"][i] = cost.offload(
            mc, s.footprint, ops, s.locality, s.model.id
        ).seconds_per_step
        per_run["tokens_in_test"][i] = s.vars.tokens_in_test
        per_run["steps"][i] = s.vars.steps
    return Stacked(
        scenarios=scens,
        efficiencies=tuple(effs),
        valid=valid,
        flops=flops,
        key_rows=key_rows,
        dequant_ops=dequant,
        weight_bytes=wb,
        kv_bytes=kvb,
        act_bytes=act,
        kernels=kernels,
        syncs=syncs,
        tile_rows=tile_rows,
        stream_factor=stream_factor,
        tiled=tiled,
        routed=routed,
        inner=inner,
        narrow=narrow,
        measured_spf=measured_spf,
        matvec=matvec,
        float_gemm=float_gemm,
        f16_bytes=f16,
        peak=peak,
        efficiency=eff_idx,
        **per_run,
        **flags,
    )


def _serving_bandwidth(ws: float, mc: cost.Machine, eng: EngineProfile, streamed: bool = True) -> float:
    """The bandwidth cost.op_times serves a step's weights (`streamed`: through the engine's
    streaming limit) or its KV cache at, for its working set of `ws` bytes (cost.reuse_set; it does
    not change with what calibration varies)."""
    main = cost.streamed(mc.main_bandwidth, mc) if streamed else mc.main_bandwidth
    return float(cost.serving_bandwidth(ws, mc, eng, NUMPY, main))


__all__ = ["Stacked", "stack"]
