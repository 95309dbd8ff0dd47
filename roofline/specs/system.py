"""Schema of a system: a host (a CPU device spec, whose main memory is the host RAM), the
accelerators plugged into it (device specs, by id, with a count) and the links between them.

A link figure is what one transfer in one direction achieves (bandwidth) and what the smallest
transfer costs (latency); both are `Sourced` like every other figure. `host` links join the host to
each accelerator (PCIe); `peer` links join accelerators (NVLink, xGMI, or PCIe through the host).
`unified_memory: true` says the host and the accelerator share one physical memory (Apple, Strix
Halo, GB10, Jetson): placing weights on the CPU then frees no accelerator memory, and both read at
that memory's bandwidth.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from roofline.specs.hardware import KEBAB, _collect, check_sources
from roofline.specs.sourced import Bandwidth, Frozen, Sourced, Time


class Host(Frozen):
    """The host CPU and RAM, as a device spec of kind cpu (or soc, for unified-memory systems)."""

    device: str


class Accelerator(Frozen):
    """`count` identical accelerators, described by one device spec."""

    device: str
    count: int = Field(default=1, ge=1, le=64)


class Link(Frozen):
    """One kind of link: `host` (host <-> each accelerator) or `peer` (accelerator <-> accelerator)."""

    name: str
    kind: Literal["host", "peer"]
    bandwidth: Bandwidth  # per direction, as achieved by one large copy
    latency: Time  # the cost of the smallest copy (launch + synchronisation included)
    pageable_bandwidth: Bandwidth | None = None  # host links: copies from pageable (not pinned) memory


class System(Frozen):
    """A system as described by `system_specs/<id>.yaml` (see system_specs/README.md)."""

    id: str
    name: str
    notes: str = ""
    references: dict[str, str] = Field(default_factory=dict)
    host: Host
    accelerators: tuple[Accelerator, ...] = ()
    links: tuple[Link, ...] = ()
    unified_memory: bool = False

    @field_validator("id")
    @classmethod
    def _kebab(cls, v: str) -> str:
        if not KEBAB.match(v):
            raise ValueError(f"expected a kebab-case id such as 'desktop-rtx-4090', got {v!r}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> System:
        kinds = [lk.kind for lk in self.links]
        for kind in ("host", "peer"):
            if kinds.count(kind) > 1:
                raise ValueError(f"links: more than one link of kind {kind!r}")
        if self.accelerators and not self.unified_memory and "host" not in kinds:
            raise ValueError("links: a system with accelerators needs a link of kind 'host' (e.g. PCIe)")
        if self.n_accelerators > 1 and "peer" not in kinds:
            raise ValueError(
                "links: a system with several accelerators needs a link of kind 'peer' (NVLink, or PCIe "
                "through the host)"
            )
        if len({a.device for a in self.accelerators}) > 1:
            raise ValueError("accelerators: mixed accelerator models are not supported yet (one device id)")
        check_sources(self.figures(), self.references)
        return self

    # ---- derived -------------------------------------------------------------------------
    @property
    def n_accelerators(self) -> int:
        return sum(a.count for a in self.accelerators)

    @property
    def accelerator(self) -> str | None:
        """The accelerators' device id (one model per system), or None for a host alone."""
        return self.accelerators[0].device if self.accelerators else None

    def link(self, kind: str) -> Link | None:
        return next((lk for lk in self.links if lk.kind == kind), None)

    def figures(self) -> list[tuple[str, Sourced]]:
        found: list[tuple[str, Sourced]] = []
        _collect(self, "", found)
        return found


__all__ = ["Accelerator", "Host", "Link", "System"]
