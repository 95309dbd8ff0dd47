"""How far to trust a prediction from a calibrated engine profile.

`interval` (one run; `intervals`: many at once): parameters drawn from the fit's covariance, plus
the fit's residual scatter in log space (the model's own error), 10th to 90th percentile.
`outside_range`: warnings when a prediction leaves the devices, phases, batches or depths the
profile was calibrated on.
"""

from __future__ import annotations

import numpy as np

from roofline.model.engine import PARAMETER_BOUNDS, EngineProfile
from roofline.model.profile_checks import check_calibration
from roofline.model.scenario import Scenario
from roofline.model.stacked import Stacked
from roofline.model.workload import Workload


def interval(s: Scenario, eng: EngineProfile, n: int = 200, seed: int = 0) -> tuple[float, float, float]:
    """(10th percentile, central, 90th percentile) tokens/s of scenario `s` under the calibrated
    profile `eng`: parameter uncertainty (covariance) and the fit's residual scatter."""
    central = s.tokens_per_second(eng)
    drawn = _draws(eng, n, seed)
    if drawn is None:
        return central, central, central
    engines, noise = drawn
    vals = np.array([s.tokens_per_second(e) for e in engines])
    vals = vals * np.exp(noise)
    return float(np.percentile(vals, 10)), central, float(np.percentile(vals, 90))


def intervals(runs: Stacked, eng: EngineProfile, n: int = 200, seed: int = 0) -> tuple[np.ndarray, ...]:
    """`interval` of every run of `runs` at once (the same draws, so the same numbers): arrays of the
    10th percentiles, the central values and the 90th percentiles."""
    central = runs.tokens_per_second(eng)
    drawn = _draws(eng, n, seed)
    if drawn is None:
        return central, central, central
    engines, noise = drawn
    vals = np.array([runs.tokens_per_second(e) for e in engines])  # (draw, run)
    vals = vals * np.exp(noise)[:, None]
    return np.percentile(vals, 10, axis=0), central, np.percentile(vals, 90, axis=0)


def _draws(eng: EngineProfile, n: int, seed: int) -> tuple[list[EngineProfile], np.ndarray] | None:
    """`n` profiles with the fitted parameters drawn from the fit's covariance (clipped to their
    bounds) and `n` draws of the residual scatter (log); None for a profile without a fit."""
    cal = eng.calibration
    if not cal:
        return None
    check_calibration(cal, eng.name)
    free = cal["free_parameters"]
    if not free:  # calibrated from microbenchmarks: no fitted covariance to propagate
        return None
    mean = np.array([cal["fitted"][k]["value"] for k in free])
    cov = np.array(cal["covariance"])
    rng = np.random.default_rng(seed)
    draws = rng.multivariate_normal(mean, cov, size=n, check_valid="ignore")
    lo = np.array([PARAMETER_BOUNDS[k][0] for k in free])
    hi = np.array([PARAMETER_BOUNDS[k][1] for k in free])
    draws = np.clip(draws, lo, hi)
    noise = rng.normal(0.0, cal["residual_sigma_log"], size=n)
    return [eng.model_copy(update=dict(zip(free, d, strict=True))) for d in draws], noise


def outside_range(eng: EngineProfile, device: str, model: str, w: Workload) -> list[str]:
    """Warnings when a prediction leaves the range a profile was calibrated on."""
    cal = eng.calibration
    if not cal:
        return []
    check_calibration(cal, eng.name)
    if cal.get("source") == "microbenchmark trace":
        if device in cal["devices"]:
            return []
        return [
            f"{eng.name} was calibrated from microbenchmarks of {', '.join(cal['devices'])}, not of {device}"
        ]
    out = []
    if device not in cal["devices"]:
        out.append(f"{eng.name} was calibrated on {', '.join(cal['devices'])}, not on {device}")
    if w.phase not in cal["phases"]:
        out.append(f"{eng.name} was calibrated on {'/'.join(cal['phases'])} rows only, not {w.phase}")
    b0, b1 = cal["batch_range"]
    d0, d1 = cal["depth_range"]
    if not b0 <= w.batch <= b1:
        out.append(f"batch {w.batch} is outside the calibrated range {b0}-{b1}")
    if not d0 <= w.depth <= d1:
        out.append(f"depth {w.depth} is outside the calibrated range {d0}-{d1}")
    return out
