"""GradNAP: gradient x activation per group, checked against a hand computation."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from topomap_core.analyses.naps import compute_nap
from topomap_core.analyses.topomap import MapParams, nap_key
from topomap_core.errors import DataError
from topomap_core.io.data import Dataset

layers = keras.layers


@pytest.fixture(scope="module")
def tiny():
    """3 inputs -> Dense 4 (relu) -> Dense 3 (softmax), and 30 labelled examples."""
    keras.utils.set_random_seed(5)
    model = keras.Sequential(
        [
            keras.Input((3,)),
            layers.Dense(4, activation="relu", name="hidden"),
            layers.Dense(3, activation="softmax", name="out"),
        ]
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 3)).astype(np.float32)
    y = np.arange(30) % 3
    return model, Dataset(x=x, y=y, groups=None, label_names=None, name="tiny")


def _by_hand(model, x, classes):
    """``h * d p_c / d h`` with the softmax derivative written out."""
    w1, b1 = (v.numpy() for v in model.get_layer("hidden").weights)
    w2, b2 = (v.numpy() for v in model.get_layer("out").weights)
    h = np.maximum(x @ w1 + b1, 0.0)
    z = h @ w2 + b2
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    pc = p[np.arange(len(x)), classes]
    grad = pc[:, None] * (w2[:, classes].T - p @ w2.T)
    return h * grad, p


@pytest.mark.parametrize("target", ["true", "predicted"])
def test_gradnap_equals_hand_computed_gradient_times_activation(tiny, target):
    model, data = tiny
    params = MapParams(layer="hidden", nap="grad", nap_class=target, per_group=100)
    nap = compute_nap(model, data, "hidden", params)
    _, p = _by_hand(model, data.x, data.y)
    classes = data.y if target == "true" else p.argmax(axis=1)
    gxa, _ = _by_hand(model, data.x, classes)
    means = np.stack([gxa[data.y == g].mean(axis=0) for g in range(3)])
    expected = means - means.mean(axis=0)
    order = [nap.group_names.index(str(g)) for g in range(3)]
    assert np.allclose(nap.values[order], expected, atol=1e-6)
    plain = compute_nap(model, data, "hidden", MapParams(layer="hidden", per_group=100))
    assert not np.allclose(plain.values, nap.values)


def test_gradnap_has_its_own_cache_key_and_needs_labels(tiny):
    model, data = tiny
    mean, grad = MapParams(layer="hidden"), MapParams(layer="hidden", nap="grad")
    predicted = MapParams(layer="hidden", nap="grad", nap_class="predicted")
    keys = [nap_key("m", "d", "hidden", p) for p in (mean, grad, predicted)]
    assert len({str(sorted(k.items())) for k in keys}) == 3
    assert "nap" not in keys[0]  # NAPs cached before GradNAP keep their keys
    unlabelled = Dataset(x=data.x, y=None, groups=np.array(["a", "b"] * 15), label_names=None,
                         name="u")  # fmt: skip
    params = MapParams(layer="hidden", nap="grad", groups="column")
    with pytest.raises(DataError, match="GradNAP of the true class needs integer labels 0..2"):
        compute_nap(model, unlabelled, "hidden", params)


def test_gradnap_of_a_loaded_model_equals_the_original(tiny, save_model):
    from topomap_core.io.models import load_model

    model, data = tiny
    params = MapParams(layer="hidden", nap="grad", per_group=100)
    loaded = load_model(save_model(model))  # a loaded Sequential calls its layers twice
    assert np.allclose(
        compute_nap(loaded, data, "hidden", params).values,
        compute_nap(model, data, "hidden", params).values,
        atol=1e-7,
    )
