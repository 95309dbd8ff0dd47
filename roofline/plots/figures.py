"""The figures. Physics comes from the cost model (api.predict, symbolic crossover); this module
only draws. Every artist a test may check carries a `gid` (e.g. "roof:main:fp16", "op:experts:decode")."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from roofline.errors import WorkloadError
from roofline.model.workload import Workload

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


@contextlib.contextmanager
def style() -> Iterator[Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = resources.files("roofline").joinpath("plots", "roofline.mplstyle")
    with resources.as_file(path) as p, plt.style.context(str(p)):
        yield plt


def save(fig: Any, path: str | Path) -> Path:
    p = Path(path)
    if p.suffix.lower() not in (".pdf", ".svg", ".png"):
        raise WorkloadError(f"output must end in .pdf, .svg or .png, got {p.name!r}")
    p.parent.mkdir(parents=True, exist_ok=True)
    with style():
        fig.savefig(p, bbox_inches="tight", pad_inches=0.02, dpi=300 if p.suffix.lower() == ".png" else None)
    return p


def _category(cat: str) -> str:
    return "other" if cat in ("norms", "embedding") else cat


# ---- 1. roofline ---------------------------------------------------------------------------------
def roofline_figure(
    device: Any,
    models: Sequence[Any],
    workloads: Sequence[Workload] | None = None,
    engine: Any = None,
    quant: str = "Q4_K_M",
    profile: Any = None,
) -> Any:
    """Hierarchical roofline of the engine's processor: one memory roof per level with a known bandwidth,
    one compute roof per precision, ridge points against main memory; each operator of each model and
    workload placed at (FLOPs / bytes, min(peak, intensity x serving bandwidth)), and where a calibrated
    profile is given, its achieved point (FLOPs / predicted operator time) hollow above it."""
    from roofline.api import predict
    from roofline.model import cost
    from roofline.model.engine import default_engine, load_engine
    from roofline.specs.catalog import load_device
    from roofline.specs.hardware import PRECISIONS

    dev = load_device(device)
    eng = load_engine(profile or engine or default_engine(dev))
    mc = cost.resolve_machine(dev, eng)
    workloads = list(workloads or [Workload(test="tg128"), Workload(test="pp512")])
    levels = [(dev.main_memory.name, mc.main_bandwidth, "main")] + [
        (name, bw, f"L{i}") for i, (name, _, bw) in enumerate(sorted(mc.cache_levels, key=lambda x: x[2]))
    ]
    peaks = {p: mc.processor.peak(p) for p in PRECISIONS if mc.processor.peak(p)}
    x_lo, x_hi = 1e-2, 1e5
    with style() as plt:
        fig, ax = plt.subplots(figsize=(3.5, 2.8))
        top = max(peaks.values())
        for name, bw, key in levels:
            ax.plot(
                [x_lo, top / bw],
                [bw * x_lo, top],
                ls="--" if key != "main" else "-",
                lw=0.7,
                color="grey" if key != "main" else "black",
                gid=f"roof-memory:{key}",
                label=None if key != "main" else None,
            )
            ax.annotate(
                f"{name.split(',')[0][:22]} {bw / 1e9:.0f} GB/s",
                (x_lo * 1.5, bw * x_lo * 1.5),
                fontsize=5,
                rotation=35,
                color="grey",
                rotation_mode="anchor",
            )
        bw_main = mc.main_bandwidth
        by_peak: dict[float, list[str]] = {}
        for prec, peak in peaks.items():
            by_peak.setdefault(peak, []).append(prec)
        for peak, precs in sorted(by_peak.items()):
            ridge = peak / bw_main
            used = eng.compute_precision in precs
            for prec in precs:
                ax.plot(
                    [x_lo, ridge, x_hi],
                    [bw_main * x_lo, peak, peak],
                    lw=0.9,
                    gid=f"roof:main:{prec}",
                    color="black" if used else "grey",
                    alpha=1 if used else 0.6,
                )
                ax.plot([ridge], [peak], marker="D", ms=3, color="black", gid=f"ridge:{prec}")
            ax.annotate(
                f"{'/'.join(precs)} {peak / 1e12:.3g} TFLOP/s",
                (x_hi / 1.5, peak * 1.08),
                fontsize=5,
                ha="right",
            )
        drawn = set()
        for mi, model in enumerate(models):
            for w in workloads:
                p = predict(dev, model, w, engine=eng, quant=quant)
                bw_serv = dict((n, b) for n, b, _ in levels).get(p.serving_level, bw_main)
                roof_peak = mc.peak_flops
                for o in p.breakdown:
                    if o.flops <= 0 or o.bytes <= 0:
                        continue
                    ai = o.flops / o.bytes
                    att = min(roof_peak, ai * bw_serv)
                    cat = _category(o.category)
                    label = f"{CATEGORY_LABELS.get(cat, cat)}" if cat not in drawn else None
                    drawn.add(cat)
                    ax.plot(
                        [ai],
                        [att],
                        marker=PHASE_MARKERS[w.phase],
                        ls="none",
                        color=CATEGORY_COLORS.get(cat),
                        mec="black" if mi else CATEGORY_COLORS.get(cat),
                        mew=0.4 if mi else 0,
                        gid=f"op:{p.model}:{o.op}:{w.phase}",
                        label=label,
                    )
                    if eng.calibration:
                        ax.plot(
                            [ai],
                            [o.flops / o.seconds],
                            marker=PHASE_MARKERS[w.phase],
                            ls="none",
                            mfc="none",
                            color=CATEGORY_COLORS.get(cat),
                            gid=f"achieved:{p.model}:{o.op}:{w.phase}",
                        )
        ax.plot([], [], marker="o", ls="none", color="grey", label="decode")
        ax.plot([], [], marker="^", ls="none", color="grey", label="prefill")
        ax.set(
            xscale="log",
            yscale="log",
            xlim=(x_lo, x_hi),
            ylim=(bw_main * x_lo / 2, top * 3),
            xlabel="arithmetic intensity (FLOP/byte)",
            ylabel="attainable performance (FLOP/s)",
            title=f"{dev.id} ({eng.name}): {', '.join(str(m) for m in models)}",
        )
        ax.legend(ncol=2, loc="lower right", fontsize=5)
    return fig


# ---- 2. crossover --------------------------------------------------------------------------------
def crossover_figure(
    device: Any,
    moe: Any,
    dense: Any,
    vary: str = "batch",
    workload: Workload | None = None,
    engine: Any = None,
    quant: str = "Q4_K_M",
    lo: float | None = None,
    hi: float | None = None,
    skew: float = 1.0,
    points: int = 48,
) -> Any:
    """Throughput of an MoE and a dense model as batch, context depth or bandwidth varies; the
    crossover from the cost model's solver is marked; for batch/depth the MoE's band between uniform
    routing and Zipf(`skew`) routing is shaded, with the routing bounds (k experts, min(Nk, E)) dashed."""
    from roofline.api import predict
    from roofline.model.symbolic import build, crossover

    w = workload or Workload()
    c = crossover(device, moe, dense, vary, w, engine, quant, lo, hi)
    sa, sb = build(device, moe, w, engine, quant), build(device, dense, w, engine, quant)
    start = max(c.lo, 1.0) if vary != "depth" else max(c.lo, 1.0)
    xs = np.unique(np.concatenate([np.geomspace(start, c.hi, points), c.points]))

    def curve(sm: Any) -> np.ndarray:
        args = {k: np.full_like(xs, sm.values[k]) for k in ("batch", "depth", "bandwidth")}
        args[vary] = xs
        return np.broadcast_to(sm.function()(args["batch"], args["depth"], args["bandwidth"]), xs.shape)

    ya, yb = curve(sa), curve(sb)
    scale = 1e-9 if vary == "bandwidth" else 1.0
    with style() as plt:
        fig, ax = plt.subplots()
        ax.plot(xs * scale, ya, color="#D55E00", label=f"{sa.model} (MoE)", gid="curve:moe")
        ax.plot(xs * scale, yb, color="#0072B2", label=f"{sb.model}", gid="curve:dense")
        limit = None
        if vary in ("batch", "depth"):
            band_x = np.unique(np.round(np.geomspace(start, c.hi, 16)))
            skewed, lo_b, hi_b, fits = [], [], [], []
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
                lo_b.append(ps.routing_bounds_tokens_per_second[0])
                hi_b.append(ps.routing_bounds_tokens_per_second[1])
            ok = np.array(fits)
            if not ok.all():
                # the symbolic curves assume the models fit; beyond this point predict streams from offload
                limit = float(band_x[np.argmin(ok)])
                ax.axvspan(
                    limit,
                    c.hi,
                    color="grey",
                    alpha=0.15,
                    lw=0,
                    gid="does-not-fit",
                    label="footprint exceeds usable memory",
                )
            sel = ok
            base = np.interp(band_x, xs, ya)
            ax.fill_between(
                band_x[sel],
                base[sel],
                np.array(skewed)[sel],
                color="#D55E00",
                alpha=0.2,
                lw=0,
                label=f"MoE, Zipf({skew:g}) routing",
                gid="band:skew",
            )
            ax.plot(band_x[sel], np.array(lo_b)[sel], color="#D55E00", lw=0.5, ls=":", gid="bound:lower")
            ax.plot(
                band_x[sel],
                np.array(hi_b)[sel],
                color="#D55E00",
                lw=0.5,
                ls=":",
                gid="bound:upper",
                label="routing bounds (min(Nk,E) .. k experts)",
            )
        for x in c.points:
            y = float(np.interp(x, xs, ya))
            ax.plot(
                [x * scale],
                [y],
                marker="X",
                color="black",
                ms=6,
                ls="none",
                gid="crossover",
                label=f"crossover: {x * scale:.3g}",
            )
        unit = {
            "batch": "batch (sequences)",
            "depth": "context depth (tokens)",
            "bandwidth": "memory bandwidth (GB/s)",
        }[vary]
        ax.set(
            xscale="log",
            yscale="log",
            xlabel=unit,
            ylabel=f"throughput, {w.test} (tokens/s)",
            title=f"{sa.device}, {sa.engine}, {quant}",
        )
        ax.legend(loc="best")
    fig.crossover = c  # the solver's answer, for callers and tests
    return fig


# ---- 3. breakdown --------------------------------------------------------------------------------
def breakdown_rows(
    device: Any, model: Any, workload: Workload, engine: Any, quant: str
) -> tuple[str, dict[str, float]]:
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
    return f"{p.model}\n{p.device}", out


def breakdown_figure(
    devices: Sequence[Any],
    models: Sequence[Any],
    workload: Workload | None = None,
    engine: Any = None,
    quant: str = "Q4_K_M",
) -> Any:
    """Stacked bars of time per token by operator class: several models on one device, or one model
    on several devices. Bar heights sum to the predicted seconds per token."""
    w = workload or Workload()
    pairs = [(d, m) for d in devices for m in models]
    bars = [breakdown_rows(d, m, w, engine, quant) for d, m in pairs]
    cats = [c for c in CATEGORY_COLORS if any(c in b for _, b in bars)]
    with style() as plt:
        fig, ax = plt.subplots(figsize=(3.5, 2.6))
        bottom = np.zeros(len(bars))
        for cat in cats:
            vals = np.array([b.get(cat, 0.0) * 1e3 for _, b in bars])
            ax.bar(
                range(len(bars)),
                vals,
                bottom=bottom,
                color=CATEGORY_COLORS[cat],
                label=CATEGORY_LABELS[cat],
                width=0.7,
                gid=f"bar:{cat}",
            )
            bottom += vals
        labels = [lbl.split("\n")[0] if len(devices) == 1 else lbl.split("\n")[1] for lbl, _ in bars]
        ax.set_xticks(range(len(bars)), labels, rotation=30, ha="right")
        ax.set_ylabel("time per token (ms)")
        what = devices[0] if len(devices) == 1 else models[0]
        ax.set_title(f"{what}: {w.test}, depth {w.depth}, batch {w.batch}")
        ax.legend(fontsize=5.5, ncol=2)
        ax.grid(axis="x", visible=False)
    fig.totals_ms = bottom  # for tests
    return fig


# ---- 4. heatmap ----------------------------------------------------------------------------------
def heatmap_figure(
    devices: Sequence[Any],
    moe: Any,
    dense: Sequence[Any],
    workload: Workload | None = None,
    engine: Any = None,
    quant: str = "Q4_K_M",
) -> Any:
    """Devices x dense models: the MoE's throughput over each dense model's (compare's ratio), with a
    diverging colour map centred on 1 (above 1: the MoE wins)."""
    from matplotlib.colors import TwoSlopeNorm

    from roofline.api import compare

    w = workload or Workload()
    vals = np.array(
        [[compare(d, [moe, m], w, engine=engine, quant=quant).ratio for m in dense] for d in devices]
    )
    with style() as plt:
        fig, ax = plt.subplots(figsize=(3.5, 0.5 + 0.28 * len(devices)))
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
        ax.set_xticks(range(len(dense)), [str(m) for m in dense], rotation=30, ha="right")
        ax.set_yticks(range(len(devices)), [str(d) for d in devices])
        ax.grid(False)
        cb = fig.colorbar(im, ax=ax, shrink=0.9)
        cb.set_label(f"{moe} / dense throughput", fontsize=6)
        ax.set_title(f"{moe} vs dense: {w.test}, depth {w.depth}, batch {w.batch}")
    fig.values = vals
    return fig


# ---- 5. predicted vs measured --------------------------------------------------------------------
def measured_figure(entries: Sequence[Any]) -> Any:
    """Predicted (spec sheets, and calibrated with the device held out where available) against
    measured throughput of report entries (validation.report.build_entries: `.row.tokens_per_s`,
    `.spec`, `.lodo`), log-log, with +-10 % and +-25 % bands."""
    meas = np.array([e.row.tokens_per_s for e in entries])
    spec = np.array([e.spec for e in entries])
    with style() as plt:
        fig, ax = plt.subplots(figsize=(3.5, 3.2))
        ax.scatter(
            meas,
            spec,
            s=10,
            marker="o",
            facecolors="none",
            edgecolors="#0072B2",
            lw=0.6,
            label="spec sheets only",
            gid="points:spec",
        )
        held = [(e.row.tokens_per_s, e.lodo) for e in entries if e.lodo is not None]
        if held:
            m, p = zip(*held, strict=True)
            ax.scatter(
                m,
                p,
                s=10,
                marker="x",
                color="#D55E00",
                lw=0.6,
                label="calibrated, device held out",
                gid="points:lodo",
            )
        lo, hi = meas.min() / 3, meas.max() * 3
        xs = np.geomspace(lo, hi, 50)
        ax.plot(xs, xs, color="black", lw=0.7)
        for f, ls in ((0.10, ":"), (0.25, "--")):
            ax.plot(xs, xs * (1 + f), color="grey", lw=0.5, ls=ls, label=f"±{f:.0%}")
            ax.plot(xs, xs * (1 - f), color="grey", lw=0.5, ls=ls)
        err = np.abs(spec / meas - 1)
        text = f"spec: median |err| {np.median(err):.0%}, p90 {np.percentile(err, 90):.0%} (n={len(err)})"
        if held:
            e2 = np.abs(np.array(p) / np.array(m) - 1)
            text += (
                f"\nheld-out calibrated: {np.median(e2):.0%}, p90 {np.percentile(e2, 90):.0%} (n={len(e2)})"
            )
        ax.text(
            0.98, 0.03, text, transform=ax.transAxes, ha="right", va="bottom", fontsize=5.5, gid="summary"
        )
        ax.set(
            xscale="log",
            yscale="log",
            xlim=(lo, hi),
            ylim=(lo, hi),
            xlabel="measured throughput (tokens/s)",
            ylabel="predicted throughput (tokens/s)",
        )
        ax.legend(loc="upper left")
    return fig


# ---- 6. memory -----------------------------------------------------------------------------------
def memory_figure(
    devices: Sequence[Any],
    models: Sequence[Any],
    workload: Workload | None = None,
    engine: Any = None,
    quant: str = "Q4_K_M",
) -> Any:
    """Stacked footprint (weights, KV cache, workspace, runtime) of each model against each device's
    usable memory (horizontal lines)."""
    from roofline.api import predict
    from roofline.specs.catalog import load_device

    w = workload or Workload()
    preds = [predict(devices[0], m, w, engine=engine, quant=quant) for m in models]
    parts = (
        ("weights_bytes", "weights", "#0072B2"),
        ("kv_cache_bytes", "KV cache", "#56B4E9"),
        ("workspace_bytes", "workspace", "#E69F00"),
        ("runtime_bytes", "runtime", "#999999"),
    )
    with style() as plt:
        fig, ax = plt.subplots()
        bottom = np.zeros(len(preds))
        for key, label, color in parts:
            vals = np.array([getattr(p.memory, key) / 2**30 for p in preds])
            ax.bar(
                range(len(preds)), vals, bottom=bottom, color=color, label=label, width=0.6, gid=f"bar:{key}"
            )
            bottom += vals
        for i, d in enumerate(devices):
            usable = load_device(d).usable_capacity / 2**30
            ax.axhline(
                usable,
                color="black",
                lw=0.8,
                ls=["-", "--", ":", "-."][i % 4],
                gid=f"usable:{d}",
                label=f"{d} usable ({usable:.1f} GiB)",
            )
        ax.set_xticks(range(len(preds)), [p.model for p in preds], rotation=30, ha="right")
        ax.set_ylabel("memory (GiB)")
        ax.set_title(f"footprint at {quant}, context {w.context}, batch {w.batch}")
        ax.legend(fontsize=5.5)
        ax.grid(axis="x", visible=False)
    fig.totals_gib = bottom
    return fig
