"""Feature visualisation by activation maximisation (Yosinski et al. 2015).

Inputs are optimised from seeded noise by gradient ascent on a unit's (or a set of units')
mean activation, with the regularisation of Yosinski et al.: L2 decay of the input after each
step and a Gaussian blur of its spatial axes every few steps. The step count is fixed, so a
run is reproducible. Several objectives are optimised in one batch (one gradient per step).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from ..progress import ProgressCallback, report

__all__ = ["FeatureVis", "maximise_activations"]


@dataclass
class FeatureVis:
    """Optimised inputs and how much they raised their objective."""

    images: np.ndarray  # (n_objectives, *input_shape)
    start: np.ndarray  # objective on the starting noise, (n_objectives,)
    final: np.ndarray  # objective on the optimised input, (n_objectives,)


def maximise_activations(
    model,
    layer: str,
    unit_sets: list[list[int]],
    *,
    steps: int = 64,
    learning_rate: float = 0.05,
    decay: float = 0.01,
    blur_every: int = 4,
    blur_sigma: float = 0.5,
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> FeatureVis:
    """One optimised input per set of units: the input that maximises their summed mean
    activation (over the layer's positions).

    Parameters
    ----------
    unit_sets : list of list of int
        One objective each: ``[[u]]`` for a unit alone, ``[[u1, u2, ...]]`` jointly.
    steps : int
        Gradient ascent steps (normalised gradient, step ``learning_rate``).
    decay : float
        L2 decay: the input is multiplied by ``1 - decay`` after every step.
    blur_every, blur_sigma
        A Gaussian blur of the input's spatial axes every ``blur_every`` steps.
    seed : int
        Of the starting noise (standard deviation 0.1; an objective still 0 on it, a silent
        ReLU, is started again from louder noise, 0.5, 2 then 8).
    progress : callable, optional
        ``("feature visualisation", step, steps)``; returning True cancels.
    """
    import tensorflow as tf

    from ..io.activations import activation_model
    from ..io.models import input_shape

    extractor = activation_model(model, layer, with_predictions=False)
    shape = tuple(input_shape(model))
    n_units = int(extractor.outputs[0].shape[-1])
    mask = np.zeros((len(unit_sets), n_units), np.float32)
    for row, units in enumerate(unit_sets):
        mask[row, list(units)] = 1.0
    mask_t = tf.constant(mask)
    rng = np.random.default_rng(seed)
    x = tf.Variable(rng.normal(0.0, 0.1, size=(len(unit_sets), *shape)).astype(np.float32))
    # Blurred: an image's two axes (not its channels), both axes of a 2-D input.
    spatial = tuple(range(1, len(shape))) if len(shape) >= 3 else (1, 2)[: len(shape)]
    if len(shape) < 2:
        spatial = ()

    def objective() -> tf.Tensor:
        acts = extractor(x, training=False)
        axes = tuple(range(1, len(acts.shape) - 1))
        means = tf.reduce_mean(acts, axis=axes) if axes else acts
        return tf.reduce_sum(means * mask_t, axis=1)

    start = objective().numpy()
    # A ReLU unit silent on the first noise has no gradient to climb: draw its start again,
    # louder (seeded, so still reproducible), a few times.
    for scale in (0.5, 2.0, 8.0):
        silent = start <= 0
        if not silent.any():
            break
        fresh = rng.normal(0.0, scale, size=(int(silent.sum()), *shape)).astype(np.float32)
        x.assign(tf.tensor_scatter_nd_update(x, np.flatnonzero(silent)[:, None], fresh))
        start = objective().numpy()
    for step in range(1, steps + 1):
        # Only the input is watched: the model's own weights need no gradient (computing the
        # filters' gradients is wasted work, and oneDNN's Conv2DBackpropFilter corrupts the
        # heap on some networks, e.g. a mini-Xception's strided 1x1 convolutions).
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x)
            total = tf.reduce_sum(objective())
        grad = tape.gradient(total, x)
        norm = tf.sqrt(tf.reduce_mean(tf.square(grad), axis=list(range(1, len(x.shape))),
                                      keepdims=True)) + 1e-8  # fmt: skip
        x.assign((x + learning_rate * grad / norm) * (1.0 - decay))
        if spatial and blur_every and step % blur_every == 0:
            sigma = [0.0] + [blur_sigma if a in spatial else 0.0 for a in range(1, len(shape) + 1)]
            x.assign(gaussian_filter(x.numpy(), sigma=sigma))
        report(progress, "feature visualisation", step, steps)
    return FeatureVis(x.numpy(), start, objective().numpy())
