"""What the command modules share on the way out: number formatting, JSON output that names the tool
and its version, and writing files without overwriting what a user has."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
import yaml

from roofline.model.engine import EngineProfile
from roofline.specs.output import check_output, write_output


def si(x: float, unit: str) -> str:
    for factor, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= factor:
            return f"{x / factor:.3g} {prefix}{unit}"
    return f"{x:.3g} {unit}"


def gib(x: float) -> str:
    return f"{x / 2**30:.2f} GiB"


#: Name under which every --json output says which tool (and version) wrote it.
TOOL_KEY = "tool"


def tool_info() -> dict[str, str]:
    """The tool and its version, as every --json output records them (a saved output says what made
    it; the version is the package's, checked against pyproject.toml and CITATION.cff by the tests)."""
    from roofline import __version__

    return {"name": "moe-roofline", "version": __version__}


def echo_json(obj: dict[str, Any] | list[Any]) -> None:
    """Print `obj` as JSON with the tool and version first, under TOOL_KEY; a list (rows) becomes
    {"tool": ..., "rows": [...]}, so every JSON output is an object that carries the version."""
    body = {"rows": obj} if isinstance(obj, list) else obj
    click.echo(json.dumps({TOOL_KEY: tool_info(), **body}, indent=2))


def refuse_overwrite(path: str | Path, force: bool, inputs: Iterable[str | os.PathLike[str]] = ()) -> Path:
    """The path to write, unless it is one of the command's `inputs` or a file is there and the user
    did not pass --force."""
    return check_output(path, force, inputs)


def write_text(
    path: Path, text: str, force: bool = True, inputs: Iterable[str | os.PathLike[str]] = ()
) -> None:
    """Write a file atomically, turning an unwritable path into a clear error."""
    write_output(path, text, force, inputs)


def write_profile(
    path: str | Path, profile: EngineProfile, force: bool, inputs: Iterable[str | os.PathLike[str]] = ()
) -> Path:
    """An engine profile as YAML, the shape `--profile` and `--engine` read back."""
    return write_output(path, yaml.safe_dump(profile.model_dump(mode="json"), sort_keys=False), force, inputs)


def trace_files(paths: tuple[str, ...]) -> list[Path]:
    """Trace CSV files: the files given, and the *.csv files in the folders given."""
    out: list[Path] = []
    for p in paths:
        q = Path(p)
        out += sorted(q.glob("*.csv")) if q.is_dir() else [q]
    return out
