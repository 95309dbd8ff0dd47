"""One set of formulas, two evaluations: numpy (floats and arrays, fast) or sympy (symbols).

Cost formulas call `m.max`, `m.min`, `m.ceil`, `m.select` on whichever namespace they are given, so
the expression `roofline explain` prints is the very one `roofline predict` evaluates.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np


class NumpyMath:
    symbolic = False

    @staticmethod
    def max(a: Any, b: Any) -> Any:
        return np.maximum(a, b)

    @staticmethod
    def min(a: Any, b: Any) -> Any:
        return np.minimum(a, b)

    @staticmethod
    def ceil(a: Any) -> Any:
        return np.ceil(a)

    @staticmethod
    def select(pairs: list[tuple[Any, Any]], default: Any) -> Any:
        """First value whose condition holds, else `default` (conditions may be arrays)."""
        if not pairs:
            return default
        if all(np.ndim(c) == 0 for _, c in pairs):  # one point (calibration's inner loop): no arrays
            return next((float(v) for v, c in pairs if c), default)
        return np.select(
            [np.asarray(c) for _, c in pairs],
            [np.asarray(v, dtype=float) * 1.0 for v, _ in pairs],
            default=default,
        )


class SympyMath:
    """sympy's Max, Min, ceiling and Piecewise; sympy is imported on first use (it is slow to
    import, and most commands never need it)."""

    symbolic = True

    @functools.cached_property
    def sp(self) -> Any:
        import sympy

        return sympy

    def max(self, a: Any, b: Any) -> Any:
        return self.sp.Max(a, b)

    def min(self, a: Any, b: Any) -> Any:
        return self.sp.Min(a, b)

    def ceil(self, a: Any) -> Any:
        return self.sp.ceiling(a)

    def select(self, pairs: list[tuple[Any, Any]], default: Any) -> Any:
        if not pairs:
            return default
        return self.sp.Piecewise(*pairs, (default, True))


NUMPY = NumpyMath()
SYMPY = SympyMath()
