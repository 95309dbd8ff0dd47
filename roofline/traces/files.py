"""Trace files: measurements with their provenance, as CSV (format in validation/README.md).

Two kinds, told apart by their columns:
- end-to-end runs (`E2E_COLUMNS`): one llama-bench-style result per row;
- microbenchmarks (`MICRO_COLUMNS`): one kernel-level measurement per row.
Reading checks every row and reports the file, line and column of the first problems.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from roofline.errors import RooflineError

E2E_COLUMNS = (
    "device",
    "engine",
    "engine_version",
    "backend",
    "model",
    "quant",
    "test",
    "depth",
    "batch",
    "threads",
    "tokens_per_s",
    "date",
    "command",
    "source",
    "notes",
)
E2E_REQUIRED = ("device", "engine", "model", "quant", "test", "depth", "batch", "tokens_per_s", "source")
MICRO_COLUMNS = (
    "device",
    "harness",
    "harness_version",
    "backend",
    "date",
    "kind",
    "dtype",
    "shape",
    "working_set_bytes",
    "flops",
    "bytes",
    "seconds",
    "repeats",
    "command",
    "source",
    "notes",
)
MICRO_REQUIRED = ("device", "harness", "kind", "dtype", "working_set_bytes", "seconds", "source")
MICRO_KINDS = (
    "stream-read",
    "stream-copy",
    "stream-triad",
    "gemv",
    "gemm",
    "launch",
    "launch-graph",
    "moe-dispatch",
    "dense-ffn",
    "copy-h2d",
)
_TEST = re.compile(r"^(pp|tg)\d+$")


class TraceError(RooflineError):
    pass


@dataclass
class E2ERow:
    device: str
    engine: str
    model: str
    quant: str
    test: str
    depth: int
    batch: int
    tokens_per_s: float
    source: str
    engine_version: str = ""
    backend: str = ""
    threads: str = ""
    date: str = ""
    command: str = ""
    notes: str = ""

    @property
    def phase(self) -> str:
        return "decode" if self.test.startswith("tg") else "prefill"


@dataclass
class MicroRow:
    device: str
    harness: str
    kind: str
    dtype: str
    working_set_bytes: float
    seconds: float
    source: str
    harness_version: str = ""
    backend: str = ""
    date: str = ""
    shape: str = ""
    flops: float = 0.0
    bytes: float = 0.0
    repeats: int = 1
    command: str = ""
    notes: str = ""


def _num(text: str, kind: type, where: str, col: str, positive: bool = False, allow_zero: bool = True) -> Any:
    try:
        v = kind(float(text)) if kind is int else kind(text)
    except (TypeError, ValueError):
        raise TraceError(f"{where}: column {col!r}: expected a number, got {text!r}") from None
    if isinstance(v, float) and not math.isfinite(v):
        raise TraceError(f"{where}: column {col!r}: expected a finite number, got {text!r}")
    if v < 0 or (positive and v == 0) or (not allow_zero and v == 0):
        raise TraceError(f"{where}: column {col!r}: expected a positive number, got {text!r}")
    return v


def read_e2e(path: str | Path, check_catalog: bool = True) -> list[E2ERow]:
    rows = []
    for where, rec in _records(path, E2E_REQUIRED):
        if not _TEST.match(rec["test"]):
            raise TraceError(f"{where}: column 'test': expected ppN or tgN, got {rec['test']!r}")
        rows.append(
            E2ERow(
                device=rec["device"],
                engine=rec["engine"],
                model=rec["model"],
                quant=rec["quant"],
                test=rec["test"],
                depth=_num(rec["depth"], int, where, "depth"),
                batch=_num(rec["batch"], int, where, "batch", True),
                tokens_per_s=_num(rec["tokens_per_s"], float, where, "tokens_per_s", True),
                source=rec["source"],
                **{
                    k: rec.get(k, "") or ""
                    for k in ("engine_version", "backend", "threads", "date", "command", "notes")
                },
            )
        )
        if check_catalog:
            _check_refs(rows[-1].device, rows[-1].model, rows[-1].engine, rows[-1].quant, where)
    return rows


def read_micro(path: str | Path) -> list[MicroRow]:
    rows = []
    for where, rec in _records(path, MICRO_REQUIRED):
        if rec["kind"] not in MICRO_KINDS:
            raise TraceError(
                f"{where}: column 'kind': expected one of {', '.join(MICRO_KINDS)}, got {rec['kind']!r}"
            )
        rows.append(
            MicroRow(
                device=rec["device"],
                harness=rec["harness"],
                kind=rec["kind"],
                dtype=rec["dtype"],
                working_set_bytes=_num(rec["working_set_bytes"], float, where, "working_set_bytes"),
                seconds=_num(rec["seconds"], float, where, "seconds", positive=True),
                source=rec["source"],
                flops=_num(rec.get("flops") or "0", float, where, "flops"),
                bytes=_num(rec.get("bytes") or "0", float, where, "bytes"),
                repeats=_num(rec.get("repeats") or "1", int, where, "repeats", positive=True),
                **{
                    k: rec.get(k, "") or ""
                    for k in ("harness_version", "backend", "date", "shape", "command", "notes")
                },
            )
        )
    return rows


def read_any(path: str | Path) -> tuple[list[E2ERow], list[MicroRow]]:
    header = _header(Path(path))
    if "tokens_per_s" in header:
        return read_e2e(path), []
    if "seconds" in header and "kind" in header:
        return [], read_micro(path)
    raise TraceError(
        f"{path}: line 1: not a trace (needs the columns of an end-to-end trace, with "
        "tokens_per_s, or of a microbenchmark trace, with kind and seconds)"
    )


def _header(p: Path) -> list[str]:
    try:
        with p.open(newline="", encoding="utf-8") as f:
            return next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"{p}: cannot read ({exc})") from None


def _records(path: str | Path, required: tuple[str, ...]) -> Any:
    p = Path(path)
    header = _header(p)
    missing = [c for c in required if c not in header]
    if missing:
        raise TraceError(f"{p}: line 1: missing column(s) {', '.join(missing)} (see validation/README.md)")
    with p.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        for i, rec in enumerate(reader, start=2):
            where = f"{p}: line {i}"
            for c in required:
                if rec.get(c) in (None, ""):
                    raise TraceError(f"{where}: column {c!r} is empty")
            yield where, rec


def _check_refs(device: str, model: str, engine: str, quant: str, where: str) -> None:
    from roofline.model.engine import ENGINES
    from roofline.specs.quant import check_quant

    for kind, ref in (("device", device), ("model", model)):
        if ref not in _ids(kind) and not Path(ref).is_file():
            raise TraceError(
                f"{where}: unknown {kind} {ref!r} (an id from `roofline specs list` or a spec path)"
            )
    if engine not in ENGINES and not Path(engine).is_file():
        raise TraceError(f"{where}: unknown engine {engine!r}; known: {', '.join(ENGINES)}")
    try:
        check_quant(quant)
    except RooflineError as exc:
        raise TraceError(f"{where}: {exc}") from None


_ID_CACHE: dict[str, set[str]] = {}


def _ids(kind: str) -> set[str]:
    from roofline.specs.catalog import list_ids

    if kind not in _ID_CACHE:
        _ID_CACHE[kind] = set(list_ids(kind))
    return _ID_CACHE[kind]


def write_rows(path: str | Path, rows: list[Any], force: bool = False) -> None:
    p = Path(path)
    if p.exists() and not force:
        raise TraceError(f"{p}: exists; pass --force to overwrite")
    if not rows:
        raise TraceError(f"{p}: nothing to write")
    cols = E2E_COLUMNS if isinstance(rows[0], E2ERow) else MICRO_COLUMNS
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(cols))
        w.writeheader()
        for r in rows:
            d = asdict(r)
            w.writerow({c: d.get(c, "") for c in cols})


__all__ = ["E2ERow", "MicroRow", "TraceError", "read_any", "read_e2e", "read_micro", "write_rows"]
