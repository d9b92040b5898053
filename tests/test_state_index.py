"""The state's sidecar index (`state.index`): keyed reads parse only their documents, whole-table access loads
everything from the same generation, several writers, and an index that is missing, stale or damaged."""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from console import state_index
from console.errors import StaleData
from console.models import Group, Link, Run
from console.service import Service
from console.storage import OrjsonStorage
from console.store import Store
from tests.plugins.core import ROOT, child_env, person

PEOPLE = 300


def build(home: Path) -> None:
    """People E0…E299 (with a second e-mail and a non-ASCII name for some), two links each, a group."""
    with Store.open(home) as store:
        people = [person(i, displayName=f"Zoë Ångström {i}" if i % 7 == 0 else f"Sam Doe {i}",
                         department="Engineering" if i % 3 == 0 else "Sales",
                         status="active" if i % 10 else "inactive",
                         emails=[f"user{i}@example.com", f"alias{i}@other.org"]) for i in range(PEOPLE)]
        store.users.put_many(people)
        store.links.put_many([Link(app=app, local_id=p.id, remote_id=f"{app}-{i}", remote_name=p.userName)
                              for i, p in enumerate(people) for app in ("atlassian", "ad")])
        store.groups.add(Group(name="eng", members=[p.id for p in people if p.department == "Engineering"]))


def whole(home: Path) -> Store:
    """A store that has loaded every document (what the old single-file read gave)."""
    store = Store.open(home, readonly=True)
    store.users.all()
    assert not store.partial
    return store


def test_a_keyed_read_parses_only_the_person_and_their_links(state_home: Path) -> None:
    build(state_home)
    with Service.open(state_home, readonly=True) as svc:
        store = svc.store
        assert store.partial and len(store.users) == PEOPLE  # counted from the index, nothing loaded
        assert store.users.loaded() == 0 and store.links.loaded() == 0
        assert svc.people_count() == (PEOPLE, PEOPLE - PEOPLE // 10) and store.users.loaded() == 0
        details = svc.person("user150")
        assert store.partial  # the whole file was never parsed
        assert store.users.loaded() == 1 and store.links.loaded() == 2
        assert details.groups == ["eng"] and sorted(a.remote_id for a in details.accounts) == ["ad-150",
                                                                                                "atlassian-150"]
    with whole(state_home) as full, Service(full) as svc:
        assert svc.person("user150").to_dict() == details.to_dict()


def test_a_narrow_search_loads_only_the_people_it_finds_and_finds_what_a_whole_load_finds(state_home: Path) -> None:
    build(state_home)
    queries = ["user150@", "ångström 14", "ZOË", "engineering sam", "alias29@other.org", "", "nobody", "e1 sales"]
    with Service.open(state_home, readonly=True) as partial, whole(state_home) as full:
        found = partial.users("user150@")
        assert [u.userName for u in found] == ["user150"] and partial.store.partial
        assert partial.store.users.loaded() == 1
        reference = Service(full)
        for text in queries:
            for limit in (None, 5):
                assert ([u.id for u in partial.users(text, limit=limit)]
                        == [u.id for u in reference.users(text, limit=limit)]), (text, limit)


def test_lookups_through_the_index_answer_as_the_whole_table_does(state_home: Path) -> None:
    build(state_home)
    with Store.open(state_home, readonly=True) as partial, whole(state_home) as full:
        for identifier in ["E1", "e10", " E100 ", "user2", "USER20", "user3@example.com", "alias3@other.org",
                           "alias30@other.org", "alias3", "E1000", "", "user", "@example.com"]:
            mine, theirs = partial.users.find(identifier), full.users.find(identifier)
            assert (mine and mine.to_doc()) == (theirs and theirs.to_doc()), identifier
        assert partial.users.by_email("user7@example.com").userName == "user7"
        assert partial.users.by_user_name("E7") is None and partial.users.by_key("user7") is None
        target = full.users.find("user9")
        assert partial.users.get(target.id).to_doc() == target.to_doc()
        assert partial.links.find("ad", target.id).remote_id == "ad-9"
        assert partial.partial


def test_whole_table_access_loads_the_generation_the_partial_reads_came_from(state_home: Path) -> None:
    build(state_home)
    reader = Store.open(state_home, readonly=True)
    try:
        assert reader.users.find("user5").title == ""
        with Store.open(state_home) as writer, writer.writing():
            changed = writer.users.find("user5")
            changed.title = "Director"
            writer.users.put(changed)
        everyone = reader.users.all()  # loads everything: from the file it opened, not the one written since
        assert not reader.partial and len(everyone) == PEOPLE
        assert reader.users.find("user5").title == ""
        assert reader.refresh() and reader.users.find("user5").title == "Director"
    finally:
        reader.close()


def test_a_partial_store_refreshes_partially(state_home: Path) -> None:
    build(state_home)
    with Store.open(state_home, readonly=True) as reader:
        assert reader.users.find("user5") is not None
        with Store.open(state_home) as writer, writer.writing():
            writer.users.add(person(999))
        assert reader.refresh() and reader.partial
        assert reader.users.find("user999") is not None and reader.users.loaded() == 1


def test_two_processes_changing_different_people_through_the_index_are_both_kept(state_home: Path) -> None:
    build(state_home)
    a = Store.open(state_home)
    try:
        assert a.partial
        first = a.users.find("user1")
        first.title = "from a"
        a.users.put(first)  # loads everything, then changes one person (not written yet)
        other = subprocess.run([sys.executable, "-m", "console", "users", "edit", "user2", "--title", "from b"],
                               cwd=ROOT, env=child_env(state_home), capture_output=True, text=True, timeout=120)
        assert other.returncode == 0, other.stderr
        a.flush()  # merged with the other process's write, document by document
    finally:
        a.close()
    with Store.open(state_home, readonly=True) as reader:
        assert reader.partial
        assert (reader.users.find("user1").title, reader.users.find("user2").title) == ("from a", "from b")
        assert len(reader.users) == PEOPLE


def test_a_change_to_a_person_another_operator_changed_is_refused_after_a_partial_read(state_home: Path) -> None:
    build(state_home)
    a, b = Store.open(state_home), Store.open(state_home)
    try:
        mine, theirs = b.users.find("user3"), a.users.find("user3")  # both read through the index
        theirs.department = "Legal"
        with a.writing():
            a.users.put(theirs)
        mine.title = "from b"
        b.users.put(mine)
        with pytest.raises(StaleData, match="person user3 was changed by another operator"):
            b.flush()
        assert b.users.find("user3").department == "Legal"
    finally:
        a.close()
        b.close()
    with Store.open(state_home, readonly=True) as reader:
        assert (reader.users.find("user3").department, reader.users.find("user3").title) == ("Legal", "")


def test_a_missing_index_is_read_around_and_written_again_by_the_next_writer(state_home: Path) -> None:
    build(state_home)
    index = state_home / "state.index"
    index.unlink()
    with Store.open(state_home, readonly=True) as reader:  # a reader writes nothing: it parses the whole file
        assert not reader.partial and reader.users.find("user7").userName == "user7"
    assert not index.exists()
    before = (state_home / "state.json").read_bytes()
    Store.open(state_home).close()  # a writer's open writes the index again, and only the index
    assert (state_home / "state.json").read_bytes() == before
    with Store.open(state_home, readonly=True) as reader:
        assert reader.partial and reader.users.find("user7").userName == "user7"
        assert index.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("damage", ["stale", "garbage", "truncated"])
def test_a_stale_or_damaged_index_is_never_believed(state_home: Path, damage: str) -> None:
    build(state_home)
    index = state_home / "state.index"
    old = index.read_bytes()
    with Store.open(state_home) as writer, writer.writing():
        changed = writer.users.find("user8")
        changed.userName = "renamed8"
        writer.users.put(changed)
    index.write_bytes({"stale": old, "garbage": b"\x00garbage\n\xff", "truncated": index.read_bytes()[:200]}[damage])
    with Store.open(state_home, readonly=True) as reader:
        assert not reader.partial
        assert reader.users.find("renamed8") is not None and reader.users.find("user8") is None
    with Store.open(state_home) as writer:
        assert not writer.partial  # the writer that wrote the index again had parsed the whole file
    with Store.open(state_home, readonly=True) as reader:
        assert reader.partial and reader.users.find("renamed8") is not None and reader.users.find("user8") is None


CRASH_BEFORE_INDEX = """
import os, sys
from console import state_index
from console.store import Store
def crash(*args, **kw):
    os._exit(9)  # killed after the state file was renamed into place, before its index was written
state_index.write_index = crash
store = Store.open(sys.argv[1])
user = store.users.find("user4")
user.title = "written"
with store.writing():
    store.users.put(user)
"""


def test_a_crash_between_the_state_and_its_index_leaves_the_new_state_read_whole(state_home: Path) -> None:
    build(state_home)
    before = (state_home / "state.index").read_bytes()
    proc = subprocess.run([sys.executable, "-c", CRASH_BEFORE_INDEX, str(state_home)], cwd=ROOT, env=child_env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 9, proc.stderr
    assert (state_home / "state.index").read_bytes() == before  # the index still describes the previous file
    with Store.open(state_home, readonly=True) as reader:
        assert not reader.partial and reader.users.find("user4").title == "written"
    with Store.open(state_home) as writer:
        assert writer.users.find("user4").title == "written"
    with Store.open(state_home, readonly=True) as reader:
        assert reader.partial and reader.users.find("user4").title == "written" and len(reader.users) == PEOPLE


def test_a_home_written_before_the_index_existed_opens_and_loses_nothing(state_home: Path) -> None:
    build(state_home)
    (state_home / "state.index").unlink()
    data = orjson.loads((state_home / "state.json").read_bytes())
    (state_home / "state.json").write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))  # not our layout
    with Store.open(state_home, readonly=True) as reader:
        assert not reader.partial and len(reader.users) == PEOPLE
    Store.open(state_home).close()
    assert orjson.loads((state_home / "state.json").read_bytes())["users"] == data["users"]
    with Store.open(state_home, readonly=True) as reader, whole(state_home) as full:
        assert reader.partial
        for user in full.users:
            assert reader.users.find(user.employeeId).to_doc() == user.to_doc()
            assert ([link.to_doc() for link in reader.links.of(user.id)]
                    == [link.to_doc() for link in full.links.of(user.id)])


def test_an_index_cut_short_after_its_header_is_not_believed(state_home: Path) -> None:
    build(state_home)
    index = state_home / "state.index"
    content = index.read_bytes()
    index.write_bytes(content[: content.index(b"\n") + 1000])  # a whole header, sections cut short
    with Store.open(state_home, readonly=True) as reader:
        assert not reader.partial and reader.users.find("user299").userName == "user299"


def test_a_person_holding_what_looks_like_the_next_document_gets_no_index_and_is_read_whole(state_home: Path) -> None:
    with Store.open(state_home) as store:
        store.users.put_many([person(1, attributes={"x": {"2": {"employeeId": "E9"}}}), person(2)])
    assert not (state_home / "state.index").exists()  # no index rather than a wrong one
    stamp = (state_home / "state.json").stat().st_mtime_ns
    Store.open(state_home).close()  # a writer's open does not write such a state again and again
    assert (state_home / "state.json").stat().st_mtime_ns == stamp
    with Store.open(state_home, readonly=True) as reader:
        assert not reader.partial and reader.users.find("E2").userName == "user2"
    with Store.open(state_home) as store:
        first = store.users.find("E1")
        first.attributes = {}
        store.users.put(first)  # an ordinary state again: indexed again
    with Store.open(state_home, readonly=True) as reader:
        assert reader.partial and reader.users.find("E2").userName == "user2"


def test_after_writes_to_one_table_or_another_every_keyed_read_still_answers_as_a_whole_load(state_home: Path) -> None:
    build(state_home)
    with Store.open(state_home) as store:  # one process, several writes: the index of an unchanged table is reused
        store.groups.add(Group(name="empty"))
        store.flush()
        first = store.users.find("user0")
        store.users.remove(first.id)
        store.users.add(person(1000, displayName="Newcomer"))
        store.flush()
        link = store.links.find("ad", store.users.find("user5").id)
        store.links.remove(link.id)
        store.links.add(Link(app="ad", local_id=store.users.find("user1000").id, remote_id="ad-new"))
        store.flush()
    with Store.open(state_home, readonly=True) as reader, whole(state_home) as full:
        assert reader.partial and len(reader.users) == len(full.users) == PEOPLE
        assert [u.userName for u in Service(reader).users("newcomer")] == ["user1000"]
        for user in full.users:
            assert reader.users.find(user.userName).to_doc() == user.to_doc()
            assert [x.to_doc() for x in reader.links.of(user.id)] == [x.to_doc() for x in full.links.of(user.id)]
        assert reader.users.find("user0") is None


@pytest.mark.parametrize("header", [{"sections": []}, {"sections": {"users.spans": "x"}}, {"tables": 3}, {"starts": None}])
def test_an_index_with_a_header_of_the_wrong_shape_is_not_believed(state_home: Path, header: dict) -> None:
    build(state_home)
    index = state_home / "state.index"
    content = index.read_bytes()
    end = content.index(b"\n")
    changed = orjson.dumps({**orjson.loads(content[:end]), **header})
    index.write_bytes(changed + content[end:])
    with Store.open(state_home, readonly=True) as reader:
        assert reader.users.find("user299").userName == "user299"
        assert not reader.partial


# ---- the index patched row by row (a write derives only the documents it changed) ----------------------------------
def assert_index_as_derived_again(home: Path) -> None:
    """The index on disk is, byte for byte, what deriving it from `state.json` alone gives (no cached row stale)."""
    data = (home / "state.json").read_bytes()
    tables = orjson.loads(data)
    fresh, header, sections = state_index.dump(tables, tables["meta"]["1"].get("primary_key", "employeeId"))
    assert fresh == data and sections is not None
    content = (home / "state.index").read_bytes()
    end = content.index(b"\n")
    stored, body = orjson.loads(content[:end]), content[end + 1:]
    assert {k: stored[k] for k in header} == header
    assert {name: body[offset:offset + size] for name, (offset, size) in stored["sections"].items()} == sections


def assert_keyed_reads_as_a_whole_load(home: Path) -> None:
    with Store.open(home, readonly=True) as reader, whole(home) as full:
        assert reader.partial and len(reader.users) == len(full.users)
        assert Service(reader).people_count() == Service(full).people_count()
        for user in full.users:
            for identifier in (user.employeeId, user.userName, *user.emails):
                assert reader.users.find(identifier).to_doc() == user.to_doc(), identifier
            assert [x.to_doc() for x in reader.links.of(user.id)] == [x.to_doc() for x in full.links.of(user.id)]
        for query in ("director", "legal", "renamed", "zoë", "sam doe 1", "other.org"):
            assert ([u.id for u in Service(reader).users(query)] == [u.id for u in Service(full).users(query)]), query


def edit(item: Any, **fields: Any) -> Any:
    return dataclasses.replace(item, **fields)


WRITES = {  # one write each, in one process after others: the index is patched, never derived whole
    "title": lambda s: s.users.put(edit(s.users.find("user10"), title="Director")),
    "department": lambda s: s.users.put(edit(s.users.find("user11"), department="Legal")),
    "display name": lambda s: s.users.put(edit(s.users.find("user12"), displayName="Renamed Person")),
    "status": lambda s: s.users.put(edit(s.users.find("user13"), status="inactive")),
    "key": lambda s: s.users.put(edit(s.users.find("user14"), employeeId="X14")),
    "userName": lambda s: s.users.put(edit(s.users.find("user15"), userName="renamed15")),
    "e-mail": lambda s: s.users.put(edit(s.users.find("user16"), emails=["new16@example.com"])),
    "e-mails to none": lambda s: s.users.put(edit(s.users.find("user17"), emails=[])),
    "delete": lambda s: s.users.remove(s.users.find("user18").id),
    "add": lambda s: s.users.add(person(1001, displayName="Renamed Newcomer", emails=["a@x.org", "b@x.org"])),
    "link": lambda s: s.links.put(edit(s.links.of(s.users.find("user19").id)[0], 
        local_id=s.users.find("user20").id)),
    "link state": lambda s: s.links.put(edit(s.links.of(s.users.find("user21").id)[0], state="deactivated",
                                             inputs="0123456789abcdef.012345abcdef")),
    "link app": lambda s: s.links.put(edit(s.links.of(s.users.find("user22").id)[0], app="wiki")),  # another group
    "link added": lambda s: s.links.add(Link(app="wiki", local_id=s.users.find("user23").id, remote_id="wiki-23")),
    "group link": lambda s: s.links.add(Link(app="ad", kind="group", local_id=s.groups.by_name("eng").id,
                                             remote_id="g-eng")),
}


def test_after_each_kind_of_write_the_patched_index_is_the_one_derived_again(state_home: Path) -> None:
    build(state_home)
    with Store.open(state_home) as store:
        store.users.all()
        for name, write in WRITES.items():
            write(store)
            store.flush()
            assert_index_as_derived_again(state_home)
    assert_keyed_reads_as_a_whole_load(state_home)


@pytest.fixture
def derived(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The userNames whose index rows are derived (again) from here on."""
    rows: list[str] = []
    real = state_index.search_text
    monkeypatch.setattr(state_index, "search_text", lambda *a: rows.append(a[1]) or real(*a))
    return rows


def test_a_write_after_another_processs_write_patches_from_the_merged_state(state_home: Path,
                                                                           derived: list[str]) -> None:
    build(state_home)
    derived.clear()  # counted from here on, not the build
    with Store.open(state_home) as store:
        WRITES["title"](store)
        store.flush()  # the rows are now cached here
        other = subprocess.run([sys.executable, "-m", "console", "users", "edit", "user21", "--title", "Director"],
                               cwd=ROOT, env=child_env(state_home), capture_output=True, text=True, timeout=120)
        assert other.returncode == 0, other.stderr
        derived.clear()
        WRITES["e-mail"](store)
        store.flush()  # caught up with the other's write (their person changed), then ours patched in
        assert sorted(derived) == ["user16", "user21"]  # the others kept their objects, and their rows
        assert_index_as_derived_again(state_home)
    assert_keyed_reads_as_a_whole_load(state_home)
    with Store.open(state_home, readonly=True) as reader:
        assert reader.users.find("user21").title == "Director" and reader.users.find("new16@example.com")


def test_a_one_person_write_derives_one_person(state_home: Path, derived: list[str]) -> None:
    build(state_home)
    derived.clear()  # counted from here on, not the build
    with Store.open(state_home) as store:
        WRITES["title"](store)
        store.flush()  # the first write of this process too: its rows come from the index it opened
        assert derived == ["user10"]
        assert_index_as_derived_again(state_home)
        derived.clear()
        WRITES["department"](store)
        store.flush()
        assert derived == ["user11"]
    assert_index_as_derived_again(state_home)


FIRST = {  # the people whose rows the first write of a process derives (a delete derives none: the others are kept)
    "title": ["user10"], "department": ["user11"], "display name": ["user12"], "status": ["user13"],
    "key": ["user14"], "userName": ["renamed15"], "e-mail": ["user16"], "e-mails to none": ["user17"],
    "delete": [], "add": ["user1001"], "link": [], "link state": [], "link app": [], "link added": [],
    "group link": []}


def assert_next_process_patches_one_person(state_home: Path, derived: list[str]) -> None:
    """The next process opens the index the last write left (seeded from it): its one-person write derives one row."""
    derived.clear()
    with Store.open(state_home) as store:
        store.users.put(edit(store.users.find("user30"), title="Chief"))
        store.flush()
    assert derived == ["user30"]
    assert_index_as_derived_again(state_home)


@pytest.mark.parametrize("name", ["link", "link state", "link app", "link added", "group link"])
def test_a_link_write_patches_its_row_and_the_grouped_columns_as_derived_again(state_home: Path,
                                                                              monkeypatch: pytest.MonkeyPatch,
                                                                              name: str) -> None:
    """The links' grouped columns (format 7: by application and kind, each link's row, local id, state, inputs)
    follow a write of one link without deriving the others' rows, in the process that built them and in the next
    one (seeded from the index), and a plan's reads (`heads`) see it."""
    build(state_home)
    rows: list[Any] = []
    real = state_index._link_row
    monkeypatch.setattr(state_index, "_link_row", lambda doc: rows.append(doc) or real(doc))
    for _ in range(2):  # a first write of a process (seeded), then another in a process that wrote already
        with Store.open(state_home) as store:
            store.users.all()
            rows.clear()
            WRITES[name](store)
            store.flush()
            assert len(rows) == 1  # the one link written
            assert_index_as_derived_again(state_home)
            rows.clear()
            store.users.put(edit(store.users.find("user30"), title="Chief"))
            store.flush()
            assert not rows  # the links did not change: their bytes and index kept as they are
            assert_index_as_derived_again(state_home)
        if name in ("link added", "group link"):
            break  # once: a second would add a second link
    with Store.open(state_home, readonly=True) as reader, whole(state_home) as full:
        assert reader.partial
        for app in ("atlassian", "ad", "wiki"):
            for kind in ("user", "group"):
                heads = reader.links.heads(app, kind)
                assert {k: v[:2] for k, v in heads.items()} == {
                    k: v[:2] for k, v in full.links.heads(app, kind).items()}, (app, kind)
                assert all(reader.links.at(app, k, v, kind).to_doc() == full.links.find(app, k, kind).to_doc()
                           for k, v in heads.items())
        assert reader.links.apps() == full.links.apps()


@pytest.mark.parametrize("name", list(WRITES))
def test_the_first_write_of_a_process_patches_the_rows_of_the_index_it_opened(state_home: Path, derived: list[str],
                                                                             name: str) -> None:
    build(state_home)
    derived.clear()
    with Store.open(state_home) as store:  # a new store: nothing kept of the build's write
        assert store.partial
        WRITES[name](store)
        store.flush()
    if FIRST[name] is None:
        assert len(derived) == PEOPLE - 1
    else:
        assert sorted(derived) == FIRST[name]
    assert_index_as_derived_again(state_home)
    assert_next_process_patches_one_person(state_home, derived)
    assert_keyed_reads_as_a_whole_load(state_home)


def test_a_patched_person_holding_what_looks_like_the_next_document_drops_the_index(state_home: Path) -> None:
    """A whole store locates each document in the bytes it dumped: one that could be mistaken for the next is not
    indexed (a partial store places each document itself: see the next test)."""
    build(state_home)
    with Store.open(state_home) as store:
        store.load_whole()
        WRITES["title"](store)
        store.flush()
        first = store.users.find("user1")
        first.attributes = {"x": {"2": {"employeeId": "E9"}}}  # `"2":{"employeeId":` starts a person document
        store.users.put(first)
        store.flush()
        assert not (state_home / "state.index").exists()
        first.attributes = {}
        store.users.put(first)
        store.flush()
        assert_index_as_derived_again(state_home)
    assert_keyed_reads_as_a_whole_load(state_home)


def test_a_writers_open_of_an_unindexed_home_parses_the_state_once(state_home: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    build(state_home)
    (state_home / "state.index").unlink()
    parsed: list[int] = []
    real = OrjsonStorage.parse
    monkeypatch.setattr(OrjsonStorage, "parse", lambda self, raw: parsed.append(len(raw)) or real(self, raw))
    with Store.open(state_home) as store:
        assert len(store.users) == PEOPLE
    assert len(parsed) == 1
    assert_index_as_derived_again(state_home)


def test_a_first_write_that_changes_the_primary_key_derives_every_row(state_home: Path, derived: list[str]) -> None:
    build(state_home)
    derived.clear()
    with Store.open(state_home) as store:
        store.users.all()
        store.storage.tables()["meta"]["1"]["primary_key"] = "userName"  # what the rows' keys are derived from
        WRITES["title"](store)
        store.flush()
    assert len(derived) == PEOPLE
    assert orjson.loads((state_home / "state.index").read_bytes().split(b"\n", 1)[0])["primary_key"] == "userName"
    assert_index_as_derived_again(state_home)
    assert_next_process_patches_one_person(state_home, derived)  # seeded again from the index of the new key


@pytest.mark.parametrize("other", [["edit", "user21", "--title", "Director"], ["delete", "user21", "--yes"]])
def test_a_first_write_after_another_processs_write_patches_or_derives_as_the_merged_state_needs(
        state_home: Path, derived: list[str], other: list[str]) -> None:
    build(state_home)
    derived.clear()
    with Store.open(state_home) as store:
        store.users.all()  # loaded (and seeded) before the other process writes
        done = subprocess.run([sys.executable, "-m", "console", "users", *other], cwd=ROOT,
                              env=child_env(state_home), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        derived.clear()
        WRITES["e-mail"](store)
        store.flush()
        if other[0] == "edit":
            assert sorted(derived) == ["user16", "user21"]
        else:  # another order of the people: every row derived again from the merged state
            assert len(derived) == PEOPLE - 1
        assert_index_as_derived_again(state_home)
    assert_keyed_reads_as_a_whole_load(state_home)


@pytest.mark.parametrize("section", ["users.ids", "users.emails", "users.digests", "users.active", "links.gstates",
                                     "links.groups", "links.grows",
                                     "links.glocal"])
def test_an_index_whose_rows_do_not_fit_is_not_seeded_and_the_first_write_derives(state_home: Path,
                                                                                 derived: list[str],
                                                                                 section: str) -> None:
    build(state_home)
    path = state_home / "state.index"
    content = bytearray(path.read_bytes())
    end = content.index(b"\n")
    offset, size = orjson.loads(content[:end])["sections"][section]
    at = end + 1 + offset + size // 2
    while content[at] == ord("\n"):  # a byte of a line, not between two
        at += 1
    content[at] = 2 if section == "users.active" else ord("\n")  # one line too many, or not a flag
    path.write_bytes(bytes(content))  # the header still describes state.json: the snapshot opens
    derived.clear()
    with Store.open(state_home) as store:
        assert store.partial
        WRITES["title"](store)
        store.flush()
    assert len(derived) == (1 if section.startswith("links.") else PEOPLE)
    assert_index_as_derived_again(state_home)


def test_a_write_that_changes_no_link_writes_the_seeded_links_sections_without_splitting_them(state_home: Path) -> None:
    """A seeded table no write changed (the links of a one-person edit) is written from the index's sections as they
    are: its rows are not split into per-row values (memory at 200k links); a later write of a link patches them."""
    build(state_home)
    with Store.open(state_home) as store:
        assert store.partial
        store.load_whole()  # (a partial store writes the unchanged links as they are: see test_partial_write.py)
        WRITES["title"](store)
        store.flush()
        links = store._index_cache["links.rows"]
        assert links.pending is not None and links.fields == []  # kept as the index's sections
        assert store._index_cache["users.rows"].pending is None  # the changed table: split, one row patched
        assert_index_as_derived_again(state_home)
        WRITES["link"](store)
        store.flush()
        assert links.pending is None and len(links.fields[0]) == 2 * PEOPLE
    assert_index_as_derived_again(state_home)
    with Store.open(state_home) as store:
        moved = store.links.of(store.users.find("user20").id)
        assert len(moved) == 3  # the link moved from user19 is read back through the index written last


def test_a_write_is_made_from_the_parts_without_the_bytes_it_replaces_kept_and_patches_from_what_it_read_back(
        state_home: Path, derived: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The state file is written from the dump's parts (the unchanged documents are views of the bytes last written):
    while it is written, nothing of the index's rows or cache keeps those bytes (only the parts, emptied once written),
    so the old and the new bytes are never both in memory; the next write patches the bytes read back, equal to the
    file."""
    build(state_home)
    seen: list[bool] = []
    real = OrjsonStorage.write_parts

    def write_parts(self: OrjsonStorage, parts: list[Any], **kw: Any) -> bytes:
        cache = store._index_cache
        seen.append(all(cache[f"{n}.rows"].base is None and cache.get(n) is None for n in state_index.SPLIT))
        data = real(self, parts, **kw)
        assert parts == [] and data == self.path.read_bytes()
        return data

    monkeypatch.setattr(OrjsonStorage, "write_parts", write_parts)
    with Store.open(state_home) as store:
        store.load_whole()  # (a partial store never holds the bytes it replaces: see test_partial_write.py)
        for write in ("title", "department"):
            WRITES[write](store)
            store.flush()
            assert_index_as_derived_again(state_home)
            base = store._index_cache["users.rows"].base
            assert base is not None and base.obj == (state_home / "state.json").read_bytes()
    assert seen == [True, True]
    derived.clear()
    with Store.open(state_home) as store:
        store.load_whole()
        WRITES["userName"](store)
        store.flush()
        WRITES["status"](store)  # patched from the bytes the previous write read back
        store.flush()
    assert derived == ["renamed15", "user13"]
    assert_index_as_derived_again(state_home)


def test_loading_every_document_parses_people_and_links_a_chunk_at_a_time_as_a_whole_parse_gives_them(
        state_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store opened through the index loads everything (its first write) without parsing the whole file at once (the
    parser's copy and tree of it were ~300 MB at 100k people): the people and links, parsed at the index's spans a few
    documents at a time, are what parsing the whole file gives, in the same order; spans that do not describe the file
    are not believed (the file is parsed whole)."""
    build(state_home)
    monkeypatch.setattr(state_index, "CHUNK", 7)  # chunks end inside the tables, and the last one is short
    data = (state_home / "state.json").read_bytes()
    whole_tables = orjson.loads(data)
    parsed: list[int] = []
    real = OrjsonStorage.parse
    monkeypatch.setattr(OrjsonStorage, "parse", lambda self, raw: parsed.append(len(raw)) or real(self, raw))
    with Store.open(state_home) as store:
        assert store.partial
        snap = store._snap
        assert snap is not None
        split = state_index.parse_split(snap, data)
        assert split is not None
        for name in state_index.SPLIT:
            assert list(split[name].items()) == list(whole_tables[name].items())
        end = snap.header["starts"]["links"] + snap.table_rows("links")[1][-1]  # where the links' "}" is
        assert data[end:end + 1] == b"}"
        assert state_index.parse_split(snap, data[:end] + b" " + data[end:]) is None  # not the indexed file
        shifted = data.replace(b'"1":{', b'"1": {', 1)  # the first person's document starts a byte later
        assert state_index.parse_split(snap, shifted) is None
        store.load_whole()
        assert parsed == []  # never the whole file
        assert [u.to_doc() for u in store.users] == list(whole_tables["users"].values())
        WRITES["title"](store)
        store.flush()
    assert_index_as_derived_again(state_home)


@pytest.mark.parametrize("mails", ["one each", "one each but one without"])
def test_a_first_write_patches_the_seeded_emails_of_people_with_one_each_or_not(state_home: Path, derived: list[str],
                                                                               mails: str) -> None:
    with Store.open(state_home) as store:
        store.users.put_many([person(i, emails=[] if mails != "one each" and i == 7 else [f"user{i}@example.com"])
                              for i in range(50)])
    derived.clear()
    with Store.open(state_home) as store:
        store.users.put(edit(store.users.find("user30"), emails=["new30@example.com", "two30@example.com"]))
        store.flush()
    assert derived == ["user30"]
    assert_index_as_derived_again(state_home)
    with Store.open(state_home, readonly=True) as reader:
        assert reader.users.find("two30@example.com").userName == "user30"
        assert reader.users.find("user31@example.com").userName == "user31"


def test_an_index_whose_spans_cannot_be_read_as_rows_is_derived_again_not_an_error(state_home: Path,
                                                                                   derived: list[str]) -> None:
    build(state_home)
    path = state_home / "state.index"
    content = path.read_bytes()
    end = content.index(b"\n")
    header = orjson.loads(content[:end])
    (spans_at, spans_size), (ids_at, ids_size) = header["sections"]["users.spans"], header["sections"]["users.ids"]
    assert ids_at == spans_at + spans_size
    header["sections"]["users.spans"] = [spans_at, spans_size - 1]  # not whole int64s: a byte moved to the ids
    header["sections"]["users.ids"] = [ids_at - 1, ids_size + 1]
    path.write_bytes(orjson.dumps(header) + content[end:])
    derived.clear()
    with Store.open(state_home) as store:
        assert store.partial  # the header still describes state.json
        WRITES["title"](store)
        store.flush()
    assert len(derived) == PEOPLE
    assert_index_as_derived_again(state_home)


def test_the_runs_bytes_are_written_again_only_when_the_runs_change(state_home: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A sync's state saves keep the runs table's bytes (its running run holds the plan) while no run changed; a
    change of this process, or another's caught up, is written."""
    build(state_home)
    dumped: list[str] = []
    real = state_index.orjson.dumps
    monkeypatch.setattr(state_index.orjson, "dumps", lambda value, *a, **k: (
        dumped.append("runs") if isinstance(value, dict) and any(isinstance(d, dict) and d.get("kind") == "sync"
                                                                 for d in value.values()) else None,
        real(value, *a, **k))[1])
    with Store.open(state_home) as store:
        run = Run(kind="sync", plan=[{"action": "create", "person": f"user{i}"} for i in range(50)])
        store.runs.add(run)
        store.flush()
        assert dumped == ["runs"]
        store.users.put(edit(store.users.find("user10"), title="Chief"))
        store.flush()
        assert dumped == ["runs"]  # not dumped again: the same bytes written
        run.status, run.plan = "success", []
        store.runs.put(run)
        store.flush()
        assert dumped == ["runs", "runs"]
        other = subprocess.run([sys.executable, "-m", "console", "users", "edit", "user21", "--title", "Director"],
                               cwd=ROOT, env=child_env(state_home), capture_output=True, text=True, timeout=120)
        assert other.returncode == 0, other.stderr
        with Store.open(state_home) as another:  # another process's run
            another.runs.add(Run(kind="import", status="success"))
        store.users.put(edit(store.users.find("user11"), title="Chief"))
        store.flush()  # caught up with both: the merged runs written
    with Store.open(state_home, readonly=True) as reader:
        assert {(r.kind, r.status, len(r.plan)) for r in reader.runs} == {("sync", "success", 0), ("import", "success", 0)}
        assert reader.users.find("user21").title == "Director" and reader.users.find("user10").title == "Chief"
        assert reader.users.find("user11").title == "Chief"


def test_a_fifo_in_the_index_place_is_no_index_and_the_next_writer_replaces_it(state_home: Path) -> None:
    """Something that is not a regular file where the index goes (a FIFO hung every command: `users show` waited
    for a writer to open the pipe) is read as no index: the state is parsed, and the next writer writes the index."""
    import os
    import stat

    build(state_home)
    index = state_home / state_index.INDEX_NAME
    index.unlink()
    os.mkfifo(index)
    code = ("import sys; from console.store import Store\n"
            f"with Store.open({str(state_home)!r}, readonly=True) as s: print(s.users.find('user7').userName)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=child_env(state_home), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "user7", done.stderr
    with Store.open(state_home) as store:
        store.users.put(dataclasses.replace(store.users.find("user7"), title="Lead"))
        store.flush()
    assert stat.S_ISREG(index.lstat().st_mode)
    with Store.open(state_home, readonly=True) as store:
        assert store.partial and store.users.find("user7").title == "Lead"
