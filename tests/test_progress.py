"""Long commands show progress with counts on a terminal and nothing elsewhere (cli/progress.py),
and validate says how many calibrations came from the cache."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from roofline.cli.progress import progress_bar

ROOT = Path(__file__).resolve().parents[1]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_sees_counts_and_a_pipe_sees_nothing(monkeypatch):
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    with progress_bar("held-out fits", "fit") as tell:
        for i in range(3):
            tell(i + 1, 3, f"fold {i}")
    shown = term.getvalue()
    assert "held-out fits" in shown and "3/3" in shown and "fold 2" in shown
    pipe = io.StringIO()
    monkeypatch.setattr(sys, "stderr", pipe)
    with progress_bar("held-out fits", "fit") as tell:
        tell(1, 1, "fold")
    assert pipe.getvalue() == ""


def test_validate_is_quiet_off_a_terminal_and_counts_cached_fits(tmp_path):
    traces = tmp_path / "traces"
    traces.mkdir()
    lines = (ROOT / "validation" / "traces" / "public.e2e.csv").read_text().splitlines()[:60]
    (traces / "small.e2e.csv").write_text("\n".join(lines) + "\n")
    cmd = [sys.executable, "-m", "roofline", "validate", str(traces), "--out", str(tmp_path / "R.md")]
    env = {**os.environ, "ROOFLINE_CACHE_DIR": str(tmp_path / "cache")}
    first = subprocess.run(cmd, capture_output=True, text=True, env=env)
    second = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert first.returncode == 0 and second.returncode == 0, first.stderr
    assert first.stderr == "" and second.stderr == ""  # no bar, no per-fold lines off a terminal
    # a cold cache still serves some fits within one run: the inner leave-one-device-out fits of two
    # folds that leave out the same pair of devices are one fit
    hit, n = (int(v) for v in first.stdout.split("calibrations: ")[1].split()[:3:2])
    assert n > 5 and hit < n and f"calibrations: {n} of {n} read from the cache" in second.stdout
    assert (tmp_path / "R.md").read_text().count("|") > 100
