"""What the model does with the data (issue 19): wrongly prepared input, labels that do not
number the model's classes, outputs that are not class vectors, said above the maps, in
``summary.json`` and in the data check, naming the setting that fixes it."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import zoo

from topomap_core.analyses.describe import CheckDataJob
from topomap_core.cli import main
from topomap_core.errors import TopomapError
from topomap_core.io.data import digits_split
from topomap_core.jobs.registry import get_job

FAST = {"method": "PCA", "per_group": 30}


@pytest.fixture(scope="module")
def digits_8bit(tmp_path_factory):
    """The demo's test digits saved as 8-bit pixels, as a user's own .npz holds them."""
    _, _, x, y = digits_split()
    path = tmp_path_factory.mktemp("data") / "digits-8bit.npz"
    np.savez(path, x=np.round(x * 255).astype(np.uint8), y=y)
    return path


def _view(model, data, **values):
    job = get_job("view")
    values = {"model": str(model), "data": str(data), **FAST, **values}
    request = job.validate(values, paths=True)
    return job.run(request)


def _warnings(result) -> list[str]:
    return [text for level, text in result.notes() if level == "warning"]


def test_raw_pixels_for_a_model_trained_on_0_1_are_named_with_preprocess(digits_8bit, demo_dir):
    result = _view("demo:digits-cnn", digits_8bit, layer="conv2")
    warnings = " ".join(_warnings(result))
    assert "raw pixel values" in warnings and "preprocess" in warnings and "unit" in warnings
    check = result.nap.input_check
    assert check["input_range"] == [0.0, 255.0]
    # Prepared as the model was trained, the same file gives no warning about the input.
    fixed = _view("demo:digits-cnn", digits_8bit, layer="conv2", preprocess="unit")
    assert fixed.nap.input_check["warnings"] == []
    assert fixed.nap.input_check["input_range"] == [0.0, 1.0]
    # The prepared maps are those of the demo data itself (same preparation, same NAP).
    demo = _view("demo:digits-cnn", "demo:digits", layer="conv2")
    # (up to the rounding of the 8-bit pixels)
    np.testing.assert_allclose(fixed.nap.normalized, demo.nap.normalized, atol=0.02)
    # The predictions of the raw pixels collapse, those of the prepared ones do not.
    assert check["top_share"] > fixed.nap.input_check["top_share"]


def test_data_scaled_twice_are_caught_by_the_range(demo_dir, tmp_path):
    _, _, x, y = digits_split()
    path = tmp_path / "digits.npz"
    np.savez(path, x=x, y=y)  # already in [0, 1]
    result = _view("demo:digits-mlp", path, layer="dense", preprocess="unit")
    assert any("were they scaled already" in w for w in _warnings(result))


def test_a_model_that_rescales_itself_warns_about_prescaled_data(tmp_path):
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1))
    h = keras.layers.Rescaling(1 / 255, name="scale")(inp)
    h = keras.layers.Conv2D(16, 3, activation="relu", name="conv")(h)
    out = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(h))
    path = tmp_path / "rescales.keras"
    keras.Model(inp, out).save(path)
    _, _, x, y = digits_split()
    data = tmp_path / "digits.npz"
    np.savez(data, x=x, y=y)
    result = _view(path, data, layer="conv")
    warnings = " ".join(_warnings(result))
    assert "prepares its input itself (Rescaling(x * 0.00392157 + 0))" in warnings
    assert "rescaled twice" in warnings


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (lambda y: np.where(y < 5, 3, np.where(y < 8, 7, 100)), "labels go up to 100"),
        (lambda y: np.where(y % 2 == 0, "cat", "dog"), "labels cover 2 of the model's 10"),
    ],
)
def test_labels_that_do_not_number_the_outputs_are_named(demo_dir, tmp_path, labels, expected):
    _, _, x, y = digits_split()
    path = tmp_path / "labels.npz"
    np.savez(path, x=x, y=labels(y))
    result = _view("demo:digits-mlp", path, layer="dense", groups="label+correctness")
    assert any(expected in w for w in _warnings(result)), result.notes()


def test_label_correctness_of_a_model_without_a_class_output_is_refused(tmp_path):
    path = tmp_path / "edges.keras"
    zoo.edge_detector().save(path)
    x, y = zoo.images(20, (32, 32, 1))
    data = tmp_path / "images.npz"
    np.savez(data, x=x / 255, y=y)
    # Issue 19: "cannot reshape array of size 6144000 into shape (60,)".
    with pytest.raises(TopomapError, match=r"output is not a class vector: it gives \(32, 32, 1\)"):
        _view(path, data, layer="block1_conv2", groups="label+correctness")
    # Grouped by label, the same model maps fine, and its check says no classes are predicted.
    result = _view(path, data, layer="block1_conv2")
    assert result.nap.input_check["n_outputs"] is None


def test_summary_json_and_the_cli_report_carry_the_warning(capsys, digits_8bit, demo_dir, tmp_path):
    out = tmp_path / "out"
    argv = ["map", "--model", "demo:digits-cnn", "--data", str(digits_8bit), "--layer", "conv2",
            "--method", "PCA", "--per-group", "30", "--out", str(out), "--quiet"]  # fmt: skip
    code = main(argv)
    printed = capsys.readouterr().out
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert any("raw pixel values" in note for note in summary["notes"])
    assert summary["preprocess"] == "auto" and summary["input_check"]["input_range"][1] == 255
    assert "warning: The data range over [0, 255]" in printed


def test_the_data_check_runs_the_model_on_the_first_batch(digits_8bit, demo_dir):
    job = CheckDataJob()
    request = job.validate({"model": "demo:digits-cnn", "data": str(digits_8bit)}, paths=True)
    answer = job.run(request)
    assert answer["ok"] and "fits the model's input 8×8×1" in answer["text"]
    assert any("raw pixel values" in w for w in answer["warnings"])
    request = job.validate(
        {"model": "demo:digits-cnn", "data": str(digits_8bit), "preprocess": "unit"}, paths=True
    )
    answer = job.run(request)
    assert answer["ok"] and answer["warnings"] == [] and "preprocess unit (x/255)" in answer["text"]
