"""Each HTTP connector (Atlassian, Microsoft Graph) and the Bitbucket source against a hostile local target:
every misbehaviour ends within the configured deadline as a failed test with a clear message, never a success,
never a traceback, and never shows the secret the target echoes."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from console import connectors
from console.connectors.limits import ResponseTooLarge
from console.errors import IdConsoleError
from console.models import Application
from tests.hostile.target import HostileServer

SECRET = "s3cr3t-value-for-hostile-tests"
SHORT = {"timeout": 1, "connect_timeout": 1, "operation_deadline": 3, "max_attempts": 2, "max_response_mb": 1}


def application(kind: str, url: str) -> Application:
    if kind == "atlassian":
        return Application(name="jira", kind=kind, settings={"base_url": f"{url}/scim/directory/d1", **SHORT},
                           secrets={"token": "env:HOSTILE_SECRET"})
    if kind == "graph":
        return Application(name="m365", kind=kind, settings={"tenant_id": "t1", "client_id": "c1",
                                                              "base_url": f"{url}/v1.0", "authority": url, **SHORT},
                           secrets={"client_secret": "env:HOSTILE_SECRET"})
    return Application(name="bb", kind=kind, settings={"workspace": "acme", "auth": "oauth", "client_id": "c1",
                                                        "base_url": f"{url}/2.0", "token_url": f"{url}/token", **SHORT},
                       secrets={"client_secret": "env:HOSTILE_SECRET"})


KINDS = ("atlassian", "graph", "bitbucket")


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTILE_SECRET", SECRET)


def check(kind: str, mode: str, **server: Any) -> connectors.ConnectionReport:
    with HostileServer(mode, **server) as target:
        report = asyncio.run(asyncio.wait_for(connectors.check_connection(application(kind, target.url)), 60))
    assert not report.ok, report
    assert SECRET not in report.message and SECRET not in str(report.details)
    return report


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", ["silent", "trickle"])
def test_a_target_that_never_finishes_answering_fails_the_test_within_its_deadline(kind: str, mode: str) -> None:
    report = check(kind, mode)  # bounded by wait_for(60) above; the deadline is 3 s
    text = report.message.lower()
    assert "deadline" in text or "did not answer" in text or "timed out" in text or "unreachable" in text, report


@pytest.mark.parametrize("kind", KINDS)
def test_a_flood_is_cut_off_at_the_response_size_limit(kind: str) -> None:
    report = check(kind, "flood", flood_bytes=20 * 1024 * 1024)
    assert "more than 1 MB" in report.message, report


@pytest.mark.parametrize("kind", KINDS)
def test_a_target_that_echoes_the_request_never_shows_the_secret(kind: str) -> None:
    report = check(kind, "echo")
    assert report.message


@pytest.mark.parametrize(("kind", "names"), [("atlassian", "totalResults"), ("graph", "value"),
                                             ("bitbucket", "size")])
def test_an_answer_of_the_wrong_shape_is_a_failure_naming_what_is_wrong(kind: str, names: str) -> None:
    report = check(kind, "wrong_types")
    assert names in report.message, report


@pytest.mark.parametrize("kind", KINDS)
def test_html_instead_of_json_is_a_failure(kind: str) -> None:
    report = check(kind, "html")
    assert report.message


def test_a_flood_raises_the_size_error_from_the_request_function() -> None:
    from console.connectors.atlassian.connector import AtlassianConnector

    async def run(url: str) -> None:
        connector = AtlassianConnector(application("atlassian", url), mode=connectors.Mode.READ_ONLY)
        try:
            await connector.http.request("GET", "/Users")
        finally:
            await connector.aclose()

    with HostileServer("flood", flood_bytes=20 * 1024 * 1024) as target, pytest.raises(ResponseTooLarge):
        asyncio.run(run(target.url))


def test_a_wrong_shape_in_a_listing_is_a_clear_error_not_a_type_error() -> None:
    from console.connectors.atlassian.connector import AtlassianConnector

    async def run(url: str) -> None:
        connector = AtlassianConnector(application("atlassian", url), mode=connectors.Mode.READ_ONLY)
        try:
            async for _ in connector.list_users():
                pass
        finally:
            await connector.aclose()

    with HostileServer("wrong_types") as target, pytest.raises(IdConsoleError, match="totalResults is 'lots'"):
        asyncio.run(run(target.url))
