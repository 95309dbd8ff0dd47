"""What is being run: a llama-bench-style test (ppN or tgN) at a KV depth, for a batch of sequences."""

from __future__ import annotations

import re
from dataclasses import dataclass

from roofline.errors import WorkloadError

_TEST = re.compile(r"^(pp|tg)(\d+)$")


@dataclass(frozen=True)
class Workload:
    """`tgN`: N tokens generated one step at a time per sequence, starting with `depth` tokens in the
    KV cache. `ppN`: N prompt tokens per sequence processed on top of `depth` cached tokens, in
    micro-batches of at most `ubatch` tokens (llama.cpp's n_ubatch). Throughput is over all `batch`
    sequences, as llama-bench reports it."""

    test: str = "tg128"
    depth: int = 0
    batch: int = 1

    def __post_init__(self) -> None:
        if not _TEST.match(self.test):
            raise WorkloadError(f"test must look like 'tg128' or 'pp512', got {self.test!r}")
        if self.n_tokens < 1:
            raise WorkloadError(f"test {self.test!r} needs at least one token")
        if self.depth < 0:
            raise WorkloadError(f"depth must be >= 0, got {self.depth}")
        if self.batch < 1:
            raise WorkloadError(f"batch must be >= 1, got {self.batch}")

    @property
    def phase(self) -> str:
        return "decode" if self.test.startswith("tg") else "prefill"

    @property
    def n_tokens(self) -> int:
        m = _TEST.match(self.test)
        assert m
        return int(m.group(2))

    @property
    def context(self) -> int:
        """KV-cache length once the test is done (what the cache must hold)."""
        return self.depth + self.n_tokens
