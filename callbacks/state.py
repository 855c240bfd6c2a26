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

from topomap_core.errors import TopomapError
from topomap_core.groups import DEFAULT_PER_GROUP, GROUP_MODES
from topomap_core.layouts import LAYOUT_METHODS, available_methods
from topomap_core.pipeline import MapRequest
from topomap_core.store import DEMO_DATA, DEMO_MODELS, HASH_RE

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


@dataclass
class ParsedQuery:
    """Control values read from a link, with what had to be ignored.

    Attributes
    ----------
    values : dict
        One entry per key of :data:`URL_KEYS`; ``group`` is None when absent.
    warnings : list of str
        One readable line per ignored parameter.
    """

    values: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


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
) -> ParsedQuery:
    """Read control values from a URL query string (``"?model=...&seed=3"``).

    Unknown keys and invalid values are ignored, the default is used, and a warning says so.
    A key given twice uses its first value.

    Parameters
    ----------
    search : str or None
        The query, with or without the leading ``?``.
    known_models, known_data : collection of str, optional
        Ids of the stored uploads; when given, a well-formed id that is not stored is
        ignored too (the link came from another server, or the file was removed).
    """
    values: dict[str, Any] = {**DEFAULTS, "group": None}
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
    return ParsedQuery(values, warnings)


def to_query(values: Mapping[str, Any]) -> str:
    """The query string (``"?model=...&..."``) for control values; None values are left out."""
    pairs = [(key, str(values[key])) for key in URL_KEYS if values.get(key) not in (None, "")]
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
