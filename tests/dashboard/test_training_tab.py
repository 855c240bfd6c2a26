"""The Training and Compare tabs' callback bodies as plain functions (no browser).

One tiny checkpoint series (three ``.keras`` states of an 8x8 -> 6 -> 10 MLP) is uploaded and
computed once by a real job process (the training job); the tests then read it back
the way the page does: from the cache, without a job.
"""

from __future__ import annotations

import base64
import io
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pytest
from dash.exceptions import PreventUpdate

from app import TABS
from callbacks import compare, compare_view, jobs, training, uploads, url
from callbacks.jobs import JOBS_LOG, NOT_COMPUTED
from callbacks.maps import LINKS as MAPS_LINKS
from layouts.training import TrainingIds, checkpoint_options
from topomap_core.analyses.describe import DescribeRequest
from topomap_core.analyses.training_maps import frame_key
from topomap_core.errors import TopomapError
from topomap_core.jobs import worker
from topomap_core.jobs.registry import JOBS
from topomap_core.jobs.results import get_or_compute
from topomap_core.store import Store

#: The sidebar's shared controls for a fast run: PCA, 20 examples per digit.
SHARED = {
    "data": "demo:digits",
    "groups": "label",
    "random_groups": 0,
    "per_group": 20,
    "method": "PCA",
    "seed": 0,
    "nap": "mean",
    "nap_class": "true",
}
STEPS = (1, 2, 10)  # ordered by number, not by name ("10" sorts before "2" as text)

MAPS_KEYS = [link.key for link in MAPS_LINKS]
_DEFAULTS = url.parse_query("", TABS).values
#: The Maps tab's values, and every other tab's, on a plain load.
DEFAULTS = {k: v for k, v in _DEFAULTS.items() if k in MAPS_KEYS and k != "group"}
TAB_DEFAULTS = {k: v for k, v in _DEFAULTS.items() if k not in MAPS_KEYS}


def _values(shared, tab):
    """The page's values for a job: the sidebar's shared controls and the tab's."""
    return {**shared, **tab, "layer": tab.get("train_layer")}


def run_training_job(shared, tab, data_dir, set_progress=None, compute=None):
    return jobs.run_job(training.JOB, _values(shared, tab), data_dir, set_progress, compute)


def cached_training_result(shared, tab, data_dir, warnings=None):
    return jobs.cached_job(training.JOB, _values(shared, tab), data_dir, warnings)


def run_compare_job(shared, tab, data_dir, compute=None):
    return jobs.run_job(compare.JOB, _values(shared, tab), data_dir, None, compute)


def cached_compare_result(shared, tab, data_dir, warnings=None):
    return jobs.cached_job(compare.JOB, _values(shared, tab), data_dir, warnings)


def no_compute(*args):
    raise AssertionError("a job was started")


@dataclass
class Parsed:
    values: dict
    tab: dict
    warnings: list


def parse_query(search, known_checkpoints=None):
    known = {} if known_checkpoints is None else {"checkpoints": known_checkpoints}
    return _split(url.parse_query(search, TABS, known))


def _split(parsed):
    values = {k: v for k, v in parsed.values.items() if k in MAPS_KEYS}
    tab = {k: v for k, v in parsed.values.items() if k not in MAPS_KEYS}
    return Parsed(values, tab, parsed.warnings)


def upload_series(content: bytes, name: str, current, data_dir):
    """An upload as the page makes it: the route stores the .zip (streamed), then the upload
    zone's callback inspects and selects it."""
    answer, _ = uploads.receive("checkpoints", io.BytesIO(content), name, data_dir)
    return training.upload_checkpoints(answer, current, data_dir)


def jobs_logged(data_dir: Path) -> list[str]:
    log = Path(data_dir) / JOBS_LOG
    return log.read_text().splitlines() if log.exists() else []


def _mlp(seed: int, hidden: int = 6) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(hidden, activation="relu", name="hidden"),
            keras.layers.Dense(10, activation="softmax", name="out"),
        ]
    )


@pytest.fixture(scope="module")
def series_zip(tmp_path_factory) -> bytes:
    """A .zip of three .keras states, ``state_1``, ``state_2``, ``state_10``."""
    folder = tmp_path_factory.mktemp("series")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for step in STEPS:
            path = folder / f"state_{step}.keras"
            _mlp(step).save(path)
            zf.write(path, path.name)
    return buf.getvalue()


@pytest.fixture(scope="module")
def trained(demo_dir, series_zip, tmp_path_factory):
    """A store with the series uploaded and its training maps computed by a real worker."""
    data_dir = tmp_path_factory.mktemp("training-store")
    upload = upload_series(series_zip, "run.zip", None, data_dir)
    assert upload.ok, upload.message
    tab = {**TAB_DEFAULTS, "tab": "training", "checkpoints": upload.value, "train_layer": "hidden"}
    progress: list[tuple[int, int, str]] = []
    data, status = run_training_job(SHARED, tab, data_dir, progress.append)
    assert data is not None, status
    return data_dir, tab, data, status, progress


# ------------------------------------------------------------------------------ upload, layers


def test_upload_lists_the_series_and_selects_it(trained):
    data_dir, tab, _, _, _ = trained
    ref = tab["checkpoints"]
    options = {
        o["value"]: o["label"] for o in checkpoint_options(Store(data_dir).list_checkpoints())
    }
    assert options[ref] == f"run.zip ({ref[:8]}, 3 states)"
    assert "demo:digits-mlp-training" in options


@pytest.mark.parametrize(
    ("members", "words"),
    [
        ({"notes.txt": b"x"}, "not a checkpoint"),
        ({"final.keras": b"x"}, "no number in its name"),
    ],
)
def test_refused_upload_keeps_the_selection(tmp_path, members, words):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    outcome = upload_series(buf.getvalue(), "bad.zip", "demo:digits-mlp-training", tmp_path)
    assert not outcome.ok and outcome.value == "demo:digits-mlp-training"
    assert outcome.message.startswith("bad.zip refused:") and words in outcome.message
    assert Store(tmp_path).list_checkpoints() == []


def test_layers_of_an_uploaded_series_come_from_a_worker(trained):
    data_dir, tab, _, _, _ = trained
    choice = training.series_layers(tab["checkpoints"], None, None, data_dir)
    assert not choice.needs_base
    assert [o["value"] for o in choice.layers.options] == ["flatten", "hidden", "out"]
    assert choice.layers.value == "hidden"
    assert choice.layers.message == "run.zip: 3 states, 3 layers."


def test_a_weights_series_asks_for_its_base_model(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for step in (1, 2):
            zf.writestr(f"batch_{step}.weights.h5", b"not read before a base model is chosen")
    upload = upload_series(buf.getvalue(), "w.zip", None, tmp_path)
    assert upload.ok, upload.message
    assert "2 .weights.h5 states; choose the base model" in upload.message
    choice = training.series_layers(upload.value, None, None, tmp_path)
    assert choice.needs_base and not choice.layers.ok
    assert "choose the base model" in choice.layers.message


# --------------------------------------------------------------------------------- run, cache


def test_the_job_computes_in_a_worker_then_serves_from_the_cache(trained):
    data_dir, tab, data, status, progress = trained
    assert status.startswith("Done in ") and "3 states, 10 groups, 6 neurons" in status
    assert any(text.startswith("NAPs: state") for _, _, text in progress)
    assert data["n"] == 3 and data["steps"] == list(STEPS)
    assert data["change"][0] is None and all(c > 0 for c in data["change"][1:])
    assert len(data["accuracy"]) == 3 and data["resolution"] == 100
    logged = jobs_logged(data_dir)
    assert len(logged) == 1 and logged[0].split()[1] == f"training:{data['key']}"
    # Run again, and open the same settings (a reload, a shared link): no job.
    again, status = run_training_job(SHARED, tab, data_dir, compute=no_compute)
    assert again == data and status.startswith("Loaded the stored result: 3 states")
    shown, status = cached_training_result(SHARED, tab, data_dir, ["a link warning"])
    assert shown == data
    assert status.splitlines() == [
        "a link warning",
        "Showing the stored result for these settings.",
    ]
    assert len(jobs_logged(data_dir)) == 1
    other, status = cached_training_result({**SHARED, "seed": 7}, tab, data_dir)
    assert other is None and status == NOT_COMPUTED
    assert len(jobs_logged(data_dir)) == 1


def test_bad_controls_fail_before_any_job(tmp_path):
    tab = {**TAB_DEFAULTS, "train_layer": None}
    result, status = run_training_job(SHARED, tab, tmp_path, compute=no_compute)
    assert result is None and status == "Run failed: Choose a layer"
    bad_base = {**TAB_DEFAULTS, "base_model": "../../etc/passwd"}
    with pytest.raises(TopomapError, match="nknown model"):
        training.training_request(_values(SHARED, bad_base))
    assert jobs_logged(tmp_path) == []


# ------------------------------------------------------------------------------------- url


def test_link_round_trip_with_the_state_index(trained):
    data_dir, tab, _, _, _ = trained
    values = {**DEFAULTS, "method": "PCA"}
    search = url.to_query({**values, **tab, "state": 2}, TABS)
    link = url.share_link("http://h:1/?x=1", search)
    assert "tab=training" in search and "state=2" in search
    assert f"checkpoints={tab['checkpoints']}" in search and "train_layer=hidden" in search
    assert "model_a" not in search  # only the open tab's keys
    parsed = _split(url.read_link(link, TABS, data_dir))
    assert parsed.warnings == []
    assert parsed.values == {**values, "group": None}
    assert parsed.tab == {**tab, "state": 2}
    # The Maps tab adds nothing: its links are what they always were.
    maps_only = url.to_query(values, TABS)
    assert url.to_query({**values, **tab, "tab": "maps"}, TABS) == maps_only
    assert url.to_query({**values, **TAB_DEFAULTS}, TABS) == maps_only
    old = _split(url.read_link("http://h:1/" + maps_only, TABS, data_dir))
    assert old.warnings == [] and old.values == {**values, "group": None}


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("state=-1", "Ignored state -1 (must be between 0 and "),
        ("state=abc", "Ignored state 'abc' (not a whole number)"),
        ("tab=plots", "Ignored unknown tab 'plots'"),
        ("checkpoints=../x.zip", "Ignored unknown checkpoints '../x.zip'"),
        ("compare=all", "Ignored unknown comparison 'all'"),
    ],
)
def test_bad_tab_values_in_a_link_fall_back_with_a_warning(query, words):
    parsed = parse_query(f"?{query}&tab=training")
    assert len(parsed.warnings) == 1 and parsed.warnings[0].startswith(words)
    key = query.split("=")[0]
    assert parsed.tab[key] == TAB_DEFAULTS[key]


def test_a_stored_id_unknown_here_is_ignored():
    parsed = parse_query("?checkpoints=" + "ab" * 32, known_checkpoints=set())
    assert parsed.tab["checkpoints"] == TAB_DEFAULTS["checkpoints"]
    assert "not stored on this server" in parsed.warnings[0]


def test_a_state_beyond_the_series_shows_the_last_with_a_warning(trained):
    data_dir, _, data, _, _ = trained
    shown = training.result_view(data_dir, data, wanted=50)
    assert shown.value == 2
    assert shown.warning == (
        "Ignored state 50 in the link (this series has states 0 to 2); showing the last state."
    )
    assert training.result_view(data_dir, data, wanted=1).value == 1
    assert training.result_view(data_dir, data, current=0).value == 0
    assert training.result_view(data_dir, data).value == 2  # default: the trained model


# ----------------------------------------------------------------------------------- views


def test_a_new_result_builds_the_figures_on_one_colour_scale(trained):
    data_dir, _, data, _, _ = trained
    shown = training.result_view(data_dir, data, wanted=0)
    heatmaps = [t for t in shown.maps.data if t.type == "heatmap"]
    assert len(heatmaps) == 10 and {t.coloraxis for t in heatmaps} == {"coloraxis"}
    axis = shown.maps.layout.coloraxis
    assert axis.cmin == -data["vmax"] and axis.cmax == data["vmax"]
    assert shown.max == 2 and shown.marks == {0: "0", 1: "1", 2: "2"}
    assert shown.label.startswith("state 0: state_1.keras")
    assert [t.y[0] for t in shown.change.data[1:2]] == [None]  # state 0 has no change


def test_a_slider_step_sends_only_that_states_maps(trained):
    data_dir, _, data, _, _ = trained
    result = Store(data_dir).cache.get(data["key"])
    t0 = time.perf_counter()
    maps, curve, label = training.state_view(data_dir, data, 1)
    seconds = time.perf_counter() - t0
    assert seconds < 0.5, f"a slider step took {seconds * 1000:.0f} ms"
    ops = maps.to_plotly_json()["operations"]
    zs = [op["params"]["value"] for op in ops if op["location"][-1] == "z"]
    assert len(zs) == 10 and all(z["dtype"] == "f4" for z in zs)
    decoded = np.frombuffer(base64.b64decode(zs[3]["bdata"]), np.float32).reshape(100, 100)
    np.testing.assert_array_equal(decoded[::-1], result.maps[1][3])
    assert label.startswith("state 1: state_2.keras")  # item 21: 0-based, as the slider
    assert any(op["location"][:2] == ["data", 1] for op in curve.to_plotly_json()["operations"])
    with pytest.raises(PreventUpdate):
        training.state_view(data_dir, data, 3)
    with pytest.raises(PreventUpdate):
        training.state_view(data_dir, None, 0)


# ---------------------------------------------------------------------------------- export


def test_exports_gif_mp4_and_change_csv(trained):
    data_dir, _, data, _, _ = trained
    gif = training.download(TrainingIds.EXPORT_GIF, data_dir, data)
    # Issue 20 item 18: named as the Maps tab's exports (series, data, grouping, key), so a
    # later run's download does not overwrite this one.
    stem = f"topomaps_training_run_digits_hidden_label_PCA_{data['key'][:8]}"
    assert gif["filename"] == stem + ".gif" and gif["base64"]
    assert base64.b64decode(gif["content"]).startswith(b"GIF89a")
    mp4 = base64.b64decode(training.download(TrainingIds.EXPORT_MP4, data_dir, data)["content"])
    assert mp4[4:8] == b"ftyp"
    csv = training.download(TrainingIds.EXPORT_CSV, data_dir, data)
    rows = csv["content"].splitlines()
    assert rows[0] == "state,step,name,change,accuracy" and len(rows) == 1 + 3
    assert [row.split(",")[1] for row in rows[1:]] == [str(s) for s in STEPS]
    with pytest.raises(PreventUpdate):
        training.download(TrainingIds.EXPORT_GIF, data_dir, None)


# --------------------------------------------------------------------------------- compare


def test_two_states_compare_from_the_stored_training_maps(trained):
    data_dir, tab, _, _, _ = trained
    states = {**tab, "tab": "compare", "compare": "states", "state_a": 0, "state_b": 2}
    data, status = run_compare_job(SHARED, states, data_dir, compute=no_compute)
    assert data is not None, status
    assert data["mode"] == "states" and (data["a"], data["b"]) == (0, 2)
    # Issue 12 item 20: the status says what happened (maps stored: no duration of its own).
    assert status.startswith("Loaded the stored training maps. A = state 0: state_1.keras")
    fig = compare_view.compare_view(data_dir, data)
    assert len([t for t in fig.data if t.type == "heatmap"]) == 30
    _check_compare_exports(data_dir, data, "run-state0_vs_run-state2")
    assert fig.layout.coloraxis2.cmax == -fig.layout.coloraxis2.cmin > 0
    _, status = cached_compare_result(SHARED, {**states, "state_b": 9}, data_dir)
    assert "State B 9 is not a state of this series (0 to 2)" in status


def test_two_models_compare_in_a_worker_and_a_width_mismatch_is_named(trained, tmp_path):
    data_dir, _, _, _, _ = trained
    store = Store(data_dir)
    refs = []
    for seed, hidden in ((1, 6), (10, 6), (3, 5)):
        path = tmp_path / f"m{seed}.keras"
        _mlp(seed, hidden).save(path)
        refs.append(store.add_model(path.read_bytes(), path.name))
        # Described here, as a job process would, to keep the test short.
        get_or_compute(JOBS["describe"], DescribeRequest(model=refs[-1]), store)
    text, ok = compare.width_check(refs[0], "hidden", refs[2], "hidden", data_dir)
    assert not ok and "of A has 6 neurons but layer 'hidden' of B has 5" in text
    text, ok = compare.width_check(refs[0], "hidden", refs[1], "hidden", data_dir)
    assert ok and text == "Both layers have 6 neurons: they share one layout."
    pair = {
        **TAB_DEFAULTS,
        "compare": "models",
        "model_a": refs[0],
        "layer_a": "hidden",
        "model_b": refs[1],
        "layer_b": "hidden",
    }
    jobs = len(jobs_logged(data_dir))
    data, status = run_compare_job(SHARED, pair, data_dir)
    assert data is not None and status.startswith("Done in "), status
    assert len(jobs_logged(data_dir)) == jobs + 1
    again, status = cached_compare_result(SHARED, pair, data_dir)
    assert again == data and "Showing the stored comparison" in status
    fig = compare_view.compare_view(data_dir, data)
    assert len([t for t in fig.data if t.type == "heatmap"]) == 30
    assert compare.describe_pair(data, data_dir) == "A = m1.keras (hidden), B = m10.keras (hidden)."
    # Issue 12 item 20: the data is checked against A and B, not the Maps tab's model.
    text, ok = compare.data_check(
        "compare", "models", refs[0], refs[1], "demo:digits", "label", data_dir
    )
    assert ok and "fits the models' input 8×8×1. Input: preprocess auto = none" in text, text
    assert compare.data_check(
        "compare", "states", refs[0], refs[1], "demo:digits", "label", data_dir
    ) == ("", True)
    _check_compare_exports(data_dir, data, "m1_vs_m10")


def _check_compare_exports(data_dir, data, sides):
    """Item 20: PNG (A, B and B - A) and CSV exports, from the stored comparison."""
    png = compare_view.compare_export(compare.C.EXPORT_PNG, data_dir, data)
    assert png["filename"].startswith(f"topomaps_compare_{sides}_digits_")
    assert png["filename"].endswith(f"_{data['key'][:8]}.png") and png["base64"]
    from PIL import Image

    image = Image.open(io.BytesIO(base64.b64decode(png["content"])))
    assert image.height > image.width / 10 * 2  # three rows of ten maps
    csv = compare_view.compare_export(compare.C.EXPORT_CSV, data_dir, data)["content"].splitlines()
    assert csv[0] == "group,neuron,a,b,b_minus_a" and len(csv) == 1 + 10 * 6
    group, neuron, a, b, diff = csv[1].split(",")
    assert float(diff) == pytest.approx(float(b) - float(a), abs=1e-5)
    with pytest.raises(PreventUpdate):
        compare_view.compare_export(compare.C.EXPORT_CSV, data_dir, None)


def test_a_frame_evicted_from_the_cache_is_written_again(trained):
    data_dir, tab, data, _, _ = trained
    store = Store(data_dir)
    del store.cache[frame_key(data["key"], 1)]
    shown, status = cached_training_result(SHARED, tab, data_dir)
    assert shown is None and status == NOT_COMPUTED  # incomplete: not shown
    jobs_before = len(jobs_logged(data_dir))
    again, status = run_training_job(SHARED, tab, data_dir)  # publishes it again
    assert again == data and status.startswith("Done in "), status
    assert len(jobs_logged(data_dir)) == jobs_before + 1
    assert training.frame(data_dir, data, 1) is not None


def test_a_bad_training_job_gives_an_error_line_from_the_worker():
    out = io.StringIO()
    job = {"job": "training", "data_dir": "/nonexistent", "request": {"checkpoints": "../x"}}
    assert worker.run_job(job, out) == 1
    outcome = worker.parse_line(out.getvalue().splitlines()[-1])
    assert outcome["topomap"] and "nknown checkpoints '../x'" in outcome["error"]


def test_state_box_and_slider_show_one_number():
    """Issue 12 item 21: the box follows the slider; a typed state (Enter) moves the slider,
    clamped to the series; an emptied box shows the slider's state again."""
    from dash import no_update

    from callbacks.training import sync_state

    assert sync_state(False, 12, 3, 78, False) == (no_update, 12, 78, False)
    assert sync_state(True, 12, 40, 78, False) == (40, 40, 78, False)
    assert sync_state(True, 12, 500, 78, False) == (78, 78, 78, False)
    assert sync_state(True, 12, -4, 78, False) == (0, 0, 78, False)
    assert sync_state(True, 12, None, 78, False) == (no_update, 12, 78, False)
    assert sync_state(False, 0, 0, 0, True) == (no_update, 0, 0, True)


def test_one_state_input_marks_and_label_numbered_alike(trained):
    """Issue 20 item 15: the slider brought its own unlabelled number box next to the State
    box, its marks counted batches (1..79) while the box counted states (0..78), and the
    state's label was printed twice (beside the slider and as the maps' title)."""
    from dash import dcc

    from layouts.training import player

    inputs = []

    def walk(node) -> None:
        if isinstance(node, dcc.Slider | dcc.Input):
            inputs.append(node)
        children = getattr(node, "children", None)
        for child in children if isinstance(children, list | tuple) else [children]:
            if child is not None and not isinstance(child, str):
                walk(child)

    walk(player())
    slider, box = inputs
    assert slider.id == TrainingIds.SLIDER
    assert getattr(slider, "allow_direct_input", True) is False  # Dash shows its box by default
    assert box.id == TrainingIds.STATE_INPUT and box.min == 0
    # The marks name states as the box does: 0 .. n-1 (the demo's 79 states too).
    assert training._marks(79)[0] == "0" and training._marks(79)[78] == "78"
    assert all(int(text) == i for i, text in training._marks(79).items())
    data_dir, _, data, _, _ = trained
    shown = training.result_view(data_dir, data, wanted=1)
    assert shown.label.startswith("state 1: ")
    assert not shown.maps.layout.title.text  # the label is beside the slider, once
    maps, _, label = training.state_view(data_dir, data, 2)
    assert label.startswith("state 2: ")
    assert all(op["location"][0] == "data" for op in maps.to_plotly_json()["operations"])
