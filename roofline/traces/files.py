"""Trace files: measurements with their provenance, as CSV (format in validation/README.md).

Two kinds, told apart by their columns:
- end-to-end runs (`E2E_COLUMNS`): one llama-bench-style result per row;
- microbenchmarks (`MICRO_COLUMNS`): one kernel-level measurement per row.
Reading checks every row and reports the file, line and column of the first problems.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from roofline.errors import RooflineError, SpecError
from roofline.model.workload import MAX_BATCH, MAX_TOKENS
from roofline.specs.output import write_output
from roofline.specs.quant import KV_DTYPES

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
    "flash_attn",
    "ubatch",
    "kv_type",
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
_TEST = re.compile(r"^(pp|tg)(\d{1,9})$")
#: How the flash_attn column may say on and off (llama-bench writes 0/1, newer builds on/off/auto).
_FLAG = {"1": True, "on": True, "true": True, "0": False, "off": False, "false": False, "": None}

#: Fastest throughput a trace may record (tokens/s): far above any real run, it catches a unit slip.
MAX_TOKENS_PER_S = 1e9
#: Largest trace file read: far above any real trace (the largest committed is ~100 kB).
MAX_TRACE_BYTES = 256 * 2**20


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
    # llama-bench's -fa for this run (column flash_attn: 1/0, on/off; empty: not recorded, the
    # engine profile's default applies)
    flash_attn: bool | None = None
    # llama.cpp's -ub (n_ubatch) for this run (empty: not recorded, the engine profile's ubatch applies)
    ubatch: int | None = None
    # llama.cpp's -ctk (the K cache's element type; empty: f16, llama.cpp's default)
    kv_type: str = ""

    @property
    def phase(self) -> str:
        return "decode" if self.test.startswith("tg") else "prefill"

    @property
    def kv_dtype(self) -> str:
        """The KV cache's element type as the cost model names it (kv_type; empty: f16)."""
        return self.kv_type.lower() or "f16"

    @property
    def build(self) -> int | None:
        """The engine's build number where engine_version names one (llama.cpp's "b2843")."""
        m = _BUILD.search(self.engine_version or "")
        return int(m.group(1)) if m else None


_BUILD = re.compile(r"\bb(\d{3,5})\b")


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


def _shown(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 8]}...{text[-5:]}"


def _num(
    text: str,
    kind: type,
    where: str,
    col: str,
    positive: bool = False,
    allow_zero: bool = True,
    high: float = math.inf,
) -> Any:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise TraceError(f"{where}: column {col!r}: expected a number, got {_shown(text)}") from None
    if not math.isfinite(value):
        raise TraceError(f"{where}: column {col!r}: expected a finite number, got {_shown(text)}")
    if kind is int and value != int(value):
        raise TraceError(f"{where}: column {col!r}: expected a whole number, got {_shown(text)}")
    if value < 0 or (positive and value == 0) or (not allow_zero and value == 0):
        raise TraceError(f"{where}: column {col!r}: expected a positive number, got {_shown(text)}")
    if value > high:
        raise TraceError(f"{where}: column {col!r}: {_shown(text)} is above {high:g}")
    return int(value) if kind is int else value


def check_e2e(row: E2ERow, where: str, check_catalog: bool = True) -> E2ERow:
    """`row` if every field is of its type and within range (and, with `check_catalog`, its device,
    model, engine and quantization are known): what `read_e2e` accepts, checked before a row is
    written, so an importer never writes a trace that reading would refuse."""
    for name in ("device", "engine", "model", "quant", "source"):
        value = getattr(row, name)
        if not isinstance(value, str) or not value.strip():
            raise TraceError(f"{where}: field {name!r}: expected a non-empty text, got {_shown(value)}")
    m = _TEST.match(row.test) if isinstance(row.test, str) else None
    if not m or not 1 <= int(m.group(2)) <= MAX_TOKENS:
        raise TraceError(f"{where}: field 'test': expected ppN or tgN with N >= 1, got {_shown(row.test)}")
    for name, lo, hi in (("depth", 0, MAX_TOKENS), ("batch", 1, MAX_BATCH), ("ubatch", 1, MAX_TOKENS)):
        value = getattr(row, name)
        if name == "ubatch" and value is None:
            continue  # not recorded: the engine profile's
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise TraceError(
                f"{where}: field {name!r}: expected a whole number within {lo}-{hi:,}, got {value!r}"
            )
    if row.flash_attn is not None and not isinstance(row.flash_attn, bool):
        raise TraceError(
            f"{where}: field 'flash_attn': expected true, false or unset, got {_shown(row.flash_attn)}"
        )
    if row.kv_dtype not in KV_DTYPES:
        raise TraceError(
            f"{where}: field 'kv_type': expected a KV-cache type ({', '.join(KV_DTYPES)}) or empty, "
            f"got {_shown(row.kv_type)}"
        )
    tps = row.tokens_per_s
    if isinstance(tps, bool) or not isinstance(tps, (int, float)) or not 0 < tps <= MAX_TOKENS_PER_S:
        raise TraceError(
            f"{where}: field 'tokens_per_s': expected a finite number within 0-{MAX_TOKENS_PER_S:g} "
            f"(exclusive of 0), got {_shown(tps)}"
        )
    if check_catalog:
        _check_refs(row.device, row.model, row.engine, row.quant, where)
    return row


def read_e2e(path: str | Path, check_catalog: bool = True) -> list[E2ERow]:
    rows = []
    for where, rec in _records(path, E2E_REQUIRED):
        if not _TEST.match(rec["test"]):
            raise TraceError(f"{where}: column 'test': expected ppN or tgN, got {rec['test']!r}")
        rows.append(
            E2ERow(
                device=_spec_ref(rec["device"], path),
                engine=rec["engine"],
                model=_spec_ref(rec["model"], path),
                quant=rec["quant"],
                test=rec["test"],
                depth=_num(rec["depth"], int, where, "depth", high=MAX_TOKENS),
                batch=_num(rec["batch"], int, where, "batch", True, high=MAX_BATCH),
                tokens_per_s=_num(
                    rec["tokens_per_s"], float, where, "tokens_per_s", True, high=MAX_TOKENS_PER_S
                ),
                source=rec["source"],
                flash_attn=flash_flag(rec.get("flash_attn"), where),
                ubatch=_num(rec["ubatch"], int, where, "ubatch", True, high=MAX_TOKENS)
                if (rec.get("ubatch") or "").strip()
                else None,
                **{
                    k: rec.get(k, "") or ""
                    for k in ("engine_version", "backend", "threads", "date", "command", "notes", "kv_type")
                },
            )
        )
        check_e2e(rows[-1], where, check_catalog)
    return rows


def flash_flag(text: str | None, where: str) -> bool | None:
    """A flash_attn cell as on (True), off (False) or not recorded (None: empty, absent, or "auto"
    and -1, which leave the choice to the engine, as the profile's default does)."""
    value = (text or "").strip().lower()
    if value in ("auto", "-1"):
        return None
    if value not in _FLAG:
        raise TraceError(
            f"{where}: column 'flash_attn': expected 1/0, on/off, true/false, auto or empty, "
            f"got {_shown(text)}"
        )
    return _FLAG[value]


def _spec_ref(ref: str, trace: str | Path) -> str:
    """A spec named by a relative path (the probe models' YAML) as seen from where the tool runs: the
    path as written if it exists from here, else the first of its tails that exists next to the trace
    (traces written at the repository root say 'validation/traces/probe_specs/x.yaml'); an id as is."""
    if not ref.endswith((".yaml", ".yml")) or Path(ref).is_absolute() or Path(ref).is_file():
        return ref
    parts = Path(ref).parts
    here = Path(trace).parent
    for k in range(len(parts)):
        candidate = here.joinpath(*parts[k:])
        if candidate.is_file():
            return os.path.relpath(candidate)
    return ref


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
                repeats=_num(rec.get("repeats") or "1", int, where, "repeats", positive=True, high=1e12),
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


def read_text(path: str | Path, limit: int = MAX_TRACE_BYTES) -> str:
    """A trace or measurement file's text (UTF-8, a regular file of at most `limit` bytes)."""
    p = Path(path)
    try:
        if not p.is_file():
            raise TraceError(f"{p}: no such file (or not a regular file)")
        with p.open("rb") as f:
            data = f.read(limit + 1)
    except (OSError, ValueError) as exc:
        raise TraceError(f"{p}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    if len(data) > limit:
        raise TraceError(f"{p}: larger than {limit / 2**20:g} MiB; refusing to read it")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TraceError(f"{p}: not UTF-8 text (byte {exc.start})") from None


def csv_rows(text: str, where: str) -> list[dict[str, Any]]:
    """CSV text -> one dict per row (csv.DictReader), a TraceError naming the line for what the csv
    module refuses (a NUL byte, a field past its size limit)."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        return list(reader)
    except csv.Error as exc:
        raise TraceError(f"{where}: line {reader.line_num}: not CSV ({exc})") from None


def _header(p: Path) -> list[str]:
    text = read_text(p)
    try:
        return next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error as exc:
        raise TraceError(f"{p}: line 1: not CSV ({exc})") from None


def _records(path: str | Path, required: tuple[str, ...]) -> Any:
    p = Path(path)
    header = _header(p)
    missing = [c for c in required if c not in header]
    if missing:
        raise TraceError(f"{p}: line 1: missing column(s) {', '.join(missing)} (see validation/README.md)")
    for i, rec in enumerate(csv_rows(read_text(p), str(p)), start=2):
        where = f"{p}: line {i}"
        for c in required:
            if not isinstance(rec.get(c), str) or rec.get(c) == "":
                raise TraceError(f"{where}: column {c!r} is empty")
        yield where, rec


def _check_refs(device: str, model: str, engine: str, quant: str, where: str) -> None:
    from roofline.specs.quant import check_quant

    for kind, ref in (("device", device), ("model", model), ("engine", engine)):
        check_known(kind, ref, where)
    try:
        check_quant(quant)
    except RooflineError as exc:
        raise TraceError(f"{where}: {exc}") from None


def check_known(kind: str, ref: str, where: str) -> None:
    """`ref` names a `kind` (device, model or engine): a catalog id or an existing spec file."""
    from roofline.model.engine import ENGINES
    from roofline.specs.catalog import is_file

    known = ref in ENGINES if kind == "engine" else ref in _ids(kind)
    if not known and not is_file(Path(ref)):
        hint = f"known: {', '.join(ENGINES)}" if kind == "engine" else "an id from `roofline specs list`"
        raise TraceError(f"{where}: unknown {kind} {_shown(ref)} ({hint} or a spec path)")


_ID_CACHE: dict[str, set[str]] = {}


def _ids(kind: str) -> set[str]:
    from roofline.specs.catalog import list_ids

    if kind not in _ID_CACHE:
        _ID_CACHE[kind] = set(list_ids(kind))
    return _ID_CACHE[kind]


def write_rows(
    path: str | Path, rows: list[Any], force: bool = False, inputs: Iterable[str | os.PathLike[str]] = ()
) -> None:
    """Rows as a trace CSV, written atomically; never over one of `inputs` (the files they were
    imported from), nor over an existing file without `force`."""
    p = Path(path)
    if not rows:
        raise TraceError(f"{p}: nothing to write")
    cols = E2E_COLUMNS if isinstance(rows[0], E2ERow) else MICRO_COLUMNS
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=list(cols))
    w.writeheader()
    for r in rows:
        d = asdict(r)
        if isinstance(r, E2ERow):
            d["flash_attn"] = "" if r.flash_attn is None else str(int(r.flash_attn))
            d["ubatch"] = "" if r.ubatch is None else str(r.ubatch)
        w.writerow({c: d.get(c, "") for c in cols})
    try:
        write_output(p, buf.getvalue(), force, inputs, make_parents=True)
    except SpecError as exc:
        raise TraceError(str(exc)) from None


__all__ = [
    "E2ERow",
    "MicroRow",
    "TraceError",
    "check_e2e",
    "csv_rows",
    "flash_flag",
    "read_any",
    "read_e2e",
    "read_micro",
    "read_text",
    "write_rows",
]
