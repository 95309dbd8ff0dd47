"""`roofline traces`, `validate`, `calibrate` and `bench`: measurements in, profiles and the report
out (the importers under `traces import` are in traces_import.py)."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import click
import numpy as np

from roofline.cli import Group
from roofline.cli.common import echo_json, refuse_overwrite, trace_files, write_profile
from roofline.cli.options import COMPLETE_DEVICE, COMPLETE_ENGINE, REF, checked_engine
from roofline.cli.progress import progress_bar
from roofline.cli.traces_import import traces_import
from roofline.errors import SpecError
from roofline.model.engine import load_engine
from roofline.plots import measured_figure, save
from roofline.traces.files import read_any, read_micro
from roofline.validation import report
from roofline.validation.bench import run as run_bench
from roofline.validation.calibrate import CalibrationError, calibrate_micro, fitted_profile
from roofline.validation.emit_spec import write_spec
from roofline.validation.fitcache import FitCache


@click.group(cls=Group)
def traces() -> None:
    """Import measurements as trace files (validation/README.md describes the format)."""


traces.add_command(traces_import)


@click.command()
@click.argument("trace_paths", nargs=-1, type=click.Path(exists=True))
@click.option("--out", type=click.Path(dir_okay=False), default="validation/REPORT.md", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the errors (summary and every row) as JSON.")
def validate(trace_paths: tuple[str, ...], out: str, as_json: bool) -> None:
    """Regenerate the error report from trace files (default: validation/traces/)."""
    paths = trace_files(trace_paths or ("validation/traces",))
    refuse_overwrite(out, True, inputs=paths)  # the report is regenerated in place, never over a trace
    fits = FitCache.default()
    try:
        with progress_bar("held-out fits", "fit") as tell:
            entries = report.validate(
                paths,
                Path(out),
                progress=tell,
                figure=lambda entries, path: save(measured_figure(entries), path),
                cache=fits,
            )
    except OSError as exc:
        raise SpecError(out, f"cannot write the report ({exc.strerror or exc})") from None
    figure_path = Path(out).with_name("predicted_vs_measured.png")
    if as_json:
        echo_json(_validation_json(entries, out, figure_path))
        return
    click.echo(f"wrote {out} ({len(entries)} rows) and {figure_path}")
    if fits.directory is not None:
        n, where = fits.hits + fits.misses, fits.directory
        click.echo(f"calibrations: {fits.hits} of {n} read from the cache in {where} (safe to delete)")


_ROW_KEYS = ("device", "engine", "model", "quant", "test", "depth", "batch")


def _validation_json(entries: list[Any], out: str, figure_path: Path) -> dict[str, Any]:
    """validate's --json: the files written, per phase the median and p90 of |predicted / measured - 1|
    of each column of the report (spec sheets, device held out, model held out), and every row."""

    def errors(pred: str, phase: str) -> list[float]:
        got = (e.err(getattr(e, pred)) for e in entries if e.row.phase == phase)
        return [abs(x) for x in got if x is not None]

    summary: dict[str, Any] = {}
    for phase in ("decode", "prefill"):
        summary[phase] = {}
        for column in ("spec", "lodo", "lomo"):
            errs = errors(column, phase)
            summary[phase][column] = {
                "rows": len(errs),
                "median_abs_error": float(np.median(errs)) if errs else None,
                "p90_abs_error": float(np.percentile(errs, 90)) if errs else None,
            }
    rows = [
        {
            **{k: getattr(e.row, k) for k in _ROW_KEYS},
            "measured_tokens_per_s": e.row.tokens_per_s,
            "spec_tokens_per_s": e.spec,
            "lodo_tokens_per_s": e.lodo,
            "lodo_interval": [e.lodo_lo, e.lodo_hi] if e.lodo_lo is not None else None,
            "lomo_tokens_per_s": e.lomo,
            "source": e.row.source,
        }
        for e in entries
    ]
    return {
        "report": out,
        "figure": str(figure_path),
        "rows": len(entries),
        "summary": summary,
        "entries": rows,
    }


@click.command()
@click.argument("trace_paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--engine",
    required=True,
    type=REF,
    shell_complete=COMPLETE_ENGINE,
    help="Engine profile to calibrate (name or YAML).",
)
@click.option(
    "--device", default=None, type=REF, shell_complete=COMPLETE_DEVICE, help="Use only rows of this device."
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="Profile YAML to write.")
@click.option("--force", is_flag=True, help="Overwrite an existing profile.")
@click.option("--json", "as_json", is_flag=True, help="Print the fit as JSON.")
def calibrate(
    trace_paths: tuple[str, ...], engine: str, device: str | None, output: str, force: bool, as_json: bool
) -> None:
    """Fit an engine profile's efficiencies and overheads to measured runs."""
    inputs = [*trace_files(trace_paths), engine]
    refuse_overwrite(output, force, inputs)
    base = load_engine(checked_engine(engine) or engine)
    e2e: list[Any] = []
    micro: list[Any] = []
    for f in trace_files(trace_paths):
        a, b = read_any(f)
        e2e += a
        micro += b
    if micro and not e2e:
        if device is None:
            raise SpecError(
                engine, "calibrating from microbenchmarks needs --device (the device they measured)"
            )
        try:
            prof, info = calibrate_micro([r for r in micro if r.device == device] or micro, device, base)
        except CalibrationError as exc:
            raise CalibrationError(f"{', '.join(trace_paths)}: {exc}") from None
        out = write_profile(output, prof, force, inputs)
        if as_json:
            echo_json(
                {
                    "engine": base.name,
                    "device": device,
                    "micro_rows": len(micro),
                    "params": {k: v for k, v in info.items() if isinstance(v, dict) and "value" in v},
                    "output": str(out),
                }
            )
            return
        click.echo(f"calibrated {base.name} from {len(micro)} microbenchmark rows of {device}:")
        for key in ("bandwidth_efficiency", "compute_efficiency", "kernel_overhead_s"):
            if key in info:
                v = info[key]
                click.echo(
                    f"  {key:<24} {v['value']:.4g}" + (f" +- {v['sigma']:.2g}" if v.get("sigma") else "")
                )
        click.echo(f"wrote {out}")
        return
    rows = [r for r in e2e if r.engine == base.name and (device is None or r.device == device)]
    if not rows:
        raise SpecError(engine, f"no trace rows for engine {base.name}" + (f" on {device}" if device else ""))
    try:
        fit, prof = fitted_profile(rows, base)
    except CalibrationError as exc:
        raise CalibrationError(f"{', '.join(trace_paths)}: {exc}") from None
    for warning in fit.warnings:
        click.echo(f"WARNING: {warning}", err=True)
    out = write_profile(output, prof, force, inputs)
    if as_json:
        echo_json(
            {
                "engine": base.name,
                "device": device,
                "rows": len(rows),
                "residual_sigma": fit.residual_sigma,
                "params": {k: {"value": v, "sigma": fit.sigma[k]} for k, v in fit.params.items()},
                "warnings": list(fit.warnings),
                "output": str(out),
            }
        )
        return
    click.echo(f"calibrated {base.name} on {len(rows)} rows; residual sigma {fit.residual_sigma:.3f} (log)")
    for k, v in fit.params.items():
        sig = fit.sigma[k]
        note = f" +- {sig:.2g}" if sig is not None else "  (not constrained: default)"
        click.echo(f"  {k:<24} {v:.4g}{note}")
    click.echo(f"wrote {out}")


@click.command()
@click.option("--device-name", default=None, help="Name recorded in the trace (default: the host name).")
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False), default="validation/traces", show_default=True
)
@click.option("--quick", is_flag=True, help="Fewer sizes (a smoke test, under a minute).")
@click.option(
    "--emit-spec",
    "emit",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write a hardware spec YAML of this machine, sourced to the trace.",
)
@click.option(
    "--llama-cpp-bin",
    "llama_cpp_bin",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="llama.cpp bin directory whose test-backend-ops times the quantized kernels (default: "
    "$LLAMA_CPP_BIN, else scripts/build_llama_cpp.sh's cache; none: an int8 microkernel).",
)
@click.option(
    "--passes",
    type=click.IntRange(min=1),
    default=None,
    help="Run the CPU bench this many times in a row; each figure keeps its fastest pass (a shared "
    "machine's neighbours only slow a measurement down). Default: 3 with --emit-spec, else 1.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the files written as JSON.")
def bench(
    device_name: str | None,
    out_dir: str,
    quick: bool,
    emit: str | None,
    llama_cpp_bin: str | None,
    passes: int | None,
    as_json: bool,
) -> None:
    """Microbenchmarks of this machine (bandwidth by size, GEMV/GEMM, dispatch, MoE vs dense).

    Also the quantized dot-product kernels llama.cpp runs on a CPU: its own MUL_MAT and routed-expert
    MUL_MAT_ID (test-backend-ops) with a llama.cpp build, else a compiled int8 microkernel."""
    if quick and emit:
        # --quick's GEMMs are too small to reach the machine's rate (5.1 GFLOP/s against 93 from the full
        # bench on one VM): a spec made from them would predict 18x too slow
        raise click.UsageError("--emit-spec needs the full bench: its --quick sizes understate compute ~18x")
    name = device_name or platform.node() or "this-machine"
    warnings: list[str] = []
    if passes is None:
        # a spec is made from the fastest of three passes: one pass's figures moved 17-34 % between
        # runs on a shared 2-vCPU VM (validation/traces/emitted-spec/README.md)
        passes = 3 if emit else 1
    paths = run_bench(
        name, Path(out_dir), quick=quick, llama_cpp_bin=llama_cpp_bin, warnings=warnings, passes=passes
    )
    for w in warnings:
        click.echo(f"WARNING: {w}", err=True)
    if not as_json:
        for p in paths:
            click.echo(f"wrote {p}")
    if emit:
        write_spec(read_micro(paths[0]), Path(emit).stem, str(paths[0]), Path(emit))
        if not as_json:
            click.echo(f"wrote {emit}")
    if as_json:
        echo_json(
            {
                "device_name": name,
                "quick": quick,
                "passes": passes,
                "traces": [str(p) for p in paths],
                "micro_rows": sum(len(read_micro(p)) for p in paths),
                "spec": emit,
                "warnings": warnings,
            }
        )
