"""What a prediction reports, as typed results built from a resolved Scenario and its Step.

`OpCost` (one operator's share of the step), `Memory` (the footprint and offload), `Energy`,
`Experts` (how many experts a step touches) and `Prediction` (all of it). Each has `to_json()`;
every JSON output of the tool comes from these, and their keys are the tool's JSON contract.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from roofline.model.energy import energy_model, energy_per_step
from roofline.model.operators import distinct
from roofline.model.routing import bounds
from roofline.model.scenario import Scenario, Step
from roofline.model.workload import Workload


def _json(obj: Any) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(obj).items()}


@dataclass(frozen=True)
class OpCost:
    """One operator's time in a step (summed over the layers it spans), what bounds it, and the
    FLOPs, bytes and kernels behind it. Step-level costs appear as operators too: `host_overhead`
    (per-step host work) and `offload` (weights fetched from the offload tier)."""

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
    bound: str  # memory, compute or overhead: the largest of the three times

    def to_json(self) -> dict[str, Any]:
        return _json(self)


@dataclass(frozen=True)
class Memory:
    """Footprint (bytes) against the device's usable memory, and what a step fetches from the
    offload tier when the model does not fit."""

    weights_bytes: float
    kv_cache_bytes: float
    workspace_bytes: float
    runtime_bytes: float
    total_bytes: float
    usable_bytes: float
    fits: bool
    offload_tier: str | None
    offload_bytes_per_step: float
    resident_expert_fraction: float | None
    recurrent_state_bytes: float = 0.0  # part of kv_cache_bytes: linear-attention / Mamba state

    def to_json(self) -> dict[str, Any]:
        return _json(self)


@dataclass(frozen=True)
class Energy:
    """Energy per token from idle power x time, busy power x kernel time, DRAM bytes and FLOPs
    (model/energy.py); literature figures times factors fitted on one device's measured power,
    hence `estimated`."""

    joules_per_token: float
    average_watts: float
    static_watts: float
    dram_joules_per_byte: float
    joules_per_flop: float
    memory_technology: str | None
    estimated: bool = True
    notes: tuple[str, ...] = ()
    busy_watts: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return _json(self)


@dataclass(frozen=True)
class Experts:
    """Distinct experts a MoE layer reads per step: expected under the routing model, and the
    bounds (all tokens agree: k; no two share: min(N k, E))."""

    expected_distinct_per_layer: float
    lower: float
    upper: float
    tokens_per_step: float
    routing: str  # uniform, zipf(s) or popularity

    def to_json(self) -> dict[str, Any]:
        return _json(self)


@dataclass(frozen=True)
class Prediction:
    """Throughput, per-operator time, memory footprint and energy of one model on one device."""

    device: str
    model: str
    quant: str
    engine: str
    workload: Workload
    tokens_per_second: float
    seconds_per_token: float
    step_seconds: float
    bound: str
    breakdown: tuple[OpCost, ...]
    memory: Memory
    energy: Energy
    experts: Experts | None
    routing_bounds_tokens_per_second: tuple[float, float] | None  # (worst, best) routing
    serving_level: str
    warnings: tuple[str, ...] = ()
    interval: tuple[float, float] | None = None  # 10th-90th percentile tokens/s (calibrated profiles)
    layers: dict[str, int] = dataclasses.field(default_factory=dict)  # token mixer -> layers running it
    # what the device spec lacks for this engine and what stood in for it (e.g. no int8 peak: the
    # fp16 one); the same for every prediction on the device, so `specs show` prints it, not predict
    spec_notes: tuple[str, ...] = ()
    # what the engine profile was calibrated on ("474 measured rows", "microbenchmarks of rtx-4090");
    # "" for a profile without a `calibration` block (the bundled ones: estimates, or fitted offline
    # with the fit described in their provenance)
    calibrated_on: str = ""

    def to_json(self) -> dict[str, Any]:
        w = self.workload
        rb = self.routing_bounds_tokens_per_second
        return {
            "device": self.device,
            "model": self.model,
            "quant": self.quant,
            "engine": self.engine,
            "workload": {"batch": w.batch, "test": w.test, "depth": w.depth, "phase": w.phase},
            "tokens_per_second": self.tokens_per_second,
            "seconds_per_token": self.seconds_per_token,
            "step_seconds": self.step_seconds,
            "bound": self.bound,
            "breakdown": [o.to_json() for o in self.breakdown],
            "memory": self.memory.to_json(),
            "energy": self.energy.to_json(),
            "experts": self.experts.to_json() if self.experts else None,
            "routing_bounds_tokens_per_second": list(rb) if rb else None,
            "serving_level": self.serving_level,
            "warnings": list(self.warnings),
            "interval_tokens_per_second": list(self.interval) if self.interval else None,
            "layers": dict(self.layers),
            "spec_notes": list(self.spec_notes),
            "calibrated_on": self.calibrated_on,
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


# ---- from a scenario and its step ---------------------------------------------------------------
def bound_of(compute: float, memory: float, overhead: float) -> str:
    """What bounds an operator: the largest of its compute, memory and overhead times."""
    return max((("memory", memory), ("compute", compute), ("overhead", overhead)), key=lambda kv: kv[1])[0]


def op_costs(scn: Scenario, step: Step) -> tuple[OpCost, ...]:
    """The step's operators, then its host overhead and (when the model does not fit) offload."""
    out = [
        OpCost(
            op=t.op.name,
            category=t.op.category,
            seconds=float(t.seconds),
            compute_seconds=float(t.compute),
            memory_seconds=float(t.memory),
            overhead_seconds=float(t.overhead),
            flops=float(t.op.flops),
            bytes=float(t.op.bytes),
            weight_bytes=float(t.op.weight_bytes),
            kv_bytes=float(t.op.kv_bytes),
            kernels=float(t.op.kernels),
            bound=bound_of(float(t.compute), float(t.memory), float(t.overhead)),
        )
        for t in step.times
    ]
    host = float(step.host_seconds)
    out.append(
        OpCost(
            op="host_overhead",
            category="overhead",
            seconds=host,
            compute_seconds=0.0,
            memory_seconds=0.0,
            overhead_seconds=host,
            flops=0.0,
            bytes=0.0,
            weight_bytes=0.0,
            kv_bytes=0.0,
            kernels=float(scn.engine.kernels.per_step),
            bound="overhead",
        )
    )
    off = step.offload
    if off is not None and off.tier is not None:
        out.append(
            OpCost(
                op="offload",
                category="offload",
                seconds=off.seconds_per_step,
                compute_seconds=0.0,
                memory_seconds=off.seconds_per_step,
                overhead_seconds=0.0,
                flops=0.0,
                bytes=off.bytes_per_step,
                weight_bytes=off.bytes_per_step,
                kv_bytes=0.0,
                kernels=0.0,
                bound="memory",
            )
        )
    return tuple(out)


def step_bound(breakdown: tuple[OpCost, ...]) -> str:
    """What bounds the whole step: the class (memory, compute, overhead) with the most time."""
    totals = {"memory": 0.0, "compute": 0.0, "overhead": 0.0}
    for o in breakdown:
        totals[o.bound] += o.seconds
    return max(totals, key=lambda k: totals[k])


def memory(scn: Scenario, step: Step) -> Memory:
    fp, off = scn.footprint, step.offload
    assert off is not None, "memory needs a numeric step"
    return Memory(
        weights_bytes=fp.weights,
        kv_cache_bytes=fp.kv_cache,
        workspace_bytes=fp.workspace,
        runtime_bytes=fp.runtime,
        total_bytes=fp.total,
        usable_bytes=fp.usable,
        fits=fp.fits,
        offload_tier=off.tier,
        offload_bytes_per_step=off.bytes_per_step,
        resident_expert_fraction=off.resident_expert_fraction,
        recurrent_state_bytes=scn.workload.batch * scn.tables.recurrent_state_bytes,
    )


def layer_mixers(scn: Scenario) -> dict[str, int]:
    """How many layers run each token mixer (attention, linear_attention, mamba)."""
    out: dict[str, int] = {}
    for i in range(scn.model.n_layers):
        mixer = scn.model.mixer(i)
        if mixer is not None:
            out[mixer] = out.get(mixer, 0) + 1
    return out


def energy_inputs(scn: Scenario, step: Step) -> tuple[float, float, float]:
    """What a step's energy depends on besides its time: main-memory bytes (only when main memory
    serves the step, not an on-chip level), FLOPs, and the seconds kernels run (not host overhead,
    not offload)."""
    dram = (
        float(sum(float(t.op.weight_bytes + t.op.kv_bytes) for t in step.times))
        if step.serving_level == scn.device.main_memory.name
        else 0.0
    )
    flops = float(sum(float(t.op.flops) for t in step.times))
    busy = float(sum(float(t.seconds) for t in step.times))
    return dram, flops, busy


def energy(scn: Scenario, step: Step) -> Energy:
    dev, sv = scn.device, scn.vars
    em = energy_model(dev, scn.engine.compute_precision)
    dram, flops, busy = energy_inputs(scn, step)
    e_step = energy_per_step(em, step.seconds, busy, dram, flops)
    watts = e_step / step.seconds
    notes = list(em.notes)
    if watts > em.max_watts:
        # a device cannot draw more than its power limit: it clocks down instead (the time model
        # does not follow it there), so the energy is capped at max power x time
        notes.append(
            f"modelled power {watts:.1f} W exceeds the spec's max {em.max_watts:.1f} W and is capped there: "
            "the energy factors (fitted on another device) are too high for this one, or it throttles"
        )
        watts = em.max_watts
        e_step = watts * step.seconds
    return Energy(
        joules_per_token=e_step / (sv.tokens_in_test / sv.steps),
        average_watts=watts,
        static_watts=em.static_watts,
        dram_joules_per_byte=em.joules_per_byte,
        joules_per_flop=em.joules_per_flop,
        memory_technology=em.memory_technology,
        notes=tuple(notes),
        busy_watts=em.busy_watts,
    )


def experts(scn: Scenario) -> tuple[Experts, tuple[float, float]] | None:
    """Distinct experts per MoE layer, and the throughput at the routing bounds (worst, best)."""
    moe = scn.model.moe
    if moe is None:
        return None
    tokens = scn.vars.tokens
    lo, hi = bounds(tokens, moe.n_experts, moe.top_k)
    summary = Experts(
        expected_distinct_per_layer=float(distinct(scn.tables, tokens)),
        lower=lo,
        upper=hi,
        tokens_per_step=tokens,
        routing=scn.routing,
    )
    return summary, (scn.step(n_touched=hi).tokens_per_second, scn.step(n_touched=lo).tokens_per_second)


def fit_warning(scn: Scenario, step: Step) -> list[str]:
    fp, off = scn.footprint, step.offload
    if fp.fits or off is None:
        return []
    return [
        f"{scn.model.id} ({fp.total / 2**30:.2f} GiB) does not fit in {scn.device.id}'s "
        f"{fp.usable / 2**30:.2f} GiB usable memory: {off.bytes_per_step / 1e9:.2f} GB "
        f"per step come from {off.tier}"
    ]


def context_warning(scn: Scenario) -> list[str]:
    limit, ctx = scn.model.max_context, scn.workload.context
    if limit is None or ctx <= limit:
        return []
    return [f"depth + test = {ctx} tokens exceeds {scn.model.id}'s maximum context of {limit}"]
