"""The `roofline` command: a thin shell over the Python API (it parses, calls, prints).

Commands live in modules by topic: specs.py (specs, model import), predict.py (predict, compare),
symbolic.py (explain, crossover, sweep), traces.py (traces, validate, calibrate, bench) with
traces_import.py (traces import), plot.py, report.py, probe.py and place.py; options.py and
common.py hold what they share (options in, output and files out). A command's module is imported
only when that command runs, so `roofline --help` and `roofline predict` load neither matplotlib nor
sympy; COMMANDS is the index (and the one-line help `--help` lists, checked against each command's
own docstring by the tests).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from roofline.errors import RooflineError

#: command -> (module:attribute, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "specs": ("specs:specs", "List, show and check device and model specs."),
    "model": ("specs:model", "Model spec utilities."),
    "predict": (
        "predict:predict",
        "Predict throughput, per-operator time, memory and energy of one model on one device.",
    ),
    "compare": (
        "predict:compare",
        "Compare models on one device: a table and a verdict (first model against the second).",
    ),
    "explain": (
        "symbolic:explain",
        "The per-step latency formula in B (batch), D (KV depth) and W (memory bandwidth), term by term.",
    ),
    "crossover": (
        "symbolic:crossover",
        "Where two models' throughputs are equal as batch, context or bandwidth varies.",
    ),
    "sweep": (
        "symbolic:sweep",
        "Throughput over a grid of devices, models, quants, batches and depths (lambdified, vectorised).",
    ),
    "traces": (
        "traces:traces",
        "Import measurements as trace files (validation/README.md describes the format).",
    ),
    "validate": (
        "traces:validate",
        "Regenerate the error report from trace files (default: validation/traces/).",
    ),
    "calibrate": ("traces:calibrate", "Fit an engine profile's efficiencies and overheads to measured runs."),
    "bench": (
        "traces:bench",
        "Microbenchmarks of this machine (bandwidth by size, GEMV/GEMM, dispatch, MoE vs dense).",
    ),
    "plot": (
        "plot:plot",
        "Figures for papers (roofline, crossover, breakdown, heatmap, measured, memory, placement).",
    ),
    "report": (
        "report:report",
        "One self-contained HTML page: verdict table, figures and assumptions (works offline).",
    ),
    "probe": ("probe:probe", "Measure an engine with generated probe models (random weights, real shapes)."),
    "place": (
        "place:place",
        "Where to put a model's weights on a system: every placement that fits, fastest first.",
    ),
    "validate-placements": (
        "place:validate_placements",
        "Placements (CPU experts, -ngl, multi-GPU) predicted against public measurements.",
    ),
}


class Group(click.Group):
    """Turns every RooflineError into a one-line message and exit code 2, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RooflineError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


class LazyGroup(Group):
    """Finds its commands in COMMANDS and imports a command's module only to run it."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name][0].split(":")
        return getattr(importlib.import_module(f"roofline.cli.{module}"), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][1]) for name in self.list_commands(ctx)])


@click.group(cls=LazyGroup)
@click.option(
    "--spec-dir",
    "spec_dirs",
    multiple=True,
    type=click.Path(file_okay=False),
    help="Extra directory of spec files (searched before the bundled ones; also ROOFLINE_SPEC_PATH).",
)
@click.version_option(package_name="moe-roofline")
def main(spec_dirs: tuple[str, ...]) -> None:
    """Roofline model of MoE vs dense LLM inference on a device."""
    # imported here, not above: loading the spec schemas (pydantic) would make `--help` 5x slower
    from roofline.specs.catalog import add_spec_dir

    for d in spec_dirs:
        add_spec_dir(d)
