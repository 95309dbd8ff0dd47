"""`roofline traces import ...`: measurements from other tools (llama-bench, vLLM, SGLang, the public
table) converted into trace CSV files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

import click

from roofline.cli import Group
from roofline.cli.common import echo_json, refuse_overwrite
from roofline.cli.options import COMPLETE_DEVICE, COMPLETE_ENGINE, COMPLETE_MODEL, REF
from roofline.traces.files import write_rows
from roofline.traces.importers import (
    Imported,
    import_public,
    read_llama_bench,
    read_serving,
    read_vllm_latency,
)


@click.group("import", cls=Group)
def traces_import() -> None:
    """Convert measurements from other tools into trace CSV files."""


DEVICE = click.option(
    "--device",
    required=True,
    type=REF,
    shell_complete=COMPLETE_DEVICE,
    help="Catalog id (or spec YAML) of the machine that ran it.",
)
SOURCE = click.option(
    "--source", default="measured here", show_default=True, type=REF, help="Provenance recorded in each row."
)
OUTPUT = click.option(
    "-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write a trace CSV here."
)
FORCE = click.option("--force", is_flag=True, help="Overwrite an existing output file.")
SKIP_BAD = click.option(
    "--skip-bad", is_flag=True, help="Skip (and count) bad records instead of stopping at the first."
)
QUANT = click.option(
    "--quant", required=True, type=REF, help="Weight format served (the results do not record it), e.g. BF16."
)


def _emit(read: Callable[[], Imported], output: str | None, force: bool, inputs: list[str]) -> None:
    """`read()`'s rows to a trace file (-o) or as JSON on stdout; skipped records counted on stderr.
    An existing -o file is refused before anything is read."""
    if output:
        refuse_overwrite(output, force, inputs=inputs)
    got = read()
    if got.skipped:
        click.echo(f"skipped {len(got.skipped)} bad record(s); the first: {got.skipped[0]}", err=True)
    if output:
        write_rows(output, got.rows, force, inputs=inputs)
        click.echo(f"wrote {len(got.rows)} rows to {output}")
    else:
        echo_json([asdict(r) for r in got.rows])


@traces_import.command("llama-bench")
@click.argument("path", type=click.Path())
@DEVICE
@click.option(
    "--model",
    "model_ref",
    default=None,
    type=REF,
    shell_complete=COMPLETE_MODEL,
    help="Model id (default: matched by parameter count).",
)
@click.option(
    "--engine",
    default=None,
    type=REF,
    shell_complete=COMPLETE_ENGINE,
    help="Engine profile (default: from llama-bench's backend).",
)
@SOURCE
@OUTPUT
@FORCE
@SKIP_BAD
def traces_import_llama_bench(
    path: str,
    device: str,
    model_ref: str | None,
    engine: str | None,
    source: str,
    output: str | None,
    force: bool,
    skip_bad: bool,
) -> None:
    """llama-bench output (-o json, jsonl, csv, sql or md; mixed -pg records split) -> trace rows."""
    _emit(
        lambda: read_llama_bench(path, device, model_ref, engine, source, skip_bad=skip_bad),
        output,
        force,
        [path],
    )


def _serving_command(tool: str, what: str) -> None:
    """`traces import vllm-serve|sglang`: the same options, the tool's results."""

    @traces_import.command(
        "vllm-serve" if tool == "vllm" else tool,
        help=f"{what} -> trace rows (closed-loop runs: pp and tg rows at concurrency 1, tg with "
        "--under-load beyond; validation/README.md says what maps).",
    )
    @click.argument("path", type=click.Path())
    @DEVICE
    @QUANT
    @click.option(
        "--model",
        "model_ref",
        default=None,
        type=REF,
        shell_complete=COMPLETE_MODEL,
        help="Model id (default: vLLM's model_id through roofline/data/aliases.yaml).",
    )
    @click.option(
        "--engine",
        default=None,
        type=REF,
        shell_complete=COMPLETE_ENGINE,
        help="Engine profile the rows test"
        + (" (default: vllm)." if tool == "vllm" else " (required: no sglang profile)."),
    )
    @click.option(
        "--under-load",
        is_flag=True,
        help="Also import runs of several concurrent requests: batch / TPOT as a tg row (a lower bound).",
    )
    @SOURCE
    @OUTPUT
    @FORCE
    @SKIP_BAD
    def command(
        path: str,
        device: str,
        quant: str,
        model_ref: str | None,
        engine: str | None,
        under_load: bool,
        source: str,
        output: str | None,
        force: bool,
        skip_bad: bool,
    ) -> None:
        _emit(
            lambda: read_serving(path, tool, device, quant, model_ref, engine, source, under_load, skip_bad),
            output,
            force,
            [path],
        )


_serving_command("vllm", "vllm bench serve --save-result JSON (or --append-result JSONL)")
_serving_command("sglang", "SGLang bench_serving JSONL (--output-file)")


@traces_import.command("vllm-latency")
@click.argument("path", type=click.Path())
@DEVICE
@QUANT
@click.option(
    "--model", "model_ref", required=True, type=REF, shell_complete=COMPLETE_MODEL, help="Model id."
)
@click.option(
    "--batch", required=True, type=int, help="The run's --batch-size (the result does not record it)."
)
@click.option("--input-len", required=True, type=int, help="The run's --input-len.")
@click.option("--output-len", required=True, type=int, help="The run's --output-len.")
@click.option(
    "--prefill",
    type=click.Path(),
    default=None,
    help="The same command's --output-len 1 result, subtracted to leave decode (needed if --output-len > 1).",
)
@click.option(
    "--engine",
    default="vllm",
    show_default=True,
    type=REF,
    shell_complete=COMPLETE_ENGINE,
    help="Engine profile.",
)
@SOURCE
@OUTPUT
@FORCE
def traces_import_vllm_latency(
    path: str,
    device: str,
    quant: str,
    model_ref: str,
    batch: int,
    input_len: int,
    output_len: int,
    prefill: str | None,
    engine: str,
    source: str,
    output: str | None,
    force: bool,
) -> None:
    """vllm bench latency --output-json -> a pp row (--output-len 1), or pp and tg rows with --prefill."""
    inputs = [path, *([prefill] if prefill else [])]
    _emit(
        lambda: Imported(
            read_vllm_latency(
                path, device, model_ref, quant, batch, input_len, output_len, prefill, engine, source
            )
        ),
        output,
        force,
        inputs,
    )


@traces_import.command("public")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="Trace CSV to write.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("--skip-bad", is_flag=True, help="Skip (and count) malformed rows instead of stopping.")
def traces_import_public(path: str, output: str, force: bool, skip_bad: bool) -> None:
    """The public measurement table (shared/data/public_measurements.csv) -> trace rows."""
    refuse_overwrite(output, force, inputs=[path])
    rows, skipped = import_public(path, skip_bad=skip_bad)
    write_rows(output, rows, force, inputs=[path])
    click.echo(
        f"wrote {len(rows)} rows to {output}; skipped: "
        + ", ".join(f"{n} {why}" for why, n in skipped.items())
    )
