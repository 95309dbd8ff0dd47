"""`roofline plot ...`: the figures of roofline.plots, written to PDF, SVG or PNG."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import click

from roofline import plots
from roofline.cli import Group
from roofline.cli.common import refuse_overwrite, trace_files
from roofline.cli.options import (
    COMPLETE_DEVICE,
    COMPLETE_MODEL,
    COMPLETE_SYSTEM,
    ENGINE,
    REF,
    FiniteFloat,
    checked_engine,
    csv_list,
    options,
)
from roofline.cli.progress import progress_bar
from roofline.errors import WorkloadError
from roofline.model.workload import Workload
from roofline.specs.output import atomic_path
from roofline.validation.report import build_entries, load_traces

FORMATS = (".pdf", ".svg", ".png")


OUTPUT = click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="Figure file: .pdf, .svg or .png."
)
FORCE = click.option("--force", is_flag=True, help="Overwrite an existing figure (and --data) file.")
DATA = click.option(
    "--data",
    "data_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Also write the plotted numbers here as CSV (one row per point, bar segment or cell).",
)


def plot_options(f: Any) -> Any:
    """-o/--force/--data, --quant, --engine and the workload (--test, --depth, --batch, passed on
    as `workload`); the outputs are checked before anything is computed."""

    @functools.wraps(f)
    def with_workload(
        *args: Any,
        test: str,
        depth: int,
        batch: int,
        output: str,
        force: bool,
        data_path: str | None,
        engine: str | None,
        **kwargs: Any,
    ) -> Any:
        _check_output(output, force, [engine] if engine else [], data_path)
        workload = Workload(test=test, depth=depth, batch=batch)
        return f(
            *args,
            workload=workload,
            output=output,
            data_path=data_path,
            engine=checked_engine(engine),
            **kwargs,
        )

    return options(
        OUTPUT,
        FORCE,
        DATA,
        click.option(
            "--quant",
            default=None,
            type=REF,
            help="Weight format; default: the model's published one, else Q4_K_M.",
        ),
        ENGINE,
        click.option("--test", default="tg128", show_default=True),
        click.option("--depth", default=0, show_default=True, type=int),
        click.option("--batch", default=1, show_default=True, type=int),
    )(with_workload)


def _check_output(output: str, force: bool, inputs: list[str], data_path: str | None = None) -> None:
    """The figure file and the --data file are writable, new (or --force), not an input, and not
    the same file."""
    if not output.lower().endswith(FORMATS):
        raise WorkloadError(f"output must end in .pdf, .svg or .png, got {output[-40:]!r}")
    refuse_overwrite(output, force, inputs)
    if data_path is not None:
        if not data_path.lower().endswith(".csv"):
            raise WorkloadError(f"--data must end in .csv, got {data_path[-40:]!r}")
        refuse_overwrite(data_path, force, [*inputs, output])


def _devices(device: str | None, devices: str | None) -> list[str]:
    out = ([device] if device else []) + (csv_list(str, devices, "--devices") if devices else [])
    if not out:
        raise click.UsageError("give --device D or --devices D1,D2")
    return out


def _done(data: Any, output: str, data_path: str | None = None) -> None:
    """Draw a figure's data and save it, and its numbers as CSV where --data asks, each atomically:
    into a temporary file beside the output, renamed over it once complete."""
    fig = plots.draw(data) if isinstance(data, plots.FigureData) else data
    with atomic_path(output, make_parents=True) as tmp:
        plots.save(fig, tmp)
    click.echo(f"wrote {output}")
    if data_path is not None and isinstance(data, plots.FigureData):
        with atomic_path(data_path, make_parents=True) as tmp:
            data.to_csv(tmp)
        click.echo(f"wrote {data_path}")


@click.group(cls=Group)
def plot() -> None:
    """Figures for papers (roofline, crossover, breakdown, heatmap, measured, memory, placement)."""


@plot.command("roofline")
@click.option("--device", required=True, type=REF, shell_complete=COMPLETE_DEVICE)
@click.argument("models", nargs=-1, required=True, type=REF, shell_complete=COMPLETE_MODEL)
@plot_options
def plot_roofline(
    device: str,
    models: tuple[str, ...],
    output: str,
    data_path: str | None,
    quant: str,
    engine: str | None,
    workload: Workload,
) -> None:
    """Hierarchical roofline of a device with each operator of the models (decode and prefill)."""
    other = dataclasses.replace(workload, test="pp512" if workload.test.startswith("tg") else "tg128")
    _done(plots.roofline_data(device, list(models), [workload, other], engine, quant), output, data_path)


@plot.command("crossover")
@click.option("--device", required=True, type=REF, shell_complete=COMPLETE_DEVICE)
@click.argument("models", nargs=2, type=REF, shell_complete=COMPLETE_MODEL)
@click.option("--vary", type=click.Choice(["batch", "context", "depth", "bandwidth"]), required=True)
@click.option(
    "--skew",
    default=1.0,
    show_default=True,
    type=FiniteFloat(0.0, 100.0),
    help="Zipf exponent of the shaded band.",
)
@plot_options
def plot_crossover(
    device: str,
    models: tuple[str, str],
    vary: str,
    skew: float,
    output: str,
    data_path: str | None,
    quant: str,
    engine: str | None,
    workload: Workload,
) -> None:
    """Throughput of a MoE and a dense model against batch, context or bandwidth, crossover marked."""
    vary = "depth" if vary == "context" else vary
    data = plots.crossover_data(device, models[0], models[1], vary, workload, engine, quant, skew=skew)
    _done(data, output, data_path)


def _devices_by_models(name: str, compute: Callable[..., Any], doc: str) -> None:
    """A command that draws `compute(devices, models, workload, engine, quant)`: several models on
    one device (--device) or on several (--devices)."""

    @plot.command(name, help=doc)
    @click.option("--device", default=None, type=REF, shell_complete=COMPLETE_DEVICE)
    @click.option(
        "--devices", default=None, shell_complete=COMPLETE_DEVICE, help="Comma-separated: several devices."
    )
    @click.argument("models", nargs=-1, required=True, type=REF, shell_complete=COMPLETE_MODEL)
    @plot_options
    def command(
        device: str | None,
        devices: str | None,
        models: tuple[str, ...],
        output: str,
        data_path: str | None,
        quant: str,
        engine: str | None,
        workload: Workload,
    ) -> None:
        data = compute(_devices(device, devices), list(models), workload, engine, quant)
        _done(data, output, data_path)


_devices_by_models("breakdown", plots.breakdown_data, "Stacked time per token by operator class.")
_devices_by_models(
    "memory", plots.memory_data, "Memory footprint of models against the devices' usable capacity."
)


@plot.command("heatmap")
@click.option("--devices", required=True, shell_complete=COMPLETE_DEVICE, help="Comma-separated device ids.")
@click.argument("models", nargs=-1, required=True, type=REF, shell_complete=COMPLETE_MODEL)
@plot_options
def plot_heatmap(
    devices: str,
    models: tuple[str, ...],
    output: str,
    data_path: str | None,
    quant: str,
    engine: str | None,
    workload: Workload,
) -> None:
    """Devices x dense models: the first model's (the MoE's) throughput ratio to each of the others."""
    if len(models) < 2:
        raise click.UsageError("give the MoE model first, then one or more dense models")
    data = plots.heatmap_data(_devices(None, devices), models[0], list(models[1:]), workload, engine, quant)
    _done(data, output, data_path)


@plot.command("measured")
@click.argument("trace_paths", nargs=-1, required=True, type=click.Path(exists=True))
@OUTPUT
@FORCE
@DATA
def plot_measured(trace_paths: tuple[str, ...], output: str, force: bool, data_path: str | None) -> None:
    """Predicted against measured throughput of end-to-end traces, with +-10/25 % bands."""
    paths = trace_files(trace_paths)
    _check_output(output, force, [str(p) for p in paths], data_path)
    with progress_bar("held-out fits", "fit") as tell:
        entries = build_entries(load_traces(paths), tell)
    _done(plots.measured_data(entries), output, data_path)


@plot.command("placement")
@click.option(
    "--system",
    required=True,
    type=REF,
    shell_complete=COMPLETE_SYSTEM,
    help="System id (system_specs/) or system spec YAML.",
)
@click.argument("models", nargs=-1, required=True, type=REF, shell_complete=COMPLETE_MODEL)
@click.option(
    "--placements",
    default=None,
    help='Semicolon-separated placements for every model, e.g. "ngl=99;n-cpu-moe=24;ngl=0" '
    "(default: all on the GPU and each model's fastest fitting placement).",
)
@plot_options
def plot_placement(
    system: str,
    models: tuple[str, ...],
    placements: str | None,
    output: str,
    data_path: str | None,
    quant: str | None,
    engine: str | None,
    workload: Workload,
) -> None:
    """Time per token on a system by where it is spent: GPU, CPU experts, weight copies, links."""
    from roofline.model.placement import parse_placement

    chosen = [parse_placement(p) for p in placements.split(";")] if placements else None
    _done(plots.placement_data(system, list(models), workload, chosen, quant), output, data_path)
