"""The one retry layer (a bounded number of tries within a deadline) and the one redaction point (a target
that echoes the secret leaks it nowhere: exceptions, connection reports, the state, the report)."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from console.connectors import make_source, make_target, check_connection
from console.connectors.retry import RetryPolicy
from console.errors import IdConsoleError, TransientError
from console.models import Application
from console.redact import redact
from console.service import Service
from console.store import Store

SECRET = "s3cr3t-Echoed-Key-0123456789"


class FakeTime:
    """A clock that advances only when the code under test sleeps (no wall clock in tests)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def scim_app(base_url: str = "https://scim.example/scim/directory/d1", **settings: Any) -> Application:
    return Application(name="acme", kind="atlassian", settings={"base_url": base_url, **settings},
                       secrets={"token": "env:IDC_TEST_ECHO_SECRET"})


@pytest.fixture(autouse=True)
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDC_TEST_ECHO_SECRET", SECRET)


async def test_a_503_storm_is_tried_exactly_the_stated_attempts_then_fails_within_the_deadline() -> None:
    calls: list[str] = []

    def storm(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return httpx.Response(503, json={"detail": "unavailable"})

    time = FakeTime()
    policy = RetryPolicy()  # the defaults an operator gets: 4 tries, 120 s per operation
    connector = make_target(scim_app(), transport=httpx.MockTransport(storm), sleep=time.sleep, clock=time.clock)
    try:
        with pytest.raises(TransientError) as caught:
            await connector.find_user({"userName": "ada@corp.example"})
    finally:
        await connector.aclose()
    assert len(calls) == policy.attempts == 4 and len(time.waits) == 3
    assert time.now - 1000.0 < policy.deadline and "4 tries" in caught.value.title


async def test_a_retry_after_that_would_pass_the_deadline_is_not_waited_for() -> None:
    calls: list[str] = []

    def throttled(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return httpx.Response(429, headers={"Retry-After": "50"}, json={"detail": "slow down"})

    time = FakeTime()
    connector = make_target(scim_app(operation_deadline=30), transport=httpx.MockTransport(throttled),
                            sleep=time.sleep, clock=time.clock)
    try:
        with pytest.raises(TransientError) as caught:
            await connector.find_user({"userName": "ada@corp.example"})
    finally:
        await connector.aclose()
    assert len(calls) == 1 and time.now == 1000.0 and caught.value.retry_after == 50.0


async def test_the_bitbucket_source_shares_the_bound() -> None:
    calls: list[str] = []

    def storm(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if request.url.path.endswith("/access_token"):
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 3600})
        return httpx.Response(503, json={"error": {"message": "down"}})

    time = FakeTime()
    app = Application(name="bb", kind="bitbucket", settings={"workspace": "acme", "client_id": "c"},
                      secrets={"client_secret": "env:IDC_TEST_ECHO_SECRET"})
    source = make_source(app, transport=httpx.MockTransport(storm), sleep=time.sleep, clock=time.clock)
    try:
        with pytest.raises(TransientError):
            await source.get_json(f"{source.base_url}/user")
    finally:
        await source.aclose()
    assert calls.count("GET") == 4 and time.now - 1000.0 < 120


def test_redact_removes_secrets_credentials_and_bounds_length() -> None:
    text = f"key {SECRET} header Authorization: Bearer abc.def-123 form client_secret={SECRET}&x=1 " + "y" * 900
    cleaned = redact(text, [SECRET])
    assert SECRET not in cleaned and "abc.def-123" not in cleaned and len(cleaned) <= 500
    assert "\x1b" not in redact("a\x1b[31mred", [])


class EchoServer:
    """A target that echoes the credentials it gets, in a status and content type chosen per test."""

    def __init__(self, status: int, html: bool) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                seen = self.headers.get("Authorization", "")
                secret = seen.split()[-1] if seen.lower().startswith("bearer") else SECRET
                if html:
                    body = f"<html><body>Hello {seen}! your key is {secret}</body></html>".encode()
                    kind = "text/html"
                else:
                    body = json.dumps({"detail": f"bad key {secret}", "error": {"message": f"bad key {secret}"},
                                       "Resources": [{"id": secret, "userName": secret}]}).encode()
                    kind = "application/json"
                self.send_response(outer.status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET

        self.status = status
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(params=[(200, True), (200, False), (401, False), (403, True), (404, True), (503, True), (500, False)],
                ids=lambda p: f"{p[0]}-{'html' if p[1] else 'json'}")
def echo(request: pytest.FixtureRequest) -> Iterator[EchoServer]:
    server = EchoServer(*request.param)
    yield server
    server.close()


def grep_home(home: Path) -> list[str]:
    return [str(p) for p in home.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]


async def test_a_target_echoing_its_key_leaks_it_nowhere(echo: EchoServer, tmp_path: Path) -> None:
    app = scim_app(f"{echo.url}/scim/directory/d1", max_attempts=1)
    connector = make_target(app)
    try:
        with pytest.raises(IdConsoleError) as caught:
            await connector.find_user({"userName": "ada@corp.example"})
            raise IdConsoleError("answered")  # a 2xx page is not an error for a read: the names are checked below
    finally:
        await connector.aclose()
    error = caught.value
    assert SECRET not in str(error) + error.title + error.detail + error.hint + repr(error.args)
    report = await check_connection(app)
    assert SECRET not in report.message + json.dumps(report.details, default=str)

    store = Store.open(tmp_path / "home")
    svc = Service(store, operator="tester")
    svc.add_app("atlassian", app.name, dict(app.settings), dict(app.secrets))
    report = await svc.test_app(app.name)
    assert not report.ok and SECRET not in report.message
    store.flush()
    store.close()
    assert grep_home(tmp_path / "home") == []


async def test_a_bitbucket_source_echoing_its_secret_leaks_it_nowhere(echo: EchoServer, tmp_path: Path) -> None:
    app = Application(name="bb", kind="bitbucket",
                      settings={"workspace": "acme", "auth": "api_token", "email": "ops@corp.example",
                                "base_url": f"{echo.url}/2.0", "max_attempts": 1},
                      secrets={"api_token": "env:IDC_TEST_ECHO_SECRET"})
    report = await check_connection(app)
    assert SECRET not in report.message + json.dumps(report.details, default=str)
