"""Mapper graphs of activations (TopoAct): cover, planted shapes, purity with depth, the job,
the command line's outputs, bad parameters and the all-noise graph."""

from __future__ import annotations

import json

import numpy as np
import pytest

from topomap_core.analyses.mapper import MapperJob, MapperRequest, layer_graph
from topomap_core.cli import main
from topomap_core.errors import TopomapError
from topomap_core.shape.mapper import (
    cover_intervals,
    fitted_cover,
    lens_values,
    mapper_graph,
    mean_purity,
)


def planted_cloud(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A noisy circle (a loop) off the origin and a blob far from it; labels 0 and 1."""
    rng = np.random.RandomState(seed)
    t = np.linspace(0, 2 * np.pi, 300, endpoint=False)
    circle = np.c_[10 + 4 * np.cos(t), 4 * np.sin(t)] + rng.normal(0, 0.05, (300, 2))
    blob = np.c_[0, 20] + rng.normal(0, 0.3, (100, 2))
    return np.r_[circle, blob], np.r_[np.zeros(300, int), np.ones(100, int)]


@pytest.mark.parametrize("dims", [1, 2])
def test_cover_spans_exactly_the_data(dims):
    lens = np.random.RandomState(dims).uniform(-3, 5, size=(200, dims))
    cover = fitted_cover(lens, 7, 0.4)
    lower, upper = cover_intervals(cover)
    span = lens.max(axis=0) - lens.min(axis=0)
    # The ends meet the data's extremes (kmapper's own cover reaches past them)...
    assert np.allclose(lower.min(axis=0), lens.min(axis=0), atol=1e-6 * span)
    assert np.allclose(upper.max(axis=0), lens.max(axis=0), atol=1e-6 * span)
    # ... every point lies in some cube, and neighbouring intervals overlap by 40%.
    inside = np.all((lens[:, None] >= lower[None]) & (lens[:, None] <= upper[None]), axis=2)
    assert inside.any(axis=1).all()
    first = np.unique(lower[:, 0])
    length = upper[0, 0] - lower[0, 0]
    assert np.isclose((length - (first[1] - first[0])) / length, 0.4)


def test_planted_loop_and_cluster_give_two_components_and_a_cycle():
    x, labels = planted_cloud()
    graph = mapper_graph(x, lens_values(x, "l2norm"), intervals=10, overlap=0.5, eps=0.5)
    assert graph.topology() == {"n_components": 2, "n_cycles": 1}
    # The blob's nodes hold only blob points, the loop's only loop points.
    assert mean_purity(graph, labels)["majority"] == 1.0
    links = {tuple(pair) for pair in graph.links.tolist()}
    for (a, b), shared, jac in zip(graph.links, graph.shared, graph.jaccard, strict=True):
        common = np.intersect1d(graph.members[a], graph.members[b]).size
        union = np.union1d(graph.members[a], graph.members[b]).size
        assert shared == common > 0 and np.isclose(jac, common / union)
    assert all(a < b for a, b in links)
    assert graph.positions.shape == (graph.n_nodes, 2)
    assert graph.positions.min() >= 0 and graph.positions.max() <= 1


def test_last_hidden_layer_is_purer_than_the_input(digits_cnn):
    from topomap_core.io.sources import load_data

    data = load_data("demo:digits")
    pixels = data.x.reshape(len(data.x), -1)
    before = mean_purity(mapper_graph(pixels, lens_values(pixels, "l2norm")), data.y)
    request = MapperRequest(layer="flatten")
    graph = layer_graph(digits_cnn, data, "flatten", request, np.arange(len(data.x)))["graph"]
    after = mean_purity(graph, data.y)
    # docs/ALGORITHMS.md reports both (0.85 -> 0.94 majority share, 0.76 -> 0.89 distinct).
    assert after["majority"] > before["majority"] + 0.05
    assert after["distinct"] > before["distinct"] + 0.08


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"intervals": 1}, "Intervals 1 (must be between 2 and 100)"),
        ({"overlap": 0.95}, "Overlap 0.95 (must be between 0.05 and 0.9)"),
        ({"lens": "tsne"}, "Unknown lens 'tsne' (use one of l2norm, pca, umap)"),
        ({"min_samples": 0}, "Min samples 0 (must be between 1 and 1000)"),
        ({"max_examples": 10**6}, "Examples 1000000 (must be between 10 and 50000)"),
    ],
)
def test_bad_parameters_are_named(values, message):
    with pytest.raises(TopomapError) as info:
        MapperJob().validate({"layer": "dense", **values})
    assert str(info.value) == message


def test_two_dimensional_norm_lens_is_refused():
    with pytest.raises(TopomapError, match="lens 'l2norm' is one-dimensional"):
        lens_values(np.ones((5, 3)), "l2norm", 2)


def test_cli_bad_value_exits_2_with_one_line(capsys):
    code = main(["mapper", "--model", "demo:digits-cnn", "--data", "demo:digits", "--layer",
                 "conv2", "--overlap", "2", "--out", "unused"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Overlap 2.0 (must be between 0.05 and 0.9)" in err


@pytest.fixture(scope="module")
def tiny_inputs(tmp_path_factory):
    """A tiny untrained CNN (8x8x1 -> conv 6 -> dense 3) and 60 labelled examples."""
    import keras

    folder = tmp_path_factory.mktemp("mapper-inputs")
    keras.utils.set_random_seed(7)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(6, 3, activation="relu", name="conv"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(3, activation="softmax", name="out"),
        ]
    )
    model.save(folder / "model.keras")
    rng = np.random.RandomState(0)
    y = np.repeat(np.arange(3), 20)
    x = (rng.rand(60, 8, 8, 1) * 0.3 + y[:, None, None, None] * 0.35).astype(np.float32)
    np.savez(folder / "data.npz", x=x, y=y, label_names=np.array(["a", "b", "c"]))
    return folder


def test_cli_writes_node_link_graph_and_picture(capsys, tiny_inputs, tmp_path):
    out = tmp_path / "out"
    code = main([
        "mapper", "--model", str(tiny_inputs / "model.keras"), "--data",
        str(tiny_inputs / "data.npz"), "--layer", "conv", "--pooling", "random",
        "--intervals", "4", "--max-examples", "50", "--out", str(out), "--quiet",
    ])  # fmt: skip
    stdout, err = capsys.readouterr()
    assert code == 0, err
    graph = json.loads((out / "graph.json").read_text())
    assert graph["graph"]["layer"] == "conv" and graph["graph"]["pooling"] == "random"
    assert graph["nodes"], stdout
    seen = set()
    for node in graph["nodes"]:
        assert node["id"].startswith("cube") and node["size"] == len(node["members"])
        assert sum(node["class_counts"].values()) == node["size"]
        assert set(node["class_counts"]) <= {"a", "b", "c"}
        seen.update(node["members"])
    assert seen <= set(range(60)) and len(seen) <= 50  # indices into the data as loaded
    ids = {node["id"] for node in graph["nodes"]}
    assert all({link["source"], link["target"]} <= ids for link in graph["links"])
    assert (out / "graph.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "nodes" in stdout and "mean node purity" in stdout
    # Issue 20 item 17: under the graph, a legend of the class colours (a, b, c).
    from PIL import Image

    from topomap_core.shape.render import class_colour

    picture = np.asarray(Image.open(out / "graph.png").convert("RGB"))
    assert picture.shape[0] > 800 + 30  # the legend's band under the 800 px graph
    band = picture[830:]
    for i in range(3):
        rgb = [int(class_colour(i)[k : k + 2], 16) for k in (1, 3, 5)]
        assert (band == rgb).all(axis=-1).sum() >= 100, class_colour(i)  # a filled swatch


def test_all_noise_graph_is_reported(capsys, tiny_inputs, tmp_path):
    out = tmp_path / "out"
    code = main(["mapper", "--model", str(tiny_inputs / "model.keras"), "--data",
                 str(tiny_inputs / "data.npz"), "--layer", "flat", "--eps", "1e-9",
                 "--min-samples", "3", "--out", str(out), "--quiet"])  # fmt: skip
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert "Empty graph for layer 'flat': all 60 examples are noise" in stdout
    assert json.loads((out / "graph.json").read_text())["nodes"] == []
    from PIL import Image

    picture = np.asarray(Image.open(out / "graph.png").convert("L"))
    assert (picture < 200).sum() > 100  # the sentence is drawn, not a blank picture


def test_a_node_used_as_group_gives_a_map_of_exactly_its_examples(tiny_inputs, tmp_path):
    from topomap_core.jobs.registry import get_job
    from topomap_core.jobs.results import get_or_compute, job_key
    from topomap_core.store import Store

    store = Store(tmp_path / "store")
    model = store.add_model((tiny_inputs / "model.keras").read_bytes(), "tiny.keras")
    data = store.add_data((tiny_inputs / "data.npz").read_bytes(), "tiny.npz")
    mapper = get_job("mapper")
    request = mapper.validate({"model": model, "data": data, "layer": "flat", "intervals": 4})
    result, _ = get_or_compute(mapper, request, store)
    node = max(range(result.graphs[0].n_nodes), key=lambda i: result.graphs[0].members[i].size)
    members = result.graphs[0].members[node]
    assert 3 <= members.size < 60  # a node, not the whole data

    name = f"node {result.graphs[0].node_ids[node]}"
    selection = store.add_selection(members.tolist(), name)
    assert store.add_selection(list(reversed(members.tolist())), name) == selection
    assert store.list_selections() == [{"id": selection, "name": name, "size": members.size}]
    view = get_job("view")
    values = {"model": model, "data": data, "layer": "flat", "method": "PCA", "per_group": 5}
    plain = view.validate(values)
    grouped = view.validate({**values, "selection": selection})
    assert job_key(view, grouped, store) != job_key(view, plain, store)
    maps, _ = get_or_compute(view, grouped, store)
    sizes = dict(zip(maps.nap.group_names, maps.nap.group_sizes, strict=True))
    # Exactly the node's examples, although the classes are sampled down to 5.
    assert sizes[name] == members.size and sizes["a"] == 5
    assert np.array_equal(maps.nap.members[name], members)
    assert name in maps.order.names and maps.maps.shape[0] == len(maps.order.names)


@pytest.mark.parametrize(
    ("indices", "name", "match"),
    [
        ([], "x", "selection 'x' has no examples"),
        ([1, -2], "x", "selection index '-2' \\(not a whole number 0 or more\\)"),
        ([1], " x", "selection name ' x' \\(not a valid name\\)"),
    ],
)
def test_bad_selections_are_refused(tmp_path, indices, name, match):
    from topomap_core.store import Store

    with pytest.raises(TopomapError, match=match):
        Store(tmp_path).add_selection(indices, name)


def test_progress_reports_each_cube_and_can_cancel():
    from topomap_core.errors import Cancelled

    x, _ = planted_cloud()
    lens = lens_values(x, "l2norm")
    seen = []
    mapper_graph(x, lens, intervals=4, eps=0.5, progress=lambda *r: seen.append(r))
    assert ("clustering", 4, 4) in seen and seen[-1][0] == "layout"
    with pytest.raises(Cancelled):
        mapper_graph(x, lens, intervals=4, eps=0.5, progress=lambda s, d, t: s == "clustering")
