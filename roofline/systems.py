"""The Python API for systems: where to put a model's weights (`place`), and a MoE on a split
system weighed against a dense model (`compare_on_system`). The CLI's `place` and
`compare --system` print what these return; notebooks call them directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from roofline.model.placement import Candidate, best, search
from roofline.model.scenario import Ref
from roofline.specs.catalog import load_model, load_system
from roofline.specs.model import Model
from roofline.specs.system import System


@dataclass(frozen=True)
class PlacementReport:
    """Every placement of one model on one system, fitting ones first, fastest in decode first, and
    the ones to use: fastest in decode and in prefill among those that fit."""

    system: System
    model: Model
    depth: int
    candidates: tuple[Candidate, ...]
    best_decode: Candidate | None
    best_prefill: Candidate | None

    def to_json(self, limit: int | None = None) -> dict[str, Any]:
        def row(c: Candidate) -> dict[str, Any]:
            return {
                "placement": c.placement.to_json(),
                "flags": c.placement.flags(self.model),
                "decode_tokens_per_second": c.decode.tokens_per_second,
                "prefill_tokens_per_second": c.prefill.tokens_per_second,
                "fits": c.fits,
                "memory": {
                    p.role: {
                        "device": p.device,
                        "bytes": p.weight_bytes + p.kv_bytes,
                        "usable_bytes": p.usable_bytes,
                    }
                    for p in c.decode.parts
                },
                "decode": c.decode.to_json(),
            }

        shown = self.candidates if limit is None else self.candidates[:limit]
        return {
            "system": self.system.id,
            "model": self.model.id,
            "quant": self.candidates[0].decode.quant if self.candidates else None,
            "depth": self.depth,
            "best_decode": row(self.best_decode) if self.best_decode else None,
            "best_prefill": row(self.best_prefill) if self.best_prefill else None,
            "n_candidates": len(self.candidates),
            "n_fitting": sum(c.fits for c in self.candidates),
            "candidates": [row(c) for c in shown],
        }


def place(
    system: Ref | System,
    model: Ref | Model,
    *,
    depth: int = 0,
    quant: str | None = None,
    engine: str | None = None,
    engines: tuple[str, ...] = ("llama.cpp",),
) -> PlacementReport:
    """Cost every placement of `model` on `system` (decode tg128 and prefill pp512 at KV depth
    `depth`) and pick the fastest that fits in each phase."""
    sysm, mdl = load_system(system), load_model(model)
    cands = search(sysm, mdl, depth=depth, quant=quant, engine=engine, engines=engines)
    return PlacementReport(sysm, mdl, depth, tuple(cands), best(cands, "decode"), best(cands, "prefill"))


def compare_on_system(
    system: Ref | System,
    models: list[Ref | Model],
    *,
    depth: int = 0,
    quants: list[str | None] | None = None,
    engine: str | None = None,
) -> list[PlacementReport]:
    """Each model at its own best placement on `system` (e.g. a MoE with experts on the CPU
    against a dense model wholly on the GPU)."""
    quants = quants or [None] * len(models)
    return [
        place(system, m, depth=depth, quant=q, engine=engine) for m, q in zip(models, quants, strict=True)
    ]


def system_verdict(a: PlacementReport, b: PlacementReport) -> str:
    """One sentence per phase: the first model at its best placement against the second at its."""
    lines = []
    for phase in ("decode", "prefill"):
        ca, cb = getattr(a, f"best_{phase}"), getattr(b, f"best_{phase}")
        if ca is None or cb is None:
            missing = a.model.id if ca is None else b.model.id
            lines.append(f"{phase}: {missing} fits no placement on {a.system.id}")
            continue
        ta, tb = getattr(ca, phase).tokens_per_second, getattr(cb, phase).tokens_per_second
        ratio = ta / tb
        word = "faster" if ratio >= 1 else "slower"
        shown = ratio if ratio >= 1 else 1 / ratio
        lines.append(
            f"{phase}: {a.model.id} ({ca.placement.label()}) is {shown:.2f}x {word} than "
            f"{b.model.id} ({cb.placement.label()}): {ta:.1f} vs {tb:.1f} tokens/s"
        )
    return "\n".join(lines)


__all__ = ["PlacementReport", "compare_on_system", "place", "system_verdict"]
