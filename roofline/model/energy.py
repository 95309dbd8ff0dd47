"""Energy per step: idle power x time + busy power x busy time + energy per DRAM byte + per FLOP.

- Idle power is the device's idle figure (drawn whatever the model does); without one, a third of
  its max power is assumed and flagged.
- Busy power is what a working accelerator draws on top of idle whatever it computes (clocks up,
  SM and uncore static power no longer gated): a share `alpha` of its headroom (max - idle), paid
  for the time kernels run (not host overhead).
- Energy per byte starts from the DRAM device's pJ/bit for the memory technology read from the main
  memory's name (LPDDR5, GDDR6X, HBM3 ...), and energy per FLOP from the bare arithmetic energy at the
  engine's precision (`roofline/data/energy.yaml`, each figure with its source: lower bounds), each
  times a factor for what the literature leaves out (PHY, controller, on-chip network and SRAM for a
  byte; operand delivery for a FLOP).
- alpha and the two factors are fitted to measured power by scripts/fit_energy.py
  (`roofline/data/energy_fit.yaml`, with its provenance): on one device, the H200, so on every other
  device they are an extrapolation, and the notes say so.
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
    busy_watts: float = 0.0  # on top of static, while kernels run


@lru_cache(maxsize=1)
def _fit() -> dict[str, Any] | None:
    path = resources.files("roofline").joinpath("data", "energy_fit.yaml")
    return yaml.safe_load(path.read_text()) if path.is_file() else None


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


def literature_coefficients(device: Device, precision: str) -> tuple[float, float]:
    """(J per DRAM byte, J per FLOP) from the literature table alone: DRAM device energy for the
    memory technology, bare arithmetic energy at `precision` (fp16's where the table has none)."""
    table = _table()
    dram = table["dram_pj_per_bit"]
    tech = memory_technology(device)
    pj_bit = dram[tech]["value"] if tech in dram else table["dram_default_pj_per_bit"]["value"]
    flop = table["compute_pj_per_flop"]
    return pj_bit * 8e-12, flop.get(precision, flop["fp16"])["value"] * 1e-12


def energy_model(device: Device, precision: str) -> EnergyModel:
    notes: list[str] = []
    p = device.power
    if p.idle is not None:
        static = p.idle.value
    else:
        static = p.max.value / 3
        notes.append(f"no idle power in the spec: static power assumed max/3 = {static:.1f} W")
    tech = memory_technology(device)
    if tech not in _table()["dram_pj_per_bit"]:
        notes.append(
            f"memory technology of {device.main_memory.name!r} not recognised: "
            f"{_table()['dram_default_pj_per_bit']['value']} pJ/bit assumed"
        )
    j_byte, j_flop = literature_coefficients(device, precision)
    fit = _fit()
    if fit is None:
        alpha, k_b, k_f = 0.0, 1.0, 1.0
        notes.append("no fitted energy factors (roofline/data/energy_fit.yaml): literature lower bounds only")
    else:
        alpha, k_b, k_f = fit["busy_share_of_headroom"], fit["dram_energy_factor"], fit["flop_energy_factor"]
        fitted_on = ", ".join(fit["provenance"]["devices"])
        if device.id not in fit["provenance"]["devices"]:
            notes.append(
                f"busy power and energy factors fitted on {fitted_on} only: extrapolated to {device.id}"
            )
    busy = alpha * max(p.max.value - static, 0.0)
    return EnergyModel(static, k_b * j_byte, k_f * j_flop, p.max.value, tech, tuple(notes), busy)


def energy_per_step(
    em: EnergyModel, step_seconds: float, busy_seconds: float, dram_bytes: float, flops: float
) -> float:
    """Joules of one step: idle power over the whole step, busy power while kernels run, and the
    bytes and FLOPs at their energies."""
    return (
        em.static_watts * step_seconds
        + em.busy_watts * busy_seconds
        + em.joules_per_byte * dram_bytes
        + em.joules_per_flop * flops
    )
