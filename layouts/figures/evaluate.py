"""Figures of the Evaluate tab: violins of each quality metric per method, ranked."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from topomap_core.analyses.evaluate import EvaluateResult

#: Short titles of the metrics' panels.
METRIC_TITLES = {
    "mse_blur_auc": "Blur error ↓",
    "mse_resize_auc": "Resize error ↓",
    "n_components": "Regions per map ↓",
    "mean_component_size": "Mean region size (px) ↑",
    "coverage_cv": "Coverage unevenness ↓",
}

_COLOURS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip


def violins_figure(result: EvaluateResult) -> go.Figure:
    """One panel per metric, one horizontal violin per method; the methods' rows follow the
    ranking (best at the top), with each repeat as a dot and the mean as a line."""
    names = result.metric_names
    ranked = [row["method"] for row in result.ranking]
    fig = make_subplots(
        rows=1,
        cols=len(names),
        subplot_titles=[METRIC_TITLES.get(m, m) for m in names],
        shared_yaxes=True,
        horizontal_spacing=0.02,
    )
    colour = {m: _COLOURS[i % len(_COLOURS)] for i, m in enumerate(result.methods)}
    for k, metric in enumerate(names):
        for method in ranked:
            i = result.methods.index(method)
            x = result.values[i, :, k]
            fig.add_trace(
                go.Violin(
                    x=x[np.isfinite(x)],
                    y=[method] * int(np.isfinite(x).sum()),
                    name=method,
                    orientation="h",
                    line_color=colour[method],
                    points="all",
                    pointpos=0,
                    jitter=0.3,
                    meanline_visible=True,
                    spanmode="hard",
                    showlegend=False,
                    hovertemplate=f"{method}<br>{metric} %{{x:.4g}}<extra></extra>",
                ),
                row=1,
                col=k + 1,
            )
    fig.update_yaxes(categoryorder="array", categoryarray=ranked[::-1])
    fig.update_layout(
        height=max(260, 60 + 44 * len(ranked)),
        margin={"l": 90, "r": 10, "t": 40, "b": 30},
        paper_bgcolor="white",
        plot_bgcolor="white",
        violinmode="overlay",
    )
    for annotation in fig.layout.annotations:
        annotation.font.size = 12
    fig.update_xaxes(showgrid=True, gridcolor="#eee", zeroline=False)
    return fig


def format_value(value: float) -> str:
    """A metric's value, one way for a whole column: ``9661`` and ``12,034`` (never
    ``1.203e+04`` next to ``9661``), four significant digits below 1000, an exponent only
    for values under 0.001."""
    v = float(value)
    if not np.isfinite(v):
        return "–"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if v == 0 or abs(v) >= 0.001:
        return f"{v:.4g}"
    return f"{v:.2e}"


def ranking_rows(result: EvaluateResult) -> list[list[str]]:
    """The ranking table: header, then one row per method (best first)."""
    header = ["#", "method", "mean rank", *[METRIC_TITLES.get(m, m) for m in result.metric_names]]
    means = result.means()
    rows = [header]
    for place, row in enumerate(result.ranking, start=1):
        cells = [
            f"{format_value(means[row['method']][m])} ({row['ranks'][m]:g})"
            for m in result.metric_names
        ]
        rows.append([str(place), row["method"], f"{row['mean_rank']:.2f}", *cells])
    return rows
