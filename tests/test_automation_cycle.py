"""Unattended cycles against the real peers (the Bitbucket sandbox as the source, the Graph sandbox as the target):
joiners provisioned, deprovisions held unless an operator allowed them, a failed or empty read changes nobody,
cycles never overlap, initial passwords only in their private file."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from console.errors import StateLocked
from console.models import Group, Policy
from console.service import Service
from console.storage import HomeLock
from console.store import Store

from console.sandbox.graph import SANDBOX_CLIENT_SECRET
from tests.plugins.bitbucket import BB_SECRET
from tests.plugins.core import CliRunner
from tests.plugins.graph import GRAPH_SECRET_ENV


@pytest.fixture
def svc(bb_store: Store, graph_app, monkeypatch: pytest.MonkeyPatch) -> Service:
    bb_store.applications.put(graph_app)
    bb_store.groups.put(Group(name="everyone", rule='source == "bb"'))  # a rule group: the workspace's people
    bb_store.policies.put(Policy(name="m365-everyone", app="m365", groups=["everyone"], login_method="password"))
    bb_store.flush()
    return Service(bb_store, operator="cycle-test")


def graph_users(graph_sandbox) -> dict[str, dict]:
    body = graph_sandbox.graph("GET", "/users", params={"$select": "userPrincipalName,accountEnabled,displayName"}).json()
    return {u["userPrincipalName"].split("@")[0]: u for u in body["value"]}


async def test_a_cycle_imports_recomputes_plans_applies_and_records_itself(svc, graph_sandbox):
    report = await svc.run_cycle()
    assert report.outcome == "success", report.summary()
    assert [(s.app, s.status, s.counts["joiners"]) for s in report.sources] == [("bb", "success", 6)]
    assert report.rule_groups == ["everyone"]
    assert report.counts["m365"]["success"] >= 6
    assert {"alice", "bob", "zoe", "xiaolong", "carol", "dan"} <= set(graph_users(graph_sandbox))

    (run,) = [r for r in svc.store.runs if r.kind == "cycle"]
    assert run.status == "success" and run.counts["passwords_written"] == 6
    (event,) = svc.store.events.query(action="cycle")
    assert event.run == run.id and event.status == "success"
    assert svc.automation_status().last["run_id"] == run.id

    again = await svc.run_cycle()  # nothing changed: nothing to do
    assert again.outcome == "success" and again.counts.get("m365", {}).get("success", 0) == 0


async def test_initial_passwords_go_only_to_the_owner_only_file(svc, graph_sandbox, tmp_path: Path):
    target = tmp_path / "vault" / "passwords"
    target.parent.mkdir(mode=0o700)
    svc.set_automation({"password_file": str(target)})
    report = await svc.run_cycle()
    lines = target.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 6 and stat.S_IMODE(os.stat(target).st_mode) == 0o600
    passwords = [line.split("\t")[-1] for line in lines]
    assert all(len(p) >= 12 for p in passwords)
    dumped = json.dumps(report.to_dict()) + report.summary() + svc.store.path.read_text(encoding="utf-8")
    dumped += "".join(p.read_text(encoding="utf-8") for p in (svc.home / "events").glob("*.jsonl"))
    assert not any(p in dumped for p in passwords)
    graph_sandbox.sign_in(f"{lines[0].split(chr(9))[2].split(': ')[1]}@contoso.com", passwords[0])

    os.chmod(target, 0o644)  # someone loosened it: the next cycle refuses before creating anything
    with pytest.raises(Exception, match="may be read by others"):
        await svc.run_cycle()


async def test_a_leaver_is_held_until_an_operator_allows_unattended_deprovisions(svc, graph_sandbox, bb_sandbox):
    await svc.run_cycle()
    bb_sandbox.state.remove_member("557058:aa06")  # dan leaves the workspace
    held = await svc.run_cycle()
    assert held.outcome == "held"
    (item,) = held.held
    assert (item.app, item.kind, item.people) == ("m365", "deprovision", ["dan"])
    assert "no standing confirmation" in item.reason and "Deletions" in item.hint
    assert graph_users(graph_sandbox)["dan"]["accountEnabled"] is True
    assert svc.store.events.query(action="deprovisions_held")[0].app == "m365"
    assert svc.automation_status().held[0]["people"] == ["dan"]

    svc.allow_unattended_deletes("m365", 2)
    done = await svc.run_cycle()
    assert done.outcome == "success" and not done.held
    assert done.counts["m365"]["success"] >= 1
    assert graph_users(graph_sandbox).get("dan", {}).get("accountEnabled") in (False, None)


async def test_a_threshold_breach_holds_that_application_only_and_the_rest_of_the_cycle_goes_on(svc, graph_sandbox,
                                                                                                bb_sandbox):
    await svc.run_cycle()
    svc.allow_unattended_deletes("m365", 5)
    with svc.store.writing():
        m365, bb = svc.store.applications.by_name("m365"), svc.store.applications.by_name("bb")
        m365.threshold_count = 1  # lowered after the permission: the threshold still wins
        bb.threshold_percent = 50
        svc.store.applications.put_many([m365, bb])
    bb_sandbox.state.remove_member("557058:aa05")
    bb_sandbox.state.remove_member("557058:aa06")
    bb_sandbox.state.update_user("557058:aa01", display_name="Alice Smith-Jones")  # a mover in the same cycle
    report = await svc.run_cycle()
    assert report.outcome == "held"
    (item,) = report.held
    assert item.app == "m365" and sorted(item.people) == ["carol", "dan"] and "threshold" in item.reason
    users = graph_users(graph_sandbox)
    assert users["carol"]["accountEnabled"] is True and users["dan"]["accountEnabled"] is True
    assert users["alice"]["displayName"] == "Alice Smith-Jones"


async def test_a_failed_bitbucket_read_changes_nobody(svc, graph_sandbox, bb_sandbox, monkeypatch):
    await svc.run_cycle()
    svc.allow_unattended_deletes("m365", 5)
    with svc.store.writing():
        alice = svc.store.users.by_key("557058:aa01")
        alice.title = "Engineer"  # a local change that a sync would push
        svc.store.users.put(alice)
    monkeypatch.setenv("BB_TEST_SECRET", "not-the-secret")
    bb_sandbox.state.remove_member("557058:aa06")
    before = graph_users(graph_sandbox)
    report = await svc.run_cycle()
    assert report.outcome == "failure" and report.sources[0].status == "failure"
    assert "applied nothing" in report.stopped and not report.sync_run
    assert graph_users(graph_sandbox) == before
    assert svc.store.users.by_key("557058:aa06").status == "active"
    assert [r.kind for r in svc.store.runs if r.kind == "sync"] == ["sync"]  # only the first cycle's


async def test_an_empty_read_changes_nobody(svc, graph_sandbox, bb_sandbox):
    await svc.run_cycle()
    svc.allow_unattended_deletes("m365", 10)
    for n in range(1, 7):
        bb_sandbox.state.remove_member(f"557058:aa0{n}")
    report = await svc.run_cycle()
    assert report.outcome == "failure" and report.sources[0].status == "empty"
    assert all(u.status == "active" for u in svc.store.users)
    assert all(u["accountEnabled"] for u in graph_users(graph_sandbox).values())


async def test_overlapping_cycles_are_refused_naming_the_holder(svc):
    other = HomeLock(svc.home, "cycle.lock")
    assert other.try_acquire()
    try:
        with pytest.raises(StateLocked, match="another cycle is running on this home: pid"):
            await svc.run_cycle()
    finally:
        other.release()
    assert not [r for r in svc.store.runs if r.kind == "cycle"]


async def test_a_dry_run_cycle_writes_nothing(svc, graph_sandbox, bb_store):
    report = await svc.run_cycle(dry_run=True)
    assert report.dry_run and report.sources[0].counts["joiners"] == 6
    assert not list(bb_store.users) and not list(bb_store.runs) and graph_users(graph_sandbox) == {}
    assert not (svc.home / "initial-passwords").exists()


def test_the_cli_runs_a_cycle_and_shows_its_status(svc, bb_store, graph_sandbox):
    bb_store.close()
    run_cli = CliRunner(svc.home)
    env = {"BB_TEST_SECRET": BB_SECRET, GRAPH_SECRET_ENV: SANDBOX_CLIENT_SECRET}
    home = str(svc.home)
    proc = run_cli("--home", home, "automate", "run", "--json", **env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["outcome"] == "success" and report["sources"][0]["counts"]["joiners"] == 6
    status = json.loads(run_cli.ok("--home", home, "automate", "status", "--json").stdout)
    assert status["last"]["run_id"] == report["run_id"] and status["every"] == "15m"
    text = run_cli.ok("--home", home, "automate", "status").stdout
    assert "last cycle:" in text and "next cycle:" in text
