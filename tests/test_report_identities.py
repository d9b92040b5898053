"""The identities files (events/identities/<month>.jsonl): a departed or unknown person is looked up there, not in the
months, and the answers are those of reading every month (the report's promise: any key, userName, e-mail or name a
person ever had), through renames and a deletion, look-alikes, a withdrawn write, several writers, a writer of the
old code, a removed, torn or stale identities file."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from console import eventlog, reports
from console.eventlog import IDENTITIES_STEP, IDENTITY_ACTIONS, EventLog, event_identifiers
from console.models import Event
from console.store import Store
from tests import test_report_index
from tests.test_report_index import RENAMED
from tests.test_report_people import TEXTS

home = test_report_index.home  # the fixture: people and look-alikes; Zoë renamed, married, then deleted

ROOT = Path(__file__).resolve().parents[1]
UNKNOWN = ["zoe.q", "ghost", "ghost@example.com", "nobody@example.com", "E99", "Zo Angstrom"]
LATER = ["old@example.com", "old.code", "zoey.p", "b.renamed7", "half.done", "between@example.com", "mine.too", "late"]


def month_lines(events: Path) -> Iterator[Any]:
    """Every line of the month files that is JSON, parsed, in file order (what a reference reads)."""
    for path in sorted(events.glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            try:
                yield orjson.loads(line)
            except orjson.JSONDecodeError:
                continue


def scanned(events: Path) -> set[tuple[str, tuple[str, ...]]]:
    """Every identity record's (person id, identifiers), read from every month's lines (the reference)."""
    found = set()
    for rec in month_lines(events):
        if isinstance(rec, dict) and rec.get("action") in IDENTITY_ACTIONS and rec.get("person_id"):
            event = Event.from_doc(rec)
            found.add((event.person_id, tuple(dict.fromkeys(v for v in event_identifiers(event) if v))))
    return found


class Everything(eventlog._PersonScreen):
    """A screen every line passes."""

    def may_match(self, line: bytes) -> bool:
        return True

    def starts(self, part: eventlog._Month) -> list[int]:
        return part.starts()


def kept(events: Path) -> set[tuple[str, tuple[str, ...]]]:
    """Every identity the identities files (and the months past their marks) give."""
    log = EventLog(events, readonly=True)
    screen = Everything(set(), None)
    return {(pid, tuple(values)) for month in log.months() for pid, values in log._identities_of(month, screen)}


def answers(home: Path) -> dict[tuple[str, bool], set[str]]:
    with Store.open(home, readonly=True) as store:
        return {(text, partial): reports.person_ids(store, text, partial=partial)
                for text in [*TEXTS, *RENAMED, *UNKNOWN, *LATER] for partial in (False, True)}


def by_reading_the_months(home: Path) -> dict[tuple[str, bool], set[str]]:
    """The answers with no identities file (the month files read whole, as before)."""
    aside = home / "identities-aside"
    shutil.move(home / "events" / "identities", aside)
    try:
        return answers(home)
    finally:
        shutil.move(aside, home / "events" / "identities")


class MonthReads:
    """Counts what a lookup reads of the month files: whole months, and bytes past an identities file's mark."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.months: list[str] = []
        self.bytes = 0
        whole, lines = EventLog._month, eventlog._read_lines

        def month(log: EventLog, name: str) -> eventlog._Month:
            self.months.append(name)
            return whole(log, name)

        def read_lines(path: Path, start: int, end: int) -> bytes:
            data = lines(path, start, end)
            self.bytes += len(data)
            return data

        monkeypatch.setattr(EventLog, "_month", month)
        monkeypatch.setattr(eventlog, "_read_lines", read_lines)


def test_the_identities_files_give_the_answers_of_reading_every_month(home: Path) -> None:
    events = home / "events"
    assert list((events / "identities").glob("*.jsonl")), "the writers kept no identities file"
    assert kept(events) == scanned(events)
    got = answers(home)
    assert got == by_reading_the_months(home)
    assert got[("zoe.a", False)] and got[("Zoë Ångström-Berg", False)] and got[("ZOE.A@example.com", False)]
    gone = got[("zoe.a", False)]
    assert len(gone) == 1 and got[("ZOE.A@example.com", False)] == got[("Zoë Ångström-Berg", False)] == gone
    assert got[("zoe", True)] > gone, "the deleted person among the look-alikes"
    assert all(not got[(text, False)] for text in UNKNOWN)


def test_a_departed_or_unknown_person_is_looked_up_without_reading_the_months(home: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    with Store.open(home) as store:  # months of other people's work: more than the identities files' step
        for day in range(1, 29):
            store.events.append_many([Event(action="member_add", status="success", app="scim", person=f"p{i}",
                                            person_id=f"id{i}", message="x" * 200, time=f"2026-10-{day:02d}T08:00:00Z")
                                      for i in range(60)])
    expected = by_reading_the_months(home)
    reads = MonthReads(monkeypatch)
    got = answers(home)
    assert got == expected
    assert reads.months == [], "a month was read whole"
    assert reads.bytes < 2 * IDENTITIES_STEP, reads.bytes  # at most the rest of each month past its mark
    assert sum(p.stat().st_size for p in (home / "events").glob("*.jsonl")) > 8 * IDENTITIES_STEP


def test_a_withdrawn_write_takes_its_identities_back(home: Path) -> None:
    with Store.open(home) as store:
        ghost = Event(action="user_create", status="success", person="ghost", person_id="g1",
                      changes={"userName": ["", "ghost"], "emails": [[], ["ghost@example.com"]]},
                      time="2026-11-20T08:00:00Z")
        marks = store.events.append_many([ghost])
        assert any(p.parent.name == "identities" for p, _ in marks)
        store.events.withdraw(marks)
        store.events.append_many([Event(action="user_update", status="success", person="zoey", person_id="z9",
                                        changes={"userName": ["zoey", "zoey.p"]}, time="2026-11-21T08:00:00Z")])
    assert kept(home / "events") == scanned(home / "events")
    got = answers(home)
    assert got == by_reading_the_months(home)
    assert not got[("ghost", False)] and not got[("ghost@example.com", False)]


def test_a_removed_torn_or_stale_identities_file_is_never_trusted(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events = home / "events"
    expected = by_reading_the_months(home)
    side = events / "identities" / "2026-11.jsonl"
    data = side.read_bytes()
    side.write_bytes(data[:len(data) // 2])  # torn in the middle: only what precedes its last mark is trusted
    assert answers(home) == expected and kept(events) == scanned(events)
    month = events / "2026-11.jsonl"  # a writer of the old code appends; then the month file is replaced (restored)
    with month.open("ab") as fh:
        fh.write(orjson.dumps(Event(action="import_update", status="success", person="old.code", person_id="o1",
                                    changes={"emails": [[], ["old@example.com"]]}, time="2026-11-22T08:00:00Z")) + b"\n")
    copy = month.with_name("copy")
    shutil.copy2(month, copy)
    os.replace(copy, month)
    assert kept(events) == scanned(events)
    assert answers(home)[("old@example.com", False)] == {"o1"}
    shutil.rmtree(events / "identities")  # removed: the months are read, then the next writer rebuilds it
    assert kept(events) == scanned(events)
    with Store.open(home) as store:
        store.events.append(Event(action="sync", status="success", time="2026-11-23T08:00:00Z"))
    reads = MonthReads(monkeypatch)
    assert kept(events) == scanned(events)
    assert reads.months == [] and reads.bytes < IDENTITIES_STEP  # rebuilt: at most the month's rest past its mark


WRITER = """
import sys
from console.eventlog import EventLog
from console.models import Event
log = EventLog(sys.argv[1])
tag = sys.argv[2]
for i in range(40):
    log.append_many([Event(action="user_update", status="success", person=f"{tag}{i}", person_id=f"{tag}-{i}",
                           changes={"userName": [f"{tag}{i}", f"{tag}.renamed{i}"]}, time="2026-11-24T08:00:00Z"),
                     Event(action="member_add", status="success", app="scim", person=f"{tag}{i}",
                           person_id=f"{tag}-{i}", time="2026-11-24T08:00:00Z")])
"""


def test_several_processes_appending_keep_the_identities_whole(home: Path) -> None:
    events = home / "events"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(events), tag], env=env, cwd=ROOT)
               for tag in ("a", "b", "c")]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0]
    assert kept(events) == scanned(events)
    got = answers(home)
    assert got == by_reading_the_months(home)
    with Store.open(home, readonly=True) as store:
        assert reports.person_ids(store, "b.renamed7", partial=False) == {"b-7"}


def test_a_line_being_written_is_not_counted_as_covered(home: Path) -> None:
    """An identity record half written (by a writer of the old code, or in flight) when a writer brings the identities
    files up to date: covered only once complete."""
    events = home / "events"
    line = orjson.dumps(Event(action="user_update", status="success", person="half", person_id="h1",
                              changes={"userName": ["half", "half.done"]}, time="2026-11-25T08:00:00Z")) + b"\n"
    month = events / "2026-11.jsonl"
    with month.open("ab") as fh:
        fh.write(line[:40])
    shutil.rmtree(events / "identities")
    EventLog(events).index_identities()
    with month.open("ab") as fh:
        fh.write(line[40:])
    assert ("h1", ("half", "half.done")) in scanned(events)
    assert kept(events) == scanned(events)
    assert answers(home)[("half.done", False)] == {"h1"}


def test_a_write_from_elsewhere_in_between_is_read_not_assumed(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another writer's line lands between this writer's size and its own lines (a writer of the old code, without the
    identities file's lock): the month is read for what the identities file then covers."""
    events = home / "events"
    foreign = orjson.dumps(Event(action="import_create", status="success", person="between", person_id="x1",
                                 changes={"emails": [[], ["between@example.com"]]}, time="2026-11-26T08:00:00Z")) + b"\n"
    write = EventLog._write

    def write_after_another(log: EventLog, path: Path, lines: list[bytes], *, report: bool) -> None:
        with path.open("ab") as fh:
            fh.write(foreign)
        write(log, path, lines, report=report)

    monkeypatch.setattr(EventLog, "_write", write_after_another)
    with Store.open(home) as store:
        store.events.append(Event(action="user_update", status="success", person="mine", person_id="m1",
                                  changes={"userName": ["mine", "mine.too"]}, time="2026-11-26T09:00:00Z"))
    monkeypatch.undo()
    assert kept(events) == scanned(events)
    got = answers(home)
    assert got[("between@example.com", False)] == {"x1"} and got[("mine.too", False)] == {"m1"}


def test_the_report_is_written_when_its_identities_file_cannot_be(home: Path) -> None:
    events = home / "events"
    expected = by_reading_the_months(home)
    shutil.rmtree(events / "identities")
    (events / "identities").write_bytes(b"")  # a file where the directory goes: nothing can be kept there
    with Store.open(home) as store:
        marks = store.events.append_many([Event(action="user_create", status="success", person="late", person_id="l1",
                                                changes={"userName": ["", "late"]}, time="2026-11-27T08:00:00Z")])
        store.events.withdraw(marks)
        store.events.append(Event(action="sync", status="success", time="2026-11-27T09:00:00Z"))
    assert answers(home) == expected
    assert kept(events) == scanned(events)
