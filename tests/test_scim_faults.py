"""Faults scim2-server cannot produce (429/503 with Retry-After, 5xx, resets, lost answers), injected by a
transport wrapped around the real server; plus OAuth client credentials against a local token endpoint."""
from __future__ import annotations

import asyncio

import pytest

from console.connectors.atlassian import AtlassianConnector
from console.connectors.atlassian.auth import ClientCredentials
from console.connectors.retry import RetryPolicy
from console.errors import AuthFailed, Rejected, TransientError
from console.models import Application, User


def attrs_for(connector: AtlassianConnector, n: int = 1) -> dict:
    user = User(employeeId=f"E{n}", userName=f"user{n}", givenName="Test", familyName=f"User{n}",
                emails=[f"user{n}@corp.example"])
    return connector.account_attributes(user, "sso")


@pytest.fixture
async def connect(atlassian_app: Application, sleeps, fast_retry):
    """Builds connectors whose sleeps are recorded, not slept; closes them after the test."""
    made: list[AtlassianConnector] = []

    def build(transport=None, app: Application | None = None, retry: RetryPolicy | None = None) -> AtlassianConnector:
        connector = AtlassianConnector(app or atlassian_app, transport=transport, retry=retry or fast_retry,
                                       sleep=sleeps)
        made.append(connector)
        return connector

    yield build
    for connector in made:
        await connector.aclose()


async def test_429_with_retry_after_is_honoured_then_succeeds(connect, scim_faults, fault, sleeps,
                                                              scim_directory) -> None:
    transport = scim_faults(fault("status", 429, headers={"Retry-After": "2"}),
                            fault("status", 429, headers={"Retry-After": "3"}))
    connector = connect(transport)
    account = await connector.create_user(attrs_for(connector))
    assert transport.methods() == ["POST", "POST", "POST"]  # a 429 was not processed: resending is safe
    assert sleeps == pytest.approx([2.0, 3.0], abs=0.05)
    assert [u["id"] for u in scim_directory.users()] == [account.uid]


async def test_503_storm_gives_up_after_bounded_attempts_with_retry_after(connect, scim_faults, fault, sleeps) -> None:
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "503",
            "detail": "Directory service temporarily unavailable"}
    transport = scim_faults(*[fault("status", 503, headers={"Retry-After": "1"}, body=body) for _ in range(10)])
    connector = connect(transport)
    with pytest.raises(TransientError) as caught:
        _ = [a async for a in connector.list_users()]
    assert len(transport.requests) == 5 and sleeps == pytest.approx([1.0] * 4, abs=0.05)
    assert caught.value.retry_after == 1.0 and caught.value.status == 503
    assert "temporarily unavailable" in caught.value.detail


async def test_a_retry_after_beyond_the_cap_is_handed_back_not_slept(connect, scim_faults, fault, sleeps) -> None:
    transport = scim_faults(fault("status", 429, headers={"Retry-After": "3600"}))
    connector = connect(transport)
    with pytest.raises(TransientError) as caught:
        await connector.update_user("u1", {"title": "x"})
    assert caught.value.retry_after == 3600.0 and len(transport.requests) == 1 and sleeps == []


async def test_500_on_a_read_is_retried_with_jittered_backoff(connect, scim_faults, fault, sleeps) -> None:
    transport = scim_faults(fault("status", 500), fault("status", 502))
    connector = connect(transport)
    assert (await connector.test()).ok
    assert transport.methods()[:3] == ["GET", "GET", "GET"]
    assert len(sleeps) == 2 and all(0 <= s <= 0.05 for s in sleeps)


async def test_500_on_create_looks_up_before_posting_again(connect, scim_faults, fault, scim_directory) -> None:
    transport = scim_faults(fault("status", 500, method="POST"))
    connector = connect(transport)
    account = await connector.create_user(attrs_for(connector))
    assert transport.methods() == ["POST", "GET", "GET", "POST"]  # never a blind second POST
    assert [u["id"] for u in scim_directory.users()] == [account.uid]


async def test_lost_response_on_create_adopts_the_account_without_duplicate(connect, scim_faults, fault,
                                                                           scim_directory) -> None:
    transport = scim_faults(fault("lose_response", method="POST"))
    connector = connect(transport)
    attrs = attrs_for(connector)
    account = await connector.create_user(attrs)  # the server created it, the client never saw the answer
    assert transport.methods() == ["POST", "GET"]  # found by externalId: no second POST
    (stored,) = scim_directory.users()
    assert stored["id"] == account.uid
    rerun = connect()  # the next run (the link was never recorded) adopts it too
    assert (await rerun.create_user(attrs)).uid == account.uid
    assert len(scim_directory.users()) == 1


async def test_reset_mid_response_on_a_listing_is_retried(connect, scim_faults, fault, atlassian) -> None:
    for n in range(3):
        await atlassian.create_user(attrs_for(atlassian, n))
    transport = scim_faults(fault("lose_response", method="GET"), fault("reset", method="GET"))
    connector = connect(transport)
    assert len([a async for a in connector.list_users()]) == 3
    assert transport.methods() == ["GET", "GET", "GET"]


async def test_resets_on_a_patch_end_in_a_transient_error(connect, scim_faults, fault, atlassian) -> None:
    account = await atlassian.create_user(attrs_for(atlassian))
    transport = scim_faults(*[fault("reset", method="PATCH") for _ in range(5)])
    connector = connect(transport)
    with pytest.raises(TransientError, match=r"connection to 127\.0\.0\.1:\d+ lost"):
        await connector.update_user(account.uid, {"title": "x"})
    assert transport.methods() == ["PATCH"] * 5


async def test_a_deactivation_the_directory_ignores_is_reported(connect, scim_faults, fault, atlassian) -> None:
    account = await atlassian.create_user(attrs_for(atlassian))
    still_active = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": account.uid, "active": True}
    transport = scim_faults(fault("status", 200, body=still_active, method="PATCH"))
    connector = connect(transport)
    with pytest.raises(Rejected, match=r"still shows user \w+ as active"):
        await connector.deactivate_user(account.uid)


async def test_delete_deactivates_first_then_deletes(connect, scim_faults, atlassian, scim_directory) -> None:
    account = await atlassian.create_user(attrs_for(atlassian))
    atlassian.app.deprovision = "delete"
    transport = scim_faults()
    await connect(transport).delete_user(account.uid)
    assert transport.methods() == ["PATCH", "DELETE"] and scim_directory.users() == []


async def test_the_authorization_header_never_reaches_an_error(connect, scim_faults, fault, scim_directory) -> None:
    echo = {"detail": f"proxy says: bad request with Authorization: Bearer {scim_directory.token}"}
    transport = scim_faults(fault("status", 400, body=echo), fault("status", 500, body=echo, method="PATCH"),
                            *[fault("status", 503, body=echo, method="PATCH") for _ in range(5)])
    connector = connect(transport)
    for call in (connector.test(), connector.update_user("u1", {"title": "x"})):
        try:
            result = await call
            text = result.message
        except Exception as exc:
            text = f"{exc!s} {exc!r} {getattr(exc, 'detail', '')} {getattr(exc, 'to_dict', dict)()}"
        assert scim_directory.token not in text and "•••" in text
    assert all(header == f"Bearer {scim_directory.token}" for header in transport.authorization_seen)


async def test_concurrency_never_exceeds_max_concurrency(connect, scim_faults, atlassian_app, scim_directory) -> None:
    atlassian_app.max_concurrency = 3
    transport = scim_faults()
    connector = connect(transport)
    await asyncio.gather(*(connector.create_user(attrs_for(connector, n)) for n in range(30)))
    assert transport.max_in_flight <= 3 and len(scim_directory.users()) == 30


# ---- OAuth client credentials ----------------------------------------------------------------------
def oauth_app(app: Application, token_url: str, monkeypatch) -> Application:
    monkeypatch.setenv("SCIM_CLIENT_SECRET", "client-secret-value")
    settings = {**app.settings, "client_id": "svc-1", "token_url": token_url}
    return Application(name=app.name, kind="atlassian", settings=settings,
                       secrets={"client_secret": "env:SCIM_CLIENT_SECRET"})


async def test_oauth_client_credentials_fetch_one_token_and_reuse_it(connect, oauth_token_server, atlassian_app,
                                                                     scim_directory, monkeypatch) -> None:
    endpoint = oauth_token_server("svc-1", "client-secret-value", [scim_directory.token])
    connector = connect(app=oauth_app(atlassian_app, endpoint.url, monkeypatch))
    assert isinstance(connector.http.tokens, ClientCredentials)
    assert (await connector.test()).ok
    await connector.create_user(attrs_for(connector))
    assert len(endpoint.requests) == 1 and endpoint.requests[0]["grant_type"] == "client_credentials"


async def test_oauth_token_is_refreshed_when_expired_or_rejected(connect, oauth_token_server, atlassian_app,
                                                                scim_directory, monkeypatch) -> None:
    tokens = ["stale-token", scim_directory.token]
    endpoint = oauth_token_server("svc-1", "client-secret-value", tokens, expires_in=3600)
    connector = connect(app=oauth_app(atlassian_app, endpoint.url, monkeypatch))
    assert (await connector.test()).ok  # 401 with the stale token -> new token -> retried once
    assert len(endpoint.requests) == 2
    short = oauth_token_server("svc-1", "client-secret-value", [scim_directory.token], expires_in=60)
    connector = connect(app=oauth_app(atlassian_app, short.url, monkeypatch))
    await connector.find_user({"userName": "a@corp.example"})
    await connector.find_user({"userName": "b@corp.example"})
    assert len(short.requests) == 2  # a token that expires within the safety margin is fetched again


async def test_oauth_wrong_client_secret_is_reported(connect, oauth_token_server, atlassian_app, monkeypatch) -> None:
    endpoint = oauth_token_server("svc-1", "the-real-secret", ["t"])
    connector = connect(app=oauth_app(atlassian_app, endpoint.url, monkeypatch))
    report = await connector.test()
    assert not report.ok and "OAuth client credentials rejected (401)" in report.message
    assert "client-secret-value" not in report.message
    with pytest.raises(AuthFailed):
        await connector.create_user(attrs_for(connector))
