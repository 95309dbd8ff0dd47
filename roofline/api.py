"""The Python API: predict one (device, model, workload), compare several models on a device.

The CLI and the notebooks call these; they return plain dataclasses with `to_json()`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from roofline.errors import WorkloadError
from roofline.model import cost
from roofline.model.engine import EngineProfile, default_engine, load_engine
from roofline.model.mathns import NUMPY
from roofline.model.operators import build_tables, distinct
from roofline.model.routing import bounds, popularity_from_vector, zipf_popularity
from roofline.model.workload import Workload
from roofline.specs.catalog import load_device, load_model
from roofline.specs.hardware import Device
from roofline.specs.model import Model
from roofline.specs.quant import check_quant

Ref = str | os.PathLike[str]


@dataclass
class OpResult:
    op: str
    category: str
    seconds: float
    compute_seconds: float
    memory_seconds: float
    overhead_seconds: float
    flops: float
    bytes: float
    weight_bytes: float
    kv_bytes: float
    kernels: float
    bound: str


@dataclass
class Prediction:
    device: str
    model: str
    quant: str
    engine: str
    workload: Workload
    tokens_per_second: float
    seconds_per_token: float
    step_seconds: float
    bound: str
    breakdown: list[OpResult]
    memory: dict[str, Any]
    energy: dict[str, Any]
    experts: dict[str, Any] | None
    routing_bounds_tokens_per_second: tuple[float, float] | None
    serving_level: str
    warnings: list[str] = field(default_factory=list)
    interval: tuple[float, float] | None = None  # 10th-90th percentile tokens/s (calibrated profiles)

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "model": self.model,
            "quant": self.quant,
            "engine": self.engine,
            "workload": {
                "batch": self.workload.batch,
                "test": self.workload.test,
                "depth": self.workload.depth,
                "phase": self.workload.phase,
            },
            "tokens_per_second": self.tokens_per_second,
            "seconds_per_token": self.seconds_per_token,
            "step_seconds": self.step_seconds,
            "bound": self.bound,
            "breakdown": [vars(o) for o in self.breakdown],
            "memory": self.memory,
            "energy": self.energy,
            "experts": self.experts,
            "routing_bounds_tokens_per_second": (
                list(self.routing_bounds_tokens_per_second) if self.routing_bounds_tokens_per_second else None
            ),
            "serving_level": self.serving_level,
            "warnings": self.warnings,
            "interval_tokens_per_second": list(self.interval) if self.interval else None,
        }

    def terms(self) -> dict[str, float]:
        """Step time split by physical cause: streaming weights, reading/writing the KV cache,
        moving activations, compute, fixed overheads (launches, syncs, host work), offload.
        An operator's max(compute, memory) goes to its bound; memory time is shared between
        weights, KV and activations by their bytes."""
        out = dict.fromkeys(("weights", "kv", "activations", "compute", "overhead", "offload"), 0.0)
        for o in self.breakdown:
            if o.op == "offload":
                out["offload"] += o.seconds
                continue
            out["overhead"] += o.overhead_seconds
            body = o.seconds - o.overhead_seconds
            if o.compute_seconds > o.memory_seconds:
                out["compute"] += body
            elif o.bytes > 0:
                out["weights"] += body * o.weight_bytes / o.bytes
                out["kv"] += body * o.kv_bytes / o.bytes
                out["activations"] += body * (o.bytes - o.weight_bytes - o.kv_bytes) / o.bytes
        return out

    def by_category(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for o in self.breakdown:
            key = "overhead" if o.op == "host_overhead" else o.category
            out[key] = out.get(key, 0.0) + o.seconds
        return out


def _bound(compute: float, memory: float, overhead: float) -> str:
    return max((("memory", memory), ("compute", compute), ("overhead", overhead)), key=lambda kv: kv[1])[0]


def predict(
    device: Ref | Device,
    model: Ref | Model,
    workload: Workload | None = None,
    *,
    engine: Ref | EngineProfile | None = None,
    quant: str = "Q4_K_M",
    kv_dtype: str = "f16",
    routing_skew: float = 0.0,
    routing_popularity: list[float] | None = None,
    locality: float = 0.0,
) -> Prediction:
    """Predict throughput, per-operator time, memory footprint and energy of `model` on `device`.

    `routing_skew` (Zipf exponent, 0 = uniform) or `routing_popularity` (a per-expert histogram)
    describe non-uniform routing; `locality` is the chance a routed expert was fetched for a recent
    token (it only matters when experts are offloaded)."""
    dev, mdl = load_device(device), load_model(model)
    w = workload or Workload()
    eng = load_engine(engine if engine is not None else default_engine(dev))
    quant = check_quant(quant)
    if not 0 <= locality <= 1:
        raise WorkloadError(f"locality must be within [0, 1], got {locality}")
    pop = None
    if mdl.moe is not None:
        if routing_popularity is not None:
            if len(routing_popularity) != mdl.moe.n_experts:
                raise WorkloadError(
                    f"routing popularity has {len(routing_popularity)} entries; "
                    f"{mdl.id} has {mdl.moe.n_experts} experts"
                )
            pop = popularity_from_vector(routing_popularity, mdl.moe.top_k)
        elif routing_skew:
            pop = zipf_popularity(mdl.moe.n_experts, mdl.moe.top_k, routing_skew)
    tb = build_tables(mdl, quant, kv_dtype, pop)
    mc = cost.resolve_machine(dev, eng, mdl.is_moe)
    sv = cost.step_vars(w, eng, NUMPY)
    sv = cost.StepVars(
        *(
            float(np.asarray(getattr(sv, f)))
            for f in ("tokens", "seqs", "keys", "kv_len", "steps", "tokens_in_test")
        )
    )
    fp = cost.footprint(tb, mc, eng, w, sv)

    def run(n_touched: float | None = None) -> tuple[list[cost.OpTime], float, float, cost.Offload, str]:
        ops = cost.step_operators(tb, eng, NUMPY, sv.tokens, sv.seqs, sv.keys, sv.kv_len, n_touched)
        times = cost.op_times(ops, mc, eng, NUMPY, mc.main_bandwidth)
        host = cost.host_seconds(dev, mdl.n_layers, eng, mc)
        off = cost.offload(tb, mc, fp, ops, locality)
        step = float(sum(float(t.seconds) for t in times)) + host + off.seconds_per_step
        return times, step, host, off, cost.serving_level(ops, mc, eng)

    times, step, host, off, level = run()
    tps = sv.tokens_in_test / (sv.steps * step)
    breakdown = [
        OpResult(
            t.op.name,
            t.op.category,
            float(t.seconds),
            float(t.compute),
            float(t.memory),
            float(t.overhead),
            float(t.op.flops),
            float(t.op.bytes),
            float(t.op.weight_bytes),
            float(t.op.kv_bytes),
            float(t.op.kernels),
            _bound(float(t.compute), float(t.memory), float(t.overhead)),
        )
        for t in times
    ]
    breakdown.append(
        OpResult(
            "host_overhead",
            "overhead",
            host,
            0.0,
            0.0,
            host,
            0.0,
            0.0,
            0.0,
            0.0,
            float(eng.kernels.per_step),
            "overhead",
        )
    )
    if off.tier is not None:
        breakdown.append(
            OpResult(
                "offload",
                "offload",
                off.seconds_per_step,
                0.0,
                off.seconds_per_step,
                0.0,
                0.0,
                off.bytes_per_step,
                off.bytes_per_step,
                0.0,
                0.0,
                "memory",
            )
        )
    totals = {"memory": 0.0, "compute": 0.0, "overhead": 0.0}
    for o in breakdown:
        totals[o.bound] += o.seconds
    bound = max(totals, key=lambda k: totals[k])

    experts = rb = None
    if mdl.moe is not None:
        lo, hi = bounds(sv.tokens, mdl.moe.n_experts, mdl.moe.top_k)
        experts = {
            "expected_distinct_per_layer": float(distinct(tb, sv.tokens)),
            "lower": lo,
            "upper": hi,
            "tokens_per_step": sv.tokens,
            "routing": "popularity"
            if routing_popularity is not None
            else (f"zipf({routing_skew})" if routing_skew else "uniform"),
        }
        t_lo = run(lo)[1]
        t_hi = run(hi)[1]
        rb = (sv.tokens_in_test / (sv.steps * t_hi), sv.tokens_in_test / (sv.steps * t_lo))

    em = cost.energy_model(dev, eng.compute_precision)
    dram = (
        float(sum(float(t.op.weight_bytes + t.op.kv_bytes) for t in times))
        if level == dev.main_memory.name
        else 0.0
    )
    flops = float(sum(float(t.op.flops) for t in times))
    e_step = cost.energy_per_step(em, step, dram, flops)
    tokens_per_step = sv.tokens_in_test / sv.steps
    watts = e_step / step
    notes = list(em.notes)
    if watts > em.max_watts:
        notes.append(
            f"modelled power {watts:.1f} W exceeds the spec's max {em.max_watts:.1f} W: "
            "energy per byte/FLOP defaults are too high for this device"
        )
    energy = {
        "joules_per_token": e_step / tokens_per_step,
        "average_watts": watts,
        "static_watts": em.static_watts,
        "dram_joules_per_byte": em.joules_per_byte,
        "joules_per_flop": em.joules_per_flop,
        "memory_technology": em.memory_technology,
        "estimated": True,
        "notes": notes,
    }
    memory = {
        "weights_bytes": fp.weights,
        "kv_cache_bytes": fp.kv_cache,
        "workspace_bytes": fp.workspace,
        "runtime_bytes": fp.runtime,
        "total_bytes": fp.total,
        "usable_bytes": fp.usable,
        "fits": fp.fits,
        "offload_tier": off.tier,
        "offload_bytes_per_step": off.bytes_per_step,
        "resident_expert_fraction": off.resident_expert_fraction,
    }
    warnings = list(mc.warnings)
    if not fp.fits:
        warnings.append(
            f"{mdl.id} ({fp.total / 2**30:.2f} GiB) does not fit in {dev.id}'s "
            f"{fp.usable / 2**30:.2f} GiB usable memory: {off.bytes_per_step / 1e9:.2f} GB "
            f"per step come from {off.tier}"
        )
    interval = None
    if eng.calibration:
        from roofline.validation.calibrate import interval as calibrated_interval
        from roofline.validation.calibrate import outside_range, scenario_from

        lo_hi = calibrated_interval(scenario_from(dev, mdl, eng, tb, w, sv, fp), eng)
        interval = (lo_hi[0], lo_hi[2]) if lo_hi[2] > lo_hi[0] else None
        warnings += outside_range(eng, dev.id, mdl.id, w)
    return Prediction(
        dev.id,
        mdl.id,
        quant,
        eng.name,
        w,
        tps,
        1.0 / tps if w.phase == "prefill" else step,
        step,
        bound,
        breakdown,
        memory,
        energy,
        experts,
        rb,
        level,
        warnings,
        interval,
    )


@dataclass
class Comparison:
    device: str
    predictions: list[Prediction]
    ratio: float
    verdict: str
    ranking: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "predictions": [p.to_json() for p in self.predictions],
            "ratio": self.ratio,
            "ranking": self.ranking,
            "verdict": self.verdict,
        }


def _per_token(p: Prediction, attr: str) -> float:
    tokens = p.workload.batch if p.workload.phase == "decode" else p.tokens_per_second * p.step_seconds
    return sum(getattr(o, attr) for o in p.breakdown) / tokens


def _ratio_text(x: float) -> str:
    return f"{x:.2f}x" if x < 10 else f"{x:.0f}x"


def verdict(a: Prediction, b: Prediction) -> str:
    """One paragraph: who is faster by how much, what bounds each, and the terms that decide it."""
    r = a.tokens_per_second / b.tokens_per_second
    w = a.workload
    head = (
        f"{a.model} is {r:.2f}x {b.model} on {a.device} ({w.test}, depth {w.depth}, batch {w.batch}, "
        f"{a.quant}, {a.engine})"
    )
    bounds = (
        f"both {a.bound}-bound"
        if a.bound == b.bound
        else f"{a.model} is {a.bound}-bound, {b.model} {b.bound}-bound"
    )
    parts = [
        f"{a.model} reads {_ratio_text(_per_token(a, 'weight_bytes') / _per_token(b, 'weight_bytes'))} "
        f"the weight bytes"
    ]
    kv_a, kv_b = _per_token(a, "kv_bytes"), _per_token(b, "kv_bytes")
    if kv_b > 0:
        parts.append(f"{_ratio_text(kv_a / kv_b)} the KV bytes")
    parts.append(f"{_ratio_text(_per_token(a, 'flops') / _per_token(b, 'flops'))} the FLOPs")
    parts.append(
        f"launches {_ratio_text(_per_token(a, 'kernels') / _per_token(b, 'kernels'))} the kernels per token"
    )
    ta, tb_ = a.terms(), b.terms()
    diffs = {k: ta[k] - tb_[k] for k in ta}
    slower = a if a.step_seconds > b.step_seconds else b
    sign = 1 if slower is a else -1
    top = sorted(diffs.items(), key=lambda kv: -sign * kv[1])[:2]
    deciding = ", ".join(f"{k} ({sign * v * 1e3:+.2f} ms/step)" for k, v in top if sign * v > 0)
    mem = []
    for p in (a, b):
        if not p.memory["fits"]:
            mem.append(
                f"{p.model} does not fit ({p.memory['total_bytes'] / 2**30:.1f} GiB of "
                f"{p.memory['usable_bytes'] / 2**30:.1f} usable) and streams from {p.memory['offload_tier']}"
            )
    text = f"{head}: {bounds}; " + ", ".join(parts) + "."
    if deciding:
        text += f" {slower.model} spends more time on {deciding}."
    if a.routing_bounds_tokens_per_second:
        lo, hi = a.routing_bounds_tokens_per_second
        text += (
            f" Routing bounds for {a.model}: {lo / b.tokens_per_second:.2f}x-{hi / b.tokens_per_second:.2f}x."
        )
    if mem:
        text += " " + "; ".join(mem) + "."
    return text


def compare(
    device: Ref | Device, models: list[Ref | Model], workload: Workload | None = None, **kwargs: Any
) -> Comparison:
    """Predict every model on one device; ratio and verdict are the first model against the second."""
    if len(models) < 2:
        raise WorkloadError("compare needs at least two models")
    preds = [predict(device, m, workload, **kwargs) for m in models]
    ranking = [p.model for p in sorted(preds, key=lambda p: -p.tokens_per_second)]
    return Comparison(
        preds[0].device,
        preds,
        preds[0].tokens_per_second / preds[1].tokens_per_second,
        verdict(preds[0], preds[1]),
        ranking,
    )
