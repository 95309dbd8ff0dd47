"""`roofline explain|crossover|sweep`: the cost model as formulas (roofline.model.symbolic), read term
by term, solved for where two models meet, or evaluated over a grid."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

import click

from roofline import api
from roofline.cli.common import echo_json, refuse_overwrite, write_text
from roofline.cli.options import (
    COMPLETE_DEVICE,
    COMPLETE_ENGINE,
    COMPLETE_MODEL,
    DEVICE,
    MAX_GRID,
    MODEL,
    OPTIONAL_DEVICE,
    REF,
    FiniteFloat,
    checked_engine,
    csv_list,
    system_option,
    workload_options,
)
from roofline.errors import RooflineError, WorkloadError
from roofline.model import symbolic
from roofline.model.engine import load_engine
from roofline.model.workload import MAX_BATCH, MAX_TOKENS, Workload
from roofline.specs.catalog import resolve


@click.command()
@DEVICE
@MODEL
@click.option("--latex", is_flag=True, help="Print the formulas as LaTeX.")
@workload_options
def explain(
    device: str, model_ref: str, latex: bool, workload: Workload, run_options: dict[str, Any], as_json: bool
) -> None:
    """The per-step latency formula in B (batch), D (KV depth) and W (memory bandwidth), term by term."""
    sm = symbolic.build(
        device, model_ref, workload, run_options["engine"], run_options["quant"], run_options["kv_dtype"]
    )
    info = symbolic.explain(sm, latex=latex)
    if as_json:
        echo_json(info)
        return
    if latex:
        click.echo(_latex_block(info))
        return
    engine = _engine_text(info["engine"], run_options["engine"])
    click.echo(
        f"{info['model']} on {info['device']} ({engine}, {info['quant']}, {info['test']}); "
        "time of one step in seconds"
    )
    names = {"B": "batch", "D": "depth", "W": "bandwidth"}
    for sym, meaning in info["symbols"].items():
        click.echo(f"  {sym} = {meaning} = {info['values'][names[sym]]:g}")
    for row in info["terms"]:
        click.echo(f"  {row['op']:<14} [{row['bound']:<8}] {row['seconds'] * 1e3:8.3f} ms = {row['formula']}")
    click.echo(f"  host overhead  {info['host_overhead_seconds'] * 1e3:.3f} ms")
    click.echo(f"  step = {info['step_seconds']}")
    click.echo(f"     = {info['step_seconds_value'] * 1e3:.3f} ms")
    for note in info["notes"]:
        click.echo(f"  note: {note}")


def _latex_block(info: dict[str, Any]) -> str:
    """The step-time formula as a paste-ready LaTeX align environment: one line per operator (in
    seconds), operator names as text, the symbols with their units and values in comments above it."""
    names = {"B": "batch", "D": "depth", "W": "bandwidth"}
    lines = [
        f"% {info['model']} on {info['device']} ({info['engine']}, {info['quant']}, {info['test']}); "
        "times in seconds",
        *(
            f"% {sym} = {meaning} = {info['values'][names[sym]]:g}"
            for sym, meaning in info["symbols"].items()
        ),
        r"\begin{align}",
    ]
    for row in info["terms"]:
        op = row["op"].replace("_", r"\_")
        lines.append(rf"  t_{{\text{{{op}}}}} &= {row['formula']} \\")
    lines.append(rf"  t_{{\text{{host}}}} &= {info['host_overhead_seconds']:.4g} \\")
    lines.append(rf"  t_{{\text{{step}}}} &= {info['step_seconds']}")
    lines.append(r"\end{align}")
    return "\n".join(lines)


@click.command()
@OPTIONAL_DEVICE
@system_option(
    "System id or YAML instead of --device: each model at its fastest fitting placement at each point."
)
@click.argument("models", nargs=2, type=REF, shell_complete=COMPLETE_MODEL)
@click.option(
    "--vary",
    type=click.Choice(["batch", "context", "depth", "bandwidth"]),
    required=True,
    help="What to sweep (context = depth of the KV cache).",
)
@click.option("--lo", type=FiniteFloat(), default=None, help="Start of the range (bandwidth in GB/s).")
@click.option("--hi", type=FiniteFloat(), default=None, help="End of the range (bandwidth in GB/s).")
@workload_options
def crossover(
    device: str | None,
    system: str | None,
    models: tuple[str, str],
    vary: str,
    lo: float | None,
    hi: float | None,
    workload: Workload,
    run_options: dict[str, Any],
    as_json: bool,
) -> None:
    """Where two models' throughputs are equal as batch, context or bandwidth varies."""
    vary = "depth" if vary == "context" else vary
    if (device is None) == (system is None):
        raise click.UsageError("give --device D, or --system S")
    if system is not None:
        from roofline.systems import system_crossover

        sc = system_crossover(system, models[0], models[1], vary, workload, run_options["quant"], lo, hi)
        if as_json:
            echo_json(sc.to_json())
        else:
            click.echo(sc.describe())
        return
    scale = 1e9 if vary == "bandwidth" else 1.0
    c = symbolic.crossover(
        device,
        models[0],
        models[1],
        vary,
        workload,
        run_options["engine"],
        run_options["quant"],
        None if lo is None else min(lo * scale, 1e300),  # (GB/s -> B/s may overflow; then clipped)
        None if hi is None else min(hi * scale, 1e300),
    )
    if as_json:
        echo_json(c.to_json())
    else:
        clipped = (lo is not None and lo * scale < c.lo) or (hi is not None and hi * scale > c.hi)
        click.echo(crossover_text(c, clipped, _engine_text("", run_options["engine"])))


def crossover_text(c: symbolic.Crossover, clipped: bool = False, engine: str = "") -> str:
    """What `crossover` prints (symbolic.Crossover.describe: values with units, fit limits)."""
    return c.describe(clipped, engine)


def _engine_text(name: str, ref: str | None) -> str:
    """`name` (the engine a command used), or `ref`'s profile name with what it was calibrated on
    when `ref` names a calibrated profile; "" for no name and no calibrated profile."""
    if ref is None:
        return name
    eng = load_engine(ref)
    on = api.calibrated_on(eng)
    return f"{eng.name} (calibrated on {on})" if on else name


@click.command()
@click.option("--devices", required=True, shell_complete=COMPLETE_DEVICE, help="Comma-separated device ids.")
@click.option("--models", required=True, shell_complete=COMPLETE_MODEL, help="Comma-separated model ids.")
@click.option("--quants", default="Q4_K_M", show_default=True, help="Comma-separated quantizations.")
@click.option(
    "--batch", "batches", default="1,2,4,8,16,32,64", show_default=True, help="Comma-separated batches."
)
@click.option(
    "--depth", "depths", default="0,1024,4096,16384", show_default=True, help="Comma-separated depths."
)
@click.option("--test", default="tg128", show_default=True, help="tgN or ppN.")
@click.option(
    "--engine",
    default=None,
    type=REF,
    shell_complete=COMPLETE_ENGINE,
    help="Engine profile (default: each device's).",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write CSV here.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON rows.")
def sweep(
    devices: str,
    models: str,
    quants: str,
    batches: str,
    depths: str,
    test: str,
    engine: str | None,
    output: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Throughput over a grid of devices, models, quants, batches and depths (lambdified, vectorised)."""
    Workload(test=test)  # validates the test name
    grid = (
        csv_list(str, devices, "--devices"),
        csv_list(str, models, "--models"),
        csv_list(str, quants, "--quants"),
        csv_list(int, batches, "--batch", 1, MAX_BATCH),
        csv_list(int, depths, "--depth", 0, MAX_TOKENS),
    )
    if math.prod(len(x) for x in grid) > MAX_GRID:
        raise WorkloadError(f"the grid has more than {MAX_GRID:,} points; split the sweep")
    if output:
        refuse_overwrite(output, force, _spec_files(grid[0], grid[1], engine))
    rows = symbolic.sweep(*grid, test, checked_engine(engine))
    bad = [
        r for r in rows if r["tokens_per_second"] is not None and not 0 < r["tokens_per_second"] < math.inf
    ]
    if bad:
        raise WorkloadError(
            f"{bad[0]['model']} on {bad[0]['device']} (batch {bad[0]['batch']}, depth {bad[0]['depth']}): "
            f"throughput {bad[0]['tokens_per_second']!r} is not a finite positive number; check the specs"
        )
    if as_json:
        echo_json(rows)
        return
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    if output:
        write_text(refuse_overwrite(output, force, _spec_files(grid[0], grid[1], engine)), buf.getvalue())
        click.echo(f"wrote {len(rows)} rows to {output}")
    else:
        click.echo(buf.getvalue(), nl=False)


def _spec_files(devices: list[str], models: list[str], engine: str | None) -> list[str]:
    """The spec files a sweep reads (the output must not be one of them)."""
    out = [engine] if engine else []
    for kind, refs in (("device", devices), ("model", models)):
        for ref in refs:
            try:
                out.append(str(resolve(ref, kind)))
            except RooflineError:
                continue  # an unknown id is reported when the sweep loads it
    return out
