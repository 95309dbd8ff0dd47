"""A number from a spec file together with where it comes from.

Spec files write `{value: "68 GB/s", source: ...}` or `{value: ..., estimated: true, reason: ...}`;
this module turns that into a `Sourced` holding the SI float, and refuses a figure with no provenance.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, WithJsonSchema

from roofline.units import DIMENSIONS, QUANTITY_PATTERN, parse_quantity


class Frozen(BaseModel):
    """Base for every spec model: immutable, unknown keys are errors (they are usually typos), and a
    float is never infinite or NaN."""

    # defer_build: a schema is built when a spec of that kind is first validated, not at import
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False, defer_build=True)


#: Range (lowest, highest, as SI floats, and as written in messages) of each dimension that no real
#: device leaves: a figure outside it is a typo or a unit slip (GB for GiB is inside; GB for TB is
#: not, mostly), and zero or near-zero bandwidths and peaks would reach a division.
PLAUSIBLE: dict[str, tuple[float, float, str]] = {
    "bandwidth": (1e6, 1e14, "1 MB/s-100 TB/s"),
    "capacity": (1e3, 1e15, "1 kB-1 PB"),
    "compute": (1e6, 1e19, "1 MFLOP/s-10 EFLOP/s"),
    "time": (0.0, 1.0, "0-1 s"),
    "power": (0.0, 1e6, "0 W-1 MW"),
    "frequency": (1e6, 1e10, "1 MHz-10 GHz"),
    "count": (1, 1e6, "1-1,000,000"),
}


class Sourced(Frozen):
    """A figure in SI units with its provenance: a source, or an estimate with its reason."""

    value: float
    text: str
    dimension: str
    source: str | None = None
    estimated: bool = False
    reason: str | None = None

    @property
    def provenance(self) -> str:
        return self.source if self.source else f"estimated: {self.reason}"


def _sourced_from_yaml(raw: Any, dimension: str) -> Any:
    if isinstance(raw, Sourced):
        return raw
    example = DIMENSIONS[dimension][2]
    if not isinstance(raw, dict):
        raise ValueError(
            f"expected a mapping such as {{value: {example}, source: <URL or reference key>}}"
            f" or {{value: ..., estimated: true, reason: ...}}, got {raw!r}"
        )
    unknown = set(raw) - {"value", "source", "estimated", "reason"}
    if unknown:
        raise ValueError(f"unknown key(s) {sorted(unknown)}; allowed: value, source, estimated, reason")
    if "value" not in raw:
        raise ValueError(f"missing 'value' (e.g. {example})")
    value = parse_quantity(raw["value"], dimension)
    if value < 0:
        raise ValueError(f"expected a non-negative {dimension}, got {raw['value']!r}")
    lo, hi, span = PLAUSIBLE[dimension]
    if not lo <= value <= hi:
        raise ValueError(
            f"{str(raw['value'])[:40]!r} is outside the plausible range of a {dimension} ({span})"
        )
    source, estimated, reason = raw.get("source"), raw.get("estimated", False), raw.get("reason")
    if estimated not in (True, False):
        raise ValueError(f"'estimated' must be true or false, got {estimated!r}")
    if source is not None and (not isinstance(source, str) or not source.strip()):
        raise ValueError(
            f"'source' must be a non-empty text (URL, document or reference key), got {source!r}"
        )
    if estimated:
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError("an estimated figure needs a 'reason' saying how it was derived")
    elif source is None:
        raise ValueError(
            "every figure needs a 'source' (URL, document, or a key of 'references'),"
            " or 'estimated: true' with a 'reason'"
        )
    return {
        "value": value,
        "text": str(raw["value"]),
        "dimension": dimension,
        "source": source,
        "estimated": bool(estimated),
        "reason": reason,
    }


def figure_json_schema(dimension: str) -> dict[str, Any]:
    """JSON Schema of a figure as a spec file writes it (what _sourced_from_yaml reads, not the SI
    `Sourced` it becomes), for editors: `roofline specs schema` puts it wherever a figure goes. It
    says as much as a schema can; the unit's dimension and the plausible range of a figure written
    with a unit are checked by the loader (`roofline specs check`)."""
    example = DIMENSIONS[dimension][2]
    lo, hi, span = PLAUSIBLE[dimension]
    text_or_null = {"anyOf": [{"type": "string", "pattern": r"\S"}, {"type": "null"}]}
    return {
        "type": "object",
        "title": f"{dimension} figure",
        "description": (
            f"A {dimension} with its provenance: {{value: {example}, source: <URL or a key of "
            f"'references'>}} or {{value: ..., estimated: true, reason: ...}} (plausible: {span})."
        ),
        "properties": {
            "value": {
                "description": f"a {dimension} such as '{example}'; a bare number is in SI units",
                "examples": [example],
                "anyOf": [
                    {"type": "number", "minimum": lo, "maximum": hi},
                    {"type": "string", "pattern": QUANTITY_PATTERN},
                ],
            },
            "source": {**text_or_null, "description": "URL, document, or a key of 'references'"},
            "estimated": {"type": "boolean"},
            "reason": {**text_or_null, "description": "how an estimated figure was derived"},
        },
        "required": ["value"],
        "additionalProperties": False,
        # a source, or an estimate; an estimate always says why
        "anyOf": [
            {"required": ["source"], "properties": {"source": {"type": "string"}}},
            {"required": ["estimated"], "properties": {"estimated": {"const": True}}},
        ],
        "if": {"required": ["estimated"], "properties": {"estimated": {"const": True}}},
        "then": {"required": ["reason"], "properties": {"reason": {"type": "string"}}},
    }


def _sourced(dimension: str) -> Any:
    return Annotated[
        Sourced,
        BeforeValidator(lambda raw: _sourced_from_yaml(raw, dimension)),
        WithJsonSchema(figure_json_schema(dimension)),
    ]


Bandwidth = _sourced("bandwidth")
Capacity = _sourced("capacity")
Time = _sourced("time")
Compute = _sourced("compute")
Power = _sourced("power")
Frequency = _sourced("frequency")
Count = _sourced("count")
