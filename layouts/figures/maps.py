"""Pure figure builders of the dashboard: a MapResult in, a plotly figure (or SVG text) out.

Nothing here touches Dash or the disk, so tests call every builder directly. Coordinates: a
map's pixel ``maps[g][row, col]`` has row 0 at the top (``y = 1``); the heatmaps are drawn
with ``y`` increasing upwards, so their axes use the layout's own coordinates and neuron
markers land on the right pixel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import plotly.graph_objects as go
from PIL import ImageFont
from plotly.subplots import make_subplots

from topomap_core.analyses.view import MapResult
from topomap_core.analyses.view_pages import page_bounds
from topomap_core.profiles.interpolate import BWR_STOPS, to_rgb
from topomap_core.profiles.ordering import dendrogram_segments
from topomap_core.profiles.render import fit_label

#: The maps' diverging blue-white-red scale, from the library's stops.
COLORSCALE: list[list[Any]] = [[pos, f"rgb({r},{g},{b})"] for pos, (r, g, b) in BWR_STOPS]

FONT = "Inter, system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
TEXT = "#1f2933"
MUTED = "#7b8794"
ACCENT = "#0b6bcb"

# Drawn on top of every map to mark the neuron the user clicked.
_RING = {"symbol": "circle-open", "size": 13, "color": "black", "line": {"width": 2.5}}

# What each quality metric means, for a non-expert (paper 4.2).
METRIC_LABELS: dict[str, str] = {
    "mse_blur_auc": "Blur error (AUC, lower = smoother)",
    "mse_resize_auc": "Resize error (AUC, lower = smoother)",
    "n_components": "Coloured regions per map",
    "mean_component_size": "Mean region size (px)",
    "coverage_cv": "Coverage unevenness (NN-distance CV, lower = more even)",
}


def _layout_settings(height: int) -> dict[str, Any]:
    """Every figure's size, margins, transparent background and font."""
    return {
        "height": height,
        "margin": {"l": 10, "r": 10, "t": 30, "b": 10},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"family": FONT, "color": TEXT, "size": 12},
        "hoverlabel": {"font": {"family": FONT}},
    }


def _base_layout(fig: go.Figure, height: int, **extra: Any) -> go.Figure:
    fig.update_layout(**{**_layout_settings(height), **extra})
    return fig


def _coloraxis(vmax: float, title: str = "NAP") -> dict[str, Any]:
    return {
        "colorscale": COLORSCALE,
        "cmin": -float(vmax),
        "cmax": float(vmax),
        "colorbar": {"title": {"text": title, "side": "right"}, "thickness": 12, "len": 0.7},
    }


def _unit_axes(fig: go.Figure, xref: str = "x", yref: str = "y") -> None:
    """Hide the axes of one map and keep its pixels square."""
    pad = 0.02
    xaxis = "xaxis" + xref[1:]
    yaxis = "yaxis" + yref[1:]
    fig.layout[xaxis].update(visible=False, range=[-pad, 1 + pad], constrain="domain")
    fig.layout[yaxis].update(
        visible=False, range=[-pad, 1 + pad], scaleanchor=xref, scaleratio=1, constrain="domain"
    )


def group_index(result: MapResult, group: str | None) -> int:
    """Index (in dendrogram order) of ``group``; the first group if unknown or None."""
    names = result.order.names
    return names.index(group) if group in names else 0


def _marked(result: MapResult, neuron: int | None) -> int | None:
    if neuron is None or isinstance(neuron, bool):
        return None
    try:
        i = int(neuron)
    except (TypeError, ValueError):
        return None
    return i if 0 <= i < len(result.layout) else None


def empty_figure(message: str, height: int = 300) -> go.Figure:
    """A blank figure that says ``message`` in its middle."""
    return go.Figure(blank_figure(message, height))


def blank_figure(message: str, height: int = 300) -> dict[str, Any]:
    """:func:`empty_figure` as the plain dict Dash sends, for page layouts.

    The page holds about 18 of these; building them as ``go.Figure`` through Plotly's
    validators took 0.5 s of every page load (``/_dash-layout``), 25 ms as dicts.
    """
    return {
        "data": [],
        "layout": {
            **_layout_settings(height),
            "xaxis": {"visible": False},
            "yaxis": {"visible": False},
            "annotations": [
                {
                    "text": message,
                    "x": 0.5,
                    "y": 0.5,
                    "xref": "paper",
                    "yref": "paper",
                    "showarrow": False,
                    "font": {"size": 14, "color": MUTED},
                }
            ],
        },
    }


def grid_shape(n_groups: int, columns: int | None = None) -> tuple[int, int]:
    """(rows, columns) of the map grid: about square, ``ceil(sqrt(n))`` columns."""
    cols = columns or max(1, math.ceil(math.sqrt(n_groups)))
    cols = min(cols, n_groups)
    return math.ceil(n_groups / cols), cols


def _axis_ids(fig: go.Figure, k: int, cols: int) -> tuple[str, str]:
    """Axis ids (``"x3"``, ``"y3"``) of the ``k``-th subplot of a grid with ``cols`` columns."""
    sub = fig.get_subplot(k // cols + 1, k % cols + 1)
    # Each axis is anchored to its partner: the y axis names the x axis and vice versa.
    return sub.yaxis.anchor, sub.xaxis.anchor


def _sized(result: MapResult, name: str) -> str:
    """``"3 (n=54)"``: a group's name with the number of examples its map averages."""
    sizes = dict(zip(result.nap.group_names, result.nap.group_sizes, strict=True))
    return f"{name} (n={sizes[name]})" if name in sizes else name


#: The width the map grid's tiles and titles are fitted to: the maps card of a 1600 px wide
#: window, less the colour bar. The graph is responsive: a narrower window draws the maps
#: smaller, and a title may then reach into the gap beside its map.
GRID_WIDTH_PX = 560


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def text_px(text: str, size: int) -> float:
    """About the width of ``text`` in the page's font at ``size`` px: Pillow's bundled font,
    a fifth wider (DejaVu Sans, the usual stand-in for Inter, is up to 17 % wider)."""
    return 1.2 * _font(size).getlength(text)


def _middle(text: str, width: float, measure) -> str:
    """``text`` shortened in its middle ("grou…093:wrong") to fit ``width``: names of many
    groups often share a long start, and differ at the end."""
    if measure(text) <= width:
        return text
    for keep in range(len(text) - 1, 0, -1):
        head, tail = (keep + 1) // 2, keep // 2
        short = text[:head] + "…" + (text[-tail:] if tail else "")
        if measure(short) <= width:
            return short
    return text[:1] + "…"


def grid_title(name: str, n: int | None, width: float, size: int) -> tuple[str, int]:
    """A map's title (HTML) in ``width`` px, and its number of lines: ``"3 (n=54)"`` on one
    line when it fits; else two: broken after the name's last ``:``, or the name above the
    count, shortened in the middle where it must be. The count is always there; the full
    name and count are in every map's hover.
    """

    def measure(text: str) -> float:
        return text_px(text, size)

    count = "" if n is None else f"(n={n})"
    one = f"{name} {count}".strip()
    if measure(one) <= width:
        return escape(one), 1
    if not count:
        return escape(_middle(name, width, measure)), 1
    head, sep, tail = name.rpartition(":")
    second = f"{tail} {count}"
    if sep and measure(second) <= width:
        return f"{escape(_middle(head + sep, width, measure))}<br>{escape(second)}", 2
    return f"{escape(_middle(name, width, measure))}<br>{count}", 2


def maps_figure(
    result: MapResult,
    selected: str | None = None,
    marked: int | None = None,
    columns: int | None = None,
    page: int = 0,
) -> go.Figure:
    """One page of the groups' maps in dendrogram order (``view_pages.MAPS_PAGE`` at most), one
    heatmap per subplot, one shared colour bar.

    Parameters
    ----------
    result : MapResult
    selected : str, optional
        Group whose title is highlighted and whose map is framed (when on this page).
    marked : int, optional
        Neuron index ringed on every map.
    columns : int, optional
        Maps per row (default ``ceil(sqrt(maps on the page))``).
    page : int, default=0
        Which ``MAPS_PAGE`` maps: a 1000-group view sent whole was a 60 MB response.

    Returns
    -------
    go.Figure
        Traces ``0 .. k - 1`` are the page's heatmaps (a click's ``curveNumber`` plus the
        page's first index is the group's index, :func:`clicked_group`); ring markers follow,
        with the group index as ``customdata``.
    """
    names = list(result.order.names)
    first, end = page_bounds(len(names), page)
    sizes = result.sizes
    shown = range(first, end)
    n = len(shown)
    rows, cols = grid_shape(n, columns)
    res = result.maps.shape[-1]
    axis = np.linspace(0.0, 1.0, res)
    h_spacing = min(0.04, 0.3 / cols)
    tile_px = min(157.0, GRID_WIDTH_PX * (1 - h_spacing * (cols - 1)) / cols)
    font = 12 if cols <= 4 else 11
    titles = [grid_title(names[k], sizes[k], tile_px, font) for k in shown]
    lines = max(count for _, count in titles)
    # Room above each row for its titles; the maps themselves stay square (_unit_axes).
    title_px = 6 + round(1.25 * font) * lines
    plot_h = rows * tile_px + (rows - 1) * title_px
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[text for text, _ in titles],
        horizontal_spacing=h_spacing,
        vertical_spacing=title_px / plot_h if rows > 1 else 0.0,
    )
    for i, k in enumerate(shown):
        r, c = divmod(i, cols)
        label = escape(f"{names[k]} (n={sizes[k]})")
        fig.add_trace(
            go.Heatmap(
                # Flip rows so y grows upwards like the layout; float32 halves the payload.
                z=np.asarray(result.maps[k][::-1], dtype=np.float32),
                x=axis,
                y=axis,
                coloraxis="coloraxis",
                name=names[k],
                hovertemplate=f"{label}: %{{z:.3g}}<extra></extra>",
                hoverongaps=False,
            ),
            row=r + 1,
            col=c + 1,
        )
    sel = names.index(selected) - first if selected in names[first:end] else None
    neuron = _marked(result, marked)
    for i, k in enumerate(shown):
        xref, yref = _axis_ids(fig, i, cols)
        _unit_axes(fig, xref, yref)
        if neuron is not None:
            x, y = result.layout[neuron]
            fig.add_trace(
                go.Scatter(
                    x=[x],
                    y=[y],
                    mode="markers",
                    marker=_RING,
                    customdata=[k],
                    hovertemplate=f"neuron {neuron}<extra></extra>",
                    showlegend=False,
                    xaxis=xref,
                    yaxis=yref,
                )
            )
    for i, annotation in enumerate(fig.layout.annotations[:n]):
        annotation.font = {"size": font, "color": ACCENT if i == sel else TEXT}
        if i == sel:
            annotation.text = f"<b>{titles[i][0]}</b>"
    if sel is not None:
        xref, yref = _axis_ids(fig, sel, cols)
        fig.add_shape(
            type="rect",
            xref=f"{xref} domain",
            yref=f"{yref} domain",
            x0=-0.03,
            x1=1.03,
            y0=-0.03,
            y1=1.03,
            line={"color": ACCENT, "width": 2},
        )
    _base_layout(
        fig,
        height=round(plot_h) + title_px + 14,
        margin={"l": 10, "r": 10, "t": title_px + 4, "b": 10},
        coloraxis=_coloraxis(result.vmax),
        clickmode="event",
        hovermode="closest",
    )
    return fig


#: Most leaves whose names the dendrogram writes under it; more are named in their hover.
DENDROGRAM_LABELS = 60


def dendrogram_figure(result: MapResult, selected: str | None = None, page: int = 0) -> go.Figure:
    """The groups' dendrogram; leaf ``k`` (at ``x = k``) is the ``k``-th map of the grid.

    With more than one page of maps, the leaves of page ``page`` are shaded; with more than
    :data:`DENDROGRAM_LABELS` leaves, their names are in their hover rather than under them.
    """
    names = list(result.order.names)
    xs, ys = dendrogram_segments(result.order.linkage, result.order.order)
    if not xs:
        return empty_figure("One group: no dendrogram", height=120)
    x_line: list[float | None] = []
    y_line: list[float | None] = []
    for x4, y4 in zip(xs, ys, strict=True):
        x_line += [*x4, None]
        y_line += [*y4, None]
    fig = go.Figure(
        go.Scatter(
            x=x_line,
            y=y_line,
            mode="lines",
            line={"color": "#52606d", "width": 1.5},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    first, end = page_bounds(len(names), page)
    if end - first < len(names):
        fig.add_shape(
            type="rect",
            xref="x",
            yref="paper",
            x0=first - 0.5,
            x1=end - 0.5,
            y0=0,
            y1=1,
            fillcolor="rgba(11,107,203,0.10)",
            line={"width": 0},
            layer="below",
        )
    many = len(names) > DENDROGRAM_LABELS
    if many:
        fig.add_trace(
            go.Scatter(
                x=list(range(len(names))),
                y=[0.0] * len(names),
                mode="markers",
                marker={"size": 6, "color": "rgba(82,96,109,0.35)"},
                text=[escape(n) for n in names],
                hovertemplate="%{text}<extra></extra>",
                showlegend=False,
            )
        )
    ticks = [f"<b>{escape(n)}</b>" if n == selected else escape(n) for n in names]
    fig.update_xaxes(
        tickmode="array",
        tickvals=[] if many else list(range(len(names))),
        ticktext=[] if many else ticks,
        range=[-0.5, len(names) - 0.5],
        showgrid=False,
        zeroline=False,
        fixedrange=True,
        title=(
            {"text": f"{len(names)} groups: hover a leaf for its name", "font": {"size": 11}}
            if many
            else None
        ),
    )
    fig.update_yaxes(
        title={"text": "distance", "font": {"size": 11, "color": MUTED}},
        showgrid=True,
        gridcolor="#e4e7eb",
        zeroline=False,
        rangemode="tozero",
        fixedrange=True,
    )
    return _base_layout(fig, height=190, margin={"l": 50, "r": 10, "t": 10, "b": 40})


def scatter_figure(
    result: MapResult, selected: str | None = None, marked: int | None = None
) -> go.Figure:
    """The layout's neurons coloured by the selected group's values (hover: "neuron i: v").

    Dead neurons (zero for every group) are drawn as crosses and say so in their hover.
    """
    g = group_index(result, selected)
    name = result.order.names[g]
    values = np.asarray(result.values[g], dtype=np.float64)
    n = len(result.layout)
    dead = np.zeros(n, dtype=bool)
    dead[result.nap.dead_neurons] = True
    sized = escape(_sized(result, name))
    text = [
        f"neuron {i}: {v:.4g}" + (" (dead: zero for every group)" if d else "")
        for i, (v, d) in enumerate(zip(values, dead, strict=True))
    ]
    fig = go.Figure(
        go.Scatter(
            x=result.layout[:, 0],
            y=result.layout[:, 1],
            mode="markers",
            marker={
                "color": values,
                "coloraxis": "coloraxis",
                "size": 9 if n <= 300 else 6 if n <= 3000 else 3,
                "symbol": np.where(dead, "x", "circle").tolist() if dead.any() else "circle",
                # Outlines would turn thousands of neurons into a grey blot.
                "line": {"width": 0.5 if n <= 3000 else 0, "color": "#52606d"},
            },
            text=text,
            customdata=list(range(n)),
            hovertemplate="%{text}<extra></extra>",
            showlegend=False,
        )
    )
    neuron = _marked(result, marked)
    if neuron is not None:
        _add_ring(fig, result, neuron, f"neuron {neuron}: {values[neuron]:.4g}")
    return _large_square(fig, result, f"Neurons coloured by <b>{sized}</b>")


def _dot_alpha(n: int) -> float:
    """Opacity of the neuron dots over the large map: faint enough that thousands of them
    (16384 dots cover the whole disc) leave the map visible; still there to be clicked."""
    return round(float(np.clip(0.28 * 1000 / max(n, 1), 0.02, 0.28)), 3)


def selected_map_figure(
    result: MapResult, selected: str | None = None, marked: int | None = None
) -> go.Figure:
    """The selected group's map, large, with every neuron faintly drawn on top."""
    g = group_index(result, selected)
    name = result.order.names[g]
    res = result.maps.shape[-1]
    axis = np.linspace(0.0, 1.0, res)
    n = len(result.layout)
    fig = go.Figure(
        go.Heatmap(
            z=np.asarray(result.maps[g][::-1], dtype=np.float32),
            x=axis,
            y=axis,
            coloraxis="coloraxis",
            hovertemplate=f"{escape(_sized(result, name))}: %{{z:.3g}}<extra></extra>",
            hoverongaps=False,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=result.layout[:, 0],
            y=result.layout[:, 1],
            mode="markers",
            marker={"size": 5 if n <= 300 else 3, "color": f"rgba(31,41,51,{_dot_alpha(n)})"},
            customdata=list(range(n)),
            hovertemplate="neuron %{customdata}<extra></extra>",
            showlegend=False,
        )
    )
    neuron = _marked(result, marked)
    if neuron is not None:
        _add_ring(fig, result, neuron, f"neuron {neuron}")
    return _large_square(fig, result, f"Map of <b>{escape(_sized(result, name))}</b>")


def _add_ring(fig: go.Figure, result: MapResult, neuron: int, hover: str) -> None:
    """Draw the marked neuron's ring on a single-panel figure."""
    x, y = result.layout[neuron]
    fig.add_trace(
        go.Scatter(
            x=[x],
            y=[y],
            mode="markers",
            marker={**_RING, "size": 16},
            customdata=[neuron],
            hovertemplate=f"{hover}<extra></extra>",
            showlegend=False,
        )
    )


def _large_square(fig: go.Figure, result: MapResult, title: str) -> go.Figure:
    """Unit axes, the shared colour axis and the click behaviour of the two large panels."""
    _unit_axes(fig)
    # The upright toolbar covers the top 180 px of the right edge (7 buttons): the colour bar
    # stands in the lower half, under it (it covered the bar's title and top ticks).
    axis = _coloraxis(result.vmax)
    axis["colorbar"].update(len=0.5, y=0, yanchor="bottom")
    return _base_layout(
        fig,
        height=420,
        coloraxis=axis,
        # Title on the left and the toolbar upright on the right: it covered centred titles.
        title={"text": title, "font": {"size": 13}, "x": 0.02, "xanchor": "left"},
        modebar={"orientation": "v"},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        clickmode="event",
        hovermode="closest",
    )


def clicked_group(click_data: dict | None, names: Sequence[str], page: int = 0) -> str | None:
    """The group a click on :func:`maps_figure` (showing page ``page``) landed on, or None."""
    try:
        point = click_data["points"][0]  # type: ignore[index]
    except (TypeError, KeyError, IndexError):
        return None
    first, end = page_bounds(len(names), page)
    curve = point.get("curveNumber")
    if isinstance(curve, int) and 0 <= curve < end - first:
        return names[first + curve]
    custom = point.get("customdata")
    if isinstance(custom, list) and custom:
        custom = custom[0]
    if isinstance(custom, int) and not isinstance(custom, bool) and 0 <= custom < len(names):
        return names[custom]
    return None


def _clicked_index(click_data: dict | None, n: int) -> int | None:
    """The index in ``[0, n)`` a click's first point carries as ``customdata``, or None."""
    try:
        point = click_data["points"][0]  # type: ignore[index]
    except (TypeError, KeyError, IndexError):
        return None
    custom = point.get("customdata")
    if isinstance(custom, list) and len(custom) == 1:
        custom = custom[0]
    if isinstance(custom, int) and not isinstance(custom, bool) and 0 <= custom < n:
        return custom
    return None


def clicked_neuron(click_data: dict | None, n_neurons: int) -> int | None:
    """The neuron a click on the scatter or the large map landed on, or None (a map pixel)."""
    return _clicked_index(click_data, n_neurons)


def metrics_rows(result: MapResult) -> list[tuple[str, str, str]]:
    """(section, label, value) rows of the run's size, quality metrics and timings."""
    rows: list[tuple[str, str, str]] = [
        ("Run", "Groups", str(len(result.order.names))),
        ("Run", "Neurons", str(int(result.layout.shape[0]))),
        ("Run", "Colour limit (±)", f"{result.vmax:.3g}"),
    ]
    for key, label in METRIC_LABELS.items():
        if key in result.metrics:
            rows.append(("Quality", label, f"{float(result.metrics[key]):.4g}"))
    for stage, seconds in result.timings.items():
        rows.append(("Time (s)", stage.replace("_", " "), f"{float(seconds):.2f}"))
    return rows


# --------------------------------------------------------------------------------- SVG export


#: Colour levels of a vector map: 64 steps of ``bwr`` (about 1.5 % of the range each).
SVG_LEVELS = 64


def vector_map(map2d: np.ndarray, vmax: float, x: float, y: float, size: float) -> list[str]:
    """One map as SVG paths: its pixels, quantised to :data:`SVG_LEVELS` colours, merged into
    runs along each row, one ``<path>`` of rectangles per colour (nothing outside the hull).

    Real vectors, not an embedded image: they scale, and an editor can recolour them.
    """
    # Row 0 of a map is its top (y = 1), and SVG's y grows down: rows are drawn as they are,
    # the same way up as the PNG (render_map_grid) and the page's heatmaps.
    z = np.asarray(map2d, dtype=np.float64)
    rows, cols = z.shape
    px, py = size / cols, size / rows
    top = SVG_LEVELS - 1
    finite = np.isfinite(z)
    level = np.full(z.shape, -1, dtype=np.int64)
    level[finite] = np.clip(np.rint((z[finite] / vmax + 1) / 2 * top), 0, top).astype(np.int64)
    paths: dict[int, list[str]] = {}
    for r in range(rows):
        row = level[r]
        starts = np.flatnonzero(np.diff(row, prepend=-2) != 0)
        ends = np.append(starts[1:], cols)
        for s, e in zip(starts, ends, strict=True):
            if row[s] >= 0:
                paths.setdefault(int(row[s]), []).append(
                    f"M{x + s * px:.2f} {y + r * py:.2f}h{(e - s) * px:.2f}v{py:.2f}"
                    f"h{-(e - s) * px:.2f}z"
                )
    values = (np.arange(SVG_LEVELS) / top * 2 - 1) * vmax
    colours = to_rgb(values, vmax)
    out = []
    for lv, parts in sorted(paths.items()):
        r, g, b = (int(c) for c in colours[lv])
        # A hairline stroke of the same colour closes the seams renderers leave between rects.
        out.append(
            f'<path fill="rgb({r},{g},{b})" stroke="rgb({r},{g},{b})" stroke-width="0.3" '
            f'd="{"".join(parts)}"/>'
        )
    return out


def _tick(value: float) -> str:
    return "0" if value == 0 else f"{value:+.3g}"


def maps_svg(
    result: MapResult,
    title: str | None = None,
    columns: int | None = None,
    tile: int = 200,
    page: int | None = None,
) -> str:
    """An SVG document of the map grid, all vectors: maps (:func:`vector_map`), text, colour bar.

    Parameters
    ----------
    result : MapResult
    title : str, optional
        Heading above the grid.
    columns : int, optional
        Maps per row (default ``ceil(sqrt(n_maps))``).
    tile : int, default=200
        Side of one map in px.
    page : int, optional
        Only that page's maps (as :func:`maps_figure` shows them); default every map.

    Returns
    -------
    str
        A standalone SVG 1.1 document with one ``<g class="map">`` per group, in dendrogram
        order; each titled ``"name (n=54)"`` (a long name shortened, the count kept).
    """
    every = list(result.order.names)
    first, end = (0, len(every)) if page is None else page_bounds(len(every), page)
    names = every[first:end]
    sizes = result.sizes[first:end]
    rows, cols = grid_shape(len(names), columns)
    pad, label_h, title_h = 16, 22, 30 if title else 0
    width = pad + cols * (tile + pad)
    grid_top = pad + title_h
    cell_h = label_h + tile
    bar_y = grid_top + rows * (cell_h + pad) + 4
    bar_h = 14
    height = bar_y + bar_h + 30
    font = 'font-family="Helvetica, Arial, sans-serif"'
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'version="1.1" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        "<defs>",
        '<linearGradient id="bwr" x1="0" y1="0" x2="1" y2="0">',
        *(
            f'<stop offset="{pos:g}" stop-color="rgb({r},{g},{b})"/>'
            for pos, (r, g, b) in BWR_STOPS
        ),
        "</linearGradient>",
        "</defs>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    if title:
        parts.append(
            f'<text x="{width / 2:g}" y="{pad + 18}" text-anchor="middle" {font} '
            f'font-size="18" font-weight="bold" fill="{TEXT}">{escape(title)}</text>'
        )
    for k, (name, size) in enumerate(zip(names, sizes, strict=True)):
        r, c = divmod(k, cols)
        x = pad + c * (tile + pad)
        y = grid_top + r * (cell_h + pad)
        label = fit_label(name, size, tile, lambda t: text_px(t, 14), "…")
        parts.append(
            f'<text x="{x + tile / 2:g}" y="{y + 15}" text-anchor="middle" {font} '
            f'font-size="14" fill="{TEXT}">{escape(label)}</text>'
        )
        # Each map in its own coordinates (0 to ``tile``): an editor moves it as one piece.
        parts.append(
            f'<g class="map" data-group={quoteattr(name)} '
            f'transform="translate({x:g} {y + label_h:g})">'
        )
        parts.extend(vector_map(result.maps[first + k], result.vmax, 0, 0, tile))
        parts.append("</g>")
    bar_x0, bar_x1 = pad, width - pad
    parts.append(
        f'<rect x="{bar_x0}" y="{bar_y}" width="{bar_x1 - bar_x0}" height="{bar_h}" '
        'fill="url(#bwr)" stroke="black" stroke-width="1"/>'
    )
    vmax = float(result.vmax)
    for x, value, anchor in (
        (bar_x0, -vmax, "start"),
        ((bar_x0 + bar_x1) / 2, 0.0, "middle"),
        (bar_x1, vmax, "end"),
    ):
        parts.append(
            f'<line x1="{x:g}" y1="{bar_y + bar_h}" x2="{x:g}" y2="{bar_y + bar_h + 5}" '
            'stroke="black" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{x:g}" y="{bar_y + bar_h + 19}" text-anchor="{anchor}" {font} '
            f'font-size="12" fill="{TEXT}">{_tick(value)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
