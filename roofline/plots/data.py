"""The numbers behind each figure. One `*_data(...)` function per figure asks the cost model
(api.predict, api.compare, the symbolic crossover, the device specs) and returns a frozen, typed
result; figures.py draws it and computes nothing itself.

Every result has `rows()`, one dict per plotted point, bar segment or heatmap cell, and `to_csv()`,
the same rows as a tidy CSV, so a figure's numbers can be checked, tabulated or drawn with another
tool. Quantities are SI (seconds, bytes, FLOP/s, bytes/s) and the column names carry the unit; the
drawing converts to ms, GiB and GB/s for the axes. Array fields are read-only numpy arrays, which is
why these dataclasses compare by identity (`eq=False`).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from roofline.model.workload import Workload

if TYPE_CHECKING:
    from roofline.model.symbolic import Crossover

#: Operator classes of the breakdown and roofline figures, in drawing order.
CATEGORIES = (
    "attention",
    "kv",
    "experts",
    "shared_experts",
    "router",
    "dense_ffn",
    "lm_head",
    "other",
    "overhead",
    "offload",
)
#: Parts of a memory footprint, bottom to top (`Memory.<part>_bytes`).
FOOTPRINT_PARTS = ("weights", "kv_cache", "workspace", "runtime")


def _category(cat: str) -> str:
    return "other" if cat in ("norms", "embedding") else cat


def _array(values: Any, dtype: Any = float) -> np.ndarray:
    out = np.array(values, dtype=dtype)
    out.setflags(write=False)
    return out


def _cell(value: Any) -> Any:
    """A CSV cell: Python floats (their repr round-trips exactly), None as an empty cell."""
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.floating | float):
        return float(value)
    return value


class _Tidy:
    """`to_csv` for a result whose `rows()` are flat dicts with the same keys."""

    def rows(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def to_csv(self, path_or_buffer: str | Path | TextIO) -> None:
        """Write `rows()` as CSV (a header, then one line per row) to a path or an open text file."""
        rows = self.rows()
        if hasattr(path_or_buffer, "write"):
            _write_csv(rows, path_or_buffer)  # type: ignore[arg-type]
            return
        with Path(path_or_buffer).open("w", newline="") as f:
            _write_csv(rows, f)


def _write_csv(rows: list[dict[str, Any]], f: TextIO) -> None:
    if not rows:
        return
    writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)


# ---- 1. roofline ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class MemoryRoof:
    """One memory level's roof: attainable FLOP/s = arithmetic intensity x its bandwidth."""

    name: str
    key: str  # "main", or "L0", "L1", ... for the caches, slowest first
    bytes_per_second: float


@dataclass(frozen=True)
class ComputeRoof:
    """A peak shared by one or more precisions, and where it meets the main-memory roof."""

    precisions: tuple[str, ...]
    flop_per_second: float
    ridge_flop_per_byte: float
    used: bool  # the engine computes in one of these precisions


@dataclass(frozen=True)
class OperatorPoint:
    """One operator of one model and workload on the roofline. Attainable performance is
    min(the engine's peak, intensity x the bandwidth of the level serving the weights); achieved
    (FLOPs / predicted operator time) only with a calibrated profile."""

    model: str
    model_index: int  # position in the figure's model list (the first model's markers have no edge)
    test: str
    phase: str
    op: str
    category: str
    flop_per_byte: float
    attainable_flop_per_second: float
    achieved_flop_per_second: float | None
    serving_bytes_per_second: float
    peak_flop_per_second: float
    # share of its prediction's step spent fetching weights from the offload tier, and that tier's
    # bandwidth (None: the model fits, nothing is fetched)
    offload_share: float = 0.0
    offload_bytes_per_second: float | None = None


#: An offload tier's roof is drawn when fetching from it takes more than this share of a step.
OFFLOAD_DOMINANT = 0.5


@dataclass(frozen=True)
class RooflineData(_Tidy):
    """A hierarchical roofline: the device's memory and compute roofs and each operator's point.
    The CSV has one row per operator point; each row names the roof it sits under, and the offload
    tier's bandwidth and share of the step where its model does not fit. `offload_roofs` are the
    tiers (host link, storage) that take most of some model's step: their bandwidth, not the memory
    roof, is then the ceiling on that model's throughput."""

    device: str
    engine: str
    models: tuple[str, ...]  # as given, for the title
    main_bytes_per_second: float
    memory_roofs: tuple[MemoryRoof, ...]  # main memory first
    compute_roofs: tuple[ComputeRoof, ...]  # lowest peak first
    points: tuple[OperatorPoint, ...]
    offload_roofs: tuple[MemoryRoof, ...] = ()  # key "offload"; slowest first

    @property
    def peak_flop_per_second(self) -> float:
        return max(r.flop_per_second for r in self.compute_roofs)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "device": self.device,
                "engine": self.engine,
                "model": p.model,
                "test": p.test,
                "phase": p.phase,
                "operator": p.op,
                "category": p.category,
                "arithmetic_intensity_flop_per_byte": p.flop_per_byte,
                "attainable_flop_per_second": p.attainable_flop_per_second,
                "achieved_flop_per_second": p.achieved_flop_per_second,
                "serving_bandwidth_bytes_per_second": p.serving_bytes_per_second,
                "peak_flop_per_second": p.peak_flop_per_second,
                "offload_share_of_step": p.offload_share,
                "offload_bandwidth_bytes_per_second": p.offload_bytes_per_second,
            }
            for p in self.points
        ]


def roofline_data(
    device: Any,
    models: Sequence[Any],
    workloads: Sequence[Workload] | None = None,
    engine: Any = None,
    quant: str | None = None,
    profile: Any = None,
) -> RooflineData:
    """The roofs of the engine's processor (one memory roof per level with a known bandwidth, one
    compute roof per precision) and each operator of each model and workload (default: tg128 and
    pp512) placed at (FLOPs / bytes, min(peak, intensity x serving bandwidth))."""
    from roofline.api import predict
    from roofline.model import cost
    from roofline.model.engine import default_engine, load_engine
    from roofline.specs.catalog import load_device
    from roofline.specs.hardware import PRECISIONS

    dev = load_device(device)
    eng = load_engine(profile or engine or default_engine(dev))
    mc = cost.resolve_machine(dev, eng)
    workloads = list(workloads or [Workload(test="tg128"), Workload(test="pp512")])
    levels = [MemoryRoof(dev.main_memory.name, "main", mc.main_bandwidth)] + [
        MemoryRoof(name, f"L{i}", bw)
        for i, (name, _, bw) in enumerate(sorted(mc.cache_levels, key=lambda x: x[2]))
    ]
    peaks = {p: mc.processor.peak(p) for p in PRECISIONS if mc.processor.peak(p)}
    by_peak: dict[float, list[str]] = {}
    for prec, peak in peaks.items():
        by_peak.setdefault(peak, []).append(prec)
    roofs = tuple(
        ComputeRoof(tuple(precs), peak, peak / mc.main_bandwidth, eng.compute_precision in precs)
        for peak, precs in sorted(by_peak.items())
    )
    bandwidths = {r.name: r.bytes_per_second for r in levels}
    points = []
    offload: dict[str, float] = {}
    for mi, model in enumerate(models):
        for w in workloads:
            p = predict(dev, model, w, engine=eng, quant=quant)
            bw = bandwidths.get(p.serving_level, mc.main_bandwidth)
            fetch = next((o for o in p.breakdown if o.op == "offload" and o.seconds > 0), None)
            share = fetch.seconds / p.step_seconds if fetch else 0.0
            tier_bw = fetch.bytes / fetch.seconds if fetch else None
            if fetch and tier_bw and share > OFFLOAD_DOMINANT:
                offload[p.memory.offload_tier or "offload"] = tier_bw
            for o in p.breakdown:
                if o.flops <= 0 or o.bytes <= 0:
                    continue
                ai = o.flops / o.bytes
                points.append(
                    OperatorPoint(
                        model=p.model,
                        model_index=mi,
                        test=w.test,
                        phase=w.phase,
                        op=o.op,
                        category=_category(o.category),
                        flop_per_byte=ai,
                        attainable_flop_per_second=min(mc.peak_flops, ai * bw),
                        achieved_flop_per_second=o.flops / o.seconds if eng.calibration else None,
                        serving_bytes_per_second=bw,
                        peak_flop_per_second=mc.peak_flops,
                        offload_share=share,
                        offload_bytes_per_second=tier_bw,
                    )
                )
    return RooflineData(
        device=dev.id,
        engine=eng.name,
        models=tuple(str(m) for m in models),
        main_bytes_per_second=mc.main_bandwidth,
        memory_roofs=tuple(levels),
        compute_roofs=roofs,
        points=tuple(points),
        offload_roofs=tuple(
            MemoryRoof(name, "offload", bw) for name, bw in sorted(offload.items(), key=lambda kv: kv[1])
        ),
    )


# ---- 2. crossover --------------------------------------------------------------------------------
#: The CSV column of each swept variable, with its unit.
X_COLUMNS = {"batch": "batch_sequences", "depth": "depth_tokens", "bandwidth": "bandwidth_bytes_per_second"}


@dataclass(frozen=True, eq=False)
class CrossoverData(_Tidy):
    """Throughput of an MoE and a dense model (the symbolic model, which assumes both fit) as one
    variable sweeps, the solver's crossover, and for batch or depth the MoE under Zipf(`skew`)
    routing and its routing bounds from `predict`, which streams from offload where a model does
    not fit. The CSV has one row per point of each series (moe, dense, moe_zipf, routing_lower,
    routing_upper, crossover); `fits` is filled for the `predict` series only."""

    device: str
    engine: str
    quant: str
    test: str
    vary: str  # batch, depth or bandwidth
    moe: str
    dense: str
    crossover: Crossover  # the solver's answer (roofline.model.symbolic.crossover)
    x: np.ndarray  # the swept variable (sequences, tokens or bytes/s)
    moe_tokens_per_second: np.ndarray
    dense_tokens_per_second: np.ndarray
    skew: float
    band_x: np.ndarray  # batch or depth values of the routing band; empty for bandwidth
    band_fits: np.ndarray  # both models fit usable memory at band_x
    band_skewed_tokens_per_second: np.ndarray  # the MoE under Zipf(skew) routing
    band_lower_tokens_per_second: np.ndarray  # no two tokens share an expert: min(Nk, E) experts
    band_upper_tokens_per_second: np.ndarray  # all tokens agree: k experts

    @property
    def crossover_tokens_per_second(self) -> np.ndarray:
        """The MoE curve at each crossover point."""
        return np.interp(self.crossover.points, self.x, self.moe_tokens_per_second)

    @property
    def band_uniform_tokens_per_second(self) -> np.ndarray:
        """The MoE curve (uniform routing) at band_x: the other edge of the routing band."""
        return np.interp(self.band_x, self.x, self.moe_tokens_per_second)

    @property
    def unfit_from(self) -> float | None:
        """The first band_x where a model no longer fits usable memory (None: they fit throughout)."""
        if self.band_fits.all():
            return None
        return float(self.band_x[np.argmin(self.band_fits)])

    def rows(self) -> list[dict[str, Any]]:
        col = X_COLUMNS[self.vary]

        def series(name: str, model: str, xs: Any, ys: Any, fits: Any = None) -> list[dict[str, Any]]:
            fit = [None] * len(xs) if fits is None else fits
            return [
                {"series": name, "model": model, col: x, "tokens_per_second": y, "fits": f}
                for x, y, f in zip(xs, ys, fit, strict=True)
            ]

        bx, fits = self.band_x, self.band_fits
        return [
            *series("moe", self.moe, self.x, self.moe_tokens_per_second),
            *series("dense", self.dense, self.x, self.dense_tokens_per_second),
            *series("moe_zipf", self.moe, bx, self.band_skewed_tokens_per_second, fits),
            *series("routing_lower", self.moe, bx, self.band_lower_tokens_per_second, fits),
            *series("routing_upper", self.moe, bx, self.band_upper_tokens_per_second, fits),
            *series("crossover", self.moe, self.crossover.points, self.crossover_tokens_per_second),
        ]


def crossover_data(
    device: Any,
    moe: Any,
    dense: Any,
    vary: str = "batch",
    workload: Workload | None = None,
    engine: Any = None,
    quant: str | None = None,
    lo: float | None = None,
    hi: float | None = None,
    skew: float = 1.0,
    points: int = 48,
) -> CrossoverData:
    """The two throughput curves on `points` log-spaced values of `vary` plus the crossover points,
    and for batch or depth the MoE's routing band on 16 rounded values."""
    from roofline.api import predict
    from roofline.model.symbolic import build, crossover

    w = workload or Workload()
    c = crossover(device, moe, dense, vary, w, engine, quant, lo, hi)
    sa, sb = build(device, moe, w, engine, quant), build(device, dense, w, engine, quant)
    start = max(c.lo, 1.0)
    xs = np.unique(np.concatenate([np.geomspace(start, c.hi, points), c.points]))

    def curve(sm: Any) -> np.ndarray:
        args = {k: np.full_like(xs, sm.values[k]) for k in ("batch", "depth", "bandwidth")}
        args[vary] = xs
        return np.broadcast_to(sm.function()(args["batch"], args["depth"], args["bandwidth"]), xs.shape)

    band_x = np.unique(np.round(np.geomspace(start, c.hi, 16))) if vary in ("batch", "depth") else []
    skewed, lower, upper, fits = [], [], [], []
    for x in band_x:
        ww = Workload(
            test=w.test,
            depth=int(x) if vary == "depth" else w.depth,
            batch=int(x) if vary == "batch" else w.batch,
        )
        ps = predict(device, moe, ww, engine=engine, quant=quant, routing_skew=skew)
        pd = predict(device, dense, ww, engine=engine, quant=quant)
        fits.append(ps.memory.fits and pd.memory.fits)
        skewed.append(ps.tokens_per_second)
        worst, best = ps.routing_bounds_tokens_per_second
        lower.append(worst)
        upper.append(best)
    return CrossoverData(
        device=sa.device,
        engine=sa.engine,
        quant=sa.quant,
        test=w.test,
        vary=vary,
        moe=sa.model,
        dense=sb.model,
        crossover=c,
        x=_array(xs),
        moe_tokens_per_second=_array(curve(sa)),
        dense_tokens_per_second=_array(curve(sb)),
        skew=skew,
        band_x=_array(band_x),
        band_fits=_array(fits, bool),
        band_skewed_tokens_per_second=_array(skewed),
        band_lower_tokens_per_second=_array(lower),
        band_upper_tokens_per_second=_array(upper),
    )


# ---- 3. breakdown --------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class BreakdownData(_Tidy):
    """Time per token of each (device, model) bar split by operator class; a bar's classes sum to
    the predicted seconds per token. The CSV has one row per bar and class (zeros included)."""

    devices: tuple[str, ...]  # as given
    models: tuple[str, ...]  # as given
    workload: Workload
    bar_devices: tuple[str, ...]  # one per bar: every model on the first device, then the next device
    bar_models: tuple[str, ...]
    categories: tuple[str, ...]  # the classes present, in CATEGORIES order
    seconds_per_token: np.ndarray  # (bars, categories)

    @property
    def total_seconds_per_token(self) -> np.ndarray:
        return self.seconds_per_token.sum(axis=1)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"device": d, "model": m, "category": cat, "seconds_per_token": self.seconds_per_token[i, j]}
            for i, (d, m) in enumerate(zip(self.bar_devices, self.bar_models, strict=True))
            for j, cat in enumerate(self.categories)
        ]


def _breakdown_bar(
    device: Any, model: Any, workload: Workload, engine: Any, quant: str
) -> tuple[str, str, dict[str, float]]:
    """(device, model, seconds per token by class); launch and host overheads form their own class."""
    from roofline.api import predict

    p = predict(device, model, workload, engine=engine, quant=quant)
    tokens = p.tokens_per_second * p.step_seconds
    out: dict[str, float] = {}
    for o in p.breakdown:
        if o.op == "host_overhead":
            out["overhead"] = out.get("overhead", 0.0) + o.seconds / tokens
            continue
        cat = "offload" if o.op == "offload" else _category(o.category)
        out[cat] = out.get(cat, 0.0) + (o.seconds - o.overhead_seconds) / tokens
        out["overhead"] = out.get("overhead", 0.0) + o.overhead_seconds / tokens
    return p.device, p.model, out


def breakdown_data(
    devices: Sequence[Any],
    models: Sequence[Any],
    workload: Workload | None = None,
    engine: Any = None,
    quant: str | None = None,
) -> BreakdownData:
    """Time per token by operator class of every model on every device."""
    w = workload or Workload()
    bars = [_breakdown_bar(d, m, w, engine, quant) for d in devices for m in models]
    cats = tuple(c for c in CATEGORIES if any(c in b for _, _, b in bars))
    return BreakdownData(
        devices=tuple(str(d) for d in devices),
        models=tuple(str(m) for m in models),
        workload=w,
        bar_devices=tuple(d for d, _, _ in bars),
        bar_models=tuple(m for _, m, _ in bars),
        categories=cats,
        seconds_per_token=_array([[b.get(c, 0.0) for c in cats] for _, _, b in bars]),
    )


# ---- 4. heatmap ----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class HeatmapData(_Tidy):
    """Devices x dense models: the MoE's throughput over each dense model's (api.compare's ratio;
    above 1 the MoE wins). The CSV has one row per cell."""

    devices: tuple[str, ...]
    moe: str
    dense: tuple[str, ...]
    workload: Workload
    moe_tokens_per_second: np.ndarray  # (devices, dense)
    dense_tokens_per_second: np.ndarray
    values: np.ndarray  # the ratio, moe / dense

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "device": d,
                "moe_model": self.moe,
                "dense_model": m,
                "moe_tokens_per_second": self.moe_tokens_per_second[i, j],
                "dense_tokens_per_second": self.dense_tokens_per_second[i, j],
                "throughput_ratio": self.values[i, j],
            }
            for i, d in enumerate(self.devices)
            for j, m in enumerate(self.dense)
        ]


def heatmap_data(
    devices: Sequence[Any],
    moe: Any,
    dense: Sequence[Any],
    workload: Workload | None = None,
    engine: Any = None,
    quant: str | None = None,
) -> HeatmapData:
    """api.compare(device, [moe, dense model]) for every device and dense model."""
    from roofline.api import compare

    w = workload or Workload()
    cmp = [[compare(d, [moe, m], w, engine=engine, quant=quant) for m in dense] for d in devices]
    return HeatmapData(
        devices=tuple(str(d) for d in devices),
        moe=str(moe),
        dense=tuple(str(m) for m in dense),
        workload=w,
        moe_tokens_per_second=_array([[c.predictions[0].tokens_per_second for c in r] for r in cmp]),
        dense_tokens_per_second=_array([[c.predictions[1].tokens_per_second for c in r] for r in cmp]),
        values=_array([[c.ratio for c in r] for r in cmp]),
    )


# ---- 5. predicted vs measured --------------------------------------------------------------------
@dataclass(frozen=True)
class MeasuredRun:
    """One measured run and what was predicted for it."""

    device: str
    engine: str
    model: str
    quant: str
    test: str
    depth: int
    batch: int
    measured_tokens_per_second: float
    spec_tokens_per_second: float  # from spec sheets only
    lodo_tokens_per_second: float | None  # calibrated with the device held out, where available


@dataclass(frozen=True)
class MeasuredData(_Tidy):
    """Predicted against measured throughput, one row per measured run."""

    runs: tuple[MeasuredRun, ...]

    @property
    def measured(self) -> np.ndarray:
        return np.array([r.measured_tokens_per_second for r in self.runs])

    @property
    def spec(self) -> np.ndarray:
        return np.array([r.spec_tokens_per_second for r in self.runs])

    @property
    def held_out(self) -> tuple[np.ndarray, np.ndarray]:
        """(measured, predicted) of the runs with a held-out calibrated prediction."""
        held = [r for r in self.runs if r.lodo_tokens_per_second is not None]
        return (
            np.array([r.measured_tokens_per_second for r in held]),
            np.array([r.lodo_tokens_per_second for r in held]),
        )

    @property
    def spec_errors(self) -> np.ndarray:
        """|predicted / measured - 1| of the spec-sheet predictions."""
        return np.abs(self.spec / self.measured - 1)

    @property
    def held_out_errors(self) -> np.ndarray:
        measured, predicted = self.held_out
        return np.abs(predicted / measured - 1)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "device": r.device,
                "engine": r.engine,
                "model": r.model,
                "quant": r.quant,
                "test": r.test,
                "depth_tokens": r.depth,
                "batch_sequences": r.batch,
                "measured_tokens_per_second": r.measured_tokens_per_second,
                "spec_tokens_per_second": r.spec_tokens_per_second,
                "lodo_tokens_per_second": r.lodo_tokens_per_second,
            }
            for r in self.runs
        ]


def measured_data(entries: Sequence[Any]) -> MeasuredData:
    """From report entries (validation.report.build_entries): objects with `.row` (a trace row:
    device, engine, model, quant, test, depth, batch, tokens_per_s), `.spec` and `.lodo`."""
    return MeasuredData(
        runs=tuple(
            MeasuredRun(
                device=e.row.device,
                engine=e.row.engine,
                model=e.row.model,
                quant=e.row.quant,
                test=e.row.test,
                depth=e.row.depth,
                batch=e.row.batch,
                measured_tokens_per_second=e.row.tokens_per_s,
                spec_tokens_per_second=e.spec,
                lodo_tokens_per_second=e.lodo,
            )
            for e in entries
        )
    )


# ---- 6. memory -----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class MemoryData(_Tidy):
    """Footprint of each model (on the first device) by part, against each device's usable memory.
    The CSV has one row per bar segment, then one `usable` row per device (model left empty)."""

    quant: str
    workload: Workload
    device: str  # where the footprints were predicted
    models: tuple[str, ...]
    footprint_bytes: np.ndarray  # (models, FOOTPRINT_PARTS)
    usable_devices: tuple[str, ...]  # as given
    usable_bytes: np.ndarray

    @property
    def total_bytes(self) -> np.ndarray:
        return self.footprint_bytes.sum(axis=1)

    def rows(self) -> list[dict[str, Any]]:
        bars = [
            {"device": self.device, "model": m, "part": part, "bytes": self.footprint_bytes[i, j]}
            for i, m in enumerate(self.models)
            for j, part in enumerate(FOOTPRINT_PARTS)
        ]
        lines = [
            {"device": d, "model": None, "part": "usable", "bytes": b}
            for d, b in zip(self.usable_devices, self.usable_bytes, strict=True)
        ]
        return bars + lines


def memory_data(
    devices: Sequence[Any],
    models: Sequence[Any],
    workload: Workload | None = None,
    engine: Any = None,
    quant: str | None = None,
) -> MemoryData:
    """Each model's footprint predicted on the first device, and every device's usable capacity."""
    from roofline.api import predict
    from roofline.specs.catalog import load_device

    w = workload or Workload()
    preds = [predict(devices[0], m, w, engine=engine, quant=quant) for m in models]
    return MemoryData(
        quant=", ".join(dict.fromkeys(p.quant for p in preds)),
        workload=w,
        device=preds[0].device,
        models=tuple(p.model for p in preds),
        footprint_bytes=_array([[getattr(p.memory, f"{k}_bytes") for k in FOOTPRINT_PARTS] for p in preds]),
        usable_devices=tuple(str(d) for d in devices),
        usable_bytes=_array([load_device(d).usable_capacity for d in devices]),
    )


# ---- 7. placement (systems) ----------------------------------------------------------------------
#: Parts of a split step, bottom to top: what the accelerators and the CPU compute, and the links.
PLACEMENT_PARTS = ("gpu", "gpu_experts", "cpu", "cpu_experts", "copy", "link", "host")


@dataclass(frozen=True, eq=False)
class PlacementData(_Tidy):
    """Time per token of each (model, placement) bar on one system, split by where it is spent: the
    GPUs' work (routed experts apart), the CPU's (experts apart), weights copied over the host link
    (prefill op offload), activations crossing links, and per-step host overhead; with whether the
    placement fits. The CSV has one row per bar and part (zeros included)."""

    system: str
    workload: Workload
    bar_models: tuple[str, ...]
    bar_placements: tuple[str, ...]
    fits: np.ndarray  # (bars,) bool
    tokens_per_second: np.ndarray  # (bars,)
    parts: tuple[str, ...]
    seconds_per_token: np.ndarray  # (bars, parts)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "system": self.system,
                "model": m,
                "placement": pl,
                "fits": bool(self.fits[i]),
                "tokens_per_second": self.tokens_per_second[i],
                "part": part,
                "seconds_per_token": self.seconds_per_token[i, j],
            }
            for i, (m, pl) in enumerate(zip(self.bar_models, self.bar_placements, strict=True))
            for j, part in enumerate(self.parts)
        ]


def _placement_bar(step: Any) -> dict[str, float]:
    """Seconds per token of one SystemStep by part; the parts sum to its step time per token."""
    tokens = step.tokens_per_second * step.seconds
    out = dict.fromkeys(PLACEMENT_PARTS, 0.0)
    concurrent = step.placement.engine == "vllm" or (
        step.placement.split_mode == "row" and step.placement.gpus > 1
    )
    gpu_parts = [p for p in step.parts if p.role.startswith("gpu")]
    if concurrent and gpu_parts:  # GPUs in parallel: the slowest one's time is the step's
        gpu_parts = [max(gpu_parts, key=lambda p: p.seconds)]
    for p in [*gpu_parts, *(p for p in step.parts if not p.role.startswith("gpu"))]:
        side = "gpu" if p.role.startswith("gpu") else "cpu"
        for t in p.times:
            key = f"{side}_experts" if t.op.kind == "routed_matmul" else side
            out[key] += float(t.seconds) / tokens
        out["copy"] += p.copy_seconds / tokens
    out["link"] += step.link_seconds / tokens
    out["host"] += step.host_seconds / tokens
    return out


def placement_data(
    system: Any,
    models: Sequence[Any],
    workload: Workload | None = None,
    placements: Sequence[Any] | None = None,
    quant: str | None = None,
) -> PlacementData:
    """Time per token by part for each model on `system` under each of `placements` (Placement
    objects; None: each model's fastest fitting placement in this workload's phase, and all on the
    GPUs for comparison)."""
    from roofline.model.placement import Placement, resolve_system
    from roofline.systems import place

    w = workload or Workload()
    phase = "decode" if w.phase == "decode" else "prefill"
    bars: list[tuple[str, str, bool, float, dict[str, float]]] = []
    for m in models:
        ss = resolve_system(system, m, w, quant=quant)
        chosen = list(placements or [])
        if not chosen:
            best = getattr(place(ss.system, ss.model, depth=w.depth, quant=quant), f"best_{phase}")
            chosen = [Placement()] + (
                [best.placement] if best is not None and best.placement != Placement() else []
            )
        for pl in chosen:
            step = ss.step(pl)
            bars.append((ss.model.id, pl.label(), step.fits, step.tokens_per_second, _placement_bar(step)))
    parts = tuple(p for p in PLACEMENT_PARTS if any(b[4][p] > 0 for b in bars))
    return PlacementData(
        system=ss.system.id,
        workload=w,
        bar_models=tuple(b[0] for b in bars),
        bar_placements=tuple(b[1] for b in bars),
        fits=_array([b[2] for b in bars], bool),
        tokens_per_second=_array([b[3] for b in bars]),
        parts=parts,
        seconds_per_token=_array([[b[4][p] for p in parts] for b in bars]),
    )
