"""Progress of long commands on stderr: counts, rate and time left (tqdm); nothing when stderr is
not a terminal (logs and pipes stay clean)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def progress_bar(desc: str, unit: str = "it") -> Iterator[Callable[[int, int, str], None]]:
    """A `progress(done, total, what)` callable drawing one bar, closed on leaving the block."""
    bar: Any = None

    def tell(done: int, total: int, what: str) -> None:
        nonlocal bar
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, desc=desc, unit=unit, disable=None, file=sys.stderr, dynamic_ncols=True)
        bar.total = total
        bar.set_postfix_str(what[:48], refresh=False)
        bar.update(done - bar.n)

    try:
        yield tell
    finally:
        if bar is not None:
            bar.close()
