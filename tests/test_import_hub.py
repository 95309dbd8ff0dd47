"""`roofline model import Org/Name`: config.json through huggingface_hub, tested on a pre-filled
offline cache (HF_HUB_OFFLINE=1, the cache under tmp_path): these tests never touch the network."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from roofline.cli import main
from roofline.errors import SpecError
from roofline.specs import load_model
from roofline.specs.catalog import validate
from roofline.specs.hf_import import import_hub, looks_like_hub_id
from roofline.specs.model import Model

pytest.importorskip("huggingface_hub")

CONFIG = Path(__file__).parent / "data" / "hf_configs" / "qwen3-30b-a3b.json"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """A Hugging Face cache holding Qwen/Qwen3-30B-A3B's config.json at `main`, laid out as
    huggingface_hub writes it (refs/main -> snapshots/<commit>/config.json), and offline mode."""
    cache = tmp_path / "hf" / "hub"
    repo = cache / "models--Qwen--Qwen3-30B-A3B"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    (repo / "snapshots" / COMMIT).mkdir(parents=True)
    shutil.copy(CONFIG, repo / "snapshots" / COMMIT / "config.json")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def test_hub_id_reads_the_cached_config(hub_cache):
    spec = import_hub("Qwen/Qwen3-30B-A3B")
    assert spec["id"] == "qwen3-30b-a3b"
    assert spec["source"] == "https://huggingface.co/Qwen/Qwen3-30B-A3B/blob/main/config.json"
    m = validate(spec, Model, "hub")
    assert m.total_params == load_model("qwen3-30b-a3b").total_params


def test_hub_id_through_the_cli(hub_cache, tmp_path):
    out = tmp_path / "q.yaml"
    r = CliRunner().invoke(
        main, ["model", "import", "Qwen/Qwen3-30B-A3B", "-o", str(out)], catch_exceptions=False
    )
    assert r.exit_code == 0, r.output
    assert load_model(out).active_params == load_model("qwen3-30b-a3b").active_params


def test_offline_without_a_cached_copy_says_what_it_needs(hub_cache):
    with pytest.raises(SpecError, match="needs the network or a cached copy") as err:
        import_hub("Qwen/Qwen3-8B")
    assert "HF_HUB_OFFLINE" in str(err.value) and "Qwen/Qwen3-8B" in str(err.value)
    r = CliRunner().invoke(main, ["model", "import", "Qwen/Qwen3-8B"], catch_exceptions=False)
    assert r.exit_code == 2 and "needs the network or a cached copy" in r.output


def test_without_huggingface_hub_the_extra_is_named(hub_cache, monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(SpecError, match=r"moe-roofline\[hub\]"):
        import_hub("Qwen/Qwen3-30B-A3B")


def test_what_reads_as_a_hub_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert looks_like_hub_id("Qwen/Qwen3-30B-A3B") and looks_like_hub_id("google/gemma-3n-E4B-it")
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "x.json").write_text(json.dumps({}))
    for not_hub in ("configs/x.json", "a/b/c", "config.json", "/abs/path", "Org/model.gguf", "x"):
        assert not looks_like_hub_id(not_hub), not_hub
