"""Bad input at the app level: the message the user sees, and the server keeps serving.

Every input goes through the real app under gunicorn (``live_server``), as the browser sends
it: a POST of the Dash callback to ``/_dash-update-component`` (upload, layer list, data check,
link). Run attempts use the Run job's own function (:func:`callbacks.jobs.run_job`, with its
real worker process) on the live server's store. After each bad input GET / must answer 200.
The library-level checks behind these messages are tested in ``tests/test_models.py`` and
``tests/test_data.py``.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image
from security_support import DEFAULTS, FAST, SERVER_UPLOAD_MB, control_values

from callbacks import jobs, maps
from callbacks.maps import INPUTS
from layouts.controls import uploaded_id
from layouts.ids import ID
from topomap_core.store import Store

BASE = "demo:digits-mlp"


# ----------------------------------------------------------------------------- helpers


def _message(response: dict, component: str) -> tuple[str, bool]:
    """Text of a message Span in a callback response, and whether it is not an error (styled
    as ok, or as a warning: usable, with something to know)."""
    span = response[component]["children"]
    if span is None:
        return "", True
    props = span["props"]
    return props["children"], props.get("className") in ("msg-ok", "msg-warning")


def _upload(server, kind: str, zone: str, select: str, current: str, filename: str, content):
    """As the page uploads: the file to the upload route, whose answer the page hands to the
    zone's callback; (callback response, message, ok)."""
    answer = server.upload(kind, filename, content)
    assert answer.status_code in (200, 400, 413), answer.text[:500]
    assert answer.headers["Content-Type"] == "application/json"
    reply = server.callback(
        f"{select}.options",
        {f"{uploaded_id(zone)}.data": answer.json(), f"{select}.value": current},
    )
    assert reply.status_code == 200, reply.text[:500]
    return reply.json()["response"]


def upload_model(server, filename: str, content: bytes) -> tuple[dict, str, bool]:
    """Upload a model as the page does; (response, message, ok)."""
    response = _upload(server, "model", ID.MODEL_UPLOAD, ID.MODEL_SELECT, BASE, filename, content)
    return (response, *_message(response, ID.MODEL_MESSAGE))


def upload_data(server, filename: str, content: bytes) -> tuple[dict, str, bool]:
    response = _upload(
        server, "data", ID.DATA_UPLOAD, ID.DATA_SELECT, "demo:digits", filename, content
    )
    return (response, *_message(response, ID.DATA_MESSAGE))


def check_data(server, data_ref: str, model_ref: str = BASE, groups: str = "label"):
    reply = server.callback(
        f"{ID.DATA_MESSAGE}.children",
        {
            f"{ID.MODEL_SELECT}.value": model_ref,
            f"{ID.DATA_SELECT}.value": data_ref,
            f"{ID.GROUPS_SELECT}.value": groups,
        },
    )
    assert reply.status_code == 200, reply.text[:500]
    return _message(reply.json()["response"], ID.DATA_MESSAGE)


def list_layers(server, ref: str) -> tuple[dict, str, bool]:
    reply = server.callback(
        f"{ID.LAYER_SELECT}.options",
        {
            f"{ID.MODEL_SELECT}.value": ref,
            f"{ID.LAYER_SELECT}.value": "dense",
            f"{ID.LINK_LAYER}.data": None,
        },
    )
    assert reply.status_code == 200, reply.text[:500]
    response = reply.json()["response"]
    return (response, *_message(response, ID.MODEL_MESSAGE))


def data_ref_of(response: dict) -> str:
    return response[ID.DATA_SELECT]["value"]


def _save(model, path: Path) -> bytes:
    model.save(path)
    return path.read_bytes()


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("L", (8, 8), 128).save(buf, format="PNG")
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buf.getvalue()


def _mlp(hidden: int = 6, name: str = "m") -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(hidden, activation="relu", name="hidden"),
            keras.layers.Dense(10, activation="softmax", name="out"),
        ],
        name=name,
    )


# ------------------------------------------------------------------------- model files


@pytest.mark.parametrize(
    ("filename", "content", "expected"),
    [
        ("empty.keras", b"", "empty.keras refused: Model file 'empty.keras' is empty (0 bytes)"),
        (
            "random.keras",
            np.random.default_rng(1).bytes(4096),
            "random.keras refused: Model file 'random.keras' is not a .keras archive (zip)",
        ),
        (
            "random.h5",
            np.random.default_rng(2).bytes(4096),
            "random.h5 refused: Model file 'random.h5' is not an HDF5 file",
        ),
        (
            "notes.txt",
            b"hello",
            "notes.txt refused: Model file 'notes.txt' has an unsupported extension",
        ),
    ],
)
def test_unreadable_model_files(live_server, filename, content, expected):
    _, text, ok = upload_model(live_server, filename, content)
    assert not ok and text.startswith(expected), text
    assert live_server.serves()


def test_truncated_and_damaged_keras_files(live_server, tmp_path):
    whole = _save(_mlp(), tmp_path / "whole.keras")
    _, text, ok = upload_model(live_server, "truncated.keras", whole[: len(whole) // 2])
    assert not ok, text
    assert text.startswith("truncated.keras refused: Model file 'truncated.keras' is a damaged")
    assert live_server.serves()

    # Config intact (passes inspection) but the weights damaged: the worker cannot load it,
    # the user is told why, and the file is not kept.
    with zipfile.ZipFile(io.BytesIO(whole)) as src:
        members = {info.filename: src.read(info) for info in src.infolist()}
    weights = next(name for name in members if name.endswith(".h5"))
    members[weights] = b"\x89HDF\r\n\x1a\n" + b"\0" * 200
    response, text, ok = upload_model(live_server, "damaged.keras", _zip(members))
    assert not ok and text.startswith("damaged.keras refused: Keras could not load"), text
    assert "damaged.keras" in text and ".keras'" in text
    assert "value" not in response[ID.MODEL_SELECT]  # the selection stays on the last model
    assert not any(
        item["name"] == "damaged.keras" for item in Store(live_server.data_dir).list_models()
    )
    assert live_server.serves()


def test_oversized_upload_and_oversized_request(live_server):
    limit = int(SERVER_UPLOAD_MB * 2**20)
    big = np.random.default_rng(3).bytes(limit + 300_000)
    # Declared too long: refused before it is read, naming the limit.
    reply = live_server.upload("model", "big.keras", big)
    assert reply.status_code == 413
    assert reply.json()["message"] == (
        f"big.keras refused: it is 2.3 MB, over the {SERVER_UPLOAD_MB} MB upload limit "
        "(MAX_UPLOAD_MB); it was refused before it was read."
    )
    _, text, ok = upload_model(live_server, "big.keras", big)
    assert not ok and text.startswith("big.keras refused: it is 2.3 MB"), text
    # Of no declared length (chunked): cut at the limit, the rest never read.
    chunks = iter([big[i : i + 2**16] for i in range(0, len(big), 2**16)])
    reply = live_server.upload("data", "big.npz", chunks)
    assert reply.status_code == 413, reply.text[:300]
    assert f"over the {SERVER_UPLOAD_MB} MB" in reply.json()["message"]
    assert "(MAX_UPLOAD_MB)" in reply.json()["message"]
    assert not [p for p in (live_server.data_dir / "data").glob("*") if "big" in p.name]
    # A callback is no upload: over TOPOMAPS_MAX_CALLBACK_KB it is refused, even one that
    # carries a file as dcc.Upload did (base64 in the JSON).
    huge = "data:application/octet-stream;base64," + "A" * (2 * 2**20)
    body = {"output": "x.children", "inputs": [{"id": "x", "property": "contents", "value": huge}]}
    reply = live_server.post(
        "/_dash-update-component",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert reply.status_code == 413
    assert reply.text.startswith("Request too large: a request that is not a file upload")
    assert "1024 KB (TOPOMAPS_MAX_CALLBACK_KB)" in reply.text
    assert live_server.serves()


def test_custom_object_model_is_refused(live_server, tmp_path):
    @keras.saving.register_keras_serializable(package="evil")
    class Doubler(keras.layers.Layer):
        def call(self, x):
            return x * 2

    inp = keras.Input((8, 8, 1))
    out = keras.layers.Dense(3)(keras.layers.Flatten()(Doubler(name="doubler")(inp)))
    content = _save(keras.Model(inp, out), tmp_path / "custom.keras")
    _, text, ok = upload_model(live_server, "custom.keras", content)
    assert not ok
    assert text.startswith("custom.keras refused: Layer 'doubler' uses the custom object"), text
    assert "'evil>Doubler'" in text and "custom code is refused" in text
    assert live_server.serves()


def _edit_config(content: bytes, edit) -> bytes:
    """The .keras archive ``content`` with ``edit(config)`` applied to its config.json."""
    with zipfile.ZipFile(io.BytesIO(content)) as src:
        members = {info.filename: src.read(info) for info in src.infolist()}
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config).encode()
    return _zip(members)


def _set_layer(**changes):
    def edit(config):
        config["config"]["layers"][1].update(changes)

    return edit


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (_set_layer(class_name="TFSMLayer"), "Layer 'flat' is a TFSMLayer layer"),
        (_set_layer(module="os", class_name="system"), "module 'os' is outside Keras"),
        (
            _set_layer(registered_name="evil>Dense"),
            "uses the custom object 'evil>Dense', which is not a Keras built-in",
        ),
        (_set_layer(class_name="NotAKerasLayer"), "class 'NotAKerasLayer', which Keras does not"),
        # Passes the inspection (a Keras-internal name), then Keras refuses it in the worker
        # (not a KerasSaveable): the file is not kept and nothing ran.
        (
            _set_layer(module="keras.src.utils.file_utils", class_name="get_file"),
            "Keras could not load 'crafted.keras'",
        ),
    ],
    ids=["TFSMLayer", "outside-module", "registered-name", "unknown-class", "keras-internal"],
)
def test_crafted_configs_are_refused_before_loading(live_server, tmp_path, edit, expected):
    content = _edit_config(_save(_mlp(), tmp_path / "m.keras"), edit)
    _, text, ok = upload_model(live_server, "crafted.keras", content)
    assert not ok and text.startswith("crafted.keras refused: "), text
    assert expected in text, text
    assert live_server.serves()


# -------------------------------------------------------------------- Lambda, never run


def _lambda_model(marker: Path) -> keras.Model:
    """A model whose Lambda writes ``marker`` whenever its code runs (also at build time).

    The path is a constant of the lambda's own code (no defaults, no closure), so the code
    Keras serialises carries it.
    """
    trap = eval(f"lambda x: (open({str(marker)!r}, 'w').write('ran'), x)[1]")
    inp = keras.Input((8, 8, 1))
    flat = keras.layers.Flatten(name="flat")(inp)
    out = keras.layers.Dense(10, activation="softmax", name="out")(
        keras.layers.Lambda(trap, name="trap")(flat)
    )
    return keras.Model(inp, out, name="trap_model")


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_lambda_code_never_runs(live_server, tmp_path, suffix):
    marker = tmp_path / f"lambda-ran{suffix}.txt"
    content = _save(_lambda_model(marker), tmp_path / f"trap{suffix}")
    # The trap works: building the model ran it, and loading it unsafely would run it again.
    assert marker.exists()
    marker.unlink()
    keras.saving.load_model(tmp_path / f"trap{suffix}", safe_mode=False, compile=False)
    assert marker.exists(), "the trap did not fire on an unsafe load; the test proves nothing"
    marker.unlink()

    name = f"trap{suffix}"
    _, text, ok = upload_model(live_server, name, content)
    assert not ok and text.startswith(f"{name} refused: "), text
    assert "lambda" in text.lower() and "refused" in text
    assert live_server.serves()

    # Defence in depth: even if the file were in the store, listing its layers and running it
    # go through workers that inspect it first.
    store = Store(live_server.data_dir)
    ref = _plant(store, content, name, suffix)
    _, text, ok = list_layers(live_server, ref)
    assert not ok and text.startswith(f"{name} could not be loaded: "), text
    assert "Lambda" in text or "lambda" in text
    values = {**DEFAULTS, "model": ref, "layer": "trap", "per_group": 5, "method": "PCA"}
    result, status = jobs.run_job(maps.JOB, values, live_server.data_dir)
    assert result is None and status.startswith("Run failed: "), status
    assert "lambda" in status.lower() and "refused" in status
    assert not marker.exists(), "the Lambda's code ran"
    store.remove_model(ref)
    assert live_server.serves()


def _plant(store: Store, content: bytes, name: str, suffix: str) -> str:
    """Put a file into the model store without the upload's checks (an attacker's dream)."""
    import hashlib

    digest = hashlib.sha256(content).hexdigest()
    (store.models_dir / f"{digest}{suffix}").write_bytes(content)
    (store.models_dir / f"{digest}.json").write_text(json.dumps({"name": name, "added": 0}))
    return digest


# --------------------------------------------------------------------------- data files


def test_zero_byte_and_unknown_data_files(live_server):
    _, text, ok = upload_data(live_server, "empty.npz", b"")
    assert not ok and text == "empty.npz refused: Data file 'empty.npz' is empty (0 bytes)", text
    _, text, ok = upload_data(live_server, "data.csv", b"1,2,3")
    assert not ok and text.startswith("data.csv refused: Data file 'data.csv' has an unsupported")
    assert live_server.serves()


@pytest.mark.parametrize(
    ("filename", "content", "expected"),
    [
        (
            "bomb.zip",
            _zip({"cat/1.png": b"\0" * (20 * 2**20)}),
            "'bomb.zip' member 'cat/1.png' expands",
        ),
        ("bomb.npz", _zip({"x.npy": b"\0" * (20 * 2**20)}), "refused as a possible zip bomb"),
        (
            "escape.zip",
            _zip({"../evil/1.png": _png(), "cat/2.png": _png()}),
            "'escape.zip' contains the unsafe path '../evil/1.png'; refused",
        ),
        (
            "absolute.zip",
            _zip({"/tmp/evil/1.png": _png(), "cat/2.png": _png()}),
            "contains the unsafe path '/tmp/evil/1.png'; refused",
        ),
        (
            "small.npz",
            _npz(x=np.zeros((20, 5, 5, 1), np.float32), y=np.arange(20) % 2),
            "Data examples have shape (5, 5, 1) but the model expects (8, 8, 1)",
        ),
        (
            "nan.npz",
            _npz(
                x=np.where(np.arange(20 * 64).reshape(20, 8, 8, 1) % 97 == 0, np.nan, 0.5),
                y=np.arange(20) % 2,
            ),
            "Data x contains 14 NaN or infinite values",
        ),
        (
            "pickle.npz",
            _npz(x=np.array([{"a": 1}, None], dtype=object)),
            "is an object array, which needs pickle to load; refused",
        ),
    ],
)
def test_unsafe_or_unfit_data_says_why(live_server, filename, content, expected):
    response, text, ok = upload_data(live_server, filename, content)
    if not ok:  # the archive's directory shows it: refused at once, and not kept
        assert text.startswith(f"{filename} refused: ") and expected in text, text
        assert "unsafe path" in expected or "zip bomb" in expected or "expands" in expected
    else:  # only reading it shows it: the data check (a job process) says why
        assert text == f"Stored {filename}.", text
        text, ok = check_data(live_server, data_ref_of(response))
        assert not ok and expected in text, text
    assert not (live_server.data_dir.parent / "evil").exists()
    assert not Path("/tmp/evil").exists()
    assert live_server.serves()


def test_single_class_data(live_server):
    content = _npz(x=np.random.default_rng(0).random((30, 8, 8, 1)), y=np.zeros(30, int))
    response, _, _ = upload_data(live_server, "one-class.npz", content)
    ref = data_ref_of(response)
    text, ok = check_data(live_server, ref)
    assert not ok, text
    assert text.startswith("30 examples, 1 class; fits the model's input 8×8×1.")
    assert "all examples have the same label (0)" in text
    text, ok = check_data(live_server, ref, groups="label+correctness")
    assert ok, text  # correct vs wrong predictions can still be compared
    values = {**DEFAULTS, "data": ref, "per_group": 10, "method": "PCA"}
    result, status = jobs.run_job(maps.JOB, values, live_server.data_dir)
    assert result is None
    assert status == "Run failed: Need at least two non-empty groups to compare, got 1 (0)"
    assert live_server.serves()


# ------------------------------------------------------------------------------ layers


def test_layer_with_one_neuron(live_server, tmp_path):
    content = _save(_mlp(hidden=1, name="narrow"), tmp_path / "narrow.keras")
    response, text, ok = upload_model(live_server, "narrow.keras", content)
    assert ok and text == "Stored narrow.keras: 3 layers.", text
    ref = response[ID.MODEL_SELECT]["value"]
    layers, _, _ = list_layers(live_server, ref)
    options = {o["value"]: o for o in layers[ID.LAYER_SELECT]["options"]}
    assert options["hidden"]["disabled"] is True  # cannot be chosen in the page
    # A link can still name it: the run says why it cannot be mapped.
    values = {**DEFAULTS, "model": ref, "layer": "hidden", "per_group": 10, "method": "PCA"}
    result, status = jobs.run_job(maps.JOB, values, live_server.data_dir)
    assert result is None
    assert status == "Run failed: A topographic map needs at least 3 neurons, the nap has 1"
    assert live_server.serves()


# -------------------------------------------------------------------------------- links


def test_bad_link_parameters_fall_back_with_a_note(live_server):
    missing = "ab" * 32
    href = (
        f"{live_server.url}?method=DeepDream&model={missing}&data=../../etc/passwd"
        "&seed=-1&per_group=1e9&groups=telepathy&layer=../../etc"
    )
    reply = live_server.callback(f"{ID.MODEL_SELECT}.value", {f"{ID.URL}.href": href})
    assert reply.status_code == 200
    response = reply.json()["response"]
    assert response[ID.METHOD_SELECT]["value"] == "UMAP_PSO"
    assert response[ID.MODEL_SELECT]["value"] == BASE
    assert response[ID.DATA_SELECT]["value"] == "demo:digits"
    assert response[ID.LAYER_SELECT]["value"] == "../../etc"  # a name, never a path
    warnings = response[ID.URL_WARNINGS]["data"]
    assert "Ignored unknown method 'DeepDream' in the link; using UMAP_PSO" in warnings
    assert (
        f"Ignored model {missing[:12]}... (not stored on this server: upload it again) in the "
        f"link; using {BASE}" in warnings
    )
    assert any(w.startswith("Ignored unknown data '../../etc/passwd'") for w in warnings)
    assert any(w.startswith("Ignored seed -1 (must be between 0 and") for w in warnings)
    assert any(w.startswith("Ignored unknown grouping 'telepathy'") for w in warnings)
    assert len(warnings) == 6, warnings
    assert live_server.serves()


def test_model_hash_that_does_not_exist(live_server):
    missing = "cd" * 32
    response, text, ok = list_layers(live_server, missing)
    assert not ok
    assert (
        text
        == f"{missing[:16]} could not be loaded: Model {missing[:12]}... is not in the model store"
    )
    assert response[ID.LAYER_SELECT]["options"] == []
    text, ok = check_data(live_server, "demo:digits", model_ref=missing)
    assert (text, ok) == ("", True)  # the layer list already says what is wrong
    assert live_server.serves()


def _web_processes(server) -> list[int]:
    import psutil

    pids = []
    for pid in server.server.service.pids():
        try:
            if "gunicorn" in " ".join(psutil.Process(pid).cmdline()):
                pids.append(pid)
        except psutil.Error:
            pass
    return pids


def test_forged_references_are_refused_and_never_reach_a_file_or_tensorflow(live_server):
    forged = {
        "data": ("/etc/passwd", "Unknown data '/etc/passwd'"),
        "model": ("demo:x", "Unknown model 'demo:x'"),
    }
    for field, (value, expected) in forged.items():
        values = {**control_values(FAST), f"{ID.URL_WARNINGS}.data": []}
        values[f"{dict(INPUTS)[field]}.value"] = value
        reply = live_server.callback(f"{ID.RESULT_STORE}.data", values)
        assert reply.status_code == 200, reply.text[:300]
        assert expected in json.dumps(reply.json()["response"]), reply.text[:500]
        text, ok = check_data(live_server, value if field == "data" else "demo:digits",
                              value if field == "model" else BASE)  # fmt: skip
        assert field == "model" or (not ok and expected in text), text
    web = _web_processes(live_server)
    assert web, "no gunicorn process found"
    for pid in web:
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert "libtensorflow" not in maps, f"web process {pid} mapped TensorFlow"
    assert live_server.serves()


# ------------------------------------------------------------------- issue 20: names, requests


def test_file_names_cannot_pose_as_others_and_a_new_name_is_listed(live_server):
    content = _npz(x=np.random.default_rng(7).random((12, 8, 8, 1)), y=np.arange(12) % 3)
    response, text, ok = upload_data(live_server, "\u202eslx.npz", content)
    assert ok and text == "Stored \\u202eslx.npz.", text  # shown as "zpn.xls" unescaped
    ref = data_ref_of(response)
    labels = {o["value"]: o["label"] for o in response[ID.DATA_SELECT]["options"]}
    assert labels[ref] == f"\\u202eslx.npz ({ref[:8]})"
    # The same bytes under a new name: listed under it, and the message says so.
    response, text, ok = upload_data(live_server, "digits.npz", content)
    assert (
        ok and text == "Stored digits.npz. Same file as \\u202eslx.npz, now listed as digits.npz."
    )
    labels = {o["value"]: o["label"] for o in response[ID.DATA_SELECT]["options"]}
    assert labels[ref] == f"digits.npz ({ref[:8]})"
    assert [i["name"] for i in Store(live_server.data_dir).list_data() if i["id"] == ref] == [
        "digits.npz"
    ]
    # NUL and ANSI escapes are written out, in refusals too; none reaches the page as such.
    response, text, ok = upload_data(live_server, "\x1b[2Jevil\x00.csv", b"1,2")
    assert not ok and text.startswith("\\x1b[2Jevil\\x00.csv refused: "), text
    assert not any(c in json.dumps(response, ensure_ascii=False) for c in "\x1b\x00\u202e")
    assert live_server.serves()


def _callback_body(server, value) -> dict:
    """The link callback's request (its input: the page's address) with ``value`` as href."""
    return server.callbacks.body(f"{ID.MODEL_SELECT}.value", {f"{ID.URL}.href": value})


MALFORMED = {
    "array": (lambda b: [b], "the body must be a JSON object, not an array"),
    "null": (lambda b: None, "the body must be a JSON object, not null"),
    "unknown-output": (
        lambda b: {**b, "output": "nothing.children"},
        "no callback of this server has the output 'nothing.children'",
    ),
    "missing-output": (
        lambda b: {k: v for k, v in b.items() if k != "output"},
        "'output' (the callback's outputs, a string) is missing",
    ),
    "deep": (lambda b: {**b, "inputs": "DEEP"}, "the request nests deeper than 64 levels"),
    "missing-inputs": (
        lambda b: {k: v for k, v in b.items() if k != "inputs"},
        "'inputs' must be a list of the callback's 1 input(s)",
    ),
    "wrong-count": (
        lambda b: {**b, "inputs": b["inputs"] * 2},
        "the callback has 1 input(s), the request sends 2",
    ),
    "url-number": (
        lambda b: {**b, "inputs": [{**b["inputs"][0], "value": 12345}]},
        "the page's address (url.href) must be a string, not int 12345",
    ),
    "url-list": (
        lambda b: {**b, "inputs": [{**b["inputs"][0], "value": ["x"]}]},
        "the page's address (url.href) must be a string, not list ['x']",
    ),
}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_malformed_callback_requests_get_400_with_a_reason_logged_once(live_server, kind):
    # Issue 20 item 7: each of these answered 500 with a traceback in the log.
    forge, reason = MALFORMED[kind]
    body = json.dumps(forge(_callback_body(live_server, live_server.url)))
    body = body.replace('"DEEP"', "[" * 5000 + "]" * 5000)
    logged = len(live_server.server.service.log())
    reply = live_server.post(
        "/_dash-update-component", data=body, headers={"Content-Type": "application/json"}
    )
    assert reply.status_code == 400, reply.text[:300]
    assert reply.text == f"Bad request: {reason}.\n"
    assert live_server.serves()
    new = live_server.server.service.log()[logged:]
    lines = [line for line in new.splitlines() if "/_dash-update-component" in line]
    assert len(lines) == 1 and lines[0].endswith(f": {reason}"), new[-2000:]
    assert "Traceback" not in new
