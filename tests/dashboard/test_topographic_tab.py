"""The Topographic tab's callback bodies: request, figures, region line, exports."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest

from callbacks import topographic as tab
from layouts.controls import DEFAULTS
from topomap_core.errors import TopomapError
from topomap_core.jobs.registry import JOBS
from topomap_core.jobs.results import get_or_compute
from topomap_core.store import Store

FAST = {**DEFAULTS, "per_group": 5, "model": "demo:digits-cnn-topographic", "layer": "conv2",
        "fv_group": "", "fv_steps": 4}  # fmt: skip


def test_figures_exports_and_bad_requests(digits_cnn_topographic, tmp_path):
    job, request = tab.topographic_request(FAST)
    assert request.fv_group is None and request.fv_steps == 4
    placeholder = tab.figures(tmp_path, None)
    assert placeholder[3] == "" and not placeholder[0].data
    _, key = get_or_compute(JOBS["topographic"], request, Store(tmp_path))
    data = {"request": {**request.__dict__}, "key": key}
    grid, smoothed, features, text = tab.figures(tmp_path, data)
    assert sum(t.type == "heatmap" for t in grid.data) == 10
    assert len(smoothed.layout.shapes) == 10  # one region per group
    assert sum(t.type == "heatmap" for t in features.data) == 10  # 9 filters and the region
    assert text.startswith("Group 0: most responsive region at row")
    npz = tab.export("npz", tmp_path, data)
    with np.load(io.BytesIO(base64.b64decode(npz["content"]))) as arrays:
        assert arrays["grid_maps"].shape == (10, 16, 8)
    png = tab.export("png", tmp_path, data)
    assert base64.b64decode(png["content"]).startswith(b"\x89PNG")
    # Issue 20 item 18: model, data, grouping and key in the name, as the Maps tab's exports.
    stem = f"topomaps_topographic_digits-cnn-topographic_digits_conv2_label_{key[:8]}"
    assert png["filename"] == stem + ".png" and npz["filename"] == stem + ".npz"
    with pytest.raises(TopomapError, match="Visualisation steps 5000"):
        tab.topographic_request({**FAST, "fv_steps": 5000})
