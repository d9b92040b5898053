"""The Graph connector drives msgraph-sdk against the Graph sandbox through a person's whole lifecycle."""
from __future__ import annotations

import logging
from typing import Any

import pytest

from console.connectors import Mode, make_target
from console.connectors.graph import GraphConnector
from console.errors import DryRunBlocked
from console.models import Application, User
from console.sandbox.graph_schema import DEFAULT_SKUS

E3 = DEFAULT_SKUS[0]["skuId"]


def person(**overrides: Any) -> User:
    values = {"employeeId": "E1001", "userName": "zoe.lukasiewicz", "givenName": "Zoë", "familyName": "Łukasiewicz",
              "emails": ["zoe.lukasiewicz@contoso.com"], "department": "Research", "title": "Engineer"}
    return User(**{**values, **overrides})


def remote(sandbox: Any, uid: str) -> dict[str, Any]:
    select = ("id,userPrincipalName,displayName,givenName,surname,department,jobTitle,accountEnabled,mail,"
              "assignedLicenses,usageLocation,signInSessionsValidFromDateTime,employeeId")
    response = sandbox.graph("GET", f"/users/{uid}", params={"$select": select})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_full_lifecycle_create_update_disable_enable_groups_delete_restore(
        graph_connector: GraphConnector, graph_sandbox: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    conn = graph_connector
    attrs = conn.account_attributes(person(), "password")
    account = await conn.create_user(attrs)
    upn = "zoe.lukasiewicz@contoso.com"
    assert account.name == upn and account.attributes["licenses"] == [E3]
    password = account.initial_password
    assert graph_sandbox.sign_in(upn, password) == "ok"  # the one-time password really is the account's
    created = remote(graph_sandbox, account.uid)
    assert created["usageLocation"] == "DE" and [lic["skuId"] for lic in created["assignedLicenses"]] == [E3]
    assert created["mail"] == upn  # the Exchange Online licence brought the mailbox

    await conn.update_user(account.uid, {"department": "", "jobTitle": "Principal Engineer"})
    updated = remote(graph_sandbox, account.uid)
    assert updated["department"] is None and updated["jobTitle"] == "Principal Engineer"

    remembered = await conn.deactivate_user(account.uid)
    disabled = remote(graph_sandbox, account.uid)
    assert disabled["accountEnabled"] is False and disabled["assignedLicenses"] == []
    assert remembered["licenses"] == [E3]
    assert graph_sandbox.sign_in(upn, password).startswith("AADSTS50057")  # disabled
    revokes = graph_sandbox.requests("POST /users/{id}/revokeSignInSessions")
    assert [(r["path"], r["status"]) for r in revokes] == [(f"/users/{account.uid}/revokeSignInSessions", 200)]

    await conn.reactivate_user(account.uid, remembered)
    enabled = remote(graph_sandbox, account.uid)
    assert enabled["accountEnabled"] is True and [lic["skuId"] for lic in enabled["assignedLicenses"]] == [E3]

    group = await conn.create_group("Research & Development. (EU)", "all researchers")
    await conn.add_members(group.uid, [account.uid])
    await conn.add_members(group.uid, [account.uid])  # "already exist" counts as success
    listed = [g async for g in conn.list_groups()]
    assert [(g.name, g.members) for g in listed] == [("Research & Development. (EU)", [account.uid])]
    assert listed[0].attrs["securityEnabled"] is True and listed[0].attrs["mailNickname"] == "Research-Development-EU"
    await conn.remove_members(group.uid, [account.uid])
    await conn.remove_members(group.uid, [account.uid])  # "do not exist" counts as success
    await conn.add_members(group.uid, [account.uid])

    await conn.delete_user(account.uid)
    await conn.delete_user(account.uid)  # already gone is fine
    assert await conn.find_user(attrs) is None
    await conn.reactivate_user(account.uid, {})  # restores from deleted items, then enables
    back = remote(graph_sandbox, account.uid)
    assert back["accountEnabled"] is True and back["displayName"] == "Zoë Łukasiewicz"
    members = graph_sandbox.graph("GET", f"/groups/{group.uid}/members").json()["value"]
    assert [m["id"] for m in members] == [account.uid]  # restore brings memberships back

    await conn.delete_group(group.uid)
    assert [g async for g in conn.list_groups()] == []
    await conn.delete_group(group.uid)  # security groups are gone for good; deleting again is fine
    assert password not in caplog.text  # the one-time password is returned once, never logged


async def test_licence_configuration_changes_reach_existing_accounts(graph_connector: GraphConnector,
                                                                     graph_sandbox: Any) -> None:
    account = await graph_connector.create_user(graph_connector.account_attributes(person(), "sso"))
    flow = DEFAULT_SKUS[2]["skuId"]
    graph_connector.license_skus = [E3, flow]
    desired = graph_connector.account_attributes(person(), "sso")
    assert desired["licenses"] == sorted([E3, flow]) != account.attributes["licenses"]
    await graph_connector.update_user(account.uid, {"licenses": desired["licenses"]})
    held = remote(graph_sandbox, account.uid)["assignedLicenses"]
    assert sorted(lic["skuId"] for lic in held) == sorted([E3, flow])
    await graph_connector.update_user(account.uid, {"licenses": [flow]})  # never removes: others may assign too
    assert len(remote(graph_sandbox, account.uid)["assignedLicenses"]) == 2


async def test_restore_user_after_delete(graph_connector: GraphConnector, graph_sandbox: Any) -> None:
    account = await graph_connector.create_user(graph_connector.account_attributes(person(), "sso"))
    await graph_connector.delete_user(account.uid)
    deleted = graph_sandbox.graph("GET", "/directory/deletedItems/microsoft.graph.user").json()["value"]
    assert [u["id"] for u in deleted] == [account.uid]
    restored = await graph_connector.restore_user(account.uid)
    assert restored.uid == account.uid and restored.name == account.name
    assert graph_sandbox.graph("GET", "/directory/deletedItems/microsoft.graph.user").json()["value"] == []


async def test_create_adopts_existing_user_with_same_upn_or_mail(graph_connector: GraphConnector,
                                                                 graph_sandbox: Any) -> None:
    graph_sandbox.reset([
        {"id": "11111111-1111-4111-8111-111111111111", "userPrincipalName": "zoe.lukasiewicz@contoso.com",
         "displayName": "Zoe L (manual)", "accountEnabled": False},
        {"id": "22222222-2222-4222-8222-222222222222", "userPrincipalName": "max.old@contoso.com",
         "mail": "max@contoso.com", "displayName": "Max", "accountEnabled": True},
    ])
    account = await graph_connector.create_user(graph_connector.account_attributes(person(), "sso"))
    assert account.uid == "11111111-1111-4111-8111-111111111111" and account.adopted is True
    assert account.initial_password is None
    adopted = remote(graph_sandbox, account.uid)
    assert adopted["displayName"] == "Zoë Łukasiewicz" and adopted["accountEnabled"] is True
    assert [lic["skuId"] for lic in adopted["assignedLicenses"]] == [E3]

    by_mail = graph_connector.account_attributes(person(employeeId="E2", userName="max", givenName="Max",
                                                        familyName="Mustermann", emails=["max@contoso.com"]), "sso")
    found = await graph_connector.create_user(by_mail)
    assert found.uid == "22222222-2222-4222-8222-222222222222"
    assert len(graph_sandbox.requests("POST /users")) == 0  # nothing was created, nothing duplicated
    assert len(graph_sandbox.graph("GET", "/users").json()["value"]) == 2


async def test_create_restores_a_deleted_user_holding_the_upn(graph_connector: GraphConnector,
                                                              graph_sandbox: Any) -> None:
    attrs = graph_connector.account_attributes(person(), "sso")
    first = await graph_connector.create_user(attrs)
    await graph_connector.delete_user(first.uid)
    again = await graph_connector.create_user(attrs)
    assert again.uid == first.uid and again.attributes["restored"] is True
    assert len(graph_sandbox.requests("POST /users")) == 1


async def test_create_restores_the_right_deleted_account_among_several(graph_connector: GraphConnector,
                                                                        graph_sandbox: Any) -> None:
    """Deleted users are found by the rewritten UPN (object id in front), not the plain one; others are left."""
    attrs = graph_connector.account_attributes(person(), "sso")
    other = graph_connector.account_attributes(person(employeeId="E9", userName="bo.other", givenName="Bo",
                                                      familyName="Other", emails=["bo.other@contoso.com"]), "sso")
    mine = await graph_connector.create_user(attrs)
    theirs = await graph_connector.create_user(other)
    await graph_connector.delete_user(theirs.uid)
    await graph_connector.delete_user(mine.uid)
    deleted = graph_sandbox.graph("GET", "/directory/deletedItems/microsoft.graph.user").json()["value"]
    assert {u["userPrincipalName"] for u in deleted} == {mine.uid.replace("-", "") + attrs["userPrincipalName"],
                                                         theirs.uid.replace("-", "") + other["userPrincipalName"]}
    again = await graph_connector.create_user(attrs)
    assert again.uid == mine.uid and again.attributes["restored"] is True
    assert graph_sandbox.graph("GET", f"/users/{mine.uid}").json()["userPrincipalName"] == attrs["userPrincipalName"]
    assert [u["id"] for u in graph_sandbox.graph("GET", "/directory/deletedItems/microsoft.graph.user").json()[
        "value"]] == [theirs.uid]


async def test_dry_run_reads_but_blocks_every_write(graph_app: Application, graph_sandbox: Any) -> None:
    conn = make_target(graph_app, mode=Mode.DRY_RUN)
    try:
        attrs = conn.account_attributes(person(), "sso")
        assert await conn.find_user(attrs) is None
        with pytest.raises(DryRunBlocked):
            await conn.create_user(attrs)
        for write in (conn.update_user("x", {"department": "A"}), conn.delete_user("x"), conn.create_group("G"),
                      conn.add_members("g", ["x"]), conn.remove_members("g", ["x"]), conn.restore_user("x")):
            with pytest.raises(DryRunBlocked):
                await write
    finally:
        await conn.aclose()
    methods = {entry["method"] for entry in graph_sandbox.requests()}
    assert methods == {"GET"}


async def test_unicode_names_round_trip_exactly(graph_connector: GraphConnector, graph_sandbox: Any) -> None:
    people = [person(employeeId="U1", userName="zoë", givenName="Zoë", familyName="Ørsted-Łęcka", emails=[]),
              person(employeeId="U2", userName="taro", givenName="太郎", familyName="山田", displayName="山田 太郎",
                     emails=["山田@example.jp"]),
              person(employeeId="U3", userName="søren", givenName="Søren", familyName="Kierkegaard 🎓", emails=[])]
    for someone in people:
        await graph_connector.create_user(graph_connector.account_attributes(someone, "sso"))
    listed = {a.name: a.attrs async for a in graph_connector.list_users()}
    assert sorted(listed) == ["soren@contoso.com", "taro@contoso.com", "zoe@contoso.com"]
    assert (listed["zoe@contoso.com"]["givenName"], listed["zoe@contoso.com"]["surname"]) == ("Zoë", "Ørsted-Łęcka")
    assert listed["taro@contoso.com"]["displayName"] == "山田 太郎"
    assert listed["soren@contoso.com"]["surname"] == "Kierkegaard 🎓"
    found = await graph_connector.find_user({"userPrincipalName": "zoe@contoso.com"})
    assert found is not None and found.attrs["displayName"] == "Zoë Ørsted-Łęcka"
