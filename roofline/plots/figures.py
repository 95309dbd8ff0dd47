"""The figures: compute, then draw. `*_data(...)` (data.py) asks the cost model and returns a typed
result; `draw(data, ax=None)` draws it onto `ax` (a new figure in the project style when None) and
returns the Figure; `*_figure(...)` is the two in one, for the CLI and notebooks. Every artist a test
may check carries a `gid` (e.g. "roof:main:fp16", "op:experts:decode").

Drawing is one function, `draw(data, ax=None)`, rather than a `.plot()` method on each result
(scikit-learn's Display objects): the results stay plain frozen data with no matplotlib in them,
which can be computed, compared and written to CSV where matplotlib is not installed or not wanted,
and all the presentation (colours, labels, figure sizes, the style) lives in this one module.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from roofline.errors import WorkloadError
from roofline.model.workload import Workload
from roofline.plots.data import (
    FOOTPRINT_PARTS,
    BreakdownData,
    CrossoverData,
    HeatmapData,
    MeasuredData,
    MemoryData,
    PlacementData,
    RooflineData,
    breakdown_data,
    crossover_data,
    heatmap_data,
    measured_data,
    memory_data,
    placement_data,
    roofline_data,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FigureData = (
    RooflineData | CrossoverData | BreakdownData | HeatmapData | MeasuredData | MemoryData | PlacementData
)

CATEGORY_COLORS = {
    "attention": "#0072B2",
    "kv": "#56B4E9",
    "experts": "#D55E00",
    "shared_experts": "#E69F00",
    "router": "#CC79A7",
    "dense_ffn": "#009E73",
    "lm_head": "#F0E442",
    "other": "#999999",
    "overhead": "#000000",
    "offload": "#7F3C8D",
}
CATEGORY_LABELS = {
    "attention": "attention proj.",
    "kv": "attention / KV",
    "experts": "routed experts",
    "shared_experts": "shared experts",
    "router": "router",
    "dense_ffn": "dense FFN",
    "lm_head": "LM head",
    "other": "norms, embedding",
    "overhead": "launch + host overhead",
    "offload": "offload",
}
PHASE_MARKERS = {"decode": "o", "prefill": "^"}
#: Parts of a split step (plots.data.PLACEMENT_PARTS): colour and legend label.
PLACEMENT_STYLE = {
    "gpu": ("GPU: attention, dense, norms", "#0072B2"),
    "gpu_experts": ("GPU: routed experts", "#D55E00"),
    "cpu": ("CPU: attention, dense, norms", "#56B4E9"),
    "cpu_experts": ("CPU: routed experts", "#E69F00"),
    "copy": ("weights copied to the GPU", "#7F3C8D"),
    "link": ("activations over links", "#CC79A7"),
    "host": ("host overhead", "#000000"),
}
FOOTPRINT_STYLE = {
    "weights": ("weights", "#0072B2"),
    "kv_cache": ("KV cache", "#56B4E9"),
    "workspace": ("workspace", "#E69F00"),
    "runtime": ("runtime", "#999999"),
}
#: Metadata that would make two saves of one figure differ (dates) or tie the file to a matplotlib
#: version; None leaves the field out.
SAVE_METADATA: dict[str, dict[str, None]] = {
    ".png": {"Software": None},
    ".pdf": {"CreationDate": None, "Creator": None, "Producer": None},
    ".svg": {"Date": None, "Creator": None},
}


@contextlib.contextmanager
def style() -> Iterator[Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = resources.files("roofline").joinpath("plots", "roofline.mplstyle")
    with resources.as_file(path) as p, plt.style.context(str(p)):
        yield plt


def save(fig: Figure, path: str | Path) -> Path:
    """Write `fig` as PDF, SVG or PNG. The same figure gives the same bytes every time: no dates or
    version strings in the metadata, and SVG ids hashed with a fixed salt."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in SAVE_METADATA:
        raise WorkloadError(f"output must end in .pdf, .svg or .png, got {p.name!r}")
    p.parent.mkdir(parents=True, exist_ok=True)
    with style() as plt, plt.rc_context({"svg.hashsalt": "moe-roofline"}):
        fig.savefig(
            p,
            bbox_inches="tight",
            pad_inches=0.02,
            dpi=300 if suffix == ".png" else None,
            metadata=SAVE_METADATA[suffix],
        )
    return p


def svg_text(fig: Figure) -> str:
    """`fig` as SVG text, with the same fixed metadata and id salt as `save` (for pages that inline
    their figures: the same figure gives the same text every time)."""
    import io

    buf = io.BytesIO()
    with style() as plt, plt.rc_context({"svg.hashsalt": "moe-roofline"}):
        fig.savefig(buf, format="svg", bbox_inches="tight", pad_inches=0.02, metadata=SAVE_METADATA[".svg"])
    return buf.getvalue().decode("utf-8")


# ---- drawing -------------------------------------------------------------------------------------
Drawer = Callable[[Any, "Axes"], None]
FigSize = Callable[[Any], "tuple[float, float] | None"]
_DRAWERS: dict[type, tuple[Drawer, FigSize]] = {}


def _draws(kind: type, figsize: FigSize = lambda _: None) -> Callable[[Drawer], Drawer]:
    """Register a drawer for `kind`, with the size of the figure `draw` makes for it (None: the
    style's default)."""

    def register(fn: Drawer) -> Drawer:
        _DRAWERS[kind] = (fn, figsize)
        return fn

    return register


def draw(data: FigureData, ax: Axes | None = None, figsize: tuple[float, float] | None = None) -> Figure:
    """Draw a figure's data onto `ax`, or onto a new figure in the project style when None (of
    `figsize` inches, default: the kind's own size); return the Figure. Computes nothing: everything
    drawn is in `data`."""
    if type(data) not in _DRAWERS:
        kinds = ", ".join(t.__name__ for t in _DRAWERS)
        raise TypeError(f"draw takes one of {kinds}, got {type(data).__name__}")
    drawer, default_size = _DRAWERS[type(data)]
    with style() as plt:
        if ax is None:
            _, ax = plt.subplots(figsize=figsize or default_size(data))
        drawer(data, ax)
    return ax.figure


#: Marker shape of each model on a roofline (its position in the figure's model list, cycled):
#: colour is the operator class, fill the phase (decode filled, prefill hollow).
MODEL_MARKERS = ("o", "s", "D", "v", "P", "X")
OFFLOAD_COLOR = CATEGORY_COLORS["offload"]
SI_PREFIXES = ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def si(x: float, unit: str) -> str:
    """`x` with an SI prefix and three significant digits: 1.98e15 FLOP/s reads "1.98 PFLOP/s"."""
    for factor, prefix in SI_PREFIXES:
        if abs(x) >= factor * 0.9995:  # 999.96e12 rounds to 1.00 P, not 1e+03 T
            return f"{x / factor:.3g} {prefix}{unit}"
    return f"{x:.3g} {unit}"


def _renderer(fig: Any) -> Any:
    """The renderer text extents are measured with (the figure's own canvas, Agg in this module)."""
    get = getattr(fig.canvas, "get_renderer", None)
    return get() if get else fig._get_renderer()


def _separate(texts: list[Any], directions: list[tuple[float, float]], step: float = 0.5) -> None:
    """Move annotations (offsets in points) each along its direction (a unit vector on the page)
    until no two overlap: each is checked, in order, against those before it, and pushed on by
    `step` points at a time."""
    if not texts:
        return
    renderer = _renderer(texts[0].figure)
    placed: list[Any] = []
    for t, direction in zip(texts, directions, strict=True):
        for _ in range(400):
            box = t.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in placed):
                break
            dx, dy = t.xyann
            t.xyann = (dx + step * direction[0], dy + step * direction[1])
        placed.append(t.get_window_extent(renderer).padded(1.0))


def _level_name(name: str) -> str:
    """A memory level's name short enough to label a roof: up to its first comma, 28 characters."""
    short = name.split(",")[0].strip()
    return short if len(short) <= 28 else short[:27].rstrip() + "…"


def _roof_style(key: str) -> Any:
    """Line style of a memory roof: main memory solid, offload dotted, each cache level its own dashes."""
    if key == "main":
        return "-"
    if key == "offload":
        return ":"
    dashes = [(0, (4, 1.5)), (0, (6, 1.5, 1.5, 1.5)), (0, (2, 1)), (0, (8, 2))]
    return dashes[int(key[1:]) % len(dashes)]


def _display_angle(ax: Axes, p: tuple[float, float], q: tuple[float, float]) -> float:
    """The angle, in degrees on the page, of the line from p to q (data coordinates)."""
    (x0, y0), (x1, y1) = ax.transData.transform([p, q])
    return float(np.degrees(np.arctan2(y1 - y0, x1 - x0)))


@_draws(RooflineData, figsize=lambda d: (3.5, 3.3 + 0.1 * len(d.models)))
def _draw_roofline(data: RooflineData, ax: Axes) -> None:
    x_lo, x_hi = 1e-2, 1e5
    top = data.peak_flop_per_second
    bw_main = data.main_bytes_per_second
    slowest = min([bw_main, *(r.bytes_per_second for r in data.offload_roofs)])
    ax.set(
        xscale="log",
        yscale="log",
        xlim=(x_lo, x_hi),
        ylim=(slowest * x_lo / 2, top * 3),
        xlabel="arithmetic intensity (FLOP/byte)",
        ylabel="attainable performance (FLOP/s)",
        title=f"{data.device} ({data.engine}): {', '.join(data.models)}",
    )
    memory_labels, along = [], []
    for roof in (*data.memory_roofs, *data.offload_roofs):
        main, off = roof.key == "main", roof.key == "offload"
        bw = roof.bytes_per_second
        end = min(top / bw, x_hi)
        label = f"{_level_name(roof.name)} {si(bw, 'B/s')}"
        ax.plot(
            [x_lo, end],
            [bw * x_lo, bw * end],
            ls=_roof_style(roof.key),
            lw=0.9 if off else 0.7,
            color=OFFLOAD_COLOR if off else "black" if main else "grey",
            gid=f"roof-memory:{roof.key}",
            label=None if main or off else label,  # cache roofs, a few tenths of a decade apart: legend
        )
        if not (main or off):
            continue
        # the main and offload roofs are labelled along their lines, underneath (the points sit on them)
        angle = _display_angle(ax, (x_lo, bw * x_lo), (end, bw * end))
        rad = np.radians(angle)
        along.append((float(np.cos(rad)), float(np.sin(rad))))
        memory_labels.append(
            ax.annotate(
                f"offload: {label}" if off else label,
                (x_lo * 1.6, bw * x_lo * 1.6),
                xytext=(np.sin(rad) * 2.5, -np.cos(rad) * 2.5),
                textcoords="offset points",
                fontsize=5,
                rotation=angle,
                rotation_mode="anchor",
                va="top",
                color=OFFLOAD_COLOR if off else "dimgrey",
                gid=f"label:roof-memory:{roof.key}:{roof.name}",
            )
        )
    compute_labels = []
    for roof in data.compute_roofs:
        peak, ridge = roof.flop_per_second, roof.ridge_flop_per_byte
        for prec in roof.precisions:
            ax.plot(
                [x_lo, ridge, x_hi],
                [bw_main * x_lo, peak, peak],
                lw=0.9,
                gid=f"roof:main:{prec}",
                color="black" if roof.used else "grey",
                alpha=1 if roof.used else 0.6,
            )
            ax.plot([ridge], [peak], marker="D", ms=3, color="black", gid=f"ridge:{prec}")
        compute_labels.append(
            ax.annotate(
                f"{'/'.join(roof.precisions)} {si(peak, 'FLOP/s')}",
                (x_hi, peak),
                xytext=(-2, 0),
                textcoords="offset points",
                fontsize=5,
                ha="right",
                va="center",
                bbox={"boxstyle": "square,pad=0.15", "fc": "white", "ec": "none"},
                gid=f"label:roof:{'/'.join(roof.precisions)}",
            )
        )
    multi = len(data.models) > 1
    for pt in data.points:
        color = CATEGORY_COLORS.get(pt.category)
        marker = MODEL_MARKERS[pt.model_index % len(MODEL_MARKERS)]
        hollow = pt.phase == "prefill"
        ax.plot(
            [pt.flop_per_byte],
            [pt.attainable_flop_per_second],
            marker=marker,
            ls="none",
            color=color,
            mfc="white" if hollow else color,
            mec=color if hollow else "black" if multi else color,
            mew=0.9 if hollow else 0.3 if multi else 0,
            gid=f"op:{pt.model}:{pt.op}:{pt.phase}",
        )
        if pt.achieved_flop_per_second is not None:
            ax.plot(
                [pt.flop_per_byte, pt.flop_per_byte],
                [pt.attainable_flop_per_second, pt.achieved_flop_per_second],
                marker="_",
                ms=4,
                lw=0.4,
                color=color,
                markevery=[1],
                gid=f"achieved:{pt.model}:{pt.op}:{pt.phase}",
            )
    # compute labels from the highest roof down, memory labels along their roofs, apart
    _separate(compute_labels[::-1], [(0.0, -1.0)] * len(compute_labels))
    _separate(memory_labels, along)
    _roofline_legend(data, ax)


def _roofline_legend(data: RooflineData, ax: Axes) -> None:
    """One legend under the axes, where it covers nothing: the classes drawn (colour), the models
    (marker shape), the phases (filled, hollow), the cache roofs (their dashes) and the offload roof."""
    from matplotlib.lines import Line2D

    cats = list(dict.fromkeys(pt.category for pt in data.points))
    handles = [
        Line2D([], [], marker="s", ls="none", color=CATEGORY_COLORS.get(c), label=CATEGORY_LABELS.get(c, c))
        for c in cats
    ]
    models = list(dict.fromkeys((pt.model_index, pt.model) for pt in data.points))
    handles += [
        Line2D([], [], marker=MODEL_MARKERS[i % len(MODEL_MARKERS)], ls="none", color="grey", label=f"{name}")
        for i, name in models
    ]
    handles += [
        Line2D([], [], marker="o", ls="none", color="grey", label="decode"),
        Line2D([], [], marker="o", ls="none", color="grey", mfc="white", mew=0.9, label="prefill"),
    ]
    if any(pt.achieved_flop_per_second is not None for pt in data.points):
        handles.append(Line2D([], [], marker="_", ls="-", lw=0.4, color="grey", label="achieved"))
    handles += [h for h in ax.get_lines() if str(h.get_gid()).startswith("roof-memory:L")]
    if data.offload_roofs:
        handles.append(
            Line2D([], [], ls=":", lw=0.9, color=OFFLOAD_COLOR, label="offload tier (most of a step)")
        )
    ax.legend(
        handles=handles,
        ncol=3,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.17),
        fontsize=5,
        handletextpad=0.3,
        columnspacing=0.8,
    )


CROSSOVER_UNITS = {"batch": "sequences", "depth": "tokens", "bandwidth": "GB/s"}


def _legend_above(ax: Axes, top: float, **kwargs: Any) -> None:
    """A legend in the upper part of a bar chart, with the y axis raised so that everything drawn
    up to `top` (data units, from 0) stays below it: the legend never covers a bar or a line."""
    ax.set_ylim(0, top * 1.02)
    leg = ax.legend(loc="upper left", **kwargs)
    renderer = _renderer(ax.figure)
    share = leg.get_window_extent(renderer).height / ax.get_window_extent(renderer).height
    ax.set_ylim(0, top / max(1.0 - share - 0.04, 0.2))


@_draws(CrossoverData)
def _draw_crossover(data: CrossoverData, ax: Axes) -> None:
    scale = 1e-9 if data.vary == "bandwidth" else 1.0  # bandwidth in GB/s on the axis
    c, xs = data.crossover, data.x
    ax.plot(
        xs * scale, data.moe_tokens_per_second, color="#D55E00", label=f"{data.moe} (MoE)", gid="curve:moe"
    )
    ax.plot(
        xs * scale, data.dense_tokens_per_second, color="#0072B2", label=f"{data.dense}", gid="curve:dense"
    )
    if data.band_x.size:
        limit = data.unfit_from
        if limit is not None:
            # the symbolic curves assume the models fit; beyond this point predict streams from offload
            ax.axvspan(
                limit,
                c.hi,
                color="grey",
                alpha=0.15,
                lw=0,
                gid="does-not-fit",
                label="footprint exceeds usable memory",
            )
        sel, band_x = data.band_fits, data.band_x
        ax.fill_between(
            band_x[sel],
            data.band_uniform_tokens_per_second[sel],
            data.band_skewed_tokens_per_second[sel],
            color="#D55E00",
            alpha=0.2,
            lw=0,
            label=f"MoE, Zipf({data.skew:g}) routing",
            gid="band:skew",
        )
        lower, upper = data.band_lower_tokens_per_second[sel], data.band_upper_tokens_per_second[sel]
        ax.plot(band_x[sel], lower, color="#D55E00", lw=0.5, ls=":", gid="bound:lower")
        ax.plot(
            band_x[sel],
            upper,
            color="#D55E00",
            lw=0.5,
            ls=":",
            gid="bound:upper",
            label="routing bounds (min(Nk,E) .. k experts)",
        )
    for x, y in zip(c.points, data.crossover_tokens_per_second, strict=True):
        ax.plot(
            [x * scale],
            [float(y)],
            marker="X",
            color="black",
            ms=6,
            ls="none",
            gid="crossover",
            label=f"crossover: {x * scale:.3g} {CROSSOVER_UNITS[data.vary]}",
        )
    unit = {
        "batch": "batch (sequences)",
        "depth": "context depth (tokens)",
        "bandwidth": "memory bandwidth (GB/s)",
    }[data.vary]
    ax.set(
        xscale="log",
        yscale="log",
        xlabel=unit,
        ylabel=f"throughput, {data.test} (tokens/s)",
        title=f"{data.device}, {data.engine}, {data.quant}",
    )
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=5.5)  # under: covers no curve


@_draws(BreakdownData, figsize=lambda _: (3.5, 2.6))
def _draw_breakdown(data: BreakdownData, ax: Axes) -> None:
    n = len(data.bar_models)
    bottom = np.zeros(n)
    for j, cat in enumerate(data.categories):
        vals = data.seconds_per_token[:, j] * 1e3
        ax.bar(
            range(n),
            vals,
            bottom=bottom,
            color=CATEGORY_COLORS[cat],
            label=CATEGORY_LABELS[cat],
            width=0.7,
            gid=f"bar:{cat}",
        )
        bottom += vals
    one_device, one_model = len(data.devices) == 1, len(data.models) == 1
    names = (
        data.bar_models
        if one_device
        else data.bar_devices
        if one_model
        else [f"{m} on {d}" for d, m in zip(data.bar_devices, data.bar_models, strict=True)]
    )
    ax.set_xticks(range(n), names, rotation=30, ha="right")
    ax.set_ylabel("time per token (ms)")
    w = data.workload
    what = data.devices[0] if one_device else data.models[0] if one_model else "time per token"
    ax.set_title(f"{what}: {w.test}, depth {w.depth}, batch {w.batch}")
    ax.grid(axis="x", visible=False)
    _legend_above(ax, float(bottom.max()), fontsize=5.5, ncol=2)


@_draws(HeatmapData, figsize=lambda d: (3.5, 0.5 + 0.28 * len(d.devices)))
def _draw_heatmap(data: HeatmapData, ax: Axes) -> None:
    from matplotlib.colors import TwoSlopeNorm

    vals = data.values
    lo, hi = float(np.min(vals)), float(np.max(vals))
    norm = TwoSlopeNorm(vcenter=1.0, vmin=min(lo, 0.99), vmax=max(hi, 1.01))
    im = ax.imshow(vals, cmap="PuOr_r", norm=norm, aspect="auto", gid="heatmap")
    for i in range(vals.shape[0]):
        for j in range(vals.shape[1]):
            ax.text(
                j,
                i,
                f"{vals[i, j]:.2f}",
                ha="center",
                va="center",
                fontsize=6,
                color="white" if abs(norm(vals[i, j]) - 0.5) > 0.35 else "black",
            )
    ax.set_xticks(range(len(data.dense)), data.dense, rotation=30, ha="right")
    ax.set_yticks(range(len(data.devices)), data.devices)
    ax.grid(False)
    cb = ax.figure.colorbar(im, ax=ax, shrink=0.9)
    cb.set_label(f"{data.moe} / dense throughput", fontsize=6)
    w = data.workload
    ax.set_title(f"{data.moe} vs dense: {w.test}, depth {w.depth}, batch {w.batch}")


@_draws(MeasuredData, figsize=lambda _: (3.5, 3.2))
def _draw_measured(data: MeasuredData, ax: Axes) -> None:
    meas = data.measured
    ax.scatter(
        meas,
        data.spec,
        s=10,
        marker="o",
        facecolors="none",
        edgecolors="#0072B2",
        lw=0.6,
        label="spec sheets only",
        gid="points:spec",
    )
    held_meas, held_pred = data.held_out
    if held_meas.size:
        ax.scatter(
            held_meas,
            held_pred,
            s=10,
            marker="x",
            color="#D55E00",
            lw=0.6,
            label="calibrated, device held out",
            gid="points:lodo",
        )
    shown = np.concatenate([meas, data.spec, held_pred])
    lo, hi = shown.min() / 3, shown.max() * 3  # every point inside, both axes the same range
    xs = np.geomspace(lo, hi, 50)
    ax.plot(xs, xs, color="black", lw=0.7)
    for f, ls in ((0.10, ":"), (0.25, "--")):
        ax.plot(xs, xs * (1 + f), color="grey", lw=0.5, ls=ls, label=f"±{f:.0%}")
        ax.plot(xs, xs * (1 - f), color="grey", lw=0.5, ls=ls)
    err = data.spec_errors
    text = f"spec: median |err| {np.median(err):.0%}, p90 {np.percentile(err, 90):.0%} (n={len(err)})"
    if held_meas.size:
        e2 = data.held_out_errors
        text += f"\nheld-out calibrated: {np.median(e2):.0%}, p90 {np.percentile(e2, 90):.0%} (n={len(e2)})"
    ax.text(0.98, 0.03, text, transform=ax.transAxes, ha="right", va="bottom", fontsize=5.5, gid="summary")
    ax.set(
        xscale="log",
        yscale="log",
        xlim=(lo, hi),
        ylim=(lo, hi),
        xlabel="measured throughput (tokens/s)",
        ylabel="predicted throughput (tokens/s)",
    )
    ax.legend(loc="upper left")


@_draws(MemoryData)
def _draw_memory(data: MemoryData, ax: Axes) -> None:
    n = len(data.models)
    bottom = np.zeros(n)
    for j, part in enumerate(FOOTPRINT_PARTS):
        label, color = FOOTPRINT_STYLE[part]
        vals = data.footprint_bytes[:, j] / 2**30
        ax.bar(range(n), vals, bottom=bottom, color=color, label=label, width=0.6, gid=f"bar:{part}_bytes")
        bottom += vals
    for i, (d, usable) in enumerate(zip(data.usable_devices, data.usable_bytes / 2**30, strict=True)):
        ax.axhline(
            usable,
            color="black",
            lw=0.8,
            ls=["-", "--", ":", "-."][i % 4],
            gid=f"usable:{d}",
            label=f"{d} usable ({usable:.1f} GiB)",
        )
    ax.set_xticks(range(n), data.models, rotation=30, ha="right")
    ax.set_ylabel("memory (GiB)")
    w = data.workload
    ax.set_title(f"footprint at {data.quant}, context {w.context}, batch {w.batch}")
    ax.grid(axis="x", visible=False)
    top = max(float(bottom.max()), float(np.max(data.usable_bytes)) / 2**30)
    _legend_above(ax, top, fontsize=5.5, ncol=2)


# ---- compute and draw in one call (the CLI and notebooks) ----------------------------------------
def roofline_figure(
    device: Any,
    models: Sequence[Any],
    workloads: Sequence[Workload] | None = None,
    engine: Any = None,
    quant: str | None = None,
    profile: Any = None,
) -> Figure:
    """Hierarchical roofline of the engine's processor: one memory roof per level with a known bandwidth,
    one compute roof per precision, ridge points against main memory; each operator of each model and
    workload placed at (FLOPs / bytes, min(peak, intensity x serving bandwidth)), and where a calibrated
    profile is given, its achieved point (FLOPs / predicted operator time) hollow above it."""
    return draw(roofline_data(device, models, workloads, engine, quant, profile))


def crossover_figure(
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
) -> Figure:
    """Throughput of an MoE and a dense model as batch, context depth or bandwidth varies; the
    crossover from the cost model's solver is marked (`crossover_data(...).crossover` holds it); for
    batch/depth the MoE's band between uniform routing and Zipf(`skew`) routing is shaded, with the
    routing bounds (k experts, min(Nk, E)) dotted."""
    return draw(crossover_data(device, moe, dense, vary, workload, engine, quant, lo, hi, skew, points))


def breakdown_figure(
    devices: Sequence[Any],
    models: Sequence[Any],
    workload: Workload | None = None,
    engine: Any = None,
    quant: str | None = None,
) -> Figure:
    """Stacked bars of time per token by operator class: several models on one device, or one model
    on several devices. Bar heights sum to the predicted seconds per token."""
    return draw(breakdown_data(devices, models, workload, engine, quant))


def heatmap_figure(
    devices: Sequence[Any],
    moe: Any,
    dense: Sequence[Any],
    workload: Workload | None = None,
    engine: Any = None,
    quant: str | None = None,
) -> Figure:
    """Devices x dense models: the MoE's throughput over each dense model's (compare's ratio), with a
    diverging colour map centred on 1 (above 1: the MoE wins)."""
    return draw(heatmap_data(devices, moe, dense, workload, engine, quant))


def measured_figure(entries: Sequence[Any]) -> Figure:
    """Predicted (spec sheets, and calibrated with the device held out where available) against
    measured throughput of report entries (validation.report.build_entries: `.row`, `.spec`,
    `.lodo`), log-log, with +-10 % and +-25 % bands."""
    return draw(measured_data(entries))


def memory_figure(
    devices: Sequence[Any],
    models: Sequence[Any],
    workload: Workload | None = None,
    engine: Any = None,
    quant: str | None = None,
) -> Figure:
    """Stacked footprint (weights, KV cache, workspace, runtime) of each model against each device's
    usable memory (horizontal lines)."""
    return draw(memory_data(devices, models, workload, engine, quant))


@_draws(PlacementData, figsize=lambda d: (max(3.5, 0.55 * len(d.bar_models) + 1.5), 2.8))
def _draw_placement(data: PlacementData, ax: Axes) -> None:
    """Stacked time per token of each (model, placement) on one system; a placement that does not fit
    is hatched and says so, every bar is labelled with its throughput."""
    n = len(data.bar_models)
    bottom = np.zeros(n)
    for j, part in enumerate(data.parts):
        label, color = PLACEMENT_STYLE[part]
        vals = data.seconds_per_token[:, j] * 1e3
        bars = ax.bar(range(n), vals, bottom=bottom, color=color, label=label, width=0.7, gid=f"bar:{part}")
        for b, fits in zip(bars, data.fits, strict=True):
            if not fits:
                b.set_hatch("///")
        bottom += vals
    for i in range(n):
        note = "" if data.fits[i] else "\n(does not fit)"
        ax.text(
            i, bottom[i], f"{data.tokens_per_second[i]:.0f} t/s{note}", ha="center", va="bottom", fontsize=5
        )
    names = [f"{m}\n{pl}" for m, pl in zip(data.bar_models, data.bar_placements, strict=True)]
    ax.set_xticks(range(n), names, rotation=30, ha="right", fontsize=5.5)
    ax.set_ylabel("time per token (ms)")
    w = data.workload
    ax.set_title(f"{data.system}: {w.test}, depth {w.depth}, batch {w.batch}")
    ax.grid(axis="x", visible=False)
    from matplotlib.patches import Patch

    handles = [Patch(color=PLACEMENT_STYLE[p][1], label=PLACEMENT_STYLE[p][0]) for p in data.parts]
    if not data.fits.all():
        handles.append(Patch(facecolor="white", edgecolor="black", hatch="///", label="does not fit"))
    _legend_above(ax, float(bottom.max()) * 1.15, handles=handles, fontsize=5.5, ncol=2)


def placement_figure(
    system: Any,
    models: Sequence[Any],
    workload: Workload | None = None,
    placements: Sequence[Any] | None = None,
) -> Figure:
    return draw(placement_data(system, models, workload, placements))
