"""Reading input files a user hands us (spec YAML, config.json, llama-bench JSON) without trusting them.

Every reader here caps the bytes it reads (a 50 MB YAML of millions of items, or /dev/zero, is refused
before parsing), refuses nesting deeper than any real file needs (JSON or YAML nested 10,000 deep
would overflow the parser's or our own recursion), refuses duplicate keys (YAML and JSON both let the
last one win silently), YAML aliases and merge keys (an "alias bomb" is small to parse but expands
exponentially once walked), and JSON's non-standard NaN and Infinity. Errors are SpecErrors naming
the file and, where the parser knows it, the line.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import ScalarNode

from roofline.errors import SpecError

#: Largest spec, profile or config file read (the largest bundled spec is ~20 kB).
MAX_SPEC_BYTES = 4 * 2**20
#: Deepest nesting of lists and mappings accepted (spec files nest about 5 levels).
MAX_DEPTH = 64

_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present, both safe
_BRACKETS = b"[]{}"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _BRACKETS)
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1
_MERGE_TAG = "tag:yaml.org,2002:merge"


class StrictLoader(_SafeLoader):  # type: ignore[misc, valid-type]
    """The safe loader, refusing duplicate keys, merge keys (<<) and aliases (*name)."""

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        if node in self.constructed_objects or node in self.recursive_objects:
            raise ConstructorError(
                None, None, "aliases (*name) are not allowed: write the value out", node.start_mark
            )
        return super().construct_object(node, deep=deep)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                raise ConstructorError(
                    None, None, "merge keys (<<) are not allowed: write the keys out", key_node.start_mark
                )
            if isinstance(key_node, ScalarNode):
                key = (key_node.tag, key_node.value)
                if key in seen:
                    raise ConstructorError(
                        None, None, f"duplicate key {key_node.value[:60]!r}", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_input(path: str | Path, limit: int = MAX_SPEC_BYTES, what: str = "file") -> str:
    """The text of a regular file of at most `limit` bytes, as UTF-8."""
    p = Path(path)
    try:
        if not p.is_file():
            raise SpecError(str(path), f"no such {what} (or not a regular file)")
        with p.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise SpecError(str(path), f"cannot read {what} ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise SpecError(str(path), f"{what} is larger than {limit / 2**20:g} MiB; refusing to read it")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(str(path), f"not UTF-8 text (byte {exc.start})") from None


def check_depth(text: str, where: str, limit: int = MAX_DEPTH) -> None:
    """Refuse text whose brackets ([ and {) nest deeper than `limit`. Brackets inside strings count
    too: a real file has no such string, and a false alarm is a clear error, not a crash."""
    if text.count("[") + text.count("{") <= limit:
        return
    brackets = text.encode("utf-8", "surrogatepass").translate(None, _NOT_BRACKETS)
    if max(itertools.accumulate(map(_STEP.__getitem__, brackets))) > limit:  # C loops: fast on 1e7
        raise SpecError(where, f"nested more than {limit} levels deep")


def parse_yaml(text: str, where: str) -> Any:
    """YAML text -> Python objects with the safe loader, refusing what StrictLoader refuses."""
    check_depth(text, where)
    try:
        return yaml.load(text, Loader=StrictLoader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(where, f"{line}invalid YAML ({problem})") from None
    except (RecursionError, ValueError, OverflowError) as exc:
        # ValueError: an integer of more than 4300 digits (Python's limit on int("..."))
        raise SpecError(where, f"invalid YAML ({str(exc)[:120]})") from None


def _pairs_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k[:60]!r}")
        out[k] = v
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(text: str, where: str) -> Any:
    """JSON text -> Python objects, refusing duplicate keys, NaN/Infinity and deep nesting."""
    check_depth(text, where)
    try:
        return json.loads(text, object_pairs_hook=_pairs_without_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise SpecError(where, f"line {exc.lineno}: invalid JSON ({exc.msg})") from None
    except (RecursionError, ValueError) as exc:
        raise SpecError(where, f"invalid JSON ({str(exc)[:120]})") from None
