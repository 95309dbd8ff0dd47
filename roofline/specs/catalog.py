"""Find and load spec files: bundled ones, a user's spec directories, or a path.

Bundled specs ship inside the wheel as `roofline/_bundled/{hardware_specs,model_specs}`; in a
source checkout they are read from the repository's top-level folders. Extra directories come from
the environment variable ROOFLINE_SPEC_PATH (os.pathsep-separated) or `add_spec_dir`; a user's
file of the same id shadows a bundled one.
"""

from __future__ import annotations

import difflib
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from roofline.errors import SpecError
from roofline.specs.hardware import Device
from roofline.specs.loading import parse_yaml, read_input
from roofline.specs.model import Model
from roofline.specs.system import System

KINDS = {"device": "hardware_specs", "model": "model_specs", "system": "system_specs"}
#: Longest id or spec path accepted (file systems refuse names past 255 bytes, paths past 4096).
MAX_REF = 1024


_extra_dirs: list[Path] = []
M = TypeVar("M", bound=BaseModel)


def _bundled_root() -> Path:
    here = Path(__file__).resolve().parent.parent
    packaged = here / "_bundled"
    return packaged if packaged.is_dir() else here.parent


def add_spec_dir(path: str | os.PathLike[str]) -> None:
    """Search `path` (and its hardware_specs/, model_specs/ and system_specs/ subfolders) before the
    bundled specs."""
    p = Path(path)
    if not p.is_dir():
        raise SpecError(str(path), "spec directory does not exist")
    _extra_dirs.insert(0, p)


def search_dirs(kind: str) -> list[Path]:
    sub = KINDS[kind]
    env = [Path(p) for p in os.environ.get("ROOFLINE_SPEC_PATH", "").split(os.pathsep) if p]
    dirs: list[Path] = []
    for d in [*_extra_dirs, *env]:
        dirs += [d / sub, d]
    dirs.append(_bundled_root() / sub)
    return [d for d in dirs if d.is_dir()]


def list_ids(kind: str) -> list[str]:
    """Ids of every spec of `kind` ('device', 'model' or 'system') found on the search path."""
    ids: set[str] = set()
    for d in search_dirs(kind):
        for f in d.glob("*.yaml"):
            if d.name == KINDS[kind] or _peek_kind(f) == kind:
                ids.add(f.stem)
    return sorted(ids)


def _peek_kind(path: Path) -> str | None:
    try:
        data = load_yaml(path)
    except SpecError:
        return None
    return _kind_of(data) if isinstance(data, dict) else None


def check_ref(ref: str | os.PathLike[str], kind: str) -> str:
    """`ref` as text if it can name a file at all: not empty, no NUL, not absurdly long (the file
    system would answer "File name too long")."""
    text = os.fspath(ref)
    shown = text if len(text) <= 80 else f"{text[:60]}...({len(text)} characters)"
    if not text.strip():
        raise SpecError(repr(text), f"empty {kind} id")
    if "\0" in text or len(text) > MAX_REF or any(len(part) > 255 for part in Path(text).parts):
        raise SpecError(shown, f"not a {kind} id or spec path (too long, or a NUL character)")
    return text


def is_file(p: Path) -> bool:
    """Path.is_file that answers False for names the file system refuses (too long, bad bytes)."""
    try:
        return p.is_file()
    except (OSError, ValueError):
        return False


def resolve(ref: str | os.PathLike[str], kind: str) -> Path:
    """Path of the spec named by `ref`: an existing file path, or an id on the search path."""
    p = Path(check_ref(ref, kind))
    if p.suffix in (".yaml", ".yml") or os.sep in str(ref) or is_file(p):
        if not is_file(p):
            raise SpecError(str(ref), f"no such {kind} spec file")
        return p
    for d in search_dirs(kind):
        f = d / f"{ref}.yaml"
        if f.is_file() and (d.name == KINDS[kind] or _peek_kind(f) == kind):
            return f
    known = list_ids(kind)
    close = suggestions(str(ref))
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise SpecError(str(ref), f"unknown {kind} id{hint} (`roofline specs list` shows the {len(known)} known)")


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def unique_match(ref: str) -> tuple[str, str] | None:
    """(id, kind) of the one known id whose letters and digits contain `ref`'s, if exactly one does
    (`specs show h200` -> h200-sxm-141gb); None otherwise. For lookups that only show a spec: a
    prediction never runs on a guessed id."""
    want = _squash(ref)
    for kinds in (("device", "model"), ("system",)):  # a device or model first: systems embed their ids
        hits = [(k, kind) for kind in kinds for k in list_ids(kind) if want and want in _squash(k)]
        if hits:
            return hits[0] if len(hits) == 1 else None
    return None


def suggestions(ref: str, limit: int = 5) -> list[str]:
    """Known ids, devices and models together, that `ref` may mean: those whose letters and digits
    contain it (or it them), then the most similar by difflib (rtx4090, rtx-490, apple-m2pro and
    ryzen-ai-max-395 all find theirs); each labelled with its kind."""
    ids = {k: kind for kind in KINDS for k in list_ids(kind)}
    want = _squash(ref)
    squashed = {_squash(k): k for k in ids}
    hits = [k for s, k in squashed.items() if want and (want in s or s in want)]
    close = difflib.get_close_matches(want, list(squashed), n=limit, cutoff=0.75)
    found = list(dict.fromkeys([*hits, *(squashed[c] for c in close)]))[:limit]
    return [f"{k} ({ids[k]})" for k in found]


def load_yaml(path: Path) -> Any:
    """A YAML file's content, read with the limits of specs/loading.py."""
    return parse_yaml(read_input(path), str(path))


def _tuples(obj: Any) -> Any:
    """YAML lists -> tuples, so frozen models hold immutable sequences."""
    if isinstance(obj, list):
        return tuple(_tuples(v) for v in obj)
    if isinstance(obj, dict):
        return {k: _tuples(v) for k, v in obj.items()}
    return obj


def validate(data: Any, cls: type[M], where: str) -> M:
    """Build a spec model, turning pydantic's errors into one SpecError naming the field."""
    if not isinstance(data, dict):
        raise SpecError(
            where, f"expected a YAML mapping of fields at the top level, got {type(data).__name__}"
        )
    try:
        return cls.model_validate(_tuples(data))
    except ValidationError as exc:
        raise _spec_error(exc, where, cls) from None


def _spec_error(exc: ValidationError, where: str, cls: type[BaseModel]) -> SpecError:
    messages = []
    first_field = None
    errors = exc.errors()
    locs = [e["loc"] for e in errors]
    # pydantic also reports a container as failing when one of its items fails: keep the item
    errors = [e for e in errors if not any(o != e["loc"] and o[: len(e["loc"])] == e["loc"] for o in locs)]
    for err in errors:
        loc = _dotted(err["loc"])
        first_field = first_field or loc
        msg = err["msg"].removeprefix("Value error, ")
        kind = err["type"]
        if kind == "missing":
            msg = "required field is missing"
        elif kind == "extra_forbidden":
            msg = "unknown field (see the README next to the spec files for the allowed ones)"
        elif kind in ("literal_error",):
            msg = f"{msg}, got {_short(err.get('input'))}"
        elif kind.endswith("_type"):
            msg = f"{msg}, got {_short(err.get('input'))} ({type(err.get('input')).__name__})"
        messages.append(f"{loc}: {msg}" if loc else msg)
    if len(messages) == 1:
        return SpecError(where, messages[0].split(": ", 1)[-1] if first_field else messages[0], first_field)
    return SpecError(where, "\n  " + "\n  ".join(messages))


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 10]}...{text[-5:]}"


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith("function-") or part in ("tagged-union",):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


@lru_cache(maxsize=256)
def _load(path: Path, kind: str) -> Device | Model | System:
    cls: type[Device] | type[Model] | type[System] = {"device": Device, "system": System}.get(kind, Model)
    spec = validate(load_yaml(path), cls, str(path))
    if spec.id != path.stem:
        raise SpecError(str(path), f"id {spec.id!r} must equal the file name {path.stem!r}", "id")
    return spec


def load_device(ref: str | os.PathLike[str] | Device) -> Device:
    if isinstance(ref, Device):
        return ref
    spec = _load(resolve(ref, "device").resolve(), "device")
    assert isinstance(spec, Device)
    return spec


def load_model(ref: str | os.PathLike[str] | Model) -> Model:
    if isinstance(ref, Model):
        return ref
    spec = _load(resolve(ref, "model").resolve(), "model")
    assert isinstance(spec, Model)
    return spec


def load_system(ref: str | os.PathLike[str] | System) -> System:
    """A system spec, with its host and accelerator device ids checked to load."""
    if isinstance(ref, System):
        return ref
    path = resolve(ref, "system").resolve()
    spec = _load(path, "system")
    assert isinstance(spec, System)
    refs = [("host.device", spec.host.device), *(("accelerators", a.device) for a in spec.accelerators)]
    for field, dev in refs:
        try:
            load_device(dev)
        except SpecError as exc:
            raise SpecError(str(path), f"{dev!r} does not load as a device: {exc}", field) from None
    return spec


def check_file(path: str | os.PathLike[str]) -> Device | Model | System:
    """Validate one spec file of any kind (told apart by its fields)."""
    p = Path(check_ref(path, "spec"))
    if not is_file(p):
        raise SpecError(str(path), "no such file")
    kind = _kind_of(load_yaml(p))
    if kind is None:
        raise SpecError(
            str(path),
            "neither a device spec (with 'processors', 'memory'), a model spec"
            " (with 'n_layers', 'attention') nor a system spec (with 'host', 'accelerators', 'links')",
        )
    if kind == "system":
        return load_system(p.resolve())
    return _load(p.resolve(), kind)


def _kind_of(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "model"  # validate() reports the top-level type problem
    if {"host", "accelerators", "links", "unified_memory"} & set(data):
        return "system"
    if {"processors", "memory", "offload", "power"} & set(data):
        return "device"
    if {"n_layers", "attention", "ffn", "moe", "d_model", "vocab_size"} & set(data):
        return "model"
    return None
