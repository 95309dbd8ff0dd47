"""The Python API for systems: where to put a model's weights (`place`), and a MoE on a split
system weighed against a dense model (`compare_on_system`). The CLI's `place` and
`compare --system` print what these return; notebooks call them directly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from roofline.errors import WorkloadError
from roofline.model.placement import (
    Candidate,
    SystemStep,
    best,
    candidate_placements,
    resolve_system,
    search,
)
from roofline.model.scenario import Ref
from roofline.model.workload import Workload
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


def best_step(
    system: Ref | System, model: Ref | Model, workload: Workload, quant: str | None = None
) -> SystemStep | None:
    """The fastest llama.cpp placement of `model` on `system` that fits at `workload` (None if none
    fits): each point of a system crossover re-chooses its placement, as a user would."""
    sysm, mdl = load_system(system), load_model(model)
    ss = resolve_system(sysm, mdl, workload, quant=quant)
    best: SystemStep | None = None
    for pl in candidate_placements(sysm, mdl):
        step = ss.step(pl)
        if step.fits and (best is None or step.tokens_per_second > best.tokens_per_second):
            best = step
    return best


@dataclass(frozen=True)
class SystemCrossover:
    """Where model A at its best placement matches model B at its: `points` (values of `vary`),
    the ratio A/B at the grid's points, and each grid point's placements."""

    system: str
    model_a: str
    model_b: str
    vary: str
    grid: tuple[float, ...]
    ratio: tuple[float | None, ...]  # None where either model fits no placement
    placements_a: tuple[str | None, ...]
    placements_b: tuple[str | None, ...]
    points: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def describe(self) -> str:
        unit = "sequences" if self.vary == "batch" else "tokens"
        name = "batch" if self.vary == "batch" else "context depth"
        ok = [(x, r) for x, r in zip(self.grid, self.ratio, strict=True) if r is not None]
        if not ok:
            return f"{self.model_a} or {self.model_b} fits no placement of {self.system} in this range"
        span = f"{ok[0][1]:.2f}x at {ok[0][0]:,.0f} {unit}, {ok[-1][1]:.2f}x at {ok[-1][0]:,.0f} {unit}"
        moves = [
            f"{name} {x:,.0f}: {pa} / {pb}"
            for i, (x, pa, pb) in enumerate(zip(self.grid, self.placements_a, self.placements_b, strict=True))
            if i == 0 or (pa, pb) != (self.placements_a[i - 1], self.placements_b[i - 1])
        ]
        head = (
            f"{self.model_a} and {self.model_b} (each at its fastest fitting placement on {self.system}) "
            f"break even at {name} = " + ", ".join(f"{x:,.0f} {unit}" for x in self.points)
            if self.points
            else f"no crossover for {name} on {self.system}: "
            + (self.model_a if ok[0][1] > 1 else self.model_b)
            + " is faster throughout"
        )
        return f"{head} ({self.model_a}/{self.model_b} = {span}); placements A / B: " + "; ".join(moves)


def system_crossover(
    system: Ref | System,
    model_a: Ref | Model,
    model_b: Ref | Model,
    vary: str,
    workload: Workload | None = None,
    quant: str | None = None,
    lo: float | None = None,
    hi: float | None = None,
    points: int = 17,
) -> SystemCrossover:
    """Throughput of A over B, each at its best fitting placement, as `vary` (batch or depth) sweeps a
    geometric grid; sign changes of log(ratio) are refined by bisection on the same search."""
    if vary not in ("batch", "depth"):
        raise WorkloadError(f"a system crossover varies batch or depth (context), got {vary!r}")
    w = workload or Workload()
    lo = (1.0 if vary == "batch" else 0.0) if lo is None else lo
    hi = (256.0 if vary == "batch" else 131072.0) if hi is None else hi
    if not 0 <= lo < hi:
        raise WorkloadError(f"expected 0 <= lo < hi, got {lo:g}, {hi:g}")
    grid = np.unique(np.round(np.geomspace(max(lo, 1.0), hi, points))).tolist()
    if lo == 0:
        grid = [0.0, *grid]

    def at(x: float) -> tuple[float | None, str | None, str | None]:
        wx = dataclasses.replace(w, **{vary: int(round(x))})
        a, b = best_step(system, model_a, wx, quant), best_step(system, model_b, wx, quant)
        ratio = a.tokens_per_second / b.tokens_per_second if a and b else None
        return ratio, a.placement.label() if a else None, b.placement.label() if b else None

    vals = [at(x) for x in grid]
    roots = []
    for i in range(len(grid) - 1):
        r0, r1 = vals[i][0], vals[i + 1][0]
        if r0 is None or r1 is None or (r0 > 1) == (r1 > 1):
            continue
        a, b = grid[i], grid[i + 1]
        while b - a > max(1.0, 1e-3 * b):  # whole sequences / tokens
            mid = (a + b) / 2
            rm = at(mid)[0]
            if rm is None:
                break
            a, b = (mid, b) if (rm > 1) == (r0 > 1) else (a, mid)
        roots.append(round((a + b) / 2))
    sysm, ma, mb = load_system(system), load_model(model_a), load_model(model_b)
    return SystemCrossover(
        sysm.id,
        ma.id,
        mb.id,
        vary,
        tuple(grid),
        tuple(v[0] for v in vals),
        tuple(v[1] for v in vals),
        tuple(v[2] for v in vals),
        tuple(roots),
    )


__all__ = [
    "PlacementReport",
    "SystemCrossover",
    "best_step",
    "compare_on_system",
    "place",
    "system_crossover",
    "system_verdict",
]
