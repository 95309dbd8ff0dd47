"""Kernel counts of llama.cpp's CUDA back-end: what it launches after its fusions, separately for
decode (MMVQ, up to 8 tokens) and for prefill and larger batches (MMQ), as the profile states them."""

from __future__ import annotations

import sympy

from roofline.model.engine import load_engine
from roofline.model.mathns import NUMPY, SYMPY
from roofline.model.operators import kernel_counts
from roofline.model.scenario import resolve
from roofline.model.workload import Workload
from roofline.specs import load_model
from roofline.specs.catalog import validate
from roofline.specs.model import Model

CUDA = load_engine("llama.cpp-cuda")


def _kernels(model: str | Model, test: str = "tg128", batch: int = 1, engine=CUDA) -> dict[str, float]:
    s = resolve("h200-sxm-141gb", model, Workload(test=test, depth=512, batch=batch), engine=engine)
    return {o.name: float(o.kernels) for o in s.ops}


def test_decode_counts_are_the_fused_kernels():
    """Qwen3-8B decode, per layer: two fused rms_norm+mul, q/k/v (quantize + MMVQ each) with the
    q norm+rope and the k norm+rope+store fused, V store + flash attention + combine, the output
    projection with the residual add fused, gate+up+GLU in one MMVQ and down: 19 kernels."""
    k = _kernels("qwen3-8b")
    layers = load_model("qwen3-8b").n_layers
    per_layer = sum(v for n, v in k.items() if n not in ("embedding", "lm_head")) / layers
    assert per_layer == 2 + 8 + 3 + 2 + 4


def test_moe_decode_has_no_kernel_per_routed_expert():
    """One MUL_MAT_ID kernel serves all k experts of a token and the k outputs are summed in one
    fused kernel: the experts' kernels do not grow with top_k."""
    d = load_model("qwen3-30b-a3b").model_dump()
    d["moe"]["top_k"] = 2
    k2 = _kernels(validate(d, Model, "qwen3-30b-a3b-k2"))["experts"]
    k8 = _kernels("qwen3-30b-a3b")["experts"]
    assert k2 == k8 == 6 * load_model("qwen3-30b-a3b").n_layers


def test_prefill_and_large_batches_take_the_mmq_counts():
    """MMQ fuses neither gate+up+GLU nor an add, quantizes per matmul and looks up expert ids: a
    prefill step and a decode step of more than 8 tokens launch the prefill counts, up to 8 the
    decode ones."""
    n = load_model("qwen3-30b-a3b").n_layers
    for test, batch, per_layer in (("tg128", 1, 6), ("tg128", 8, 6), ("tg128", 16, 11), ("pp512", 1, 11)):
        assert _kernels("qwen3-30b-a3b", test, batch)["experts"] == per_layer * n, (test, batch)
    assert _kernels("qwen3-8b", "pp512")["dense_ffn"] > _kernels("qwen3-8b")["dense_ffn"]


def test_symbolic_batch_switches_kernel_path_at_the_threshold():
    """In a symbolic step the count is a Piecewise in the batch that evaluates to the numeric path's."""
    b = sympy.Symbol("b", positive=True)
    expr = kernel_counts(CUDA, SYMPY, b, prefill=False)["experts"]
    assert expr.subs(b, 8) == CUDA.kernels.experts
    assert expr.subs(b, 9) == CUDA.prefill_kernels.experts
    assert kernel_counts(CUDA, NUMPY, 9.0, prefill=False)["experts"] == CUDA.prefill_kernels.experts


def test_profile_without_prefill_counts_uses_one_set():
    """A profile that names no prefill_kernels runs its `kernels` in every step, and a profile that
    differs only in its prefill counts changes prefill steps (a structural field), not decode ones."""
    cpu = load_engine("llama.cpp-cpu")
    assert cpu.prefill_kernels is None
    assert kernel_counts(cpu, NUMPY, 512.0, prefill=True) == cpu.kernels.model_dump()
    plain = CUDA.model_copy(update={"prefill_kernels": None, "decode_kernels_max_tokens": None})
    assert _kernels("qwen3-8b", "pp512", engine=plain) == _kernels("qwen3-8b", "tg128", engine=plain)
    s = resolve("h200-sxm-141gb", "qwen3-8b", Workload(test="pp512"), engine=CUDA)
    assert s.step(engine=plain).seconds < s.step().seconds
