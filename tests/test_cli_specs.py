"""`roofline specs` and `roofline model import`: JSON shapes, and import reproducing bundled specs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from roofline.specs import load_model
from roofline.specs.catalog import validate
from roofline.specs.hf_import import import_config
from roofline.specs.model import Model

CONFIGS = sorted((Path(__file__).parent / "data" / "hf_configs").glob("*.json"))


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["roofline", *args], capture_output=True, text=True, cwd=cwd, timeout=60)


def test_specs_list_json_from_another_directory(tmp_path):
    r = _cli("specs", "list", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert len(out["devices"]) >= 31 and len(out["models"]) >= 29
    assert "olmoe-1b-7b" in out["models"] and "jetson-orin-nano-8gb" in out["devices"]


def test_specs_show_model_json_counts():
    r = _cli("specs", "show", "olmoe-1b-7b", "--json")
    info = json.loads(r.stdout)
    assert isinstance(info["total_params"], int) and isinstance(info["active_params"], int)
    assert info["total_params"] == load_model("olmoe-1b-7b").total_params
    assert info["file_size_bytes"]["Q4_K_M"] > info["file_size_bytes"]["Q2_K"]


def test_specs_show_device_json_ridge_points():
    info = json.loads(_cli("specs", "show", "jetson-orin-nano-8gb", "--json").stdout)
    assert info["ridge_points_flop_per_byte"]
    assert info["main_memory"]["usable_bytes"] <= info["main_memory"]["capacity_bytes"]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_import_reproduces_bundled_spec(config):
    """The importer, run on the saved config.json, yields the same shapes as the bundled spec."""
    if "_partial" in json.loads(config.read_text()):
        pytest.skip("the saved config copy is partial (see its _partial note)")
    imported = validate(import_config(config, config.stem), Model, str(config))
    bundled = load_model(config.stem)
    assert imported.total_params == bundled.total_params
    assert imported.active_params == bundled.active_params
    assert imported.kv_bytes_per_token(2, context=32768) == pytest.approx(
        bundled.kv_bytes_per_token(2, context=32768)
    )


def test_import_cli_writes_yaml_and_refuses_overwrite(tmp_path):
    cfg = next(c for c in CONFIGS if c.stem == "llama-3.2-1b")
    out = tmp_path / "my-llama.yaml"
    r = _cli("model", "import", str(cfg), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert load_model(out).total_params == load_model("llama-3.2-1b").total_params
    r = _cli("model", "import", str(cfg), "-o", str(out))
    assert r.returncode == 2 and "--force" in r.stderr


def test_import_unsupported_model_type(tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"model_type": "bert", "hidden_size": 768}))
    r = _cli("model", "import", str(cfg))
    assert r.returncode == 2
    assert "unsupported model_type 'bert'" in r.stderr and "qwen3_moe" in r.stderr


@pytest.mark.parametrize(
    "typed,meant",
    [
        ("rtx4090", "rtx-4090"),
        ("rtx-490", "rtx-4090"),
        ("apple-m2pro", "apple-m2-pro"),
        ("ryzen-ai-max-395", "ryzen-ai-max-plus-395"),
    ],
)
def test_did_you_mean_finds_near_misses(typed, meant):
    from roofline.specs.catalog import suggestions

    assert f"{meant} (device)" in suggestions(typed)


def test_specs_show_finds_a_unique_partial_id():
    out = _cli("specs", "show", "h200", "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["id"] == "h200-sxm-141gb"
    assert _cli("specs", "show", "qwen3").returncode == 2  # several models: no guess


def test_what_a_device_spec_lacks_is_said_once_in_specs_show_not_on_every_prediction():
    """dgx-spark-gb10 lists no int8 peak, so llama.cpp CUDA's MMQ runs at its fp16 peak there."""
    shown = json.loads(_cli("specs", "show", "dgx-spark-gb10", "--json").stdout)
    assert any("no int8 peak" in n for n in shown["engine_notes"])
    p = json.loads(_cli("predict", "--device", "dgx-spark-gb10", "--model", "llama-3.2-1b", "--json").stdout)
    assert any("no int8 peak" in n for n in p["spec_notes"])
    assert not any("no int8 peak" in w for w in p["warnings"])


def test_a_gpu_spec_without_multiprocessors_is_told_the_streaming_limit_is_off(tmp_path):
    """llama.cpp CUDA limits weight streaming to stream_bytes_per_cycle x SMs x clock; a user's GPU
    spec that lists neither gets no limit, and `specs show` and the JSON prediction say so."""
    src = Path(__file__).parents[1] / "hardware_specs" / "rtx-4090.yaml"
    lines = [
        ln.replace("id: rtx-4090", "id: my-4090")
        for ln in src.read_text().splitlines(keepends=True)
        if not ln.lstrip().startswith(("multiprocessors:", "clock:"))
    ]
    spec = tmp_path / "my-4090.yaml"
    spec.write_text("".join(lines))
    shown = json.loads(_cli("specs", "show", str(spec), "--json").stdout)
    assert any("stream_bytes_per_cycle" in n for n in shown["engine_notes"])
    mine = json.loads(_cli("predict", "--device", str(spec), "--model", "llama-3.1-8b", "--json").stdout)
    bundled = json.loads(_cli("predict", "--device", "rtx-4090", "--model", "llama-3.1-8b", "--json").stdout)
    assert any("stream_bytes_per_cycle" in n for n in mine["spec_notes"])
    assert not any("stream_bytes_per_cycle" in n for n in bundled["spec_notes"])
    assert mine["tokens_per_second"] > bundled["tokens_per_second"]  # no limit: faster, and said
