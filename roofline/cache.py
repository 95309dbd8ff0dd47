"""A disk cache for results that are pure functions of their inputs: held-out calibrations
(validation.fitcache) and the cost model's lambdified formulas (model.symbolic).

Entries are small JSON files named by a SHA-256 key of everything the result depends on (callers
put the inputs' full content into the key, and `code_fingerprint` the bytes of the sources that
compute it), so an edit to any input misses the cache: a stale entry is never served. They are
written atomically; an unreadable one is recomputed; a store keeps its MAX_ENTRIES most recently
used entries. The cache lives in the user cache dir (platformdirs) unless ROOFLINE_CACHE_DIR names
another; ROOFLINE_CACHE_DIR=off turns it off. Deleting it is always safe.
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
#: Entries a store keeps before its least recently used half is deleted (a validate after a code
#: change adds ~110 fits of ~9 kB: a store stays under ~35 MB).
MAX_ENTRIES = 4000


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

    def __init__(self, directory: Path | None, max_entries: int = MAX_ENTRIES) -> None:
        self.directory = directory
        self.max_entries = max_entries
        self.hits = self.misses = 0
        self._pruned = False

    @classmethod
    def named(cls, name: str) -> Store:
        """The store `name` under the cache root (none when the cache is turned off)."""
        root = cache_root()
        return cls(None if root is None else root / name)

    def get(self, k: str) -> dict[str, Any] | None:
        if self.directory is None:
            return None
        path = self.directory / f"{k}.json"
        try:
            got = json.loads(path.read_text())
        except (OSError, ValueError):
            self.misses += 1
            return None
        if not isinstance(got, dict) or got.get("format") != FORMAT:
            self.misses += 1
            return None
        self.hits += 1
        try:
            os.utime(path)  # recently used: pruned last
        except OSError:
            pass
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
            return
        if not self._pruned:  # once per store and process
            self._pruned = True
            self.prune()

    def prune(self) -> None:
        """Beyond max_entries, delete the least recently used entries down to half of it."""
        if self.directory is None:
            return
        try:
            entries = sorted(self.directory.glob("*.json"), key=lambda p: p.stat().st_mtime)
        except OSError:  # another process pruned at the same time
            return
        if len(entries) <= self.max_entries:
            return
        for old in entries[: len(entries) - self.max_entries // 2]:
            old.unlink(missing_ok=True)


__all__ = ["ENV", "Store", "cache_root", "code_fingerprint", "key"]
