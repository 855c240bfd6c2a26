"""Inspect a model file's configuration as data before Keras deserialises anything.

A model file is untrusted input. :func:`inspect_model_file` reads its configuration as plain
JSON and walks it, refusing everything that could run Python code on load (``Lambda`` layers,
custom or registered objects, classes or functions from outside Keras). Only then does
:func:`topomap_core.io.models.load_model` hand the file to
``keras.saving.load_model(..., safe_mode=True, compile=False)``.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .. import config
from ..errors import ModelLoadError, ModelRefusedError, one_line
from ..regularizers import PACKAGE, REGULARIZERS, registered_name
from .archives import check_model_file

keras = config.import_keras()

__all__ = ["check_config", "config_objects", "inspect_model_file"]

# Layers that run arbitrary code or read arbitrary files when they are built from a config.
_UNSAFE_LAYERS = {
    "Lambda": "its Python code would run on load",
    "TFSMLayer": "it loads a TensorFlow SavedModel graph from a path on load",
    "TorchModuleWrapper": "it unpickles a PyTorch module on load",
    "JaxLayer": "it wraps arbitrary Python functions",
    "FlaxLayer": "it wraps arbitrary Python functions",
}

# Marker objects Keras writes into configs for tensors, shapes and the like; they carry no
# code.  "__lambda__" (marshalled Python bytecode) is deliberately absent.
_DATA_MARKERS = {
    "__keras_tensor__",
    "__tensor__",
    "__numpy__",
    "__bytes__",
    "__slice__",
    "__ellipsis__",
}

# Keras namespaces whose public names may appear as a bare class_name (legacy .h5 configs
# carry no "module" key).
_KERAS_NAMESPACES = (
    "layers",
    "models",
    "initializers",
    "regularizers",
    "constraints",
    "optimizers",
    "optimizers.schedules",
    "losses",
    "metrics",
    "activations",
    "dtype_policies",
    "mixed_precision",
)

# Keras modules whose functions may be referenced by a {"class_name": "function"} entry
# (activations, losses and metrics given as functions, e.g. ``loss=keras.losses.mse``).
# Anything else, such as ``keras.utils.get_file``, is refused even though it is "Keras".
_FUNCTION_NAMESPACES = ("activations", "losses", "metrics")

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_ZIP_SIGNATURE = b"PK"


# --------------------------------------------------------------------------------------------
# Safety inspection
# --------------------------------------------------------------------------------------------


def inspect_model_file(path: Path) -> Any:
    """Refuse a model file whose configuration could run code when Keras loads it; return the
    configuration (parsed JSON) when it passes.

    The configuration is read as JSON, without deserialising anything: ``config.json``
    inside a ``.keras`` zip, or the ``model_config`` attribute of a legacy ``.h5`` file.
    Every nested object is checked; the first unsafe one raises.

    Parameters
    ----------
    path : Path
        A ``.keras`` or ``.h5`` file.

    Raises
    ------
    ModelRefusedError
        A ``Lambda`` or other code-carrying layer, a serialised Python function, a custom
        (registered) object, an object from a module outside Keras, or a class Keras does
        not know.  The message names the offending layer.
    ModelLoadError
        The file cannot be read as a Keras model file.
    """
    path = Path(path)
    check_model_file(path)  # bounded: sizes and ratios, before anything is parsed
    model_config = _read_model_config(path)
    check_config(model_config, path.name)
    return model_config


def check_config(model_config: Any, label: str) -> None:
    """The checks of :func:`inspect_model_file` on a parsed configuration (also on one that
    :mod:`topomap_core.io.legacy` rewrote)."""
    if isinstance(model_config, dict):
        # load_model(compile=False) discards the top-level compile_config unread, so a custom
        # loss or metric there cannot run; refusing it would reject ordinary models.
        model_config = {k: v for k, v in model_config.items() if k != "compile_config"}
    try:
        _check_config(model_config, layer="<model>", is_layer=True)
    except RecursionError:
        raise ModelRefusedError(
            f"the configuration in '{label}' is nested too deeply to inspect; refused"
        ) from None
    check_declared_size(model_config, label)


def _read_model_config(path: Path) -> Any:
    """Return the model configuration of a ``.keras`` or ``.h5`` file as parsed JSON."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(_HDF5_SIGNATURE):
        if path.suffix.lower() == ".keras":
            raise ModelLoadError(
                f"model file '{path.name}' is an HDF5 file, not a .keras archive; rename it to .h5"
            )
        return _read_h5_config(path)
    if head.startswith(_ZIP_SIGNATURE):
        if path.suffix.lower() != ".keras":
            raise ModelLoadError(
                f"model file '{path.name}' is a zip archive, not an HDF5 file; rename it to .keras"
            )
        return _read_keras_config(path)
    kind = "a .keras archive (zip)" if path.suffix.lower() == ".keras" else "an HDF5 file"
    raise ModelLoadError(f"model file '{path.name}' is not {kind}: it is corrupt or not a model")


def _read_keras_config(path: Path) -> Any:
    try:
        with zipfile.ZipFile(path) as zf:
            try:
                info = zf.getinfo("config.json")
            except KeyError:
                raise ModelLoadError(
                    f"model file '{path.name}' has no config.json; it is not a Keras 3 .keras file"
                ) from None
            limit = config.max_config_bytes()  # checked by check_model_file, read bounded
            with zf.open(info) as fh:
                raw = fh.read(limit + 1)
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError) as exc:
        raise ModelLoadError(
            f"model file '{path.name}' is a damaged .keras archive ({one_line(exc, 200)})"
        ) from None
    if len(raw) > limit:
        raise ModelLoadError(
            f"config.json in '{path.name}' is larger than {limit / 2**20:.0f} MB "
            "(TOPOMAPS_MAX_CONFIG_MB); refused"
        )
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelLoadError(
            f"config.json in '{path.name}' is not valid JSON ({one_line(exc, 200)})"
        ) from None


def _read_h5_config(path: Path) -> Any:
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            raw = h5.attrs.get("model_config")
    except Exception as exc:  # h5py raises OSError, KeyError, RuntimeError... on bad files
        raise ModelLoadError(
            f"model file '{path.name}' is a damaged HDF5 file ({one_line(exc, 200)})"
        ) from None
    if raw is None:
        raise ModelLoadError(
            f"HDF5 file '{path.name}' holds no model configuration (weights only?); "
            "save the whole model with model.save('m.keras')"
        )
    if isinstance(raw, np.ndarray):  # some writers store a 0-d array
        raw = raw.item()
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    limit = config.max_config_bytes()
    if isinstance(raw, str) and len(raw) > limit:
        raise ModelLoadError(
            f"the model_config attribute in '{path.name}' is larger than "
            f"{limit / 2**20:.0f} MB (TOPOMAPS_MAX_CONFIG_MB); refused"
        )
    try:
        return json.loads(raw)
    except (TypeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelLoadError(
            f"model_config in '{path.name}' is not valid JSON ({one_line(exc, 200)})"
        ) from None


# --------------------------------------------------------------------------------------------
# Declared size
# --------------------------------------------------------------------------------------------

#: Bytes of memory a parameter costs while a model is built and its weights are read: the
#: float32 variable, the array read from the file, and the optimiser-free copy Keras makes.
_BYTES_PER_PARAMETER = 12
#: What TensorFlow and Keras take before any model is built (MiB).
_BASELINE_MB = 1024


def declared_parameters(model_config: Any) -> int:
    """The number of weights a configuration declares, from its layers' settings and their
    recorded input shapes (``build_config``), without building anything.

    Counts the layers that hold nearly all weights in practice (dense, convolution,
    embedding, recurrent, normalisation); others count 0, and the memory limit of the job
    process catches what this misses.
    """
    return sum(_layer_parameters(node) for node in config_objects(model_config))


def config_objects(model_config: Any) -> Iterator[dict]:
    """Every object (dict) of a parsed configuration, at any depth, without recursion (a
    hostile configuration may nest deeply)."""
    stack = [model_config]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            yield node
            stack.extend(v for v in node.values() if isinstance(v, (dict, list)))


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _input_size(node: dict, channels_first: bool = False) -> int:
    build = node.get("build_config")
    shape = build.get("input_shape") if isinstance(build, dict) else None
    if isinstance(shape, dict):  # a layer of several inputs: not counted here
        return 0
    if isinstance(shape, list) and shape and isinstance(shape[0], list):
        shape = shape[0]
    if not isinstance(shape, list) or len(shape) < 2:
        return 0
    return _int(shape[1] if channels_first else shape[-1])


def _layer_parameters(node: dict) -> int:
    name, cfg = node.get("class_name"), node.get("config")
    if not isinstance(name, str) or not isinstance(cfg, dict):
        return 0
    if name == "Embedding":
        return _int(cfg.get("input_dim")) * _int(cfg.get("output_dim"))
    channels_first = cfg.get("data_format") == "channels_first"
    n_in = _input_size(node, channels_first)
    if name in ("Dense", "EinsumDense"):
        units = _int(cfg.get("units"))
        return n_in * units + units
    kernel = cfg.get("kernel_size")
    kernel = [kernel] if isinstance(kernel, int) else kernel
    k = 1
    for side in kernel if isinstance(kernel, list) else []:
        k *= _int(side)
    if name.startswith("Conv") and not name.startswith("ConvLSTM"):
        filters = _int(cfg.get("filters"))
        return k * n_in * filters + filters
    if name.startswith("DepthwiseConv"):
        return k * n_in * max(_int(cfg.get("depth_multiplier")), 1)
    if name.startswith("SeparableConv"):
        dm = max(_int(cfg.get("depth_multiplier")), 1)
        return k * n_in * dm + n_in * dm * _int(cfg.get("filters"))
    gates = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}.get(name, 0)
    if gates:
        units = _int(cfg.get("units"))
        return gates * (units * (n_in + units) + units)
    if name in ("BatchNormalization", "LayerNormalization"):
        return 4 * n_in
    return 0


def check_declared_size(model_config: Any, label: str) -> None:
    """Refuse a configuration whose declared weights cannot fit the job memory limit.

    Raises
    ------
    ModelRefusedError
        Naming the parameter count, the limit and the setting that raises it.
    """
    limit_mb = config.job_memory_mb()
    if not limit_mb:
        return
    n = declared_parameters(model_config)
    need_mb = n * _BYTES_PER_PARAMETER / 2**20 + _BASELINE_MB
    if need_mb > limit_mb:
        raise ModelRefusedError(
            f"'{label}' declares {n:,} parameters ({n * 4 / 2**30:.1f} GB as float32), more "
            f"than fit in {config.memory_limit_text()}; refused before building it"
        )


def _check_config(node: Any, layer: str, is_layer: bool = False) -> None:
    """Walk a parsed config; ``layer`` names the innermost enclosing layer (for messages).

    ``is_layer`` marks the dicts that are layers: the top-level model and the items of a
    ``"layers"`` list (of a Functional or Sequential model, at any depth).
    """
    if isinstance(node, list):
        for item in node:
            _check_config(item, layer, is_layer)
        return
    if not isinstance(node, dict):
        return
    if "class_name" in node:
        if is_layer:
            cfg = node.get("config")
            name = node.get("name")
            if not isinstance(name, str) and isinstance(cfg, dict):
                name = cfg.get("name")
            if isinstance(name, str):
                layer = name
        _check_object(node, layer)
    for key, value in node.items():
        _check_config(value, layer, is_layer=key == "layers")


def _check_object(node: dict, layer: str) -> None:
    class_name = node.get("class_name")
    module = node.get("module")
    registered = node.get("registered_name")
    where = f"layer '{layer}'"
    if not isinstance(class_name, str):
        raise ModelRefusedError(f"{where} has a non-text class_name {class_name!r}; refused")

    if class_name == "__lambda__":
        raise ModelRefusedError(
            f"{where} contains a serialised Python lambda: its code would run on load; refused"
        )
    if class_name in _UNSAFE_LAYERS:
        raise ModelRefusedError(
            f"{where} is a {class_name} layer: {_UNSAFE_LAYERS[class_name]}; refused"
        )
    if class_name in _DATA_MARKERS:
        return
    if class_name == "function":
        _check_function(node, where)
        return
    if _is_ours(class_name, module, registered):
        return
    if registered is not None and not (registered == class_name and module is not None):
        # Keras writes a registered_name only for objects registered with
        # @register_keras_serializable, i.e. custom Python code (e.g. "my>MyLayer").
        raise ModelRefusedError(
            f"{where} uses the custom object {registered!r}, which is not a Keras built-in; "
            "custom code is refused"
        )
    if module is not None and not _is_keras_module(module):
        raise ModelRefusedError(
            f"{where}: module {module!r} is outside Keras (class {class_name!r}); refused"
        )
    if ">" in class_name:
        # Legacy .h5 files write registered custom classes as "package>Name".
        raise ModelRefusedError(
            f"{where} uses the custom object {class_name!r}, which is not a Keras built-in; "
            "custom code is refused"
        )
    if not _is_known_class(class_name, module):
        raise ModelRefusedError(
            f"{where} has class {class_name!r}, which Keras does not know (a custom class?); "
            "refused"
        )


def _is_ours(class_name: str, module: Any, registered: Any) -> bool:
    """Whether the object is one of our regularizers (:data:`REGULARIZERS`), exactly as Keras
    writes it: its class, its module and ``"topomaps>Class"``; a legacy ``.h5`` config writes
    ``"topomaps>Class"`` as the class name and no module."""
    if class_name in REGULARIZERS:
        return module == REGULARIZERS[class_name] and registered == registered_name(class_name)
    package, _, name = class_name.partition(">")
    return package == PACKAGE and name in REGULARIZERS and module is None and registered is None


def _check_function(node: dict, where: str) -> None:
    module = node.get("module")
    fn_name = node.get("config")
    if not isinstance(fn_name, str):
        raise ModelRefusedError(f"{where} references a function with no name; refused")
    # Keras 3 writes built-in activations/losses as module "builtins" or "keras.<ns>".
    if module == "builtins" or (isinstance(module, str) and _is_keras_module(module)):
        if any(_keras_symbol(f"{ns}.{fn_name}") is not None for ns in _FUNCTION_NAMESPACES):
            return
    raise ModelRefusedError(
        f"{where} references the function {fn_name!r} from module {module!r}, which is not a "
        "Keras activation, loss or metric; refused"
    )


def _is_keras_module(module: str) -> bool:
    return module == "keras" or module.startswith("keras.")


def _keras_symbol(dotted: str) -> Any:
    """Return ``keras.<dotted>`` if it exists (without importing anything new), else None."""
    obj: Any = keras
    for part in dotted.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _is_known_class(class_name: str, module: str | None) -> bool:
    if class_name in ("Functional", "Model", "Sequential"):
        return True
    if module is not None:
        # Keras 3 writes the public path ("keras.layers") or, for a few classes, the private
        # one ("keras.src.models.functional"); either way the class must resolve there.
        public = module[len("keras") :].lstrip(".")
        if _keras_symbol(f"{public}.{class_name}" if public else class_name) is not None:
            return True
    if _keras_symbol(class_name) is not None:  # e.g. keras.DTypePolicy
        return True
    return any(_keras_symbol(f"{ns}.{class_name}") is not None for ns in _KERAS_NAMESPACES)
