"""Calibration: fit an engine profile's efficiency parameters to measured end-to-end runs.

The fitted parameters are the ones the cost model leaves as engine properties: bandwidth efficiency,
compute efficiency (weight matmuls; attention core; weight unpacking), the per-kernel overhead (as a
multiple of the device's launch latency) and the per-step host overhead.
`scipy.optimize.least_squares` minimises log(predicted / measured) within physical bounds, from the
profile's values and from the middle of the bounds (the roofline's max() makes the problem
piecewise, so one start can stall in a regime where a term the rows do show is not the bottleneck);
the covariance s^2 (J^T J)^-1 gives each parameter's uncertainty, and a parameter the rows do not
constrain (its Jacobian column is ~0) keeps its default and is reported as such.
Predictions from a calibrated profile carry an interval: parameters drawn from their covariance, plus
the fit's residual scatter in log space (the model's own error), 10th to 90th percentile.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from roofline.errors import RooflineError
from roofline.model import cost
from roofline.model.engine import PARAMETER_BOUNDS, EngineProfile, load_engine
from roofline.model.scenario import Scenario, resolve
from roofline.model.stacked import stack
from roofline.model.workload import Workload
from roofline.specs.catalog import load_device
from roofline.traces.files import E2E_COLUMNS, E2ERow

#: Parameters of the attention core alone; fitted only from rows at two or more depths, the
#: deepest at least MIN_DEPTH_SPREAD tokens.
ATTENTION_PARAMETERS = (
    "kv_bandwidth_efficiency",
    "attention_efficiency",
    "score_efficiency",
    "attention_key_ops",
)
MIN_DEPTH_SPREAD = 512
#: The matmul-shape constants (EngineProfile.matmul_half_rows, small_batch_efficiency) describe the
#: kernels' structure and are told apart from compute_efficiency only by rows at many micro-batch
#: sizes (a prompt ladder, batched decode): a calibration fits them only when `free` names them.
SHAPE_PARAMETERS = ("matmul_half_rows", "small_batch_efficiency")

#: A direction in parameter space that, moved across its whole physical range, changes the log
#: predictions of all rows together (root sum of squares) by less than this is not constrained by
#: real measurements, whose run-to-run noise alone is several per cent: it keeps its default rather
#: than being fitted to noise.
MIN_EFFECT = 0.05

#: Largest scatter of the log residuals a profile is written for: beyond it the fitted model misses
#: the typical row by more than a factor 10, which says the traces are not runs of this engine on
#: these devices (scaled, mislabelled or mixed up: ms for s, tokens per minute for per second), not that the
#: efficiencies need another decimal. Real runs the model describes badly stay below it: llama.cpp's
#: CPU back-end on the probe's toy models (per-token overhead of ~0.1 ms, weights in L3) is missed by
#: a factor 3 (sigma 1.1-1.6 between machines), and that profile is still the best there is.
MAX_RESIDUAL_SIGMA = float(np.log(10.0))
#: Largest RMS log residual when the rows agree with each other (a common factor): a unit mix-up.
MAX_OFFSET_SIGMA = float(np.log(1000.0))
#: Beyond this RMS log residual (a factor 2) the profile is written with a warning saying how far off
#: its predictions are on the very rows it was fitted to.
WARN_RESIDUAL_SIGMA = float(np.log(2.0))


#: Rows of a fit on which the array evaluation is checked against the per-row path.
CHECK_ROWS = 64


#: The candidate fits scripts/fit_default_profiles.py tries for a bundled profile, in this order:
#: every parameter the rows determine; the compute side with the matmul shapes and overheads; the
#: compute side with bandwidth and the decode steps' per-kernel overhead; the compute side and both
#: overheads; the compute side and the decode overhead; the compute side only (matmul, expert, float
#: and attention efficiencies). What a candidate leaves out keeps the profile's value.
_COMPUTE = (
    "compute_efficiency",
    "expert_compute_efficiency",
    "float_compute_efficiency",
    "attention_efficiency",
)
_DECODE = ("kernel_overhead_scale", "bandwidth_efficiency", "kv_bandwidth_efficiency")
FIT_CANDIDATES: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("all", None),
    (
        "compute, matmul shapes and kernel overheads",
        (*_COMPUTE, "matmul_half_rows", "small_batch_efficiency", "kernel_overhead_scale"),
    ),
    ("compute, bandwidth and decode kernel overhead", (*_COMPUTE, *_DECODE)),
    ("compute and kernel overheads", (*_COMPUTE, "kernel_overhead_scale", "prefill_kernel_overhead_scale")),
    ("compute and decode kernel overhead", (*_COMPUTE, "kernel_overhead_scale")),
    ("compute only", _COMPUTE),
)


class CalibrationError(RooflineError):
    pass


def row_workload(row: E2ERow) -> Workload:
    """The workload a measured row ran (its test, depth, batch, -fa and -ub)."""
    return Workload(
        test=row.test, depth=row.depth, batch=row.batch, flash_attention=row.flash_attn, ubatch=row.ubatch
    )


def scenario(row: E2ERow, engine: EngineProfile | str | None = None) -> Scenario:
    """The measured row's run, resolved (engine: the row's own unless given)."""
    return resolve(
        row.device,
        row.model,
        row_workload(row),
        engine=load_engine(engine or row.engine),
        quant=row.quant,
        kv_dtype=row.kv_dtype,
        build=row.build,
    )


class Runs:
    """Measured rows' runs, resolved once: each distinct (device, model, quant, engine) has its tables
    built once and each of its workloads is costed on them (Scenario.at). One instance serves every
    fit of a report, so a row shared by many held-out training sets is resolved only once."""

    def __init__(self) -> None:
        self._models: dict[tuple[Any, ...], tuple[EngineProfile, Scenario]] = {}
        self._runs: dict[tuple[Any, ...], tuple[EngineProfile, Scenario]] = {}
        self._engines: dict[str, EngineProfile] = {}

    def __call__(self, row: E2ERow, engine: EngineProfile | str | None = None) -> Scenario:
        """`scenario(row, engine)`, from the cache."""
        ref = engine or row.engine
        if isinstance(ref, EngineProfile):
            eng = ref
        else:
            eng = self._engines.get(ref) or self._engines.setdefault(ref, load_engine(ref))
        key = (
            id(eng),
            row.device,
            row.model,
            row.quant,
            row.build,
            row.kv_type,
        )  # the profile is kept alive beside its id
        run_key = (*key, row.test, row.depth, row.batch, row.flash_attn, row.ubatch)
        if run_key in self._runs:
            return self._runs[run_key][1]
        w = row_workload(row)
        if key in self._models:
            s = self._models[key][1].at(w)
        else:
            s = scenario(row, eng)
            self._models[key] = (eng, s)
        self._runs[run_key] = (eng, s)
        return s


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
    warnings: list[str] = field(default_factory=list)  # fitted parameters sitting at a bound

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
            "method": "scipy.optimize.least_squares on log(predicted/measured), bounds "
            + str(PARAMETER_BOUNDS),
        }
        prov = (
            f"calibrated against {len(self.rows)} measured rows ({', '.join(info['devices'])}); "
            f"defaults from: {base.provenance}"
        )
        # a parameter the fit left alone keeps the profile's setting, including "unset" (an unset
        # attention / KV efficiency keeps following the fitted weights' efficiency)
        fitted = {k: v for k, v in self.params.items() if k in self.free or getattr(base, k) is not None}
        return base.model_copy(update={**fitted, "calibration": info, "provenance": prov, "name": base.name})


def fitted_profile(rows: list[E2ERow], engine: str | EngineProfile) -> tuple[Fit, EngineProfile]:
    """Calibrate `engine` on the rows and build its profile; a fit that did not converge, or that
    misses the rows by more than MAX_RESIDUAL_SIGMA in log space, is an error (there is nothing
    worth writing). Parameters fitted to a bound are listed in `fit.warnings`."""
    base = load_engine(engine)
    fit = calibrate(rows, base)
    if not fit.converged:
        raise CalibrationError(f"calibration did not converge ({fit.message}); no profile written")
    # Rows that disagree with each other (their log residuals scattered around their mean) cannot be
    # one engine on one machine; rows that agree but all miss by the same factor are a machine slower
    # or faster than the model can reach (a busy CI VM measures toy models 3-14x slower than its
    # spec), which a warning reports, unless the factor is a unit's (1000x: ms for s).
    res = np.asarray(fit.residuals, dtype=float)
    scatter = float(np.std(res)) if res.size else 0.0
    if not (scatter <= MAX_RESIDUAL_SIGMA and fit.residual_sigma <= MAX_OFFSET_SIGMA):
        raise CalibrationError(
            f"the fit misses the {len(fit.rows)} rows by a factor {_exp(fit.residual_sigma)} on average, "
            f"scattered by a factor {_exp(scatter)} (log residual sigma {fit.residual_sigma:.3g}, "
            f"scatter {scatter:.3g} > {MAX_RESIDUAL_SIGMA:g} or offset > {MAX_OFFSET_SIGMA:g}): these traces "
            f"cannot be {base.name} on {', '.join(sorted({r.device for r in fit.rows}))} (scaled or "
            "mislabelled throughputs?); no profile written"
        )
    if fit.residual_sigma > WARN_RESIDUAL_SIGMA:
        fit.warnings.append(
            f"the fitted model still misses these {len(fit.rows)} rows by a factor "
            f"{_exp(fit.residual_sigma)} on average: predictions with this profile carry that error "
            "(rows outside what the model describes, e.g. toy models dominated by per-token overhead?)"
        )
    return fit, fit.profile(base)


def _exp(x: float) -> str:
    return f"{np.exp(x):.3g}" if x < 700 else "beyond 1e300"


#: Rows equal in these fields are repeated measurements of one configuration.
REPEAT_FIELDS = E2E_COLUMNS[: E2E_COLUMNS.index("tokens_per_s")]  # what a run was, not what it measured


def repeat_key(r: E2ERow) -> tuple[Any, ...]:
    return tuple(getattr(r, f) for f in REPEAT_FIELDS)


def best_of_repeats(rows: list[E2ERow]) -> list[E2ERow]:
    """One row per configuration: the fastest of its repeated measurements (e.g. sweeps on a shared
    machine). Sharing a machine can only slow a run down, so the best run is the closest estimate of
    what the machine does on its own; the spread between runs is reported, not fitted."""
    best: dict[tuple[Any, ...], E2ERow] = {}
    for r in rows:
        k = repeat_key(r)
        if k not in best or r.tokens_per_s > best[k].tokens_per_s:
            best[k] = r
    return list(best.values())


def calibrate(
    rows: list[E2ERow],
    engine: str | EngineProfile,
    free: tuple[str, ...] | None = None,
    balance_devices: bool = False,
    runs: Runs | None = None,
) -> Fit:
    """Fit `free` (default: PARAMETER_BOUNDS but SHAPE_PARAMETERS) to the rows; repeated
    configurations are merged first (best_of_repeats). `balance_devices` weighs each device's rows
    together as much as any other device's (a profile meant for devices nobody measured should not
    follow the most measured one).
    `runs`: a cache of resolved rows shared between fits (default: one for this fit)."""
    rows = best_of_repeats(rows)
    if not rows:
        raise CalibrationError("no rows to calibrate on")
    base = load_engine(engine)
    runs = runs or Runs()
    scens = [runs(r, base) for r in rows]
    names = list(free or (n for n in PARAMETER_BOUNDS if n not in SHAPE_PARAMETERS))
    depths = {r.depth for r in rows}
    if free is None and (len(depths) < 2 or max(depths) < MIN_DEPTH_SPREAD):
        # the attention core is told apart from the weights' compute and bandwidth only by varying
        # the context: without rows at a deep and a shallow depth its parameters keep their defaults
        names = [n for n in names if n not in ATTENTION_PARAMETERS]
    x0 = np.array([base.value(n) for n in names])
    lo = np.array([PARAMETER_BOUNDS[n][0] for n in names])
    hi = np.array([PARAMETER_BOUNDS[n][1] for n in names])
    x0 = np.clip(x0, lo, hi)
    meas = np.log([r.tokens_per_s for r in rows])
    per_device: dict[str, int] = {}
    for r in rows:
        per_device[r.device] = per_device.get(r.device, 0) + 1
    weight = np.sqrt(
        [len(rows) / (len(per_device) * per_device[r.device]) if balance_devices else 1.0 for r in rows]
    )

    # the rows costed as arrays (model.stacked: the same arithmetic, hundreds of times faster than a
    # Python loop per row), checked against the per-row path on a sample of rows with every fitted
    # parameter set; should they ever differ (a cost-model change stacked does not follow yet), the fit
    # takes the per-row path
    stacked = stack(scens)
    probe = with_params(base, dict(zip(names, x0, strict=True)))
    sample = slice(None, None, max(1, len(scens) // CHECK_ROWS))
    want = np.array([s.tokens_per_second(probe) for s in scens[sample]])
    exact = bool(np.allclose(stacked.tokens_per_second(probe)[sample], want, rtol=1e-12, atol=0.0))

    def resid(x: np.ndarray) -> np.ndarray:
        eng = with_params(base, dict(zip(names, x, strict=True)))
        tps = stacked.tokens_per_second(eng) if exact else [s.tokens_per_second(eng) for s in scens]
        return (np.log(tps) - meas) * weight

    # Parameters the rows cannot see, or cannot tell apart from another (a direction of the scaled
    # Jacobian with a negligible singular value), are left out of the fit and keep their defaults.
    # Which parameters the rows see depends on where the fit is (a term that is not the bottleneck
    # at the defaults may be at the optimum), so the check is repeated at the solution and the fit
    # redone until the free set settles.
    span = hi - lo
    mid = np.where(lo > 0, np.sqrt(np.maximum(lo, 1e-12) * hi), (lo + hi) / 2)
    best = None
    for x_start in (x0, np.where([n.endswith("efficiency") for n in names], mid, x0)):
        try:
            got = _fit_from(resid, x_start, x0, lo, hi, span, names, len(rows))
        except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:  # e.g. non-finite residuals
            raise CalibrationError(f"the fit cannot be evaluated on these rows ({exc})") from None
        if best is None or float(got[2].fun @ got[2].fun) < float(best[2].fun @ best[2].fun):
            best = got
    assert best is not None
    active, resid_active, sol = best
    # A parameter fitted to less than twice its 1-sigma uncertainty (t < 2, the usual ~95 % test) is
    # not determined by the rows (a few depth-0 rows barely see attention, yet a free fit uses it to
    # soak up scatter): the least determined one goes back to its default and the rest are refitted,
    # until all are determined.
    while True:
        cov, s2 = _covariance(resid_active, sol, lo[active], hi[active])
        rel = np.sqrt(np.maximum(np.diag(cov), 0.0)) / np.maximum(np.abs(sol.x), 1e-300)
        worst = int(np.argmax(rel))
        if rel[worst] <= 0.5 or len(active) == 1:
            break
        keep = [k for k in range(len(active)) if k != worst]
        active = [active[k] for k in keep]
        x = x0.copy()  # the dropped one back to its default, the others where the fit left them
        x[active] = sol.x[keep]
        resid_active = _restricted(resid, x, active)
        sol = _solve(resid_active, x[active], lo[active], hi[active])
    act_names = [names[i] for i in active]
    warnings = [
        f"{names[i]} was fitted to its bound ({sol.x[k]:.4g}, range {lo[i]:g}-{hi[i]:g}): the rows ask for "
        "a value this engine cannot physically have, so other terms absorb the difference"
        for k, i in enumerate(active)
        if min(sol.x[k] - lo[i], hi[i] - sol.x[k]) <= 1e-6 * (hi[i] - lo[i])
    ]
    r = sol.fun
    params = {n: base.value(n) for n in names}
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
        warnings,
    )


def _fit_from(
    resid: Any,
    x_start: np.ndarray,
    x0: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    span: np.ndarray,
    names: list[str],
    n_rows: int,
) -> tuple[list[int], Any, Any]:
    """One start of the fit: (free parameter indices, their residual function, the solution)."""
    x = x_start.copy()
    active: list[int] = []
    sol: Any = None
    fun: Any = None
    for _ in range(4):
        now = _identifiable(_jacobian(resid, x, lo, hi), span)
        if now == active:
            break
        active = now
        if not active:
            raise CalibrationError("none of the parameters changes the predictions of these rows")
        if n_rows <= len(active):
            raise CalibrationError(
                f"{n_rows} rows cannot constrain {len(active)} parameters "
                f"({', '.join(names[i] for i in active)})"
            )
        x = np.where(np.isin(np.arange(len(names)), active), x, x0)  # dropped ones back to default
        fun = _restricted(resid, x, active)
        sol = _solve(fun, x[active], lo[active], hi[active])
        x[active] = sol.x
    if sol is None:
        raise CalibrationError("none of the parameters changes the predictions of these rows")
    return active, fun, sol


def _solve(fun: Any, x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> Any:
    """Bounded least squares on log residuals (scipy's trust-region reflective)."""
    from scipy.optimize import least_squares

    return least_squares(fun, x, bounds=(lo, hi), x_scale="jac", diff_step=1e-4, max_nfev=200)


def _covariance(fun: Any, sol: Any, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, float]:
    """Parameter covariance s^2 (J^T J)^-1 at a solution, and s^2 (dof-corrected)."""
    r = sol.fun
    s2 = float(r @ r) / max(1, len(r) - len(sol.x))
    jac = _jacobian(fun, sol.x, lo, hi)
    return np.linalg.pinv(jac.T @ jac) * s2, s2


def _restricted(resid: Any, start: np.ndarray, idx: list[int]) -> Any:
    """resid as a function of the parameters `idx` only, the others held at `start`."""

    start = start.copy()

    def fun(xa: np.ndarray) -> np.ndarray:
        full = start.copy()
        full[idx] = xa
        return resid(full)

    return fun


def _identifiable(jac: np.ndarray, span: np.ndarray) -> list[int]:
    """Columns of the Jacobian (scaled by each parameter's range) that are neither ~0 nor a
    combination of the others: drop, one at a time, the parameter that dominates the direction of
    the smallest singular value until that value is no longer negligible, relative to the largest
    and in absolute terms (MIN_EFFECT)."""
    active = [i for i in range(jac.shape[1]) if np.any(jac[:, i] != 0)]
    while active:
        _, sv, vt = np.linalg.svd(jac[:, active] * span[active], full_matrices=False)
        if sv[-1] > max(1e-4 * sv[0], MIN_EFFECT):
            break
        active.pop(int(np.argmax(np.abs(vt[-1]))))
    return active


def _jacobian(f: Any, x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    f0 = f(x)
    cols = []
    for i in range(len(x)):
        h = max(1e-3 * abs(x[i]), 1e-5 * (hi[i] - lo[i]))
        xp = x.copy()
        xp[i] = min(x[i] + h, hi[i]) if x[i] + h <= hi[i] else x[i] - h
        cols.append((f(xp) - f0) / (xp[i] - x[i]))
    return np.stack(cols, axis=1)


__all__ = ["Fit", "Runs", "best_of_repeats", "calibrate", "calibrate_micro", "fitted_profile", "scenario"]


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
    if len({r.bytes for r in stream}) < 2:
        raise CalibrationError(
            "need streaming rows of at least two sizes with working sets >= "
            f"{4 * biggest / 2**20:.0f} MiB (a line through one size has no slope)"
        )
    x = np.array([r.bytes for r in stream])
    y = np.array([r.seconds for r in stream])
    a_mat = np.stack([x, np.ones_like(x)], axis=1)
    coef, *_ = np.linalg.lstsq(a_mat, y, rcond=None)
    slope, t0 = float(coef[0]), max(float(coef[1]), 0.0)
    if not np.isfinite(slope) or slope <= 0:
        raise CalibrationError("streaming times do not grow with the bytes streamed: no bandwidth to fit")
    resid = y - a_mat @ coef
    s2 = float(resid @ resid) / max(1, len(y) - 2)
    cov = np.linalg.inv(a_mat.T @ a_mat) * s2
    be = 1.0 / (slope * mc.main_bandwidth)
    be = _sane(
        "bandwidth_efficiency", be, f"{1 / slope:.3g} B/s measured against {mc.main_bandwidth:.3g} B/s peak"
    )
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
        ce = _sane(
            "compute_efficiency", best / peak, f"{best:.3g} FLOP/s measured against {peak:.3g} FLOP/s peak"
        )
        info["compute_efficiency"] = {"value": ce, "dtype": dtype, "best_flops": best, "peak_flops": peak}
        update["compute_efficiency"] = ce
    graph = [r.seconds for r in rows if r.kind == "launch-graph"]
    eager = [r.seconds for r in rows if r.kind == "launch"]
    if graph or eager:
        k = min(graph) if graph else min(eager)
        if not 0 < k <= 1.0:
            raise CalibrationError(f"per-kernel time {k:.3g} s is not a launch overhead (0-1 s)")
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


#: A measured rate may exceed the spec's peak by measurement noise and boost clocks, not by this.
MAX_OVER_PEAK = 1.5


def _sane(name: str, value: float, what: str) -> float:
    """A microbenchmark efficiency (measured / peak), capped at its upper bound; one below its
    physical range or far above peak says the trace is not of this device."""
    lo, hi = PARAMETER_BOUNDS[name]
    if not lo <= value <= MAX_OVER_PEAK * hi:
        raise CalibrationError(
            f"{name} would be {value:.3g} ({what}), outside {lo:g}-{hi:g}: the trace cannot be of this "
            "device (scaled or mislabelled measurements?); no profile written"
        )
    return min(value, hi)
