"""`roofline plot ...`: the figures of roofline.plots, written to PDF, SVG or PNG."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import click

from roofline import plots
from roofline.cli import Group
from roofline.cli.common import options, trace_files
from roofline.model.workload import Workload
from roofline.validation.report import build_entries, load_traces


def plot_options(f: Any) -> Any:
    """-o, --quant, --engine and the workload (--test, --depth, --batch, passed on as `workload`)."""

    @functools.wraps(f)
    def with_workload(*args: Any, test: str, depth: int, batch: int, **kwargs: Any) -> Any:
        return f(*args, workload=Workload(test=test, depth=depth, batch=batch), **kwargs)

    return options(
        click.option(
            "-o",
            "--output",
            required=True,
            type=click.Path(dir_okay=False),
            help="Figure file: .pdf, .svg or .png.",
        ),
        click.option("--quant", default="Q4_K_M", show_default=True),
        click.option("--engine", default=None, help="Engine profile name or YAML (default: the device's)."),
        click.option("--test", default="tg128", show_default=True),
        click.option("--depth", default=0, show_default=True, type=int),
        click.option("--batch", default=1, show_default=True, type=int),
    )(with_workload)


def _devices(device: str | None, devices: str | None) -> list[str]:
    out = ([device] if device else []) + ([d for d in devices.split(",") if d] if devices else [])
    if not out:
        raise click.UsageError("give --device D or --devices D1,D2")
    return out


def _done(fig: Any, output: str) -> None:
    click.echo(f"wrote {plots.save(fig, output)}")


@click.group(cls=Group)
def plot() -> None:
    """Figures for papers (roofline, crossover, breakdown, heatmap, measured, memory)."""


@plot.command("roofline")
@click.option("--device", required=True)
@click.argument("models", nargs=-1, required=True)
@plot_options
def plot_roofline(
    device: str, models: tuple[str, ...], output: str, quant: str, engine: str | None, workload: Workload
) -> None:
    """Hierarchical roofline of a device with each operator of the models (decode and prefill)."""
    other = dataclasses.replace(workload, test="pp512" if workload.test.startswith("tg") else "tg128")
    _done(plots.roofline_figure(device, list(models), [workload, other], engine, quant), output)


@plot.command("crossover")
@click.option("--device", required=True)
@click.argument("models", nargs=2)
@click.option("--vary", type=click.Choice(["batch", "context", "depth", "bandwidth"]), required=True)
@click.option("--skew", default=1.0, show_default=True, type=float, help="Zipf exponent of the shaded band.")
@plot_options
def plot_crossover(
    device: str,
    models: tuple[str, str],
    vary: str,
    skew: float,
    output: str,
    quant: str,
    engine: str | None,
    workload: Workload,
) -> None:
    """Throughput of a MoE and a dense model against batch, context or bandwidth, crossover marked."""
    vary = "depth" if vary == "context" else vary
    fig = plots.crossover_figure(device, models[0], models[1], vary, workload, engine, quant, skew=skew)
    _done(fig, output)


def _devices_by_models(name: str, figure: Callable[..., Any], doc: str) -> None:
    """A command that draws `figure(devices, models, workload, engine, quant)`: several models on one
    device (--device) or on several (--devices)."""

    @plot.command(name, help=doc)
    @click.option("--device", default=None)
    @click.option("--devices", default=None, help="Comma-separated: several devices.")
    @click.argument("models", nargs=-1, required=True)
    @plot_options
    def command(
        device: str | None,
        devices: str | None,
        models: tuple[str, ...],
        output: str,
        quant: str,
        engine: str | None,
        workload: Workload,
    ) -> None:
        _done(figure(_devices(device, devices), list(models), workload, engine, quant), output)


_devices_by_models("breakdown", plots.breakdown_figure, "Stacked time per token by operator class.")
_devices_by_models(
    "memory", plots.memory_figure, "Memory footprint of models against the devices' usable capacity."
)


@plot.command("heatmap")
@click.option("--devices", required=True, help="Comma-separated device ids.")
@click.argument("models", nargs=-1, required=True)
@plot_options
def plot_heatmap(
    devices: str, models: tuple[str, ...], output: str, quant: str, engine: str | None, workload: Workload
) -> None:
    """Devices x dense models: the first model's (the MoE's) throughput ratio to each of the others."""
    if len(models) < 2:
        raise click.UsageError("give the MoE model first, then one or more dense models")
    fig = plots.heatmap_figure(_devices(None, devices), models[0], list(models[1:]), workload, engine, quant)
    _done(fig, output)


@plot.command("measured")
@click.argument("trace_paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
def plot_measured(trace_paths: tuple[str, ...], output: str) -> None:
    """Predicted against measured throughput of end-to-end traces, with +-10/25 % bands."""
    _done(plots.measured_figure(build_entries(load_traces(trace_files(trace_paths)))), output)
