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


@pytest.mark.parametrize("through_index", [False, True], ids=["whole", "state-index"])
def test_a_filter_counts_every_match_past_its_window(state: Store, through_index: bool) -> None:
    """The people screen says how many match, not how many there are: the count goes on past the window without
    loading anyone, stops past `count_to` ("more than"), and equals what the full search finds."""
    service = Service(state, operator="ops")
    for i in range(60):
        service.add_user(employeeId=f"E{i}", userName=f"user{i}", givenName="Ann" if i % 3 else "Bo",
                         familyName="Berg" if i % 2 else "Li", department="IT")
    if through_index:
        state.close()
        state = Store.open(state.home, readonly=True)
        service = Service(state, operator="ops")
    for text, limit, count_to in [("ann", 5, 100), ("ann berg", 5, 100), ("berg ann", 50, 100), ("bo", 5, 100),
                                  ("", 10, 100), ("zzq", 5, 100), ("it", 5, 30), ("it", 5, 59), ("it", 5, 60),
                                  ("ann", 0, 100), ("ann", 100, 0)]:
        everyone = service.users(text)
        found = service.find_people(text, limit=limit, count_to=count_to)
        assert [u.id for u in found.people] == [u.id for u in everyone[:limit]], text
        if text and len(everyone) > max(limit, count_to):
            assert (found.matched, found.more_than) == (max(limit, count_to), True), (text, limit, count_to)
        else:
            assert (found.matched, found.more_than) == (len(everyone), False), (text, limit, count_to)


def test_the_count_line_says_what_matches_of_how_many() -> None:
    from console.service.people import PeopleFound
    from console.models import User
    people = [User(employeeId=f"E{i}", userName=f"u{i}") for i in range(3)]
    assert PeopleFound(people, 776).summary(99_999, "Ñúñez mü") == (
        "first 3 of 776 matches (99,999 people) — type more to narrow")
    assert PeopleFound(people, 10_000, more_than=True).summary(99_999, "a") == (
        "first 3 of more than 10,000 matches (99,999 people) — type more to narrow")
    assert PeopleFound(people, 3).summary(300, " ann ") == "3 of 300 people match"
    assert PeopleFound([], 0).summary(300, "zzq") == "no one matches 'zzq'"
    assert PeopleFound(people, 99_999).summary(99_999, "") == "first 3 of 99,999 people — press / and type to filter"
    assert PeopleFound(people, 3).summary(3, "") == "3 people"
    assert PeopleFound(people[:1], 1).summary(1, "") == "1 person"
