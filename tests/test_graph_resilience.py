"""Throttling, paging, replication lag, lost answers, bad credentials and error mapping, against the sandbox."""
from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from console.connectors import make_target
from console.connectors.graph import GraphConnector
from console.errors import AuthFailed, NotFound, Rejected, SecretMissing, TransientError
from console.models import Application, User
from console.sandbox.graph_schema import DEFAULT_SKUS

E3 = DEFAULT_SKUS[0]["skuId"]


def person(n: int = 1, **overrides: Any) -> User:
    values = {"employeeId": f"E{n}", "userName": f"person{n}", "givenName": "Per", "familyName": f"Son {n}"}
    return User(**{**values, **overrides})


async def test_429_with_retry_after_is_retried_by_the_sdk_middleware(graph_connector: GraphConnector,
                                                                     graph_sandbox: Any) -> None:
    graph_sandbox.fault(status=429, count=2, retry_after=1, method="GET", path="/users")
    started = time.monotonic()
    assert [a async for a in graph_connector.list_users()] == []
    waited = time.monotonic() - started
    calls = graph_sandbox.requests("GET /users")
    assert [(c["status"], c["retry_attempt"]) for c in calls] == [(429, ""), (429, "1"), (200, "2")]
    assert waited >= 2  # Retry-After was honoured (a lower bound, not a timing assertion on speed)


async def test_throttling_that_outlasts_the_retries_is_a_transient_error(graph_connector: GraphConnector,
                                                                         graph_sandbox: Any) -> None:
    graph_sandbox.fault(status=429, count=10, retry_after=1, method="PATCH", path="/users")
    with pytest.raises(TransientError) as caught:
        await graph_connector.update_user("00000000-0000-4000-8000-000000000000", {"department": "X"})
    assert caught.value.retry_after == 1 and caught.value.status == 429
    assert len(graph_sandbox.requests("PATCH /users/{id}")) == 4  # first try + the RetryHandler's 3 retries


async def test_group_create_is_never_resent_blindly(graph_connector: GraphConnector, graph_sandbox: Any) -> None:
    # Group names are not unique: a resent POST after a lost answer would make a duplicate group.
    graph_sandbox.fault(status=504, count=1, retry_after=1, method="POST", path="/groups", mode="after")
    group = await graph_connector.create_group("Lost answer")
    assert [c["status"] for c in graph_sandbox.requests("POST /groups")] == [504]
    assert group.attrs.get("adopted") is True
    assert [g["id"] for g in graph_sandbox.graph("GET", "/groups").json()["value"]] == [group.uid]
    graph_sandbox.fault(status=429, count=1, retry_after=1, method="POST", path="/groups")  # 429: not processed
    second = await graph_connector.create_group("Throttled")
    assert [c["status"] for c in graph_sandbox.requests("POST /groups")] == [504, 429, 201]
    assert "adopted" not in second.attrs


async def test_paging_over_more_than_a_thousand_users_resends_consistency_level(graph_connector: GraphConnector,
                                                                                graph_sandbox: Any) -> None:
    graph_sandbox.reset([{"userPrincipalName": f"user{i:04}@contoso.com", "displayName": f"User {i}",
                          "employeeId": f"{i}"} for i in range(1234)])
    graph_sandbox.settings(empty_pages=2)  # Graph may answer an empty page that still has a nextLink
    accounts = [a async for a in graph_connector.list_users()]
    assert len(accounts) == 1234 and len({a.uid for a in accounts}) == 1234
    assert accounts[0].name == "user0000@contoso.com" and accounts[-1].name == "user1233@contoso.com"
    pages = graph_sandbox.requests("GET /users")
    assert len(pages) == 4  # two empty pages, then 999 + 235
    assert all(p["consistency_level"] == "eventual" for p in pages)
    assert all("$skiptoken" in p["query"] for p in pages[1:])


async def test_wrong_client_secret_is_auth_failed_with_a_clear_message(
        graph_app: Application, graph_sandbox: Any, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("IDCONSOLE_TEST_GRAPH_SECRET", "not-the-secret-value")
    conn = make_target(graph_app)
    try:
        with pytest.raises(AuthFailed) as caught:
            await conn.find_user({"userPrincipalName": "a@contoso.com"})
        message = str(caught.value)
        assert "AADSTS7000215" in message and "client secret" in caught.value.hint
        assert "not-the-secret-value" not in message + caught.value.hint
        report = await conn.test()
        assert report.ok is False and "AADSTS7000215" in report.message
    finally:
        await conn.aclose()
    assert graph_sandbox.requests() == []  # no Graph call went out without a token
    assert "not-the-secret-value" not in caplog.text


async def test_missing_secret_reference_is_reported_before_any_call(graph_app: Application,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IDCONSOLE_TEST_GRAPH_SECRET")
    conn = make_target(graph_app)
    with pytest.raises(SecretMissing):
        await conn.find_user({"userPrincipalName": "a@contoso.com"})
    await conn.aclose()


async def test_connection_test_lists_licences_and_mailbox(graph_connector: GraphConnector) -> None:
    report = await graph_connector.test()
    assert report.ok and "mailbox" in report.message
    assert report.details["mailbox_licenses"] == [E3] and report.details["missing_licenses"] == []


async def test_replication_lag_404_after_create_is_retried(graph_connector: GraphConnector, graph_sandbox: Any) -> None:
    graph_sandbox.settings(consistency_lag=2)
    account = await graph_connector.create_user(graph_connector.account_attributes(person(), "sso"))
    licence_calls = graph_sandbox.requests("POST /users/{id}/assignLicense")
    assert [c["status"] for c in licence_calls] == [404, 404, 200]
    assert not account.warnings
    group = await graph_connector.create_group("Fresh")
    await graph_connector.add_members(group.uid, [account.uid])
    adds = graph_sandbox.requests("POST /groups/{id}/members/$ref")
    assert [c["status"] for c in adds] == [404, 404, 204]


async def test_answer_lost_after_create_adopts_without_duplicate(graph_connector: GraphConnector,
                                                                 graph_sandbox: Any) -> None:
    # The first POST goes through but its answer is a 504: the SDK retries the POST, which now conflicts.
    graph_sandbox.fault(status=504, count=1, retry_after=1, method="POST", path="/users", mode="after")
    account = await graph_connector.create_user(graph_connector.account_attributes(person(), "sso"))
    assert [c["status"] for c in graph_sandbox.requests("POST /users")] == [504, 400]
    users = graph_sandbox.graph("GET", "/users").json()["value"]
    assert [u["id"] for u in users] == [account.uid]
    assert graph_sandbox.sign_in(account.name, account.initial_password) == "ok"


async def test_connection_dropped_after_create_is_looked_up_not_retried(graph_connector: GraphConnector,
                                                                        graph_sandbox: Any) -> None:
    graph_sandbox.fault(status=500, count=1, method="POST", path="/users", mode="reset")
    account = await graph_connector.create_user(graph_connector.account_attributes(person(), "sso"))
    assert len(graph_sandbox.requests("POST /users")) == 1
    assert graph_sandbox.sign_in(account.name, account.initial_password) == "ok"
    graph_sandbox.fault(status=500, count=1, method="POST", path="/users", mode="before")
    with pytest.raises(TransientError):  # not created and the answer says so: the error stands
        await graph_connector.create_user(graph_connector.account_attributes(person(2), "sso"))


async def test_graph_errors_map_to_the_console_taxonomy(graph_connector: GraphConnector, graph_sandbox: Any) -> None:
    with pytest.raises(NotFound):
        await graph_connector.update_user("00000000-0000-4000-8000-000000000000", {"department": "X"})
    with pytest.raises(Rejected) as rejected:
        await graph_connector.create_user({**graph_connector.account_attributes(person(), "sso"),
                                           "employeeId": "an-employee-id-far-too-long"})
    assert "Request_BadRequest" in rejected.value.detail and "employeeId" in rejected.value.detail
    assert "request-id" in rejected.value.detail
    graph_sandbox.fault(status=403, count=1, method="POST", path="/groups")
    with pytest.raises(AuthFailed) as forbidden:
        await graph_connector.create_group("Nope")
    assert "admin consent" in forbidden.value.hint and "Group.ReadWrite.All" in forbidden.value.hint
    graph_sandbox.fault(status=503, count=4, retry_after=1, method="DELETE")
    with pytest.raises(TransientError):
        await graph_connector.delete_group("00000000-0000-4000-8000-000000000001")


async def test_licence_refusal_after_create_is_a_warning_not_a_lost_password(graph_app: Application,
                                                                             graph_sandbox: Any) -> None:
    graph_app.settings["usage_location"] = ""  # Graph refuses licences without a usage location
    conn = make_target(graph_app)
    try:
        account = await conn.create_user(conn.account_attributes(person(), "sso"))
        assert account.initial_password and "usage location" in account.warnings[0]
        assert account.attributes["licenses"] == []  # what Graph holds: the next plan still sees the licence missing
        with pytest.raises(Rejected, match="usage location"):  # as an update, the refusal fails this operation
            await conn.update_user(account.uid, {"licenses": [E3]})
        await conn.update_user(account.uid, {"usageLocation": "FR", "licenses": [E3]})  # PATCH first, then assign
    finally:
        await conn.aclose()
    held = graph_sandbox.graph("GET", f"/users/{account.uid}", params={"$select": "assignedLicenses"}).json()
    assert [lic["skuId"] for lic in held["assignedLicenses"]] == [E3]


async def test_concurrency_is_bounded_by_max_concurrency(graph_app: Application, graph_sandbox: Any) -> None:
    graph_app.max_concurrency = 2
    conn = make_target(graph_app)
    try:
        group = await conn.create_group("Crowd")
        uids = [(await conn.create_user(conn.account_attributes(person(n), "sso"))).uid for n in range(6)]
        graph_sandbox.settings(latency=0.05)
        await conn.add_members(group.uid, uids)
    finally:
        await conn.aclose()
    assert len(graph_sandbox.requests("POST /groups/{id}/members/$ref")) == 6
    assert 1 <= graph_sandbox.max_in_flight() <= 2
