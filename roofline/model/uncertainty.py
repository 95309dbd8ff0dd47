"""How far to trust a prediction from a calibrated engine profile.

`interval` (one run; `intervals`: many at once): parameters drawn from the fit's covariance, plus
a log-normal scatter for the model's own error, 10th to 90th percentile. The scatter is the fit's
residual sigma (its error on the rows it was fitted to) unless the caller gives one: for a device the
fit never saw, `heldout_sigma` estimates it from the errors of fits that each left one training
device out (in-sample residuals understate the error on a new device: roofline validate measured its
80 % intervals covering 51-73 % of device-held-out rows with them).
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


def interval(
    s: Scenario, eng: EngineProfile, n: int = 200, seed: int = 0, sigma: float | None = None
) -> tuple[float, float, float]:
    """(10th percentile, central, 90th percentile) tokens/s of scenario `s` under the calibrated
    profile `eng`: parameter uncertainty (covariance) and a log-normal scatter of `sigma` (default:
    the fit's residual sigma)."""
    central = s.tokens_per_second(eng)
    drawn = _draws(eng, n, seed)
    if drawn is None:
        return central, central, central
    engines, noise = drawn
    vals = np.array([s.tokens_per_second(e) for e in engines])
    vals = vals * np.exp(noise * _sigma(eng, sigma))
    return float(np.percentile(vals, 10)), central, float(np.percentile(vals, 90))


def intervals(
    runs: Stacked, eng: EngineProfile, n: int = 200, seed: int = 0, sigma: np.ndarray | None = None
) -> tuple[np.ndarray, ...]:
    """`interval` of every run of `runs` at once (the same draws, so the same numbers): arrays of the
    10th percentiles, the central values and the 90th percentiles. `sigma`: the log scatter of each
    run (default: the fit's residual sigma for all)."""
    central = runs.tokens_per_second(eng)
    drawn = _draws(eng, n, seed)
    if drawn is None:
        return central, central, central
    engines, noise = drawn
    vals = np.array([runs.tokens_per_second(e) for e in engines])  # (draw, run)
    scale = np.full(len(central), _sigma(eng, None)) if sigma is None else np.asarray(sigma, dtype=float)
    vals = vals * np.exp(noise[:, None] * scale[None, :])
    return np.percentile(vals, 10, axis=0), central, np.percentile(vals, 90, axis=0)


#: The 90th percentile of a standard normal: a log-normal scatter of sigma puts 80 % of the runs
#: within +-Z90 sigma of the central value (the 10-90 % interval).
Z90 = 1.2815515655446004


def heldout_sigma(residuals: list[tuple[str, str, float]]) -> dict[str, float]:
    """The log scatter to expect on a device a fit has not seen, per phase, from `residuals`: (device,
    phase, log(predicted / measured)) of rows each predicted by a fit that left their device out
    (an inner leave-one-device-out over a fit's training devices). The scatter is the one whose
    10-90 % band holds 80 % of those residuals, each device weighing the same (a new device is one
    more device, not one more row): sigma = the weighted 80th percentile of |residual| / Z90. A
    quantile, not a root mean square: the held-out errors are heavy-tailed (a few devices or
    kernels far off), and an RMS scale set by them made the 80 % intervals cover 88-93 % of held-out
    rows on the GPU back-ends. A phase needs rows of two devices; with fewer, both phases' residuals
    are pooled; with fewer than two devices in all there is no estimate (empty dict)."""
    by: dict[str, dict[str, list[float]]] = {}
    for device, phase, r in residuals:
        by.setdefault(phase, {}).setdefault(device, []).append(r)
        by.setdefault("", {}).setdefault(device, []).append(r)
    sig = {p: _weighted_quantile(d, 0.8) / Z90 for p, d in by.items() if len(d) >= 2}
    if "" not in sig:
        return {}
    return {p: sig.get(p, sig[""]) for p in by}


def _weighted_quantile(by_device: dict[str, list[float]], q: float) -> float:
    """The smallest |residual| whose cumulative weight reaches `q`, each device's rows sharing one
    unit of weight."""
    vals = np.concatenate([np.abs(v) for v in by_device.values()])
    w = np.concatenate([np.full(len(v), 1.0 / len(v)) for v in by_device.values()])
    order = np.argsort(vals)
    cum = np.cumsum(w[order]) / w.sum()
    return float(vals[order][np.searchsorted(cum, q - 1e-12)])


def _sigma(eng: EngineProfile, sigma: float | None) -> float:
    """The log scatter drawn: `sigma`, else the fit's residual sigma."""
    return float(eng.calibration["residual_sigma_log"]) if sigma is None else float(sigma)


def _draws(eng: EngineProfile, n: int, seed: int) -> tuple[list[EngineProfile], np.ndarray] | None:
    """`n` profiles with the fitted parameters drawn from the fit's covariance (clipped to their
    bounds) and `n` standard normal draws for the scatter (log, in units of sigma); None for a
    profile without a fit."""
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
    noise = rng.normal(0.0, 1.0, size=n)
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
