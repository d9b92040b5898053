"""The partial writer (issue 16) attacked as an adversary and a careful operator would: other processes writing the
same home, the index damaged or replaced between writes, hostile values. Each test is a problem found, or a promise
checked with real processes where it matters."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from console import clock
from console.errors import StaleData
from console.store import Store
from tests.plugins.core import ROOT, child_env
from tests.test_partial_write import AT, built_home
from tests.test_state_index import assert_index_as_derived_again, edit


@pytest.fixture
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_home(tmp_path_factory)


@pytest.fixture
def home(built: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(built, copy)
    Store.open(copy).close()  # the copy's index names another file (inode): written again, the state unchanged
    return copy


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console", *args, "--json"], cwd=ROOT, env=child_env(home),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, encoding="utf-8", timeout=120)


def _damage(index: Path, how: str) -> None:
    """What an operator or a tool may do to `state.index` between two writes."""
    if how == "removed":
        index.unlink()
    elif how == "a directory":
        index.unlink()
        index.mkdir()
    elif how == "a FIFO":
        index.unlink()
        os.mkfifo(index)
    elif how == "truncated":
        index.write_bytes(index.read_bytes()[:100])
    elif how == "without next ids":  # what the version before wrote
        content = index.read_bytes()
        end = content.index(b"\n")
        header = orjson.loads(content[:end])
        del header["next"]
        index.write_bytes(orjson.dumps(header) + content[end:])


DAMAGES = ["removed", "a directory", "a FIFO", "truncated", "without next ids"]


@pytest.mark.parametrize("how", DAMAGES)
def test_a_change_to_a_person_another_process_changed_is_refused_when_the_index_was_damaged_in_between(
        home: Path, how: str) -> None:
    """Found: a partial store catching up with another operator's write reopened the state whole when the new index
    could not be believed, and then compared nobody: the held (old) version of the person was written over the
    other operator's change, which was lost without a word."""
    with Store.open(home) as mine:
        held = mine.users.find("user11")
        assert mine.partial
        theirs = cli(home, "users", "edit", "user11", "--title", "Theirs")
        assert theirs.returncode == 0, theirs.stderr
        _damage(home / "state.index", how)
        with pytest.raises(StaleData, match="person user11 was changed by another operator"), mine.writing():
            mine.users.put(edit(held, department="Mine"))
        with mine.writing():  # on what is current now: accepted, and the other operator's change kept
            mine.users.put(edit(mine.users.find("user11"), department="Mine"))
    with Store.open(home, readonly=True) as reader:
        ten = reader.users.find("user11")
        assert (ten.title, ten.department) == ("Theirs", "Mine")
    if how != "a directory":  # (renamed over by the next write; a directory stays, and no index is believed)
        assert_index_as_derived_again(home)


def test_a_change_is_refused_when_the_other_operator_wrote_a_state_that_cannot_be_indexed(home: Path) -> None:
    """The same, without anybody touching the index: the other operator's state holds a value that looks like the start
    of a document (`{"2": {"employeeId": ...}}`), so no index is written and the catch-up reads the state whole."""
    with Store.open(home) as mine:
        held = mine.users.find("user11")
        with Store.open(home) as theirs:
            theirs.users.put(edit(theirs.users.find("user11"), title="Theirs"))
            theirs.users.put(edit(theirs.users.find("user12"), attributes={"x": {"2": {"employeeId": "E9"}}}))
        assert not (home / "state.index").exists()
        with pytest.raises(StaleData, match="person user11 was changed by another operator"), mine.writing():
            mine.users.put(edit(held, department="Mine"))
    with Store.open(home, readonly=True) as reader:
        assert reader.users.find("user11").title == "Theirs"


def _whole_store(home: Path) -> Store:
    store = Store.open(home)
    store.load_whole()
    return store


def test_deleting_the_person_with_the_greatest_document_id_gives_what_a_whole_store_gives(home: Path,
                                                                                          tmp_path: Path) -> None:
    """Found: the partial writer kept the next document id after the last person was removed, where a whole store
    (and the index derived again) gives that id to the next person added: the index was not what deriving it again
    gives, and the next person's document id (so the state file) differed from a whole store's."""
    whole_home = tmp_path / "whole"
    shutil.copytree(home, whole_home)
    for opened, at in ((Store.open, home), (_whole_store, whole_home)):  # each step a store of its own
        with opened(at) as store:
            store.users.remove(store.users.find("user299").id)
        if at == home:
            assert_index_as_derived_again(at)
        with opened(at) as store:
            store.users.add(edit(store.users.find("user298"), id="new1", employeeId="E900", userName="new1",
                                 emails=["new1@example.com"]))
        with opened(at) as store:
            store.users.remove(store.users.find("new1").id)
            store.users.remove(store.users.find("user298").id)
        with opened(at) as store:
            store.users.add(edit(store.users.find("user297"), id="new2", employeeId="E901", userName="new2",
                                 emails=["new2@example.com"]))
    assert (home / "state.json").read_bytes() == (whole_home / "state.json").read_bytes()
    assert_index_as_derived_again(home)


def test_deleting_every_person_and_link_then_adding_again(home: Path) -> None:
    for first in (0, 150):
        with Store.open(home) as store:
            for n in range(first, first + 150):
                who = store.users.find(f"user{n}")
                store.links.remove_many([link.id for link in store.links.of(who.id)])
                store.users.remove(who.id)
            assert store.partial
        assert_index_as_derived_again(home)
    with Store.open(home) as store:
        assert len(store.users) == 0 and store.users.find("user0") is None
        store.users.add(edit(_a_person(), id="again"))
        assert store.partial
    assert_index_as_derived_again(home)
    with Store.open(home, readonly=True) as reader:
        assert [u.userName for u in reader.users] == ["again"]


def _a_person() -> Any:
    from tests.plugins.core import person
    return person(5000, userName="again", emails=["again@example.com"])


@pytest.mark.parametrize("index", ["this version's", "the version before's (no next ids: read from the keys)"])
def test_a_state_whose_document_ids_were_reordered_by_hand_is_written_whole_never_reusing_an_id(home: Path,
                                                                                                index: str) -> None:
    """The greatest id is found as the last one kept only while ids ascend; a state reordered by hand has no next id
    in its index, so its writers load it whole (no document ever written twice under one id)."""
    data = orjson.loads((home / "state.json").read_bytes())
    users = data["users"]
    data["users"] = {k: users[k] for k in [*list(users)[-5:], *list(users)[:-5]]}  # the greatest ids first
    (home / "state.json").write_bytes(orjson.dumps(data))
    Store.open(home).close()  # indexed again: written as it is (the order kept), its next ids unknown
    if index != "this version's":
        content = (home / "state.index").read_bytes()
        end = content.index(b"\n")
        header = orjson.loads(content[:end])
        assert header.pop("next")["users"] is None
        (home / "state.index").write_bytes(orjson.dumps(header) + content[end:])
    with Store.open(home) as store:  # a partial write of the links only: the people's next id still unknown
        link = store.links.of(store.users.find("user3").id)[0]
        store.links.put(edit(link, remote_name="renamed"))
        store.flush()
        assert store.partial
    assert_index_as_derived_again(home)
    with Store.open(home) as store:
        store.users.remove(store.users.find("user0").id)
    with Store.open(home) as store:
        store.users.add(edit(_a_person(), id="again"))
    text = (home / "state.json").read_bytes()
    assert len(orjson.loads(text)["users"]) == 300
    assert_index_as_derived_again(home)


KILL_AT = {  # where a writer dies (SIGKILL, nothing cleaned up) in a partial write, as a child process
    "copying the unchanged documents": """
import console.storage as storage
copy = storage._copy_range
def _copy_range(part, fh):
    fh.write(b'{"users":{"1":')
    fh.flush()
    os.kill(os.getpid(), signal.SIGKILL)
storage._copy_range = _copy_range
""",
    "between the state file and its index": """
import console.state_index as state_index
state_index.write_index = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
""",
    "writing the index": """
import console.state_index as state_index
def atomic_write(path, data, **_):
    with open(path.with_name(f".{path.name}.{os.getpid()}.tmp"), "wb") as fh:
        fh.write(b'{"format":7')
    os.kill(os.getpid(), signal.SIGKILL)
state_index.atomic_write = atomic_write
""",
}


@pytest.mark.parametrize("where", KILL_AT)
def test_a_writer_killed_in_a_partial_write_leaves_a_state_every_command_reads_and_the_next_write_indexes(
        home: Path, where: str) -> None:
    script = f"""
import os, signal, sys
from pathlib import Path
{KILL_AT[where]}
from console.service import Service
with Service.open(Path(sys.argv[1])) as svc:
    assert svc.store.partial
    svc.edit_user("user11", title="Killed")
"""
    before = (home / "state.json").read_bytes()
    child = subprocess.run([sys.executable, "-c", script, str(home)], cwd=ROOT, env=child_env(home),
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert child.returncode == -9, child.stderr
    after = (home / "state.json").read_bytes()
    assert after == before if where == "copying the unchanged documents" else after != before
    shown = cli(home, "users", "show", "user11")
    assert shown.returncode == 0 and shown.stderr == "", shown.stderr
    title = orjson.loads(shown.stdout)["title"]
    assert title == ("" if after == before else "Killed"), shown.stdout[:300]
    edited = cli(home, "users", "edit", "user12", "--title", "After")
    assert edited.returncode == 0, edited.stderr
    assert not list(home.glob(".*.tmp"))  # the dead writer's temp files swept by the next one
    assert_index_as_derived_again(home)
    with Store.open(home, readonly=True) as reader:
        assert reader.partial and reader.users.find("user12").title == "After"
        assert reader.users.find("user11").title == title


def test_a_full_disk_refuses_the_write_clearly_and_leaves_the_state_and_its_index_as_they_were(home: Path) -> None:
    """`ulimit -f` below the state's size: the write fails (EFBIG, as ENOSPC would) in a real process."""
    before = {name: (home / name).read_bytes() for name in ("state.json", "state.index")}
    limit = len(before["state.json"]) // 2

    def small_files() -> None:
        import resource
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    full = subprocess.run([sys.executable, "-m", "console", "users", "edit", "user11", "--title", "Full", "--json"],
                          cwd=ROOT, env=child_env(home), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120, preexec_fn=small_files)
    assert full.returncode != 0 and "Traceback" not in full.stderr
    assert "cannot write the state file" in full.stderr and "left as it was" in full.stderr
    assert {name: (home / name).read_bytes() for name in before} == before
    assert not list(home.glob(".*.tmp"))
    assert cli(home, "users", "edit", "user11", "--title", "Room again").returncode == 0
    assert_index_as_derived_again(home)


def test_three_shells_and_a_console_writing_one_home_lose_nothing_and_leave_an_exact_index(home: Path) -> None:
    """Three operators' shells (real processes) add, edit and delete people in loops, all adding the same shared
    names too, while a console-like long-lived Service edits people the shells edit as well (other fields). Every
    change reported done is there, each shared name once, no userName / e-mail / key twice, the index exact."""
    import threading

    from console.service import Service

    rounds = 5
    done: list[tuple[str, int, int]] = []
    refused: list[str] = []

    def shell(s: int) -> None:
        for i in range(1, rounds + 1):
            steps = [("add", ["users", "add", "--employee-id", f"S{s}-{i}", "--user-name", f"s{s}-{i}",
                              "--given-name", "G", "--family-name", "F", "--email", f"s{s}-{i}@example.com"]),
                     ("edit", ["users", "edit", f"user{s * 50 + i}", "--title", f"T{s}-{i}"]),
                     ("shared", ["users", "add", "--employee-id", f"SH-{i}", "--user-name", f"shared-{i}",
                                 "--given-name", "G", "--family-name", "F", "--email", f"shared-{i}@example.com"])]
            if i % 2 == 0:
                steps.append(("delete", ["users", "delete", "--yes", f"user{s * 50 + 25 + i}"]))
            for kind, args in steps:
                run = cli(home, *args)
                if run.returncode == 0:
                    done.append((kind, s, i))
                else:
                    refused.append(run.stderr)

    threads = [threading.Thread(target=shell, args=(s,)) for s in (1, 2, 3)]
    for thread in threads:
        thread.start()
    departments: dict[str, str] = {}
    with Service.open(home) as console:
        n = 0
        while any(thread.is_alive() for thread in threads) or n < 6:
            n += 1
            who = f"user{(1 + n % 3) * 50 + 1 + n % rounds}"  # people the shells edit too
            for _ in range(2):  # refused once when a shell changed them since: the current version is then shown
                try:
                    console.edit_user(who, department=f"D{n}")
                    departments[who] = f"D{n}"
                    break
                except StaleData:
                    continue
            console.store.refresh()
    for thread in threads:
        thread.join()
    assert all("Traceback" not in err and err.startswith("error: ") for err in refused), refused
    tables = orjson.loads((home / "state.json").read_bytes())
    people = {doc["userName"]: doc for doc in tables["users"].values()}
    for field in ("userName", "employeeId"):
        values = [str(doc[field]).casefold() for doc in people.values()]
        assert len(values) == len(set(values)), field
    mails = [m.casefold() for doc in people.values() for m in doc["emails"]]
    assert len(mails) == len(set(mails))
    for kind, s, i in done:
        if kind == "add":
            assert f"s{s}-{i}" in people
        elif kind == "edit":
            assert people[f"user{s * 50 + i}"]["title"] == f"T{s}-{i}"
        elif kind == "delete":
            assert f"user{s * 50 + 25 + i}" not in people
    for i in range(1, rounds + 1):
        assert [kind for kind, _, j in done if kind == "shared" and j == i] == ["shared"]
        assert f"shared-{i}" in people
    for who, department in departments.items():
        assert people[who]["department"] == department
    assert_index_as_derived_again(home)


async def test_a_sync_on_a_reopened_home_after_another_process_changed_people_in_its_plan(
        org_service: Any, scim_directory: Any) -> None:
    """A plan made through the index, then another operator's shell edits one planned person and deletes another
    before the sync applies: the sync records nothing that hides their changes; the next plan (partial or whole)
    updates the one and deprovisions the other, and applying it leaves nothing to do."""
    from console.service import Confirmation, Service

    app = "bitbucket-cloud"
    svc = org_service
    assert (await svc.apply(await svc.plan(app), Confirmation(yes=True))).ok
    links = svc.store.links.for_app(app)
    for link in links:
        link.inputs = ""  # older links: the next sync records the inputs of those in step
    svc.store.links.put_many(links)
    svc.store.close()
    home = svc.home
    edited, deleted = (svc.store.users.get(links[n].local_id).userName for n in (1, 2))
    reopened = Service(Store.open(home), operator="tester")
    try:
        assert reopened.store.partial
        plan = await reopened.plan(app)
        assert plan.operations == []
        assert cli(home, "users", "edit", edited, "--department", "Moved by a shell").returncode == 0
        assert cli(home, "users", "delete", "--yes", deleted).returncode == 0
        assert (await reopened.apply(plan, Confirmation(yes=True))).ok
        assert_index_as_derived_again(home)
        again = await reopened.plan(app)
        with Store.open(home) as whole_store:
            whole_store.load_whole()
            whole_plan = await Service(whole_store, operator="tester").plan(app)
        ops = sorted((op.action, op.person_id, str(op.changes)) for op in again.operations)
        assert ops == sorted((op.action, op.person_id, str(op.changes)) for op in whole_plan.operations)
        by_person = {op.person_id: op for op in again.operations}
        assert len(ops) == 2 and by_person[links[1].local_id].changes["department"][1] == "Moved by a shell", ops
        assert links[2].local_id in by_person
        assert (await reopened.apply(again, Confirmation(yes=True))).ok
        assert (await reopened.plan(app)).operations == []
        assert_index_as_derived_again(home)
    finally:
        reopened.close()


def test_a_change_to_a_link_another_operator_removed_is_refused_not_written_back(home: Path) -> None:
    """Found: a partial store looked for the link it held in the state it had seen by the link now read, which the
    other operator had removed: nothing was compared, and the held link was written back (a whole store refuses)."""
    with Store.open(home) as mine:
        link = mine.links.of(mine.users.find("user11").id)[0]
        with Store.open(home) as theirs:
            theirs.links.remove(link.id)
        with pytest.raises(StaleData, match="was deleted by another operator"), mine.writing():
            mine.links.put(edit(link, remote_name="mine"))
        assert mine.partial
    with Store.open(home, readonly=True) as reader:
        assert reader.links.get(link.id) is None
    assert_index_as_derived_again(home)


HOSTILE = ['"123":{"employeeId":"E5"}', '},"99":{"employeeId":', "\\", '\\"', '"}', "\u2028x\u2029", "a\nb\tc", "\x85",
           "ǅİß", "E5\n"]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_text_in_people_and_links_is_written_as_a_whole_store_writes_it(home: Path, tmp_path: Path,
                                                                                value: str) -> None:
    """Text that looks like the state's structure, escapes, line breaks of every kind, in fields that are not section
    lines (names, titles, attributes, a link's attributes and remote name): spliced byte for byte as a whole store
    writes it, the index exact, the store still partial."""
    whole_home = tmp_path / "whole"
    shutil.copytree(home, whole_home)
    from tests.plugins.core import person
    for at in (home, whole_home):
        with clock.fixed(AT), Store.open(at) as store:
            if at == whole_home:
                store.load_whole()
            ten = store.users.find("user11")
            store.users.put(edit(ten, title=value, displayName=value, attributes={"note": value, value: value}))
            store.users.add(person(900, id="p900", displayName=value, title=value))
            link = store.links.of(ten.id)[0]
            store.links.put(edit(link, remote_name=value, attrs={"x": value, value: {"y": value}}))
            store.flush()
            assert store.partial == (at == home)
    assert (home / "state.json").read_bytes() == (whole_home / "state.json").read_bytes()
    assert_index_as_derived_again(home)
    with Store.open(home, readonly=True) as reader:
        assert reader.partial and reader.users.find("user900").title == value
        assert reader.users.find("E12").userName == "user12"


@pytest.mark.parametrize(("first", "second"), [("straße", "STRASSE"), ("İlker", "i̇lker"), ("Kelvin", "\u212aelvin"),
                                               ("ǅemal", "ǆemal")])
def test_names_and_e_mails_equal_once_casefolded_are_refused_against_people_added_by_another_process(
        home: Path, first: str, second: str) -> None:
    """Each add is a process of its own, reading through the index: the one added before was never read."""
    def add(name: str, mail: str, key: str) -> subprocess.CompletedProcess[str]:
        return cli(home, "users", "add", "--employee-id", key, "--user-name", name, "--given-name", "G",
                   "--family-name", "F", "--email", mail)

    assert add(first, f"{first}@example.com", first).returncode == 0
    for name, mail, key in ((second, "other@example.com", "K2"), ("other", f"{second}@example.com", "K2"),
                            ("other", "other@example.com", second)):
        refused = add(name, mail, key)
        assert refused.returncode != 0, f"{name} / {mail} / {key} accepted next to {first}"
        assert refused.stderr.startswith("error: ") and "Traceback" not in refused.stderr
        assert "already used by" in refused.stderr or "may only hold" in refused.stderr or "not a valid" in (
            refused.stderr), refused.stderr
    tables = orjson.loads((home / "state.json").read_bytes())
    assert sum(doc["userName"] == first for doc in tables["users"].values()) == 1
    assert_index_as_derived_again(home)
