"""Violin plots of per-repeat quality metrics as a PNG (the paper's Figure 4), with Pillow.

One panel per metric, one horizontal violin per method; each panel's rows are sorted by the
metric's mean, best at the top (as in the paper), with the mean marked by a dot and the
extremes by ticks. No plotting library: the core stays free of plotly and matplotlib.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["density", "save_violins", "violin_image"]

_ROW, _LABEL, _PLOT, _PAD, _HEAD = 34, 92, 220, 14, 44
_COLOURS = [
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
]  # fmt: skip


def density(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Gaussian kernel density of ``values`` on ``grid`` (Scott's bandwidth), peak 1.

    Identical values (a deterministic method) give a narrow spike at their value.
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return np.zeros_like(grid)
    span = float(grid[-1] - grid[0]) or 1.0
    bw = max(float(values.std()) * values.size ** (-1 / 5), span / 200)
    d = np.exp(-0.5 * ((grid[:, None] - values[None, :]) / bw) ** 2).sum(axis=1)
    return d / d.max()


def violin_image(
    methods: Sequence[str],
    values: np.ndarray,
    metric_names: Sequence[str],
    higher_is_better: Collection[str] = (),
    title: str = "",
) -> Image.Image:
    """The violins of ``values`` (n_methods, repeats, n_metrics) as an RGB image."""
    values = np.asarray(values, dtype=np.float64)
    font = ImageFont.load_default()
    n_methods, n_metrics = len(methods), len(metric_names)
    panel = _LABEL + _PLOT + _PAD
    width = panel * n_metrics + _PAD
    height = _HEAD + 18 + _ROW * n_methods + _PAD
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    draw.text((_PAD, 6), title, fill="black", font=font)
    colour = {m: _COLOURS[i % len(_COLOURS)] for i, m in enumerate(methods)}
    for k, metric in enumerate(metric_names):
        x0 = _PAD + k * panel
        col = values[:, :, k]
        finite = col[np.isfinite(col)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        margin = 0.05 * (hi - lo)
        lo, hi = lo - margin, hi + margin
        better = "higher" if metric in higher_is_better else "lower"
        draw.text((x0 + _LABEL, 24), f"{metric} ({better} is better)", fill="black", font=font)
        with np.errstate(all="ignore"):
            means = np.nanmean(col, axis=1)
        key = -means if metric in higher_is_better else means
        order = np.argsort(np.where(np.isfinite(key), key, np.inf), kind="stable")
        grid = np.linspace(lo, hi, 120)
        px = x0 + _LABEL + (grid - lo) / (hi - lo) * _PLOT

        def to_x(v: float, x0=x0, lo=lo, hi=hi) -> float:
            return x0 + _LABEL + (v - lo) / (hi - lo) * _PLOT

        draw.rectangle(
            (x0 + _LABEL, _HEAD, x0 + _LABEL + _PLOT, _HEAD + _ROW * n_methods), outline="grey"
        )
        for row, i in enumerate(order):
            yc = _HEAD + _ROW * row + _ROW / 2
            draw.text((x0 + 4, yc - 6), methods[i], fill="black", font=font)
            half = density(col[i], grid) * (_ROW / 2 - 3)
            shown = np.flatnonzero(half > 0.5)  # no hairline across the panel for the tails
            if shown.size:
                cut = slice(shown[0], shown[-1] + 1)
                xs, hs = px[cut], half[cut]
                upper = list(zip(xs, yc - hs, strict=True))
                lower = list(zip(xs[::-1], (yc + hs)[::-1], strict=True))
                draw.polygon(upper + lower, fill=colour[methods[i]], outline=colour[methods[i]])
            ok = col[i][np.isfinite(col[i])]
            if ok.size:
                for v in (ok.min(), ok.max()):
                    draw.line((to_x(v), yc - 6, to_x(v), yc + 6), fill="black", width=1)
                xm = to_x(float(ok.mean()))
                draw.ellipse((xm - 3, yc - 3, xm + 3, yc + 3), fill="black")
        for v in (lo + margin, hi - margin):
            draw.text((to_x(v) - 12, _HEAD + _ROW * n_methods + 2), f"{v:.3g}", fill="black")
    return img


def save_violins(
    path: str | Path,
    methods: Sequence[str],
    values: np.ndarray,
    metric_names: Sequence[str],
    higher_is_better: Collection[str] = (),
    title: str = "",
) -> Path:
    """Write :func:`violin_image` to ``path`` (PNG)."""
    path = Path(path)
    violin_image(methods, values, metric_names, higher_is_better, title).save(path)
    return path
