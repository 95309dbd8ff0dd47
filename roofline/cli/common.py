"""What the command modules share: option sets, number formatting and writing files without
overwriting what a user has."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import yaml

from roofline.errors import SpecError
from roofline.model.engine import EngineProfile
from roofline.model.workload import Workload


def si(x: float, unit: str) -> str:
    for factor, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= factor:
            return f"{x / factor:.3g} {prefix}{unit}"
    return f"{x:.3g} {unit}"


def gib(x: float) -> str:
    return f"{x / 2**30:.2f} GiB"


def echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2))


def options(*opts: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Apply click options in the order they are listed (the order --help shows)."""

    def apply(f: Any) -> Any:
        for opt in reversed(opts):
            f = opt(f)
        return f

    return apply


def workload_options(f: Any) -> Any:
    """--quant, --kv-dtype, --engine/--profile, --batch/--test/--depth, routing and --json; the
    command receives `workload` (a Workload), `run_options` (predict's keyword arguments) and
    `as_json`."""
    decorated = options(
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
    )

    def with_workload(
        *args: Any,
        quant: str,
        kv_dtype: str,
        engine: str | None,
        profile: str | None,
        batch: int,
        test: str,
        depth: int,
        routing_skew: float,
        locality: float,
        **kwargs: Any,
    ) -> Any:
        run_options = {
            "quant": quant,
            "kv_dtype": kv_dtype,
            "engine": profile or engine,
            "routing_skew": routing_skew,
            "locality": locality,
        }
        workload = Workload(test=test, depth=depth, batch=batch)
        return f(*args, workload=workload, run_options=run_options, **kwargs)

    with_workload.__doc__ = f.__doc__
    with_workload.__name__ = f.__name__
    return decorated(with_workload)


def refuse_overwrite(path: str | Path, force: bool) -> Path:
    """The path to write, unless a file is there and the user did not pass --force."""
    out = Path(path)
    if out.exists() and not force:
        raise SpecError(str(out), "exists; pass --force to overwrite (the file is kept)")
    return out


def write_text(path: Path, text: str) -> None:
    """Write a file, turning an unwritable path into a clear error."""
    try:
        path.write_text(text)
    except OSError as exc:
        raise SpecError(str(path), f"cannot write: {exc.strerror or exc}") from None


def write_profile(path: str | Path, profile: EngineProfile, force: bool) -> Path:
    """An engine profile as YAML, the shape `--profile` and `--engine` read back."""
    out = refuse_overwrite(path, force)
    write_text(out, yaml.safe_dump(profile.model_dump(mode="json"), sort_keys=False))
    return out


def csv_list(kind: type, text: str) -> list[Any]:
    try:
        return [kind(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter(
            f"expected a comma-separated list of {kind.__name__}, got {text!r}"
        ) from None


def trace_files(paths: tuple[str, ...]) -> list[Path]:
    """Trace CSV files: the files given, and the *.csv files in the folders given."""
    out: list[Path] = []
    for p in paths:
        q = Path(p)
        out += sorted(q.glob("*.csv")) if q.is_dir() else [q]
    return out
