"""Physics regression: parameter counts derived from the specs match what publishers state.

Published figures are rounded; a figure stated to n significant digits is matched within 1 %
or within one unit of its last digit, whichever is looser ("3.3B" covers 3.2-3.4B).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from roofline.specs import load_model

DATA = Path(__file__).resolve().parent / "data"

PUBLISHED = yaml.safe_load((DATA / "published_params.yaml").read_text())


def _tolerance(published: float) -> float:
    mantissa = f"{published:.6g}".split("e")[0].replace(".", "").lstrip("0").rstrip("0")
    exponent = int(f"{published:.6e}".split("e")[1])
    last_digit_unit = 10.0 ** (exponent - max(len(mantissa), 1) + 1)
    return max(0.01 * published, last_digit_unit)


@pytest.mark.parametrize("model_id", sorted(PUBLISHED))
def test_total_params_match_published(model_id):
    ref = PUBLISHED[model_id]
    if ref.get("total_includes_vision"):
        pytest.skip(f"published total includes a vision tower the text-only spec omits: {ref['scope']}")
    m = load_model(model_id)
    assert abs(m.total_params - ref["total"]) <= _tolerance(ref["total"]), (
        f"{model_id}: derived {m.total_params:.4e} vs published {ref['total']:.4e} ({ref['source']})"
    )


@pytest.mark.parametrize("model_id", sorted(k for k, v in PUBLISHED.items() if "active" in v))
def test_active_params_match_published(model_id):
    ref = PUBLISHED[model_id]
    m = load_model(model_id)
    active = m.active_params
    if ref.get("active_excludes_input_embedding"):
        active -= m.vocab_size * m.d_model
    if ref.get("active_excludes_per_layer_embedding"):  # Gemma-3n's "effective" parameters
        active -= m.per_layer_embedding_params
    assert abs(active - ref["active"]) <= _tolerance(ref["active"]), (
        f"{model_id}: derived {active:.4e} vs published {ref['active']:.4e} ({ref['source']})"
    )


def test_tolerance_reads_published_precision():
    assert _tolerance(3.3e9) == pytest.approx(1e8)
    assert _tolerance(6.92e9) == pytest.approx(6.92e7)  # 1 % is looser than 0.01e9
    assert _tolerance(116.83e9) == pytest.approx(1.1683e9)


def test_distinct_layer_layouts():
    ds = load_model("deepseek-v3")
    assert [ds.is_moe_layer(i) for i in range(4)] == [False, False, False, True]
    assert ds.n_moe_layers == 58
    g3 = load_model("gemma-3-12b")
    assert [g3.is_global_layer(i) for i in range(6)] == [False] * 5 + [True]
