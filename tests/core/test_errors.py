"""One readable line that keeps the cause (issue 20, item 8)."""

from __future__ import annotations

import json

import numpy as np

from topomap_core.errors import one_line
from topomap_core.jobs.worker import _user_names
from topomap_core.store import Store


def test_the_cause_survives_a_configuration_dump():
    dump = ", ".join(f"'key{i}': {{'nested': [{i}, {i}]}}" for i in range(40))
    exc = TypeError(
        f"Error when deserializing class 'DepthwiseConv2D' using config={{{dump}}}.\n\n"
        "Exception encountered: Unrecognized keyword arguments passed to DepthwiseConv2D: "
        "{'groups': 1}"
    )
    assert one_line(exc) == (
        "Unrecognized keyword arguments passed to DepthwiseConv2D: {'groups': 1}"
    )
    assert one_line(ValueError(f"Bad layer config={{{dump}}} given")) == (
        "Bad layer config={…} given"
    )


def test_the_reason_on_the_line_after_a_colon_is_kept():
    exc = ValueError("Example error message for object <Dense name=dense1, built=True>:\n"
                     "its input is not connected")  # fmt: skip
    assert one_line(exc).endswith(">: its input is not connected")
    assert one_line(ValueError("plain message\nsecond line")) == "plain message"
    assert one_line(ValueError("\x1b[1mcoloured\x1b[0m")) == "coloured"
    assert len(one_line(ValueError("x" * 1000))) == 400


def test_a_failed_run_names_the_file_the_user_gave(tmp_path):
    store = Store(tmp_path)
    buf = tmp_path / "y_float.npz"
    np.savez(buf, x=np.zeros((4, 8, 8, 1)), y=np.array([0.5, 1, 2, 3]))
    ref = store.add_data(buf.read_bytes(), "y_float.npz")
    text = f"array 'y' in '{ref}.npz' holds non-integer values; expected classes"
    payload = {"data_dir": str(tmp_path), "request": {"data": ref, "model": "demo:digits-mlp"}}
    assert _user_names(text, payload) == (
        "array 'y' in 'y_float.npz' holds non-integer values; expected classes"
    )
    assert _user_names("nothing to replace", payload) == "nothing to replace"
    assert json.dumps(_user_names(text, {"request": None}))  # no store: unchanged, no error
