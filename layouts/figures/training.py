"""Pure figure builders of the Training and Compare tabs: arrays in, plotly figures out.

The Training tab redraws its maps on every slider step, so its maps travel as plotly's typed
arrays (:func:`encode_map`: float32, base64) and a slider step replaces only the ``z`` of each
heatmap (:func:`maps_patch`); the layout, titles and colour bar are built once per result by
:func:`state_maps_figure`. Every map of a series uses the same colour limit (``vmax`` of the
whole series), so colours compare across time (paper 6.3).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
import plotly.graph_objects as go
from dash import Patch
from plotly.subplots import make_subplots

from .maps import (
    ACCENT,
    MUTED,
    TEXT,
    _axis_ids,
    _base_layout,
    _clicked_index,
    _coloraxis,
    _unit_axes,
    grid_shape,
)

#: The difference maps' diverging scale (purple = B lower, orange = B higher, white = same):
#: other colours than the maps' blue-white-red, so a difference is never read as a NAP.
DIFF_COLORSCALE = "PuOr_r"

#: Index of the current-state marker traces in :func:`change_figure` (change, accuracy).
CHANGE_MARKER = 1
ACCURACY_MARKER = 3


def encode_map(map2d: np.ndarray) -> dict[str, str]:
    """One map as a plotly typed array: float32, rows flipped so ``y`` grows upwards.

    Parameters
    ----------
    map2d : ndarray of shape (R, R)
        Row 0 is the top of the map (``y = 1``), NaN outside the neurons' hull.

    Returns
    -------
    dict
        ``{"dtype": "f4", "bdata": <base64>, "shape": "R, R"}``, what plotly.js decodes.
    """
    arr = np.ascontiguousarray(np.asarray(map2d, dtype=np.float32)[::-1])
    return {
        "dtype": "f4",
        "bdata": base64.b64encode(arr.tobytes()).decode("ascii"),
        "shape": f"{arr.shape[0]}, {arr.shape[1]}",
    }


def encode_maps(maps: np.ndarray) -> list[dict[str, str]]:
    """:func:`encode_map` of every map of ``maps`` (shape (n_groups, R, R))."""
    return [encode_map(m) for m in maps]


def state_label(steps: Sequence[int], index: int) -> str:
    """``"batch 12 of 79"`` for state ``index`` of a series whose states have these steps."""
    if not steps:
        return ""
    i = min(max(int(index), 0), len(steps) - 1)
    return f"batch {steps[i]} of {steps[-1]}"


def _map_grid(
    names: Sequence[str],
    z: Sequence[Any],
    resolution: int,
    coloraxis: str = "coloraxis",
    columns: int | None = None,
    hover: str = "%{z:.3g}",
) -> tuple[go.Figure, int, int]:
    """A grid of heatmaps, one per name, all on ``coloraxis``; traces ``0 .. n - 1``."""
    n = len(names)
    rows, cols = grid_shape(n, columns)
    axis = np.linspace(0.0, 1.0, resolution)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[escape(str(name)) for name in names],
        horizontal_spacing=min(0.04, 0.3 / cols),
        vertical_spacing=min(0.08, 0.5 / rows),
    )
    for k, name in enumerate(names):
        r, c = divmod(k, cols)
        fig.add_trace(
            go.Heatmap(
                z=z[k],
                x=axis,
                y=axis,
                coloraxis=coloraxis,
                name=str(name),
                hovertemplate=f"{escape(str(name))}: {hover}<extra></extra>",
                hoverongaps=False,
            ),
            row=r + 1,
            col=c + 1,
        )
    for k in range(n):
        xref, yref = _axis_ids(fig, k, cols)
        _unit_axes(fig, xref, yref)
    for annotation in fig.layout.annotations[:n]:
        annotation.font = {"size": 12, "color": TEXT}
    return fig, rows, cols


def state_maps_figure(
    names: Sequence[str],
    z: Sequence[Any],
    vmax: float,
    resolution: int,
    title: str = "",
    columns: int | None = None,
) -> go.Figure:
    """Every group's map of one state, on the series' shared colour scale ``±vmax``.

    Parameters
    ----------
    names : sequence of str
        Group names, one per map.
    z : sequence
        One map per group: an ndarray of shape (R, R) with row 0 at the *bottom*, or
        :func:`encode_map`'s typed array.
    vmax : float
        The colour limit of the whole series (not of this state), so colours compare
        across time.
    resolution : int
        R, the side of a map in pixels.
    title : str, optional
        Shown above the grid. The Training tab gives none: the state's label is next to its
        slider, once.

    Returns
    -------
    go.Figure
        Traces ``0 .. n_groups - 1`` are the heatmaps, in ``names`` order, so that
        :func:`maps_patch` can replace their ``z``.
    """
    fig, rows, cols = _map_grid(names, z, resolution, columns=columns)
    row_height = min(185, round(620 / cols) + 28)
    top = 60 if title else 30
    return _base_layout(
        fig,
        height=top + 10 + row_height * rows,
        coloraxis=_coloraxis(vmax),
        title={"text": escape(title), "font": {"size": 14}, "x": 0.01, "y": 0.995},
        margin={"l": 10, "r": 10, "t": top, "b": 10},
        hovermode="closest",
        # Keep zoom and hover state across slider steps (the figure object is patched).
        uirevision="training-maps",
    )


def maps_patch(z: Sequence[Any]) -> Patch:
    """What a slider step sends: the new ``z`` of each heatmap, nothing else."""
    patch = Patch()
    for k, zk in enumerate(z):
        patch["data"][k]["z"] = zk
    return patch


def _finite(values: Sequence[Any]) -> list[float | None]:
    out: list[float | None] = []
    for v in values:
        f = None if v is None else float(v)
        out.append(f if f is not None and np.isfinite(f) else None)
    return out


def change_figure(
    steps: Sequence[int],
    change: Sequence[Any],
    accuracy: Sequence[Any] | None,
    current: int,
) -> go.Figure:
    """How much the NAPs change from one state to the next, with the current state marked.

    Parameters
    ----------
    steps : sequence of int
        The batch number of each state (x axis).
    change : sequence of float
        ``change[i]``: the difference between the NAPs of states ``i - 1`` and ``i``
        (``change[0]`` is NaN: no previous state).
    accuracy : sequence of float or None, optional
        The accuracy on the data at each state; drawn below when any is known.
    current : int
        Index of the state shown (ringed on the curves).

    Returns
    -------
    go.Figure
        Trace 0: the change curve, :data:`CHANGE_MARKER`: its current-state marker; with
        accuracy, trace 2 its curve and :data:`ACCURACY_MARKER` its marker. Every point
        carries its state index as ``customdata``, so a click says which state it is.
    """
    n = len(steps)
    i = min(max(int(current), 0), max(n - 1, 0))
    xs = [int(s) for s in steps]
    ys = _finite(change)
    acc = _finite(accuracy) if accuracy is not None else []
    has_acc = any(a is not None for a in acc)
    rows = 2 if has_acc else 1
    fig = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.12,
        row_heights=[0.6, 0.4] if has_acc else None,
    )
    states = list(range(n))
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="lines+markers",
            line={"color": ACCENT, "width": 2},
            marker={"size": 4, "color": ACCENT},
            customdata=states,
            hovertemplate="batch %{x}: change %{y:.3g}<extra></extra>",
            showlegend=False,
        ),
        row=1,
        col=1,
    )
    fig.add_trace(_marker(xs, ys, i), row=1, col=1)
    if has_acc:
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=acc,
                mode="lines+markers",
                line={"color": "#1e7b4f", "width": 2},
                marker={"size": 4, "color": "#1e7b4f"},
                customdata=states,
                hovertemplate="batch %{x}: accuracy %{y:.1%}<extra></extra>",
                showlegend=False,
            ),
            row=2,
            col=1,
        )
        fig.add_trace(_marker(xs, acc, i), row=2, col=1)
        fig.update_yaxes(
            title={"text": "accuracy", "font": {"size": 11, "color": MUTED}},
            tickformat=".0%",
            row=2,
            col=1,
        )
    fig.update_yaxes(
        title={"text": "NAP change", "font": {"size": 11, "color": MUTED}},
        rangemode="tozero",
        row=1,
        col=1,
    )
    fig.update_yaxes(showgrid=True, gridcolor="#e4e7eb", zeroline=False)
    fig.update_xaxes(showgrid=False, zeroline=False)
    fig.update_xaxes(title={"text": "batch", "font": {"size": 11, "color": MUTED}}, row=rows)
    return _base_layout(
        fig,
        height=330 if has_acc else 230,
        margin={"l": 60, "r": 10, "t": 10, "b": 40},
        hovermode="closest",
        clickmode="event",
        uirevision="training-change",
    )


def _marker(xs: Sequence[int], ys: Sequence[float | None], i: int) -> go.Scatter:
    return go.Scatter(
        x=[xs[i]] if xs else [],
        y=[ys[i]] if ys else [],
        mode="markers",
        marker={"symbol": "circle-open", "size": 14, "color": "black", "line": {"width": 2.5}},
        customdata=[i],
        hoverinfo="skip",
        showlegend=False,
    )


def change_patch(
    steps: Sequence[int],
    change: Sequence[Any],
    accuracy: Sequence[Any] | None,
    current: int,
) -> Patch:
    """Move the current-state markers of :func:`change_figure` to state ``current``."""
    i = min(max(int(current), 0), max(len(steps) - 1, 0))
    patch = Patch()
    x = [int(steps[i])] if steps else []
    patch["data"][CHANGE_MARKER]["x"] = x
    patch["data"][CHANGE_MARKER]["y"] = [_finite([change[i]])[0]] if steps else []
    patch["data"][CHANGE_MARKER]["customdata"] = [i]
    acc = _finite(accuracy) if accuracy is not None else []
    if any(a is not None for a in acc):
        patch["data"][ACCURACY_MARKER]["x"] = x
        patch["data"][ACCURACY_MARKER]["y"] = [acc[i]]
        patch["data"][ACCURACY_MARKER]["customdata"] = [i]
    return patch


def clicked_state(click_data: dict | None, n_states: int) -> int | None:
    """The state index a click on :func:`change_figure` landed on, or None."""
    return _clicked_index(click_data, n_states)


def compare_figure(
    names: Sequence[str],
    maps_a: np.ndarray,
    maps_b: np.ndarray,
    diff_maps: np.ndarray,
    vmax: float,
    diff_vmax: float,
    per_row: int | None = None,
) -> go.Figure:
    """Each group's map of A and of B (one colour scale ``±vmax``) and their difference B − A.

    Parameters
    ----------
    names : sequence of str
        Group names.
    maps_a, maps_b, diff_maps : ndarray of shape (n_groups, R, R)
        Maps on the one shared layout (row 0 at the top, NaN outside the hull), and
        ``maps_b - maps_a``.
    vmax : float
        Colour limit shared by A and B.
    diff_vmax : float
        Symmetric limit of the difference's own diverging scale (:data:`DIFF_COLORSCALE`).
    per_row : int, optional
        Groups per row (default 2, 1 for up to 3 groups); each group takes three columns.

    Returns
    -------
    go.Figure
        Traces ``3 g``, ``3 g + 1``, ``3 g + 2``: group ``g``'s A, B and B − A.
    """
    n = len(names)
    per_row = per_row or (1 if n <= 3 else 2)
    rows = -(-n // per_row)
    cols = 3 * per_row
    res = maps_a.shape[-1]
    axis = np.linspace(0.0, 1.0, res)
    titles = [""] * (rows * cols)
    for g, name in enumerate(names):
        safe = escape(str(name))
        first = (g // per_row) * cols + (g % per_row) * 3
        titles[first : first + 3] = [f"{safe} · A", f"{safe} · B", f"{safe} · B − A"]
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=titles,
        horizontal_spacing=min(0.03, 0.3 / cols),
        vertical_spacing=min(0.06, 0.5 / rows),
    )
    parts = (
        (maps_a, "coloraxis", "A"),
        (maps_b, "coloraxis", "B"),
        (diff_maps, "coloraxis2", "B − A"),
    )
    for g, name in enumerate(names):
        safe = escape(str(name))
        for c, (maps, axis_name, what) in enumerate(parts):
            row, col = g // per_row, (g % per_row) * 3 + c
            fig.add_trace(
                go.Heatmap(
                    z=encode_map(maps[g]),
                    x=axis,
                    y=axis,
                    coloraxis=axis_name,
                    hovertemplate=f"{safe}, {what}: %{{z:.3g}}<extra></extra>",
                    hoverongaps=False,
                ),
                row=row + 1,
                col=col + 1,
            )
    for k in range(rows * cols):
        xref, yref = _axis_ids(fig, k, cols)
        _unit_axes(fig, xref, yref)
    for annotation in fig.layout.annotations:
        annotation.font = {"size": 11, "color": TEXT}
    nap_axis = _coloraxis(vmax)
    nap_axis["colorbar"].update(len=0.45, y=1.0, yanchor="top")
    diff_axis = {
        "colorscale": DIFF_COLORSCALE,
        "cmin": -float(diff_vmax),
        "cmax": float(diff_vmax),
        "colorbar": {
            "title": {"text": "B − A", "side": "right"},
            "thickness": 12,
            "len": 0.45,
            "y": 0.0,
            "yanchor": "bottom",
        },
    }
    row_height = min(190, round(900 / cols) + 30)
    return _base_layout(
        fig,
        height=40 + row_height * rows,
        coloraxis=nap_axis,
        coloraxis2=diff_axis,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        hovermode="closest",
    )
