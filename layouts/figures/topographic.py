"""Figures of the Topographic tab: maps on a grid, smoothed maps with their region, and
optimised inputs."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from topomap_core.analyses.topographic import TopographicResult, feature_images
from topomap_core.profiles.interpolate import colour_limit

from .maps import COLORSCALE, grid_shape

__all__ = ["features_figure", "grid_figure"]


def grid_figure(result: TopographicResult, smoothed: bool = False) -> go.Figure:
    """One heatmap per group on the layer's grid (row 0 on top); ``smoothed`` marks each
    group's most responsive region with a rectangle."""
    maps = result.smoothed if smoothed else result.grid_maps
    finite = maps[np.isfinite(maps)]
    vmax = colour_limit(finite) if finite.size else 1.0
    names = result.group_names
    n_rows, n_cols = grid_shape(len(names), columns=min(len(names), 10))
    fig = make_subplots(
        rows=n_rows, cols=n_cols, subplot_titles=names, horizontal_spacing=0.01,
        vertical_spacing=0.08,
    )  # fmt: skip
    for k, name in enumerate(names):
        r, c = divmod(k, n_cols)
        fig.add_trace(
            go.Heatmap(
                z=maps[k],
                coloraxis="coloraxis",
                hovertemplate=f"{name}<br>row %{{y}}, column %{{x}}: %{{z:.3g}}<extra></extra>",
            ),
            row=r + 1,
            col=c + 1,
        )
        if smoothed:
            region = result.regions[k]
            fig.add_shape(
                type="rect",
                x0=region["col"] - 0.5,
                x1=region["col"] + region["size"] - 0.5,
                y0=region["row"] - 0.5,
                y1=region["row"] + region["size"] - 0.5,
                line={"color": "black", "width": 2},
                row=r + 1,
                col=c + 1,
            )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", constrain="domain")
    fig.update_layout(
        coloraxis={"colorscale": COLORSCALE, "cmin": -vmax, "cmax": vmax},
        height=260 * n_rows,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        paper_bgcolor="white",
        plot_bgcolor="white",
    )
    return fig


def features_figure(result: TopographicResult) -> go.Figure:
    """The optimised inputs: each filter of the region, then the region jointly."""
    images = feature_images(result.fv_images)
    titles = [f"filter {u}" for u in result.fv_units] + ["region"]
    fig = make_subplots(rows=1, cols=len(images), subplot_titles=titles, horizontal_spacing=0.01)
    for k, image in enumerate(images):
        fig.add_trace(
            go.Heatmap(z=image, colorscale="gray", showscale=False, hoverinfo="skip"),
            row=1,
            col=k + 1,
        )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", constrain="domain")
    fig.update_layout(
        height=200, margin={"l": 10, "r": 10, "t": 40, "b": 10}, paper_bgcolor="white"
    )
    return fig
