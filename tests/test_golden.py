"""Golden end-to-end predictions: a change that moves one must say why in its commit
(regenerate with `python tests/golden/regenerate.py`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "golden"))
from regenerate import snapshot  # noqa: E402

GOLDEN = json.loads((Path(__file__).parent / "golden" / "predict.json").read_text())


def test_at_least_twenty_pairs():
    assert len(GOLDEN) >= 20


PAIRS = list(zip(snapshot(), GOLDEN, strict=True))


@pytest.mark.parametrize("now,then", PAIRS, ids=[" ".join(map(str, g["args"][:3])) for g in GOLDEN])
def test_prediction_unchanged(now, then):
    assert now["args"] == then["args"]
    assert now["tokens_per_second"] == pytest.approx(then["tokens_per_second"], rel=1e-6)
    assert now["bound"] == then["bound"] and now["fits"] == then["fits"]
    assert now["memory_total_bytes"] == pytest.approx(then["memory_total_bytes"], rel=1e-6)
    assert now["joules_per_token"] == pytest.approx(then["joules_per_token"], rel=1e-6)
    assert now["ops"] == pytest.approx(then["ops"], rel=1e-6)
