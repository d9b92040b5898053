"""Several operators on one home: the lock per write, stale changes refused, nothing lost, consoles refresh."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from textual.widgets import DataTable

from console.errors import StaleData
from console.service import Service
from console.store import Store
from screens.app import make_app
from tests.plugins.core import ROOT, child_env, person
from tests.plugins.tui import rows_of, settle

HEADER = "employeeId,userName,givenName,familyName,displayName,email,department,title,manager,status\n"


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console", *args], cwd=ROOT, env=child_env(home),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, encoding="utf-8", timeout=120)


def test_an_edit_of_a_person_another_operator_changed_is_refused_naming_the_change_while_others_proceed(
        state_home: Path) -> None:
    with Store.open(state_home) as setup:
        setup.users.put_many([person(1, title="Engineer"), person(2)])
    mine, theirs = Service(Store.open(state_home)), Service(Store.open(state_home))
    theirs.edit_user("user1", title="Director")
    with pytest.raises(StaleData) as err:
        mine.edit_user("user1", title="Engineer II", department="Sales")
    assert "person user1 was changed by another operator since you loaded it" in err.value.title
    assert "title: 'Engineer' → 'Director'" in err.value.title and err.value.hint == "reload and try again"
    assert mine.user("user1").title == "Director" and mine.user("user1").department == ""  # now the current version
    mine.edit_user("user2", title="Analyst")  # not changed by the other operator: proceeds after reloading
    mine.edit_user("user1", department="Sales")  # retried on what is current: accepted
    with Store.open(state_home, readonly=True) as reader:
        first, second = reader.users.find("user1"), reader.users.find("user2")
        assert (first.title, first.department, second.title) == ("Director", "Sales", "Analyst")


def test_unflushed_changes_are_merged_with_another_writers_and_a_conflicting_one_is_refused(state_home: Path) -> None:
    a, b = Store.open(state_home), Store.open(state_home)
    a.users.add(person(1))
    a.flush()
    b.users.add(person(2))  # b never saw person 1: both are kept
    b.flush()
    assert b.users.find("user1") is not None and a.refresh() and a.users.find("user2") is not None
    mine = b.users.find("user2")
    theirs = a.users.find("user2")
    theirs.title = "from a"
    a.users.put(theirs)
    a.flush()
    mine.title = "from b"
    b.users.put(mine)
    with pytest.raises(StaleData, match="person user2 was changed by another operator"):
        b.flush()
    assert b.users.find("user2").title == "from a" and len(b.users) == 2
    with Store.open(state_home, readonly=True) as reader:
        assert sorted(u.userName for u in reader.users) == ["user1", "user2"]
        assert reader.users.find("user2").title == "from a" and reader.generation == 4  # created, then three writes


def test_a_read_only_store_takes_no_lock_and_sees_others_writes_on_refresh(state_home: Path) -> None:
    Store.open(state_home).close()
    reader = Store.open(state_home, readonly=True)
    writer = Store.open(state_home)
    with writer.writing():
        writer.users.add(person(1))
        assert not reader.refresh()  # nothing written yet; a reader never waits for the lock
    assert reader.changed_since_load() and reader.refresh()
    assert reader.users.find("user1") is not None and not reader.refresh()


def test_a_console_and_three_cli_writers_at_once_lose_nothing(tui_home: Path, tmp_path: Path) -> None:
    before = len(Store.open(tui_home, readonly=True).users)
    failures: list[str] = []

    def writer(w: int) -> None:
        rows = [f"W{w}{i:03d},w{w}.p{i},Given,Writer{w},,w{w}.p{i}@example.com,,,," for i in range(20)]
        path = tmp_path / f"writer{w}.csv"
        path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
        steps = [("users", "import", str(path)), ("groups", "create", f"team{w}")]
        steps += [("groups", "add-member", f"team{w}", *(f"w{w}.p{i}" for i in range(j, j + 5))) for j in (0, 5, 10, 15)]
        steps += [("users", "edit", f"w{w}.p{i}", "--title", f"title by writer {w}") for i in range(3)]
        for step in steps:
            out = cli(tui_home, *step)
            if out.returncode != 0:
                failures.append(f"{step}: {out.stderr}")

    async def scenario() -> None:
        app = make_app(tui_home)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("2")
            await settle(pilot)
            threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
            for thread in threads:
                thread.start()
            for i in range(10):  # the console writes too, meanwhile
                await asyncio.to_thread(app.service.add_user, employeeId=f"C{i:03d}", userName=f"console.p{i}",
                                        givenName="Given", familyName="Console")
                await pilot.pause(0.05)
            while any(thread.is_alive() for thread in threads):
                await pilot.pause(0.2)
            store = app.service.store
            def caught_up() -> bool:
                teams = [store.groups.by_name(f"team{w}") for w in range(3)]
                return len(store.users) == before + 70 and all(t is not None and len(t.members) == 20 for t in teams)

            for _ in range(50):  # the console's refresh timer catches up with the last CLI write (every second)
                if caught_up():
                    break
                await pilot.pause(0.2)
            assert failures == []  # every CLI step succeeded (else its message says why)
            assert len(store.users) == before + 70
            for w in range(3):
                assert len(store.groups.by_name(f"team{w}").members) == 20

    asyncio.run(scenario())
    assert failures == []
    with Store.open(tui_home, readonly=True) as reader:
        assert len(reader.users) == before + 70
        assert all(len(reader.groups.by_name(f"team{w}").members) == 20 for w in range(3))
        assert all(reader.users.find(f"w{w}.p{i}").title == f"title by writer {w}" for w in range(3) for i in range(3))


async def test_a_console_shows_a_person_added_by_the_cli_within_a_refresh(tui_home: Path) -> None:
    app = make_app(tui_home, readonly=True)  # read-only consoles refresh too
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("slash", *"zed.cli")
        await settle(pilot)
        table = app.screen.query_one("#people", DataTable)
        assert table.row_count == 0
        out = await asyncio.to_thread(cli, tui_home, "users", "add", "--employee-id", "Z1", "--user-name", "zed.cli",
                                      "--given-name", "Zed", "--family-name", "Cli")
        assert out.returncode == 0, out.stderr
        for _ in range(50):  # a refresh is due every second: drive the app until it has run
            await pilot.pause(0.1)
            if table.row_count:
                break
        assert [row[1] for row in rows_of(table)] == ["zed.cli"]
