"""The URL mirrors the view: a link opens the same controls (and, if stored, the same result).

Each tab declares what its link carries as :class:`Link` objects (in its callbacks module), so
this module knows no tab by name. On load (and on back/forward) the query of ``href`` is parsed
and validated (:func:`parse_query`) and the controls are set; the controls then write the query
back (``search``) and the share link. Writing ``search`` does not change ``href``, so the two
callbacks do not loop.

The first tab's keys (the Maps keys) are always in the link; another tab's keys only while it
is open, with ``tab``. A value whose control gets its options later (a layer of a model whose
layers are listed once the model is described, the state of a training result) also waits in
its tab's link store until the tab's own callbacks take it.

Everything is validated before it reaches a control or the library, with the declared
parameters (:mod:`topomap_core.params`): references are demo names or stored ids, never paths;
a bad value falls back to the default with a warning; the warnings of one link are shown as
one dismissible notice above the tabs (:func:`link_notice`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from dash import Dash, Input, Output, State, ctx, html
from dash.exceptions import PreventUpdate
from werkzeug.exceptions import BadRequest

from layouts.ids import ID
from layouts.page import TabPane
from topomap_core.params import HASH_RE, check, short
from topomap_core.store import Store

#: Most query fields read from one link.
MAX_FIELDS = 50

Check = Callable[[Any], tuple[Any, str | None]]


@dataclass(frozen=True)
class Link:
    """One URL key: how it is validated, which control it sets and is read from.

    Attributes
    ----------
    key : str
        The URL parameter.
    check : callable
        ``check(raw) -> (value, problem)`` (see :func:`field_check`).
    default : object
        Used when the link lacks the key or its value is bad.
    component, prop : str
        The control the key sets on load and is written from.
    load : bool
        Set the control on load (False: the value only waits in ``store``).
    store : str, optional
        The tab's link store: the value also waits there (``{key: value}``) until the control
        has its options; the tab's callbacks clear it once used.
    known : str, optional
        ``"model"``, ``"data"`` or ``"checkpoints"``: a stored id must be stored here too.
    label : str
        What the key is called in messages.
    when : callable, optional
        ``when(values) -> bool``: write the key only then (e.g. the comparison mode's keys).
    extra_inputs, extra_states : sequence of (id, property)
        More values the writer reads (triggering, or not, a new link).
    output : callable, optional
        ``output(value, *extra) -> value`` written instead of the control's value.
    hold : callable, optional
        ``hold(triggered_id, value, *extra) -> bool``: do not write the link now.
    """

    key: str
    check: Check
    default: Any
    component: str | None = None
    prop: str = "value"
    load: bool = True
    store: str | None = None
    known: str | None = None
    label: str = ""
    when: Callable[[Mapping[str, Any]], bool] | None = None
    extra_inputs: Sequence[tuple[str, str]] = ()
    extra_states: Sequence[tuple[str, str]] = ()
    output: Callable[..., Any] | None = None
    hold: Callable[..., bool] | None = None


@dataclass(frozen=True)
class Tab:
    """A tab of the dashboard: its pane, its callbacks and what its link carries.

    Attributes
    ----------
    pane : TabPane
        Value, label and content (built by the tab's layouts module).
    register : callable
        ``register(app, data_dir)``: the tab's callbacks.
    links : sequence of Link
        The URL keys written while the tab is open.
    inputs : sequence of (request field, component id)
        The controls the tab's request is made of (its job's ``JobTab.inputs``): the sidebar
        shows exactly the sidebar controls among them (``callbacks.page``).
    request_type : type or tuple of types, optional
        The request class they make (a tab that runs two jobs: both); a test checks that every
        sidebar control among the inputs is a field of each.
    """

    pane: TabPane
    register: Callable[[Dash, Path], None]
    links: Sequence[Link] = field(default_factory=tuple)
    inputs: Sequence[tuple[str, str]] = field(default_factory=tuple)
    request_type: type | tuple[type, ...] | None = None


def request_inputs(
    cls: type, pairs: Sequence[tuple[str, str]], exclude: Collection[str] = ()
) -> tuple[tuple[str, str], ...]:
    """The (field, component id) pairs of ``pairs`` that are declared fields of request
    ``cls`` and not in ``exclude`` (fields it declares but does not use): what a tab's request
    is made of, and so what the sidebar shows on it."""
    from topomap_core.params import declared

    names = set(declared(cls)) - set(exclude)
    return tuple((name, cid) for name, cid in pairs if name in names)


def field_check(cls: type, name: str, label: str | None = None) -> Check:
    """Validate a link value as field ``name`` of request ``cls`` (never a path).

    ``label`` replaces the field's label in the problem (``"training layer 'x' (...)"``).
    """
    from topomap_core.params import declared

    own = declared(cls)[name].label

    def checker(raw: Any) -> tuple[Any, str | None]:
        value, problem = check(cls, name, raw)
        if problem is not None and label and problem.startswith(own + " "):
            problem = label + problem[len(own) :]
        return value, problem

    return checker


def field_link(
    cls: type, key: str, name: str, component: str, label: str | None = None, **kwargs: Any
) -> Link:
    """URL key ``key`` for field ``name`` of request ``cls``: validated as that field, its
    default the field's, setting ``component`` (``label``: what messages call it, default
    ``key``)."""
    from topomap_core.params import defaults

    return Link(
        key,
        field_check(cls, name, label),
        defaults(cls)[name],
        component,
        label=label or key,
        **kwargs,
    )


def options_check(options: Sequence[str], what: str, sep: str = "use one of ") -> Check:
    """Validate a link value as one of ``options`` (case-insensitive)."""

    def checker(raw: Any) -> tuple[Any, str | None]:
        value = raw.strip().lower() if isinstance(raw, str) else raw
        if value in options:
            return value, None
        return None, f"unknown {what} {short(raw)!r} ({sep}{', '.join(options)})"

    return checker


@dataclass
class ParsedQuery:
    """Values read from a link, with what had to be ignored.

    Attributes
    ----------
    values : dict
        One entry per known key: the link's valid value, else the default.
    warnings : list of str
        One readable line per ignored parameter.
    """

    values: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def all_links(tabs: Sequence[Tab]) -> list[Link]:
    """The first tab's links, ``tab`` itself, then the other tabs' links, each key once (tabs
    may share a key for the same control).

    Raises
    ------
    ValueError
        Two tabs use one key for different controls (the second would be silently lost).
    """
    values = [tab.pane.value for tab in tabs]
    links = list(tabs[0].links)
    links.append(Link("tab", options_check(values, "tab"), values[0], ID.TABS, label="tab"))
    for tab in tabs[1:]:
        for link in tab.links:
            seen = next((s for s in links if s.key == link.key), None)
            if seen is None:
                links.append(link)
            elif (seen.component, seen.prop) != (link.component, link.prop):
                raise ValueError(
                    f"URL key {link.key!r} of tab {tab.pane.value!r} is already used for "
                    f"{seen.component}.{seen.prop}; give it a key of its own"
                )
    return links


def parse_query(
    search: str | None, tabs: Sequence[Tab], known: Mapping[str, Collection[str]] | None = None
) -> ParsedQuery:
    """Read the values of every tab's keys from a URL query (``"?model=...&seed=3"``).

    Unknown keys and invalid values are ignored with a warning, and the default is used. A
    key given twice uses its first value. ``known`` maps ``"model"``, ``"data"`` and
    ``"checkpoints"`` to the ids stored on this server: a well-formed id that is not stored
    is ignored too (the link came from another server, or the file was removed).
    """
    links = {link.key: link for link in all_links(tabs)}
    values = {key: link.default for key, link in links.items()}
    warnings: list[str] = []
    try:
        text = (search or "").lstrip("?")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        return ParsedQuery(values, ["Ignored the link's parameters (too many of them)"])
    seen: set[str] = set()
    for key, raw in pairs:
        if key in seen:
            continue
        seen.add(key)
        link = links.get(key)
        if link is None:
            warnings.append(f"Ignored unknown parameter {short(key)!r} in the link")
            continue
        value, problem = link.check(raw)
        ids = (known or {}).get(link.known) if link.known else None
        if problem is None and ids is not None and HASH_RE.match(str(value)) and value not in ids:
            problem = f"{link.label} {value[:12]}... (not stored on this server: upload it again)"
        if problem is not None:
            using = f"; using {link.default}" if link.default is not None else ""
            warnings.append(f"Ignored {problem} in the link{using}")
            continue
        values[key] = value
    return ParsedQuery(values, warnings)


def to_query(values: Mapping[str, Any], tabs: Sequence[Tab]) -> str:
    """The query string (``"?model=...&..."``) of the values; None and "" are left out.

    The first tab's keys always; the open tab's (``values["tab"]``) after ``tab`` when it is
    another one, so a first-tab link is exactly what it always was.
    """
    first = tabs[0]
    pairs = [(link.key, values.get(link.key)) for link in first.links]
    open_tab = values.get("tab") or first.pane.value
    if open_tab != first.pane.value:
        pairs.append(("tab", open_tab))
        for tab in tabs:
            if tab.pane.value == open_tab:
                pairs += [
                    (link.key, values.get(link.key))
                    for link in tab.links
                    if link.when is None or link.when(values)
                ]
    clean = [(key, str(value)) for key, value in pairs if value not in (None, "")]
    return "?" + urlencode(clean, quote_via=quote, safe=":") if clean else ""


def page_href(href: Any) -> str:
    """The page's address as a callback got it (``url.href``): a string, or ``""`` for none.

    Raises
    ------
    werkzeug.exceptions.BadRequest
        Anything else (a number, a list): no browser sends it, so the request is answered
        ``400`` with the reason (``security.py`` logs it once).
    """
    if href is None:
        return ""
    if not isinstance(href, str):
        kind = type(href).__name__
        raise BadRequest(
            f"the page's address (url.href) must be a string, not {kind} {short(href)}"
        )
    return href


def _split(href: str):
    try:
        return urlsplit(href)
    except ValueError:  # e.g. "http://[::1" (an unclosed IPv6 host)
        return None


def share_link(href: str | None, search: str) -> str:
    """The full link: scheme, host and path of the page's ``href`` with a new query."""
    parts = _split(page_href(href))
    if parts is None or not href:
        return search
    return urlunsplit((parts.scheme, parts.netloc, parts.path, search.lstrip("?"), ""))


def read_link(href: str | None, tabs: Sequence[Tab], data_dir: str | Path) -> ParsedQuery:
    """The page link's validated values and warnings, knowing what this server stores.

    Raises
    ------
    werkzeug.exceptions.BadRequest
        ``href`` is not a string (:func:`page_href`).
    """
    parts = _split(page_href(href))
    if parts is None:
        values = {link.key: link.default for link in all_links(tabs)}
        return ParsedQuery(values, ["Ignored the link (it is not a valid address)"])
    store = Store(data_dir)
    return parse_query(
        parts.query,
        tabs,
        known={
            "model": {item["id"] for item in store.list_models()},
            "data": {item["id"] for item in store.list_data()},
            "checkpoints": {item["id"] for item in store.list_checkpoints()},
            "selection": {item["id"] for item in store.list_selections()},
        },
    )


def link_notice(warnings: Sequence[str] | None) -> list | None:
    """The link's problems as one warning: a line saying how many, then each (None if none).

    Every ignored parameter used to be one more line of the Run panel's status, and many
    covered it; now they are one dismissible warning above the tabs.
    """
    if not warnings:
        return None
    lines = [w if w.endswith(".") else w + "." for w in warnings]
    if len(lines) == 1:
        return [html.Strong("The link had a problem: "), lines[0]]
    return [
        html.Strong(f"The link had {len(lines)} problems; defaults are used instead:"),
        html.Ul([html.Li(line) for line in lines]),
    ]


def register(app: Dash, tabs: Sequence[Tab], data_dir: Path) -> None:
    """Register the link -> controls and controls -> link callbacks of every tab."""
    links = all_links(tabs)
    loaded = [link for link in links if link.component and link.load]
    stores = sorted({link.store for link in links if link.store})

    @app.callback(
        *[Output(link.component, link.prop) for link in loaded],
        *[Output(store, "data") for store in stores],
        Output(ID.URL_WARNINGS, "data"),
        Input(ID.URL, "href"),
    )
    def on_link(href: str | None):
        if not page_href(href):
            raise PreventUpdate
        parsed = read_link(href, tabs, data_dir)
        waiting = [
            {link.key: parsed.values[link.key] for link in links if link.store == store}
            for store in stores
        ]
        return (
            *[parsed.values[link.key] for link in loaded],
            *waiting,
            parsed.warnings,
        )

    @app.callback(
        Output(ID.URL_NOTICE_TEXT, "children"),
        Output(ID.URL_NOTICE, "hidden"),
        Input(ID.URL_WARNINGS, "data"),
        Input(ID.URL_NOTICE_CLOSE, "n_clicks"),
        prevent_initial_call=True,
    )
    def on_warnings(warnings: list[str] | None, closed: int | None):
        if ctx.triggered_id == ID.URL_NOTICE_CLOSE:
            return None, True
        notice = link_notice(warnings)
        return notice, notice is None

    written = [link for link in links if link.component]
    extra_inputs = [spec for link in written for spec in link.extra_inputs]
    extra_states = [spec for link in written for spec in link.extra_states]

    @app.callback(
        Output(ID.URL, "search"),
        Output(ID.SHARE_LINK, "children"),
        Output(ID.SHARE_LINK, "href"),
        *[Input(link.component, link.prop) for link in written],
        *[Input(cid, prop) for cid, prop in extra_inputs],
        *[State(cid, prop) for cid, prop in extra_states],
        State(ID.URL, "href"),
        prevent_initial_call=True,
    )
    def on_controls(*args: Any):
        *args, href = args
        raw = dict(zip([link.key for link in written], args[: len(written)], strict=True))
        extra = dict(zip(extra_inputs + extra_states, args[len(written) :], strict=True))
        values: dict[str, Any] = {}
        for link in written:
            own = [extra[spec] for spec in (*link.extra_inputs, *link.extra_states)]
            if link.hold is not None and link.hold(ctx.triggered_id, raw[link.key], *own):
                raise PreventUpdate
            value = raw[link.key]
            values[link.key] = link.output(value, *own) if link.output else value
        search = to_query(values, tabs)
        link = share_link(href, search)
        return search, link, link
