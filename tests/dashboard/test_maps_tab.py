"""Callback bodies as plain functions, and a smoke test of the assembled app (no browser)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from app import TABS
from callbacks import common, export, jobs, maps, uploads, url
from layouts.controls import DEFAULTS
from layouts.ids import ID
from topomap_core.analyses.view import ViewRequest
from topomap_core.errors import Cancelled, TopomapError
from topomap_core.jobs.registry import JOBS
from topomap_core.jobs.results import get_or_compute, job_key
from topomap_core.store import Store

FAST = {**DEFAULTS, "per_group": 30, "method": "PCA"}
del FAST["profile"], FAST["metric"]  # not controls of the page


def no_compute(*args):
    raise AssertionError("a job was started")


def run_job(values, data_dir, set_progress=None, compute=None):
    """The Maps tab's Run job (``compute``: instead of a job process)."""
    return jobs.run_job(maps.JOB, values, data_dir, set_progress, compute)


def cached_result(values, data_dir, warnings=None):
    return jobs.cached_job(maps.JOB, values, data_dir, warnings)


def view_key(data_dir, request):
    return job_key(JOBS["view"], request, Store(data_dir))


def upload_model(content: bytes, name: str, current, data_dir) -> uploads.Upload:
    """An upload as the page makes it: the route stores the bytes (streamed), then the upload
    zone's callback describes and selects the model."""
    answer, _ = uploads.receive("model", io.BytesIO(content), name, data_dir)
    return uploads.upload_model(answer, current, data_dir)


def upload_data(content: bytes, name: str, current, data_dir) -> uploads.Upload:
    answer, _ = uploads.receive("data", io.BytesIO(content), name, data_dir)
    return uploads.upload_data(answer, current, data_dir)


def jobs_logged(data_dir: Path) -> list[str]:
    log = Path(data_dir) / jobs.JOBS_LOG
    return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def data_dir(demo_dir, tmp_path):
    """A fresh store per test; demo models come from the session's demo dir."""
    folder = tmp_path / "store"
    folder.mkdir()
    return folder


@pytest.fixture(scope="module")
def computed(demo_dir, tmp_path_factory):
    """A store holding the FAST view of the demo, and that view's result."""
    folder = tmp_path_factory.mktemp("computed-store")
    result, _ = get_or_compute(JOBS["view"], ViewRequest(**FAST), Store(folder))
    return folder, result


# ------------------------------------------------------------------------------ models


def test_upload_valid_model_stores_it_and_lists_layers(data_dir, seq_with_input, save_model):
    content = save_model(seq_with_input, name="tiny").read_bytes()
    outcome = upload_model(content, "tiny.keras", "demo:digits-mlp", data_dir)
    assert outcome.ok, outcome.message
    ref = outcome.value
    assert ref != "demo:digits-mlp" and len(ref) == 64
    assert Store(data_dir).list_models()[0]["id"] == ref
    labels = {o["value"]: o["label"] for o in outcome.options}
    assert labels[ref] == f"tiny.keras ({ref[:8]})"
    assert {"demo:digits-mlp", "demo:digits-cnn"} <= set(labels)
    assert outcome.layers is not None
    assert [o["value"] for o in outcome.layers.options] == ["hidden", "out"]
    assert outcome.layers.options[0]["label"] == "hidden — Dense 4 (4 neurons)"
    assert outcome.layers.options[1]["disabled"] is True  # 2 neurons cannot be mapped
    assert outcome.layers.value == "hidden"
    # Selecting it (what the dropdown callback does) gives the same layers.
    choice = common.list_layers(ref, "dense", data_dir)
    assert choice.options == outcome.layers.options
    assert choice.value == "hidden"
    assert choice.message == (
        "tiny.keras: 2 layers. Showing hidden (4 neurons): the Dense/Conv layer nearest the "
        "output with at least 3 neurons (none has 16)."
    )
    # A layer asked for by name (e.g. in a link) that the model lacks is mentioned.
    choice = common.list_layers(ref, "conv9", data_dir)
    assert choice.value == "hidden"
    assert "Layer 'conv9' is not in this model; showing 'hidden'" in choice.message
    # Issue 12 item 22: shown as a warning, not in the green of success.
    assert choice.warning and choice.ok
    assert common.message(choice.message, choice.ok, choice.warning).className == "msg-warning"
    assert not common.list_layers(ref, "hidden", data_dir).warning


def test_upload_random_bytes_keeps_the_previous_selection(data_dir):
    junk = np.random.default_rng(0).bytes(3000)
    outcome = upload_model(junk, "model.keras", "demo:digits-cnn", data_dir)
    assert not outcome.ok
    assert outcome.value == "demo:digits-cnn"
    assert outcome.message.startswith("model.keras refused:")
    assert Store(data_dir).list_models() == []
    # The message names the user's file, never the store's hash-named copy.
    digest = hashlib.sha256(junk).hexdigest()
    assert digest not in outcome.message


def test_upload_lambda_model_is_refused_with_the_reason(data_dir, save_model):
    import keras

    inp = keras.Input((4,))
    out = keras.layers.Lambda(lambda x: x * 2, name="lambda")(inp)
    path = save_model(keras.Model(inp, out), name="lam")
    outcome = upload_model(path.read_bytes(), "lam.keras", "demo:x", data_dir)
    assert not outcome.ok
    assert outcome.value == "demo:x"
    assert "lam.keras refused:" in outcome.message
    assert "lambda" in outcome.message.lower()


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("not an answer", "The upload's answer could not be read; upload it again."),
        ({"ok": False, "name": "m.keras", "message": "m.keras refused: why"}, "m.keras refused"),
        ({"ok": True, "name": "m.keras", "ref": "../../etc"}, "m.keras could not be uploaded."),
        ({"ok": True, "name": "m.keras", "ref": "ab" * 32}, "m.keras is not stored (any more)"),
    ],
    ids=["not-a-dict", "refused", "bad-ref", "not-stored"],
)
def test_an_unusable_answer_of_the_upload_route_gives_a_message(data_dir, answer, expected):
    # The page hands the route's answer to the callback: a forged or stale one is input too.
    outcome = uploads.upload_model(answer, "demo:digits-mlp", data_dir)
    assert not outcome.ok and outcome.value == "demo:digits-mlp"
    assert outcome.message.startswith(expected), outcome.message


def test_layers_of_an_unloadable_model_give_a_message(data_dir):
    choice = common.list_layers("ab" * 32, None, data_dir)
    assert choice.options == [] and choice.value is None and not choice.ok
    assert "could not be loaded" in choice.message
    assert not common.list_layers(None, None, data_dir).ok


def test_demo_layers_default_to_dense(data_dir):
    choice = common.list_layers("demo:digits-mlp", None, data_dir)
    assert choice.value == "dense"
    assert [o["value"] for o in choice.options] == ["flatten", "dense", "dropout", "output"]


def test_default_layer_prefers_a_hidden_dense_or_conv_layer():
    def layer(name, cls, n):
        return {"name": name, "class": cls, "output_shape": [n], "neurons": n}

    cnn = [
        layer("conv1", "Conv2D", 128),
        layer("dropout1", "SpatialDropout2D", 128),
        layer("conv2", "Conv2D", 128),
        layer("flatten", "Flatten", 512),
        layer("output", "Dense", 10),
    ]
    assert common.default_layer(cnn) == "conv2"
    assert common.default_layer(cnn, "conv1") == "conv1"
    assert common.default_layer(cnn, "gone") == "conv2"
    assert common.default_layer([layer("a", "Dense", 2), layer("b", "Dense", 2)]) == "a"
    assert common.default_layer([]) is None
    # Issue 12 item 26: the last hidden Dense/Conv layer, not the middle one.
    deep = [*cnn[:3], layer("conv3", "Conv2D", 64), layer("hidden", "Dense", 32), cnn[-1]]
    assert common.default_layer(deep) == "hidden"


def test_another_model_gets_its_own_default_layer_not_the_old_name():
    """Issue 12 item 26: after an upload (or choosing another model) the old model's layer
    name was kept when the new model had one like it (Keras names the first Dense ``dense``);
    a link's layer, or the one shown when another control changed, is still kept."""
    sources = [ID.MODEL_SELECT]
    assert common.wanted_layer(ID.MODEL_SELECT, sources, None, "dense") is None
    assert common.wanted_layer(ID.MODEL_SELECT, sources, "conv2", "dense") == "conv2"
    assert common.wanted_layer(ID.TABS, sources, None, "dense") == "dense"


# -------------------------------------------------------------------------------- data


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_data_that_does_not_fit_says_so_at_once(data_dir):
    content = _npz(x=np.zeros((20, 5, 5, 1), np.float32), y=np.arange(20) % 2)
    outcome = upload_data(content, "small.npz", "demo:digits", data_dir)
    assert outcome.ok and outcome.value != "demo:digits"
    text, ok = maps.check_data("demo:digits-mlp", outcome.value, "label", data_dir)
    assert not ok
    assert "data examples have shape (5, 5, 1) but the model expects (8, 8, 1)" in text.lower()


def test_demo_data_fits_the_demo_model(data_dir):
    text, ok = maps.check_data("demo:digits-mlp", "demo:digits", "label", data_dir)
    assert ok
    assert text.startswith("540 examples, 10 classes")
    text, ok = maps.check_data("demo:digits-mlp", "demo:digits", "column", data_dir)
    assert not ok and "no 'groups' column" in text


def test_bad_data_upload_keeps_the_previous_selection(data_dir):
    outcome = upload_data(b"hello", "notes.txt", "demo:digits", data_dir)
    assert not outcome.ok and outcome.value == "demo:digits"
    assert outcome.message.startswith("notes.txt refused:")


# --------------------------------------------------------------------------------- run


def test_progress_text_and_throttle():
    from topomap_core.progress import Throttle, progress_text

    assert progress_text("activations", 3, 12) == "activations: batch 3/12"
    assert progress_text("PSO", 400, 1000) == "PSO: step 400/1000"
    assert progress_text("UMAP", 1, 1) == "UMAP: 1/1"
    now = [0.0]
    seen = []
    relay = Throttle(jobs.relay(seen.append), rate=4, clock=lambda: now[0])
    for step in range(1, 100):  # 99 PSO steps within 0.99 s
        now[0] = step / 100
        relay("PSO", step, 100)
    relay("metrics", 1, 1)  # a new stage always shows
    assert 3 <= len(seen) <= 6
    assert seen[0] == (1, 100, "PSO: step 1/100")
    assert seen[-1] == (1, 1, "metrics: 1/1")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (Cancelled("PSO cancelled at 3/10"), "Cancelled."),
        (TopomapError("layer 'x' is not in the model"), "Run failed: Layer 'x' is not in"),
        (RuntimeError("boom\nTraceback (most recent call last): ..."), "Run failed: Something"),
        (MemoryError(), "Run failed: Something went wrong (MemoryError"),
    ],
)
def test_failing_job_returns_a_readable_status(data_dir, error, expected):
    def compute(job, request, folder, progress):
        progress("activations", 1, 2)
        raise error

    progress = []
    result, status = run_job(FAST, data_dir, progress.append, compute=compute)
    assert result is None
    assert status.startswith(expected)
    assert "Traceback" not in status
    assert progress[-1] == (1, 2, "activations: batch 1/2")
    assert len(jobs_logged(data_dir)) == 1  # real computation was started


def test_invalid_controls_fail_before_any_job(data_dir):
    result, status = run_job({**FAST, "seed": -3}, data_dir, compute=no_compute)
    assert result is None
    assert status == "Run failed: Seed -3 (must be between 0 and 4294967295)"
    assert jobs_logged(data_dir) == []


def test_job_in_the_worker_reports_a_bad_layer_readably(data_dir):
    result, status = run_job({**FAST, "layer": "nope"}, data_dir)
    assert result is None
    assert status.startswith("Run failed: ")
    assert "nope" in status and "Traceback" not in status


def test_job_in_the_worker_computes_then_serves_from_cache(data_dir):
    progress = []
    values = {**FAST, "seed": 1}
    result, status = run_job(values, data_dir, progress.append)
    assert status.startswith("Done in "), status
    assert "10 groups, 128 neurons" in status
    request = ViewRequest(**values)
    assert result == {
        "request": dataclasses.asdict(request),
        "key": view_key(data_dir, request),
    }
    assert any(text.startswith("activations: batch") for _, _, text in progress)
    logged = jobs_logged(data_dir)
    assert len(logged) == 1
    stamp, key, method = logged[0].split()
    assert key == "view:" + result["key"] and method == "PCA" and stamp.startswith("20")
    # Run again: the cached view comes back at once and no job is logged.
    again, status = run_job(values, data_dir, compute=no_compute)
    assert again == result and status == "Loaded the stored result."
    assert len(jobs_logged(data_dir)) == 1


def test_cached_view_on_load_needs_no_job(computed):
    folder, expected = computed
    result, status = cached_result(FAST, folder, ["Ignored unknown method 'foo' in the link"])
    assert result is not None
    assert result["key"] == view_key(folder, expected.request)
    assert status.splitlines() == [
        "Ignored unknown method 'foo' in the link",
        "Showing the stored result for these settings.",
    ]
    assert jobs_logged(folder) == []
    result, status = cached_result({**FAST, "seed": 99}, folder)
    assert result is None and status == jobs.NOT_COMPUTED
    result, status = cached_result({**FAST, "layer": None}, folder)
    assert result is None and "Choose a layer" in status
    assert jobs_logged(folder) == []


# ------------------------------------------------------------------------------- views


def test_views_without_a_result_are_placeholders(data_dir):
    shown = maps.build_views(data_dir, None, None, None)
    assert "press Run" in shown.maps.layout.annotations[0].text
    assert shown.config["displayModeBar"] is False  # item 26: no toolbar on empty panels
    gone = {"request": {**FAST}, "key": "x"}
    shown = maps.build_views(data_dir, gone, None, None)
    assert "press Run again" in shown.maps.layout.annotations[0].text
    # While a run goes, and after it failed, the empty panel says so (not "No maps yet").
    for status, expected in [
        ("Running…", "Computing the maps"),
        ("Run failed: Unknown layer 'x'", "the run failed"),
        ("Cancelled.", "cancelled"),
    ]:
        text = maps.build_views(data_dir, None, None, None, status).maps.layout.annotations[0].text
        assert expected in text and "No maps yet" not in text, (status, text)


def test_views_select_and_mark(computed):
    folder, result = computed
    stored, _ = cached_result(FAST, folder)
    names = result.order.names
    shown = maps.build_views(folder, stored, names[2], 7)
    assert len([t for t in shown.maps.data if t.type == "heatmap"]) == len(names)
    assert f"<b>{names[2]} (n=" in shown.scatter.layout.title.text
    assert "displayModeBar" not in shown.config  # a result: the toolbar is there
    # Item 26: the toolbar stands upright at the right; the title starts at the left.
    assert shown.scatter.layout.modebar.orientation == "v"
    assert shown.scatter.layout.title.xanchor == "left"
    # Item 22: a group the maps lack (a link's group=) is a warning, the first group shown.
    bad = maps.build_views(folder, stored, "nope", None)
    assert bad.notes[0].className == "msg-warning" and "No group 'nope'" in bad.notes[0].children
    assert f"<b>{names[0]} (n=" in bad.scatter.layout.title.text
    # The result's notes are shown above the maps (dead neurons of the demo's dense layer).
    notes = result.notes(scatter=True)  # issue 20 item 17: the page has the scatter
    assert [p.className for p in shown.notes] == [f"msg-{lvl}" for lvl, _ in notes]
    assert any("marked × in the scatter" in p.children for p in shown.notes)
    assert maps.select_group({"points": [{"curveNumber": 5}]}, folder, stored) == names[5]
    click = {"points": [{"customdata": 7}]}
    assert maps.mark_neuron(click, None, folder, stored) == 7
    assert maps.mark_neuron(click, 7, folder, stored) is None  # click again to unmark
    from dash.exceptions import PreventUpdate

    with pytest.raises(PreventUpdate):
        maps.mark_neuron({"points": [{"curveNumber": 0}]}, None, folder, stored)


# ------------------------------------------------------------------------------ export


def test_exports(computed):
    folder, result = computed
    stored, _ = cached_result(FAST, folder)
    png = export.download(ID.EXPORT_PNG, folder, stored)
    # Issue 12 item 27: model, data, grouping and a short content id in every name.
    stem = f"topomaps_digits-mlp_digits_dense_label_PCA_{stored['key'][:8]}"
    assert png["filename"] == stem + ".png" and png["base64"] is True
    assert base64.b64decode(png["content"]).startswith(b"\x89PNG\r\n\x1a\n")
    # Issue 20 item 17: the PNG's titles carry the group sizes, as the page's ("3 (n=30)").
    from PIL import Image

    from topomap_core.profiles.render import render_map_grid

    drawn = Image.open(io.BytesIO(base64.b64decode(png["content"]))).convert("RGB")
    title = "dense - PCA"
    args = (result.maps, result.order.names, result.vmax)
    assert drawn.tobytes() == render_map_grid(*args, title=title, sizes=result.sizes).tobytes()
    assert drawn.tobytes() != render_map_grid(*args, title=title).tobytes()
    svg = export.download(ID.EXPORT_SVG, folder, stored)
    assert svg["filename"] == stem + ".svg"
    assert "<image" not in svg["content"]  # vectors, not a PNG wrapped in SVG
    assert svg["content"].count('<g class="map"') == len(result.order.names)
    layout = export.download(ID.EXPORT_LAYOUT_CSV, folder, stored)
    assert layout["filename"] == stem + "_layout.csv"
    assert layout["content"].splitlines()[0] == "neuron,x,y"
    assert len(layout["content"].splitlines()) == 1 + 128
    nap = export.download(ID.EXPORT_NAP_CSV, folder, stored)
    assert nap["content"].splitlines()[1].split(",")[0] == result.order.names[0]
    summary = json.loads(export.download(ID.EXPORT_SUMMARY, folder, stored)["content"])
    assert summary["method"] == "PCA" and summary["groups"] == result.order.names
    from dash.exceptions import PreventUpdate

    with pytest.raises(PreventUpdate):
        export.download(ID.EXPORT_PNG, folder, None)


def test_file_names_are_safe(computed):
    _, result = computed
    nested = dataclasses.replace(
        result.request, layer="backbone/conv 2", groups="label+correctness", random_groups=2
    )
    stem = export.file_stem(
        dataclasses.replace(result, request=nested), "ab12cd34ef", "my model.keras"
    )
    assert stem == "topomaps_my_model_digits_backbone_conv_2_label_correctness_2random_PCA_ab12cd34"


# --------------------------------------------------------------------------------- url


def test_link_round_trip_through_the_url_callbacks(data_dir):
    search = url.to_query({**FAST, "seed": 5, "group": "3"}, TABS)
    link = url.share_link("http://h:1/?old=1", search)
    assert link == "http://h:1/" + search
    parsed = url.read_link(link, TABS, data_dir)
    assert parsed.warnings == []
    assert {k: parsed.values[k] for k in (*FAST, "group")} == {**FAST, "seed": 5, "group": "3"}
    parsed = url.read_link("http://h:1/?method=foo&model=../../x", TABS, data_dir)
    assert parsed.values["method"] == "UMAP_PSO" and parsed.values["model"] == "demo:digits-mlp"
    assert any("Ignored unknown method 'foo' in the link" in w for w in parsed.warnings)


# ------------------------------------------------------------------------------- smoke


def test_app_builds_and_serves_the_page(demo_dir, tmp_path):
    from app import create_app

    app = create_app(tmp_path / "app-data")
    assert (tmp_path / "app-data" / "dash-jobs").is_dir()
    client = app.server.test_client()
    assert client.get("/").status_code == 200
    layout = client.get("/_dash-layout")
    assert layout.status_code == 200
    text = layout.get_data(as_text=True)
    from layouts.bias import BiasIds
    from layouts.compare import CompareIds
    from layouts.overview import OverviewIds
    from layouts.topographic import TopoIds
    from layouts.train_topographic import TrainIds
    from layouts.training import TrainingIds

    for cid in (*ID, *TrainingIds, *CompareIds, *OverviewIds, *BiasIds, *TopoIds, *TrainIds):
        assert f'"{cid}"' in text, cid
    deps = client.get("/_dash-dependencies").get_json()
    background = [d for d in deps if d.get("background")]
    # The jobs: the Maps Run, the Training Run and its exports, Compare, Mapper, Overview, Bias,
    # Topographic, its Train tab, Evaluate and the regions panel's Find examples.
    triggers = sorted(f"{d['inputs'][0]['id']}.{d['inputs'][0]['property']}" for d in background)
    assert triggers == [
        "bias-run.n_clicks",
        "compare-run.n_clicks",
        "evaluate-run.n_clicks",
        "mapper-run.n_clicks",
        "overview-run.n_clicks",
        "regions-run.n_clicks",
        "run-button.n_clicks",
        "topo-run.n_clicks",
        "topotrain-run.n_clicks",
        "train-export-gif.n_clicks",
        "train-run.n_clicks",
    ]
    assert json.loads(json.dumps(layout.get_json()))  # plain JSON, nothing exotic


def test_the_data_check_warns_about_raw_pixels_and_the_preprocess_control_fixes_it(data_dir):
    """Issue 19: 8-bit pixels fed to a model trained on [0, 1] got no word; the sidebar's
    Preprocess (2 Data) is part of the request and of its key."""
    from topomap_core.io.data import digits_split

    _, _, x, y = digits_split()
    content = _npz(x=np.round(x * 255).astype(np.uint8), y=y)
    outcome = upload_data(content, "digits-8bit.npz", "demo:digits", data_dir)
    check = maps.check_data("demo:digits-cnn", outcome.value, "label", data_dir)
    assert check.ok and check.warning and "raw pixel values" in check.text
    fixed = maps.check_data("demo:digits-cnn", outcome.value, "label", data_dir, "unit")
    assert fixed.ok and not fixed.warning and "preprocess unit (x/255)" in fixed.text
    values = {**FAST, "model": "demo:digits-cnn", "data": outcome.value, "layer": "conv2"}
    _, request = maps.view_request({**values, "preprocess": "unit"})
    assert request.preprocess == "unit" and request.resize == "none"
    _, plain = maps.view_request({**values, "preprocess": ""})  # a cleared field: auto
    assert plain.preprocess == "auto"
    assert view_key(data_dir, request) != view_key(data_dir, plain)
    with pytest.raises(TopomapError, match="Preprocess 'imagenet'"):
        maps.view_request({**values, "preprocess": "imagenet"})
    # Every tab that feeds the sidebar's data to a model makes its request with them.
    from callbacks import mapper, overview, train_topographic

    for inputs in (maps.SHARED_INPUTS, mapper.INPUTS, overview.INPUTS, train_topographic.INPUTS):
        names = [name for name, _ in inputs]
        assert "preprocess" in names and "resize" in names


def test_a_keras2_upload_says_it_was_converted_and_why_its_layer_was_chosen(data_dir, tmp_path):
    import zoo

    path = zoo.keras2_h5(zoo.mini_xception(), tmp_path / "fer2013_mini_XCEPTION.h5")
    outcome = upload_model(path.read_bytes(), path.name, None, data_dir)
    assert outcome.ok, outcome.message
    choice = outcome.layers
    assert choice.value == "conv2d_6"
    assert "Showing conv2d_6 (128 neurons): the Dense/Conv layer nearest the output" in (
        choice.message
    )
    assert "Converted from Keras 2: dropped SeparableConv2D groups=1 in 8 layers; " in (
        choice.message
    )
