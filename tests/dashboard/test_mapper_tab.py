"""The Mapper tab's callback bodies as plain functions (no browser).

A tiny CNN and 60 labelled 8x8 images are uploaded once; graphs are computed in this process
(the job process path is the browser test's), then read back the way the page does.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from app import TABS
from callbacks import jobs, mapper, maps, url
from layouts.mapper import DEFAULTS
from topomap_core.jobs.registry import JOBS
from topomap_core.jobs.results import get_or_compute
from topomap_core.store import Store


def in_process(name, request, data_dir, progress):
    get_or_compute(JOBS[name], request, Store(data_dir), progress)


def no_compute(*args):
    raise AssertionError("a job was started")


@pytest.fixture(scope="module")
def tab(tmp_path_factory):
    """A data dir with the tiny model and data uploaded, and the tab's values for them."""
    import keras

    data_dir = tmp_path_factory.mktemp("mapper-tab")
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(6, 3, activation="relu", name="conv"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(3, activation="softmax", name="out"),
        ]
    )
    model.save(data_dir / "m.keras")
    rng = np.random.RandomState(0)
    y = np.repeat(np.arange(3), 20)
    x = (rng.rand(60, 8, 8, 1) * 0.3 + y[:, None, None, None] * 0.35).astype(np.float32)
    np.savez(data_dir / "d.npz", x=x, y=y, label_names=np.array(["a", "b", "c"]))
    store = Store(data_dir)
    values = {
        **DEFAULTS,  # what the page's controls hold on a plain load
        "model": store.add_model((data_dir / "m.keras").read_bytes(), "m.keras"),
        "data": store.add_data((data_dir / "d.npz").read_bytes(), "d.npz"),
        "seed": 0,
        "layer": "flat",
        "compare_layer": "conv",
        "intervals": 4,
        "lens": "pca",
    }
    data, status = jobs.run_job(mapper.JOB, values, data_dir, compute=in_process)
    assert data is not None, status
    return data_dir, values, data


def test_run_shows_both_layers_and_a_change_reads_the_stored_graph(tab):
    data_dir, values, data = tab
    _, status = jobs.run_job(mapper.JOB, values, data_dir, compute=no_compute)
    assert status.startswith("Loaded the stored graph.")
    assert "\nflat: " in status and "\nconv: " in status and "nodes" in status
    again, shown = jobs.cached_job(mapper.JOB, values, data_dir)
    assert again == data and shown.startswith("Showing the stored graph")
    _, missing = jobs.cached_job(mapper.JOB, {**values, "intervals": 5}, data_dir)
    assert missing == jobs.NOT_COMPUTED


def test_bad_values_get_a_message_in_the_page(tab):
    data_dir, values, _ = tab
    _, status = jobs.run_job(mapper.JOB, {**values, "overlap": 5}, data_dir, compute=no_compute)
    assert status == "Run failed: Overlap 5.0 (must be between 0.05 and 0.9)"
    _, status = jobs.cached_job(mapper.JOB, {**values, "lens_dims": 3}, data_dir)
    assert status == "Lens dimensions 3 (must be between 1 and 2)."


def test_graphs_are_svg_side_by_side_with_one_colouring(tab):
    data_dir, values, data = tab
    a, b, style, text = mapper.graph_figures(data_dir, data, "class", None, None, None, None)
    result = mapper.result_from_store(data_dir, data)
    for fig, graph in zip((a, b), result.graphs, strict=True):
        assert all(type(trace) is go.Scatter for trace in fig.data)  # no WebGL (CSP)
        nodes = fig.data[-1]
        assert len(nodes.x) == graph.n_nodes and "examples" in nodes.hovertext[0]
    assert style == {} and text == ""
    wrong, *_ = mapper.graph_figures(data_dir, data, "correctness", None, None, None, None)
    assert wrong.data[-1].marker.cmax == 1 and len(wrong.data[-1].marker.color) == len(a.data[-1].x)


def test_search_highlights_a_class_or_an_example(tab):
    data_dir, _, data = tab
    result = mapper.result_from_store(data_dir, data)
    nodes, text = mapper.search_nodes(result, 0, "B")
    graph = result.graphs[0]
    expected = {i for i, m in enumerate(graph.members) if (result.labels[m] == 1).any()}
    assert nodes == expected and text == f"Class b: {len(expected)} nodes hold it."
    example = int(graph.members[0][0])
    nodes, text = mapper.search_nodes(result, 0, f"#{example}")
    assert 0 in nodes and text.startswith(f"Example #{example} is in ")
    nodes, text = mapper.search_nodes(result, 0, "zebra")
    assert nodes == set() and text == "No class 'zebra' (classes: a, b, c); an example is #12."
    found, _ = mapper.search_nodes(result, 0, f"#{example}")
    fig, *_ = mapper.graph_figures(data_dir, data, "class", f"#{example}", None, None, None)
    opacity = np.asarray(fig.data[-1].marker.opacity)
    assert opacity[0] == 1 and (opacity < 1).sum() == graph.n_nodes - len(found)


def test_all_noise_graph_is_reported_not_blank(tab):
    data_dir, values, _ = tab
    noisy = {**values, "eps": 1e-9, "min_samples": 3, "compare_layer": None}
    data, status = jobs.run_job(mapper.JOB, noisy, data_dir, compute=in_process)
    assert "Empty graph for layer 'flat': all 60 examples are noise" in status
    fig, *_ = mapper.graph_figures(data_dir, data, "class", None, None, None, None)
    assert "all 60 examples are noise" in fig.layout.annotations[0].text


def test_selected_nodes_show_their_examples_and_become_a_maps_group(tab):
    data_dir, values, data = tab
    result = mapper.result_from_store(data_dir, data)
    graph = result.graphs[0]
    picked = mapper.select(None, data["key"], 0, [0], toggle=True)
    picked = mapper.select(picked, data["key"], 0, [1], toggle=True)
    picked = mapper.select(picked, data["key"], 0, [1], toggle=True)  # a second click drops it
    assert picked["nodes"] == [0]
    panel = mapper.node_panel(data_dir, data, picked)
    assert panel[0].children.startswith(f"1 node of flat ({graph.node_ids[0]}): ")
    images = [item.children[0] for item in panel[1].children]
    assert len(images) == min(graph.members[0].size, mapper.SHOWN_EXAMPLES)
    assert all(img.src.startswith("data:image/png;base64,") for img in images)

    selection, name = mapper.use_as_group(data_dir, data, picked, "")
    assert name == f"node {graph.node_ids[0]} (flat)"
    maps_values = {
        "model": values["model"], "data": values["data"], "layer": "flat", "groups": "label",
        "random_groups": 0, "per_group": 5, "method": "PCA", "seed": 0, "selection": selection,
        "nap": "mean", "nap_class": "true",
    }  # fmt: skip
    maps_data, status = jobs.run_job(maps.JOB, maps_values, data_dir, compute=in_process)
    assert maps_data is not None, status
    view = maps.result_from_store(data_dir, maps_data)
    sizes = dict(zip(view.nap.group_names, view.nap.group_sizes, strict=True))
    assert sizes[name] == graph.members[0].size
    # The maps' selected group lights up the nodes holding its examples, node 0 among them.
    nodes, text = mapper.group_nodes(result, 0, data_dir, maps_data, name)
    assert 0 in nodes and text.startswith(f"Maps group {name!r} ({graph.members[0].size} ")
    with pytest.raises(Exception, match="Select one or more nodes first"):
        mapper.use_as_group(data_dir, data, None, "x")


def test_links_carry_the_tab_and_the_custom_group(tab):
    data_dir, values, _ = tab
    selection = Store(data_dir).add_selection([1, 2, 3], "three")
    query = "?tab=mapper&mapper_layer=conv&lens=umap&intervals=12&eps=0.5"
    parsed = url.parse_query(f"{query}&selection={selection}", TABS, {"selection": {selection}})
    assert parsed.warnings == []
    assert parsed.values["mapper_layer"] == "conv" and parsed.values["lens"] == "umap"
    assert parsed.values["intervals"] == 12 and parsed.values["eps"] == 0.5
    assert parsed.values["selection"] == selection
    assert f"selection={selection}" in url.to_query(parsed.values, TABS)
    bad = url.parse_query("?tab=mapper&overlap=3&selection=" + "0" * 64, TABS, {"selection": set()})
    assert bad.warnings == [
        "Ignored overlap 3.0 (must be between 0.05 and 0.9) in the link; using 0.5",
        "Ignored selection 000000000000... (not stored on this server: upload it again) in the "
        "link",
    ]


def test_class_colours_have_a_legend_in_the_tab(tab):
    """Issue 20 item 17: nodes were coloured by class with nothing saying which colour is
    which class; the legend lists the data's classes in their colours (read-only), and the
    other colourings, which have colour bars, have none."""
    from topomap_core.shape.render import class_colour

    data_dir, _, data = tab
    fig, *_ = mapper.graph_figures(data_dir, data, "class", None, None, None, None)
    result = mapper.result_from_store(data_dir, data)
    legend = [t for t in fig.data if t.showlegend]
    names = [result.label_name(c) for c in result.classes()]
    assert [t.name for t in legend] == names[:10]
    assert [t.marker.color for t in legend] == [class_colour(i) for i in range(len(legend))]
    assert fig.layout.showlegend and fig.layout.legend.itemclick is False
    assert fig.data[-1].name == "nodes"  # clicks and lassos still read the last trace
    wrong, *_ = mapper.graph_figures(data_dir, data, "correctness", None, None, None, None)
    assert not wrong.layout.showlegend and not any(t.showlegend for t in wrong.data)
