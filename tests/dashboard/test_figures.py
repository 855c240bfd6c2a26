"""Figure builders of layouts/figures/maps.py on a real small MapResult (no browser)."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import plotly.graph_objects as go
import pytest

from layouts.figures import maps as figures
from topomap_core.analyses.view import ViewRequest
from topomap_core.jobs.registry import JOBS
from topomap_core.jobs.results import get_or_compute
from topomap_core.profiles.interpolate import BWR_STOPS
from topomap_core.store import Store

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def result(demo_dir, tmp_path_factory):
    """The demo MLP's dense layer, 30 examples per digit, PCA layout (computed once)."""
    store = Store(tmp_path_factory.mktemp("figures-store"))
    request = ViewRequest(model="demo:digits-mlp", per_group=30, method="PCA")
    return get_or_compute(JOBS["view"], request, store)[0]


def _heatmaps(fig: go.Figure) -> list:
    return [t for t in fig.data if t.type == "heatmap"]


def test_colorscale_comes_from_the_library_stops():
    assert [pos for pos, _ in figures.COLORSCALE] == [pos for pos, _ in BWR_STOPS]
    assert figures.COLORSCALE[0][1] == "rgb(0,0,255)"
    assert figures.COLORSCALE[-1][1] == "rgb(255,0,0)"


def test_maps_figure_has_one_heatmap_per_group_with_shared_colour_axis(result):
    fig = figures.maps_figure(result)
    names = result.order.names
    heatmaps = _heatmaps(fig)
    assert len(heatmaps) == len(names) == 10
    # Heatmaps come first, in dendrogram order: a click's curveNumber is the group index.
    assert [t.name for t in fig.data[: len(names)]] == names
    assert {t.coloraxis for t in heatmaps} == {"coloraxis"}
    assert fig.layout.coloraxis.cmin == pytest.approx(-result.vmax)
    assert fig.layout.coloraxis.cmax == pytest.approx(result.vmax)
    assert [c[0] for c in fig.layout.coloraxis.colorscale] == [0.0, 0.5, 1.0]
    # Titles are the group names with their sizes; maps keep NaN (transparent) outside the hull.
    assert [a.text for a in fig.layout.annotations[: len(names)]] == [f"{n} (n=30)" for n in names]
    for k, trace in enumerate(heatmaps):
        z = np.asarray(trace.z, dtype=float)
        assert z.shape == result.maps[k].shape
        assert np.isnan(z).any()
        np.testing.assert_allclose(z[::-1], result.maps[k], rtol=1e-6, equal_nan=True)


def test_maps_figure_axes_are_hidden_and_square(result):
    fig = figures.maps_figure(result)
    n = len(result.order.names)
    rows, cols = figures.grid_shape(n)
    assert (rows, cols) == (3, 4)
    for k in range(n):
        suffix = "" if k == 0 else str(k + 1)
        xaxis, yaxis = fig.layout["xaxis" + suffix], fig.layout["yaxis" + suffix]
        assert xaxis.visible is False and yaxis.visible is False
        assert yaxis.scaleanchor == "x" + suffix
        assert yaxis.scaleratio == 1


def test_selected_group_is_highlighted(result):
    names = result.order.names
    chosen = names[3]
    fig = figures.maps_figure(result, selected=chosen)
    titles = [a.text for a in fig.layout.annotations[: len(names)]]
    assert titles[3] == f"<b>{chosen} (n=30)</b>"
    assert titles[:3] + titles[4:] == [f"{n} (n=30)" for n in names[:3] + names[4:]]
    assert len(fig.layout.shapes) == 1
    assert fig.layout.shapes[0].xref == "x4 domain"


def test_marked_neuron_adds_a_ring_on_every_map(result):
    n_groups = len(result.order.names)
    neuron = 17
    fig = figures.maps_figure(result, marked=neuron)
    rings = [t for t in fig.data if t.type == "scatter"]
    assert len(rings) == n_groups
    x, y = result.layout[neuron]
    for k, ring in enumerate(rings):
        assert ring.x == (x,) and ring.y == (y,)
        assert ring.marker.symbol == "circle-open"
        assert ring.customdata == (k,)
        # Each ring sits on its own map's axes.
        assert ring.xaxis == ("x" if k == 0 else f"x{k + 1}")
    for bad in (None, -1, len(result.layout), "x"):
        assert len(figures.maps_figure(result, marked=bad).data) == n_groups


def test_dendrogram_leaves_are_the_groups_in_map_order(result):
    fig = figures.dendrogram_figure(result, selected=result.order.names[0])
    names = result.order.names
    assert list(fig.layout.xaxis.tickvals) == list(range(len(names)))
    assert fig.layout.xaxis.ticktext[0] == f"<b>{names[0]}</b>"
    assert list(fig.layout.xaxis.ticktext[1:]) == names[1:]
    xs = [v for v in fig.data[0].x if v is not None]
    assert min(xs) == 0 and max(xs) == len(names) - 1
    # One "U" (4 points and a break) per merge.
    assert len(fig.data[0].x) == 5 * (len(names) - 1)


def test_scatter_has_every_neuron_coloured_by_the_selected_group(result):
    names = result.order.names
    n_neurons = result.layout.shape[0]
    fig = figures.scatter_figure(result, selected=names[2])
    points = fig.data[0]
    assert len(points.x) == n_neurons == 128
    np.testing.assert_allclose(points.marker.color, result.values[2])
    assert points.marker.coloraxis == "coloraxis"
    assert fig.layout.coloraxis.cmax == pytest.approx(result.vmax)
    assert points.text[5] == f"neuron 5: {result.values[2][5]:.4g}"
    assert list(points.customdata) == list(range(n_neurons))
    assert len(figures.scatter_figure(result, names[2], marked=5).data) == 2
    # An unknown group falls back to the first one.
    np.testing.assert_allclose(
        figures.scatter_figure(result, "nope").data[0].marker.color, result.values[0]
    )


def test_selected_map_shows_the_map_and_faint_neurons(result):
    names = result.order.names
    fig = figures.selected_map_figure(result, selected=names[1], marked=3)
    heat, dots, ring = fig.data
    np.testing.assert_allclose(
        np.asarray(heat.z, dtype=float)[::-1], result.maps[1], rtol=1e-6, equal_nan=True
    )
    assert len(dots.x) == result.layout.shape[0]
    assert ring.x == (result.layout[3][0],)
    assert fig.layout.coloraxis.cmin == pytest.approx(-result.vmax)


def test_clicks_map_to_groups_and_neurons(result):
    names = result.order.names
    assert figures.clicked_group({"points": [{"curveNumber": 4}]}, names) == names[4]
    ring_click = {"points": [{"curveNumber": 12, "customdata": 2}]}
    assert figures.clicked_group(ring_click, names) == names[2]
    assert figures.clicked_group(None, names) is None
    assert figures.clicked_group({"points": []}, names) is None
    assert figures.clicked_neuron({"points": [{"customdata": 9}]}, 128) == 9
    assert figures.clicked_neuron({"points": [{"curveNumber": 0, "z": 0.1}]}, 128) is None
    assert figures.clicked_neuron({"points": [{"customdata": 500}]}, 128) is None


def test_metrics_rows_show_quality_timings_and_sizes(result):
    rows = figures.metrics_rows(result)
    labels = {label: value for _, label, value in rows}
    assert labels["Groups"] == "10"
    assert labels["Neurons"] == "128"
    for key in ("mse_blur_auc", "mse_resize_auc", "n_components", "mean_component_size"):
        assert figures.METRIC_LABELS[key] in labels
    assert "total" in labels
    assert all(isinstance(v, str) for _, _, v in rows)


def test_svg_export_is_vectors_with_one_group_of_paths_per_map(result):
    """Issue 12 item 27: the maps were PNG images wrapped in SVG; now rectangles of the
    quantised colours, whose area matches the map's (the hull, not the square)."""
    text = figures.maps_svg(result, title="dense <PCA> & co")
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == SVG + "svg"
    assert root.findall(f".//{SVG}image") == []
    groups = [g for g in root.iter(SVG + "g") if g.get("class") == "map"]
    assert [g.get("data-group") for g in groups] == result.order.names
    first = groups[0].findall(SVG + "path")
    assert 1 < len(first) <= figures.SVG_LEVELS
    # Every pixel inside the hull is one rectangle's worth of "h" runs: count covered pixels.
    res = result.maps.shape[-1]
    cell = 200 / res
    widths = [float(w) for p in first for w in re.findall(r"h(\d+\.\d+)", p.get("d"))]
    assert round(sum(widths) / cell) == int(np.isfinite(result.maps[0]).sum())
    texts = [t.text for t in root.iter(SVG + "text")]
    assert "dense <PCA> & co" in texts  # escaped in the file, intact once parsed
    # Issue 20 item 17: titled with the group's size, as on the page and in the PNG.
    titles = {f"{n} (n={k})" for n, k in zip(result.order.names, result.sizes, strict=True)}
    assert titles <= set(texts)
    # The colour bar is vector: a gradient with the library's stops and three tick labels.
    stops = root.findall(f"{SVG}defs/{SVG}linearGradient/{SVG}stop")
    assert [float(s.get("offset")) for s in stops] == [pos for pos, _ in BWR_STOPS]
    assert f"{result.vmax:+.3g}" in texts and "0" in texts


def test_grid_shape_is_about_square():
    assert figures.grid_shape(1) == (1, 1)
    assert figures.grid_shape(2) == (1, 2)
    assert figures.grid_shape(20) == (4, 5)
    for n in range(1, 30):
        rows, cols = figures.grid_shape(n)
        assert rows * cols >= n and cols == math.ceil(math.sqrt(n))


def test_empty_figure_says_why():
    fig = go.Figure(figures.blank_figure("No maps yet"))  # Plotly accepts it as it is
    assert fig.layout.annotations[0].text == "No maps yet"
    assert len(fig.data) == 0 and fig.layout.height == 300


def test_thousands_of_neurons_leave_the_large_map_visible():
    """The dots over the selected map fade as the layer grows (16384 dots cover the disc)."""
    alphas = [figures._dot_alpha(n) for n in (128, 1000, 4000, 16384)]
    assert alphas[0] == alphas[1] == 0.28 and alphas[1] > alphas[2] > alphas[3] >= 0.02


def test_group_sizes_in_titles_and_hovers_and_dead_neurons_marked(result):
    """Issue 12 items 25 and 29: every map's title and hover says how many examples it
    averages; dead neurons (9 of 128 in the demo MLP's dense layer) are crosses in the
    scatter and say so in their hover, and the page gets a note counting them."""
    sizes = dict(zip(result.nap.group_names, result.nap.group_sizes, strict=True))
    name = result.order.names[0]
    fig = figures.maps_figure(result)
    assert fig.data[0].hovertemplate.startswith(f"{name} (n={sizes[name]}): ")
    large = figures.selected_map_figure(result, name)
    assert f"(n={sizes[name]})" in large.layout.title.text
    assert large.data[0].hovertemplate.startswith(f"{name} (n={sizes[name]}): ")
    scatter = figures.scatter_figure(result, name)
    assert f"(n={sizes[name]})" in scatter.layout.title.text
    dead = result.nap.dead_neurons
    assert len(dead) > 0
    symbols = np.asarray(scatter.data[0].marker.symbol)
    np.testing.assert_array_equal(np.flatnonzero(symbols == "x"), dead)
    assert "dead" in scatter.data[0].text[dead[0]]
    assert any(
        f"{len(dead)} of {result.nap.n_neurons} neurons are dead" in t for _, t in result.notes()
    )


def test_the_page_layout_holds_plain_figure_dicts(tmp_path):
    """Every page load builds the whole layout (``/_dash-layout``); its ~18 placeholder
    figures are plain dicts, because building them as Plotly objects made a page load cost
    0.3 s of a web worker and the 20-client load test ran out of time (CI, 3 pages/s)."""
    from dash import dcc

    from app import TABS
    from layouts import page

    graphs = []

    def walk(node) -> None:
        if isinstance(node, dcc.Graph):
            graphs.append(node)
        children = getattr(node, "children", None)
        for child in children if isinstance(children, list | tuple) else [children]:
            if child is not None and not isinstance(child, str | int | float):
                walk(child)

    walk(page.build(tmp_path, [tab.pane for tab in TABS]))
    assert len(graphs) >= 15
    assert all(isinstance(g.figure, dict) for g in graphs), [
        g.id for g in graphs if not isinstance(g.figure, dict)
    ]


def _svg_raster(text: str, res: int, tile: float = 200) -> list[np.ndarray]:
    """Each ``<g class="map">`` of an SVG export filled into a ``res x res`` RGB array (white
    where no rectangle lies), read back from its paths' ``M x y h w v h h -w z`` runs (in the
    map's own coordinates, 0 to ``tile``)."""
    root = ET.fromstring(text.encode("utf-8"))
    run = re.compile(r"M([\d.]+) ([\d.]+)h([\d.]+)v([\d.]+)h-[\d.]+z")
    rasters = []
    for group in (g for g in root.iter(SVG + "g") if g.get("class") == "map"):
        runs = []
        for path in group.iter(SVG + "path"):
            colour = [int(c) for c in re.findall(r"\d+", path.get("fill"))]
            runs += [(colour, *map(float, m)) for m in run.findall(path.get("d"))]
        image = np.full((res, res, 3), 255, dtype=np.int64)
        cell = tile / res
        for colour, x, y, w, _ in runs:
            row, col = round(y / cell), round(x / cell)
            image[row, col : col + round(w / cell)] = colour
        rasters.append(image)
    return rasters


def test_svg_export_is_drawn_the_same_way_up_as_the_png_export(result):
    """Issue 20 item 1: the SVG's maps were upside down against the PNG and the page. Both
    exports are rendered and compared pixel by pixel (the SVG's 64 colour levels allow a
    small difference; the flipped maps differ by far more)."""
    import base64
    import io

    from PIL import Image

    from callbacks.export import export_file
    from layouts.ids import ID
    from topomap_core.profiles.render import map_grid_geometry

    res = result.maps.shape[-1]
    png = export_file(ID.EXPORT_PNG, result)
    image = np.asarray(Image.open(io.BytesIO(base64.b64decode(png["content"]))).convert("RGB"))
    svg = _svg_raster(export_file(ID.EXPORT_SVG, result)["content"], res)
    boxes = map_grid_geometry(len(result.order.names), (res, res), 2, title="t").tile_boxes
    assert len(svg) == len(boxes) == len(result.order.names)
    for k, (x0, y0, x1, y1) in enumerate(boxes):
        tile = image[y0:y1:2, x0:x1:2].astype(np.int64)  # scale 2 -> one pixel per value
        same = np.abs(tile - svg[k]).mean()
        flipped = np.abs(tile - svg[k][::-1]).mean()
        assert same < 2.0, (k, same, flipped)
        assert flipped > 3 * same + 2, (k, same, flipped)
