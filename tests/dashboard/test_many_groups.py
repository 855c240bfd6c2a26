"""A view of many groups in the Maps tab (issue 20 item 9): the page sends and holds a page of
maps at a time, never all of them.

One real view of 100 groups (a 16 -> 64 -> 10 model, ``.npz`` data whose ``groups`` column
makes 100 groups of four) is computed once; the tests read it back as the page does.
"""

from __future__ import annotations

import base64
import io
import pickle
from dataclasses import asdict

import keras
import numpy as np
import plotly.io as pio
import pytest

import topomap_core.store as store_module
from callbacks import export, maps
from layouts.ids import ID
from topomap_core.analyses.view import ViewRequest
from topomap_core.analyses.view_pages import MAPS_PAGE, PagedMaps
from topomap_core.jobs.registry import JOBS
from topomap_core.jobs.results import get_or_compute
from topomap_core.store import Store

GROUPS = 100


def _view(folder, groups: list[str]):
    """``(result-store data, the whole result)`` of a view whose ``groups`` column names
    four examples per group (a 16 -> 64 -> 10 model)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((16,)),
            keras.layers.Dense(64, activation="tanh", name="hidden"),
            keras.layers.Dense(10, activation="softmax", name="out"),
        ]
    )
    model.save(folder / "model.keras")
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    np.savez(
        buf,
        x=rng.normal(size=(4 * len(groups), 16)).astype(np.float32),
        y=rng.integers(0, 10, 4 * len(groups)),
        groups=np.array(groups * 4),
    )
    store = Store(folder)
    request = ViewRequest(
        model=store.add_model((folder / "model.keras").read_bytes(), "model.keras"),
        data=store.add_data(buf.getvalue(), "groups.npz"),
        layer="hidden",
        groups="column",
        method="PCA",
    )
    result, key = get_or_compute(JOBS["view"], request, store)
    assert len(result.order.names) == len(groups)
    return {"request": asdict(request), "key": key}, result


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """``(folder, result-store data, the whole result)`` of a 100-group view."""
    folder = tmp_path_factory.mktemp("many-groups")
    return folder, *_view(folder, [f"g{i:03d}" for i in range(GROUPS)])


class _Reads:
    """Every cache read of the page's callbacks, and its pickled size (the real cache)."""

    def __init__(self, monkeypatch):
        self.keys: list[str] = []
        self.bytes = 0
        real = store_module.Store.cache
        reads = self

        class Counting:
            def __init__(self, cache):
                self._cache = cache

            def get(self, key, default=None):
                value = self._cache.get(key, default)
                reads.keys.append(key)
                reads.bytes += len(pickle.dumps(value)) if value is not None else 0
                return value

            def __contains__(self, key):
                return key in self._cache

            def __getattr__(self, name):
                return getattr(self._cache, name)

        monkeypatch.setattr(store_module.Store, "cache", property(lambda s: Counting(real.fget(s))))


def test_the_page_sends_one_page_of_maps_and_reads_no_more(many, monkeypatch):
    """A 1000-group view was a 60 MB figure built in 9 s from the whole 88 MB result in every
    request; now one page of maps (36) travels, read from its own cache entry."""
    folder, data, result = many
    reads = _Reads(monkeypatch)
    names = result.order.names
    views = maps.build_views(folder, data, names[80], None, page=2)
    heatmaps = [t for t in views.maps.data if t.type == "heatmap"]
    assert len(heatmaps) == GROUPS - 2 * MAPS_PAGE  # the last page: maps 73-100
    assert [t.name for t in heatmaps] == names[2 * MAPS_PAGE :]
    np.testing.assert_array_equal(heatmaps[0].z[::-1], result.maps[2 * MAPS_PAGE])
    # What one view of the page costs: a page of maps in the response, and in the cache
    # reads the light view (no maps) and that page (which holds the selected group's map
    # too), never the whole result.
    body = len(pio.to_json(views.maps, validate=False))
    assert body < MAPS_PAGE * 60_000, body
    assert data["key"] not in reads.keys
    page_bytes = MAPS_PAGE * 100 * 100 * 4
    assert reads.bytes < page_bytes + 500_000 < len(pickle.dumps(result)), reads.bytes
    # The dendrogram shades the page's leaves and names them in hovers (too many to write).
    (shade,) = views.dendrogram.layout.shapes
    assert (shade.x0, shade.x1) == (2 * MAPS_PAGE - 0.5, GROUPS - 0.5)
    assert list(views.dendrogram.layout.xaxis.tickvals) == []
    assert list(views.dendrogram.data[1].text) == names


def test_clicks_pages_and_exports_follow_the_page_shown(many):
    folder, data, result = many
    names = result.order.names
    click = {"points": [{"curveNumber": 3}]}
    assert maps.select_group(click, folder, data, page=1) == names[MAPS_PAGE + 3]
    # A new result opens on the selected group's page; a group chosen elsewhere (a link)
    # turns to its page; the page a user chose stays while the group is not changed.
    pages = maps.pages_view(folder, data, names[80], 0, new_result=True)
    assert [o["value"] for o in pages.options] == [0, 1, 2] and pages.value == 2
    assert pages.options[1]["label"] == f"Maps 37–72 of 100 ({names[36]} … {names[71]})"
    assert pages.style == {}  # shown: more than one page
    assert maps.pages_view(folder, data, names[5], 1, new_result=False).value == 0
    assert maps.pages_view(folder, data, names[40], 1, new_result=False).value is maps.no_update
    # The pictures hold the page shown, and say so; the tables hold every group.
    png = export.download(ID.EXPORT_PNG, folder, data, page=1)
    assert png["filename"].endswith("_maps37-72.png")
    from PIL import Image

    from topomap_core.profiles.render import map_grid_geometry

    image = Image.open(io.BytesIO(base64.b64decode(png["content"])))
    geometry = map_grid_geometry(MAPS_PAGE, (100, 100), title="x")
    assert image.size == geometry.size
    svg = export.download(ID.EXPORT_SVG, folder, data, page=1)["content"]
    assert svg.count('<g class="map"') == MAPS_PAGE and f'data-group="{names[36]}"' in svg
    nap = export.download(ID.EXPORT_NAP_CSV, folder, data, page=1)["content"]
    assert len(nap.splitlines()) == 1 + GROUPS


def test_paged_maps_read_as_the_whole_maps(many):
    folder, data, result = many
    view = maps.result_from_store(folder, data)
    assert isinstance(view.maps, PagedMaps) and view.maps.shape == result.maps.shape
    np.testing.assert_array_equal(view.maps[40], result.maps[40])
    np.testing.assert_array_equal(view.maps[-1], result.maps[-1])
    np.testing.assert_array_equal(view.maps[30:40], result.maps[30:40])
    np.testing.assert_array_equal(np.asarray(view.maps), result.maps)
    with pytest.raises(IndexError):
        view.maps[GROUPS]


def test_a_result_stored_before_views_were_published_is_published_when_read(many, tmp_path):
    """Results stored by the previous version have no light view: the first read publishes
    it from the whole result, later reads find it."""
    _, data, result = many
    store = Store(tmp_path)
    store.cache.set(data["key"], result)  # as an older version left it
    job = JOBS["view"]
    assert not job.is_published(data["key"], store.cache)
    view = job.view(data["key"], store.cache)
    assert isinstance(view.maps, PagedMaps) and job.is_published(data["key"], store.cache)
    np.testing.assert_array_equal(view.maps[99], result.maps[99])
    assert job.view("no-such-key", store.cache) is None


#: Fashion-MNIST's classes, correct and wrong: 22 long group names.
FASHION = [
    f"{name}:{kind}"
    for name in ("t_shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                 "sneaker", "bag", "ankle_boot", "ankle_boot_low")
    for kind in ("correct", "wrong")
]  # fmt: skip


def test_titles_of_22_groups_fit_their_maps(tmp_path):
    """Issue 20 item 17: with 22 groups the titles ran into each other and off the figure
    ("eaker:correct (n=200)ankle_boot:wrong"). Each title line, measured in DejaVu Sans (the
    browser's font for the page's sans-serif here), fits its map's width; the count stays,
    the full name is in the hover."""
    from PIL import ImageFont

    from layouts.figures.maps import GRID_WIDTH_PX, maps_figure

    data, result = _view(tmp_path, FASHION)
    fig = maps_figure(result)
    heatmaps = [t for t in fig.data if t.type == "heatmap"]
    names, sizes = result.order.names, result.sizes
    font = ImageFont.truetype("DejaVuSans.ttf", fig.layout.annotations[0].font.size)
    for k, (annotation, heatmap) in enumerate(zip(fig.layout.annotations, heatmaps, strict=True)):
        axis = fig.layout[heatmap.xaxis.replace("x", "xaxis")]
        room = (axis.domain[1] - axis.domain[0]) * GRID_WIDTH_PX
        lines = annotation.text.split("<br>")
        assert all(font.getlength(line) <= room for line in lines), (annotation.text, room)
        assert lines[-1].endswith(f"(n={sizes[k]})")
        assert heatmap.hovertemplate.startswith(f"{names[k]} (n={sizes[k]}): ")
    assert any("<br>" in a.text for a in fig.layout.annotations)  # long names take two lines
    assert fig.layout.margin.t >= 2 * 1.25 * fig.layout.annotations[0].font.size
