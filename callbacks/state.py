"""Pure logic of the dashboard's state: URL query <-> control values -> MapRequest.

Everything a link can carry is validated here, once, before it reaches a control or the
library: a model or data reference must be a built-in demo or a 64-hex-digit content id (never
a path), the layout method must be registered (matched case-insensitively, the canonical name
is used), numbers must be whole and in range. A bad value in a link falls back to the default
and produces a warning for the status line; a bad value in the controls raises
:class:`~topomap_core.errors.TopomapError` when a run is requested.

No Dash here: these are plain functions, tested as such.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from topomap_core.config import max_checkpoints
from topomap_core.errors import TopomapError
from topomap_core.pipeline import MapRequest
from topomap_core.placement import LAYOUT_METHODS, available_methods
from topomap_core.profiles.groups import DEFAULT_PER_GROUP, GROUP_MODES
from topomap_core.store import DEMO_DATA, DEMO_MODELS, HASH_RE
from topomap_core.training import DEMO_CHECKPOINTS, CompareRequest, TrainingRequest

#: Largest accepted values (a link is untrusted input; the UI does not bound anything).
MAX_RANDOM_GROUPS = 100
MAX_PER_GROUP = 100_000
MAX_SEED = 2**32 - 1  # numpy's RandomState accepts seeds below 2**32
MAX_NAME_LENGTH = 200

#: What the page shows on a plain load: the built-in demo.
DEFAULTS: dict[str, Any] = {
    "model": "demo:digits-mlp",
    "data": "demo:digits",
    "layer": "dense",
    "groups": "label",
    "random_groups": 0,
    "per_group": DEFAULT_PER_GROUP,
    "method": "UMAP_PSO",
    "seed": 0,
}

#: Keys of the values that define a view (the controls), in URL order.
CONTROL_KEYS: tuple[str, ...] = tuple(DEFAULTS)
#: Keys a link may carry: the controls plus the selected group.
URL_KEYS: tuple[str, ...] = (*CONTROL_KEYS, "group")


# ----------------------------------------------------------------- tabs: training, compare
#
# The Training and Compare tabs add keys of their own. They are written into a link only when
# their tab is open, so a Maps link is exactly what it always was (and an old link, without
# ``tab``, opens the Maps tab).

#: The tabs of the main area, the first being the default.
TABS: tuple[str, ...] = ("maps", "training", "compare")
#: What the Compare tab compares: two models, or two states of the training series.
COMPARE_MODES: tuple[str, ...] = ("models", "states")

#: Defaults of the tab keys. ``state`` None: the last state (the trained model).
TAB_DEFAULTS: dict[str, Any] = {
    "tab": "maps",
    "checkpoints": DEMO_CHECKPOINTS,
    "base_model": None,
    "train_layer": "dense",
    "state": None,
    "compare": "states",
    "model_a": "demo:digits-mlp",
    "layer_a": "dense",
    "model_b": "demo:digits-mlp",
    "layer_b": "dense",
    "state_a": None,
    "state_b": None,
}
#: Keys of the tab values, in URL order.
TAB_KEYS: tuple[str, ...] = tuple(TAB_DEFAULTS)
#: The keys a link carries for each tab (besides ``tab`` and the Maps keys).
_TRAINING_KEYS = ("checkpoints", "base_model", "train_layer", "state")
_COMPARE_KEYS = {
    "models": ("compare", "model_a", "layer_a", "model_b", "layer_b"),
    "states": ("compare", "checkpoints", "base_model", "train_layer", "state_a", "state_b"),
}

_TAB_LABELS = {
    "tab": "tab",
    "checkpoints": "checkpoints",
    "base_model": "base model",
    "train_layer": "training layer",
    "state": "state",
    "compare": "comparison",
    "model_a": "model A",
    "layer_a": "layer of model A",
    "model_b": "model B",
    "layer_b": "layer of model B",
    "state_a": "state A",
    "state_b": "state B",
}


@dataclass
class ParsedQuery:
    """Control values read from a link, with what had to be ignored.

    Attributes
    ----------
    values : dict
        One entry per key of :data:`URL_KEYS`; ``group`` is None when absent.
    warnings : list of str
        One readable line per ignored parameter.
    tab : dict
        One entry per key of :data:`TAB_KEYS` (the open tab and the Training and Compare
        tabs' values), defaults where absent.
    """

    values: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    tab: dict[str, Any] = field(default_factory=lambda: dict(TAB_DEFAULTS))


def _short(raw: object, limit: int = 40) -> str:
    text = str(raw)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_model_ref(ref: object) -> bool:
    """True for a demo model name or a 64-hex-digit id; never for a path."""
    return isinstance(ref, str) and (ref in DEMO_MODELS or bool(HASH_RE.match(ref)))


def is_data_ref(ref: object) -> bool:
    """True for the demo data name or a 64-hex-digit id; never for a path."""
    return isinstance(ref, str) and (ref in DEMO_DATA or bool(HASH_RE.match(ref)))


def canonical_method(name: object) -> str | None:
    """The registered spelling of a layout method (case-insensitive), or None."""
    if not isinstance(name, str):
        return None
    method = LAYOUT_METHODS.get(name.strip().lower())
    return method.name if method is not None else None


def coerce_int(raw: object) -> int | None:
    """An integer from a control or URL value (``3``, ``3.0``, ``"3"``), else None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        return int(raw) if raw.is_integer() else None
    if isinstance(raw, str) and re.fullmatch(r"\s*[+-]?\d{1,12}\s*", raw):
        return int(raw)
    return None


def is_name(raw: object) -> bool:
    """A layer or group name: 1-200 printable characters."""
    return (
        isinstance(raw, str)
        and 0 < len(raw) <= MAX_NAME_LENGTH
        and raw.isprintable()
        and raw.strip() == raw
    )


_INT_RANGES: dict[str, tuple[int, int]] = {
    "random_groups": (0, MAX_RANDOM_GROUPS),
    "per_group": (1, MAX_PER_GROUP),
    "seed": (0, MAX_SEED),
}

_LABELS = {
    "model": "model",
    "data": "data",
    "layer": "layer",
    "groups": "grouping",
    "random_groups": "random groups",
    "per_group": "examples per group",
    "method": "layout method",
    "seed": "seed",
    "group": "group",
}


def check_value(key: str, raw: object) -> tuple[Any, str | None]:
    """Validate one value of :data:`URL_KEYS`.

    Returns
    -------
    value : object
        The clean value (canonical method name, int), or None if invalid.
    problem : str or None
        Why the value is invalid, as a phrase (``"unknown method 'foo'"``).
    """
    label = _LABELS[key]
    if key == "model":
        if is_model_ref(raw):
            return raw, None
        return None, f"unknown model {_short(raw)!r} (not a demo model nor an uploaded model id)"
    if key == "data":
        if is_data_ref(raw):
            return raw, None
        return None, f"unknown data {_short(raw)!r} (not demo:digits nor an uploaded data id)"
    if key == "groups":
        # A hand-typed "label+correctness" arrives as "label correctness" ('+' means space).
        mode = raw.strip().replace(" ", "+")
        if mode in GROUP_MODES:
            return mode, None
        return None, f"unknown grouping {_short(raw)!r} (use one of {', '.join(GROUP_MODES)})"
    if key == "method":
        name = canonical_method(raw)
        if name is not None:
            return name, None
        return None, f"unknown method {_short(raw)!r}"
    if key in _INT_RANGES:
        lo, hi = _INT_RANGES[key]
        value = coerce_int(raw)
        if value is None:
            return None, f"{label} {_short(raw)!r} (not a whole number)"
        if not lo <= value <= hi:
            return None, f"{label} {value} (must be between {lo} and {hi})"
        return value, None
    if key in ("layer", "group"):
        if is_name(raw):
            return raw, None
        return None, f"{label} {_short(raw)!r} (not a valid name)"
    raise KeyError(key)


def parse_query(
    search: str | None,
    known_models: Collection[str] | None = None,
    known_data: Collection[str] | None = None,
    known_checkpoints: Collection[str] | None = None,
) -> ParsedQuery:
    """Read control values from a URL query string (``"?model=...&seed=3"``).

    Unknown keys and invalid values are ignored, the default is used, and a warning says so.
    A key given twice uses its first value.

    Parameters
    ----------
    search : str or None
        The query, with or without the leading ``?``.
    known_models, known_data, known_checkpoints : collection of str, optional
        Ids of the stored uploads; when given, a well-formed id that is not stored is
        ignored too (the link came from another server, or the file was removed).
    """
    values: dict[str, Any] = {**DEFAULTS, "group": None}
    tab = dict(TAB_DEFAULTS)
    known_tab = {"models": known_models, "checkpoints": known_checkpoints}
    warnings: list[str] = []
    text = (search or "").lstrip("?")
    seen: set[str] = set()
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=50)
    except ValueError:
        return ParsedQuery(values, ["Ignored the link's parameters (too many of them)"])
    for key, raw in pairs:
        if key in seen:
            continue
        seen.add(key)
        if key in TAB_KEYS:
            value, problem = _parse_tab_pair(key, raw, known_tab)
            if problem is not None:
                fallback = tab[key]
                using = f"; using {fallback}" if fallback is not None else ""
                warnings.append(f"Ignored {problem} in the link{using}")
            else:
                tab[key] = value
            continue
        if key not in URL_KEYS:
            warnings.append(f"Ignored unknown parameter {_short(key)!r} in the link")
            continue
        value, problem = check_value(key, raw)
        known = {"model": known_models, "data": known_data}.get(key)
        if (
            problem is None
            and known is not None
            and HASH_RE.match(str(value))
            and value not in known
        ):
            problem = f"{key} {value[:12]}... (not stored on this server: upload it again)"
        if problem is not None:
            fallback = values[key]
            using = f"; using {fallback}" if fallback is not None else ""
            warnings.append(f"Ignored {problem} in the link{using}")
            continue
        values[key] = value
    return ParsedQuery(values, warnings, tab)


def to_query(values: Mapping[str, Any], tab_values: Mapping[str, Any] | None = None) -> str:
    """The query string (``"?model=...&..."``) for control values; None values are left out.

    ``tab_values`` (:data:`TAB_KEYS`) add the open tab's keys (:func:`tab_pairs`); the Maps
    tab adds none, so its link stays as it always was.
    """
    pairs = [(key, str(values[key])) for key in URL_KEYS if values.get(key) not in (None, "")]
    pairs += tab_pairs(tab_values or {})
    if not pairs:
        return ""
    return "?" + urlencode(pairs, quote_via=quote, safe=":")


def share_link(href: str | None, search: str) -> str:
    """The full link: scheme, host and path of the page's ``href`` with a new query."""
    if not href:
        return search
    parts = urlsplit(href)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, search.lstrip("?"), ""))


def build_request(values: Mapping[str, Any]) -> MapRequest:
    """Validate control values and build the :class:`MapRequest` they describe.

    Raises
    ------
    TopomapError
        Naming the first bad value, e.g. ``"Seed -1 (must be between 0 and 4294967295)"``.
    """
    clean: dict[str, Any] = {}
    for key in CONTROL_KEYS:
        raw = values.get(key)
        if raw is None or raw == "":
            what = {"layer": "Choose a layer", "model": "Choose a model", "data": "Choose data"}
            raise TopomapError(what.get(key, f"Enter the {_LABELS[key]}"))
        value, problem = check_value(key, raw)
        if problem is not None:
            message = problem[0].upper() + problem[1:]
            if key == "method":
                message += f"; choose one of {', '.join(available_methods())}"
            raise TopomapError(message)
        clean[key] = value
    return MapRequest(**clean)


def request_values(request: MapRequest) -> dict[str, Any]:
    """The control values of a request (inverse of :func:`build_request`)."""
    data = asdict(request)
    return {key: data[key] for key in CONTROL_KEYS}


def is_checkpoints_ref(ref: object) -> bool:
    """True for the demo series' name or a 64-hex-digit id; never for a path."""
    return isinstance(ref, str) and (ref == DEMO_CHECKPOINTS or bool(HASH_RE.match(ref)))


def check_tab_value(key: str, raw: object) -> tuple[Any, str | None]:
    """Validate one value of :data:`TAB_KEYS`, like :func:`check_value`."""
    label = _TAB_LABELS[key]
    if key == "tab":
        tab = raw.strip().lower() if isinstance(raw, str) else raw
        if tab in TABS:
            return tab, None
        return None, f"unknown tab {_short(raw)!r} (use one of {', '.join(TABS)})"
    if key == "compare":
        mode = raw.strip().lower() if isinstance(raw, str) else raw
        if mode in COMPARE_MODES:
            return mode, None
        return None, f"unknown comparison {_short(raw)!r} (use {' or '.join(COMPARE_MODES)})"
    if key == "checkpoints":
        if is_checkpoints_ref(raw):
            return raw, None
        return None, (
            f"unknown checkpoints {_short(raw)!r} (not {DEMO_CHECKPOINTS} nor an uploaded "
            "series id)"
        )
    if key in ("base_model", "model_a", "model_b"):
        if is_model_ref(raw):
            return raw, None
        return None, f"unknown {label} {_short(raw)!r} (not a demo model nor an uploaded model id)"
    if key in ("state", "state_a", "state_b"):
        value = coerce_int(raw)
        if value is None:
            return None, f"{label} {_short(raw)!r} (not a whole number)"
        # The series' own length is checked when its result is shown.
        top = max_checkpoints() - 1
        if not 0 <= value <= top:
            return None, f"{label} {value} (must be between 0 and {top})"
        return value, None
    if key in ("train_layer", "layer_a", "layer_b"):
        if is_name(raw):
            return raw, None
        return None, f"{label} {_short(raw)!r} (not a valid name)"
    raise KeyError(key)


def _parse_tab_pair(
    key: str, raw: str, known: Mapping[str, Collection[str] | None]
) -> tuple[Any, str | None]:
    value, problem = check_tab_value(key, raw)
    group = "checkpoints" if key == "checkpoints" else "models"
    ids = known.get(group)
    if problem is None and ids is not None and HASH_RE.match(str(value)) and value not in ids:
        problem = f"{_TAB_LABELS[key]} {value[:12]}... (not stored on this server: upload it again)"
    return value, problem


def tab_pairs(tab_values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The ``(key, value)`` pairs a link carries for the open tab; none for the Maps tab."""
    tab = tab_values.get("tab") or "maps"
    if tab == "training":
        keys: tuple[str, ...] = ("tab", *_TRAINING_KEYS)
    elif tab == "compare":
        mode = tab_values.get("compare") or "models"
        keys = ("tab", *_COMPARE_KEYS.get(mode, _COMPARE_KEYS["models"]))
    else:
        return []
    return [(key, str(tab_values[key])) for key in keys if tab_values.get(key) not in (None, "")]


def _require(values: Mapping[str, Any], key: str, check, labels: Mapping[str, str]) -> Any:
    """The clean value of ``key`` or a TopomapError naming the problem."""
    raw = values.get(key)
    if raw is None or raw == "":
        what = {
            "train_layer": "Choose a layer",
            "layer_a": "Choose a layer of model A",
            "layer_b": "Choose a layer of model B",
            "checkpoints": "Choose checkpoints",
            "model_a": "Choose model A",
            "model_b": "Choose model B",
            "state_a": "Enter state A",
            "state_b": "Enter state B",
            "layer": "Choose a layer",
            "data": "Choose data",
        }
        raise TopomapError(what.get(key, f"Enter the {labels[key]}"))
    value, problem = check(key, raw)
    if problem is not None:
        message = problem[0].upper() + problem[1:]
        if key == "method":
            message += f"; choose one of {', '.join(available_methods())}"
        raise TopomapError(message)
    return value


#: The shared controls (sidebar sections 2-4) every tab uses.
SHARED_KEYS: tuple[str, ...] = ("data", "groups", "random_groups", "per_group", "method", "seed")


def _shared(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _require(values, key, check_value, _LABELS) for key in SHARED_KEYS}


def build_training_request(
    values: Mapping[str, Any], tab_values: Mapping[str, Any]
) -> TrainingRequest:
    """The :class:`TrainingRequest` of the shared controls and the Training tab's values.

    Raises
    ------
    TopomapError
        Naming the first bad value (``"Choose a layer"``, ``"Unknown base model ..."``).
    """
    shared = _shared(values)
    checkpoints = _require(tab_values, "checkpoints", check_tab_value, _TAB_LABELS)
    layer = _require(tab_values, "train_layer", check_tab_value, _TAB_LABELS)
    base = tab_values.get("base_model") or None
    if base is not None:
        base = _require(tab_values, "base_model", check_tab_value, _TAB_LABELS)
    return TrainingRequest(checkpoints=checkpoints, layer=layer, base_model=base, **shared)


def build_compare_request(
    values: Mapping[str, Any], tab_values: Mapping[str, Any]
) -> CompareRequest:
    """The :class:`CompareRequest` of the shared controls and the Compare tab's two models.

    Raises
    ------
    TopomapError
        Naming the first bad value.
    """
    shared = _shared(values)
    clean = {
        key: _require(tab_values, key, check_tab_value, _TAB_LABELS)
        for key in ("model_a", "layer_a", "model_b", "layer_b")
    }
    return CompareRequest(
        model_a=clean["model_a"],
        model_b=clean["model_b"],
        layer=clean["layer_a"],
        layer_b=clean["layer_b"],
        **shared,
    )


def compare_states(tab_values: Mapping[str, Any], n_states: int) -> tuple[int, int]:
    """States A and B of a series of ``n_states`` (default: the first and the last).

    Raises
    ------
    TopomapError
        A state outside the series.
    """
    out = []
    for key, default in (("state_a", 0), ("state_b", n_states - 1)):
        raw = tab_values.get(key)
        value = default if raw is None or raw == "" else coerce_int(raw)
        if value is None or not 0 <= value < n_states:
            label = _TAB_LABELS[key]
            shown = value if value is not None else repr(_short(raw))
            raise TopomapError(
                f"{label[0].upper()}{label[1:]} {shown} is not a state of this series "
                f"(0 to {n_states - 1})"
            )
        out.append(value)
    return out[0], out[1]
