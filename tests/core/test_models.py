"""Tests for topomap_core.io.models: safe loading, layer listing and activations."""

from __future__ import annotations

import json
import os
import warnings
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from topomap_core.errors import (
    Cancelled,
    DataError,
    LayerNotFoundError,
    ModelLoadError,
    ModelRefusedError,
    TopomapError,
    one_line,
)
from topomap_core.io import activations, models

layers = keras.layers
RNG = np.random.default_rng(0)


@keras.saving.register_keras_serializable(package="topomaps_test")
class TimesThree(layers.Layer):
    """A registered custom layer: loading it would run this Python code."""

    def call(self, x):
        return x * 3.0


def _x(shape, n=10):
    return RNG.random((n, *shape), dtype=np.float32)


def _np(t):
    return keras.ops.convert_to_numpy(t)


def _collect(model, name, x, batch_size=256, progress=None):
    """Concatenate the batches of iter_activations; also return the batch starts."""
    starts, acts, preds = [], [], []
    for start, a, p in activations.iter_activations(model, name, x, batch_size, progress):
        starts.append(start)
        acts.append(a)
        preds.append(p)
    return starts, np.concatenate(acts), np.concatenate(preds)


def _one_line_error(exc_info):
    text = str(exc_info.value)
    assert "\n" not in text and "Traceback" not in text, text
    return text


def _rewrite_keras_config(path: Path, edit) -> Path:
    """Rewrite a .keras archive with ``edit(config_dict)`` applied to its config.json."""
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    cfg = json.loads(members["config.json"])
    edit(cfg)
    members["config.json"] = json.dumps(cfg).encode()
    out = path.with_name("edited.keras")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out


def _layer_cfg(cfg, name):
    return next(layer for layer in cfg["config"]["layers"] if layer["config"]["name"] == name)


# --------------------------------------------------------------------------------------------
# Safe loading: good files
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize(
    "fixture", ["seq_no_input", "functional_branches", "nested_model", "conv2d_model"]
)
def test_load_round_trip(request, save_model, fixture, suffix):
    model = request.getfixturevalue(fixture)
    path = save_model(model, suffix=suffix)
    loaded = models.load_model(path)
    x = _x(models.input_shape(model), n=4)
    np.testing.assert_allclose(_np(loaded(x)), _np(model(x)), rtol=1e-5, atol=1e-6)
    assert [i.name for i in models.list_layers(loaded)] == [
        i.name for i in models.list_layers(model)
    ]


def test_load_accepts_str_path_and_compiled_model(save_model, seq_with_input):
    # A built-in loss given as a function is written as {"module": "builtins",
    # "class_name": "function"}; it must not be refused.
    seq_with_input.compile("adam", loss=keras.losses.sparse_categorical_crossentropy)
    path = save_model(seq_with_input)
    assert isinstance(models.load_model(str(path)), keras.Model)


def test_inspect_passes_keras_activation_function(save_model):
    inp = keras.Input((3,))
    out = layers.Dense(2, activation=keras.activations.gelu, name="d")(inp)
    path = save_model(keras.Model(inp, out))
    path = _rewrite_keras_config(
        path,
        lambda cfg: _layer_cfg(cfg, "d")["config"].update(
            activation={
                "module": "keras.activations",
                "class_name": "function",
                "config": "gelu",
                "registered_name": "gelu",
            }
        ),
    )
    models.inspect_model_file(path)


# --------------------------------------------------------------------------------------------
# Safe loading: refused files
# --------------------------------------------------------------------------------------------


def _lambda_model(marker: Path) -> keras.Model:
    # The lambda's bytecode holds the marker path as a constant, so it would create the
    # marker wherever it ran, including inside a loader.
    fn = eval(f"lambda t: (__import__('pathlib').Path({str(marker)!r}).touch(), t * 2.0)[1]")
    inp = keras.Input((3,))
    out = layers.Dense(2, name="out")(layers.Lambda(fn, name="lambda_1")(inp))
    return keras.Model(inp, out)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_lambda_layer_refused_and_never_run(tmp_path, save_model, suffix):
    marker = tmp_path / "lambda-ran"
    model = _lambda_model(marker)
    path = save_model(model, suffix=suffix)
    marker.unlink(missing_ok=True)  # building the model ran the lambda once
    with pytest.raises(ModelRefusedError, match="layer 'lambda_1' is a Lambda layer") as exc:
        models.load_model(path)
    assert "Python code would run on load" in _one_line_error(exc)
    assert not marker.exists()


def test_lambda_marker_proves_code_runs_on_unsafe_load(tmp_path, save_model):
    # Control for the test above: an unsafe load does execute the lambda's code.
    marker = tmp_path / "lambda-ran"
    path = save_model(_lambda_model(marker))
    marker.unlink(missing_ok=True)
    keras.saving.load_model(path, safe_mode=False)
    assert marker.exists()


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_registered_custom_layer_refused(save_model, suffix):
    inp = keras.Input((4,))
    out = layers.Dense(2)(TimesThree(name="triple")(inp))
    path = save_model(keras.Model(inp, out), suffix=suffix)
    with pytest.raises(ModelRefusedError, match="layer 'triple'.*topomaps_test>TimesThree"):
        models.load_model(path)


def test_module_outside_keras_refused(save_model, seq_with_input):
    path = save_model(seq_with_input)

    def edit(cfg):
        layer = cfg["config"]["layers"][1]
        layer["module"] = "evil.mod"

    with pytest.raises(ModelRefusedError, match="module 'evil.mod' is outside Keras"):
        models.load_model(_rewrite_keras_config(path, edit))


def test_unknown_layer_class_refused_keras(save_model, seq_with_input):
    path = save_model(seq_with_input)
    path = _rewrite_keras_config(
        path, lambda cfg: cfg["config"]["layers"][1].update(class_name="NoSuchLayer")
    )
    with pytest.raises(ModelRefusedError, match="class 'NoSuchLayer', which Keras does not know"):
        models.load_model(path)


def test_unknown_layer_class_refused_h5(save_model, seq_with_input):
    path = save_model(seq_with_input, suffix=".h5")
    with h5py.File(path, "r+") as h5:
        cfg = json.loads(h5.attrs["model_config"])
        cfg["config"]["layers"][1]["class_name"] = "NoSuchLayer"
        h5.attrs["model_config"] = json.dumps(cfg)
    with pytest.raises(ModelRefusedError, match="'NoSuchLayer', which Keras does not know"):
        models.load_model(path)


def test_tfsm_layer_refused(save_model, seq_with_input):
    path = save_model(seq_with_input)
    path = _rewrite_keras_config(
        path, lambda cfg: cfg["config"]["layers"][1].update(class_name="TFSMLayer")
    )
    with pytest.raises(ModelRefusedError, match="is a TFSMLayer layer"):
        models.load_model(path)


def test_serialized_lambda_function_refused(save_model, functional_branches):
    path = save_model(functional_branches)
    lam = {"class_name": "__lambda__", "config": {"code": "AAAA", "defaults": None}}
    path = _rewrite_keras_config(
        path, lambda cfg: _layer_cfg(cfg, "left")["config"].update(activation=lam)
    )
    with pytest.raises(ModelRefusedError, match="layer 'left' contains a serialised Python"):
        models.load_model(path)


@pytest.mark.parametrize(
    ("module", "fn"),
    [("keras.utils", "get_file"), ("builtins", "exec"), ("os", "system"), (None, "my_act")],
)
def test_non_keras_function_refused(save_model, functional_branches, module, fn):
    path = save_model(functional_branches)
    ref = {"module": module, "class_name": "function", "config": fn, "registered_name": fn}
    path = _rewrite_keras_config(
        path, lambda cfg: _layer_cfg(cfg, "right")["config"].update(activation=ref)
    )
    with pytest.raises(ModelRefusedError, match=f"layer 'right' references the function '{fn}'"):
        models.load_model(path)


def test_custom_object_nested_in_submodel_refused(save_model, nested_model):
    path = save_model(nested_model)

    def edit(cfg):
        backbone = _layer_cfg(cfg, "backbone")
        conv2 = _layer_cfg(backbone, "conv2")
        conv2["config"]["kernel_initializer"] = {
            "module": None,
            "class_name": "Init",
            "config": {},
            "registered_name": "evil>Init",
        }

    with pytest.raises(ModelRefusedError, match="layer 'conv2' uses the custom object 'evil>Init'"):
        models.load_model(_rewrite_keras_config(path, edit))


# --------------------------------------------------------------------------------------------
# Bad files
# --------------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        models.load_model(tmp_path / "nope.keras")


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_empty_file(tmp_path, suffix):
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    with pytest.raises(ModelLoadError, match=r"is empty \(0 bytes\)"):
        models.load_model(path)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_random_bytes(tmp_path, suffix):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(ModelLoadError, match="is not") as exc:
        models.load_model(path)
    _one_line_error(exc)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_truncated_file(save_model, conv2d_model, suffix):
    path = save_model(conv2d_model, suffix=suffix)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="damaged|could not load") as exc:
        models.load_model(path)
    _one_line_error(exc)


def test_zip_without_config(tmp_path):
    path = tmp_path / "m.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(ModelLoadError, match="has no config.json"):
        models.load_model(path)


def test_hdf5_named_keras(save_model, seq_with_input):
    path = save_model(seq_with_input, suffix=".h5")
    renamed = path.rename(path.with_suffix(".keras"))
    with pytest.raises(ModelLoadError, match="is an HDF5 file.*rename it to .h5"):
        models.load_model(renamed)


def test_weights_only_h5(tmp_path, seq_with_input):
    path = tmp_path / "w.weights.h5"
    seq_with_input.save_weights(path)
    with pytest.raises(ModelLoadError, match="holds no model configuration"):
        models.load_model(path)


def test_savedmodel_directory(tmp_path):
    folder = tmp_path / "exported"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"\x08\x01")
    with pytest.raises(ModelLoadError, match="TensorFlow SavedModel.*save the model as .keras"):
        models.load_model(folder)
    with pytest.raises(ModelLoadError, match="TensorFlow SavedModel"):
        models.load_model(folder / "saved_model.pb")


def test_plain_directory(tmp_path):
    with pytest.raises(ModelLoadError, match="is a directory"):
        models.load_model(tmp_path)


def test_unknown_extension(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"abc")
    with pytest.raises(ModelLoadError, match=r"unsupported extension '\.pt'; valid: \.keras, \.h5"):
        models.load_model(path)


def test_oversized_file(tmp_path, monkeypatch, save_model, conv2d_model):
    path = save_model(conv2d_model)
    monkeypatch.setenv("MAX_UPLOAD_MB", "0.01")
    with pytest.raises(ModelLoadError, match="over the 0.01 MB limit"):
        models.load_model(path)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_unbuilt_model(tmp_path, suffix):
    path = tmp_path / f"unbuilt{suffix}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns that the model is unbuilt
        keras.Sequential([layers.Dense(3)]).save(path)
    with pytest.raises(ModelLoadError, match="has no defined input shape"):
        models.load_model(path)


def test_unknown_demo_spec():
    from topomap_core.io import sources

    with pytest.raises(ModelLoadError, match="unknown demo model 'demo:nope'; valid: demo:digits"):
        sources.load_model("demo:nope")
    with pytest.raises(ModelLoadError, match="is a demo name, not a file"):
        models.load_model("demo:digits-mlp")


def test_errors_are_value_errors():
    assert issubclass(ModelRefusedError, TopomapError)
    assert issubclass(ModelLoadError, ValueError)


def _summary(model):
    return [(i.name, i.class_name, i.output_shape, i.neurons) for i in models.list_layers(model)]


def test_list_layers_sequential(seq_no_input, seq_with_input):
    assert _summary(seq_no_input) == [("hidden", "Dense", (5,), 5), ("out", "Dense", (3,), 3)]
    assert _summary(seq_with_input) == [("hidden", "Dense", (4,), 4), ("out", "Dense", (2,), 2)]


def test_list_layers_functional(functional_branches):
    assert _summary(functional_branches) == [
        ("left", "Dense", (4,), 4),
        ("right", "Dense", (3,), 3),
        ("concat", "Concatenate", (7,), 7),
        ("out", "Dense", (2,), 2),
    ]


def test_list_layers_nested(nested_model):
    assert _summary(nested_model) == [
        ("scale", "Rescaling", (8, 8, 1), 1),
        ("backbone", "Functional", (4, 4, 6), 6),
        ("backbone/conv1", "Conv2D", (6, 6, 4), 4),
        ("backbone/conv2", "Conv2D", (4, 4, 6), 6),
        ("flat", "Flatten", (96,), 96),
        ("out", "Dense", (3,), 3),
    ]


def test_list_layers_conv(conv1d_model, conv2d_model):
    assert _summary(conv1d_model)[0] == ("conv", "Conv1D", (8, 5), 5)
    assert _summary(conv2d_model)[0] == ("conv", "Conv2D", (4, 4, 7), 7)


def test_layer_info_to_dict(nested_model):
    info = models.get_layer(nested_model, "backbone/conv2")
    assert info.to_dict() == {
        "name": "backbone/conv2",
        "class": "Conv2D",
        "output_shape": [4, 4, 6],
        "neurons": 6,
    }
    with pytest.raises(AttributeError):
        info.neurons = 3  # frozen


def test_get_layer_unknown_lists_valid(nested_model):
    with pytest.raises(
        LayerNotFoundError, match=r"no layer 'conv9'; valid layers: scale, backbone"
    ):
        models.get_layer(nested_model, "conv9")
    with pytest.raises(LayerNotFoundError, match="backbone/conv2"):
        models.get_layer(nested_model, "backbone/nope")
    with pytest.raises(LayerNotFoundError, match="no layer 'flat/x'"):
        activations.activation_model(nested_model, "flat/x")


def test_input_layer_and_multi_output_layer_not_mappable():
    inp = keras.Input((4, 2), name="seq_in")
    out, _, _ = layers.LSTM(3, return_state=True, name="lstm")(inp)
    model = keras.Model(inp, layers.Dense(2, name="out")(out))
    assert [i.name for i in models.list_layers(model)] == ["out"]
    for name in ("lstm", "seq_in"):
        with pytest.raises(LayerNotFoundError, match=f"layer '{name}' cannot be mapped"):
            models.get_layer(model, name)


def test_input_shape(seq_no_input, nested_model, conv1d_model):
    assert models.input_shape(seq_no_input) == (6,)
    assert models.input_shape(nested_model) == (8, 8, 1)
    assert models.input_shape(conv1d_model) == (10, 2)


# --------------------------------------------------------------------------------------------
# Activations, compared with references computed another way
# --------------------------------------------------------------------------------------------


def _dense_ref(layer, x, act):
    kernel, bias = (w.numpy() for w in layer.weights)
    return act(x @ kernel + bias)


def test_activations_seq_no_input(seq_no_input):
    x = _x((6,))
    _, acts, preds = _collect(seq_no_input, "hidden", x)
    ref = _dense_ref(seq_no_input.get_layer("hidden"), x, lambda z: np.maximum(z, 0))
    np.testing.assert_allclose(acts, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(preds, _np(seq_no_input(x)), rtol=1e-5, atol=1e-6)
    assert acts.dtype == np.float32 and acts.shape == (10, 5) and preds.shape == (10, 3)


def test_activations_seq_with_input(seq_with_input):
    x = _x((6,))
    _, acts, preds = _collect(seq_with_input, "hidden", x)
    np.testing.assert_allclose(
        acts, _dense_ref(seq_with_input.get_layer("hidden"), x, np.tanh), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(preds.sum(axis=1), 1.0, rtol=1e-5)


def test_activations_functional_branches(functional_branches):
    x = _x((6,))
    model = functional_branches
    left = _dense_ref(model.get_layer("left"), x, lambda z: np.maximum(z, 0))
    right = _dense_ref(model.get_layer("right"), x, lambda z: 1 / (1 + np.exp(-z)))
    _, acts, _ = _collect(model, "right", x)
    np.testing.assert_allclose(acts, right, rtol=1e-5, atol=1e-6)
    _, acts, preds = _collect(model, "concat", x)
    np.testing.assert_allclose(acts, np.concatenate([left, right], axis=1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(preds, _np(model(x)), rtol=1e-5, atol=1e-6)


def test_activations_nested(nested_model):
    x = _x((8, 8, 1))
    backbone = nested_model.get_layer("backbone")
    scaled = x * 2.0 - 1.0  # the Rescaling layer in front of the backbone
    conv1 = keras.Model(backbone.inputs[0], backbone.get_layer("conv1").output)
    for name, ref in [
        ("backbone/conv1", _np(conv1(scaled))),
        ("backbone/conv2", _np(backbone(scaled))),
        ("backbone", _np(backbone(scaled))),
    ]:
        _, acts, preds = _collect(nested_model, name, x, batch_size=4)
        np.testing.assert_allclose(acts, ref, rtol=1e-5, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(preds, _np(nested_model(x)), rtol=1e-5, atol=1e-6)


def test_activations_doubly_nested():
    keras.utils.set_random_seed(7)
    core_in = keras.Input((5,))
    core = keras.Model(core_in, layers.Dense(4, name="deep")(core_in), name="core")
    mid_in = keras.Input((5,))
    mid = keras.Model(mid_in, layers.Dense(3, name="after")(core(mid_in)), name="mid")
    inp = keras.Input((5,))
    model = keras.Model(inp, layers.Dense(2, name="head")(mid(layers.Dense(5, name="pre")(inp))))
    assert "mid/core/deep" in [i.name for i in models.list_layers(model)]
    x = _x((5,))
    pre = _np(model.get_layer("pre")(x))
    _, acts, _ = _collect(model, "mid/core/deep", x)
    np.testing.assert_allclose(acts, _np(core(pre)), rtol=1e-5, atol=1e-6)


def test_activations_nested_after_save_and_load(save_model, nested_model):
    x = _x((8, 8, 1))
    loaded = models.load_model(save_model(nested_model))
    _, want, _ = _collect(nested_model, "backbone/conv2", x)
    _, got, _ = _collect(loaded, "backbone/conv2", x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_activations_conv1d(conv1d_model):
    x = _x((10, 2))
    conv = conv1d_model.get_layer("conv")
    kernel, bias = (w.numpy() for w in conv.weights)  # kernel (3, 2, 5)
    windows = np.stack([x[:, i : i + 3, :] for i in range(8)], axis=1)  # (n, 8, 3, 2)
    ref = np.maximum(np.einsum("nlkc,kcf->nlf", windows, kernel) + bias, 0)
    _, acts, _ = _collect(conv1d_model, "conv", x)
    assert acts.shape == (10, 8, 5)
    np.testing.assert_allclose(acts, ref, rtol=1e-4, atol=1e-5)


def test_activations_conv2d(conv2d_model):
    x = _x((8, 8, 1))
    _, acts, preds = _collect(conv2d_model, "conv", x)
    assert acts.shape == (10, 4, 4, 7)
    np.testing.assert_allclose(acts, _np(conv2d_model.get_layer("conv")(x)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(preds, _np(conv2d_model(x)), rtol=1e-5, atol=1e-6)


def test_activations_channels_first_moved_last():
    model = keras.Sequential(
        [
            keras.Input((3, 4, 4)),
            layers.ZeroPadding2D(1, data_format="channels_first", name="pad"),
            layers.Flatten(data_format="channels_first", name="flat"),
            layers.Dense(2, name="out"),
        ]
    )
    info = models.get_layer(model, "pad")
    assert info.output_shape == (3, 6, 6) and info.neurons == 3
    x = _x((3, 4, 4), n=5)
    _, acts, _ = _collect(model, "pad", x)
    assert acts.shape == (5, 6, 6, 3)
    np.testing.assert_allclose(acts[:, 1:-1, 1:-1, :], np.moveaxis(x, 1, -1))


def test_batches_and_progress(conv2d_model):
    x = _x((8, 8, 1), n=10)
    calls = []
    starts, acts, _ = _collect(
        conv2d_model, "conv", x, batch_size=3, progress=lambda *a: calls.append(a)
    )
    assert starts == [0, 3, 6, 9]
    assert calls == [("activations", i, 4) for i in (1, 2, 3, 4)]
    _, full, _ = _collect(conv2d_model, "conv", x)
    np.testing.assert_allclose(acts, full, rtol=1e-5, atol=1e-6)


def test_cancel_activations(conv2d_model):
    x = _x((8, 8, 1), n=10)
    seen = []
    gen = activations.iter_activations(
        conv2d_model, "conv", x, batch_size=3, progress=lambda s, d, t: d >= 2
    )
    with pytest.raises(Cancelled):
        for start, _, _ in gen:
            seen.append(start)
    assert seen == [0]  # batch 2 was computed, reported, and cancelled before yielding


def test_predict(conv2d_model):
    x = _x((8, 8, 1), n=7)
    calls = []
    preds = activations.predict(conv2d_model, x, batch_size=3, progress=lambda *a: calls.append(a))
    np.testing.assert_allclose(preds, _np(conv2d_model(x)), rtol=1e-5, atol=1e-6)
    assert calls == [("predictions", i, 3) for i in (1, 2, 3)]
    with pytest.raises(Cancelled):
        activations.predict(conv2d_model, x, batch_size=3, progress=lambda *a: True)


def test_iter_activations_validates_eagerly(conv2d_model):
    with pytest.raises(LayerNotFoundError, match="no layer 'nope'"):
        activations.iter_activations(conv2d_model, "nope", _x((8, 8, 1)))  # no next() needed
    with pytest.raises(DataError, match=r"data examples have shape \(8, 8\) but the model"):
        activations.iter_activations(conv2d_model, "conv", np.zeros((3, 8, 8)))
    with pytest.raises(DataError, match="data examples have shape"):
        activations.predict(conv2d_model, np.zeros((3, 64)))


def test_deeply_nested_config_refused(tmp_path):
    path = tmp_path / "deep.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", "[" * 200_000 + "]" * 200_000)
    with pytest.raises(ModelLoadError, match="config.json in 'deep.keras' is not valid JSON"):
        models.load_model(path)


def test_a_layer_name_tensorflow_cannot_run_is_named_in_one_line(tmp_path):
    name = "<img src=x onerror=alert(1)>"
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, name=name), keras.layers.Dense(2, name="out")]
    )
    path = tmp_path / "html.keras"
    model.save(path)
    with pytest.raises(ModelLoadError) as caught:
        models.load_model(path)
    text = one_line(caught.value)
    assert repr(name) in text and "rename the layer" in text and "\x1b" not in text


def test_one_line_drops_kerass_colours_and_wrapper_line():
    exc = ValueError(
        "Exception encountered when calling Functional.call().\n\n"
        "\x1b[1m'a b' is not a valid scope name.\x1b[0m\n\nArguments received: ..."
    )
    assert one_line(exc) == "'a b' is not a valid scope name."
