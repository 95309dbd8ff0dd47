"""Import llama-batched-bench output as end-to-end trace rows (batched decode).

llama-batched-bench fills `pl` sequences with `pp` prompt tokens each, then decodes `tg` tokens in
every sequence at once (one token per sequence per step) and reports, per (pp, tg, pl):
T_PP/S_PP for the prompt and T_TG/S_TG for the decode, with S_TG = pl * tg / T_TG, the tokens of
all sequences over the decode time. A decode row here is test `tg<tg>`, batch `pl`, depth `pp` (the
tokens each sequence holds when decoding starts) and tokens_per_s = S_TG. With `prompt=True` the
prompt phase becomes a `pp<pp>` row too: batch `pl`, depth 0, tokens_per_s = S_PP (all sequences'
prompt tokens over T_PP).

Both output formats are read: `--output-format jsonl` (one JSON object per configuration) and the
default markdown table (`|    PP |     TG |    B |   N_KV |   T_PP s | S_PP t/s | ...`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from roofline.traces.files import E2ERow, TraceError

_MD_COLS = ("pp", "tg", "pl", "n_kv", "t_pp", "speed_pp", "t_tg", "speed_tg", "t", "speed")
_HEADER = re.compile(r"n_kv_max = (\d+), n_batch = (\d+), n_ubatch = (\d+), flash_attn = (-?\d+).*"
                     r"n_gpu_layers = (-?\d+), n_threads = (\d+), n_threads_batch = (\d+)")  # fmt: skip


def read_batched_bench(text: str, where: str = "llama-batched-bench output") -> list[dict[str, Any]]:
    """The result records of llama-batched-bench output (JSON lines or the markdown table)."""
    recs: list[dict[str, Any]] = []
    settings: dict[str, Any] = {}
    for i, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if s.startswith("{"):
            try:
                recs.append(json.loads(s))
            except json.JSONDecodeError as exc:
                raise TraceError(f"{where}: line {i}: invalid JSON ({exc.msg})") from None
            continue
        m = _HEADER.search(s)
        if m:
            keys = (
                "n_kv_max",
                "n_batch",
                "n_ubatch",
                "flash_attn",
                "n_gpu_layers",
                "n_threads",
                "n_threads_batch",
            )
            settings = dict(zip(keys, map(int, m.groups()), strict=True))
            continue
        if s.startswith("|") and not s.startswith("|-") and "PP" not in s:
            cells = [c.strip() for c in s.strip("|").split("|")]
            if len(cells) != len(_MD_COLS):
                raise TraceError(f"{where}: line {i}: expected {len(_MD_COLS)} columns, got {len(cells)}")
            try:
                vals = [float(c) for c in cells]
            except ValueError:
                raise TraceError(f"{where}: line {i}: not a number in {s!r}") from None
            rec: dict[str, Any] = dict(zip(_MD_COLS, vals, strict=True))
            for k in ("pp", "tg", "pl", "n_kv"):
                rec[k] = int(rec[k])
            recs.append({**settings, **rec})
    if not recs:
        raise TraceError(f"{where}: no llama-batched-bench results (JSON lines or a markdown table)")
    return recs


def import_batched_bench(
    path: str | Path,
    device: str,
    model: str,
    quant: str,
    source: str,
    engine: str = "llama.cpp-cuda",
    engine_version: str = "",
    backend: str = "CUDA",
    date: str = "",
    command: str = "",
    notes: str = "",
    prompt: bool = False,
) -> list[E2ERow]:
    """Trace rows of one llama-batched-bench run of `model` at `quant` (see the module docstring)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"{p}: cannot read ({exc})") from None
    rows = []
    for r in read_batched_bench(text, str(p)):
        threads = str(r.get("n_threads", ""))
        how = (
            f"llama-batched-bench: {r['pl']} sequences x {r['pp']} prompt tokens, then {r['tg']} "
            f"decode steps of one token per sequence; fa {r.get('flash_attn', '')}; "
            f"n_kv_max {r.get('n_kv_max', '')}; n_batch {r.get('n_batch', '')}; "
            f"n_ubatch {r.get('n_ubatch', '')}; ngl {r.get('n_gpu_layers', '')}"
        )
        common = dict(
            device=device, engine=engine, model=model, quant=quant, source=source,
            engine_version=engine_version, backend=backend, threads=threads, date=date, command=command,
        )  # fmt: skip
        rows.append(
            E2ERow(
                test=f"tg{r['tg']}",
                depth=int(r["pp"]),
                batch=int(r["pl"]),
                tokens_per_s=float(r["speed_tg"]),
                notes=f"{how}; tokens_per_s = S_TG = {r['pl']}*{r['tg']}/T_TG (T_TG {r['t_tg']:.4f} s), "
                f"depth = prompt tokens per sequence; {notes}".rstrip("; "),
                **common,
            )
        )
        if prompt:
            rows.append(
                E2ERow(
                    test=f"pp{r['pp']}",
                    depth=0,
                    batch=int(r["pl"]),
                    tokens_per_s=float(r["speed_pp"]),
                    notes=f"{how}; tokens_per_s = S_PP = {r['pl']}*{r['pp']}/T_PP (T_PP {r['t_pp']:.4f} s); "
                    f"{notes}".rstrip("; "),
                    **common,
                )
            )
    return rows
