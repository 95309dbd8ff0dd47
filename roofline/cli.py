"""The `roofline` command: a thin shell over the Python API (it parses, calls, prints)."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any

import click

from roofline.errors import RooflineError


def _si(x: float, unit: str) -> str:
    for factor, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= factor:
            return f"{x / factor:.3g} {prefix}{unit}"
    return f"{x:.3g} {unit}"


def _gib(x: float) -> str:
    return f"{x / 2**30:.2f} GiB"


class _Group(click.Group):
    """Turns every RooflineError into a one-line message and exit code 2, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RooflineError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
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
    from roofline.specs.catalog import add_spec_dir

    for d in spec_dirs:
        add_spec_dir(d)


# ---- specs ---------------------------------------------------------------------------------
@main.group(cls=_Group)
def specs() -> None:
    """List, show and check device and model specs."""


@specs.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def specs_list(as_json: bool) -> None:
    """Ids of the known devices and models."""
    from roofline.specs.catalog import list_ids
    from roofline.specs.quant import quant_names

    out = {"devices": list_ids("device"), "models": list_ids("model"), "quants": quant_names()}
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    for key in ("devices", "models", "quants"):
        click.echo(f"{key} ({len(out[key])}):")
        click.echo("  " + "\n  ".join(out[key]))


@specs.command("show")
@click.argument("ref")
@click.option(
    "--kind",
    type=click.Choice(["device", "model"]),
    default=None,
    help="Needed only when a device and a model share the id.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def specs_show(ref: str, kind: str | None, as_json: bool) -> None:
    """A device or model (id or path) with its derived figures."""
    from roofline.specs import catalog
    from roofline.specs.describe import describe_device, describe_model

    if kind is None:
        kind = _guess_kind(ref)
    info = (
        describe_device(catalog.load_device(ref))
        if kind == "device"
        else describe_model(catalog.load_model(ref))
    )
    if as_json:
        click.echo(json.dumps(info, indent=2))
    elif kind == "device":
        _print_device(info)
    else:
        _print_model(info)


def _guess_kind(ref: str) -> str:
    from roofline.errors import SpecError
    from roofline.specs import catalog

    p = Path(ref)
    if p.is_file():
        data = catalog.load_yaml(p)
        return "device" if isinstance(data, dict) and "processors" in data else "model"
    found = [k for k in ("device", "model") if ref in catalog.list_ids(k)]
    if not found:
        catalog.resolve(ref, "model")  # raises with suggestions
        raise SpecError(ref, "unknown id")
    return found[0]


def _print_device(info: dict[str, Any]) -> None:
    mm = info["main_memory"]
    click.echo(f"{info['id']}: {info['name']} ({info['device_kind']})")
    click.echo(
        f"  main memory  {mm['name']}: {_gib(mm['capacity_bytes'])} "
        f"({_gib(mm['usable_bytes'])} usable), {_si(mm['bandwidth_bytes_per_s'], 'B/s')}"
    )
    for p in info["processors"]:
        peaks = ", ".join(f"{k} {_si(v, 'FLOP/s')}" for k, v in p["peak_flops"].items())
        click.echo(f"  {p['kind']:<4} {p['name']}: {peaks}")
    click.echo("  ridge points (FLOP/byte vs main memory):")
    for proc, ridges in info["ridge_points_flop_per_byte"].items():
        click.echo(f"    {proc}: " + ", ".join(f"{k} {v:.1f}" for k, v in ridges.items()))
    pw = info["power_w"]
    click.echo(
        f"  power ({pw['mode']}): max {pw['max']:.0f} W"
        + (f", idle {pw['idle']:.1f} W" if pw["idle"] is not None else "")
    )
    if info["estimated_figures"]:
        click.echo(f"  estimated figures: {', '.join(info['estimated_figures'])}")


def _print_model(info: dict[str, Any]) -> None:
    click.echo(f"{info['id']}: {info['name']} ({info['architecture']}, {info['attention']})")
    click.echo(f"  source: {info['source']}")
    click.echo(f"  total params  {info['total_params'] / 1e9:.3f} B")
    click.echo(f"  active params {info['active_params'] / 1e9:.3f} B")
    click.echo(f"  layers {info['n_layers']} ({info['n_moe_layers']} MoE)")
    click.echo(f"  KV cache per token (f16): {info['kv_bytes_per_token_f16'] / 1024:.1f} KiB")
    click.echo(
        "  file size by quant: " + ", ".join(f"{q} {_gib(b)}" for q, b in info["file_size_bytes"].items())
    )


@specs.command("check")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
def specs_check(paths: tuple[str, ...]) -> None:
    """Validate spec files; exit 2 if any is bad (every problem is listed)."""
    from roofline.specs.catalog import check_file

    bad = 0
    for p in paths:
        try:
            spec = check_file(p)
        except RooflineError as exc:
            bad += 1
            click.echo(f"FAIL {exc}", err=True)
        else:
            click.echo(f"ok   {p} ({type(spec).__name__.lower()} {spec.id})")
    if bad:
        click.echo(f"{bad} of {len(paths)} spec files failed", err=True)
        sys.exit(2)


# ---- predict / compare -----------------------------------------------------------------------
def _workload_options(f: Any) -> Any:
    opts = [
        click.option(
            "--quant", default="Q4_K_M", show_default=True, help="Weight format (roofline specs list)."
        ),
        click.option("--kv-dtype", default="f16", show_default=True, help="KV-cache element type."),
        click.option("--engine", default=None, help="Engine profile name or YAML (default: the device's)."),
        click.option(
            "--profile",
            default=None,
            type=click.Path(exists=True, dir_okay=False),
            help="Calibrated engine profile YAML (`roofline calibrate`); overrides --engine.",
        ),
        click.option("--batch", default=1, show_default=True, type=int, help="Concurrent sequences."),
        click.option(
            "--test",
            "test",
            default="tg128",
            show_default=True,
            help="llama-bench test: tgN (decode N tokens) or ppN (prefill N tokens).",
        ),
        click.option(
            "--depth", default=0, show_default=True, type=int, help="Tokens already in the KV cache."
        ),
        click.option(
            "--routing-skew",
            default=0.0,
            show_default=True,
            type=float,
            help="Zipf exponent of expert popularity (0 = uniform routing).",
        ),
        click.option(
            "--locality",
            default=0.0,
            show_default=True,
            type=float,
            help="Chance a routed expert is still cached from a recent token (offload only).",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print JSON."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _common(
    quant: str,
    kv_dtype: str,
    engine: str | None,
    profile: str | None,
    batch: int,
    test: str,
    depth: int,
    routing_skew: float,
    locality: float,
) -> tuple[Any, dict[str, Any]]:
    from roofline.model.workload import Workload

    return Workload(test=test, depth=depth, batch=batch), {
        "quant": quant,
        "kv_dtype": kv_dtype,
        "engine": profile or engine,
        "routing_skew": routing_skew,
        "locality": locality,
    }


@main.command()
@click.option("--device", required=True, help="Device id or spec YAML.")
@click.option("--model", "model_ref", required=True, help="Model id or spec YAML.")
@_workload_options
def predict(device: str, model_ref: str, as_json: bool, **kw: Any) -> None:
    """Predict throughput, per-operator time, memory and energy of one model on one device."""
    from roofline.api import predict as run

    w, opts = _common(**kw)
    p = run(device, model_ref, w, **opts)
    if as_json:
        click.echo(json.dumps(p.to_json(), indent=2))
        return
    _print_prediction(p)


def _print_prediction(p: Any) -> None:
    w = p.workload
    click.echo(
        f"{p.model} on {p.device} ({p.engine}, {p.quant}, {w.test} at depth {w.depth}, batch {w.batch})"
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
        f"  memory: weights {_gib(m.weights_bytes)} + KV {_gib(m.kv_cache_bytes)} + workspace "
        f"{_gib(m.workspace_bytes)} + runtime {_gib(m.runtime_bytes)} = {_gib(m.total_bytes)} "
        f"of {_gib(m.usable_bytes)} usable: {'fits' if m.fits else 'DOES NOT FIT'}"
    )
    e = p.energy
    click.echo(f"  energy: {e.joules_per_token * 1e3:.1f} mJ/token at {e.average_watts:.1f} W (estimated)")
    if p.experts:
        x = p.experts
        click.echo(
            f"  experts touched per MoE layer: {x.expected_distinct_per_layer:.1f} expected "
            f"({x.lower:.0f}-{x.upper:.0f}) for {x.tokens_per_step:.0f} tokens per step"
        )
    if p.interval:
        click.echo(f"  calibrated interval (10-90 %): {p.interval[0]:.1f}-{p.interval[1]:.1f} tokens/s")
    for warning in p.warnings:
        click.echo(f"  warning: {warning}")


@main.command()
@click.option("--device", required=True, help="Device id or spec YAML.")
@click.argument("models", nargs=-1, required=True)
@_workload_options
def compare(device: str, models: tuple[str, ...], as_json: bool, **kw: Any) -> None:
    """Compare models on one device: a table and a verdict (first model against the second)."""
    from roofline.api import compare as run

    w, opts = _common(**kw)
    c = run(device, list(models), w, **opts)
    if as_json:
        click.echo(json.dumps(c.to_json(), indent=2))
        return
    first = c.predictions[0]
    click.echo(f"{c.device} ({first.engine}, {first.quant}, {w.test} at depth {w.depth}, batch {w.batch})")
    click.echo(
        f"  {'model':<24}{'tokens/s':>10}{'vs first':>9}{'bound':>10}{'GiB':>7}{'fits':>6}{'mJ/token':>10}"
    )
    for p in c.predictions:
        click.echo(
            f"  {p.model:<24}{p.tokens_per_second:>10.1f}"
            f"{p.tokens_per_second / first.tokens_per_second:>9.2f}"
            f"{p.bound:>10}{p.memory.total_bytes / 2**30:>7.2f}{'yes' if p.memory.fits else 'no':>6}"
            f"{p.energy.joules_per_token * 1e3:>10.1f}"
        )
    click.echo("")
    click.echo(c.verdict)


@main.command()
@click.option("--device", required=True, help="Device id or spec YAML.")
@click.option("--model", "model_ref", required=True, help="Model id or spec YAML.")
@click.option("--latex", is_flag=True, help="Print the formulas as LaTeX.")
@_workload_options
def explain(device: str, model_ref: str, latex: bool, as_json: bool, **kw: Any) -> None:
    """The per-step latency formula in B (batch), D (KV depth) and W (memory bandwidth), term by term."""
    from roofline.model.symbolic import build
    from roofline.model.symbolic import explain as run

    w, opts = _common(**kw)
    info = run(build(device, model_ref, w, opts["engine"], opts["quant"], opts["kv_dtype"]), latex=latex)
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(
        f"{info['model']} on {info['device']} ({info['engine']}, {info['quant']}, {info['test']}); "
        "time of one step in seconds"
    )
    for sym, meaning in info["symbols"].items():
        click.echo(
            f"  {sym} = {meaning} = {info['values'][{'B': 'batch', 'D': 'depth', 'W': 'bandwidth'}[sym]]:g}"
        )
    for row in info["terms"]:
        click.echo(f"  {row['op']:<14} [{row['bound']:<8}] {row['seconds'] * 1e3:8.3f} ms = {row['formula']}")
    click.echo(f"  host overhead  {info['host_overhead_seconds'] * 1e3:.3f} ms")
    click.echo(f"  step = {info['step_seconds']}")
    click.echo(f"     = {info['step_seconds_value'] * 1e3:.3f} ms")


@main.command()
@click.option("--device", required=True, help="Device id or spec YAML.")
@click.argument("models", nargs=2)
@click.option(
    "--vary",
    type=click.Choice(["batch", "context", "depth", "bandwidth"]),
    required=True,
    help="What to sweep (context = depth of the KV cache).",
)
@click.option("--lo", type=float, default=None, help="Start of the range (bandwidth in GB/s).")
@click.option("--hi", type=float, default=None, help="End of the range (bandwidth in GB/s).")
@_workload_options
def crossover(
    device: str,
    models: tuple[str, str],
    vary: str,
    lo: float | None,
    hi: float | None,
    as_json: bool,
    **kw: Any,
) -> None:
    """Where two models' throughputs are equal as batch, context or bandwidth varies."""
    from roofline.model.symbolic import crossover as run

    w, opts = _common(**kw)
    vary = "depth" if vary == "context" else vary
    scale = 1e9 if vary == "bandwidth" else 1.0
    c = run(
        device,
        models[0],
        models[1],
        vary,
        w,
        opts["engine"],
        opts["quant"],
        None if lo is None else lo * scale,
        None if hi is None else hi * scale,
    )
    click.echo(json.dumps(c.to_json(), indent=2) if as_json else c.describe())


def _csv_list(kind: type, text: str) -> list[Any]:
    try:
        return [kind(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter(
            f"expected a comma-separated list of {kind.__name__}, got {text!r}"
        ) from None


@main.command()
@click.option("--devices", required=True, help="Comma-separated device ids.")
@click.option("--models", required=True, help="Comma-separated model ids.")
@click.option("--quants", default="Q4_K_M", show_default=True, help="Comma-separated quantizations.")
@click.option(
    "--batch", "batches", default="1,2,4,8,16,32,64", show_default=True, help="Comma-separated batches."
)
@click.option(
    "--depth", "depths", default="0,1024,4096,16384", show_default=True, help="Comma-separated depths."
)
@click.option("--test", default="tg128", show_default=True, help="tgN or ppN.")
@click.option("--engine", default=None, help="Engine profile (default: each device's).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write CSV here.")
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
    as_json: bool,
) -> None:
    """Throughput over a grid of devices, models, quants, batches and depths (lambdified, vectorised)."""
    import csv
    import io

    from roofline.model.symbolic import sweep as run
    from roofline.model.workload import Workload

    Workload(test=test)  # validates the test name
    rows = run(
        _csv_list(str, devices),
        _csv_list(str, models),
        _csv_list(str, quants),
        _csv_list(int, batches),
        _csv_list(int, depths),
        test,
        engine,
    )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    if output:
        Path(output).write_text(buf.getvalue())
        click.echo(f"wrote {len(rows)} rows to {output}")
    else:
        click.echo(buf.getvalue(), nl=False)


# ---- traces, validation, calibration ----------------------------------------------------------
@main.group(cls=_Group)
def traces() -> None:
    """Import measurements as trace files (validation/README.md describes the format)."""


@traces.group("import", cls=_Group)
def traces_import() -> None:
    """Convert measurements from other tools into trace CSV files."""


@traces_import.command("llama-bench")
@click.argument("path", type=click.Path())
@click.option("--device", required=True, help="Catalog id (or spec YAML) of the machine that ran it.")
@click.option("--model", "model_ref", default=None, help="Model id (default: matched by parameter count).")
@click.option("--engine", default=None, help="Engine profile (default: from llama-bench's backend).")
@click.option("--source", default="measured here", show_default=True, help="Provenance recorded in each row.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write a trace CSV here.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
def traces_import_llama_bench(
    path: str,
    device: str,
    model_ref: str | None,
    engine: str | None,
    source: str,
    output: str | None,
    force: bool,
) -> None:
    """llama-bench output (-o json, jsonl, csv or md) -> end-to-end trace rows."""
    from dataclasses import asdict

    from roofline.traces.files import write_rows
    from roofline.traces.importers import import_llama_bench

    rows = import_llama_bench(path, device, model_ref, engine, source)
    if output:
        write_rows(output, rows, force)
        click.echo(f"wrote {len(rows)} rows to {output}")
    else:
        click.echo(json.dumps([asdict(r) for r in rows], indent=2))


@traces_import.command("public")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="Trace CSV to write.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
def traces_import_public(path: str, output: str, force: bool) -> None:
    """The public measurement table (shared/data/public_measurements.csv) -> trace rows."""
    from roofline.traces.files import write_rows
    from roofline.traces.importers import import_public

    rows, skipped = import_public(path)
    write_rows(output, rows, force)
    click.echo(
        f"wrote {len(rows)} rows to {output}; skipped: "
        + ", ".join(f"{n} {why}" for why, n in skipped.items())
    )


def _trace_files(paths: tuple[str, ...]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        q = Path(p)
        out += sorted(q.glob("*.csv")) if q.is_dir() else [q]
    return out


@main.command()
@click.argument("trace_paths", nargs=-1, type=click.Path(exists=True))
@click.option("--out", type=click.Path(dir_okay=False), default="validation/REPORT.md", show_default=True)
def validate(trace_paths: tuple[str, ...], out: str) -> None:
    """Regenerate the error report from trace files (default: validation/traces/)."""
    from roofline.plots import measured_figure, save
    from roofline.validation.report import validate as run

    paths = _trace_files(trace_paths or ("validation/traces",))
    entries = run(
        paths,
        Path(out),
        progress=lambda msg: click.echo(f"  {msg}", err=True),
        figure=lambda entries, path: save(measured_figure(entries), path),
    )
    click.echo(f"wrote {out} ({len(entries)} rows) and {Path(out).with_name('predicted_vs_measured.png')}")


@main.command()
@click.argument("trace_paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--engine", required=True, help="Engine profile to calibrate (name or YAML).")
@click.option("--device", default=None, help="Use only rows of this device.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="Profile YAML to write.")
@click.option("--force", is_flag=True, help="Overwrite an existing profile.")
def calibrate(
    trace_paths: tuple[str, ...], engine: str, device: str | None, output: str, force: bool
) -> None:
    """Fit an engine profile's efficiencies and overheads to measured runs."""
    import yaml

    from roofline.errors import SpecError
    from roofline.model.engine import load_engine
    from roofline.traces.files import read_any
    from roofline.validation.calibrate import calibrate as fit
    from roofline.validation.calibrate import calibrate_micro

    out = Path(output)
    if out.exists() and not force:
        raise SpecError(str(out), "exists; pass --force to overwrite (the previous profile is kept)")
    base = load_engine(engine)
    e2e: list[Any] = []
    micro: list[Any] = []
    for f in _trace_files(trace_paths):
        a, b = read_any(f)
        e2e += a
        micro += b
    if micro and not e2e:
        if device is None:
            raise SpecError(
                engine, "calibrating from microbenchmarks needs --device (the device they measured)"
            )
        prof, info = calibrate_micro([r for r in micro if r.device == device] or micro, device, base)
        out.write_text(yaml.safe_dump(prof.model_dump(mode="json"), sort_keys=False))
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
    result = fit(rows, base)
    if not result.converged:
        raise SpecError(engine, f"calibration did not converge ({result.message}); nothing written")
    prof = result.profile(base)
    out.write_text(yaml.safe_dump(prof.model_dump(mode="json"), sort_keys=False))
    click.echo(
        f"calibrated {base.name} on {len(rows)} rows; residual sigma {result.residual_sigma:.3f} (log)"
    )
    for k, v in result.params.items():
        sig = result.sigma[k]
        note = f" +- {sig:.2g}" if sig is not None else "  (not constrained: default)"
        click.echo(f"  {k:<24} {v:.4g}{note}")
    click.echo(f"wrote {out}")


@main.command()
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
def bench(device_name: str | None, out_dir: str, quick: bool, emit: str | None) -> None:
    """Microbenchmarks of this machine (bandwidth by size, GEMV/GEMM, dispatch, MoE vs dense)."""
    import platform

    from roofline.traces.files import read_micro
    from roofline.validation.bench import run

    name = device_name or platform.node() or "this-machine"
    paths = run(name, Path(out_dir), quick=quick)
    for p in paths:
        click.echo(f"wrote {p}")
    if emit:
        from roofline.validation.emit_spec import write_spec

        write_spec(read_micro(paths[0]), Path(emit).stem, str(paths[0]), Path(emit))
        click.echo(f"wrote {emit}")


# ---- figures -------------------------------------------------------------------------------------
def _plot_options(f: Any) -> Any:
    opts = [
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
    ]

    @functools.wraps(f)
    def with_workload(*args: Any, test: str, depth: int, batch: int, **kwargs: Any) -> Any:
        from roofline.model.workload import Workload

        return f(*args, workload=Workload(test=test, depth=depth, batch=batch), **kwargs)

    for opt in reversed(opts):
        with_workload = opt(with_workload)
    return with_workload


def _devices(device: str | None, devices: str | None) -> list[str]:
    out = ([device] if device else []) + ([d for d in devices.split(",") if d] if devices else [])
    if not out:
        raise click.UsageError("give --device D or --devices D1,D2")
    return out


@main.group(cls=_Group)
def plot() -> None:
    """Figures for papers (roofline, crossover, breakdown, heatmap, measured, memory)."""


def _done(fig: Any, output: str) -> None:
    from roofline.plots import save

    click.echo(f"wrote {save(fig, output)}")


@plot.command("roofline")
@click.option("--device", required=True)
@click.argument("models", nargs=-1, required=True)
@_plot_options
def plot_roofline(
    device: str,
    models: tuple[str, ...],
    output: str,
    quant: str,
    engine: str | None,
    workload: Any,
) -> None:
    """Hierarchical roofline of a device with each operator of the models (decode and prefill)."""
    import dataclasses

    from roofline.plots import roofline_figure

    other = "pp512" if workload.test.startswith("tg") else "tg128"
    extra = dataclasses.replace(workload, test=other)
    fig = roofline_figure(device, list(models), [workload, extra], engine, quant)
    _done(fig, output)


@plot.command("crossover")
@click.option("--device", required=True)
@click.argument("models", nargs=2)
@click.option("--vary", type=click.Choice(["batch", "context", "depth", "bandwidth"]), required=True)
@click.option("--skew", default=1.0, show_default=True, type=float, help="Zipf exponent of the shaded band.")
@_plot_options
def plot_crossover(
    device: str,
    models: tuple[str, str],
    vary: str,
    skew: float,
    output: str,
    quant: str,
    engine: str | None,
    workload: Any,
) -> None:
    """Throughput of a MoE and a dense model against batch, context or bandwidth, crossover marked."""
    from roofline.plots import crossover_figure

    fig = crossover_figure(
        device,
        models[0],
        models[1],
        "depth" if vary == "context" else vary,
        workload,
        engine,
        quant,
        skew=skew,
    )
    _done(fig, output)


@plot.command("breakdown")
@click.option("--device", default=None)
@click.option("--devices", default=None, help="Comma-separated: one model on several devices.")
@click.argument("models", nargs=-1, required=True)
@_plot_options
def plot_breakdown(
    device: str | None,
    devices: str | None,
    models: tuple[str, ...],
    output: str,
    quant: str,
    engine: str | None,
    workload: Any,
) -> None:
    """Stacked time per token by operator class."""
    from roofline.plots import breakdown_figure

    fig = breakdown_figure(_devices(device, devices), list(models), workload, engine, quant)
    _done(fig, output)


@plot.command("heatmap")
@click.option("--devices", required=True, help="Comma-separated device ids.")
@click.argument("models", nargs=-1, required=True)
@_plot_options
def plot_heatmap(
    devices: str,
    models: tuple[str, ...],
    output: str,
    quant: str,
    engine: str | None,
    workload: Any,
) -> None:
    """Devices x dense models: the first model's (the MoE's) throughput ratio to each of the others."""
    from roofline.plots import heatmap_figure

    if len(models) < 2:
        raise click.UsageError("give the MoE model first, then one or more dense models")
    fig = heatmap_figure(
        _devices(None, devices),
        models[0],
        list(models[1:]),
        workload,
        engine,
        quant,
    )
    _done(fig, output)


@plot.command("measured")
@click.argument("trace_paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
def plot_measured(trace_paths: tuple[str, ...], output: str) -> None:
    """Predicted against measured throughput of end-to-end traces, with +-10/25 % bands."""
    from roofline.plots import measured_figure
    from roofline.validation.report import build_entries, load_traces

    _done(measured_figure(build_entries(load_traces(_trace_files(trace_paths)))), output)


@plot.command("memory")
@click.option("--device", default=None)
@click.option("--devices", default=None, help="Comma-separated: several usable-capacity lines.")
@click.argument("models", nargs=-1, required=True)
@_plot_options
def plot_memory(
    device: str | None,
    devices: str | None,
    models: tuple[str, ...],
    output: str,
    quant: str,
    engine: str | None,
    workload: Any,
) -> None:
    """Memory footprint of models against the devices' usable capacity."""
    from roofline.plots import memory_figure

    fig = memory_figure(_devices(device, devices), list(models), workload, engine, quant)
    _done(fig, output)


# ---- llama.cpp probes ---------------------------------------------------------------------------
@main.group(cls=_Group)
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
    "--device", required=True, help="Catalog id (or spec YAML) of this machine, recorded in the traces."
)
@click.option(
    "--models",
    default="synthetic",
    show_default=True,
    help="Comma-separated model ids, 'synthetic' (the probe family) or 'tiny'.",
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
) -> None:
    """Generate probe GGUFs, quantize, run llama-bench, and write the results as an end-to-end trace."""
    from tqdm import tqdm

    from roofline.llamacpp.probe import run_probe
    from roofline.llamacpp.synthetic import family
    from roofline.traces.files import write_rows

    quantize = llama_quantize or str(Path(llama_bench).with_name("llama-quantize"))
    chosen: list[Any] = (
        family()
        if models == "synthetic"
        else family(tiny=True)
        if models == "tiny"
        else [m for m in models.split(",") if m]
    )
    out = Path(out_dir) / (trace_name or f"{Path(device).stem}.llama.cpp.e2e.csv")
    if out.exists() and not force:
        from roofline.errors import SpecError

        raise SpecError(str(out), "exists; pass --force to overwrite")
    bar = tqdm(total=len(chosen) * len(quants.split(",")), desc="probe", unit="run")

    def progress(i: int, n: int, msg: str) -> None:
        bar.n = i
        bar.set_postfix_str(msg)
        bar.refresh()

    rows = run_probe(
        chosen,
        quants.split(","),
        llama_bench,
        quantize,
        device,
        Path(out_dir),
        tuple(tests.split(",")),
        tuple(int(d) for d in depths.split(",")),
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
    click.echo(f"wrote {len(rows)} rows to {out}")
    if calibrate_out:
        import yaml

        from roofline.model.engine import load_engine
        from roofline.validation.calibrate import calibrate as fit

        engine = rows[0].engine
        result = fit(rows, engine)
        if not result.converged:
            raise RooflineError(f"calibration did not converge ({result.message}); no profile written")
        prof = result.profile(load_engine(engine))
        Path(calibrate_out).write_text(yaml.safe_dump(prof.model_dump(mode="json"), sort_keys=False))
        click.echo(
            f"calibrated {engine} on {len(rows)} rows (residual sigma {result.residual_sigma:.3f}, log): "
            + ", ".join(f"{k} {v:.3g}" for k, v in result.params.items())
            + f"; wrote {calibrate_out}"
        )


# ---- model import --------------------------------------------------------------------------
@main.group(cls=_Group)
def model() -> None:
    """Model spec utilities."""


@model.command("import")
@click.argument("config", type=click.Path())
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the spec here (default: print it).",
)
@click.option("--id", "model_id", default=None, help="Spec id (default: from the file or folder name).")
@click.option("--source", default=None, help="URL of the config.json, recorded in the spec.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
def model_import(
    config: str, output: str | None, model_id: str | None, source: str | None, force: bool
) -> None:
    """Turn a Hugging Face config.json into a model spec."""
    import yaml

    from roofline.errors import SpecError
    from roofline.specs.catalog import validate
    from roofline.specs.hf_import import import_config
    from roofline.specs.model import Model

    if output and model_id is None:
        model_id = Path(output).stem
    data = import_config(config, model_id, source)
    spec = validate(data, Model, config)
    text = yaml.safe_dump(data, sort_keys=False)
    if output is None:
        click.echo(text, nl=False)
        return
    out = Path(output)
    if out.exists() and not force:
        raise SpecError(str(out), "exists; pass --force to overwrite")
    out.write_text(text)
    click.echo(
        f"wrote {out} ({spec.total_params / 1e9:.2f} B params, {spec.active_params / 1e9:.2f} B active)"
    )
