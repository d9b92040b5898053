"""The engine's promises for every caller, against a real SCIM directory (scim2-server): read-only sends nothing,
deprovisions need a confirmation whose count is the run's total, and every remote change is recorded before it is
acknowledged (a report that cannot be written stops the run; a crash leaves `unknown` intents the rerun resolves)."""
from __future__ import annotations

import dataclasses
import errno
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from console.cli import main
from console.errors import DeletionRefused, ReadOnly
from console.eventlog import EventLog
from console.models import Policy
from console.reports import ReportFilter
from console.service import Confirmation, Service
from console.store import Store
from console.sync import apply as apply_module
from console.sync.engine import apply_plan
from console.sync.journal import Window
from tests.plugins.core import CliRunner
from tests.plugins.scim import ScimDirectory

APP, SECOND = "bitbucket-cloud", "bitbucket-second"


def entitled(svc: Service) -> list:
    return svc.in_scope(svc.policy("bitbucket-engineering"))


def make_leavers(svc: Service, count: int) -> list:
    people = entitled(svc)[:count]
    for person in people:
        svc.edit_user(person.userName, status="leaver")
    return people


def active_names(directory: ScimDirectory) -> set[str]:
    return {u["userName"] for u in directory.users() if u["active"]}


def cli(home: Path) -> CliRunner:
    return CliRunner(home)


def enospc_after(writes: int, only: Callable[[Path], bool] = lambda path: True) -> Callable[[Path], None]:
    """A fault hook for the event log: the disk is full after `writes` writes (of the paths `only` accepts)."""
    seen = [0]

    def fault(path: Path) -> None:
        if not only(path):
            return
        seen[0] += 1
        if seen[0] > writes:
            raise OSError(errno.ENOSPC, "No space left on device")

    return fault


@pytest.fixture
def second_directory(scim_server) -> ScimDirectory:
    directory_id = scim_server.new_directory()
    return ScimDirectory(scim_server.base_url(directory_id), directory_id, scim_server.token)


def add_second_app(svc: Service, directory: ScimDirectory) -> None:
    """A second Atlassian application with the same policy as the first, on its own directory."""
    first = svc.app(APP)
    second = dataclasses.replace(first, name=SECOND, settings={**first.settings, "base_url": directory.base_url},
                                 id="second-app", last_run={}, last_test={})
    svc.store.applications.add(second)
    policy = svc.policy("bitbucket-engineering")
    svc.store.policies.add(Policy(name="second-engineering", app=SECOND, groups=list(policy.groups)))
    svc.store.flush()


# ---- read-only ---------------------------------------------------------------------------------
async def test_readonly_sync_sends_no_write_and_exits_2(org_service, scim_directory):
    svc = org_service
    await svc.apply(await svc.plan(APP), Confirmation(yes=True))
    make_leavers(svc, 8)
    home = svc.store.home
    svc.store.close()
    before = scim_directory.users()
    proc = cli(home)("--readonly", "sync", "--app", APP, "--yes", "--allow-deletes", "8")
    assert proc.returncode == 2, proc.stderr
    assert "read-only" in proc.stderr and "Traceback" not in proc.stderr
    assert scim_directory.users() == before
    with Store.open(home, readonly=True) as store:  # the engine itself refuses a read-only store, for any caller
        plan = await Service(store, operator="script").plan(APP)
        assert len(plan.apps[0].deprovisions) == 8
        with pytest.raises(ReadOnly):
            await apply_plan(store, plan, Confirmation(yes=True, count=8), operator="script")
    assert scim_directory.users() == before


# ---- deletions ---------------------------------------------------------------------------------
async def test_confirmed_count_is_the_runs_total_across_applications(org_service, scim_directory, second_directory):
    svc = org_service
    add_second_app(svc, second_directory)
    await svc.apply(await svc.plan(), Confirmation(yes=True))
    leavers = {p.email for p in make_leavers(svc, 12)}
    home = svc.store.home
    svc.store.close()
    run = cli(home)
    refused = run("sync", "--yes", "--allow-deletes", "12")
    assert refused.returncode == 2 and "24" in refused.stderr, refused.stderr
    assert leavers <= active_names(scim_directory) and leavers <= active_names(second_directory)
    applied = run("sync", "--yes", "--allow-deletes", "24")
    assert applied.returncode == 0, applied.stderr
    assert not leavers & active_names(scim_directory) and not leavers & active_names(second_directory)


async def test_allow_deletes_without_yes_deprovisions_nothing(org_service, scim_directory):
    svc = org_service
    await svc.apply(await svc.plan(APP), Confirmation(yes=True))
    leavers = {p.email for p in make_leavers(svc, 8)}
    home = svc.store.home
    svc.store.close()
    proc = cli(home)("sync", "--app", APP, "--allow-deletes", "8")  # stdin is /dev/null
    assert proc.returncode == 2 and "--yes" in proc.stderr, proc.stderr
    assert leavers <= active_names(scim_directory)
    with Store.open(home, readonly=True) as store:
        assert all(link.state == "active" for link in store.links.for_app(APP))


async def test_standing_confirmation_lets_unattended_runs_deprovision_within_its_limit(org_service, scim_directory):
    svc = org_service
    await svc.apply(await svc.plan(APP), Confirmation(yes=True))
    unattended = Confirmation(standing=True)
    make_leavers(svc, 2)
    with pytest.raises(DeletionRefused, match="no standing confirmation"):
        await svc.apply(await svc.plan(APP), unattended)
    allowed = svc.allow_unattended_deletes(APP, 2)
    assert (allowed.app, allowed.limit, allowed.by) == (APP, 2, "tester")
    assert [s.limit for s in svc.unattended_deletes()] == [2]
    result = await svc.apply(await svc.plan(APP), unattended)
    assert result.ok and result.counts[APP]["success"] == 2
    confirmed = svc.report(ReportFilter(action="deprovisions_confirmed", run=result.run_id))
    assert "allowed by tester" in confirmed[0].message
    extra = make_leavers(svc, 5)[2:]  # three more: above the limit, they wait for an operator
    with pytest.raises(DeletionRefused, match="allows 2"):
        await svc.apply(await svc.plan(APP), unattended)
    assert {p.email for p in extra} <= active_names(scim_directory)
    svc.revoke_unattended_deletes(APP)
    assert svc.unattended_deletes() == []
    assert [e.action for e in svc.report(ReportFilter(app=APP)) if e.action.startswith("deletions_")] == [
        "deletions_revoke", "deletions_allow"]


def test_deletions_cli_allows_lists_and_revokes(org_service):
    home = org_service.store.home
    org_service.store.close()
    run = cli(home)
    assert run("deletions", "allow", APP, "--limit", "50").returncode == 2  # above the threshold: never unattended
    run.ok("deletions", "allow", APP, "--limit", "3")
    listed = run.ok("deletions", "list", "--json").stdout
    assert f'"app": "{APP}"' in listed and '"limit": 3' in listed
    assert run("--readonly", "deletions", "revoke", APP).returncode == 2
    run.ok("deletions", "revoke", APP)
    assert "no standing confirmation" in run.ok("deletions", "list").stdout


# ---- recorded before acknowledged ----------------------------------------------------------------
def recorded_people(svc: Service, run: str, statuses: set[str]) -> set[str]:
    return {e.person_id for e in svc.report(ReportFilter(run=run, action="create")) if e.status in statuses}


def remote_people(svc: Service, directory: ScimDirectory) -> set[str]:
    return {svc.store.users.by_key(u["externalId"]).id for u in directory.users()}


async def test_report_becoming_unwritable_stops_the_run_and_every_remote_change_is_in_it(org_service, scim_directory,
                                                                                         monkeypatch):
    svc = org_service
    monkeypatch.setattr(EventLog, "fault", enospc_after(6))
    result = await svc.apply(await svc.plan(APP), Confirmation(yes=True))
    assert "No space left" in result.halted and not result.ok
    created = remote_people(svc, scim_directory)
    assert 0 < len(created) < len(entitled(svc))  # stopped mid-run: no write after its intent failed
    monkeypatch.setattr(EventLog, "fault", None)
    assert svc.store.runs.get(result.run_id).status == "failure"
    assert created <= recorded_people(svc, result.run_id, {"success", "unknown"})
    unknown = recorded_people(svc, result.run_id, {"unknown"})
    assert unknown and unknown == {e.person_id for e in svc.report(ReportFilter(status="unknown"))}
    linked = {link.local_id for link in svc.store.links.for_app(APP)}
    assert linked <= recorded_people(svc, result.run_id, {"success"})  # no link saved without its event
    rerun = await svc.apply(await svc.plan(APP), Confirmation(yes=True))
    assert rerun.ok and rerun.resolved == len(unknown)
    names = [u["userName"] for u in scim_directory.users()]
    assert len(names) == len(set(names)) == len(entitled(svc))
    found = [e for e in svc.report(ReportFilter(run=rerun.run_id, action="create")) if "by a look-up" in e.message]
    assert {e.person_id for e in found} == unknown & created  # only the unknown ones were looked up
    unknowns = svc.report(ReportFilter(status="unknown"))
    assert len(unknowns) == len(unknown) and all(rerun.run_id[:8] in e.message for e in unknowns)
    assert (await svc.plan(APP)).operations == []


async def test_crash_between_remote_write_and_its_outcome_leaves_unknown_resolved_by_the_rerun(org_service,
                                                                                               scim_directory,
                                                                                               monkeypatch):
    svc = org_service
    month_files = enospc_after(3, only=lambda path: path.parent.name == "events")  # then intents pass, outcomes not
    monkeypatch.setattr(EventLog, "fault", month_files)
    monkeypatch.setattr(apply_module, "FLUSH_SECONDS", 0.0)  # a checkpoint every FLUSH_EVERY links, however fast
    stopped = await svc.apply(await svc.plan(APP), Confirmation(yes=True))
    monkeypatch.setattr(EventLog, "fault", None)
    assert stopped.halted
    created = remote_people(svc, scim_directory)
    linked = {link.local_id for link in svc.store.links.for_app(APP)}
    assert created - linked  # written remotely, but their outcome and so their link were not saved
    shown = svc.report(ReportFilter(status="unknown"))  # before any rerun: the open intents show as unknown
    assert created - linked <= {e.person_id for e in shown}
    home = svc.store.home
    svc.store.close()
    listed = cli(home)("report", "--status", "unknown", "--format", "json")
    assert listed.returncode == 0 and len(created - linked) <= listed.stdout.count('"unknown"')
    with Store.open(home) as store:
        svc = Service(store, operator="tester")
        rerun = await svc.apply(await svc.plan(APP), Confirmation(yes=True))
        assert rerun.ok and rerun.resolved >= len(created - linked)
        assert {link.local_id for link in store.links.for_app(APP)} == {p.id for p in entitled(svc)}
        assert len(scim_directory.users()) == len(entitled(svc))
        assert store.events.journals() == []  # resolved: the journals are gone


def test_users_add_with_a_full_disk_saves_nothing_and_says_why(state_home, capsys):
    from console import clock
    from datetime import datetime, timezone

    events = state_home / "events"
    events.mkdir()
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    (events / "2030-01.jsonl").symlink_to("/dev/full")  # a real ENOSPC on write, even for root
    args = ["--home", str(state_home), "users", "add", "--employee-id", "E1", "--user-name", "ada",
            "--given-name", "Ada", "--family-name", "Lovelace", "--email", "ada@example.com"]
    with clock.fixed(datetime(2030, 1, 15, tzinfo=timezone.utc)):
        code = main(args)
    err = capsys.readouterr().err
    assert code == 2 and "cannot be written" in err and "Traceback" not in err
    with Store.open(state_home, readonly=True) as store:
        assert store.users.find("ada") is None


def test_users_add_with_an_unwritable_event_log_saves_nothing(state_home, capsys, monkeypatch):
    monkeypatch.setattr(EventLog, "fault", enospc_after(0))
    code = main(["--home", str(state_home), "users", "add", "--employee-id", "E1", "--user-name", "ada",
                 "--given-name", "Ada", "--family-name", "Lovelace", "--email", "ada@example.com"])
    err = capsys.readouterr().err
    assert code == 2 and "No space left" in err and "Traceback" not in err
    monkeypatch.setattr(EventLog, "fault", None)
    with Store.open(state_home, readonly=True) as store:
        assert store.users.find("ada") is None and store.events.query() == []


def test_long_lived_store_notices_its_events_directory_removed(state):
    svc = Service(state, operator="tester")
    svc.add_user(employeeId="E1", userName="ada", givenName="Ada", familyName="L", email="ada@example.com")
    shutil.rmtree(state.home / "events")
    svc.add_user(employeeId="E2", userName="bob", givenName="Bob", familyName="M", email="bob@example.com")
    reader = EventLog(state.home / "events", readonly=True)
    actions = [e.action for e in reader.query()]
    assert actions[0] == "user_create" and "report_reopened" in actions
    month = next((state.home / "events").glob("*.jsonl"))
    month.rename(month.with_suffix(".old"))  # replaced behind its back: a new file, noticed again
    month.write_bytes(b"")
    svc.add_user(employeeId="E3", userName="cy", givenName="Cy", familyName="N", email="cy@example.com")
    assert [e.action for e in EventLog(state.home / "events", readonly=True).query()] == [
        "user_create", "report_reopened"]


@pytest.mark.skipif(sys.platform != "linux", reason="/dev/full")
def test_sync_cli_with_a_full_disk_stops_and_never_says_success(org_service, scim_directory, monkeypatch, capsys):
    home = org_service.store.home
    org_service.store.close()
    monkeypatch.setattr(EventLog, "fault", enospc_after(4))
    code = main(["--home", str(home), "sync", "--app", APP, "--yes"])
    out, err = capsys.readouterr()
    assert code == 1 and "STOPPED the whole run" in err and "No space left" in err
    monkeypatch.setattr(EventLog, "fault", None)
    with Store.open(home, readonly=True) as store:
        assert [r.status for r in store.runs] == ["failure"]


def test_state_that_cannot_be_saved_takes_its_event_back(state, monkeypatch):
    svc = Service(state, operator="tester")

    def full_disk() -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(state, "flush", full_disk)
    with pytest.raises(OSError):
        svc.add_user(employeeId="E1", userName="ada", givenName="Ada", familyName="L", email="ada@example.com")
    monkeypatch.undo()
    assert state.users.find("ada") is None and state.events.query() == []


async def test_a_second_sync_on_the_same_home_is_refused_naming_the_first(org_service, scim_directory):
    """One run at a time per home: its journal can then only be a crashed run's when another run finds it."""
    from console.errors import StateLocked
    from console.storage import HomeLock

    svc = org_service
    before = {u["userName"] for u in scim_directory.users()}
    running = HomeLock(svc.store.home, "sync.lock")
    assert running.try_acquire()
    try:
        with pytest.raises(StateLocked, match="another sync is running on this home: pid"):
            await svc.apply(await svc.plan(APP), Confirmation(yes=True))
    finally:
        running.release()
    assert {u["userName"] for u in scim_directory.users()} == before  # nothing was sent
    result = await svc.apply(await svc.plan(APP), Confirmation(yes=True))
    assert result.ok and len(scim_directory.users()) > len(before)


async def test_intents_share_their_fsyncs_and_stay_within_the_window(org_service, scim_directory, monkeypatch):
    """The window lets operations in by batches, so several intents share one fsync (not one per finished request),
    and never more than the window (4 x max_concurrency) operations have an intent without an outcome at once."""
    svc = org_service
    slots = svc.store.applications.by_name(APP).max_concurrency
    groups: list[int] = []
    open_intents: list[int] = []
    in_flight: set[str] = set()
    intend_many, append_many = EventLog.intend_many, EventLog.append_many

    def intents(self, run, events):  # type: ignore[no-untyped-def]
        events = list(events)
        groups.append(len(events))
        in_flight.update(f"{e.action}:{e.person_id or e.person}" for e in events)
        open_intents.append(len(in_flight))
        intend_many(self, run, events)

    def outcomes(self, events):  # type: ignore[no-untyped-def]
        events = list(events)
        in_flight.difference_update(f"{e.action}:{e.person_id or e.person}" for e in events)
        append_many(self, events)

    monkeypatch.setattr(EventLog, "intend_many", intents)
    monkeypatch.setattr(EventLog, "append_many", outcomes)
    monkeypatch.setattr(apply_module, "FLUSH_SECONDS", 0.0)
    monkeypatch.setattr(apply_module, "FLUSH_EVERY", 1)  # every outcome is written as soon as its operation ends
    result = await svc.apply(await svc.plan(APP), Confirmation(yes=True))
    assert result.ok and sum(groups) > 100
    assert len(groups) <= sum(groups) / 8, groups  # batches of many intents, not one per request
    assert max(open_intents) <= Window(slots).size == 4 * slots


async def test_operations_run_with_the_plan_frozen_and_fewer_young_collections_then_the_gc_is_as_before(
        org_service, scim_directory, monkeypatch):
    """While the operations run, what was alive at their start (the state, the plan) is exempt from the cyclic GC and
    the youngest generation is collected every 10,000 allocations; the thresholds are given back afterwards."""
    import gc

    svc = org_service
    before = gc.get_threshold()
    seen: list[tuple[tuple[int, int, int], int]] = []
    intend_many = EventLog.intend_many

    def intents(self, run, events):  # type: ignore[no-untyped-def]
        seen.append((gc.get_threshold(), gc.get_freeze_count()))
        intend_many(self, run, events)

    monkeypatch.setattr(EventLog, "intend_many", intents)
    plan = await svc.plan(APP)
    frozen = gc.get_freeze_count()
    result = await svc.apply(plan, Confirmation(yes=True))
    assert result.ok and seen
    assert all(threshold == (max(before[0], 10_000), *before[1:]) for threshold, _ in seen)
    assert all(count > frozen for _, count in seen)  # the plan's objects joined the frozen ones
    assert gc.get_threshold() == before


async def test_each_state_save_holds_the_link_of_every_outcome_written_before_it(org_service, scim_directory,
                                                                                monkeypatch):
    """Links saved by the operations reach the store at the next checkpoint, with the outcomes before them: every
    save of the state during the run holds exactly the links of the creates whose outcome is in the report, each
    with the hash of its attributes."""
    from console.models import attrs_hash

    svc = org_service
    monkeypatch.setattr(apply_module, "FLUSH_SECONDS", 0.0)  # a save every FLUSH_EVERY links, however fast
    monkeypatch.setattr(apply_module, "FLUSH_EVERY", 3)
    saves: list[tuple[set[str], set[str]]] = []
    flush = Store.flush

    def checked(self: Store) -> None:
        running = [run for run in self.runs if run.status == "running"]
        if self is svc.store and running:
            linked = {link.local_id for link in self.links.for_app(APP)}
            saves.append((linked, recorded_people(svc, running[0].id, {"success"})))
            assert all(link.attrs_hash == attrs_hash(link.attrs) for link in self.links.for_app(APP))
        flush(self)

    monkeypatch.setattr(Store, "flush", checked)
    result = await svc.apply(await svc.plan(APP), Confirmation(yes=True))
    assert result.ok and len(saves) > 3
    assert all(linked == recorded for linked, recorded in saves), [(len(a), len(b)) for a, b in saves]
    assert saves[-1][0] == {p.id for p in entitled(svc)}
