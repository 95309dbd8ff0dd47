"""Regenerate the README's figures: `python -m roofline.plots.gallery [docs/figures]`."""

from __future__ import annotations

import sys
from pathlib import Path

from roofline.plots import breakdown_figure, crossover_figure, heatmap_figure, roofline_figure, save

STUDY = ["olmoe-1b-7b", "llama-3.2-1b", "qwen2.5-1.5b", "gemma-2-2b"]
DEVICES = [
    "jetson-orin-nano-8gb",
    "jetson-orin-nano-super-8gb",
    "raspberry-pi-5-8gb",
    "apple-m2-pro",
    "apple-m4-max",
    "rtx-4090",
    "ryzen-9-7950x",
    "dgx-spark-gb10",
    "h200-sxm-141gb",
]


def main(out: Path) -> list[Path]:
    return [
        save(
            breakdown_figure(["jetson-orin-nano-8gb"], STUDY, engine="llama.cpp-cuda-b4404"),
            out / "breakdown-jetson-study.png",
        ),
        save(
            crossover_figure("apple-m2-pro", "olmoe-1b-7b", "llama-3.2-1b", "batch"),
            out / "crossover-m2pro-batch.png",
        ),
        save(heatmap_figure(DEVICES, "olmoe-1b-7b", STUDY[1:]), out / "heatmap-olmoe-vs-dense.png"),
        save(
            roofline_figure("jetson-orin-nano-8gb", ["olmoe-1b-7b", "llama-3.2-1b"]),
            out / "roofline-jetson.png",
        ),
    ]


if __name__ == "__main__":
    for p in main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/figures")):
        print(f"wrote {p}")
