"""One path from specs to a step's cost: resolve a run once, evaluate it with numpy or sympy.

`resolve` turns a device, a model (ids, paths or spec objects), a workload, a quantization and an
engine into a frozen `Scenario`: the model's tables under the quantization, the machine as the
engine sees it, the step variables and the memory footprint. `Scenario.step` costs one step from
the same functions for every caller: `predict` (numpy, one point), calibration (numpy, one point,
many engine profiles) and the symbolic tools (sympy, with the batch B, the KV depth D and the
main-memory bandwidth W as symbols; those leave out offload, which needs a number to compare
against capacity).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from roofline.errors import WorkloadError
from roofline.model import cost
from roofline.model.engine import EngineProfile, default_engine, load_engine
from roofline.model.mathns import NUMPY, SYMPY
from roofline.model.operators import ModelTables, Operator, build_tables, step_operators
from roofline.model.routing import popularity_from_vector, zipf_popularity
from roofline.model.workload import Workload
from roofline.specs.catalog import load_device, load_model
from roofline.specs.hardware import Device
from roofline.specs.model import Model
from roofline.specs.quant import check_quant

Ref = str | os.PathLike[str]

#: Engine fields that shape the operators, the step variables or the footprint. An engine that
#: differs from a scenario's only elsewhere (efficiencies, overheads: what calibration varies) is
#: costed on the scenario as resolved; one that differs here is resolved anew.
STRUCTURAL = (
    "activation_bytes",
    "narrow_gemm_types",
    "kernels",
    "prefill_kernels",
    "decode_kernels_max_tokens",
    "moe_dispatch",
    "moe_syncs_per_layer",
    "ubatch",
    "flash_attention",
    "runtime_overhead_bytes",
    "gemm_types",
    "expert_gemm",
    # they set the machine's peaks and streaming limit, which a stack gathers once per run
    "matmul_vector_ratio",
    "stream_bytes_per_cycle",
    "stream_type_ratio",
    "matmul_output_macs",
)

#: The quantization a run uses when neither the caller nor the model spec names one.
DEFAULT_QUANT = "Q4_K_M"

#: The symbols of the sympy evaluation, by the variable each stands for.
SYMBOL_NAMES = {"batch": "B", "depth": "D", "bandwidth": "W"}


@dataclass(frozen=True)
class Step:
    """The cost of one forward step: per-operator times, host overhead, offload (None in a symbolic
    step) and their sum; `tokens_per_second` is the test's throughput at this step time."""

    times: tuple[cost.OpTime, ...]
    host_seconds: Any
    offload: cost.Offload | None
    seconds: Any
    tokens_per_second: Any
    serving_level: str | None  # the memory level serving weights and KV (None in a symbolic step)


@dataclass(frozen=True)
class Scenario:
    """A run resolved once: everything the cost of its step depends on, as plain numbers."""

    device: Device
    model: Model
    engine: EngineProfile
    workload: Workload
    quant: str
    kv_dtype: str
    tables: ModelTables
    machine: cost.Machine
    vars: cost.StepVars  # at the workload's own batch and depth, as floats
    footprint: cost.Footprint
    ops: tuple[Operator, ...]  # the step's operators with the expected experts touched
    locality: float = 0.0
    routing: str = "uniform"
    build: int | None = None  # the engine build the run used, where known (EngineProfile.for_build)

    def step(
        self,
        math: Any = NUMPY,
        *,
        engine: EngineProfile | None = None,
        n_touched: Any = None,
        bandwidth: float | None = None,
    ) -> Step:
        """The step's cost under `engine` (default: the scenario's), evaluated with `math` (NUMPY or
        SYMPY). `n_touched` fixes the distinct experts per MoE layer (routing bounds); `bandwidth`
        replaces the main memory's (what the symbol W stands for in a symbolic step)."""
        eng = self.engine if engine is None else engine.for_build(self.build)
        if any(getattr(eng, f) != getattr(self.engine, f) for f in STRUCTURAL):
            return self._with_engine(eng).step(math, n_touched=n_touched, bandwidth=bandwidth)
        mc = (
            self.machine
            if eng is self.engine
            else cost.resolve_machine(
                self.device,
                eng,
                self.model.is_moe,
                cost.prefill_overheads(eng, self.prefill, self.vars.tokens),
            )
        )
        if math.symbolic:
            return self._symbolic_step(math, eng, mc, n_touched)
        sv = self.vars
        ops = self.ops
        if n_touched is not None:
            ops = tuple(
                step_operators(
                    self.tables, eng, NUMPY, *_shape_vars(sv), n_touched, self.prefill, self.flash_attention
                )
            )
        times = cost.op_times(
            list(ops), mc, eng, NUMPY, mc.main_bandwidth if bandwidth is None else bandwidth
        )
        host = cost.host_seconds(self.device, self.model.n_layers, eng, mc)
        off = cost.offload(mc, self.footprint, list(ops), self.locality, self.model.id)
        seconds = float(sum(float(t.seconds) for t in times)) + host + off.seconds_per_step
        return Step(
            times=tuple(times),
            host_seconds=host,
            offload=off,
            seconds=seconds,
            tokens_per_second=sv.tokens_in_test / (sv.steps * seconds),
            serving_level=cost.serving_level(list(ops), mc, eng),
        )

    @property
    def prefill(self) -> bool:
        return self.workload.phase == "prefill"

    @property
    def flash_attention(self) -> bool:
        """Whether the attention core runs as one flash-attention kernel: the workload's setting,
        else the engine's default."""
        fa = self.workload.flash_attention
        return self.engine.flash_attention if fa is None else fa

    def tokens_per_second(self, engine: EngineProfile | None = None) -> float:
        return float(self.step(engine=engine).tokens_per_second)

    def symbols(self) -> dict[str, Any]:
        """The sympy symbols of a symbolic step, by variable (batch, depth, bandwidth)."""
        import sympy

        return {k: sympy.Symbol(v, positive=True) for k, v in SYMBOL_NAMES.items()}

    def values(self) -> dict[str, float]:
        """The workload's own values of the symbols."""
        return {
            "batch": float(self.workload.batch),
            "depth": float(self.workload.depth),
            "bandwidth": self.machine.main_bandwidth,
        }

    def _symbolic_step(self, m: Any, eng: EngineProfile, mc: cost.Machine, n_touched: Any) -> Step:
        import sympy

        sym = self.symbols()
        # The working set grows with B and D, so a level too small at B = 1, D = 0 never serves it:
        # drop such levels from the expression (same value, shorter formula).
        smallest = cost.step_vars(
            Workload(test=self.workload.test, flash_attention=self.workload.flash_attention), eng, NUMPY
        ).to_floats()
        ws_min = float(
            sum(
                o.weight_bytes + o.kv_bytes
                for o in step_operators(
                    self.tables, eng, NUMPY, *_shape_vars(smallest), None, self.prefill, self.flash_attention
                )
            )
        )
        mc = dataclasses.replace(mc, cache_levels=tuple(lv for lv in mc.cache_levels if lv[1] >= ws_min))
        sv = cost.step_vars(self.workload, eng, m, batch=sym["batch"], depth=sym["depth"])
        ops = step_operators(
            self.tables, eng, m, *_shape_vars(sv), n_touched, self.prefill, self.flash_attention
        )
        times = cost.op_times(ops, mc, eng, m, sym["bandwidth"])
        host = cost.host_seconds(self.device, self.model.n_layers, eng, mc)
        seconds = sum((t.seconds for t in times), sympy.Integer(0)) + host
        return Step(
            times=tuple(times),
            host_seconds=host,
            offload=None,
            seconds=seconds,
            tokens_per_second=sv.tokens_in_test / (sv.steps * seconds),
            serving_level=None,
        )

    def at(self, workload: Workload) -> Scenario:
        """The same run at another workload (the tables and engine are reused, nothing reloaded)."""
        return _build(
            self.device,
            self.model,
            workload,
            self.engine,
            self.tables,
            self.locality,
            self.routing,
            self.build,
        )

    def footprint_at(self, workload: Workload) -> cost.Footprint:
        """The memory footprint at another workload, without costing its step."""
        sv = cost.step_vars(workload, self.engine, NUMPY).to_floats()
        return cost.footprint(self.tables, self.machine, self.engine, workload, sv)

    def _with_engine(self, eng: EngineProfile) -> Scenario:
        return _build(
            self.device, self.model, self.workload, eng, self.tables, self.locality, self.routing, self.build
        )


def _shape_vars(sv: cost.StepVars) -> tuple[Any, Any, Any, Any]:
    return sv.tokens, sv.seqs, sv.keys, sv.kv_len


def resolve(
    device: Ref | Device,
    model: Ref | Model,
    workload: Workload | None = None,
    *,
    engine: Ref | EngineProfile | None = None,
    quant: str | None = None,
    kv_dtype: str = "f16",
    routing_skew: float = 0.0,
    routing_popularity: list[float] | None = None,
    locality: float = 0.0,
    build: int | None = None,
) -> Scenario:
    """Load and check the specs and resolve the run (quant None: the model's published format,
    else DEFAULT_QUANT). `build`: the engine build the run used, where known (the profile's
    build_variants describe what older builds did). `routing_skew` (Zipf exponent, 0 = uniform) or
    `routing_popularity` (a per-expert histogram) describe non-uniform routing; `locality` is the
    chance a routed expert was fetched for a recent token (it only matters when experts are
    offloaded)."""
    dev, mdl = load_device(device), load_model(model)
    eng = load_engine(engine if engine is not None else default_engine(dev))
    quant = check_quant(quant or mdl.default_quant or DEFAULT_QUANT)
    if not 0 <= locality <= 1:
        raise WorkloadError(f"locality must be within [0, 1], got {locality}")
    pop, routing = None, "uniform"
    if mdl.moe is not None:
        if routing_popularity is not None:
            if len(routing_popularity) != mdl.moe.n_experts:
                raise WorkloadError(
                    f"routing popularity has {len(routing_popularity)} entries; "
                    f"{mdl.id} has {mdl.moe.n_experts} experts"
                )
            pop, routing = popularity_from_vector(routing_popularity, mdl.moe.top_k), "popularity"
        elif routing_skew:
            pop = zipf_popularity(mdl.moe.n_experts, mdl.moe.top_k, routing_skew)
            routing = f"zipf({routing_skew})"
    tables = build_tables(mdl, quant, kv_dtype, pop)
    return _build(dev, mdl, workload or Workload(), eng.for_build(build), tables, locality, routing, build)


def _build(
    dev: Device,
    mdl: Model,
    w: Workload,
    eng: EngineProfile,
    tables: ModelTables,
    locality: float,
    routing: str,
    build: int | None = None,
) -> Scenario:
    prefill = w.phase == "prefill"
    flash = eng.flash_attention if w.flash_attention is None else w.flash_attention
    sv = cost.step_vars(w, eng, NUMPY).to_floats()
    mc = cost.resolve_machine(dev, eng, mdl.is_moe, cost.prefill_overheads(eng, prefill, sv.tokens))
    return Scenario(
        device=dev,
        model=mdl,
        engine=eng,
        workload=w,
        quant=tables.quant,
        kv_dtype=tables.kv_dtype,
        tables=tables,
        machine=mc,
        vars=sv,
        footprint=cost.footprint(tables, mc, eng, w, sv),
        ops=tuple(step_operators(tables, eng, NUMPY, *_shape_vars(sv), None, prefill, flash)),
        locality=locality,
        routing=routing,
        build=build,
    )


__all__ = ["NUMPY", "SYMPY", "Scenario", "Step", "resolve"]
