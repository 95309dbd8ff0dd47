"""What is being run: a llama-bench-style test (ppN or tgN) at a KV depth, for a batch of sequences,
with flash attention on or off (None: what the engine does by default)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from numbers import Real

from roofline.errors import WorkloadError

_TEST = re.compile(r"^(pp|tg)(\d{1,12})$")
#: Largest batch, depth and test length accepted: far past any real run (a 100M-token context,
#: a million concurrent sequences), yet small enough that every count stays exact in a float.
MAX_BATCH = 1_048_576
MAX_TOKENS = 100_000_000


@dataclass(frozen=True)
class Workload:
    """`tgN`: N tokens generated one step at a time per sequence, starting with `depth` tokens in the
    KV cache. `ppN`: N prompt tokens per sequence processed on top of `depth` cached tokens, in
    micro-batches of at most `ubatch` tokens (llama.cpp's n_ubatch). Throughput is over all `batch`
    sequences, as llama-bench reports it. `flash_attention` is llama-bench's `-fa`: True runs the
    attention core as one fused kernel, False materialises the attention scores, None takes the
    engine profile's default (EngineProfile.flash_attention). `ubatch` is llama.cpp's `-ub` for this run
    (None: the engine profile's ubatch)."""

    test: str = "tg128"
    depth: int = 0
    batch: int = 1
    flash_attention: bool | None = None
    ubatch: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.test, str) or not _TEST.match(self.test):
            shown = repr(self.test) if len(repr(self.test)) <= 40 else f"{repr(self.test)[:30]}..."
            raise WorkloadError(f"test must look like 'tg128' or 'pp512', got {shown}")
        if not 1 <= self.n_tokens <= MAX_TOKENS:
            raise WorkloadError(f"test {self.test!r} must have 1-{MAX_TOKENS:,} tokens")
        _check("depth", self.depth, 0, MAX_TOKENS)
        _check("batch", self.batch, 1, MAX_BATCH)
        if self.ubatch is not None:
            if isinstance(self.ubatch, bool) or not isinstance(self.ubatch, int):
                raise WorkloadError(
                    f"ubatch must be a whole number of tokens or unset, got {self.ubatch!r:.40}"
                )
            _check("ubatch", self.ubatch, 1, MAX_TOKENS)
        if self.flash_attention is not None and not isinstance(self.flash_attention, bool):
            raise WorkloadError(
                f"flash_attention must be true, false or unset (the engine's default), "
                f"got {self.flash_attention!r:.40}"
            )

    @property
    def phase(self) -> str:
        return "decode" if self.test.startswith("tg") else "prefill"

    def micro_batch(self, engine_ubatch: int) -> int:
        """Tokens per micro-batch: this run's ubatch where it sets one, else the engine's."""
        return engine_ubatch if self.ubatch is None else self.ubatch

    @property
    def n_tokens(self) -> int:
        m = _TEST.match(self.test)
        assert m
        return int(m.group(2))

    @property
    def context(self) -> int:
        """KV-cache length once the test is done (what the cache must hold)."""
        return self.depth + self.n_tokens


def _check(name: str, value: object, lo: int, hi: int) -> None:
    """`value` is a finite number in [lo, hi] (the symbolic tools pass floats; bools are not numbers)."""
    try:
        finite = not isinstance(value, bool) and isinstance(value, Real) and math.isfinite(float(value))
    except OverflowError:  # an integer past float range
        finite = False
    if not finite:
        shown = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:30]}..."
        raise WorkloadError(f"{name} must be a finite number, got {shown}")
    if value < lo:
        raise WorkloadError(f"{name} must be >= {lo}, got {float(value):g}")
    if value > hi:
        raise WorkloadError(f"{name} must be <= {hi:,}, got {float(value):g}")
