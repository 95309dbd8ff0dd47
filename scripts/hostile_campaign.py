"""Hostile-input campaign: thousands of mangled inputs through the CLI, each outcome classified.

    python scripts/hostile_campaign.py [--runs 2400] [--seed 14] [--workers 2] [--out campaign.json]

Every run is one command of the `roofline` CLI, invoked in-process (click's CliRunner) in a worker
process, on an input built by one of the classes of issue 14: mutated device/model/engine YAML,
options, llama-bench JSON/JSONL/CSV/markdown, the public CSV, config.json, output paths, calibration
traces, and loader attacks (alias bombs, deep nesting, oversized files, duplicate keys). Outcomes:

- ok: exit 0, and every number in its output (JSON printed or file written) finite and not negative,
  the file written readable back (a trace by `read_e2e`, a model spec by the schema);
- bad_success: exit 0 with NaN, infinite or negative numbers, or a written file that does not read back;
- nonsense_accepted: exit 0 on an input the issue lists as nonsense (it must be refused);
- rejected: exit 2 with a message naming the input (the file's name, or the option);
- rejected_unnamed: exit 2, but the message names neither;
- traceback: any other exception or exit code;
- hang: no answer within the per-case limit (the worker is killed and restarted).

This is a campaign, not a test: it reports counts and the first examples of each failure.
"""

from __future__ import annotations

import argparse
import collections
import copy
import json
import math
import multiprocessing as mp
import os
import random
import re
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEVICES = ["jetson-orin-nano-8gb", "apple-m2-pro", "h200-sxm-141gb", "raspberry-pi-5-8gb"]
MODELS = ["olmoe-1b-7b", "llama-3.2-1b", "deepseek-v2-lite", "gemma-2-2b"]
CASE_SECONDS = 20  # a case slower than this is a hang (alarm in the worker)
HARD_SECONDS = 45  # the worker is killed if it does not answer by then

HOSTILE_VALUES = [
    "",
    "0",
    "-1",
    "1e400",
    "9" * 400,
    ".nan",
    ".inf",
    "-.inf",
    "null",
    "~",
    "true",
    "[1, 2]",
    "{a: 1}",
    "'68 GB'",
    "TB/s",
    "3,35 TB/s",
    "1,000 GB/s",
    "1_000 GB/s",
    "0 GB/s",
    "1e-300 GB/s",
    "1e300 GB/s",
    "1e-300 TFLOPS",
    "1e300 TFLOPS",
    "0 TFLOPS",
    "100 TiB",
    "1e300 GiB",
    "0 GiB",
    "10**10**10 GB/s",
    "(2+3) GB/s",
    "68 GB/s * 1e300",
    "68 GB/s/s*s",
    "5 us",
    "1e9 s",
    "-5 W",
    "1e12 W",
    "nan GB/s",
    "inf W",
    "68 GBps",
    "68",
    "abc",
    "&a x",
    "*a",
    "!!binary eA==",
    "!!python/object/apply:os.system ['true']",
    "0x10",
    "1e7",
    "10000000",
    "\x00",
    "é",
    "'" + "x" * 5000 + "'",
]
HOSTILE_OPTION_VALUES = [
    "",
    "0",
    "-1",
    "-5",
    "nan",
    "inf",
    "-inf",
    "1e400",
    "1" * 400,
    "1" * 5000,
    "1e-300",
    "1e300",
    "0.5",
    "abc",
    ",",
    ",,",
    "1,,2",
    "x" * 300,
    "x" * 5000,
    "../../etc/passwd",
    "/dev/zero",
    "/dev/null",
    "\u00e9\u00e9",
    "INT4-G0",
    "INT4-G99999999999",
    "tg0",
    "pp" + "1" * 400,
    "tg-1",
    "Q4_K_M",
    "true",
]


# ---- running one case --------------------------------------------------------------------------
class Hang(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise Hang()


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    """Run the case's command in-process; classify its outcome."""
    from click.testing import CliRunner

    from roofline.cli import main
    from roofline.specs import catalog

    spec_dirs = list(catalog._extra_dirs)  # --spec-dir adds to them for the process: undone after
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CASE_SECONDS)
    t0 = time.perf_counter()
    try:
        result = CliRunner().invoke(main, case["args"], catch_exceptions=True)
        signal.alarm(0)
    except Hang:
        return {"outcome": "hang", "detail": f"over {CASE_SECONDS} s", "seconds": CASE_SECONDS}
    finally:
        signal.alarm(0)
        catalog._extra_dirs[:] = spec_dirs
    seconds = time.perf_counter() - t0
    exc = result.exception
    output = result.output
    if isinstance(exc, Hang):
        return {"outcome": "hang", "detail": f"over {CASE_SECONDS} s", "seconds": seconds}
    if result.exit_code == 0:
        outcome, detail = _check_success(case, result.stdout)
    elif result.exit_code == 2 and (exc is None or isinstance(exc, SystemExit)):
        named = any(n and n.lower() in output.lower() for n in case.get("names", []))
        outcome, detail = ("rejected" if named else "rejected_unnamed"), output.strip()[-300:]
    else:
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)) if exc else output
        outcome, detail = "traceback", tb[-1500:]
    return {"outcome": outcome, "detail": detail, "seconds": seconds}


def _bad_numbers(obj: Any, path: str = "") -> list[str]:
    if isinstance(obj, dict):
        return [b for k, v in obj.items() for b in _bad_numbers(v, f"{path}.{k}")]
    if isinstance(obj, list):
        return [b for i, v in enumerate(obj) for b in _bad_numbers(v, f"{path}[{i}]")]
    if isinstance(obj, bool):
        return []
    if isinstance(obj, (int, float)) and (not math.isfinite(obj) or obj < 0):
        if "residual" in path:  # calibration residuals are signed by nature
            return []
        return [f"{path}={obj!r}"]
    return []


def _check_success(case: dict[str, Any], stdout: str) -> tuple[str, str]:
    if case.get("nonsense"):
        return "nonsense_accepted", case["nonsense"]
    check = case.get("check", "none")
    try:
        if check == "json":
            bad = _bad_numbers(json.loads(stdout))
            if bad:
                return "bad_success", ", ".join(bad[:3])
        elif check == "text":
            if re.search(r"\bnan\b|\binf\b|-\d+(\.\d+)? tokens/s", stdout, re.IGNORECASE):
                return "bad_success", stdout[:300]
        elif check == "trace":
            from roofline.traces.files import read_e2e

            out = Path(case["output"])
            if case.get("stdout_json"):
                rows = json.loads(stdout)
                bad = _bad_numbers(rows)
                if bad or not rows:
                    return "bad_success", ", ".join(bad[:3]) or "no rows"
            elif out.exists():
                rows = read_e2e(out)
                bad = [r for r in rows if not (0 < r.tokens_per_s < math.inf) or r.depth < 0]
                if bad or not rows:
                    return "bad_success", f"{len(bad)} bad rows"
        elif check == "model_spec":
            from roofline.specs.catalog import validate
            from roofline.specs.model import Model

            text = Path(case["output"]).read_text() if case.get("output") else stdout
            validate(yaml.safe_load(text), Model, "imported")
        elif check == "profile":
            from roofline.model.engine import load_engine
            from roofline.model.profile_checks import check_profile

            check_profile(load_engine(case["output"]), case["output"])
        elif check == "csv":
            out = Path(case["output"])
            if out.exists():
                import csv

                for rec in csv.DictReader(out.open()):
                    v = rec.get("tokens_per_second")
                    if v not in ("", None) and not 0 < float(v) < math.inf:
                        return "bad_success", f"tokens_per_second={v}"
    except Exception as exc:  # the output does not read back: a success that is not one
        return "bad_success", f"output does not read back: {type(exc).__name__}: {str(exc)[:200]}"
    return "ok", ""


def _worker(conn: Any) -> None:
    os.chdir(ROOT)
    while True:
        case = conn.recv()
        if case is None:
            return
        try:
            conn.send(run_case(case))
        except BaseException as exc:  # the harness itself must not die
            conn.send({"outcome": "traceback", "detail": f"harness: {exc!r}", "seconds": 0.0})


class Pool:
    """Workers that each run one case at a time; a worker that does not answer is killed."""

    def __init__(self, n: int) -> None:
        self.ctx = mp.get_context("fork")
        self.slots = [self._start() for _ in range(n)]

    def _start(self) -> tuple[Any, Any]:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_worker, args=(child,), daemon=True)
        proc.start()
        return proc, parent

    def run(self, cases: list[dict[str, Any]], progress: bool = True) -> list[dict[str, Any]]:
        results: list[dict[str, Any] | None] = [None] * len(cases)
        pending = list(range(len(cases)))[::-1]
        busy: dict[int, tuple[int, float]] = {}
        done = 0
        while pending or busy:
            for s, (_, conn) in enumerate(self.slots):
                if s not in busy and pending:
                    i = pending.pop()
                    conn.send(cases[i])
                    busy[s] = (i, time.monotonic())
            time.sleep(0.002)
            for s, (i, started) in list(busy.items()):
                proc, conn = self.slots[s]
                if conn.poll():
                    results[i] = conn.recv()
                elif time.monotonic() - started > HARD_SECONDS or not proc.is_alive():
                    proc.kill()
                    proc.join()
                    why = "killed" if proc.exitcode is None or proc.exitcode < 0 else f"exit {proc.exitcode}"
                    results[i] = {"outcome": "hang", "detail": f"worker {why}", "seconds": HARD_SECONDS}
                    self.slots[s] = self._start()
                else:
                    continue
                del busy[s]
                done += 1
                if progress and done % 100 == 0:
                    print(f"  {done}/{len(cases)}", file=sys.stderr)
        for proc, conn in self.slots:
            conn.send(None)
            proc.join(timeout=5)
        return [r for r in results if r is not None]


# ---- building cases ----------------------------------------------------------------------------
class Builder:
    def __init__(self, tmp: Path, rng: random.Random) -> None:
        self.tmp, self.rng, self.n = tmp, rng, 0
        self.cases: list[dict[str, Any]] = []

    def path(self, stem: str, suffix: str) -> Path:
        self.n += 1
        d = self.tmp / f"c{self.n:05d}"
        d.mkdir()
        return d / f"{stem}{suffix}"

    def add(self, cls: str, args: list[Any], names: list[str], **kw: Any) -> None:
        """A case; its rejection must name one of `names` or of the files and paths it was given."""
        args = [str(a) for a in args]
        given = [Path(a).name for a in args if "/" in a and len(a) < 300]  # files and paths given
        # a spec's id is its file's stem (the loader enforces it): naming the id names the file
        given += [Path(a).stem for a in args if "/" in a and a.endswith(".yaml") and len(a) < 300]
        self.cases.append({"class": cls, "args": args, "names": [*names, *given], **kw})


def _mutate_lines(text: str, rng: random.Random, values: list[str]) -> str:
    lines = text.splitlines()
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(lines))
        op = rng.choice(["value", "value", "value", "drop", "dup", "cut", "indent"])
        if op == "value" and ":" in lines[i]:
            key = lines[i].split(":", 1)[0]
            lines[i] = f"{key}: {rng.choice(values)}"
        elif op == "drop" and len(lines) > 1:
            lines.pop(i)
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "cut":
            lines[i] = lines[i][: rng.randint(0, len(lines[i]))]
        elif op == "indent":
            lines[i] = "  " + lines[i]
    return "\n".join(lines) + "\n"


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = re.split(r"\.|\[(\d+)\]", dotted)
    keys = [int(p) if p.isdigit() else p for p in parts if p]
    obj: Any = data
    for k in keys[:-1]:
        obj = obj[k]
    obj[keys[-1]] = value


DEVICE_NONSENSE = [
    ("memory[0].bandwidth.value", "TB/s", "bandwidth without a number"),
    ("memory[0].bandwidth.value", "3,35 TB/s", "decimal comma"),
    ("memory[0].bandwidth.value", "1,000 GB/s", "thousands separator"),
    ("memory[0].bandwidth.value", "0 GB/s", "zero bandwidth"),
    ("memory[0].bandwidth.value", "1e-300 GB/s", "near-zero bandwidth"),
    ("memory[0].bandwidth.value", "1e300 GB/s", "absurd bandwidth"),
    ("memory[0].capacity.value", "1e300 GiB", "absurd capacity"),
    ("memory[0].capacity.value", "0 GiB", "zero capacity"),
    ("processors[0].matrix.fp16.value", "0 TFLOPS", "zero peak"),
    ("processors[0].matrix.fp16.value", "1e300 TFLOPS", "absurd peak"),
    ("processors[0].vector.fp32.value", "1e-300 TFLOPS", "near-zero peak"),
    ("processors[0].caches[0].capacity.value", "100 TiB", "cache larger than main memory"),
    ("power.idle", {"value": "5000 W", "source": "x y"}, "idle power above max"),
    ("power.max.value", "0 W", "zero max power"),
    ("processors[0].launch_latency.value", "1e9 s", "absurd launch latency"),
    ("memory[0].bandwidth.value", 10**400, "integer past float range"),
]
MODEL_NONSENSE = [
    ("n_layers", 10_000_000, "ten million layers"),
    ("n_layers", 10**400, "integer past float range"),
    ("d_model", 10**12, "absurd width"),
    ("vocab_size", 0, "zero vocabulary"),
    ("attention.n_heads", 0, "zero heads"),
    ("moe.n_experts", 10**9, "a billion experts"),
    ("moe.top_k", 0, "zero experts per token"),
    ("attention.sliding_window", "4096", "string window"),
]


def device_cases(b: Builder, n: int) -> None:
    names = ["jetson-orin-nano-8gb", "h200-sxm-141gb", "apple-m2-pro"]
    for k in range(n):
        src = ROOT / "hardware_specs" / f"{b.rng.choice(names)}.yaml"
        nonsense = None
        if k % 4 == 0:
            data = yaml.safe_load(src.read_text())
            field, value, nonsense = DEVICE_NONSENSE[(k // 4) % len(DEVICE_NONSENSE)]
            try:
                _set(data, field, value)
            except (KeyError, IndexError, TypeError):
                continue
            text = yaml.safe_dump(data, sort_keys=False)
        else:
            text = _mutate_lines(src.read_text(), b.rng, HOSTILE_VALUES)
        p = b.path(src.stem, ".yaml")
        p.write_text(text)
        cmd = b.rng.choice(["check", "predict", "predict", "compare", "show", "sweep", "crossover"])
        model = b.rng.choice(MODELS)
        args = {
            "check": (["specs", "check", p], "none"),
            "show": (["specs", "show", p, "--json"], "json"),
            "predict": (["predict", "--device", p, "--model", model, "--json"], "json"),
            "compare": (["compare", "--device", p, "olmoe-1b-7b", "llama-3.2-1b", "--json"], "json"),
            "sweep": (
                [
                    "sweep",
                    "--devices",
                    p,
                    "--models",
                    model,
                    "--batch",
                    "1,16",
                    "--depth",
                    "0,4096",
                    "--json",
                ],
                "json",
            ),
            "crossover": (
                ["crossover", "--device", p, "olmoe-1b-7b", "llama-3.2-1b", "--vary", "batch", "--json"],
                "json",
            ),
        }[cmd]
        b.add("device-yaml", args[0], [p.name], check=args[1], nonsense=nonsense)


def model_cases(b: Builder, n: int) -> None:
    for k in range(n):
        src = ROOT / "model_specs" / f"{b.rng.choice(MODELS)}.yaml"
        nonsense = None
        if k % 5 == 0:
            data = yaml.safe_load(src.read_text())
            field, value, nonsense = MODEL_NONSENSE[(k // 5) % len(MODEL_NONSENSE)]
            try:
                _set(data, field, value)
            except (KeyError, IndexError, TypeError):
                continue
            text = yaml.safe_dump(data, sort_keys=False)
        else:
            text = _mutate_lines(
                src.read_text(), b.rng, HOSTILE_VALUES + ["0", "1", "2", "7", "65536", "1000000"]
            )
        p = b.path(src.stem, ".yaml")
        p.write_text(text)
        cmd = b.rng.choice(["check", "predict", "predict", "show", "explain"])
        device = b.rng.choice(DEVICES)
        args = {
            "check": (["specs", "check", p], "none"),
            "show": (["specs", "show", p, "--json"], "json"),
            "predict": (
                ["predict", "--device", device, "--model", p, "--json", "--routing-skew", "1"],
                "json",
            ),
            "explain": (["explain", "--device", device, "--model", p, "--json"], "json"),
        }[cmd]
        b.add("model-yaml", args[0], [p.name], check=args[1], nonsense=nonsense)


ENGINE_NONSENSE = [
    ("bandwidth_efficiency", 1e-300, "near-zero efficiency"),
    ("compute_efficiency", 1e-300, "near-zero efficiency"),
    ("per_step_overhead", 1e300, "absurd overhead"),
    ("kernel_overhead", 1e12, "absurd overhead"),
    ("kernel_overhead_scale", 1e300, "absurd overhead scale"),
    ("activation_bytes", 1e300, "absurd activation size"),
    ("ubatch", 10**12, "absurd ubatch"),
    ("kernels.norms", 1e300, "absurd kernel count"),
]


def _calibration_mutations(cal: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    cal = copy.deepcopy(cal)
    op = rng.randrange(8)
    key = rng.choice(sorted(cal))
    if op == 0:
        cal.pop(key)
    elif op == 1:
        cal[key] = rng.choice([None, 1, "x", [], {}, [1], float("nan")])
    elif op == 2:
        cal["covariance"] = [[1.0]]
    elif op == 3:
        cal["free_parameters"] = ["no_such_parameter"]
    elif op == 4:
        cal["fitted"] = {}
    elif op == 5:
        cal["batch_range"] = [1]
    elif op == 6:
        cal["residual_sigma_log"] = -1
    else:
        cal["devices"] = "h200"
    return cal


def engine_cases(b: Builder, n: int) -> None:
    plain = ROOT / "roofline" / "engines" / "llama.cpp-cuda.yaml"
    calibrated = ROOT / "validation" / "profiles" / "llama.cpp-cuda.h200-sxm-141gb.yaml"
    for k in range(n):
        nonsense = None
        if k % 3 == 0:
            data = yaml.safe_load(calibrated.read_text())
            data["calibration"] = _calibration_mutations(data["calibration"], b.rng)
            text = yaml.safe_dump(data, sort_keys=False)
        elif k % 3 == 1:
            data = yaml.safe_load(plain.read_text())
            field, value, nonsense = ENGINE_NONSENSE[(k // 3) % len(ENGINE_NONSENSE)]
            _set(data, field, value)
            text = yaml.safe_dump(data, sort_keys=False)
        else:
            text = _mutate_lines(plain.read_text(), b.rng, HOSTILE_VALUES + ["1e-300", "1e300", "0.5"])
        p = b.path("profile", ".yaml")
        p.write_text(text)
        opt = b.rng.choice(["--engine", "--profile"])
        cmd = b.rng.choice(["predict", "predict", "compare", "sweep"])
        if cmd == "predict":
            args = [
                "predict",
                "--device",
                "h200-sxm-141gb",
                "--model",
                b.rng.choice(MODELS),
                opt,
                p,
                "--json",
            ]
        elif cmd == "compare":
            args = ["compare", "--device", "h200-sxm-141gb", "olmoe-1b-7b", "llama-3.2-1b", opt, p, "--json"]
        else:
            args = [
                "sweep",
                "--devices",
                "h200-sxm-141gb",
                "--models",
                "olmoe-1b-7b",
                "--engine",
                p,
                "--json",
            ]
        b.add("engine-yaml", args, [p.name], check="json", nonsense=nonsense)


def option_cases(b: Builder, n: int) -> None:
    numeric = {
        "predict": ["--batch", "--depth", "--routing-skew", "--locality", "--test", "--quant", "--kv-dtype"],
        "crossover": ["--lo", "--hi", "--batch", "--depth", "--test"],
        "sweep": ["--batch", "--depth", "--devices", "--models", "--quants", "--test"],
        "compare": ["--batch", "--depth", "--routing-skew", "--test", "--engine"],
        "explain": ["--batch", "--depth", "--test", "--quant"],
    }
    for _ in range(n):
        cmd = b.rng.choice(sorted(numeric))
        opts: dict[str, str] = {}
        for _ in range(b.rng.randint(1, 2)):
            opts[b.rng.choice(numeric[cmd])] = b.rng.choice(HOSTILE_OPTION_VALUES)
        dev, m1, m2 = b.rng.choice(DEVICES), b.rng.choice(MODELS), b.rng.choice(MODELS)
        if b.rng.random() < 0.15:
            dev = b.rng.choice(["x" * 300, "", "no-such-device", "/etc/passwd", "a/" * 200])
        base = {
            "predict": ["predict", "--device", dev, "--model", m1, "--json"],
            "crossover": [
                "crossover",
                "--device",
                dev,
                m1,
                m2,
                "--vary",
                b.rng.choice(["batch", "depth", "bandwidth"]),
                "--json",
            ],
            "sweep": ["sweep", "--devices", dev, "--models", m1, "--json"],
            "compare": ["compare", "--device", dev, m1, m2, "--json"],
            "explain": ["explain", "--device", dev, "--model", m1, "--json"],
        }[cmd]
        args = base + [x for kv in opts.items() for x in kv]
        # a rejection names the bad option (or its value), or the device or model it cannot run
        names = [k.lstrip("-").rstrip("s") for k in opts] + [k.lstrip("-").replace("-", " ") for k in opts]
        names += [dev, m1, m2] + [v[:40] for v in opts.values() if len(v) >= 2]
        if dev not in DEVICES:
            names.append("device")
        b.add("options", args, [n for n in names if n], check="json")


def _llama_bench_records() -> list[dict[str, Any]]:
    return json.loads((ROOT / "tests" / "data" / "llama_bench" / "example.json").read_text())


def _mangle_record(r: dict[str, Any], rng: random.Random) -> Any:
    r = dict(r)
    op = rng.randrange(10)
    key = rng.choice(sorted(r))
    bad = rng.choice(
        [
            None,
            "",
            "nan",
            "NaN",
            float("nan"),
            -1,
            0,
            1e400,
            10**400,
            "1e400",
            [],
            {},
            True,
            "x",
            -96.3,
            1e30,
            "96,3",
        ]
    )
    if op == 0:
        return rng.choice([[], "record", 42, None])
    if op == 1:
        r.pop(key)
    elif op == 2:
        r[key] = bad
    elif op == 3:
        r["avg_ts"] = bad
    elif op == 4:
        r["n_gen"], r["n_prompt"] = rng.choice([(0, 0), (-1, 0), (0, -5), (128, 512), ("x", 0), (10**12, 0)])
    elif op == 5:
        r["n_depth"] = rng.choice([-1, "x", 1e400, 10**12, 2.5])
    elif op == 6:
        r["model_n_params"] = rng.choice([0, -1, "x", 1e400, 10**30])
    elif op == 7:
        r["model_type"] = rng.choice(["", 3, "llama 1B Q9_Z", None])
    elif op == 8:
        r["backends"] = rng.choice([None, 5, "", "fpga"])
    else:
        r[key] = "x" * 10_000
    return r


def llama_bench_cases(b: Builder, n: int) -> None:
    recs = _llama_bench_records()
    base = ROOT / "tests" / "data" / "llama_bench"
    for _ in range(n):
        fmt = b.rng.choice(["json", "json", "jsonl", "csv", "md"])
        p = b.path("bench", f".{fmt}")
        if fmt in ("json", "jsonl"):
            data = [
                _mangle_record(r, b.rng) if b.rng.random() < 0.6 else r for r in recs * b.rng.randint(1, 3)
            ]
            if fmt == "json":
                text = json.dumps(data, allow_nan=True)
                if b.rng.random() < 0.2:
                    text = _mutate_text(text, b.rng)
            else:
                text = "\n".join(json.dumps(r, allow_nan=True) for r in data)
        else:
            text = _mutate_lines((base / f"example.{fmt}").read_text(), b.rng, HOSTILE_OPTION_VALUES)
            if fmt == "md" and b.rng.random() < 0.5:
                lines = text.splitlines()
                i = b.rng.randrange(2, len(lines)) if len(lines) > 2 else 0
                lines[i] = "| " + " | ".join(lines[i].strip("|").split("|")[: b.rng.randint(0, 4)]) + " |"
                text = "\n".join(lines)
        p.write_text(text)
        args = ["traces", "import", "llama-bench", p, "--device", b.rng.choice(DEVICES)]
        names = [p.name]
        if fmt == "md" or b.rng.random() < 0.2:
            model = b.rng.choice(["llama-3.2-1b", "no-such-model", "x" * 300])
            args += ["--model", model]
            names += ["--model", model[:40]]  # a bad --model is named as the option or by its value
        if b.rng.random() < 0.3:
            args += ["--skip-bad"]
        out = p.with_name("out.csv")
        stdout_json = b.rng.random() < 0.4
        if not stdout_json:
            args += ["-o", out]
        b.add("llama-bench", args, names, check="trace", output=str(out), stdout_json=stdout_json)


def _mutate_text(text: str, rng: random.Random) -> str:
    i = rng.randrange(len(text))
    return (
        text[:i]
        + rng.choice(["", "{", "]", '"', ",", "\x00", "NaN", "1e400"])
        + text[i + rng.randint(0, 5) :]
    )


def public_cases(b: Builder, n: int, public: Path) -> None:
    lines = public.read_text().splitlines()
    header, body = lines[0], lines[1:]
    for _ in range(n):
        rows = b.rng.sample(body, min(len(body), 12))
        text = "\n".join([header, *rows]) + "\n"
        op = b.rng.randrange(5)
        if op == 0:
            text = text.replace("tokens_per_s", "tps", 1)  # wrong columns
        elif op == 1:
            text = _mutate_lines(text, b.rng, ["nan", "-1", "0", "1e400", "x", ",,,,", '"', "\x00"])
        else:
            cells = [line.split(",") for line in text.splitlines()]
            i = b.rng.randrange(1, len(cells))
            j = b.rng.randrange(len(cells[i]))
            cells[i][j] = b.rng.choice(["nan", "-5", "0", "1e400", "", "x", "inf", "1" * 400])
            text = "\n".join(",".join(c) for c in cells) + "\n"
        p = b.path("public", ".csv")
        p.write_text(text)
        out = p.with_name("out.csv")
        args = ["traces", "import", "public", p, "-o", out] + (["--skip-bad"] if b.rng.random() < 0.4 else [])
        b.add("public-csv", args, [p.name], check="trace", output=str(out))


CONFIG_NONSENSE = [
    ({"tie_word_embeddings": "false"}, "'false' as a string"),
    ({"num_attention_heads": 0}, "zero heads"),
    ({"num_key_value_heads": 0}, "zero KV heads"),
    ({"hidden_act": ["silu"]}, "list activation"),
    ({"sliding_window": "4096"}, "string window"),
    ({"num_hidden_layers": "16"}, "string layer count"),
    ({"num_hidden_layers": 10**7}, "ten million layers"),
    ({"head_dim": 0}, "zero head_dim"),
]


def config_cases(b: Builder, n: int) -> None:
    configs = sorted((ROOT / "tests" / "data" / "hf_configs").glob("*.json"))
    for k in range(n):
        src = b.rng.choice(configs)
        cfg = json.loads(src.read_text())
        nonsense = None
        if k % 3 == 0:
            upd, nonsense = CONFIG_NONSENSE[(k // 3) % len(CONFIG_NONSENSE)]
            (cfg["text_config"] if isinstance(cfg.get("text_config"), dict) else cfg).update(upd)
        else:
            for _ in range(b.rng.randint(1, 3)):
                key = b.rng.choice(sorted(cfg))
                cfg[key] = b.rng.choice(
                    [None, 0, -1, "x", "false", [1], {}, 1e400, 10**400, True, 2.5, 10**7, "silu"]
                )
        text = json.dumps(cfg, allow_nan=True)
        if b.rng.random() < 0.1:
            text = _mutate_text(text, b.rng)
        p = b.path("config", ".json")
        p.write_text(text)
        out = p.with_name("model.yaml")
        to_file = b.rng.random() < 0.5
        args = ["model", "import", p] + (["-o", out] if to_file else [])
        b.add(
            "config-json",
            args,
            [p.name],
            check="model_spec",
            output=str(out) if to_file else None,
            nonsense=nonsense,
        )


def loader_cases(b: Builder) -> None:
    """Alias bombs, deep nesting, oversized files and duplicate keys, through every reader."""
    bomb = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    device = (ROOT / "hardware_specs" / "jetson-orin-nano-8gb.yaml").read_text()
    model = (ROOT / "model_specs" / "olmoe-1b-7b.yaml").read_text()
    bigs = {
        "bomb": bomb + "n_layers: *i\n",
        "bomb_in_spec": model.replace("n_layers: 16", "n_layers: 16\nnotes2: *x").replace(
            "notes: >-", "notes: &x >-"
        ),
        "deep_flow": "n_layers: " + "[" * 20000 + "]" * 20000 + "\n",
        "deep_block": "".join("  " * i + f"k{i}:\n" for i in range(300)),
        "dup_key": model + "n_layers: 17\n",
        "dup_nested": device.replace("  max:\n", "  max:\n    value: 1 W\n", 1),
        "huge": "x:\n" + "- 1\n" * 3_000_000,
        "merge": "base: &b {n_layers: 2}\nother:\n  <<: *b\n",
        "bigint": "n_layers: " + "9" * 5000 + "\n",
        "binary": "\x00\x01\x02\xff\xfe",
        "empty": "",
    }
    for name, text in bigs.items():
        for cmd in (
            ["specs", "check"],
            ["specs", "show"],
            ["predict", "--device", "apple-m2-pro", "--model"],
            ["predict", "--model", "llama-3.2-1b", "--device"],
            ["predict", "--device", "apple-m2-pro", "--model", "llama-3.2-1b", "--engine"],
        ):
            p = b.path(name, ".yaml")
            p.write_bytes(text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text)
            b.add("loader", [*cmd, p], [p.name], check="none")
    deep_json = "[" * 20000 + "]" * 20000
    for name, text in {
        "deep": deep_json,
        "deep_obj": '{"a":' * 20000 + "1" + "}" * 20000,
        "dup": '{"model_type": "olmoe", "model_type": "llama"}',
        "nan": '[{"avg_ts": NaN}]',
        "bigint": '[{"avg_ts": ' + "9" * 5000 + "}]",
        "huge": "[" + ",".join(["{}"] * 3_000_000) + "]",
    }.items():
        p = b.path(name, ".json")
        p.write_text(text)
        b.add("loader", ["model", "import", p], [p.name], check="none")
        b.add(
            "loader",
            ["traces", "import", "llama-bench", p, "--device", "apple-m2-pro"],
            [p.name],
            check="none",
        )
    # 100k-record llama-bench file: linear import (matched against the catalog once)
    recs = _llama_bench_records()
    p = b.path("big_bench", ".json")
    p.write_text(json.dumps(recs * 50_000))
    b.add(
        "loader",
        ["traces", "import", "llama-bench", p, "--device", "apple-m2-pro", "-o", p.with_name("o.csv")],
        [p.name],
        check="trace",
        output=str(p.with_name("o.csv")),
    )


def output_cases(b: Builder, n: int) -> None:
    existing = b.path("existing", ".csv")
    existing.write_text("keep me\n")
    folder = b.path("folder", "")
    folder.mkdir()
    config = ROOT / "tests" / "data" / "hf_configs" / "olmoe-1b-7b.json"
    bench = ROOT / "tests" / "data" / "llama_bench" / "example.json"
    spec_copy = b.path("my-board", ".yaml")
    spec_copy.write_text(
        (ROOT / "hardware_specs" / "apple-m2-pro.yaml")
        .read_text()
        .replace("id: apple-m2-pro", "id: my-board")
    )
    bad_paths = [
        "/proc/nope/x.{ext}",
        str(existing) + "/under-a-file/x.{ext}",  # unwritable even as root (no folder is made)
        str(folder),
        str(existing),
        "/" + "x" * 300 + ".{ext}",
        "",
        "/dev/full",
    ]
    commands = [
        (
            [
                "sweep",
                "--devices",
                "apple-m2-pro",
                "--models",
                "olmoe-1b-7b",
                "--batch",
                "1",
                "--depth",
                "0",
                "-o",
            ],
            "csv",
        ),
        (["plot", "breakdown", "--device", "apple-m2-pro", "olmoe-1b-7b", "llama-3.2-1b", "-o"], "pdf"),
        (["traces", "import", "llama-bench", str(bench), "--device", "ryzen-9-7950x", "-o"], "csv"),
        (["model", "import", str(config), "-o"], "yaml"),
        (
            [
                "calibrate",
                str(ROOT / "validation" / "traces" / "sandbox-epyc-2vcpu.micro.csv"),
                "--engine",
                "llama.cpp-cpu",
                "--device",
                "sandbox-epyc-2vcpu",
                "-o",
            ],
            "yaml",
        ),
    ]
    k = 0
    while k < n:
        for cmd, ext in commands:
            target = b.rng.choice(bad_paths).format(ext=ext)
            force = b.rng.random() < 0.3
            args = [*cmd, target] + (["--force"] if force else [])
            b.add(
                "outputs",
                args,
                [Path(target).name or "output", "output", "exists", "write", "folder", "usable"],
                check="none",
            )
            k += 1
        # the output is one of the command's inputs: refused even with --force
        b.add(
            "outputs",
            [
                "sweep",
                "--devices",
                spec_copy,
                "--models",
                "olmoe-1b-7b",
                "--batch",
                "1",
                "--depth",
                "0",
                "-o",
                spec_copy,
                "--force",
            ],
            [spec_copy.name],
            check="none",
            nonsense="sweep -o over its own input spec",
        )
        b.add(
            "outputs",
            [
                "traces",
                "import",
                "llama-bench",
                existing,
                "--device",
                "apple-m2-pro",
                "-o",
                existing,
                "--force",
            ],
            [existing.name],
            check="none",
            nonsense="import over its own input",
        )
        k += 2


def calibrate_cases(b: Builder, n: int) -> None:
    src = ROOT / "validation" / "traces" / "sandbox-epyc-2vcpu.study-sweep1.llama.cpp.e2e.csv"
    if not src.exists():
        return
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(src.read_text())))
    for k in range(n):
        mode = ["scale", "mangle", "scale", "mangle"][k % 4]
        out_rows = [dict(r) for r in rows]
        nonsense = None
        if mode == "scale":
            factor = b.rng.choice([1e6, 1e-6, 1e3])
            for r in out_rows:
                r["tokens_per_s"] = str(float(r["tokens_per_s"]) * factor)
            nonsense = f"traces scaled by {factor:g}"
        else:
            r = b.rng.choice(out_rows)
            r[b.rng.choice(["tokens_per_s", "depth", "batch", "test", "model", "device"])] = b.rng.choice(
                ["nan", "-1", "0", "1e400", "", "x", "tg0", "inf"]
            )
        p = b.path("trace", ".csv")
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(out_rows)
        p.write_text(buf.getvalue())
        out = p.with_name("profile.yaml")
        b.add(
            "calibrate",
            ["calibrate", p, "--engine", "llama.cpp-cpu", "-o", out],
            [p.name, "calibrat", "fit"],
            check="profile",
            output=str(out),
            nonsense=nonsense,
        )


def model_shape_cases(b: Builder, n: int) -> None:
    """Valid-looking but odd shapes (integers in range, combinations no published model has): the
    cost model must answer finitely or refuse, on every command that evaluates it."""
    fields = [
        "n_layers",
        "d_model",
        "vocab_size",
        "attention.n_heads",
        "attention.n_kv_heads",
        "attention.head_dim",
        "ffn.d_ff",
        "moe.n_experts",
        "moe.top_k",
        "moe.d_expert",
        "moe.first_k_dense",
        "moe.moe_every",
        "attention.sliding_window",
        "attention.global_every",
        "norms_per_layer",
    ]
    for _ in range(n):
        name = b.rng.choice(MODELS)
        data = yaml.safe_load((ROOT / "model_specs" / f"{name}.yaml").read_text())
        for _ in range(b.rng.randint(1, 3)):
            field = b.rng.choice(fields)
            value = b.rng.choice([1, 2, 3, 7, 64, 1000, 9999, 10_000, 65_536, 1_000_000, 16_384, 0])
            try:
                _set(data, field, value)
            except (KeyError, IndexError, TypeError):
                continue
        p = b.path("shape", ".yaml")
        data["id"] = "shape"
        p.write_text(yaml.safe_dump(data, sort_keys=False))
        device = b.rng.choice(DEVICES)
        cmd = b.rng.choice(["predict", "predict", "compare", "explain", "sweep", "crossover", "show"])
        args = {
            "predict": [
                "predict",
                "--device",
                device,
                "--model",
                p,
                "--json",
                "--routing-skew",
                b.rng.choice(["0", "1.5", "100"]),
            ],
            "compare": [
                "compare",
                "--device",
                device,
                p,
                "llama-3.2-1b",
                "--json",
                "--test",
                b.rng.choice(["tg128", "pp512"]),
            ],
            "explain": ["explain", "--device", device, "--model", p, "--json"],
            "sweep": [
                "sweep",
                "--devices",
                device,
                "--models",
                p,
                "--batch",
                "1,64",
                "--depth",
                "0,100000",
                "--json",
            ],
            "crossover": [
                "crossover",
                "--device",
                device,
                p,
                "llama-3.2-1b",
                "--vary",
                b.rng.choice(["batch", "depth", "bandwidth"]),
                "--json",
            ],
            "show": ["specs", "show", p, "--json"],
        }[cmd]
        b.add("model-shapes", args, [p.name, device, "llama-3.2-1b"], check="json")


def workload_extreme_cases(b: Builder, n: int) -> None:
    """The largest and smallest workloads the bounds allow, on every evaluating command."""
    values = {
        "--batch": ["1", "1048576", "65536"],
        "--depth": ["0", "100000000", "12345678"],
        "--test": ["tg1", "pp1", "tg100000000", "pp100000000", "pp99999999"],
        "--routing-skew": ["0", "100", "1e-12"],
        "--locality": ["0", "1"],
    }
    for _ in range(n):
        dev, m1, m2 = b.rng.choice(DEVICES), b.rng.choice(MODELS), b.rng.choice(MODELS)
        opts = {k: b.rng.choice(v) for k, v in b.rng.sample(sorted(values.items()), 2)}
        cmd = b.rng.choice(["predict", "predict", "compare", "explain"])
        base = {
            "predict": ["predict", "--device", dev, "--model", m1, "--json"],
            "compare": ["compare", "--device", dev, m1, m2, "--json"],
            "explain": ["explain", "--device", dev, "--model", m1, "--json"],
        }[cmd]
        b.add(
            "workloads",
            base + [x for kv in opts.items() for x in kv],
            [dev, m1, m2, "batch", "depth", "test"],
            check="json",
        )


def spec_dir_cases(b: Builder, n: int) -> None:
    """--spec-dir folders whose files shadow bundled ids with broken specs, or are not folders."""
    for _ in range(n):
        d = b.path("specs", "")
        d.mkdir()
        dev = b.rng.choice(DEVICES)
        src = ROOT / "hardware_specs" / f"{dev}.yaml"
        (d / f"{dev}.yaml").write_text(_mutate_lines(src.read_text(), b.rng, HOSTILE_VALUES))
        (d / "broken.yaml").write_text(b.rng.choice(["[", "a: *b", "", "\x00", "n_layers: 1"]))
        spec_dir = b.rng.choice([d, d, d, d / "broken.yaml", d / "missing"])
        args = ["--spec-dir", spec_dir] + b.rng.choice(
            [
                ["predict", "--device", dev, "--model", "llama-3.2-1b", "--json"],
                ["specs", "list", "--json"],
                ["specs", "show", dev, "--json"],
                ["specs", "show", "broken", "--json"],
            ]
        )
        b.add("spec-dir", args, [dev, "broken", "missing", d.name, "spec-dir"], check="json")


def micro_calibrate_cases(b: Builder, n: int) -> None:
    """Microbenchmark traces (calibrate's other path): zero, negative, equal or absurd timings."""
    import csv
    import io

    src = ROOT / "validation" / "traces" / "sandbox-epyc-2vcpu.micro.csv"
    rows = list(csv.DictReader(io.StringIO(src.read_text())))
    for _ in range(n):
        out_rows = [dict(r) for r in rows]
        op = b.rng.randrange(4)
        if op == 0:  # every timing scaled: measured bandwidth far above or below the spec's
            f = b.rng.choice([1e-6, 1e6, 1e-3])
            for r in out_rows:
                r["seconds"] = str(float(r["seconds"]) * f)
        elif op == 1:  # all streaming rows the same size: a singular fit
            for r in out_rows:
                r["bytes"] = r["working_set_bytes"] = "1073741824"
        elif op == 2:
            for r in b.rng.sample(out_rows, 5):
                r[b.rng.choice(["seconds", "bytes", "flops", "working_set_bytes", "repeats", "kind"])] = (
                    b.rng.choice(["0", "-1", "nan", "1e400", "x", "", "1e-300", "gemm"])
                )
        else:  # only a few rows left
            out_rows = b.rng.sample(out_rows, b.rng.randint(1, 4))
        p = b.path("micro", ".csv")
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(out_rows)
        p.write_text(buf.getvalue())
        out = p.with_name("profile.yaml")
        args = ["calibrate", p, "--engine", "llama.cpp-cpu", "--device", "sandbox-epyc-2vcpu", "-o", out]
        b.add(
            "calibrate-micro",
            args,
            [p.name, "calibrat", "sandbox-epyc-2vcpu", "streaming", "fit"],
            check="profile",
            output=str(out),
            nonsense=None,
        )


def trace_report_cases(b: Builder, n: int) -> None:
    """Mangled trace CSVs through `plot measured` (predictions and held-out calibrations)."""
    import csv
    import io

    src = ROOT / "validation" / "traces" / "sandbox-epyc-2vcpu.study-sweep1.llama.cpp.e2e.csv"
    rows = list(csv.DictReader(io.StringIO(src.read_text())))
    for _ in range(n):
        out_rows = [dict(r) for r in b.rng.sample(rows, min(len(rows), 8))]
        r = b.rng.choice(out_rows)
        r[b.rng.choice(["tokens_per_s", "depth", "batch", "test", "model", "device", "engine", "quant"])] = (
            b.rng.choice(["nan", "-1", "0", "1e400", "", "x", "tg0", "1e-300", "1e30", "pp1", "apple-m2-pro"])
        )
        p = b.path("trace", ".csv")
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(out_rows)
        p.write_text(buf.getvalue())
        b.add("trace-report", ["plot", "measured", p, "-o", p.with_name("fig.png")], [p.name], check="none")


def build_cases(tmp: Path, rng: random.Random, runs: int, public: Path | None) -> list[dict[str, Any]]:
    b = Builder(tmp, rng)
    share = {
        "device": 0.13,
        "model": 0.11,
        "engine": 0.09,
        "options": 0.14,
        "llama": 0.12,
        "public": 0.05,
        "config": 0.09,
        "outputs": 0.04,
        "calibrate": 0.01,
        "shapes": 0.09,
        "workloads": 0.07,
        "spec-dir": 0.03,
        "micro": 0.02,
        "report": 0.01,
    }
    loader_cases(b)
    rest = max(0, runs - len(b.cases))
    device_cases(b, int(rest * share["device"]))
    model_cases(b, int(rest * share["model"]))
    engine_cases(b, int(rest * share["engine"]))
    option_cases(b, int(rest * share["options"]))
    llama_bench_cases(b, int(rest * share["llama"]))
    if public is not None and public.exists():
        public_cases(b, int(rest * share["public"]), public)
    config_cases(b, int(rest * share["config"]))
    output_cases(b, int(rest * share["outputs"]))
    calibrate_cases(b, max(8, int(rest * share["calibrate"])))
    model_shape_cases(b, int(rest * share["shapes"]))
    workload_extreme_cases(b, int(rest * share["workloads"]))
    spec_dir_cases(b, int(rest * share["spec-dir"]))
    micro_calibrate_cases(b, int(rest * share["micro"]))
    trace_report_cases(b, int(rest * share["report"]))
    return b.cases


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2400)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--public", type=Path, default=Path("/work/shared/data/public_measurements.csv"))
    ap.add_argument("--out", type=Path, default=None, help="Write every case and outcome as JSON here.")
    ns = ap.parse_args()
    rng = random.Random(ns.seed)
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        cases = build_cases(Path(tmp), rng, ns.runs, ns.public)
        print(
            f"{len(cases)} cases built in {time.time() - t0:.0f} s; running on {ns.workers} workers",
            file=sys.stderr,
        )
        results = Pool(ns.workers).run(cases)
    table: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for case, res in zip(cases, results, strict=True):
        case.update(res)
        table[case["class"]][res["outcome"]] += 1
    outcomes = ["ok", "rejected", "rejected_unnamed", "bad_success", "nonsense_accepted", "traceback", "hang"]
    print(f"{'class':<14}{'runs':>6}" + "".join(f"{o:>18}" for o in outcomes))
    total: collections.Counter[str] = collections.Counter()
    for cls in sorted(table):
        total.update(table[cls])
        print(f"{cls:<14}{sum(table[cls].values()):>6}" + "".join(f"{table[cls][o]:>18}" for o in outcomes))
    print(f"{'all':<14}{sum(total.values()):>6}" + "".join(f"{total[o]:>18}" for o in outcomes))
    print(f"wall time {time.time() - t0:.0f} s; slowest case {max(c['seconds'] for c in cases):.1f} s")
    for o in ("traceback", "hang", "bad_success", "nonsense_accepted", "rejected_unnamed"):
        shown = [c for c in cases if c["outcome"] == o][:6]
        for c in shown:
            print(f"\n--- {o} [{c['class']}] roofline {' '.join(a[:80] for a in c['args'])}")
            print(c["detail"][-800:])
    if ns.out:
        ns.out.write_text(json.dumps(cases, indent=1, default=str))


if __name__ == "__main__":
    main()
