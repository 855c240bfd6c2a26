"""Tests for topomap_core.io.data: demo digits, .npz and image .zip reading, fit checks."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile

import numpy as np
import pytest
from PIL import Image

from topomap_core.errors import DataError
from topomap_core.io import data, sources
from topomap_core.io.data import Dataset, check_fits, load_data


def _png(color, size=(5, 4), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, format="PNG")
    return buf.getvalue()


def _zip(path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, payload in members.items():
            zf.writestr(name, payload)
    return path


def _dataset(x, y=None, groups=None):
    return Dataset(
        x=np.asarray(x, dtype=np.float32), y=y, groups=groups, label_names=None, name="t"
    )


# --------------------------------------------------------------------------------------------
# Demo digits
# --------------------------------------------------------------------------------------------


def test_digits_split():
    x_train, y_train, x_test, y_test = data.digits_split()
    assert x_train.shape == (1257, 8, 8, 1) and x_test.shape == (540, 8, 8, 1)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    # Stratified: every class is in the test part in about the same proportion.
    assert np.bincount(y_test).min() >= 50
    again = data.digits_split()
    np.testing.assert_array_equal(again[2], x_test)  # fixed seed


def test_load_demo_digits():
    ds = load_data("demo:digits")
    assert ds.x.shape == (540, 8, 8, 1) and ds.x.dtype == np.float32
    assert ds.y.shape == (540,) and ds.y.dtype == np.int64
    assert set(ds.y.tolist()) == set(range(10))
    assert ds.label_names == [str(i) for i in range(10)]
    assert ds.groups is None and ds.n_examples == 540
    assert ds.label_name(3) == "3"
    check_fits(ds, (8, 8, 1))


def test_unknown_demo_data():
    with pytest.raises(DataError, match="unknown demo data 'demo:cifar'; valid: demo:digits"):
        load_data("demo:cifar")


def test_label_name_without_names():
    ds = _dataset(np.zeros((2, 3)))
    assert ds.label_name(7) == "7"


# --------------------------------------------------------------------------------------------
# .npz
# --------------------------------------------------------------------------------------------


def test_npz_round_trip(tmp_path):
    path = tmp_path / "d.npz"
    x = np.random.default_rng(0).random((6, 4, 3))
    np.savez(
        path,
        x=x,
        y=np.array([0, 1, 2, 0, 1, 2]),
        groups=np.array([1, 1, 2, 2, 3, 3]),
        label_names=np.array(["a", "b", "c"]),
    )
    ds = load_data(path)
    np.testing.assert_allclose(ds.x, x.astype(np.float32))
    assert ds.x.dtype == np.float32 and ds.y.dtype == np.int64
    assert ds.y.tolist() == [0, 1, 2, 0, 1, 2]
    assert ds.groups.tolist() == ["1", "1", "2", "2", "3", "3"]
    assert ds.label_names == ["a", "b", "c"] and ds.label_name(1) == "b"
    assert ds.name == "d.npz"
    check_fits(ds, (4, 3))


def test_npz_compressed_x_only(tmp_path):
    path = tmp_path / "d.npz"
    np.savez_compressed(path, x=np.ones((3, 2), dtype=np.uint8))
    ds = load_data(str(path))
    assert ds.y is None and ds.groups is None and ds.label_names is None
    assert ds.x.dtype == np.float32


def test_npz_one_hot_y(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((3, 2)), y=np.eye(3)[[2, 0, 1]])
    assert load_data(path).y.tolist() == [2, 0, 1]


def test_npz_string_y(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((3, 2)), y=np.array(["dog", "cat", "dog"]))
    ds = load_data(path)
    assert ds.label_names == ["cat", "dog"] and ds.y.tolist() == [1, 0, 1]


def test_npz_object_array_refused(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((2, 2)), groups=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match="'groups' in 'd.npz' is an object array.*refused"):
        load_data(path)


def test_npz_wrong_keys(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, images=np.zeros((2, 2)), labels=np.zeros(2))
    with pytest.raises(DataError, match=r"no array named 'x'; found: \['images', 'labels'\]"):
        load_data(path)


def test_npz_bad_y(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((2, 2)), y=np.array([0.5, 1.0]))
    with pytest.raises(DataError, match="non-integer"):
        load_data(path)
    np.savez(path, x=np.zeros((2, 2)), y=np.array([0, 5]), label_names=np.array(["a", "b"]))
    with pytest.raises(DataError, match="class 5 but label_names has only 2 names"):
        load_data(path)


def test_npz_forged_header_refused(tmp_path):
    # A header claiming 8 TB of float64 data with 8 bytes behind it: numpy would try to
    # allocate the declared shape before reading.
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)}
    )
    path = _zip(tmp_path / "d.npz", {"x.npy": buf.getvalue() + b"\0" * 8})
    with pytest.raises(DataError, match=r"array 'x' in 'd.npz' declares shape \(1000000000000,\)"):
        load_data(path)


def test_npz_random_bytes(tmp_path):
    path = tmp_path / "d.npz"
    path.write_bytes(os.urandom(500))
    with pytest.raises(DataError, match="not a valid zip archive"):
        load_data(path)


def test_npz_bomb_refused(tmp_path):
    path = tmp_path / "d.npz"
    _zip(path, {"x.npy": b"\0" * (20 * 2**20)})
    with pytest.raises(DataError, match="zip bomb"):
        load_data(path)


# --------------------------------------------------------------------------------------------
# .zip of class folders
# --------------------------------------------------------------------------------------------


def test_zip_class_folders_grey(tmp_path):
    path = _zip(
        tmp_path / "imgs.zip",
        {
            "dog/a.png": _png((255, 255, 255)),
            "cat/b.png": _png((0, 0, 0)),
            "cat/c.jpg": _png((0, 0, 0)),  # content sniffed by Pillow, not by extension
            "cat/notes.txt": b"ignored",
            "__MACOSX/cat/._b.png": b"junk",
        },
    )
    ds = load_data(path, input_shape=(3, 2, 1))
    assert ds.x.shape == (3, 3, 2, 1) and ds.x.dtype == np.float32
    assert ds.label_names == ["cat", "dog"] and ds.source == "images"
    assert ds.y.tolist() == [0, 0, 1]
    # Decoded as 0-255 pixels; the preparation (auto: x/255 for image folders) scales them.
    np.testing.assert_allclose(ds.x[2], 255.0)
    np.testing.assert_allclose(ds.x[0], 0.0)
    check_fits(ds, (3, 2, 1))
    prepared = sources.load_data(path, (3, 2, 1))
    np.testing.assert_allclose(prepared.x[2], 1.0)
    assert prepared.prepared.preparation.preset == "unit"


def test_zip_rgb_with_wrapper_folder(tmp_path):
    path = _zip(
        tmp_path / "imgs.zip",
        {
            "data/red/1.png": _png((255, 0, 0)),
            "data/blue/2.png": _png((0, 0, 255), mode="RGB"),
            "data/blue/3.png": _png(128, mode="L"),  # grey image converted to RGB
        },
    )
    ds = load_data(path, input_shape=(4, 4, 3))
    assert ds.label_names == ["blue", "red"] and ds.x.shape == (3, 4, 4, 3)
    np.testing.assert_allclose(ds.x[0, 0, 0], [0, 0, 255])
    np.testing.assert_allclose(ds.x[1, 0, 0], [128] * 3)
    np.testing.assert_allclose(ds.x[2, 0, 0], [255, 0, 0])


def test_zip_no_channel_axis(tmp_path):
    path = _zip(
        tmp_path / "imgs.zip", {"a/1.png": _png(10, mode="L"), "b/2.png": _png(20, mode="L")}
    )
    assert load_data(path, input_shape=(6, 6)).x.shape == (2, 6, 6)


def test_zip_needs_input_shape(tmp_path):
    path = _zip(tmp_path / "imgs.zip", {"a/1.png": _png(0)})
    with pytest.raises(DataError, match="input shape .* is needed to resize"):
        load_data(path)
    with pytest.raises(DataError, match="not an image shape"):
        load_data(path, input_shape=(64,))
    with pytest.raises(DataError, match="expects 4 channels"):
        load_data(path, input_shape=(8, 8, 4))


@pytest.mark.parametrize("name", ["../evil/1.png", "cat/../../1.png", "/abs/1.png"])
def test_zip_unsafe_path_refused(tmp_path, name):
    path = _zip(tmp_path / "imgs.zip", {"cat/ok.png": _png(0), name: _png(0)})
    with pytest.raises(DataError, match="unsafe path"):
        load_data(path, input_shape=(4, 4, 1))


def test_zip_bomb_member_refused(tmp_path):
    path = _zip(tmp_path / "bomb.zip", {"cat/1.png": _png(0), "cat/2.png": b"\0" * (50 * 2**20)})
    assert path.stat().st_size < 2**20
    with pytest.raises(DataError, match=r"'cat/2.png' expands \d+ times.*zip bomb"):
        load_data(path, input_shape=(4, 4, 1))


def test_zip_total_size_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("MAX_UPLOAD_MB", "0.01")  # 10 KB
    members = {f"cat/{i}.png": b"x" * 4000 for i in range(5)}
    path = _zip(tmp_path / "big.zip", members)
    with pytest.raises(DataError, match="expands to .* MB limit"):
        load_data(path, input_shape=(4, 4, 1))


def test_zip_decoded_size_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("MAX_UPLOAD_MB", "0.01")  # decoded limit: 8 x 10 KB
    path = _zip(tmp_path / "imgs.zip", {"a/1.png": _png(0), "b/2.png": _png(0)})
    with pytest.raises(DataError, match="2 images of 200x200: as float32 .* over the"):
        load_data(path, input_shape=(200, 200, 1))


def test_zip_too_many_members(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MAX_ZIP_MEMBERS", 3)
    path = _zip(tmp_path / "many.zip", {f"cat/{i}.png": _png(0) for i in range(4)})
    with pytest.raises(DataError, match="has 4 members; at most 3"):
        load_data(path, input_shape=(4, 4, 1))


def test_zip_corrupt_image(tmp_path):
    path = _zip(tmp_path / "imgs.zip", {"cat/1.png": _png(0), "cat/bad.png": b"not an image"})
    with pytest.raises(DataError, match="image 'cat/bad.png' in 'imgs.zip' could not be read"):
        load_data(path, input_shape=(4, 4, 1))


def test_zip_loose_image_and_no_images(tmp_path):
    path = _zip(tmp_path / "imgs.zip", {"1.png": _png(0), "cat/2.png": _png(0)})
    with pytest.raises(DataError, match="'1.png' in 'imgs.zip' is not inside a class folder"):
        load_data(path, input_shape=(4, 4, 1))
    path = _zip(tmp_path / "txt.zip", {"cat/readme.txt": b"hi"})
    with pytest.raises(DataError, match="holds no images"):
        load_data(path, input_shape=(4, 4, 1))


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def test_bad_paths(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="does not exist"):
        load_data(tmp_path / "nope.npz")
    csv = tmp_path / "d.csv"
    csv.write_text("1,2")
    with pytest.raises(DataError, match=r"unsupported extension '\.csv'; valid: \.npz, \.zip"):
        load_data(csv)
    empty = tmp_path / "e.npz"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="is empty"):
        load_data(empty)
    big = tmp_path / "big.npz"
    np.savez(big, x=np.zeros((100, 100)))
    monkeypatch.setenv("MAX_UPLOAD_MB", "0.01")
    with pytest.raises(DataError, match="over the 0.01 MB limit"):
        load_data(big)


def test_dataset_hash(tmp_path):
    assert data.dataset_hash("demo:digits") == "demo:digits:v1"
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((2, 2)))
    assert data.dataset_hash(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(DataError, match="unknown demo data"):
        data.dataset_hash("demo:other")


# --------------------------------------------------------------------------------------------
# check_fits
# --------------------------------------------------------------------------------------------


def test_check_fits_shape_mismatch():
    ds = _dataset(np.zeros((4, 8, 8)))
    with pytest.raises(
        DataError, match=r"data examples have shape \(8, 8\) but the model expects \(8, 8, 1\)"
    ):
        check_fits(ds, (8, 8, 1))
    with pytest.raises(DataError, match=r"shape \(8, 8\) but the model expects \(64,\)"):
        check_fits(ds, (64,))


def test_check_fits_none_dims():
    check_fits(_dataset(np.zeros((3, 17, 2))), (None, 2))


def test_check_fits_nan():
    x = np.zeros((5, 3))
    x[0, 0] = np.nan
    x[1, :] = np.inf
    with pytest.raises(DataError, match="data x contains 4 NaN or infinite values"):
        check_fits(_dataset(x), (3,))


def test_check_fits_lengths():
    with pytest.raises(DataError, match="data has 1 example; at least 2"):
        check_fits(_dataset(np.zeros((1, 3))), (3,))
    with pytest.raises(DataError, match="y has 2 labels but x has 3 examples"):
        check_fits(_dataset(np.zeros((3, 3)), y=np.zeros(2, dtype=np.int64)), (3,))
    with pytest.raises(DataError, match="groups has 4 entries but x has 3 examples"):
        check_fits(_dataset(np.zeros((3, 3)), groups=np.array(list("abcd"))), (3,))
