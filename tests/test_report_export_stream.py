"""A report export is written as its events are read: the same bytes as the whole document made at once, never a
million events in memory, and no half file left when the disk fills part-way."""
from __future__ import annotations

import errno
import io
import os
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from console import eventlog, export, reports
from console.eventlog import EventLog
from console.errors import BadInput
from console.models import Event
from console.reports import ReportFilter
from console.service import Service
from console.shown import json_text
from console.store import Store


def events(n: int) -> list[Event]:
    return [Event(time=f"2026-11-{1 + i % 28:02d}T10:00:{i % 60:02d}Z", run=f"run{i % 3}", app="scim", person=f"p{i}",
                  action="update" if i % 2 else "create", status="success" if i % 5 else "failure",
                  changes={"title": ["", f"T{i}"]} if i % 4 else {}, error="line 1\nline 2\u2028" if i % 5 == 0 else "",
                  message="=cmd|' /C calc'!A0" if i == 7 else "ok\x85") for i in range(n)]


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 10])
@pytest.mark.parametrize("size", [1, 2, 3, 1000])
def test_the_chunks_make_the_document_made_at_once(n: int, size: int) -> None:
    given = events(n)
    whole = json_text(orjson.dumps(reports.to_rows(given), option=orjson.OPT_INDENT_2)).encode()
    assert b"".join(reports.json_chunks(given, size)) == whole
    assert orjson.loads(whole) == reports.to_rows(given) or n == 0
    as_csv = "".join(reports.csv_chunks(given, size))
    assert as_csv == "".join(reports.csv_chunks(given, 10_000)) == reports.to_csv(given)
    assert as_csv.count("\r\n") == n + 1  # a header and a row each


class Counting:
    """Events handed out one by one, counting how many were asked for."""

    def __init__(self, n: int) -> None:
        self.given, self.n = 0, n

    def __iter__(self) -> Iterator[Event]:
        for event in events(self.n):
            self.given += 1
            yield event


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_the_first_bytes_go_out_before_the_last_event_is_read(fmt: str) -> None:
    source = Counting(10_000)
    seen: list[int] = []

    class Sink(io.BytesIO):
        def write(self, data: bytes) -> int:  # type: ignore[override]
            seen.append(source.given)
            return super().write(data)

    sink = Sink()
    assert export.write_to(sink, fmt, source) == 10_000
    assert seen[0] <= 2000 < 10_000 == seen[-1]  # a window of events at a time, not all of them first
    whole = b"".join(export.chunks(events(10_000), fmt))
    assert sink.getvalue() == whole


def filling_the_disk() -> Iterator[bytes]:
    """An export's pieces, the second of which meets a full disk."""
    yield b"[\n"
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_disk_filling_part_way_leaves_no_half_export(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    target = tmp_path / "report.json"

    with pytest.raises(BadInput, match="cannot write") as caught:
        export.write_private(target, filling_the_disk(), force=False)
    assert "No space left on device" in str(caught.value.detail) and "removed" in str(caught.value.hint)
    assert not target.exists()


def test_an_unknown_format_is_refused_before_a_file_is_made(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with pytest.raises(BadInput, match="unknown export format 'xml'"):
        export.write_export(str(tmp_path / "r.xml"), "xml", events(3), home=home)
    assert not (tmp_path / "r.xml").exists()


def test_the_service_streams_the_same_report_to_a_file_and_to_a_sink(state: Store, tmp_path: Path) -> None:
    svc = Service(state, operator="ops")
    for i in range(30):
        svc.add_user(employeeId=f"E{i}", userName=f"user{i}", givenName="Ann", familyName=f"Berg{i}")
    for fmt in ("json", "csv"):
        sink = io.BytesIO()
        count, path = svc.export_report(ReportFilter(), fmt, to=sink)
        assert (count, path) == (30, None)
        assert sink.getvalue() == b"".join(export.chunks(svc.report(ReportFilter()), fmt))
        count, path = svc.export_report(ReportFilter(limit=5), fmt, str(tmp_path / f"r.{fmt}"))
        assert (count, path) == (5, tmp_path / f"r.{fmt}")
        assert path.read_bytes() == b"".join(export.chunks(svc.report(ReportFilter(limit=5)), fmt))
    with pytest.raises(BadInput, match="no application"):
        svc.export_report(ReportFilter(app="nope"), "json", str(tmp_path / "none.json"))
    assert not (tmp_path / "none.json").exists()


def test_a_month_keeps_a_bounded_number_of_parsed_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A query over every event (an export) parses them all but keeps only RECORDS_KEPT for the next query; the answers
    and the count of malformed lines stay the same however often it is asked."""
    monkeypatch.setattr(eventlog, "RECORDS_KEPT", 10)
    log = EventLog(tmp_path / "events")
    log.append_many(events(60))
    path = next((tmp_path / "events").glob("*.jsonl"))
    with path.open("ab") as fh:
        fh.write(b'{"torn": \n[1, 2]\n')
    log = EventLog(tmp_path / "events")
    first = log.query()
    assert len(first) == 60 and log.malformed() == 2
    assert all(len(part.records) <= 10 + 2 for part in log._cache.values())
    assert log.query() == first and log.malformed() == 2
    assert log.query(status="failure") == [e for e in first if e.status == "failure"]
    assert list(log.stream(limit=3)) == first[:3] and log.malformed() == 2


def test_a_long_table_starts_with_the_first_rows_widths(capsys: pytest.CaptureFixture[str]) -> None:
    from console.cli.output import emit_table
    rows = [[f"r{i}", "x" * (i % 4)] for i in range(10)] + [["late", "a much longer cell"]]
    assert emit_table(rows, ["name", "v"], window=5) == 11
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == ["name  v", "----  ---", "r0"]
    assert lines[4] == "r2    xx" and lines[-1] == "late  a much longer cell"  # widths of the first 5 rows
    assert emit_table(rows, ["name", "v"]) == 11  # a short table: widths of every row, as before
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "----  ------------------" and lines[4] == "r2    xx"


@pytest.mark.parametrize("n", [0, 1, 5])
def test_a_listed_json_is_the_one_document_emit_json_writes(n: int, capsys: pytest.CaptureFixture[str]) -> None:
    from console.cli.output import emit_json, emit_json_list
    from console.shown import json_array
    items = [{"userName": f"u{i}", "note": "a\u202eb\x85", "tags": [i]} for i in range(n)] + events(n)
    emit_json(items)
    whole = capsys.readouterr().out
    emit_json_list(iter(items))
    assert capsys.readouterr().out == whole
    assert "".join(json_array(items, size=1, default=Event.to_doc)) + "\n" == whole


def test_a_forced_export_replaces_the_file_only_once_whole(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    target = tmp_path / "report.json"
    target.write_bytes(b"the export of last week\n")

    with pytest.raises(BadInput, match="cannot write") as caught:
        export.write_private(target, filling_the_disk(), force=True)
    assert "No space left on device" in str(caught.value.detail) and "as it was" in str(caught.value.hint)
    assert target.read_bytes() == b"the export of last week\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "report.json"]  # no part file left
    count, path = export.write_export(str(target), "json", events(3), home=home, force=True)
    assert (count, path) == (3, target)
    assert target.read_bytes() == b"".join(export.chunks(events(3), "json"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "report.json"]


def test_a_directory_or_fifo_is_refused_as_not_a_file_with_or_without_force(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "reports").mkdir()
    for name in ("reports", "fifo"):
        for force in (False, True):
            with pytest.raises(BadInput, match="is not a regular file"):  # not "pass --force to replace it"
                export.write_export(str(tmp_path / name), "csv", events(1), home=home, force=force)


@pytest.mark.parametrize("name", ["a" * 300 + ".csv", "~no-such-user-here/r.csv"])
def test_a_file_name_the_system_refuses_is_said_with_what_to_do(tmp_path: Path, name: str) -> None:
    """Not "cannot use …: check the path, its permissions and the free space" from the CLI's catch-all, nor an
    unexpected error (~user without a home): the export's own refusal, before any file is made."""
    home = tmp_path / "home"
    home.mkdir()
    path = str(tmp_path / name) if not name.startswith("~") else name
    with pytest.raises(BadInput, match="cannot use .* as the file") as caught:
        export.write_export(path, "csv", events(2), home=home)
    assert "choose another file name" in caught.value.hint and caught.value.detail
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]
