"""A store opened through the state's index writes without reading every document (issue 16: a write at 100k people
and 200k links loaded ~1.2 GB): the people and links it changed are kept apart and spliced into the state file, the
others copied as they are stored, the index's rows of the changed ones derived again (`state_index.splice`).

What is written must be what a whole store writes, byte for byte, and every promise of the whole store kept:
uniqueness against people never read, another operator's change refused or merged, a rollback."""
from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console import clock, state_index
from console.errors import StaleData, StateError, ValidationError
from console.models import Link
from console.rule_groups import matching
from console.service import Service
from console.store import Store
from tests.plugins.core import person
from tests.test_state_index import (
    PEOPLE,
    assert_index_as_derived_again,
    assert_keyed_reads_as_a_whole_load,
    build,
    edit,
)

AT = datetime(2026, 11, 30, 12, 0)


def built_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home `build` made (300 people, two links each, a group), on a fixed clock."""
    home = tmp_path_factory.mktemp("built") / "home"
    with clock.fixed(AT):
        build(home)
    return home


@pytest.fixture
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_home(tmp_path_factory)


@contextlib.contextmanager
def no_whole_read() -> Iterator[None]:
    """Within the block, any read of the whole state file (or a parse of it) fails the test."""
    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("the whole state was read")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(state_index.Snapshot, "read_all", refuse)
        patch.setattr("console.storage.OrjsonStorage.read_stamped", refuse)
        yield


def _op(store: Store, op: tuple[Any, ...]) -> str:
    """Apply one operation; what it gave ("ok" or the error's kind), the same for a whole and a partial store."""
    kind, n, value = op
    users = store.users
    try:
        who = users.find(f"user{n}") or users.find(f"renamed{n}")
        if kind == "flush":
            store.flush()
        elif kind == "add":
            users.add(person(1000 + n, id=f"new{n}", displayName=f"Newcomer {value}", emails=[f"new{n}@x.org"]))
        elif who is None:
            return "absent"
        elif kind == "title":
            users.put(edit(who, title=value))
        elif kind == "key":
            users.put(edit(who, employeeId=value))
        elif kind == "userName":
            users.put(edit(who, userName=value))
        elif kind == "emails":
            users.put(edit(who, emails=[f"{value}@example.com"] if value else []))
        elif kind == "delete":
            users.remove(who.id)
        elif kind == "link state":
            links = store.links.of(who.id)
            if links:
                store.links.put(edit(links[0], state=value, inputs=f"{value}.digest"))
        elif kind == "link drop":
            store.links.remove_many([link.id for link in store.links.of(who.id)])
        elif kind == "link add":
            store.links.put(Link(app=value, local_id=who.id, remote_id=f"{value}-{n}", id=f"link-{value}-{n}"))
    except ValidationError as exc:
        return f"refused {exc.field}"
    except StateError as exc:
        return f"state error: {exc}"
    return "ok"


TEXT = st.sampled_from(["Director", "Chief", "user7", "E0012", "renamed3", "zoë", "user5", "E11 ", " user5"])
OPS = st.lists(st.one_of(
    st.tuples(st.sampled_from(["title", "key", "userName", "emails", "link state", "link drop", "link add"]),
              st.integers(0, PEOPLE - 1), TEXT),
    st.tuples(st.sampled_from(["link state"]), st.integers(0, PEOPLE - 1), st.sampled_from(["deactivated", "active"])),
    st.tuples(st.sampled_from(["link add"]), st.integers(0, PEOPLE - 1), st.sampled_from(["wiki", "atlassian"])),
    # (not the last person: a whole store may give their document id to the next one added, a partial one does not)
    st.tuples(st.just("delete"), st.integers(0, PEOPLE - 2), st.just("")),
    st.tuples(st.just("add"), st.integers(0, 20), TEXT),
    st.tuples(st.just("flush"), st.just(0), st.just("")),
), min_size=1, max_size=12)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_a_partial_store_writes_what_a_whole_store_writes_byte_for_byte(built: Path, tmp_path: Path,
                                                                        ops: list[tuple[Any, ...]]) -> None:
    """Any sequence of changes (people edited, their keys, names and e-mails moved between them, removed, added;
    links changed, removed, added; flushed at any point) gives the same answers and the same state file whether the
    store reads through the index or whole, and the index the partial store writes is what deriving it again gives."""
    partial_home, whole_home = tmp_path / "p", tmp_path / "w"
    for home in (partial_home, whole_home):
        shutil.rmtree(home, ignore_errors=True)
        shutil.copytree(built, home)
        Store.open(home).close()  # the copy's index names another file (inode): written again, the state unchanged
    with clock.fixed(AT), Store.open(partial_home) as partial, Store.open(whole_home) as whole:
        whole.load_whole()
        assert partial.partial and not whole.partial
        for op in ops:
            assert _op(partial, op) == _op(whole, op), op
            assert len(partial.users) == len(whole.users)
        partial.flush()
        whole.flush()
        assert partial.partial  # nothing needed every document
    assert (partial_home / "state.json").read_bytes() == (whole_home / "state.json").read_bytes()
    assert_index_as_derived_again(partial_home)


def test_a_one_person_edit_reads_no_other_document_and_the_store_stays_partial(built: Path) -> None:
    with no_whole_read(), Store.open(built) as store:
        service = Service(store)
        service.edit_user("user11", title="Director")
        service.edit_user("user12", title="Chief")  # a second write of the process, through the index it wrote
        service.delete_user("user13", confirm=True)
        service.add_user(employeeId="E2000", userName="newcomer", displayName="New Comer", email="new@x.org")
        assert store.partial
        assert store._snap is not None and store._snap.reads < 60  # sections and a few documents, never all
    assert_index_as_derived_again(built)
    assert_keyed_reads_as_a_whole_load(built)


def test_values_are_unique_against_people_never_read_and_free_once_moved(built: Path) -> None:
    with Store.open(built) as store:
        ten = store.users.find("user10")
        for field, value in (("userName", "user11"), ("employeeId", "e11"), ("emails", ["alias11@other.org"])):
            with pytest.raises(ValidationError, match="already used by"):
                store.users.put(edit(ten, **{field: value}))
        assert store.partial and store.users.find("user10").title == ten.title
        eleven = store.users.find("user11")
        store.users.put(edit(eleven, userName="eleven", emails=[]))
        store.users.put(edit(ten, userName="user11", emails=["user11@example.com"]))  # released by the change above
        assert store.users.find("user11").id == ten.id and store.users.find("eleven").id == eleven.id
        assert store.users.by_email("user10@example.com") is None  # the old value of a person read and changed
        store.flush()
        assert store.partial
    assert_index_as_derived_again(built)
    assert_keyed_reads_as_a_whole_load(built)


def test_another_operators_change_is_refused_when_put_unseen_and_kept_otherwise(built: Path) -> None:
    with Store.open(built) as mine, Store.open(built) as theirs:
        held = mine.users.find("user10")
        theirs.users.put(edit(theirs.users.find("user10"), title="Theirs"))
        theirs.users.put(edit(theirs.users.find("user20"), title="Also theirs"))
        theirs.flush()
        with pytest.raises(StaleData, match="user10 was changed by another operator"), mine.writing():
            mine.users.put(edit(held, department="Mine"))
        with mine.writing():
            mine.users.put(edit(mine.users.find("user10"), department="Mine"))
            mine.users.put(edit(mine.users.find("user30"), department="Mine"))
        assert mine.partial
    with Store.open(built, readonly=True) as reader:
        ten = reader.users.find("user10")
        assert (ten.title, ten.department) == ("Theirs", "Mine")
        assert reader.users.find("user20").title == "Also theirs"
        assert reader.users.find("user30").department == "Mine"
    assert_index_as_derived_again(built)


@pytest.mark.parametrize("case", ["after a flush in the same write", "no index left by the other writer",
                                  "loaded whole in the write"])
def test_a_change_to_what_another_operator_changed_is_refused_however_the_write_goes_on(built: Path,
                                                                                       case: str) -> None:
    with Store.open(built) as mine, Store.open(built) as theirs:
        held = mine.users.find("user10")
        theirs.users.put(edit(theirs.users.find("user10"), title="Theirs"))
        theirs.flush()
        if case == "no index left by the other writer":
            (built / "state.index").unlink()
        with pytest.raises(StaleData, match="user10 was changed by another operator"), mine.writing():
            mine.users.put(edit(mine.users.find("user30"), title="Mine"))
            if case == "after a flush in the same write":
                mine.flush()
            elif case == "loaded whole in the write":
                mine.load_whole()
            mine.users.put(edit(held, department="Mine"))
    with Store.open(built, readonly=True) as reader:
        assert reader.users.find("user10").title == "Theirs" and reader.users.find("user10").department != "Mine"


def test_changes_made_before_another_operators_write_are_merged_with_it(built: Path) -> None:
    """A change kept apart while another process wrote (a sync between its checkpoints): merged document by document
    at the flush, as a whole store merges."""
    with Store.open(built) as mine, Store.open(built) as theirs:
        mine.users.put(edit(mine.users.find("user10"), title="Mine"))
        mine.links.remove_many([link.id for link in mine.links.of(mine.users.find("user11").id)])
        theirs.users.put(edit(theirs.users.find("user20"), title="Theirs"))
        theirs.flush()
        mine.flush()
    with Store.open(built, readonly=True) as reader:
        assert reader.users.find("user10").title == "Mine"
        assert reader.users.find("user20").title == "Theirs"
        assert reader.links.of(reader.users.find("user11").id) == []
        assert len(reader.links.of(reader.users.find("user12").id)) == 2
    assert_index_as_derived_again(built)


def test_a_rollback_drops_the_changes_kept_apart_and_reads_through_the_index_again(built: Path) -> None:
    with no_whole_read(), Store.open(built) as store:
        store.users.put(edit(store.users.find("user10"), title="Dropped"))
        store.users.remove(store.users.find("user11").id)
        store.rollback()
        assert store.partial and not store.storage.dirty
        assert store.users.find("user10").title != "Dropped" and store.users.find("user11") is not None
        assert len(store.users) == PEOPLE


def test_an_index_from_the_version_before_gives_the_next_document_ids_by_reading_the_keys(built: Path) -> None:
    """An index written before `next` was in its header: the next document id of each table is read from the keys at
    the index's spans (a few MB at a time, nothing parsed), and the first write is partial already."""
    with Store.open(built) as store:  # the person with the greatest document id is not the last one stored
        store.load_whole()
        store.users.remove(store.users.find("user299").id)
        store.users.put(edit(store.users.find("user0"), title="First"))
        store.flush()
    index = built / "state.index"
    content = index.read_bytes()
    end = content.index(b"\n")
    header = state_index.orjson.loads(content[:end])
    expected = header.pop("next")
    index.write_bytes(state_index.orjson.dumps(header) + content[end:])
    with Store.open(built, readonly=True) as reader:
        assert reader.partial
        assert {name: reader._snap.next_id(name) for name in state_index.SPLIT} == expected
    with no_whole_read(), Store.open(built) as store:
        store.users.put(edit(store.users.find("user11"), title="Director"))
        store.users.add(person(5000, id="newcomer"))
        store.flush()
        assert store.partial
    assert_index_as_derived_again(built)


RULES = {"eng": 'department == "Engineering"', "leads": 'title contains "lead" or userName startswith "user1"',
         "sales-or-zoe": 'department == "Sales" and not (displayName contains "Zoë")'}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.one_of(
    st.tuples(st.just("edit"), st.integers(0, 59), st.sampled_from(["department", "title", "userName"]),
              st.sampled_from(["Engineering", "Sales", "Team lead", "a0", "user1x", "zz"])),
    st.tuples(st.just("add"), st.integers(0, 9), st.just("department"), st.sampled_from(["Engineering", "Sales"])),
    st.tuples(st.just("delete"), st.integers(0, 59), st.just(""), st.just(""))), min_size=1, max_size=8))
def test_rule_groups_follow_one_persons_change_as_a_recompute_over_everyone_would(
        tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[Any, ...]]) -> None:
    """After each write of one person, every rule group's members (and their order, by label) are what matching
    the rule over every person gives, while the writer reads only the people it changed and a few labels."""
    home = tmp_path_factory.mktemp("rules") / "home"
    with clock.fixed(AT), Service(Store.open(home)) as setup:
        setup.store.users.put_many([person(i, department="Engineering" if i % 3 else "Sales",
                                           displayName=f"Zoë {i}" if i % 5 == 0 else f"Sam {i}") for i in range(60)])
        setup.store.flush()
        for name, rule in RULES.items():
            setup.create_group(name, rule=rule)
    with clock.fixed(AT), Service(Store.open(home)) as svc:
        assert svc.store.partial
        for kind, n, field, value in ops:
            who = svc.find_user(f"E{n}")
            try:
                if kind == "add":
                    svc.add_user(employeeId=f"N{n}", userName=f"new{n}", **{field: value})
                elif who is None:
                    continue
                elif kind == "edit":
                    svc.edit_user(who.employeeId, **{field: value})
                else:
                    svc.delete_user(who.employeeId, confirm=True)
            except ValidationError:
                continue  # (a userName taken: refused, nothing changed)
            assert svc.store.partial
            with Store.open(home, readonly=True) as reader:
                for name, rule in RULES.items():
                    group = reader.groups.by_name(name)
                    assert group.members == [u.id for u in matching(reader, rule)], (name, kind, n, field, value)


@pytest.mark.parametrize("many", [0, 1_000_000])
def test_many_keyed_reads_by_maps_of_the_index_answer_as_its_searches_do(built: Path, monkeypatch: pytest.MonkeyPatch,
                                                                        many: int) -> None:
    """After many lookups (an import, a sync reading each person's links) a snapshot answers from maps of its sections
    made once, not a search per lookup: the same answers (`many`=0: maps from the first lookup; else searches)."""
    monkeypatch.setattr(state_index, "MANY", many)
    with Store.open(built) as store:
        store.users.remove(store.users.find("user12").id)
        store.users.put(edit(store.users.find("user13"), userName="USER12", emails=["User12@Example.com"]))
        store.links.put(edit(store.links.of(store.users.find("user14").id)[0], local_id=store.users.find("user15").id))
        store.flush()
        assert store.partial
        assert store.users.find("user12").id == store.users.find("user12@example.com").id
        assert store.users.by_user_name("user13") is None
    assert_keyed_reads_as_a_whole_load(built)


def test_values_with_spaces_around_them_are_compared_as_a_whole_store_compares_them(built: Path, tmp_path: Path) -> None:
    """At the store's level (the service strips what operators type), a key with a space after it is another key, in
    a partial store as in a whole one; an operator's argument is found without the spaces around it."""
    whole_home = tmp_path / "w"
    shutil.copytree(built, whole_home)
    Store.open(whole_home).close()
    for home, load in ((built, False), (whole_home, True)):
        with Store.open(home) as store:
            if load:
                store.load_whole()
            store.users.put(edit(store.users.find("user20"), employeeId="E11 ", userName="user11 "))
            assert store.users.by_key("E11").userName == "user11" and store.users.by_key("E11 ").userName == "user11 "
            assert store.users.find(" user11 ").userName == "user11"
            store.flush()
    assert (built / "state.json").read_bytes() == (whole_home / "state.json").read_bytes()


@pytest.mark.parametrize("bulk", [0, 7, 1_000_000])
def test_people_read_one_by_one_past_a_bound_are_read_at_once_with_the_same_answers(
        built: Path, monkeypatch: pytest.MonkeyPatch, bulk: int) -> None:
    """Many people read one by one (an import): past `BULK` the others are read at once, a chunk at a time, and the
    answers, the uniqueness checks and the state written are those of a whole store."""
    monkeypatch.setattr("console.store.BULK", bulk)
    monkeypatch.setattr(state_index, "CHUNK", 7)
    whole_home = built.parent / "whole"
    shutil.copytree(built, whole_home)
    Store.open(whole_home).close()
    for home, load in ((built, False), (whole_home, True)):
        with clock.fixed(AT), Store.open(home) as store:
            if load:
                store.load_whole()
            store.users.put(edit(store.users.find("user3"), userName="three"))
            store.users.remove(store.users.find("user4").id)
            for n in range(0, PEOPLE, 3):
                who = store.users.find(f"user{n}") or store.users.find("three")
                store.users.put(edit(who, title=f"T{n}"))
            with pytest.raises(ValidationError, match="already used by"):
                store.users.put(edit(store.users.find("user8"), userName="user9"))
            assert store.users.find("user3") is None and store.users.find("user4") is None
            assert store.users.by_email("user3@example.com").userName == "three"
            assert store.users._all_read == (not load and bulk < PEOPLE)
            store.flush()
            assert store.partial != load
    assert (built / "state.json").read_bytes() == (whole_home / "state.json").read_bytes()
    assert_index_as_derived_again(built)
