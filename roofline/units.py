"""Parse quantities written the way people write them ("68 GB/s", "8 GiB", "5 us") into SI floats.

pint does the parsing at the boundary; everything past it is plain floats in SI units
(bytes, seconds, FLOP, bytes/s, FLOP/s, W). The registry is small (`units.txt`) and built on first
use, so importing the package stays cheap.
"""

from __future__ import annotations

import re
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
    "frequency": ("1 / [time]", "hertz", "1980 MHz"),
    "count": ("[]", "dimensionless", "132"),
}


#: A quantity as spec files write it: a plain decimal number, then a unit made of letters with at
#: most one "/" ("68 GB/s", "8 GiB", "10 TFLOPS"). Anything else is refused before pint sees it:
#: pint would evaluate arithmetic ("10**10**9 GB/s" never ends), read a unit with no number as 1
#: ("TB/s") and drop a decimal comma ("3,35 TB/s" -> 335 TB/s).
_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,4})?"
_QUANTITY = re.compile(rf"^({_NUMBER})\s*([A-Za-zµμ]+(?:\s*/\s*[A-Za-zµμ]+)?)$")
_BARE_NUMBER = re.compile(rf"^{_NUMBER}$")
#: What a quantity's text may look like, as an ECMA-262 pattern for JSON Schema (a bare or unit-bearing
#: non-negative number, surrounding blanks allowed: the loader strips them); whether the unit exists
#: and has the right dimension only parse_quantity can tell.
QUANTITY_PATTERN = (
    r"^\s*\+?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,4})?(?:\s*[A-Za-zµμ]+(?:\s*/\s*[A-Za-zµμ]+)?)?\s*$"
)


@lru_cache(maxsize=1)
def _registry() -> Any:
    import pint

    path = resources.files("roofline").joinpath("units.txt")
    with resources.as_file(path) as p:
        return pint.UnitRegistry(str(p), cache_folder=None)


def parse_quantity(value: str | int | float, dimension: str) -> float:
    """Return `value` in SI units of `dimension`; a bare number is taken as already SI.

    Raises ValueError with a message saying what was expected.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        example = DIMENSIONS[dimension][2]
        raise ValueError(f"expected a {dimension} such as '{example}', got {_short(value)}")
    return _parse_quantity(value, dimension)


@lru_cache(maxsize=4096)
def _parse_quantity(value: str | int | float, dimension: str) -> float:
    _, si_unit, example = DIMENSIONS[dimension]
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            raise ValueError(f"expected a finite {dimension}, got an integer too large for a float") from None
    else:
        number = _parse_text(value.strip(), si_unit, dimension, example)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"expected a finite {dimension}, got {_short(value)}")
    return number


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-3:]}"


def _parse_text(text: str, si_unit: str, dimension: str, example: str) -> float:
    """A number ("2e9", taken as SI) or a number and a unit; see _QUANTITY."""
    if _BARE_NUMBER.match(text):
        return float(text)
    if "," in text or "_" in text:
        raise ValueError(
            f"expected a {dimension} such as '{example}', got {_short(text)} (write numbers without "
            "thousands separators and with a decimal point, e.g. '3.35 TB/s')"
        )
    m = _QUANTITY.match(text)
    if not m:
        why = "a number then a unit" if not re.match(_NUMBER, text) else "one number and one unit"
        raise ValueError(f"expected a {dimension} such as '{example}' ({why}), got {_short(text)}")
    factor = _unit_factor(m.group(2), si_unit)
    if isinstance(factor, str):
        raise ValueError(f"expected a {dimension} such as '{example}', got {_short(text)} ({factor})")
    return float(m.group(1)) * factor


@lru_cache(maxsize=256)
def _unit_factor(unit: str, si_unit: str) -> float | str:
    """Value of one `unit` in `si_unit`, or why it cannot be converted."""
    import pint

    ureg = _registry()
    try:
        q = ureg.Quantity(1.0, unit)
    except (pint.errors.PintError, SyntaxError, TypeError, ValueError, AttributeError) as exc:
        return str(exc)
    if q.dimensionality != ureg.Quantity(1, si_unit).dimensionality:
        return f"a {_describe(q.dimensionality, ureg)}"
    return float(q.to(si_unit).magnitude)


def _describe(dimensionality: Any, ureg: Any) -> str:
    for name, (_, unit, _) in DIMENSIONS.items():
        if ureg.Quantity(1, unit).dimensionality == dimensionality:
            return name
    return f"quantity of dimension {dimensionality}"
