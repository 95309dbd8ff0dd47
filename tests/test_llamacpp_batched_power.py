"""llama-batched-bench import and the energy of timed windows, on output captured on the H200
(scripts/probe_h200_default_build.sh, 2026-11-30/12-01; OLMoE-1B-7B Q4_K_M, default CUDA build)."""

from __future__ import annotations

import json

import pytest

from roofline.llamacpp.batched_bench import import_batched_bench, read_batched_bench
from roofline.llamacpp.power import (
    Samples,
    batched_bench_windows,
    llama_bench_windows,
    read_samples,
    window_energy,
)

# llama-batched-bench --output-format jsonl, olmoe-1b-7b Q4_K_M, -fa on, -npp 512 -ntg 128 -npl 1,4,16,64
BATCHED = """\
{"n_kv_max": 49152, "n_batch": 2048, "n_ubatch": 512, "flash_attn": 1, "is_pp_shared": 0, "n_gpu_layers": 99, "n_threads": 16, "n_threads_batch": 16, "pp": 512, "tg": 128, "pl": 1, "n_kv": 640, "t_pp": 0.172218, "speed_pp": 2972.976318, "t_tg": 0.189673, "speed_tg": 674.845642, "t": 0.361891, "speed": 1768.488281}
{"n_kv_max": 49152, "n_batch": 2048, "n_ubatch": 512, "flash_attn": 1, "is_pp_shared": 0, "n_gpu_layers": 99, "n_threads": 16, "n_threads_batch": 16, "pp": 512, "tg": 128, "pl": 4, "n_kv": 2560, "t_pp": 0.082328, "speed_pp": 24876.105469, "t_tg": 0.305095, "speed_tg": 1678.165894, "t": 0.387423, "speed": 6607.765137}
{"n_kv_max": 49152, "n_batch": 2048, "n_ubatch": 512, "flash_attn": 1, "is_pp_shared": 0, "n_gpu_layers": 99, "n_threads": 16, "n_threads_batch": 16, "pp": 512, "tg": 128, "pl": 16, "n_kv": 10240, "t_pp": 0.292931, "speed_pp": 27965.630859, "t_tg": 0.533598, "speed_tg": 3838.095215, "t": 0.826529, "speed": 12389.159180}
{"n_kv_max": 49152, "n_batch": 2048, "n_ubatch": 512, "flash_attn": 1, "is_pp_shared": 0, "n_gpu_layers": 99, "n_threads": 16, "n_threads_batch": 16, "pp": 512, "tg": 128, "pl": 64, "n_kv": 40960, "t_pp": 1.156419, "speed_pp": 28335.750000, "t_tg": 1.023053, "speed_tg": 8007.404785, "t": 2.179472, "speed": 18793.542969}
"""  # noqa: E501
# the times (host clock) at which the runner received those four lines
ARRIVED = [1796082808.0158, 1796082808.4042, 1796082809.2328, 1796082811.4172]

# the same four results as the tool's default markdown table would print them (its row format,
# "|%6d | %6d | %4d | %6d | %8.3f | %8.2f | %8.3f | %8.2f | %8.3f | %8.2f |", filled in here)
MARKDOWN = """\
main: n_kv_max = 49152, n_batch = 2048, n_ubatch = 512, flash_attn = 1, is_pp_shared = 0, is_tg_separate = 0, n_gpu_layers = 99, n_threads = 16, n_threads_batch = 16

|    PP |     TG |    B |   N_KV |   T_PP s | S_PP t/s |   T_TG s | S_TG t/s |      T s |    S t/s |
|-------|--------|------|--------|----------|----------|----------|----------|----------|----------|
|   512 |    128 |    1 |    640 |    0.172 |  2972.98 |    0.190 |   674.85 |    0.362 |  1768.49 |
|   512 |    128 |    4 |   2560 |    0.082 | 24876.11 |    0.305 |  1678.17 |    0.387 |  6607.77 |
|   512 |    128 |   16 |  10240 |    0.293 | 27965.63 |    0.534 |  3838.10 |    0.827 | 12389.16 |
|   512 |    128 |   64 |  40960 |    1.156 | 28335.75 |    1.023 |  8007.40 |    2.179 | 18793.54 |
"""  # noqa: E501

# llama-bench --progress (stderr) for benchmark 1/12 of llama-3.2-1b Q4_K_M (pp512, depth 0, fa 0,
# 3 repetitions) and the samples_ns of its JSON record
PROGRESS = [
    (1796082767.948, "llama-bench: benchmark 1/12: starting"),
    (1796082768.3883, "llama-bench: benchmark 1/12: warmup prompt run"),
    (1796082768.5386, "llama-bench: benchmark 1/12: prompt run 1/3"),
    (1796082768.5594, "llama-bench: benchmark 1/12: prompt run 2/3"),
    (1796082768.5738, "llama-bench: benchmark 1/12: prompt run 3/3"),
    (1796082768.595, "llama-bench: benchmark 2/12: starting"),
]
SAMPLES_NS = [20678077, 14406090, 14378788]

# NVML as the sampler logged it (50 Hz polls, readings refreshed every 100 ms; repeated polls
# dropped) around the 64-sequence decode window above
POWER = """\
t,power_w,power_instant_w,energy_j,sm_mhz,util_gpu
1796082810.3088,338.579,354.869,42257.327,1980,89
1796082810.3688,338.579,354.869,42289.948,1980,89
1796082810.3888,338.539,330.733,42289.948,1980,87
1796082810.4688,338.539,330.733,42321.641,1980,87
1796082810.4888,336.606,351.199,42321.641,1980,87
1796082810.5690,336.606,351.199,42357.129,1980,87
1796082810.5888,337.918,357.581,42357.129,1980,82
1796082810.6688,337.918,357.581,42393.993,1980,82
1796082810.6888,341.611,385.462,42393.993,1980,82
1796082810.7688,341.611,385.462,42430.136,1980,82
1796082810.7888,343.953,378.666,42430.136,1980,83
1796082810.8688,343.953,378.666,42466.19,1980,83
1796082810.8888,346.507,357.581,42466.19,1980,83
1796082810.9688,346.507,357.581,42503.492,1980,83
1796082810.9888,349.654,367.666,42503.492,1980,85
1796082811.0688,349.654,367.666,42541.311,1980,85
1796082811.0888,354.269,378.736,42541.311,1980,85
1796082811.1688,354.269,378.736,42578.173,1980,85
1796082811.1888,356.803,362.627,42578.173,1980,86
1796082811.2689,356.803,362.627,42614.51,1980,86
1796082811.2888,359.214,381.448,42614.51,1980,86
1796082811.3689,359.214,381.448,42650.757,1980,86
1796082811.3888,362.454,346.518,42650.757,1980,82
1796082811.4688,362.454,346.518,42678.866,1980,82
1796082811.4888,357.93,149.419,42678.866,1980,82
"""


def test_batched_bench_jsonl_rows(tmp_path):
    path = tmp_path / "olmoe.batched.jsonl"
    path.write_text(BATCHED)
    rows = import_batched_bench(path, "h200-sxm-141gb", "olmoe-1b-7b", "Q4_K_M", source="measured here: test")
    assert [r.batch for r in rows] == [1, 4, 16, 64]
    assert all(r.test == "tg128" and r.depth == 512 and r.threads == "16" for r in rows)
    assert [round(r.tokens_per_s, 2) for r in rows] == [674.85, 1678.17, 3838.10, 8007.40]
    # S_TG is all sequences' tokens over the decode time
    assert rows[-1].tokens_per_s == pytest.approx(64 * 128 / 1.023053, rel=1e-5)
    assert "fa 1" in rows[0].notes and "S_TG" in rows[0].notes
    with_prompt = import_batched_bench(path, "h200-sxm-141gb", "olmoe-1b-7b", "Q4_K_M", "x", prompt=True)
    assert [(r.test, r.batch) for r in with_prompt[:2]] == [("tg128", 1), ("pp512", 1)]


def test_batched_bench_markdown_matches_jsonl():
    md = read_batched_bench(MARKDOWN)
    js = read_batched_bench(BATCHED)
    assert [r["pl"] for r in md] == [1, 4, 16, 64]
    for a, b in zip(md, js, strict=True):
        assert a["speed_tg"] == pytest.approx(b["speed_tg"], abs=0.01)
        assert a["flash_attn"] == 1 and a["n_threads"] == 16


def test_batched_bench_decode_windows_end_at_the_line():
    events = [
        {"t": t, "stream": "out", "line": line} for t, line in zip(ARRIVED, BATCHED.splitlines(), strict=True)
    ]
    wins = batched_bench_windows(events)
    rec, (p0, p1), (d0, d1) = wins[-1]
    assert rec["pl"] == 64
    assert d1 == ARRIVED[-1] and d1 - d0 == pytest.approx(1.023053) and p1 == d0
    assert p1 - p0 == pytest.approx(1.156419)


def test_llama_bench_windows_start_at_the_progress_marks():
    events = [{"t": t, "stream": "err", "line": line} for t, line in PROGRESS]
    (wins,) = llama_bench_windows(events, [{"samples_ns": SAMPLES_NS}])
    assert [w[0] for w in wins] == [1796082768.5386, 1796082768.5594, 1796082768.5738]
    assert [w[1] - w[0] for w in wins] == pytest.approx([d / 1e9 for d in SAMPLES_NS], abs=1e-6)
    # each timed repetition ends before the next mark: the windows do not overlap
    assert all(a[1] <= b[0] + 1e-3 for a, b in zip(wins, wins[1:], strict=False))
    with pytest.raises(ValueError):
        llama_bench_windows(events, [{"samples_ns": SAMPLES_NS[:2]}])


def test_window_energy_on_captured_nvml_samples(tmp_path):
    path = tmp_path / "power.csv"
    path.write_text(POWER)
    s = read_samples(path)
    assert s.poll_hz > 10 and s.hz == pytest.approx(10.0, rel=0.05)  # the counter moves every 100 ms
    window = (ARRIVED[-1] - 1.023053, ARRIVED[-1])
    e = window_energy(s, [window])
    assert e.seconds == pytest.approx(1.023053)
    # the counter and the integrated power agree, at the ~360 W the GPU drew
    assert e.joules_counter == pytest.approx(e.joules_samples, rel=0.05)
    assert 330 < e.watts < 390
    assert e.counter_updates >= 9 and e.n_samples >= 9


def test_window_energy_on_a_staircase_counter():
    # a constant 300 W: counter refreshed every 0.1 s, polled every 0.02 s (repeats dropped)
    ts = [i * 0.1 for i in range(50)]
    s = Samples(t=ts, power=[300.0] * 50, te=ts, energy=[300.0 * t for t in ts], poll_hz=50)
    e = window_energy(s, [(1.03, 1.58), (2.0, 2.05)])
    assert e.joules_counter == pytest.approx(300 * 0.6)
    assert e.joules_samples == pytest.approx(300 * 0.6)
    assert e.watts == pytest.approx(300.0)


def test_power_sampler_and_runner_cli_parse():
    from roofline.llamacpp.power import main, run

    assert callable(main) and callable(run)
    events = json.loads(json.dumps({"t": 1.0, "stream": "out", "line": "x"}))
    assert batched_bench_windows([events]) == []
