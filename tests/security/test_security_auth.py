"""Basic auth on every route, security headers, request cap: ``security.py``.

The HTTP tests run against the real app under gunicorn with ``TOPOMAPS_AUTH`` set
(``live_server``); the unit tests use Flask's test client.
"""

from __future__ import annotations

import hashlib
import re

import pytest
from flask import Flask
from security_support import AUTH, FAST, control_values

import security
from layouts.ids import ID
from security import basic_auth_header, check_credentials, parse_auth

EXPECTED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


# ------------------------------------------------------------------------------ parsing


def test_parse_auth_plain_and_hashed_passwords():
    digest = hashlib.sha256(b"builder").hexdigest()
    users = parse_auth(f" alice:wonder land , bob:sha256:{digest.upper()},carol:a:b:c ")
    assert set(users) == {"alice", "bob", "carol"}
    assert users["alice"] == hashlib.sha256(b"wonder land").digest()
    assert users["bob"] == bytes.fromhex(digest)
    assert users["carol"] == hashlib.sha256(b"a:b:c").digest()  # ':' allowed in passwords
    assert parse_auth(None) == {} and parse_auth("  ") == {} and parse_auth("a:b,") != {}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("alice", "entry 1 is not 'user:password'"),
        ("alice:ok,:secret", "entry 2 is not 'user:password'"),
        ("al ice:secret", "entry 1 is not 'user:password'"),
        ("alice:", "entry 1 (user 'alice') has an empty password"),
        ("alice:x,alice:y", "names user 'alice' twice"),
        ("alice:sha256:abc123", "must be followed by 64 hex digits"),
    ],
)
def test_parse_auth_refuses_malformed_entries_without_echoing_passwords(text, problem):
    with pytest.raises(ValueError, match=re.escape(problem)) as info:
        parse_auth(text)
    assert "secret" not in str(info.value) and "abc123" not in str(info.value)


def test_check_credentials():
    users = parse_auth("alice:wonder land,bob:builder")
    assert check_credentials(users, "alice", "wonder land")
    assert check_credentials(users, "bob", "builder")
    assert not check_credentials(users, "alice", "builder")  # another user's password
    assert not check_credentials(users, "mallory", "builder")
    assert not check_credentials(users, "alice", "")
    assert not check_credentials(users, None, None)
    assert not check_credentials({}, "alice", "wonder land")


# ------------------------------------------------------------------------------ install


def test_install_is_idempotent_and_sets_the_request_cap(monkeypatch):
    monkeypatch.setenv("MAX_UPLOAD_MB", "3")
    monkeypatch.setenv("TOPOMAPS_MAX_CALLBACK_KB", "100")
    server = Flask("t")
    first = security.install(server, auth="alice:pw")
    counts = (len(server.before_request_funcs[None]), len(server.after_request_funcs[None]))
    assert security.install(server, auth="other:x") is first  # second call: no change
    assert security.install(server) is first
    assert counts == (1, 1)
    assert (len(server.before_request_funcs[None]), len(server.after_request_funcs[None])) == counts
    assert first.users == parse_auth("alice:pw")
    # Every request is small but an upload, which is the file itself (issue 20: no base64).
    assert server.config["MAX_CONTENT_LENGTH"] == first.max_request_bytes == 100 * 1024
    assert first.max_upload_bytes == 3 * 2**20


def test_malformed_auth_stops_the_app_from_starting(monkeypatch):
    monkeypatch.setenv("TOPOMAPS_AUTH", "alice")
    with pytest.raises(ValueError, match="TOPOMAPS_AUTH entry 1"):
        security.install(Flask("t"))


def test_request_over_the_cap_gets_413_with_the_limit(monkeypatch, tmp_path, demo_models):
    from app import create_app

    monkeypatch.setenv("MAX_UPLOAD_MB", "0.01")
    monkeypatch.delenv("TOPOMAPS_AUTH", raising=False)
    app = create_app(tmp_path / "data")
    security.install(app.server)  # a no-op once create_app installed it
    client = app.server.test_client()
    big = b"PK" + b" " * 20_000
    response = client.post(
        "/_topomaps/upload/data?name=big.npz",
        data=big,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 413
    text = response.get_json()["message"]
    assert text.startswith("big.npz refused: it is 0.0 MB, over the 0.01 MB upload limit")
    assert "(MAX_UPLOAD_MB); it was refused before it was read" in text
    assert response.headers["X-Frame-Options"] == "DENY"
    assert not list((tmp_path / "data" / "data").iterdir())
    assert client.get("/").status_code == 200


def test_only_the_upload_route_takes_a_large_body(monkeypatch, tmp_path, demo_models):
    from app import create_app

    monkeypatch.setenv("TOPOMAPS_MAX_CALLBACK_KB", "64")
    monkeypatch.delenv("TOPOMAPS_AUTH", raising=False)
    app = create_app(tmp_path / "data")
    client = app.server.test_client()
    json_headers = {"Content-Type": "application/json"}
    plain = b'{"output": "x.children", "inputs": [{"id": "x", "property": "value", "value": "'
    response = client.post(
        "/_dash-update-component", data=plain + b"a" * 200_000 + b'"}]}', headers=json_headers
    )
    assert response.status_code == 413
    text = response.get_data(as_text=True)
    assert "not a file upload" in text and "64 KB (TOPOMAPS_MAX_CALLBACK_KB)" in text
    # A file as dcc.Upload sent it, base64 in a callback, is no exception any more (issue 20).
    body = (
        b'{"output": "..model-select.options...model-select.value...model-message.children..",'
        b' "outputs": [], "inputs": [{"id": "model-upload", "property": "contents", "value": '
        b'"data:application/octet-stream;base64,' + b"A" * 200_000 + b'"}], "state": []}'
    )
    response = client.post("/_dash-update-component", data=body, headers=json_headers)
    assert response.status_code == 413
    # The upload route takes it, streamed into the store.
    content = bytes(200_000)
    response = client.post(
        "/_topomaps/upload/model?name=zeros.keras",
        data=content,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 400  # read whole, then refused for what it is
    assert response.get_json()["message"].startswith("zeros.keras refused: Model file")
    # Only as the page sends it: a form of another site cannot (it would need CORS first).
    response = client.post(
        "/_topomaps/upload/model?name=m.keras", data=b"x", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert "Content-Type application/octet-stream" in response.get_json()["message"]
    assert client.get("/").status_code == 200


def test_failed_logins_lock_an_address_out_for_a_while(monkeypatch):
    monkeypatch.setenv("TOPOMAPS_AUTH_MAX_FAILURES", "3")
    monkeypatch.setenv("TOPOMAPS_AUTH_LOCKOUT_S", "60")
    server = Flask("t")
    state = security.install(server, auth="alice:wonder land")
    now = [1000.0]
    state.logins.clock = lambda: now[0]
    server.route("/")(lambda: "page")
    client = server.test_client()
    good = basic_auth_header("alice", "wonder land")
    bad = basic_auth_header("alice", "guess")
    here = {"REMOTE_ADDR": "10.0.0.1"}
    assert client.get("/", environ_base=here).status_code == 401  # no credentials: no attempt
    for _ in range(3):
        assert client.get("/", headers=bad, environ_base=here).status_code == 401
    locked = client.get("/", headers=good, environ_base=here)  # even the right password
    assert locked.status_code == 429 and locked.headers["Retry-After"] == "60"
    assert "TOPOMAPS_AUTH_MAX_FAILURES" in locked.get_data(as_text=True)
    other = client.get("/", headers=good, environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert other.status_code == 200  # another address is not affected
    now[0] += 61
    assert client.get("/", headers=good, environ_base=here).status_code == 200


def test_headers_and_csp_hashes_of_the_page(tmp_path, demo_models, monkeypatch):
    from app import create_app

    monkeypatch.delenv("TOPOMAPS_AUTH", raising=False)
    app = create_app(tmp_path / "data")
    client = app.server.test_client()
    page = client.get("/")
    csp = page.headers["Content-Security-Policy"]
    for source in app.csp_hashes():  # Dash's own list of its inline scripts
        assert source in csp
    assert "'unsafe-eval'" not in csp and "script-src 'self' 'sha256-" in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["Cache-Control"] == "no-store"
    for name, value in EXPECTED_HEADERS.items():
        assert page.headers[name] == value
    style = client.get("/assets/style.css")
    assert style.status_code == 200 and style.headers["Cache-Control"] != "no-store"
    assert style.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/_dash-layout").headers["Cache-Control"] == "no-store"


# -------------------------------------------------------------------- live server, HTTP


def _routes(live_server, cached_view) -> dict[str, tuple[str, str, dict]]:
    """name -> (method, path, request kwargs) of every kind of route the app serves."""
    page = live_server.get("/").text
    suite = re.search(r'src="/(_dash-component-suites/[^"]+)"', page).group(1)
    callbacks = live_server.callbacks
    controls = callbacks.body(
        f"{ID.RESULT_STORE}.data", {**control_values(FAST), f"{ID.URL_WARNINGS}.data": []}
    )
    buttons = [ID.EXPORT_PNG, ID.EXPORT_SVG, ID.EXPORT_LAYOUT_CSV, ID.EXPORT_NAP_CSV]
    download = callbacks.body(
        f"{ID.DOWNLOAD}.data",
        {
            **{f"{bid}.n_clicks": None for bid in buttons},
            f"{ID.EXPORT_SUMMARY}.n_clicks": 1,
            f"{ID.RESULT_STORE}.data": cached_view,
        },
        changed=[f"{ID.EXPORT_SUMMARY}.n_clicks"],
    )
    return {
        "page": ("GET", "/", {}),
        "deep link": ("GET", "/view?model=demo:digits-mlp&method=PCA", {}),
        "layout": ("GET", "/_dash-layout", {}),
        "dependencies": ("GET", "/_dash-dependencies", {}),
        "callback": ("POST", "/_dash-update-component", {"json": controls}),
        "download": ("POST", "/_dash-update-component", {"json": download}),
        "asset": ("GET", "/assets/style.css", {}),
        "component suite": ("GET", "/" + suite, {}),
        "favicon": ("GET", "/_favicon.ico", {}),
    }


def _send(live_server, route, headers):
    method, path, kwargs = route
    send = live_server.get if method == "GET" else live_server.post
    return send(path, auth=False, headers=headers, **kwargs)


def test_every_route_needs_credentials(live_server, cached_view):
    wrong = {
        "none": {},
        "wrong password": basic_auth_header("alice", "wonderland"),
        "unknown user": basic_auth_header("mallory", AUTH["alice"]),
        "another user's password": basic_auth_header("alice", AUTH["bob"]),
        "not basic": {"Authorization": "Bearer " + AUTH["alice"]},
        "garbage": {"Authorization": "Basic !!!"},
    }
    for name, route in _routes(live_server, cached_view).items():
        for case, headers in wrong.items():
            response = _send(live_server, route, headers)
            assert response.status_code == 401, (name, case, response.status_code)
            assert response.headers["WWW-Authenticate"].startswith('Basic realm="topomaps"')
            assert response.headers["Cache-Control"] == "no-store", (name, case)
            assert "Authentication required" in response.text
            for header, value in EXPECTED_HEADERS.items():
                assert response.headers[header] == value, (name, case, header)
    assert live_server.serves()


def test_every_route_accepts_the_right_credentials(live_server, cached_view):
    for user, password in AUTH.items():  # alice by password, bob by the SHA-256 of his
        headers = basic_auth_header(user, password)
        for name, route in _routes(live_server, cached_view).items():
            response = _send(live_server, route, headers)
            assert response.status_code == 200, (user, name, response.status_code)
            assert "Content-Security-Policy" in response.headers, name
            for header, value in EXPECTED_HEADERS.items():
                assert response.headers[header] == value, (user, name, header)
            static = name in ("asset", "component suite", "favicon")
            assert (response.headers.get("Cache-Control") == "no-store") != static, name
            if name == "download":
                data = response.json()["response"][ID.DOWNLOAD]["data"]
                name = data["filename"]  # issue 12 item 27: model, data, grouping, key too
                assert name.startswith("topomaps_digits-mlp_digits_dense_label_PCA_")
                assert name.endswith("_summary.json")
                assert '"method": "PCA"' in data["content"]
            if name == "callback":
                assert "Showing the stored result" in response.text
            if name == "component suite":
                cache = response.headers.get("Cache-Control", "")
                assert "public" not in cache  # behind a password: private caches only
