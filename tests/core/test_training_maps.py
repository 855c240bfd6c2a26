"""Training-process maps (paper 6.3): the demo series, caching per state, exports, bad series."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from topomap_core.analyses.animation import change_csv
from topomap_core.analyses.naps import compute_nap
from topomap_core.analyses.placing import draw
from topomap_core.analyses.topomap import MapParams
from topomap_core.analyses.training_maps import TrainingRequest
from topomap_core.cli import main
from topomap_core.errors import Cancelled, CheckpointError, ModelRefusedError
from topomap_core.io.data import load_data
from topomap_core.io.demo import DEMO_CHECKPOINTS, demo_checkpoints
from topomap_core.io.models import load_model
from topomap_core.io.sources import open_series
from topomap_core.jobs.registry import JOBS
from topomap_core.jobs.results import cached, get_or_compute
from topomap_core.profiles.ordering import order_groups
from topomap_core.store import Store

layers = keras.layers


def run_training(request, progress=None):
    return JOBS["training"].run(request, progress)


# --------------------------------------------------------------------------------------------
# Fixtures: the demo series (trained once per session) and a tiny hand-made series
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def demo_series(demo_dir):
    return demo_checkpoints()


@pytest.fixture(scope="session")
def demo_result(demo_series):
    # PCA: the fast layout; the method does not change what these tests check.
    return run_training(TrainingRequest(checkpoints=DEMO_CHECKPOINTS, method="PCA"))


def _tiny_model(hidden: int = 5, seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((6,)),
            layers.Dense(hidden, activation="tanh", name="hidden"),
            layers.Dense(3, activation="softmax", name="out"),
        ],
        name="tiny",
    )


def _states(n: int, hidden: int = 5) -> list[keras.Model]:
    """``n`` "training states": one initialisation moved a little further each step."""
    model = _tiny_model(hidden)
    start = model.get_weights()
    rng = np.random.default_rng(0)
    direction = [rng.normal(size=w.shape).astype(np.float32) for w in start]
    states = []
    for k in range(n):
        state = _tiny_model(hidden)
        state.set_weights([w + 0.3 * k * d for w, d in zip(start, direction, strict=True)])
        states.append(state)
    return states


def _zip(path: Path, members: dict[str, bytes | Path]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, content if isinstance(content, bytes) else content.read_bytes())
    return path


def _save_states(folder: Path, states, kind: str, names=None) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for k, model in enumerate(states, start=1):
        name = names[k - 1] if names else f"ckpt_{k:03d}{kind}"
        path = folder / f"{k}{kind}"
        if kind == ".keras":
            model.save(path)
        else:
            model.save_weights(path)
        files[name] = path
    return files


@pytest.fixture
def tiny_data(tmp_path) -> Path:
    rng = np.random.default_rng(1)
    path = tmp_path / "tiny.npz"
    np.savez(path, x=rng.normal(size=(60, 6)).astype(np.float32), y=np.arange(60) % 3)
    return path


@pytest.fixture
def base_model(tmp_path) -> Path:
    path = tmp_path / "base.keras"
    _tiny_model().save(path)
    return path


def _request(checkpoints, data, **kw) -> TrainingRequest:
    return TrainingRequest(
        checkpoints=str(checkpoints), data=str(data), layer="hidden", method="PCA", **kw
    )


# --------------------------------------------------------------------------------------------
# The demo series
# --------------------------------------------------------------------------------------------


def test_demo_run_has_one_state_per_batch(demo_result):
    r = demo_result
    assert r.n_states == 79  # ceil(1257 / 16) batches of one epoch
    assert r.steps == list(range(1, 80))
    assert r.checkpoints[6].name == "batch 0007"
    assert len({c.digest for c in r.checkpoints}) == 79
    assert r.maps.shape == (79, 10, 100, 100) and r.maps.dtype == np.float32
    assert r.values.shape == (79, 10, 128)
    # One colour limit for every state: no map of any state exceeds it.
    assert r.vmax == pytest.approx(np.abs(r.values).max())
    assert np.nanmax(np.abs(r.maps)) <= r.vmax + 1e-6
    assert np.isnan(r.change[0]) and np.all(np.isfinite(r.change[1:]))
    assert r.accuracy[-1] > r.accuracy[0] + 0.3  # it learns during the epoch
    # Issue 12 item 21: the 0-based state (as the slider, its box and the link count) first.
    assert r.frame_title(11).startswith("state 11: batch 12 of 79")
    rows = change_csv(r).splitlines()
    assert rows[0] == "state,step,name,change,accuracy" and len(rows) == 80
    summary = r.summary()
    assert summary["n_states"] == 79 and summary["states"][0]["change"] is None


def test_last_state_equals_a_plain_run_of_the_final_model(demo_result, demo_series):
    final = load_model(demo_series.with_name("model.keras"))
    nap = compute_nap(final, load_data("demo:digits"), "dense", MapParams())
    order = order_groups(nap.group_vectors(), nap.group_names)
    maps, _ = draw(demo_result.layout, nap.values[order.order])
    assert order.names == demo_result.group_names
    np.testing.assert_allclose(demo_result.maps[-1], maps, rtol=1e-5, atol=1e-6, equal_nan=True)


def test_nap_change_is_largest_early(demo_result):
    change = demo_result.change
    k = len(change) // 10
    early, late = np.mean(change[1 : 1 + k]), np.mean(change[-k:])
    assert early > 1.3 * late, (early, late)


def _ffmpeg_frames(path: Path) -> int:
    import imageio_ffmpeg

    proc = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-500:]
    return int(re.findall(r"frame=\s*(\d+)", proc.stderr)[-1])


def test_cli_writes_frames_gif_mp4_and_summary(capsys, demo_series, tmp_path):
    out = tmp_path / "out"
    code = main(
        ["training", "--checkpoints", "demo", "--data", "demo:digits", "--layer", "dense",
         "--groups", "label", "--method", "PCA", "--size", "1", "--fps", "10",
         "--out", str(out), "--quiet"]
    )  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 0, err
    frames = sorted((out / "frames").glob("frame_*.png"))
    assert len(frames) == 79 and frames[0].name == "frame_0000.png"
    with Image.open(out / "animation.gif") as gif:
        assert gif.n_frames == 79
        assert gif.size == Image.open(frames[0]).size
    assert _ffmpeg_frames(out / "animation.mp4") == 79
    assert len((out / "change.csv").read_text().splitlines()) == 80
    assert len((out / "layout.csv").read_text().splitlines()) == 129
    import json

    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_states"] == 79 and summary["method"] == "PCA"


# --------------------------------------------------------------------------------------------
# Hand-made series: caching, both kinds, progress
# --------------------------------------------------------------------------------------------


def test_adding_a_checkpoint_recomputes_only_its_nap(tmp_path, tiny_data, base_model):
    store = Store(tmp_path / "store")
    files = _save_states(tmp_path / "w", _states(4), ".weights.h5")
    names = list(files)
    three = store.add_checkpoints(
        _zip(tmp_path / "three.zip", {n: files[n] for n in names[:3]}).read_bytes(), "three.zip"
    )
    four = store.add_checkpoints(_zip(tmp_path / "four.zip", files).read_bytes(), "four.zip")
    base = store.add_model(base_model.read_bytes(), "base.keras")
    data = store.add_data(tiny_data.read_bytes(), "tiny.npz")

    job = JOBS["training"]
    first, _ = get_or_compute(job, _request(three, data, base_model=base), store)
    assert first.from_cache == [False, False, False]
    request = _request(four, data, base_model=base)
    assert cached(job, request, store) is None
    second, _ = get_or_compute(job, request, store)
    assert second.from_cache == [True, True, True, False]
    assert second.summary()["naps_computed"] == 1
    np.testing.assert_allclose(second.values[:3], first.values[:3], atol=1e-6)
    assert cached(job, request, store) is not None  # the whole result is cached too
    # Another layout method reuses every state's NAP.
    other, _ = get_or_compute(job, dataclasses.replace(request, method="random"), store)
    assert other.summary()["naps_computed"] == 0
    # What the dashboard records after an upload: the inspect-checkpoints job's answer.
    info, _ = get_or_compute(JOBS["inspect-checkpoints"], _inspect(four), store)
    store.set_series_info(four, info)
    listed = {item["id"]: item for item in store.list_checkpoints()}
    assert listed[four]["n_checkpoints"] == 4 and listed[four]["kind"] == "weights"
    assert (listed[four]["first_step"], listed[four]["last_step"]) == (1, 4)


def test_weights_series_equals_keras_series(tmp_path, tiny_data, base_model):
    states = _states(3)
    weights = _zip(tmp_path / "w.zip", _save_states(tmp_path / "w", states, ".weights.h5"))
    models = _zip(tmp_path / "k.zip", _save_states(tmp_path / "k", states, ".keras"))
    a = run_training(_request(weights, tiny_data, base_model=str(base_model)))
    b = run_training(_request(models, tiny_data))
    assert a.steps == b.steps == [1, 2, 3]
    np.testing.assert_allclose(a.values, b.values, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.maps, b.maps, rtol=1e-5, atol=1e-6, equal_nan=True)


def test_states_are_ordered_by_the_last_number_in_their_names(tmp_path, tiny_data):
    states = _states(3)
    names = ["epoch1-step10.keras", "epoch1-step2.keras", "epoch1-step100.keras"]
    path = _zip(tmp_path / "k.zip", _save_states(tmp_path / "k", states, ".keras", names))
    with open_series(path) as series:
        assert [c.step for c in series.checkpoints] == [2, 10, 100]
        assert [c.name for c in series.checkpoints] == [names[1], names[0], names[2]]


def test_progress_reports_states_and_can_cancel(tmp_path, tiny_data):
    path = _zip(tmp_path / "k.zip", _save_states(tmp_path / "k", _states(3), ".keras"))
    seen = []
    run_training(_request(path, tiny_data), progress=lambda *a: seen.append(a))
    assert ("NAPs", 3, 3) in seen and ("maps", 3, 3) in seen
    with pytest.raises(Cancelled):
        run_training(_request(path, tiny_data), progress=lambda stage, d, t: stage == "NAPs")


# --------------------------------------------------------------------------------------------
# Bad series: one clear error each
# --------------------------------------------------------------------------------------------


def _weights_bytes(tmp_path, model=None) -> bytes:
    path = tmp_path / "one.weights.h5"
    (model or _tiny_model()).save_weights(path)
    return path.read_bytes()


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({}, "contains no checkpoints"),
        ({"notes/": b""}, "contains no checkpoints"),
        ({"final.weights.h5": "W"}, "'final.weights.h5' has no number"),
        ({"a_1.weights.h5": "W", "b_01.weights.h5": "W"}, "both have number 1"),
        ({"s_1.weights.h5": "W", "s_2.keras": b"PK"}, "mixes .keras models"),
        ({"s_1.weights.h5": "W", "readme.txt": b"hi"}, "'readme.txt' is not a checkpoint"),
        ({"../evil_1.weights.h5": "W"}, "unsafe path"),
        ({"/abs_1.weights.h5": "W"}, "unsafe path"),
        ({"s_1.weights.h5": b"\0" * (50 * 2**20)}, "zip bomb"),
    ],
)
def test_bad_archives_are_refused(tmp_path, base_model, members, message):
    weights = _weights_bytes(tmp_path)
    members = {n: weights if c == "W" else c for n, c in members.items()}
    path = _zip(tmp_path / "bad.zip", members)
    with pytest.raises(CheckpointError, match=re.escape(message)):
        open_series(path, base_model)


def test_not_a_zip_and_missing_base_model(tmp_path):
    bogus = tmp_path / "bogus.zip"
    bogus.write_bytes(b"not a zip at all")
    with pytest.raises(CheckpointError, match="not a valid zip"):
        open_series(bogus)
    path = _zip(tmp_path / "w.zip", {"s_1.weights.h5": _weights_bytes(tmp_path)})
    with pytest.raises(CheckpointError, match="need a base model"):
        open_series(path)
    with pytest.raises(CheckpointError, match="unsupported extension"):
        open_series(tmp_path / "one.weights.h5")  # written by _weights_bytes: not a .zip


def test_too_many_checkpoints(tmp_path, base_model, monkeypatch):
    monkeypatch.setenv("MAX_CHECKPOINTS", "2")
    w = _weights_bytes(tmp_path)
    path = _zip(tmp_path / "w.zip", {f"s_{k}.weights.h5": w for k in range(3)})
    with pytest.raises(CheckpointError, match="3 checkpoints; at most 2"):
        open_series(path, base_model)


@pytest.mark.parametrize("other", ["wider", "deeper", "shallower"])
def test_weights_that_do_not_fit_the_base_model(tmp_path, base_model, other):
    if other == "wider":
        model = _tiny_model(hidden=7)
    elif other == "deeper":
        model = keras.Sequential(
            [keras.Input((6,)), layers.Dense(5), layers.Dense(4), layers.Dense(3)]
        )
    else:  # Keras itself would load this one silently, leaving "out" untouched
        model = keras.Sequential([keras.Input((6,)), layers.Dense(5, name="hidden")])
    path = _zip(tmp_path / "w.zip", {"s_1.weights.h5": _weights_bytes(tmp_path, model)})
    with (
        open_series(path, base_model) as series,
        pytest.raises(
            CheckpointError, match="'s_1.weights.h5' do not fit the base model 'base.keras'"
        ),
    ):
        series.load(0)


def _lambda_model(marker: Path) -> keras.Model:
    # The bytecode holds the marker path, so the lambda would create it wherever it ran.
    fn = eval(f"lambda t: (__import__('pathlib').Path({str(marker)!r}).touch(), t * 2.0)[1]")
    inp = keras.Input((6,))
    out = layers.Dense(3, name="out")(layers.Lambda(fn, name="lambda_1")(inp))
    return keras.Model(inp, out)


def test_lambda_model_in_the_series_is_refused_and_never_runs(tmp_path, tiny_data):
    marker = tmp_path / "lambda-ran"
    evil = tmp_path / "evil.keras"
    _lambda_model(marker).save(evil)
    marker.unlink(missing_ok=True)  # building the model ran the lambda once
    good = tmp_path / "good.keras"
    _tiny_model().save(good)
    path = _zip(tmp_path / "k.zip", {"ckpt_1.keras": good, "ckpt_2.keras": evil})
    with pytest.raises(ModelRefusedError, match="checkpoint 'ckpt_2.keras'.*Lambda"):
        run_training(_request(path, tiny_data))
    store = Store(tmp_path / "store")
    # The web process stores it after bounded checks; the inspection job refuses it.
    ref = store.add_checkpoints(path.read_bytes(), "k.zip")
    with pytest.raises(ModelRefusedError, match="Lambda"):
        get_or_compute(JOBS["inspect-checkpoints"], _inspect(ref), store)
    assert not marker.exists()


def _inspect(ref: str):
    return JOBS["inspect-checkpoints"].validate({"checkpoints": ref})


def test_store_refuses_bad_references(tmp_path):
    store = Store(tmp_path / "store")
    with pytest.raises(CheckpointError, match="not a demo checkpoint series"):
        store.checkpoints_source("../../etc/passwd")
    with pytest.raises(CheckpointError, match="not in the checkpoint series store"):
        store.checkpoints_source("0" * 64)
    with pytest.raises(CheckpointError, match="unsupported extension"):
        store.add_checkpoints(b"PK\x05\x06" + b"\0" * 18, "series.tar")


def test_cli_bad_series_exits_2_with_one_line(capsys, tmp_path):
    path = _zip(tmp_path / "w.zip", {"final.weights.h5": b"x"})
    code = main(
        ["training", "--checkpoints", str(path), "--data", "demo:digits", "--layer", "dense",
         "--method", "PCA", "--out", str(tmp_path / "out"), "--quiet"]
    )  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1 and "has no number in its name" in err
    code = main(
        ["training", "--checkpoints", str(path), "--data", "demo:digits", "--layer", "dense",
         "--method", "nope", "--out", str(tmp_path / "out")]
    )  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 2 and "Unknown method 'nope'" in err and err.count("\n") == 1
