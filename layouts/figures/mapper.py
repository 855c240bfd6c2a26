"""Figures of the Mapper tab: a graph as an SVG scatter, hover texts, example pictures.

Plotly's SVG traces only (``go.Scatter``): WebGL needs ``unsafe-eval``, which the page's
content security policy forbids. A graph is two traces, whatever its size: the links as one
line trace (``None`` between segments) and the nodes as one marker trace, so 1,000+ nodes stay
responsive (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Collection, Sequence

import numpy as np
import plotly.graph_objects as go

from topomap_core.analyses.mapper import MapperResult, empty_message
from topomap_core.shape.mapper import class_counts
from topomap_core.shape.render import class_colour, legend_entries

from .maps import FONT, MUTED, TEXT, empty_figure

__all__ = [
    "clicked_node",
    "example_uri",
    "graph_figure",
    "hover_text",
    "lassoed_nodes",
    "node_colours",
]

#: Nodes of a graph trace carry their index here (a click names the node, not a position).
NODE_TRACE = "nodes"


def _mix(result: MapperResult, members: np.ndarray, top: int = 4) -> str:
    counts = class_counts(members, result.labels, result.label_names)
    total = max(1, members.size)
    parts = [f"{name}: {count} ({count / total:.0%})" for name, count in counts.items()]
    more = f"<br>… {len(parts) - top} more" if len(parts) > top else ""
    return "<br>".join(parts[:top]) + more


def hover_text(result: MapperResult, index: int = 0) -> list[str]:
    """One hover line block per node: id, size, purity and class mix."""
    graph = result.graphs[index]
    texts = []
    for node_id, members, norm in zip(graph.node_ids, graph.members, graph.mean_norm, strict=True):
        texts.append(
            f"<b>{node_id}</b><br>{members.size} examples, mean norm {norm:.3g}<br>"
            + _mix(result, members)
        )
    return texts


def _blend(colour: str, purity: float) -> str:
    """The class colour, paler for a less pure node (white at purity 0)."""
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)
    weight = 0.25 + 0.75 * float(np.clip(purity, 0, 1))
    mixed = rgb * weight + 255 * (1 - weight)
    return "#" + "".join(f"{int(round(v)):02x}" for v in mixed)


def node_colours(result: MapperResult, index: int, mode: str) -> tuple[list | np.ndarray, dict]:
    """Marker colours of graph ``index`` in ``mode`` and the extra marker settings.

    ``class``: the majority class's colour, paler for a less pure node; ``correctness``:
    the share of the node's examples the model gets wrong (red = all wrong); ``norm``: the
    mean L2 norm (turbo, as TopoAct).
    """
    graph = result.graphs[index]
    if mode == "correctness" and result.predicted is not None and result.labels is not None:
        wrong = np.array([np.mean(result.predicted[m] != result.labels[m]) for m in graph.members])
        return wrong, {
            "colorscale": [[0, "#2ca02c"], [0.5, "#fdd835"], [1, "#d62728"]],
            "cmin": 0,
            "cmax": 1,
            "colorbar": {"title": {"text": "wrong"}, "thickness": 12, "tickformat": ".0%"},
        }
    if mode == "norm":
        return graph.mean_norm, {
            "colorscale": "Turbo",
            "colorbar": {"title": {"text": "norm"}, "thickness": 12},
        }
    classes = result.classes()
    position = {c: i for i, c in enumerate(classes)}
    colours = []
    for members, majority in zip(graph.members, result.majority(graph), strict=True):
        if result.labels is None:
            colours.append(class_colour(0))
            continue
        purity = np.mean(result.labels[members] == majority)
        colours.append(_blend(class_colour(position.get(majority, 0)), purity))
    return colours, {}


def graph_figure(
    result: MapperResult | None,
    index: int = 0,
    mode: str = "class",
    highlight: Collection[int] | None = None,
    selected: Collection[int] = (),
    height: int = 560,
) -> go.Figure:
    """The Mapper graph ``index`` of ``result``; an empty graph says why, never blank.

    Parameters
    ----------
    highlight : collection of int, optional
        Nodes the search (or the Maps tab's group) found: the others are dimmed. None: no
        search.
    selected : collection of int
        Clicked nodes: drawn with a thick outline.
    """
    if result is None:
        return empty_figure("", height)
    graph = result.graphs[index]
    title = f"{result.layers[index]}: {graph.n_nodes} nodes, {len(graph.links)} links"
    if graph.n_nodes == 0:
        return empty_figure(empty_message(result, index) or "Empty graph", height)
    xy = graph.positions
    fig = go.Figure()
    if len(graph.links):
        seg = np.full((len(graph.links) * 3, 2), np.nan)
        seg[0::3], seg[1::3] = xy[graph.links[:, 0]], xy[graph.links[:, 1]]
        fig.add_trace(
            go.Scatter(
                x=seg[:, 0],
                y=seg[:, 1],
                mode="lines",
                line={"color": "#b0b7c0", "width": 1},
                hoverinfo="skip",
                name="links",
                showlegend=False,
            )
        )
    # The class colours' legend: one marker-only entry per class (no points, so clicks and
    # lassos still land on nodes), drawn before the nodes so these stay the last trace.
    if mode == "class" and result.labels is not None:
        entries, note = legend_entries([result.label_name(c) for c in result.classes()])
        for name, colour in entries:
            fig.add_trace(
                go.Scatter(
                    x=[None],
                    y=[None],
                    mode="markers",
                    name=name,
                    marker={
                        "size": 10,
                        "color": colour,
                        "line": {"color": "#4a5560", "width": 0.6},
                    },
                    showlegend=True,
                    hoverinfo="skip",
                )
            )
    else:
        entries, note = [], ""
    colours, extra = node_colours(result, index, mode)
    sizes = 7 + 5 * np.log10(1 + graph.sizes)
    chosen = np.zeros(graph.n_nodes, bool)
    chosen[[i for i in selected if 0 <= i < graph.n_nodes]] = True
    opacity = np.ones(graph.n_nodes)
    if highlight is not None:
        opacity[:] = 0.15
        opacity[[i for i in highlight if 0 <= i < graph.n_nodes]] = 1.0
    fig.add_trace(
        go.Scatter(
            x=xy[:, 0],
            y=xy[:, 1],
            mode="markers",
            name=NODE_TRACE,
            showlegend=False,
            customdata=list(range(graph.n_nodes)),  # a list: typed arrays miss clickData
            hovertext=hover_text(result, index),
            hoverinfo="text",
            marker={
                "size": sizes,
                "color": colours,
                "opacity": opacity,
                "line": {
                    "color": np.where(chosen, "#000000", "#4a5560").tolist(),
                    "width": np.where(chosen, 3.5, 0.6).tolist(),
                },
                **extra,
            },
        )
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    fig.update_layout(
        title={"text": title, "font": {"size": 13, "color": TEXT}, "x": 0.01},
        height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        showlegend=bool(entries),
        # Under the graph, read-only: the entries stand for colours, not traces to hide.
        legend={
            "orientation": "h",
            "x": 0,
            "y": 0,
            "yanchor": "top",
            "itemclick": False,
            "itemdoubleclick": False,
            "title": {"text": f"majority class{f' ({note})' if note else ''}"},
            "font": {"size": 11},
        },
        dragmode="pan",
        clickmode="event",
        font={"family": FONT, "color": MUTED},
        plot_bgcolor="white",
        paper_bgcolor="white",
        uirevision=f"{result.layers[index]}",
    )
    return fig


def _node_points(data: dict | None) -> list[dict]:
    return [p for p in (data or {}).get("points", []) if isinstance(p, dict)]


def clicked_node(click_data: dict | None, n_nodes: int) -> int | None:
    """The node a click is on, or None (a click on a link, or a stale figure)."""
    for point in _node_points(click_data):
        value = point.get("customdata")
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, int | float) and 0 <= int(value) < n_nodes:
            return int(value)
    return None


def lassoed_nodes(selected_data: dict | None, n_nodes: int) -> list[int]:
    """The nodes a box or lasso selection holds."""
    nodes = set()
    for point in _node_points(selected_data):
        value = point.get("customdata")
        if isinstance(value, int | float) and 0 <= int(value) < n_nodes:
            nodes.add(int(value))
    return sorted(nodes)


def example_uri(picture: np.ndarray) -> str:
    """A small uint8 picture as a PNG data URI (the node panel's example images)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(picture, dtype=np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def example_pictures(result: MapperResult, indices: Sequence[int]) -> list[str | None]:
    """Data URIs of examples ``indices`` (None where there is no picture)."""
    if result.thumbs is None:
        return [None] * len(indices)
    where = np.searchsorted(result.examples, indices)
    out: list[str | None] = []
    for index, pos in zip(indices, where, strict=True):
        found = pos < len(result.examples) and result.examples[pos] == index
        out.append(example_uri(result.thumbs[pos]) if found else None)
    return out
