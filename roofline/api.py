"""The Python API: predict one (device, model, workload), compare several models on a device.

The CLI and the notebooks call these; they return typed results (roofline.model.results) with
`to_json()`. A prediction is resolve (specs to a Scenario) -> step (its cost) -> package.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from roofline.errors import WorkloadError
from roofline.model import results
from roofline.model.engine import EngineProfile
from roofline.model.profile_checks import check_profile
from roofline.model.results import Prediction
from roofline.model.scenario import Ref, resolve
from roofline.model.uncertainty import interval, outside_range
from roofline.model.workload import Workload
from roofline.specs.hardware import Device
from roofline.specs.model import Model


def predict(
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
) -> Prediction:
    """Predict throughput, per-operator time, memory footprint and energy of `model` on `device`.

    `routing_skew` (Zipf exponent, 0 = uniform) or `routing_popularity` (a per-expert histogram)
    describe non-uniform routing; `locality` is the chance a routed expert was fetched for a recent
    token (it only matters when experts are offloaded)."""
    scn = resolve(
        device,
        model,
        workload,
        engine=engine,
        quant=quant,
        kv_dtype=kv_dtype,
        routing_skew=routing_skew,
        routing_popularity=routing_popularity,
        locality=locality,
    )
    eng = scn.engine
    check_profile(eng, os.fspath(engine) if isinstance(engine, (str, os.PathLike)) else eng.name)
    step = scn.step()
    breakdown = results.op_costs(scn, step)
    expert_info = results.experts(scn)
    warnings = [*results.fit_warning(scn, step), *results.context_warning(scn)]
    band = None
    w = scn.workload
    if eng.calibration:
        lo, _, hi = interval(scn, eng)
        band = (lo, hi) if hi > lo else None
        warnings += outside_range(eng, scn.device.id, scn.model.id, w)
    tps = float(step.tokens_per_second)
    return _checked(
        Prediction(
            device=scn.device.id,
            model=scn.model.id,
            quant=scn.quant,
            engine=eng.name,
            workload=w,
            tokens_per_second=tps,
            seconds_per_token=1.0 / tps if w.phase == "prefill" else step.seconds,
            step_seconds=step.seconds,
            bound=results.step_bound(breakdown),
            breakdown=breakdown,
            memory=results.memory(scn, step),
            energy=results.energy(scn, step),
            experts=expert_info[0] if expert_info else None,
            routing_bounds_tokens_per_second=expert_info[1] if expert_info else None,
            serving_level=step.serving_level or "",
            warnings=tuple(warnings),
            interval=band,
            layers=results.layer_mixers(scn),
            spec_notes=scn.machine.warnings,
            calibrated_on=calibrated_on(eng),
        )
    )


def _checked(p: Prediction) -> Prediction:
    """`p` if every number in it is finite and non-negative and its throughput positive: specs and
    profiles within their plausible ranges give such numbers, and a number that is not is an error
    to report, never an answer to print."""
    bad = _bad_numbers(p.to_json(), "")
    if not bad and p.tokens_per_second > 0 and p.step_seconds > 0:
        return p
    what = ", ".join(bad[:3]) or f"tokens_per_second = {p.tokens_per_second!r}"
    raise WorkloadError(
        f"{p.model} on {p.device} ({p.engine}, {p.quant}, {p.workload.test}): the prediction is not a "
        f"finite positive number ({what}); check the figures of the specs and the engine profile"
    )


def _bad_numbers(obj: Any, path: str) -> list[str]:
    if isinstance(obj, dict):
        return [b for k, v in obj.items() for b in _bad_numbers(v, f"{path}.{k}" if path else str(k))]
    if isinstance(obj, (list, tuple)):
        return [b for i, v in enumerate(obj) for b in _bad_numbers(v, f"{path}[{i}]")]
    if isinstance(obj, float) and (not math.isfinite(obj) or obj < 0):
        return [f"{path} = {obj!r}"]
    return []


@dataclass(frozen=True)
class Comparison:
    """Several models predicted on one device; `ratio` and `verdict` are the first against the
    second, `ranking` is fastest first."""

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


def calibrated_on(eng: EngineProfile) -> str:
    """What `eng` was calibrated on, from its `calibration` block ("" when it has none)."""
    cal = eng.calibration
    if not cal:
        return ""
    if cal.get("source") == "microbenchmark trace":
        return f"microbenchmarks of {cal.get('device') or ', '.join(cal.get('devices', []))}"
    n = cal.get("n_rows")
    devices = cal.get("devices") or []
    on_devices = f" of {len(devices)} device{'s' if len(devices) != 1 else ''}" if devices else ""
    return f"{n} measured rows{on_devices}" if isinstance(n, int) else f"measurements{on_devices}"


def engine_label(p: Prediction) -> str:
    """The engine as a header names it: "llama.cpp-cuda", or "llama.cpp-cuda (calibrated on 474
    measured rows of 9 devices)" when the profile carries a calibration."""
    return f"{p.engine} (calibrated on {p.calibrated_on})" if p.calibrated_on else p.engine


#: A time difference shown in a verdict is rounded to 0.01 ms; one that rounds to zero is left out.
SHOWN_MS = 0.005


def verdict(a: Prediction, b: Prediction) -> str:
    """One paragraph: who is faster by how much, what bounds each, and the terms that decide it.

    Only terms that make a visible difference are named (none that would print as +0.00 ms); routing
    bounds that coincide (one token per step: every routing touches k experts) are one number; the
    header says when the engine profile is calibrated, and on what."""
    r = a.tokens_per_second / b.tokens_per_second
    w = a.workload
    head = (
        f"{a.model} is {r:.2f}x {b.model} on {a.device} ({w.test}, depth {w.depth}, batch {w.batch}, "
        f"{a.quant}, {engine_label(a)})"
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
    deciding = ", ".join(f"{k} ({sign * v * 1e3:+.2f} ms/step)" for k, v in top if sign * v * 1e3 >= SHOWN_MS)
    mem = [
        f"{p.model} does not fit ({p.memory.total_bytes / 2**30:.1f} GiB of "
        f"{p.memory.usable_bytes / 2**30:.1f} usable) and streams from {p.memory.offload_tier}"
        for p in (a, b)
        if not p.memory.fits
    ]
    text = f"{head}: {bounds}; " + ", ".join(parts) + "."
    if deciding:
        text += f" {slower.model} spends more time on {deciding}."
    if a.routing_bounds_tokens_per_second:
        lo, hi = (f"{x / b.tokens_per_second:.2f}x" for x in a.routing_bounds_tokens_per_second)
        text += (
            f" Routing bounds for {a.model}: {lo}-{hi}."
            if lo != hi
            else f" Routing does not move {a.model}: {lo} under any routing."
        )
    if mem:
        text += " " + "; ".join(mem) + "."
    text += "".join(f" {_recurrent_text(p)}" for p in (a, b) if set(p.layers) - {"attention"})
    return text


MIXER_NAMES = {"linear_attention": "linear-attention", "mamba": "Mamba-2"}


def _recurrent_text(p: Prediction) -> str:
    """Why a hybrid model's decode slows little with context: most layers keep a fixed state."""
    n = sum(p.layers.values())
    parts = " and ".join(f"{k} {MIXER_NAMES[m]} layers" for m, k in p.layers.items() if m in MIXER_NAMES)
    state = p.memory.recurrent_state_bytes / p.workload.batch / 2**20
    n_attn = p.layers.get("attention", 0)
    return (
        f"Of {p.model}'s {n} token-mixing layers, {parts} keep a state of {state:.2f} MiB per sequence "
        f"at any context; only its {n_attn} attention layers read a KV cache that grows with depth."
    )


def compare(
    device: Ref | Device, models: list[Ref | Model], workload: Workload | None = None, **kwargs: Any
) -> Comparison:
    """Predict every model on one device; ratio and verdict are the first model against the second."""
    if len(models) < 2:
        raise WorkloadError("compare needs at least two models")
    return comparison([predict(device, m, workload, **kwargs) for m in models])


def comparison(preds: list[Prediction]) -> Comparison:
    """Predictions of several models on one device, ranked, with the verdict of the first against
    the second."""
    ranking = [p.model for p in sorted(preds, key=lambda p: -p.tokens_per_second)]
    return Comparison(
        device=preds[0].device,
        predictions=preds,
        ratio=preds[0].tokens_per_second / preds[1].tokens_per_second,
        verdict=verdict(preds[0], preds[1]),
        ranking=ranking,
    )
