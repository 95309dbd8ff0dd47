"""How many distinct experts a step touches, which sets how many expert weights it reads.

With N tokens in a step, each choosing k of E experts, expert e is read if any token picks it. If a
token picks expert e with probability q_e (sum of q_e = k), and tokens route independently, the
expected number of distinct experts is sum_e 1 - (1 - q_e)^N; uniform routing (q_e = k/E) gives
E * (1 - (1 - k/E)^N). Limits: N = 1 -> k; k = E -> E; N -> inf -> E. Every formula here works on
floats, numpy arrays and sympy expressions alike.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from roofline.errors import WorkloadError

#: Largest Zipf exponent accepted: at 100 the most popular expert already takes 2^100 times the
#: second's share, so larger values change nothing but can overflow.
MAX_SKEW = 100.0


def distinct_experts_uniform(n_tokens: Any, n_experts: int, top_k: int) -> Any:
    """Expected distinct experts for `n_tokens` tokens routed uniformly and independently."""
    return n_experts * (1 - (1 - top_k / n_experts) ** n_tokens)


def zipf_popularity(n_experts: int, top_k: int, skew: float) -> np.ndarray:
    """Per-token pick probabilities q_e for a Zipf(skew) expert popularity, scaled to sum to k and
    capped at 1 (a token cannot pick one expert twice); skew = 0 is uniform routing."""
    if isinstance(skew, bool) or not isinstance(skew, (int, float)) or not 0 <= skew <= MAX_SKEW:
        raise WorkloadError(f"routing skew must be a number within 0-{MAX_SKEW:g}, got {skew!r}")
    with np.errstate(over="ignore"):  # i ** skew past float range: weight 0
        w = 1.0 / np.arange(1, n_experts + 1, dtype=float) ** skew
    return _scale_to_k(w, top_k)


def _scale_to_k(weights: np.ndarray, top_k: int) -> np.ndarray:
    q = np.zeros_like(weights, dtype=float)
    free = np.ones_like(weights, dtype=bool)
    remaining = float(top_k)
    for _ in range(len(weights)):
        if not free.any():
            break
        total = weights[free].sum()
        # weights too small for a float (a steep skew over many experts) share what is left evenly
        q[free] = weights[free] / total * remaining if total > 0 else remaining / free.sum()
        over = free & (q >= 1.0)
        if not over.any():
            break
        q[over] = 1.0
        free &= ~over
        remaining = top_k - q[~free].sum()
    return q


def popularity_from_vector(popularity: list[float] | np.ndarray, top_k: int) -> np.ndarray:
    """Per-token pick probabilities from a measured routing histogram (any positive scale)."""
    try:
        w = np.asarray(popularity, dtype=float)
    except (TypeError, ValueError):
        w = np.array([np.nan])
    if w.ndim != 1 or not np.isfinite(w).all() or (w < 0).any() or not math.isfinite(w.sum()) or w.sum() <= 0:
        raise WorkloadError(
            "routing popularity must be a vector of finite non-negative counts with a positive sum"
        )
    return _scale_to_k(w, top_k)


def distinct_experts(n_tokens: Any, q: np.ndarray) -> Any:
    """Expected distinct experts for pick probabilities q (see module docstring)."""
    total = 0
    for qe in q:
        total = total + (1 - (1 - float(qe)) ** n_tokens)
    return total


def bounds(n_tokens: float, n_experts: int, top_k: int) -> tuple[float, float]:
    """Fewest (all tokens agree: k) and most (no two tokens share: min(N k, E)) distinct experts."""
    return float(top_k), float(min(n_tokens * top_k, n_experts))
