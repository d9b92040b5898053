"""Pytest fixtures for the Microsoft Graph connector: one Graph sandbox per session (reset before each test),
an Application pointing at it, a connector built by `make`, and a small client for the sandbox control API."""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.plugins.vendor_documents import register_peer

from console.connectors import make_target
from console.connectors.graph import GraphConnector
from console.models import Application
from console.sandbox.graph import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_TENANT_ID,
    RunningSandbox,
    start_in_thread,
)

GRAPH_SECRET_ENV = "IDCONSOLE_TEST_GRAPH_SECRET"
E3_SKU = "6fd2c87f-b296-42f0-b197-1e91e994b900"  # ENTERPRISEPACK: includes Exchange Online (mailbox)
FLOW_SKU = "f30db892-07e9-47e9-837c-80727f46fd3d"  # FLOW_FREE: no mailbox


class SandboxControl:
    """The sandbox's control API and a raw Graph client (for what the connector must not be trusted to show)."""

    def __init__(self, running: RunningSandbox) -> None:
        self.url = running.url
        self.graph_url = running.url + "/v1.0"
        self.http = httpx.Client(base_url=running.url, timeout=10)
        self._token = ""

    def reset(self, users: list[dict[str, Any]] | None = None) -> None:
        self.http.post("/_sandbox/reset", json={"users": users} if users is not None else {}).raise_for_status()

    def fault(self, **rule: Any) -> None:
        self.http.post("/_sandbox/faults", json=rule).raise_for_status()

    def settings(self, **values: Any) -> None:
        self.http.post("/_sandbox/settings", json=values).raise_for_status()

    def requests(self, route: str | None = None) -> list[dict[str, Any]]:
        entries = self.http.get("/_sandbox/requests").json()["requests"]
        return [e for e in entries if route is None or e.get("route") == route]

    def max_in_flight(self) -> int:
        return int(self.http.get("/_sandbox/requests").json()["max_in_flight"])

    def sign_in(self, upn: str, password: str) -> str:
        return str(self.http.post("/_sandbox/signin", json={"userPrincipalName": upn, "password": password})
                   .json()["result"])

    def token(self) -> str:
        if not self._token:
            response = self.http.post(f"/{SANDBOX_TENANT_ID}/oauth2/v2.0/token", data={
                "grant_type": "client_credentials", "client_id": SANDBOX_CLIENT_ID,
                "client_secret": SANDBOX_CLIENT_SECRET, "scope": "https://graph.microsoft.com/.default"})
            self._token = response.json()["access_token"]
        return self._token

    def graph(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A raw Graph call with a valid token (e.g. to read what the connector wrote)."""
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        return self.http.request(method, "/v1.0" + path, headers=headers, **kwargs)

    def close(self) -> None:
        self.http.close()


@pytest.fixture(scope="session")
def graph_sandbox_server() -> Iterator[RunningSandbox]:
    running = start_in_thread()
    register_peer(running.url, "graph")
    yield running
    running.stop()


@pytest.fixture
def graph_sandbox(graph_sandbox_server: RunningSandbox) -> Iterator[SandboxControl]:
    control = SandboxControl(graph_sandbox_server)
    control.reset()
    yield control
    control.reset()
    control.close()


@pytest.fixture
def graph_app(graph_sandbox: SandboxControl, monkeypatch: pytest.MonkeyPatch) -> Application:
    monkeypatch.setenv(GRAPH_SECRET_ENV, SANDBOX_CLIENT_SECRET)
    return Application(
        name="m365", kind="graph", max_concurrency=4,
        settings={"tenant_id": SANDBOX_TENANT_ID, "client_id": SANDBOX_CLIENT_ID, "base_url": graph_sandbox.graph_url,
                  "authority": graph_sandbox.url, "usage_location": "DE", "license_skus": [E3_SKU],
                  "upn_suffix": "contoso.com"},
        secrets={"client_secret": f"env:{GRAPH_SECRET_ENV}"},
    )


def fast(connector: GraphConnector) -> GraphConnector:
    """Shorten the replication-lag backoff so tests stay quick (the schedule is what is tested, not its length)."""
    connector.consistency_delays = (0.05, 0.1, 0.2, 0.4)
    return connector


@pytest.fixture
async def graph_connector(graph_app: Application) -> AsyncIterator[GraphConnector]:
    connector = fast(make_target(graph_app))
    yield connector
    await connector.aclose()
