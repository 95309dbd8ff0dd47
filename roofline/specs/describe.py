"""Summaries of specs with their derived figures, as plain dicts (the CLI prints or dumps them)."""

from __future__ import annotations

from typing import Any

from roofline.specs.hardware import PRECISIONS, Device
from roofline.specs.model import Model
from roofline.specs.quant import file_size

SHOW_QUANTS = ("F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "IQ4_XS", "Q3_K_M", "Q2_K")


def describe_model(m: Model) -> dict[str, Any]:
    kinds: dict[str, int] = {}
    for t in m.tensors:
        kinds[t.role] = kinds.get(t.role, 0) + t.numel
    return {
        "kind": "model",
        "id": m.id,
        "name": m.name,
        "source": m.source,
        "architecture": "moe" if m.is_moe else "dense",
        "total_params": m.total_params,
        "active_params": m.active_params,
        "params_by_role": kinds,
        "n_layers": m.n_layers,
        "n_moe_layers": m.n_moe_layers,
        "attention": m.attention.kind,
        "kv_bytes_per_token_f16": m.kv_bytes_per_token(2.0),
        "default_quant": m.default_quant or "Q4_K_M",
        "max_context": m.max_context,
        "file_size_bytes": {
            q: file_size(m, q) for q in dict.fromkeys([*(m.default_quant or "",), *SHOW_QUANTS]) if q
        },
        "spec": m.model_dump(mode="json"),
    }


def describe_device(d: Device) -> dict[str, Any]:
    return {
        "kind": "device",
        "id": d.id,
        "name": d.name,
        "device_kind": d.kind,
        "main_memory": {
            "name": d.main_memory.name,
            "capacity_bytes": d.main_memory.capacity.value,
            "usable_bytes": d.usable_capacity,
            "bandwidth_bytes_per_s": d.main_bandwidth,
        },
        "processors": [
            {
                "name": p.name,
                "kind": p.kind,
                "peak_flops": {prec: p.peak(prec) for prec in PRECISIONS if p.peak(prec) is not None},
                "launch_latency_s": p.launch_latency.value if p.launch_latency else None,
            }
            for p in d.processors
        ],
        "ridge_points_flop_per_byte": d.ridge_points(),
        "power_w": {
            "mode": d.power.mode,
            "max": d.power.max.value,
            "idle": d.power.idle.value if d.power.idle else None,
        },
        "estimated_figures": [path for path, f in d.figures() if f.estimated],
        "spec": d.model_dump(mode="json"),
    }
