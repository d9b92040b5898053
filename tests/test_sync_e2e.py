"""The engine end to end against a real SCIM directory (scim2-server): sync, rerun, dry run, kill and rerun."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from console.errors import BadInput, DeletionRefused
from console.models import User
from console.reports import ReportFilter
from console.service import Confirmation
from console.store import Store

APP = "bitbucket-cloud"


def entitled(svc) -> list:
    return svc.in_scope(svc.policy("bitbucket-engineering"))


async def test_sample_org_synced_to_scim_holds_every_account_and_the_report_shows_one_create_each(org_service, scim_directory):
    svc = org_service
    people = entitled(svc)
    assert len(people) > 100
    plan = await svc.plan(APP)
    result = await svc.apply(plan, Confirmation(yes=True))
    assert result.ok, result.failures
    remote = scim_directory.users()
    assert sorted(u["userName"] for u in remote) == sorted(p.email for p in people)
    assert {u["externalId"] for u in remote} == {p.employeeId for p in people}
    creates = svc.report(ReportFilter(app=APP, action="create", run=result.run_id))
    assert sorted(e.person for e in creates) == sorted(p.label() for p in people)
    assert all(e.status == "success" and e.operator == "tester" for e in creates)
    group = next(g for g in scim_directory.groups() if g["displayName"] == "atlassian-users")
    assert len(group["members"]) == len(people)
    # one person's report by e-mail finds their create
    person = people[0]
    assert [e.action for e in svc.report(ReportFilter(person=person.email, app=APP))] == ["create"]


async def test_rerunning_a_finished_sync_plans_and_writes_nothing(org_service, scim_directory):
    svc = org_service
    await svc.apply(await svc.plan(APP), Confirmation(yes=True))
    before = scim_directory.users()
    plan = await svc.plan(APP)
    assert plan.operations == []
    result = await svc.apply(plan, Confirmation(yes=True))
    assert result.counts == {} and scim_directory.users() == before


async def test_mover_and_leaver_reach_the_directory(org_service, scim_directory):
    svc = org_service
    await svc.apply(await svc.plan(APP), Confirmation(yes=True))
    mover, leaver = entitled(svc)[:2]
    svc.edit_user(mover.userName, title="Principal Engineer")
    svc.edit_user(leaver.userName, status="leaver")
    plan = await svc.plan(APP)
    assert sorted(op.action for op in plan.operations if op.person_id) == ["deactivate", "update"]
    update = next(op for op in plan.operations if op.action == "update")
    assert update.changes["title"][1] == "Principal Engineer"
    with pytest.raises(BadInput, match="needs confirmation"):
        await svc.apply(plan)  # a deprovision without confirmation is refused
    result = await svc.apply(plan, Confirmation(yes=True))
    assert result.ok, result.failures
    assert scim_directory.users(userName=mover.email)[0]["title"] == "Principal Engineer"
    assert scim_directory.users(userName=leaver.email)[0]["active"] is False


async def test_dry_run_sends_no_write_to_the_target(org_service, scim_directory):
    svc = org_service
    plan = await svc.plan(APP)
    result = await svc.apply(plan, dry_run=True)
    assert scim_directory.users() == [] and scim_directory.groups() == []
    assert len(result.would) == len(plan.operations)
    assert svc.report(ReportFilter(app=APP)) == []


async def test_mass_deprovision_is_refused_whole_until_the_exact_number_is_confirmed(org_service, scim_directory):
    svc = org_service
    await svc.apply(await svc.plan(APP), Confirmation(yes=True))
    svc.set_policy_enabled("bitbucket-engineering", False)
    plan = await svc.plan(APP)
    count = len(plan.apps[0].deprovisions)
    assert count > 10
    with pytest.raises(DeletionRefused):
        await svc.apply(plan, Confirmation(yes=True))
    with pytest.raises(DeletionRefused):
        await svc.apply(plan, Confirmation(yes=True, count=count - 1))
    with pytest.raises(DeletionRefused, match="confirms a count"):
        await svc.apply(plan, Confirmation(count=count))  # a count alone never replaces the confirmation
    assert all(u["active"] for u in scim_directory.users())  # nothing applied
    result = await svc.apply(plan, Confirmation(yes=True, count=count))
    assert result.ok and not any(u["active"] for u in scim_directory.users())


def test_sync_killed_mid_run_and_started_again_finishes_without_duplicates(org_service, scim_directory, tmp_path):
    svc = org_service
    home = svc.store.home
    # enough people (and a low concurrency) that the run takes seconds and the kill lands in the middle
    extra = [User(employeeId=f"X{i:05d}", userName=f"extra{i}", givenName="Extra", familyName=f"Person{i}",
                  emails=[f"extra{i}@northwind.example"]) for i in range(1500)]
    svc.store.users.put_many(extra)
    group = svc.group("atlassian-users")
    group.members = group.members + [u.id for u in extra]
    svc.store.groups.put(group)
    app = svc.app(APP)
    app.max_concurrency = 2
    svc.store.applications.put(app)
    svc.store.flush()
    people = entitled(svc)
    svc.store.close()
    env = {**os.environ, "IDCONSOLE_HOME": str(home)}
    cmd = [sys.executable, "-m", "console", "sync", "--app", APP, "--yes", "--json"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(scim_directory.users()) < 20:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = len(scim_directory.users())
    assert 0 < partial < len(people), "the kill should land mid-run"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    remote = scim_directory.users()
    names = [u["userName"] for u in remote]
    assert len(names) == len(set(names)) == len(people)
    with Store.open(home, readonly=True) as store:
        assert len([link for link in store.links.for_app(APP) if link.state == "active"]) == len(people)
        runs = sorted(store.runs.all(), key=lambda r: r.started)
        assert [r.status for r in runs] == ["interrupted", "success"]
        # what was in flight when the process died is in the report as unknown, resolved by the rerun's look-ups
        unknown = store.events.query(status="unknown")
        assert unknown and {e.run for e in unknown} == {runs[0].id}
        assert all(runs[1].id[:8] in e.message for e in unknown)
        assert store.events.journals() == []
    again = subprocess.run([sys.executable, "-m", "console", "plan", "--app", APP, "--json"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert '"operations": []' in again.stdout
