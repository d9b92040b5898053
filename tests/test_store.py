"""The local state: durable atomic writes, the home lock, damaged files, migrations, indexes at 100k, rollback."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import unicodedata
from pathlib import Path

import orjson
import pytest

from console.errors import ReadOnly, StateCorrupt, StateError, StateLocked
from console.models import Application, Event, Group, Link, User
from console.store import SCHEMA_VERSION, Store
from tests.plugins.core import ROOT, child_env, person

CHILD_FLUSH_LOOP = """
import sys
from console.store import Store
store = Store.open(sys.argv[1])
marker = store.users.find("user0")
n = 0
while True:
    n += 1
    marker.title = f"t{n}"
    store.users.put(marker)
    store.flush()
    print(n, flush=True)
"""

CHILD_HOLD = """
import sys
from console.store import Store
store = Store.open(sys.argv[1])
with store.writing():  # a write that takes as long as the test wants
    print("ready", flush=True)
    sys.stdin.readline()
store.close()
"""


def child(code: str, *args: str, **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, env=child_env(), text=True,
                            stdout=subprocess.PIPE, **kw)  # type: ignore[call-overload]


def raw_state(home: Path) -> dict:
    return orjson.loads((home / "state.json").read_bytes())


# ---- basics -----------------------------------------------------------------------------------
def test_a_fresh_home_gets_a_state_file_with_the_current_schema(state_home: Path) -> None:
    Store.open(state_home).close()
    meta = raw_state(state_home)["meta"]["1"]
    assert meta == {"schema": SCHEMA_VERSION, "primary_key": "employeeId", "generation": 1}


def test_people_are_found_by_key_user_name_or_email_after_a_reopen(state_home: Path) -> None:
    with Store.open(state_home) as store:
        store.users.put_many([person(1), person(2, emails=["second@example.com", "alias@example.com"])])
    with Store.open(state_home, readonly=True) as store:
        assert store.users.find("e1").userName == "user1"
        assert store.users.find(" USER2 ").employeeId == "E2"
        assert store.users.find("Alias@Example.com").employeeId == "E2"
        assert store.users.by_key("E2") is store.users.by_email("second@example.com")
        assert store.users.find("nobody") is None


def test_unicode_names_round_trip_exactly_and_are_stored_as_utf8(state_home: Path) -> None:
    names = [("Zoë", "Ångström"), ("Seán", "O'Brien"), ("小龙", "李"), ("María", "Ñúñez-Ibáñez"),
             (unicodedata.normalize("NFD", "Zoë"), "Ångström")]  # decomposed: kept decomposed
    with Store.open(state_home) as store:
        store.users.put_many([person(i, givenName=g, familyName=f, displayName=f"{g} {f}")
                              for i, (g, f) in enumerate(names)])
    with Store.open(state_home, readonly=True) as store:
        assert [(store.users.find(f"user{i}").givenName, store.users.find(f"user{i}").familyName)
                for i in range(len(names))] == names
    raw = (state_home / "state.json").read_bytes()
    assert "Ñúñez-Ibáñez".encode() in raw and "李".encode() in raw and b"\\u" not in raw


def test_changing_a_person_in_place_and_putting_it_moves_the_indexes(state: Store) -> None:
    user = state.users.add(person(1))
    user.userName, user.emails = "renamed", ["new@example.com"]
    state.users.put(user)
    assert state.users.find("renamed") is user and state.users.find("new@example.com") is user
    assert state.users.find("user1") is None and state.users.find("user1@example.com") is None
    state.users.add(person(2, userName="user1", emails=["user1@example.com"]))  # the old values are free again


def test_renaming_a_group_in_place_frees_the_old_name(state: Store) -> None:
    group = state.groups.add(Group(name="Sales"))
    group.name = "Revenue"
    state.groups.put(group)
    assert state.groups.by_name("revenue") is group and state.groups.by_name("sales") is None
    state.groups.add(Group(name="Sales"))


def test_removed_items_disappear_from_every_index_and_from_disk(state_home: Path) -> None:
    with Store.open(state_home) as store:
        users = [person(i) for i in range(3)]
        store.users.put_many(users)
        store.users.remove(users[1].id)
        store.users.add(person(9))  # new document ids never collide with the remaining ones
    with Store.open(state_home) as store:
        assert sorted(u.userName for u in store.users) == ["user0", "user2", "user9"]
        assert store.users.find("user1") is None and store.users.find("user1@example.com") is None
        assert len(raw_state(state_home)["users"]) == 3


def test_links_are_indexed_by_local_and_remote_id(state: Store) -> None:
    link = state.links.add(Link(app="scim", local_id="u1", remote_id="r1"))
    state.links.add(Link(app="scim", local_id="g1", remote_id="rg1", kind="group"))
    state.links.add(Link(app="ad", local_id="u1", remote_id="guid-1"))
    assert state.links.find("scim", "u1") is link and state.links.by_remote("scim", "r1") is link
    assert [lk.remote_id for lk in state.links.for_app("scim")] == ["r1"]
    assert [lk.remote_id for lk in state.links.for_app("scim", kind="group")] == ["rg1"]


def test_configuration_tables_are_kept_too(state_home: Path) -> None:
    with Store.open(state_home) as store:
        store.table("endpoints").insert({"name": "members", "url": "https://example.com/{workspace}"})
        store.applications.add(Application(name="Corp AD", kind="ad"))
    with Store.open(state_home) as store:
        assert store.table("endpoints").all() == [{"name": "members", "url": "https://example.com/{workspace}"}]
        assert store.applications.by_name("corp ad").kind == "ad"


def test_a_read_only_store_writes_nothing(state_home: Path) -> None:
    Store.open(state_home).close()
    before = (state_home / "state.json").read_bytes()
    with Store.open(state_home, readonly=True) as store:
        store.users.add(person(1))
        store.flush()
        with pytest.raises(ReadOnly):
            store.events.append(Event(action="create", status="success"))
    assert (state_home / "state.json").read_bytes() == before


# ---- rollback -----------------------------------------------------------------------------------
def test_rollback_drops_every_change_since_the_last_flush(state: Store) -> None:
    first = state.users.add(person(1))
    state.flush()
    state.users.add(person(2))
    state.users.put(User.from_doc({**first.to_doc(), "userName": "changed"}))
    state.groups.add(Group(name="Sales"))
    state.rollback()
    assert [u.userName for u in state.users] == ["user1"]
    assert state.users.find("changed") is None and state.users.find("user2") is None
    assert state.groups.all() == []
    state.flush()  # nothing is pending any more
    assert [d["userName"] for d in raw_state(state.home)["users"].values()] == ["user1"]


def test_leaving_the_store_on_an_exception_discards_unflushed_changes(state_home: Path) -> None:
    with pytest.raises(RuntimeError), Store.open(state_home) as store:
        store.users.add(person(1))
        raise RuntimeError("boom")
    with Store.open(state_home) as store:
        assert len(store.users) == 0
        store.users.add(person(2))  # leaving normally flushes
    with Store.open(state_home) as store:
        assert [u.userName for u in store.users] == ["user2"]


# ---- atomic writes ------------------------------------------------------------------------------
def test_a_flush_that_fails_before_the_rename_leaves_the_old_file_whole(state: Store, monkeypatch) -> None:
    state.users.add(person(1))
    state.flush()
    before = (state.home / "state.json").read_bytes()
    state.users.add(person(2))

    def crash(*args: object) -> None:
        raise OSError("simulated crash")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(StateError, match="cannot write the state file"):  # a clear error, not a traceback
        state.flush()
    assert (state.home / "state.json").read_bytes() == before
    assert not list(state.home.glob(".state.json.*"))  # no temp file left behind
    monkeypatch.undo()
    state.flush()  # the change is still pending and is written now
    assert len(raw_state(state.home)["users"]) == 2


def test_a_writer_killed_in_the_middle_of_flushes_leaves_the_old_or_the_new_state(state_home: Path) -> None:
    with Store.open(state_home) as store:
        store.users.put_many([person(i) for i in range(3000)])  # ~1 MB: a flush takes a few milliseconds
    rnd = random.Random(7)
    for _ in range(3):
        proc = child(CHILD_FLUSH_LOOP, str(state_home))
        assert proc.stdout is not None
        last = 0
        stop_after = rnd.randint(5, 40)
        for line in proc.stdout:
            last = int(line)
            if last >= stop_after:
                break
        time.sleep(rnd.random() / 50)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        last = max([last] + [int(x) for x in proc.stdout.read().split()])
        proc.stdout.close()
        with Store.open(state_home) as store:  # parses, and the lock of the dead writer is free
            assert len(store.users) == 3000
            assert store.users.find("user0").title in (f"t{last}", f"t{last + 1}")
        assert not list(state_home.glob(".state.json.*.tmp"))  # the dead writer's temp file was swept


# ---- the home lock ------------------------------------------------------------------------------
def test_an_open_store_holds_no_lock_and_a_write_stuck_behind_another_is_refused_naming_the_holder(
        state_home: Path) -> None:
    with Store.open(state_home) as store:
        store.users.add(person(1))
    holder = child(CHILD_HOLD, str(state_home), stdin=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with Store.open(state_home, lock_wait=0.3) as writer:  # opening needs no lock: only a write does
            assert writer.users.find("user1") is not None
            with pytest.raises(StateLocked) as err, writer.writing():
                writer.users.add(person(2))
            assert f"pid {holder.pid}" in str(err.value) and err.value.hint
            assert writer.users.find("user2") is None  # the refused write left nothing behind
        with Store.open(state_home, readonly=True) as reader:
            assert reader.users.find("user1") is not None
    finally:
        holder.communicate("\n", timeout=10)
    with Store.open(state_home) as store, store.writing():  # released when the holder's write ended
        store.users.add(person(2))
    with Store.open(state_home, readonly=True) as reader:
        assert reader.users.find("user2") is not None


def test_a_writer_may_wait_for_the_lock(state_home: Path) -> None:
    holder = child(CHILD_HOLD, str(state_home), stdin=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == "ready"
        release = threading.Timer(0.3, lambda: (holder.stdin.write("\n"), holder.stdin.flush()))
        release.start()
        with Store.open(state_home, lock_wait=20) as store, store.writing():
            store.users.add(person(1))
        release.join()
        with Store.open(state_home, readonly=True) as reader:
            assert reader.users.find("user1") is not None
    finally:
        holder.communicate(timeout=10)


# ---- damaged files ------------------------------------------------------------------------------
GOOD = orjson.dumps({"meta": {"1": {"schema": 2, "primary_key": "employeeId"}},
                     "users": {"1": person(1).to_doc()}})


@pytest.mark.parametrize(("content", "says"), [
    (b"", "is empty"),
    (b"  \n", "is empty"),
    (GOOD[: len(GOOD) // 2], "is damaged"),
    (b"\x00\xff\x00garbage", "is damaged"),
    (b"[1, 2, 3]", "is not an idconsole state"),
    (b'{"users": [1, 2]}', "is not an idconsole state"),
])
def test_a_damaged_state_file_is_refused_and_left_byte_for_byte(state_home: Path, content: bytes, says: str) -> None:
    path = state_home / "state.json"
    path.write_bytes(content)
    with pytest.raises(StateCorrupt) as err:
        Store.open(state_home)
    assert says in err.value.title and str(path) in err.value.title and err.value.hint
    assert path.read_bytes() == content
    assert err.value.exit_code == 2
    path.write_bytes(GOOD)  # once repaired it opens: the refusal released the lock
    with Store.open(state_home) as store:
        assert store.users.find("user1") is not None


def test_a_state_with_data_but_no_schema_version_is_refused(state_home: Path) -> None:
    content = orjson.dumps({"users": {"1": person(1).to_doc()}})
    (state_home / "state.json").write_bytes(content)
    with pytest.raises(StateError, match="no schema version"):
        Store.open(state_home)
    assert (state_home / "state.json").read_bytes() == content


# ---- schema migrations ----------------------------------------------------------------------------
def v1_file(home: Path) -> bytes:
    docs = {}
    for n, email in ((1, "zoe@example.com"), (2, "")):
        doc = person(n).to_doc()
        del doc["emails"]
        doc["email"] = email
        docs[str(n)] = doc
    content = orjson.dumps({"meta": {"1": {"schema": 1, "primary_key": "employeeId"}}, "users": docs})
    (home / "state.json").write_bytes(content)
    return content


def test_a_schema_1_file_is_migrated_with_a_backup_of_the_original(state_home: Path) -> None:
    original = v1_file(state_home)
    with Store.open(state_home) as store:
        assert store.users.find("user1").emails == ["zoe@example.com"]
        assert store.users.find("zoe@example.com").userName == "user1"
        assert store.users.find("user2").emails == []
    assert (state_home / "state.json.bak-v1").read_bytes() == original
    data = raw_state(state_home)
    assert data["meta"]["1"]["schema"] == SCHEMA_VERSION
    assert all("email" not in doc and isinstance(doc["emails"], list) for doc in data["users"].values())
    Store.open(state_home).close()  # a migrated file is not migrated (nor backed up) again
    assert (state_home / "state.json.bak-v1").read_bytes() == original


def test_a_schema_1_file_is_not_migrated_by_a_read_only_console(state_home: Path) -> None:
    original = v1_file(state_home)
    with pytest.raises(StateError, match="needs a migration"):
        Store.open(state_home, readonly=True)
    assert (state_home / "state.json").read_bytes() == original
    assert not (state_home / "state.json.bak-v1").exists()


def test_a_file_from_a_newer_schema_is_refused_and_left_alone(state_home: Path) -> None:
    content = orjson.dumps({"meta": {"1": {"schema": SCHEMA_VERSION + 1, "primary_key": "employeeId"}}, "users": {}})
    (state_home / "state.json").write_bytes(content)
    with pytest.raises(StateError) as err:
        Store.open(state_home)
    assert "newer idconsole" in err.value.title and "upgrade" in err.value.hint
    assert (state_home / "state.json").read_bytes() == content


# ---- scale --------------------------------------------------------------------------------------
def test_100k_people_round_trip_with_working_indexes(state_home: Path) -> None:
    n = 100_000
    people = [User(employeeId=f"E{i:06d}", userName=f"u{i:06d}", givenName="Zoë", familyName="Ångström",
                   emails=[f"u{i:06d}@example.com"]) for i in range(n)]
    with Store.open(state_home) as store:
        store.users.put_many(people)
    with Store.open(state_home) as store:
        assert len(store.users) == n
        for i in (0, 4242, n - 1):
            found = store.users.find(f"e{i:06d}")
            assert found is not None and found == people[i]
            assert store.users.find(f"U{i:06d}") is found is store.users.find(f"u{i:06d}@EXAMPLE.com")
        one = store.users.by_key("E050000")
        one.title = "Director"
        store.users.put(one)
    with Store.open(state_home, readonly=True) as store:
        assert store.users.by_key("E050000").title == "Director" and len(store.users) == n
