"""What users expect around the tool (issue 13.15, 13.17): the license and citation metadata agree with
the package, and every --json output is one object that records the tool and its version, while the
human output without --json stays as it was."""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

import roofline
from roofline.cli import main

ROOT = Path(__file__).resolve().parents[1]
TRACES = ROOT / "validation" / "traces"
TOOL = {"name": "moe-roofline", "version": roofline.__version__}


def run(*args: Any) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _json(r: Result) -> dict[str, Any]:
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert isinstance(out, dict) and out["tool"] == TOOL, out.get("tool")
    return out


# ---- 13.15: license and citation ---------------------------------------------------------------
def _pyproject_version() -> str:
    m = re.search(r'(?m)^version = "([^"]+)"$', (ROOT / "pyproject.toml").read_text())
    assert m, "pyproject.toml has no [project] version line"
    return m.group(1)


def test_citation_cff_parses_with_the_required_keys_and_the_package_version():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    # the keys CFF 1.2.0 requires, and a version that is the package's
    for key in ("cff-version", "message", "title", "authors"):
        assert cff.get(key), f"CITATION.cff lacks {key!r}"
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert all(isinstance(a, dict) and (a.get("name") or a.get("family-names")) for a in cff["authors"])
    assert cff["license"] == "MIT"
    version = _pyproject_version()
    assert str(cff["version"]) == version == roofline.__version__
    assert importlib.metadata.version("moe-roofline") == version


def test_license_is_the_mit_text_the_metadata_names():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "moe-roofline developers" in text
    assert 'license = { text = "MIT" }' in (ROOT / "pyproject.toml").read_text()
    assert "## Cite" in (ROOT / "README.md").read_text()


# ---- 13.17: --json on every command that reports ------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ["predict", "--device", "apple-m2-pro", "--model", "llama-3.2-1b"],
        ["compare", "--device", "apple-m2-pro", "olmoe-1b-7b", "llama-3.2-1b"],
        ["explain", "--device", "apple-m2-pro", "--model", "llama-3.2-1b"],
        ["crossover", "--device", "apple-m2-pro", "olmoe-1b-7b", "llama-3.2-1b", "--vary", "batch"],
        ["sweep", "--devices", "apple-m2-pro", "--models", "llama-3.2-1b", "--batch", "1,4", "--depth", "0"],
        ["specs", "list"],
        ["specs", "show", "apple-m2-pro"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_model_commands_json_carries_the_tool_version(args):
    out = _json(run(*args, "--json"))
    assert len(out) > 1  # the command's own content is there too


def test_sweep_json_rows_are_under_rows():
    out = _json(
        run("sweep", "--devices", "apple-m2-pro", "--models", "llama-3.2-1b", "--batch", "1,4", "--json")
    )
    assert {r["batch"] for r in out["rows"]} == {1, 4}


def _small_traces(tmp_path: Path) -> Path:
    """Ten public llama.cpp-cuda rows of two GPUs (a copy: validate writes beside its traces)."""
    lines = (TRACES / "public.e2e.csv").read_text().splitlines()
    keep = [
        ln
        for ln in lines[1:]
        if ln.startswith(("rtx-4090,llama.cpp-cuda,", "rtx-3090,llama.cpp-cuda,")) and ",llama-3.1-8b," in ln
    ][:10]
    assert len(keep) >= 6
    d = tmp_path / "traces"
    d.mkdir()
    (d / "small.e2e.csv").write_text("\n".join([lines[0], *keep]) + "\n")
    return d


def test_validate_json_summarises_and_lists_every_row(tmp_path):
    traces = _small_traces(tmp_path)
    report = tmp_path / "REPORT.md"
    out = _json(run("validate", traces, "--out", report, "--json"))
    n = len((traces / "small.e2e.csv").read_text().splitlines()) - 1
    assert out["rows"] == len(out["entries"]) == n and out["report"] == str(report)
    assert report.is_file() and Path(out["figure"]).is_file()
    decode = out["summary"]["decode"]["spec"]
    assert decode["rows"] == sum(e["test"].startswith("tg") for e in out["entries"])
    errors = sorted(abs(e["spec_tokens_per_s"] / e["measured_tokens_per_s"] - 1) for e in out["entries"])
    assert min(errors) <= decode["median_abs_error"] <= max(errors)
    # without --json: the one human line, as before
    human = run("validate", traces, "--out", report)
    assert human.exit_code == 0 and human.stdout.startswith(f"wrote {report} ({n} rows) and ")


def test_calibrate_json_gives_the_fit(tmp_path):
    traces = _small_traces(tmp_path)
    out = _json(run("calibrate", traces, "--engine", "llama.cpp-cuda", "-o", tmp_path / "p.yaml", "--json"))
    assert (
        out["engine"] == "llama.cpp-cuda" and out["rows"] == 10 and out["output"] == str(tmp_path / "p.yaml")
    )
    assert 0 < out["params"]["bandwidth_efficiency"]["value"] <= 1 and out["residual_sigma"] > 0
    human = run("calibrate", traces, "--engine", "llama.cpp-cuda", "-o", tmp_path / "q.yaml")
    assert human.stdout.startswith("calibrated llama.cpp-cuda on 10 rows; residual sigma ")
    assert human.stdout.rstrip().endswith(f"wrote {tmp_path / 'q.yaml'}")


def test_calibrate_json_from_microbenchmarks(tmp_path):
    micro = tmp_path / "h200.micro.csv"
    shutil.copy(TRACES / "h200-sxm-141gb.micro.csv", micro)
    out = _json(
        run(
            "calibrate", micro, "--engine", "llama.cpp-cuda", "--device", "h200-sxm-141gb",
            "-o", tmp_path / "m.yaml", "--json",
        )
    )  # fmt: skip
    assert out["micro_rows"] > 0 and 0 < out["params"]["bandwidth_efficiency"]["value"] <= 1


def test_bench_json_lists_what_it_wrote(tmp_path, monkeypatch):
    """The bench itself takes a minute (tests/test_bench.py runs it); here its result is a committed
    microbenchmark trace, and the test is what bench prints."""
    import roofline.cli.traces as traces_cli

    def fake_run(name: str, out_dir: Path, quick: bool = False, **kwargs: object) -> list[Path]:
        p = out_dir / f"{name}.micro.csv"
        shutil.copy(TRACES / "sandbox-epyc-2vcpu.micro.csv", p)
        return [p]

    monkeypatch.setattr(traces_cli, "run_bench", fake_run)
    out = _json(run("bench", "--device-name", "box", "--out", tmp_path, "--json"))
    rows = len((TRACES / "sandbox-epyc-2vcpu.micro.csv").read_text().splitlines()) - 1
    assert out["traces"] == [str(tmp_path / "box.micro.csv")] and out["micro_rows"] == rows
    assert out["spec"] is None and out["quick"] is False
    human = run("bench", "--device-name", "box", "--out", tmp_path)
    assert human.stdout == f"wrote {tmp_path / 'box.micro.csv'}\n"


def test_probe_json_gives_the_trace_and_the_fit(tmp_path, monkeypatch):
    """llama-bench runs are replaced by committed probe rows (tests/test_llamacpp_probe.py runs the
    real probe where llama.cpp is built); what is tested is probe's output."""
    import roofline.cli.probe as probe_cli
    from roofline.traces.files import read_e2e

    rows = read_e2e(TRACES / "sandbox-epyc-2vcpu.study-sweep1.llama.cpp.e2e.csv")
    monkeypatch.setattr(probe_cli, "run_probe", lambda *a, **k: rows)
    fake = tmp_path / "llama-bench"
    fake.write_text("")
    args = [
        "probe",
        "llama.cpp",
        "--llama-bench",
        fake,
        "--llama-quantize",
        fake,
        "--device",
        "sandbox-epyc-2vcpu",
    ]
    args += ["--models", "tiny", "--out", tmp_path, "--calibrate", tmp_path / "p.yaml"]
    out = _json(run(*args, "--json"))
    assert out["rows"] == len(rows) and Path(out["trace"]).is_file()
    assert out["calibration"]["engine"] == "llama.cpp-cpu" and out["calibration"]["residual_sigma"] > 0
    human = run(*args, "--force")
    assert human.stdout.startswith(f"wrote {len(rows)} rows to ")
    assert "calibrated llama.cpp-cpu on" in human.stdout


def test_traces_import_to_stdout_is_rows_with_the_version():
    out = _json(run("traces", "import", "llama-bench", ROOT / "tests/data/llama_bench/example.json",
                    "--device", "ryzen-9-7950x"))  # fmt: skip
    assert [r["test"] for r in out["rows"]] == ["pp512", "tg128"]
