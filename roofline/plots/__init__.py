"""Figures for papers, in two steps: `*_data(...)` computes a figure's numbers as a typed result
(with `rows()` and `to_csv()`), `draw(data, ax=None)` draws it in the project style
(`roofline.mplstyle`) onto a caller's Axes or a new figure; `*_figure(...)` does both. `save`
writes PDF/SVG/PNG, byte for byte the same each time. The Agg backend is used: no display needed."""

from roofline.plots.data import (
    BreakdownData,
    CrossoverData,
    HeatmapData,
    MeasuredData,
    MemoryData,
    PlacementData,
    RooflineData,
    breakdown_data,
    crossover_data,
    heatmap_data,
    measured_data,
    memory_data,
    placement_data,
    roofline_data,
)
from roofline.plots.figures import (
    FigureData,
    breakdown_figure,
    crossover_figure,
    draw,
    heatmap_figure,
    measured_figure,
    memory_figure,
    placement_figure,
    roofline_figure,
    save,
)

__all__ = [
    "BreakdownData",
    "CrossoverData",
    "FigureData",
    "HeatmapData",
    "MeasuredData",
    "MemoryData",
    "PlacementData",
    "RooflineData",
    "breakdown_data",
    "breakdown_figure",
    "crossover_data",
    "crossover_figure",
    "draw",
    "heatmap_data",
    "heatmap_figure",
    "measured_data",
    "measured_figure",
    "memory_data",
    "memory_figure",
    "placement_data",
    "placement_figure",
    "roofline_data",
    "roofline_figure",
    "save",
]
