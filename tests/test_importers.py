"""Importers of what people already have (issue 13.18): llama-bench -o sql and mixed -pg records, vLLM's
bench serve and bench latency results, SGLang's bench_serving JSONL; each read from a committed format
sample (tests/data/, hand-made from the tools' source), mapped to trace rows, and refused clearly where
a record does not map or is mangled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from roofline.cli import main
from roofline.traces.files import TraceError, read_e2e
from roofline.traces.importers import read_llama_bench, read_serving, read_vllm_latency

DATA = Path(__file__).parent / "data"
SQL = DATA / "llama_bench" / "example.sql"
SERVING = DATA / "serving"


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


# ---- llama-bench -o sql and -pg -----------------------------------------------------------------
def test_llama_bench_sql_rows_and_the_mixed_record_split():
    rows = read_llama_bench(SQL, "rtx-4090").rows
    got = [(r.test, r.depth, round(r.tokens_per_s, 6)) for r in rows]
    # pp512 25 ms, tg128 250 ms, pp512+tg128 281 ms: the generation part is 256 ms for 128 tokens
    assert got == [("pp512", 0, 20480.0), ("tg128", 0, 512.0), ("tg128", 512, 500.0)]
    assert {(r.model, r.quant, r.engine) for r in rows} == {("llama-3.2-1b", "Q4_K_M", "llama.cpp-cuda")}
    assert rows[2].notes.startswith("derived: pp512+tg128") and "b7000" in rows[0].engine_version


def test_llama_bench_sql_imports_through_the_cli(tmp_path):
    out = tmp_path / "t.e2e.csv"
    r = run("traces", "import", "llama-bench", SQL, "--device", "rtx-4090", "-o", out)
    assert r.exit_code == 0, r.output
    assert [(x.test, x.depth) for x in read_e2e(out)] == [("pp512", 0), ("tg128", 0), ("tg128", 512)]


def _sql_lines() -> list[str]:
    return SQL.read_text().splitlines()


@pytest.mark.parametrize(
    ("mangle", "needle"),
    [
        (lambda s: s.replace("'512', '0', '0'", "'512', '0'", 1), "fields but"),  # a value lost
        (lambda s: s.replace("'models/llama", "'mod'els/llama", 1), "cannot read value"),  # unescaped quote
        (lambda s: s.replace("INSERT INTO", "INSERT INTO", 1)[:-2], "expected INSERT INTO"),  # cut short
        (lambda s: s.replace("'25000000'", "'-5'", 1), "avg_ns"),  # the pp time the split needs
    ],
)
def test_mangled_sql_is_refused_naming_file_and_line(tmp_path, mangle, needle):
    lines = _sql_lines()
    first_insert = next(i for i, ln in enumerate(lines) if ln.startswith("INSERT"))
    lines[first_insert] = mangle(lines[first_insert])
    bad = tmp_path / "bad.sql"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(TraceError, match=needle) as err:
        read_llama_bench(bad, "rtx-4090")
    assert f"{bad}: line " in str(err.value)


def test_a_bad_sql_line_is_skipped_and_counted_with_skip_bad(tmp_path):
    lines = _sql_lines()
    lines.append("INSERT INTO llama_bench (a, b) VALUES ('1');")
    bad = tmp_path / "bad.sql"
    bad.write_text("\n".join(lines) + "\n")
    got = read_llama_bench(bad, "rtx-4090", skip_bad=True)
    assert len(got.rows) == 3 and len(got.skipped) == 1 and f"line {len(lines)}" in got.skipped[0]


def _example_json() -> list[dict]:
    return json.loads((DATA / "llama_bench" / "example.json").read_text())


def test_mixed_json_record_without_its_prompt_run_is_refused(tmp_path):
    pp, tg = _example_json()
    mixed = dict(tg, n_prompt=256, avg_ns=2 * tg["avg_ns"])  # no pp256 record in the file
    path = tmp_path / "b.json"
    path.write_text(json.dumps([pp, tg, mixed]))
    with pytest.raises(
        TraceError, match=r"record 3: mixed record pp256\+tg128 .* only beside the pp256 record"
    ):
        read_llama_bench(path, "ryzen-9-7950x")
    got = read_llama_bench(path, "ryzen-9-7950x", skip_bad=True)
    assert [r.test for r in got.rows] == ["pp512", "tg128"] and len(got.skipped) == 1


def test_mixed_record_within_noise_is_refused(tmp_path):
    pp, tg = _example_json()
    mixed = dict(tg, n_prompt=512, avg_ns=pp["avg_ns"] + 1000, stddev_ns=10_000_000)
    path = tmp_path / "b.json"
    path.write_text(json.dumps([pp, tg, mixed]))
    with pytest.raises(TraceError, match="too noisy to split"):
        read_llama_bench(path, "ryzen-9-7950x")


def test_mixed_markdown_rows_point_to_a_format_with_times(tmp_path):
    md = (DATA / "llama_bench" / "example.md").read_text().replace("tg128 @ d2048", "pp512+tg128")
    path = tmp_path / "b.md"
    path.write_text(md)
    with pytest.raises(TraceError, match="no times to split"):
        read_llama_bench(path, "ryzen-9-7950x", model="llama-3.2-1b")


# ---- vLLM bench serve ---------------------------------------------------------------------------
def test_vllm_serve_at_concurrency_one_gives_prefill_and_decode():
    got = read_serving(SERVING / "vllm-serve.jsonl", "vllm", "h200-sxm-141gb", "BF16", skip_bad=True)
    pp, tg = got.rows
    # 1024 prompt tokens, median TTFT 60 ms; 128 out, median TPOT 8 ms
    assert (pp.test, pp.depth, pp.batch) == ("pp1024", 0, 1) and pp.tokens_per_s == pytest.approx(
        1024 / 0.060
    )
    assert (tg.test, tg.depth, tg.batch) == ("tg127", 1024, 1) and tg.tokens_per_s == pytest.approx(125.0)
    assert pp.model == "qwen3-30b-a3b" and pp.engine == "vllm" and pp.date == "20261128-140000"
    assert len(got.skipped) == 1 and "16 requests in flight" in got.skipped[0]  # the C=16 line


def test_vllm_serve_under_load_is_a_tg_row_at_the_concurrency():
    rows = read_serving(SERVING / "vllm-serve.jsonl", "vllm", "h200-sxm-141gb", "BF16", under_load=True).rows
    loaded = rows[-1]
    assert (loaded.test, loaded.batch, loaded.depth) == ("tg127", 16, 1024)
    assert loaded.tokens_per_s == pytest.approx(16 / 0.016) and "lower bound" in loaded.notes


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"request_rate": 8.0}, "requests arrive at 8/s"),
        ({"max_concurrency": None}, "'max_concurrency' is null"),
        ({"max_concurrency": "4"}, "'max_concurrency': expected a whole number"),
        ({"spec_decode_acceptance_length": 2.4}, "speculative decoding"),
        ({"median_tpot_ms": -1}, "'median_tpot_ms'"),
        ({"median_ttft_ms": "fast"}, "'median_ttft_ms'"),
        ({"completed": 0}, "'completed'"),
        ({"model_id": "someone/Unknown-7B"}, "pass --model"),
    ],
)
def test_vllm_serve_records_that_do_not_map_are_refused(tmp_path, change, needle):
    rec = json.loads((SERVING / "vllm-serve.jsonl").read_text().splitlines()[0])
    rec.update(change)
    path = tmp_path / "serve.json"
    path.write_text(json.dumps(rec))
    with pytest.raises(TraceError, match=needle) as err:
        read_serving(path, "vllm", "h200-sxm-141gb", "BF16")
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('{"completed": 1, "completed": 2}', "duplicate key"),
        ('{"request_rate": NaN}', "NaN"),
        ("[1, 2]", "expected a benchmark result"),
        ('{"a": 1', "invalid JSON"),
        ("", "empty file"),
    ],
)
def test_mangled_serving_json_is_refused(tmp_path, text, needle):
    path = tmp_path / "serve.json"
    path.write_text(text)
    with pytest.raises(TraceError, match=needle):
        read_serving(path, "vllm", "h200-sxm-141gb", "BF16", model="qwen3-30b-a3b")


def test_vllm_serve_cli_writes_a_trace(tmp_path):
    out = tmp_path / "serve.e2e.csv"
    args = ["traces", "import", "vllm-serve", SERVING / "vllm-serve.jsonl", "--device", "h200-sxm-141gb"]
    r = run(*args, "--quant", "BF16", "--under-load", "-o", out)
    assert r.exit_code == 0, r.output
    assert [(x.test, x.batch) for x in read_e2e(out)] == [("pp1024", 1), ("tg127", 1), ("tg127", 16)]
    r = run(*args, "--quant", "BF16")  # without --under-load the C=16 run stops the import
    assert r.exit_code == 2 and "line 2" in r.output and "--under-load" in r.output


# ---- vLLM bench latency -------------------------------------------------------------------------
def test_vllm_latency_with_its_prefill_run_gives_pp_and_tg():
    pp, tg = read_vllm_latency(
        SERVING / "vllm-latency.json", "h200-sxm-141gb", "qwen3-30b-a3b", "BF16", 8, 512, 128,
        prefill=SERVING / "vllm-latency-prefill.json",
    )  # fmt: skip
    assert (pp.test, pp.batch, pp.depth) == ("pp512", 8, 0) and pp.tokens_per_s == pytest.approx(
        8 * 512 / 0.42
    )
    assert (tg.test, tg.batch, tg.depth) == ("tg127", 8, 512)
    assert tg.tokens_per_s == pytest.approx(8 * 127 / (1.85 - 0.42))


def test_vllm_latency_of_prefill_and_decode_needs_the_prefill_run():
    with pytest.raises(TraceError, match="--output-len 1 result"):
        read_vllm_latency(
            SERVING / "vllm-latency.json", "h200-sxm-141gb", "qwen3-30b-a3b", "BF16", 8, 512, 128
        )
    (pp,) = read_vllm_latency(
        SERVING / "vllm-latency-prefill.json", "h200-sxm-141gb", "qwen3-30b-a3b", "BF16", 8, 512, 1
    )
    assert pp.test == "pp512" and "--output-len 1" in pp.command


def test_vllm_latency_refuses_a_decode_within_noise_and_bad_fields(tmp_path):
    slow_prefill = tmp_path / "p.json"
    slow_prefill.write_text(json.dumps({"avg_latency": 1.849, "std_latency": 0.01}))
    with pytest.raises(TraceError, match="not above twice the runs' spread"):
        read_vllm_latency(
            SERVING / "vllm-latency.json",
            "h200-sxm-141gb",
            "qwen3-30b-a3b",
            "BF16",
            8,
            512,
            128,
            slow_prefill,
        )
    bad = tmp_path / "b.json"
    bad.write_text(json.dumps({"avg_latency": 0, "latencies": []}))
    with pytest.raises(TraceError, match=f"{bad}: record 1: field 'avg_latency'"):
        read_vllm_latency(bad, "h200-sxm-141gb", "qwen3-30b-a3b", "BF16", 8, 512, 1)


def test_vllm_latency_cli(tmp_path):
    out = tmp_path / "lat.e2e.csv"
    r = run("traces", "import", "vllm-latency", SERVING / "vllm-latency.json", "--device", "h200-sxm-141gb",
            "--quant", "BF16", "--model", "qwen3-30b-a3b", "--batch", "8", "--input-len", "512",
            "--output-len", "128", "--prefill", SERVING / "vllm-latency-prefill.json", "-o", out)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert [x.test for x in read_e2e(out)] == ["pp512", "tg127"]


# ---- SGLang bench_serving -----------------------------------------------------------------------
def test_sglang_jsonl_reads_infinity_and_refuses_the_open_loop_run():
    with pytest.raises(TraceError, match="no bundled engine profile"):
        read_serving(
            SERVING / "sglang-bench-serving.jsonl", "sglang", "a100-sxm-80gb", "BF16", "llama-3.1-8b"
        )
    got = read_serving(
        SERVING / "sglang-bench-serving.jsonl", "sglang", "a100-sxm-80gb", "BF16", "llama-3.1-8b", "vllm",
        skip_bad=True,
    )  # fmt: skip
    pp, tg = got.rows
    assert (pp.test, tg.test, tg.depth) == ("pp512", "tg255", 512)
    assert tg.tokens_per_s == pytest.approx(1000 / 12.5) and tg.notes.endswith("concurrency 1")
    assert got.skipped == [
        f"{SERVING / 'sglang-bench-serving.jsonl'}: line 2: field 'request_rate': requests arrive at 4/s, "
        "so the batch follows the arrivals and is no number to model; import closed-loop runs "
        "(--request-rate inf --max-concurrency C)"
    ]


def test_sglang_needs_a_model_and_the_cli_says_so(tmp_path):
    path = SERVING / "sglang-bench-serving.jsonl"
    args = [
        "traces",
        "import",
        "sglang",
        path,
        "--device",
        "a100-sxm-80gb",
        "--quant",
        "BF16",
        "--engine",
        "vllm",
    ]
    r = run(*args, "--skip-bad")
    assert r.exit_code == 2 and "pass --model" in r.output
    r = run(*args, "--model", "llama-3.1-8b", "--skip-bad")
    assert r.exit_code == 0 and "skipped 1 bad record" in r.stderr
    assert [row["test"] for row in json.loads(r.stdout)["rows"]] == ["pp512", "tg255"]
