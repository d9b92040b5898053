"""The inbound run against the sandbox: joiners, movers, leavers, and every way a run must not hurt."""
from __future__ import annotations

import asyncio
import json

import pytest

from console.connectors import make_source
from console.errors import AuthFailed, NotFound, TransientError
from console.sync.confirm import Confirmation
from console.inbound.endpoints import default_endpoint, permissions_endpoint, save_endpoint
from console.inbound.run import preview, run_import
from console.mapping import Mapping, save_mapping
from console.sandbox.bitbucket import make_membership
from console.store import Store


def people(store) -> dict[str, object]:
    return {u.employeeId: u for u in store.users}


def statuses(store) -> dict[str, str]:
    return {u.employeeId: u.status for u in store.users}


def small_pages(store, pagelen: int = 2) -> None:
    endpoint = default_endpoint("bb")
    endpoint.pagelen = pagelen
    save_endpoint(store, endpoint)


async def test_joiners_movers_leavers_and_returning_members(bb_store, bb_sandbox):
    first = await run_import(bb_store, "bb", operator="tester")
    assert first.counts["joiners"] == 6 and first.ok and first.requests == 2  # members, and permissions joined
    alice = bb_store.users.by_key("557058:aa01")
    assert (alice.userName, alice.givenName, alice.familyName) == ("alice", "Alice", "Smith")
    assert alice.source == "bitbucket:bb"
    assert alice.attributes["bitbucketAccountId"] == "557058:aa01" and alice.attributes["bitbucketUuid"].startswith("{")
    created = bb_store.events.query(action="import_create")
    assert len(created) == 6 and all(e.status == "success" and e.operator == "tester" and e.run == first.run_id
                                     for e in created)
    assert next(e for e in created if e.person == "alice").changes["displayName"] == [None, "Alice Smith"]

    state = bb_sandbox.state
    state.remove_member("557058:aa06")
    state.update_user("557058:aa01", display_name="Alice Smith-Jones")
    state.update_user("557058:aa02", nickname="bobby")
    state.add_member(make_membership("557058:aa07", "Erin Hall", nickname="erin"))
    second = await run_import(bb_store, "bb", operator="tester")
    assert {k: second.counts[k] for k in ("joiners", "movers", "leavers", "unchanged")} == \
        {"joiners": 1, "movers": 2, "leavers": 1, "unchanged": 3}
    updates = {e.person: e.changes for e in bb_store.events.query(action="import_update", run=second.run_id)}
    assert updates == {"alice": {"familyName": ["Smith", "Smith-Jones"],
                                 "displayName": ["Alice Smith", "Alice Smith-Jones"]},
                       "bobby": {"userName": ["bob", "bobby"]}}
    (leaver,) = bb_store.events.query(action="import_leaver")
    assert leaver.person == "dan" and leaver.changes == {"status": ["active", "leaver"]}
    assert statuses(bb_store)["557058:aa06"] == "leaver" and statuses(bb_store)["557058:aa07"] == "active"

    third = await run_import(bb_store, "bb")
    assert third.counts["unchanged"] == 6 and bb_store.events.query(run=third.run_id) == []

    state.add_member(make_membership("557058:aa06", "Dan Brown", nickname="dan"))
    fourth = await run_import(bb_store, "bb")
    assert fourth.counts["movers"] == 1 and statuses(bb_store)["557058:aa06"] == "active"
    assert bb_store.runs.get(fourth.run_id).status == "success"
    assert bb_store.applications.by_name("bb").last_run["run"] == fourth.run_id


async def test_dry_run_writes_nothing_and_reports_the_same(bb_store, tmp_path):
    before = (tmp_path / "home" / "state.json").read_bytes()
    dry = await run_import(bb_store, "bb", dry_run=True)
    assert dry.dry_run and dry.counts["joiners"] == 6
    assert len(bb_store.users) == 0 and bb_store.events.query() == [] and len(bb_store.runs) == 0
    assert (tmp_path / "home" / "state.json").read_bytes() == before
    real = await run_import(bb_store, "bb")
    assert real.counts == dry.counts and [o.to_dict() for o in real.outcomes] == [o.to_dict() for o in dry.outcomes]


async def test_a_repeated_page_makes_nobody_a_leaver(bb_store, bb_sandbox):
    small_pages(bb_store)
    await run_import(bb_store, "bb")
    bb_sandbox.state.remove_member("557058:aa06")
    bb_sandbox.state.update_user("557058:aa01", display_name="Alice Cooper")
    bb_sandbox.state.repeat_page = 1
    result = await run_import(bb_store, "bb")
    assert result.counts["leavers"] == 0 and set(statuses(bb_store).values()) == {"active"}
    assert any("BCLOUD-22441" in w for w in result.warnings) and "not read completely" in result.leavers_refused
    assert len(result.pending_leavers) == 4  # everyone after page 1, not just the one who left
    assert bb_store.users.by_key("557058:aa01").familyName == "Cooper"  # what was read is still imported
    assert bb_store.events.query(action="import_leaver") == []


async def test_an_empty_workspace_refuses_leavers(bb_store, bb_sandbox):
    await run_import(bb_store, "bb")
    for person in list(bb_sandbox.state.members["acme"]):
        bb_sandbox.state.remove_member(person["user"]["account_id"])
    result = await run_import(bb_store, "bb")
    assert result.fetched == 0 and result.counts["leavers"] == 0 and not result.ok
    assert "returned no members at all" in result.leavers_refused and len(result.pending_leavers) == 6
    assert set(statuses(bb_store).values()) == {"active"}


async def test_token_expiring_mid_run_is_renewed_and_the_run_completes(bb_store, bb_sandbox):
    small_pages(bb_store)
    bb_sandbox.state.expire_tokens_after(1)
    result = await run_import(bb_store, "bb")
    assert result.counts["joiners"] == 6 and result.ok and bb_sandbox.state.token_requests == 2


async def test_wrong_secret_fails_the_run_and_nobody_leaves(bb_store, bb_sandbox, monkeypatch):
    await run_import(bb_store, "bb")
    events_before = len(bb_store.events.query())
    monkeypatch.setenv("BB_TEST_SECRET", "not-the-secret")
    with pytest.raises(AuthFailed) as caught:
        await run_import(bb_store, "bb")
    assert "not-the-secret" not in str(caught.value)
    assert set(statuses(bb_store).values()) == {"active"} and len(bb_store.events.query()) == events_before
    assert sorted(r.status for r in bb_store.runs.all()) == ["failure", "success"]


async def test_wrong_workspace_fails_the_run_and_nobody_leaves(bb_store, bb_app):
    await run_import(bb_store, "bb")
    bb_app.settings["workspace"] = "acme-typo"
    with pytest.raises(NotFound):
        await run_import(bb_store, "bb")
    assert set(statuses(bb_store).values()) == {"active"}


async def test_429_retry_after_is_honoured_during_a_run(bb_store, bb_sandbox, bb_app):
    small_pages(bb_store)
    bb_sandbox.state.rate_limit, bb_sandbox.state.rate_window = 2, 1.0
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(seconds)

    async with make_source(bb_app, sleep=sleep) as source:
        result = await run_import(bb_store, bb_app, source=source)
    assert result.counts["joiners"] == 6 and waits == [1.0]
    assert [s for _, p, s in bb_sandbox.state.request_log if p.endswith("/members")] == [200, 200, 429, 200]


async def test_request_budget_is_carried_between_runs(bb_store, bb_sandbox, bb_app):
    bb_app.settings["request_budget"] = 4  # two runs of two requests each (members, permissions)
    await run_import(bb_store, "bb")
    await run_import(bb_store, "bb")
    assert sum(bb_store.applications.by_name("bb").last_run["requests"].values()) == 4
    with pytest.raises(TransientError) as caught:
        await run_import(bb_store, "bb")
    assert "request budget reached" in caught.value.title
    assert len([p for _, p, _ in bb_sandbox.state.request_log if p.endswith("/members")]) == 2


async def test_unicode_names_survive_the_round_trip(bb_store, tmp_path):
    await run_import(bb_store, "bb")
    with Store.open(tmp_path / "home", readonly=True) as store:  # what is on disk
        zoe, bruce = store.users.by_key("557058:aa03"), store.users.by_key("557058:aa04")
        assert (zoe.displayName, zoe.givenName, zoe.familyName) == ("Zoë Ångström", "Zoë", "Ångström")
        assert (bruce.displayName, bruce.familyName, bruce.userName) == ("李小龙", "李小龙", "xiaolong")


async def test_an_invalid_sam_account_name_is_reported_and_the_record_skipped(bb_store, bb_sandbox, bb_app):
    long_name = "Maximilian-Alexander von Schwarzenegger"
    bb_sandbox.state.add_member(make_membership("557058:aa09", long_name, nickname="max"))
    async with make_source(bb_app) as source:
        from console.inbound.endpoints import test_endpoint as sample_endpoint

        await sample_endpoint(source, default_endpoint("bb"), bb_store)
    mapping = Mapping("ad logins", "bb", mappings={
        "userName": "user.nickname", "displayName": "user.display_name",
        "sAMAccountName": "{user.display_name|first|ascii|lower}.{user.display_name|last|ascii|lower}"})
    save_mapping(bb_store, mapping)
    result = await run_import(bb_store, "bb")
    skipped = {o.key: o for o in result.of("skipped")}
    assert set(skipped) == {"557058:aa09", "557058:aa04"} and result.counts["joiners"] == 5
    (issue,) = skipped["557058:aa09"].issues
    assert "sAMAccountName = 'maximilian-alexander.schwarzenegger'" in issue and "AD allows at most 20" in issue
    # 李小龙 has no Latin letters: the format yields "." which AD refuses as well
    assert "sAMAccountName = '.'" in skipped["557058:aa04"].issues[0]
    assert bb_store.users.by_key("557058:aa09") is None and bb_store.users.by_key("557058:aa04") is None
    assert bb_store.users.by_key("557058:aa03").attributes["sAMAccountName"] == "zoe.angstrom"
    failed = bb_store.events.query(status="skipped")
    assert any(e.person == "max" and "AD allows at most 20" in e.error for e in failed)
    assert not result.ok


async def test_a_shared_nickname_gets_a_suffix_from_the_account_id_and_is_reported(bb_store, bb_sandbox):
    bb_sandbox.state.add_member(make_membership("557058:aa08", "Alice Other", nickname="alice"))
    result = await run_import(bb_store, "bb")
    assert result.ok and result.counts["joiners"] == 7 and result.of("skipped") == []
    assert bb_store.users.by_key("557058:aa01").userName == "alice"
    assert bb_store.users.by_key("557058:aa08").userName == "alice-aa08"
    assert any("userName 'alice' is another person's; given 'alice-aa08'" in w for w in result.warnings)
    again = await run_import(bb_store, "bb")  # the same names on every run
    assert again.counts["unchanged"] == 7


async def test_two_new_members_sharing_a_nickname_are_named_the_same_whatever_the_page_order(bb_store, bb_sandbox,
                                                                                          tmp_path):
    state = bb_sandbox.state
    state.add_member(make_membership("557058:zz02", "Sam Two", nickname="sam"))
    state.add_member(make_membership("557058:zz01", "Sam One", nickname="sam"))
    await run_import(bb_store, "bb")
    assert bb_store.users.by_key("557058:zz01").userName == "sam"
    assert bb_store.users.by_key("557058:zz02").userName == "sam-zz02"


async def test_role_is_read_from_the_workspace_permission_by_default(bb_store, bb_sandbox):
    bb_sandbox.state.members["acme"][0]["permission"] = "owner"
    bb_sandbox.state.members["acme"][1]["permission"] = "collaborator"
    await run_import(bb_store, "bb")
    roles = {u.employeeId: u.attributes["role"] for u in bb_store.users}
    assert roles["557058:aa01"] == "owner" and roles["557058:aa02"] == "collaborator" and roles["557058:aa03"] == "member"


async def test_the_account_id_is_never_what_targets_receive_as_employee_id(bb_store):
    await run_import(bb_store, "bb")
    alice = bb_store.users.by_key("557058:aa01")
    assert alice.employeeId == "557058:aa01" and alice.attributes["bitbucketAccountId"] == "557058:aa01"
    assert alice.target_employee_id() == ""  # left empty: the source has no employee number
    alice.attributes["employeeID"] = "E-42"
    assert alice.target_employee_id() == "E-42"


async def test_a_linked_person_who_leaves_is_kept_and_reported_or_made_a_leaver_as_the_source_says(bb_store,
                                                                                                 bb_sandbox):
    from console.models import User

    bb_store.users.put(User(employeeId="E100", userName="alice", givenName="Alice", familyName="Smith",
                            source="file:hr.csv"))
    bb_store.flush()
    await run_import(bb_store, "bb")
    alice = bb_store.users.by_key("E100")
    assert alice.attributes["linkedSources"] == {"bb": "557058:aa01"}
    bb_sandbox.state.remove_member("557058:aa01")
    left = await run_import(bb_store, "bb")
    (kept,) = left.of("left_kept")
    assert kept.person == "alice" and "also comes from file:hr.csv" in kept.issues[0]
    assert left.counts["leavers"] == 0 and bb_store.users.by_key("E100").status == "active"
    assert "linkedSources" not in bb_store.users.by_key("E100").attributes
    (event,) = bb_store.events.query(action="import_left")
    assert "linked_leavers=keep" in event.message

    bb_sandbox.state.add_member(make_membership("557058:aa01", "Alice Smith", nickname="alice"))
    await run_import(bb_store, "bb")  # linked again
    app = bb_store.applications.by_name("bb")
    app.settings["linked_leavers"] = "leaver"
    app.threshold_percent = 100
    bb_store.applications.put(app)
    bb_store.flush()
    bb_sandbox.state.remove_member("557058:aa01")
    gone = await run_import(bb_store, "bb")
    assert gone.counts["leavers"] == 1 and bb_store.users.by_key("E100").status == "leaver"
    assert "linked from file:hr.csv" in bb_store.events.query(action="import_leaver")[0].message


async def test_permissions_endpoint_is_joined_by_account_id(bb_store, bb_sandbox, bb_app):
    bb_sandbox.state.members["acme"][0]["permission"] = "owner"
    async with make_source(bb_app) as source:
        from console.inbound.endpoints import test_endpoint as sample_endpoint

        await sample_endpoint(source, default_endpoint("bb"), bb_store)
        await sample_endpoint(source, permissions_endpoint("bb"), bb_store)
    mapping = Mapping("with role", "bb", endpoints=["Bitbucket users endpoint", "Bitbucket permissions endpoint"],
                      mappings={"userName": "user.nickname", "title": "{permission|title}"})
    save_mapping(bb_store, mapping)
    result = await run_import(bb_store, "bb")
    assert result.counts["joiners"] == 6
    assert bb_store.users.by_key("557058:aa01").title == "Owner"
    assert bb_store.users.by_key("557058:aa02").title == "Member"


async def test_leavers_above_the_threshold_wait_for_confirmation(bb_store, bb_sandbox):
    await run_import(bb_store, "bb")
    for account_id in ("557058:aa04", "557058:aa05", "557058:aa06"):
        bb_sandbox.state.remove_member(account_id)
    refused = await run_import(bb_store, "bb")
    assert refused.counts["leavers"] == 0 and "--allow-deletes 3" in refused.leavers_refused
    assert set(statuses(bb_store).values()) == {"active"}
    counted = await run_import(bb_store, "bb", confirmation=Confirmation(count=3))  # a count alone is no confirmation
    assert counted.counts["leavers"] == 0 and "--yes" in counted.leavers_refused
    assert set(statuses(bb_store).values()) == {"active"}
    confirmed = await run_import(bb_store, "bb", confirmation=Confirmation(yes=True, count=3))
    assert confirmed.counts["leavers"] == 3 and list(statuses(bb_store).values()).count("leaver") == 3


def test_cli_import_bitbucket(tmp_path, bb_app, capsys):
    from console.cli import main

    home = tmp_path / "cli-home"
    with Store.open(home) as store:
        store.applications.put(bb_app)
    assert main(["--home", str(home), "import", "bitbucket", "bb", "--dry-run", "--json"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["dry_run"] and dry["counts"]["joiners"] == 6
    assert main(["--home", str(home), "import", "bitbucket", "bb"]) == 0
    out = capsys.readouterr().out
    assert "6 joiners" in out and "create  alice" in out
    with Store.open(home, readonly=True) as store:
        assert len(store.users) == 6


async def test_preview_maps_the_first_page_and_writes_nothing(bb_store, bb_app):
    mapping = Mapping("ad logins", "bb", mappings={
        "sAMAccountName": "{user.display_name|first|initial|ascii|lower}{user.display_name|last|ascii|lower}"})
    rows = await preview(bb_store, bb_app, mapping, limit=4)
    assert [r.values.get("sAMAccountName") for r in rows] == ["asmith", "bberg", "zangstrom", ""]
    assert [r.ok for r in rows] == [True, True, True, False]
    assert "sAMAccountName" in str(rows[3].issues[0]) and len(bb_store.users) == 0 and bb_store.events.query() == []


async def test_members_already_known_locally_are_correlated_by_user_name_not_duplicated(bb_store, bb_sandbox):
    from console.models import User

    bb_store.users.put(User(employeeId="E100", userName="alice", givenName="Alice", familyName="Smith",
                            displayName="Alice Smith", emails=["alice@corp.example"]))
    bb_store.flush()
    result = await run_import(bb_store, "bb", operator="tester")
    assert result.ok and result.counts["joiners"] == 5 and result.counts["movers"] == 1
    alice = bb_store.users.by_user_name("alice")
    assert alice.employeeId == "E100" and alice.source == "local"  # keeps her own key, not made the source's
    assert alice.attributes["bitbucketAccountId"] == "557058:aa01"
    assert bb_store.users.by_key("557058:aa01") is None
    again = await run_import(bb_store, "bb")  # correlated again through the stored account id
    assert again.counts["unchanged"] == 6 and again.counts["joiners"] == 0
