"""The regions panel's figure: one group's map with its strong regions outlined, and the
top examples of a region as small images."""

from __future__ import annotations

import base64
import io
from html import escape

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from .maps import COLORSCALE

__all__ = ["example_uri", "regions_figure"]


def regions_figure(
    map2d: np.ndarray,
    vmax: float,
    labels: np.ndarray,
    regions: list[dict],
    title: str,
    selected: int | None = None,
) -> go.Figure:
    """The map (colour limit ``vmax``) with each region's outline (solid: positive, dashed:
    negative; thick: the selected one) and its number; a click anywhere in a region carries
    its index as ``customdata``."""
    res = map2d.shape[-1]
    axis = np.linspace(0.0, 1.0, res)
    fig = go.Figure(
        go.Heatmap(
            z=np.asarray(map2d[::-1], dtype=np.float32),
            x=axis,
            y=axis,
            customdata=labels[::-1],
            zmin=-vmax,
            zmax=vmax,
            colorscale=COLORSCALE,
            showscale=False,
            hovertemplate="value %{z:.3g}, region %{customdata}<extra></extra>",
            hoverongaps=False,
        )
    )
    for region in regions:
        k = region["index"]
        fig.add_trace(
            go.Contour(
                z=(labels[::-1] == k).astype(np.float32),
                x=axis,
                y=axis,
                contours={"start": 0.5, "end": 0.5, "size": 1, "coloring": "lines"},
                line={
                    "color": "black",
                    "width": 3 if k == selected else 1.5,
                    "dash": "solid" if region["sign"] > 0 else "dash",
                },
                colorscale=[[0, "black"], [1, "black"]],
                showscale=False,
                hoverinfo="skip",
                name=f"region {k}",
            )
        )
    if regions:
        fig.add_trace(
            go.Scatter(
                x=[r["centre"][0] for r in regions],
                y=[r["centre"][1] for r in regions],
                mode="text",
                text=[str(r["index"]) for r in regions],
                textfont={"size": 14, "color": "black"},
                customdata=[r["index"] for r in regions],
                hovertemplate="region %{customdata}<extra></extra>",
                showlegend=False,
            )
        )
    fig.update_layout(
        title={"text": escape(title), "font": {"size": 13}, "x": 0.01},
        height=380,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        paper_bgcolor="white",
        plot_bgcolor="white",
        showlegend=False,
    )
    fig.update_xaxes(visible=False, range=[0, 1], constrain="domain")
    fig.update_yaxes(visible=False, range=[0, 1], scaleanchor="x")
    return fig


def example_uri(x: np.ndarray, size: int = 64) -> str | None:
    """An image example (H x W or H x W x 1/3) as a PNG data URI, contrast-stretched; None
    for data that is not an image."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    if not (x.ndim == 2 or (x.ndim == 3 and x.shape[-1] == 3)):
        return None
    lo, hi = float(np.nanmin(x)), float(np.nanmax(x))
    scaled = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    img = Image.fromarray(np.uint8(np.clip(scaled, 0, 1) * 255))
    img = img.resize((size, size), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
