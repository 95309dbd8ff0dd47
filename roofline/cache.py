"""A disk cache for results that are pure functions of their inputs: held-out calibrations
(validation.fitcache) and the cost model's lambdified formulas (model.symbolic).

Entries are small JSON files named by a SHA-256 key of everything the result depends on (callers
put the inputs' full content into the key, and `code_fingerprint` the bytes of the sources that
compute it), so an edit to any input misses the cache: a stale entry is never served. They are
written atomically; an unreadable one is recomputed. The cache lives in the user cache dir
(platformdirs) unless ROOFLINE_CACHE_DIR names another; ROOFLINE_CACHE_DIR=off turns it off.
Deleting it is always safe.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

ENV = "ROOFLINE_CACHE_DIR"
#: Bumped when what an entry holds changes.
FORMAT = 1


def cache_root() -> Path | None:
    """$ROOFLINE_CACHE_DIR, else the user cache dir; None when turned off (off, none, 0 or empty)."""
    env = os.environ.get(ENV)
    if env is not None and env.strip().lower() in ("off", "none", "0", ""):
        return None
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("moe-roofline"))


@functools.lru_cache(maxsize=16)
def code_fingerprint(parts: tuple[str, ...], libraries: tuple[str, ...] = ()) -> str:
    """SHA-256 of the package's sources under `parts` (paths relative to the package: folders or
    files; .py, .yaml and .txt) and of the installed versions of `libraries`."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for lib in libraries:
        try:
            h.update(f"{lib} {metadata.version(lib)}\n".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{lib} absent\n".encode())
    for part in parts:
        p = root / part
        files = sorted(p.rglob("*")) if p.is_dir() else [p]
        for f in files:
            if f.is_file() and f.suffix in (".py", ".yaml", ".yml", ".txt"):
                h.update(str(f.relative_to(root)).encode())
                h.update(f.read_bytes())
    return h.hexdigest()


def key(*parts: str) -> str:
    """The SHA-256 of `parts` (each the full text of one input)."""
    h = hashlib.sha256(f"format {FORMAT}".encode())
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part.encode())
    return h.hexdigest()


class Store:
    """JSON entries by key in `directory` (None: nothing is kept); `hits` and `misses` count reads."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.hits = self.misses = 0

    @classmethod
    def named(cls, name: str) -> Store:
        """The store `name` under the cache root (none when the cache is turned off)."""
        root = cache_root()
        return cls(None if root is None else root / name)

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
        """Write atomically; a cache that cannot be written is no error (the next run recomputes)."""
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


__all__ = ["ENV", "Store", "cache_root", "code_fingerprint", "key"]
