"""Bad input gets a clear error naming the file, the field and what was expected; never a traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roofline.errors import SpecError
from roofline.specs.catalog import _bundled_root, check_file

DEVICE = _bundled_root() / "hardware_specs" / "jetson-orin-nano-8gb.yaml"
MODEL = _bundled_root() / "model_specs" / "olmoe-1b-7b.yaml"


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "roofline", *args], capture_output=True, text=True, cwd=cwd, timeout=60
    )


def _mutate(src: Path, tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(src.read_text())
    edit(data)
    out = tmp_path / src.name
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


CASES = [
    (
        DEVICE,
        lambda d: d["memory"][0].update(bandwidth={"value": "68 GB", "source": "x y"}),
        "memory[0].bandwidth",
        "expected a bandwidth",
    ),
    (
        DEVICE,
        lambda d: d["memory"][0].update(capacity={"value": "-8 GiB", "source": "x y"}),
        "memory[0].capacity",
        "non-negative",
    ),
    (DEVICE, lambda d: d["memory"][0].pop("usable_capacity"), "usable_capacity", "usable_capacity"),
    (DEVICE, lambda d: d["memory"][0]["bandwidth"].pop("source"), "memory[0].bandwidth", "needs a 'source'"),
    (DEVICE, lambda d: d.pop("power"), "power", "required field is missing"),
    (DEVICE, lambda d: d.update(kind="fpga"), "kind", "'cpu', 'gpu', 'soc' or 'npu'"),
    (MODEL, lambda m: m["moe"].update(top_k=65), "moe", "top_k (65) exceeds n_experts (64)"),
    (MODEL, lambda m: m["attention"].update(n_kv_heads=5), "attention", "divisible by n_kv_heads"),
    (MODEL, lambda m: m.pop("n_layers"), "n_layers", "required field is missing"),
    (MODEL, lambda m: m.update(n_layers="sixteen"), "n_layers", "valid integer"),
    (MODEL, lambda m: m.update(n_layerz=16), "n_layerz", "unknown field"),
    (MODEL, lambda m: m.update(d_model=-2048), "d_model", "greater than 0"),
]


@pytest.mark.parametrize(("src", "edit", "field", "message"), CASES)
def test_bad_spec_names_file_field_and_expectation(tmp_path, src, edit, field, message):
    path = _mutate(src, tmp_path, edit)
    with pytest.raises(SpecError) as exc:
        check_file(path)
    text = str(exc.value)
    assert str(path) in text and field in text and message in text, text


def test_cli_bad_spec_exits_2_without_traceback(tmp_path):
    path = _mutate(MODEL, tmp_path, lambda m: m["moe"].update(top_k=65))
    r = _cli("specs", "check", str(path))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "top_k (65) exceeds n_experts (64)" in r.stderr


def test_cli_unknown_quant_and_id_exit_2():
    r = _cli("specs", "show", "olmoe-1b-7x")
    assert r.returncode == 2 and "unknown model id" in r.stderr and "Traceback" not in r.stderr


def test_yaml_syntax_error_has_line(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("id: broken\nmemory: [\n  - {value: 1\n")
    with pytest.raises(SpecError, match=r"broken.yaml: line \d+"):
        check_file(p)


def test_yaml_is_loaded_safely(tmp_path):
    p = tmp_path / "evil.yaml"
    p.write_text("id: !!python/object/apply:os.system ['echo hi']\nn_layers: 1\n")
    with pytest.raises(SpecError, match="invalid YAML"):
        check_file(p)


_TOKENS = st.sampled_from(
    [
        "",
        "-1",
        "0",
        "1e400",
        "68 GB",
        "abc",
        "[",
        "{",
        ": :",
        "null",
        "~",
        "8 GiB/s",
        "true",
        "'",
        "\t",
        "1.5",
        "-",
        "? x",
        "&a",
        "*a",
        "!!binary x",
    ]
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(src=st.sampled_from([DEVICE, MODEL]), data=st.data())
def test_fuzzed_yaml_gives_clean_errors(tmp_path, src, data):
    """Mangle a valid spec (drop, duplicate or garble lines, replace values) and load it:
    the only acceptable outcomes are a valid spec or a SpecError."""
    lines = src.read_text().splitlines()
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(lines) - 1))
        op = data.draw(st.sampled_from(["drop", "dup", "value", "cut", "indent"]))
        if op == "drop":
            lines.pop(i)
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "value" and ":" in lines[i]:
            key = lines[i].split(":", 1)[0]
            lines[i] = f"{key}: {data.draw(_TOKENS)}"
        elif op == "cut":
            lines[i] = lines[i][: data.draw(st.integers(0, len(lines[i])))]
        else:
            lines[i] = "  " + lines[i]
        if not lines:
            lines = [""]
    p = tmp_path / src.name
    p.write_text("\n".join(lines))
    try:
        check_file(p)
    except SpecError as exc:
        assert str(p) in str(exc)


def test_user_spec_dir_and_path_work_from_any_directory(tmp_path):
    mine = tmp_path / "specs"
    mine.mkdir()
    shutil.copy(DEVICE, mine / "my-board.yaml")
    text = (mine / "my-board.yaml").read_text().replace("id: jetson-orin-nano-8gb", "id: my-board")
    (mine / "my-board.yaml").write_text(text)
    r = _cli("--spec-dir", str(mine), "specs", "show", "my-board", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = _cli("specs", "show", str(mine / "my-board.yaml"), cwd=tmp_path)
    assert r.returncode == 0 and "my-board" in r.stdout
