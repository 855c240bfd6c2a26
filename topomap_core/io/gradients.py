"""Gradient x activation of a layer, batch by batch: what a GradNAP averages.

For every example, the layer's activations are multiplied element by element with the
gradient of the model's output for one class (its score: the probability when the model ends
in a softmax) with respect to those activations. The class is the example's true label
(default) or the model's predicted class. docs/ALGORITHMS.md ("GradNAP") says why this is our
definition.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .. import config
from ..errors import DataError
from ..profiles.nap import GRADIENT_CLASSES
from ..progress import ProgressCallback, report
from .activations import _batches, _check_input_shape, activation_model
from .models import _find_layer, _is_channels_first, _single, get_layer

__all__ = ["iter_gradient_activations"]


def _ancestors(tensor) -> set[int]:
    """Ids of every symbolic tensor ``tensor`` is computed from (itself included)."""
    seen: set[int] = set()
    stack = [tensor]
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        history = getattr(t, "_keras_history", None)
        if history is None:
            continue
        nodes = getattr(history.operation, "_inbound_nodes", [])
        if history.node_index < len(nodes):
            stack.extend(nodes[history.node_index].input_tensors)
    return seen


def gradient_extractor(model, name: str):
    """``inputs -> [layer output, predictions]`` with the predictions computed *from* that
    output, so a gradient flows between them.

    A loaded Sequential model may have called its layers more than once (its layers then have
    several nodes); :func:`~.models.activation_model` takes the first node, which need not be
    on the path to the model's output. Here the node on that path is chosen.
    """
    keras = config.import_keras()
    layer = _find_layer(model, name)
    if "/" not in name:
        on_path = _ancestors(model.outputs[0])
        for node in getattr(layer, "_inbound_nodes", []):
            outs = node.output_tensors
            if len(outs) == 1 and id(outs[0]) in on_path:
                return keras.Model(_single(model.inputs), [outs[0], model.outputs[0]])
    return activation_model(model, name, with_predictions=True)


def iter_gradient_activations(
    model,
    name: str,
    x: np.ndarray,
    labels: np.ndarray | None,
    *,
    target: str = "true",
    batch_size: int = 256,
    indices: np.ndarray | None = None,
    progress: ProgressCallback | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(start, gradient * activation)`` batch by batch (neurons on the last axis).

    Parameters
    ----------
    model : keras.Model
    name : str
        Layer path.
    x : ndarray, shape (n, *input_shape)
    labels : ndarray of int, shape (n,)
        True classes (needed for ``target="true"``).
    target : {"true", "predicted"}
    indices : ndarray of int, optional
        Only these examples of ``x``, in this order.
    progress : callable, optional
        ``("gradients", batch_no, n_batches)``; returning True cancels.
    """
    import tensorflow as tf

    keras = config.import_keras()
    x = _check_input_shape(model, x)
    get_layer(model, name)  # an unknown layer: the message lists the valid ones
    extractor = gradient_extractor(model, name)
    channels_first = _is_channels_first(
        _find_layer(model, name), len(get_layer(model, name).output_shape) + 1
    )
    n_classes = int(model.outputs[0].shape[-1])
    if target == "true":
        y = None if labels is None else np.asarray(labels)
        if (
            y is None
            or not np.issubdtype(y.dtype, np.integer)
            or (len(y) and (y.min() < 0 or y.max() >= n_classes))
        ):
            raise DataError(
                f"GradNAP of the true class needs integer labels 0..{n_classes - 1}; "
                "these data have none (use the predicted class)"
            )
    elif target != "predicted":
        raise DataError(f"unknown class {target!r} (use one of {', '.join(GRADIENT_CLASSES)})")
    order = np.arange(len(x)) if indices is None else np.asarray(indices)
    total = _batches(len(order), batch_size)
    for batch_no, start in enumerate(range(0, len(order), batch_size), start=1):
        rows = order[start : start + batch_size]
        batch = tf.convert_to_tensor(np.asarray(x[rows], dtype=np.float32))
        with tf.GradientTape() as tape:
            tape.watch(batch)  # record every op, whether or not a variable comes first
            acts, preds = extractor(batch, training=False)
            preds = keras.ops.reshape(preds, (len(rows), -1))
            if target == "true":
                assert y is not None  # checked above: the true class needs labels
                cls = y[rows]
            else:
                cls = np.argmax(np.asarray(preds), axis=1)
            score = tf.reduce_sum(tf.gather(preds, cls, axis=1, batch_dims=1))
        grads = tape.gradient(score, acts)
        if grads is None:
            raise DataError(
                f"the model's output does not depend on layer {name!r} in a way TensorFlow "
                "can differentiate; GradNAP is not available for it"
            )
        values = np.asarray(grads * acts, dtype=np.float32)
        if channels_first:
            values = np.moveaxis(values, 1, -1)
        report(progress, "gradients", batch_no, total)
        yield start, values
