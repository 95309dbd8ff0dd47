"""Figures: what is drawn equals what the model computes; data steps draw onto any Axes and export
their numbers; saved files are the same bytes every time."""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import re
import subprocess
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

from roofline.api import compare, predict
from roofline.model.workload import Workload
from roofline.plots import (
    breakdown_data,
    crossover_data,
    draw,
    heatmap_data,
    measured_data,
    measured_figure,
    memory_data,
    roofline_data,
    roofline_figure,
    save,
)
from roofline.specs import load_device
from roofline.traces.files import E2ERow, write_rows
from roofline.validation.report import build_entries, load_traces

JETSON = "jetson-orin-nano-8gb"
HEATMAP = ([JETSON, "apple-m2-pro"], "olmoe-1b-7b", ["llama-3.2-1b", "gemma-2-2b"])
BREAKDOWN_MODELS = ["olmoe-1b-7b", "llama-3.2-1b"]
MEMORY_MODELS = ["olmoe-1b-7b", "qwen3-30b-a3b"]


@pytest.fixture(scope="module")
def entries(tmp_path_factory):
    rows = [
        E2ERow("rtx-4090", "llama.cpp-cuda", "llama-3.1-8b", "Q4_K_M", "tg128", 0, 1, 130.0, "x"),
        E2ERow("rtx-3090", "llama.cpp-cuda", "llama-3.1-8b", "Q4_K_M", "tg128", 0, 1, 115.0, "x"),
    ]
    trace = tmp_path_factory.mktemp("traces") / "t.e2e.csv"
    write_rows(trace, rows)
    return build_entries(load_traces([trace]))


@functools.cache
def _data(kind):
    """One small data object of each kind, computed once for the tests below."""
    if kind == "roofline":
        return roofline_data(JETSON, ["olmoe-1b-7b"], [Workload(test="tg128")], engine="llama.cpp-cuda")
    if kind == "crossover":
        return crossover_data("apple-m2-pro", "olmoe-1b-7b", "llama-3.2-1b", "batch")
    if kind == "breakdown":
        return breakdown_data([JETSON], BREAKDOWN_MODELS)
    if kind == "heatmap":
        return heatmap_data(*HEATMAP)
    if kind == "memory":
        return memory_data([JETSON], MEMORY_MODELS)
    raise KeyError(kind)


def _line(fig, gid):
    for ax in fig.axes:
        for ln in ax.get_lines():
            if ln.get_gid() == gid:
                return ln
    raise AssertionError(f"no line with gid {gid}")


def _gids(ax):
    artists = [*ax.get_lines(), *ax.patches, *ax.collections, *ax.images, *ax.texts]
    return {a.get_gid() for a in artists} - {None}


def _bar_tops(ax, gid_prefix="bar:"):
    """Top of each stacked bar, by x position."""
    tops: dict[float, float] = {}
    for r in ax.patches:
        if str(r.get_gid()).startswith(gid_prefix):
            x = round(r.get_x() + r.get_width() / 2, 6)
            tops[x] = max(tops.get(x, 0.0), r.get_y() + r.get_height())
    return np.array([tops[x] for x in sorted(tops)])


def _read_csv(data):
    buf = io.StringIO()
    data.to_csv(buf)
    return list(csv.DictReader(io.StringIO(buf.getvalue())))


def test_roofline_kink_at_ridge_and_points_on_roof():
    dev = load_device(JETSON)
    fig = roofline_figure(JETSON, ["olmoe-1b-7b"], [Workload(test="tg128")], engine="llama.cpp-cuda")
    gpu = dev.processor("gpu")
    peak = gpu.peak("int8")
    x, y = _line(fig, "roof:main:int8").get_data()
    assert x[1] == pytest.approx(peak / dev.main_bandwidth) and y[1] == pytest.approx(peak)
    p = predict(JETSON, "olmoe-1b-7b", Workload(test="tg128"), engine="llama.cpp-cuda")
    experts = next(o for o in p.breakdown if o.op == "experts")
    px, py = _line(fig, "op:olmoe-1b-7b:experts:decode").get_data()
    ai = experts.flops / experts.bytes
    assert px[0] == pytest.approx(ai)
    assert py[0] == pytest.approx(min(peak, ai * dev.main_bandwidth))


def test_heatmap_cells_equal_compare():
    devices, moe, dense = HEATMAP
    data = _data("heatmap")
    for i, d in enumerate(devices):
        for j, m in enumerate(dense):
            assert data.values[i, j] == pytest.approx(compare(d, [moe, m]).ratio)
    fig = draw(data)
    img = next(im for im in fig.axes[0].get_images() if im.get_gid() == "heatmap")
    assert np.allclose(img.get_array(), data.values)


def test_crossover_marker_is_the_solvers_root():
    data = crossover_data("apple-m2-pro", "olmoe-1b-7b", "llama-3.2-1b", "bandwidth")
    assert len(data.crossover.points) == 1
    x, _ = _line(draw(data), "crossover").get_data()
    assert x[0] == pytest.approx(data.crossover.points[0] * 1e-9)


def test_breakdown_bars_sum_to_time_per_token():
    data = _data("breakdown")
    drawn_ms = _bar_tops(draw(data).axes[0])
    for total, drawn, m in zip(data.total_seconds_per_token, drawn_ms, BREAKDOWN_MODELS, strict=True):
        p = predict(JETSON, m)
        assert total == pytest.approx(p.seconds_per_token, rel=1e-9)
        assert drawn == pytest.approx(p.seconds_per_token * 1e3, rel=1e-9)


def test_memory_bars_equal_footprint():
    data = _data("memory")
    fig = draw(data)
    drawn_gib = _bar_tops(fig.axes[0])
    for total, drawn, m in zip(data.total_bytes, drawn_gib, MEMORY_MODELS, strict=True):
        footprint = predict(JETSON, m).memory.total_bytes
        assert total == pytest.approx(footprint)
        assert drawn == pytest.approx(footprint / 2**30)
    usable = _line(fig, f"usable:{JETSON}").get_ydata()[0]
    assert usable == pytest.approx(load_device(JETSON).usable_capacity / 2**30)


def test_measured_plot_and_vector_outputs(tmp_path, entries):
    fig = measured_figure(entries)
    pts = next(c for c in fig.axes[0].collections if c.get_gid() == "points:spec")
    assert len(pts.get_offsets()) == 2
    for suffix in (".pdf", ".svg", ".png"):
        out = save(fig, tmp_path / f"m{suffix}")
        assert out.stat().st_size > 1000
    pdf = (tmp_path / "m.pdf").read_bytes()
    assert b"/FontFile2" in pdf  # TrueType fonts embedded (pdf.fonttype 42)


# ---- compute, then draw: any Axes, tidy CSV, deterministic files ---------------------------------
KINDS = {
    "roofline": "roof:main:int8",
    "crossover": "curve:moe",
    "breakdown": "bar:experts",
    "heatmap": "heatmap",
    "measured": "points:spec",
    "memory": f"usable:{JETSON}",
}


@pytest.mark.parametrize("kind", KINDS)
def test_draws_onto_the_callers_axes(kind, entries):
    data = measured_data(entries) if kind == "measured" else _data(kind)
    fig, (left, right) = plt.subplots(1, 2)
    open_before = plt.get_fignums()
    try:
        assert draw(data, ax=right) is fig
        assert KINDS[kind] in _gids(right)
        assert not _gids(left) and not left.get_title()
        assert plt.get_fignums() == open_before  # no figure of its own
    finally:
        plt.close(fig)


def test_draw_refuses_what_it_cannot_draw():
    with pytest.raises(TypeError, match="draw takes one of"):
        draw(predict(JETSON, "olmoe-1b-7b"))


def test_data_is_frozen():
    data = _data("heatmap")
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.values = None
    with pytest.raises(ValueError):
        data.values[0, 0] = 2.0


def test_breakdown_csv_sums_to_time_per_token(tmp_path):
    data = _data("breakdown")
    data.to_csv(tmp_path / "b.csv")
    with (tmp_path / "b.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["device", "model", "category", "seconds_per_token"]
    assert len(rows) == len(BREAKDOWN_MODELS) * len(data.categories)
    for i, m in enumerate(BREAKDOWN_MODELS):
        mine = [r for r in rows if r["model"] == m]
        assert [r["category"] for r in mine] == list(data.categories)
        seconds = np.array([float(r["seconds_per_token"]) for r in mine])
        assert np.array_equal(seconds, data.seconds_per_token[i])  # exact: floats written as repr
        assert seconds.sum() == pytest.approx(predict(JETSON, m).seconds_per_token, rel=1e-9)


def test_heatmap_csv_round_trips():
    data = _data("heatmap")
    rows = _read_csv(data)
    assert len(rows) == data.values.size
    ratio = np.array([float(r["throughput_ratio"]) for r in rows]).reshape(data.values.shape)
    assert np.array_equal(ratio, data.values)
    moe = np.array([float(r["moe_tokens_per_second"]) for r in rows])
    dense = np.array([float(r["dense_tokens_per_second"]) for r in rows])
    assert np.allclose(moe / dense, data.values.ravel(), rtol=1e-12)
    assert [(r["device"], r["dense_model"]) for r in rows[:2]] == [(HEATMAP[0][0], m) for m in HEATMAP[2]]


def test_memory_csv_round_trips():
    data = _data("memory")
    rows = _read_csv(data)
    bars = [r for r in rows if r["part"] != "usable"]
    total = {m: sum(float(r["bytes"]) for r in bars if r["model"] == m) for m in data.models}
    assert [total[m] for m in data.models] == pytest.approx(data.total_bytes, rel=1e-12)
    usable = [r for r in rows if r["part"] == "usable"]
    assert [(r["device"], r["model"], float(r["bytes"])) for r in usable] == [
        (JETSON, "", load_device(JETSON).usable_capacity)
    ]


def test_crossover_csv_round_trips():
    data = _data("crossover")
    rows = _read_csv(data)
    assert list(rows[0]) == ["series", "model", "batch_sequences", "tokens_per_second", "fits"]

    def series(name, column="tokens_per_second"):
        return np.array([float(r[column]) for r in rows if r["series"] == name])

    assert np.array_equal(series("moe", "batch_sequences"), data.x)
    assert np.array_equal(series("moe"), data.moe_tokens_per_second)
    assert np.array_equal(series("dense"), data.dense_tokens_per_second)
    assert np.array_equal(series("crossover", "batch_sequences"), data.crossover.points)
    assert np.array_equal(series("moe_zipf"), data.band_skewed_tokens_per_second)
    assert np.array_equal(series("routing_upper"), data.band_upper_tokens_per_second)
    fits = [r["fits"] for r in rows if r["series"] == "routing_lower"]
    assert fits == [str(bool(f)) for f in data.band_fits]
    assert {r["fits"] for r in rows if r["series"] == "moe"} == {""}


def test_roofline_csv_round_trips():
    data = _data("roofline")
    rows = _read_csv(data)
    assert len(rows) == len(data.points)
    for row, pt in zip(rows, data.points, strict=True):
        ai = float(row["arithmetic_intensity_flop_per_byte"])
        assert (row["model"], row["operator"], row["phase"]) == (pt.model, pt.op, pt.phase)
        assert ai == pt.flop_per_byte
        attainable = min(
            float(row["peak_flop_per_second"]), ai * float(row["serving_bandwidth_bytes_per_second"])
        )
        assert float(row["attainable_flop_per_second"]) == attainable
        assert row["achieved_flop_per_second"] == ""  # no calibrated profile


def test_measured_csv_round_trips(entries):
    data = measured_data(entries)
    rows = _read_csv(data)
    assert [float(r["measured_tokens_per_second"]) for r in rows] == [e.row.tokens_per_s for e in entries]
    assert [float(r["spec_tokens_per_second"]) for r in rows] == [e.spec for e in entries]
    assert [r["lodo_tokens_per_second"] or None for r in rows] == [
        None if e.lodo is None else str(e.lodo) for e in entries
    ]
    assert rows == [{k: "" if v is None else str(v) for k, v in r.items()} for r in data.rows()]


@pytest.mark.parametrize("suffix", [".png", ".pdf", ".svg"])
def test_save_writes_the_same_bytes_every_time(tmp_path, suffix):
    data = _data("memory")
    fig = draw(data)
    first = save(fig, tmp_path / f"a{suffix}").read_bytes()
    assert save(fig, tmp_path / f"b{suffix}").read_bytes() == first
    assert save(draw(data), tmp_path / f"c{suffix}").read_bytes() == first  # a second drawing, too
    plt.close("all")


@pytest.mark.parametrize(
    "args",
    [
        ["roofline", "--device", "apple-m2-pro", "olmoe-1b-7b", "llama-3.2-1b"],
        ["breakdown", "--device", "jetson-orin-nano-8gb", "olmoe-1b-7b", "llama-3.2-1b"],
        ["heatmap", "--devices", "jetson-orin-nano-8gb,rtx-4090", "olmoe-1b-7b", "llama-3.2-1b"],
        ["memory", "--device", "jetson-orin-nano-8gb", "olmoe-1b-7b", "llama-3.2-1b"],
    ],
)
def test_plot_cli(tmp_path, args):
    out = tmp_path / "fig.svg"
    cmd = ["roofline", "plot", *args, "-o", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert out.read_text().startswith("<?xml")


def test_plot_cli_bad_extension(tmp_path):
    r = subprocess.run(
        [
            "roofline",
            "plot",
            "memory",
            "--device",
            "apple-m2-pro",
            "llama-3.2-1b",
            "-o",
            str(tmp_path / "x.jpg"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "must end in .pdf, .svg or .png" in r.stderr


def test_figures_do_not_need_a_display():
    assert Path(__file__).exists()  # Agg is selected inside roofline.plots; nothing above opened a window
    import matplotlib

    assert matplotlib.get_backend().lower() == "agg"


# ---- legibility (issue 13.14): checked through matplotlib's own geometry, never pixels -----------
def _drawn(fig):
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _labels(ax):
    return [t for t in ax.texts if str(t.get_gid()).startswith("label:")]


def _overlapping(boxes):
    return [
        (i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes)) if boxes[i].overlaps(boxes[j])
    ]


@functools.cache
def _roofline(device, models, quant=None):
    return roofline_data(device, list(models), quant=quant)


CROWDED = [  # five compute roofs, an L2 roof and (Q8_0) an offload roof; an SoC; a datacentre GPU
    ("rtx-4090", ("qwen3-30b-a3b", "qwen3-8b"), "Q8_0"),
    (JETSON, ("olmoe-1b-7b", "llama-3.2-1b"), None),
    ("apple-m2-pro", ("olmoe-1b-7b",), None),
    ("h200-sxm-141gb", ("qwen3-30b-a3b", "llama-3.1-8b"), None),
]


@pytest.mark.parametrize("device,models,quant", CROWDED)
def test_roofline_labels_do_not_overlap(device, models, quant):
    data = _roofline(device, models, quant)
    fig = draw(data)
    renderer = _drawn(fig)
    ax = fig.axes[0]
    labels = _labels(ax)
    # each compute roof and the main-memory and offload roofs are labelled on the axes; the cache
    # roofs (a few tenths of a decade apart, no room between them) are in the legend, by their dashes
    assert len(labels) == len(data.compute_roofs) + 1 + len(data.offload_roofs)
    boxes = [t.get_window_extent(renderer) for t in labels]
    assert _overlapping(boxes) == [], [labels[i].get_text() for pair in _overlapping(boxes) for i in pair]
    inside = ax.get_window_extent(renderer)
    assert all(
        inside.x0 <= b.x0 and b.x1 <= inside.x1 and inside.y0 <= b.y0 and b.y1 <= inside.y1 for b in boxes
    )
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    for roof in data.memory_roofs[1:]:
        assert any(t.endswith("B/s") and roof.name.split(",")[0][:20] in t for t in legend), (
            roof.name,
            legend,
        )
    plt.close(fig)


def test_roofline_labels_use_si_prefixes():
    from roofline.plots.figures import si

    assert si(1.98e15, "FLOP/s") == "1.98 PFLOP/s"
    assert si(999.96e12, "FLOP/s") == "1 PFLOP/s"  # rounds up into the next prefix, not "1e+03 T"
    assert si(82.6e12, "FLOP/s") == "82.6 TFLOP/s"
    assert si(4.9e12, "B/s") == "4.9 TB/s" and si(32e9, "B/s") == "32 GB/s"
    fig = draw(_roofline(*CROWDED[0]))
    texts = [t.get_text() for t in _labels(fig.axes[0])]
    assert "int4 1.32 PFLOP/s" in texts  # read 1.32e+03 TFLOP/s before
    for text in texts:
        value = re.search(r"(\d+(?:\.\d+)?) ([kMGTPE]?)(FLOP/s|B/s)$", text)
        assert value and 1 <= float(value.group(1)) < 1000 and "e+" not in text, text
    plt.close(fig)


def test_two_models_on_one_roofline_are_told_apart():
    data = _roofline(*CROWDED[0])
    fig = draw(data)
    ax = fig.axes[0]
    a, b = data.models
    marker = {
        m: {_line(fig, f"op:{m}:{pt.op}:{pt.phase}").get_marker() for pt in data.points if pt.model == m}
        for m in (a, b)
    }
    assert len(marker[a]) == len(marker[b]) == 1 and marker[a] != marker[b]
    legend = {
        t.get_text(): h
        for t, h in zip(ax.get_legend().get_texts(), ax.get_legend().legend_handles, strict=True)
    }
    assert legend[a].get_marker() == next(iter(marker[a])) and legend[b].get_marker() == next(iter(marker[b]))
    # the phase is the fill: decode filled, prefill hollow, for either model
    decode = _line(fig, f"op:{a}:attn_qkv:decode")
    prefill = _line(fig, f"op:{a}:attn_qkv:prefill")
    assert decode.get_markerfacecolor() != "white" and prefill.get_markerfacecolor() == "white"
    assert {"decode", "prefill"} <= set(legend)
    plt.close(fig)


def test_roofline_draws_the_offload_ceiling_when_offload_is_most_of_the_step():
    from roofline.plots.data import OFFLOAD_DOMINANT

    data = _roofline(*CROWDED[0])  # qwen3-30b-a3b Q8_0 (30.5 GiB) on a 24 GB card
    p = predict("rtx-4090", "qwen3-30b-a3b", quant="Q8_0")
    fetch = next(o for o in p.breakdown if o.op == "offload")
    assert fetch.seconds / p.step_seconds > OFFLOAD_DOMINANT
    tier = next(t for t in load_device("rtx-4090").offload if t.name == p.memory.offload_tier)
    assert [(r.name, r.bytes_per_second) for r in data.offload_roofs] == [
        (tier.name, pytest.approx(tier.bandwidth.value))
    ]
    fig = draw(data)
    x, y = _line(fig, "roof-memory:offload").get_data()
    assert y[0] / x[0] == pytest.approx(tier.bandwidth.value)
    assert fig.axes[0].get_ylim()[0] <= y[0]  # the ceiling starts inside the axes
    rows = [r for r in _read_csv(data) if r["model"] == "qwen3-30b-a3b" and r["test"] == "tg128"]
    assert float(rows[0]["offload_share_of_step"]) == pytest.approx(fetch.seconds / p.step_seconds)
    plt.close(fig)
    fits = _roofline("rtx-4090", ("qwen3-8b",), "Q8_0")
    assert fits.offload_roofs == () and "roof-memory:offload" not in _gids(draw(fits).axes[0])
    plt.close("all")


@pytest.mark.parametrize("kind", ["memory", "breakdown"])
def test_legends_do_not_cover_bars(kind):
    if kind == "memory":  # a bar far above the usable line, which the legend sat on before
        data = memory_data([JETSON, "apple-m2-pro"], ["olmoe-1b-7b", "llama-3.2-1b", "qwen3-30b-a3b"])
    else:
        data = _data("breakdown")
    fig = draw(data)
    renderer = _drawn(fig)
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent(renderer)
    bars = [r for r in ax.patches if str(r.get_gid()).startswith("bar:") and r.get_height() > 0]
    assert bars and not [r.get_gid() for r in bars if legend.overlaps(r.get_window_extent(renderer))]
    lines = [ln for ln in ax.get_lines() if str(ln.get_gid()).startswith("usable:")]
    for ln in lines:  # and no usable-memory line runs under it
        assert ln.get_window_extent(renderer).y1 < legend.y0
    plt.close(fig)


def test_measured_axes_hold_every_point(tmp_path):
    rows = [  # measured far below what the specs predict: the predictions were cut off at 3x measured
        E2ERow("rtx-4090", "llama.cpp-cuda", "llama-3.1-8b", "Q4_K_M", "tg128", 0, 1, 10.0, "x"),
        E2ERow("rtx-3090", "llama.cpp-cuda", "llama-3.1-8b", "Q4_K_M", "tg128", 0, 1, 12.0, "x"),
    ]
    trace = tmp_path / "t.e2e.csv"
    write_rows(trace, rows)
    data = measured_data(build_entries(load_traces([trace])))
    assert data.spec.max() > 3 * data.measured.max()
    fig = draw(data)
    ax = fig.axes[0]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    points = np.concatenate(
        [c.get_offsets() for c in ax.collections if str(c.get_gid()).startswith("points:")]
    )
    assert len(points) >= 2
    assert ((points[:, 0] > x0) & (points[:, 0] < x1) & (points[:, 1] > y0) & (points[:, 1] < y1)).all()
    plt.close(fig)


def test_crossover_marker_says_its_unit():
    data = crossover_data("apple-m2-pro", "olmoe-1b-7b", "llama-3.2-1b", "bandwidth")
    fig = draw(data)
    label = _line(fig, "crossover").get_label()
    assert re.fullmatch(r"crossover: \d+(\.\d+)? GB/s", label), label
    renderer = _drawn(fig)  # the legend sits under the axes, over no curve
    assert (
        fig.axes[0].get_legend().get_window_extent(renderer).y1 < fig.axes[0].get_window_extent(renderer).y0
    )
    plt.close(fig)


# ---- --data: every plot command writes what it drew --------------------------------------------
def _run(args):
    from click.testing import CliRunner

    from roofline.cli import main

    return CliRunner().invoke(main, ["plot", *args])


@pytest.mark.parametrize(
    "args,data",
    [
        (
            ["roofline", "--device", JETSON, "olmoe-1b-7b"],
            lambda: roofline_data(JETSON, ["olmoe-1b-7b"], [Workload(test="tg128"), Workload(test="pp512")]),
        ),
        (
            ["crossover", "--device", "apple-m2-pro", "olmoe-1b-7b", "llama-3.2-1b", "--vary", "bandwidth"],
            lambda: crossover_data("apple-m2-pro", "olmoe-1b-7b", "llama-3.2-1b", "bandwidth"),
        ),
        (["breakdown", "--device", JETSON, *BREAKDOWN_MODELS], lambda: _data("breakdown")),
        (["heatmap", "--devices", ",".join(HEATMAP[0]), HEATMAP[1], *HEATMAP[2]], lambda: _data("heatmap")),
        (["memory", "--device", JETSON, *MEMORY_MODELS], lambda: _data("memory")),
    ],
    ids=["roofline", "crossover", "breakdown", "heatmap", "memory"],
)
def test_plot_data_option_writes_the_plotted_numbers(tmp_path, args, data):
    out, table = tmp_path / "fig.svg", tmp_path / "fig.csv"
    r = _run([*args, "-o", str(out), "--data", str(table)])
    assert r.exit_code == 0, r.output
    assert out.read_text().startswith("<?xml") and f"wrote {table}" in r.output
    buf = io.StringIO()
    data().to_csv(buf)
    assert table.read_text() == buf.getvalue()
    again = _run([*args, "-o", str(tmp_path / "other.svg"), "--data", str(table)])
    assert again.exit_code == 2 and "exists; pass --force" in again.output


def test_plot_measured_data_option(tmp_path, entries):
    trace = tmp_path / "t.e2e.csv"
    write_rows(trace, [e.row for e in entries])
    table = tmp_path / "m.csv"
    r = _run(["measured", str(trace), "-o", str(tmp_path / "m.png"), "--data", str(table)])
    assert r.exit_code == 0, r.output
    buf = io.StringIO()
    measured_data(entries).to_csv(buf)
    assert table.read_text() == buf.getvalue()


def test_plot_data_option_refuses_what_is_not_csv(tmp_path):
    r = _run(
        [
            "memory",
            "--device",
            JETSON,
            "llama-3.2-1b",
            "-o",
            str(tmp_path / "m.svg"),
            "--data",
            str(tmp_path / "m.svg"),
        ]
    )
    assert r.exit_code == 2 and "--data must end in .csv" in r.output
    assert not (tmp_path / "m.svg").exists()
