"""Calibration: fit an engine profile's efficiency parameters to measured end-to-end runs.

The fitted parameters are the ones the cost model leaves as engine properties: bandwidth efficiency,
compute efficiency, the per-kernel overhead (as a multiple of the device's launch latency) and the
per-step host overhead. `scipy.optimize.least_squares` minimises log(predicted / measured) within
physical bounds; the covariance s^2 (J^T J)^-1 gives each parameter's uncertainty, and a parameter the
rows do not constrain (its Jacobian column is ~0) keeps its default and is reported as such.
Predictions from a calibrated profile carry an interval: parameters drawn from their covariance, plus
the fit's residual scatter in log space (the model's own error), 10th to 90th percentile.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import numpy as np

from roofline.errors import RooflineError
from roofline.model import cost
from roofline.model.engine import EngineProfile, load_engine
from roofline.model.mathns import NUMPY
from roofline.model.operators import build_tables
from roofline.model.workload import Workload
from roofline.specs.catalog import load_device, load_model
from roofline.validation.traces import E2ERow

#: name -> (lower bound, upper bound); physical ranges, not tuning knobs
PARAMETERS: dict[str, tuple[float, float]] = {
    "bandwidth_efficiency": (0.05, 1.0),
    "compute_efficiency": (0.01, 1.0),
    "kernel_overhead_scale": (0.0, 20.0),
    "per_step_overhead": (0.0, 0.05),
}


class CalibrationError(RooflineError):
    pass


@dataclass
class Scenario:
    """One measured row, with everything the cost model needs that calibration does not change."""

    row: E2ERow
    base: EngineProfile
    ops: list[Any]
    tables: Any
    steps: float
    tokens_in_test: float
    footprint: Any
    device: Any
    model: Any

    def tokens_per_second(self, eng: EngineProfile) -> float:
        mc = cost.resolve_machine(self.device, eng, self.model.is_moe)
        times = cost.op_times(self.ops, mc, eng, NUMPY, mc.main_bandwidth)
        host = cost.host_seconds(self.device, self.model.n_layers, eng, mc)
        off = cost.offload(self.tables, mc, self.footprint, self.ops, 0.0)
        step = float(sum(float(t.seconds) for t in times)) + host + off.seconds_per_step
        return self.tokens_in_test / (self.steps * step)


def scenario_from(
    dev: Any, mdl: Any, eng: EngineProfile, tb: Any, w: Workload, sv: Any, fp: Any, row: E2ERow | None = None
) -> Scenario:
    ops = cost.step_operators(tb, eng, NUMPY, sv.tokens, sv.seqs, sv.keys, sv.kv_len)
    return Scenario(row, eng, ops, tb, sv.steps, sv.tokens_in_test, fp, dev, mdl)  # type: ignore[arg-type]


def scenario(row: E2ERow, engine: EngineProfile | str | None = None) -> Scenario:
    dev, mdl = load_device(row.device), load_model(row.model)
    eng = load_engine(engine or row.engine)
    tb = build_tables(mdl, row.quant)
    w = Workload(test=row.test, depth=row.depth, batch=row.batch)
    mc = cost.resolve_machine(dev, eng, mdl.is_moe)
    sv = cost.step_vars(w, eng, NUMPY)
    vals = [
        float(np.asarray(getattr(sv, f)))
        for f in ("tokens", "seqs", "keys", "kv_len", "steps", "tokens_in_test")
    ]
    sv = cost.StepVars(*vals)
    fp = cost.footprint(tb, mc, eng, w, sv)
    return scenario_from(dev, mdl, eng, tb, w, sv, fp, row)


def with_params(base: EngineProfile, params: dict[str, float]) -> EngineProfile:
    return base.model_copy(update=params)


@dataclass
class Fit:
    engine: str
    params: dict[str, float]
    sigma: dict[str, float | None]  # None: not constrained by the rows (kept at default)
    covariance: list[list[float]]
    free: list[str]
    residual_sigma: float  # RMS of log residuals (dof-corrected)
    residuals: list[float]
    rows: list[E2ERow]
    converged: bool
    message: str

    def profile(self, base: EngineProfile) -> EngineProfile:
        info = {
            "fitted": {k: {"value": v, "sigma": self.sigma.get(k)} for k, v in self.params.items()},
            "free_parameters": self.free,
            "covariance": self.covariance,
            "residual_sigma_log": self.residual_sigma,
            "n_rows": len(self.rows),
            "devices": sorted({r.device for r in self.rows}),
            "models": sorted({r.model for r in self.rows}),
            "phases": sorted({r.phase for r in self.rows}),
            "batch_range": [min(r.batch for r in self.rows), max(r.batch for r in self.rows)],
            "depth_range": [min(r.depth for r in self.rows), max(r.depth for r in self.rows)],
            "residuals_log": self.residuals,
            "date": datetime.date.today().isoformat(),
            "method": "scipy.optimize.least_squares on log(predicted/measured), bounds " + str(PARAMETERS),
        }
        prov = (
            f"calibrated against {len(self.rows)} measured rows ({', '.join(info['devices'])}); "
            f"defaults from: {base.provenance}"
        )
        return base.model_copy(
            update={**self.params, "calibration": info, "provenance": prov, "name": base.name}
        )


def calibrate(rows: list[E2ERow], engine: str | EngineProfile, free: tuple[str, ...] | None = None) -> Fit:
    from scipy.optimize import least_squares

    if not rows:
        raise CalibrationError("no rows to calibrate on")
    base = load_engine(engine)
    scens = [scenario(r, base) for r in rows]
    names = list(free or PARAMETERS)
    x0 = np.array([float(getattr(base, n)) for n in names])
    lo = np.array([PARAMETERS[n][0] for n in names])
    hi = np.array([PARAMETERS[n][1] for n in names])
    x0 = np.clip(x0, lo, hi)
    meas = np.log([r.tokens_per_s for r in rows])

    def resid(x: np.ndarray) -> np.ndarray:
        eng = with_params(base, dict(zip(names, x, strict=True)))
        return np.log([s.tokens_per_second(eng) for s in scens]) - meas

    # Parameters the rows cannot see, or cannot tell apart from another (a direction of the scaled
    # Jacobian with a negligible singular value), are left out of the fit and keep their defaults.
    active = list(range(len(names)))
    span = hi - lo
    j0 = _jacobian(resid, x0, lo, hi)
    while active:
        js = j0[:, active] * span[active]
        _, sv, vt = np.linalg.svd(js, full_matrices=False)
        if sv[-1] > 1e-4 * sv[0]:
            break
        active.pop(int(np.argmax(np.abs(vt[-1]))))
    if not active:
        raise CalibrationError("none of the parameters changes the predictions of these rows")
    act_names = [names[i] for i in active]
    if len(rows) <= len(active):
        raise CalibrationError(
            f"{len(rows)} rows cannot constrain {len(active)} parameters ({', '.join(act_names)})"
        )

    def resid_active(xa: np.ndarray) -> np.ndarray:
        x = x0.copy()
        x[active] = xa
        return resid(x)

    sol = least_squares(
        resid_active, x0[active], bounds=(lo[active], hi[active]), x_scale="jac", diff_step=1e-4, max_nfev=200
    )
    r = sol.fun
    dof = max(1, len(r) - len(active))
    s2 = float(r @ r) / dof
    jac = _jacobian(resid_active, sol.x, lo[active], hi[active])
    cov = np.linalg.inv(jac.T @ jac) * s2
    params = {n: float(getattr(base, n)) for n in names}
    sigma: dict[str, float | None] = dict.fromkeys(names)
    for k, i in enumerate(active):
        params[names[i]] = float(sol.x[k])
        sigma[names[i]] = float(np.sqrt(max(cov[k, k], 0.0)))
    return Fit(
        base.name,
        params,
        sigma,
        cov.tolist(),
        act_names,
        float(np.sqrt(s2)),
        [float(v) for v in r],
        rows,
        bool(sol.success),
        str(sol.message),
    )


def _jacobian(f: Any, x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    f0 = f(x)
    cols = []
    for i in range(len(x)):
        h = 1e-3 * max(abs(x[i]), 1e-3)
        xp = x.copy()
        xp[i] = min(x[i] + h, hi[i]) if x[i] + h <= hi[i] else x[i] - h
        cols.append((f(xp) - f0) / (xp[i] - x[i]))
    return np.stack(cols, axis=1)


def interval(s: Scenario, eng: EngineProfile, n: int = 200, seed: int = 0) -> tuple[float, float, float]:
    """(10th percentile, central, 90th percentile) tokens/s from a calibrated profile: parameter
    uncertainty (covariance) and the fit's residual scatter."""
    cal = eng.calibration
    central = s.tokens_per_second(eng)
    if not cal:
        return central, central, central
    free = cal["free_parameters"]
    if not free:  # calibrated from microbenchmarks: no fitted covariance to propagate
        return central, central, central
    mean = np.array([cal["fitted"][k]["value"] for k in free])
    cov = np.array(cal["covariance"])
    rng = np.random.default_rng(seed)
    draws = rng.multivariate_normal(mean, cov, size=n, check_valid="ignore")
    lo = np.array([PARAMETERS[k][0] for k in free])
    hi = np.array([PARAMETERS[k][1] for k in free])
    draws = np.clip(draws, lo, hi)
    noise = rng.normal(0.0, cal["residual_sigma_log"], size=n)
    vals = np.array(
        [s.tokens_per_second(eng.model_copy(update=dict(zip(free, d, strict=True)))) for d in draws]
    )
    vals = vals * np.exp(noise)
    return float(np.percentile(vals, 10)), central, float(np.percentile(vals, 90))


def outside_range(eng: EngineProfile, device: str, model: str, w: Workload) -> list[str]:
    """Warnings when a prediction leaves the range a profile was calibrated on."""
    cal = eng.calibration
    if not cal:
        return []
    out = []
    if cal.get("source") == "microbenchmark trace":
        return (
            []
            if device in cal["devices"]
            else [
                f"{eng.name} was calibrated from microbenchmarks of "
                f"{', '.join(cal['devices'])}, not of {device}"
            ]
        )
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


__all__ = ["Fit", "Scenario", "calibrate", "interval", "outside_range", "scenario"]


# ---- microbenchmark traces ---------------------------------------------------------------------
def calibrate_micro(
    rows: list[Any], device: Any, engine: str | EngineProfile
) -> tuple[EngineProfile, dict[str, Any]]:
    """An engine profile from kernel-level measurements of one device.

    Main memory: rows that stream a working set of at least 4x the largest on-chip level are fitted by
    the Hockney line t = bytes / (efficiency x peak bandwidth) + t0 (linear least squares; t0 is the
    per-kernel start-up cost). Compute: the best large GEMM's FLOP/s over the device's peak for that
    dtype. Kernel overhead: the measured per-kernel time of back-to-back tiny kernels (CUDA-graph
    replay where measured, as engines that use graphs see it)."""
    dev = load_device(device)
    base = load_engine(engine)
    mc = cost.resolve_machine(dev, base)
    biggest = max((cap for _, cap, _ in mc.cache_levels), default=0.0)
    big = [r for r in rows if r.bytes > 0 and r.working_set_bytes >= 4 * biggest]
    # numpy's streaming kernels use one thread; BLAS GEMV uses all of them, as an engine does
    gemv = [r for r in big if r.kind == "gemv"]
    stream = (
        gemv
        if len(gemv) >= 2
        else [r for r in big if r.kind in ("stream-read", "stream-copy", "stream-triad")]
    )
    if len(stream) < 2:
        raise CalibrationError(
            f"need at least two streaming rows with working sets >= {4 * biggest / 2**20:.0f} MiB"
        )
    x = np.array([r.bytes for r in stream])
    y = np.array([r.seconds for r in stream])
    a_mat = np.stack([x, np.ones_like(x)], axis=1)
    coef, *_ = np.linalg.lstsq(a_mat, y, rcond=None)
    slope, t0 = float(coef[0]), max(float(coef[1]), 0.0)
    resid = y - a_mat @ coef
    s2 = float(resid @ resid) / max(1, len(y) - 2)
    cov = np.linalg.inv(a_mat.T @ a_mat) * s2
    be = min(1.0, 1.0 / (slope * mc.main_bandwidth))
    be_sigma = float(np.sqrt(cov[0, 0])) / slope * be if len(y) > 2 else None  # two points: no scatter
    info: dict[str, Any] = {
        "bandwidth_efficiency": {"value": be, "sigma": be_sigma, "rows": len(stream)},
        "kernel_startup_t0_s": t0,
    }
    update: dict[str, Any] = {"bandwidth_efficiency": be}
    gemm = [r for r in rows if r.kind == "gemm" and r.flops > 0]
    if gemm:
        dtype = max(
            {r.dtype for r in gemm}, key=lambda d: max(q.flops / q.seconds for q in gemm if q.dtype == d)
        )
        best = max(r.flops / r.seconds for r in gemm if r.dtype == dtype)
        peak = mc.processor.peak(dtype) or mc.peak_flops
        ce = min(1.0, best / peak)
        info["compute_efficiency"] = {"value": ce, "dtype": dtype, "best_flops": best, "peak_flops": peak}
        update["compute_efficiency"] = ce
    graph = [r.seconds for r in rows if r.kind == "launch-graph"]
    eager = [r.seconds for r in rows if r.kind == "launch"]
    if graph or eager:
        k = min(graph) if graph else min(eager)
        info["kernel_overhead_s"] = {
            "value": k,
            "from": "launch-graph" if graph else "launch",
            "eager_s": min(eager) if eager else None,
        }
        update["kernel_overhead"] = k
    info.update(
        {
            "source": "microbenchmark trace",
            "device": dev.id,
            "date": datetime.date.today().isoformat(),
            "devices": [dev.id],
            "phases": ["decode", "prefill"],
            "batch_range": [1, 1],
            "depth_range": [0, 0],
            "free_parameters": [],
            "covariance": [],
            "residual_sigma_log": 0.0,
            "fitted": {},
        }
    )
    prov = f"calibrated from microbenchmarks of {dev.id}; defaults from: {base.provenance}"
    return base.model_copy(update={**update, "calibration": info, "provenance": prov}), info
