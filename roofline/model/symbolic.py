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
from dataclasses import dataclass
from typing import Any

import numpy as np

from roofline.errors import WorkloadError
from roofline.model.mathns import SYMPY
from roofline.model.results import bound_of
from roofline.model.scenario import Scenario, resolve
from roofline.model.workload import Workload
from roofline.specs.quant import check_quant

VARIABLES = ("batch", "depth", "bandwidth")


@dataclass(frozen=True)
class SymbolicModel:
    """A scenario's step as sympy expressions in B (batch), D (KV depth) and W (bandwidth)."""

    scenario: Scenario
    symbols: dict[str, Any]  # batch -> B, depth -> D, bandwidth -> W
    step_seconds: Any
    tokens_per_second: Any
    terms: dict[str, Any]  # operator -> its time expression
    host_seconds: float

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
        """A numpy function of (B, D, W) for `expr` (default: tokens per second), vectorised."""
        import sympy

        target = self.tokens_per_second if expr is None else expr
        syms = [self.symbols[k] for k in VARIABLES]
        return sympy.lambdify(syms, target, modules=[_NUMPY_FUNCS, "numpy"])


def _np_max(*args: Any) -> Any:
    return functools.reduce(np.maximum, args)


def _np_min(*args: Any) -> Any:
    return functools.reduce(np.minimum, args)


_NUMPY_FUNCS = {"Max": _np_max, "Min": _np_min, "ceiling": np.ceil}


@functools.lru_cache(maxsize=256)
def _build_cached(
    device: str, model: str, workload: Workload, engine: str | None, quant: str, kv_dtype: str
) -> SymbolicModel:
    return _build(device, model, workload, engine, quant, kv_dtype)


def build(
    device: Any,
    model: Any,
    workload: Workload | None = None,
    engine: Any = None,
    quant: str = "Q4_K_M",
    kv_dtype: str = "f16",
) -> SymbolicModel:
    """The symbolic model of (device, model, engine, quant) at a workload's shape (test, ubatch)."""
    w = workload or Workload()
    if all(isinstance(x, (str, type(None))) for x in (device, model, engine)):
        return _build_cached(device, model, w, engine, check_quant(quant), kv_dtype)
    return _build(device, model, w, engine, quant, kv_dtype)


def _build(device: Any, model: Any, w: Workload, engine: Any, quant: str, kv_dtype: str) -> SymbolicModel:
    scn = resolve(device, model, w, engine=engine, quant=quant, kv_dtype=kv_dtype)
    step = scn.step(SYMPY)
    return SymbolicModel(
        scenario=scn,
        symbols=scn.symbols(),
        step_seconds=step.seconds,
        tokens_per_second=step.tokens_per_second,
        terms={t.op.name: t.seconds for t in step.times},
        host_seconds=step.host_seconds,
    )


def explain(sm: SymbolicModel, latex: bool = False, digits: int = 4) -> dict[str, Any]:
    """Per-operator time formulas in B, D, W and the bound each takes at the workload's values."""
    import sympy

    subs = {sm.symbols[k]: v for k, v in sm.values.items()}
    numeric = {t.op.name: t for t in sm.scenario.step().times}
    rows = []
    for name, expr in sm.terms.items():
        shown = sympy.N(expr, digits)
        t = numeric[name]
        rows.append(
            {
                "op": name,
                "formula": sympy.latex(shown) if latex else sympy.sstr(shown),
                "seconds": float(expr.subs(subs)),
                "bound": bound_of(float(t.compute), float(t.memory), float(t.overhead)),
            }
        )
    step = sympy.N(sm.step_seconds, digits)
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
        "step_seconds": sympy.latex(step) if latex else sympy.sstr(step),
        "step_seconds_value": float(sm.step_seconds.subs(subs)),
    }


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

    def to_json(self) -> dict[str, Any]:
        return vars(self)

    def _with_notes(self, text: str) -> str:
        return text + "".join(f"; note: {n}" for n in self.notes)

    def describe(self) -> str:
        unit = {"batch": "sequences", "depth": "tokens of context", "bandwidth": "GB/s"}[self.vary]
        scale = 1e-9 if self.vary == "bandwidth" else 1.0
        span = f"{self.lo * scale:g}-{self.hi * scale:g} {unit}"
        if not self.points:
            who = self.model_a if self.ratio_lo > 1 else self.model_b
            return self._with_notes(
                f"no crossover for {self.vary} in {span}: {who} is faster throughout "
                f"({self.model_a}/{self.model_b} = {self.ratio_lo:.2f}x at {self.lo * scale:g}, "
                f"{self.ratio_hi:.2f}x at {self.hi * scale:g})"
            )
        pts = ", ".join(f"{p * scale:.4g}" for p in self.points)
        return self._with_notes(
            f"{self.model_a} and {self.model_b} break even at {self.vary} = {pts} {unit} on {self.device} "
            f"({self.model_a}/{self.model_b} = {self.ratio_lo:.2f}x at {self.lo * scale:g}, "
            f"{self.ratio_hi:.2f}x at {self.hi * scale:g})"
        )


DEFAULT_RANGES = {"batch": (1.0, 1024.0), "depth": (0.0, 131072.0)}


def crossover(
    device: Any,
    model_a: Any,
    model_b: Any,
    vary: str,
    workload: Workload | None = None,
    engine: Any = None,
    quant: str = "Q4_K_M",
    lo: float | None = None,
    hi: float | None = None,
    points: int = 512,
) -> Crossover:
    """Where the two models' throughputs are equal as `vary` (batch, depth or bandwidth) sweeps
    [lo, hi]: sign changes of log(tokens/s A / tokens/s B) on a grid, refined by Brent's method."""
    from scipy.optimize import brentq

    if vary not in VARIABLES:
        raise WorkloadError(f"--vary must be one of {', '.join(VARIABLES)}, got {vary!r}")
    w = workload or Workload()
    sa = build(device, model_a, w, engine, quant)
    sb = build(device, model_b, w, engine, quant)
    fa, fb = sa.function(), sb.function()
    if vary == "bandwidth":
        base = sa.values["bandwidth"]
        lo = base / 10 if lo is None else lo
        hi = base * 10 if hi is None else hi
    else:
        dlo, dhi = DEFAULT_RANGES[vary]
        lo = dlo if lo is None else lo
        hi = dhi if hi is None else hi
    if not 0 <= lo < hi:
        raise WorkloadError(f"crossover range must satisfy 0 <= lo < hi, got {lo}, {hi}")
    if vary == "batch" and lo < 1:
        raise WorkloadError("batch range starts at 1")

    def ratio(x: Any) -> Any:
        args = [
            np.full_like(np.asarray(x, dtype=float), sa.values[k]) if k != vary else np.asarray(x, float)
            for k in VARIABLES
        ]
        args_b = [
            np.full_like(np.asarray(x, dtype=float), sb.values[k]) if k != vary else np.asarray(x, float)
            for k in VARIABLES
        ]
        return np.log(fa(*args) / fb(*args_b))

    grid = np.unique(np.concatenate([[lo], np.geomspace(max(lo, 1e-9) if lo > 0 else 1.0, hi, points), [hi]]))
    r = ratio(grid)
    roots = []
    for i in np.nonzero(np.sign(r[:-1]) * np.sign(r[1:]) < 0)[0]:
        roots.append(float(brentq(lambda x: float(ratio(x)), grid[i], grid[i + 1], xtol=1e-9 * grid[i + 1])))
    notes = [
        f"{sm.model} does not fit {sm.device}'s usable memory at this workload; the symbolic "
        "curves ignore offload, so `predict` (which streams from the offload tier) is slower"
        for sm in (sa, sb)
        if not sm.scenario.footprint.fits
    ]
    return Crossover(
        vary, roots, lo, hi, float(np.exp(r[0])), float(np.exp(r[-1])), sa.model, sb.model, sa.device, notes
    )


def sweep(
    devices: list[str],
    models: list[str],
    quants: list[str],
    batches: list[int],
    depths: list[int],
    test: str = "tg128",
    engine: str | None = None,
) -> list[dict[str, Any]]:
    """Throughput over a grid, through the lambdified functions (one compile per device, model, quant)."""
    rows: list[dict[str, Any]] = []
    bb, dd = np.meshgrid(np.asarray(batches, float), np.asarray(depths, float), indexing="ij")
    for dev in devices:
        for mod in models:
            for q in quants:
                sm = build(dev, mod, Workload(test=test), engine, q)
                tps = np.broadcast_to(
                    sm.function()(bb, dd, np.full_like(bb, sm.values["bandwidth"])), bb.shape
                )
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
                            "tokens_per_second": float(v),
                        }
                    )
    return rows
