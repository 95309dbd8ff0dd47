"""A model split across a system's parts: which weights live and run where, and what a step costs.

A `Placement` is what an engine's flags say: llama.cpp's `-ngl N` (the last N of the layers plus
the output layer on the accelerators, the rest on the CPU), `--n-cpu-moe N` (the routed experts of
the first N layers kept in host RAM and computed by the CPU), `-sm layer|row` with several GPUs,
and vLLM's tensor parallel size and expert parallelism. `system_step` costs one step of it from
the same operators and the same roofline as a single device (model.scenario): the accelerator's
share of each operator on the accelerator's machine and engine profile, the CPU's share on the
host's, and the link crossings between them.

Assumptions, stated once (each from how the engines work; sources in the function docstrings):
- The parts of one step run one after the other (llama.cpp's scheduler runs its graph splits in
  order; one token cannot enter layer i + 1 before layer i is done), so their times add; except in
  prefill over several GPUs holding every layer (-sm layer), where llama.cpp pipelines the
  micro-batches of a batch: a batch of u micro-batches takes t (1 + (u - 1) / min(4, GPUs)) for t
  one micro-batch's time through all GPUs (pipeline fill, then one micro-batch per stage time). A unified-
  memory system therefore has no bandwidth contention between its CPU and GPU within a step.
- A split of an operator over layers is proportional to the layers each part holds; kernels split
  the same way. A tensor- or row-parallel split divides FLOPs and bytes, not the kernel count.
- Activations cross a link as F32 rows of d_model (ggml's activations), plus the routing ids and
  weights of each token for a CPU-expert layer; each crossing pays the link's latency.
- In llama.cpp prefill (micro-batches of >= 32 tokens) the accelerator runs the matmuls whose
  weights live in host RAM, after copying those weights (only the experts the batch uses) over the
  host link: ggml-cuda's op offload (op_offload_min_batch_size, GGML_OP_OFFLOAD_MIN_BATCH = 32) and
  ggml-backend's scheduler copying used experts only (ggml_backend_sched_compute_splits). The copy
  runs at the link's pinned rate: llama.cpp puts the GPU back-end's pinned host buffer type first in
  the CPU's buffer list (llama-model.cpp, "add a host buffer type"), so host-resident weights are
  loaded into pinned memory rather than mapped from the file.
- vLLM tensor parallel: two all-reduces of the step's activations per layer (after attention and
  after the FFN), the ring's bytes and one latency each; expert parallel: an all-to-all dispatch
  and combine per MoE layer, experts spread evenly (the expected load, not the most loaded GPU).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from roofline.errors import SpecError, WorkloadError
from roofline.model import cost
from roofline.model.engine import EngineProfile, default_engine, load_engine
from roofline.model.mathns import NUMPY
from roofline.model.operators import Operator
from roofline.model.scenario import Ref, Scenario, resolve
from roofline.model.workload import Workload
from roofline.specs.catalog import load_device, load_model, load_system
from roofline.specs.hardware import Device
from roofline.specs.model import Model
from roofline.specs.system import Link, System

#: Bytes of one activation element crossing a link (ggml keeps activations in F32).
LINK_ACT_BYTES = 4
#: Micro-batch size from which llama.cpp's GPU back-ends run host-resident weight matmuls on the
#: GPU (ggml-cuda.cu: GGML_OP_OFFLOAD_MIN_BATCH, default 32).
OP_OFFLOAD_MIN_BATCH = 32
#: llama.cpp's logical batch (llama-bench and llama-cli default -b 2048): the tokens one decode call
#: takes, split into micro-batches of the engine's ubatch.
N_BATCH = 2048
#: Micro-batches the scheduler keeps in flight when it pipelines them across GPUs
#: (ggml-backend.cpp: GGML_SCHED_MAX_COPIES).
SCHED_MAX_COPIES = 4
#: The engine a CPU share runs under when none is named.
CPU_ENGINE = "llama.cpp-cpu"


@dataclass(frozen=True)
class Placement:
    """Where the weights live and run (see the module docstring). llama.cpp: `ngl` None = all layers
    and the output on the accelerators; `n_cpu_moe` routed-expert layers on the CPU; `split_mode`
    across `gpus` accelerators. vLLM: `tp` GPUs in tensor parallel, `ep` experts spread over them."""

    engine: Literal["llama.cpp", "vllm"] = "llama.cpp"
    gpus: int = 1
    ngl: int | None = None
    n_cpu_moe: int = 0
    split_mode: Literal["layer", "row"] = "layer"
    tp: int = 1
    ep: bool = False

    def __post_init__(self) -> None:
        if self.gpus < 0 or self.n_cpu_moe < 0 or (self.ngl is not None and self.ngl < 0) or self.tp < 1:
            raise WorkloadError(f"placement {self.label()}: counts must be >= 0 (tp >= 1)")
        if self.engine == "vllm" and (self.ngl is not None or self.n_cpu_moe):
            raise WorkloadError(
                "placement: -ngl / --n-cpu-moe are llama.cpp flags; vLLM keeps every weight on GPUs"
            )
        if self.engine == "llama.cpp" and (self.tp != 1 or self.ep):
            raise WorkloadError("placement: tp / ep are vLLM options; llama.cpp splits with -sm layer|row")

    def label(self) -> str:
        if self.engine == "vllm":
            return f"vLLM TP={self.tp}" + (" + EP" if self.ep else "")
        if self.gpus == 0 or self.ngl == 0:
            return "CPU only" if self.gpus == 0 else "ngl 0 (weights on the CPU)"
        parts = [] if self.ngl is None else [f"ngl {self.ngl}"]
        if self.n_cpu_moe:
            parts.append(f"n-cpu-moe {self.n_cpu_moe}")
        if self.gpus > 1:
            parts.append(f"{self.gpus} GPUs, sm {self.split_mode}")
        return ", ".join(parts) or "all on the GPU"

    def flags(self, model: Model) -> str:
        """The command-line flags that run this placement (llama.cpp's, or vLLM's serve options)."""
        if self.engine == "vllm":
            return f"--tensor-parallel-size {self.tp}" + (" --enable-expert-parallel" if self.ep else "")
        if self.gpus == 0:
            return "-ngl 0 (or a CPU-only build)"
        ngl = model.n_layers + 1 if self.ngl is None else self.ngl
        out = [f"-ngl {ngl}"]
        if self.n_cpu_moe:
            out.append(f"--n-cpu-moe {self.n_cpu_moe}")
        if self.gpus > 1:
            out.append(f"-sm {self.split_mode}")
        return " ".join(out)

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "label": self.label()}


_KEYS = {
    "ngl": "ngl",
    "n-gpu-layers": "ngl",
    "ncmoe": "n_cpu_moe",
    "n-cpu-moe": "n_cpu_moe",
    "sm": "split_mode",
    "split-mode": "split_mode",
    "gpus": "gpus",
    "tp": "tp",
    "ep": "ep",
    "engine": "engine",
}


def parse_placement(text: str) -> Placement:
    """A placement from `key=value` pairs separated by commas: ngl, n-cpu-moe (ncmoe), sm
    (split-mode), gpus, tp, ep, engine (llama.cpp | vllm); e.g. "ngl=99,n-cpu-moe=24" or
    "engine=vllm,tp=2,ep=1". Empty text: everything on one GPU."""
    fields: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        name = _KEYS.get(key.strip().lower().lstrip("-"))
        if name is None or not sep:
            raise WorkloadError(
                f"placement {text!r}: expected key=value pairs with keys {', '.join(sorted(set(_KEYS)))}; "
                f"got {item!r}"
            )
        value = value.strip()
        if name in ("split_mode", "engine"):
            allowed = ("layer", "row") if name == "split_mode" else ("llama.cpp", "vllm")
            if value not in allowed:
                raise WorkloadError(
                    f"placement {text!r}: {key} must be one of {', '.join(allowed)}, got {value!r}"
                )
            fields[name] = value
        elif name == "ep":
            if value.lower() not in ("0", "1", "true", "false", "yes", "no"):
                raise WorkloadError(f"placement {text!r}: ep must be 0/1, got {value!r}")
            fields[name] = value.lower() in ("1", "true", "yes")
        else:
            if not re.fullmatch(r"\d{1,6}", value):
                raise WorkloadError(f"placement {text!r}: {key} must be a whole number, got {value!r}")
            fields[name] = int(value)
    if "engine" not in fields and ("tp" in fields or "ep" in fields):
        fields["engine"] = "vllm"
    return Placement(**fields)


# ---- what runs where -------------------------------------------------------------------------
@dataclass(frozen=True)
class Share:
    """One part of a system running a share of each operator: `fraction[op]` of its work and bytes,
    `kernel_fraction[op]` of its kernels (a layer split moves kernels, a tensor split does not)."""

    role: str  # "gpu", "gpu1", ..., "cpu"
    device: Device
    scenario: Scenario
    fraction: dict[str, float]  # of each operator's work done here
    kernel_fraction: dict[str, float]
    resident: dict[str, float]  # of each operator's weights stored here (prefill: less than computed)
    embedding: float = 0.0  # of the embedding table stored here (llama.cpp: all in host RAM)


@dataclass(frozen=True)
class PartCost:
    role: str
    device: str
    engine: str
    seconds: float
    times: tuple[cost.OpTime, ...]
    weight_bytes: float  # resident on this part
    kv_bytes: float
    usable_bytes: float
    copy_seconds: float = 0.0  # prefill: weights copied in from host RAM

    @property
    def fits(self) -> bool:
        return self.weight_bytes + self.kv_bytes <= self.usable_bytes


@dataclass(frozen=True)
class SystemStep:
    system: System
    model: Model
    placement: Placement
    workload: Workload
    quant: str
    parts: tuple[PartCost, ...]
    link_seconds: float  # activations crossing links, collectives
    link_bytes: float
    host_seconds: float
    seconds: float
    tokens_per_second: float
    notes: tuple[str, ...] = field(default=())
    shared_memory_bytes: float | None = None  # unified memory: the one capacity all parts share

    @property
    def fits(self) -> bool:
        if self.shared_memory_bytes is not None:
            return sum(p.weight_bytes + p.kv_bytes for p in self.parts) <= self.shared_memory_bytes
        return all(p.fits for p in self.parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "system": self.system.id,
            "model": self.model.id,
            "quant": self.quant,
            "workload": dataclasses.asdict(self.workload),
            "placement": self.placement.to_json(),
            "flags": self.placement.flags(self.model),
            "tokens_per_second": self.tokens_per_second,
            "step_seconds": self.seconds,
            "link_seconds": self.link_seconds,
            "link_bytes": self.link_bytes,
            "host_seconds": self.host_seconds,
            "fits": self.fits,
            "shared_memory_bytes": self.shared_memory_bytes,
            "parts": [
                {
                    "role": p.role,
                    "device": p.device,
                    "engine": p.engine,
                    "seconds": p.seconds,
                    "copy_seconds": p.copy_seconds,
                    "weight_bytes": p.weight_bytes,
                    "kv_bytes": p.kv_bytes,
                    "usable_bytes": p.usable_bytes,
                    "fits": p.fits,
                    "operators": {t.op.name: float(t.seconds) for t in p.times},
                }
                for p in self.parts
            ],
            "notes": list(self.notes),
        }


def _op_layers(model: Model) -> dict[str, frozenset[int]]:
    """The layers each per-layer operator spans (attention core: attention layers; recurrent core:
    linear-attention and Mamba layers; norms: every layer)."""
    from roofline.model.operators import operator_of

    found: dict[str, set[int]] = {}
    for t in model.tensors:
        if t.layer is not None:
            found.setdefault(operator_of(t, model.id), set()).add(t.layer)
    found["attn_core"] = set(model.layers_with("attention"))
    found["ssm_core"] = set(model.layers_with("linear_attention")) | set(model.layers_with("mamba"))
    found["norms"] = set(range(model.n_layers))
    return {k: frozenset(v) for k, v in found.items()}


def _scaled(op: Operator, f: float, kf: float) -> Operator:
    """An operator's share: work and bytes times f, kernels and host round trips times kf."""
    return dataclasses.replace(
        op,
        count=max(1, round(op.count * kf)) if kf > 0 else 0,
        flops=op.flops * f,
        weight_bytes=op.weight_bytes * f,
        kv_bytes=op.kv_bytes * f,
        act_bytes=op.act_bytes * f,
        kernels=op.kernels * kf,
        dequant_ops=op.dequant_ops * f,
        key_rows=op.key_rows * f,
        syncs=op.syncs * kf,
        stored_weight_bytes=op.stored_weight_bytes * f,
    )


def _frac(layers: frozenset[int], subset: set[int]) -> float:
    return len(layers & subset) / len(layers) if layers else 0.0


def _llama_cpp_shares(
    model: Model,
    layers: dict[str, frozenset[int]],
    pl: Placement,
    gpu: Scenario | None,
    cpu: Scenario,
    prefill_tokens: float,
) -> tuple[list[Share], int, int]:
    """Shares for llama.cpp: layer il < L + 1 - ngl on the CPU (llama-model.cpp, i_gpu_start), the
    output layer on the GPUs when ngl >= 1, the embedding gather on the CPU; routed experts of
    layers < n_cpu_moe on the CPU (common/arg.cpp: --n-cpu-moe overrides `blk.i.ffn_*_exps` to the
    CPU buffer); GPU layers spread evenly over the GPUs (-sm layer) or every 2-D matmul split by rows
    over them with experts and attention on the main GPU (-sm row). Returns the shares, the link
    crossings host<->GPU and GPU<->GPU per step."""
    n = model.n_layers
    if gpu is None or pl.gpus == 0:
        ops = {o.name for o in cpu.ops}
        every = dict.fromkeys(ops, 1.0)
        return [Share("cpu", cpu.device, cpu, every, every, every, 1.0)], 0, 0
    ngl = n + 1 if pl.ngl is None else min(pl.ngl, n + 1)
    start = max(n + 1 - ngl, 0)  # first layer on the GPUs (index n stands for the output layer)
    cpu_layers = set(range(min(start, n)))
    cpu_expert_layers = cpu_layers | set(range(min(pl.n_cpu_moe, n)))
    cpu_f: dict[str, float] = {}
    for o in gpu.ops:
        if o.name == "embedding":
            # llama.cpp keeps the table in host RAM and gathers there, but the single-device model
            # (and the calibrations on it) cost the gather with the step: it stays with the GPU share
            cpu_f[o.name] = 0.0
        elif o.name == "lm_head":
            cpu_f[o.name] = 0.0 if ngl >= 1 else 1.0
        elif o.name == "experts":
            cpu_f[o.name] = _frac(layers.get("experts", frozenset()), cpu_expert_layers)
        else:
            cpu_f[o.name] = _frac(layers.get(o.name, frozenset()), cpu_layers)
    # prefill: the GPU runs host-resident weight matmuls after copying their weights
    offloaded = (
        tuple(o.name for o in gpu.ops if o.kind in ("matmul", "routed_matmul") and cpu_f[o.name] > 0)
        if prefill_tokens >= OP_OFFLOAD_MIN_BATCH
        else ()
    )
    cpu_share = {k: (0.0 if k in offloaded else v) for k, v in cpu_f.items()}
    shares = [Share("cpu", cpu.device, cpu, cpu_share, dict(cpu_share), dict(cpu_f), 1.0)]
    g = max(pl.gpus, 1)
    for i in range(g):
        frac: dict[str, float] = {}
        kfrac: dict[str, float] = {}
        res: dict[str, float] = {}
        for o in gpu.ops:
            on_gpu = 1.0 - cpu_f[o.name]
            if pl.split_mode == "row" and g > 1:
                if o.kind == "matmul":
                    frac[o.name], kfrac[o.name] = on_gpu / g, on_gpu
                else:
                    frac[o.name] = kfrac[o.name] = on_gpu if i == 0 else 0.0
            else:
                frac[o.name] = kfrac[o.name] = on_gpu / g
            res[o.name] = frac[o.name]
            if o.name in offloaded and i == 0:
                frac[o.name] += cpu_f[o.name]
                kfrac[o.name] += cpu_f[o.name]
        shares.append(Share("gpu" if g == 1 else f"gpu{i}", gpu.device, gpu, frac, kfrac, res))
    # host<->GPU crossings beyond the all-GPU run's: one where the layers move from the CPU to the
    # GPUs, one where the output moves back to the CPU, two per CPU-expert layer among GPU layers
    seq = ["cpu" if il in cpu_layers else "gpu" for il in range(n)] + ["gpu" if ngl >= 1 else "cpu"]
    host_x = (
        sum(a != b for a, b in zip(["cpu", *seq], seq, strict=False)) - 1
    )  # the embedding's is the baseline
    if offloaded:  # CPU layers' attention stays with their KV cache on the CPU, between GPU matmuls
        host_x += 2 * len(cpu_layers)
    else:
        host_x += 2 * len((cpu_expert_layers - cpu_layers) & layers.get("experts", frozenset()))
    peer_x = (g - 1) if pl.split_mode == "layer" else 0
    return shares, max(host_x, 0), peer_x


def _vllm_shares(model: Model, pl: Placement, gpu: Scenario) -> list[Share]:
    """Tensor parallel: every weight matmul, the attention core (heads) and the KV cache split over
    `tp` GPUs, norms and the embedding gather replicated; expert parallel: whole experts spread over
    the GPUs (each GPU computes the touched experts it holds)."""
    shares = []
    for i in range(pl.tp):
        frac = {}
        for o in gpu.ops:
            replicated = o.kind in ("gather", "elementwise")
            frac[o.name] = 1.0 if replicated else 1.0 / pl.tp
        shares.append(
            Share(
                "gpu" if pl.tp == 1 else f"gpu{i}",
                gpu.device,
                gpu,
                frac,
                dict.fromkeys(frac, 1.0),
                frac,
                1.0 / pl.tp,  # vocabulary-parallel embedding
            )
        )
    return shares


def _pipelined(pl: Placement, mdl: Model, w: Workload, gpu: Scenario | None) -> bool:
    """Whether llama.cpp pipelines micro-batches across the GPUs: several GPUs, every layer and the
    output on them, -sm layer, no tensor overrides (--n-cpu-moe is one), prefill (llama-context.cpp:
    `pipeline_parallel`)."""
    return (
        pl.engine == "llama.cpp"
        and gpu is not None
        and pl.gpus > 1
        and pl.split_mode == "layer"
        and (pl.ngl is None or pl.ngl > mdl.n_layers)
        and pl.n_cpu_moe == 0
        and w.phase == "prefill"
    )


def _crossing(link: Link | None, rows: float, width: float, sync: float) -> tuple[float, float]:
    """One crossing of `rows` activation rows of `width` over `link`; None (unified memory): no copy,
    a synchronisation costing `sync` (one kernel launch of the accelerator)."""
    if link is None:
        return sync, 0.0
    nbytes = rows * width * LINK_ACT_BYTES
    return link.latency.value + nbytes / link.bandwidth.value, nbytes


@dataclass(frozen=True)
class SystemScenario:
    """A model on a system at one workload, resolved once: the accelerator's scenario (None without
    accelerators) and the host CPU's; `step(placement)` costs any placement on them."""

    system: System
    model: Model
    workload: Workload
    gpu: Scenario | None
    cpu: Scenario
    layers: dict[str, frozenset[int]]  # the layers each per-layer operator spans (_op_layers)

    def step(self, placement: Placement | None = None) -> SystemStep:
        return _system_step(self, placement or Placement(gpus=1 if self.gpu is not None else 0))


def resolve_system(
    system: Ref | System,
    model: Ref | Model,
    workload: Workload | None = None,
    *,
    quant: str | None = None,
    engine: Ref | EngineProfile | None = None,
    cpu_engine: Ref | EngineProfile | None = None,
    kv_dtype: str = "f16",
) -> SystemScenario:
    """Resolve `model` on `system`'s accelerator (engine: the accelerator's default, or the named
    one, e.g. vllm) and on its host CPU (cpu_engine: llama.cpp-cpu unless named)."""
    sysm, mdl = load_system(system), load_model(model)
    w = workload or Workload()
    host_dev = load_device(sysm.host.device)
    acc_dev = load_device(sysm.accelerator) if sysm.accelerator else None
    gpu_sc = None
    if acc_dev is not None:
        eng = load_engine(engine if engine is not None else default_engine(acc_dev))
        gpu_sc = resolve(acc_dev, mdl, w, engine=eng, quant=quant, kv_dtype=kv_dtype)
    q = gpu_sc.quant if gpu_sc else quant
    cpu_sc = resolve(
        host_dev, mdl, w, engine=load_engine(cpu_engine or CPU_ENGINE), quant=q, kv_dtype=kv_dtype
    )
    return SystemScenario(sysm, mdl, w, gpu_sc, cpu_sc, _op_layers(mdl))


def system_step(
    system: Ref | System,
    model: Ref | Model,
    workload: Workload | None = None,
    placement: Placement | None = None,
    **kwargs: Any,
) -> SystemStep:
    """The cost of one step of `model` on `system` under `placement` (default: all on one GPU);
    keyword arguments as resolve_system's (an engine of vLLM placements defaults to vllm)."""
    if placement is not None and placement.engine == "vllm" and kwargs.get("engine") is None:
        kwargs["engine"] = "vllm"
    return resolve_system(system, model, workload, **kwargs).step(placement)


def _system_step(ss: SystemScenario, pl: Placement) -> SystemStep:
    sysm, mdl, w = ss.system, ss.model, ss.workload
    gpu_sc, cpu_sc = ss.gpu, ss.cpu
    if pl.gpus > sysm.n_accelerators or pl.tp > max(sysm.n_accelerators, 1):
        raise WorkloadError(
            f"placement {pl.label()} needs {max(pl.gpus, pl.tp)} accelerators; "
            f"{sysm.id} has {sysm.n_accelerators}"
        )
    if pl.engine == "vllm" and gpu_sc is None:
        raise WorkloadError(f"vLLM runs on GPUs; {sysm.id} has none")
    notes: list[str] = []
    host_link, peer_link = sysm.link("host"), sysm.link("peer")
    tokens = float(cpu_sc.vars.tokens)
    d = mdl.d_model
    link_s = link_b = 0.0
    if pl.engine == "vllm":
        assert gpu_sc is not None
        shares = _vllm_shares(mdl, pl, gpu_sc)
        if pl.tp > 1:
            assert peer_link is not None
            # all-reduce of tokens x d (bf16), twice per layer: the ring's 2 (p-1)/p of the bytes at
            # the link's bandwidth, and one link latency (vLLM's custom all-reduce reads the peers'
            # buffers in one shot for small messages, rather than in 2 (p-1) ring steps)
            nbytes = tokens * d * 2
            per = 2 * (pl.tp - 1) / pl.tp * nbytes / peer_link.bandwidth.value + peer_link.latency.value
            link_s += 2 * mdl.n_layers * per
            link_b += 2 * mdl.n_layers * 2 * (pl.tp - 1) / pl.tp * nbytes
            if pl.ep and mdl.moe is not None:
                moe_layers = len(ss.layers.get("experts", ()))
                a2a = tokens * mdl.moe.top_k * d * 2 * (pl.tp - 1) / pl.tp
                link_s += moe_layers * 2 * (a2a / peer_link.bandwidth.value + peer_link.latency.value)
                link_b += moe_layers * 2 * a2a
        host_x = peer_x = 0
    else:
        if gpu_sc is not None and pl.gpus > 1 and peer_link is None:
            raise SpecError(sysm.id, "several GPUs need a 'peer' link", "links")
        # gpus=0 is a CPU-only build: no GPU share, and no op offload of prefill matmuls to a GPU
        shares, host_x, peer_x = _llama_cpp_shares(
            mdl, ss.layers, pl, gpu_sc if pl.gpus else None, cpu_sc, tokens
        )
        sync = gpu_sc.machine.kernel_overhead if gpu_sc else 0.0
        if host_x:
            s, b = _crossing(None if sysm.unified_memory else host_link, tokens, d, sync)
            link_s += host_x * s
            link_b += host_x * b
        if peer_x:
            assert peer_link is not None
            s, b = _crossing(peer_link, tokens, d, sync)
            link_s += peer_x * s
            link_b += peer_x * b
        if pl.split_mode == "row" and pl.gpus > 1:
            assert peer_link is not None and gpu_sc is not None
            # each split matmul gathers its output rows from the other GPUs onto the main one
            for o in gpu_sc.ops:
                if o.kind == "matmul" and o.shape is not None:
                    rows = float(o.shape[0]) * float(o.shape[1]) * (pl.gpus - 1) / pl.gpus
                    nb = rows * LINK_ACT_BYTES * o.count
                    link_s += o.count * peer_link.latency.value + nb / peer_link.bandwidth.value
                    link_b += nb
    parts: list[PartCost] = []
    for sh in shares:
        sc = sh.scenario
        ops = [
            _scaled(o, sh.fraction.get(o.name, 0.0), sh.kernel_fraction.get(o.name, 0.0))
            for o in sc.ops
            if sh.fraction.get(o.name, 0.0) > 0
        ]
        if not ops:
            continue
        times = cost.op_times(ops, sc.machine, sc.engine, NUMPY, sc.machine.main_bandwidth)
        copy_s = 0.0
        copied = [o for o in sc.ops if sh.fraction.get(o.name, 0.0) > sh.resident.get(o.name, 0.0) + 1e-12]
        if copied and not sysm.unified_memory:
            assert host_link is not None  # checked by the System validator
            nbytes = sum(float(o.weight_bytes) * (sh.fraction[o.name] - sh.resident[o.name]) for o in copied)
            copy_s = nbytes / host_link.bandwidth.value
            link_b += nbytes
            notes.append(
                "prefill: the GPU runs the host-resident matmuls after copying the weights they use over the "
                "host link (llama.cpp op offload for micro-batches of >= 32 tokens; pinned host buffer)"
            )
        seconds = float(sum(float(t.seconds) for t in times)) + copy_s
        parts.append(
            PartCost(
                sh.role,
                sc.device.id,
                sc.engine.name,
                seconds,
                tuple(times),
                _resident_weight_bytes(sh),
                _resident_kv_bytes(sh),
                sc.device.usable_capacity,
                copy_s,
            )
        )
    parts += [  # a part that only stores weights (the CPU under prefill op offload) still holds memory
        PartCost(
            sh.role,
            sh.device.id,
            sh.scenario.engine.name,
            0.0,
            (),
            _resident_weight_bytes(sh),
            _resident_kv_bytes(sh),
            sh.device.usable_capacity,
        )
        for sh in shares
        if sh.role not in {p.role for p in parts} and (_resident_weight_bytes(sh) or _resident_kv_bytes(sh))
    ]
    shared = None
    if sysm.unified_memory and len(parts) > 1:
        shared = parts[0].usable_bytes  # one memory, which every part's share comes out of
        notes.append("unified memory: the CPU and GPU shares hold one memory between them")
    main = gpu_sc if gpu_sc is not None and (pl.gpus or pl.engine == "vllm") else cpu_sc
    host_s = cost.host_seconds(main.device, mdl.n_layers, main.engine, main.machine)
    gpu_parts = [p.seconds for p in parts if p.role.startswith("gpu")]
    concurrent = pl.engine == "vllm" or (pl.split_mode == "row" and pl.gpus > 1)
    # GPUs in tensor/row parallel work at once (the step waits for the slowest); otherwise in turn
    gpu_s = max(gpu_parts, default=0.0) if concurrent else sum(gpu_parts)
    if _pipelined(pl, mdl, w, gpu_sc):
        assert gpu_sc is not None
        # micro-batches in flight
        u = math.ceil(min(w.batch * w.n_tokens, N_BATCH) / w.micro_batch(gpu_sc.engine.ubatch))
        gpu_s *= (1 + (u - 1) / min(SCHED_MAX_COPIES, pl.gpus)) / u
        notes.append(
            f"prefill: llama.cpp pipelines the {u} micro-batches of each {N_BATCH}-token batch across the "
            f"{pl.gpus} GPUs (pipeline parallelism, up to {SCHED_MAX_COPIES} in flight)"
        )
    seconds = gpu_s + sum(p.seconds for p in parts if not p.role.startswith("gpu")) + link_s + host_s
    sv = main.vars
    return SystemStep(
        system=sysm,
        model=mdl,
        placement=pl,
        workload=w,
        quant=main.quant,
        parts=tuple(parts),
        link_seconds=link_s,
        link_bytes=link_b,
        host_seconds=host_s,
        seconds=seconds,
        tokens_per_second=sv.tokens_in_test / (sv.steps * seconds),
        notes=tuple(dict.fromkeys(notes)),
        shared_memory_bytes=shared,
    )


def _resident_weight_bytes(sh: Share) -> float:
    """Weights stored on a share's device: its resident fraction of each operator's stored bytes,
    plus its share of the embedding table (llama.cpp: all in host RAM; vLLM: split by vocabulary)."""
    tb = sh.scenario.tables
    total = sum(sh.resident.get(op, 0.0) * b for op, b in tb.weight_bytes.items() if op != "embedding")
    total += sh.embedding * max(0.0, float(sh.scenario.footprint.weights) - tb.total_weight_bytes)
    return float(total)


def _resident_kv_bytes(sh: Share) -> float:
    """KV cache and recurrent state of the layers whose attention runs on this share, plus, on an
    accelerator, the engine's workspace and runtime buffers."""
    fp = sh.scenario.footprint
    kv = fp.kv_cache * max(sh.resident.get("attn_core", 0.0), sh.resident.get("ssm_core", 0.0))
    if sh.role.startswith("gpu"):
        kv += fp.workspace + fp.runtime
    return float(kv)


# ---- placement search ------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """One placement with its decode and prefill steps."""

    placement: Placement
    decode: SystemStep
    prefill: SystemStep

    @property
    def fits(self) -> bool:
        return self.decode.fits and self.prefill.fits


def candidate_placements(
    system: System, model: Model, engines: tuple[str, ...] = ("llama.cpp",)
) -> list[Placement]:
    """Every placement worth costing: for llama.cpp on each GPU count (1, powers of two, all), all
    on the GPUs, the routed experts of the first N layers on the CPU for every N (MoE), the last N
    layers on the GPUs for every N (down to 0), -sm row with several GPUs, and CPU only; for vLLM,
    tensor parallel over 1, 2, 4, ... GPUs, with and without expert parallelism (MoE)."""
    n = system.n_accelerators
    out: list[Placement] = [Placement(gpus=0)]
    counts = sorted({g for g in (1, 2, 4, 8, n) if 1 <= g <= n})
    experts = _op_layers(model).get("experts", frozenset()) if model.moe is not None else frozenset()
    if "llama.cpp" in engines:
        for g in counts:
            out.append(Placement(gpus=g))
            if experts:  # --n-cpu-moe from the first MoE layer (dense layers before it) to past the last
                out += [Placement(gpus=g, n_cpu_moe=k) for k in range(min(experts) + 1, max(experts) + 2)]
            out += [Placement(gpus=g, ngl=k) for k in range(model.n_layers, -1, -1) if g == 1 or k > 0]
            if g > 1:
                out.append(Placement(gpus=g, split_mode="row"))
    if "vllm" in engines and n:
        for g in counts:
            out.append(Placement(engine="vllm", tp=g))
            if experts and g > 1:
                out.append(Placement(engine="vllm", tp=g, ep=True))
    return out


def search(
    system: Ref | System,
    model: Ref | Model,
    *,
    depth: int = 0,
    quant: str | None = None,
    engine: Ref | EngineProfile | None = None,
    cpu_engine: Ref | EngineProfile | None = None,
    engines: tuple[str, ...] = ("llama.cpp",),
    kv_dtype: str = "f16",
) -> list[Candidate]:
    """Cost every candidate placement (decode tg128 and prefill pp512 at `depth`), fitting ones
    first, each group fastest in decode first."""
    sysm, mdl = load_system(system), load_model(model)
    kw: dict[str, Any] = {"quant": quant, "cpu_engine": cpu_engine, "kv_dtype": kv_dtype}
    by_engine: dict[str, tuple[SystemScenario, SystemScenario]] = {}
    for fam in engines:
        if fam == "vllm" and not sysm.accelerators:
            continue
        eng = engine if fam == "llama.cpp" else (engine or "vllm")
        by_engine[fam] = (
            resolve_system(sysm, mdl, Workload(test="tg128", depth=depth), engine=eng, **kw),
            resolve_system(sysm, mdl, Workload(test="pp512", depth=depth), engine=eng, **kw),
        )
    out = []
    for pl in candidate_placements(sysm, mdl, tuple(by_engine)):
        dec, pre = by_engine[pl.engine]
        out.append(Candidate(pl, dec.step(pl), pre.step(pl)))
    out.sort(key=lambda c: (not c.fits, -c.decode.tokens_per_second))
    return out


def best(candidates: list[Candidate], phase: str = "decode") -> Candidate | None:
    """The fastest fitting candidate in `phase` (decode or prefill); None if none fits."""
    fitting = [c for c in candidates if c.fits]
    if not fitting:
        return None
    return max(fitting, key=lambda c: getattr(c, phase).tokens_per_second)
