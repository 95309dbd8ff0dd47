"""Energy per token: static power x time + energy per DRAM byte + energy per FLOP.

Static power is the device's idle figure (the power it draws whatever the model does); without one,
a third of its max power is assumed and flagged. Energy per byte depends on the memory technology,
read from the main memory's name (LPDDR5, GDDR6X, HBM3 ...); energy per FLOP on the precision the
engine computes in. Both come from the literature table in `roofline/data/energy.yaml`, each figure
with its source; they are order-of-magnitude defaults, to be calibrated against measured power.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from roofline.specs.hardware import Device


@dataclass(frozen=True)
class EnergyModel:
    static_watts: float
    joules_per_byte: float
    joules_per_flop: float
    max_watts: float
    memory_technology: str | None
    notes: tuple[str, ...]


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    text = resources.files("roofline").joinpath("data", "energy.yaml").read_text()
    return yaml.safe_load(text)


_TECH = re.compile(
    r"(LPDDR5X|LPDDR5|LPDDR4X|LPDDR4|DDR5|DDR4|GDDR7|GDDR6X|GDDR6|HBM3E|HBM3|HBM2E|HBM2)", re.IGNORECASE
)


def memory_technology(device: Device) -> str | None:
    m = _TECH.search(device.main_memory.name) or _TECH.search(device.name)
    return m.group(1).upper() if m else None


def energy_model(device: Device, precision: str) -> EnergyModel:
    table = _table()
    notes: list[str] = []
    p = device.power
    if p.idle is not None:
        static = p.idle.value
    else:
        static = p.max.value / 3
        notes.append(f"no idle power in the spec: static power assumed max/3 = {static:.1f} W")
    tech = memory_technology(device)
    dram = table["dram_pj_per_bit"]
    if tech in dram:
        pj_bit = dram[tech]["value"]
    else:
        pj_bit = table["dram_default_pj_per_bit"]["value"]
        notes.append(
            f"memory technology of {device.main_memory.name!r} not recognised: {pj_bit} pJ/bit assumed"
        )
    flop = table["compute_pj_per_flop"]
    pj_flop = flop.get(precision, flop["fp16"])["value"]
    return EnergyModel(static, pj_bit * 8e-12, pj_flop * 1e-12, p.max.value, tech, tuple(notes))
