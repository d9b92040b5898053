"""The provisioning report's storage: durable appends, monthly files, filters, torn lines, the in-process cache."""
from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest

from console.errors import ReadOnly
from console import eventlog, month_index
from console.eventlog import CASEFOLDS_TO_ASCII, EventLog, months_between
from console.models import Event
from tests.plugins.core import ROOT, child_env

CHILD_APPEND = """
import sys
from console.eventlog import EventLog
from console.models import Event
log = EventLog(sys.argv[1])
log.append(Event(action="create", status="success", app="scim", person="zoë", time="2026-03-04T05:06:07Z"))
print("appended", flush=True)
sys.stdin.readline()
"""


def at(day: str, **kw: object) -> Event:
    """An event at 2026-MM-DD (day given as MM-DD) noon UTC."""
    doc: dict[str, object] = {"action": "update", "status": "success", "time": f"2026-{day}T12:00:00Z"}
    doc.update(kw)
    return Event(**doc)  # type: ignore[arg-type]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


@pytest.fixture
def log(tmp_path: Path) -> EventLog:
    return EventLog(tmp_path / "events")


def test_an_append_is_on_disk_for_another_process_when_it_returns(log: EventLog) -> None:
    event = at("03-04", app="scim", person="zoë", changes={"title": ["a", "b"]})
    log.append(event)
    code = "import sys, orjson; print(orjson.loads(open(sys.argv[1], 'rb').read().splitlines()[-1])['person'])"
    out = subprocess.run([sys.executable, "-c", code, str(log.dir / "2026-03.jsonl")], capture_output=True,
                         text=True, encoding="utf-8", env=child_env(PYTHONIOENCODING="utf-8"), check=True)
    assert out.stdout.strip() == "zoë"


def test_an_event_appended_by_a_process_killed_right_after_is_kept(log: EventLog) -> None:
    proc = subprocess.Popen([sys.executable, "-c", CHILD_APPEND, str(log.dir)], cwd=ROOT, env=child_env(),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "appended"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
    [event] = log.query()
    assert (event.person, event.app, event.time) == ("zoë", "scim", "2026-03-04T05:06:07Z")


def test_events_are_partitioned_by_month(log: EventLog) -> None:
    log.append_many([at("01-31"), at("02-01"), at("02-28"), at("03-01")])
    log.append(Event(action="create", status="success", time="2025-12-31T23:59:59Z"))
    assert log.months() == ["2025-12", "2026-01", "2026-02", "2026-03"]
    assert len((log.dir / "2026-02.jsonl").read_bytes().splitlines()) == 2
    assert months_between(utc("2025-11-15"), utc("2026-02-01")) == ["2025-11", "2025-12", "2026-01", "2026-02"]


def test_query_filters_combine_and_return_newest_first(log: EventLog) -> None:
    log.append_many([
        at("01-10", app="scim", person="zoe", person_id="p1", action="create"),
        at("01-20", app="ad", person="zoe", person_id="p1", action="update", status="failure", run="r1"),
        at("02-05", app="scim", person="sean", person_id="p2", action="update", run="r1"),
        at("02-25", app="scim", person="zoe", person_id="p1", action="deactivate"),
        at("03-15", app="graph", person="li", person_id="p3", action="create", status="skipped"),
    ])
    times = lambda events: [e.time[5:10] for e in events]  # noqa: E731
    assert times(log.query()) == ["03-15", "02-25", "02-05", "01-20", "01-10"]
    assert times(log.query(person_ids={"p1"})) == ["02-25", "01-20", "01-10"]
    assert times(log.query(person_text="ZOE")) == ["02-25", "01-20", "01-10"]
    assert times(log.query(person_ids={"p2"}, person_text="li")) == ["03-15", "02-05"]
    assert times(log.query(person_ids=set())) == []
    assert times(log.query(app="scim")) == ["02-25", "02-05", "01-10"]
    assert times(log.query(app="scim", person_ids={"p1"})) == ["02-25", "01-10"]
    assert times(log.query(action="update")) == ["02-05", "01-20"]
    assert times(log.query(status="failure")) == ["01-20"]
    assert times(log.query(run="r1")) == ["02-05", "01-20"]
    assert times(log.query(since=utc("2026-01-20T12:00:00"), until=utc("2026-02-25T11:59:59"))) == ["02-05", "01-20"]
    assert times(log.query(since=utc("2026-02-01"))) == ["03-15", "02-25", "02-05"]
    assert times(log.query(until=utc("2026-01-31"))) == ["01-20", "01-10"]
    assert times(log.query(limit=2)) == ["03-15", "02-25"]
    assert log.query(app="nothing") == []


def test_a_torn_last_line_is_ignored_and_the_next_append_stays_whole(log: EventLog) -> None:
    log.append_many([at("04-01", person="a"), at("04-02", person="b")])
    path = log.dir / "2026-04.jsonl"
    whole = orjson.dumps(at("04-03", person="c").to_doc())
    with open(path, "ab") as fh:
        fh.write(whole[: len(whole) // 2])  # a crash in the middle of a write
    assert [e.person for e in EventLog(log.dir).query()] == ["b", "a"]
    writer = EventLog(log.dir)  # the next run appends after the torn line
    writer.append(at("04-04", person="d"))
    assert [e.person for e in EventLog(log.dir).query()] == ["d", "b", "a"]
    assert [e.person for e in log.query()] == ["d", "b", "a"]


def test_damaged_lines_in_the_middle_are_skipped(log: EventLog) -> None:
    log.append(at("05-01", person="a"))
    with open(log.dir / "2026-05.jsonl", "ab") as fh:
        fh.write(b'{"action": "upd\n[1, 2]\n\n')
    log.append(at("05-02", person="b"))
    assert [e.person for e in EventLog(log.dir).query()] == ["b", "a"]


def test_the_cache_sees_new_appends_and_waits_for_a_line_being_written(log: EventLog) -> None:
    reader = EventLog(log.dir, readonly=True)
    log.append(at("06-01", person="a"))
    assert [e.person for e in reader.query()] == ["a"]
    log.append(at("06-02", person="b"))
    assert [e.person for e in reader.query(person_text="b")] == ["b"]
    line = orjson.dumps(at("06-03", person="c").to_doc()) + b"\n"
    path = log.dir / "2026-06.jsonl"
    with open(path, "ab") as fh:
        fh.write(line[:20])
        fh.flush()
        assert [e.person for e in reader.query()] == ["b", "a"]  # half a line is not read yet
        fh.write(line[20:])
    assert [e.person for e in reader.query()] == ["c", "b", "a"]
    log.append(at("07-01", person="d"))  # a new month appears
    assert [e.person for e in reader.query()] == ["d", "c", "b", "a"]


def test_a_month_file_replaced_by_a_shorter_one_is_read_again(log: EventLog) -> None:
    log.append_many([at("08-01", person="a"), at("08-02", person="b")])
    assert len(log.query()) == 2
    path = log.dir / "2026-08.jsonl"
    path.write_bytes(orjson.dumps(at("08-03", person="c").to_doc()) + b"\n")
    assert [e.person for e in log.query()] == ["c"]


def test_a_read_only_log_refuses_appends_and_reads_a_missing_directory_as_empty(tmp_path: Path) -> None:
    reader = EventLog(tmp_path / "none", readonly=True)
    assert reader.query() == [] and reader.months() == []
    with pytest.raises(ReadOnly):
        reader.append(at("01-01"))


# ---- the byte screen never drops a record the exact filters would keep ----------------------------
PEOPLE = ["zoe", "Zoë", "ZOË", "Straße", "STRASSE", "strasse", "\u212aate", "kate", "Seán O'Brien", "李小龙",
          'quote"d', "back\\slash", "ﬁona", "fiona", "İlker", "i\u0307lker", ""]
APPS = ["scim", "ad", "graph", "Ångström app", "app\"x"]


def without_index(log: EventLog) -> None:
    """Remove the months' person indexes (console/month_index.py): the query searches the months' bytes then."""
    shutil.rmtree(log.dir / month_index.DIR)


def naive(events: list[Event], **flt: object) -> list[Event]:
    text = flt.get("person_text")
    ids = flt.get("person_ids")
    out = []
    for e in events:
        if any(flt.get(k) is not None and getattr(e, k) != flt[k] for k in ("app", "action", "status", "run")):
            continue
        if flt.get("since") and e.time < flt["since"].isoformat().replace("+00:00", "Z"):
            continue
        if flt.get("until") and e.time > flt["until"].isoformat().replace("+00:00", "Z"):
            continue
        by_id = ids is not None and e.person_id in ids
        by_text = text is not None and e.person.casefold() == text.casefold()
        if (ids is not None or text is not None) and not (by_id or by_text):
            continue
        out.append(e)
    return sorted(out, key=lambda e: e.time, reverse=True)


@pytest.mark.parametrize("indexed", [True, False])
def test_screened_queries_agree_with_parsing_every_line(log: EventLog, indexed: bool) -> None:
    """Through the months' person indexes (an exact person filter) and without them (the months' bytes searched)."""
    rnd = random.Random(11)
    events = []
    for i in range(1500):
        name = rnd.choice(PEOPLE)
        events.append(Event(
            action=rnd.choice(["create", "update", "delete"]), status=rnd.choice(["success", "failure"]),
            app=rnd.choice(APPS), person=name, person_id=f"id-{PEOPLE.index(name)}", run=rnd.choice(["r1", "r2", ""]),
            changes=rnd.choice([{}, {"displayName": [None, rnd.choice(PEOPLE)]}, {"time": ["a", "b"]}]),
            message=rnd.choice(["", '"time":"2099-01-01T00:00:00Z"', "ẞ"]),
            time=f"2026-{rnd.randint(1, 4):02d}-{rnd.randint(1, 28):02d}T{rnd.randint(0, 23):02d}:00:{i % 60:02d}Z",
        ))
    events.sort(key=lambda e: e.time)
    log.append_many(events)
    assert sorted(p.name for p in (log.dir / month_index.DIR).iterdir()) == [f"2026-0{m}.idx" for m in range(1, 5)]
    if not indexed:
        without_index(log)
    filters = [{"person_text": p} for p in PEOPLE if p] + [
        {"person_ids": {"id-1", "id-8"}},
        {"person_ids": {"id-3"}, "person_text": "STRASSE"},
        {"person_text": "kate", "app": "scim"},
        {"person_text": "ﬁona", "status": "failure"},
        {"app": "app\"x"},
        {"app": "Ångström app", "action": "delete"},
        {"run": "r2", "status": "success"},
        {"since": utc("2026-02-10"), "until": utc("2026-03-05T06:00:00")},
        {"since": utc("2026-03-01"), "person_text": "zoë", "app": "ad"},
        {"until": utc("2026-01-15"), "action": "create"},
    ]
    for flt in filters:
        got = EventLog(log.dir).query(**flt)  # cold
        want = naive(events, **flt)
        assert [e.time for e in got] == [e.time for e in want], flt
        assert got == want, flt
        assert log.query(**flt) == want, flt  # warm


def test_the_list_of_characters_that_casefold_to_ascii_matches_this_python() -> None:
    found = "".join(chr(c) for c in range(0x80, 0x110000)
                    if not 0xD800 <= c < 0xE000 and any(ord(x) < 0x80 for x in chr(c).casefold()))
    assert found == CASEFOLDS_TO_ASCII


def test_a_text_with_digits_is_found_through_them_without_lowering_the_month(log: EventLog, monkeypatch) -> None:
    """An ASCII label with a run of 3+ non-letters (u0044904, an e-mail's "0044904@") is found by searching that run
    as it is; the month is lowered only for a text without one, or whose run is in most lines ("2026": every time)."""
    rnd = random.Random(5)
    labels = ["u0044904", "U0044904", "x0044904", "U0044904@Example.COM", "u0044904@example.com", "j2026", "J2026",
              "zoe.angstrom", "ZOE.Angstrom", "e1"]
    events = [Event(action="update", status="success", app=rnd.choice(APPS), person=rnd.choice(labels),
                    person_id=f"id-{i % 7}", time=f"2026-03-{rnd.randint(1, 28):02d}T{rnd.randint(0, 23):02d}:00:00Z")
              for i in range(60)]
    events += [Event(action="update", status="success", app="scim", person=f"filler{i}", person_id=f"f{i}",
                     message="padding " * 20, time=f"2026-03-{i % 28 + 1:02d}T01:02:03Z") for i in range(3000)]
    events.sort(key=lambda e: e.time)
    log.append_many(events)
    without_index(log)  # the months' bytes are searched
    lowered: list[bytes] = []
    real_find = eventlog._Month.find

    def find(self: eventlog._Month, needle: bytes, **kw: bool) -> list[int]:
        if kw.get("lowered"):
            lowered.append(needle)
        return real_find(self, needle, **kw)

    monkeypatch.setattr(eventlog._Month, "find", find)
    for text in ("u0044904", "U0044904", "u0044904@EXAMPLE.com", "j2026", "zoe.angstrom", "e1", "0044904"):
        lowered.clear()
        got = EventLog(log.dir).query(person_text=text)
        assert got == naive(events, person_text=text), text
        assert got or text == "0044904"
        assert bool(lowered) == (text in ("j2026", "zoe.angstrom", "e1")), text


def test_many_ids_are_found_in_one_pass_over_the_person_id_fields(log: EventLog, monkeypatch) -> None:
    """A name many people share gives many ids: their records are found by one pass over the person_id fields (not one
    search of the month per id), the same records as parsing every line: a hand-written line with spaces, an id that
    only appears elsewhere in a line, a label matching without the id; ids JSON escapes are searched one by one."""
    rnd = random.Random(7)
    ids = [f"id-{i}" for i in range(30)] + ['q"uote', "back\\slash"]
    events = [Event(action=rnd.choice(["create", "update"]), status="success", app=rnd.choice(APPS),
                    person=rnd.choice(["Anna Smith", "anna smith", "Kenji Sato", "u1"]), person_id=rnd.choice(ids),
                    message=rnd.choice(["", "see id-3", '"id-4"']),
                    time=f"2026-03-{i // 40 + 1:02d}T{i % 24:02d}:00:{i % 60:02d}Z")  # each its own time
              for i in range(800)]
    events.sort(key=lambda e: e.time)
    log.append_many(events)
    spaced = Event(action="update", status="success", app="scim", person="x", person_id="id-5",
                   time="2026-03-29T00:00:00Z")
    with open(log.dir / "2026-03.jsonl", "ab") as fh:  # written by hand: a space after every colon
        fh.write(json.dumps(spaced.to_doc()).encode() + b"\n")
    events.append(spaced)
    without_index(log)  # the months' bytes are searched
    searched: list[bytes] = []
    real_find = eventlog._Month.find

    def find(self: eventlog._Month, needle: bytes, **kw: bool) -> list[int]:
        searched.append(needle)
        return real_find(self, needle, **kw)

    monkeypatch.setattr(eventlog._Month, "find", find)
    for flt in ({"person_ids": set(ids[:12])}, {"person_ids": set(ids[3:20]), "person_text": "ANNA SMITH"},
                {"person_ids": set(ids[20:]), "app": "scim"}, {"person_ids": {"id-1", "id-2"}}):
        searched.clear()
        got = EventLog(log.dir).query(**flt)
        assert got == naive(events, **flt), flt
        assert got
        wanted = flt["person_ids"]
        one_by_one = len(wanted) <= eventlog.MANY_IDS or any('"' in i or "\\" in i for i in wanted)
        assert bool([n for n in searched if n.strip(b'"').decode() in wanted]) == one_by_one, flt


@pytest.mark.parametrize("piece", [1, 5, 64, 1 << 18])
def test_a_text_without_digits_is_found_piece_by_piece_as_in_the_whole_lowered_month(log: EventLog, monkeypatch,
                                                                                      piece: int) -> None:
    """A label without a run of digits is searched in the month lowered a piece at a time (a non-ASCII one casefolded
    a piece of whole lines at a time): a match across two pieces, case variants, labels inside others (exact and
    partial), non-ASCII labels: the same records as parsing every line. A non-ASCII label with a run of 3+ ASCII
    characters ("rg k" of "jörg kühn") is found through that run, or through the characters that casefold into it
    (the Kelvin sign, the ﬄ ligature)."""
    monkeypatch.setattr(eventlog, "PIECE", piece)
    rnd = random.Random(3)
    labels = ["Anna", "anna", "ANNA SMITH", "Anna Smith", "Joanna", "joANNa smith", "nobody.here@example.invalid",
              "Nobody.Here@EXAMPLE.invalid", "Zoë", "ZOË", "\u212aate", "kate", "Straße", "strasse", "a",
              "Jörg Kühn", "JÖRG \u212aÜHN", "jörg kühnert", "Müffler", "MÜ\ufb04er", "mü\ufb00ler", "Ñúñez Müller",
              "ñúñez müller", "ÑÚÑEZ MÜLLER-Smith"]
    events = [Event(action="update", status="success", app=rnd.choice(APPS), person=rnd.choice(labels),
                    person_id=f"id-{i % 9}", message=rnd.choice(["", "anna", "x" * rnd.randint(1, 300)]),
                    time=f"2026-03-{i // 40 + 1:02d}T{i % 24:02d}:00:{i % 60:02d}Z") for i in range(600)]
    events.sort(key=lambda e: e.time)
    log.append_many(events)
    without_index(log)  # the months' bytes are searched
    for text in ("anna", "ANNA", "anna smith", "Joanna", "nobody.here@example.INVALID", "zoë", "kate", "STRASSE", "a",
                 "smith", "nobody", "ZOË", "straße", "\u212aate", "jörg kühn", "JÖRG KÜHN", "müffler", "Ñúñez Müller",
                 "ñúñez", "ez mü"):
        got = EventLog(log.dir).query(person_text=text)
        assert got == naive(events, person_text=text), text
        partial = EventLog(log.dir).query(person_text=text, person_partial=True)
        assert partial == [e for e in naive(events) if text.casefold() in e.person.casefold()], text
        assert partial
