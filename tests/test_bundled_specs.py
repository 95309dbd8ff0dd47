"""Every bundled spec validates, carries provenance, and the catalog has what the product promises."""

from __future__ import annotations

import pytest

from roofline.specs import check_file, list_ids, load_device, load_model
from roofline.specs.catalog import _bundled_root

REQUIRED_DEVICES = """apple-m1 apple-m1-max apple-m2-pro apple-m2-max apple-m3-max apple-m4-pro apple-m4-max
jetson-orin-nano-8gb jetson-orin-nano-super-8gb jetson-agx-orin-64gb raspberry-pi-5-8gb rtx-3060-12gb
rtx-3090 rtx-4060 rtx-4090 rtx-5090 a100-sxm-80gb h100-sxm-80gb h200-sxm-141gb ryzen-9-7950x
intel-core-ultra-7-258v snapdragon-8-gen-3 snapdragon-x-elite radeon-rx-7900-xtx ryzen-ai-max-plus-395
dgx-spark-gb10 jetson-agx-thor apple-m2-ultra apple-m3-ultra arc-pro-b70
rtx-pro-4000-blackwell-sff""".split()

REQUIRED_MODELS = """olmoe-1b-7b llama-2-7b llama-3.1-70b gemma-3-12b gemma-3-27b mistral-small-24b
llama-3.2-1b
llama-3.2-3b llama-3.1-8b qwen2.5-1.5b qwen2.5-7b gemma-2-2b qwen3-4b qwen3-8b qwen3-14b qwen3-32b
qwen3-30b-a3b qwen3-235b-a22b mixtral-8x7b mistral-7b deepseek-v2-lite deepseek-v3 gpt-oss-20b
gpt-oss-120b phi-3.5-moe qwen1.5-moe-a2.7b llama-4-scout granite-3.1-3b-a800m gemma-3-4b""".split()

DEVICE_FILES = sorted((_bundled_root() / "hardware_specs").glob("*.yaml"))
MODEL_FILES = sorted((_bundled_root() / "model_specs").glob("*.yaml"))


def test_catalog_has_required_devices_and_models():
    assert set(REQUIRED_DEVICES) <= set(list_ids("device")), set(REQUIRED_DEVICES) - set(list_ids("device"))
    assert set(REQUIRED_MODELS) <= set(list_ids("model")), set(REQUIRED_MODELS) - set(list_ids("model"))


@pytest.mark.parametrize("path", DEVICE_FILES, ids=lambda p: p.stem)
def test_device_spec_valid_and_sourced(path):
    d = check_file(path)
    assert d.id == path.stem
    figures = d.figures()
    assert figures, "a device with no figures"
    for where, fig in figures:
        assert fig.source or (fig.estimated and fig.reason), f"{where} has no provenance"
    # physics sanity: main memory is the biggest and (for bandwidth) not faster than a cache
    main = d.main_memory
    assert d.usable_capacity <= main.capacity.value
    for p in d.processors:
        for cache in p.caches:
            assert cache.capacity.value < main.capacity.value


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.stem)
def test_model_spec_valid(path):
    m = check_file(path)
    assert m.id == path.stem
    assert m.source.startswith("http")
    assert m.active_params <= m.total_params
    assert (m.active_params < m.total_params) == m.is_moe


def test_ridge_point_is_peak_over_bandwidth():
    d = load_device("h100-sxm-80gb")
    gpu = d.processor("gpu")
    assert gpu is not None
    ridge = d.ridge_points()[f"gpu: {gpu.name}"]
    bf16 = gpu.peak("bf16")
    assert ridge["bf16"] == pytest.approx(bf16 / d.main_bandwidth)
    # H100 SXM: ~989 dense BF16 TFLOPS over 3.35 TB/s is a ridge near 295 FLOP/byte
    assert 250 < ridge["bf16"] < 350


def test_kv_bytes_per_token_gqa_mha_mla():
    # Llama-3.2-1B: 16 layers x 2 (K,V) x 8 KV heads x 64 dims x 2 B = 32 KiB per token
    assert load_model("llama-3.2-1b").kv_bytes_per_token(2) == 16 * 2 * 8 * 64 * 2
    # OLMoE-1B-7B (MHA): 16 layers x 2 x 16 heads x 128 dims x 2 B = 128 KiB per token, 4x Llama's
    assert load_model("olmoe-1b-7b").kv_bytes_per_token(2) == 16 * 2 * 16 * 128 * 2
    # DeepSeek-V3 (MLA): 61 layers x (512 latent + 64 rope) x 2 B
    assert load_model("deepseek-v3").kv_bytes_per_token(2) == 61 * (512 + 64) * 2


def test_sliding_window_caps_kv_growth():
    g = load_model("gemma-2-2b")  # window 4096 on every other layer
    full = g.kv_bytes_per_token(2)
    assert g.kv_bytes_per_token(2, context=4096) == pytest.approx(full)
    assert g.kv_bytes_per_token(2, context=8192) == pytest.approx(full * 0.75)
