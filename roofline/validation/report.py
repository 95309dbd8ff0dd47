"""`roofline validate`: the honest ledger of predictions against every committed measurement.

For each end-to-end row: the spec-sheet-only prediction (bundled engine profile), and calibrated
predictions that never saw the row: leave-one-device-out (the engine profile fitted on the other
devices' rows) and leave-one-model-out. Summary tables, MoE-vs-dense verdict accuracy, interval
coverage, the seed study's ratios, and a predicted-vs-measured plot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from roofline.errors import RooflineError
from roofline.model.engine import load_engine
from roofline.model.stacked import stack
from roofline.model.uncertainty import heldout_sigma, interval, intervals
from roofline.specs.catalog import load_model
from roofline.traces.files import E2ERow, read_any
from roofline.validation.calibrate import CalibrationError, Runs
from roofline.validation.fitcache import FitCache, calibrate_cached


@dataclass
class Entry:
    row: E2ERow
    spec: float
    lodo: float | None = None
    lodo_lo: float | None = None
    lodo_hi: float | None = None
    lomo: float | None = None
    #: the log scatter of the LODO interval, and where it came from: "held-out" (inner
    #: leave-one-device-out on the fold's training devices) or "in-sample" (the fit's own residuals:
    #: fewer than two training devices to hold out)
    lodo_sigma: float | None = None
    sigma_from: str = ""
    arch: str = ""
    notes: list[str] = field(default_factory=list)

    def err(self, pred: float | None) -> float | None:
        return None if pred is None else pred / self.row.tokens_per_s - 1


def load_traces(paths: list[Path]) -> list[E2ERow]:
    rows: list[E2ERow] = []
    for p in paths:
        e2e, _ = read_any(p)
        rows += e2e
    return rows


#: Told after each unit of work: (units done, units in all, what was just done).
Progress = Callable[[int, int, str], None]


def _fa(flag: bool | None) -> str:
    """A run's flash-attention switch as the report prints it (blank: the engine's default)."""
    return "" if flag is None else str(int(flag))


def _no_progress(done: int, total: int, what: str) -> None:
    return None


@dataclass
class Fold:
    """One held-out calibration: `engine` fitted on its rows whose `key` (device or model) is not
    `value`, and scored on the rows whose key is."""

    engine: str
    key: str
    value: str
    train: list[E2ERow]
    test: list[Entry]


def folds(entries: list[Entry], key: str) -> list[Fold]:
    out = []
    by_engine: dict[str, list[Entry]] = {}
    for e in entries:
        by_engine.setdefault(e.row.engine, []).append(e)
    for engine, group in by_engine.items():
        values = sorted({getattr(e.row, key) for e in group})
        if len(values) < 2:
            continue
        shared = _shared_shapes([e.row for e in group]) if key == "device" else None
        for v in values:
            train = [
                e.row
                for e in group
                if getattr(e.row, key) != v and (shared is None or _shape(e.row) in shared)
            ]
            test = [e for e in group if getattr(e.row, key) == v]
            out.append(Fold(engine, key, v, train, test))
    return out


def _shape(r: E2ERow) -> tuple[str, int, int]:
    """What a run asks of the kernels: its phase, prompt tokens (prefill) and sequences."""
    return (r.phase, int(r.test[2:]) if r.phase == "prefill" else 0, r.batch)


def _shared_shapes(rows: list[E2ERow]) -> set[tuple[str, int, int]]:
    """Run shapes measured on at least two devices. A device-held-out fit trains on these only: rows
    of a shape one device alone measured (the H200's prompt ladder and batched decode) say how that
    device's kernels behave there, and would pull the shared efficiencies towards it; they are still
    scored in their own device's fold."""
    devices: dict[tuple[str, int, int], set[str]] = {}
    for r in rows:
        devices.setdefault(_shape(r), set()).add(r.device)
    return {k for k, v in devices.items() if len(v) >= 2}


def inner_residuals(
    train: list[E2ERow], engine: str, runs: Runs, cache: FitCache
) -> list[tuple[str, str, float]]:
    """(device, phase, log(predicted / measured)) of every training row, each predicted by a fit on
    the training rows of the other devices (a leave-one-device-out inside the fold): how far off a
    fit is on a device it has not seen, measured without the fold's held-out device."""
    out: list[tuple[str, str, float]] = []
    devices = sorted({r.device for r in train})
    if len(devices) < 2:
        return out
    for d in devices:
        rest = [r for r in train if r.device != d]
        mine = [r for r in train if r.device == d]
        try:
            fit = calibrate_cached(rest, engine, cache, runs, as_shipped=True)
        except CalibrationError:
            continue
        prof = fit.profile(load_engine(engine))
        scens = [runs(r) for r in mine]
        held = stack(scens)
        pred = (
            held.tokens_per_second(prof) if held.matches(prof) else [s.tokens_per_second(prof) for s in scens]
        )
        out += [
            (r.device, r.phase, float(np.log(p / r.tokens_per_s))) for r, p in zip(mine, pred, strict=True)
        ]
    return out


def _score(fold: Fold, runs: Runs, cache: FitCache) -> None:
    """Fit the fold (or read its fit back) and predict its held-out rows: LODO with an interval,
    LOMO the central value (all rows at once: model.stacked, checked against the per-row path).
    The LODO interval's scatter is the held-out scatter of the fold's own training devices
    (inner_residuals, uncertainty.heldout_sigma), never anything measured on the held-out device."""
    try:
        fit = calibrate_cached(fold.train, fold.engine, cache, runs, as_shipped=True)
    except CalibrationError as exc:
        for e in fold.test:
            e.notes.append(f"no {fold.key}-held-out fit: {exc}")
        return
    prof = fit.profile(load_engine(fold.engine))
    scens = [runs(e.row) for e in fold.test]
    held = stack(scens)
    sig: list[float | None] = []
    if fold.key == "device":
        hs = heldout_sigma(inner_residuals(fold.train, fold.engine, runs, cache))
        sig = [hs.get(e.row.phase) for e in fold.test]
        for e, v in zip(fold.test, sig, strict=True):
            e.lodo_sigma = fit.residual_sigma if v is None else v
            e.sigma_from = "in-sample" if v is None else "held-out"
    sigma = None if fold.key != "device" else np.array([e.lodo_sigma for e in fold.test])
    if not held.matches(prof):  # a cost-model change model.stacked does not follow yet
        for i, (e, s) in enumerate(zip(fold.test, scens, strict=True)):
            if fold.key == "device":
                e.lodo_lo, e.lodo, e.lodo_hi = interval(s, prof, sigma=float(sigma[i]))
            else:
                e.lomo = s.tokens_per_second(prof)
        return
    if fold.key == "device":
        lo, mid, hi = intervals(held, prof, sigma=sigma)
        for e, a, b, c in zip(fold.test, lo, mid, hi, strict=True):
            e.lodo_lo, e.lodo, e.lodo_hi = float(a), float(b), float(c)
    else:
        for e, v in zip(fold.test, held.tokens_per_second(prof), strict=True):
            e.lomo = float(v)


def build_entries(
    rows: list[E2ERow],
    progress: Progress = _no_progress,
    cache: FitCache | None = None,
    runs: Runs | None = None,
) -> list[Entry]:
    """Every row predicted from the spec sheet, device held out and model held out. `cache` keeps
    the held-out fits (default: FitCache.default(), see validation.fitcache); `progress` is told
    after each fit."""
    cache = FitCache.default() if cache is None else cache
    runs = runs or Runs()
    entries = []
    for r in rows:
        s = runs(r)
        entries.append(Entry(r, s.tokens_per_second(), arch="moe" if s.model.is_moe else "dense"))
    todo = folds(entries, "device") + folds(entries, "model")
    for i, fold in enumerate(todo):
        _score(fold, runs, cache)
        held = Path(fold.value).stem if fold.value.endswith((".yaml", ".yml")) else fold.value  # a spec path
        progress(i + 1, len(todo), f"{fold.engine}: hold out {held}")
    return entries


def _stats(errs: list[float | None]) -> str:
    vals = np.abs([e for e in errs if e is not None])
    if len(vals) == 0:
        return "n/a | n/a | 0"
    return f"{np.median(vals):.0%} | {np.percentile(vals, 90):.0%} | {len(vals)}"


def _pct(x: float | None) -> str:
    return "" if x is None else f"{x:+.0%}"


def verdict_pairs(entries: list[Entry]) -> list[tuple[Entry, Entry]]:
    """Same device, engine, build, test, depth, batch, micro-batch (-ub), -fa and KV-cache type; one
    MoE and one dense model. The build is the row's engine_version where it has one (a benchmark
    that writes one log per model, as the R9700 toolboxes do, is still one machine and build), else
    its source."""
    pairs = []
    key = lambda e: (  # noqa: E731
        e.row.device,
        e.row.engine,
        e.row.engine_version or e.row.source,
        e.row.test,
        e.row.depth,
        e.row.batch,
        e.row.ubatch,
        e.row.flash_attn,
        e.row.kv_dtype,
    )
    groups: dict[Any, list[Entry]] = {}
    for e in entries:
        groups.setdefault(key(e), []).append(e)
    for g in groups.values():
        for a in g:
            for b in g:
                if a.arch == "moe" and b.arch == "dense":
                    pairs.append((a, b))
    return pairs


def _verdicts(pairs: list[tuple[Entry, Entry]], attr: str) -> tuple[int, int]:
    ok = n = 0
    for a, b in pairs:
        pa, pb = getattr(a, attr), getattr(b, attr)
        if pa is None or pb is None:
            continue
        n += 1
        ok += (a.row.tokens_per_s > b.row.tokens_per_s) == (pa > pb)
    return ok, n


def coverage(entries: list[Entry]) -> tuple[float | None, float | None, int]:
    """Share of device-held-out rows inside their 10-90 % interval: over rows, and with each device
    weighing the same (the mean of the devices' shares); and how many devices."""
    by: dict[str, list[bool]] = {}
    for e in entries:
        if e.lodo_lo is not None and e.lodo_hi is not None:
            by.setdefault(e.row.device, []).append(e.lodo_lo <= e.row.tokens_per_s <= e.lodo_hi)
    if not by:
        return None, None, 0
    flat = [c for v in by.values() for c in v]
    return float(np.mean(flat)), float(np.mean([np.mean(v) for v in by.values()])), len(by)


def _median(errs: list[float | None]) -> str:
    vals = np.abs([e for e in errs if e is not None])
    return "n/a" if len(vals) == 0 else f"{np.median(vals):.0%} ({len(vals)})"


def backend_section(entries: list[Entry], pairs: list[tuple[Entry, Entry]]) -> list[str]:
    """Per back-end (engine profile): LODO median |error| by phase, MoE-vs-dense verdicts on
    same-machine pairs, and the coverage of the LODO intervals, for all rows and the public ones."""
    lines = [
        "",
        "## By back-end",
        "",
        "LODO: the back-end's profile calibrated on its other devices' rows. Verdicts: same device, engine, "
        "build (engine_version, else source), test, depth, batch, -ub and -fa, one MoE and one dense model; "
        "right when the predicted faster one is "
        "the measured faster one. Interval: the LODO 10-90 % interval (claims 80 %); its log scatter is "
        "the scale whose band holds 80 % of the errors the fold's calibration makes on devices it has not "
        "seen, measured by a leave-one-device-out inside the fold's own training devices (each device "
        "weighing the same, per phase), never on the "
        "held-out device; a fold with fewer than two training devices falls back to its fit's in-sample "
        "residual sigma (counted in the last column). Coverage is given over rows and with each device "
        "weighing the same (a few heavily measured devices decide the row figure).",
        "",
        "| rows | back-end | devices | LODO decode median (n) | LODO prefill median (n) | verdicts spec | "
        "verdicts LODO | coverage: rows | coverage: devices | rows with in-sample scatter |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, pick in (
        ("all", lambda e: True),
        ("public", lambda e: not e.row.source.startswith("measured here")),
    ):
        for engine in sorted({e.row.engine for e in entries}):
            g = [e for e in entries if e.row.engine == engine and pick(e)]
            if not g:
                continue
            gp = [(a, b) for a, b in pairs if a.row.engine == engine and pick(a) and pick(b)]
            verdicts = []
            for attr in ("spec", "lodo"):
                ok, n = _verdicts(gp, attr)
                verdicts.append(f"{ok}/{n} ({ok / n:.0%})" if n else "n/a")
            rows_c, dev_c, _ = coverage(g)
            cov = ("n/a", "n/a") if rows_c is None else (f"{rows_c:.0%}", f"{dev_c:.0%}")
            fallback = sum(e.sigma_from == "in-sample" for e in g)
            lines.append(
                f"| {label} | {engine} | {len({e.row.device for e in g})} | "
                f"{_median([e.err(e.lodo) for e in g if e.row.phase == 'decode'])} | "
                f"{_median([e.err(e.lodo) for e in g if e.row.phase == 'prefill'])} | "
                f"{verdicts[0]} | {verdicts[1]} | "
                f"{cov[0]} | {cov[1]} | {fallback} |"
            )
    return lines


def seed_study() -> list[dict[str, Any]]:
    """The study's reported ratios (arXiv 2606.21428 abstract) against our predictions."""
    from roofline.api import compare
    from roofline.model.workload import Workload

    out = []
    for device, engine, reported, e_reported in (
        ("apple-m2-pro", "llama.cpp-metal", 0.90, None),
        ("jetson-orin-nano-8gb", "llama.cpp-cuda-b4404", 0.69, 2.1),
        ("jetson-orin-nano-8gb", "llama.cpp-cuda", 0.69, 2.1),
    ):
        c = compare(device, ["olmoe-1b-7b", "llama-3.2-1b"], Workload(test="tg128"), engine=engine)
        a, b = c.predictions
        out.append(
            {
                "device": device,
                "engine": engine,
                "reported_ratio": reported,
                "predicted_ratio": c.ratio,
                "reported_energy_ratio": e_reported,
                "predicted_energy_ratio": a.energy.joules_per_token / b.energy.joules_per_token,
            }
        )
    return out


def is_probe(row: E2ERow) -> bool:
    return "probe_specs" in row.model or row.model.startswith("probe-")


def probe_sections(
    entries: list[Entry], runs: Runs | None = None, cache: FitCache | None = None
) -> list[str]:
    """For each (device, engine) with synthetic-probe rows: the engine profile calibrated on the probes
    only, its fit, and its errors on the same machine's real-model rows (never seen by the fit); the
    MoE/dense throughput ratios measured and predicted side by side; the spread between sweeps."""
    lines: list[str] = []
    runs = runs or Runs()
    cache = FitCache(None) if cache is None else cache
    rows = [e.row for e in entries]
    spec_of = {id(e.row): e.spec for e in entries}  # spec-sheet predictions already made for the ledger
    groups = sorted({(r.device, r.engine) for r in rows if is_probe(r)})
    for device, engine in groups:
        probes = [r for r in rows if r.device == device and r.engine == engine and is_probe(r)]
        real = [r for r in rows if r.device == device and r.engine == engine and not is_probe(r)]
        lines += ["", f"## llama.cpp on {device} ({engine}): calibrated on synthetic probes only", ""]
        try:
            fit = calibrate_cached(probes, engine, cache, runs)
        except CalibrationError as exc:
            lines.append(f"Calibration failed: {exc}")
            continue
        prof = fit.profile(load_engine(engine))
        params = ", ".join(
            f"{k} {v:.3g}" + (f" ± {fit.sigma[k]:.2g}" if fit.sigma[k] is not None else " (default)")
            for k, v in fit.params.items()
        )
        lines.append(
            f"{len(probes)} probe rows ({len(fit.rows)} configurations, repeats merged: best run); fitted "
            f"{params}; residual sigma {fit.residual_sigma:.3f} (log)."
        )
        if not real:
            lines.append("No real-model rows measured on this machine yet.")
            continue
        preds = {id(r): runs(r).tokens_per_second(prof) for r in real}
        spec = {id(r): spec_of[id(r)] for r in real}
        # a configuration: batch (sequences) and flash attention are part of what a run was
        keyf = lambda r: (r.model, r.quant, r.test, r.depth, r.batch, _fa(r.flash_attn))  # noqa: E731
        by: dict[Any, list[E2ERow]] = {}
        for r in real:
            by.setdefault(keyf(r), []).append(r)
        # the measurand is the machine's own throughput: the best of the repeated runs (sharing the
        # machine only slows a run); errors against the median run are given too
        best = {k: max(r.tokens_per_s for r in rs) for k, rs in by.items()}
        med = {k: float(np.median([r.tokens_per_s for r in rs])) for k, rs in by.items()}
        summary = []
        for phase in ("decode", "prefill"):
            ks = [k for k in by if by[k][0].phase == phase]
            if not ks:
                continue
            e_best = [abs(preds[id(by[k][0])] / best[k] - 1) for k in ks]
            e_med = [abs(preds[id(by[k][0])] / med[k] - 1) for k in ks]
            summary.append(
                f"{phase} median |error| {np.median(e_best):.0%} (p90 {np.percentile(e_best, 90):.0%}) "
                f"against the best run, {np.median(e_med):.0%} against the median run"
            )
        lines.append(
            f"Held-out real models ({len(by)} configurations, {len(real)} rows): " + "; ".join(summary) + "."
        )
        lines += [
            "",
            "| model | quant | test | depth | batch | fa | measured t/s: best (median, runs) | spread "
            "| calibrated on probes | err | spec sheet only | err |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for k, rs in sorted(by.items()):
            meas = np.array([r.tokens_per_s for r in rs])
            m = best[k]
            spread = (meas.max() - meas.min()) / med[k] if len(meas) > 1 else 0.0
            pc, ps = preds[id(rs[0])], spec[id(rs[0])]
            lines.append(
                f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} | {k[4]} | {k[5]} | {m:.1f} ({med[k]:.1f}, {len(rs)}) "
                f"| {spread:.0%} | "
                f"{pc:.1f} | {pc / m - 1:+.0%} | {ps:.1f} | {ps / m - 1:+.0%} |"
            )
        moe = sorted({r.model for r in real if load_model(r.model).is_moe})
        dense = sorted({r.model for r in real if not load_model(r.model).is_moe})
        if moe and dense:
            lines += [
                "",
                "MoE / dense throughput on this machine, measured (best runs) vs predicted (calibrated on "
                "probes):",
                "",
                "| MoE / dense | quant | test | depth | batch | fa | measured | predicted |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for a in moe:
                for b in dense:
                    for (mk, *rest), rs in sorted(by.items()):
                        other = (b, *rest)
                        if mk != a or other not in by:
                            continue
                        ma, mb = best[(mk, *rest)], best[other]
                        pa, pb = preds[id(rs[0])], preds[id(by[other][0])]
                        q, t, d, n, fa = rest
                        lines.append(
                            f"| {a} / {b} | {q} | {t} | {d} | {n} | {fa} | {ma / mb:.2f} | {pa / pb:.2f} |"
                        )
    return lines


def render(
    entries: list[Entry],
    trace_paths: list[Path],
    plot_path: Path | None,
    runs: Runs | None = None,
    cache: FitCache | None = None,
) -> str:
    lines = [
        "# Validation report",
        "",
        "Regenerated by `roofline validate` from the traces in `validation/traces/` "
        f"({', '.join(p.name for p in trace_paths)}). Every row is predicted three ways: with the "
        "bundled engine profile and spec-sheet figures only (**spec**), and with the engine profile "
        "calibrated on the other rows: device held out (**LODO**, with a 10-90 % interval) and model "
        "held out (**LOMO**). Error = predicted / measured - 1. No row is ever scored by a fit that saw it, "
        "with one exception: a bundled profile whose provenance says it was fitted "
        "(scripts/fit_default_profiles.py) saw these traces, so its **spec** column is in-sample; for "
        "those back-ends read LODO. A held-out fit of such a profile repeats the recipe its defaults were "
        "fitted with (the profile's `fit:` block: the same free parameters, devices weighted the same), so "
        "LODO is the error of the procedure the shipped defaults came from.",
        "",
    ]
    spec_err = [e.err(e.spec) for e in entries]
    lodo_err = [e.err(e.lodo) for e in entries]
    lomo_err = [e.err(e.lomo) for e in entries]
    ours = [e for e in entries if e.row.source.startswith("measured here")]
    public = [e for e in entries if not e.row.source.startswith("measured here")]
    lines += [
        "## Headline",
        "",
        "Public measurements and our own llama.cpp runs (probes and real models on this CPU and an H200) "
        "are also shown apart: ours are many rows from two machines, so they weigh heavily in the total.",
        "",
        "| rows | predictions | decode median | decode p90 | n | prefill median | prefill p90 | n |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, subset in (("all", entries), ("public", public), ("ours", ours)):
        if not subset:
            continue
        for name, attr in (
            ("spec sheet only", "spec"),
            ("calibrated, device held out", "lodo"),
            ("calibrated, model held out", "lomo"),
        ):
            d = _stats([e.err(getattr(e, attr)) for e in subset if e.row.phase == "decode"])
            p = _stats([e.err(getattr(e, attr)) for e in subset if e.row.phase == "prefill"])
            lines.append(f"| {label} | {name} | {d} | {p} |")
    lines += [
        "",
        "Targets (reported against, not fitted to): decode median |error| <= 25 % from spec sheets, "
        "<= 15 % calibrated; MoE-vs-dense verdict right on >= 90 % of same-machine pairs.",
        "",
    ]
    pairs = verdict_pairs(entries)
    for label, subset in (("all", entries), ("public", public), ("ours", ours)):
        rows_c, dev_c, n_dev = coverage(subset)
        if rows_c is not None:
            lines.append(
                f"Interval coverage ({label}): {rows_c:.0%} of {sum(e.lodo_lo is not None for e in subset)} "
                f"device-held-out rows fall inside their 10-90 % interval (it claims 80 %); {dev_c:.0%} with "
                f"each of the {n_dev} devices weighing the same."
            )
    for label, subset in (("all", entries), ("public", public), ("ours", ours)):
        sub = pairs if subset is entries else verdict_pairs(subset)
        for name, attr in (("spec", "spec"), ("LODO", "lodo")):
            ok, n = _verdicts(sub, attr)
            if n:
                lines.append(
                    f"MoE-vs-dense verdicts ({label}, {name}): {ok} of {n} same-machine pairs right "
                    f"({ok / n:.0%})."
                )
    lines += backend_section(entries, pairs)
    lines += [
        "",
        "## By group (|error|: median, 90th percentile, rows)",
        "",
        "| group | spec median | spec p90 | n | LODO median | LODO p90 | n |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, keyf in (
        ("device", lambda e: e.row.device),
        ("engine", lambda e: e.row.engine),
        ("phase", lambda e: e.row.phase),
        ("architecture", lambda e: e.arch),
    ):
        for v in sorted({keyf(e) for e in entries}):
            g = [e for e in entries if keyf(e) == v]
            lines.append(
                f"| {label}: {v} | {_stats([e.err(e.spec) for e in g])} | "
                f"{_stats([e.err(e.lodo) for e in g])} |"
            )
    lines += [
        "",
        "## The seed study (arXiv 2606.21428): OLMoE-1B-7B / Llama-3.2-1B, Q4_K_M, tg128",
        "",
        "| device | engine profile | reported throughput ratio | predicted | reported energy ratio "
        "| predicted |",
        "|---|---|---|---|---|---|",
    ]
    for s in seed_study():
        er = "" if s["reported_energy_ratio"] is None else f"{s['reported_energy_ratio']:.1f}x"
        lines.append(
            f"| {s['device']} | {s['engine']} | {s['reported_ratio']:.2f} | {s['predicted_ratio']:.2f} | "
            f"{er} | {s['predicted_energy_ratio']:.2f}x |"
        )
    worst = sorted(entries, key=lambda e: -abs(np.log(e.spec / e.row.tokens_per_s)))[:5]
    lines += ["", "## Largest spec-sheet misses", ""]
    for e in worst:
        r = e.row
        lines.append(
            f"- {r.device} / {r.model} {r.quant} {r.test} d{r.depth} b{r.batch} ({r.engine}): measured "
            f"{r.tokens_per_s:.1f}, predicted {e.spec:.1f} ({_pct(e.err(e.spec))}); {r.engine_version}"
        )
    if plot_path is not None:
        lines += ["", f"![predicted vs measured]({plot_path.name})"]
    lines += probe_sections(entries, runs, cache)
    lines += [
        "",
        "## Ledger",
        "",
        "| device | engine | model | quant | test | depth | batch | measured t/s | spec | err "
        "| LODO [10-90 %] | err | LOMO err | source |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e, se, le, me in zip(entries, spec_err, lodo_err, lomo_err, strict=True):
        r = e.row
        band = "" if e.lodo is None else f"{e.lodo:.1f} [{e.lodo_lo:.1f}-{e.lodo_hi:.1f}]"
        src = r.source if len(r.source) < 60 else r.source[:57] + "..."
        lines.append(
            f"| {r.device} | {r.engine} | {r.model} | {r.quant} | {r.test} | {r.depth} | {r.batch} | "
            f"{r.tokens_per_s:.1f} | {e.spec:.1f} | {_pct(se)} | {band} | {_pct(le)} | {_pct(me)} | {src} |"
        )
    return "\n".join(lines) + "\n"


def validate(
    trace_paths: list[Path],
    out: Path,
    progress: Progress = _no_progress,
    figure: Callable[[list[Entry], Path], Any] | None = None,
    cache: FitCache | None = None,
) -> list[Entry]:
    """Write the report to `out`; `figure(entries, path)`, when given, draws the predicted-vs-measured
    figure beside it (the caller brings the plotting: validation does not import plots). `cache`
    keeps the held-out fits (default: FitCache.default())."""
    if not trace_paths:
        raise RooflineError("no trace files given or found")
    rows = load_traces(trace_paths)
    if not rows:
        raise RooflineError("the traces hold no end-to-end rows")
    cache = FitCache.default() if cache is None else cache
    runs = Runs()
    entries = build_entries(rows, progress, cache, runs)
    plot_path = None
    if figure is not None:
        plot_path = out.with_name("predicted_vs_measured.png")
        figure(entries, plot_path)
    out.write_text(render(entries, trace_paths, plot_path, runs, cache))
    return entries
