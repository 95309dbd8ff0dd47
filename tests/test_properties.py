"""Invariants of the cost model (hypothesis): more bandwidth never slower, more active experts never
faster, deeper context never faster in decode, larger batch never lowers aggregate throughput
(ideal engine), more kernel overhead never faster."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, reject, settings
from hypothesis import strategies as st

from roofline.api import predict
from roofline.errors import SpecError
from roofline.model.engine import load_engine
from roofline.model.symbolic import sweep
from roofline.model.workload import Workload
from roofline.specs import load_device, load_model
from roofline.specs.sourced import Sourced

DEVICES = ["jetson-orin-nano-8gb", "apple-m2-pro", "rtx-4090", "ryzen-9-7950x", "h100-sxm-80gb"]
MODELS = ["olmoe-1b-7b", "llama-3.2-1b", "qwen3-30b-a3b", "gemma-2-2b", "deepseek-v2-lite"]
ENGINES = ["ideal", None, "llama.cpp-cuda-b4404", "hf-transformers"]
QUANTS = ["Q4_K_M", "Q8_0", "F16"]
SETTINGS = settings(max_examples=25, deadline=None)


def _scaled_bandwidth(device_id: str, factor: float):
    d = load_device(device_id)
    main = d.memory[0]
    bw = main.bandwidth
    new_bw = Sourced(
        value=bw.value * factor,
        text=f"{factor} x {bw.text}",
        dimension="bandwidth",
        estimated=True,
        reason="property test",
    )
    return d.model_copy(update={"memory": (main.model_copy(update={"bandwidth": new_bw}), *d.memory[1:])})


def _runs(*args, **kwargs):
    """predict, for a draw whose footprint some memory or offload tier holds (else the draw is
    rejected: predict refuses a run nothing can hold, and there is no throughput to compare)."""
    p = _runs_or_none(*args, **kwargs)
    if p is None:
        reject()
    return p


def _runs_or_none(*args, **kwargs):
    try:
        return predict(*args, **kwargs)
    except SpecError as exc:
        if "no offload tier" not in str(exc):
            raise
        return None


def _engine(device: str, engine: str | None):
    d = load_device(device)
    if engine in ("llama.cpp-cuda-b4404", "hf-transformers") and d.processor("gpu") is None:
        return "llama.cpp-cpu"
    return engine


workloads = st.builds(
    Workload,
    test=st.sampled_from(["tg32", "tg128", "pp64", "pp512"]),
    depth=st.integers(0, 8192),
    batch=st.integers(1, 64),
)


@SETTINGS
@given(
    st.sampled_from(DEVICES),
    st.sampled_from(MODELS),
    st.sampled_from(ENGINES),
    workloads,
    st.floats(1.05, 4.0),
    st.sampled_from(QUANTS),
)
def test_more_bandwidth_is_never_slower(device, model, engine, w, factor, quant):
    engine = _engine(device, engine)
    slow = _runs(device, model, w, engine=engine, quant=quant)
    fast = predict(_scaled_bandwidth(device, factor), model, w, engine=engine, quant=quant)
    assert fast.tokens_per_second >= slow.tokens_per_second * (1 - 1e-12)


@SETTINGS
@given(
    st.sampled_from(DEVICES),
    st.sampled_from(["olmoe-1b-7b", "qwen3-30b-a3b", "mixtral-8x7b"]),
    st.sampled_from(ENGINES),
    workloads,
    st.integers(1, 6),
)
def test_more_active_experts_is_never_faster(device, model, engine, w, extra):
    engine = _engine(device, engine)
    m = load_model(model)
    assert m.moe is not None
    more_k = min(m.moe.top_k + extra, m.moe.n_experts)
    bigger = m.model_copy(update={"moe": m.moe.model_copy(update={"top_k": more_k})})
    bigger.__dict__.pop("tensors", None)
    base = _runs(device, m, w, engine=engine)
    more = _runs_or_none(device, bigger, w, engine=engine)
    assert more is None or more.tokens_per_second <= base.tokens_per_second * (1 + 1e-12)


@SETTINGS
@given(
    st.sampled_from(DEVICES),
    st.sampled_from(MODELS),
    st.sampled_from(ENGINES),
    st.integers(0, 16384),
    st.integers(1, 16384),
    st.integers(1, 32),
)
def test_deeper_context_is_never_faster_in_decode(device, model, engine, depth, more, batch):
    engine = _engine(device, engine)
    a = _runs(device, model, Workload(test="tg64", depth=depth, batch=batch), engine=engine)
    b = _runs_or_none(device, model, Workload(test="tg64", depth=depth + more, batch=batch), engine=engine)
    if b is None:  # the deeper cache fits no memory: it does not run, so it is not faster
        return
    assert b.tokens_per_second <= a.tokens_per_second * (1 + 1e-12)


@SETTINGS
@given(
    st.sampled_from(DEVICES),
    st.sampled_from(MODELS),
    st.sampled_from(["tg128", "pp512"]),
    st.integers(0, 4096),
    st.integers(1, 128),
    st.integers(1, 128),
)
def test_larger_batch_never_lowers_throughput_ideal(device, model, test, depth, batch, more):
    try:
        a = predict(device, model, Workload(test=test, depth=depth, batch=batch), engine="ideal")
        b = predict(device, model, Workload(test=test, depth=depth, batch=batch + more), engine="ideal")
    except SpecError:  # the KV cache fits neither memory nor any offload tier: nothing runs
        reject()
    # a batch whose KV cache overflows memory streams from the offload tier and can be slower:
    # the invariant holds while the larger batch still fits
    assume(b.memory.fits)
    assert b.tokens_per_second >= a.tokens_per_second * (1 - 1e-9)


@SETTINGS
@given(st.sampled_from(DEVICES), st.sampled_from(MODELS), workloads, st.floats(0.01, 10.0))
def test_more_kernel_overhead_is_never_faster(device, model, w, extra):
    base = load_engine("llama.cpp-cpu" if load_device(device).processor("gpu") is None else "llama.cpp-cuda")
    slow = base.model_copy(update={"kernel_overhead_scale": base.kernel_overhead_scale + extra})
    assert predict(device, model, w, engine=slow).tokens_per_second <= predict(
        device, model, w, engine=base
    ).tokens_per_second * (1 + 1e-12)


@settings(max_examples=20, deadline=None)
@given(
    st.sampled_from(["jetson-orin-nano-8gb", "rtx-4090", "apple-m2-pro"]),
    st.sampled_from(["olmoe-1b-7b", "qwen3-30b-a3b", "llama-3.1-8b"]),
    st.sampled_from(["Q4_K_M", "Q8_0"]),
    st.sampled_from(["tg128", "pp512"]),
    st.integers(1, 256),
    st.integers(0, 131072),
)
def test_sweep_equals_predict_fitting_or_not(device, model, quant, test, batch, depth):
    """The vectorised path gives predict's answer at every point: the symbolic expression where the
    model fits, the offload regime where it does not, nothing where no tier holds it."""
    row = sweep([device], [model], [quant], [batch], [depth], test)[0]
    try:
        p = predict(device, model, Workload(test=test, depth=depth, batch=batch), quant=quant)
    except SpecError:
        assert row["tokens_per_second"] is None and not row["fits"]
        return
    assert row["fits"] == p.memory.fits
    assert row["tokens_per_second"] == pytest.approx(p.tokens_per_second, rel=1e-9)


def _with_gpu(device_id: str, change):
    """The device with `change(processor)` in place of its GPU processor."""
    d = load_device(device_id)
    procs = tuple(change(p) if p.kind == "gpu" else p for p in d.processors)
    return d.model_copy(update={"processors": procs})


def _scaled(figure: Sourced, factor: float) -> Sourced:
    return figure.model_copy(update={"value": figure.value * factor})


def _scaled_gpu_peak(device_id: str, unit: str, precision: str, factor: float):
    """The device with its GPU's `unit` peak at `precision` scaled by `factor`."""

    def change(p):
        peaks = getattr(p, unit)
        return p.model_copy(update={unit: {**peaks, precision: _scaled(peaks[precision], factor)}})

    return _with_gpu(device_id, change)


@SETTINGS
@given(
    device=st.sampled_from(["jetson-orin-nano-8gb", "rtx-4090", "h100-sxm-80gb"]),
    model=st.sampled_from(MODELS),
    test=st.sampled_from(["pp512", "pp64", "tg128"]),
    factor=st.floats(1.0, 8.0),
)
def test_faster_vector_units_are_never_slower_on_cuda(device, model, test, factor):
    """llama.cpp CUDA's MMQ is capped at matmul_vector_ratio x the fp32 vector peak, and its mat-vec
    kernels run on the vector units: a GPU with faster vector units is never slower, and one whose
    int8 tensor peak alone grows runs its quantized weight matmuls no faster (the cap binds on these
    GPUs), though never slower in all."""
    w = Workload(test=test)
    base = _runs(device, model, w)
    faster = _runs(_scaled_gpu_peak(device, "vector", "fp32", factor), model, w)
    assert faster.tokens_per_second >= base.tokens_per_second * (1 - 1e-9)
    tensor = _runs(_scaled_gpu_peak(device, "matrix", "int8", factor), model, w)
    assert tensor.tokens_per_second >= base.tokens_per_second * (1 - 1e-9)
    matmuls = ("attn_qkv", "attn_output", "dense_ffn", "experts", "shared_experts")
    before = {o.op: o.compute_seconds for o in base.breakdown if o.op in matmuls}
    after = {o.op: o.compute_seconds for o in tensor.breakdown if o.op in matmuls}
    assert before and after.keys() == before.keys()
    for op, seconds in before.items():
        assert after[op] == pytest.approx(seconds, rel=1e-9), op


@SETTINGS
@given(
    device=st.sampled_from(["jetson-orin-nano-8gb", "rtx-4090", "h100-sxm-80gb"]),
    model=st.sampled_from(MODELS),
    test=st.sampled_from(["tg128", "pp512"]),
    factor=st.floats(1.0, 8.0),
)
def test_more_multiprocessors_in_flight_are_never_slower_on_cuda(device, model, test, factor):
    """llama.cpp CUDA streams at no more than stream_bytes_per_cycle x SMs x clock (Little's law):
    more multiprocessors never slow a run, and the DRAM's bandwidth still bounds it."""
    more_sms = _with_gpu(
        device, lambda p: p.model_copy(update={"multiprocessors": _scaled(p.multiprocessors, factor)})
    )
    w = Workload(test=test)
    base = _runs(device, model, w)
    more = _runs(more_sms, model, w)
    assert more.tokens_per_second >= base.tokens_per_second * (1 - 1e-9)


@SETTINGS
@given(
    st.sampled_from(["ryzen-9-7950x", "apple-m2-pro", "intel-core-i3-1315u"]),
    st.sampled_from(MODELS),
    workloads,
    st.sampled_from(QUANTS),
    st.floats(0.05, 1.0),
    st.floats(0.05, 1.0),
)
def test_a_slower_narrow_gemm_is_never_faster(device, model, w, quant, a, b):
    """llama.cpp-cpu's narrow GEMMs (x86 Q8_0, narrow_gemm_efficiency): a lower share of the tiled
    rate never makes a run faster, on any CPU (on arm64 it changes nothing)."""
    _lower_is_never_faster(
        device, model, w, quant, "llama.cpp-cpu", lambda v: {"narrow_gemm_efficiency": v}, a, b
    )


@SETTINGS
@given(
    st.sampled_from(["h200-sxm-141gb", "a100-sxm-80gb", "rtx-4090"]),
    st.sampled_from(MODELS),
    workloads,
    st.sampled_from(QUANTS),
    st.floats(0.1, 4.0),
    st.floats(0.1, 4.0),
)
def test_a_weight_type_streaming_slower_is_never_faster(device, model, w, quant, a, b):
    """llama.cpp-cuda's per-type streaming limits (stream_type_ratio): a lower ratio for the types a
    run's weights are stored in never makes it faster."""
    ratios = lambda r: {"stream_type_ratio": {t: r for t in ("Q4_K", "Q6_K", "Q8_0", "F16")}}  # noqa: E731
    _lower_is_never_faster(device, model, w, quant, "llama.cpp-cuda", ratios, a, b)


def _lower_is_never_faster(device, model, w, quant, engine, update, a, b) -> None:
    """`engine` with `update(lo)` is never faster than with `update(hi)` (lo, hi: a and b sorted)."""
    lo, hi = sorted((a, b))
    base = load_engine(engine)
    slow = _runs(device, model, w, engine=base.model_copy(update=update(lo)), quant=quant)
    fast = predict(device, model, w, engine=base.model_copy(update=update(hi)), quant=quant)
    assert slow.tokens_per_second <= fast.tokens_per_second * (1 + 1e-12)
