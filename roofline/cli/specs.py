"""`roofline specs list|show|check` and `roofline model import`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from roofline.cli import Group
from roofline.cli.common import echo_json, gib, refuse_overwrite, si, write_text
from roofline.cli.options import COMPLETE_SPEC, REF
from roofline.errors import RooflineError, SpecError
from roofline.model.cost import resolve_machine
from roofline.model.engine import default_engine, load_engine
from roofline.specs import catalog
from roofline.specs.describe import describe_device, describe_model
from roofline.specs.gguf_import import import_gguf, is_gguf
from roofline.specs.hf_import import import_config, import_hub, looks_like_hub_id
from roofline.specs.model import Model
from roofline.specs.quant import quant_names


@click.group(cls=Group)
def specs() -> None:
    """List, show and check device and model specs."""


@specs.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def specs_list(as_json: bool) -> None:
    """Ids of the known devices and models."""
    out = {
        "devices": catalog.list_ids("device"),
        "models": catalog.list_ids("model"),
        "quants": quant_names(),
    }
    if as_json:
        echo_json(out)
        return
    for key in ("devices", "models", "quants"):
        click.echo(f"{key} ({len(out[key])}):")
        click.echo("  " + "\n  ".join(out[key]))


@specs.command("show")
@click.argument("ref", type=REF, shell_complete=COMPLETE_SPEC)
@click.option(
    "--kind",
    type=click.Choice(["device", "model"]),
    default=None,
    help="Needed only when a device and a model share the id.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def specs_show(ref: str, kind: str | None, as_json: bool) -> None:
    """A device or model (id or path) with its derived figures."""
    if (
        kind is None
        and not Path(ref).is_file()
        and all(ref not in catalog.list_ids(k) for k in ("device", "model"))
    ):
        match = catalog.unique_match(ref)
        if match is not None:
            click.echo(f"({ref!r} is not an id; showing {match[0]}, the one {match[1]} it names)", err=True)
            ref, kind = match
    kind = kind or _guess_kind(ref)
    if kind == "device":
        dev = catalog.load_device(ref)
        info = describe_device(dev)
        engine = load_engine(default_engine(dev))
        info["default_engine"] = engine.name
        info["engine_notes"] = list(resolve_machine(dev, engine).warnings)
    else:
        info = describe_model(catalog.load_model(ref))
    if as_json:
        echo_json(info)
    elif kind == "device":
        _print_device(info)
    else:
        _print_model(info)


def _guess_kind(ref: str) -> str:
    p = Path(catalog.check_ref(ref, "spec"))
    if catalog.is_file(p):
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
        f"  main memory  {mm['name']}: {gib(mm['capacity_bytes'])} "
        f"({gib(mm['usable_bytes'])} usable), {si(mm['bandwidth_bytes_per_s'], 'B/s')}"
    )
    for p in info["processors"]:
        peaks = ", ".join(f"{k} {si(v, 'FLOP/s')}" for k, v in p["peak_flops"].items())
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
    for note in info["engine_notes"]:
        click.echo(f"  with {info['default_engine']}: {note}")


def _print_model(info: dict[str, Any]) -> None:
    click.echo(f"{info['id']}: {info['name']} ({info['architecture']}, {info['attention']})")
    click.echo(f"  source: {info['source']}")
    click.echo(f"  total params  {info['total_params'] / 1e9:.3f} B")
    click.echo(f"  active params {info['active_params'] / 1e9:.3f} B")
    click.echo(f"  layers {info['n_layers']} ({info['n_moe_layers']} MoE)")
    click.echo(f"  KV cache per token (f16): {info['kv_bytes_per_token_f16'] / 1024:.1f} KiB")
    click.echo(
        f"  default quant {info['default_quant']}, maximum context {info['max_context'] or 'not given'}"
    )
    click.echo(
        "  file size by quant: " + ", ".join(f"{q} {gib(b)}" for q, b in info["file_size_bytes"].items())
    )


@specs.command("check")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
def specs_check(paths: tuple[str, ...]) -> None:
    """Validate spec files; exit 2 if any is bad (every problem is listed)."""
    bad = 0
    for p in paths:
        try:
            spec = catalog.check_file(p)
        except RooflineError as exc:
            bad += 1
            click.echo(f"FAIL {exc}", err=True)
        else:
            click.echo(f"ok   {p} ({type(spec).__name__.lower()} {spec.id})")
    if bad:
        click.echo(f"{bad} of {len(paths)} spec files failed", err=True)
        sys.exit(2)


@specs.command("schema")
@click.argument("kind", type=click.Choice(["device", "model", "engine"]))
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write it here (default: print it)."
)
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
def specs_schema(kind: str, output: str | None, force: bool) -> None:
    """JSON Schema of device, model or engine spec files, for editors (README: "Editing specs")."""
    from roofline.model.schemas import spec_schema

    text = json.dumps(spec_schema(kind), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    write_text(refuse_overwrite(output, force), text, force)
    click.echo(f"wrote {output} (JSON Schema of {kind} spec files)")


@click.group(cls=Group)
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
@click.option(
    "--id", "model_id", default=None, type=REF, help="Spec id (default: from the file or folder name)."
)
@click.option("--source", default=None, type=REF, help="URL of the config.json, recorded in the spec.")
@click.option("--revision", default=None, type=REF, help="Hub id only: branch, tag or commit (default main).")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
def model_import(
    config: str,
    output: str | None,
    model_id: str | None,
    source: str | None,
    revision: str | None,
    force: bool,
) -> None:
    """Turn a Hugging Face config.json, a GGUF file or a Hub id (Qwen/Qwen3-30B-A3B) into a model spec.

    A GGUF file gives its own per-tensor storage types (exact weight bytes at its file type); a Hub
    id is fetched through huggingface_hub (pip install 'moe-roofline[hub]'), from its cache alone
    when HF_HUB_OFFLINE=1."""
    if output:
        refuse_overwrite(output, force, inputs=[config])
    if output and model_id is None:
        model_id = Path(output).stem
    if Path(config).exists() and is_gguf(config):
        data = import_gguf(config, model_id, source)
    elif not Path(config).exists() and looks_like_hub_id(config):
        data = import_hub(config, model_id, source, revision)
    else:
        data = import_config(config, model_id, source)
    spec = catalog.validate(data, Model, config)
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=110)
    if output is None:
        click.echo(text, nl=False)
        return
    out = refuse_overwrite(output, force, inputs=[config])
    write_text(out, text, force, inputs=[config])
    click.echo(
        f"wrote {out} ({spec.total_params / 1e9:.2f} B params, {spec.active_params / 1e9:.2f} B active)"
    )
