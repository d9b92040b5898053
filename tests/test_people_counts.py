"""What the console's first screens ask at 100k people without scanning everyone each time stays right: the people
counts (kept until the people change) and the unfiltered list (no search index needed)."""
from __future__ import annotations

from pathlib import Path

import pytest

from console.service import Service
from console.store import Store


def counted(svc: Service) -> tuple[int, int]:
    """The counts the slow way."""
    people = list(svc.store.users)
    return len(people), sum(1 for u in people if u.status == "active")


@pytest.fixture
def svc(state: Store) -> Service:
    service = Service(state, operator="ops")
    for i in range(5):
        service.add_user(employeeId=f"E{i}", userName=f"user{i}", givenName="Ann", familyName=f"Berg{i}")
    return service


def test_counts_follow_adds_leavers_deletes_and_imports(svc: Service, tmp_path: Path) -> None:
    assert svc.people_count() == counted(svc) == (5, 5)
    svc.edit_user("user1", status="leaver")
    assert svc.people_count() == counted(svc) == (5, 4)
    svc.add_user(employeeId="E9", userName="user9", givenName="Bo", familyName="Li")
    assert svc.people_count() == counted(svc) == (6, 5)
    svc.delete_user("user2", confirm=True)
    assert svc.people_count() == counted(svc) == (5, 4)
    path = tmp_path / "more.csv"
    path.write_text("employeeId,userName,status\nE20,new20,active\nE21,new21,leaver\nE0,user0,leaver\n", encoding="utf-8")
    svc.import_users(path)
    assert svc.people_count() == counted(svc) == (7, 4)


def test_counts_follow_a_rollback_and_another_process(svc: Service, state: Store) -> None:
    assert svc.people_count() == (5, 5)
    person = state.users.find("user3")
    person.status = "leaver"
    state.users.put(person)
    assert svc.people_count() == (5, 4)
    state.rollback()  # the change is dropped: the people are read again into a new table
    assert svc.people_count() == counted(svc) == (5, 5)
    other = Store.open(state.home)
    try:
        Service(other, operator="other").add_user(employeeId="E7", userName="user7")
    finally:
        other.close()
    assert state.refresh()
    assert svc.people_count() == counted(svc) == (6, 6)


def test_the_unfiltered_list_is_everyone_in_order_up_to_the_limit(svc: Service) -> None:
    everyone = list(svc.store.users)
    assert svc.users("") == svc.users("   ") == everyone
    assert svc.users("", limit=3) == everyone[:3]
    assert svc.users("", limit=0) == []
    svc.delete_user("user0", confirm=True)
    assert svc.users("") == list(svc.store.users) and len(svc.users("")) == 4
    assert [u.userName for u in svc.users("berg3")] == ["user3"]  # the search itself still uses its index


def test_counts_follow_a_reload_that_makes_a_new_table_at_the_same_version(svc: Service, state: Store) -> None:
    fresh = Store.open(state.home)  # a table just read: version 0, as the table a reload makes
    try:
        mine = Service(fresh, operator="ops")
        assert mine.people_count() == (5, 5)
        Service(state, operator="other").add_user(employeeId="E8", userName="user8")  # another process's write
        fresh.rollback()  # read from disk again: a new table, at version 0 again
        assert fresh.users.version == 0
        assert mine.people_count() == counted(mine) == (6, 6)
    finally:
        fresh.close()


def test_the_search_follows_a_reload_that_makes_a_new_table_at_the_same_version(svc: Service, state: Store) -> None:
    fresh = Store.open(state.home)
    try:
        mine = Service(fresh, operator="ops")
        assert mine.users("user8") == []
        Service(state, operator="other").add_user(employeeId="E8", userName="user8")
        fresh.rollback()
        assert fresh.users.version == 0
        assert [u.userName for u in mine.users("user8")] == ["user8"]
    finally:
        fresh.close()


def test_a_search_prepared_ahead_still_follows_later_changes(svc: Service) -> None:
    svc.prepare_people_search()
    assert svc.users("pilot") == []
    svc.edit_user("user4", title="Pilot")
    assert [u.userName for u in svc.users("pilot")] == ["user4"]
    svc.prepare_people_search()
    svc.add_user(employeeId="E10", userName="user10", title="Copilot")
    svc.edit_user("user4", title="Driver")
    assert [u.userName for u in svc.users("pilot")] == ["user10"]
