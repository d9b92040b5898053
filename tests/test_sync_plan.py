"""Planning rules: a pure diff of policies × people × groups against links (no network)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from console.connectors.base import Capability
from console.errors import DeletionRefused
from console.models import Application, Group, Link, Policy, User
from console.store import Store
from console.sync.confirm import Confirmation, check_deletions
from console.sync.plan import Plan, plan_app

ALL = frozenset(Capability)


def attrs(user: User, login_method: str) -> dict:
    return {"userName": user.userName, "displayName": user.displayName, "department": user.department,
            "sso": login_method == "sso"}


@pytest.fixture
def store(tmp_path):
    store = Store.open(tmp_path)
    people = [User(employeeId=f"E{i}", userName=f"user{i}", displayName=f"User {i}", department="Eng") for i in range(30)]
    store.users.put_many(people)
    store.groups.put_many([Group(name="eng", members=[u.id for u in people[:20]]),
                           Group(name="ops", members=[u.id for u in people[20:]])])
    store.applications.put(Application(name="bb", kind="atlassian"))
    store.policies.put(Policy(name="bb-eng", app="bb", groups=["eng"]))
    yield store
    store.close()


def app(store: Store) -> Application:
    return store.applications.by_name("bb")


def link_all(store: Store, users: list[User], login_method: str = "sso") -> None:
    store.links.put_many([Link(app="bb", local_id=u.id, remote_id=f"r-{u.id}", remote_name=u.userName,
                               attrs=attrs(u, login_method)) for u in users])


def person_ops(plan) -> list:
    return [op for op in plan.operations if op.person_id]


def actions(plan) -> list[tuple[str, str]]:
    return [(op.action, op.person or op.group) for op in plan.operations]


def test_joiner_in_a_policy_group_gets_a_create_with_reason_and_attributes(store):
    plan = plan_app(store, app(store), attrs, ALL)
    creates = [op for op in plan.operations if op.action == "create"]
    assert len(creates) == 20
    assert "eng" in creates[0].reason and "bb-eng" in creates[0].reason
    assert creates[0].changes["userName"] == [None, creates[0].attrs["userName"]]


def test_groups_named_in_a_policy_are_created_and_filled(store):
    plan = plan_app(store, app(store), attrs, ALL)
    assert ("group_create", "eng") in actions(plan)
    adds = [op for op in plan.operations if op.action == "member_add"]
    assert len(adds) == 1 and len(adds[0].member_ids) == 20
    assert [op.action for op in plan.operations].index("group_create") < [op.action for op in plan.operations].index("member_add")


def test_linked_and_unchanged_people_plan_nothing(store):
    eng = store.groups.by_name("eng")
    link_all(store, [store.users.get(i) for i in eng.members])
    store.links.put(Link(app="bb", local_id=eng.id, remote_id="g1", kind="group", extra={"members": list(eng.members)}))
    assert plan_app(store, app(store), attrs, ALL).operations == []


def test_mover_gets_an_update_with_field_level_before_and_after(store):
    eng = store.groups.by_name("eng")
    link_all(store, [store.users.get(i) for i in eng.members])
    mover = store.users.get(eng.members[3])
    mover.department = "Sales"
    store.users.put(mover)
    ops = [op for op in plan_app(store, app(store), attrs, ALL).operations if op.action == "update"]
    assert len(ops) == 1
    assert ops[0].changes == {"department": ["Eng", "Sales"]}
    assert ops[0].remote_id == f"r-{mover.id}"


def test_leaver_is_deactivated_by_default_with_the_reason(store):
    eng = store.groups.by_name("eng")
    link_all(store, [store.users.get(i) for i in eng.members])
    leaver = store.users.get(eng.members[0])
    leaver.status = "leaver"
    store.users.put(leaver)
    ops = [op for op in plan_app(store, app(store), attrs, ALL, now=datetime.now(timezone.utc)).operations
           if op.action in ("deactivate", "delete")]
    assert [(op.action, op.person, op.reason) for op in ops] == [("deactivate", leaver.label(), "is a leaver")]


def test_removed_from_group_and_deleted_locally_are_deprovisioned(store):
    eng = store.groups.by_name("eng")
    link_all(store, [store.users.get(i) for i in eng.members])
    gone, moved = eng.members[0], eng.members[1]
    eng.members = eng.members[2:]
    store.groups.put(eng)
    store.users.remove(gone)
    reasons = {op.person_id: op.reason for op in plan_app(store, app(store), attrs, ALL).operations if op.action == "deactivate"}
    assert reasons[gone] == "was deleted from the local state"
    assert "no group" in reasons[moved]


def test_disabled_policy_deprovisions_everyone_it_covered(store):
    eng = store.groups.by_name("eng")
    link_all(store, [store.users.get(i) for i in eng.members])
    policy = store.policies.by_name("bb-eng")
    policy.enabled = False
    store.policies.put(policy)
    ops = plan_app(store, app(store), attrs, ALL).operations
    assert {op.action for op in ops} == {"deactivate"} and len(ops) == 20


def test_delete_mode_deletes_and_grace_period_deactivates_first(store):
    eng = store.groups.by_name("eng")
    link_all(store, [store.users.get(i) for i in eng.members])
    application = app(store)
    application.deprovision = "delete"
    application.features["delete"] = True
    leaver = store.users.get(eng.members[0])
    leaver.status = "leaver"
    store.users.put(leaver)
    assert [op.action for op in person_ops(plan_app(store, application, attrs, ALL))] == ["delete"]
    application.delete_grace_days = 7
    assert [op.action for op in person_ops(plan_app(store, application, attrs, ALL))] == ["deactivate"]
    link = store.links.find("bb", leaver.id)
    link.state = "deactivated"
    link.updated = (datetime.now(timezone.utc) - timedelta(days=3)).isoformat()
    store.links.put(link)
    assert person_ops(plan_app(store, application, attrs, ALL)) == []
    link.updated = (datetime.now(timezone.utc) - timedelta(days=8)).isoformat()
    store.links.put(link)
    ops = person_ops(plan_app(store, application, attrs, ALL))
    assert [op.action for op in ops] == ["delete"] and "grace period of 7 days over" in ops[0].reason


def test_switched_off_feature_and_missing_capability_block_operations(store):
    application = app(store)
    application.features["create"] = False
    ops = plan_app(store, application, attrs, ALL).operations
    creates = [op for op in ops if op.action == "create"]
    assert creates and all("feature create is switched off" in op.blocked for op in creates)
    ops = plan_app(store, app(store), attrs, frozenset({Capability.UPDATE})).operations
    assert all(op.blocked for op in ops if op.action == "create")
    assert not [op for op in ops if op.action.startswith(("group", "member"))]


def test_login_method_reaches_the_attributes_and_sso_wins(store):
    store.policies.put(Policy(name="bb-ops", app="bb", groups=["ops", "eng"], login_method="password"))
    ops = {op.person_id: op for op in plan_app(store, app(store), attrs, ALL).operations if op.action == "create"}
    eng, ops_group = store.groups.by_name("eng"), store.groups.by_name("ops")
    assert ops[eng.members[0]].attrs["sso"] is True
    assert ops[ops_group.members[0]].attrs["sso"] is False


def test_reactivation_when_a_deactivated_person_is_entitled_again(store):
    eng = store.groups.by_name("eng")
    link_all(store, [store.users.get(i) for i in eng.members])
    link = store.links.find("bb", eng.members[5])
    link.state = "deactivated"
    store.links.put(link)
    assert [(op.action, op.person_id) for op in plan_app(store, app(store), attrs, ALL).operations
            if op.person_id] == [("reactivate", eng.members[5])]


def test_group_removal_from_policy_removes_members_and_deletes_the_group(store):
    eng = store.groups.by_name("eng")
    link_all(store, [store.users.get(i) for i in eng.members])
    store.links.put(Link(app="bb", local_id=eng.id, remote_id="g1", kind="group", extra={"members": list(eng.members)}))
    removed = eng.members[-1]
    eng.members = eng.members[:-1]
    store.groups.put(eng)
    ops = plan_app(store, app(store), attrs, ALL).operations
    assert ("deactivate", removed) in [(op.action, op.person_id) for op in ops]
    assert not [op for op in ops if op.action == "member_remove"]  # deprovisioning removes it anyway


def test_threshold_refuses_more_than_ten_deprovisions_unless_the_exact_number_is_confirmed(store):
    eng = store.groups.by_name("eng")
    link_all(store, [store.users.get(i) for i in eng.members])
    for user_id in eng.members[:11]:
        user = store.users.get(user_id)
        user.status = "leaver"
        store.users.put(user)
    app_plan = plan_app(store, app(store), attrs, ALL)
    plan = Plan(apps=[app_plan])
    assert len(app_plan.deprovisions) == 11 and app_plan.threshold_exceeded()
    with pytest.raises(DeletionRefused) as refused:
        check_deletions(plan, Confirmation(yes=True), {})
    assert "--allow-deletes 11" in refused.value.hint
    with pytest.raises(DeletionRefused):
        check_deletions(plan, Confirmation(yes=True, count=10), {})
    with pytest.raises(DeletionRefused, match="confirms a count"):
        check_deletions(plan, Confirmation(count=11), {})
    assert check_deletions(plan, Confirmation(yes=True, count=11, by="alice"), {}).startswith("confirmed by alice")


def test_threshold_by_percentage_of_linked_accounts(store):
    eng = store.groups.by_name("eng")
    link_all(store, [store.users.get(i) for i in eng.members])
    for user_id in eng.members[:5]:  # 5 of 20 = 25 % > 20 %
        user = store.users.get(user_id)
        user.status = "leaver"
        store.users.put(user)
    app_plan = plan_app(store, app(store), attrs, ALL)
    assert len(app_plan.deprovisions) == 5 and app_plan.threshold_exceeded()
    application = app(store)
    application.threshold_percent = 30
    assert not plan_app(store, application, attrs, ALL).threshold_exceeded()
