"""Units at the boundary: exact about decimal vs binary prefixes, clear about wrong dimensions."""

import pytest

from roofline.units import parse_quantity


@pytest.mark.parametrize(
    ("text", "dimension", "si"),
    [
        ("68 GB/s", "bandwidth", 68e9),
        ("68 GiB/s", "bandwidth", 68 * 2**30),
        ("8 GiB", "capacity", 8 * 2**30),
        ("8 GB", "capacity", 8e9),
        ("4 MiB", "capacity", 4 * 2**20),
        ("100 Gbit/s", "bandwidth", 12.5e9),
        ("5 us", "time", 5e-6),
        ("10 TFLOPS", "compute", 10e12),
        ("275 TOPS", "compute", 275e12),
        ("15 W", "power", 15.0),
        (1.5e9, "bandwidth", 1.5e9),
        ("2e9", "capacity", 2e9),
    ],
)
def test_parses_to_si(text, dimension, si):
    assert parse_quantity(text, dimension) == pytest.approx(si, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "dimension", "needle"),
    [
        ("68 GB", "bandwidth", "a capacity"),
        ("5 W", "time", "a power"),
        ("fast", "bandwidth", "expected a bandwidth"),
        ("1e999 GB", "capacity", "finite"),
        (True, "capacity", "expected a capacity"),
    ],
)
def test_rejects_wrong_dimension_with_reason(text, dimension, needle):
    with pytest.raises(ValueError, match=needle):
        parse_quantity(text, dimension)
