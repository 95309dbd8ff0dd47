"""Writing a command's output without losing a user's files.

An output is checked before anything is computed into it (`check_output`): never one of the command's
own inputs (not even with --force: `sweep -o my-board.yaml --device my-board.yaml` would destroy the
spec it reads), never an existing file unless the user passed --force. It is then written atomically
(`atomic_path`, `write_output`): into a temporary file next to it, renamed over the target only once
complete, so a full disk or an interrupted run leaves the old file (or none), never a truncated one.
An unwritable path is a SpecError naming it. This sits with the specs because every layer that writes
(traces, the CLI) may use it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from roofline.errors import SpecError


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def check_output(
    path: str | os.PathLike[str], force: bool, inputs: Iterable[str | os.PathLike[str]] = ()
) -> Path:
    """The path to write, unless it is one of `inputs`, a folder, or an existing file without --force."""
    out = Path(path)
    text = os.fspath(path)
    if not text.strip() or "\0" in text or len(text) > 4096 or any(len(p) > 255 for p in out.parts):
        raise SpecError(text[:80], "not a usable output path (empty, too long, or a NUL character)")
    for src in inputs:
        if _same_file(out, Path(src)):
            raise SpecError(
                str(out), "is an input of this command; refusing to overwrite it (even with --force)"
            )
    try:
        if out.is_dir():
            raise SpecError(str(out), "is a folder; give a file name")
        if out.exists() and not out.is_file():
            raise SpecError(str(out), "is not a regular file (a device, a pipe?); refusing to replace it")
        exists = out.exists() or out.is_symlink()
    except OSError as exc:
        raise SpecError(str(out), f"cannot use as output ({exc.strerror or exc})") from None
    if exists and not force:
        raise SpecError(str(out), "exists; pass --force to overwrite (the file is kept)")
    return out


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], make_parents: bool = False) -> Iterator[Path]:
    """A temporary path next to `path` (same suffix) to write to; renamed over `path` when the block
    ends without an error, removed otherwise. OSError anywhere is a SpecError naming `path`."""
    out = Path(path)
    tmp: Path | None = None
    try:
        if make_parents:
            out.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name[:200]}.", suffix=out.suffix[:20])
        os.close(fd)
        tmp = Path(name)
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, out)
        tmp = None
    except OSError as exc:
        raise SpecError(str(out), f"cannot write ({exc.strerror or exc})") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()


def write_output(
    path: str | os.PathLike[str],
    text: str,
    force: bool = False,
    inputs: Iterable[str | os.PathLike[str]] = (),
    make_parents: bool = False,
) -> Path:
    """Check `path` (check_output), then write `text` to it atomically (UTF-8)."""
    out = check_output(path, force, inputs)
    with atomic_path(out, make_parents) as tmp, tmp.open("w", encoding="utf-8", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    return out
