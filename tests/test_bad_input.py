"""Bad input gets a clear error naming the file, the field and what was expected; never a traceback,
never a hang, never a nonsense answer (issue 14).

The contract every command keeps on any input: exit 0 with finite, non-negative numbers (and
output files that read back), or exit 2 with a message naming the input. The CLI runs in-process
(click's CliRunner, exceptions not caught: a traceback fails the test) under a per-case time limit.
Inputs: a corpus of hostile files (tests/data/hostile/, one broken thing each), hypothesis-built
options, llama-bench records, config.json values and engine-profile numbers, and unwritable or
protected output paths. scripts/hostile_campaign.py runs the same classes thousands of times.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roofline.cli import main
from roofline.errors import SpecError
from roofline.specs.catalog import _bundled_root, check_file, validate
from roofline.specs.model import Model
from roofline.specs.output import write_output
from roofline.traces.files import read_e2e

DEVICE = _bundled_root() / "hardware_specs" / "jetson-orin-nano-8gb.yaml"
MODEL = _bundled_root() / "model_specs" / "olmoe-1b-7b.yaml"


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "roofline", *args], capture_output=True, text=True, cwd=cwd, timeout=60
    )


def _mutate(src: Path, tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(src.read_text())
    edit(data)
    out = tmp_path / src.name
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


CASES = [
    (
        DEVICE,
        lambda d: d["memory"][0].update(bandwidth={"value": "68 GB", "source": "x y"}),
        "memory[0].bandwidth",
        "expected a bandwidth",
    ),
    (
        DEVICE,
        lambda d: d["memory"][0].update(capacity={"value": "-8 GiB", "source": "x y"}),
        "memory[0].capacity",
        "non-negative",
    ),
    (DEVICE, lambda d: d["memory"][0].pop("usable_capacity"), "usable_capacity", "usable_capacity"),
    (DEVICE, lambda d: d["memory"][0]["bandwidth"].pop("source"), "memory[0].bandwidth", "needs a 'source'"),
    (DEVICE, lambda d: d.pop("power"), "power", "required field is missing"),
    (DEVICE, lambda d: d.update(kind="fpga"), "kind", "'cpu', 'gpu', 'soc' or 'npu'"),
    (MODEL, lambda m: m["moe"].update(top_k=65), "moe", "top_k (65) exceeds n_experts (64)"),
    (MODEL, lambda m: m["attention"].update(n_kv_heads=5), "attention", "divisible by n_kv_heads"),
    (MODEL, lambda m: m.pop("n_layers"), "n_layers", "required field is missing"),
    (MODEL, lambda m: m.update(n_layers="sixteen"), "n_layers", "valid integer"),
    (MODEL, lambda m: m.update(n_layerz=16), "n_layerz", "unknown field"),
    (MODEL, lambda m: m.update(d_model=-2048), "d_model", "greater than 0"),
]


@pytest.mark.parametrize(("src", "edit", "field", "message"), CASES)
def test_bad_spec_names_file_field_and_expectation(tmp_path, src, edit, field, message):
    path = _mutate(src, tmp_path, edit)
    with pytest.raises(SpecError) as exc:
        check_file(path)
    text = str(exc.value)
    assert str(path) in text and field in text and message in text, text


def test_cli_bad_spec_exits_2_without_traceback(tmp_path):
    path = _mutate(MODEL, tmp_path, lambda m: m["moe"].update(top_k=65))
    r = _cli("specs", "check", str(path))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "top_k (65) exceeds n_experts (64)" in r.stderr


def test_cli_unknown_quant_and_id_exit_2():
    r = _cli("specs", "show", "olmoe-1b-7x")
    assert r.returncode == 2 and "unknown model id" in r.stderr and "Traceback" not in r.stderr


def test_yaml_syntax_error_has_line(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("id: broken\nmemory: [\n  - {value: 1\n")
    with pytest.raises(SpecError, match=r"broken.yaml: line \d+"):
        check_file(p)


def test_yaml_is_loaded_safely(tmp_path):
    p = tmp_path / "evil.yaml"
    p.write_text("id: !!python/object/apply:os.system ['echo hi']\nn_layers: 1\n")
    with pytest.raises(SpecError, match="invalid YAML"):
        check_file(p)


_TOKENS = st.sampled_from(
    [
        "",
        "-1",
        "0",
        "1e400",
        "68 GB",
        "abc",
        "[",
        "{",
        ": :",
        "null",
        "~",
        "8 GiB/s",
        "true",
        "'",
        "\t",
        "1.5",
        "-",
        "? x",
        "&a",
        "*a",
        "!!binary x",
        "TB/s",
        "3,35 TB/s",
        "0 GB/s",
        "1e-300 TFLOPS",
        "100 TiB",
        "10**10**9 GB/s",
        "9" * 400,
        "*b",
        "&b [1, *b]",
        "[" * 100,
    ]
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(src=st.sampled_from([DEVICE, MODEL]), data=st.data())
def test_fuzzed_yaml_gives_clean_errors(tmp_path, src, data):
    """Mangle a valid spec (drop, duplicate or garble lines, replace values) and load it:
    the only acceptable outcomes are a valid spec or a SpecError."""
    lines = src.read_text().splitlines()
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(lines) - 1))
        op = data.draw(st.sampled_from(["drop", "dup", "value", "cut", "indent"]))
        if op == "drop":
            lines.pop(i)
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "value" and ":" in lines[i]:
            key = lines[i].split(":", 1)[0]
            lines[i] = f"{key}: {data.draw(_TOKENS)}"
        elif op == "cut":
            lines[i] = lines[i][: data.draw(st.integers(0, len(lines[i])))]
        else:
            lines[i] = "  " + lines[i]
        if not lines:
            lines = [""]
    p = tmp_path / src.name
    p.write_text("\n".join(lines))
    try:
        check_file(p)
    except SpecError as exc:
        assert str(p) in str(exc)


def test_user_spec_dir_and_path_work_from_any_directory(tmp_path):
    mine = tmp_path / "specs"
    mine.mkdir()
    shutil.copy(DEVICE, mine / "my-board.yaml")
    text = (mine / "my-board.yaml").read_text().replace("id: jetson-orin-nano-8gb", "id: my-board")
    (mine / "my-board.yaml").write_text(text)
    r = _cli("--spec-dir", str(mine), "specs", "show", "my-board", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = _cli("specs", "show", str(mine / "my-board.yaml"), cwd=tmp_path)
    assert r.returncode == 0 and "my-board" in r.stdout


# ---- the CLI contract on hostile input ----------------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]
HOSTILE = Path(__file__).parent / "data" / "hostile"
CASE_SECONDS = 20  # per CLI run; the slowest legitimate case here takes about 2 s


@contextlib.contextmanager
def _time_limit(seconds: int) -> Iterator[None]:
    def hang(signum: int, frame: Any) -> None:
        raise TimeoutError(f"no answer within {seconds} s (a hang)")

    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def run(*args: Any) -> Result:
    """The CLI in-process: any exception but SystemExit propagates (a traceback fails the test)."""
    with _time_limit(CASE_SECONDS):
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _bad_numbers(obj: Any, path: str = "") -> list[str]:
    if isinstance(obj, dict):
        return [b for k, v in obj.items() for b in _bad_numbers(v, f"{path}.{k}")]
    if isinstance(obj, list):
        return [b for i, v in enumerate(obj) for b in _bad_numbers(v, f"{path}[{i}]")]
    if isinstance(obj, (int, float)) and not isinstance(obj, bool) and (not math.isfinite(obj) or obj < 0):
        return [f"{path} = {obj!r}"]
    return []


def assert_contract(r: Result, names: list[str]) -> None:
    """Exit 0 with finite non-negative numbers in any JSON printed, or exit 2 naming the input."""
    if r.exit_code == 0:
        text = r.stdout.strip()
        if text.startswith(("{", "[")):
            bad = _bad_numbers(json.loads(text))
            assert not bad, f"a success with nonsense numbers: {bad[:3]}"
        return
    assert r.exit_code == 2, r.output
    assert any(n.lower() in r.output.lower() for n in names), f"no mention of {names}: {r.output}"


def _fresh(tmp_path: Path) -> Path:
    """A new folder per hypothesis example (they share the test's tmp_path)."""
    import tempfile

    return Path(tempfile.mkdtemp(dir=tmp_path))


def _expect_rejected(r: Result, *needles: str) -> None:
    assert r.exit_code == 2, f"accepted: {r.output[:300]}"
    for needle in needles:
        assert needle in r.output, f"{needle!r} not in {r.output!r}"


# file, command (the file goes at {f}), what the message must say besides the file name
CORPUS = [
    ("device-unit-without-number.yaml", "check", "memory[0].bandwidth: expected a bandwidth"),
    ("device-decimal-comma.yaml", "check", "thousands separators"),
    ("device-thousands-separator.yaml", "check", "thousands separators"),
    ("device-zero-bandwidth.yaml", "device", "outside the plausible range of a bandwidth (1 MB/s-100 TB/s)"),
    ("device-near-zero-peak.yaml", "device", "processors[0].matrix.fp16: '1e-300 TFLOPS' is outside"),
    ("device-absurd-capacity.yaml", "device", "memory[0].capacity"),
    ("device-cache-larger-than-memory.yaml", "device", "is not smaller than main memory"),
    ("device-idle-above-max.yaml", "device", "idle (50 W) exceeds max (15 W)"),
    ("device-pint-arithmetic.yaml", "check", "one number and one unit"),
    ("device-huge-integer.yaml", "device", "integer too large for a float"),
    ("device-duplicate-key.yaml", "check", "duplicate key 'value'"),
    ("device-mapping-as-value.yaml", "check", "memory[0].bandwidth: expected a bandwidth"),
    ("model-ten-million-layers.yaml", "model", "n_layers: Input should be less than or equal to 10000"),
    ("model-duplicate-key.yaml", "model", "duplicate key 'n_layers'"),
    ("model-alias-bomb.yaml", "check", "aliases (*name) are not allowed"),
    ("model-deep-nesting.yaml", "check", "nested more than 64 levels deep"),
    (
        "engine-near-zero-efficiency.yaml",
        "engine",
        "bandwidth_efficiency: 1e-300 is outside the plausible range",
    ),
    ("engine-absurd-overhead.yaml", "engine", "per_step_overhead"),
    ("engine-calibration-missing-covariance.yaml", "profile", "calibration.covariance"),
    ("engine-calibration-unknown-parameter.yaml", "profile", "calibration.free_parameters"),
    ("bench-not-objects.json", "bench", "record 3: expected a llama-bench record"),
    ("bench-nan-throughput.json", "bench", "NaN is not a JSON number"),
    ("bench-negative-throughput.json", "bench", "record 2: field 'avg_ts'"),
    ("bench-zero-tokens.json", "bench", "record 2: fields 'n_prompt' and 'n_gen'"),
    ("bench-negative-depth.json", "bench", "record 2: field 'n_depth'"),
    ("bench-huge-number.json", "bench", "record 2: field 'avg_ts': expected a finite number"),
    ("bench-string-number.json", "bench", "record 2: field 'n_gen'"),
    ("bench-deep-nesting.json", "bench", "nested more than 64 levels deep"),
    ("bench-duplicate-key.json", "bench", "duplicate key 'avg_ts'"),
    ("bench-missing-cells.md", "bench", "line 4: missing cell(s) test, t/s"),
    ("config-false-string.json", "config", "tie_word_embeddings: expected true or false, got 'false'"),
    ("config-zero-heads.json", "config", "num_attention_heads: 0 is outside"),
    ("config-zero-kv-heads.json", "config", "num_key_value_heads: 0 is outside"),
    ("config-list-activation.json", "config", "hidden_act: expected a string"),
    ("config-string-window.json", "config", "sliding_window: expected an integer"),
    ("config-string-layers.json", "config", "num_hidden_layers: expected an integer"),
    ("config-ten-million-layers.json", "config", "num_hidden_layers: 10000000 is outside 1-10,000"),
    ("public-wrong-columns.csv", "public", "missing column(s) tokens_per_s"),
    ("public-nan-throughput.csv", "public", "line 2: field 'tokens_per_s'"),
    ("micro-one-size.csv", "micro", "streaming rows of at least two sizes"),
]


def _command(kind: str, f: Path, tmp: Path) -> list[Any]:
    return {
        "check": ["specs", "check", f],
        "device": ["predict", "--device", f, "--model", "llama-3.2-1b", "--json"],
        "model": ["predict", "--device", "apple-m2-pro", "--model", f, "--json"],
        "engine": ["predict", "--device", "h200-sxm-141gb", "--model", "llama-3.2-1b", "--engine", f],
        "profile": ["compare", "--device", "h200-sxm-141gb", "olmoe-1b-7b", "llama-3.2-1b", "--profile", f],
        "bench": [
            "traces",
            "import",
            "llama-bench",
            f,
            "--device",
            "ryzen-9-7950x",
            "--model",
            "llama-3.2-1b",
        ],
        "config": ["model", "import", f, "-o", tmp / "model.yaml"],
        "public": ["traces", "import", "public", f, "-o", tmp / "out.csv"],
        "micro": [
            "calibrate",
            f,
            "--engine",
            "llama.cpp-cpu",
            "--device",
            "sandbox-epyc-2vcpu",
            "-o",
            tmp / "p.yaml",
        ],
    }[kind]


@pytest.mark.parametrize(("name", "kind", "needle"), CORPUS, ids=[c[0] for c in CORPUS])
def test_hostile_corpus_is_rejected_naming_file_and_field(tmp_path, name, kind, needle):
    r = run(*_command(kind, HOSTILE / name, tmp_path))
    _expect_rejected(r, name, needle)
    assert not (tmp_path / "model.yaml").exists() and not (tmp_path / "out.csv").exists()


def test_corpus_covers_every_file():
    assert sorted(c[0] for c in CORPUS) == sorted(p.name for p in HOSTILE.iterdir() if p.name != "README.md")


def test_skip_bad_keeps_going_and_counts(tmp_path):
    out = tmp_path / "rows.csv"
    args = [
        "traces",
        "import",
        "llama-bench",
        HOSTILE / "bench-not-objects.json",
        "--device",
        "ryzen-9-7950x",
    ]
    _expect_rejected(run(*args, "-o", out), "record 3")
    r = run(*args, "--skip-bad", "-o", out)
    assert r.exit_code == 0, r.output
    assert "skipped 2 bad record(s)" in r.stderr and "record 3" in r.stderr
    rows = read_e2e(out)
    assert [(row.test, row.tokens_per_s) for row in rows] == [("pp512", 1450.2), ("tg128", 96.3)]


def test_import_reads_the_catalog_once_not_once_per_record(tmp_path, monkeypatch):
    """Matching a model by parameter count loads each catalog model once per import (it was once
    per record: 100k records took minutes)."""
    from roofline.specs import catalog
    from roofline.traces import importers

    importers._catalog_params.cache_clear()
    calls = []
    real = catalog.load_model
    monkeypatch.setattr(catalog, "load_model", lambda ref: calls.append(ref) or real(ref))
    recs = json.loads((ROOT / "tests/data/llama_bench/example.json").read_text())
    path = tmp_path / "many.json"
    path.write_text(json.dumps(recs * 500))
    got = importers.read_llama_bench(path, "ryzen-9-7950x")
    assert len(got.rows) == 1000 and {r.model for r in got.rows} == {"llama-3.2-1b"}
    assert len(calls) <= len(catalog.list_ids("model"))


# options: numbers, lists and ids as a careless user types them
_OPTION_VALUES = st.one_of(
    st.sampled_from(
        [
            "",
            "0",
            "-1",
            "nan",
            "inf",
            "-inf",
            "1e400",
            "1" * 400,
            "1" * 5000,
            "1e-300",
            "abc",
            ",",
            ",,",
            "x" * 300,
            "/dev/zero",
            "INT4-G0",
            "INT4-G99999999999",
            "tg0",
            "pp" + "1" * 400,
            "tg-1",
            "0.5",
        ]
    ),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.text(max_size=30),
)
_OPTIONS = {
    "predict": [
        "--batch",
        "--depth",
        "--routing-skew",
        "--locality",
        "--test",
        "--quant",
        "--kv-dtype",
        "--engine",
    ],
    "compare": ["--batch", "--depth", "--routing-skew", "--test", "--quant"],
    "sweep": ["--batch", "--depth", "--devices", "--models", "--quants", "--test"],
}
_BASE = {
    "predict": ["predict", "--device", "jetson-orin-nano-8gb", "--model", "olmoe-1b-7b", "--json"],
    "compare": ["compare", "--device", "jetson-orin-nano-8gb", "olmoe-1b-7b", "llama-3.2-1b", "--json"],
    "sweep": ["sweep", "--devices", "jetson-orin-nano-8gb", "--models", "olmoe-1b-7b", "--json"],
}


@settings(max_examples=300, deadline=None)
@given(command=st.sampled_from(sorted(_OPTIONS)), data=st.data())
def test_fuzzed_options_keep_the_contract(command, data):
    option = data.draw(st.sampled_from(_OPTIONS[command]))
    value = data.draw(_OPTION_VALUES)
    r = run(*_BASE[command], option, value)
    # a valid value may still not run (a batch that fits no memory): then the device is named
    names = [option.lstrip("-").rstrip("s"), option.lstrip("-").replace("-", " "), "jetson-orin-nano-8gb"]
    assert_contract(r, names)


@pytest.mark.parametrize(
    ("lo", "hi", "needle"),
    [("1e-300", "1e300", None), ("nan", "100", "--lo"), ("1e308", "1e309", "--hi"), ("-1", "10", "lo < hi")],
)
def test_crossover_brackets_are_finite_and_clipped(lo, hi, needle):
    r = run(
        "crossover",
        "--device",
        "apple-m2-pro",
        "olmoe-1b-7b",
        "llama-3.2-1b",
        "--vary",
        "bandwidth",
        "--lo",
        lo,
        "--hi",
        hi,
        "--json",
    )
    if needle is None:
        assert r.exit_code == 0, r.output
        out = json.loads(r.stdout)
        assert (out["lo"], out["hi"]) == (1e6, 1e14) and "clipped" in out["notes"][0]
        assert not _bad_numbers(out) and len(out["points"]) == 1
    else:
        _expect_rejected(r, needle)


# llama-bench records, config.json values and engine-profile numbers built by hypothesis
_JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.sampled_from([10**400, -1, 0, 2**63]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["nan", "1e400", "96,3", "-5", "false", "16"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
_EXAMPLE_RECORDS = json.loads((ROOT / "tests/data/llama_bench/example.json").read_text())
_BENCH_KEYS = [
    "avg_ts",
    "n_prompt",
    "n_gen",
    "n_depth",
    "model_type",
    "model_n_params",
    "backends",
    "n_threads",
]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), skip_bad=st.booleans())
def test_fuzzed_llama_bench_records_import_or_are_reported(tmp_path, data, skip_bad):
    recs = copy.deepcopy(_EXAMPLE_RECORDS)
    for _ in range(data.draw(st.integers(1, 3))):
        rec = recs[data.draw(st.integers(0, len(recs) - 1))]
        rec[data.draw(st.sampled_from(_BENCH_KEYS))] = data.draw(_JSON_VALUES)
    src = _fresh(tmp_path) / "bench.json"
    src.write_text(json.dumps(recs))
    out = src.with_suffix(".csv")
    r = run(
        "traces",
        "import",
        "llama-bench",
        src,
        "--device",
        "ryzen-9-7950x",
        "-o",
        out,
        *(["--skip-bad"] * skip_bad),
    )
    if r.exit_code == 0:
        rows = read_e2e(out)  # what is written reads back: finite positive throughputs, known ids
        assert rows and all(0 < row.tokens_per_s < math.inf and row.depth >= 0 for row in rows)
    else:
        _expect_rejected(r, src.name)
        assert not out.exists()


_CONFIG = json.loads((ROOT / "tests/data/hf_configs/olmoe-1b-7b.json").read_text())


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_config_json_imports_a_valid_spec_or_names_the_key(tmp_path, data):
    cfg = copy.deepcopy(_CONFIG)
    keys = [data.draw(st.sampled_from(sorted(cfg))) for _ in range(data.draw(st.integers(1, 2)))]
    for key in keys:
        cfg[key] = data.draw(_JSON_VALUES)
    src = _fresh(tmp_path) / "config.json"
    src.write_text(json.dumps(cfg))
    r = run("model", "import", src)
    if r.exit_code == 0:
        validate(yaml.safe_load(r.stdout), Model, "imported")
    else:
        _expect_rejected(r, src.name)


_ENGINE = yaml.safe_load((ROOT / "roofline/engines/llama.cpp-cuda.yaml").read_text())
_ENGINE_NUMBERS = [k for k, v in _ENGINE.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_engine_numbers_predict_finite_or_are_rejected(tmp_path, data):
    eng = copy.deepcopy(_ENGINE)
    key = data.draw(st.sampled_from(_ENGINE_NUMBERS + ["kernels.norms", "kernel_overhead"]))
    value = data.draw(
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0, 1e-300, 1e300, 10**400])
        )
    )
    if key.startswith("kernels."):
        eng["kernels"][key.split(".")[1]] = value
    else:
        eng[key] = value
    src = _fresh(tmp_path) / "engine.yaml"
    src.write_text(yaml.safe_dump(eng))
    r = run("predict", "--device", "h200-sxm-141gb", "--model", "olmoe-1b-7b", "--engine", src, "--json")
    assert_contract(r, [src.name, "h200-sxm-141gb"])  # (a huge runtime overhead: the model does not fit)
    if r.exit_code == 0:
        assert json.loads(r.stdout)["tokens_per_second"] > 0


_DEVICE_VALUES = st.sampled_from(
    [
        "0 GB/s",
        "1e-300 GB/s",
        "1e300 GB/s",
        "1e-300 TFLOPS",
        "1e300 TFLOPS",
        "0 TFLOPS",
        "100 TiB",
        "1 kB",
        "1 MB/s",
        "100 TB/s",
        "10 EFLOPS",
        "1 PB",
        "5 us",
        "0 W",
        "1e6 W",
        "TB/s",
        "68 GB/s",
    ]
)
_DEVICE_FIELDS = [
    ("memory", 0, "bandwidth"),
    ("memory", 0, "capacity"),
    ("memory", 0, "usable_capacity"),
    ("offload", 0, "bandwidth"),
    ("offload", 0, "capacity"),
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_device_spec_check_accepts_predicts_finite(tmp_path, data):
    """What `specs check` accepts, `predict` and `compare` answer with finite positive numbers (a
    spec with a zero bandwidth used to pass the check and divide by zero in predict)."""
    dev = yaml.safe_load(DEVICE.read_text())
    for _ in range(data.draw(st.integers(1, 3))):
        group, i, field = data.draw(st.sampled_from(_DEVICE_FIELDS))
        dev[group][i][field]["value"] = data.draw(_DEVICE_VALUES)
    for proc in dev["processors"]:
        for unit in ("matrix", "vector"):
            for prec in proc.get(unit, {}):
                if data.draw(st.booleans()):
                    proc[unit][prec]["value"] = data.draw(_DEVICE_VALUES)
    src = _fresh(tmp_path) / "hostile-board.yaml"
    dev["id"] = src.stem
    src.write_text(yaml.safe_dump(dev))
    checked = run("specs", "check", src)
    assert_contract(checked, [src.name])
    for args in (
        ["predict", "--device", src, "--model", "olmoe-1b-7b", "--json"],
        ["compare", "--device", src, "olmoe-1b-7b", "llama-3.2-1b", "--json"],
    ):
        r = run(*args)
        assert_contract(r, [src.name, "olmoe-1b-7b", "llama-3.2-1b"])
        assert checked.exit_code == 2 or r.exit_code == 2 or "tokens_per_second" in r.stdout


# outputs: never over an input, never over a file without --force, atomic, unwritable -> exit 2
def test_sweep_and_plot_refuse_to_overwrite_without_force(tmp_path):
    out = tmp_path / "kept.csv"
    out.write_text("keep me\n")
    sweep = ["sweep", "--devices", "apple-m2-pro", "--models", "llama-3.2-1b", "--batch", "1", "--depth", "0"]
    _expect_rejected(run(*sweep, "-o", out), "exists; pass --force")
    assert out.read_text() == "keep me\n"
    r = run(*sweep, "-o", out, "--force")
    assert r.exit_code == 0, r.output
    assert next(csv.DictReader(out.open()))["model"] == "llama-3.2-1b"
    fig = tmp_path / "fig.pdf"
    fig.write_text("keep me\n")
    _expect_rejected(run("plot", "memory", "--device", "apple-m2-pro", "llama-3.2-1b", "-o", fig), "--force")
    assert fig.read_text() == "keep me\n"


def test_outputs_never_overwrite_an_input_even_with_force(tmp_path):
    spec = tmp_path / "my-board.yaml"
    spec.write_text(
        (ROOT / "hardware_specs/apple-m2-pro.yaml").read_text().replace("id: apple-m2-pro", "id: my-board")
    )
    before = spec.read_text()
    r = run(
        "sweep",
        "--devices",
        spec,
        "--models",
        "llama-3.2-1b",
        "--batch",
        "1",
        "--depth",
        "0",
        "-o",
        spec,
        "--force",
    )
    _expect_rejected(r, "is an input of this command")
    bench = tmp_path / "bench.json"
    shutil.copy(ROOT / "tests/data/llama_bench/example.json", bench)
    r = run("traces", "import", "llama-bench", bench, "--device", "ryzen-9-7950x", "-o", bench, "--force")
    _expect_rejected(r, "is an input of this command")
    config = tmp_path / "config.json"
    shutil.copy(ROOT / "tests/data/hf_configs/olmoe-1b-7b.json", config)
    _expect_rejected(run("model", "import", config, "-o", config, "--force"), "is an input")
    assert spec.read_text() == before and json.loads(bench.read_text()) and json.loads(config.read_text())


@pytest.mark.parametrize(
    "command",
    [
        [
            "sweep",
            "--devices",
            "apple-m2-pro",
            "--models",
            "llama-3.2-1b",
            "--batch",
            "1",
            "--depth",
            "0",
            "-o",
        ],
        ["model", "import", ROOT / "tests/data/hf_configs/olmoe-1b-7b.json", "-o"],
        [
            "traces",
            "import",
            "llama-bench",
            ROOT / "tests/data/llama_bench/example.json",
            "--device",
            "ryzen-9-7950x",
            "-o",
        ],
        [
            "calibrate",
            ROOT / "validation/traces/sandbox-epyc-2vcpu.micro.csv",
            "--engine",
            "llama.cpp-cpu",
            "--device",
            "sandbox-epyc-2vcpu",
            "-o",
        ],
        ["plot", "memory", "--device", "apple-m2-pro", "llama-3.2-1b", "-o"],
    ],
    ids=["sweep", "model-import", "traces-import", "calibrate", "plot"],
)
def test_unwritable_output_is_exit_2_naming_it(tmp_path, command):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    target = blocker / ("out.pdf" if command[0] == "plot" else "out.csv")  # a folder that is a file
    _expect_rejected(run(*command, target), str(target))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    out = tmp_path / "out.csv"
    out.write_text("old\n")

    def full_disk(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(SpecError, match="No space left on device"):
        write_output(out, "new\n", force=True)
    assert out.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def _scaled_sweep(tmp_path: Path, factor: float) -> Path:
    """The EPYC study sweep with every other row's throughput multiplied by `factor`."""
    src = ROOT / "validation/traces/sandbox-epyc-2vcpu.study-sweep1.llama.cpp.e2e.csv"
    rows = list(csv.DictReader(src.open()))
    for i, row in enumerate(rows):
        row["tokens_per_s"] = str(float(row["tokens_per_s"]) * (factor if i % 2 else 1.0))
    scaled = tmp_path / "scaled.csv"
    with scaled.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return scaled


def test_calibration_refuses_traces_that_cannot_be_this_machine(tmp_path):
    """Throughputs scaled by 1e6 fit with a log residual sigma of 14 and used to give a profile."""
    out = tmp_path / "profile.yaml"
    r = run("calibrate", _scaled_sweep(tmp_path, 1e6), "--engine", "llama.cpp-cpu", "-o", out)
    _expect_rejected(r, "cannot be llama.cpp-cpu", "no profile written")
    assert not out.exists()


def test_calibration_that_misses_by_a_few_x_writes_the_profile_and_says_so(tmp_path):
    """Real runs the model describes badly (llama.cpp CPU on toy models: missed ~3x) are not refused,
    but the user is told how far off the fitted profile still is."""
    out = tmp_path / "profile.yaml"
    r = run("calibrate", _scaled_sweep(tmp_path, 8.0), "--engine", "llama.cpp-cpu", "-o", out)
    assert r.exit_code == 0, r.output
    assert "still misses these" in r.output and out.exists()


def test_spec_errors_survive_a_process_boundary():
    """A SpecError raised in a worker process reaches the parent as itself (pickled and rebuilt), not
    as a broken process pool."""
    import pickle

    from roofline.errors import SpecError

    err = pickle.loads(pickle.dumps(SpecError("m.yaml", "expected a number", "moe.top_k")))
    assert isinstance(err, SpecError)
    assert (err.where, err.field, err.message) == ("m.yaml", "moe.top_k", "expected a number")
    assert str(err) == "m.yaml: moe.top_k: expected a number"
