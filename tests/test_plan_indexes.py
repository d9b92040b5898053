"""The shortcuts planning takes at 100k people stay right after changes: the links' per-application index
(`LinkRepo.for_app`) follows every write, removal, rollback and another process's write; the plan's
"nothing changed" fast path never hides a reactivation, drift or a deleted account."""
from __future__ import annotations

import pytest

from console.connectors.base import Capability
from console.models import Application, Group, Link, Policy, User
from console.store import Store
from console.sync.plan import plan_app

ALL = frozenset(Capability)


def attrs(user: User, login_method: str) -> dict:
    return {"userName": user.userName, "department": user.department, "sso": login_method == "sso"}


def scanned(store: Store, app: str, kind: str = "user") -> set[str]:
    """What `for_app` must answer, found the slow way: every link looked at."""
    return {link.id for link in store.links if link.app == app and link.kind == kind}


def indexed(store: Store, app: str, kind: str = "user") -> set[str]:
    found = [link.id for link in store.links.for_app(app, kind)]
    assert len(found) == len(set(found))  # never the same link twice
    return set(found)


def agrees(store: Store) -> None:
    for app in ("a", "b", "c"):
        for kind in ("user", "group"):
            assert indexed(store, app, kind) == scanned(store, app, kind), (app, kind)


@pytest.fixture
def store(tmp_path):
    store = Store.open(tmp_path)
    people = [User(employeeId=f"E{i}", userName=f"user{i}", department="Eng") for i in range(6)]
    store.users.put_many(people)
    store.groups.put(Group(name="eng", members=[u.id for u in people]))
    store.applications.put_many([Application(name="a", kind="atlassian"), Application(name="b", kind="atlassian")])
    store.policies.put(Policy(name="a-eng", app="a", groups=["eng"]))
    store.links.put_many([Link(app=app, local_id=u.id, remote_id=f"{app}-{u.id}", remote_name=u.userName,
                               attrs=attrs(u, "sso")) for app in ("a", "b") for u in people[:4]])
    store.flush()
    yield store
    store.close()


def test_for_app_follows_adds_moves_and_removals(store):
    agrees(store)
    assert len(indexed(store, "a")) == 4
    person = store.users.all()[5]
    store.links.put(Link(app="a", local_id=person.id, remote_id="a-new", remote_name=person.userName))
    store.links.put(Link(app="a", local_id="g1", remote_id="ga", kind="group"))
    agrees(store)
    assert len(indexed(store, "a")) == 5 and len(indexed(store, "a", "group")) == 1
    moved = store.links.for_app("b")[0]
    moved.app = "c"  # changed in place, then saved: the index must drop it from b
    store.links.put(moved)
    agrees(store)
    assert moved.id in indexed(store, "c") and moved.id not in indexed(store, "b")
    store.links.remove_many([link.id for link in store.links.for_app("a")][:2])
    agrees(store)
    assert len(indexed(store, "a")) == 3


def test_for_app_follows_a_rollback(store):
    store.links.remove(store.links.for_app("a")[0].id)
    store.links.put(Link(app="c", local_id="x", remote_id="c-x"))
    agrees(store)
    store.rollback()
    agrees(store)
    assert len(indexed(store, "a")) == 4 and indexed(store, "c") == set()


def test_for_app_follows_another_process_write(store, tmp_path):
    other = Store.open(tmp_path)
    try:
        gone = other.links.for_app("a")[0]
        other.links.remove(gone.id)
        moved = other.links.for_app("b")[0]
        moved.app = "c"
        other.links.put(moved)
        other.flush()
    finally:
        other.close()
    assert store.refresh()
    agrees(store)
    assert gone.id not in indexed(store, "a") and moved.id in indexed(store, "c")


def test_unchanged_attributes_still_plan_a_reactivation(store):
    link = store.links.for_app("a")[0]
    link.state = "deactivated"
    store.links.put(link)
    plan = plan_app(store, store.applications.by_name("a"), attrs, ALL)
    assert [(op.action, op.person_id) for op in plan.operations if op.action == "reactivate"] == \
        [("reactivate", link.local_id)]


def test_unchanged_attributes_with_drift_in_the_target_plan_an_update(store):
    link = store.links.for_app("a")[1]
    plan = plan_app(store, store.applications.by_name("a"), attrs, ALL,
                    drift={link.local_id: {"department": "Changed outside"}})
    updates = [op for op in plan.operations if op.action == "update"]
    assert [op.person_id for op in updates] == [link.local_id]
    assert updates[0].changes == {"department": ["Changed outside", "Eng"]}
    assert "drift" in updates[0].reason


def test_unchanged_attributes_of_a_deleted_account_plan_a_create(store):
    link = store.links.for_app("a")[2]
    link.state = "deleted"
    store.links.put(link)
    plan = plan_app(store, store.applications.by_name("a"), attrs, ALL)
    assert link.local_id in {op.person_id for op in plan.operations if op.action == "create"}


def test_a_changed_person_is_updated_and_the_others_are_left_alone(store):
    person = store.users.get(store.links.for_app("a")[3].local_id)
    person.department = "Sales"
    store.users.put(person)
    plan = plan_app(store, store.applications.by_name("a"), attrs, ALL)
    assert [(op.action, op.person_id, op.changes) for op in plan.operations if op.action == "update"] == \
        [("update", person.id, {"department": ["Eng", "Sales"]})]
