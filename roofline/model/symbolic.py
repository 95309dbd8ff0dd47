"""The cost model as sympy expressions: formulas to read (`explain`), roots to find (`crossover`),
and lambdified numpy functions for fast sweeps (`sweep`).

The expressions are the resolved Scenario's step evaluated on sympy's namespace (scenario.py), the
very functions `predict` evaluates, with the batch B, the KV depth D and the main-memory bandwidth W
as symbols. They leave out offload (the symbolic model assumes the model fits; `predict` reports
otherwise).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
from dataclasses import dataclass
from typing import Any

import numpy as np

from roofline import cache
from roofline.errors import SpecError, WorkloadError
from roofline.model.mathns import SYMPY
from roofline.model.results import bound_of
from roofline.model.scenario import Scenario, resolve
from roofline.model.workload import MAX_BATCH, MAX_TOKENS, Workload
from roofline.specs.quant import check_quant

VARIABLES = ("batch", "depth", "bandwidth")


@dataclass(frozen=True)
class SymbolicModel:
    """A scenario's step as sympy expressions in B (batch), D (KV depth) and W (bandwidth). They are
    built on first use: `crossover` and `sweep` need only the lambdified tokens/s, which the disk
    cache may already hold (then sympy is not even imported)."""

    scenario: Scenario

    @functools.cached_property
    def _step(self) -> Any:
        return self.scenario.step(SYMPY)

    @functools.cached_property
    def symbols(self) -> dict[str, Any]:
        """batch -> B, depth -> D, bandwidth -> W"""
        return self.scenario.symbols()

    @property
    def step_seconds(self) -> Any:
        return self._step.seconds

    @property
    def tokens_per_second(self) -> Any:
        return self._step.tokens_per_second

    @property
    def terms(self) -> dict[str, Any]:
        """operator -> its time expression"""
        return {t.op.name: t.seconds for t in self._step.times}

    @property
    def host_seconds(self) -> float:
        return self._step.host_seconds

    @property
    def device(self) -> str:
        return self.scenario.device.id

    @property
    def model(self) -> str:
        return self.scenario.model.id

    @property
    def engine(self) -> str:
        return self.scenario.engine.name

    @property
    def quant(self) -> str:
        return self.scenario.quant

    @property
    def workload(self) -> Workload:
        return self.scenario.workload

    @property
    def values(self) -> dict[str, float]:
        """The workload's own values of the symbols."""
        return self.scenario.values()

    @property
    def seconds_per_token(self) -> Any:
        return 1 / self.tokens_per_second

    def function(self, expr: Any | None = None) -> Any:
        """A numpy function of (B, D, W) for `expr` (default: tokens per second), vectorised. It
        assumes the model fits; `evaluate` switches to the offload regime where it does not."""
        if expr is None:
            return self._tokens_per_second_function
        return _lambdify([self.symbols[k] for k in VARIABLES], expr)

    @functools.cached_property
    def _tokens_per_second_function(self) -> Any:
        store = cache.Store.named("lambdified")
        key = _function_key(self.scenario)
        got = store.get(key)
        if got is not None and isinstance(got.get("source"), str):
            cached = _from_source(got["source"])
            if cached is not None:
                return cached
        f = _lambdify([self.symbols[k] for k in VARIABLES], self.tokens_per_second)
        if store.directory is not None:
            source = inspect.getsource(f)
            if _same_function(f, _from_source(source), self.values["bandwidth"]):
                store.put(key, {"source": source})
        return f

    def evaluate(self, batch: Any, depth: Any, bandwidth: Any) -> tuple[np.ndarray, np.ndarray]:
        """(tokens/s, fits) at each point: the lambdified expression where the footprint fits the
        device's usable memory, the numeric path with its offload regime where it does not (as
        `predict` computes it), NaN where it fits neither memory nor any offload tier."""
        b, d, w = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (batch, depth, bandwidth)))
        tps = np.array(np.broadcast_to(self.function()(b, d, w), b.shape), dtype=float)
        fits = np.ones(b.shape, dtype=bool)
        test = self.workload.test
        for idx in np.ndindex(b.shape):
            at = Workload(test=test, depth=d[idx], batch=b[idx])
            if self.scenario.footprint_at(at).fits:
                continue
            fits[idx] = False
            try:
                tps[idx] = self.scenario.at(at).step(bandwidth=float(w[idx])).tokens_per_second
            except SpecError:  # no offload tier holds the excess: it does not run
                tps[idx] = np.nan
        return tps, fits


def _np_max(*args: Any) -> Any:
    return functools.reduce(np.maximum, args)


def _np_min(*args: Any) -> Any:
    return functools.reduce(np.minimum, args)


_NUMPY_FUNCS = {"Max": _np_max, "Min": _np_min, "ceiling": np.ceil}


#: Sources a lambdified formula depends on (with the specs' content and the sympy/numpy versions).
CODE = ("model", "specs", "engines", "data", "units.py", "units.txt")


def _function_key(s: Scenario) -> str:
    """The cache key of a scenario's lambdified tokens/s: the full content of everything the
    expression is built from."""
    pop = s.tables.popularity
    return cache.key(
        "lambdified tokens per second",
        cache.code_fingerprint(CODE, ("numpy", "sympy")),
        s.device.model_dump_json(),
        s.model.model_dump_json(),
        s.engine.model_dump_json(),
        s.quant,
        s.kv_dtype,
        repr(s.workload),
        s.routing,
        repr(s.locality),
        "" if pop is None else repr(np.asarray(pop).tolist()),
    )


def _from_source(source: str) -> Any:
    """The function a lambdified source defines, its names bound as lambdify binds them (our Max,
    Min and ceiling, functools.reduce, numpy); None if it names anything else (builtins included:
    it runs without them)."""
    try:
        code = compile(source, "<roofline lambdified>", "exec")
    except (SyntaxError, ValueError):
        return None
    funcs = [c for c in code.co_consts if isinstance(c, types.CodeType)]
    if len(funcs) != 1:
        return None
    ns: dict[str, Any] = {"__builtins__": {}}
    for name in funcs[0].co_names:
        if name in _NUMPY_FUNCS:
            ns[name] = _NUMPY_FUNCS[name]
        elif name == "reduce":
            ns[name] = functools.reduce
        elif name == "numpy":
            ns[name] = np
        elif hasattr(np, name):
            ns[name] = getattr(np, name)
        else:
            return None
    exec(code, ns)
    return ns.get(funcs[0].co_name)


def _same_function(f: Any, g: Any, bandwidth: float) -> bool:
    """Whether g gives exactly f's values over a grid of batches, depths and bandwidths (a cached
    source is written only when it does)."""
    if g is None:
        return False
    b, d, w = np.meshgrid(
        [1.0, 3.0, 64.0, 1000.0], [0.0, 100.0, 5000.0, 130000.0], [bandwidth / 10, bandwidth]
    )
    try:
        with np.errstate(all="ignore"):
            want = np.broadcast_to(f(b, d, w), b.shape)
            got = np.broadcast_to(g(b, d, w), b.shape)
    except Exception:  # any failure means: do not cache it
        return False
    return bool(np.array_equal(want, got, equal_nan=True))


def _lambdify(syms: list[Any], expr: Any) -> Any:
    """sympy.lambdify onto numpy, without the docstring it would print the whole expression into
    (a fifth of the cost; sympy >= 1.13 can leave it out)."""
    import sympy

    try:
        return sympy.lambdify(syms, expr, modules=[_NUMPY_FUNCS, "numpy"], docstring_limit=0)
    except TypeError:  # sympy < 1.13: no docstring_limit
        return sympy.lambdify(syms, expr, modules=[_NUMPY_FUNCS, "numpy"])


@functools.lru_cache(maxsize=256)
def _build_cached(
    device: str, model: str, workload: Workload, engine: str | None, quant: str | None, kv_dtype: str
) -> SymbolicModel:
    return _build(device, model, workload, engine, quant, kv_dtype)


def build(
    device: Any,
    model: Any,
    workload: Workload | None = None,
    engine: Any = None,
    quant: str | None = None,
    kv_dtype: str = "f16",
) -> SymbolicModel:
    """The symbolic model of (device, model, engine, quant) at a workload's shape (test, ubatch)."""
    w = workload or Workload()
    if all(isinstance(x, (str, type(None))) for x in (device, model, engine)):
        return _build_cached(device, model, w, engine, quant and check_quant(quant), kv_dtype)
    return _build(device, model, w, engine, quant, kv_dtype)


def _build(
    device: Any, model: Any, w: Workload, engine: Any, quant: str | None, kv_dtype: str
) -> SymbolicModel:
    return SymbolicModel(resolve(device, model, w, engine=engine, quant=quant, kv_dtype=kv_dtype))


def explain(sm: SymbolicModel, latex: bool = False, digits: int = 4) -> dict[str, Any]:
    """Per-operator time formulas in B, D, W and the bound each takes at the workload's values."""
    import sympy

    # every symbol replaced in one bottom-up pass: each Max/Min is rebuilt from numbers only (subs()
    # replaces one symbol at a time and has sympy compare the half-substituted terms through its
    # assumptions system, ~40x slower; the value differs in the last bit at most)
    subs = {sm.symbols[k]: sympy.Float(v) for k, v in sm.values.items()}
    step = sm.scenario.step()
    numeric = {t.op.name: t for t in step.times}
    notes = []
    if step.offload is not None and step.offload.tier is not None:
        notes.append(
            f"{sm.model} does not fit {sm.device}'s usable memory at this workload: predict adds "
            f"{step.offload.seconds_per_step * 1e3:.3f} ms per step to fetch weights from "
            f"{step.offload.tier}, which the formula (the model in memory) leaves out"
        )
    rows = []
    for name, expr in sm.terms.items():
        shown = _rounded(expr, digits)
        t = numeric[name]
        rows.append(
            {
                "op": name,
                "formula": sympy.latex(shown) if latex else sympy.sstr(shown),
                "seconds": float(expr.xreplace(subs)),
                "bound": bound_of(float(t.compute), float(t.memory), float(t.overhead)),
            }
        )
    shown_step = _rounded(sm.step_seconds, digits)
    return {
        "device": sm.device,
        "model": sm.model,
        "engine": sm.engine,
        "quant": sm.quant,
        "test": sm.workload.test,
        "symbols": {
            "B": "batch (sequences)",
            "D": "KV depth before the test (tokens)",
            "W": "main-memory bandwidth (bytes/s)",
        },
        "values": sm.values,
        "terms": rows,
        "host_overhead_seconds": sm.host_seconds,
        "step_seconds": sympy.latex(shown_step) if latex else sympy.sstr(shown_step),
        "step_seconds_value": float(sm.step_seconds.xreplace(subs)),
        "notes": notes,
    }


def _rounded(expr: Any, digits: int) -> Any:
    """`expr` with its numbers to `digits` significant digits, for printing. The expression is already
    in canonical form, so it is rounded without re-evaluating it: rebuilding each Max/Min has sympy
    compare every pair of arguments through its assumptions system (7x slower; the same text on
    702 formulas of 80 random device/model/test triples)."""
    import sympy
    from sympy.core.parameters import evaluate

    with evaluate(False):
        return sympy.N(expr, digits)


@dataclass
class Crossover:
    vary: str
    points: list[float]
    lo: float
    hi: float
    ratio_lo: float  # tokens/s of A over B at lo
    ratio_hi: float
    model_a: str
    model_b: str
    device: str
    notes: list[str] = dataclasses.field(default_factory=list)
    #: per model, where along `vary` its footprint stops fitting usable memory (None: fits throughout)
    fit_limits: dict[str, float | None] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return vars(self)

    def describe(self, clipped: bool | None = None, engine: str = "") -> str:
        """The crossover in words: every value of the varied quantity with its unit (sequences,
        tokens, GB/s; integers with thousands separators from 1,000), where each model stops
        fitting, and whether the range was clipped (default: whether the search clipped it)."""
        unit, scale = CROSSOVER_UNITS[self.vary]
        name = "context depth" if self.vary == "depth" else self.vary
        if clipped is None:
            clipped = any(n.startswith("range clipped") for n in self.notes)

        def at(x: float) -> str:
            v = x * scale
            word = unit[:-1] if v == 1 and unit != "GB/s" else unit  # 1 sequence, 1 token
            return f"{v:,.0f} {word}" if v >= 1000 else f"{v:.4g} {word}"

        ratios = (
            f"{self.model_a}/{self.model_b} = {self.ratio_lo:.2f}x at {at(self.lo)}, "
            f"{self.ratio_hi:.2f}x at {at(self.hi)}"
        )
        where = f"on {self.device}" + (f" ({engine})" if engine else "")
        if self.points:
            text = (
                f"{self.model_a} and {self.model_b} break even at {name} = "
                f"{', '.join(at(x) for x in self.points)} {where} ({ratios})"
            )
        else:
            who = self.model_a if self.ratio_lo > 1 else self.model_b
            text = (
                f"no crossover for {name} in {at(self.lo)} to {at(self.hi)} {where}: {who} is faster "
                f"throughout ({ratios})"
            )
        notes = (
            [f"range clipped to {at(self.lo)} to {at(self.hi)}, what {name} can physically be"]
            if clipped
            else []
        )
        for model, limit in self.fit_limits.items():
            if limit is not None:
                since = "throughout" if limit <= self.lo else f"from {name} = {at(limit)}"
                notes.append(
                    f"{model} does not fit {self.device}'s usable memory {since}: there it streams weights "
                    "from the offload tier (or cannot run where no tier holds the excess)"
                )
        return text + "".join(f"; note: {n}" for n in notes)


#: The unit of each variable a crossover varies, and the scale from the model's SI value to it.
CROSSOVER_UNITS = {"batch": ("sequences", 1.0), "depth": ("tokens", 1.0), "bandwidth": ("GB/s", 1e-9)}

DEFAULT_RANGES = {"batch": (1.0, 1024.0), "depth": (0.0, 131072.0)}
#: What each variable can physically be (a Workload's bounds; the bandwidths a device spec may
#: state): a crossover range is clipped to it.
PHYSICAL_RANGES = {
    "batch": (1.0, float(MAX_BATCH)),
    "depth": (0.0, float(MAX_TOKENS)),
    "bandwidth": (1e6, 1e14),
}


def _values_along(sm: SymbolicModel, vary: str, x: np.ndarray) -> list[np.ndarray]:
    """(B, D, W) arrays: `vary` set to x, the others at the workload's own values."""
    return [x if k == vary else np.full_like(x, sm.values[k]) for k in VARIABLES]


def _fit_limit(sm: SymbolicModel, vary: str, lo: float, hi: float) -> float | None:
    """The smallest value of `vary` in [lo, hi] at which the footprint no longer fits (footprints
    grow with batch and depth; bandwidth does not change them), to 1e-6 relative, by bisection."""

    def fits(x: float) -> bool:
        b, d, _ = (float(v) for v in _values_along(sm, vary, np.array(x)))
        return sm.scenario.footprint_at(Workload(test=sm.workload.test, depth=d, batch=b)).fits

    if vary == "bandwidth":
        return None if sm.scenario.footprint.fits else lo
    if fits(hi):
        return None
    if not fits(lo):
        return lo
    a, b = lo, hi
    while b - a > 1e-6 * b:
        mid = (a + b) / 2
        a, b = (mid, b) if fits(mid) else (a, mid)
    return b


def crossover(
    device: Any,
    model_a: Any,
    model_b: Any,
    vary: str,
    workload: Workload | None = None,
    engine: Any = None,
    quant: str | None = None,
    lo: float | None = None,
    hi: float | None = None,
    points: int = 512,
) -> Crossover:
    """Where the two models' throughputs are equal as `vary` (batch, depth or bandwidth) sweeps
    [lo, hi]: sign changes of log(tokens/s A / tokens/s B) on a grid, refined by bisection.
    Where a model does not fit, its throughput is the offload regime's (SymbolicModel.evaluate)."""
    if vary not in VARIABLES:
        raise WorkloadError(f"--vary must be one of {', '.join(VARIABLES)}, got {vary!r}")
    w = workload or Workload()
    sa = build(device, model_a, w, engine, quant)
    sb = build(device, model_b, w, engine, quant)
    if vary == "bandwidth":
        base = sa.values["bandwidth"]
        lo = base / 10 if lo is None else lo
        hi = base * 10 if hi is None else hi
    else:
        dlo, dhi = DEFAULT_RANGES[vary]
        lo = dlo if lo is None else lo
        hi = dhi if hi is None else hi
    try:
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError, OverflowError):
        raise WorkloadError(f"crossover range must be two numbers, got {lo!r}, {hi!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 <= lo < hi):
        raise WorkloadError(f"crossover range must satisfy 0 <= lo < hi (finite), got {lo}, {hi}")
    if vary == "batch" and lo < 1:
        raise WorkloadError("batch range starts at 1")
    plo, phi = PHYSICAL_RANGES[vary]
    if max(lo, plo) >= min(hi, phi):
        raise WorkloadError(
            f"crossover range {lo:g}-{hi:g} lies outside what {vary} can be ({plo:g}-{phi:g})"
        )
    clipped = (max(lo, plo), min(hi, phi)) != (lo, hi)
    lo, hi = max(lo, plo), min(hi, phi)

    def ratio(x: Any) -> Any:
        xs = np.asarray(x, dtype=float)
        return np.log(
            sa.evaluate(*_values_along(sa, vary, xs))[0] / sb.evaluate(*_values_along(sb, vary, xs))[0]
        )

    ends = ratio(np.array([lo, hi]))  # a model that cannot run at an end: say so before the grid
    if not np.isfinite(ends).all():
        at = lo if not np.isfinite(ends[0]) else hi
        raise WorkloadError(
            f"at {vary} = {at:g} one of {sa.model}, {sb.model} fits neither {sa.device}'s memory nor an "
            "offload tier: there is no throughput to compare; narrow the range (--lo/--hi)"
        )
    grid = np.unique(np.concatenate([[lo], np.geomspace(max(lo, 1e-9) if lo > 0 else 1.0, hi, points), [hi]]))
    r = ratio(grid)
    if not np.isfinite(r).all():
        at = float(grid[np.argmin(np.isfinite(r))])
        raise WorkloadError(
            f"at {vary} = {at:g} one of {sa.model}, {sb.model} fits neither {sa.device}'s memory nor an "
            "offload tier: there is no throughput to compare; narrow the range (--lo/--hi)"
        )
    roots = []
    for i in np.nonzero(np.sign(r[:-1]) * np.sign(r[1:]) < 0)[0]:
        roots.append(_bisect(lambda x: float(ratio(x)), grid[i], grid[i + 1], xtol=1e-9 * grid[i + 1]))
    limits = {sm.model: _fit_limit(sm, vary, lo, hi) for sm in (sa, sb)}
    notes = [f"range clipped to {lo:g}-{hi:g}, what {vary} can physically be"] if clipped else []
    for name, limit in limits.items():
        if limit is None:
            continue
        where = (
            "throughout"
            if limit <= lo
            else f"from {vary} = {limit * (1e-9 if vary == 'bandwidth' else 1):.4g}"
        )
        notes.append(
            f"{name} does not fit {sa.device}'s usable memory {where}: there it streams weights from "
            "the offload tier (or cannot run where no tier holds the excess)"
        )
    return Crossover(
        vary,
        roots,
        lo,
        hi,
        float(np.exp(r[0])),
        float(np.exp(r[-1])),
        sa.model,
        sb.model,
        sa.device,
        notes,
        limits,
    )


def _bisect(f: Any, a: float, b: float, xtol: float) -> float:
    """A root of `f` in [a, b], where f(a) and f(b) differ in sign, to within `xtol`. Neighbouring
    grid points are ~1 % apart, so bisection takes ~25 halvings to 1e-9; it is what scipy's brentq
    gives to the same tolerance, without importing scipy.optimize (a fifth of `crossover`'s time)."""
    a, b = float(a), float(b)
    fa = f(a)
    while b - a > xtol:
        mid = (a + b) / 2
        fm = f(mid)
        if fm == 0:
            return mid
        if (fm < 0) == (fa < 0):
            a, fa = mid, fm
        else:
            b = mid
    return (a + b) / 2


def sweep(
    devices: list[str],
    models: list[str],
    quants: list[str],
    batches: list[int],
    depths: list[int],
    test: str = "tg128",
    engine: str | None = None,
) -> list[dict[str, Any]]:
    """Throughput over a grid, through the lambdified functions (one compile per device, model,
    quant) where the model fits and the numeric offload regime where it does not; `fits` says
    which, and `tokens_per_second` is None where it fits neither memory nor any offload tier."""
    rows: list[dict[str, Any]] = []
    bb, dd = np.meshgrid(np.asarray(batches, float), np.asarray(depths, float), indexing="ij")
    for dev in devices:
        for mod in models:
            for q in quants:
                sm = build(dev, mod, Workload(test=test), engine, q)
                tps, fits = sm.evaluate(bb, dd, np.full_like(bb, sm.values["bandwidth"]))
                for (i, j), v in np.ndenumerate(tps):
                    rows.append(
                        {
                            "device": sm.device,
                            "model": sm.model,
                            "quant": q,
                            "engine": sm.engine,
                            "test": test,
                            "batch": int(bb[i, j]),
                            "depth": int(dd[i, j]),
                            "tokens_per_second": None if np.isnan(v) else float(v),
                            "fits": bool(fits[i, j]),
                        }
                    )
    return rows
