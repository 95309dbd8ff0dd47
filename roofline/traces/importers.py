"""Importers: llama-bench output (JSON, JSONL, CSV, markdown) and the public measurement table.

Every record is checked by type and range before a row is made of it (`check_e2e`: the rows an
importer writes are rows `read_e2e` accepts), and a bad record is reported with its index (or line)
and field. With `skip_bad` a bad record is skipped and counted instead. Import is linear in the
number of records: the catalog is read once per import (matching a model by parameter count looks
it up in a cached table), never once per record.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from roofline.errors import RooflineError
from roofline.model.workload import MAX_TOKENS
from roofline.specs.loading import parse_json
from roofline.traces.files import (
    MAX_TOKENS_PER_S,
    E2ERow,
    TraceError,
    check_e2e,
    check_known,
    csv_rows,
    read_text,
)

# llama.cpp's ftype descriptions (llama_model_ftype_name) -> file type names
_FTYPE = {
    "all F32": "F32",
    "F16": "F16",
    "BF16": "BF16",
    "Q8_0": "Q8_0",
    "Q6_K": "Q6_K",
    "Q5_K - Medium": "Q5_K_M",
    "Q5_K - Small": "Q5_K_S",
    "Q5_0": "Q5_0",
    "Q5_1": "Q5_1",
    "Q4_K - Medium": "Q4_K_M",
    "Q4_K - Small": "Q4_K_S",
    "Q4_0": "Q4_0",
    "Q4_1": "Q4_1",
    "IQ4_XS - 4.25 bpw": "IQ4_XS",
    "IQ4_NL - 4.5 bpw": "IQ4_NL",
    "Q3_K - Medium": "Q3_K_M",
    "Q3_K - Small": "Q3_K_S",
    "Q3_K - Large": "Q3_K_L",
    "Q2_K - Medium": "Q2_K",
    "MXFP4 MoE": "MXFP4",
}
_FTYPE_LONGEST_FIRST = sorted(_FTYPE.items(), key=lambda kv: -len(kv[0]))
_BACKEND = {
    "cuda": "llama.cpp-cuda",
    "metal": "llama.cpp-metal",
    "vulkan": "llama.cpp-vulkan",
    "sycl": "llama.cpp-sycl",
    "rocm": "llama.cpp-rocm",
    "hip": "llama.cpp-rocm",
    "cpu": "llama.cpp-cpu",
    "blas": "llama.cpp-cpu",
}


@lru_cache(maxsize=1)
def aliases() -> dict[str, dict[str, str]]:
    return yaml.safe_load(resources.files("roofline").joinpath("data", "aliases.yaml").read_text())


# ---- llama-bench -----------------------------------------------------------------------------
#: Most records one import reads (a llama-bench sweep writes hundreds; 1e6 take about a minute).
MAX_RECORDS = 1_000_000


@dataclass
class Imported:
    """Rows imported, and the bad records skipped (with `skip_bad`), one message each."""

    rows: list[E2ERow]
    skipped: list[str] = field(default_factory=list)


def import_llama_bench(
    path: str | Path,
    device: str,
    model: str | None = None,
    engine: str | None = None,
    source: str = "measured here",
) -> list[E2ERow]:
    """Rows of llama-bench output in any of its formats (-o json|jsonl|csv|md); a bad record is an
    error (read_llama_bench with skip_bad=True skips it)."""
    return read_llama_bench(path, device, model, engine, source).rows


def read_llama_bench(
    path: str | Path,
    device: str,
    model: str | None = None,
    engine: str | None = None,
    source: str = "measured here",
    skip_bad: bool = False,
) -> Imported:
    """Rows of llama-bench output in any of its formats (-o json|jsonl|csv|md), every record checked;
    with `skip_bad` bad records are skipped and listed in `skipped` instead of raising."""
    p = Path(path)
    _check_refs_once(p, device, model, engine)
    text = read_text(p)
    stripped = text.lstrip()
    if stripped.startswith("|"):
        recs: list[tuple[str, Any]] = _markdown_records(p, text)
    elif stripped.startswith("["):
        data = parse_json(text, str(p))
        if not isinstance(data, list):
            raise TraceError(f"{p}: expected a JSON list of llama-bench records")
        if len(data) > MAX_RECORDS:
            raise TraceError(f"{p}: {len(data):,} records, more than {MAX_RECORDS:,}; split the file")
        recs = [(f"{p}: record {i}", r) for i, r in enumerate(data, start=1)]
    elif stripped.startswith("{"):
        if text.count("\n") > MAX_RECORDS:
            raise TraceError(f"{p}: more than {MAX_RECORDS:,} lines; split the file")
        recs = [
            (f"{p}: line {i}", parse_json(line, f"{p}: line {i}"))
            for i, line in enumerate(text.splitlines(), start=1)
            if line.strip()
        ]
    else:
        rows = csv_rows(text, str(p))
        if not rows or "avg_ts" not in rows[0]:
            raise TraceError(
                f"{p}: not llama-bench output (expected JSON, JSONL, CSV with avg_ts, or a markdown table)"
            )
        recs = [(f"{p}: line {i}", r) for i, r in enumerate(rows, start=2)]
    if len(recs) > MAX_RECORDS:
        raise TraceError(f"{p}: {len(recs):,} records, more than {MAX_RECORDS:,}; split the file")
    out = Imported([])
    match = _ModelMatcher()
    for where, rec in recs:
        try:
            if isinstance(rec, _MarkdownRow):
                row = _from_markdown(rec, where, device, model, engine, source)
            else:
                row = _from_record(rec, where, device, model, engine, source, match)
            out.rows.append(check_e2e(row, where))
        except RooflineError as exc:
            if not skip_bad:
                raise
            out.skipped.append(str(exc))
    if not out.rows:
        first = f" (first: {out.skipped[0]})" if out.skipped else ""
        raise TraceError(f"{p}: no valid llama-bench records{first}")
    return out


def _check_refs_once(p: Path, device: str, model: str | None, engine: str | None) -> None:
    """The options every row shares, checked once (a bad one is not a bad record to skip)."""
    for kind, ref in (("device", device), ("model", model), ("engine", engine)):
        if ref is not None:
            check_known(kind, ref, str(p))


def _int_field(r: dict[str, Any], key: str, where: str, hi: float, default: int | None = 0) -> int:
    v = r.get(key)
    if v is None or v == "":
        if default is None:
            raise TraceError(f"{where}: field {key!r} is missing")
        return default
    if isinstance(v, str) and re.fullmatch(r"[0-9]{1,15}", v.strip()):
        v = int(v.strip())
    if isinstance(v, float) and v.is_integer() and abs(v) <= hi:
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= hi:
        raise TraceError(
            f"{where}: field {key!r}: expected a whole number within 0-{hi:,.0f}, got {_shown(v)}"
        )
    return v


def _float_field(r: dict[str, Any], key: str, where: str) -> float:
    v = r.get(key)
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            pass
    try:
        v = float(v) if not isinstance(v, bool) and isinstance(v, (int, float)) else math.nan
    except OverflowError:  # an integer past float range
        v = math.inf
    if not math.isfinite(v):
        raise TraceError(f"{where}: field {key!r}: expected a finite number, got {_shown(r.get(key))}")
    if not 0 < v <= MAX_TOKENS_PER_S:
        raise TraceError(
            f"{where}: field {key!r}: expected a number within 0-{MAX_TOKENS_PER_S:g} (above 0), got {v:g}"
        )
    return v


def _text(r: dict[str, Any], key: str, limit: int = 200) -> str:
    v = r.get(key, "")
    return ("" if v is None else str(v) if isinstance(v, (str, int, float)) else "?")[:limit]


def _shown(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 8]}...{text[-5:]}"


def _from_record(
    r: Any,
    where: str,
    device: str,
    model: str | None,
    engine: str | None,
    source: str,
    match: _ModelMatcher,
) -> E2ERow:
    if not isinstance(r, dict):
        raise TraceError(f"{where}: expected a llama-bench record (a JSON object), got {type(r).__name__}")
    n_prompt = _int_field(r, "n_prompt", where, MAX_TOKENS)
    n_gen = _int_field(r, "n_gen", where, MAX_TOKENS)
    depth = _int_field(r, "n_depth", where, MAX_TOKENS)
    tps = _float_field(r, "avg_ts", where)
    if n_prompt and n_gen:
        raise TraceError(f"{where}: mixed pp+tg tests are not supported")
    if not n_prompt and not n_gen:
        raise TraceError(f"{where}: fields 'n_prompt' and 'n_gen': neither is above 0 (no test)")
    test = f"pp{n_prompt}" if n_prompt else f"tg{n_gen}"
    model_type = r.get("model_type", "")
    if not isinstance(model_type, str):
        raise TraceError(f"{where}: field 'model_type': expected a text, got {_shown(model_type)}")
    quant = _quant_from_type(model_type, where)
    mid = model or match(_int_field(r, "model_n_params", where, 1e15), where)
    backends = r.get("backends", r.get("backend", "cpu"))
    backend = backends.split(",")[0].strip().lower() if isinstance(backends, str) else ""
    eng = engine or _BACKEND.get(backend, "llama.cpp-cpu")
    return E2ERow(
        device=device,
        engine=eng,
        model=mid,
        quant=quant,
        test=test,
        depth=depth,
        batch=1,
        tokens_per_s=tps,
        source=source,
        engine_version=f"llama.cpp {_text(r, 'build_commit', 40)} (b{_text(r, 'build_number', 20)})",
        backend=_text(r, "backends"),
        threads=_text(r, "n_threads", 40),
        date=_text(r, "test_time", 40),
        command=f"llama-bench -m {_text(r, 'model_filename')}",
        notes=f"ngl {_text(r, 'n_gpu_layers', 20)}; fa {_text(r, 'flash_attn', 20)}; "
        f"stddev {_text(r, 'stddev_ts', 40)} t/s; cpu {_text(r, 'cpu_info')}; gpu {_text(r, 'gpu_info')}",
    )


def _quant_from_type(model_type: str, where: str) -> str:
    for desc, q in _FTYPE_LONGEST_FIRST:
        if model_type.endswith(desc):
            return q
    raise TraceError(
        f"{where}: field 'model_type': cannot tell the quantization from {_shown(model_type)}; pass --quant"
    )


@lru_cache(maxsize=8)
def _catalog_params(dirs: tuple[Path, ...]) -> tuple[tuple[str, int], ...]:
    """(id, total parameters) of every catalog model on the search path `dirs` (read once)."""
    from roofline.specs.catalog import list_ids, load_model

    out = []
    for mid in list_ids("model"):
        try:
            out.append((mid, load_model(mid).total_params))
        except RooflineError:
            continue  # a broken spec of the user's matches nothing; `specs check` reports it
    return tuple(out)


class _ModelMatcher:
    """Catalog model with ~`n_params` parameters (within 0.5 %), the catalog read once per import."""

    def __init__(self) -> None:
        self._found: dict[int, str] = {}

    def __call__(self, n_params: int, where: str) -> str:
        from roofline.specs.catalog import search_dirs

        if n_params <= 0:
            raise TraceError(f"{where}: field 'model_n_params': none to match the model; pass --model ID")
        if n_params not in self._found:
            table = _catalog_params(tuple(search_dirs("model")))
            close = [m for m, total in table if abs(total - n_params) <= 0.005 * n_params]
            if len(close) != 1:
                raise TraceError(
                    f"{where}: field 'model_n_params': {len(close)} catalog models have "
                    f"~{n_params / 1e9:.2f} B parameters ({', '.join(close) or 'none'}); pass --model ID"
                )
            self._found[n_params] = close[0]
        return self._found[n_params]


_MD_TEST = re.compile(r"^(pp|tg)(\d{1,9})(?:\s*@\s*d(\d{1,9}))?$")


@dataclass
class _MarkdownRow:
    cells: dict[str, str]


def _markdown_records(p: Path, text: str) -> list[tuple[str, Any]]:
    lines = [(i, ln.strip()) for i, ln in enumerate(text.splitlines(), start=1) if ln.strip().startswith("|")]
    header = [c.strip() for c in lines[0][1].strip("|").split("|")]
    need = {"model", "test", "t/s"}
    if not need <= set(header):
        raise TraceError(
            f"{p}: line {lines[0][0]}: markdown table needs columns {sorted(need)}, has {header[:20]}"
        )
    if len(lines) < 2 or not re.fullmatch(r"[|:\-\s]+", lines[1][1]):
        raise TraceError(f"{p}: line {lines[0][0] + 1}: expected the table's separator row (| --- | ...)")
    out: list[tuple[str, Any]] = []
    for i, ln in lines[2:]:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        out.append((f"{p}: line {i}", _MarkdownRow(dict(zip(header, cells, strict=False)))))
    return out


def _from_markdown(
    row: _MarkdownRow, where: str, device: str, model: str | None, engine: str | None, source: str
) -> E2ERow:
    cells = row.cells
    missing = [c for c in ("model", "test", "t/s") if not cells.get(c)]
    if missing:
        raise TraceError(f"{where}: missing cell(s) {', '.join(missing)}")
    m = _MD_TEST.match(cells["test"])
    if not m:
        raise TraceError(
            f"{where}: cannot read test {_shown(cells['test'])} (expected e.g. pp512 or tg128 @ d2048)"
        )
    value = _float_field({"t/s": cells["t/s"].split("±")[0].strip()}, "t/s", where)
    quant = _quant_from_type(cells["model"], where)
    if model is None:
        raise TraceError(f"{where}: the markdown format has no parameter count; pass --model ID")
    backend = cells.get("backend", "CPU")
    return E2ERow(
        device=device,
        engine=engine or _BACKEND.get(backend.split(",")[0].strip().lower(), "llama.cpp-cpu"),
        model=model,
        quant=quant,
        test=f"{m.group(1)}{m.group(2)}",
        depth=int(m.group(3) or 0),
        batch=1,
        tokens_per_s=value,
        source=source,
        backend=backend[:200],
        threads=cells.get("threads", "")[:40],
        command="llama-bench (markdown)",
        notes=f"ngl {cells.get('ngl', '')[:20]}",
    )


# ---- the public measurement table ----------------------------------------------------------------
PUBLIC_COLUMNS = (
    "device",
    "backend",
    "engine_version",
    "model",
    "quant",
    "threads_or_ngl",
    "batch",
    "test",
    "n_tokens",
    "depth_or_context",
    "tokens_per_s",
    "source_url",
    "notes",
)


def import_public(path: str | Path, skip_bad: bool = False) -> tuple[list[E2ERow], dict[str, int]]:
    """Rows of shared/data/public_measurements.csv that map to catalog devices, models and engines.
    Returns the rows and a count of skipped rows by reason; a malformed row is an error naming its
    line and field, or, with `skip_bad`, skipped and counted as "bad record"."""
    al = aliases()
    p = Path(path)
    rows: list[E2ERow] = []
    skipped: dict[str, int] = {}

    def skip(reason: str) -> None:
        skipped[reason] = skipped.get(reason, 0) + 1

    records = csv_rows(read_text(p), str(p))
    missing = [c for c in PUBLIC_COLUMNS if records and c not in records[0]]
    if not records or missing:
        raise TraceError(f"{p}: line 1: missing column(s) {', '.join(missing or PUBLIC_COLUMNS)}")
    for i, rec in enumerate(records, start=2):
        where = f"{p}: line {i}"
        try:
            row = _public_row(rec, where, al, skip)
            if row is not None:
                rows.append(check_e2e(row, where))
        except RooflineError:
            if not skip_bad:
                raise
            skip("bad record")
    return rows, skipped


def _public_row(rec: dict[str, Any], where: str, al: dict[str, dict[str, str]], skip: Any) -> E2ERow | None:
    bad = [c for c in PUBLIC_COLUMNS if not isinstance(rec.get(c), str)]
    if bad:
        raise TraceError(f"{where}: missing cell(s) {', '.join(bad)}")
    ev, notes = rec["engine_version"], rec["notes"]
    device, model = al["devices"].get(rec["device"]), al["models"].get(rec["model"])
    quant = al["quants"].get(rec["quant"])
    if "vLLM" in ev:
        engine = "vllm"
    elif "MLC" in ev:
        skip("engine without a profile (MLC-LLM)")
        return None
    else:
        engine = al["engines"].get(rec["backend"])
    if "ncmoe" in rec["threads_or_ngl"] or "PARTIAL OFFLOAD" in notes.upper():
        skip("experts partly on the host CPU (hybrid execution not modelled)")
    elif device is None:
        skip("device not in the catalog")
    elif model is None:
        skip("model not in the catalog")
    elif quant is None:
        skip("quantization not in the catalog")
    elif engine is None:
        skip("backend without a profile")
    else:
        stated = re.fullmatch(r"[0-9]{1,9}", rec["n_tokens"]) is not None
        n = rec["n_tokens"] if stated else "128"
        depth = int(rec["depth_or_context"]) if re.fullmatch(r"[0-9]{1,9}", rec["depth_or_context"]) else 0
        return E2ERow(
            device=device,
            engine=engine,
            model=model,
            quant=quant,
            test=f"{rec['test']}{n}",
            depth=depth,
            batch=_int_field(rec, "batch", where, MAX_TOKENS, default=None),
            tokens_per_s=_float_field(rec, "tokens_per_s", where),
            source=rec["source_url"],
            engine_version=ev,
            backend=rec["backend"],
            threads=rec["threads_or_ngl"],
            command="",
            notes=(
                f"as reported: {rec['device']} / {rec['model']} / "
                f"{rec['quant']}" + ("" if stated else "; N not stated, tg128 assumed") + f"; {notes}"
            )[:400],
        )
    return None
