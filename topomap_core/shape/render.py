"""A Mapper graph as a PNG, drawn with Pillow (the command line's picture; no plotting library).

Nodes sit at the graph's stored positions, sized by the log of their number of examples and
filled with their majority class's colour (the same palette as the dashboard); links are grey,
darker for a larger Jaccard index. An empty graph gets a sentence, never a blank picture.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .mapper import MapperGraph

__all__ = ["PALETTE", "class_colour", "legend_entries", "render_graph", "save_graph_png"]

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


def legend_entries(classes: Sequence[str]) -> tuple[list[tuple[str, str]], str]:
    """``(name, colour)`` of the classes a legend lists, and a note: the palette has ten
    colours, so past ten classes they repeat and the legend says so rather than list
    colours that name several classes."""
    shown = [(str(name), class_colour(i)) for i, name in enumerate(classes[: len(PALETTE)])]
    note = ""
    if len(classes) > len(PALETTE):
        note = f"{len(classes)} classes: colours repeat every {len(PALETTE)}"
    return shown, note


def _rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def _legend(
    draw: ImageDraw.ImageDraw, font, classes: Sequence[str], top: int, width: int, dry: bool
) -> int:
    """Draw (unless ``dry``) the class legend from ``top``; the height it takes."""
    entries, note = legend_entries(classes)
    x, y, line = 10, top + 6, 20
    for name, colour in entries:
        text_w = font.getlength(name)
        if x + 18 + text_w > width - 10 and x > 10:
            x, y = 10, y + line
        if not dry:
            draw.rectangle([x, y + 3, x + 11, y + 14], fill=_rgb(colour), outline=(40, 40, 40))
            draw.text((x + 16, y), name, fill=(0, 0, 0), font=font)
        x += 16 + int(text_w) + 14
    if note:
        y += line
        if not dry:
            draw.text((10, y), note, fill=(90, 90, 90), font=font)
    return y + line - top


def render_graph(
    graph: MapperGraph,
    majority: list[int],
    title: str = "",
    size: int = 800,
    empty_text: str = "",
    classes: Sequence[str] = (),
) -> Image.Image:
    """The picture of ``graph``; ``majority[i]`` is node i's majority class index.

    ``classes`` names the class of each colour index (``classes[i]`` is drawn in
    ``class_colour(i)``): a legend under the graph says which colour is which class.
    """
    font = ImageFont.load_default(size=14)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    shown = bool(classes) and graph.n_nodes > 0
    legend_h = _legend(probe, font, classes, 0, size, dry=True) if shown else 0
    image = Image.new("RGB", (size, size + 30 + legend_h), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.text((10, 8), title, fill=(0, 0, 0), font=font)
    if shown:
        _legend(draw, font, classes, size + 30, size, dry=False)
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
