"""Schema of a device: memory levels, offload tiers, processors with peak compute, power.

Every figure is a `Sourced` in SI units. Derived quantities (ridge points, the hierarchy a processor
sees) are computed here, never stored in the files.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from roofline.specs.sourced import (
    Bandwidth,
    Capacity,
    Compute,
    Count,
    Frequency,
    Frozen,
    Power,
    Sourced,
    Time,
)

Precision = Literal["fp32", "tf32", "fp16", "bf16", "fp8", "int8", "int4", "fp4"]
PRECISIONS: tuple[str, ...] = ("fp32", "tf32", "fp16", "bf16", "fp8", "int8", "int4", "fp4")
KEBAB = re.compile(r"^[a-z0-9]+(?:[.-][a-z0-9]+)*$")
ENGINE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")  # a bundled profile's name


class MemoryLevel(Frozen):
    """A level that holds data: main memory, a shared cache (SLC, Infinity Cache) or a private cache."""

    name: str
    capacity: Capacity
    bandwidth: Bandwidth | None = None  # required for main memory; caches often have no published figure
    usable_capacity: Capacity | None = None

    @model_validator(mode="after")
    def _usable_within_capacity(self) -> MemoryLevel:
        if self.usable_capacity is not None and self.usable_capacity.value > self.capacity.value:
            raise ValueError(
                f"usable_capacity ({self.usable_capacity.text}) exceeds capacity ({self.capacity.text})"
            )
        return self


class OffloadTier(Frozen):
    """Where weights can spill when they do not fit: host RAM over PCIe, NVMe, eMMC, SD."""

    name: str
    capacity: Capacity
    bandwidth: Bandwidth


class Processor(Frozen):
    """A processor an engine can run a model on, with dense peak compute per precision."""

    name: str
    kind: Literal["cpu", "gpu", "npu"]
    matrix: dict[Precision, Compute] = Field(default_factory=dict)
    vector: dict[Precision, Compute] = Field(default_factory=dict)
    caches: tuple[MemoryLevel, ...] = ()
    launch_latency: Time | None = None
    # GPUs: streaming multiprocessors (compute units) and their boost clock. A kernel keeps a
    # bounded number of bytes in flight per multiprocessor, so by Little's law it can stream at
    # most (bytes in flight per cycle) x multiprocessors x clock, whatever the DRAM offers
    # (EngineProfile.stream_bytes_per_cycle)
    multiprocessors: Count | None = None
    clock: Frequency | None = None
    # CPUs: the instruction set, which decides which kernels an engine's CPU back-end takes for a
    # weight type (EngineProfile.narrow_gemm_types); None: not said, no such kernel choice applied
    isa: Literal["x86-64", "arm64"] | None = None
    # CPUs: measured rates of the CPU engine's tiled quantized GEMMs, per weight type, at one shape
    # and thread count (`bench --emit-spec` with llama.cpp's test-backend-ops: MUL_MAT at a prefill
    # micro-batch). Where a type the engine runs on a narrower kernel (EngineProfile.narrow_gemm_types)
    # is listed, its rate over the fastest listed type's replaces the profile's narrow_gemm_efficiency
    gemm_rates: dict[str, Compute] = Field(default_factory=dict)
    # CPUs: measured rates of the CPU engine's routed-expert matmul (llama.cpp's MUL_MAT_ID) per weight
    # type at a prefill micro-batch (`bench --emit-spec` with a llama.cpp build: 64 rows per expert on
    # average). A prefill step's routed experts whose every weight type is listed run at these rates
    # (share-weighted), not at the profile's expert_compute_efficiency and per-row unpacking
    expert_gemm_rates: dict[str, Compute] = Field(default_factory=dict)

    @field_validator("gemm_rates", "expert_gemm_rates")
    @classmethod
    def _known_weight_types(cls, rates: dict[str, Compute]) -> dict[str, Compute]:
        from roofline.specs.quant import WEIGHT_TYPES  # here: quant -> specs.model -> this module

        unknown = sorted(set(rates) - set(WEIGHT_TYPES))
        if unknown:
            raise ValueError(f"unknown weight type(s) {', '.join(unknown)}; known: {', '.join(WEIGHT_TYPES)}")
        return rates

    def gemm_share(self, weight_type: str) -> float | None:
        """A weight type's measured tiled-GEMM rate over the fastest measured type's (gemm_rates);
        None where it was not measured."""
        if weight_type not in self.gemm_rates:
            return None
        return self.gemm_rates[weight_type].value / max(r.value for r in self.gemm_rates.values())

    @model_validator(mode="after")
    def _has_compute(self) -> Processor:
        if not self.matrix and not self.vector:
            raise ValueError("a processor needs peak compute under 'matrix' or 'vector' (or both)")
        return self

    def peak(self, precision: str, unit: Literal["best", "matrix", "vector"] = "best") -> float | None:
        """Peak FLOP/s at `precision` on the matrix units, the vector units, or the better of both."""
        options = []
        if unit in ("best", "matrix") and precision in self.matrix:
            options.append(self.matrix[precision].value)
        if unit in ("best", "vector") and precision in self.vector:
            options.append(self.vector[precision].value)
        return max(options) if options else None


class PowerSpec(Frozen):
    mode: str
    max: Power
    idle: Power | None = None
    typical: Power | None = None

    @model_validator(mode="after")
    def _ordered(self) -> PowerSpec:
        if self.max.value <= 0:
            raise ValueError(f"max ({self.max.text}) must be above 0 W")
        for name in ("idle", "typical"):
            fig = getattr(self, name)
            if fig is not None and fig.value > self.max.value:
                raise ValueError(f"{name} ({fig.text}) exceeds max ({self.max.text})")
        return self


class Device(Frozen):
    """A device as described by `hardware_specs/<id>.yaml` (see hardware_specs/README.md)."""

    id: str
    name: str
    kind: Literal["cpu", "gpu", "soc", "npu"]
    notes: str = ""
    references: dict[str, str] = Field(default_factory=dict)
    memory: tuple[MemoryLevel, ...] = Field(min_length=1)
    offload: tuple[OffloadTier, ...] = ()
    processors: tuple[Processor, ...] = Field(min_length=1)
    host_overhead_per_token: Time | None = None
    power: PowerSpec
    default_engine: str | None = None  # engine profile used when none is named (e.g. llama.cpp-metal)

    @field_validator("id")
    @classmethod
    def _kebab(cls, v: str) -> str:
        if not KEBAB.match(v):
            raise ValueError(f"expected a kebab-case id such as 'jetson-orin-nano-8gb', got {v!r}")
        return v

    @field_validator("default_engine")
    @classmethod
    def _engine_name(cls, v: str | None) -> str | None:
        if v is not None and not ENGINE_NAME.match(v):
            raise ValueError(f"expected an engine name such as 'llama.cpp-cuda', got {v[:40]!r}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Device:
        main = self.memory[0]
        if main.usable_capacity is None:
            raise ValueError("memory[0] (main memory) needs a usable_capacity")
        if main.bandwidth is None:
            raise ValueError("memory[0] (main memory) needs a bandwidth")
        for i, level in enumerate(self.memory[1:], start=1):
            if level.usable_capacity is not None:
                raise ValueError(f"memory[{i}]: usable_capacity belongs to main memory (memory[0]) only")
            if level.capacity.value >= main.capacity.value:
                raise ValueError(f"memory[{i}] ({level.name}) is not smaller than main memory")
        for p in self.processors:
            for c in p.caches:
                if c.usable_capacity is not None:
                    raise ValueError(f"cache {c.name}: usable_capacity belongs to main memory only")
                if c.capacity.value >= main.capacity.value:
                    raise ValueError(
                        f"cache {c.name} ({c.capacity.text}) is not smaller than main memory"
                        f" ({main.capacity.text})"
                    )
        check_sources(self.figures(), self.references)
        return self

    # ---- derived -------------------------------------------------------------------------
    @property
    def main_memory(self) -> MemoryLevel:
        return self.memory[0]

    @property
    def main_bandwidth(self) -> float:
        bw = self.memory[0].bandwidth
        assert bw is not None  # checked by the validator
        return bw.value

    @property
    def usable_capacity(self) -> float:
        usable = self.memory[0].usable_capacity
        assert usable is not None  # checked by the validator
        return usable.value

    def processor(self, kind: str) -> Processor | None:
        """The first processor of `kind` (cpu, gpu, npu), or None."""
        return next((p for p in self.processors if p.kind == kind), None)

    def hierarchy(self, processor: Processor) -> tuple[MemoryLevel, ...]:
        """Levels a processor reads from, main memory first, then shared levels, then its caches."""
        return (*self.memory, *processor.caches)

    def ridge_points(self) -> dict[str, dict[str, float]]:
        """Arithmetic intensity (FLOP/byte) at which each processor's best peak per precision meets
        main-memory bandwidth: below it a kernel is memory-bound."""
        bw = self.main_bandwidth
        out: dict[str, dict[str, float]] = {}
        for p in self.processors:
            key = f"{p.kind}: {p.name}"
            out[key] = {prec: p.peak(prec) / bw for prec in PRECISIONS if p.peak(prec) is not None}  # type: ignore[operator]
        return out

    def figures(self) -> list[tuple[str, Sourced]]:
        """Every sourced figure with its dotted path, for checks and provenance listings."""
        found: list[tuple[str, Sourced]] = []
        _collect(self, "", found)
        return found


def check_sources(figures: list[tuple[str, Sourced]], references: dict[str, str]) -> None:
    """Every figure's source is a URL/citation or a key of the spec's `references` (ValueError)."""
    for path, fig in figures:
        src = fig.source
        if src is not None and _looks_like_key(src) and src not in references:
            raise ValueError(
                f"{path}: source {src!r} is neither a URL/citation nor a key of 'references'"
                f" (keys: {sorted(references) or 'none'})"
            )


def _looks_like_key(src: str) -> bool:
    return " " not in src.strip() and "/" not in src and ":" not in src and "." not in src


def _collect(obj: object, path: str, out: list[tuple[str, Sourced]]) -> None:
    if isinstance(obj, Sourced):
        out.append((path, obj))
    elif isinstance(obj, Frozen):
        for name in type(obj).model_fields:
            _collect(getattr(obj, name), f"{path}.{name}" if path else name, out)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _collect(v, f"{path}.{k}", out)
    elif isinstance(obj, tuple):
        for i, v in enumerate(obj):
            _collect(v, f"{path}[{i}]", out)
