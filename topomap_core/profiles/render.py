"""Static images of topographic maps with Pillow (no matplotlib): a grid of maps and one map.

The grid is the paper's Figure 4/5-style overview: every group's map in the
given (dendrogram) order with its name above it, on a white background, and one
shared horizontal colour bar from ``-vmax`` (blue) through 0 (white) to
``+vmax`` (red), because all maps of a run share one colour scale (paper 3.3).
Maps are enlarged by an integer factor with nearest-neighbour resampling by
default, so every screen pixel shows an interpolated value unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from os import PathLike
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..errors import TopomapError
from .interpolate import to_rgb, to_rgba

__all__ = [
    "GridGeometry",
    "fit_label",
    "map_grid_geometry",
    "render_map_grid",
    "render_regions",
    "render_single_map",
    "save_map_grid",
]

_RESAMPLE = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR}
_TEXT = (0, 0, 0)
_WHITE = (255, 255, 255)

Box = tuple[int, int, int, int]


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's bundled font: no font files to ship, same look on every machine.
    return ImageFont.load_default(size=size)


def _text_height(font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> int:
    left, top, right, bottom = font.getbbox("Ag-0.9")
    return int(bottom - min(top, 0)) + 1


def _fit(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> str:
    """Shorten ``text`` with "..." so it fits in ``width`` px."""
    return fit_label(text, None, width, font.getlength)


def fit_label(
    name: str,
    n: int | None,
    width: float,
    measure: Callable[[str], float],
    ellipsis: str = "...",
) -> str:
    """``"name (n=54)"`` shortened to fit ``width``: the name loses its end (``ellipsis``),
    the number of examples stays (it says how far the map can be trusted).

    Parameters
    ----------
    name : str
    n : int or None
        Examples the map averages; None: the name alone.
    width : float
        Room for the text, in the unit of ``measure``.
    measure : callable
        ``measure(text)``: the width of ``text`` (a font's ``getlength``, or an estimate
        for a browser's font).
    ellipsis : str, default="..."
    """
    suffix = "" if n is None else f" (n={n})"
    if measure(name + suffix) <= width:
        return name + suffix
    while name and measure(name + ellipsis + suffix) > width:
        name = name[:-1]
    return name + ellipsis + suffix


def _format_tick(value: float) -> str:
    return "0" if value == 0 else f"{value:.3g}"


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise TopomapError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def _check_resample(resample: str) -> Image.Resampling:
    if resample not in _RESAMPLE:
        raise TopomapError(
            f"resample {resample!r} is not known; choose one of {', '.join(_RESAMPLE)}"
        )
    return _RESAMPLE[resample]


@dataclass(frozen=True)
class GridGeometry:
    """Where things are in a :func:`render_map_grid` image (pixel boxes ``(x0, y0, x1, y1)``,
    end-exclusive), e.g. for tests or to map a click to a group."""

    size: tuple[int, int]  #: (width, height) of the whole image
    tile_boxes: list[Box]  #: one map per group, in the given order
    label_boxes: list[Box]  #: the band above each map holding its name
    colourbar_box: Box  #: the gradient itself, without tick labels
    title_box: Box | None  #: the overall title band, None without a title
    font_size: int  #: size of the group names (the title is 4 px larger)


def map_grid_geometry(
    n_groups: int,
    map_shape: tuple[int, int],
    scale: int = 2,
    columns: int | None = None,
    title: str | None = None,
) -> GridGeometry:
    """Compute the layout of a map grid without drawing it.

    Parameters
    ----------
    n_groups : int
        Number of maps (>= 1).
    map_shape : tuple of int
        ``(height, width)`` of one map in pixels.
    scale : int, default=2
        Integer enlargement of each map.
    columns : int, optional
        Maps per row; default ``ceil(sqrt(n_groups))``.
    title : str, optional
        Overall title; reserves a band at the top.

    Returns
    -------
    GridGeometry
    """
    n_groups = _check_int(n_groups, "n_groups", 1)
    scale = _check_int(scale, "scale", 1)
    if columns is None:
        columns = math.ceil(math.sqrt(n_groups))
    columns = min(_check_int(columns, "columns", 1), n_groups)
    height, width = (int(s) for s in map_shape)
    if height < 1 or width < 1:
        raise TopomapError(f"map_shape must be positive; got {map_shape}")
    rows = math.ceil(n_groups / columns)

    font_size = 10 + 2 * scale
    pad = 4 * scale
    label_h = _text_height(_font(font_size)) + pad // 2
    tile_w, tile_h = width * scale, height * scale
    cell_h = label_h + tile_h

    y = pad
    title_box = None
    if title:
        title_h = _text_height(_font(font_size + 4))
        title_box = (pad, y, pad + columns * tile_w + (columns - 1) * pad, y + title_h)
        y += title_h + pad
    tile_boxes, label_boxes = [], []
    for k in range(n_groups):
        r, c = divmod(k, columns)
        x0 = pad + c * (tile_w + pad)
        y0 = y + r * (cell_h + pad)
        label_boxes.append((x0, y0, x0 + tile_w, y0 + label_h))
        tile_boxes.append((x0, y0 + label_h, x0 + tile_w, y0 + cell_h))
    grid_w = columns * tile_w + (columns - 1) * pad
    y += rows * cell_h + (rows - 1) * pad + 2 * pad
    bar_h = max(8, 6 * scale)
    colourbar_box = (pad, y, pad + grid_w, y + bar_h)
    # Below the bar: tick marks (pad / 2) and one line of tick labels.
    total_h = y + bar_h + pad // 2 + _text_height(_font(font_size)) + pad
    return GridGeometry(
        size=(grid_w + 2 * pad, total_h),
        tile_boxes=tile_boxes,
        label_boxes=label_boxes,
        colourbar_box=colourbar_box,
        title_box=title_box,
        font_size=font_size,
    )


def _map_tile(map2d: np.ndarray, vmax: float, size: tuple[int, int], resample) -> Image.Image:
    tile = Image.fromarray(to_rgba(map2d, vmax))
    if tile.size != size:
        # RGBA resizing in Pillow uses premultiplied alpha, so bilinear edges stay clean.
        tile = tile.resize(size, resample)
    return tile


def render_map_grid(
    maps: np.ndarray,
    names: list[str],
    vmax: float,
    scale: int = 2,
    columns: int | None = None,
    title: str | None = None,
    resample: str = "nearest",
    sizes: Sequence[int] | None = None,
) -> Image.Image:
    """Draw every group's map with its name, and one shared colour bar.

    Parameters
    ----------
    maps : ndarray of shape (n_groups, height, width)
        Interpolated maps in display order (NaN outside the hull, drawn white).
    names : list of str of length n_groups
        Titles above the maps, in the same order.
    vmax : float
        Shared colour limit (> 0): ``-vmax`` blue, 0 white, ``+vmax`` red.
    scale : int, default=2
        Integer enlargement of each map.
    columns : int, optional
        Maps per row; default ``ceil(sqrt(n_groups))``.
    title : str, optional
        Overall title at the top.
    resample : {"nearest", "bilinear"}, default="nearest"
        How maps are enlarged; "nearest" keeps every value's colour exact.
    sizes : sequence of int, optional
        Examples each map averages, in the same order: titles read ``"3 (n=54)"``, as on
        the page (a long name is shortened, the number kept).

    Returns
    -------
    PIL.Image.Image
        RGB image on a white background; see :func:`map_grid_geometry` for where things are.
    """
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3 or min(maps.shape) < 1:
        raise TopomapError(f"maps must have shape (n_groups, height, width); got {maps.shape}")
    names = [str(n) for n in names]
    if len(names) != maps.shape[0]:
        raise TopomapError(f"names has {len(names)} entries but maps has {maps.shape[0]} groups")
    if sizes is not None and len(sizes) != len(names):
        raise TopomapError(f"sizes has {len(sizes)} entries but maps has {len(names)} groups")
    counts = [None] * len(names) if sizes is None else [int(n) for n in sizes]
    method = _check_resample(resample)
    geo = map_grid_geometry(maps.shape[0], maps.shape[1:], scale, columns, title)

    image = Image.new("RGB", geo.size, _WHITE)
    draw = ImageDraw.Draw(image)
    font = _font(geo.font_size)
    if title and geo.title_box is not None:
        x0, y0, x1, y1 = geo.title_box
        title_font = _font(geo.font_size + 4)
        text = _fit(title, title_font, geo.size[0] - 2 * x0)
        draw.text(((x0 + x1) / 2, (y0 + y1) / 2), text, fill=_TEXT, font=title_font, anchor="mm")
    for map2d, name, count, tile_box, label_box in zip(
        maps, names, counts, geo.tile_boxes, geo.label_boxes, strict=True
    ):
        x0, y0, x1, y1 = tile_box
        tile = _map_tile(map2d, vmax, (x1 - x0, y1 - y0), method)
        image.paste(tile, (x0, y0), mask=tile)  # alpha 0 outside the hull: white shows through
        lx0, ly0, lx1, ly1 = label_box
        text = fit_label(name, count, lx1 - lx0, font.getlength)
        draw.text(((lx0 + lx1) / 2, (ly0 + ly1) / 2), text, fill=_TEXT, font=font, anchor="mm")

    # Shared colour bar: one gradient column per pixel, black outline and three ticks.
    bx0, by0, bx1, by1 = geo.colourbar_box
    gradient = to_rgb(np.linspace(-vmax, vmax, bx1 - bx0), vmax)
    image.paste(Image.fromarray(np.repeat(gradient[None], by1 - by0, axis=0)), (bx0, by0))
    draw.rectangle((bx0, by0, bx1 - 1, by1 - 1), outline=_TEXT)
    tick = max(2, scale * 2)
    ticks = ((bx0, -vmax, "la"), ((bx0 + bx1 - 1) // 2, 0.0, "ma"), (bx1 - 1, vmax, "ra"))
    for x, value, anchor in ticks:
        draw.line((x, by1, x, by1 + tick), fill=_TEXT)
        draw.text((x, by1 + tick + 1), _format_tick(value), fill=_TEXT, font=font, anchor=anchor)
    return image


def save_map_grid(
    path: str | PathLike[str],
    maps: np.ndarray,
    names: list[str],
    vmax: float,
    scale: int = 2,
    columns: int | None = None,
    title: str | None = None,
    resample: str = "nearest",
    sizes: Sequence[int] | None = None,
) -> Path:
    """Render with :func:`render_map_grid` and write a PNG; returns the path written."""
    image = render_map_grid(maps, names, vmax, scale, columns, title, resample, sizes)
    path = Path(path)
    image.save(path, format="PNG")
    return path


def render_single_map(
    map2d: np.ndarray, vmax: float, size: int = 400, resample: str = "nearest"
) -> Image.Image:
    """One map as a transparent-background image, e.g. for the dashboard.

    Parameters
    ----------
    map2d : ndarray of shape (height, width)
        One interpolated map, NaN outside the hull.
    vmax : float
        Colour limit (> 0).
    size : int, default=400
        Length of the longer side of the output in pixels.
    resample : {"nearest", "bilinear"}, default="nearest"

    Returns
    -------
    PIL.Image.Image
        RGBA; alpha 0 outside the hull.
    """
    map2d = np.asarray(map2d, dtype=np.float64)
    if map2d.ndim != 2 or min(map2d.shape) < 1:
        raise TopomapError(f"map2d must have shape (height, width); got {map2d.shape}")
    size = _check_int(size, "size", 1)
    method = _check_resample(resample)
    height, width = map2d.shape
    longer = max(height, width)
    out = (max(1, round(width * size / longer)), max(1, round(height * size / longer)))
    return _map_tile(map2d, vmax, out, method)


def _outline(mask: np.ndarray, width: int = 2) -> np.ndarray:
    """The pixels of ``mask`` within ``width`` pixels of its edge (4-neighbour erosion)."""
    inner = mask
    for _ in range(width):
        padded = np.pad(inner, 1, constant_values=False)
        inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:] & inner
    return mask & ~inner


def render_regions(
    map2d: np.ndarray,
    vmax: float,
    labels: np.ndarray,
    regions: Sequence[dict],
    title: str = "",
    size: int = 400,
) -> Image.Image:
    """One map with its regions outlined and numbered, as the dashboard's regions panel
    draws them: a solid outline for a strongly positive region, a dashed one for a strongly
    negative region.

    Parameters
    ----------
    map2d : ndarray of shape (R, R)
        The map, NaN outside the hull (white), row 0 at the top.
    vmax : float
        Its colour limit.
    labels : ndarray of shape (R, R), int
        0 outside the regions, else the region's ``index``.
    regions : sequence of dict
        :meth:`~topomap_core.profiles.regions.Region.to_dict` of each (``index``, ``sign``,
        ``centre`` in layout coordinates).
    title : str, optional
        One line above the map.
    size : int, default=400
        Side of the map in pixels (a whole multiple of R is sharpest).

    Returns
    -------
    PIL.Image.Image
        RGB on white: the title band, then the map.
    """
    map2d = np.asarray(map2d, dtype=np.float64)
    labels = np.asarray(labels)
    if map2d.ndim != 2 or labels.shape != map2d.shape:
        raise TopomapError(
            f"map2d and labels must be (R, R) of one shape; got {map2d.shape} and {labels.shape}"
        )
    size = _check_int(size, "size", 8)
    font = _font(14)
    band = _text_height(font) + 10 if title else 0
    image = Image.new("RGB", (size, size + band), _WHITE)
    tile = render_single_map(map2d, vmax, size)
    image.paste(tile, (0, band), mask=tile)
    # Region labels enlarged like the map (nearest), so outlines follow its pixels.
    rows = (np.arange(size) * labels.shape[0] // size)[:, None]
    cols = (np.arange(size) * labels.shape[1] // size)[None, :]
    big = labels[rows, cols]
    pixels = np.asarray(image).copy()
    yy, xx = np.mgrid[0:size, 0:size]
    for region in regions:
        edge = _outline(big == region["index"])
        if region["sign"] < 0:
            edge &= (xx + yy) // 6 % 2 == 0  # dashed, as the dashboard's negative outline
        pixels[band:][edge] = _TEXT
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    if title:
        text = _fit(title, font, size - 8)
        draw.text((size / 2, band / 2), text, fill=_TEXT, font=font, anchor="mm")
    for region in regions:
        x, y = region["centre"]
        at = (float(x) * (size - 1), band + (1.0 - float(y)) * (size - 1))
        # A white rim keeps the number legible on red and blue alike.
        number = str(region["index"])
        draw.text(at, number, _TEXT, _font(16), anchor="mm", stroke_width=2, stroke_fill=_WHITE)
    return image
