"""`roofline probe llama.cpp`: measure llama.cpp with generated probe models, optionally calibrate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from roofline.cli import Group
from roofline.cli.common import echo_json, refuse_overwrite, write_profile
from roofline.cli.options import COMPLETE_DEVICE, csv_list
from roofline.llamacpp.probe import run_probe
from roofline.llamacpp.synthetic import family, hybrid_family
from roofline.traces.files import check_known, write_rows
from roofline.validation.calibrate import fitted_profile


@click.group(cls=Group)
def probe() -> None:
    """Measure an engine with generated probe models (random weights, real shapes)."""


@probe.command("llama.cpp")
@click.option("--llama-bench", "llama_bench", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--llama-quantize",
    "llama_quantize",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="Default: llama-quantize next to llama-bench.",
)
@click.option(
    "--device",
    required=True,
    shell_complete=COMPLETE_DEVICE,
    help="Catalog id (or spec YAML) of this machine, recorded in the traces.",
)
@click.option(
    "--models",
    default="synthetic",
    show_default=True,
    help="Comma-separated model ids or spec YAMLs, 'synthetic' (the probe family), 'hybrid'"
    " (DeltaNet and Mamba-2 probes with their attention-heavy controls) or 'tiny'.",
)
@click.option("--quant", "quants", default="Q4_K_M,Q8_0", show_default=True)
@click.option("--tests", default="pp512,tg128", show_default=True)
@click.option(
    "--depths",
    default="0,2048",
    show_default=True,
    help="Comma-separated KV depths (llama-bench -d); a fit needs a deep one to see attention costs.",
)
@click.option("--reps", default=3, show_default=True, type=int)
@click.option("--threads", default=None, type=int, help="llama-bench -t (default 2).")
@click.option("--ngl", default=0, show_default=True, type=int, help="GPU layers (99 for a GPU build).")
@click.option(
    "--out", "out_dir", default="validation/traces", show_default=True, type=click.Path(file_okay=False)
)
@click.option("--trace-name", default=None, help="Trace file name (default: <device>.llama.cpp.e2e.csv).")
@click.option("--keep", is_flag=True, help="Keep the GGUF files.")
@click.option(
    "--workdir", default=None, type=click.Path(file_okay=False), help="Where GGUF files are written."
)
@click.option("--force", is_flag=True, help="Overwrite an existing trace file.")
@click.option(
    "--calibrate",
    "calibrate_out",
    default=None,
    type=click.Path(dir_okay=False),
    help="Also fit the engine profile to the probe rows and write it here (one command, one profile).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the trace written (and the fit) as JSON.")
def probe_llama_cpp(
    llama_bench: str,
    llama_quantize: str | None,
    device: str,
    models: str,
    quants: str,
    tests: str,
    depths: str,
    reps: int,
    threads: int | None,
    ngl: int,
    out_dir: str,
    trace_name: str | None,
    keep: bool,
    workdir: str | None,
    force: bool,
    calibrate_out: str | None,
    as_json: bool,
) -> None:
    """Generate probe GGUFs, quantize, run llama-bench, and write the results as an end-to-end trace."""
    # the trace's rows must name a device the catalog (or a spec file) knows: say so before minutes of
    # GGUF writing and llama-bench, not when the first result is written
    check_known("device", device, "--device")
    chosen: list[Any] = (
        family()
        if models == "synthetic"
        else family(tiny=True)
        if models == "tiny"
        else hybrid_family()
        if models == "hybrid"
        else csv_list(str, models)
    )
    out = refuse_overwrite(Path(out_dir) / (trace_name or f"{Path(device).stem}.llama.cpp.e2e.csv"), force)
    quant_list = csv_list(str, quants)
    bar = tqdm(total=len(chosen) * len(quant_list), desc="probe", unit="run")

    def progress(i: int, n: int, msg: str) -> None:
        bar.n = i
        bar.set_postfix_str(msg)
        bar.refresh()

    rows = run_probe(
        chosen,
        quant_list,
        llama_bench,
        llama_quantize or str(Path(llama_bench).with_name("llama-quantize")),
        device,
        Path(out_dir),
        tuple(csv_list(str, tests)),
        tuple(csv_list(int, depths)),
        reps,
        threads,
        ngl,
        keep,
        Path(workdir) if workdir else None,
        progress,
        on_rows=lambda so_far: write_rows(out, so_far, force=True),
        raw_stem=None if trace_name is None else out.name.removesuffix(".csv").removesuffix(".e2e"),
    )
    bar.n = bar.total
    bar.close()
    write_rows(out, rows, force=True)
    if not as_json:
        click.echo(f"wrote {len(rows)} rows to {out}")
    calibration: dict[str, Any] | None = None
    if calibrate_out:
        engine = rows[0].engine
        fit, prof = fitted_profile(rows, engine)
        for warning in fit.warnings:
            click.echo(f"WARNING: {warning}", err=True)
        write_profile(calibrate_out, prof, force=True)
        calibration = {
            "engine": engine,
            "residual_sigma": fit.residual_sigma,
            "params": {k: {"value": v, "sigma": fit.sigma[k]} for k, v in fit.params.items()},
            "warnings": list(fit.warnings),
            "output": calibrate_out,
        }
        if not as_json:
            click.echo(
                f"calibrated {engine} on {len(rows)} rows (residual sigma {fit.residual_sigma:.3f}, log): "
                + ", ".join(f"{k} {v:.3g}" for k, v in fit.params.items())
                + f"; wrote {calibrate_out}"
            )
    if as_json:
        echo_json({"device": device, "trace": str(out), "rows": len(rows), "calibration": calibration})
