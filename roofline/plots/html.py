"""A shareable report: one self-contained HTML page with the verdict table, the figures and the
assumptions behind them, for several devices and models.

`build_report(...)` computes (the same `api.predict` and `api.comparison` calls `roofline compare`
makes, so the page holds the numbers `compare --json` prints) and `to_html(report)` writes the page.
Self-contained means nothing is fetched when it opens: the figures are inline SVG images (data
URIs), the style sheet and the table-sorting script are inline, and no element loads a URL (sources
are cited as text). Every table cell holding a number keeps the exact value in `data-value` (the
JSON's number, SI units), shown rounded; the script sorts by it. The page has no date in it: the
same inputs give the same bytes.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from roofline.api import Comparison, calibrated_on, comparison, predict
from roofline.model.cost import resolve_machine
from roofline.model.engine import EngineProfile, default_engine, load_engine
from roofline.model.results import Prediction
from roofline.model.workload import Workload
from roofline.plots.data import breakdown_data, heatmap_data, memory_data, roofline_data
from roofline.plots.figures import draw, svg_text
from roofline.specs.catalog import load_device, load_model
from roofline.specs.hardware import Device
from roofline.specs.model import Model
from roofline.specs.sourced import Sourced


@dataclass(frozen=True)
class ReportFigure:
    key: str  # the figure's element id: "breakdown", "memory", "heatmap", "roofline-<device>"
    caption: str
    svg: str
    wide: bool = False  # takes the page's width (bars for every device and model)


@dataclass(frozen=True)
class Report:
    """What the page shows: predictions[d][m] of model m on device d, one comparison per device
    (first model against the second) when there are two or more models, the figures, and the
    specs and engine profiles the numbers come from."""

    workload: Workload
    devices: tuple[Device, ...]
    models: tuple[Model, ...]
    engines: tuple[EngineProfile, ...]  # the profile each device ran under
    predictions: tuple[tuple[Prediction, ...], ...]
    comparisons: tuple[Comparison, ...]
    figures: tuple[ReportFigure, ...]
    version: str


def build_report(
    devices: Sequence[Any],
    models: Sequence[Any],
    workload: Workload | None = None,
    quant: str | None = None,
    engine: Any = None,
) -> Report:
    """Predict every model on every device and draw the figures: time per token by operator class,
    memory footprint against each device's usable memory, the first model's throughput over each
    other model's per device (two or more models), and each device's roofline with every model."""
    from roofline import __version__

    w = workload or Workload()
    devs = tuple(load_device(d) for d in devices)
    mods = tuple(load_model(m) for m in models)
    engines = tuple(load_engine(engine or default_engine(d)) for d in devs)
    preds = tuple(tuple(predict(d, m, w, engine=engine, quant=quant) for m in models) for d in devices)
    comparisons = tuple(comparison(list(ps)) for ps in preds) if len(models) > 1 else ()
    wide = (7.0, 3.2)
    figures = [
        ReportFigure(
            "breakdown",
            "Time per token by operator class (bars sum to the predicted time per token).",
            _svg(breakdown_data(devices, models, w, engine, quant), wide),
            wide=True,
        ),
        ReportFigure(
            "memory",
            f"Memory footprint (on {devs[0].id}) against each device's usable memory.",
            _svg(memory_data(devices, models, w, engine, quant), wide),
            wide=True,
        ),
    ]
    if len(models) > 1:
        figures.append(
            ReportFigure(
                "heatmap",
                f"{mods[0].id}'s throughput over each other model's (above 1: {mods[0].id} is faster).",
                _svg(heatmap_data(devices, models[0], list(models[1:]), w, engine, quant), None),
            )
        )
    other = Workload(test="pp512" if w.phase == "decode" else "tg128", depth=w.depth, batch=w.batch)
    for d in devs:
        figures.append(
            ReportFigure(
                f"roofline-{d.id}",
                f"Roofline of {d.id}: each operator of each model in {w.test} and {other.test}.",
                _svg(roofline_data(d, list(models), [w, other], engine, quant), None),
            )
        )
    return Report(
        workload=w,
        devices=devs,
        models=mods,
        engines=engines,
        predictions=preds,
        comparisons=comparisons,
        figures=tuple(figures),
        version=__version__,
    )


def _svg(data: Any, figsize: tuple[float, float] | None) -> str:
    import matplotlib.pyplot as plt

    fig = draw(data, figsize=figsize)
    try:
        return svg_text(fig)
    finally:
        plt.close(fig)


# ---- the page ------------------------------------------------------------------------------------
#: Columns of the verdict table: (key, heading, the exact value, how it is shown).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("device", "device"),
    ("model", "model"),
    ("quant", "quant"),
    ("engine", "engine"),
    ("tokens_per_second", "tokens/s"),
    ("vs_first", "vs first model"),
    ("step_seconds", "ms per step"),
    ("bound", "bound"),
    ("memory_total_bytes", "footprint (GiB)"),
    ("memory_usable_bytes", "usable (GiB)"),
    ("fits", "fits"),
    ("joules_per_token", "mJ/token"),
    ("offload_tier", "offload from"),
)


def _cells(p: Prediction, first: Prediction) -> dict[str, tuple[Any, str]]:
    """(exact value or None for text, shown text) of each column for one prediction."""
    m = p.memory
    return {
        "device": (None, p.device),
        "model": (None, p.model),
        "quant": (None, p.quant),
        "engine": (None, p.engine + (f" (calibrated on {p.calibrated_on})" if p.calibrated_on else "")),
        "tokens_per_second": (p.tokens_per_second, f"{p.tokens_per_second:.1f}"),
        "vs_first": (
            p.tokens_per_second / first.tokens_per_second,
            f"{p.tokens_per_second / first.tokens_per_second:.2f}x",
        ),
        "step_seconds": (p.step_seconds, f"{p.step_seconds * 1e3:.2f}"),
        "bound": (None, p.bound),
        "memory_total_bytes": (m.total_bytes, f"{m.total_bytes / 2**30:.2f}"),
        "memory_usable_bytes": (m.usable_bytes, f"{m.usable_bytes / 2**30:.2f}"),
        "fits": (int(m.fits), "yes" if m.fits else "no"),
        "joules_per_token": (p.energy.joules_per_token, f"{p.energy.joules_per_token * 1e3:.1f}"),
        "offload_tier": (None, m.offload_tier or ""),
    }


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _table(report: Report) -> str:
    head = "".join(f'<th data-key="{k}" aria-sort="none">{_esc(h)}</th>' for k, h in COLUMNS)
    rows = []
    for preds in report.predictions:
        for p in preds:
            cells = _cells(p, preds[0])
            tds = "".join(
                f'<td data-key="{k}">{_esc(cells[k][1])}</td>'
                if cells[k][0] is None
                else f'<td data-key="{k}" data-value="{cells[k][0]!r}">{_esc(cells[k][1])}</td>'
                for k, _ in COLUMNS
            )
            rows.append(f'<tr data-device="{_esc(p.device)}" data-model="{_esc(p.model)}">{tds}</tr>')
    return (
        '<table id="verdict-table" class="sortable">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _verdicts(report: Report) -> str:
    out = [
        f'<p class="verdict" data-device="{_esc(c.device)}" data-ratio="{c.ratio!r}">{_esc(c.verdict)}</p>'
        for c in report.comparisons
    ]
    if len(report.devices) > 1:
        items = []
        for j, m in enumerate(report.models):
            ranked = sorted((ps[j] for ps in report.predictions), key=lambda p: -p.tokens_per_second)
            text = ", ".join(
                f"{p.device} {p.tokens_per_second:.1f} t/s" + ("" if p.memory.fits else " (does not fit)")
                for p in ranked
            )
            items.append(
                f'<li data-model="{_esc(m.id)}"><b>{_esc(m.id)}</b>, fastest first: {_esc(text)}</li>'
            )
        out.append(f'<ul class="ranking">{"".join(items)}</ul>')
    return "".join(out)


def _figures(report: Report) -> str:
    out = []
    for f in report.figures:
        data = base64.b64encode(f.svg.encode("utf-8")).decode("ascii")
        wide = ' class="wide"' if f.wide else ""
        out.append(
            f'<figure id="fig-{_esc(f.key)}"{wide}><img alt="{_esc(f.caption)}" '
            f'src="data:image/svg+xml;base64,{data}"><figcaption>{_esc(f.caption)}</figcaption></figure>'
        )
    return "".join(out)


def _figure_row(name: str, fig: Sourced | None) -> str:
    if fig is None:
        return ""
    return f"<tr><td>{_esc(name)}</td><td>{_esc(fig.text)}</td><td>{_esc(fig.provenance)}</td></tr>"


def _assumptions(report: Report) -> str:
    w = report.workload
    parts = [
        "<p>Workload: "
        f"{_esc(w.test)} at depth {w.depth}, batch {w.batch} (llama-bench's meaning: tgN generates N "
        "tokens one at a time, ppN processes N prompt tokens). Predictions are the analytical roofline "
        f"model of moe-roofline {_esc(report.version)}; figures marked estimated are not from a source.</p>"
    ]
    for dev, eng in zip(report.devices, report.engines, strict=True):
        main = dev.main_memory
        mc = resolve_machine(dev, eng)
        proc = mc.processor
        rows = [
            _figure_row(f"{main.name}: bandwidth", main.bandwidth),
            _figure_row(f"{main.name}: capacity", main.capacity),
            _figure_row(f"{main.name}: usable", main.usable_capacity),
            *(_figure_row(f"{proc.name}: {prec} (matrix units)", fig) for prec, fig in proc.matrix.items()),
            *(_figure_row(f"{proc.name}: {prec} (vector units)", fig) for prec, fig in proc.vector.items()),
            *(_figure_row(f"offload: {t.name}", t.bandwidth) for t in dev.offload),
        ]
        refs = "".join(f"<li><b>{_esc(k)}</b>: {_esc(v)}</li>" for k, v in dev.references.items())
        cal = calibrated_on(eng)
        parts.append(
            f'<details class="device" data-device="{_esc(dev.id)}"><summary>{_esc(dev.id)}: '
            f"{_esc(dev.name)}</summary>"
            f"<table><thead><tr><th>figure</th><th>value</th><th>source</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
            + (f"<p>References:</p><ul>{refs}</ul>" if refs else "")
            + f'<p class="engine">Engine profile <b>{_esc(eng.name)}</b>'
            + (f" (calibrated on {_esc(cal)})" if cal else "")
            + f": {_esc(eng.provenance)}</p></details>"
        )
    models = "".join(
        f'<li data-model="{_esc(m.id)}"><b>{_esc(m.id)}</b> ({_esc(m.name)}): {_esc(m.source)}</li>'
        for m in report.models
    )
    parts.append(f"<p>Model specs:</p><ul>{models}</ul>")
    return "".join(parts)


STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222;
  padding: 0 1em; background: #fff; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: left; vertical-align: top; }
td[data-value] { text-align: right; font-variant-numeric: tabular-nums; }
#verdict-table th { cursor: pointer; background: #f3f3f3; user-select: none; }
#verdict-table th[aria-sort="ascending"]::after { content: " \\25B2"; }
#verdict-table th[aria-sort="descending"]::after { content: " \\25BC"; }
.verdict { background: #f7f7fb; border-left: 3px solid #0072B2; padding: 0.5em 0.8em; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; flex: 0 1 560px; }
figure.wide { flex-basis: 100%; max-width: 900px; }
figure img { width: 100%; height: auto; }
figcaption { font-size: 12px; color: #555; }
details { margin: 0.4em 0; }
summary { cursor: pointer; font-weight: 600; }
"""

#: Click a heading to sort the table by it (again: the other way); `#sort=<key>-asc|desc` in the
#: address sorts on load. Numbers sort by their exact data-value. Sets data-ready when done.
SCRIPT = """
(function () {
  function value(cell) {
    var v = cell.getAttribute("data-value");
    return v === null ? cell.textContent.trim() : parseFloat(v);
  }
  function sortBy(table, col, descending) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a.cells[col]), y = value(b.cells[col]);
      var c = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
      return descending ? -c : c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.setAttribute("aria-sort", i === col ? (descending ? "descending" : "ascending") : "none");
    });
  }
  var table = document.getElementById("verdict-table");
  var heads = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(heads, function (th, i) {
    th.addEventListener("click", function () {
      sortBy(table, i, th.getAttribute("aria-sort") === "ascending");
    });
  });
  var asked = /sort=([a-z_]+)-(asc|desc)/.exec(window.location.hash);
  if (asked) {
    Array.prototype.forEach.call(heads, function (th, i) {
      if (th.getAttribute("data-key") === asked[1]) { sortBy(table, i, asked[2] === "desc"); }
    });
  }
  document.documentElement.setAttribute("data-ready", "1");
})();
"""


def to_html(report: Report) -> str:
    """The page: title and workload, the verdict table and verdicts, the figures, the assumptions."""
    devices = ", ".join(d.id for d in report.devices)
    models = ", ".join(m.id for m in report.models)
    w = report.workload
    title = f"moe-roofline report: {models} on {devices}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{_esc(title)}</h1>"
        f'<p class="workload">{_esc(w.test)}, depth {w.depth}, batch {w.batch}; '
        f"moe-roofline {_esc(report.version)}. Click a column heading to sort.</p>"
        f'<h2 id="verdicts">Verdict</h2>{_table(report)}{_verdicts(report)}'
        f'<h2 id="figures">Figures</h2><div class="figures">{_figures(report)}</div>'
        f'<h2 id="assumptions">Assumptions and sources</h2>{_assumptions(report)}'
        f"<script>{SCRIPT}</script></body></html>\n"
    )
