"""Fit the bundled engine profiles' efficiencies and overheads to every measurement we have, and
report how well each fit travels to a device it never saw (leave one device out).

    python scripts/fit_default_profiles.py [--write] [--engines llama.cpp-cuda,llama.cpp-metal]
        [--exclude h200-sxm-141gb.llama.cpp.e2e.csv,...] [TRACE ...]

Without --write it prints what it would change. With --write it rewrites the fitted parameters in
roofline/engines/<engine>.yaml (nothing else in the file) and replaces the profile's provenance
with the fit's: rows, devices, date, parameters with their 1-sigma, and the leave-one-device-out
median error per phase. Every device weighs the same in a fit, however many rows it has (--no-balance:
every row does). Every candidate fit (calibrate.FIT_CANDIDATES: every parameter the rows determine,
down to the compute side only) passes only where its leave-one-device-out error, over at least
MIN_HELD_OUT held-out rows per phase, is no worse than the estimated profile's error on the same rows
in any phase (for a profile already fitted: than its own `fit:` recipe's held-out error); of those
that pass, the one with the lowest held-out error (the sum of the phases' medians) is adopted; a
profile fitted on fewer than three devices says so. The profile gets no `calibration` block: intervals
and calibrated-range warnings stay for `roofline calibrate` profiles of one machine.
"""

from __future__ import annotations

import argparse
import datetime
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from roofline.model.engine import EngineProfile, load_engine
from roofline.traces.files import E2ERow, read_any
from roofline.validation.calibrate import FIT_CANDIDATES, CalibrationError, Fit, calibrate, scenario

ROOT = Path(__file__).resolve().parents[1]
#: A fit is adopted on evidence from at least this many held-out rows per phase.
MIN_HELD_OUT = 10
ENGINES = (
    "llama.cpp-cuda",
    "llama.cpp-metal",
    "llama.cpp-vulkan",
    "llama.cpp-rocm",
    "llama.cpp-sycl",
    "llama.cpp-cpu",
    "vllm",
)
#: Traces that describe a build no user runs (no flash-attention kernels, 2 host threads): kept in
#: the report, left out of the defaults.
EXCLUDE = (
    "h200-sxm-141gb.llama.cpp.e2e.csv",
    "h200-sxm-141gb.study-a.llama.cpp.e2e.csv",
    "h200-sxm-141gb.study-b.llama.cpp.e2e.csv",
)


#: Rows of llama.cpp builds older than this (where the build number is known) are kept in the report
#: but left out of the defaults: the bundled profiles describe current builds, and the oldest rows
#: (M2 Max Mixtral at b1631, December 2023: the first day of llama.cpp's Mixtral support, prefill
#: 3-6x slower than the same machine's dense models of equal active size) measure kernels since
#: replaced.
MIN_BUILD = 2000


def rows_of(paths: list[Path]) -> list[E2ERow]:
    rows: list[E2ERow] = []
    for p in paths:
        rows += read_any(p)[0]
    return [r for r in rows if r.build is None or r.build >= MIN_BUILD]


def lodo(
    rows: list[E2ERow], engine: str, free: tuple[str, ...] | None, balance: bool
) -> dict[str, list[float]]:
    """|predicted / measured - 1| of each row, from a fit on the other devices' rows, by phase."""
    errors: dict[str, list[float]] = defaultdict(list)
    for device in sorted({r.device for r in rows}):
        train = [r for r in rows if r.device != device]
        try:
            prof = calibrate(train, engine, free, balance_devices=balance).profile(load_engine(engine))
        except CalibrationError:
            continue
        for r in rows:
            if r.device == device:
                errors[r.phase].append(abs(scenario(r, prof).tokens_per_second(prof) / r.tokens_per_s - 1))
    return errors


def estimate_errors(rows: list[E2ERow], base: EngineProfile) -> dict[str, list[float]]:
    """|predicted / measured - 1| of each row under the profile as it stands, by phase."""
    errors: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        errors[r.phase].append(abs(scenario(r, base).tokens_per_second() / r.tokens_per_s - 1))
    return errors


def provenance(
    engine: str, rows: list[E2ERow], fit: Fit, errors: dict[str, list[float]], old: str, balance: bool
) -> str:
    devices = sorted({r.device for r in rows})
    params = ", ".join(
        f"{k} {v:.3g}" + (f" +- {fit.sigma[k]:.2g}" if fit.sigma[k] is not None else " (kept)")
        for k, v in fit.params.items()
        if fit.sigma[k] is not None
    )
    err = "; ".join(
        f"{phase} median {np.median(v):.0%} (p90 {np.percentile(v, 90):.0%}, {len(v)} rows)"
        for phase, v in sorted(errors.items())
    )
    few = " FITTED ON FEWER THAN THREE DEVICES: treat its figures as rough." if len(devices) < 3 else ""
    return (
        f"fitted {datetime.date.today().isoformat()} by scripts/fit_default_profiles.py to {len(rows)} "
        f"measured rows ({len(fit.rows)} configurations after merging repeats) of {len(devices)} devices "
        f"({', '.join(devices)}) from validation/traces, "
        f"{'each device weighted the same' if balance else 'each row weighted the same'}; fitted: {params}; "
        f"log residual sigma "
        f"{fit.residual_sigma:.2f}; leave-one-device-out |error|: {err or 'n/a'}.{few} "
        f"Parameters the rows do not determine keep the estimate. Before the fit: {old}"
    )


def fit_block(free: tuple[str, ...] | None, balance: bool) -> str:
    """The profile's `fit:` block (EngineProfile.fit): the recipe `roofline validate` repeats."""
    names = "all" if free is None else "[" + ", ".join(free) + "]"
    return f"fit:\n  parameters: {names}\n  devices_weighted_equally: {'true' if balance else 'false'}\n"


def rewrite(path: Path, updates: dict[str, float], prov: str, recipe: str = "") -> str:
    """The profile with the fitted values, the fit's provenance and (when given) its `fit:` block."""
    text = path.read_text()
    if recipe:
        if re.search(r"^fit:", text, flags=re.M):
            text = re.sub(r"^fit:\n(?:  .*\n)*", recipe, text, count=1, flags=re.M)
        else:
            text = text.rstrip("\n") + "\n" + recipe
    for key, value in updates.items():
        line = f"{key}: {value:.4g}"
        if re.search(rf"^{key}:.*$", text, flags=re.M):
            text = re.sub(rf"^{key}:.*$", line, text, count=1, flags=re.M)
        else:
            text = re.sub(r"^(compute_efficiency:.*)$", rf"\1\n{line}", text, count=1, flags=re.M)
    wrapped = "\n".join("  " + chunk for chunk in _wrap(prov, 104))
    return re.sub(r"^provenance:.*?(?=^\S)", f"provenance: >-\n{wrapped}\n", text, count=1, flags=re.M | re.S)


def _wrap(text: str, width: int) -> list[str]:
    lines, cur = [], ""
    for word in text.split():
        if cur and len(cur) + 1 + len(word) > width:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}" if cur else word
    return [*lines, cur] if cur else lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("traces", nargs="*", type=Path)
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--exclude", default=",".join(EXCLUDE))
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--only", default="", help="try only the candidate fits of these labels (separated by |)")
    ap.add_argument(
        "--note", default="", help="a sentence added to the provenance (what the fit kept, and why)"
    )
    ap.add_argument(
        "--adopt",
        action="store_true",
        help="adopt the first candidate tried even where the estimated profile's in-sample error is lower "
        "(for a structural change judged by comparing leave-one-device-out errors before and after)",
    )
    ap.add_argument(
        "--no-balance",
        dest="balance",
        action="store_false",
        help="weigh every row the same, not every device",
    )
    args = ap.parse_args()
    paths = args.traces or sorted((ROOT / "validation" / "traces").glob("*.csv"))
    excluded = {x for x in args.exclude.split(",") if x}
    rows = rows_of([p for p in paths if p.name not in excluded])
    for engine in [e for e in args.engines.split(",") if e]:
        mine = [r for r in rows if r.engine == engine]
        if len(mine) < 4:
            print(f"{engine}: {len(mine)} rows, not fitted")
            continue
        base = load_engine(engine)
        shipped_key = None  # (free, balance) of the shipped recipe, whose lodo() `before` already holds
        if base.fit is None:
            before, against = estimate_errors(mine, base), "the estimated profile"
        else:
            # a fitted profile is beaten by a candidate whose held-out error is no worse than that of
            # its own recipe refitted on the same rows (its in-sample error would be no fair match)
            shipped = None if base.fit.parameters == "all" else tuple(base.fit.parameters)
            shipped_key = (shipped, base.fit.devices_weighted_equally)
            before = lodo(mine, engine, *shipped_key)
            against = "the shipped recipe held out"
        chosen = None
        for label, free in FIT_CANDIDATES:
            if args.only and label not in args.only.split("|"):
                continue
            try:
                fit = calibrate(mine, base, free, balance_devices=args.balance)
            except CalibrationError as exc:
                print(f"{engine} ({label}): {exc}")
                continue
            errors = before if (free, args.balance) == shipped_key else lodo(mine, engine, free, args.balance)
            updates = {k: v for k, v in fit.params.items() if fit.sigma[k] is not None}
            better = all(
                len(errors.get(p, [])) >= MIN_HELD_OUT and np.median(errors[p]) <= np.median(v) + 0.01
                for p, v in before.items()
            )
            print(
                f"{engine} ({label}): {len(mine)} rows, {len({r.device for r in mine})} devices; "
                + ", ".join(f"{k} {v:.3g}" for k, v in updates.items())
                + "; LODO "
                + "; ".join(f"{p} {np.median(v):.0%} (n={len(v)})" for p, v in sorted(errors.items()))
                + f"; {against}: "
                + "; ".join(f"{p} {np.median(v):.0%}" for p, v in sorted(before.items()))
                + ("; passes" if better else "; does not pass")
            )
            score = sum(float(np.median(v)) for v in errors.values())
            if args.adopt and chosen is None:
                chosen = (score, label, fit, errors, updates, free)
                break
            if better and (chosen is None or score < chosen[0]):
                chosen = (score, label, fit, errors, updates, free)
        print(f"{engine}: " + (f"adopted ({chosen[1]})" if chosen else "not adopted"))
        if args.write and chosen:
            _, _, fit, errors, updates, free = chosen
            path = ROOT / "roofline" / "engines" / f"{engine}.yaml"
            old = " ".join(str(base.provenance).split())
            old = old.split(" Before the fit: ")[-1]
            prov = provenance(engine, mine, fit, errors, old, args.balance)
            if args.note:
                prov = prov.replace(" Before the fit: ", f" {args.note} Before the fit: ", 1)
            path.write_text(rewrite(path, updates, prov, fit_block(free, args.balance)))
            load_engine(str(path))  # the rewritten profile must still load
    return 0


if __name__ == "__main__":
    sys.exit(main())
