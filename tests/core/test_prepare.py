"""Declared input preparation (issue 19): presets, scale:offset, resizing, and where ``auto``
means what; the misfit hint that names the option that makes data fit."""

from __future__ import annotations

import numpy as np
import pytest

from topomap_core.errors import DataError, TopomapError
from topomap_core.io.data import Dataset, check_fits
from topomap_core.io.prepare import InputSpec, Preprocess, prepare_dataset, resize_images, resolve
from topomap_core.params import ParamError

NHWC = InputSpec((2, 2, 3))
PIXELS = np.array([[[[0, 128, 255]] * 2] * 2], dtype=np.float32)  # one 2x2 RGB image


def _dataset(x, source="array"):
    return Dataset(np.asarray(x, np.float32), None, None, None, "t", source=source)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("auto", "auto"),
        (" Caffe ", "caffe"),
        ("1/255:0", "0.00392156863:0"),
        ("0.5 : -1", "0.5:-1"),
        ("1/127.5:-1", "0.00784313725:-1"),
    ],
)
def test_preprocess_values_are_canonical(raw, clean):
    assert Preprocess().clean(raw) == clean


@pytest.mark.parametrize("raw", ["imagenet", "1:2:3", "x/255", "1/0:0", "0:1", 255, None])
def test_a_bad_preprocess_names_every_valid_one(raw):
    with pytest.raises(ParamError) as info:
        Preprocess().clean(raw)
    text = str(info.value)
    if raw != "0:1":
        assert all(name in text for name in ("auto", "unit", "symmetric", "caffe", "torch"))
        assert "scale:offset" in text
    else:
        assert "scale of 0" in text


def test_a_request_refuses_a_bad_preprocess_with_one_line():
    from topomap_core.jobs.registry import get_job

    with pytest.raises(TopomapError, match="Preprocess 'imagenet' .*use one of auto"):
        get_job("view").validate({"preprocess": "imagenet"})
    assert get_job("view").validate({"preprocess": "1/255:0"}).preprocess == "0.00392156863:0"


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("none", [0, 128, 255]),
        ("unit", [0, 128 / 255, 1]),
        ("symmetric", [-1, 128 / 127.5 - 1, 1]),
        ("tf", [-1, 128 / 127.5 - 1, 1]),
        # BGR, minus the ImageNet means of B, G, R: pixel (R=0, G=128, B=255)
        ("caffe", [255 - 103.939, 128 - 116.779, 0 - 123.68]),
        ("torch", [(0 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, (1 - 0.406) / 0.225]),
        ("0.5:-1", [-1, 63, 126.5]),
    ],
)
def test_each_preset_prepares_pixels_as_keras_applications_does(preset, expected):
    prepared = resolve(preset, "array", NHWC).apply(PIXELS.copy(), NHWC)
    np.testing.assert_allclose(prepared[0, 0, 0], expected, rtol=1e-5, atol=1e-4)
    assert prepared.dtype == np.float32


def test_caffe_and_torch_follow_a_channels_first_layout():
    spec = InputSpec((3, 2, 2), "channels_first")
    x = np.moveaxis(PIXELS, -1, 1).copy()
    prepared = resolve("caffe", "array", spec).apply(x, spec)
    np.testing.assert_allclose(prepared[0, :, 0, 0], [255 - 103.939, 128 - 116.779, -123.68])


def test_caffe_on_grey_images_says_it_needs_colour():
    with pytest.raises(DataError, match="caffe is for colour images .* have 1 channel"):
        spec = InputSpec((2, 2, 1))
        resolve("caffe", "array", spec).apply(np.zeros((1, 2, 2, 1)), spec)


def test_auto_means_as_given_for_arrays_and_x255_for_image_folders():
    assert resolve("auto", "array", NHWC).preset == "none"
    assert resolve("auto", "demo", NHWC).preset == "none"
    folders = resolve("auto", "images", NHWC)
    assert folders.preset == "unit" and "0-255" in folders.text()
    # A model that rescales itself wants the raw pixels.
    own = resolve("auto", "images", InputSpec((2, 2, 3), scaling="Rescaling(x * 0.00392 + 0)"))
    assert own.preset == "none" and "Rescaling" in own.text()


def test_a_model_that_starts_with_rescaling_is_described_so(nested_model, conv2d_model):
    from topomap_core.io.models import input_spec

    assert input_spec(nested_model).scaling == "Rescaling(x * 2 + -1)"
    assert input_spec(conv2d_model) == InputSpec((8, 8, 1), "channels_last", None)


def test_resize_brings_28x28_to_a_64x64x1_model_and_grey_to_rgb():
    x = np.zeros((3, 28, 28), np.float32)
    x[:, 10:18, 10:18] = 255
    out = resize_images(x, InputSpec((64, 64, 1)))
    assert out.shape == (3, 64, 64, 1)
    assert out[0, 32, 32, 0] == pytest.approx(255) and out[0, 2, 2, 0] == 0
    rgb = resize_images(x, InputSpec((56, 56, 3)))
    assert rgb.shape == (3, 56, 56, 3)
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])
    grey = resize_images(np.full((1, 4, 4, 3), [255, 0, 0], np.float32), InputSpec((4, 4, 1)))
    np.testing.assert_allclose(grey[..., 0], 0.299 * 255, rtol=1e-5)


def test_the_misfit_hint_names_resize_not_a_channel_axis():
    # Issue 19: (28, 28) data for a (64, 64, 1) model were told "add a channel axis".
    data = _dataset(np.zeros((4, 28, 28)))
    with pytest.raises(DataError) as info:
        check_fits(data, (64, 64, 1))
    text = str(info.value)
    assert "add a channel axis" not in text
    assert "28×28 images for 64×64" in text and "resize bilinear" in text
    # Only the channel axis missing: that is still the hint.
    with pytest.raises(DataError, match=r"add a channel axis: x\[\.\.\., np.newaxis\]"):
        check_fits(_dataset(np.zeros((4, 64, 64))), (64, 64, 1))
    with pytest.raises(DataError, match="1 channel for 3.*resize bilinear"):
        check_fits(_dataset(np.zeros((4, 8, 8, 1))), (8, 8, 3))


def test_prepare_dataset_resizes_then_prepares_and_records_how():
    data = _dataset(np.full((2, 28, 28), 255.0))
    out = prepare_dataset(data, InputSpec((32, 32, 1)), "unit", "bilinear")
    assert out.x.shape == (2, 32, 32, 1)
    np.testing.assert_allclose(out.x, 1.0)
    assert out.prepared.resized_from == (28, 28)
    assert out.prepared.preparation.text() == "preprocess unit (x/255)"
    check_fits(out, (32, 32, 1))
    with pytest.raises(DataError, match="resize bilinear is for image inputs"):
        prepare_dataset(_dataset(np.zeros((2, 5))), InputSpec((7,), "features"), "auto", "bilinear")
