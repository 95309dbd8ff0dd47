"""`place`: where to put a model's weights on a system (GPU, CPU, several GPUs), and the system
half of `compare --system`."""

from __future__ import annotations

from typing import Any

import click

from roofline import systems
from roofline.cli.common import echo_json
from roofline.cli.options import COMPLETE_MODEL, COMPLETE_SYSTEM, REF


@click.command()
@click.option(
    "--system",
    "system",
    required=True,
    type=REF,
    shell_complete=COMPLETE_SYSTEM,
    help="System id (roofline specs list) or system spec YAML.",
)
@click.option(
    "--model", required=True, type=REF, shell_complete=COMPLETE_MODEL, help="Model id or spec YAML."
)
@click.option("--quant", default=None, type=REF, help="Weight format; default: the model's published one.")
@click.option(
    "--context",
    "depth",
    default=0,
    show_default=True,
    type=click.IntRange(0, 10_000_000),
    help="Tokens already in the KV cache (decode tg128 and prefill pp512 run at this depth).",
)
@click.option(
    "--engine",
    "family",
    type=click.Choice(["llama.cpp", "vllm", "all"]),
    default="llama.cpp",
    show_default=True,
    help="Which engine's placements to search.",
)
@click.option("--top", default=10, show_default=True, type=click.IntRange(1, 10_000), help="Rows to print.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def place(
    system: str, model: str, quant: str | None, depth: int, family: str, top: int, as_json: bool
) -> None:
    """Where to put a model's weights on a system: every placement that fits, fastest first."""
    engines = ("llama.cpp", "vllm") if family == "all" else (family,)
    rep = systems.place(system, model, depth=depth, quant=quant, engines=engines)
    if as_json:
        echo_json(rep.to_json(limit=top))
        return
    print_report(rep, top)


def print_report(rep: systems.PlacementReport, top: int) -> None:
    quant = rep.candidates[0].decode.quant if rep.candidates else "?"
    click.echo(f"{rep.model.id} ({quant}) on {rep.system.id}: {rep.system.name}")
    fitting = [c for c in rep.candidates if c.fits]
    click.echo(
        f"  {len(rep.candidates)} placements costed, {len(fitting)} fit; decode tg128 and prefill pp512 "
        f"at depth {rep.depth}"
    )
    roles = list(dict.fromkeys(p.role for c in rep.candidates[:top] for p in c.decode.parts))
    mem_head = "".join(f"{r + ' GiB':>12}" for r in roles)
    click.echo(f"  {'placement':<34}{'decode t/s':>11}{'prefill t/s':>12}{mem_head}  fits")
    for c in rep.candidates[:top]:
        mem = {p.role: p for p in c.decode.parts}
        cells = "".join(
            f"{(mem[r].weight_bytes + mem[r].kv_bytes) / 2**30:>8.1f}/{mem[r].usable_bytes / 2**30:<3.0f}"
            if r in mem
            else f"{'-':>12}"
            for r in roles
        )
        click.echo(
            f"  {c.placement.label():<34}{c.decode.tokens_per_second:>11.1f}"
            f"{c.prefill.tokens_per_second:>12.1f}{cells}  {'yes' if c.fits else 'no'}"
        )
    for phase in ("decode", "prefill"):
        b = getattr(rep, f"best_{phase}")
        if b is None:
            c0 = rep.candidates[0] if rep.candidates else None
            need = sum(x.weight_bytes + x.kv_bytes for x in getattr(c0, phase).parts) / 2**30 if c0 else 0.0
            have = {x.role: x.usable_bytes for x in getattr(c0, phase).parts} if c0 else {}
            click.echo(
                f"  {phase}: no placement fits: the model needs about {need:.0f} GiB here; the system has "
                + " + ".join(f"{v / 2**30:.0f} GiB ({k})" for k, v in have.items())
            )
            continue
        step = getattr(b, phase)
        click.echo(
            f"  use for {phase}: {b.placement.label()} ({step.tokens_per_second:.1f} tokens/s): "
            f"{b.placement.flags(rep.model)}"
        )
    if rep.best_decode is not None:
        for note in rep.best_decode.decode.notes + rep.best_decode.prefill.notes:
            click.echo(f"  note: {note}")


def compare_on_system(
    system: str, models: tuple[str, ...], depth: int, quant: str | None, as_json: bool
) -> None:
    """`compare --system`: each model at its best placement on the system, and the verdict."""
    reps = systems.compare_on_system(system, list(models), depth=depth, quants=[quant] * len(models))
    verdict = systems.system_verdict(reps[0], reps[1]) if len(reps) > 1 else ""
    if as_json:
        out: dict[str, Any] = {
            "system": system,
            "depth": depth,
            "models": [r.to_json(limit=3) for r in reps],
            "verdict": verdict,
        }
        echo_json(out)
        return
    click.echo(f"{reps[0].system.id}: each model at its fastest placement that fits (depth {depth})")
    click.echo(
        f"  {'model':<26}{'quant':>8}  {'decode: placement':<30}{'t/s':>8}  "
        f"{'prefill: placement':<30}{'t/s':>8}"
    )
    for r in reps:
        q = r.candidates[0].decode.quant if r.candidates else "?"
        cells = []
        for phase in ("decode", "prefill"):
            b = getattr(r, f"best_{phase}")
            cells.append(
                f"{b.placement.label():<30}{getattr(b, phase).tokens_per_second:>8.1f}"
                if b
                else f"{'does not fit':<30}{'-':>8}"
            )
        click.echo(f"  {r.model.id:<26}{q:>8}  {cells[0]}  {cells[1]}")
    if verdict:
        click.echo("")
        click.echo(verdict)


@click.command("validate-placements")
@click.argument(
    "path", required=False, default="validation/data/public_placement.csv", type=click.Path(dir_okay=False)
)
@click.option(
    "-o", "--output", default=None, type=click.Path(dir_okay=False), help="Markdown report to write."
)
@click.option("--force", is_flag=True, help="Overwrite an existing report.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def validate_placements(path: str, output: str | None, force: bool, as_json: bool) -> None:
    """Placements (CPU experts, -ngl, multi-GPU) predicted against public measurements."""
    from pathlib import Path

    from roofline.errors import SpecError
    from roofline.specs.output import write_output
    from roofline.validation import placements

    if not Path(path).is_file():
        raise SpecError(path, "no such placement measurements file (validation/data/README.md describes it)")
    rows, skipped = placements.check(path)
    summ = placements.summary(rows)
    if output:
        write_output(output, placements.report_markdown(rows, skipped, path), force=force)
    if as_json:
        echo_json({**summ, "skipped": skipped})
        return
    click.echo(f"{summ['rows']} rows predicted, {sum(skipped.values())} skipped")
    for k, v in summ["median_abs_error"].items():
        click.echo(f"  {k:<40} {summ['n_by_kind'][k]:>4} rows  median |error| {v:.0%}")
    click.echo(
        f"  best placement right in {summ['best_placement_right']} of {len(summ['best_placement'])} groups"
    )
    if output:
        click.echo(f"wrote {output}")


def predict_on_system(
    system: str, model: str, placement: str | None, workload: Any, run_options: dict[str, Any], as_json: bool
) -> None:
    """`predict --system S --placement P`: one placement's step, part by part."""
    from roofline.model.placement import parse_placement, system_step

    pl = parse_placement(placement or "")
    step = system_step(
        system,
        model,
        workload,
        pl,
        quant=run_options.get("quant"),
        engine=run_options.get("engine"),
        kv_dtype=run_options.get("kv_dtype", "f16"),
    )
    if as_json:
        echo_json(step.to_json())
        return
    w = step.workload
    click.echo(
        f"{step.model.id} on {step.system.id} ({step.quant}, {w.test} at depth {w.depth}, batch {w.batch}), "
        f"{pl.label()}: {pl.flags(step.model)}"
    )
    click.echo(f"  {step.tokens_per_second:.1f} tokens/s, {step.seconds * 1e3:.2f} ms per step")
    for p in step.parts:
        mem = (p.weight_bytes + p.kv_bytes) / 2**30
        fits = "fits" if p.fits else "DOES NOT FIT"
        click.echo(
            f"  {p.role:<5} {p.device} ({p.engine}): {p.seconds * 1e3:8.2f} ms"
            + (f" (of which {p.copy_seconds * 1e3:.2f} ms copying weights in)" if p.copy_seconds else "")
            + f"; {mem:.1f} of {p.usable_bytes / 2**30:.1f} GiB, {fits}"
        )
        for t in sorted(p.times, key=lambda t: -float(t.seconds))[:4]:
            click.echo(f"          {t.op.name:<16} {float(t.seconds) * 1e3:8.3f} ms")
    click.echo(
        f"  links: {step.link_seconds * 1e3:.3f} ms ({step.link_bytes / 1e6:.1f} MB); "
        f"host {step.host_seconds * 1e3:.3f} ms"
    )
    for n in step.notes:
        click.echo(f"  note: {n}")
