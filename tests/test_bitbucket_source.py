"""The Bitbucket source against the sandbox: authorization, endpoints, macros, pagination, throttling."""
from __future__ import annotations

import asyncio
import socket
from datetime import datetime, timezone

import pytest

from console.connectors import make_source
from console.connectors.retry import RetryPolicy
from console.errors import AuthFailed, BadInput, NotFound, TransientError, Unreachable
from console.inbound.budget import RequestBudget
from console.inbound.endpoints import (
    Endpoint,
    default_endpoint,
    expand,
    load_endpoints,
    macro_values,
    permissions_endpoint,
    test_endpoint,
)


def members_calls(sandbox) -> list[int]:
    return [status for method, path, status in sandbox.state.request_log if path.endswith("/members")]


class RecordingSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(seconds)


async def test_test_shows_the_app_user_and_the_member_count(bb_app, bb_sandbox):
    async with make_source(bb_app) as source:
        report = await source.test()
    assert report.ok, report.message
    assert "the OAuth consumer's app user" in report.message and "6 members of workspace acme" in report.message
    assert report.details["account_type"] == "app_user" and report.details["members"] == 6


async def test_api_token_acts_as_the_account(bb_app):
    bb_app.settings.update(auth="api_token", email="robot@example.com")
    bb_app.secrets = {"api_token": "env:BB_TEST_API_TOKEN"}
    async with make_source(bb_app) as source:
        report = await source.test()
        assert report.ok and report.details["acts_as"] == "robot" and source.token_requests == 0


async def test_wrong_secret_is_reported_without_the_secret(bb_app, monkeypatch):
    monkeypatch.setenv("BB_TEST_SECRET", "wrong-secret-value")
    async with make_source(bb_app) as source:
        report = await source.test()
        assert not report.ok and "refused the OAuth consumer credentials" in report.message
        assert "wrong-secret-value" not in report.message + str(report.details)
        with pytest.raises(AuthFailed) as caught:
            await source.fetch(default_endpoint("bb"))
    assert "Invalid OAuth client credentials" in str(caught.value)


async def test_unknown_workspace_is_not_found_with_bitbuckets_message(bb_app):
    bb_app.settings["workspace"] = "nowhere"
    async with make_source(bb_app) as source:
        report = await source.test()
        assert not report.ok and report.details["error"] == "NotFound"
        with pytest.raises(NotFound) as caught:
            await source.fetch(default_endpoint("bb"))
    assert "No workspace with identifier 'nowhere'" in str(caught.value) and "workspace slug" in caught.value.hint


async def test_closed_port_is_unreachable(bb_app):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    bb_app.settings.update(base_url=f"http://127.0.0.1:{port}/2.0", token_url=f"http://127.0.0.1:{port}/token")
    async with make_source(bb_app) as source:
        with pytest.raises(Unreachable):
            await source.fetch(default_endpoint("bb"))


async def test_token_is_cached_across_pages(bb_app, bb_sandbox):
    endpoint = default_endpoint("bb")
    endpoint.pagelen = 2
    async with make_source(bb_app) as source:
        result = await source.fetch_all(endpoint)
    assert (len(result.records), result.pages, result.complete, result.size) == (6, 3, True, 6)
    assert bb_sandbox.state.token_requests == 1 and source.requests == 3


async def test_token_expiring_mid_walk_is_renewed_once(bb_app, bb_sandbox):
    endpoint = default_endpoint("bb")
    endpoint.pagelen = 2
    bb_sandbox.state.expire_tokens_after(1)
    async with make_source(bb_app) as source:
        records = await source.fetch(endpoint)
    assert len(records) == 6 and bb_sandbox.state.token_requests == 2
    assert members_calls(bb_sandbox) == [200, 401, 200, 200]


async def test_token_refused_again_after_renewal_is_auth_failed(bb_app, bb_sandbox):
    bb_sandbox.state.expires_in = 0  # every token is born expired
    async with make_source(bb_app) as source:
        with pytest.raises(AuthFailed):
            await source.fetch(default_endpoint("bb"))
    assert bb_sandbox.state.token_requests == 2  # the first, and one renewal


async def test_429_waits_for_retry_after(bb_app, bb_sandbox):
    bb_sandbox.state.rate_limit, bb_sandbox.state.rate_window = 2, 1.0
    endpoint = default_endpoint("bb")
    endpoint.pagelen = 2
    sleep = RecordingSleep()
    async with make_source(bb_app, sleep=sleep) as source:
        result = await source.fetch_all(endpoint)
    assert len(result.records) == 6 and result.complete
    assert sleep.waits == [1.0] and 429 in members_calls(bb_sandbox)


async def test_429_without_retry_after_backs_off(bb_app, bb_sandbox):
    bb_sandbox.state.rate_limit, bb_sandbox.state.rate_window = 1, 1.0
    bb_sandbox.state.send_retry_after = False
    sleep = RecordingSleep()
    async with make_source(bb_app, sleep=sleep, retry=RetryPolicy(attempts=8)) as source:
        await source.get_json(f"{bb_sandbox.base_url}/user")
        await source.get_json(f"{bb_sandbox.base_url}/user")
    # the retry layer's jittered exponential backoff, within the stated attempts (8 tries: at most 7 waits)
    assert 1 <= len(sleep.waits) <= 7 and all(0 <= w <= min(8.0, 0.5 * 2 ** n) for n, w in enumerate(sleep.waits))


async def test_retry_after_beyond_max_wait_stops_with_transient_error(bb_app, bb_sandbox):
    bb_sandbox.state.rate_limit, bb_sandbox.state.rate_window = 1, 600.0
    sleep = RecordingSleep()
    async with make_source(bb_app, sleep=sleep) as source:
        await source.get_json(f"{bb_sandbox.base_url}/user")
        with pytest.raises(TransientError) as caught:
            await source.get_json(f"{bb_sandbox.base_url}/user")
    assert sleep.waits == [] and caught.value.retry_after and caught.value.retry_after > 500


async def test_request_budget_stops_before_it_is_exceeded(bb_app, bb_sandbox):
    bb_app.settings["request_budget"] = 3
    endpoint = default_endpoint("bb")
    endpoint.pagelen = 1
    async with make_source(bb_app) as source:
        with pytest.raises(TransientError) as caught:
            await source.fetch(endpoint)
    assert "request budget reached" in caught.value.title and "needs 5 request(s), 2 of 3 left" in caught.value.title
    assert members_calls(bb_sandbox) == [200]  # refused after page 1 told the size, before page 2


async def test_request_budget_carried_from_earlier_runs():
    now = datetime(2026, 1, 1, 12, 30, tzinfo=timezone.utc).timestamp()
    budget = RequestBudget(1000, {str(int(now // 60) - 10): 999, str(int(now // 60) - 61): 500}, clock=lambda: now)
    assert budget.used() == 999 and budget.remaining() == 1
    budget.require(1)
    with pytest.raises(TransientError) as caught:
        budget.require(2)
    assert 0 < caught.value.retry_after <= 3000
    budget.record()
    assert budget.to_doc() == {str(int(now // 60) - 10): 999, str(int(now // 60)): 1}


def test_macros_expand_and_an_unknown_one_is_named():
    values = macro_values(workspace="acme", base_url="https://api.bitbucket.org/2.0/", app="bb", last_run="",
                          now=datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc))
    text = "{base_url}/workspaces/{workspace}?d={today}&t={now}&since={last_run}&a={app}&lit={{x}}"
    assert expand(text, values) == ("https://api.bitbucket.org/2.0/workspaces/acme?d=2026-03-04&t=2026-03-04T05:06:07Z"
                                    "&since=1970-01-01T00:00:00Z&a=bb&lit={x}")
    uuid = "{470c176d-3574-44ea-bb41-89e8638bcca4}"
    assert expand("/members/" + uuid, values) == "/members/" + uuid  # a braced UUID is not a macro
    with pytest.raises(BadInput) as caught:
        expand("{base_url}/workspaces/{wrkspace}/members", values)
    assert "{wrkspace}" in caught.value.title
    assert "{workspace}" in caught.value.hint and "{last_run}" in caught.value.hint
    with pytest.raises(BadInput):
        Endpoint("x", "bb", "{base_url}/x", headers={"X-Since": "{yesterday}"}).check()


def test_endpoint_configuration_is_checked():
    bad_options = (dict(method="POST"), dict(pagelen=101), dict(pagination="cursor"),
                   dict(headers={"Authorization": "x"}))
    for bad in bad_options:
        with pytest.raises(BadInput):
            Endpoint("x", "bb", "{base_url}/x", **bad).check()
    endpoint = default_endpoint("bb")
    assert Endpoint.from_doc(endpoint.to_doc()) == endpoint
    assert endpoint.url == "{base_url}/workspaces/{workspace}/members" and endpoint.pagelen == 100


async def test_endpoint_must_stay_on_the_api_host(bb_app, bb_sandbox):
    async with make_source(bb_app) as source:
        with pytest.raises(BadInput) as caught:
            await source.fetch(Endpoint("leak", "bb", "http://example.invalid/steal"))
    assert "not the application's API host" in caught.value.title and bb_sandbox.state.request_log == []


async def test_repeated_page_stops_the_walk_with_a_warning(bb_app, bb_sandbox):
    bb_sandbox.state.repeat_page = 1
    endpoint = default_endpoint("bb")
    endpoint.pagelen = 2
    async with make_source(bb_app) as source:
        result = await source.fetch_all(endpoint)
    assert len(result.records) == 2 and not result.complete
    assert "page 2 repeats page 1" in result.warnings[0] and "BCLOUD-22441" in result.warnings[0]


async def test_repeat_after_the_last_page_loses_nothing(bb_app, bb_sandbox):
    bb_sandbox.state.repeat_page = 3  # the last page carries `next` and page 4 repeats it
    endpoint = default_endpoint("bb")
    endpoint.pagelen = 2
    async with make_source(bb_app) as source:
        result = await source.fetch_all(endpoint)
    assert len(result.records) == 6 and result.complete and result.pages == 4 and result.warnings


async def test_page_cap_and_follow_next_mode(bb_app):
    capped = Endpoint("capped", "bb", "{base_url}/workspaces/{workspace}/members", pagelen=2, max_pages=2)
    follow = Endpoint("follow", "bb", "{base_url}/workspaces/{workspace}/members", pagelen=4, pagination="next")
    async with make_source(bb_app) as source:
        first = await source.fetch_all(capped)
        second = await source.fetch_all(follow)
    assert len(first.records) == 4 and not first.complete and "max_pages" in first.warnings[0]
    assert len(second.records) == 6 and second.complete and second.pages == 2


async def test_test_endpoint_lists_flattened_fields_and_saves(bb_app, bb_store):
    endpoint = default_endpoint("bb")
    async with make_source(bb_app) as source:
        fields = await test_endpoint(source, endpoint, bb_store)
        permission_fields = await test_endpoint(source, permissions_endpoint("bb"), bb_store)
    assert fields["user.display_name"] == "Alice Smith" and fields["workspace.slug"] == "acme"
    assert fields["user.account_id"] == "557058:aa01" and fields["user.nickname"] == "alice"
    assert "permission" in permission_fields and "permission" not in fields
    saved = {e.name: e for e in load_endpoints(bb_store, "bb")}
    assert set(saved) == {"Bitbucket users endpoint", "Bitbucket permissions endpoint"}
    assert "user.uuid" in saved["Bitbucket users endpoint"].fields
