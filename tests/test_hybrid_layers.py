"""Hybrid models (specs/model.py layer_pattern, model/operators.py ssm_*): linear attention and
Mamba-2 layers keep a constant recurrent state instead of a KV cache that grows with context."""

from __future__ import annotations

import copy

import pytest

from roofline.api import predict
from roofline.errors import SpecError
from roofline.model.workload import Workload
from roofline.specs.catalog import validate
from roofline.specs.model import Model

DELTANET = {
    "id": "toy-deltanet",
    "name": "toy",
    "source": "test",
    "family": "qwen3_next",
    "n_layers": 8,
    "d_model": 1024,
    "vocab_size": 32000,
    "tied_embeddings": True,
    "attention": {"kind": "gqa", "n_heads": 8, "n_kv_heads": 2, "head_dim": 128, "output_gate": True},
    "ffn": {"d_ff": 2816},
    "layer_pattern": ["linear_attention", "linear_attention", "linear_attention", "attention"],
    "linear_attention": {
        "n_k_heads": 4,
        "n_v_heads": 8,
        "head_k_dim": 64,
        "head_v_dim": 96,
        "conv_kernel": 4,
    },
}
MAMBA = {
    **{k: v for k, v in DELTANET.items() if k not in ("layer_pattern", "linear_attention")},
    "id": "toy-mamba",
    "family": "nemotron_h",
    "norms_per_layer": 1,
    "attention": {"kind": "gqa", "n_heads": 8, "n_kv_heads": 2, "head_dim": 128},
    "layer_pattern": ["mamba_only", "ffn_only", "mamba_only", "ffn_only", "attention_only", "ffn_only"],
    "n_layers": 6,
    "mamba": {"n_heads": 16, "head_dim": 64, "d_state": 128, "n_groups": 2, "d_conv": 4},
}


def model(data: dict) -> Model:
    return validate(copy.deepcopy(data), Model, data["id"])


def test_deltanet_layer_parameters_by_hand():
    m = model(DELTANET)
    key, value, d = 4 * 64, 8 * 96, 1024
    per_layer = (
        (2 * key + 2 * value) * d  # in_proj_qkvz
        + 2 * 8 * d  # in_proj_ba
        + (2 * key + value) * 4  # depthwise conv
        + 8
        + 8
        + 96  # dt_bias, A_log, gated norm
        + d * value  # out_proj
    )
    layer0 = sum(t.numel for t in m.tensors if t.layer == 0 and t.role in ("ssm", "ssm_param"))
    assert layer0 == per_layer
    attn3 = {t.name: t.shape for t in m.tensors if t.layer == 3}
    assert attn3["attn_q"] == (2 * 8 * 128, d)  # the output gate doubles q_proj
    assert m.layers_with("attention") == [3, 7]


def test_mamba2_layer_parameters_by_hand():
    m = model(MAMBA)
    d, inner, gn = 1024, 16 * 64, 2 * 128
    per_layer = (
        (2 * inner + 2 * gn + 16) * d  # in_proj: x, z, B, C, dt
        + (inner + 2 * gn) * (4 + 1)  # conv weight and bias
        + 3 * 16  # dt_bias, A_log, D
        + inner  # gated norm
        + d * inner  # out_proj
    )
    assert sum(t.numel for t in m.tensors if t.layer == 0 and t.role in ("ssm", "ssm_param")) == per_layer
    assert not any(t.name.startswith("ffn") for t in m.tensors if t.layer in (0, 2, 4))  # mixer-only blocks
    assert not any(t.name.startswith(("attn", "ssm")) for t in m.tensors if t.layer in (1, 3, 5))
    state = 16 * 64 * 128 + 3 * (inner + 2 * gn)
    assert m.recurrent_state_bytes() == 2 * state * 4  # two Mamba layers, F32


@pytest.mark.parametrize("spec", [DELTANET, MAMBA], ids=["deltanet", "mamba2"])
def test_recurrent_state_keeps_decode_flat_in_depth(spec):
    """The recurrent core reads and computes the same at any depth; the attention core grows with it.
    (Its time may still change: a deeper cache can push the step's working set out of L2.)"""
    m = model(spec)
    ops = [{o.op: o for o in predict("rtx-4090", m, Workload(depth=d)).breakdown} for d in (0, 32768)]
    assert ops[1]["ssm_core"].kv_bytes == ops[0]["ssm_core"].kv_bytes > 0
    assert ops[1]["ssm_core"].flops == ops[0]["ssm_core"].flops > 0
    assert ops[1]["attn_core"].kv_bytes > 10 * ops[0]["attn_core"].kv_bytes


def test_hybrid_slows_less_with_depth_than_all_attention():
    hybrid = model(DELTANET)
    dense = model(
        {**DELTANET, "id": "toy-all-attention", "layer_pattern": ["attention"], "linear_attention": None}
    )

    def slowdown(m: Model) -> float:
        t = [predict("rtx-4090", m, Workload(depth=d)).tokens_per_second for d in (0, 65536)]
        return t[0] / t[1]

    assert slowdown(hybrid) < slowdown(dense)


def test_footprint_holds_the_state_per_sequence():
    m = model(DELTANET)
    one, four = (predict("rtx-4090", m, Workload(batch=b)).memory.kv_cache_bytes for b in (1, 4))
    attn_kv = 2 * 2 * 128 * 2 * 2 * 128  # 2 attention layers x K,V x 2 heads x 128 x f16, x 128 tokens
    assert one == pytest.approx(attn_kv + m.recurrent_state_bytes())
    assert four == pytest.approx(4 * one)


def test_unknown_layer_kind_and_missing_mixer_are_errors():
    with pytest.raises(SpecError, match="unknown layer kinds"):
        model({**DELTANET, "layer_pattern": ["attention", "retnet"]})
    with pytest.raises(SpecError, match="no 'mamba' section"):
        model({**DELTANET, "layer_pattern": ["mamba", "attention"], "linear_attention": None})
