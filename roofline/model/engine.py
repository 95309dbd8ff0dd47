"""Engine profiles: how an inference engine runs a model on a device.

The same device runs differently under llama.cpp's CPU, CUDA or Metal back-ends, vLLM or
transformers: which processor and compute units it uses, how many kernels a layer takes, what a
kernel costs to launch, how MoE experts are dispatched, and what share of peak bandwidth and compute
its kernels reach. Profiles are YAML (`roofline/engines/*.yaml`); the bundled defaults are documented
estimates until calibrated against measurements (a calibrated profile is a file of the same shape).
"""

from __future__ import annotations

import os
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator

from roofline.errors import SpecError
from roofline.specs.catalog import load_yaml, validate
from roofline.specs.hardware import Device
from roofline.specs.quant import WEIGHT_TYPES
from roofline.specs.sourced import Frozen


class KernelCounts(Frozen):
    """Kernels per layer for each operator, per step for the per-model ones (embedding, lm_head,
    per_step): what the engine launches, which is fewer than the graph's nodes where its back-end
    fuses nodes into one kernel (llama.cpp CUDA: ggml-cuda.cu ggml_cuda_try_fuse) and more where one
    node takes several kernels (a matmul that first quantizes its activations)."""

    embedding: float = Field(ge=0)
    norms: float = Field(ge=0)  # per layer: norms, their scale multiplies, residual adds
    attn_qkv: float = Field(ge=0)  # projections and RoPE
    qk_norm: float = Field(default=0, ge=0)  # extra per layer when q and k are normalised
    qkv_bias: float = Field(default=0, ge=0)  # extra per layer for bias adds
    attn_core: float = Field(ge=0)  # with flash attention: KV stores and the fused attention kernel
    # without flash attention (ggml graph of llama-graph.cpp build_attn_mha): KV stores and QK^T;
    # the softmax; PV and the copy that makes its permuted output contiguous
    attn_scores: float = Field(default=3, ge=0)
    attn_softmax: float = Field(default=1, ge=0)
    attn_values: float = Field(default=2, ge=0)
    attn_output: float = Field(ge=0)
    # linear-attention / Mamba layers (estimated: llama.cpp's graphs for qwen3next / nemotron_h run
    # the input projection, a convolution, the scan or delta rule with its gates and norm, then the
    # output projection)
    ssm_in: float = Field(default=1, ge=0)
    ssm_core: float = Field(default=6, ge=0)
    ssm_out: float = Field(default=1, ge=0)
    router: float = Field(default=0, ge=0)
    experts: float = Field(default=0, ge=0)  # grouped expert matmuls and activation
    experts_per_extra_k: float = Field(default=0, ge=0)  # per routed expert beyond the first (sums)
    experts_per_distinct: float = Field(default=0, ge=0)  # per-expert dispatch: per touched expert
    shared_experts: float = Field(default=0, ge=0)
    dense_ffn: float = Field(ge=0)
    lm_head: float = Field(ge=0)  # final norm and the LM head matmul
    per_step: float = Field(default=0, ge=0)  # sampling, graph set-up


class BuildVariant(Frozen):
    """What an engine's older builds did differently: builds numbered below `before` (llama.cpp's
    bNNNN) ran their quantized matmuls of more than `float_gemm_min_rows` rows through a dequantize
    + float GEMM (see EngineProfile.float_gemm_min_rows)."""

    before: int = Field(gt=0)
    float_gemm_min_rows: int | None = Field(default=None, ge=0)
    note: str = ""


class FitRecipe(Frozen):
    """How scripts/fit_default_profiles.py fitted a bundled profile: the parameters it let free (the
    adopted candidate fit, calibrate.FIT_CANDIDATES) and whether every device weighed the same. A
    held-out fit in `roofline validate` repeats this recipe, so the report's leave-one-device-out
    error is the error of the procedure the shipped defaults came from."""

    # "all": every parameter the rows determine (calibrate's default)
    parameters: Literal["all"] | tuple[str, ...]
    devices_weighted_equally: bool = True

    @field_validator("parameters")
    @classmethod
    def _known(cls, names: str | tuple[str, ...]) -> str | tuple[str, ...]:
        if names == "all":
            return names
        if not names:
            raise ValueError('expected "all" or a list of parameter names')
        unknown = [n for n in names if n not in PARAMETER_BOUNDS]
        if unknown:
            raise ValueError(
                f"unknown fit parameter(s) {', '.join(unknown)}; known: {', '.join(PARAMETER_BOUNDS)}"
            )
        return names


def _weight_type(name: str) -> str:
    if name not in WEIGHT_TYPES:
        raise ValueError(f"unknown weight type {name!r}; known: {', '.join(WEIGHT_TYPES)}")
    return name


WeightTypeName = Annotated[str, AfterValidator(_weight_type)]


class EngineProfile(Frozen):
    name: str
    description: str = ""
    provenance: str = Field(min_length=1)  # where the numbers come from ("estimated: ..." or a trace)
    processor: Literal["auto", "cpu", "gpu", "npu"]  # auto: the GPU if the device has one, else the CPU
    compute_unit: Literal["best", "matrix", "vector"] = "best"
    compute_precision: Literal["fp32", "tf32", "fp16", "bf16", "fp8", "int8", "int4", "fp4"] = "fp16"
    activation_bytes: float = Field(default=4.0, gt=0)
    bandwidth_efficiency: float = Field(gt=0, le=1)  # achieved / peak for large streaming kernels
    compute_efficiency: float = Field(gt=0, le=1)  # achieved / peak for large GEMMs
    dequant_efficiency: float = Field(default=1.0, gt=0, le=1)  # of the dequant peak, for unpacking weights
    # The units weight unpacking runs on (None: the fp32 vector FMAs). ggml's CPU dot products unpack
    # Q4_K/Q8_0 blocks with byte-lane integer SIMD (and, shift, shuffle on 32-64 weights per
    # instruction) inside the same loop as the int8 multiply-adds, so they unpack at the int8 lanes'
    # rate, not at the fp32 FMAs' (16 lanes per 512-bit instruction).
    dequant_precision: Literal["fp32", "fp16", "int8"] | None = None
    # The attention core (QK^T, softmax, PV over the KV cache) runs on its own kernels and precision:
    # e.g. ggml's CPU flash attention works in f16/f32 on the vector units, not through the int8 dot
    # products of the weight matmuls. None = the weight matmuls' precision / efficiency.
    attention_precision: Literal["fp32", "tf32", "fp16", "bf16", "fp8", "int8"] | None = None
    # the units the attention core runs on (None: compute_unit); "vector" where the engine's fused
    # attention kernel runs on the SIMD lanes though the processor has matrix units
    attention_unit: Literal["best", "matrix", "vector"] | None = None
    attention_efficiency: float | None = Field(default=None, gt=0, le=1)  # of the attention peak
    # time per cached key row visited (per query head and sequence, once however many of the step's
    # queries share it) beyond the FLOPs, in FLOP-equivalents at the attention core's rate: ~0 where
    # the kernel is tiled and vectorised; large where a one-query kernel pays a call, a reduction and a
    # scalar exp per key (ggml's CPU flash attention in decode). Prefill tiles amortise it.
    attention_key_ops: float = Field(default=0.0, ge=0)
    # Without flash attention QK^T is its own matmul, which may run at another precision than the
    # fused kernel: llama.cpp marks KQ GGML_PREC_F32 and its CUDA back-end then runs it through
    # cuBLAS with CUBLAS_COMPUTE_32F (fp32 FMA, no tensor cores; ggml-cuda.cu
    # ggml_cuda_mul_mat_cublas). None = attention_precision. score_efficiency is the share of that
    # peak QK^T and the softmax reach (None = attention_efficiency).
    score_precision: Literal["fp32", "tf32", "fp16", "bf16", "fp8", "int8"] | None = None
    score_efficiency: float | None = Field(default=None, gt=0, le=1)
    # Matmuls on float weights (F16/BF16/F32 tensors: an F16 file, the F32 router) may take another
    # kernel path than quantized ones: llama.cpp's CUDA back-end runs quantized weights through its
    # MMQ int8 tensor-core kernels and float weights through cuBLAS in fp16. None = compute_precision
    # and compute_efficiency.
    float_precision: Literal["fp32", "tf32", "fp16", "bf16", "fp8", "int8"] | None = None
    float_compute_efficiency: float | None = Field(default=None, gt=0, le=1)
    # share of peak the routed experts' matmuls reach (None = compute_efficiency): a grouped MoE
    # kernel gathers each expert's tokens and runs many small matmuls, which need not pack and tile as
    # well as one dense matmul (ggml's CPU mul_mat_id, for one)
    expert_compute_efficiency: float | None = Field(default=None, gt=0, le=1)
    # share of the serving level's bandwidth the attention core reaches on the KV cache (None = the
    # weights' bandwidth_efficiency): a kernel that walks the cache key by key, head by head, with K
    # and V rows in separate strided tensors streams it worse than a GEMV streams weights
    kv_bandwidth_efficiency: float | None = Field(default=None, gt=0, le=1)
    kernel_overhead: float | None = Field(default=None, ge=0)  # s per kernel; None = device launch latency
    kernel_overhead_scale: float = Field(default=1.0, ge=0)  # x device launch latency (CUDA graphs < 1)
    moe_kernel_overhead_scale: float | None = Field(default=None, ge=0)  # replaces the scale for MoE models
    # x device launch latency in prefill steps on the tiled kernels (None = kernel_overhead_scale; a
    # prefill of at most decode_kernels_max_tokens tokens runs a decode step's kernels and pays its
    # overhead, cost.prefill_overheads). No bundled profile sets it: llama.cpp CUDA stood in for its
    # MMQ's vector-bound rate with a fitted 5.9 here until 2026-12-01 (now matmul_vector_ratio); the
    # vendored llama.cpp replays CUDA graphs at any batch size, so prefill kernels cost what decode's do
    prefill_kernel_overhead_scale: float | None = Field(default=None, ge=0)
    # routed experts in prefill: the grouped expert matmul (llama.cpp's MMQ MUL_MAT_ID) fills its
    # tiles with the tokens routed to each expert, M = tokens x k / experts touched; it reaches
    # M / (M + expert_half_rows) of its large-M efficiency (None = no such loss). Decode's few tokens
    # take the mat-vec kernels, which have no tiles to fill.
    expert_half_rows: float | None = Field(default=None, gt=0)
    # every quantized matmul on the tiled kernel (prefill; with decode_kernels_max_tokens, any step
    # above it): M / (M + matmul_half_rows) of its large-M efficiency, M = activation rows per weight
    # matrix. llama.cpp's MMQ loads and converts a whole weight tile to int8 in shared memory per
    # tile of up to 128 rows, however few of them hold tokens: a per-weight cost that M amortises.
    # None = no such loss; the routed experts use expert_half_rows where it is set.
    matmul_half_rows: float | None = Field(default=None, gt=0)
    # The quantized matmuls' peak is at most this many times the fp32 vector peak (None: no such
    # bound; the matmul peak is compute_precision's on compute_unit). llama.cpp CUDA's MMQ multiplies
    # int8 tiles on the tensor cores, but per tile it also unpacks the weights into shared memory and
    # scales the int32 sums on the SM's vector pipes, so where the tensor cores outrun the vector
    # pipes by far (every NVIDIA GPU since Ampere) the vector side sets its rate: on the H200 MMQ runs
    # at ~200 TOPS, a tenth of the int8 datasheet peak and 0.15 of what the mma.sync instruction it
    # issues reaches there (1,304 TOPS), while the fp32 vector peak is 66.9 TFLOPS.
    matmul_vector_ratio: float | None = Field(default=None, gt=0)
    # Bytes the engine's matmul kernels keep in flight per multiprocessor, per cycle of the
    # memory's latency: they stream weights from main memory at no more than this x
    # multiprocessors x clock (Processor.multiprocessors, .clock), and a byte costs both its DRAM
    # time and its share of that limit (cost.streamed; KV reads are not limited). None: no such
    # limit. A wide HBM stack feeds the multiprocessors faster than their loads in flight can take
    # it: llama.cpp CUDA's mat-vec kernels reach 2.1-2.7 TB/s of the H200's 4.8 (test-backend-ops).
    stream_bytes_per_cycle: float | None = Field(default=None, gt=0)
    # The bytes in flight differ by weight type (the kernels' loads per thread follow each type's block
    # layout): a weight type's streaming limit is stream_bytes_per_cycle x its ratio here, measured
    # against Q4_K's by the same mat-vec kernel timing (unlisted types: 1).
    stream_type_ratio: dict[WeightTypeName, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)
    # Per-output cost of the tiled matmul kernel, in multiply-adds of its large-M rate: a GEMM of
    # input width K reaches K / (K + this) of that rate (Operator.inner). Writing each output tile,
    # scaling it, and (where the tiles are too few for the multiprocessors) the stream-k partial
    # sums and their fix-up scale with the outputs, not with K. None: no such cost.
    matmul_output_macs: float | None = Field(default=None, gt=0)
    # with decode_kernels_max_tokens: steps of that many tokens or fewer run their quantized matmuls
    # on mat-vec kernels (llama.cpp CUDA: MMVQ, dp4a dot products) at this share of the vector
    # (fp32) peak, each further token a further pass of dot products over the weights; None = at
    # the matmul peak and compute_efficiency, as every other step
    small_batch_efficiency: float | None = Field(default=None, gt=0, le=1)
    # Weight types whose tiled GEMM, on a CPU of the given instruction set (Processor.isa), is a
    # heavier kernel than the one its int8 peak and compute_efficiency describe: their share of a
    # tiled matmul runs at narrow_gemm_efficiency of its rate. llama.cpp on x86: Q8_0 prefill runs
    # llamafile's tinyBLAS_Q0_AVX (llamafile/sgemm.cpp): 256-bit vectors even on AVX-512, and per
    # 32-weight block and tile cell two sign fix-ups (dpbusd multiplies unsigned by signed bytes), a
    # dot product into a zeroed accumulator, an int32 -> fp32 convert, the scales' product
    # broadcast and an fp32 FMA; where Q4_0/Q4_K/IQ4_NL/MXFP4 run repack.cpp's interleaved kernels.
    narrow_gemm_types: dict[Literal["x86-64", "arm64"], tuple[WeightTypeName, ...]] = Field(
        default_factory=dict
    )
    # a measured kernel ratio (llama.cpp-cpu cites its traces), not a fit parameter: calibration
    # leaves it as it is (absent from PARAMETER_BOUNDS). None: 1 (no loss)
    narrow_gemm_efficiency: float | None = Field(default=None, gt=0, le=1)
    # quantized matmuls of more activation rows than this dequantize their weights to F16 in a kernel
    # of their own (reading the quantized and writing the F16 weights) and multiply them with a
    # float GEMM at the float peak and float_compute_efficiency (llama.cpp CUDA before June 2024:
    # cuBLAS above MMQ_MAX_BATCH_SIZE = 32 rows on GPUs with tensor cores); None: never
    float_gemm_min_rows: int | None = Field(default=None, ge=0)
    # older builds' kernel paths, applied to a run of a known build (`for_build`)
    build_variants: tuple[BuildVariant, ...] = ()
    moe_syncs_per_layer: float = Field(default=0.0, ge=0)  # host round trips per MoE layer (ids to host)
    sync_latency: float = Field(default=0.0, ge=0)  # s per device->host synchronisation
    per_layer_overhead: float = Field(default=0.0, ge=0)
    per_step_overhead: float = Field(default=0.0, ge=0)  # host work per forward pass (graph, sampling)
    kernels: KernelCounts
    # kernels of a prefill step where the engine's many-token kernels differ from its decode ones
    # (llama.cpp CUDA: MMQ instead of MMVQ, without the mat-vec fusions); None: `kernels` serves
    # every step. `per_step` always comes from `kernels`.
    prefill_kernels: KernelCounts | None = None
    # decode steps of more tokens than this run `prefill_kernels` (llama.cpp CUDA: MMVQ serves up to
    # MMVQ_MAX_BATCH_SIZE = 8 tokens, MMQ more); None: decode steps always run `kernels`
    decode_kernels_max_tokens: int | None = Field(default=None, ge=1)
    moe_dispatch: Literal["grouped", "per-expert"] = "grouped"
    ubatch: int = Field(default=512, gt=0)
    use_caches: bool = True  # weights that fit an on-chip level stay there between steps
    dequant_cost: bool = True  # unpacking quantized weights costs vector-unit work
    # weight types whose (dense) matmuls run a tiled GEMM that unpacks each weight block once per
    # step for all the step's activation rows (ggml CPU: llamafile's sgemm and the repacked
    # interleaved kernels); a quantized type not listed is multiplied by per-row dot products that
    # unpack its blocks again for every activation row (ggml_compute_forward_mul_mat's vec_dot
    # loop). None: every type is tiled (GPU back-ends: MMQ, dequantize + GEMM)
    gemm_types: tuple[WeightTypeName, ...] | None = None
    # False: routed experts' matmuls (MUL_MAT_ID) run per-row dot products whatever their type,
    # each token unpacking the blocks of its top-k experts (ggml CPU: vec_dot per row, or one gemv
    # per row on repacked experts)
    expert_gemm: bool = True
    # what the engine does when a run does not say (Workload.flash_attention; llama-bench's -fa):
    # with it the attention core is one fused kernel; without it the scores are materialised
    # (time: operators.py; memory: cost.footprint's workspace)
    flash_attention: bool = False
    runtime_overhead_bytes: float = Field(default=0.0, ge=0)  # allocator, context, graph buffers
    calibration: dict[str, Any] | None = None  # written by `roofline calibrate`: fit, uncertainty, range
    fit: FitRecipe | None = None  # written by scripts/fit_default_profiles.py: what it let free

    def for_build(self, build: int | None) -> EngineProfile:
        """The profile as a run of engine build `build` (None: unknown, taken as current) saw it."""
        if build is None:
            return self
        update: dict[str, Any] = {}
        for v in self.build_variants:  # a profile as loaded describes current builds
            if build < v.before:
                update["float_gemm_min_rows"] = v.float_gemm_min_rows
        if not update or all(getattr(self, k) == x for k, x in update.items()):
            return self
        return self.model_copy(update=update)

    def value(self, name: str) -> float:
        """A numeric parameter as the cost model uses it: an unset specialised efficiency is the
        general one it refines (FALLBACKS)."""
        v = getattr(self, name)
        if v is None and name in NEUTRAL:
            return NEUTRAL[name]
        return self.value(FALLBACKS[name]) if v is None else float(v)


#: Parameters whose unset value means "no such effect", and the number that means the same.
NEUTRAL = {"matmul_half_rows": 0.0, "narrow_gemm_efficiency": 1.0}

#: Specialised efficiencies, unset by default, and the general efficiency each falls back to.
FALLBACKS = {
    "attention_efficiency": "compute_efficiency",
    "expert_compute_efficiency": "compute_efficiency",
    "float_compute_efficiency": "compute_efficiency",
    "prefill_kernel_overhead_scale": "kernel_overhead_scale",
    "kv_bandwidth_efficiency": "bandwidth_efficiency",
    "score_efficiency": "attention_efficiency",
    "expert_half_rows": "matmul_half_rows",
    # only a fit's starting point: the mat-vec path runs at the vector peak once this is set
    "small_batch_efficiency": "compute_efficiency",
}


#: Efficiencies and overheads calibration fits, with their physical range (lower, upper): bounds of
#: the fit and of the draws an interval makes, not tuning knobs.
PARAMETER_BOUNDS: dict[str, tuple[float, float]] = {
    "bandwidth_efficiency": (0.05, 1.0),
    "kv_bandwidth_efficiency": (0.01, 1.0),
    "compute_efficiency": (0.01, 1.0),
    "expert_compute_efficiency": (0.01, 1.0),
    "float_compute_efficiency": (0.01, 1.0),
    "attention_efficiency": (0.001, 1.0),
    "score_efficiency": (0.001, 1.0),
    "attention_key_ops": (0.0, 5000.0),
    "dequant_efficiency": (0.01, 1.0),
    "kernel_overhead_scale": (0.0, 20.0),
    "prefill_kernel_overhead_scale": (0.0, 50.0),
    "expert_half_rows": (0.0, 512.0),  # 0: no tile-fill loss (the unset value, NEUTRAL)
    "matmul_half_rows": (0.0, 512.0),
    "small_batch_efficiency": (0.01, 1.0),
    "per_step_overhead": (0.0, 0.05),
}


ENGINES = (
    "ideal",
    "llama.cpp-cpu",
    "llama.cpp-cuda",
    "llama.cpp-cuda-b4404",
    "llama.cpp-metal",
    "llama.cpp-vulkan",
    "llama.cpp-rocm",
    "llama.cpp-sycl",
    "vllm",
    "hf-transformers",
)


@lru_cache(maxsize=64)
def _load_profile_file(path: str, stamp: tuple[int, int] = (0, 0)) -> EngineProfile:
    """The profile at `path`; `stamp` (modification time, size) makes a rewritten file load anew."""
    return validate(load_yaml(Path(path)), EngineProfile, path)


def load_engine(ref: str | os.PathLike[str] | EngineProfile) -> EngineProfile:
    """A bundled profile by name (see ENGINES) or a profile YAML file (e.g. from `roofline calibrate`)."""
    if isinstance(ref, EngineProfile):
        return ref
    p = Path(ref)
    if p.suffix in (".yaml", ".yml") or p.is_file():
        if not p.is_file():
            raise SpecError(str(ref), "no such engine profile file")
        st = p.stat()
        return _load_profile_file(str(p.resolve()), (st.st_mtime_ns, st.st_size))
    if str(ref) not in ENGINES:
        raise SpecError(str(ref), f"unknown engine; known: {', '.join(ENGINES)} (or a profile .yaml)")
    path = resources.files("roofline").joinpath("engines", f"{ref}.yaml")
    with resources.as_file(path) as f:
        return _load_profile_file(str(f))


def default_engine(device: Device) -> str:
    """The device's `default_engine`, else llama.cpp's Vulkan back-end on a GPU, else its CPU one."""
    if device.default_engine:
        return device.default_engine
    return "llama.cpp-vulkan" if device.processor("gpu") else "llama.cpp-cpu"
