"""Training-time regularizers, and the allowlist of their names.

:data:`REGULARIZERS` names every regularizer class of this package with the module that
defines it, exactly as Keras writes them into a saved model's configuration (``"module"``,
``"class_name"``, ``"registered_name": "topomaps>Class"``). The safe loader
(:mod:`topomap_core.io.model_safety`) accepts these objects and refuses every other custom
object; it needs only the names, so importing this package imports neither Keras nor NumPy.
"""

from __future__ import annotations

__all__ = ["MODES", "PACKAGE", "REGULARIZERS", "registered_name"]

#: The package our classes are registered under (``keras.saving.register_keras_serializable``).
PACKAGE = "topomaps"

#: What the topographic penalty compares: the units' weights or their activations.
MODES = ("weights", "activations")

#: Class name -> the module that defines (and registers) it.
REGULARIZERS: dict[str, str] = {
    "TopographicRegularizer": "topomap_core.regularizers.topographic",
}


def registered_name(class_name: str) -> str:
    """``"topomaps>TopographicRegularizer"``: the name Keras registers a class of ours under."""
    return f"{PACKAGE}>{class_name}"
