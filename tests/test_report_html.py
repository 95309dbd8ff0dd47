"""`roofline report` (roofline.plots.html): one self-contained page, checked as written and as a real
browser shows it. Headless Chromium (Debian's `chromium` package; .ci/run installs it where it
can) loads the page from disk: the script runs, the DOM holds the numbers `compare --json` prints
for the same inputs, sorting works, and a screenshot of the expected size is not blank."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner

from roofline.cli import main

DEVICES = ["jetson-orin-nano-8gb", "rtx-4090"]
MODELS = ["olmoe-1b-7b", "llama-3.2-1b"]
WORKLOAD = ["--depth", "1024", "--batch", "2"]
SIZE = (1280, 1600)


def _chromium() -> str | None:
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


CHROMIUM = _chromium()
needs_browser = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium on PATH (Debian: apt-get install chromium; .ci/run installs it where apt and root "
    "are available): the page is checked as written, not as a browser shows it",
)


def _cli(*args: str) -> str:
    r = CliRunner().invoke(main, list(args))
    assert r.exit_code == 0, r.output
    return r.output


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.html"
    out = _cli(
        "report", "--devices", ",".join(DEVICES), "--models", ",".join(MODELS), *WORKLOAD, "-o", str(path)
    )
    assert f"wrote {path}" in out
    return path


@pytest.fixture(scope="module")
def compared():
    """What `roofline compare --json` prints for the same devices, models and workload."""
    return json.loads(_cli("compare", "--devices", ",".join(DEVICES), *MODELS, *WORKLOAD, "--json"))


class Page(HTMLParser):
    """The parts of a page the tests read: table rows (cells by data-key: value, text), verdicts,
    images, and every attribute that could load a URL."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.rows: list[dict[str, dict[str, str]]] = []
        self.verdicts: list[dict[str, str]] = []
        self.images: list[str] = []
        self.loads: list[str] = []  # src/href of elements that fetch (script, link, img, iframe, ...)
        self.tags: set[str] = set()
        self.root: dict[str, str] = {}
        self._cell: dict[str, str] | None = None
        self._verdict: dict[str, str] | None = None
        self._in_table = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.add(tag)
        if tag == "html":
            self.root = a
        if tag in ("script", "link", "img", "iframe", "embed", "object", "source", "audio", "video"):
            self.loads += [a[k] for k in ("src", "href", "data") if k in a]
        if tag == "img":
            self.images.append(a.get("src", ""))
        if tag == "table" and a.get("id") == "verdict-table":
            self._in_table = True
        if self._in_table and tag == "tr" and "data-device" in a:
            self.rows.append({})
        if self._in_table and tag == "td" and self.rows:
            self._cell = {"key": a["data-key"], "value": a.get("data-value", ""), "text": ""}
        if tag == "p" and "verdict" in a.get("class", ""):
            self._verdict = {"device": a["data-device"], "ratio": a["data-ratio"], "text": ""}

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1][self._cell["key"]] = self._cell
            self._cell = None
        if tag == "table":
            self._in_table = False
        if tag == "p" and self._verdict is not None:
            self.verdicts.append(self._verdict)
            self._verdict = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell["text"] += data
        if self._verdict is not None:
            self._verdict["text"] += data


def _check_numbers(dom: Page, compared: dict) -> None:
    """Every row's exact values, and the shown text, are those of compare --json."""
    expected = [p for per_device in compared["predictions"] for p in per_device]
    assert [(r["device"]["text"], r["model"]["text"]) for r in dom.rows] == [
        (p["device"], p["model"]) for p in expected
    ]
    for row, p in zip(dom.rows, expected, strict=True):
        first = next(q for q in expected if q["device"] == p["device"])
        exact = {
            "tokens_per_second": p["tokens_per_second"],
            "step_seconds": p["step_seconds"],
            "memory_total_bytes": p["memory"]["total_bytes"],
            "memory_usable_bytes": p["memory"]["usable_bytes"],
            "joules_per_token": p["energy"]["joules_per_token"],
            "vs_first": p["tokens_per_second"] / first["tokens_per_second"],
            "fits": int(p["memory"]["fits"]),
        }
        for key, value in exact.items():
            assert float(row[key]["value"]) == value, (key, row[key], value)  # repr round-trips
        assert row["tokens_per_second"]["text"] == f"{p['tokens_per_second']:.1f}"
        assert row["memory_total_bytes"]["text"] == f"{p['memory']['total_bytes'] / 2**30:.2f}"
        assert (row["quant"]["text"], row["bound"]["text"]) == (p["quant"], p["bound"])
        assert row["engine"]["text"].startswith(p["engine"])
    assert [(v["device"], float(v["ratio"]), v["text"]) for v in dom.verdicts] == [
        (c["device"], c["ratio"], c["verdict"]) for c in compared["comparisons"]
    ]


# ---- as written ----------------------------------------------------------------------------------
def test_page_holds_the_numbers_of_compare_json(page, compared):
    _check_numbers(Page(page.read_text()), compared)


def test_page_is_self_contained(page):
    text = page.read_text()
    dom = Page(text)
    assert dom.loads and all(src.startswith("data:image/svg+xml;base64,") for src in dom.loads)
    assert "link" not in dom.tags and "@import" not in text and "url(" not in text
    # figures: the breakdown, the memory footprint, the heatmap (two models), one roofline per device
    assert len(dom.images) == 3 + len(DEVICES)
    for src in dom.images:
        svg = base64.b64decode(src.split(",", 1)[1]).decode("utf-8")
        assert ET.fromstring(svg).tag.endswith("svg")  # well-formed
        # nothing to fetch inside: references are to the SVG's own ids or inline data (the heatmap's
        # raster); namespace URIs are names, not loads
        refs = re.findall(r'href="([^"]*)"', svg)
        assert all(ref.startswith(("#", "data:image/png;base64,")) for ref in refs), refs
        assert "url(http" not in svg
    for dev in DEVICES:  # the assumptions name each device's spec figures and engine provenance
        assert f'data-device="{dev}"' in text
    assert "fitted" in text and "Engine profile <b>llama.cpp-cuda</b>" in text
    assert "https://huggingface.co/allenai/OLMoE-1B-7B-0924" in text  # the model spec's source


def test_page_is_the_same_every_time(page, tmp_path):
    again = tmp_path / "again.html"
    _cli("report", "--devices", ",".join(DEVICES), "--models", ",".join(MODELS), *WORKLOAD, "-o", str(again))
    assert again.read_bytes() == page.read_bytes()


def test_report_refuses_bad_outputs(tmp_path, page):
    r = CliRunner().invoke(
        main, ["report", "--devices", DEVICES[0], "--models", MODELS[0], "-o", str(tmp_path / "r.pdf")]
    )
    assert r.exit_code == 2 and "must end in .html" in r.output
    r = CliRunner().invoke(main, ["report", "--devices", DEVICES[0], "--models", MODELS[0], "-o", str(page)])
    assert r.exit_code == 2 and "exists; pass --force" in r.output


# ---- in a browser --------------------------------------------------------------------------------
def _browser(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",  # root in containers and CI; the page is ours and local
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        *args,
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r


@needs_browser
def test_browser_dom_holds_the_numbers_of_compare_json(page, compared, tmp_path):
    dom = Page(_browser(tmp_path, "--dump-dom", page.as_uri()).stdout)
    assert dom.root.get("data-ready") == "1"  # the inline script ran to its end
    _check_numbers(dom, compared)


@needs_browser
def test_browser_sorts_the_table(page, compared, tmp_path):
    dom = Page(_browser(tmp_path, "--dump-dom", page.as_uri() + "#sort=tokens_per_second-desc").stdout)
    shown = [float(r["tokens_per_second"]["value"]) for r in dom.rows]
    expected = [p["tokens_per_second"] for per_device in compared["predictions"] for p in per_device]
    assert shown == sorted(expected, reverse=True) and shown != expected


@needs_browser
def test_browser_screenshot_is_the_page(page, tmp_path):
    from PIL import Image

    shot = tmp_path / "page.png"
    _browser(tmp_path, f"--screenshot={shot}", f"--window-size={SIZE[0]},{SIZE[1]}", page.as_uri())
    image = Image.open(io.BytesIO(shot.read_bytes()))
    assert image.format == "PNG" and image.size == SIZE
    grey = image.convert("L")
    histogram = grey.histogram()
    dark = sum(histogram[:128]) / (SIZE[0] * SIZE[1])
    assert 0.005 < dark < 0.5  # text and figures drawn on a light page, not blank, not all black
    title = grey.crop((0, 0, SIZE[0], 60))  # the title row has text in it
    assert title.getextrema()[0] < 80
    colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50  # the figures' colours, not a flat page
