"""Fit the energy model's system-level factors to measured GPU power (issue 15.3) and write
roofline/data/energy_fit.yaml: `python scripts/fit_energy.py [--check]`.

The model (roofline/model/energy.py) is, per step,

    E = P_idle t + alpha (P_max - P_idle) t_busy + k_B e_B bytes + k_F e_F FLOPs

with P_idle, P_max from the device spec, e_B (pJ per DRAM bit) and e_F (pJ per FLOP at the engine's
precision) from the literature table (roofline/data/energy.yaml: device-level DRAM energy and bare
arithmetic-unit energy, lower bounds), and three dimensionless factors fitted here:
- alpha: the power a busy accelerator draws whatever it computes (clocks up, SM and uncore static
  power out of power gating), as a share of its headroom above idle;
- k_B: moving a byte from DRAM to the cores costs k_B times the DRAM device's own energy (PHY,
  memory controller, network-on-chip, L2 and SRAM on the way);
- k_F: a FLOP costs k_F times the bare arithmetic (operand delivery from registers and SRAM).

Features come from each measured row's predicted step (bytes, FLOPs, busy share of the step) at the
row's measured rate; the target is the row's measured average power. Non-negative least squares.
The factors are fitted on one device (the H200), which every other device inherits: the file says so.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import sys
from pathlib import Path

import numpy as np
import yaml
from scipy.optimize import nnls

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from roofline.model.energy import literature_coefficients  # noqa: E402
from roofline.model.results import energy_inputs  # noqa: E402
from roofline.model.scenario import resolve  # noqa: E402
from roofline.model.workload import Workload  # noqa: E402
from roofline.traces.files import flash_flag  # noqa: E402

TRACES = (
    ROOT / "validation/traces/power/h200-sxm-141gb.default-build.power.csv",
    ROOT / "validation/traces/power/h200-sxm-141gb.ladder.power.csv",
)
OUT = ROOT / "roofline/data/energy_fit.yaml"


def features(r: dict[str, str]) -> tuple[np.ndarray, float, dict[str, float]]:
    """(features in W per unit factor, the target W above the spec's idle, step quantities)."""
    fa = flash_flag(r.get("fa"), str(TRACES))  # the run's -fa (-1 or empty: the engine's default)
    w = Workload(test=r["test"], depth=int(r["depth"]), batch=int(r["batch"]), flash_attention=fa)
    s = resolve(r["device"], r["model"], w, quant=r["quant"])
    st = s.step()
    dev = s.device
    idle, pmax = dev.power.idle.value, dev.power.max.value
    e_b, e_f = literature_coefficients(dev, s.engine.compute_precision)
    per_step_tokens = s.vars.tokens_in_test / s.vars.steps
    dram, flops, busy_s = energy_inputs(s, st)
    busy = busy_s / st.seconds
    rate = float(r["tokens_per_s"]) / per_step_tokens  # measured steps per second
    x = np.array([(pmax - idle) * busy, e_b * dram * rate, e_f * flops * rate])
    q = {
        "idle": idle,
        "pred_step": st.seconds,
        "tokens": per_step_tokens,
        "dram": dram,
        "flops": flops,
        "busy": busy,
        "pmax": pmax,
        "e_b": e_b,
        "e_f": e_f,
    }
    return x, float(r["avg_watts"]) - idle, q


def predicted_jpt(coef: np.ndarray, q: dict[str, float]) -> float:
    """J/token the product predicts with these factors: its own step time, no measurement."""
    t = q["pred_step"]
    e = q["idle"] * t + coef[0] * (q["pmax"] - q["idle"]) * q["busy"] * t + coef[1] * q["e_b"] * q["dram"]
    e += coef[2] * q["e_f"] * q["flops"]
    return e / q["tokens"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="Print the fit, write nothing.")
    args = ap.parse_args()
    # a window shorter than the NVML counter's refresh (window_ok 0) carries no usable energy
    rows = [r for t in TRACES for r in csv.DictReader(t.open()) if r.get("window_ok", "1") == "1"]
    X, y, Q, models = [], [], [], []
    for r in rows:
        x, target, q = features(r)
        X.append(x), y.append(target), Q.append(q), models.append(r["model"])
    X, y = np.array(X), np.array(y)
    coef, _ = nnls(X, y)
    meas_jpt = np.array([float(r["joules_per_token"]) for r in rows])
    pred = np.array([predicted_jpt(coef, q) for q in Q])
    err_in = np.abs(pred / meas_jpt - 1)
    # leave one model out: the factors fitted without any row of a model predict that model's rows
    cv = np.empty(len(rows))
    for m in sorted(set(models)):
        held = np.array([mm == m for mm in models])
        c, _ = nnls(X[~held], y[~held])
        cv[held] = [predicted_jpt(c, q) for q, h in zip(Q, held, strict=True) if h]
    err_cv = np.abs(cv / meas_jpt - 1)
    lit = np.array([predicted_jpt(np.array([0.0, 1.0, 1.0]), q) for q in Q])
    err_lit = np.abs(lit / meas_jpt - 1)
    idle = np.array([q["idle"] for q in Q])
    err_w = np.abs((X @ coef + idle) / (y + idle) - 1)  # power at the measured rate: the energy model alone
    summary = {
        "median_abs_error_watts_at_measured_rate": float(np.median(err_w)),
        "p90_abs_error_watts_at_measured_rate": float(np.quantile(err_w, 0.9)),
        "median_abs_error_jpt_literature_only": float(np.median(err_lit)),
        "median_abs_error_jpt_in_sample": float(np.median(err_in)),
        "p90_abs_error_jpt_in_sample": float(np.quantile(err_in, 0.9)),
        "median_abs_error_jpt_leave_one_model_out": float(np.median(err_cv)),
        "p90_abs_error_jpt_leave_one_model_out": float(np.quantile(err_cv, 0.9)),
    }
    print(
        f"alpha {coef[0]:.4g}, k_B {coef[1]:.4g}, k_F {coef[2]:.4g}: "
        f"{len(rows)} rows, {len(set(models))} models"
    )
    for k, v in summary.items():
        print(f"  {k:48} {v:.1%}")
    if args.check:
        return
    out = {
        "_about": (
            "System-level factors of the energy model (roofline/model/energy.py), fitted by "
            "scripts/fit_energy.py with non-negative least squares to measured average GPU power. Fitted "
            "on ONE device (NVIDIA H200, llama.cpp CUDA); every other device inherits them, unmeasured."
        ),
        "busy_share_of_headroom": round(float(coef[0]), 4),
        "dram_energy_factor": round(float(coef[1]), 4),
        "flop_energy_factor": round(float(coef[2]), 4),
        "provenance": {
            "traces": [str(t.relative_to(ROOT)) for t in TRACES],
            "rows": len(rows),
            "models": sorted(set(models)),
            "devices": sorted({r["device"] for r in rows}),
            "fitted": dt.date.today().isoformat(),
            **{k: round(v, 4) for k, v in summary.items()},
        },
    }
    OUT.write_text(yaml.safe_dump(out, sort_keys=False, width=110))
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
