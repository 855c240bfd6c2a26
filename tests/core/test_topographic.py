"""Tests for the topographic regularizer, its grid and the safe loader's allowlist."""

from __future__ import annotations

import json
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from topomap_core.errors import ModelRefusedError
from topomap_core.io import models
from topomap_core.regularizers import grid
from topomap_core.regularizers.topographic import TopographicRegularizer, topographic_penalty

layers = keras.layers


def _direct_penalty(vectors: np.ndarray, rows: int, cols: int, size: int = 3) -> float:
    """The penalty written out unit by unit, as the issue states it (the slow reference)."""
    v = vectors.reshape(-1, vectors.shape[-1]).astype(np.float64)
    n = v.shape[1]
    half = size // 2
    total = 0.0
    for i in range(n):
        r0, c0 = divmod(i, cols)
        members, weights = [], []
        for r in range(r0 - half, r0 + half + 1):
            for c in range(c0 - half, c0 + half + 1):
                j = r * cols + c
                if (r, c) == (r0, c0) or not (0 <= r < rows and 0 <= c < cols) or j >= n:
                    continue
                members.append(j)
                weights.append(1.0 / np.hypot(r - r0, c - c0))
        weights = np.array(weights) / np.sum(weights)
        for j, w in zip(members, weights, strict=True):
            cos = v[:, i] @ v[:, j] / (np.linalg.norm(v[:, i]) * np.linalg.norm(v[:, j]))
            total += w * (1.0 - cos)
    return total


@pytest.mark.parametrize(
    ("shape", "rows", "cols", "size"),
    [
        ((5, 12), 4, 3, 3),  # a Dense kernel, every cell filled
        ((3, 3, 2, 11), 4, 3, 3),  # a convolution kernel, the last cell empty
        ((7, 9), 3, 3, 5),  # a 5 x 5 neighbourhood clipped on every side
    ],
)
def test_weights_penalty_equals_direct_computation(shape, rows, cols, size):
    kernel = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    reg = TopographicRegularizer(rows, cols, neighbourhood=size, strength=0.3)
    got = float(reg(keras.ops.convert_to_tensor(kernel)))
    assert got == pytest.approx(0.3 * _direct_penalty(kernel, rows, cols, size), rel=1e-5)
    # Both ways of computing it (the one auto takes depends on the unit count), and their
    # gradients, agree.
    grads = []
    for method in ("dense", "shift"):
        variable = tf.Variable(kernel)
        with tf.GradientTape() as tape:
            loss = topographic_penalty(variable, rows, cols, size, method=method)
        assert float(loss) == pytest.approx(_direct_penalty(kernel, rows, cols, size), rel=1e-5)
        grads.append(tape.gradient(loss, variable).numpy())
    assert np.all(np.isfinite(grads[0])) and np.allclose(grads[0], grads[1], atol=1e-5)
    with pytest.raises(ValueError, match="method 'sparse' is not one of auto, dense, shift"):
        topographic_penalty(kernel, rows, cols, size, method="sparse")


def test_neighbour_weights_clip_at_the_border_and_sum_to_one():
    centre, member, weight = grid.neighbour_pairs(6, 2, 3)
    # Unit 0 (a corner) has members 1, 3 (distance 1) and 4 (distance sqrt 2).
    mine = centre == 0
    assert sorted(member[mine].tolist()) == [1, 3, 4]
    w = dict(zip(member[mine].tolist(), weight[mine], strict=True))
    assert w[1] == pytest.approx(1 / (2 + 1 / np.sqrt(2)))
    assert w[4] == pytest.approx((1 / np.sqrt(2)) / (2 + 1 / np.sqrt(2)))
    assert np.allclose(np.bincount(centre, weights=weight), 1.0)


def test_activations_mode_penalises_the_batch_and_its_gradient_is_finite():
    keras.utils.set_random_seed(0)
    reg = TopographicRegularizer(2, 4, strength=1.0, mode="activations")
    dense = layers.Dense(8, activation="relu", activity_regularizer=reg, name="d")
    model = keras.Sequential([keras.Input((5,)), dense])
    x = np.random.default_rng(1).normal(size=(6, 5)).astype(np.float32)
    acts = model(x).numpy()
    # Keras divides an activity penalty by the batch size.
    assert float(model.losses[0]) == pytest.approx(_direct_penalty(acts, 2, 4) / 6, rel=1e-4)
    # A ReLU may leave a unit all zero: its gradient must still be finite.
    kernel = tf.Variable(np.zeros((5, 8), np.float32))
    with tf.GradientTape() as tape:
        loss = TopographicRegularizer(2, 4)(kernel)
    assert np.all(np.isfinite(tape.gradient(loss, kernel).numpy()))
    kernel2 = tf.Variable(np.random.default_rng(2).normal(size=(5, 8)).astype(np.float32))
    with tf.GradientTape() as tape:
        loss = TopographicRegularizer(2, 4)(kernel2)
    grad = tape.gradient(loss, kernel2).numpy()
    assert np.all(np.isfinite(grad)) and np.abs(grad).max() > 0


def test_bad_arguments_are_refused_by_name():
    with pytest.raises(ValueError, match="grid 3x2 holds 6 units but the layer has 8"):
        TopographicRegularizer(3, 2)(keras.ops.zeros((4, 8)))
    with pytest.raises(ValueError, match="neighbourhood 4 must be an odd"):
        TopographicRegularizer(4, 2, neighbourhood=4)
    with pytest.raises(ValueError, match="mode 'bias' is not one of weights, activations"):
        TopographicRegularizer(4, 2, mode="bias")
    with pytest.raises(ValueError, match=r"'4by2' is not of the form RxC"):
        grid.parse_grid("4by2")
    assert grid.auto_grid(128) == (16, 8) and grid.auto_grid(2048) == (64, 32)
    assert grid.auto_grid(256) == (16, 16)


def test_saved_regularized_model_loads_through_the_safe_loader(save_model):
    reg = TopographicRegularizer(4, 2, strength=0.2)
    model = keras.Sequential(
        [
            keras.Input((3,)),
            layers.Dense(8, kernel_regularizer=reg, name="topo"),
            layers.Dense(4, activity_regularizer=TopographicRegularizer(2, 2, mode="activations")),
        ]
    )
    loaded = models.load_model(save_model(model))
    got = loaded.get_layer("topo").kernel_regularizer
    assert isinstance(got, TopographicRegularizer)
    assert got.get_config() == reg.get_config()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        # Another registered regularizer, even under our package name.
        (
            {"registered_name": "topomaps>Other", "class_name": "Other"},
            "uses the custom object 'topomaps>Other'",
        ),
        # Our class name, but its code claimed to live in another module.
        ({"module": "evil.regularizers"}, "uses the custom object 'topomaps>TopographicReg"),
        # Our class name registered under another package.
        ({"registered_name": "evil>TopographicRegularizer"}, "'evil>TopographicRegularizer'"),
    ],
)
def test_other_custom_regularizers_are_still_refused(save_model, edit, message):
    model = keras.Sequential(
        [keras.Input((3,)), layers.Dense(4, kernel_regularizer=TopographicRegularizer(2, 2))]
    )
    path = save_model(model)
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    cfg = json.loads(members["config.json"])
    dense = next(layer for layer in cfg["config"]["layers"] if layer["class_name"] == "Dense")
    dense["config"]["kernel_regularizer"].update(edit)
    members["config.json"] = json.dumps(cfg).encode()
    edited = path.with_name("edited.keras")
    with zipfile.ZipFile(edited, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(ModelRefusedError, match=message) as info:
        models.load_model(edited)
    assert "custom code is refused" in str(info.value)


# --------------------------------------------------------------------------------------------
# Training: the train-topographic job and command
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_training(tmp_path_factory):
    """A tiny Dense model (5 -> 16 -> 3) and a .npz of 60 labelled examples."""
    folder = tmp_path_factory.mktemp("train-topo")
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((5,)),
            layers.Dense(16, activation="relu", name="hidden"),
            layers.Dense(3, activation="softmax", name="out"),
        ]
    )
    model.save(folder / "tiny.keras")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5)).astype(np.float32)
    y = np.argmax(x[:, :3], axis=1)
    np.savez(folder / "data.npz", x=x, y=y)
    return folder


def _train_request(folder, **values):
    from topomap_core.jobs.registry import get_job

    job = get_job("train_topographic")
    base = {"model": str(folder / "tiny.keras"), "data": str(folder / "data.npz")}
    return job, job.validate({**base, "layer": "hidden", **values}, paths=True)


def test_training_makes_neighbours_similar_and_saves_a_loadable_model(tiny_training, tmp_path):
    job, request = _train_request(
        tiny_training, grid="4x4", strength=0.1, epochs=3, learning_rate=0.05, batch_size=8
    )
    stages = []
    result = job.run(request, lambda stage, done, total: stages.append((stage, done, total)))
    assert stages == [("training", 1, 3), ("training", 2, 3), ("training", 3, 3)]
    sim = result.similarity["hidden"]
    assert sim["after"] > sim["before"] + 0.2 and sim["after"] > sim["after_shuffled"] + 0.1
    assert len(result.epoch_s) == 3 and 0 <= result.accuracy_after <= 1
    path = tmp_path / "trained.keras"
    path.write_bytes(result.model_bytes)
    reg = models.load_model(path).get_layer("hidden").kernel_regularizer
    assert (reg.rows, reg.cols, reg.strength, reg.mode) == (4, 4, 0.1, "weights")


def test_training_cancels_and_refuses_a_layer_the_mode_cannot_take(tiny_training):
    from topomap_core.errors import Cancelled, TopomapError

    job, request = _train_request(tiny_training, epochs=5)
    with pytest.raises(Cancelled, match="training cancelled at 1/5"):
        job.run(request, lambda stage, done, total: True)
    for values, message in [
        ({"grid": "3x2"}, "grid 3x2 holds 6 units but layer 'hidden' has 16"),
        ({"layer": "nope"}, "model has no layer 'nope'"),
        ({"neighbourhood": 4}, "Neighbourhood 4 must be odd"),
    ]:
        job, request = _train_request(tiny_training, **values)
        with pytest.raises(TopomapError, match=message):
            job.run(request)


def test_cli_trains_in_activations_mode_and_refuses_bad_grids(tiny_training, tmp_path, capsys):
    from topomap_core.cli import main

    common = ["train-topographic", "--model", str(tiny_training / "tiny.keras"), "--data",
              str(tiny_training / "data.npz"), "--layer", "hidden", "--quiet"]  # fmt: skip
    assert main([*common, "--grid", "4by2", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Grid '4by2' (not RxC such as 16x8 or auto)" in err
    code = main([*common, "--mode", "activations", "--epochs", "1", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "hidden on 4x4 (activations)" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["layers"]["hidden"]["grid"] == "4x4" and len(summary["epoch_s"]) == 1
    reg = models.load_model(tmp_path / "model.keras").get_layer("hidden").activity_regularizer
    assert isinstance(reg, TopographicRegularizer) and reg.mode == "activations"
