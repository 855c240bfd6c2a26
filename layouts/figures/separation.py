"""Pure figure builders of the Overview and Bias tabs: arrays in, plotly figures out.

The overview's maps are one row per layer, each row on its own colour scale (activations differ
in size from layer to layer: its limit is in the row's label), and the separation curve along
depth. The bias view's maps are the real groups above as many random groups of the same sizes,
on one colour scale, and the score against the scores chance gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .maps import ACCENT, COLORSCALE, MUTED, TEXT, _axis_ids, _base_layout, _unit_axes
from .training import _map_grid, encode_map


def _tick(value: float) -> str:
    return f"{value:.2g}"


def overview_figure(
    layers: Sequence[str],
    names: Sequence[str],
    maps: Sequence[np.ndarray],
    vmaxes: Sequence[float],
    scores: Sequence[float],
) -> go.Figure:
    """One row of maps per layer, one column per group; each row on its own scale ``±vmax``.

    Parameters
    ----------
    layers : sequence of str
        Layer names, in depth order (the rows).
    names : sequence of str
        Group names, in one order for every row (the columns).
    maps : sequence of ndarray of shape (n_groups, R, R)
        Each layer's maps (row 0 at the top, NaN outside the hull).
    vmaxes, scores : sequence of float
        Each layer's colour limit and separation score (in the row's label).

    Returns
    -------
    go.Figure
        Trace ``l * n_groups + g``: layer ``l``'s map of group ``g``.
    """
    n_rows, n_cols = len(layers), len(names)
    fig = make_subplots(
        rows=n_rows,
        cols=n_cols,
        column_titles=[escape(str(name)) for name in names],
        horizontal_spacing=min(0.01, 0.2 / n_cols),
        vertical_spacing=min(0.03, 0.3 / n_rows),
    )
    for r, (layer, layer_maps, vmax) in enumerate(zip(layers, maps, vmaxes, strict=True)):
        res = layer_maps.shape[-1]
        axis = np.linspace(0.0, 1.0, res)
        for g, name in enumerate(names):
            fig.add_trace(
                go.Heatmap(
                    z=encode_map(layer_maps[g]),
                    x=axis,
                    y=axis,
                    zmin=-float(vmax),
                    zmax=float(vmax),
                    colorscale=COLORSCALE,
                    showscale=False,
                    hovertemplate=f"{escape(str(layer))}, {escape(str(name))}: "
                    "%{z:.3g}<extra></extra>",
                    hoverongaps=False,
                ),
                row=r + 1,
                col=g + 1,
            )
    for k in range(n_rows * n_cols):
        xref, yref = _axis_ids(fig, k, n_cols)
        _unit_axes(fig, xref, yref)
    for r, (layer, vmax, score) in enumerate(zip(layers, vmaxes, scores, strict=True)):
        _, yref = _axis_ids(fig, r * n_cols, n_cols)
        fig.layout["yaxis" + yref[1:]].update(
            visible=True,
            showticklabels=False,
            showgrid=False,
            zeroline=False,
            title={
                "text": f"<b>{escape(str(layer))}</b><br>±{_tick(vmax)} · {score:.2f}×",
                "font": {"size": 11, "color": TEXT},
            },
        )
    row_height = max(60, min(130, round(1000 / n_cols)))
    return _base_layout(
        fig,
        height=40 + row_height * n_rows,
        margin={"l": 90, "r": 10, "t": 30, "b": 10},
        hovermode="closest",
    )


def separation_figure(
    layers: Sequence[str],
    scores: Sequence[float],
    lows: Sequence[float],
    highs: Sequence[float],
    significant: Sequence[bool] | None = None,
) -> go.Figure:
    """The separation curve: each layer's score (with its 5-95 % spread over the random
    draws) along depth, and chance (1) as a dashed line; ``significant`` layers (more than
    chance after Holm's correction for the number of layers) filled, the others hollow."""
    scores_a = np.asarray(scores, dtype=float)
    filled = [True] * len(scores_a) if significant is None else list(significant)
    fig = go.Figure(
        go.Scatter(
            x=[str(layer) for layer in layers],
            y=scores_a,
            mode="lines+markers",
            line={"color": ACCENT},
            marker={
                "size": 8,
                "color": [ACCENT if f else "white" for f in filled],
                "line": {"color": ACCENT, "width": 2},
            },
            customdata=[
                "more than chance (Holm)" if f else "not significant (Holm)" for f in filled
            ],  # fmt: skip
            error_y={
                "type": "data",
                "symmetric": False,
                "array": np.asarray(highs, dtype=float) - scores_a,
                "arrayminus": scores_a - np.asarray(lows, dtype=float),
                "color": MUTED,
            },
            hovertemplate="%{x}: %{y:.2f}× chance, %{customdata}<extra></extra>",
            name="groups",
        )
    )
    fig.add_hline(y=1.0, line={"dash": "dash", "color": MUTED}, annotation_text="chance")
    fig.update_xaxes(title="layer (input → output)")
    fig.update_yaxes(title="separation (× chance)", rangemode="tozero")
    return _base_layout(fig, height=300, margin={"l": 60, "r": 10, "t": 30, "b": 50})


def bias_maps_figure(
    names: Sequence[str],
    random_names: Sequence[str],
    maps: np.ndarray,
    random_maps: np.ndarray,
    vmax: float,
) -> go.Figure:
    """The real groups' maps (top row) above as many random groups of the same sizes (bottom
    row), on one colour scale ``±vmax``."""
    from .maps import _coloraxis

    all_names = [*names, *random_names]
    z = [encode_map(m) for m in np.concatenate([maps, random_maps])]
    fig, rows, cols = _map_grid(all_names, z, maps.shape[-1], columns=len(names))
    row_height = max(90, min(190, round(900 / cols) + 30))
    return _base_layout(
        fig,
        height=40 + row_height * rows,
        coloraxis=_coloraxis(vmax),
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        hovermode="closest",
    )


def bias_score_figure(score: float, chance: Sequence[float]) -> go.Figure:
    """What chance gives (each random grouping's distance over their mean: the scores of
    random groups) as a histogram, and the real groups' score as a line."""
    chance = np.asarray(chance, dtype=float)
    fig = go.Figure(
        go.Histogram(
            x=chance,
            name="random groupings",
            marker={"color": MUTED},
            hovertemplate="%{x}: %{y} random groupings<extra></extra>",
        )
    )
    fig.add_vline(
        x=float(score),
        line={"color": ACCENT, "width": 3},
        annotation_text=f"these groups: {score:.2f}×",
        annotation_font={"color": ACCENT},
    )
    fig.update_xaxes(title="separation (× chance)", rangemode="tozero")
    fig.update_yaxes(title="random groupings")
    return _base_layout(
        fig, height=260, margin={"l": 60, "r": 10, "t": 30, "b": 50}, showlegend=False
    )
