"""`roofline report`: one self-contained HTML page (roofline.plots.html) for several devices and
models: the verdict table, the figures and the assumptions."""

from __future__ import annotations

import click

from roofline.cli.common import refuse_overwrite, write_text
from roofline.cli.options import REF, checked_engine, csv_list
from roofline.errors import WorkloadError
from roofline.model.workload import Workload
from roofline.plots.html import build_report, to_html


@click.command()
@click.option("--devices", required=True, help="Comma-separated device ids or spec YAMLs.")
@click.option(
    "--models",
    required=True,
    help="Comma-separated model ids or spec YAMLs (the first is compared with the second).",
)
@click.option(
    "--quant", default=None, type=REF, help="Weight format; default: each model's published one, else Q4_K_M."
)
@click.option(
    "--engine", default=None, type=REF, help="Engine profile name or YAML (default: each device's)."
)
@click.option("--test", default="tg128", show_default=True, help="llama-bench test: tgN or ppN.")
@click.option("--depth", default=0, show_default=True, type=int, help="Tokens already in the KV cache.")
@click.option("--batch", default=1, show_default=True, type=int, help="Concurrent sequences.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The page: .html.")
@click.option("--force", is_flag=True, help="Overwrite an existing page.")
def report(
    devices: str,
    models: str,
    quant: str | None,
    engine: str | None,
    test: str,
    depth: int,
    batch: int,
    output: str,
    force: bool,
) -> None:
    """One self-contained HTML page: verdict table, figures and assumptions (works offline)."""
    if not output.lower().endswith((".html", ".htm")):
        raise WorkloadError(f"output must end in .html, got {output[-40:]!r}")
    device_list = csv_list(str, devices, "--devices")
    model_list = csv_list(str, models, "--models")
    inputs = [x for x in [engine, *device_list, *model_list] if x]
    path = refuse_overwrite(output, force, inputs)
    workload = Workload(test=test, depth=depth, batch=batch)
    page = to_html(build_report(device_list, model_list, workload, quant, checked_engine(engine)))
    write_text(refuse_overwrite(path, force, inputs), page)
    click.echo(f"wrote {output} ({len(page) / 1e3:.0f} kB)")
