"""The llama.cpp path end to end on a tiny probe: generate -> quantize -> bench -> import ->
calibrate -> predict. Needs llama-bench and llama-quantize (scripts/build_llama_cpp.sh builds them;
.ci/run does, and points LLAMA_CPP_BIN at them). Without them the test is skipped, except in CI."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import gguf
import pytest

from roofline.api import predict
from roofline.llamacpp.gguf_writer import gguf_name, write_gguf
from roofline.llamacpp.synthetic import family
from roofline.specs import load_model

BIN = os.environ.get("LLAMA_CPP_BIN", "")


def _bins() -> tuple[str, str]:
    bench, quant = Path(BIN) / "llama-bench", Path(BIN) / "llama-quantize"
    if not (bench.is_file() and quant.is_file()):
        if os.environ.get("CI"):
            pytest.fail("CI must build llama.cpp (scripts/build_llama_cpp.sh) and set LLAMA_CPP_BIN")
        pytest.skip("llama.cpp not built here (set LLAMA_CPP_BIN)")
    return str(bench), str(quant)


def test_gguf_has_every_tensor_with_its_shape(tmp_path):
    m = load_model("olmoe-1b-7b").model_copy(update={"n_layers": 1})
    m.__dict__.pop("tensors", None)
    path = write_gguf(m, tmp_path / "olmoe-1layer.gguf")
    reader = gguf.GGUFReader(str(path))
    got = {t.name: tuple(int(x) for x in reversed(t.shape)) for t in reader.tensors}
    want = {gguf_name(m, t): t.shape for t in m.tensors}
    assert got == want
    assert reader.fields["general.architecture"].contents() == "olmoe"
    assert reader.fields["olmoe.expert_count"].contents() == 64


def test_probe_end_to_end(tmp_path):
    bench, quant = _bins()
    out = tmp_path / "traces"
    r = subprocess.run(["roofline", "probe", "llama.cpp", "--llama-bench", bench, "--llama-quantize", quant,
                        "--device", "sandbox-epyc-2vcpu", "--models", "tiny", "--quant", "Q4_K_M",
                        "--tests", "pp64,tg16", "--depths", "0,64", "--reps", "3", "--out", str(out),
                        "--calibrate", str(tmp_path / "one-command.yaml")],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    trace = out / "sandbox-epyc-2vcpu.llama.cpp.e2e.csv"
    rows = trace.read_text().splitlines()
    assert len(rows) == 1 + 2 * 2 * 2  # header + 2 models x 2 tests x 2 depths
    assert not list(tmp_path.glob("**/*.gguf"))  # GGUF files deleted
    assert "calibration" in (tmp_path / "one-command.yaml").read_text()  # one command, one profile
    profile = tmp_path / "cpu.yaml"
    r = subprocess.run(["roofline", "calibrate", str(trace), "--engine", "llama.cpp-cpu", "-o", str(profile)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    tiny = family(tiny=True)[1]
    p = predict("sandbox-epyc-2vcpu", tiny, engine=str(profile))
    assert p.tokens_per_second > 0 and p.interval is not None


def test_probe_refuses_an_unknown_device_before_running_anything(tmp_path):
    """A device id the catalog does not know is refused up front (it was found only when the first
    llama-bench result was written, after a model's GGUF and its run)."""
    fake = tmp_path / "llama-bench"
    fake.write_text("#!/bin/sh\ntouch ran\n")
    fake.chmod(0o755)
    r = subprocess.run(
        [
            "roofline",
            "probe",
            "llama.cpp",
            "--llama-bench",
            str(fake),
            "--device",
            "no-such-box",
            "--models",
            "tiny",
            "--out",
            str(tmp_path / "out"),
            "--workdir",
            str(tmp_path / "gg"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert r.returncode == 2 and "--device" in r.stderr and "unknown device 'no-such-box'" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "ran").exists() and not (tmp_path / "gg").exists()
