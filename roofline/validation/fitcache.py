"""Held-out calibrations kept on disk, so `validate` and `plot measured` refit only what changed.

A fit is a pure function of its training rows, the engine profile it starts from, the device and
model specs those rows name, and the code that costs and fits them. The cache key is a SHA-256 of
all of these (the rows and specs as their full content, the code as the bytes of the model, specs
and calibration sources and the numpy/scipy versions), so an edit to any of them misses the cache
and refits: a stale fit cannot be served. Entries are one small JSON file each, written atomically;
an unreadable entry is refitted. The directory is the user cache dir (platformdirs) unless
ROOFLINE_CACHE_DIR names another; ROOFLINE_CACHE_DIR=off turns the cache off. Deleting the
directory is always safe.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from roofline.model.engine import EngineProfile, load_engine
from roofline.specs.catalog import load_device, load_model
from roofline.traces.files import E2ERow
from roofline.validation.calibrate import CalibrationError, Fit, Runs, best_of_repeats, calibrate

#: Bumped when what an entry holds changes.
FORMAT = 1
ENV = "ROOFLINE_CACHE_DIR"
#: Sources whose code decides a fit: what a run costs (model, specs and their data) and how it is fitted.
CODE = ("model", "specs", "engines", "data", "units.py", "units.txt", "validation/calibrate.py")


def cache_dir() -> Path | None:
    """Where fits are kept: $ROOFLINE_CACHE_DIR, else the user cache dir; None when turned off."""
    env = os.environ.get(ENV)
    if env is not None and env.strip().lower() in ("off", "none", "0", ""):
        return None
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("moe-roofline")) / "fits"


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    import numpy
    import scipy

    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256(f"numpy {numpy.__version__} scipy {scipy.__version__}".encode())
    for part in CODE:
        p = root / part
        files = sorted(p.rglob("*")) if p.is_dir() else [p]
        for f in files:
            if f.is_file() and f.suffix in (".py", ".yaml", ".yml", ".txt"):
                h.update(str(f.relative_to(root)).encode())
                h.update(f.read_bytes())
    return h.hexdigest()


@functools.lru_cache(maxsize=512)
def _spec(kind: str, ref: str) -> str:
    return (load_device(ref) if kind == "device" else load_model(ref)).model_dump_json()


def key(rows: list[E2ERow], engine: EngineProfile, **options: Any) -> str:
    """The cache key of a fit of `engine` to `rows` (with calibrate's `options`)."""
    h = hashlib.sha256(f"format {FORMAT} code {code_fingerprint()}".encode())
    h.update(engine.model_dump_json().encode())
    h.update(json.dumps(options, sort_keys=True, default=str).encode())
    names = [f.name for f in dataclasses.fields(E2ERow)]
    h.update(json.dumps([[getattr(r, n) for n in names] for r in rows]).encode())
    for kind, refs in (("device", {r.device for r in rows}), ("model", {r.model for r in rows})):
        for ref in sorted(refs):
            h.update(_spec(kind, ref).encode())
    return h.hexdigest()


class FitCache:
    """JSON entries by key in `directory` (None: nothing is kept)."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.hits = self.misses = 0

    @classmethod
    def default(cls) -> FitCache:
        return cls(cache_dir())

    def get(self, k: str) -> dict[str, Any] | None:
        if self.directory is None:
            return None
        try:
            got = json.loads((self.directory / f"{k}.json").read_text())
        except (OSError, ValueError):
            self.misses += 1
            return None
        if not isinstance(got, dict) or got.get("format") != FORMAT:
            self.misses += 1
            return None
        self.hits += 1
        return got

    def put(self, k: str, value: dict[str, Any]) -> None:
        """Write atomically; a cache that cannot be written is no error (the next run refits)."""
        if self.directory is None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        except OSError:
            return
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({**value, "format": FORMAT}, f)
            os.replace(tmp, self.directory / f"{k}.json")
        except OSError:
            Path(tmp).unlink(missing_ok=True)


def calibrate_cached(
    rows: list[E2ERow], engine: str | EngineProfile, cache: FitCache, runs: Runs | None = None
) -> Fit:
    """calibrate(rows, engine) through the cache: a fit (or the CalibrationError it raised) already
    made from the same inputs is read back, anything else is fitted and kept."""
    base = load_engine(engine)
    k = key(rows, base)
    got = cache.get(k)
    if got is not None and "error" in got:
        raise CalibrationError(str(got["error"]))
    if got is not None and "fit" in got:
        return Fit(**got["fit"], rows=best_of_repeats(rows))
    try:
        fit = calibrate(rows, base, runs=runs)
    except CalibrationError as exc:
        cache.put(k, {"error": str(exc)})
        raise
    cache.put(k, {"fit": {f.name: getattr(fit, f.name) for f in dataclasses.fields(fit) if f.name != "rows"}})
    return fit


__all__ = ["ENV", "FitCache", "cache_dir", "calibrate_cached", "code_fingerprint", "key"]
