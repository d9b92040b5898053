"""Bitbucket → AD (with Exchange attributes) and Microsoft 365, against the real peers: the Bitbucket sandbox, a
Samba AD DC and the Graph sandbox through msgraph-sdk. A workspace of 150+ members over several pages — owners,
collaborators and members, two members sharing a nickname, non-Latin names — becomes people with accounts in both
targets; a rule group gives owners their groups; a promotion, a rename and a departure follow."""
from __future__ import annotations

import dataclasses

import pytest

from console.errors import DeletionRefused
from console.inbound.endpoints import default_endpoint, permissions_endpoint, save_endpoint
from console.models import Policy
from console.sandbox.bitbucket import make_membership
from console.service import Confirmation, Service
from console.store import Store
from tests.plugins.graph import FLOW_SKU

NAMES = ["Zoë Ångström", "李小龙", "Ольга Петрова", "Jürgen Groß", "Seán O'Brien", "محمد علي", "Nguyễn Văn An"]


def workspace(count: int = 152) -> list[dict]:
    members = []
    for i in range(count):
        permission = "owner" if i % 30 == 0 else "collaborator" if i % 10 == 0 else "member"
        name = NAMES[i] if i < len(NAMES) else f"Person{i:03d} Example"
        nickname = "ольга" if i == 2 else f"user{i:03d}"
        members.append(make_membership(f"557058:{i:04x}ab-{i:08d}-cafe-0000-{i:012d}", name, nickname=nickname,
                                       permission=permission))
    members.append(make_membership("712020:ffff0001-dup1-4000-8000-000000000001", "Alex First", nickname="alex"))
    members.append(make_membership("712020:ffff0002-dup2-4000-8000-000000000002", "Alex Second", nickname="alex"))
    return members


@pytest.fixture
def svc(tmp_path, bb_app, bb_sandbox, ad_app, graph_app):
    state = bb_sandbox.state
    for account_id in [m["user"]["account_id"] for m in state.members["acme"]]:
        state.remove_member(account_id)
    for member in workspace():
        state.add_member(member)
    store = Store.open(tmp_path / "home")
    service = Service(store, operator="tester")
    graph = dataclasses.replace(graph_app, settings={**graph_app.settings, "license_skus": [FLOW_SKU]})
    for app in (bb_app, ad_app, graph):
        store.applications.put(dataclasses.replace(app, threshold_count=10, threshold_percent=20))
    for endpoint in (default_endpoint("bb"), permissions_endpoint("bb")):
        endpoint.pagelen = 50  # several pages
        save_endpoint(store, endpoint)
    store.flush()
    yield service
    store.close()


async def test_a_workspace_becomes_people_with_ad_and_m365_accounts_and_roles_drive_groups(svc, bb_sandbox, ad_check,
                                                                                         ad_ous, graph_sandbox):
    imported = await svc.import_source("bb")
    assert imported.ok and imported.counts["joiners"] == 154 and imported.counts["skipped"] == 0
    assert imported.pages >= 8  # 154 members and their permissions, 50 a page
    names = {u.userName for u in svc.store.users}
    assert {"alex", "alex-0002"} <= names and "ольга" in names
    svc.create_group("workspace", rule='source == "bb"')
    svc.create_group("owners", rule='role == "owner"')
    for app in ("corp-ad", "m365"):
        svc.store.policies.put(Policy(name=f"everyone {app}", app=app, groups=["workspace"], login_method="password"))
        svc.store.policies.put(Policy(name=f"owners {app}", app=app, groups=["owners"], login_method="password"))
    svc.store.flush()
    owners = sorted(u.userName for u in svc.members(svc.group("owners")))
    assert len(owners) == 6

    plan = await svc.plan()
    assert not [op for op in plan.operations if op.blocked]
    creates = [op for op in plan.operations if op.action == "create"]
    assert len(creates) == 2 * 154
    assert any("(rule role == \"owner\")" in op.reason for op in creates)
    result = await svc.apply(plan, Confirmation())
    assert result.ok and result.failures == [], result.failures[:3]
    ad_users = ad_check.find(ad_ous["users"], "(objectClass=user)", ["employeeID", "displayName", "sAMAccountName"])
    assert len(ad_users) == 154 and not any(u.get("employeeID") for u in ad_users)  # no account id as employeeID
    graph_users = graph_sandbox.graph("GET", "/users?$top=999&$select=id,displayName,employeeId").json()["value"]
    assert len(graph_users) == 154 and not any(u.get("employeeId") for u in graph_users)
    (ad_owners,) = ad_check.find(ad_ous["groups"], "(cn=owners)", ["member"])
    assert len(ad_owners["member"]) == 6

    # a promotion: member -> owner in Bitbucket, re-import, the owners groups follow
    promoted = next(m for m in bb_sandbox.state.members["acme"] if m["permission"] == "member")
    promoted["permission"] = "owner"
    again = await svc.import_source("bb")
    assert again.counts["movers"] == 1
    assert len(svc.members(svc.group("owners"))) == 7
    plan = await svc.plan()
    assert sorted((op.app, op.action) for op in plan.operations) == [("corp-ad", "member_add"), ("m365", "member_add")]
    assert (await svc.apply(plan, Confirmation())).ok
    (ad_owners,) = ad_check.find(ad_ous["groups"], "(cn=owners)", ["member"])
    assert len(ad_owners["member"]) == 7

    # a rename (mover): every target is updated
    renamed = bb_sandbox.state.members["acme"][10]["user"]
    bb_sandbox.state.update_user(renamed["account_id"], display_name="Person010 Renamed")
    await svc.import_source("bb")
    plan = await svc.plan()
    assert sorted((op.app, op.action) for op in plan.operations) == [("corp-ad", "update"), ("m365", "update")]
    assert (await svc.apply(plan, Confirmation())).ok
    person = svc.store.users.by_key(renamed["account_id"])
    ad_link, graph_link = svc.links_of(person)["corp-ad"], svc.links_of(person)["m365"]
    assert ad_check.entry(ad_link.remote_id, ["displayName"])["displayName"] == ["Person010 Renamed"]
    assert graph_sandbox.graph("GET", f"/users/{graph_link.remote_id}").json()["displayName"] == "Person010 Renamed"

    # a departure: reported as a leaver, deprovisioned only after confirmation
    gone = bb_sandbox.state.members["acme"][20]["user"]["account_id"]
    bb_sandbox.state.remove_member(gone)
    left = await svc.import_source("bb")
    assert left.counts["leavers"] == 1
    plan = await svc.plan()
    assert sorted((op.app, op.action) for op in plan.operations if op.action == "deactivate") == \
        [("corp-ad", "deactivate"), ("m365", "deactivate")]
    with pytest.raises(DeletionRefused):
        await svc.apply(plan, Confirmation())
    assert (await svc.apply(plan, Confirmation(yes=True))).ok
    link = svc.links_of(svc.store.users.by_key(gone))["corp-ad"]
    assert link.state == "deactivated"
    assert (await svc.plan()).operations == []


def seed_one_app(tmp_path, graph_app) -> Service:
    from console.models import User

    store = Store.open(tmp_path / "home")
    svc = Service(store, operator="tester")
    store.applications.put(graph_app)
    for key, name in (("E1", "ana.ortiz"), ("E2", "bo.li")):
        store.users.put(User(employeeId=key, userName=name, givenName=name.split(".")[0].title(),
                             familyName=name.split(".")[1].title(), attributes={"role": "owner" if key == "E1" else ""}))
    store.flush()
    svc.create_group("owners", rule='role == "owner"')
    store.policies.put(Policy(name="owners", app="m365", groups=["owners"], login_method="password"))
    store.flush()
    return svc


async def test_provision_person_applies_only_that_persons_operations_and_traces_each_step(tmp_path, graph_app,
                                                                                        graph_sandbox):
    svc = seed_one_app(tmp_path, graph_app)
    svc.add_user(employeeId="E3", userName="cy.owner", givenName="Cy", familyName="Owner", email="cy@example.com")
    svc.edit_user("cy.owner", attributes={"role": "owner"})
    trace = await svc.provision_person("ana.ortiz")
    assert trace.ok and trace.result is not None and trace.result.ok
    assert [(s.app, s.step) for s in trace.steps][:3] == [("m365", "scope"), ("m365", "match"), ("m365", "action")]
    assert trace.steps[0].text == 'in scope: member of owners (rule role == "owner") (policy owners)'
    assert any(s.step == "result" and s.text.startswith("create: success") for s in trace.steps)
    upns = [u["userPrincipalName"] for u in graph_sandbox.graph("GET", "/users").json()["value"]]
    assert upns == ["ana.ortiz@contoso.com"]  # only this person, not cy.owner
    svc.close()


def test_cli_sync_user_prints_the_trace_and_asks_confirmation_for_a_deprovision(tmp_path, graph_app, graph_sandbox,
                                                                              capsys):
    from console.cli import main

    seed_one_app(tmp_path, graph_app).close()
    home = str(tmp_path / "home")
    assert main(["sync", "--user", "ana.ortiz", "--home", home]) == 0
    out = capsys.readouterr().out
    assert "scope   ok     in scope: member of owners" in out and "create: success" in out
    assert main(["sync", "--user", "ana.ortiz", "--home", home]) == 0
    out = capsys.readouterr().out
    assert "matched to ana.ortiz@contoso.com" in out and "none: the account is up to date" in out
    assert main(["sync", "--user", "bo.li", "--json", "--home", home]) == 0
    assert "not in scope: is in no group of an enabled policy for m365; nothing to do" in capsys.readouterr().out
    with Service.open(home) as again:
        again.edit_user("ana.ortiz", attributes={"role": "member"})  # out of the rule group: a deprovision
    assert main(["sync", "--user", "ana.ortiz", "--home", home]) == 2  # needs confirmation, like any deprovision
    assert "confirm" in capsys.readouterr().err.lower()
    assert main(["sync", "--user", "ana.ortiz", "--yes", "--allow-deletes", "1", "--home", home]) == 0
    out = capsys.readouterr().out
    assert "out of scope: is in no group" in out and "deactivate" in out
