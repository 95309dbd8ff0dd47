"""Placements checked against public measurements (validation/data/public_placement.csv): each row's
system (host, GPUs, links) and placement (-ngl, --n-cpu-moe / -ot rules, -sm, GPU count) are
rebuilt, costed by model.placement, and compared with the measured throughput.

A row's system is built in memory from the names in the row (roofline/data/placement_aliases.yaml
maps them to device specs) with estimated links where the source gives none. Rows whose host CPU has
no spec are kept only when their placement leaves the CPU no work (all weights on GPUs); rows whose
model, GPU, quant or test this tool cannot express are skipped and counted by reason.
"""

from __future__ import annotations

import csv
import re
import statistics
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from roofline.errors import RooflineError
from roofline.model.placement import Placement, resolve_system
from roofline.model.workload import Workload
from roofline.specs.catalog import load_device, load_model, validate
from roofline.specs.system import System
from roofline.traces.importers import aliases

#: A stand-in host for rows whose CPU has no spec and does no work (all weights on the GPUs).
STAND_IN_HOST = "xeon-emr-16vcpu-vm"
PCIE_LANE_GBPS = {3: 0.985, 4: 1.969, 5: 3.938}  # GB/s per lane and direction (128b/130b)
LINK_EFFICIENCY = 0.85  # pinned-copy efficiency measured on the H200 machine (55.3 of 63 GB/s)


@lru_cache(maxsize=1)
def _maps() -> dict[str, Any]:
    text = resources.files("roofline").joinpath("data", "placement_aliases.yaml").read_text()
    return yaml.safe_load(text)


@dataclass(frozen=True)
class PlacementRow:
    system_label: str
    model: str
    quant: str
    test: str
    depth: int
    placement: Placement
    measured: float
    predicted: float
    source: str
    notes: str

    @property
    def error(self) -> float:
        return self.predicted / self.measured - 1


def _system(label: str, gpu_name: str, n_gpus: int, host_name: str, needs_cpu: bool) -> System:
    m = _maps()
    gpu = m["gpus"].get(gpu_name) if gpu_name else None
    if gpu_name and gpu is None:
        raise RooflineError(f"GPU {gpu_name!r} has no device spec mapping")
    host = m["hosts"].get(host_name)
    if host is None:
        if needs_cpu:
            raise RooflineError(f"host CPU {host_name!r} has no device spec, and this placement uses it")
        host = STAND_IN_HOST
    for dev in filter(None, (gpu, host)):
        load_device(dev)  # missing spec -> error, counted as a skip
    links: list[dict[str, Any]] = []
    if gpu:
        gen, lanes = m["gpu_pcie"][gpu]
        if host_name in m["pcie3_hosts"]:
            gen = min(gen, 3)
        bw = PCIE_LANE_GBPS[gen] * lanes * LINK_EFFICIENCY
        why = f"PCIe {gen}.0 x{lanes} x {LINK_EFFICIENCY} (estimated from the card and host, not stated)"
        links.append(
            {
                "name": f"PCIe {gen}.0 x{lanes}",
                "kind": "host",
                "bandwidth": {"value": f"{bw:.2f} GB/s", "estimated": True, "reason": why},
                "latency": {
                    "value": "10 us",
                    "estimated": True,
                    "reason": "one small copy, as measured on the H200 machine",
                },
            }
        )
        if n_gpus > 1:
            nv = m["nvlink"].get(gpu)
            peer = (
                {"value": nv, "estimated": True, "reason": "NVLink per direction (datasheet), not measured"}
                if nv
                else {
                    "value": f"{bw / 2:.2f} GB/s",
                    "estimated": True,
                    "reason": "staged through host memory: two PCIe hops",
                }
            )
            links.append(
                {
                    "name": "NVLink" if nv else "PCIe through the host",
                    "kind": "peer",
                    "bandwidth": peer,
                    "latency": {
                        "value": "5 us" if nv else "20 us",
                        "estimated": True,
                        "reason": "not measured",
                    },
                }
            )
    return validate(
        {
            "id": re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") or "system",
            "name": label,
            "host": {"device": host},
            "accelerators": [{"device": gpu, "count": n_gpus}] if gpu and n_gpus else [],
            "links": links,
        },
        System,
        f"system of {label!r}",
    )


def _cpu_expert_layers(rule: str, n_layers: int) -> int:
    """How many layers' expert tensors an -ot rule sends to the CPU (each rule `regex=BUFFER`)."""
    count = set()
    for part in re.split(r"[;,]\s*", rule):
        pattern, _, buffer = part.strip().rpartition("=")
        if buffer.strip().upper() != "CPU":
            continue
        try:
            rx = re.compile(pattern.strip())
        except re.error as exc:
            raise RooflineError(f"-ot rule {pattern!r} is not a regular expression ({exc})") from None
        count |= {i for i in range(n_layers) if rx.search(f"blk.{i}.ffn_up_exps.weight")}
    return len(count)


def _placement(r: dict[str, str], n_layers: int, has_gpu: bool) -> Placement:
    ngl_text = r["ngl"].strip().lower()
    n_gpus = int(r["n_gpus"] or 0)
    if not has_gpu or n_gpus == 0 and not ngl_text.startswith("not given"):
        return Placement(gpus=0)
    if ngl_text.startswith("0") or ngl_text.startswith("not given"):
        return Placement(gpus=max(n_gpus, 1), ngl=0)  # a CUDA build with no layers offloaded
    m = re.match(r"\d+", ngl_text)
    ngl = None if m is None or int(m.group()) > n_layers else int(m.group())
    ncmoe = int(r["n_cpu_moe"]) if r["n_cpu_moe"].strip().isdigit() else 0
    if r["override_tensor"].strip():
        ncmoe = max(ncmoe, _cpu_expert_layers(r["override_tensor"], n_layers))
    sm = "row" if r["split_mode"].strip().startswith("row") else "layer"
    return Placement(gpus=max(n_gpus, 1), ngl=ngl, n_cpu_moe=ncmoe, split_mode=sm)


def _test(text: str) -> str:
    if not re.fullmatch(r"(pp|tg)\d{1,6}", text):
        raise RooflineError(f"test {text!r} is not a llama-bench ppN/tgN test")
    return text


def _quant(text: str, known: dict[str, str]) -> str:
    if text in known:
        return known[text]
    head = text.split(" ")[0]
    if head in known:
        return known[head]
    raise RooflineError(f"quant {text!r} is not one format this tool knows")


def check(path: str | Path) -> tuple[list[PlacementRow], dict[str, int]]:
    """Every row of `path` that can be rebuilt, predicted; and the skipped rows counted by reason."""
    al = aliases()
    rows = list(csv.DictReader(Path(path).open(newline="")))
    gpu_of = {r["system_label"]: r["gpus"] for r in rows if r["gpus"]}
    out: list[PlacementRow] = []
    skipped: dict[str, int] = {}
    cache: dict[tuple[Any, ...], Any] = {}
    for r in rows:
        try:
            if r["engine"].lower().startswith("vllm") or r["tp"].strip() not in ("", "1"):
                raise RooflineError("vLLM rows: their models and quants are not in the catalog")
            model_id = _maps()["models"].get(r["model"]) or al["models"].get(r["model"])
            if model_id is None:
                raise RooflineError(f"model {r['model']!r} has no catalog alias")
            mdl = load_model(model_id)
            quant = _quant(r["quant"], al["quants"])
            test = _test(r["test"])
            gpu_name = r["gpus"] or gpu_of.get(r["system_label"], "")
            pl = _placement(r, mdl.n_layers, bool(gpu_name))
            needs_cpu = pl.gpus == 0 or pl.ngl is not None or pl.n_cpu_moe > 0
            sysm = _system(
                r["system_label"], gpu_name, max(int(r["n_gpus"] or 0), pl.gpus), r["host_cpu"], needs_cpu
            )
            engine = "llama.cpp-sycl" if "sycl" in r["engine"].lower() else None
            key = (sysm.model_dump_json(), model_id, quant, test, int(r["depth"] or 0), engine)
            if key not in cache:
                w = Workload(test=test, depth=int(r["depth"] or 0))
                cache[key] = resolve_system(sysm, mdl, w, quant=quant, engine=engine)
            step = cache[key].step(pl)
        except RooflineError as exc:
            reason = str(exc).split(":")[0][:80]
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        out.append(
            PlacementRow(
                r["system_label"],
                model_id,
                quant,
                test,
                int(r["depth"] or 0),
                pl,
                float(r["tokens_per_s"]),
                step.tokens_per_second,
                r["source_url"],
                r["notes"],
            )
        )
    return out, skipped


def summary(rows: list[PlacementRow]) -> dict[str, Any]:
    """Median |error| by placement kind and phase, and whether the predicted best placement of each
    (system, model, test, depth) with several measured placements is the measured best."""

    def kind(p: Placement) -> str:
        if p.gpus == 0:
            return "CPU only"
        if p.ngl == 0:
            return "ngl 0 (CUDA build)"
        if p.n_cpu_moe:
            return "experts on the CPU"
        if p.ngl is not None:
            return "partial -ngl"
        return f"{'multi' if p.gpus > 1 else 'one'}-GPU" + (f" sm {p.split_mode}" if p.gpus > 1 else "")

    by: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        by.setdefault((kind(r.placement), "decode" if r.test.startswith("tg") else "prefill"), []).append(
            abs(r.error)
        )
    groups: dict[tuple[str, str, str, int], list[PlacementRow]] = {}
    for r in rows:
        groups.setdefault((r.system_label, r.model, r.test, r.depth), []).append(r)
    picks = []
    for key, rs in groups.items():
        labels = {x.placement.label() for x in rs}
        if len(labels) < 2:
            continue
        meas = max(rs, key=lambda x: x.measured)
        pred = max(rs, key=lambda x: x.predicted)
        picks.append(
            {
                "group": list(key),
                "measured_best": meas.placement.label(),
                "predicted_best": pred.placement.label(),
                "right": meas.placement == pred.placement,
            }
        )
    return {
        "rows": len(rows),
        "median_abs_error": {f"{k} / {ph}": statistics.median(v) for (k, ph), v in sorted(by.items())},
        "n_by_kind": {f"{k} / {ph}": len(v) for (k, ph), v in sorted(by.items())},
        "best_placement": picks,
        "best_placement_right": sum(p["right"] for p in picks),
    }


def report_markdown(rows: list[PlacementRow], skipped: dict[str, int], source: str) -> str:
    """The placement section of the validation report: errors by placement kind, the best-placement
    check, and every row of a split placement (CPU experts, partial -ngl, CPU only)."""
    s = summary(rows)
    out = [
        "# Placements: predicted vs measured",
        "",
        f"Source: `{source}` ({s['rows']} rows rebuilt and predicted; {sum(skipped.values())} skipped).",
        "Generated by `roofline validate-placements`. Links the sources do not state are estimated",
        "(roofline/data/placement_aliases.yaml). An `-ot` rule is costed as `--n-cpu-moe` with the same",
        "number of expert layers (every layer's experts are the same size).",
        "",
        "| placement / phase | rows | median abs error |",
        "| --- | ---: | ---: |",
    ]
    for k, v in s["median_abs_error"].items():
        out.append(f"| {k} | {s['n_by_kind'][k]} | {v:.0%} |")
    picks = s["best_placement"]
    out += [
        "",
        f"Best placement: predicted = measured in {s['best_placement_right']} of {len(picks)} groups "
        "(same system, model, test and depth, several placements measured).",
        "",
        "| system | model | test | depth | measured best | predicted best |",
        "| --- | --- | --- | ---: | --- | --- |",
    ]
    out += [
        f"| {g['group'][0]} | {g['group'][1]} | {g['group'][2]} | {g['group'][3]} | {g['measured_best']} | "
        f"{g['predicted_best']}{'' if g['right'] else ' (wrong)'} |"
        for g in picks
    ]
    out += [
        "",
        "## Split placements, row by row",
        "",
        "| system | model | test | depth | placement | measured t/s | predicted t/s | error |",
        "| --- | --- | --- | ---: | --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        p = r.placement
        if p.gpus == 0 or p.n_cpu_moe or p.ngl is not None:
            out.append(
                f"| {r.system_label} | {r.model} | {r.test} | {r.depth} | {p.label()} | {r.measured:.1f} | "
                f"{r.predicted:.1f} | {r.error:+.0%} |"
            )
    out += ["", "## Skipped rows", "", "| reason | rows |", "| --- | ---: |"]
    out += [f"| {k} | {v} |" for k, v in sorted(skipped.items(), key=lambda kv: -kv[1])]
    return "\n".join(out) + "\n"


__all__ = ["PlacementRow", "check", "report_markdown", "summary"]
