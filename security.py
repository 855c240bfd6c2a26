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
import os
import re
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from topomap_core.config import int_setting, max_callback_bytes, max_upload_bytes

#: Environment variable holding the users (``user1:password1,user2:sha256:<hex>``).
AUTH_ENV = "TOPOMAPS_AUTH"
#: Realm named in ``WWW-Authenticate``.
REALM = "topomaps"
#: The upload route, after the app's path prefix: ``POST <prefix>_topomaps/upload/<kind>``
#: with the file's bytes as the body (``callbacks/uploads.py``).
UPLOAD_PATH = "_topomaps/upload/"

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

    @property
    def auth_on(self) -> bool:
        return bool(self.users)


def install(server: Flask, auth: str | None = None) -> SecurityState:
    """Add basic auth, security headers and the request size caps to a Flask ``server``.

    Idempotent: a second call on the same server changes nothing and returns the same state.

    Parameters
    ----------
    server : flask.Flask
        The Dash app's ``app.server``.
    auth : str, optional
        Users as in :func:`parse_auth`; default: the ``TOPOMAPS_AUTH`` environment variable.
        Empty: no authentication (headers and the size cap still apply).

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
    )
    server.config["MAX_CONTENT_LENGTH"] = state.max_request_bytes

    def require_auth() -> Any:
        if not state.users:
            return _cap_request()
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
        return _cap_request()

    def add_headers(response: Response) -> Response:
        return _add_headers(response, state.auth_on)

    # First of all before-request functions: nothing of Dash runs for an unknown client.
    server.before_request_funcs.setdefault(None, []).insert(0, require_auth)
    server.after_request(add_headers)
    server.register_error_handler(413, _too_large)
    server.extensions[_EXTENSION_KEY] = state
    return state
