"""Parse quantities written the way people write them ("68 GB/s", "8 GiB", "5 us") into SI floats.

pint does the parsing at the boundary; everything past it is plain floats in SI units
(bytes, seconds, FLOP, bytes/s, FLOP/s, W). The registry is small (`units.txt`) and built on first
use, so importing the package stays cheap.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

#: Dimension names used in spec files -> (pint dimensionality, SI unit pint converts to, example).
DIMENSIONS: dict[str, tuple[str, str, str]] = {
    "bandwidth": ("[information] / [time]", "byte / second", "68 GB/s"),
    "capacity": ("[information]", "byte", "8 GiB"),
    "time": ("[time]", "second", "5 us"),
    "compute": ("[computation] / [time]", "flop / second", "10 TFLOPS"),
    "power": ("[power]", "watt", "15 W"),
    "energy": ("[power] * [time]", "joule", "2 pJ"),
}


@lru_cache(maxsize=1)
def _registry() -> Any:
    import pint

    path = resources.files("roofline").joinpath("units.txt")
    with resources.as_file(path) as p:
        return pint.UnitRegistry(str(p), cache_folder=None)


@lru_cache(maxsize=4096)
def parse_quantity(value: str | int | float, dimension: str) -> float:
    """Return `value` in SI units of `dimension`; a bare number is taken as already SI.

    Raises ValueError with a message saying what was expected.
    """
    dim, si_unit, example = DIMENSIONS[dimension]
    if isinstance(value, bool):
        raise ValueError(f"expected a {dimension} such as '{example}', got {value!r}")
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        text = str(value).strip()
        try:
            number = float(text)
        except ValueError:
            number = _parse_with_units(text, dim, si_unit, dimension, example)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"expected a finite {dimension}, got {value!r}")
    return number


def _parse_with_units(text: str, dim: str, si_unit: str, dimension: str, example: str) -> float:
    import pint

    ureg = _registry()
    try:
        q = ureg.Quantity(text)
    except (pint.errors.PintError, SyntaxError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"expected a {dimension} such as '{example}', got {text!r} ({exc})") from None
    if not isinstance(q, ureg.Quantity) or q.dimensionality == ureg.Quantity(1).dimensionality:
        raise ValueError(f"expected a {dimension} with a unit such as '{example}', got {text!r}")
    if q.dimensionality != ureg.Quantity(1, si_unit).dimensionality:
        got = _describe(q.dimensionality, ureg)
        raise ValueError(f"expected a {dimension} such as '{example}', got {text!r} (a {got})")
    return float(q.to(si_unit).magnitude)


def _describe(dimensionality: Any, ureg: Any) -> str:
    for name, (_, unit, _) in DIMENSIONS.items():
        if ureg.Quantity(1, unit).dimensionality == dimensionality:
            return name
    return f"quantity of dimension {dimensionality}"
