"""io.demo and io.sources: the demo registry, deterministic training, storage, reloading."""

from __future__ import annotations

import time

import numpy as np
import pytest

from topomap_core.errors import ModelLoadError
from topomap_core.io import activations, demo, models, sources
from topomap_core.io.data import digits_split


@pytest.fixture(scope="module")
def digits_test():
    _, _, x_test, y_test = digits_split()
    return x_test, y_test


def _accuracy(model, x, y):
    return float(np.mean(activations.predict(model, x).argmax(axis=1) == y))


def test_demo_names():
    assert demo.DEMO_MODELS == ("demo:digits-mlp", "demo:digits-cnn", "demo:digits-cnn-topographic")
    assert demo.demo_names("data") == ("demo:digits",)
    assert demo.demo_names("checkpoints") == ("demo:digits-mlp-training",)


def test_unknown_demo_model(tmp_data_dir):
    message = "unknown demo model 'demo:vgg'; valid: demo:digits-mlp"
    with pytest.raises(ModelLoadError, match=message):
        sources.load_model("demo:vgg")
    with pytest.raises(ModelLoadError, match="digits-cnn"):
        demo.demo_model_path("demo:vgg")
    assert not (tmp_data_dir / "demo-models").exists()


def test_mlp_accuracy_and_layers(digits_mlp, digits_test):
    assert _accuracy(digits_mlp, *digits_test) > 0.9
    assert [(i.name, i.neurons) for i in models.list_layers(digits_mlp)] == [
        ("flatten", 64),
        ("dense", 128),
        ("dropout", 128),
        ("output", 10),
    ]


def test_cnn_accuracy_and_layers(digits_cnn, digits_test):
    assert _accuracy(digits_cnn, *digits_test) > 0.9
    info = models.get_layer(digits_cnn, "conv2")
    assert info.output_shape == (2, 2, 128) and info.neurons == 128
    assert models.get_layer(digits_cnn, "conv1").output_shape == (4, 4, 128)


def test_stored_file_and_fast_identical_reload(demo_dir, digits_mlp, digits_test):
    path = demo.demo_model_path("demo:digits-mlp")
    assert path == demo_dir / "demo-models" / "digits-mlp.keras" and path.is_file()
    # Only the finished file is left behind: the temporary file was renamed onto it.
    assert sorted(p.name for p in path.parent.iterdir() if "mlp" in p.name) == [path.name]
    start = time.perf_counter()
    again = sources.load_model("demo:digits-mlp")
    assert time.perf_counter() - start < 5.0
    x, _ = digits_test
    np.testing.assert_array_equal(activations.predict(again, x), activations.predict(digits_mlp, x))


def test_training_is_deterministic(tmp_data_dir, digits_mlp, monkeypatch, tmp_path):
    # digits_mlp is the session's (built at setup time, or trained on first use); this trains
    # again in a fresh data directory, with no prebuilt demo to copy.
    monkeypatch.setenv(demo.PREBUILT_ENV, str(tmp_path / "no-prebuilt-demos"))
    fresh = sources.load_model("demo:digits-mlp")
    assert (tmp_data_dir / "demo-models" / "digits-mlp.keras").is_file()
    for a, b in zip(fresh.get_weights(), digits_mlp.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_a_fresh_data_directory_copies_the_prebuilt_demos(tmp_path, monkeypatch):
    """Issue 21: the first Run on a fresh install trained the demo models inside the job."""
    prebuilt = tmp_path / "prebuilt"
    monkeypatch.setenv(demo.PREBUILT_ENV, str(prebuilt))
    monkeypatch.setattr(demo, "train_demo_model", demo.build_architecture)  # quick "training"
    built = demo.build_demos()
    assert set(built) == {*demo.DEMO_MODELS, demo.DEMO_CHECKPOINTS}
    source = prebuilt / "demo-models" / "digits-mlp.keras"

    def no_training(spec):
        raise AssertionError("a prebuilt demo was trained again")

    monkeypatch.setattr(demo, "train_demo_model", no_training)
    monkeypatch.setattr(demo, "_train_demo_series", lambda *a: no_training(None))
    fresh = tmp_path / "data"
    path = demo.demo_model_path("demo:digits-mlp", fresh)
    assert path.read_bytes() == source.read_bytes()  # one file, one digest, one cache key
    series, model = demo.demo_series_files(fresh)
    assert demo.demo_checkpoints(fresh) == series and series.is_file() and model.is_file()
    assert oct(series.parent.stat().st_mode)[-3:] == "755"
    assert demo.build_demos() == dict.fromkeys(built, pytest.approx(0, abs=0.5))  # kept


def test_a_second_training_never_replaces_the_stored_file(tmp_data_dir, monkeypatch):
    # Two processes that both found no file both train; the saved files differ (Keras stores
    # the time of saving), and the file's digest is in every cache key of the demo model, so
    # the first file must stay. The untrained architecture stands in for training here.
    monkeypatch.setattr(demo, "train_demo_model", demo.build_architecture)
    path = tmp_data_dir / "demo-models" / "digits-mlp.keras"
    demo._train_and_store("demo:digits-mlp", path)
    first = path.read_bytes()
    time.sleep(1.1)  # the saved timestamp has one-second resolution
    demo._train_and_store("demo:digits-mlp", path)
    assert path.read_bytes() == first
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left


def test_damaged_stored_file_is_retrained(tmp_data_dir, monkeypatch):
    # Training is replaced by the untrained architecture: only the recovery is tested here.
    monkeypatch.setattr(demo, "train_demo_model", demo.build_architecture)
    path = tmp_data_dir / "demo-models" / "digits-cnn.keras"
    path.parent.mkdir()
    path.write_bytes(b"PK\x03\x04 damaged")
    model = sources.load_model("demo:digits-cnn")
    assert models.input_shape(model) == (8, 8, 1)
    models.load_model(path)  # the stored file is whole again
