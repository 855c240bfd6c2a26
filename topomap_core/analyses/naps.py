"""NAPs of a model's layers from one pass over the examples, with the check of the first batch.

:func:`compute_naps` groups the examples (paper 3.1), streams every requested layer's
activations from one forward pass (:func:`topomap_core.io.activations.iter_layer_activations`,
batches bounded in memory) into one :class:`~topomap_core.profiles.nap.NAP` per layer, and
checks what the model does with the data on the first batch
(:func:`topomap_core.io.input_check.check_inputs`): the check travels with every NAP, so each
view of it, cached or not, says when its input looks wrongly prepared.
:func:`nap_and_pool` and :func:`naps_and_pools` are the cached forms the overview and the bias
view use, each layer's NAP under the key its Maps view uses (:func:`~.topomap.nap_key`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from ..jobs.base import Cache, digest
from ..profiles.groups import make_groups
from ..profiles.nap import NAP, NapAccumulator
from ..profiles.separation import ExamplePool, PoolCollector
from ..progress import ProgressCallback
from .topomap import MapParams, nap_key

__all__ = [
    "POOL_VERSION",
    "LazyInputs",
    "compute_nap",
    "compute_naps",
    "input_check",
    "nap_and_pool",
    "naps_and_pools",
    "pool_key",
]

#: Bump when a change makes cached example pools (:func:`pool_key`) stale.
POOL_VERSION = "2"  # 2: the data's preparation in the key


def input_check(model, dataset, rows: np.ndarray, predictions: np.ndarray | None = None) -> dict:
    """:func:`~topomap_core.io.input_check.check_inputs` of ``dataset`` for ``model``, on the
    examples ``rows`` (their predictions are computed unless given), as a dict."""
    from ..io.activations import output_shape, predict
    from ..io.input_check import check_inputs
    from ..io.models import input_spec
    from ..io.prepare import Preparation

    spec = input_spec(model)
    rows = np.asarray(rows, dtype=np.int64)
    if predictions is None:
        predictions = predict(model, dataset.x[rows]) if len(rows) else None
    prepared = dataset.prepared
    preparation = prepared.preparation if prepared is not None else Preparation("none", "none")
    check = check_inputs(
        dataset.x,
        predictions,
        None if dataset.y is None else dataset.y[rows],
        preparation,
        spec,
        output_shape(model),
        dataset.label_name,
    )
    return check.to_dict()


def compute_naps(
    model,
    dataset,
    layers: Sequence[str],
    params: MapParams,
    *,
    batch_size: int | None = None,
    progress: ProgressCallback | None = None,
    timings: dict | None = None,
    extra_groups: Sequence[tuple[str, np.ndarray]] = (),
    on_batch: Callable[[str, np.ndarray, np.ndarray], None] | None = None,
) -> dict[str, NAP]:
    """Group the examples and compute the NAP of every layer in ``layers`` in one pass.

    Parameters
    ----------
    model : keras.Model
    dataset : topomap_core.io.data.Dataset
        Prepared for the model (:func:`topomap_core.io.sources.load_data` with its input).
    layers : sequence of str
        Layer names or nested paths (``"backbone/conv2"``).
    params : MapParams
        Its grouping fields (see :func:`topomap_core.profiles.groups.make_groups`) and ``nap``
        (a GradNAP takes one pass per layer: a tape per layer).
    batch_size : int, optional
        Default: as many examples as fit the batch memory budget
        (:func:`topomap_core.io.activations.batch_size_for`).
    progress : callable, optional
        Called with stages ``"predictions"`` and ``"activations"``.
    timings : dict, optional
        Filled with the seconds spent per stage.
    extra_groups : sequence of (name, indices)
        Custom groups added next to the grouping's (exactly these examples).
    on_batch : callable, optional
        ``on_batch(layer, activations, membership)`` for each layer of each batch, with the
        membership matrix's columns in the grouping's order (real groups first, then the
        random ones): anything else computed from the same pass (:func:`naps_and_pools`).

    Returns
    -------
    dict
        Layer -> NAP, each with the first batch's input check (``NAP.input_check``).

    Raises
    ------
    TopomapError
        An unknown layer, data that do not fit, or a grouping the model cannot serve
        (``label+correctness`` of a model whose output is not a class vector).
    """
    from ..io.activations import batch_size_for, iter_layer_activations, output_shape, predict
    from ..io.data import check_fits
    from ..io.input_check import require_class_vector
    from ..io.models import get_layer, input_spec

    timings = {} if timings is None else timings
    layers = list(dict.fromkeys(layers))
    for layer in layers:
        get_layer(model, layer)  # fail on an unknown layer before any work
    check_fits(dataset, input_spec(model))
    t0 = time.perf_counter()
    predictions = None
    if params.groups == "label+correctness":
        require_class_vector(output_shape(model), params.groups)
        predictions = predict(model, dataset.x, progress=progress)
        timings["predictions"] = time.perf_counter() - t0
    grouping = make_groups(
        params.groups,
        labels=dataset.y,
        predictions=predictions,
        column=dataset.groups,
        label_names=dataset.label_names,
        n_examples=dataset.n_examples,
        random_groups=params.random_groups,
        per_group=params.per_group,
        random_state=params.seed,
        extra=extra_groups,
    )
    t1 = time.perf_counter()
    examples = grouping.examples()
    membership = grouping.membership(examples)
    if batch_size is None:
        batch_size = batch_size_for(model, layers)
    if predictions is not None:  # the grouping predicted every example: check them all
        check = input_check(model, dataset, np.arange(dataset.n_examples), predictions)
    else:  # one batch of predictions (sized for them alone, not for the layers' outputs)
        check = input_check(model, dataset, examples[: batch_size_for(model, [], True)])
    accumulators = {layer: NapAccumulator(grouping.names) for layer in layers}

    def add(layer: str, start: int, acts: np.ndarray) -> None:
        rows = membership[start : start + len(acts)]
        accumulators[layer].add(acts, rows)
        if on_batch is not None:
            on_batch(layer, acts, rows)

    if params.nap == "grad":
        from ..io.gradients import iter_gradient_activations

        for layer in layers:
            for start, acts in iter_gradient_activations(
                model,
                layer,
                dataset.x,
                dataset.y,
                target=params.nap_class,
                batch_size=min(batch_size, 64),  # a tape keeps every activation of the batch
                indices=examples,
                progress=progress,
            ):
                add(layer, start, acts)
    else:
        for start, by_layer, _ in iter_layer_activations(
            model, layers, dataset.x, batch_size, progress, indices=examples
        ):
            for layer in layers:
                add(layer, start, by_layer[layer])
    naps = {}
    for layer, acc in accumulators.items():
        nap = acc.result()
        nap.dropped_groups = grouping.empty + nap.dropped_groups
        nap.members = dict(zip(grouping.names, grouping.members, strict=True))
        nap.input_check = check
        naps[layer] = nap
    timings["activations"] = time.perf_counter() - t1
    return naps


def compute_nap(
    model,
    dataset,
    layer: str,
    params: MapParams,
    *,
    batch_size: int | None = None,
    progress: ProgressCallback | None = None,
    timings: dict | None = None,
    extra_groups: Sequence[tuple[str, np.ndarray]] = (),
    on_batch: Callable[[np.ndarray, np.ndarray], None] | None = None,
) -> NAP:
    """One layer's NAP (:func:`compute_naps` for one layer).

    ``on_batch(activations, membership)`` sees each batch of the layer.
    """
    each = None if on_batch is None else (lambda _, acts, rows: on_batch(acts, rows))
    return compute_naps(
        model,
        dataset,
        [layer],
        params,
        batch_size=batch_size,
        progress=progress,
        timings=timings,
        extra_groups=extra_groups,
        on_batch=each,
    )[layer]


class LazyInputs:
    """A request's model and data, opened on first use (cached NAPs need neither).

    Parameters
    ----------
    sources : topomap_core.jobs.base.Sources
    timings : dict, optional
        Gets ``load_model`` and ``load_data`` seconds.
    field : str, default="model"
        The request field naming the model.
    """

    def __init__(self, sources, timings: dict | None = None, field: str = "model"):
        self.sources = sources
        self.timings = {} if timings is None else timings
        self.field = field
        self._model = None
        self._dataset = None

    def model(self):
        """The model (loaded through the safe loader, once)."""
        if self._model is None:
            t0 = time.perf_counter()
            self._model = self.sources.load_model(self.field)
            self.timings["load_model"] = time.perf_counter() - t0
        return self._model

    def dataset(self):
        """The data, prepared for the model's input (loaded once)."""
        if self._dataset is None:
            from ..io.models import input_spec

            model = self.model()
            t0 = time.perf_counter()
            self._dataset = self.sources.load_data(input_spec(model))
            self.timings["load_data"] = time.perf_counter() - t0
        return self._dataset


def pool_key(nap_parts: dict) -> dict:
    """The cache key parts of a layer's :class:`~..profiles.separation.ExamplePool` (same
    grouping as the NAP of ``nap_parts``)."""
    return {**nap_parts, "kind": "group-pool", "v": POOL_VERSION}


def naps_and_pools(
    inputs: LazyInputs,
    cache: Cache,
    layers: Sequence[str],
    params: MapParams,
    *,
    progress: ProgressCallback | None = None,
    timings: dict | None = None,
) -> dict[str, tuple[NAP, ExamplePool]]:
    """Each layer's NAP and the example pool its separation is computed from, cached.

    Each NAP is the one every view of the layer uses (:func:`~.topomap.nap_key`); the layers
    missing from the cache all come from one pass over the examples.
    """
    sources = inputs.sources
    found: dict[str, tuple[NAP, ExamplePool]] = {}
    keys = {}
    for layer in layers:
        nap_parts = nap_key(sources.id(inputs.field), sources.id("data"), layer, params)
        keys[layer] = digest(nap_parts), digest(pool_key(nap_parts))
        nap, pool = cache.get(keys[layer][0]), cache.get(keys[layer][1])
        if nap is not None and pool is not None:
            found[layer] = nap, pool
    missing = [layer for layer in layers if layer not in found]
    if missing:
        collectors = {layer: PoolCollector(params.random_groups) for layer in missing}
        naps = compute_naps(
            inputs.model(),
            inputs.dataset(),
            missing,
            params,
            progress=progress,
            timings=timings,
            on_batch=lambda layer, acts, rows: collectors[layer].add(acts, rows),
        )
        for layer in missing:
            nap = naps[layer]
            pool = collectors[layer].result(nap.group_names)
            cache.set(keys[layer][0], nap)
            cache.set(keys[layer][1], pool)
            found[layer] = nap, pool
    return {layer: found[layer] for layer in layers}


def nap_and_pool(
    inputs: LazyInputs,
    cache: Cache,
    layer: str,
    params: MapParams,
    *,
    progress: ProgressCallback | None = None,
    timings: dict | None = None,
) -> tuple[NAP, ExamplePool]:
    """One layer's NAP and example pool (:func:`naps_and_pools` for one layer)."""
    return naps_and_pools(inputs, cache, [layer], params, progress=progress, timings=timings)[layer]
