"""The content-addressed store of uploaded files."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import threading
import tracemalloc
import zipfile

import keras
import numpy as np
import pytest

from topomap_core import DataError, ModelLoadError, TopomapError
from topomap_core.analyses.describe import DescribeRequest
from topomap_core.jobs.registry import JOBS
from topomap_core.jobs.results import get_or_compute
from topomap_core.store import CHUNK_BYTES, Store, safe_name, shown_name


@pytest.fixture
def store(tmp_path, demo_dir):
    return Store(tmp_path / "store")


def _model_bytes(tmp_path, lam=False):
    layers = [
        keras.Input((8, 8, 1)),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(6, name="hidden"),
    ]
    if lam:
        layers.append(keras.layers.Lambda(lambda t: t + 1))
    layers.append(keras.layers.Dense(10, activation="softmax", name="out"))
    path = tmp_path / ("lam.keras" if lam else "m.keras")
    keras.Sequential(layers).save(path)
    return path.read_bytes()


def test_same_file_is_stored_once_under_its_hash(store, tmp_path):
    content = _model_bytes(tmp_path)
    a = store.add_model(content, "first name.keras")
    again = store.store("model", io.BytesIO(content), "../../etc/second.keras")
    b = again.ref
    assert a == b and len(a) == 64
    stored = [p for p in store.models_dir.iterdir() if p.suffix == ".keras"]
    assert [p.name for p in stored] == [f"{a}.keras"]
    # Issue 20 item 11: listed under the name just given (the old one said), not the first.
    assert (again.name, again.previous) == ("second.keras", "first name.keras")
    assert [item["name"] for item in store.list_models()] == ["second.keras"]
    assert store.store("model", content, "second.keras").previous is None
    description, _ = get_or_compute(JOBS["describe"], DescribeRequest(model=a), store)
    assert [layer["name"] for layer in description["layers"]] == ["flatten", "hidden", "out"]


def test_the_store_checks_bounds_and_the_describe_job_refuses_code(store, tmp_path):
    # The store (the web process) parses nothing: a Lambda model passes its bounded checks,
    # and the job that first loads it refuses it (the dashboard then removes it).
    ref = store.add_model(_model_bytes(tmp_path, lam=True), "lam.keras")
    with pytest.raises(TopomapError, match="Lambda"):
        get_or_compute(JOBS["describe"], DescribeRequest(model=ref), store)
    store.remove_model(ref)
    assert not any(store.models_dir.iterdir())


def _keras_archive(path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return path.read_bytes()


def test_an_oversized_config_is_refused_before_it_is_parsed(store, tmp_path, monkeypatch):
    monkeypatch.setenv("TOPOMAPS_MAX_CONFIG_MB", "1")
    big = b'{"class_name": "Sequential", "config": {"name": "' + b"x" * 2**21 + b'"}}'
    content = _keras_archive(tmp_path / "big.keras", {"config.json": big})
    with pytest.raises(TopomapError, match=r"over the 1 MB limit \(TOPOMAPS_MAX_CONFIG_MB\)"):
        store.add_model(content, "big.keras")
    assert not any(store.models_dir.iterdir())  # refused files are not kept


def test_an_archive_of_zero_assets_is_refused_as_a_bomb(store, tmp_path):
    members = {"config.json": b"{}", "assets/a.bin": bytes(50 * 2**20)}
    content = _keras_archive(tmp_path / "assets.keras", members)
    assert len(content) < 2**20
    with pytest.raises(TopomapError, match="expands .* times .*zip bomb"):
        store.add_model(content, "assets.keras")
    assert not any(store.models_dir.iterdir())


def test_an_h5_config_attribute_over_the_cap_is_refused_unparsed(store, tmp_path, monkeypatch):
    import h5py

    monkeypatch.setenv("TOPOMAPS_MAX_CONFIG_MB", "1")
    path = tmp_path / "big.h5"
    with h5py.File(path, "w") as h5:
        h5.attrs["model_config"] = b"x" * (2 * 2**20)
    # A variable-length attribute declares no size: the web process does not read it, and
    # the job that does refuses it before parsing.
    ref = store.add_model(path.read_bytes(), "big.h5")
    with pytest.raises(TopomapError, match="model_config attribute.*TOPOMAPS_MAX_CONFIG_MB"):
        get_or_compute(JOBS["describe"], DescribeRequest(model=ref), store)


def test_a_huge_declared_layer_is_refused_before_it_is_built(store, tmp_path):
    # 32768 x 32768 weights (4 GB as float32) declared in a file of a few kB.
    config = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "bomb",
            "layers": [
                {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
                 "config": {"batch_shape": [None, 32768], "name": "in"}},
                {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
                 "config": {"name": "huge", "units": 32768},
                 "build_config": {"input_shape": [None, 32768]}},
            ],
        },
        "registered_name": None,
    }  # fmt: skip
    content = _keras_archive(tmp_path / "bomb.keras", {"config.json": json.dumps(config)})
    ref = store.add_model(content, "bomb.keras")
    with pytest.raises(TopomapError, match=r"declares 1,073,774,592 parameters.*memory limit"):
        get_or_compute(JOBS["describe"], DescribeRequest(model=ref), store)


def test_metadata_is_written_atomically_and_bad_entries_are_skipped(store, tmp_path, monkeypatch):
    good = store.add_model(_model_bytes(tmp_path), "good.keras")
    # A full disk during an earlier upload left a 0-byte metadata file and a .part file.
    (store.models_dir / f"{'b' * 64}.json").write_bytes(b"")
    (store.models_dir / f"{'c' * 64}.json").write_text("[1, 2]")
    stale = store.models_dir / ".x.keras.part"
    stale.write_bytes(b"half")
    assert [item["id"] for item in store.list_models()] == [good]
    assert store.display_name("b" * 64) == "b" * 16
    os.utime(stale, (0, 0))
    assert store.clean_partial() == 1 and not stale.exists()

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        store.add_data(_npz_bytes(), "tiny.npz")
    assert store.list_data() == []
    assert not [p for p in store.data_dir.iterdir()], "a failed write left files behind"


def _npz_bytes() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, x=np.zeros((4, 8, 8, 1), np.float32), y=np.arange(4))
    return buffer.getvalue()


@pytest.mark.parametrize(
    "content, name, match",
    [(b"", "m.keras", "empty"), (b"abc", "m.exe", "unsupported extension")],
)
def test_bad_uploads(store, content, name, match):
    with pytest.raises(TopomapError, match=match):
        store.add_model(content, name)


@pytest.mark.parametrize("ref", ["../../etc/passwd", "/etc/passwd", "demo:other", "ABC", "0" * 63])
def test_references_never_become_paths(store, ref):
    with pytest.raises(ModelLoadError, match="not a demo model"):
        store.model_source(ref)
    with pytest.raises(DataError):
        store.data_source(ref)


def test_unknown_hash_is_a_clear_error(store):
    with pytest.raises(ModelLoadError, match="is not in the model store"):
        store.model_source("a" * 64)


# ------------------------------------------------------------- issue 20: streamed, named safely


class _Body:
    """A request body of ``content`` (or of ``size`` zero bytes), read in pieces, counted."""

    def __init__(self, content: bytes = b"", size: int | None = None):
        self.content, self.size = content, len(content) if size is None else size
        self.pos = self.largest = 0

    def read(self, n: int = -1) -> bytes:
        left = self.size - self.pos
        n = left if n is None or n < 0 else min(n, left)
        self.largest = max(self.largest, n)
        chunk = self.content[self.pos : self.pos + n] if self.content else bytes(n)
        self.pos += n
        return chunk


def _big_npz(megabytes: int, seed: int = 0) -> bytes:
    n = megabytes * 2**20 // (64 * 4)
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    np.savez(buffer, x=rng.random((n, 8, 8, 1), dtype=np.float32), y=np.arange(n) % 10)
    return buffer.getvalue()


def test_an_upload_is_streamed_to_disk_in_bounded_memory(store):
    content = _big_npz(24)
    body = _Body(content)
    tracemalloc.start()
    try:
        stored = store.store("data", body, "big.npz")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert body.largest <= CHUNK_BYTES and body.pos == len(content)
    assert peak < 4 * CHUNK_BYTES, f"{peak / 2**20:.1f} MB held for a 24 MB upload"
    assert stored.ref == hashlib.sha256(content).hexdigest() and stored.size == len(content)
    path = store.data_dir / f"{stored.ref}.npz"
    assert path.read_bytes() == content
    assert sorted(p.name for p in store.data_dir.iterdir()) == [f"{stored.ref}.json", path.name]


def test_an_oversized_stream_is_refused_after_the_limit_and_leaves_nothing(store, monkeypatch):
    monkeypatch.setenv("MAX_UPLOAD_MB", "1")
    body = _Body(size=50 * 2**20)
    with pytest.raises(DataError, match=r"'huge.npz' is over the 1 MB limit \(MAX_UPLOAD_MB\)"):
        store.store("data", body, "huge.npz")
    assert body.pos <= 2**20 + CHUNK_BYTES  # the other 48 MB were never read
    assert list(store.data_dir.iterdir()) == []
    # A wrong extension is refused before a byte is read.
    body = _Body(size=10)
    with pytest.raises(DataError, match="unsupported extension"):
        store.store("data", body, "notes.txt")
    assert body.pos == 0


def test_uploads_at_once_are_all_stored_intact(store):
    # Issue 20 item 2: four 80 MB .npz at once gave one stored, three "not an .npz archive".
    # Here four different files and four copies of one, all at once (8 threads).
    files = [_big_npz(4, seed) for seed in range(4)] + [_big_npz(4, 9)] * 4
    names = [f"f{i}.npz" for i in range(len(files))]
    outcomes: list = [None] * len(files)
    start = threading.Barrier(len(files))

    def upload(i: int) -> None:
        start.wait()
        try:
            outcomes[i] = store.store("data", _Body(files[i]), names[i])
        except Exception as exc:  # recorded, so that the assertion shows it
            outcomes[i] = exc

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(len(files))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for content, outcome in zip(files, outcomes, strict=True):
        assert not isinstance(outcome, Exception), outcome
        assert outcome.ref == hashlib.sha256(content).hexdigest()
        assert (store.data_dir / f"{outcome.ref}.npz").read_bytes() == content
    listed = {item["id"]: item["name"] for item in store.list_data()}
    assert len(listed) == 5 and {listed[o.ref] for o in outcomes[:4]} == set(names[:4])
    assert listed[outcomes[4].ref] in names[4:]  # the copies: the last one stored names it
    assert not [p for p in store.data_dir.iterdir() if p.name.endswith(".part")]


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("\u202eslx.keras", "\\u202eslx.keras"),  # shown as "sarek.xls" by the override
        ("model\x00.keras", "model\\x00.keras"),
        ("\x1b[31mred\x1b[0m.keras", "\\x1b[31mred\\x1b[0m.keras"),
        ("in\u200bvisible.keras", "in\\u200bvisible.keras"),
        ("two\nlines.keras", "two\\nlines.keras"),
        ("C:\\Users\\me\\modèle 1.keras", "modèle 1.keras"),
        ("../../etc/模型.keras", "模型.keras"),
        ("a" * 300 + ".keras", "a" * 113 + "….keras"),
        ("", "model"),
    ],
)
def test_names_cannot_pose_as_other_names(store, tmp_path, given, shown):
    assert safe_name(given, "model") == shown
    assert shown_name(shown) == shown  # once is enough
    if given:
        ref = store.add_model(_model_bytes(tmp_path), given)
        assert store.display_name(ref) == shown
        assert store.list_models()[0]["name"] == shown


def test_names_stored_by_an_older_version_are_shown_safely(store, tmp_path):
    ref = store.add_model(_model_bytes(tmp_path), "m.keras")
    meta = store.models_dir / f"{ref}.json"
    meta.write_text(json.dumps({"name": "\u202eslx.keras\x1b[2J", "added": 1}))
    assert store.list_models()[0]["name"] == "\\u202eslx.keras\\x1b[2J"
    assert store.display_name(ref) == "\\u202eslx.keras\\x1b[2J"
