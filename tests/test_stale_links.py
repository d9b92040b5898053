"""Stale links, against a real SCIM directory (scim2-server as Atlassian): an account deleted outside idconsole is
re-created while its person is still entitled, unlinked when not, each with an event that says so, and
`plan --reconcile` shows it beforehand."""
from __future__ import annotations

from console.reports import ReportFilter
from console.service import Confirmation, Service
from tests.plugins.scim import ScimDirectory

APP = "bitbucket-cloud"


def delete_remotely(directory: ScimDirectory, user_name: str) -> str:
    (account,) = directory.users(userName=user_name)
    with directory.client() as client:
        assert client.delete(f"/Users/{account['id']}").status_code == 204
    return str(account["id"])


def person_with_account(svc: Service):  # type: ignore[no-untyped-def]
    person = svc.in_scope(svc.policy("bitbucket-engineering"))[0]
    link = svc.links_of(person)[APP]
    return person, link


async def test_an_account_deleted_outside_is_recreated_for_an_entitled_person(org_service, scim_directory):
    svc = org_service
    await svc.apply(await svc.plan(APP), Confirmation(yes=True))
    person, link = person_with_account(svc)
    old_id = delete_remotely(scim_directory, link.remote_name)

    plan = await svc.plan(APP, reconcile=True)  # shown before anything is written
    (app_plan,) = plan.apps
    assert any("missing in the target" in f for item in app_plan.drift for f in item["fields"])
    recreate = [op for op in app_plan.operations if op.person_id == person.id]
    assert [op.action for op in recreate] == ["create"] and "deleted outside idconsole" in recreate[0].reason

    result = await svc.apply(plan, Confirmation(yes=True))
    assert result.ok, result.failures
    (account,) = scim_directory.users(userName=link.remote_name)
    new_link = svc.links_of(person)[APP]
    assert account["id"] != old_id and new_link.remote_id == account["id"] and new_link.state == "active"


async def test_a_change_to_an_account_deleted_outside_recreates_it(org_service, scim_directory):
    svc = org_service
    await svc.apply(await svc.plan(APP), Confirmation(yes=True))
    person, link = person_with_account(svc)
    delete_remotely(scim_directory, link.remote_name)
    svc.edit_user(person.userName, title="Principal Engineer")  # an update, planned without a remote read

    result = await svc.apply(await svc.plan(APP), Confirmation(yes=True))
    assert result.ok, result.failures
    (account,) = scim_directory.users(userName=link.remote_name)
    assert account["title"] == "Principal Engineer" and svc.links_of(person)[APP].remote_id == account["id"]
    (event,) = [e for e in svc.report(ReportFilter(person=person.userName, action="update")) if e.run == result.run_id]
    assert event.status == "success" and event.message.startswith("re-created: the account")


async def test_a_leaver_whose_account_was_deleted_outside_is_unlinked(org_service, scim_directory):
    svc = org_service
    await svc.apply(await svc.plan(APP), Confirmation(yes=True))
    person, link = person_with_account(svc)
    delete_remotely(scim_directory, link.remote_name)
    svc.edit_user(person.userName, status="leaver")

    result = await svc.apply(await svc.plan(APP), Confirmation(yes=True))
    assert result.ok, result.failures
    assert svc.links_of(person)[APP].state == "deleted"
    (event,) = [e for e in svc.report(ReportFilter(person=person.userName, action="deactivate"))
                if e.run == result.run_id]
    assert "unlinked: the account was already gone" in event.message
    assert (await svc.plan(APP)).apps[0].operations == [] or all(
        op.person_id != person.id for op in (await svc.plan(APP)).apps[0].operations)
