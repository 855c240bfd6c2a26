"""A Mapper graph as a PNG, drawn with Pillow (the command line's picture; no plotting library).

Nodes sit at the graph's stored positions, sized by the log of their number of examples and
filled with their majority class's colour (the same palette as the dashboard); links are grey,
darker for a larger Jaccard index. An empty graph gets a sentence, never a blank picture.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .mapper import MapperGraph

__all__ = ["PALETTE", "class_colour", "render_graph", "save_graph_png"]

#: Class colours (Plotly's D3 / matplotlib's tab10 order); class i takes ``PALETTE[i % 10]``.
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def class_colour(index: int) -> str:
    """The colour of class ``index`` (its position among the data's classes)."""
    return PALETTE[int(index) % len(PALETTE)]


def _rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def render_graph(
    graph: MapperGraph,
    majority: list[int],
    title: str = "",
    size: int = 800,
    empty_text: str = "",
) -> Image.Image:
    """The picture of ``graph``; ``majority[i]`` is node i's majority class index."""
    image = Image.new("RGB", (size, size + 30), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=14)
    draw.text((10, 8), title, fill=(0, 0, 0), font=font)
    if graph.n_nodes == 0:
        draw.text((20, size // 2), empty_text or "Empty graph", fill=(160, 0, 0), font=font)
        return image
    margin = 40
    xy = margin + graph.positions * (size - 2 * margin)
    xy[:, 1] += 30
    for (a, b), jac in zip(graph.links, graph.jaccard, strict=True):
        grey = int(200 - 150 * min(float(jac), 1.0))
        draw.line([tuple(xy[a]), tuple(xy[b])], fill=(grey, grey, grey), width=2)
    radius = 3 + 4 * np.log1p(graph.sizes) / math.log(10)
    for i in np.argsort(-graph.sizes, kind="stable"):  # small nodes on top
        x, y, r = float(xy[i, 0]), float(xy[i, 1]), float(radius[i])
        colour = _rgb(class_colour(majority[i]))
        draw.ellipse([x - r, y - r, x + r, y + r], fill=colour, outline=(40, 40, 40))
    return image


def save_graph_png(path: str | Path, graph: MapperGraph, majority: list[int], **kwargs) -> Path:
    """Write :func:`render_graph`'s picture to ``path``."""
    path = Path(path)
    render_graph(graph, majority, **kwargs).save(path, format="PNG")
    return path
