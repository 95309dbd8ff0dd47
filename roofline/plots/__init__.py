"""Figures for papers. Each function returns a matplotlib Figure drawn in the project style
(`roofline.mplstyle`); `save` writes PDF/SVG/PNG. The Agg backend is used: no display needed."""

from roofline.plots.figures import (
    breakdown_figure,
    crossover_figure,
    heatmap_figure,
    measured_figure,
    memory_figure,
    roofline_figure,
    save,
)

__all__ = [
    "breakdown_figure",
    "crossover_figure",
    "heatmap_figure",
    "measured_figure",
    "memory_figure",
    "roofline_figure",
    "save",
]
