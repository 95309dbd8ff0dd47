"""Importers: llama-bench output (JSON, JSONL, CSV, markdown) and the public measurement table."""

from __future__ import annotations

import csv
import json
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from roofline.traces.files import E2ERow, TraceError

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
def import_llama_bench(
    path: str | Path,
    device: str,
    model: str | None = None,
    engine: str | None = None,
    source: str = "measured here",
) -> list[E2ERow]:
    """Rows of llama-bench output in any of its formats (-o json|jsonl|csv|md)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"{p}: cannot read ({exc})") from None
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            recs = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TraceError(f"{p}: line {exc.lineno}: invalid JSON ({exc.msg})") from None
    elif stripped.startswith("{"):
        recs = []
        for i, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    recs.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise TraceError(f"{p}: line {i}: invalid JSON line ({exc.msg})") from None
    elif stripped.startswith("|"):
        return _markdown(p, text, device, model, engine, source)
    else:
        recs = list(csv.DictReader(text.splitlines()))
        if not recs or "avg_ts" not in recs[0]:
            raise TraceError(
                f"{p}: not llama-bench output (expected JSON, JSONL, CSV with avg_ts, or a markdown table)"
            )
    return [_from_record(r, p, i, device, model, engine, source) for i, r in enumerate(recs, start=1)]


def _from_record(
    r: dict[str, Any], p: Path, i: int, device: str, model: str | None, engine: str | None, source: str
) -> E2ERow:
    where = f"{p}: record {i}"
    try:
        n_prompt, n_gen = int(r.get("n_prompt", 0)), int(r.get("n_gen", 0))
        depth = int(r.get("n_depth", 0) or 0)
        tps = float(r["avg_ts"])
    except (KeyError, TypeError, ValueError) as exc:
        raise TraceError(f"{where}: missing or bad field ({exc})") from None
    if n_prompt and n_gen:
        raise TraceError(f"{where}: mixed pp+tg tests are not supported")
    test = f"pp{n_prompt}" if n_prompt else f"tg{n_gen}"
    quant = _quant_from_type(str(r.get("model_type", "")), where)
    mid = model or _model_from_params(int(float(r.get("model_n_params", 0) or 0)), where)
    eng = engine or _BACKEND.get(
        str(r.get("backends", r.get("backend", "cpu"))).split(",")[0].strip().lower(), "llama.cpp-cpu"
    )
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
        engine_version=f"llama.cpp {r.get('build_commit', '')} (b{r.get('build_number', '')})",
        backend=str(r.get("backends", "")),
        threads=str(r.get("n_threads", "")),
        date=str(r.get("test_time", "")),
        command=f"llama-bench -m {r.get('model_filename', '')}",
        notes=f"ngl {r.get('n_gpu_layers', '')}; fa {r.get('flash_attn', '')}; "
        f"stddev {r.get('stddev_ts', '')} t/s; cpu {r.get('cpu_info', '')}; gpu {r.get('gpu_info', '')}",
    )


def _quant_from_type(model_type: str, where: str) -> str:
    for desc, q in sorted(_FTYPE.items(), key=lambda kv: -len(kv[0])):
        if model_type.endswith(desc):
            return q
    raise TraceError(f"{where}: cannot tell the quantization from model_type {model_type!r}; pass --quant")


def _model_from_params(n_params: int, where: str) -> str:
    from roofline.specs.catalog import list_ids, load_model

    if n_params <= 0:
        raise TraceError(f"{where}: no model_n_params to match the model; pass --model ID")
    close = [m for m in list_ids("model") if abs(load_model(m).total_params - n_params) <= 0.005 * n_params]
    if len(close) != 1:
        raise TraceError(
            f"{where}: {len(close)} catalog models have ~{n_params / 1e9:.2f} B parameters "
            f"({', '.join(close) or 'none'}); pass --model ID"
        )
    return close[0]


_MD_TEST = re.compile(r"^(pp|tg)(\d+)(?:\s*@\s*d(\d+))?$")


def _markdown(
    p: Path, text: str, device: str, model: str | None, engine: str | None, source: str
) -> list[E2ERow]:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    need = {"model", "test", "t/s"}
    if not need <= set(header):
        raise TraceError(f"{p}: line 1: markdown table needs columns {sorted(need)}, has {header}")
    rows = []
    for i, ln in enumerate(lines[2:], start=3):
        cells = dict(zip(header, (c.strip() for c in ln.strip("|").split("|")), strict=False))
        m = _MD_TEST.match(cells["test"])
        if not m:
            raise TraceError(
                f"{p}: line {i}: cannot read test {cells['test']!r} (expected e.g. pp512 or tg128 @ d2048)"
            )
        tps = cells["t/s"].split("±")[0].strip()
        try:
            value = float(tps)
        except ValueError:
            raise TraceError(f"{p}: line {i}: t/s {cells['t/s']!r} is not a number") from None
        quant = _quant_from_type(cells["model"], f"{p}: line {i}")
        if model is None:
            raise TraceError(f"{p}: the markdown format has no parameter count; pass --model ID")
        backend = cells.get("backend", "CPU")
        rows.append(
            E2ERow(
                device=device,
                engine=engine or _BACKEND.get(backend.split(",")[0].strip().lower(), "llama.cpp-cpu"),
                model=model,
                quant=quant,
                test=f"{m.group(1)}{m.group(2)}",
                depth=int(m.group(3) or 0),
                batch=1,
                tokens_per_s=value,
                source=source,
                backend=backend,
                threads=cells.get("threads", ""),
                command="llama-bench (markdown)",
                notes=f"ngl {cells.get('ngl', '')}",
            )
        )
    return rows


# ---- the public measurement table ----------------------------------------------------------------
def import_public(path: str | Path) -> tuple[list[E2ERow], dict[str, int]]:
    """Rows of shared/data/public_measurements.csv that map to catalog devices, models and engines.
    Returns the rows and a count of skipped rows by reason."""
    al = aliases()
    p = Path(path)
    rows, skipped = [], {}

    def skip(reason: str) -> None:
        skipped[reason] = skipped.get(reason, 0) + 1

    with p.open(newline="", encoding="utf-8") as f:
        for rec in csv.DictReader(f):
            ev, notes = rec["engine_version"], rec["notes"]
            device, model = al["devices"].get(rec["device"]), al["models"].get(rec["model"])
            quant = al["quants"].get(rec["quant"])
            if "vLLM" in ev:
                engine = "vllm"
            elif "MLC" in ev:
                skip("engine without a profile (MLC-LLM)")
                continue
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
                n = rec["n_tokens"] if rec["n_tokens"].isdigit() else "128"
                depth = int(rec["depth_or_context"]) if rec["depth_or_context"].isdigit() else 0
                rows.append(
                    E2ERow(
                        device=device,
                        engine=engine,
                        model=model,
                        quant=quant,
                        test=f"{rec['test']}{n}",
                        depth=depth,
                        batch=int(rec["batch"]),
                        tokens_per_s=float(rec["tokens_per_s"]),
                        source=rec["source_url"],
                        engine_version=ev,
                        backend=rec["backend"],
                        threads=rec["threads_or_ngl"],
                        command="",
                        notes=(
                            f"as reported: {rec['device']} / {rec['model']} / "
                            f"{rec['quant']}"
                            + ("" if rec["n_tokens"].isdigit() else "; N not stated, tg128 assumed")
                            + f"; {notes}"
                        )[:400],
                    )
                )
    return rows, skipped
