"""Importers: llama-bench output (JSON, JSONL, CSV, SQL, markdown), vLLM's and SGLang's benchmark
results, and the public measurement table.

Every record is checked by type and range before a row is made of it (`check_e2e`: the rows an
importer writes are rows `read_e2e` accepts), and a bad record is reported with its index (or line)
and field. With `skip_bad` a bad record is skipped and counted instead. Import is linear in the
number of records: the catalog is read once per import (matching a model by parameter count looks
it up in a cached table), never once per record.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from roofline.errors import RooflineError
from roofline.model.workload import MAX_BATCH, MAX_TOKENS
from roofline.specs.loading import check_depth, parse_json
from roofline.traces.files import (
    MAX_TOKENS_PER_S,
    E2ERow,
    TraceError,
    check_e2e,
    check_known,
    csv_rows,
    flash_flag,
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
    """Rows of llama-bench output in any of its formats (-o json|jsonl|csv|sql|md), every record
    checked; with `skip_bad` bad records are skipped and listed in `skipped` instead of raising.

    Formats as llama.cpp's tools/llama-bench/llama-bench.cpp (commit 0104b151c56d) prints them. A mixed
    prompt+generation record (`-pg 512,128`: one timed run that processes the prompt, then generates
    from it) becomes a `tg128` row at depth `n_depth + 512` when the file holds the pp512 record of the
    same run (same model, settings and depth): llama-bench times the two parts together, and only
    the difference of their mean times (`avg_ns`) is the generation's."""
    p = Path(path)
    _check_refs_once(p, device, model, engine)
    text = read_text(p)
    stripped = text.lstrip()
    if stripped.startswith("|"):
        recs: list[tuple[str, Any]] = _markdown_records(p, text)
    elif stripped[:12].upper() in ("CREATE TABLE", "INSERT INTO "):
        recs = _sql_records(p, text)
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
    match = _ModelMatcher()
    prompt_runs = _prompt_runs(recs)

    def convert(rec: Any, where: str) -> list[E2ERow]:
        if isinstance(rec, _MarkdownRow):
            return [_from_markdown(rec, where, device, model, engine, source)]
        return [_from_record(rec, where, device, model, engine, source, match, prompt_runs)]

    return _import_records(recs, convert, skip_bad, f"{p}: no valid llama-bench records")


def _import_records(recs: list[tuple[str, Any]], convert: Any, skip_bad: bool, none_message: str) -> Imported:
    """Each record's rows (`convert(rec, where)`), checked; a bad record (a TraceError in the list,
    or one `convert` or the check refuses) is an error, or with `skip_bad` skipped with its message.
    No row at all is an error (`none_message`, with the first skip)."""
    out = Imported([])
    for where, rec in recs:
        try:
            if isinstance(rec, TraceError):
                raise rec
            out.rows.extend(check_e2e(row, where) for row in convert(rec, where))
        except RooflineError as exc:
            if not skip_bad:
                raise
            out.skipped.append(str(exc))
    if not out.rows:
        first = f" (first: {out.skipped[0]})" if out.skipped else ""
        raise TraceError(f"{none_message}{first}")
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
    prompt_runs: dict[tuple[tuple[str, str], ...], dict[str, Any]],
) -> E2ERow:
    if not isinstance(r, dict):
        raise TraceError(f"{where}: expected a llama-bench record (a JSON object), got {type(r).__name__}")
    n_prompt = _int_field(r, "n_prompt", where, MAX_TOKENS)
    n_gen = _int_field(r, "n_gen", where, MAX_TOKENS)
    depth = _int_field(r, "n_depth", where, MAX_TOKENS)
    derived = ""
    if n_prompt and n_gen:
        tps, derived = _generation_of_mixed(r, where, n_prompt, n_gen, prompt_runs)
        test, depth = f"tg{n_gen}", depth + n_prompt
    elif not n_prompt and not n_gen:
        raise TraceError(f"{where}: fields 'n_prompt' and 'n_gen': neither is above 0 (no test)")
    else:
        tps = _float_field(r, "avg_ts", where)
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
        flash_attn=flash_flag(str(r["flash_attn"]) if "flash_attn" in r else None, where),
        ubatch=_int_field(r, "n_ubatch", where, MAX_TOKENS) or None,
        kv_type=_text(r, "type_k", 20),
        notes=derived + f"ngl {_text(r, 'n_gpu_layers', 20)}; fa {_text(r, 'flash_attn', 20)}; "
        f"stddev {_text(r, 'stddev_ts', 40)} t/s; cpu {_text(r, 'cpu_info')}; gpu {_text(r, 'gpu_info')}",
    )


#: Fields of a llama-bench record that are results or the generation length: two records that agree
#: on every other field are runs of the same model with the same settings, prompt and depth.
_RESULT_FIELDS = frozenset(
    ("n_gen", "test_time", "avg_ns", "stddev_ns", "avg_ts", "stddev_ts", "samples_ns", "samples_ts")
)


def _run_key(r: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), repr(v)) for k, v in r.items() if k not in _RESULT_FIELDS))


def _prompt_runs(recs: list[tuple[str, Any]]) -> dict[tuple[tuple[str, str], ...], dict[str, Any]]:
    """The prompt-only records (n_gen 0) by their run key, for splitting mixed pp+tg records."""
    out: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
    for _, rec in recs:
        if isinstance(rec, dict) and str(rec.get("n_gen")).strip() == "0":
            out.setdefault(_run_key(rec), rec)
    return out


def _ns_field(r: dict[str, Any], key: str, where: str, allow_zero: bool = False) -> float:
    """A time in nanoseconds (llama-bench's avg_ns, stddev_ns; a numeric string is read as its
    number): finite, above 0 (or 0 with `allow_zero`), at most a day."""
    v = r.get(key)
    if isinstance(v, str) and re.fullmatch(r"[0-9]{1,20}(\.[0-9]{1,9})?", v.strip()):
        v = float(v)
    if allow_zero and v == 0 and not isinstance(v, bool):
        return 0.0
    return _positive({key: v} if key in r else {}, key, where, hi=8.64e13)


def _generation_of_mixed(
    r: dict[str, Any],
    where: str,
    n_prompt: int,
    n_gen: int,
    prompt_runs: dict[tuple[tuple[str, str], ...], dict[str, Any]],
) -> tuple[float, str]:
    """Tokens/s of the generation part of a pp+tg record, from its mean time less the mean time of the
    same run's prompt-only record, and a note saying so; refused when there is no such record or
    the difference is within twice the runs' combined standard deviation (noise, not a time)."""
    pp = prompt_runs.get(_run_key(r))
    if pp is None:
        raise TraceError(
            f"{where}: mixed record pp{n_prompt}+tg{n_gen} times prompt and generation together; it "
            f"becomes a tg{n_gen} row only beside the pp{n_prompt} record of the same run (same model, "
            f"settings and depth), e.g. llama-bench -p {n_prompt} -n 0 -pg {n_prompt},{n_gen}"
        )
    t_mixed, t_prompt = _ns_field(r, "avg_ns", where), _ns_field(pp, "avg_ns", f"{where} (its pp record)")
    spread = math.hypot(
        _ns_field(r, "stddev_ns", where, allow_zero=True) if "stddev_ns" in r else 0.0,
        _ns_field(pp, "stddev_ns", where, allow_zero=True) if "stddev_ns" in pp else 0.0,
    )
    t_gen = t_mixed - t_prompt
    if t_gen <= max(2 * spread, 0.0):
        raise TraceError(
            f"{where}: pp{n_prompt}+tg{n_gen} ({t_mixed / 1e6:.4g} ms) less pp{n_prompt} "
            f"({t_prompt / 1e6:.4g} ms) leaves {t_gen / 1e6:.4g} ms for generation, not above twice the "
            f"runs' spread ({spread / 1e6:.3g} ms): too noisy to split"
        )
    note = (
        f"derived: pp{n_prompt}+tg{n_gen} {t_mixed / 1e6:.4g} ms less pp{n_prompt} {t_prompt / 1e6:.4g} ms "
        f"(mean times); generation from depth n_depth+{n_prompt}; "
    )
    return n_gen / (t_gen * 1e-9), note


# ---- llama-bench -o sql ------------------------------------------------------------------------
_SQL_INSERT = re.compile(r"^INSERT INTO\s+\w+\s*\(([\w\s,]*)\)\s*VALUES\s*\((.*)\)\s*;$", re.IGNORECASE)
_SQL_VALUE = re.compile(r"\s*(?:'((?:[^']|'')*)'|([-+]?[0-9][0-9.eE+-]{0,40})|(NULL))\s*(,|$)", re.IGNORECASE)


def _sql_records(p: Path, text: str) -> list[tuple[str, Any]]:
    """`llama-bench -o sql`: a CREATE TABLE statement, then one `INSERT INTO llama_bench (fields)
    VALUES ('v', ...);` line per test, every value quoted as text (the JSON records' field names).
    A line that is not such a statement is a bad record (a TraceError in place of the record)."""
    out: list[tuple[str, Any]] = []
    in_create = False
    for i, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if not s:
            continue
        if in_create or s[:12].upper() == "CREATE TABLE":
            in_create = not s.endswith(";")
            continue
        where = f"{p}: line {i}"
        out.append((where, _sql_insert(s, where)))
        if len(out) > MAX_RECORDS:
            raise TraceError(f"{p}: more than {MAX_RECORDS:,} records; split the file")
    if not out:
        raise TraceError(f"{p}: no INSERT statements (llama-bench -o sql writes one per test)")
    return out


def _sql_insert(s: str, where: str) -> dict[str, Any] | TraceError:
    m = _SQL_INSERT.match(s)
    if not m:
        return TraceError(f"{where}: expected INSERT INTO <table> (<fields>) VALUES (...); got {_shown(s)}")
    fields = [f.strip() for f in m.group(1).split(",")]
    if len(set(fields)) != len(fields) or not all(fields):
        return TraceError(f"{where}: the field list repeats a name or has an empty one")
    values: list[Any] = []
    body, pos = m.group(2), 0
    while pos < len(body):
        v = _SQL_VALUE.match(body, pos)
        if not v or v.end() == pos:
            return TraceError(
                f"{where}: cannot read value {len(values) + 1} of the VALUES list (a quote inside a "
                "value? llama-bench does not escape them)"
            )
        values.append(v.group(1).replace("''", "'") if v.group(1) is not None else v.group(2))
        pos = v.end()
        if not v.group(4):
            break
    if pos < len(body) or len(values) != len(fields):
        return TraceError(f"{where}: {len(fields)} fields but {len(values)} values")
    return dict(zip(fields, values, strict=True))


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
    if "+" in cells["test"]:
        raise TraceError(
            f"{where}: mixed test {_shown(cells['test'])}: the markdown table has no times to split into "
            "prompt and generation; import llama-bench's -o json, jsonl, csv or sql output instead"
        )
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


# ---- vLLM and SGLang serving benchmarks -----------------------------------------------------------
#: Tools whose serving-benchmark results are read, the engine profile their rows belong to by default
#: (None: no bundled profile, --engine is required) and what they are called in messages.
SERVING_TOOLS: dict[str, tuple[str | None, str]] = {
    "vllm": ("vllm", "vllm bench serve --save-result"),
    "sglang": (None, "python -m sglang.bench_serving"),
}


def read_serving(
    path: str | Path,
    tool: str,
    device: str,
    quant: str,
    model: str | None = None,
    engine: str | None = None,
    source: str = "measured here",
    under_load: bool = False,
    skip_bad: bool = False,
) -> Imported:
    """Rows of serving-benchmark results: `vllm bench serve --save-result` (one JSON object, or one per
    line with --append-result; vllm/benchmarks/serve.py, commit 009e6d4a1cd6) or SGLang's
    `bench_serving` (one JSON object per line; python/sglang/bench_serving.py, commit 0033168f0f58).

    What maps to a trace row, and what does not (each record is one benchmark run):
    - Only closed-loop runs map: `--request-rate inf` with `--max-concurrency C` keeps C requests in
      flight. With a finite request rate the batch follows the arrivals, and without a concurrency
      cap every request starts at once and drains; neither has a batch to model (refused).
    - C = 1: the median TTFT is the prefill of the mean prompt (plus the HTTP round trip, a few ms):
      a ppI row, I = total_input_tokens / completed, at depth 0; the median TPOT is one decode step:
      a tg(O-1) row from depth I, O = total_output_tokens / completed.
    - C > 1: TTFT includes queueing and is not imported. The TPOT of C concurrent requests includes
      the prefills of requests that join mid-run (chunked prefill shares the steps), so C / TPOT is
      a lower bound on the decode throughput at batch C; it is imported as a tg row at batch C only
      with `under_load`, and the row's notes say so.
    - Speculative decoding (vLLM's spec_decode_* fields, SGLang's accept_length) makes more than one
      token per step: refused. The results name no quantization (`quant` is required) and SGLang's
      no model (`model`, else matched from vLLM's model_id through aliases.yaml).
    """
    p = Path(path)
    if tool not in SERVING_TOOLS:
        raise TraceError(f"{p}: unknown serving tool {tool!r} (known: {', '.join(SERVING_TOOLS)})")
    default_engine, command = SERVING_TOOLS[tool]
    engine = engine or default_engine
    if engine is None:
        raise TraceError(
            f"{p}: SGLang has no bundled engine profile; pass --engine (a profile name such as vllm, the "
            "nearest, or a calibrated profile YAML) to say which profile its rows test"
        )
    _check_refs_once(p, device, model, engine)
    return _import_records(
        _json_records(p, read_text(p)),
        lambda rec, where: _serving_rows(
            rec, where, tool, command, device, quant, model, engine, source, under_load
        ),
        skip_bad,
        f"{p}: no importable {command} results",
    )


def _json_records(p: Path, text: str) -> list[tuple[str, Any]]:
    """One JSON object, or one per line (JSONL). SGLang writes an unbounded request rate as the bare
    token Infinity (Python's json.dumps), which is read as such; NaN and -Infinity are refused."""
    lines = [(i, ln) for i, ln in enumerate(text.splitlines(), start=1) if ln.strip()]
    if not lines:
        raise TraceError(f"{p}: empty file")
    if len(lines) > MAX_RECORDS:
        raise TraceError(f"{p}: more than {MAX_RECORDS:,} lines; split the file")
    single = len(lines) == 1 or not lines[0][1].rstrip().endswith("}")
    if single:
        return [(f"{p}: record 1", _loads(text, str(p)))]
    return [(f"{p}: line {i}", _loads(ln, f"{p}: line {i}")) for i, ln in lines]


def _loads(text: str, where: str) -> Any:
    def constant(name: str) -> float:
        if name != "Infinity":
            raise ValueError(f"{name} is not a number a benchmark result holds")
        return math.inf

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise ValueError("duplicate key")
        return dict(pairs)

    check_depth(text, where)
    try:
        data = json.loads(text, object_pairs_hook=no_duplicates, parse_constant=constant)
    except json.JSONDecodeError as exc:
        return TraceError(f"{where}: line {exc.lineno}: invalid JSON ({exc.msg})")
    except (RecursionError, ValueError) as exc:
        return TraceError(f"{where}: invalid JSON ({str(exc)[:120]})")
    if not isinstance(data, dict):
        return TraceError(f"{where}: expected a benchmark result (a JSON object), got {type(data).__name__}")
    return data


def _positive(r: dict[str, Any], key: str, where: str, hi: float = 1e12) -> float:
    """A finite number within (0, hi] (a count, a time in ms)."""
    v = r.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 < v <= hi:
        what = (
            "is missing"
            if key not in r
            else f"expected a finite number within 0-{hi:g} (above 0), got {_shown(v)}"
        )
        raise TraceError(f"{where}: field {key!r} {what}")
    return float(v)


def _serving_rows(
    r: dict[str, Any],
    where: str,
    tool: str,
    command: str,
    device: str,
    quant: str,
    model: str | None,
    engine: str,
    source: str,
    under_load: bool,
) -> list[E2ERow]:
    rate = r.get("request_rate", "inf")
    if rate not in ("inf", math.inf):
        shown = (
            _shown(rate) if not isinstance(rate, (int, float)) or isinstance(rate, bool) else f"{rate:g}/s"
        )
        raise TraceError(
            f"{where}: field 'request_rate': requests arrive at {shown}, so the batch follows the arrivals "
            "and is no number to model; import closed-loop runs (--request-rate inf --max-concurrency C)"
        )
    cap = r.get("max_concurrency")
    if cap is None:
        raise TraceError(
            f"{where}: field 'max_concurrency' is null: every request started at once and drained, so the "
            "batch was not fixed; import runs with --max-concurrency C"
        )
    if isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= MAX_BATCH:
        raise TraceError(
            f"{where}: field 'max_concurrency': expected a whole number within 1-{MAX_BATCH:,}, "
            f"got {_shown(cap)}"
        )
    for key in ("spec_decode_acceptance_length", "accept_length"):
        if r.get(key) is not None:
            raise TraceError(
                f"{where}: field {key!r}: speculative decoding makes more than one token per step; its "
                "TPOT is no decode step of the model"
            )
    completed = _positive(r, "completed", where)
    prompt = round(_positive(r, "total_input_tokens", where) / completed)
    output = round(_positive(r, "total_output_tokens", where) / completed)
    ttft, tpot = _positive(r, "median_ttft_ms", where, 1e9), _positive(r, "median_tpot_ms", where, 1e9)
    batch = min(cap, int(completed))
    mid = model or _serving_model(r, where)
    lengths = _length_note(r, tool)
    base: dict[str, Any] = {
        "device": device,
        "engine": engine,
        "model": mid,
        "quant": quant,
        "source": source,
        "engine_version": f"{'vLLM' if tool == 'vllm' else 'SGLang'} (backend {_text(r, 'backend', 40)})",
        "backend": _text(r, "backend", 40),
        "date": _text(r, "date", 40),
        "command": f"{command} (max concurrency {cap}, {int(completed)} requests)",
    }
    rows = []
    if batch == 1:
        rows.append(
            E2ERow(
                **base,
                test=f"pp{prompt}",
                depth=0,
                batch=1,
                tokens_per_s=prompt / (ttft / 1e3),
                notes=f"from the median TTFT {ttft:.4g} ms (includes the HTTP round trip){lengths}",
            )
        )
    elif not under_load:
        raise TraceError(
            f"{where}: {batch} requests in flight: TTFT includes queueing and TPOT the prefills of joining "
            f"requests, so neither is a clean step; pass --under-load to import {batch} / TPOT as a tg row "
            f"at batch {batch} (a lower bound on its decode throughput)"
        )
    if output >= 2:
        under = "; under load: a lower bound (TPOT includes joining requests' prefills)" if batch > 1 else ""
        rows.append(
            E2ERow(
                **base,
                test=f"tg{output - 1}",
                depth=prompt,
                batch=batch,
                tokens_per_s=batch / (tpot / 1e3),
                notes=f"from the median TPOT {tpot:.4g} ms at concurrency {batch}{under}{lengths}",
            )
        )
    if not rows:
        raise TraceError(f"{where}: {output} token(s) out per request: no decode step to import")
    return rows


def _serving_model(r: dict[str, Any], where: str) -> str:
    name = r.get("model_id")
    if isinstance(name, str) and name:
        models = aliases()["models"]
        for key in (name, name.rsplit("/", 1)[-1]):
            if key in models:
                return models[key]
    raise TraceError(
        f"{where}: cannot tell the catalog model from {_shown(name) if name else 'the result (no model_id)'};"
        " pass --model ID"
    )


def _length_note(r: dict[str, Any], tool: str) -> str:
    """Whether prompts and outputs were all of one length (the rows use the means)."""
    lens = r.get("input_lens")
    if isinstance(lens, list) and lens and all(isinstance(x, int) for x in lens):
        return "" if min(lens) == max(lens) else f"; prompt lengths {min(lens)}-{max(lens)} (the mean used)"
    if tool == "sglang" and r.get("dataset_name") == "random" and r.get("random_range_ratio") == 1:
        return ""
    return "; lengths per request not recorded: prompt and output lengths are the means"


def read_vllm_latency(
    path: str | Path,
    device: str,
    model: str,
    quant: str,
    batch: int,
    input_len: int,
    output_len: int,
    prefill: str | Path | None = None,
    engine: str = "vllm",
    source: str = "measured here",
) -> list[E2ERow]:
    """Rows of `vllm bench latency --output-json` (vllm/benchmarks/latency.py, commit 00cae0753b8d): the
    mean time `avg_latency` of generating `output_len` tokens for `batch` prompts of `input_len` random
    tokens. The file records neither of the three, so they are given (the command's --batch-size,
    --input-len, --output-len).

    A run with output_len 1 is one prefill step: a pp row at `batch`. A longer run times prefill and
    decode together; it becomes a tg(output_len-1) row from depth input_len only with `prefill`, the
    same command's output_len-1 result, whose time is subtracted (and which gives the pp row)."""
    p = Path(path)
    _check_refs_once(p, device, model, engine)
    for name, v in (("batch", batch), ("input_len", input_len), ("output_len", output_len)):
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_TOKENS:
            raise TraceError(f"{p}: {name}: expected a whole number within 1-{MAX_TOKENS:,}, got {_shown(v)}")
    total, spread = _latency(p)
    base: dict[str, Any] = {
        "device": device,
        "engine": engine,
        "model": model,
        "quant": quant,
        "source": source,
        "engine_version": "vLLM",
    }
    command = f"vllm bench latency --batch-size {batch} --input-len {input_len} --output-len"
    if output_len == 1:
        row = E2ERow(
            **base,
            test=f"pp{input_len}",
            depth=0,
            batch=batch,
            tokens_per_s=batch * input_len / total,
            command=f"{command} 1",
            notes=f"mean latency {total:.4g} s of one prefill step (output length 1)",
        )
        return [check_e2e(row, f"{p}: record 1")]
    if prefill is None:
        raise TraceError(
            f"{p}: output length {output_len} times prefill and decode together; give the same command's "
            "--output-len 1 result (--prefill FILE) to subtract its prefill, or import that run alone"
        )
    q = Path(prefill)
    t_prefill, s_prefill = _latency(q)
    t_decode = total - t_prefill
    noise = 2 * math.hypot(spread, s_prefill)
    if t_decode <= noise:
        raise TraceError(
            f"{p}: {total:.4g} s less the prefill run's {t_prefill:.4g} s ({q}) leaves {t_decode:.4g} s for "
            f"{output_len - 1} decode steps, not above twice the runs' spread ({noise / 2:.3g} s)"
        )
    rows = [
        E2ERow(
            **base,
            test=f"pp{input_len}",
            depth=0,
            batch=batch,
            tokens_per_s=batch * input_len / t_prefill,
            command=f"{command} 1",
            notes=f"mean latency {t_prefill:.4g} s of one prefill step ({q.name})",
        ),
        E2ERow(
            **base,
            test=f"tg{output_len - 1}",
            depth=input_len,
            batch=batch,
            tokens_per_s=batch * (output_len - 1) / t_decode,
            command=f"{command} {output_len}",
            notes=f"derived: mean latency {total:.4g} s less the prefill run's {t_prefill:.4g} s ({q.name})",
        ),
    ]
    return [check_e2e(r, f"{p}: record 1") for r in rows]


def _latency(p: Path) -> tuple[float, float]:
    """(avg_latency, std_latency) in seconds of a `vllm bench latency` result."""
    recs = _json_records(p, read_text(p))
    where, rec = recs[0]
    if isinstance(rec, TraceError):
        raise rec
    if len(recs) != 1:
        raise TraceError(f"{p}: expected one vllm bench latency result, got {len(recs)} records")
    avg = _positive(rec, "avg_latency", where, 1e6)
    std = rec.get("std_latency", 0.0)
    if isinstance(std, bool) or not isinstance(std, (int, float)) or not 0 <= std <= 1e6:
        raise TraceError(
            f"{where}: field 'std_latency': expected a finite number within 0-1e6, got {_shown(std)}"
        )
    lat = rec.get("latencies")
    if lat is not None and (
        not isinstance(lat, list)
        or not lat
        or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and 0 < x <= 1e6 for x in lat)
    ):
        raise TraceError(f"{where}: field 'latencies': expected a list of positive times in seconds")
    return avg, float(std)


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
