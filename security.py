"""HTTP hardening of the dashboard's Flask server: basic auth, security headers, a request cap.

``install(server)`` (idempotent) adds to a Flask server (``app.server`` of the Dash app):

- **Basic auth** when ``TOPOMAPS_AUTH`` is set, on every route: the page, the ``/_dash-*``
  endpoints (callbacks, hence uploads and downloads too), ``/assets`` and
  ``/_dash-component-suites``. Without valid credentials the answer is ``401`` with
  ``WWW-Authenticate: Basic realm="topomaps"``. Format (see :func:`parse_auth`):
  ``user1:password1,user2:password2``; a password may be given as its SHA-256,
  ``user:sha256:<64 hex digits>``. Passwords are compared as SHA-256 digests in constant time.
- **Security headers** on every response: ``X-Content-Type-Options: nosniff``,
  ``X-Frame-Options: DENY``, ``Referrer-Policy: same-origin``, a ``Content-Security-Policy``
  under which the Dash page works (scripts only from this server plus the page's own inline
  scripts, allowed by their SHA-256, no ``eval``; see :func:`content_security_policy`), and
  ``Cache-Control: no-store`` on everything but static files.
- **A request size cap**: a request body may be at most ``TOPOMAPS_MAX_CALLBACK_KB`` (default
  1024; Flask's ``MAX_CONTENT_LENGTH``), except on the upload route (:data:`UPLOAD_PATH`,
  ``POST /_topomaps/upload/<kind>``), where it is the file itself, streamed to disk, and may
  be ``MAX_UPLOAD_MB``. A larger request gets ``413`` with a message naming the limit, before
  its body is read (a body of undeclared length is cut at the limit).
- **Malformed callback requests** (what the Dash page never sends: a body that is not a JSON
  object, an unknown or missing output, inputs or states missing or of the wrong count, a
  value nested deeper than :data:`MAX_CALLBACK_DEPTH`) get ``400`` with a short reason before
  Dash sees them, logged once as one line (:func:`callback_problem`); a callback that raises
  :class:`werkzeug.exceptions.BadRequest` for a value it cannot take gets the same.
- **A limit on failed logins**: a client address that fails basic auth
  ``TOPOMAPS_AUTH_MAX_FAILURES`` times (default 5) within ``TOPOMAPS_AUTH_LOCKOUT_S`` seconds
  (default 60) gets ``429`` with ``Retry-After`` until that window has passed, whatever it
  sends meanwhile.

Nothing here imports Dash: it only needs the Flask server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from topomap_core.config import int_setting, max_callback_bytes, max_upload_bytes

LOG = logging.getLogger(__name__)

#: Environment variable holding the users (``user1:password1,user2:sha256:<hex>``).
AUTH_ENV = "TOPOMAPS_AUTH"
#: Realm named in ``WWW-Authenticate``.
REALM = "topomaps"
#: The upload route, after the app's path prefix: ``POST <prefix>_topomaps/upload/<kind>``
#: with the file's bytes as the body (``callbacks/uploads.py``).
UPLOAD_PATH = "_topomaps/upload/"
#: Deepest nesting of JSON in a callback request (the page's own stay under 20 levels).
MAX_CALLBACK_DEPTH = 64

_EXTENSION_KEY = "topomaps_security"
_SHA256_RE = re.compile(r"^sha256:([0-9a-fA-F]{64})$")
_USER_RE = re.compile(r"^[^\s:,]{1,100}$")
_INLINE_SCRIPT_RE = re.compile(
    rb"<script\b(?P<attrs>[^>]*)>(?P<body>.*?)</script\s*>", re.DOTALL | re.IGNORECASE
)
_STATIC_PREFIXES = ("/assets/", "/_dash-component-suites/", "/_favicon.ico", "/static/")

#: Every directive but ``script-src``, which :func:`content_security_policy` completes.
#: Plotly and Dash set ``style`` attributes and inject ``<style>`` elements, hence the
#: ``'unsafe-inline'`` for styles (styles cannot run code); figures use ``data:`` images;
#: downloads are ``blob:`` URLs.
CSP_DIRECTIVES: tuple[str, ...] = (
    "default-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)

#: Headers set on every response.
SECURITY_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


# ------------------------------------------------------------------------------------ auth


def parse_auth(text: str | None) -> dict[str, bytes]:
    """Users and the SHA-256 digests of their passwords from a ``TOPOMAPS_AUTH`` value.

    Parameters
    ----------
    text : str or None
        Comma-separated ``user:password`` entries; ``user:sha256:<64 hex digits>`` gives the
        password's SHA-256 instead of the password (``printf %s 'secret' | sha256sum``). User
        names cannot contain ``:``, ``,`` or spaces; passwords cannot contain ``,`` (use the
        sha256 form for those), and a plain password may contain ``:``. Spaces around
        entries are ignored. Empty or None: no users (auth off).

    Returns
    -------
    dict
        ``{user: sha256(password) as 32 bytes}``.

    Raises
    ------
    ValueError
        A malformed entry (named by its position and user, never by its password), or a
        user given twice.
    """
    users: dict[str, bytes] = {}
    if not text or not text.strip():
        return users
    for n, entry in enumerate(text.split(","), start=1):
        entry = entry.strip()
        if not entry:
            continue
        user, sep, secret = entry.partition(":")
        user = user.strip()
        if not sep or not _USER_RE.match(user):
            raise ValueError(
                f"{AUTH_ENV} entry {n} is not 'user:password' (user names: 1-100 characters, "
                "no ':', ',' or spaces)"
            )
        if not secret:
            raise ValueError(f"{AUTH_ENV} entry {n} (user {user!r}) has an empty password")
        if user in users:
            raise ValueError(f"{AUTH_ENV} names user {user!r} twice")
        hashed = _SHA256_RE.match(secret)
        if hashed:
            users[user] = bytes.fromhex(hashed.group(1))
        elif secret.lower().startswith("sha256:"):
            raise ValueError(
                f"{AUTH_ENV} entry {n} (user {user!r}): 'sha256:' must be followed by 64 hex digits"
            )
        else:
            users[user] = hashlib.sha256(secret.encode("utf-8")).digest()
    return users


def check_credentials(users: Mapping[str, bytes], user: str | None, password: str | None) -> bool:
    """Whether ``user`` / ``password`` are valid, in time independent of where they differ.

    Every entry is compared (user name and password digest, each with
    :func:`hmac.compare_digest`), so the answer's timing does not tell which part was wrong.
    """
    if not users or user is None or password is None:
        return False
    given_user = user.encode("utf-8", "surrogateescape")
    given = hashlib.sha256(password.encode("utf-8", "surrogateescape")).digest()
    found = False
    for name, digest in users.items():
        same_user = hmac.compare_digest(name.encode("utf-8"), given_user)
        same_password = hmac.compare_digest(digest, given)
        found |= same_user & same_password
    return found


def basic_auth_header(user: str, password: str) -> dict[str, str]:
    """``{"Authorization": "Basic ..."}`` for a client (tests, scripts)."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def _unauthorized() -> Response:
    response = Response(
        "Authentication required: this topomaps server needs a user name and password "
        f"({AUTH_ENV}).\n",
        status=401,
        mimetype="text/plain",
    )
    response.headers["WWW-Authenticate"] = f'Basic realm="{REALM}", charset="UTF-8"'
    return response


# ------------------------------------------------------------------------ request size cap


def is_upload_path(path: str) -> bool:
    """Whether ``path`` is the upload route (:data:`UPLOAD_PATH`, under any prefix)."""
    head, sep, kind = path.rpartition("/" + UPLOAD_PATH)
    return bool(sep) and "/" not in kind and (not head or head.startswith("/"))


def _cap_request() -> None:
    """The body cap of this request: ``MAX_UPLOAD_MB`` on the upload route, else the app's
    ``MAX_CONTENT_LENGTH`` (``TOPOMAPS_MAX_CALLBACK_KB``). A declared length over it is
    refused now, unread; an undeclared one is cut at it when read (both ``413``)."""
    if is_upload_path(request.path):
        request.max_content_length = max_upload_bytes()
    cap = request.max_content_length
    length = request.content_length
    if cap is not None and length is not None and length > cap:
        raise RequestEntityTooLarge()


def _too_large(_error: Exception) -> Response:
    if is_upload_path(request.path):
        from topomap_core.store import safe_name

        limit = max_upload_bytes() / 2**20
        name = safe_name(request.args.get("name"))
        length = request.content_length
        if length:  # declared: refused before a byte of it was read
            text = f"it is {length / 2**20:.1f} MB, over the {limit:.3g} MB upload limit "
            text += "(MAX_UPLOAD_MB); it was refused before it was read."
        else:
            text = f"it is over the {limit:.3g} MB upload limit (MAX_UPLOAD_MB); the rest of "
            text += "it was not read."
        text = f"{name} refused: {text}"
        # The page shows an upload's answer as it is (assets/uploads.js).
        body = json.dumps({"ok": False, "name": name, "message": text})
        return Response(body, status=413, mimetype="application/json")
    small = max_callback_bytes() // 1024
    return Response(
        f"Request too large: a request that is not a file upload may send at most {small} KB "
        "(TOPOMAPS_MAX_CALLBACK_KB); this one was refused before it was read.\n",
        status=413,
        mimetype="text/plain",
    )


# ------------------------------------------------------------------- callback requests


def _depth_over(value: Any, limit: int) -> bool:
    """Whether JSON ``value`` nests deeper than ``limit`` (iteratively: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def _items_problem(items: Any, expected: int, key: str, what: str) -> str | None:
    if not isinstance(items, list):
        return f"'{key}' must be a list of the callback's {expected} {what}(s)"
    if len(items) != expected:
        return f"the callback has {expected} {what}(s), the request sends {len(items)}"
    for n, item in enumerate(items, start=1):
        if isinstance(item, list):  # pattern-matching ids: a list of such items
            bad = [i for i in item if not isinstance(i, dict)]
            if not bad and all(isinstance(i.get("property"), str) for i in item):
                continue
        elif isinstance(item, dict) and isinstance(item.get("property"), str):
            if isinstance(item.get("id"), (str, dict)):
                continue
        return f"{what} {n} of '{key}' is not an {{id, property, value}} object"
    return None


def callback_problem(body: Any, callbacks: Mapping[str, Any] | None = None) -> str | None:
    """Why a parsed ``/_dash-update-component`` body is malformed, or None.

    Checked: a JSON object; ``output`` a string naming a server callback of ``callbacks``
    (Dash's ``callback_map``; not checked without it); ``outputs`` one object or a list of
    as many as the callback has; ``inputs`` and ``state`` lists of as many ``{id,
    property, value}`` objects as the callback declares; ``changedPropIds`` a list of
    strings; no JSON nested deeper than :data:`MAX_CALLBACK_DEPTH`. The page itself never
    sends anything else, so the reason may be short.
    """
    if not isinstance(body, dict):
        return f"the body must be a JSON object, not {_json_kind(body)}"
    if _depth_over(body, MAX_CALLBACK_DEPTH):
        return f"the request nests deeper than {MAX_CALLBACK_DEPTH} levels"
    output = body.get("output")
    if not isinstance(output, str):
        return "'output' (the callback's outputs, a string) is missing"
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        return "'changedPropIds' must be a list of strings"
    if callbacks is None:
        return None
    spec = callbacks.get(output)
    if spec is None or "callback" not in spec:
        return f"no callback of this server has the output {output[:80]!r}"
    if not spec.get("no_output"):
        outputs = body.get("outputs")
        count = len(spec["output"]) if isinstance(spec.get("output"), list) else 1
        if output.startswith(".."):
            problem = _items_problem(outputs, count, "outputs", "output")
        elif not isinstance(outputs, dict) or not isinstance(outputs.get("property"), str):
            problem = "'outputs' must be one {id, property} object"
        else:
            problem = None
        if problem:
            return problem
    for key, what in (("inputs", "input"), ("state", "state value")):
        declared = spec.get(key) or []
        given = body.get(key, [] if key == "state" else None)
        problem = _items_problem(given, len(declared), key, what)
        if problem:
            return problem
    return None


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number"
    )


def _check_callback(callbacks: Mapping[str, Any] | None) -> None:
    """Refuse a malformed callback request with ``400`` (:func:`callback_problem`)."""
    if request.method != "POST" or not request.path.endswith("/_dash-update-component"):
        return
    try:
        body = json.loads(request.get_data(cache=True))
    except RecursionError:
        raise BadRequest(f"the request nests deeper than {MAX_CALLBACK_DEPTH} levels") from None
    except ValueError:  # also a body that is not UTF-8
        raise BadRequest("the body is not JSON") from None
    problem = callback_problem(body, callbacks)
    if problem:
        raise BadRequest(problem)


def _bad_request(error: BadRequest) -> Response:
    """``400`` with the short reason, as plain text, logged once (a line, no traceback)."""
    text = " ".join(str(error.description or "malformed request").split())[:300]
    # Printable only: a forged value must not write escape sequences into the log.
    reason = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
    LOG.warning(
        "400 for %s %s from %s: %s", request.method, request.path, request.remote_addr, reason
    )
    if is_upload_path(request.path):
        text = f"The upload was refused: {reason}."
        body = json.dumps({"ok": False, "message": text})
        return Response(body, status=400, mimetype="application/json")
    return Response(f"Bad request: {reason}.\n", status=400, mimetype="text/plain")


# ---------------------------------------------------------------------------------- headers


def inline_script_hashes(html: bytes) -> list[str]:
    """CSP sources (``'sha256-...'``) for the inline ``<script>`` elements of a page."""
    hashes = []
    for match in _INLINE_SCRIPT_RE.finditer(html):
        if re.search(rb"\bsrc\s*=", match.group("attrs"), re.IGNORECASE):
            continue
        digest = base64.b64encode(hashlib.sha256(match.group("body")).digest()).decode("ascii")
        source = f"'sha256-{digest}'"
        if source not in hashes:
            hashes.append(source)
    return hashes


def content_security_policy(script_hashes: list[str] | tuple[str, ...] = ()) -> str:
    """The ``Content-Security-Policy`` value; ``script_hashes`` allow a page's inline scripts.

    Scripts come only from this server (``'self'``) plus the inline scripts named by hash
    (Dash's renderer start-up and the clientside callbacks); no ``'unsafe-inline'`` and no
    ``'unsafe-eval'`` for scripts: Dash 4 and Plotly's SVG traces work without them.
    """
    script_src = " ".join(["script-src 'self'", *script_hashes])
    return "; ".join([CSP_DIRECTIVES[0], script_src, *CSP_DIRECTIVES[1:]])


def is_static_path(path: str) -> bool:
    """Static files (assets, Dash's component bundles, the favicon) may be cached."""
    return path.startswith(_STATIC_PREFIXES)


def _add_headers(response: Response, auth_on: bool) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    hashes: list[str] = []
    if response.mimetype == "text/html" and not response.is_streamed:
        hashes = inline_script_hashes(response.get_data())
    response.headers["Content-Security-Policy"] = content_security_policy(hashes)
    if is_static_path(request.path) and response.status_code in (200, 304):
        cache = response.headers.get("Cache-Control")
        if auth_on and cache and "public" in cache:
            # Shared caches must not keep what needed a password.
            response.headers["Cache-Control"] = cache.replace("public", "private")
    else:
        response.headers["Cache-Control"] = "no-store"
        response.headers.pop("Expires", None)
        response.headers.pop("ETag", None)
        response.headers.pop("Last-Modified", None)
    return response


# ------------------------------------------------------------------------------- install


class FailedLogins:
    """Failed basic-auth attempts per client address, in a sliding window.

    Parameters
    ----------
    limit : int
        Failures within ``window_s`` after which the address is locked out.
    window_s : float
        The window, and how long a lockout lasts after the last failure counted.
    clock : callable, optional
        Monotonic seconds (tests pass their own).
    """

    def __init__(self, limit: int, window_s: float, clock=time.monotonic):
        self.limit, self.window_s, self.clock = limit, window_s, clock
        self._failures: dict[str, deque] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> deque:
        times = self._failures.setdefault(address, deque())
        while times and now - times[0] > self.window_s:
            times.popleft()
        return times

    def retry_after(self, address: str) -> float:
        """Seconds until ``address`` may try again; 0: it may now."""
        with self._lock:
            now = self.clock()
            times = self._recent(address, now)
            if len(times) < self.limit:
                return 0.0
            return max(0.0, self.window_s - (now - times[-self.limit]))

    def failed(self, address: str) -> None:
        with self._lock:
            now = self.clock()
            self._recent(address, now).append(now)
            if len(self._failures) > 10_000:  # forget quiet addresses, keep memory bounded
                for key in [k for k, v in self._failures.items() if not v]:
                    del self._failures[key]

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)


def _locked_out(seconds: float) -> Response:
    wait = max(1, int(seconds + 0.999))
    response = Response(
        f"Too many failed logins from this address: try again in {wait} s "
        "(TOPOMAPS_AUTH_MAX_FAILURES, TOPOMAPS_AUTH_LOCKOUT_S).\n",
        status=429,
        mimetype="text/plain",
    )
    response.headers["Retry-After"] = str(wait)
    return response


@dataclass
class SecurityState:
    """What :func:`install` set up on a server (``server.extensions["topomaps_security"]``)."""

    users: dict[str, bytes] = field(default_factory=dict)
    max_request_bytes: int = 0
    max_upload_bytes: int = 0
    logins: FailedLogins | None = None
    callbacks: Mapping[str, Any] | None = None

    @property
    def auth_on(self) -> bool:
        return bool(self.users)


def install(
    server: Flask, auth: str | None = None, callbacks: Mapping[str, Any] | None = None
) -> SecurityState:
    """Add basic auth, security headers, the request size caps and the check of callback
    requests to a Flask ``server``.

    Idempotent: a second call on the same server changes nothing and returns the same state.

    Parameters
    ----------
    server : flask.Flask
        The Dash app's ``app.server``.
    auth : str, optional
        Users as in :func:`parse_auth`; default: the ``TOPOMAPS_AUTH`` environment variable.
        Empty: no authentication (headers and the size cap still apply).
    callbacks : mapping, optional
        The Dash app's ``callback_map`` (read at each request, so callbacks may be registered
        after this call): a request for an output it lacks is refused with ``400``. Without
        it only the request's shape is checked.

    Raises
    ------
    ValueError
        ``TOPOMAPS_AUTH`` is malformed (the server must not start half-protected).
    """
    state = server.extensions.get(_EXTENSION_KEY)
    if isinstance(state, SecurityState):
        return state
    users = parse_auth(os.environ.get(AUTH_ENV) if auth is None else auth)
    logins = FailedLogins(
        int_setting("TOPOMAPS_AUTH_MAX_FAILURES", 5, 1),
        float(int_setting("TOPOMAPS_AUTH_LOCKOUT_S", 60, 1)),
    )
    state = SecurityState(
        users=users,
        max_request_bytes=max_callback_bytes(),
        max_upload_bytes=max_upload_bytes(),
        logins=logins,
        callbacks=callbacks,
    )
    server.config["MAX_CONTENT_LENGTH"] = state.max_request_bytes

    def checked() -> None:
        _cap_request()
        _check_callback(state.callbacks)

    def require_auth() -> Any:
        if not state.users:
            return checked()
        address = request.remote_addr or "-"
        wait = logins.retry_after(address)
        if wait:
            return _locked_out(wait)
        credentials = request.authorization
        if credentials is None:
            return _unauthorized()  # a browser's first request: not an attempt
        if credentials.type != "basic" or not check_credentials(
            state.users, credentials.username, credentials.password
        ):
            logins.failed(address)
            return _unauthorized()
        logins.succeeded(address)
        return checked()

    def add_headers(response: Response) -> Response:
        return _add_headers(response, state.auth_on)

    # First of all before-request functions: nothing of Dash runs for an unknown client.
    server.before_request_funcs.setdefault(None, []).insert(0, require_auth)
    server.after_request(add_headers)
    server.register_error_handler(413, _too_large)
    server.register_error_handler(BadRequest, _bad_request)
    server.extensions[_EXTENSION_KEY] = state
    return state
