"""`roofline predict|compare`: the cost model on one point, for one model or several side by side."""

from __future__ import annotations

from typing import Any

import click

from roofline import api
from roofline.cli.common import echo_json, gib
from roofline.cli.options import (
    COMPLETE_DEVICE,
    COMPLETE_MODEL,
    MODEL,
    OPTIONAL_DEVICE,
    REF,
    csv_list,
    system_option,
    workload_options,
)
from roofline.model.results import Prediction
from roofline.model.workload import Workload


@click.command()
@OPTIONAL_DEVICE
@system_option("System id or YAML (instead of --device).")
@click.option(
    "--placement",
    default=None,
    help='With --system: e.g. "n-cpu-moe=24", "ngl=20", "gpus=2,sm=row", "tp=4,ep=1" '
    "(default: all on one GPU).",
)
@MODEL
@workload_options
def predict(
    device: str | None,
    system: str | None,
    placement: str | None,
    model_ref: str,
    workload: Workload,
    run_options: dict[str, Any],
    as_json: bool,
) -> None:
    """Predict throughput, per-operator time, memory and energy of one model on one device."""
    if (device is None) == (system is None):
        raise click.UsageError("give --device D, or --system S (with --placement P)")
    if system is not None:
        from roofline.cli.place import predict_on_system

        predict_on_system(system, model_ref, placement, workload, run_options, as_json)
        return
    if placement is not None:
        raise click.UsageError("--placement needs --system")
    p = api.predict(device, model_ref, workload, **run_options)
    if as_json:
        echo_json(p.to_json())
    else:
        _print_prediction(p)


def _print_prediction(p: Prediction) -> None:
    w = p.workload
    click.echo(
        f"{p.model} on {p.device} ({api.engine_label(p)}, {p.quant}, {w.test} at depth {w.depth}, "
        f"batch {w.batch})"
    )
    click.echo(
        f"  {p.tokens_per_second:.1f} tokens/s, {p.step_seconds * 1e3:.2f} ms per step, {p.bound}-bound, "
        f"weights and KV served from {p.serving_level}"
    )
    click.echo(f"  {'operator':<15}{'ms/step':>9}{'share':>7}{'GFLOP':>9}{'MB':>9}{'kernels':>9}  bound")
    for o in p.breakdown:
        click.echo(
            f"  {o.op:<15}{o.seconds * 1e3:>9.3f}{o.seconds / p.step_seconds:>7.1%}{o.flops / 1e9:>9.2f}"
            f"{o.bytes / 1e6:>9.1f}{o.kernels:>9.0f}  {o.bound}"
        )
    m = p.memory
    click.echo(
        f"  memory: weights {gib(m.weights_bytes)} + KV {gib(m.kv_cache_bytes)} + workspace "
        f"{gib(m.workspace_bytes)} + runtime {gib(m.runtime_bytes)} = {gib(m.total_bytes)} "
        f"of {gib(m.usable_bytes)} usable: {'fits' if m.fits else 'DOES NOT FIT'}"
    )
    e = p.energy
    click.echo(f"  energy: {e.joules_per_token * 1e3:.1f} mJ/token at {e.average_watts:.1f} W (estimated)")
    if p.experts:
        x = p.experts
        span = f"{x.lower:.0f}-{x.upper:.0f}" if round(x.lower) != round(x.upper) else "under any routing"
        click.echo(
            f"  experts touched per MoE layer: {x.expected_distinct_per_layer:.1f} expected "
            f"({span}) for {x.tokens_per_step:.0f} tokens per step"
        )
    if p.interval:
        click.echo(f"  calibrated interval (10-90 %): {p.interval[0]:.1f}-{p.interval[1]:.1f} tokens/s")
    for warning in p.warnings:
        click.echo(f"  warning: {warning}")


@click.command()
@OPTIONAL_DEVICE
@click.option(
    "--devices",
    default=None,
    shell_complete=COMPLETE_DEVICE,
    help="Comma-separated devices: the same models on each (which board to buy?).",
)
@system_option("System id or YAML (system_specs/): each model at its fastest placement on it.")
@click.argument("models", nargs=-1, required=True, type=REF, shell_complete=COMPLETE_MODEL)
@workload_options
def compare(
    device: str | None,
    devices: str | None,
    system: str | None,
    models: tuple[str, ...],
    workload: Workload,
    run_options: dict[str, Any],
    as_json: bool,
) -> None:
    """Compare models on one device: a table and a verdict (first model against the second)."""
    if system is not None:
        from roofline.cli.place import compare_on_system

        if device or devices:
            raise click.UsageError("give --system, or --device/--devices, not both")
        compare_on_system(system, models, workload.depth, run_options.get("quant"), as_json)
        return
    targets = ([device] if device else []) + (csv_list(str, devices, "--devices") if devices else [])
    if not targets:
        raise click.UsageError("give --device D or --devices D1,D2")
    if len(models) < 2 and len(targets) < 2:
        raise click.UsageError("give two or more models, or one model and two or more --devices")
    rows = [[api.predict(d, m, workload, **run_options) for m in models] for d in targets]
    comparisons = [api.comparison(preds) for preds in rows] if len(models) > 1 else []
    if as_json:
        if len(targets) == 1:
            echo_json(comparisons[0].to_json())
        else:
            echo_json(
                {
                    "devices": targets,
                    "predictions": [[p.to_json() for p in ps] for ps in rows],
                    "comparisons": [c.to_json() for c in comparisons],
                }
            )
        return
    for preds in rows:
        _print_table(preds, workload)
    for c in comparisons:
        click.echo("")
        click.echo(c.verdict)
    if len(targets) > 1:
        click.echo("")
        for j, m in enumerate(models):
            ranked = sorted((ps[j] for ps in rows), key=lambda p: -p.tokens_per_second)
            click.echo(
                f"{m}, fastest first: "
                + ", ".join(
                    f"{p.device} {p.tokens_per_second:.1f} t/s" + ("" if p.memory.fits else " (does not fit)")
                    for p in ranked
                )
            )


def _print_table(preds: list[Prediction], w: Workload) -> None:
    first = preds[0]
    click.echo(f"{first.device} ({api.engine_label(first)}, {w.test} at depth {w.depth}, batch {w.batch})")
    head = f"{'quant':>8}{'tokens/s':>10}{'vs first':>9}{'bound':>10}{'GiB':>7}{'fits':>6}{'mJ/token':>10}"
    click.echo(f"  {'model':<24}{head}")
    for p in preds:
        click.echo(
            f"  {p.model:<24}{p.quant:>8}{p.tokens_per_second:>10.1f}"
            f"{p.tokens_per_second / first.tokens_per_second:>9.2f}"
            f"{p.bound:>10}{p.memory.total_bytes / 2**30:>7.2f}{'yes' if p.memory.fits else 'no':>6}"
            f"{p.energy.joules_per_token * 1e3:>10.1f}"
        )
