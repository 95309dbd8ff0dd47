"""What a command takes in, checked at the boundary: option types (numbers finite and in range, ids
short enough to be file names), comma-separated lists, the shell completion of catalog ids, and the
option sets commands share (--device, --model, the workload options)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from roofline.model.engine import load_engine
from roofline.model.profile_checks import check_profile
from roofline.model.routing import MAX_SKEW
from roofline.model.workload import Workload

#: Longest id, name or path an option takes (file systems refuse longer names).
MAX_REF = 1024
#: Most items in one comma-separated list, and most points in a sweep's grid.
MAX_LIST = 1000
MAX_GRID = 100_000


class FiniteFloat(click.ParamType):
    """A float within [lo, hi]: never NaN or infinite (click's FloatRange lets NaN through)."""

    name = "number"

    def __init__(self, lo: float = -math.inf, hi: float = math.inf) -> None:
        self.lo, self.hi = lo, hi

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            x = float(value)
        except (TypeError, ValueError, OverflowError):
            self.fail(f"{str(value)[:40]!r} is not a number", param, ctx)
        if not math.isfinite(x) or not self.lo <= x <= self.hi:
            span = f" within {self.lo:g} to {self.hi:g}" if math.isfinite(self.lo + self.hi) else ""
            self.fail(f"{str(value)[:40]} is not a finite number{span}", param, ctx)
        return x


class Ref(click.ParamType):
    """An id, name or path: not empty, no NUL, not longer than a file system takes."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if (
            not text.strip()
            or "\0" in text
            or len(text) > MAX_REF
            or any(len(x) > 255 for x in Path(text).parts)
        ):
            self.fail(
                f"{text[:40]!r}{'...' if len(text) > 40 else ''} is not a usable id or path", param, ctx
            )
        return text


REF = Ref()


def _complete(kind: str) -> Callable[[click.Context, click.Parameter, str], list[Any]]:
    """Shell completion of `kind` ids ('device', 'model', 'system', 'engine', or 'spec' for devices and
    models)
    for an option or argument; in a comma-separated list the last item is completed. Spec directories
    given with --spec-dir on the same command line are searched too (the command itself does not run
    while the shell completes)."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        head, _, last = incomplete.rpartition(",")
        if not head and (os.sep in last or last.startswith(".")):
            return [CompletionItem(incomplete, type="file")]  # a spec file: the shell completes the path
        prefix = f"{head}," if head else ""
        return [
            CompletionItem(prefix + name, help=which)
            for which in _completion_kinds(kind)
            for name in _known(which, ctx)
            if name.startswith(last)
        ]

    return complete


def _completion_kinds(kind: str) -> tuple[str, ...]:
    return ("device", "model") if kind == "spec" else (kind,)


def _known(kind: str, ctx: click.Context) -> list[str]:
    if kind == "engine":
        from roofline.model.engine import ENGINES

        return list(ENGINES)
    from roofline.errors import RooflineError
    from roofline.specs.catalog import add_spec_dir, list_ids

    for d in ctx.find_root().params.get("spec_dirs") or ():
        try:
            add_spec_dir(d)
        except RooflineError:
            continue  # a directory that does not exist completes nothing
    return list_ids(kind)


#: shell_complete= callbacks for options and arguments that name catalog entries
COMPLETE_DEVICE = _complete("device")
COMPLETE_MODEL = _complete("model")
COMPLETE_ENGINE = _complete("engine")
COMPLETE_SPEC = _complete("spec")
COMPLETE_SYSTEM = _complete("system")


#: --device and --model of a command on one device and one model
DEVICE = click.option(
    "--device", required=True, type=REF, shell_complete=COMPLETE_DEVICE, help="Device id or spec YAML."
)
MODEL = click.option(
    "--model",
    "model_ref",
    required=True,
    type=REF,
    shell_complete=COMPLETE_MODEL,
    help="Model id or spec YAML.",
)


ENGINE = click.option(
    "--engine",
    default=None,
    type=REF,
    shell_complete=COMPLETE_ENGINE,
    help="Engine profile name or YAML (default: the device's).",
)


#: --device when a command also takes --system instead (predict, compare, crossover)
OPTIONAL_DEVICE = click.option(
    "--device", default=None, type=REF, shell_complete=COMPLETE_DEVICE, help="Device id or spec YAML."
)


def system_option(help_text: str) -> Callable[[Any], Any]:
    """--system (a system id or YAML, instead of --device), with what the command does on it."""
    return click.option("--system", default=None, type=REF, shell_complete=COMPLETE_SYSTEM, help=help_text)


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
            "--quant",
            default=None,
            type=REF,
            help="Weight format (roofline specs list); default: the model's published one, else Q4_K_M.",
        ),
        click.option("--kv-dtype", default="f16", show_default=True, type=REF, help="KV-cache element type."),
        ENGINE,
        click.option(
            "--profile",
            default=None,
            type=click.Path(exists=True, dir_okay=False),
            help="Calibrated engine profile YAML (`roofline calibrate`); overrides --engine.",
        ),
        click.option(
            "--batch",
            default=1,
            show_default=True,
            type=int,
            help="Concurrent sequences.",
        ),
        click.option(
            "--test",
            "test",
            default="tg128",
            show_default=True,
            help="llama-bench test: tgN (decode N tokens) or ppN (prefill N tokens).",
        ),
        click.option(
            "--depth",
            default=0,
            show_default=True,
            type=int,
            help="Tokens already in the KV cache.",
        ),
        click.option(
            "--fa",
            "flash_attention",
            default=None,
            type=click.Choice(["on", "off"]),
            help="Flash attention on or off (llama-bench -fa); default: the engine profile's.",
        ),
        click.option(
            "--routing-skew",
            default=0.0,
            show_default=True,
            type=FiniteFloat(0.0, MAX_SKEW),
            help="Zipf exponent of expert popularity (0 = uniform routing).",
        ),
        click.option(
            "--locality",
            default=0.0,
            show_default=True,
            type=FiniteFloat(0.0, 1.0),
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
        flash_attention: str | None,
        routing_skew: float,
        locality: float,
        **kwargs: Any,
    ) -> Any:
        run_options = {
            "quant": quant,
            "kv_dtype": kv_dtype,
            "engine": checked_engine(profile or engine),
            "routing_skew": routing_skew,
            "locality": locality,
        }
        fa = None if flash_attention is None else flash_attention == "on"
        workload = Workload(test=test, depth=depth, batch=batch, flash_attention=fa)
        return f(*args, workload=workload, run_options=run_options, **kwargs)

    with_workload.__doc__ = f.__doc__
    with_workload.__name__ = f.__name__
    return decorated(with_workload)


def checked_engine(ref: str | None) -> str | None:
    """`ref` (an engine name or profile file) once its profile loads and passes check_profile, which
    names the file in its errors (a malformed calibration block, implausible magnitudes)."""
    if ref is not None:
        check_profile(load_engine(ref), ref)
    return ref


def csv_list(
    kind: type, text: str, option: str = "list", lo: float = -math.inf, hi: float = math.inf
) -> list[Any]:
    """A comma-separated option as a non-empty list of `kind` within [lo, hi] (ids: short enough to
    name a file), at most MAX_LIST items."""
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items:
        raise click.BadParameter(f"{option}: expected a comma-separated list, got {text[:40]!r}")
    if len(items) > MAX_LIST:
        raise click.BadParameter(f"{option}: more than {MAX_LIST} items")
    out = []
    for x in items:
        try:
            value = REF.convert(x, None, None) if kind is str else kind(x)
        except (ValueError, click.BadParameter):
            raise click.BadParameter(
                f"{option}: expected a comma-separated list of {kind.__name__}, got {x[:40]!r}"
            ) from None
        if kind is not str and not lo <= value <= hi:
            raise click.BadParameter(f"{option}: {x[:40]} is outside {lo:g}-{hi:,.0f}")
        out.append(value)
    return out
