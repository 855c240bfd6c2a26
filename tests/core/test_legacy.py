"""Keras 2 ``.h5`` files (issue 19): the known, harmless configuration differences rewritten
and named, the same weights and outputs after loading, and every other refusal with Keras's
whole cause in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import zoo

from topomap_core.analyses.describe import DescribeJob
from topomap_core.errors import ModelLoadError, ModelRefusedError
from topomap_core.io import legacy
from topomap_core.io.activations import predict
from topomap_core.io.models import conversions, load_model


@pytest.fixture(scope="module")
def detector():
    return zoo.mobilenet_detector()


@pytest.fixture(scope="module")
def xception():
    return zoo.mini_xception()


def test_the_keras2_fixture_is_refused_by_keras3_as_it_is(detector, tmp_path):
    """The fixture really is what Keras 3 cannot read (else the rewrites prove nothing)."""
    import keras

    path = zoo.keras2_h5(detector, tmp_path / "detector.h5")
    with pytest.raises(Exception, match=r"Unrecognized keyword arguments passed to Depthwise"):
        keras.saving.load_model(path, compile=False)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("detector", ["dropped DepthwiseConv2D groups=1 in 3 layers",
                      "dropped BatchNormalization fused (an implementation switch) in 3 layers"]),
        ("xception", ["dropped SeparableConv2D groups=1 in 8 layers",
                      "wrote BatchNormalization axis [k] as k in 14 layers"]),
    ],
)  # fmt: skip
def test_a_keras2_h5_loads_with_the_same_outputs_and_names_the_rewrites(
    request, tmp_path, model, expected
):
    original = request.getfixturevalue(model)
    path = zoo.keras2_h5(original, tmp_path / f"{model}.h5")
    before = path.read_bytes()
    loaded = load_model(path)
    done = conversions(loaded)
    assert all(text in done for text in expected), done
    shape = tuple(original.inputs[0].shape[1:])
    x = np.random.default_rng(0).uniform(0, 1, (4, *shape)).astype(np.float32)
    np.testing.assert_allclose(predict(loaded, x), predict(original, x), rtol=1e-5, atol=1e-6)
    assert path.read_bytes() == before  # the upload itself never changes
    # The description (the dashboard's layer list) names them too.
    job = DescribeJob()
    description = job.run(job.validate({"model": str(path)}, paths=True))
    assert description["converted"] == done
    # A Keras 3 file needs none.
    keras3 = tmp_path / f"{model}.keras"
    original.save(keras3)
    assert conversions(load_model(keras3)) == []


def test_a_difference_that_is_not_harmless_is_refused_with_the_whole_cause(detector, tmp_path):
    def groups_two(config):
        config = zoo.keras2_config(config)
        for node in legacy._layers(config):
            if node["class_name"] == "DepthwiseConv2D":
                node["config"]["groups"] = 2
        return config

    path = zoo.keras2_h5(detector, tmp_path / "groups2.h5", rewrite=groups_two)
    with pytest.raises(ModelLoadError) as info:
        load_model(path)
    text = str(info.value)
    assert "\n" not in text and "config=" not in text
    assert "layer 'conv_dw_1' (DepthwiseConv2D)" in text
    assert "Unrecognized keyword arguments passed to DepthwiseConv2D: {'groups': 2}" in text
    assert "after converting from Keras 2: dropped BatchNormalization fused" in text
    # --debug shows what Keras raised: the error is chained.
    assert info.value.__cause__ is not None


def test_a_rewritten_configuration_is_checked_again(detector, tmp_path):
    """The rewrites never let a Lambda (or other code) through."""

    def with_lambda(config):
        config = zoo.keras2_config(config)
        config["config"]["layers"][1]["class_name"] = "Lambda"
        return config

    path = zoo.keras2_h5(detector, tmp_path / "lambda.h5", rewrite=with_lambda)
    with pytest.raises(ModelRefusedError, match="Lambda layer"):
        load_model(path)


def test_keras_cause_reads_the_cause_not_the_config_dump():
    exc = TypeError(
        "Error when deserializing class 'DepthwiseConv2D' using config={'name': 'conv_dw_1', "
        "'trainable': True, 'kernel_size': [3, 3], 'groups': 1}.\n\nException encountered: "
        "Unrecognized keyword arguments passed to DepthwiseConv2D: {'groups': 1}"
    )
    assert legacy.keras_cause(exc) == (
        "layer 'conv_dw_1' (DepthwiseConv2D): Unrecognized keyword arguments passed to "
        "DepthwiseConv2D: {'groups': 1}"
    )
    assert legacy.keras_cause(ValueError("plain\nsecond line")) == "plain"


def test_convert_counts_per_kind_and_leaves_keras3_configs_alone(xception):
    config = json.loads(json.dumps(xception.get_config()))
    same, done = legacy.convert({"class_name": "Functional", "config": config})
    assert done == []
    rewritten, done = legacy.convert(zoo.keras2_config({"class_name": "Functional",
                                                        "config": config}))  # fmt: skip
    assert "dropped BatchNormalization virtual_batch_size=None in 14 layers" in done
    assert all("groups" not in node["config"] for node in legacy._layers(rewritten)
               if node["class_name"] == "SeparableConv2D")  # fmt: skip


def test_a_model_with_nan_weights_is_refused_naming_the_layer(tmp_path):
    """Issue 20, item 12: NaN weights showed as "nap contains 50 NaN" or as dead neurons."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, activation="relu", name="dense1"),
            keras.layers.Dense(3, name="out"),
        ]  # fmt: skip
    )
    kernel = model.get_layer("dense1").kernel
    values = np.asarray(kernel).copy()
    values[0, :5] = np.nan
    values[1, 0] = np.inf
    kernel.assign(values)
    path = tmp_path / "diverged.keras"
    model.save(path)
    with pytest.raises(ModelLoadError, match=r"6 NaN or infinite weights in layer 'dense1'"):
        load_model(path)
