"""The Atlassian connector against a real SCIM server (scim2-server): connection checks and the lifecycle."""
from __future__ import annotations

import asyncio
from dataclasses import replace

import httpx
import pytest

from console.connectors import Mode, make_target
from console.connectors.atlassian import AtlassianConnector
from console.errors import AlreadyExists, ConfigError, DryRunBlocked, NotFound, Rejected
from console.models import Application, User
from console.sandbox.scim_directory import free_port

UNICODE_PEOPLE = [
    ("E1", "Zoë", "Ångström", "zoe.angstrom@corp.example"),
    ("E2", "Seán", "O'Brien", "sean.o'brien@corp.example"),
    ("E3", "小龙", "李", "li.xiaolong@corp.example"),
    ("E4", "Ñúñez", "Ñúñez-Ibáñez", "nunez@corp.example"),
]


def person(employee_id: str = "E100", given: str = "Ada", family: str = "Lovelace", email: str = "ada@corp.example",
           **kw: object) -> User:
    return User(employeeId=employee_id, userName=email.split("@")[0], givenName=given, familyName=family,
                emails=[email], title=str(kw.pop("title", "Engineer")),
                department=str(kw.pop("department", "R&D")), **kw)  # type: ignore[arg-type]


GRACE = person("E2", "Grace", "Hopper", "grace@corp.example")


def app_with(app: Application, **changes: object) -> Application:
    return replace(app, **changes)  # type: ignore[arg-type]


# ---- test() --------------------------------------------------------------------------------------
async def test_connection_check_reads_the_directory(atlassian: AtlassianConnector, scim_directory) -> None:
    report = await atlassian.test()
    assert report.ok, report.message
    assert scim_directory.directory_id in report.message
    assert report.details["users"] == 0


async def test_wrong_key_says_rejected_and_where_to_make_a_new_one(atlassian_app: Application, monkeypatch) -> None:
    monkeypatch.setenv("WRONG_SCIM_KEY", "not-the-directory-key")
    connector = make_target(app_with(atlassian_app, secrets={"token": "env:WRONG_SCIM_KEY"}))
    try:
        report = await connector.test()
    finally:
        await connector.aclose()
    assert not report.ok
    assert "API key rejected (401)" in report.message
    assert "admin.atlassian.com > Security > Identity providers" in report.message
    assert "Regenerate API key" in report.message
    assert "not-the-directory-key" not in report.message


async def test_server_down_is_reported_as_unreachable(atlassian_app: Application) -> None:
    url = f"http://127.0.0.1:{free_port()}/scim/directory/d1"
    connector = make_target(app_with(atlassian_app, settings={"base_url": url}))
    try:
        report = await connector.test()
    finally:
        await connector.aclose()
    assert not report.ok
    assert report.message.startswith("cannot reach 127.0.0.1:") and "connection refused" in report.message


async def test_tls_failure_has_its_own_message(atlassian_app: Application, scim_directory) -> None:
    url = scim_directory.base_url.replace("http://", "https://")  # a plain HTTP server: the handshake fails
    connector = make_target(app_with(atlassian_app, settings={"base_url": url}))
    try:
        report = await connector.test()
    finally:
        await connector.aclose()
    assert not report.ok
    assert report.message.startswith("TLS handshake with 127.0.0.1:") and "failed" in report.message


async def test_wrong_directory_id_says_directory_not_found(atlassian_app: Application, scim_server) -> None:
    url = scim_server.base_url("00000000-0000-0000-0000-000000000000")
    connector = make_target(app_with(atlassian_app, settings={"base_url": url}))
    try:
        report = await connector.test()
    finally:
        await connector.aclose()
    assert not report.ok
    assert "directory 00000000-0000-0000-0000-000000000000 not found (404)" in report.message
    assert "directory base URL" in report.message


async def test_missing_secret_is_a_clear_failed_check(atlassian_app: Application, monkeypatch) -> None:
    monkeypatch.delenv("IDCONSOLE_TEST_SCIM_TOKEN")
    connector = make_target(atlassian_app)
    try:
        report = await connector.test()
    finally:
        await connector.aclose()
    assert not report.ok and "IDCONSOLE_TEST_SCIM_TOKEN" in report.message


# ---- users ---------------------------------------------------------------------------------------
async def test_user_lifecycle(atlassian: AtlassianConnector, scim_directory) -> None:
    atlassian.app.features["delete"] = True
    attrs = atlassian.account_attributes(person(), "sso")
    account = await atlassian.create_user(attrs)
    assert account.name == "ada@corp.example" and account.attributes == attrs

    stored = scim_directory.get(f"/Users/{account.uid}").json()
    assert stored["externalId"] == "E100" and stored["department"] == "R&D"  # top level, as the spec offers
    assert (await atlassian.find_user(attrs)).uid == account.uid  # type: ignore[union-attr]
    assert (await atlassian.find_user({"userName": "ADA@corp.example"})).uid == account.uid  # type: ignore[union-attr]

    await atlassian.update_user(account.uid, {"title": "", "department": "Ops", "name.givenName": "Augusta Ada"})
    stored = scim_directory.get(f"/Users/{account.uid}").json()
    assert "title" not in stored and stored["name"]["givenName"] == "Augusta Ada"
    assert stored["department"] == "Ops"
    assert stored["displayName"] == "Ada Lovelace"  # untouched: only the changed attributes were sent

    assert await atlassian.deactivate_user(account.uid) == {}
    assert scim_directory.get(f"/Users/{account.uid}").json()["active"] is False
    await atlassian.reactivate_user(account.uid, {})
    assert scim_directory.get(f"/Users/{account.uid}").json()["active"] is True

    await atlassian.delete_user(account.uid)
    assert scim_directory.get(f"/Users/{account.uid}").status_code == 404
    await atlassian.delete_user(account.uid)  # 404 after delete = already gone
    with pytest.raises(NotFound):  # gone: the engine unlinks it (tests/test_stale_links.py)
        await atlassian.deactivate_user(account.uid)
    with pytest.raises(NotFound):
        await atlassian.reactivate_user(account.uid, {})
    with pytest.raises(NotFound):
        await atlassian.update_user(account.uid, {"title": "x"})


async def test_delete_is_refused_unless_the_application_deletes(atlassian: AtlassianConnector, scim_directory) -> None:
    account = await atlassian.create_user(atlassian.account_attributes(person(), "sso"))
    with pytest.raises(ConfigError, match="deleting is off"):
        await atlassian.delete_user(account.uid)
    assert scim_directory.get(f"/Users/{account.uid}").status_code == 200
    atlassian.app.deprovision = "delete"
    await atlassian.delete_user(account.uid)
    assert scim_directory.get(f"/Users/{account.uid}").status_code == 404


@pytest.mark.parametrize(("feature", "call"), [
    ("create", lambda c: c.create_user(c.account_attributes(person(), "sso"))),
    ("update", lambda c: c.update_user("x", {"title": "t"})),
    ("deactivate", lambda c: c.deactivate_user("x")),
    ("groups", lambda c: c.create_group("engineering")),
    ("memberships", lambda c: c.add_members("g", ["u"])),
])
async def test_an_operation_whose_feature_is_off_is_refused(atlassian: AtlassianConnector, scim_directory,
                                                          feature: str, call) -> None:
    atlassian.app.features[feature] = False
    with pytest.raises(ConfigError, match=f"features.{feature}=on"):
        await call(atlassian)
    assert scim_directory.users() == [] and scim_directory.groups() == []


async def test_create_adopts_an_existing_account_after_409(atlassian: AtlassianConnector, scim_directory) -> None:
    attrs = atlassian.account_attributes(person(), "sso")
    with scim_directory.client() as client:  # someone else provisioned her, with stale attributes
        existing = client.post("/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                               "userName": "ada@corp.example", "displayName": "A. L.",
                                                   "emails": [{"value": "ada@corp.example", "primary": True}],
                                               "active": False}).json()
    account = await atlassian.create_user(attrs)
    assert account.uid == existing["id"]
    (stored,) = scim_directory.users()
    assert stored["displayName"] == "Ada Lovelace" and stored["active"] is True and stored["externalId"] == "E100"
    again = await atlassian.create_user(attrs)  # a rerun links the same account again
    assert again.uid == existing["id"] and len(scim_directory.users()) == 1


async def test_update_to_a_taken_username_is_rejected_with_the_targets_message(atlassian: AtlassianConnector) -> None:
    first = await atlassian.create_user(atlassian.account_attributes(person(), "sso"))
    await atlassian.create_user(atlassian.account_attributes(GRACE, "sso"))
    with pytest.raises(Rejected) as caught:
        await atlassian.update_user(first.uid, {"userName": "grace@corp.example"})
    assert caught.value.status == 409
    assert "already in use" in caught.value.detail and "uniqueness" in caught.value.detail


async def test_listing_pages_through_more_than_250_users(atlassian: AtlassianConnector, scim_directory) -> None:
    people = [person(f"P{i:04d}", "Test", f"User{i}", f"user{i:04d}@corp.example") for i in range(263)]
    created = await asyncio.gather(*(atlassian.create_user(atlassian.account_attributes(u, "sso")) for u in people))
    listed = [account async for account in atlassian.list_users()]
    assert len(listed) == 263 and {a.uid for a in listed} == {a.uid for a in created}
    assert sorted(a.name for a in listed) == [f"user{i:04d}@corp.example" for i in range(263)]


async def test_unicode_names_round_trip_exactly(atlassian: AtlassianConnector, scim_directory) -> None:
    for employee_id, given, family, email in UNICODE_PEOPLE:
        attrs = atlassian.account_attributes(person(employee_id, given, family, email), "sso")
        account = await atlassian.create_user(attrs)
        stored = scim_directory.get(f"/Users/{account.uid}").json()
        assert (stored["name"]["givenName"], stored["name"]["familyName"]) == (given, family)
        assert stored["displayName"] == f"{given} {family}"
        found = await atlassian.find_user({"userName": email})
        assert found is not None and found.attrs == attrs
    listed = {a.attrs["externalId"]: a.attrs for a in [x async for x in atlassian.list_users()]}
    assert [(listed[e]["name.givenName"], listed[e]["name.familyName"]) for e, *_ in UNICODE_PEOPLE] == \
        [(g, f) for _, g, f, _ in UNICODE_PEOPLE]


# ---- groups --------------------------------------------------------------------------------------
async def test_group_lifecycle_with_membership_deltas(atlassian: AtlassianConnector, scim_directory) -> None:
    ada = await atlassian.create_user(atlassian.account_attributes(person(), "sso"))
    grace = await atlassian.create_user(atlassian.account_attributes(GRACE, "sso"))
    group = await atlassian.create_group("engineering")
    assert group.name == "engineering" and group.members == []
    assert (await atlassian.create_group("engineering")).uid == group.uid  # a rerun adopts, no duplicate
    assert len(scim_directory.groups()) == 1

    await atlassian.add_members(group.uid, [ada.uid, grace.uid])
    await atlassian.add_members(group.uid, [ada.uid])  # already a member: no change
    (listed,) = [g async for g in atlassian.list_groups()]
    assert sorted(listed.members) == sorted([ada.uid, grace.uid])

    await atlassian.remove_members(group.uid, [ada.uid])
    members = [m["value"] for m in scim_directory.get(f"/Groups/{group.uid}").json().get("members", [])]
    assert members == [grace.uid]  # a delta: Grace stays

    await atlassian.delete_group(group.uid)
    assert scim_directory.groups() == []
    await atlassian.delete_group(group.uid)  # already gone
    with pytest.raises(NotFound):
        await atlassian.add_members(group.uid, [ada.uid])


async def test_default_group_is_refused_with_a_clear_message(atlassian: AtlassianConnector, scim_directory) -> None:
    for name in ("jira-software-users", "site-admins", "confluence-users-acme"):
        with pytest.raises(Rejected, match=r"default or built-in group.*silently not sync"):
            await atlassian.create_group(name)
    assert scim_directory.groups() == []


# ---- dry run -------------------------------------------------------------------------------------
async def test_dry_run_reads_but_refuses_every_write(atlassian_app: Application, scim_directory) -> None:
    with scim_directory.client() as client:
        uid = client.post("/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                          "userName": "ada@corp.example",
                                          "emails": [{"value": "ada@corp.example", "primary": True}]}).json()["id"]
    atlassian_app.features["delete"] = True
    connector = make_target(atlassian_app, mode=Mode.DRY_RUN)
    try:
        assert (await connector.test()).ok
        assert [a.uid async for a in connector.list_users()] == [uid]
        writes = [
            connector.create_user(connector.account_attributes(person("E9", email="new@corp.example"), "sso")),
            connector.update_user(uid, {"title": "x"}), connector.deactivate_user(uid),
            connector.reactivate_user(uid, {}), connector.delete_user(uid), connector.create_group("engineering"),
            connector.add_members("g", [uid]), connector.remove_members("g", [uid]), connector.delete_group("g"),
        ]
        for write in writes:
            with pytest.raises(DryRunBlocked):
                await write
    finally:
        await connector.aclose()
    (stored,) = scim_directory.users()
    assert stored["id"] == uid and "title" not in stored and stored.get("active", True) is True
    assert scim_directory.groups() == []


async def test_a_409_that_matches_nobody_is_rejected_not_adopted(atlassian: AtlassianConnector, scim_faults, fault,
                                                                 atlassian_app: Application) -> None:
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "409", "scimType": "uniqueness",
            "detail": "Resource [USER]: with email[ada@corp.example] already exists."}
    transport = scim_faults(fault("status", 409, body=body, method="POST"))
    connector = AtlassianConnector(atlassian_app, transport=transport)
    try:
        with pytest.raises(Rejected) as caught:
            await connector.create_user(connector.account_attributes(person(), "sso"))
    finally:
        await connector.aclose()
    assert "already exists" in caught.value.detail and not isinstance(caught.value, AlreadyExists)
    assert transport.methods() == ["POST", "GET", "GET"]


async def test_connector_works_through_the_registry(atlassian_app: Application) -> None:
    connector = make_target(atlassian_app)
    try:
        assert isinstance(connector, AtlassianConnector)
        assert isinstance(connector.http.client, httpx.AsyncClient)
    finally:
        await connector.aclose()


async def test_a_url_that_is_not_a_scim_directory_fails_the_check_cleanly(atlassian_app: Application,
                                                                         oauth_token_server) -> None:
    # any local web server that is not SCIM will do: the token endpoint answers GET with an HTML page
    endpoint = oauth_token_server("x", "y", ["t"])
    connector = make_target(app_with(atlassian_app, settings={"base_url": endpoint.url.rsplit("/", 1)[0]}))
    try:
        report = await connector.test()
    finally:
        await connector.aclose()
    assert not report.ok and "not SCIM JSON" in report.message and "It works!" in report.message


def test_an_answer_that_is_not_utf8_is_still_decoded() -> None:
    # orjson reads the UTF-8 answers; JSON in UTF-16 (which httpx/json detect) falls back to httpx's decoding
    from console.connectors.atlassian.errors import decode

    request = httpx.Request("GET", "http://127.0.0.1/Users/x")
    for data in ('{"id": "é1", "userName": "ada"}'.encode("utf-16"), '{"id": "é1", "userName": "ada"}'.encode()):
        response = httpx.Response(200, content=data, headers={"content-type": "application/scim+json"},
                                  request=request)
        assert decode(response, "GET", "/Users/x", []) == {"id": "é1", "userName": "ada"}
    with pytest.raises(ConfigError, match="not SCIM JSON"):
        decode(httpx.Response(200, content=b"<html>It works!</html>", request=request), "GET", "/Users/x", [])


async def test_a_collection_url_joined_once_is_the_one_httpx_joins() -> None:
    from console.connectors.atlassian.auth import StaticKey
    from console.connectors.atlassian.http import ScimHttp

    for base in ("http://127.0.0.1:9/scim/directory/d1", "http://127.0.0.1:9/scim/directory/d1/"):
        http = ScimHttp(base, StaticKey("env:UNUSED"))
        try:
            for path in ("/Users", "/Groups", "/ServiceProviderConfig", "/Users/7f3a/x y"):
                joined = http.client.build_request("GET", path, params={"filter": 'userName eq "a b"'}).url
                assert http.client.build_request("GET", http._url(path),
                                                 params={"filter": 'userName eq "a b"'}).url == joined
            assert http._url("/Users") is http._url("/Users")  # joined once
        finally:
            await http.aclose()
