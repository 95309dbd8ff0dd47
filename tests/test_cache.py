"""The disk cache (roofline.cache) and the lambdified formulas it keeps for model.symbolic: entries
round-trip, a broken or foreign entry is recomputed, and a warm cache gives the very function
sympy would build, without importing sympy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from roofline import cache
from roofline.model import symbolic
from roofline.model.workload import Workload


def test_entries_round_trip_and_broken_ones_are_misses(tmp_path):
    store = cache.Store(tmp_path)
    store.put("k", {"x": [1.5, None]})
    assert store.get("k") == {"x": [1.5, None], "format": cache.FORMAT}
    (tmp_path / "k.json").write_text("{broken")
    assert store.get("k") is None
    (tmp_path / "k.json").write_text(json.dumps({"x": 1, "format": cache.FORMAT + 1}))
    assert store.get("k") is None and store.misses == 2 and store.hits == 1
    off = cache.Store(None)
    off.put("k", {"x": 1})
    assert off.get("k") is None


def test_keys_keep_their_parts_apart():
    assert cache.key("ab", "c") != cache.key("a", "bc")
    assert cache.key("a", "b") == cache.key("a", "b")


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    monkeypatch.setenv(cache.ENV, str(tmp_path))
    symbolic._build_cached.cache_clear()
    yield tmp_path
    symbolic._build_cached.cache_clear()


def _grid(sm):
    w = sm.values["bandwidth"]
    return np.meshgrid([1.0, 7.0, 300.0], [0.0, 2048.0, 65536.0], [w / 3, w, 4 * w])


@pytest.mark.parametrize(("model", "test"), [("olmoe-1b-7b", "tg128"), ("qwen3-30b-a3b", "pp512")])
def test_a_warm_cache_gives_the_function_sympy_builds(fresh, model, test):
    cold = symbolic.build("jetson-orin-nano-8gb", model, Workload(test=test))
    want = cold.function()(*_grid(cold))
    assert len(list((fresh / "lambdified").glob("*.json"))) == 1
    symbolic._build_cached.cache_clear()
    warm = symbolic.build("jetson-orin-nano-8gb", model, Workload(test=test))
    got = warm.function()(*_grid(warm))
    assert "_step" not in warm.__dict__  # no sympy expression was built
    assert np.array_equal(got, want)
    # and the expressions, built on demand, are the ones the function came from
    assert np.array_equal(
        symbolic._lambdify(list(warm.symbols.values()), warm.tokens_per_second)(*_grid(warm)), want
    )


def test_a_foreign_entry_is_rebuilt(fresh):
    sm = symbolic.build("apple-m2-pro", "llama-3.2-1b")
    want = sm.function()(*_grid(sm))
    (entry,) = (fresh / "lambdified").glob("*.json")
    entry.write_text(
        json.dumps({"source": "def f(B, D, W):\n    return os.system('x')\n", "format": cache.FORMAT})
    )
    symbolic._build_cached.cache_clear()
    again = symbolic.build("apple-m2-pro", "llama-3.2-1b")
    assert np.array_equal(again.function()(*_grid(again)), want)
    assert symbolic._from_source("def f(B, D, W):\n    return os.system('x')\n") is None
    assert not symbolic._same_function(lambda b, d, w: b + d, lambda b, d, w: b + d + 1e-12, 1e11)


def test_crossover_on_a_warm_cache_does_not_import_sympy(fresh):
    code = (
        "import sys\n"
        "from roofline.model.symbolic import crossover\n"
        "c = crossover('jetson-orin-nano-8gb', 'olmoe-1b-7b', 'llama-3.2-1b', 'batch')\n"
        "print(c.describe()); print('sympy' in sys.modules)\n"
    )
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    second = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert first.stdout.splitlines()[-1] == "True" and second.stdout.splitlines()[-1] == "False"
    assert first.stdout.splitlines()[0] == second.stdout.splitlines()[0]


def test_a_store_keeps_its_most_recently_used_entries(tmp_path):
    store = cache.Store(tmp_path, max_entries=6)
    for i in range(6):
        (tmp_path / f"k{i}.json").write_text(json.dumps({"i": i, "format": cache.FORMAT}))
        os.utime(tmp_path / f"k{i}.json", (time.time() - 100 + i, time.time() - 100 + i))
    assert store.get("k0") == {"i": 0, "format": cache.FORMAT}  # read now: the most recent
    store.put("new", {"i": 6})  # 7 entries > 6: the least recently used go, 3 stay
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == ["k0", "k5", "new"]
