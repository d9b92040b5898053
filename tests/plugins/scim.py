"""pytest plugin: a real scim2-server standing in for Atlassian's SCIM directory, plus fault injection.

Fixtures: `scim_server` (session: one scim2-server on 127.0.0.1 with a pool of directory ids and a bearer
token), `scim_directory` (a fresh, empty directory per test), `atlassian_app` (an Application pointing at
it, the key in an environment variable), `atlassian` (its connector, closed after the test),
`scim_faults` (builds a `FaultTransport`: a wrapper around httpx.AsyncHTTPTransport that injects faults the
real server cannot produce into the first matching requests), `oauth_token_server` (a local OAuth
client-credentials token endpoint issuing the server's bearer token).
"""
from __future__ import annotations

import json
import secrets
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from console.connectors.atlassian import AtlassianConnector
from console.connectors.retry import RetryPolicy
from console.models import Application
from console.sandbox.scim_directory import ScimDirectoryServer
from tests.plugins.vendor_documents import register_peer

TOKEN_ENV = "IDCONSOLE_TEST_SCIM_TOKEN"
# The test organisation's verified domains (Atlassian creates accounts only for e-mails on them); a test that
# needs others sets its directory's with `scim_server.set_verified_domains`.
VERIFIED_DOMAINS = ["northwind.example", "corp.example", "example.com", "example.org", "idc.test", "contoso.com",
                    "fabrikam.com"]


@dataclass
class ScimDirectory:
    base_url: str
    directory_id: str
    token: str

    def client(self) -> httpx.Client:
        """A plain client for checking what the server really holds (bypasses the connector)."""
        return httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {self.token}"}, timeout=10)

    def users(self, **filters: str) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"count": 1000, "startIndex": 1}
        if filters:
            ((attribute, value),) = filters.items()
            params["filter"] = f'{attribute} eq "{value}"'
        found: list[dict[str, Any]] = []
        with self.client() as client:
            while True:  # every page, however many users the directory holds
                body = client.get("/Users", params=params).json()
                page = list(body.get("Resources") or [])
                found += page
                if not page or len(found) >= int(body.get("totalResults", 0)):
                    return found
                params["startIndex"] = len(found) + 1

    def groups(self) -> list[dict[str, Any]]:
        with self.client() as client:
            return list(client.get("/Groups", params={"count": 1000}).json().get("Resources") or [])

    def get(self, path: str) -> httpx.Response:
        with self.client() as client:
            return client.get(path)


@pytest.fixture(scope="session")
def scim_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScimDirectoryServer]:
    server = ScimDirectoryServer("scim-" + secrets.token_urlsafe(16), tenants=200,
                                 verified_domains=VERIFIED_DOMAINS, log_dir=tmp_path_factory.mktemp("scim2-server"))
    server.start()
    register_peer(server.root, "atlassian")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def scim_directory(scim_server: ScimDirectoryServer) -> ScimDirectory:
    directory_id = scim_server.new_directory()
    return ScimDirectory(scim_server.base_url(directory_id), directory_id, scim_server.token)


@pytest.fixture
def atlassian_app(scim_directory: ScimDirectory, monkeypatch: pytest.MonkeyPatch) -> Application:
    monkeypatch.setenv(TOKEN_ENV, scim_directory.token)
    settings = {"base_url": scim_directory.base_url, "timeout": 10}
    return Application(name="atlassian-test", kind="atlassian", settings=settings,
                       secrets={"token": f"env:{TOKEN_ENV}"}, max_concurrency=4)


class SleepLog(list[float]):
    """A stand-in for asyncio.sleep that records the waits asked for (no timing in tests)."""

    async def __call__(self, seconds: float) -> None:
        self.append(round(seconds, 3))


@pytest.fixture
def sleeps() -> SleepLog:
    return SleepLog()


FAST_RETRY = RetryPolicy(attempts=5, max_wait=60.0, base=0.01, cap=0.05)


@pytest.fixture
async def atlassian(atlassian_app: Application) -> AsyncIterator[AtlassianConnector]:
    connector = AtlassianConnector(atlassian_app, retry=FAST_RETRY)
    try:
        yield connector
    finally:
        await connector.aclose()


# ---- faults the real server cannot produce -----------------------------------------------------
@dataclass
class Fault:
    """`status`: answer instead of the server; `lose_response`: the server applies the request but the
    answer is cut mid-body; `reset`: the connection drops before the server sees the request."""

    kind: str  # status | lose_response | reset
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    method: str | None = None  # only requests with this method consume the fault


class _TruncatedStream(httpx.AsyncByteStream):
    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.data[: max(1, len(self.data) // 2)]
        raise httpx.ReadError("connection reset by peer")


class FaultTransport(httpx.AsyncBaseTransport):
    """Wraps httpx.AsyncHTTPTransport; the first requests matching a queued fault get that fault."""

    def __init__(self, faults: list[Fault], inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.inner = inner or httpx.AsyncHTTPTransport()
        self.faults = list(faults)
        self.requests: list[tuple[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.authorization_seen: list[str] = []

    def _take(self, method: str) -> Fault | None:
        for i, fault in enumerate(self.faults):
            if fault.method in (None, method):
                return self.faults.pop(i)
        return None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        self.authorization_seen.append(request.headers.get("Authorization", ""))
        fault = self._take(request.method)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if fault is None:
                return await self.inner.handle_async_request(request)
            if fault.kind == "status":
                body = fault.body or {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                                      "status": str(fault.status), "detail": f"injected {fault.status}"}
                return httpx.Response(fault.status, headers=fault.headers, json=body, request=request)
            if fault.kind == "reset":
                raise httpx.ReadError("connection reset by peer", request=request)
            if fault.kind == "lose_response":
                response = await self.inner.handle_async_request(request)
                data = await response.aread()
                await response.aclose()
                return httpx.Response(response.status_code, headers=response.headers, stream=_TruncatedStream(data),
                                      request=request)
            raise ValueError(fault.kind)
        finally:
            self.in_flight -= 1

    def methods(self) -> list[str]:
        return [method for method, _ in self.requests]

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
def scim_faults() -> Callable[..., FaultTransport]:
    return lambda *faults: FaultTransport(list(faults))


@pytest.fixture
def fault() -> type[Fault]:
    return Fault


@pytest.fixture
def fast_retry() -> RetryPolicy:
    return FAST_RETRY


# ---- a local OAuth 2.0 client-credentials token endpoint --------------------------------------
class TokenEndpoint:
    def __init__(self, client_id: str, client_secret: str, tokens: list[str], expires_in: int = 3600) -> None:
        self.client_id, self.client_secret, self.tokens, self.expires_in = client_id, client_secret, tokens, expires_in
        self.requests: list[dict[str, str]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # a web page, not SCIM: for "wrong base URL" checks
                data = b"<html><body>It works!</body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                endpoint.requests.append(form)
                if form.get("grant_type") != "client_credentials" or form.get("client_id") != endpoint.client_id \
                        or form.get("client_secret") != endpoint.client_secret:
                    status, body = 401, {"error": "access_denied", "error_description": "Unauthorized"}
                else:
                    token = endpoint.tokens.pop(0) if len(endpoint.tokens) > 1 else endpoint.tokens[0]
                    status = 200
                    body = {"access_token": token, "token_type": "Bearer", "expires_in": endpoint.expires_in}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/oauth/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def oauth_token_server() -> Iterator[Callable[..., TokenEndpoint]]:
    endpoints: list[TokenEndpoint] = []

    def start(client_id: str, client_secret: str, tokens: list[str], expires_in: int = 3600) -> TokenEndpoint:
        endpoint = TokenEndpoint(client_id, client_secret, tokens, expires_in)
        endpoints.append(endpoint)
        return endpoint

    yield start
    for endpoint in endpoints:
        endpoint.close()
