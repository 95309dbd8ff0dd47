"""Figures: what is drawn equals what the model computes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from roofline.api import compare, predict
from roofline.model.workload import Workload
from roofline.plots import (
    breakdown_figure,
    crossover_figure,
    heatmap_figure,
    measured_figure,
    memory_figure,
    roofline_figure,
    save,
)
from roofline.specs import load_device
from roofline.traces.files import E2ERow, write_rows
from roofline.validation.report import build_entries, load_traces


def _line(fig, gid):
    for ax in fig.axes:
        for ln in ax.get_lines():
            if ln.get_gid() == gid:
                return ln
    raise AssertionError(f"no line with gid {gid}")


def test_roofline_kink_at_ridge_and_points_on_roof():
    dev = load_device("jetson-orin-nano-8gb")
    fig = roofline_figure(
        "jetson-orin-nano-8gb", ["olmoe-1b-7b"], [Workload(test="tg128")], engine="llama.cpp-cuda"
    )
    gpu = dev.processor("gpu")
    peak = gpu.peak("int8")
    x, y = _line(fig, "roof:main:int8").get_data()
    assert x[1] == pytest.approx(peak / dev.main_bandwidth) and y[1] == pytest.approx(peak)
    p = predict("jetson-orin-nano-8gb", "olmoe-1b-7b", Workload(test="tg128"), engine="llama.cpp-cuda")
    experts = next(o for o in p.breakdown if o.op == "experts")
    px, py = _line(fig, "op:olmoe-1b-7b:experts:decode").get_data()
    ai = experts.flops / experts.bytes
    assert px[0] == pytest.approx(ai)
    assert py[0] == pytest.approx(min(peak, ai * dev.main_bandwidth))


def test_heatmap_cells_equal_compare():
    devices, dense = ["jetson-orin-nano-8gb", "apple-m2-pro"], ["llama-3.2-1b", "gemma-2-2b"]
    fig = heatmap_figure(devices, "olmoe-1b-7b", dense)
    for i, d in enumerate(devices):
        for j, m in enumerate(dense):
            assert fig.values[i, j] == pytest.approx(compare(d, ["olmoe-1b-7b", m]).ratio)
    img = next(im for im in fig.axes[0].get_images() if im.get_gid() == "heatmap")
    assert np.allclose(img.get_array(), fig.values)


def test_crossover_marker_is_the_solvers_root():
    fig = crossover_figure("apple-m2-pro", "olmoe-1b-7b", "llama-3.2-1b", "bandwidth")
    assert len(fig.crossover.points) == 1
    x, _ = _line(fig, "crossover").get_data()
    assert x[0] == pytest.approx(fig.crossover.points[0] * 1e-9)


def test_breakdown_bars_sum_to_time_per_token():
    models = ["olmoe-1b-7b", "llama-3.2-1b"]
    fig = breakdown_figure(["jetson-orin-nano-8gb"], models)
    for total, m in zip(fig.totals_ms, models, strict=True):
        p = predict("jetson-orin-nano-8gb", m)
        assert total == pytest.approx(p.seconds_per_token * 1e3, rel=1e-9)


def test_memory_bars_equal_footprint():
    fig = memory_figure(["jetson-orin-nano-8gb"], ["olmoe-1b-7b", "qwen3-30b-a3b"])
    for total, m in zip(fig.totals_gib, ["olmoe-1b-7b", "qwen3-30b-a3b"], strict=True):
        assert total == pytest.approx(predict("jetson-orin-nano-8gb", m).memory.total_bytes / 2**30)
    usable = _line(fig, "usable:jetson-orin-nano-8gb").get_ydata()[0]
    assert usable == pytest.approx(load_device("jetson-orin-nano-8gb").usable_capacity / 2**30)


def test_measured_plot_and_vector_outputs(tmp_path):
    rows = [
        E2ERow("rtx-4090", "llama.cpp-cuda", "llama-3.1-8b", "Q4_K_M", "tg128", 0, 1, 130.0, "x"),
        E2ERow("rtx-3090", "llama.cpp-cuda", "llama-3.1-8b", "Q4_K_M", "tg128", 0, 1, 115.0, "x"),
    ]
    trace = tmp_path / "t.e2e.csv"
    write_rows(trace, rows)
    fig = measured_figure(build_entries(load_traces([trace])))
    pts = next(c for c in fig.axes[0].collections if c.get_gid() == "points:spec")
    assert len(pts.get_offsets()) == 2
    for suffix in (".pdf", ".svg", ".png"):
        out = save(fig, tmp_path / f"m{suffix}")
        assert out.stat().st_size > 1000
    pdf = (tmp_path / "m.pdf").read_bytes()
    assert b"/FontFile2" in pdf  # TrueType fonts embedded (pdf.fonttype 42)


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
