"""`roofline specs schema` (roofline/model/schemas.py) and shell completion (issue 13.16): the schema
accepts every bundled spec and refuses what the loader refuses for its form; completion offers the
catalog's ids through click's own completion API."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.shell_completion import BashComplete
from click.testing import CliRunner

from roofline.cli import main
from roofline.errors import RooflineError
from roofline.model.engine import ENGINES
from roofline.specs import catalog

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = ROOT / "tests" / "data" / "hostile"
SPEC_FILES = {
    "device": sorted((ROOT / "hardware_specs").glob("*.yaml")),
    "model": sorted((ROOT / "model_specs").glob("*.yaml")),
    "engine": sorted((ROOT / "roofline" / "engines").glob("*.yaml")),
}


@pytest.fixture(scope="module")
def schemas(tmp_path_factory) -> dict[str, dict]:
    """Each schema as the command writes it (-o), read back from the file."""
    out = {}
    d = tmp_path_factory.mktemp("schemas")
    for kind in SPEC_FILES:
        path = d / f"{kind}.schema.json"
        r = CliRunner().invoke(main, ["specs", "schema", kind, "-o", str(path)], catch_exceptions=False)
        assert r.exit_code == 0, r.output
        out[kind] = json.loads(path.read_text())
        jsonschema.Draft202012Validator.check_schema(out[kind])
    return out


@pytest.mark.parametrize("kind", sorted(SPEC_FILES))
def test_every_bundled_spec_validates_against_the_exported_schema(schemas, kind):
    validator = jsonschema.Draft202012Validator(schemas[kind])
    assert len(SPEC_FILES[kind]) >= (40 if kind != "engine" else 10)
    for f in SPEC_FILES[kind]:
        errors = [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(yaml.safe_load(f.read_text()))
        ]
        assert not errors, f"{f.name}: {errors[:3]}"


def test_the_schema_describes_figures_as_files_write_them(schemas):
    device = schemas["device"]
    assert device["$schema"].endswith("2020-12/schema") and "moe-roofline" in device["$comment"]
    bandwidth = device["$defs"]["MemoryLevel"]["properties"]["capacity"]
    assert bandwidth["properties"]["value"]["examples"] == ["8 GiB"]
    validator = jsonschema.Draft202012Validator(bandwidth)
    for value in ("8 GiB", "68 GB/s", " 5 us ", "1.5e9", 2e9, "+3.35 TB/s"):
        assert validator.is_valid({"value": value, "source": "https://example.org/datasheet"}), value
    assert validator.is_valid({"value": "8 GiB", "estimated": True, "reason": "same die as the 16 GB"})


@pytest.mark.parametrize(
    "figure",
    [
        {"value": "8 GiB"},  # no provenance
        {"value": "8 GiB", "estimated": True},  # an estimate without its reason
        {"value": "8 GiB", "source": "x", "unit": "GiB"},  # unknown key
        {"value": "3,35 TB/s", "source": "x"},  # decimal comma
        {"value": "TB/s", "source": "x"},  # a unit without a number
        {"value": "-8 GiB", "source": "x"},  # negative
        {"value": "10**10 GB/s", "source": "x"},  # arithmetic
        {"value": True, "source": "x"},
    ],
)
def test_the_schema_refuses_figures_the_loader_refuses(schemas, figure):
    from roofline.specs.sourced import _sourced_from_yaml

    schema = schemas["device"]["$defs"]["MemoryLevel"]["properties"]["capacity"]
    assert not jsonschema.Draft202012Validator(schema).is_valid(figure)
    with pytest.raises((ValueError, RooflineError)):
        _sourced_from_yaml(figure, "capacity")


@pytest.mark.parametrize(
    "name",
    ["device-decimal-comma.yaml", "device-thousands-separator.yaml", "device-unit-without-number.yaml"],
)
def test_hostile_device_files_fail_the_schema_and_the_loader(schemas, name):
    data = yaml.safe_load((HOSTILE / name).read_text())
    assert not jsonschema.Draft202012Validator(schemas["device"]).is_valid(data)
    with pytest.raises(RooflineError):
        catalog.check_file(HOSTILE / name)


def test_schema_refuses_to_overwrite_without_force(tmp_path):
    path = tmp_path / "device.json"
    path.write_text("{}")
    r = CliRunner().invoke(main, ["specs", "schema", "device", "-o", str(path)])
    assert r.exit_code == 2 and "--force" in r.output and path.read_text() == "{}"


# ---- shell completion ------------------------------------------------------------------------------
def complete(args: list[str], incomplete: str) -> list[str]:
    """What bash would be offered, through click's completion API (the same path as
    `_ROOFLINE_COMPLETE=bash_complete roofline`)."""
    return [
        c.value
        for c in BashComplete(main, {}, "roofline", "_ROOFLINE_COMPLETE").get_completions(args, incomplete)
    ]


def test_device_option_completes_device_ids():
    got = complete(["predict", "--device"], "rtx-40")
    want = [d for d in catalog.list_ids("device") if d.startswith("rtx-40")]
    assert got == want and "rtx-4090" in got and len(got) >= 3


@pytest.mark.parametrize(
    ("args", "incomplete", "expected"),
    [
        (["predict", "--device", "rtx-4090", "--model"], "olmoe", {"olmoe-1b-7b"}),
        (["predict", "--engine"], "llama.cpp-cu", {e for e in ENGINES if e.startswith("llama.cpp-cu")}),
        (["compare", "--device", "rtx-4090"], "llama-3.2-", {"llama-3.2-1b", "llama-3.2-3b"}),
        (["sweep", "--models"], "olmoe-1b-7b,llama-3.2-1", {"olmoe-1b-7b,llama-3.2-1b"}),
        (["sweep", "--devices"], "rtx-4090,jetson-orin-nano-8", {"rtx-4090,jetson-orin-nano-8gb"}),
        (["traces", "import", "llama-bench", "x.json", "--device"], "apple-m2-p", {"apple-m2-pro"}),
        (["calibrate", "traces", "--engine"], "vll", {"vllm"}),
        (["plot", "heatmap", "--devices"], "rtx-4090,apple-m2-p", {"rtx-4090,apple-m2-pro"}),
        (["plot", "crossover", "--device", "apple-m2-pro"], "olmoe-1b", {"olmoe-1b-7b"}),
    ],
)
def test_options_complete_their_kind(args, incomplete, expected):
    assert set(complete(args, incomplete)) >= expected
    assert all(c.startswith(incomplete) for c in complete(args, incomplete))


def test_specs_show_completes_devices_and_models_and_spec_dirs(tmp_path):
    got = complete(["specs", "show"], "olmoe")
    assert "olmoe-1b-7b" in got
    mine = tmp_path / "specs"
    mine.mkdir()
    (mine / "my-board.yaml").write_text(
        (ROOT / "hardware_specs" / "apple-m2-pro.yaml")
        .read_text()
        .replace("id: apple-m2-pro", "id: my-board")
    )
    assert complete(["--spec-dir", str(mine), "predict", "--device"], "my-b") == ["my-board"]
    # a path is left to the shell
    (item,) = BashComplete(main, {}, "roofline", "_ROOFLINE_COMPLETE").get_completions(
        ["predict", "--device"], "./my"
    )
    assert item.type == "file"


def test_bash_completion_script_is_what_the_readme_says():
    env = {**os.environ, "_ROOFLINE_COMPLETE": "bash_source"}
    r = subprocess.run(["roofline"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "_roofline_completion" in r.stdout and "complete -o nosort" in r.stdout
    assert "_ROOFLINE_COMPLETE=bash_source roofline" in (ROOT / "README.md").read_text()
