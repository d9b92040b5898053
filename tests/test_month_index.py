"""The months' person indexes (events/by-person/<month>.idx, console/month_index.py): an exact person filter reads only
the lines the index gives for its ids and label, and the lines past the index, and gets what parsing every line gets:
many ids, ids that are prefixes of others or that JSON escapes, case variants of labels, a hand-written line, a month
without its index, a damaged, torn or stale index, a month cut back and written again, a withdrawn write, several
writers appending."""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console import eventlog, month_index
from console.eventlog import EventLog
from console.models import Event
from tests.plugins.core import ROOT, child_env
from tests.test_eventlog import naive
from tests.test_report_identities import month_lines

IDS = ["id-1", "id-10", "id-100", "id-1000", "id-2", "id-20", 'q"uote', "back\\slash", "ünï", "id-1 ", "ID-1"]
LABELS = ["Anna Smith", "anna smith", "ANNA SMITH", "Anna Smithers", "Ñúñez Müller", "ñúñez müller", "Straße",
          "STRASSE", "\u212aate", "kate", "u1", "u10", "u100"]
FILTERS: list[dict[str, object]] = [
    {"person_ids": set(IDS)},
    {"person_ids": {"id-1"}},
    {"person_ids": {"id-10"}, "person_text": "u1"},
    {"person_ids": {f"id-{i}" for i in range(200)}},  # many ids, most without a record
    {"person_ids": {'q"uote', "back\\slash", "ünï"}, "app": "scim"},
    {"person_ids": {"nobody"}, "person_text": "ANNA smith"},
    {"person_text": "Ñúñez Müller"},
    {"person_text": "strasse"},
    {"person_text": "straße"},
    {"person_text": "KATE"},
    {"person_text": "Anna Smith", "status": "failure"},
    {"person_ids": {"id-2", "id-20"}, "action": "create"},
    {"person_text": "nobody@example.invalid"},
]


def events_of(rnd: random.Random, count: int, month: str = "2026-03", tag: str = "") -> list[Event]:
    return [Event(action=rnd.choice(["create", "update", "delete"]), status=rnd.choice(["success", "failure"]),
                  app=rnd.choice(["scim", "ad", "graph"]), person=rnd.choice(LABELS), person_id=rnd.choice(IDS),
                  message=rnd.choice(["", "see id-1", '"person_id":"id-2"', "x" * rnd.randint(0, 200)]),
                  time=f"{month}-{rnd.randint(1, 28):02d}T{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:"
                       f"{rnd.randint(0, 59):02d}Z", run=tag)
            for _ in range(count)]


def every_line(events: Path) -> list[Event]:
    """Every record of the month files, each line parsed (the reference)."""
    return [eventlog._event(rec) for rec in month_lines(events) if eventlog._is_event(rec)]


class Reads:
    """The months a query read whole (searched) instead of through their index."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.months: list[str] = []
        whole = EventLog._month

        def month(log: EventLog, name: str) -> eventlog._Month:
            self.months.append(name)
            return whole(log, name)

        monkeypatch.setattr(EventLog, "_month", month)


def agree(events: Path) -> None:
    """Every filter gets from a new reader what parsing every line gets, in the report's order."""
    reference = every_line(events)
    for flt in FILTERS:
        got = EventLog(events, readonly=True).query(**flt)  # type: ignore[arg-type]
        want = [e for e in reversed(reference) if naive([e], **flt)]  # newest month first, last appended first
        assert got == want, flt


def index_of(events: Path, month: str) -> month_index.MonthIndex | None:
    path = events / f"{month}.jsonl"
    fd = os.open(path, os.O_RDONLY)
    try:
        st = os.fstat(fd)
        return month_index.load(events / month_index.DIR / f"{month}.idx", fd, st.st_size, (st.st_dev, st.st_ino))
    finally:
        os.close(fd)


def whole(events: Path, month: str) -> None:
    """The month's index is usable and holds exactly the entries of the lines it covers."""
    index = index_of(events, month)
    assert index is not None
    data = (events / f"{month}.jsonl").read_bytes()[:index.upto]
    assert index.entries() == sorted(month_index.entries(data, 0))


@pytest.fixture
def events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two months of records, written in batches; the index kept at every append (a step of one byte)."""
    monkeypatch.setattr(month_index, "STEP", 1)
    log = EventLog(tmp_path / "events")
    rnd = random.Random(4)
    for batch in range(6):
        log.append_many(events_of(rnd, 150, "2026-02") + events_of(rnd, 150, "2026-03"))
    spaced = Event(action="update", status="success", app="scim", person="Anna Smith", person_id="id-1",
                   time="2026-03-29T00:00:00Z")
    with open(log.dir / "2026-03.jsonl", "ab") as fh:  # written by hand: a space after every colon
        fh.write(b"{" + b", ".join(orjson.dumps(k) + b": " + orjson.dumps(v) for k, v in spaced.to_doc().items())
                 + b"}\n")
    log.append(Event(action="update", status="success", person="u1", person_id="id-1000", time="2026-03-29T01:00:00Z"))
    log.close()
    return tmp_path / "events"


def test_an_exact_person_filter_reads_only_the_indexed_lines_and_agrees_with_parsing_every_line(
        events: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole(events, "2026-02")
    whole(events, "2026-03")
    reads = Reads(monkeypatch)
    agree(events)
    assert reads.months == []
    partial = EventLog(events, readonly=True).query(person_text="smith", person_partial=True)  # not through the index
    assert partial and reads.months == ["2026-03", "2026-02"]


def test_lines_past_the_index_are_searched(events: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer leaves the index behind by less than a step (and a writer of older code keeps none): the rest of the
    month is searched; a line still being written is left out."""
    monkeypatch.setattr(month_index, "STEP", 1 << 30)
    upto = index_of(events, "2026-03")
    log = EventLog(events)
    log.append_many(events_of(random.Random(8), 200, "2026-03", tag="later"))
    with open(events / "2026-03.jsonl", "ab") as fh:
        fh.write(orjson.dumps(Event(action="create", status="success", person="kate", person_id="id-1",
                                    time="2026-03-30T00:00:00Z").to_doc()) + b"\n")
        fh.write(b'{"action":"create","status":"success","person_id":"id-1","time":"2026-03-')  # being written
    after = index_of(events, "2026-03")
    assert upto is not None and after is not None and after.upto == upto.upto  # not brought up to date
    reads = Reads(monkeypatch)
    agree(events)
    assert reads.months == []


def test_a_month_without_its_index_is_searched_and_the_next_writer_rebuilds_it(events: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    (events / month_index.DIR / "2026-02.idx").unlink()
    left = events / month_index.DIR / ".2026-02.idx.99999"  # a writer killed while writing it
    left.write_bytes(b"half")
    reads = Reads(monkeypatch)
    agree(events)
    assert set(reads.months) == {"2026-02"}
    monkeypatch.setattr(month_index, "STEP", 1 << 30)
    with closing(EventLog(events)) as log:
        log.append(Event(action="sync", status="success", time="2026-03-29T02:00:00Z"))  # its first append
    whole(events, "2026-02")
    assert not left.exists()
    reads.months.clear()
    agree(events)
    assert reads.months == []


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["key", "offset", "torn", "longer", "header", "other file", "cut and rewritten"])
def test_a_damaged_torn_or_stale_index_is_never_trusted(events: Path, monkeypatch: pytest.MonkeyPatch,
                                                        damage: str) -> None:
    """Whatever is wrong with an index, the month is searched instead (the same answers), and the next writer's first
    append rebuilds it."""
    index = events / month_index.DIR / "2026-03.idx"
    month = events / "2026-03.jsonl"
    head = month_index._HEAD.size
    if damage == "key":
        _flip(index, head + 8 * 5)
    elif damage == "offset":
        _flip(index, len(index.read_bytes()) - 8 * 3)
    elif damage == "torn":
        index.write_bytes(index.read_bytes()[:-5])
    elif damage == "longer":
        index.write_bytes(index.read_bytes() + bytes(16))
    elif damage == "header":
        _flip(index, 8 + 8 + 8 + 1)  # its coverage
    elif damage == "other file":  # the month replaced by a copy: another file the index was not made from
        shutil.copy2(month, month.with_name("copy"))
        os.replace(month.with_name("copy"), month)
    else:  # cut back and written again past where the index ends, by hand (no writer kept the index)
        covered = index_of(events, "2026-03")
        data = month.read_bytes()
        cut = data.rfind(b"\n", 0, len(data) // 2) + 1
        later = events_of(random.Random(9), 1000, "2026-03", tag="rewritten")
        with month.open("r+b") as fh:  # the same file, cut back, then longer than before
            fh.truncate(cut)
            fh.seek(cut)
            fh.write(b"".join(orjson.dumps(e.to_doc()) + b"\n" for e in later))
        assert covered is not None and month.stat().st_size >= covered.upto  # only the CRC of its tail tells
    assert index_of(events, "2026-03") is None
    reads = Reads(monkeypatch)
    agree(events)
    assert set(reads.months) == {"2026-03"}
    monkeypatch.setattr(month_index, "STEP", 1 << 30)
    with closing(EventLog(events)) as log:
        log.append(Event(action="sync", status="success", time="2026-02-27T00:00:00Z"))
    whole(events, "2026-03")
    reads.months.clear()
    agree(events)
    assert reads.months == []



def _finishing(work: Callable[[], None]) -> None:
    """Run `work`, failing (not hanging the suite) when it blocks: on the old code a FIFO in the index's place made a
    report, and a writer holding the month's lock, wait for a FIFO writer forever."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            failed.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(300)
    assert not worker.is_alive(), "blocked on what was put in the index's place"
    if failed:
        raise failed[0]


@pytest.mark.parametrize("put", ["directory", "fifo"])
def test_a_directory_or_fifo_in_the_index_place_is_not_used_and_nothing_blocks(events: Path,
                                                                                monkeypatch: pytest.MonkeyPatch,
                                                                                put: str) -> None:
    """Not an error ("cannot use: Invalid argument" for a directory) nor a hang (a FIFO): the month is searched, a
    writer's append is kept, and a FIFO is replaced by a whole index."""
    index = events / month_index.DIR / "2026-03.idx"
    index.unlink()
    if put == "directory":
        index.mkdir()
    else:
        os.mkfifo(index)
    reads = Reads(monkeypatch)
    _finishing(lambda: agree(events))
    assert set(reads.months) == {"2026-03"}

    def append() -> None:
        with closing(EventLog(events)) as log:
            log.append(Event(action="sync", status="success", person="kate", person_id="id-1",
                             time="2026-03-29T04:00:00Z"))

    _finishing(append)
    reads.months.clear()
    _finishing(lambda: agree(events))
    assert any(e.time == "2026-03-29T04:00:00Z" for e in every_line(events))
    if put == "fifo":
        whole(events, "2026-03")
        assert reads.months == []
    else:
        assert index.is_dir() and set(reads.months) == {"2026-03"}

def test_a_withdrawn_write_takes_its_index_with_it(events: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write whose change could not be saved is taken back: an index that covered it goes too (rebuilt later)."""
    log = EventLog(events)
    log.append(Event(action="sync", status="success", time="2026-03-29T03:00:00Z"))  # its first append done
    marks = log.append_many([Event(action="create", status="success", person="kate", person_id="id-1",
                                   time="2026-03-29T04:00:00Z")])
    assert any(path.parent.name == month_index.DIR for path, _ in marks)
    log.withdraw(marks)
    log.close()
    assert not (events / month_index.DIR / "2026-03.idx").exists()
    agree(events)
    assert not any(e.time == "2026-03-29T04:00:00Z" for e in every_line(events))


WRITER = """
import random, sys
from console import month_index
from console.eventlog import EventLog
from tests.test_month_index import events_of
month_index.STEP = 4096  # brought up to date every few appends
log = EventLog(sys.argv[1])
rnd = random.Random(sys.argv[2])
for i in range(30):
    log.append_many(events_of(rnd, 10, "2026-03", tag=sys.argv[2]))
"""


def test_several_writers_appending_keep_the_index_true(events: Path) -> None:
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(events), tag], env=child_env(), cwd=ROOT)
               for tag in ("a", "b", "c")]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0]
    whole(events, "2026-03")
    index = index_of(events, "2026-03")
    assert index is not None and (events / "2026-03.jsonl").stat().st_size - index.upto < 4096
    agree(events)
    assert {e.run for e in every_line(events)} >= {"a", "b", "c"}


# ---- any ids, labels and batches ----------------------------------------------------------------------------------
people = st.text(st.sampled_from("aAsSß\u212ak\"\\-"), min_size=1, max_size=3)  # prefixes, case, escapes, casefolds


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.tuples(people, people, st.booleans()), min_size=1, max_size=6), min_size=1, max_size=5),
       st.sampled_from([1, 200, 1 << 30]), st.data())
def test_any_records_through_the_index_are_those_of_parsing_every_line(batches: list[list[tuple[str, str, bool]]],
                                                                       step: int, data: st.DataObject) -> None:
    """Whatever the ids and labels (prefixes of one another, case and casefold variants, characters JSON escapes), the
    batches and how far behind the index is left, an exact person filter gets what parsing every line gets."""
    written = [(pid, person) for batch in batches for pid, person, _ in batch]
    ids = data.draw(st.sets(st.one_of(st.sampled_from([pid for pid, _ in written]), people), max_size=4))
    label = data.draw(st.one_of(st.sampled_from([person for _, person in written]).map(str.swapcase), people))
    with tempfile.TemporaryDirectory() as tmp:
        events = Path(tmp) / "events"
        log = EventLog(events)
        month_index.STEP, saved = step, month_index.STEP
        try:
            for n, batch in enumerate(batches):
                log.append_many([Event(action="update", status="success", person=person, person_id=pid if has else "",
                                       time=f"2026-03-01T00:{n:02d}:{i:02d}Z")
                                 for i, (pid, person, has) in enumerate(batch)])
        finally:
            month_index.STEP = saved
            log.close()
        reference = every_line(events)
        for flt in ({"person_ids": ids}, {"person_text": label}, {"person_ids": ids, "person_text": label}):
            got = EventLog(events, readonly=True).query(**flt)  # type: ignore[arg-type]
            assert got == [e for e in reversed(reference) if naive([e], **flt)], flt
