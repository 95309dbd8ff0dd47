"""The held-out fits kept on disk (validation.fitcache): a hit gives back exactly the fit it stored,
anything that could change a fit misses, a broken entry is refitted, and the cache can be moved or
turned off."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from roofline.cache import FORMAT
from roofline.model.engine import load_engine
from roofline.validation import fitcache
from roofline.validation.calibrate import CalibrationError, calibrate
from roofline.validation.fitcache import FitCache, cache_dir, calibrate_cached, key
from roofline.validation.report import build_entries, load_traces

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def metal():
    rows = load_traces(sorted((ROOT / "validation" / "traces").glob("*.e2e.csv")))
    return [r for r in rows if r.engine == "llama.cpp-metal"]


def test_a_hit_returns_the_fit_it_stored(metal, tmp_path):
    cache = FitCache(tmp_path)
    direct = calibrate(metal, "llama.cpp-metal")
    first = calibrate_cached(metal, "llama.cpp-metal", cache)
    again = calibrate_cached(metal, "llama.cpp-metal", cache)
    assert (cache.misses, cache.hits) == (1, 1) and len(list(tmp_path.glob("*.json"))) == 1
    for fit in (first, again):
        for f in dataclasses.fields(fit):
            if f.name != "rows":
                assert getattr(fit, f.name) == getattr(direct, f.name), f.name
        assert fit.rows == direct.rows


def test_anything_that_changes_a_fit_changes_its_key(metal):
    base = load_engine("llama.cpp-metal")
    k = key(metal, base)
    assert key(list(metal), base) == k
    faster = [dataclasses.replace(metal[0], tokens_per_s=metal[0].tokens_per_s * 1.001), *metal[1:]]
    assert key(faster, base) != k
    assert key(metal[1:], base) != k
    assert key(metal, base.model_copy(update={"bandwidth_efficiency": 0.5})) != k
    assert key(metal, load_engine("llama.cpp-vulkan")) != k


def test_a_broken_entry_is_refitted_and_errors_are_kept(metal, tmp_path):
    cache = FitCache(tmp_path)
    calibrate_cached(metal, "llama.cpp-metal", cache)
    (entry,) = tmp_path.glob("*.json")
    entry.write_text("{not json")
    assert calibrate_cached(metal, "llama.cpp-metal", cache).converged
    assert json.loads(entry.read_text())["format"] == FORMAT
    one = metal[:1]
    for _ in range(2):
        with pytest.raises(CalibrationError):
            calibrate_cached(one, "llama.cpp-metal", cache)
    assert cache.hits == 1  # the second refusal came from the cache


def test_the_cache_dir_can_be_moved_or_turned_off(monkeypatch, tmp_path):
    monkeypatch.setenv(fitcache.ENV, str(tmp_path))
    assert cache_dir() == tmp_path / "fits"
    for off in ("off", "none", "0", ""):
        monkeypatch.setenv(fitcache.ENV, off)
        assert cache_dir() is None
    monkeypatch.delenv(fitcache.ENV)
    assert cache_dir() is not None and "moe-roofline" in str(cache_dir())
    assert FitCache(None).get("x") is None  # turned off: nothing kept, nothing read


def test_report_entries_are_the_same_from_the_cache(metal, tmp_path):
    cold = build_entries(metal, cache=FitCache(tmp_path))
    told = []
    warm = build_entries(
        metal, progress=lambda done, total, what: told.append((done, total)), cache=FitCache(tmp_path)
    )
    assert told and told[-1][0] == told[-1][1] == len(told)
    uncached = build_entries(metal, cache=FitCache(None))
    for a, b, c in zip(cold, warm, uncached, strict=True):
        assert (a.spec, a.lodo, a.lodo_lo, a.lodo_hi, a.lomo) == (
            b.spec,
            b.lodo,
            b.lodo_lo,
            b.lodo_hi,
            b.lomo,
        )
        assert (a.spec, a.lodo, a.lodo_lo, a.lodo_hi, a.lomo) == (
            c.spec,
            c.lodo,
            c.lodo_lo,
            c.lodo_hi,
            c.lomo,
        )
    assert any(e.lodo is not None for e in cold) and any(e.lomo is not None for e in cold)


def test_a_held_out_fit_repeats_the_recipe_the_profile_was_fitted_with(metal, tmp_path):
    """`as_shipped`: a profile whose `fit:` block names the parameters its defaults were fitted with
    is refitted with those only, devices weighted the same; without the flag (or without a block)
    every parameter the rows determine is fitted, rows weighted the same."""
    from roofline.model.engine import FitRecipe

    base = load_engine("llama.cpp-metal")
    assert base.fit is None  # the Metal defaults are the estimate: nothing to repeat
    recipe = FitRecipe(parameters=("compute_efficiency", "bandwidth_efficiency"))
    shipped = base.model_copy(update={"fit": recipe})
    cache = FitCache(tmp_path)
    got = calibrate_cached(metal, shipped, cache, as_shipped=True)
    want = calibrate(metal, shipped, recipe.parameters, balance_devices=True)
    assert set(got.params) == {"compute_efficiency", "bandwidth_efficiency"}
    assert got.params == pytest.approx(want.params, rel=1e-9)
    everything = calibrate_cached(metal, shipped, cache)
    assert set(everything.params) > set(got.params)
    assert cache.misses == 2  # the recipe is part of the key


def test_a_fit_recipe_names_known_parameters_only(tmp_path):
    from roofline.errors import SpecError

    text = (ROOT / "roofline" / "engines" / "llama.cpp-rocm.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.split("\nfit:\n")[0] + "\nfit:\n  parameters: [compute_efficiency, speed]\n")
    with pytest.raises(SpecError, match=r"fit\.parameters.*unknown fit parameter\(s\) speed"):
        load_engine(str(bad))
    for profile in ("llama.cpp-cpu", "llama.cpp-cuda", "llama.cpp-rocm", "llama.cpp-vulkan"):
        assert load_engine(profile).fit is not None, profile  # every fitted default says how


def test_the_fit_script_writes_the_recipe_it_adopted(tmp_path):
    """scripts/fit_default_profiles.py rewrites a profile's fitted values, provenance and `fit:`
    block, replacing a block already there, and the profile still loads with the new recipe."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("fit_script", ROOT / "scripts" / "fit_default_profiles.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    path = tmp_path / "rocm.yaml"
    path.write_text((ROOT / "roofline" / "engines" / "llama.cpp-rocm.yaml").read_text())
    free = ("compute_efficiency", "attention_efficiency")
    path.write_text(
        script.rewrite(path, {"compute_efficiency": 0.5}, "fitted by a test", script.fit_block(free, False))
    )
    got = load_engine(str(path))
    assert got.compute_efficiency == 0.5 and got.provenance == "fitted by a test"
    assert got.fit is not None and got.fit.parameters == free and not got.fit.devices_weighted_equally
    assert path.read_text().count("\nfit:\n") == 1
    path.write_text(script.rewrite(path, {}, "again", script.fit_block(None, True)))
    assert load_engine(str(path)).fit.parameters == "all"
