"""The engine driving the AD connector (real Samba DC) and the Graph connector (sandbox through msgraph-sdk)."""
from __future__ import annotations

import dataclasses

import orjson

from console.models import Group, Policy, User
from console.reports import ReportFilter
from console.sandbox.graph import SANDBOX_CLIENT_SECRET
from console.service import Confirmation, Service
from console.store import Store

PEOPLE = [("E1", "zoe.angstrom", "Zoë", "Ångström"), ("E2", "sean.obrien", "Seán", "O'Brien"),
          ("E3", "bob.admin", "Bob", "(Admin)"), ("E4", "john.smith", "John", "Smith, Jr")]


def seed(tmp_path, app, domain: str) -> Service:
    store = Store.open(tmp_path / "home")
    svc = Service(store, operator="tester")
    people = [User(employeeId=k, userName=u, givenName=g, familyName=f, emails=[f"{u}@{domain}"]) for k, u, g, f in PEOPLE]
    store.users.put_many(people)
    store.groups.put(Group(name="staff", members=[p.id for p in people]))
    store.applications.put(dataclasses.replace(app))
    store.policies.put(Policy(name="all", app=app.name, groups=["staff"], login_method="password"))
    store.flush()
    return svc


async def test_ad_accounts_created_passwords_shown_once_leaver_disabled_and_restored(tmp_path, ad_app, ad_check,
                                                                                  ad_ous, monkeypatch):
    ad_app.settings.pop("password_file")
    svc = seed(tmp_path, ad_app, "idc.test")
    result = await svc.apply(await svc.plan("corp-ad"), Confirmation(yes=True))
    assert result.ok, result.failures
    users = ad_check.find(ad_ous["users"], "(objectClass=user)")
    assert len(users) == 4
    assert len(result.initial_passwords) == 4  # each shown once to the operator ...
    state = (svc.store.home / "state.json").read_bytes()
    events = b"".join(p.read_bytes() for p in (svc.store.home / "events").glob("*.jsonl"))
    for password in result.initial_passwords.values():  # ... and never written anywhere
        assert password.encode() not in state and password.encode() not in events
    group = ad_check.find(ad_ous["groups"], "(cn=staff)")
    assert len(group) == 1

    svc.edit_user("sean.obrien", status="leaver")
    plan = await svc.plan("corp-ad")
    assert [(op.action, op.person) for op in plan.operations] == [("deactivate", "sean.obrien")]
    assert plan.apps[0].threshold_exceeded()  # 1 of 4 linked is over 20 %: the exact number must be confirmed
    assert (await svc.apply(plan, Confirmation(yes=True, count=1))).ok
    assert len(ad_check.find(ad_ous["disabled"], "(objectClass=user)")) == 1
    svc.edit_user("sean.obrien", status="active")
    plan = await svc.plan("corp-ad")
    assert [op.action for op in plan.operations] == ["reactivate", "member_add"]  # restored, then confirmed
    assert (await svc.apply(plan, Confirmation(yes=True))).ok
    assert len(ad_check.find(ad_ous["users"], "(objectClass=user)")) == 4
    assert await svc.plan("corp-ad") and (await svc.plan("corp-ad")).operations == []
    svc.store.close()


async def test_graph_accounts_created_updated_and_deprovisioned_through_the_engine(tmp_path, graph_app, graph_sandbox):
    svc = seed(tmp_path, graph_app, "contoso.com")
    result = await svc.apply(await svc.plan("m365"), Confirmation(yes=True))
    assert result.ok, result.failures
    listed = graph_sandbox.graph("GET", "/users", params={"$top": "999"}).json()["value"]
    assert sorted(u["displayName"] for u in listed) == sorted(f"{g} {f}" for _, _, g, f in PEOPLE)
    svc.edit_user("zoe.angstrom", title="CTO")
    svc.edit_user("john.smith", status="leaver")
    plan = await svc.plan("m365")
    assert sorted(op.action for op in plan.operations if op.person_id) == ["deactivate", "update"]
    assert (await svc.apply(plan, Confirmation(yes=True, count=1))).ok
    john = next(u for u in graph_sandbox.graph("GET", "/users", params={"$top": "999", "$select": "displayName,accountEnabled"}).json()["value"]
                if u["displayName"] == "John Smith, Jr")
    assert john["accountEnabled"] is False
    report = svc.report(ReportFilter(app="m365"))
    assert {e.action for e in report} >= {"create", "update", "deactivate", "group_create", "member_add"}
    assert SANDBOX_CLIENT_SECRET.encode() not in orjson.dumps([e.to_doc() for e in report])
    svc.store.close()
