"""`roofline probe llama.cpp`: generate GGUF probe models, quantize them, run llama-bench, import
the results as traces with full provenance, and delete the GGUF files unless asked to keep them."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from roofline.errors import RooflineError
from roofline.llamacpp.gguf_writer import write_gguf
from roofline.specs.catalog import load_model
from roofline.specs.model import Model
from roofline.specs.quant import check_quant, file_size
from roofline.traces.files import E2ERow
from roofline.traces.importers import import_llama_bench


def _run(cmd: list[str], what: str, timeout: float | None = None) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise RooflineError(
            f"{what}: {cmd[0]} not found (build it with scripts/build_llama_cpp.sh)"
        ) from None
    except subprocess.TimeoutExpired:
        raise RooflineError(f"{what}: timed out after {timeout} s") from None
    if r.returncode != 0:
        tail = (r.stderr or r.stdout)[-1500:]
        raise RooflineError(f"{what} failed (exit {r.returncode}):\n{tail}")
    return r.stdout


def llama_cpp_version(llama_bench: str) -> str:
    info = Path(llama_bench).resolve().parent.parent / "BUILD-INFO"
    if info.is_file():  # written by scripts/build_llama_cpp.sh
        return "; ".join(info.read_text().splitlines()[:2])
    try:
        r = subprocess.run([llama_bench, "--version"], capture_output=True, text=True, timeout=30)
        return (r.stdout + r.stderr).strip().splitlines()[0] if (r.stdout + r.stderr).strip() else "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def run_probe(
    models: list[Model | str],
    quants: list[str],
    llama_bench: str,
    llama_quantize: str,
    device: str,
    out_dir: Path,
    tests: tuple[str, ...] = ("pp512", "tg128"),
    depths: tuple[int, ...] = (0,),
    reps: int = 3,
    threads: int | None = None,
    n_gpu_layers: int = 0,
    keep: bool = False,
    workdir: Path | None = None,
    progress: Any = None,
    timeout: float | None = 3600,
    on_rows: Any = None,
    raw_stem: str | None = None,
) -> list[E2ERow]:
    """Bench each (model, quant); returns the trace rows. llama-bench's JSON is kept in `out_dir` as
    `<raw_stem>.<model>.<quant>.llama-bench.json` (raw_stem defaults to the device), so sweeps given
    different stems do not overwrite each other's raw files."""
    specs = [m if isinstance(m, Model) else load_model(m) for m in models]
    quants = [check_quant(q) for q in quants]
    work = Path(workdir or tempfile.mkdtemp(prefix="roofline-probe-"))
    work.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    need = max(file_size(m, "F16") + max(file_size(m, q) for q in quants) for m in specs)
    free = shutil.disk_usage(work).free
    if free < 1.2 * need:
        raise RooflineError(
            f"{work}: {free / 2**30:.1f} GiB free, the largest probe needs {need / 2**30:.1f} GiB"
        )
    version = llama_cpp_version(llama_bench)
    threads = threads or 2
    rows: list[E2ERow] = []
    pp = sorted({int(t[2:]) for t in tests if t.startswith("pp")})
    tg = sorted({int(t[2:]) for t in tests if t.startswith("tg")})
    steps = [(m, q) for m in specs for q in quants]
    for i, (m, q) in enumerate(steps):
        if progress:
            progress(i, len(steps), f"{m.id} {q}: writing F16 GGUF")
        f16 = work / f"{m.id}-F16.gguf"
        if not f16.exists():  # written under a temporary name: a stopped run leaves no half file
            part = f16.with_name(f16.name + ".partial")
            write_gguf(m, part)
            part.replace(f16)
        qpath = work / f"{m.id}-{q}.gguf"
        if q != "F16" and not qpath.exists():
            if progress:
                progress(i, len(steps), f"{m.id} {q}: llama-quantize")
            part = qpath.with_name(qpath.name + ".partial")
            # quantizing is not what is measured: it uses every core
            cmd_q = [llama_quantize, str(f16), str(part), q, str(os.cpu_count() or threads)]
            _run(cmd_q, f"llama-quantize {m.id} {q}", timeout)
            part.replace(qpath)
        target = f16 if q == "F16" else qpath
        if progress:
            progress(i, len(steps), f"{m.id} {q}: llama-bench")
        cmd = [
            llama_bench,
            "-m",
            str(target),
            "-t",
            str(threads),
            "-r",
            str(reps),
            "-o",
            "json",
            "-ngl",
            str(n_gpu_layers),
            "-d",
            ",".join(map(str, depths)),
        ]
        cmd += ["-p", ",".join(map(str, pp)) if pp else "0", "-n", ",".join(map(str, tg)) if tg else "0"]
        raw = _run(cmd, f"llama-bench {m.id} {q}", timeout)
        raw_path = out_dir / f"{raw_stem or device}.{m.id}.{q}.llama-bench.json"
        recs = [r for r in json.loads(raw) if (r.get("n_prompt", 0) > 0) != (r.get("n_gen", 0) > 0)]
        raw_path.write_text(json.dumps(recs, indent=1))
        source = (
            f"measured here: {device} ({platform.node()}), {version}, "
            f"`{' '.join(Path(c).name if c == cmd[0] else c for c in cmd)}`"
        )
        new = import_llama_bench(
            raw_path, device, model=m.id if _in_catalog(m) else _spec_path(m, out_dir), source=source
        )
        rows += new
        if on_rows:
            on_rows(rows)  # save as we go: a long sweep that is stopped keeps what it measured
        if not keep:
            if q != "F16":
                qpath.unlink(missing_ok=True)
            if q == quants[-1]:
                f16.unlink(missing_ok=True)
    if not keep and workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def _in_catalog(m: Model) -> bool:
    try:
        return load_model(m.id).total_params == m.total_params
    except RooflineError:
        return False


def _spec_path(m: Model, out_dir: Path) -> str:
    """Probe models are not in the catalog: their spec is written beside the traces and referenced."""
    path = out_dir / "probe_specs" / f"{m.id}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(m.model_dump(mode="json", exclude_defaults=False), sort_keys=False))
    return str(path)
