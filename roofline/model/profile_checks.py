"""Checks of an engine profile beyond its schema: plausible magnitudes and a well-formed calibration.

EngineProfile's fields say what a number means and its sign; these checks add the magnitudes no real
engine reaches (an overhead of a minute per kernel, an efficiency of 1e-300) and which would make
the cost model divide its way to infinity or zero, and they check the `calibration` block a
calibrated profile carries, whose fields the prediction interval reads (uncertainty.py). A profile
edited by hand, or truncated, gets a SpecError naming the file and the field instead of a KeyError.
"""

from __future__ import annotations

import math
from typing import Any

from roofline.errors import SpecError
from roofline.model.engine import PARAMETER_BOUNDS, EngineProfile

#: Field -> (lowest, highest) a real engine's profile stays within (SI units; None: no bound).
PLAUSIBLE: dict[str, tuple[float | None, float | None]] = {
    "activation_bytes": (0.125, 16.0),
    "bandwidth_efficiency": (1e-4, None),
    "compute_efficiency": (1e-4, None),
    "dequant_efficiency": (1e-4, None),
    "attention_efficiency": (1e-4, None),
    "expert_compute_efficiency": (1e-4, None),
    "kv_bandwidth_efficiency": (1e-4, None),
    "attention_key_ops": (None, 1e6),
    "kernel_overhead": (None, 1.0),
    "kernel_overhead_scale": (None, 1e4),
    "moe_kernel_overhead_scale": (None, 1e4),
    "moe_syncs_per_layer": (None, 1e4),
    "sync_latency": (None, 1.0),
    "per_layer_overhead": (None, 1.0),
    "per_step_overhead": (None, 10.0),
    "ubatch": (None, 2**20),
    "runtime_overhead_bytes": (None, 1e15),
}
MAX_KERNELS = 1e4  # kernels per layer (or per step) of any one operator


def check_profile(eng: EngineProfile, where: str) -> EngineProfile:
    """`eng` if its numbers are plausible and its calibration block well formed, else a SpecError
    naming `where` (the profile's file or name) and the field."""
    for name, (lo, hi) in PLAUSIBLE.items():
        v = getattr(eng, name)
        if v is None:
            continue
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            span = f"{lo if lo is not None else 0:g}-{hi if hi is not None else 1:g}"
            raise SpecError(where, f"{v!r} is outside the plausible range {span}", name)
    for field in ("kernels", "prefill_kernels"):
        counts = getattr(eng, field)
        for name, v in (counts.model_dump() if counts is not None else {}).items():
            if v > MAX_KERNELS:
                raise SpecError(where, f"{v!r} kernels is more than {MAX_KERNELS:g}", f"{field}.{name}")
    if eng.calibration is not None:
        check_calibration(eng.calibration, where)
    return eng


def _fail(where: str, field: str, message: str) -> SpecError:
    return SpecError(where, message, f"calibration.{field}")


def _seq(x: Any) -> bool:
    """A YAML list (loaded specs hold lists as tuples)."""
    return isinstance(x, (list, tuple))


def _finite(x: Any) -> bool:
    """A number (not a bool) that is a finite float (an integer past float range is not)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    try:
        return math.isfinite(float(x))
    except OverflowError:
        return False


def _strings(cal: dict[str, Any], key: str, where: str) -> Any:
    v = cal.get(key)
    if not _seq(v) or not v or not all(isinstance(s, str) for s in v):
        raise _fail(where, key, f"expected a non-empty list of names, got {str(v)[:60]}")
    return v


def _range(cal: dict[str, Any], key: str, where: str) -> None:
    v = cal.get(key)
    if not (_seq(v) and len(v) == 2 and all(_finite(x) for x in v) and v[0] <= v[1]):
        raise _fail(where, key, f"expected [low, high] (two finite numbers), got {str(v)[:60]}")


def check_calibration(cal: Any, where: str) -> None:
    """The fields of a `calibration` block that predictions read (see `roofline calibrate`)."""
    if not isinstance(cal, dict):
        raise SpecError(where, f"expected a mapping, got {type(cal).__name__}", "calibration")
    _strings(cal, "devices", where)
    if cal.get("source") == "microbenchmark trace":
        return
    _strings(cal, "phases", where)
    _range(cal, "batch_range", where)
    _range(cal, "depth_range", where)
    free = cal.get("free_parameters")
    if not _seq(free) or not all(isinstance(k, str) and k in PARAMETER_BOUNDS for k in free):
        raise _fail(where, "free_parameters", f"expected names among {', '.join(PARAMETER_BOUNDS)}")
    if len(set(free)) != len(free):
        raise _fail(where, "free_parameters", "a parameter is listed twice")
    fitted = cal.get("fitted")
    for k in free:
        entry = fitted.get(k) if isinstance(fitted, dict) else None
        if not isinstance(entry, dict) or not _finite(entry.get("value")):
            raise _fail(where, f"fitted.{k}", "expected {value: <finite number>, sigma: ...}")
        lo, hi = PARAMETER_BOUNDS[k]
        if not lo <= entry["value"] <= hi:
            raise _fail(where, f"fitted.{k}.value", f"{entry['value']!r} is outside {lo:g}-{hi:g}")
    cov = cal.get("covariance")
    n = len(free)
    if not (
        _seq(cov)
        and len(cov) == n
        and all(_seq(row) and len(row) == n and all(_finite(x) for x in row) for row in cov)
    ):
        raise _fail(where, "covariance", f"expected a {n} x {n} matrix of finite numbers")
    sigma = cal.get("residual_sigma_log")
    if not _finite(sigma) or not 0 <= sigma <= 10:
        raise _fail(where, "residual_sigma_log", f"expected a finite number within 0-10, got {sigma!r}")


__all__ = ["PLAUSIBLE", "check_calibration", "check_profile"]
