"""Held-out intervals (issue 16.5): the scatter of a device-held-out interval comes from a
leave-one-device-out inside the fold's training devices, never from the held-out device."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from roofline.model.engine import load_engine
from roofline.model.stacked import stack
from roofline.model.uncertainty import heldout_sigma, interval, intervals
from roofline.validation.calibrate import Runs, calibrate
from roofline.validation.fitcache import FitCache
from roofline.validation.report import Entry, Fold, _score, coverage, inner_residuals, load_traces

TRACES = Path(__file__).resolve().parents[1] / "validation" / "traces"


@pytest.fixture(scope="module")
def cuda_rows():
    rows = load_traces([TRACES / "public.e2e.csv", TRACES / "public2.e2e.csv"])
    return [r for r in rows if r.engine == "llama.cpp-cuda"]


def test_heldout_sigma_weighs_each_device_the_same():
    res = [("a", "decode", 0.1)] * 50 + [("b", "decode", -0.3), ("b", "prefill", 0.2), ("c", "prefill", 0.4)]
    sig = heldout_sigma(res)
    # decode: device a's 50 rows at 0.1 weigh as much as b's one at 0.3, so half the weight sits at
    # 0.3 and the 80 % band must reach it: sigma = 0.3 / 1.2816 (not 0.1, where a's rows would put it)
    assert sig["decode"] == pytest.approx(0.3 / 1.2815515655446004)
    assert sig["prefill"] == pytest.approx(0.4 / 1.2815515655446004)


def test_heldout_sigma_is_the_scale_whose_band_holds_80_percent():
    # ten devices of one row each, |residual| 0.1 .. 1.0: the 80 % band reaches the 8th, 0.8
    res = [(f"d{i}", "decode", (-1) ** i * i / 10) for i in range(1, 11)]
    assert heldout_sigma(res)["decode"] == pytest.approx(0.8 / 1.2815515655446004)


def test_heldout_sigma_pools_phases_or_gives_up():
    # one device has prefill rows: prefill takes the pooled scatter of both devices
    sig = heldout_sigma([("a", "decode", 0.2), ("b", "decode", 0.2), ("a", "prefill", 0.2)])
    z = 1.2815515655446004
    assert sig["prefill"] == pytest.approx(0.2 / z) and sig["decode"] == pytest.approx(0.2 / z)
    assert heldout_sigma([("a", "decode", 0.2), ("a", "prefill", 0.5)]) == {}
    assert heldout_sigma([]) == {}


def test_interval_widens_with_the_given_scatter(cuda_rows):
    runs = Runs()
    train = [r for r in cuda_rows if r.device != "rtx-4090"]
    test = [r for r in cuda_rows if r.device == "rtx-4090"][:6]
    prof = calibrate(train, "llama.cpp-cuda", runs=runs).profile(load_engine("llama.cpp-cuda"))
    own = prof.calibration["residual_sigma_log"]
    held = stack([runs(r) for r in test])
    lo0, mid0, hi0 = intervals(held, prof, n=100)
    # the default is the fit's own residual sigma, drawn the same way as before
    lo1, mid1, hi1 = intervals(held, prof, n=100, sigma=np.full(len(test), own))
    assert np.allclose(lo0, lo1) and np.allclose(hi0, hi1)
    lo2, _, hi2 = intervals(held, prof, n=100, sigma=np.full(len(test), 3 * own))
    assert np.all(np.log(hi2 / lo2) > 2 * np.log(hi0 / lo0))
    assert interval(runs(test[0]), prof, n=100, sigma=3 * own) == (lo2[0], mid0[0], hi2[0])


def test_lodo_interval_never_uses_the_held_out_device(cuda_rows, tmp_path):
    """The held-out device's measurements can be anything: its interval is the same."""
    runs, cache = Runs(), FitCache(tmp_path)
    devices = ["rtx-3070", "rtx-3080-ti", "rtx-4070-ti", "rtx-4090"]
    rows = [r for r in cuda_rows if r.device in devices]
    train = [r for r in rows if r.device != "rtx-4090"]
    test = [r for r in rows if r.device == "rtx-4090"]
    inner = inner_residuals(train, "llama.cpp-cuda", runs, cache)
    assert {d for d, _, _ in inner} == {"rtx-3070", "rtx-3080-ti", "rtx-4070-ti"}
    bands = []
    for scale in (1.0, 7.0):
        from dataclasses import replace

        entries = [Entry(replace(r, tokens_per_s=r.tokens_per_s * scale), 1.0) for r in test]
        _score(Fold("llama.cpp-cuda", "device", "rtx-4090", train, entries), runs, cache)
        assert all(e.sigma_from == "held-out" for e in entries)
        bands.append([(e.lodo_lo, e.lodo_hi, e.lodo_sigma) for e in entries])
    assert bands[0] == bands[1]
    want = heldout_sigma(inner)
    assert [e.lodo_sigma for e in entries] == [want[r.phase] for r in test]


def test_coverage_over_rows_and_devices():
    from roofline.traces.files import E2ERow

    def entry(device, meas, lo, hi):
        e = Entry(
            E2ERow(
                device=device,
                engine="x",
                model="m",
                quant="Q4_0",
                test="tg128",
                depth=0,
                batch=1,
                tokens_per_s=meas,
                source="s",
            ),
            1.0,
        )
        e.lodo_lo, e.lodo_hi = lo, hi
        return e

    es = [entry("a", 1.0, 0.5, 2.0)] * 3 + [entry("b", 5.0, 0.5, 2.0)]
    rows_c, dev_c, n = coverage(es)
    assert (rows_c, dev_c, n) == (0.75, 0.5, 2)


def test_verdict_pairs_join_one_build_across_sources():
    """One machine and build, one log per model (the R9700 toolboxes): still a same-machine pair."""
    from roofline.traces.files import E2ERow
    from roofline.validation.report import verdict_pairs

    def entry(model, arch, version, source):
        row = E2ERow(
            device="d", engine="x", model=model, quant="Q4_0", test="tg128", depth=0, batch=1,
            tokens_per_s=1.0, source=source, engine_version=version,
        )  # fmt: skip
        return Entry(row, 1.0, arch=arch)

    same = [entry("moe", "moe", "b1", "log-a"), entry("dense", "dense", "b1", "log-b")]
    assert len(verdict_pairs(same)) == 1
    other_build = [entry("moe", "moe", "b1", "log-a"), entry("dense", "dense", "b2", "log-b")]
    assert verdict_pairs(other_build) == []
    no_build = [entry("moe", "moe", "", "log-a"), entry("dense", "dense", "", "log-b")]
    assert verdict_pairs(no_build) == []
