"""The provisioning report's storage: one JSON-lines file per month, appended durably, and the intents journal.

An append is written and fsynced before it returns, so an operation is on disk before it is
reported done. Before a remote write, its intent goes to `journal/<run>.jsonl` (durable too); its outcome
then goes to the report, and a run that ends removes its journal. An intent left without an outcome (a crash)
is shown by queries as status `unknown` until a rerun resolves it. Every append checks that the file it
holds open is still the one at its path (a removed `events/` or a replaced month file is noticed).
Queries read only the months of the asked span and screen lines on their bytes
before parsing; months read are cached in the process and extended from where they ended.

The identity records of a month (who had which key, userName, e-mail, name) are also kept, one short line each, in
`identities/<month>.jsonl`, so that finding a person no longer in the state reads that file, not the months. It is a
cache the writers keep under a lock of their own (flock on it); a line `{"upto": N, "file": [dev, ino]}` says it
holds every identity record of the month file's first N bytes. Readers trust only what precedes its last such line
and read the month from N on; a missing, torn or stale file (another month file, N past its end) is not trusted: the
month is read instead, and the next writer rebuilds it.

Each month also has a person index (`by-person/<month>.idx`, console/month_index.py): where the lines of each person id
and casefolded label start. An exact person filter reads those lines, and searches the month only past what the index
covers (or the whole month when its index is not usable); the writers keep it under the same lock.
"""
from __future__ import annotations

import dataclasses
import fcntl
import mmap
import os
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from console import clock, files, month_index
from console.errors import ReadOnly
from console.models import Event

FINAL_STATUSES = frozenset({"success", "failure", "skipped"})
IntentKey = tuple[str, str, str, str]


def intent_key(rec: dict[str, Any]) -> IntentKey:
    """What ties an outcome to its intent: the run, the application, the action and who (unique within a run)."""
    return (str(rec.get("run", "")), str(rec.get("app", "")), str(rec.get("action", "")),
            str(rec.get("person_id") or rec.get("person", "")))


def month_of(time: str) -> str:
    return time[:7]  # "2026-11-25T..." -> "2026-11"


def months_between(since: datetime, until: datetime) -> list[str]:
    months, year, month = [], since.year, since.month
    while (year, month) <= (until.year, until.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


_EVENT_FIELDS = frozenset(f.name for f in dataclasses.fields(Event))
# The records that carry a person's identifiers in their changes (a deleted person's survive there).
IDENTITY_ACTIONS = frozenset({"user_create", "user_update", "user_delete", "import_create", "import_update",
                              "import_leaver"})
IDENTIFIER_FIELDS = ("employeeId", "userName", "displayName", "emails")
_IDENTITY_NEEDLES = tuple(b'"action":' + orjson.dumps(a) for a in sorted(IDENTITY_ACTIONS))
IDENTITIES_STEP = 1 << 16  # a writer notes how far the identities file covers at least every 64 KiB of its month
_TAIL = 4096  # a mark line is far shorter
# The characters beyond ASCII whose casefold holds ASCII letters (ß -> ss, Kelvin sign -> k, ﬁ -> fi, ...): the only way
# for a non-ASCII line to casefold-match an ASCII text without matching it byte for byte, ASCII-lowered.
# (every c >= U+0080 with an ASCII character in c.casefold(); tests/test_eventlog.py recomputes it)
CASEFOLDS_TO_ASCII = (  # ß İ ŉ ſ ǰ ẖ ẗ ẘ ẙ ẚ ẞ, the Kelvin sign, the ﬀ…ﬆ ligatures
    "\u00df\u0130\u0149\u017f\u01f0\u1e96\u1e97\u1e98\u1e99\u1e9a\u1e9e\u212a\ufb00\ufb01\ufb02\ufb03\ufb04\ufb05\ufb06"
)


# A record's person_id as a line holds it (orjson writes no space; a hand-written line may): a person known by many ids
# (a name many people share) is found by one pass over this field, not one pass over the month per id.
_PERSON_ID = re.compile(rb'"person_id"\s*:\s*"([^"\\]*)"')
RECORDS_KEPT = 4096  # parsed records a month keeps for later queries (`_Month.record`)
PIECE = 1 << 18  # bytes of a month lowered or casefolded at a time (`_Month._find_lowered`, `find_folded`)
MANY_IDS = 8  # above this many ids one pass over the person_id fields costs less than a search per id
_ASCII_RUNS = re.compile("[\x00-\x7f]+")  # the runs of ASCII characters of a casefolded text
_NOT_LETTERS = re.compile(rb"[a-z]+")  # splits an ASCII-lowered text into the runs `bytes.lower` cannot change
_TEXT_FIELDS = tuple(f.name for f in dataclasses.fields(Event) if f.name != "changes")


def _is_event(rec: Any) -> bool:
    """A parsed line that is a report record: its text fields are text (action, status and a readable time
    present), its changes an object of [before, after] pairs."""
    if not isinstance(rec, dict) or not all(isinstance(rec.get(k, ""), str) for k in _TEXT_FIELDS):
        return False
    changes = rec.get("changes", {})
    if not isinstance(changes, dict) or not all(isinstance(v, list) and len(v) == 2 for v in changes.values()):
        return False
    try:
        return bool(rec.get("action")) and bool(rec.get("status")) and \
            datetime.fromisoformat(rec["time"].replace("Z", "+00:00")) is not None
    except (KeyError, ValueError):
        return False


def _event(rec: dict[str, Any]) -> Event:
    return Event(**rec) if _EVENT_FIELDS.issuperset(rec) else Event.from_doc(rec)


def event_identifiers(event: Event) -> list[str]:
    """The identifiers an identity record holds: its label and the before and after values of its changes."""
    found = [event.person]
    for name in (*IDENTIFIER_FIELDS, "givenName", "familyName"):
        pair = event.changes.get(name)
        for value in pair if isinstance(pair, list) else []:
            found += [str(v) for v in value] if isinstance(value, list) else [str(value)] if value else []
    given, family = (event.changes.get(k, [None, None]) for k in ("givenName", "familyName"))
    names = [f"{g} {f}" for g, f in zip(given, family) if g and f] if isinstance(given, list) and \
        isinstance(family, list) else []
    return found + names


Identity = tuple[str, list[str]]  # a person's id and the identifiers one record of theirs holds


def _identity(event: Event) -> Identity | None:
    if event.action not in IDENTITY_ACTIONS or not event.person_id:
        return None
    return event.person_id, list(dict.fromkeys(v for v in event_identifiers(event) if v))


def _identity_line(identity: Identity) -> bytes:
    return orjson.dumps([identity[0], *identity[1]]) + b"\n"


def _identities_in(data: bytes) -> list[Identity]:
    """The identities of the identity records among complete report lines."""
    found: list[Identity] = []
    starts = sorted({data.rfind(b"\n", 0, pos) + 1 for needle in _IDENTITY_NEEDLES for pos in _positions(data, needle)})
    for start in starts:
        try:
            rec = orjson.loads(data[start:data.index(b"\n", start)])
        except (orjson.JSONDecodeError, ValueError):
            continue
        if _is_event(rec) and (identity := _identity(_event(rec))) is not None:
            found.append(identity)
    return found


def _positions(data: bytes, needle: bytes) -> Iterator[int]:
    pos = 0
    while (pos := data.find(needle, pos)) >= 0:
        yield pos
        pos += len(needle)


def _mark(upto: int, file: list[int]) -> bytes:
    return orjson.dumps({"upto": upto, "file": file}) + b"\n"


def _last_mark(data: bytes) -> tuple[int, list[int], int] | None:
    """The last mark line of identities data: how far it covers, of which file, and where the line ends."""
    pos = len(data)
    while (pos := data.rfind(b'{"upto":', 0, pos)) >= 0:
        end = data.find(b"\n", pos)
        if (pos == 0 or data[pos - 1:pos] == b"\n") and end >= 0:
            try:
                mark = orjson.loads(data[pos:end])
            except orjson.JSONDecodeError:
                continue
            if isinstance(mark, dict) and isinstance(mark.get("upto"), int) and isinstance(mark.get("file"), list):
                return mark["upto"], mark["file"], end + 1
    return None


def _parsed(line: bytes) -> dict[str, Any] | None:
    """A line's record; None when it is not one (a torn line after a crash, or of another shape)."""
    try:
        rec = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None  # a torn line after a crash: the operation in flight is lost
    return rec if _is_event(rec) else None


def _line_time(line: bytes) -> bytes | None:
    """The `time` of a record without parsing it: `time` is its last key. None when unsure (parse it then)."""
    start = line.rfind(b'"time":"')
    if start < 0 or not line.endswith(b'"}'):
        return None
    value = line[start + 8:-2]
    return None if b'"' in value or b"\\" in value else value


class _Month:
    """The complete lines read so far from one month's file, and the records parsed from them on demand.

    Lines are addressed by the offset where they start; searches run over the whole month's bytes at C speed.
    """

    __slots__ = ("offset", "data", "records", "malformed", "_ascii", "_starts", "_marked", "_marked_to")

    def __init__(self) -> None:
        self.offset = 0  # bytes of the file consumed (complete lines only)
        self.data = b""
        self.records: dict[int, dict[str, Any] | None] = {}  # line start -> record (None: not JSON, torn)
        self.malformed = 0  # lines parsed that are not report records (skipped, counted)
        self._ascii: bool | None = None
        self._starts: list[int] | None = None
        self._marked: dict[bytes, list[int]] = {}  # needle -> starts of the lines holding it (see `marked`)
        self._marked_to: dict[bytes, int] = {}  # needle -> how far the data has been searched for it

    def extend(self, chunk: bytes) -> None:
        self.data += chunk
        self.offset += len(chunk)
        self._ascii = self._starts = None

    @property
    def ascii(self) -> bool:
        if self._ascii is None:
            self._ascii = self.data.isascii()
        return self._ascii

    def line(self, start: int) -> bytes:
        return self.data[start:self.data.index(b"\n", start)]

    def record(self, start: int) -> dict[str, Any] | None:
        """The line's record, parsed; the first RECORDS_KEPT are kept for the next query (a console's refresh), the
        rest parsed again when asked (an export of a million events would otherwise keep ~1.5 GB of them)."""
        if start in self.records:
            return self.records[start]
        rec = _parsed(self.line(start))
        if rec is None:
            self.records[start] = None  # always kept: a malformed line is counted once
            self.malformed += 1
        elif len(self.records) < RECORDS_KEPT:
            self.records[start] = rec
        return rec

    def starts(self) -> list[int]:
        """Where every line starts."""
        if self._starts is None:
            starts, pos, data = [], 0, self.data
            while pos < len(data):
                starts.append(pos)
                pos = data.index(b"\n", pos) + 1
            self._starts = starts
        return self._starts

    def find(self, needle: bytes, *, lowered: bool = False) -> list[int]:
        """Starts of the lines holding `needle` (in the ASCII-lowered bytes with `lowered`), in file order."""
        if lowered:
            return self._find_lowered(needle)
        data = self.data
        found, pos = [], 0
        while (pos := data.find(needle, pos)) >= 0:
            found.append(data.rfind(b"\n", 0, pos) + 1)
            pos = data.index(b"\n", pos) + 1
        return found

    def _find_lowered(self, needle: bytes) -> list[int]:
        """`find` in the ASCII-lowered bytes, lowered a piece at a time (PIECE bytes, and the needle's length
        less one of overlap so that no match is cut): a copy of the whole month, tens of megabytes of new memory the
        kernel must fault in a new process, cost more than the lowering itself. lower() keeps every byte where it
        is, and the needle holds no line break (JSON escapes it), so a match lies within one line."""
        if not needle:
            return list(self.starts())
        data, found = self.data, []
        piece, at, resume = PIECE, 0, 0  # resume: the end of the last line found (searched from there on)
        while at < len(data):
            hay = data[at:at + piece + len(needle) - 1].lower()
            pos = max(0, resume - at)
            while (pos := hay.find(needle, pos)) >= 0 and pos < piece:
                found.append(data.rfind(b"\n", 0, at + pos) + 1)
                resume = data.index(b"\n", at + pos) + 1
                pos = resume - at
            at += piece
        return found

    def find_values(self, pattern: re.Pattern[bytes], values: set[bytes]) -> list[int]:
        """Starts of the lines where `pattern`'s first group is one of `values`, in file order."""
        data, found, last = self.data, [], -1
        for match in pattern.finditer(data):
            if match.group(1) in values:
                start = data.rfind(b"\n", 0, match.start()) + 1
                if start != last:
                    found.append(last := start)
        return found

    def marked(self, needle: bytes) -> list[int]:
        """Starts of the lines holding `needle`, kept and extended as the month grows (lines are only appended):
        for the few kinds of records asked for again and again."""
        found = self._marked.setdefault(needle, [])
        data, pos = self.data, self._marked_to.get(needle, 0)
        while (pos := data.find(needle, pos)) >= 0:
            found.append(data.rfind(b"\n", 0, pos) + 1)
            pos = data.index(b"\n", pos) + 1
        self._marked_to[needle] = len(data)
        return found

    def find_folded(self, needle: str) -> list[int]:
        """Starts of the lines whose casefolded text holds `needle`: the month is decoded and casefolded a piece of whole
        lines at a time (PIECE bytes or so), and the lines of a piece that holds it are tested one by one. A line
        break is never part of a UTF-8 sequence, casefold works on each character and the needle holds no line
        break: a piece holds it exactly when one of its lines does."""
        data, found, at = self.data, [], 0
        while at < len(data):
            end = data.find(b"\n", min(at + PIECE, len(data)) - 1) + 1 or len(data)
            if needle in data[at:end].decode("utf-8", "replace").casefold():
                pos = at
                while pos < end:
                    stop = data.find(b"\n", pos, end) + 1 or end
                    if needle in data[pos:stop].decode("utf-8", "replace").casefold():
                        found.append(pos)
                    pos = stop
            at = end
        return found


class _Lines:
    """Some lines of a month, by the offset where each starts: those a month's person index (console/month_index.py)
    points at, and those of its month past the index found by searching them."""

    __slots__ = ("lines", "records", "malformed")

    def __init__(self) -> None:
        self.lines: dict[int, bytes] = {}
        self.records: dict[int, dict[str, Any] | None] = {}
        self.malformed = 0

    def starts(self) -> list[int]:
        return sorted(self.lines)

    def line(self, start: int) -> bytes:
        return self.lines[start]

    def record(self, start: int) -> dict[str, Any] | None:
        if start not in self.records:
            self.records[start] = _parsed(self.lines[start])
            self.malformed += self.records[start] is None
        return self.records[start]


class _Handle:
    """An append-only file held open, with the identity of the file it was opened on."""

    __slots__ = ("fd", "ident")

    def __init__(self, path: Path, home: Path) -> None:
        self.fd = files.open_private(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, home)
        st = os.fstat(self.fd)
        self.ident = (st.st_dev, st.st_ino)

    def is_at(self, path: Path) -> bool:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return False
        return (st.st_dev, st.st_ino) == self.ident

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]
        os.fsync(self.fd)

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass


class EventLog:
    # Tests only: called with the path before every write; raising OSError (ENOSPC) stands for a full disk.
    fault: Callable[[Path], None] | None = None

    def __init__(self, directory: Path, *, readonly: bool = False) -> None:
        self.dir = Path(directory)
        self.readonly = readonly
        if not readonly:
            files.make_private_dir(self.dir, self.dir.parent)
        self._handles: dict[Path, _Handle] = {}
        self._cache: dict[str, _Month] = {}
        self._indexed = False  # this process has brought the identities files up to their months
        self._malformed = 0  # lines read through a month's person index that are not report records

    @property
    def journal_dir(self) -> Path:
        return self.dir / "journal"

    def _handle(self, path: Path) -> tuple[_Handle, str]:
        """The open handle for `path`, (re)opened when missing or no longer the file at the path; and a notice
        when the file it held was removed or replaced behind the process's back."""
        if self.readonly:
            raise ReadOnly("the report cannot be written in read-only mode")
        handle, notice = self._handles.get(path), ""
        if handle is not None and not handle.is_at(path):
            handle.close()
            del self._handles[path]
            handle, notice = None, f"{path.name} was removed or replaced while it was open; records go on in a new file"
        if handle is None:
            created = not path.parent.is_dir() or not path.exists()
            files.make_private_dir(path.parent, self.dir.parent)
            handle = _Handle(path, self.dir.parent)
            if created:
                _fsync_dir(path.parent)
            elif os.fstat(handle.fd).st_size > 0:  # after a crash the file may end in a torn line: end it
                with open(path, "rb") as fh:
                    fh.seek(-1, os.SEEK_END)
                    if fh.read(1) != b"\n":
                        handle.write(b"\n")
            self._handles[path] = handle
        return handle, notice

    def _write(self, path: Path, lines: list[bytes], *, report: bool) -> None:
        """Append whole lines to `path` and fsync; a failed handle is dropped so the next write starts clean."""
        if EventLog.fault is not None:
            EventLog.fault(path)
        handle, notice = self._handle(path)
        if notice and report:
            lines = [orjson.dumps(Event(action="report_reopened", status="success", message=notice).to_doc()) + b"\n",
                     *lines]
        try:
            handle.write(b"".join(lines))
        except OSError:
            handle.close()
            self._handles.pop(path, None)
            raise

    def append(self, event: Event) -> None:
        self.append_many([event])

    def append_many(self, events: Iterable[Event]) -> list[tuple[Path, int]]:
        """Write the events and fsync once per month file touched (group commit); returns where each file ended
        before (the month's identities file first), for `withdraw`."""
        if self.readonly:
            raise ReadOnly("the report cannot be written in read-only mode")
        by_month: dict[str, list[bytes]] = {}
        identities: dict[str, list[Identity]] = {}
        for event in events:
            by_month.setdefault(month_of(event.time), []).append(orjson.dumps(event) + b"\n")
            if (identity := _identity(event)) is not None:
                identities.setdefault(month_of(event.time), []).append(identity)
        if not self._indexed and by_month:
            self._indexed = True
            try:
                self.index_identities()  # once a process: months without a usable identities file get one
            except OSError:
                pass  # a cache: the report is written all the same, and readers read what is not covered
        marks = []
        for month, lines in by_month.items():
            path = self.dir / f"{month}.jsonl"
            with self._identities_locked(month) as side:
                try:
                    before = path.stat().st_size
                except FileNotFoundError:
                    before = 0
                side_before = os.fstat(side).st_size if side is not None else -1  # -1: a withdrawal removes it
                self._write(path, lines, report=True)
                marks += [(self._identities_path(month), side_before), (path, before)]
                if side is None:
                    continue
                st = os.fstat(self._handles[path].fd)
                ours = identities.get(month, []) if st.st_size == before + sum(map(len, lines)) else None
                try:
                    if self._note_identities(side, path, before, ours, st.st_size, [st.st_dev, st.st_ino]):
                        marks[-2] = (self._identities_path(month), 0)  # rebuilt: a withdrawal empties it
                except OSError:
                    pass  # a cache: readers do not trust what has no mark after it, and read the month instead
                index = self._index_path(month)
                try:
                    if month_index.behind(index, st.st_size, (st.st_dev, st.st_ino)) and \
                            month_index.update(index, path, self.dir.parent):
                        marks.insert(len(marks) - 1, (index, -1))  # it may cover this write: a withdrawal removes it
                except OSError:
                    pass  # a cache: readers check it and search the month without it
        return marks

    # ---- the identities files ------------------------------------------------------------------
    def _identities_path(self, month: str) -> Path:
        return self.dir / "identities" / f"{month}.jsonl"

    @contextmanager
    def _identities_locked(self, month: str) -> Iterator[int | None]:
        """The month's identities file, open and exclusively locked (flock) by this writer meanwhile; None when it
        cannot be (the report is written all the same: it is a cache)."""
        path = self._identities_path(month)
        try:
            files.make_private_dir(path.parent, self.dir.parent)
            fd = files.open_private(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, self.dir.parent)
        except OSError:
            yield None
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)  # releases the lock

    def _note_identities(self, side: int, path: Path, before: int, ours: list[Identity] | None, after: int,
                         file: list[int]) -> bool:
        """Under the identities file's lock, after the month file grew from `before` to `after` bytes with the records
        holding `ours` (None: not only ours, something else was written too; the month is read up to `after` then):
        append the identities of what it does not cover yet and a new mark, or rebuild it when it is not usable
        (missing, torn before its last mark, of another file, past the month's end). True when rebuilt."""
        size = os.fstat(side).st_size
        tail = os.pread(side, min(size, _TAIL), size - min(size, _TAIL))
        mark = _last_mark(tail)
        usable = mark is not None and mark[1] == file and mark[0] <= before
        upto = mark[0] if mark is not None and usable else 0
        if ours is None:
            rest = _read_lines(path, upto, after)
            found, after = _identities_in(rest), upto + len(rest)
        else:
            found = _identities_in(_read_lines(path, upto, before)) + ours
        if usable:
            if not found and after - upto < IDENTITIES_STEP:
                return False
            torn = b"" if tail.endswith(b"\n") else b"\n"  # a crash's torn line is ended first
            _write_all(side, torn + b"".join(map(_identity_line, found)) + _mark(after, file))
            return False
        os.ftruncate(side, 0)
        _write_all(side, b"".join(map(_identity_line, found)) + _mark(after, file))
        return True

    def _index_path(self, month: str) -> Path:
        return self.dir / month_index.DIR / f"{month}.idx"

    def index_identities(self) -> None:
        """Bring every month's identities file and person index up to its month (a writer's first append in a process
        does): one without a usable mark, or damaged, is rebuilt from its month, one far behind caught up."""
        for month in self.months():
            path = self.dir / f"{month}.jsonl"
            with self._identities_locked(month) as side:
                try:
                    st = os.stat(path)
                except FileNotFoundError:
                    continue
                if side is None:
                    continue
                size = _complete(path, st.st_size)  # a torn last line (a crash, a write in flight): the line before
                self._note_identities(side, path, size, [], size, [st.st_dev, st.st_ino])
                try:
                    month_index.update(self._index_path(month), path, self.dir.parent)
                except OSError:
                    pass  # a cache: readers search the month without it

    def _identities_of(self, month: str, screen: _PersonScreen) -> list[Identity]:
        """The identities of the month's records whose line may hold the screened text: from its identities file and
        the month's bytes past its mark, or from the whole month when that file is not usable."""
        path = self.dir / f"{month}.jsonl"
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return []
        try:
            data = self._identities_path(month).read_bytes()
        except OSError:  # missing, or not readable: the month is read
            data = b""
        mark = _last_mark(data)
        if mark is None or mark[1] != [st.st_dev, st.st_ino] or mark[0] > st.st_size:
            part = self._month(month)  # identity records are few: their lines are marked once, then screened
            found = []
            for start in sorted({s for w in _IDENTITY_NEEDLES for s in part.marked(w)}):
                if screen.may_match(part.line(start)) and (rec := part.record(start)) is not None and \
                        (identity := _identity(_event(rec))) is not None:
                    found.append(identity)
            return found
        side = _Month()
        side.extend(data[:mark[2]])
        found = []
        for start in screen.starts(side):
            try:
                values = orjson.loads(side.line(start))
            except orjson.JSONDecodeError:
                continue  # torn by a crash: its records are past a later mark's coverage or in the month's rest
            if isinstance(values, list) and values and all(isinstance(v, str) for v in values):
                found.append((values[0], values[1:]))
        rest = _read_lines(path, mark[0], st.st_size)
        found += [i for i in _identities_in(rest) if screen.may_match(_identity_line(i))]
        return found

    def person_identities(self, text: str) -> list[Identity]:
        """The identities (person id, identifiers) of the identity records that may hold `text` (casefolded), in
        every month: read from the identities files (kilobytes a month), screened on their bytes; a month whose file
        is not usable is read whole. May hold records that do not match (the caller checks), never misses one."""
        screen = _PersonScreen(set(), text.casefold())
        found: list[Identity] = []
        for month in self.months():
            found += self._identities_of(month, screen)
        return found

    def withdraw(self, marks: list[tuple[Path, int]]) -> None:
        """Take back what `append_many` wrote (the change it recorded could not be saved); one writer holds the lock.
        An identities file that cannot be cut back is removed (it is rebuilt), before its month is cut."""
        for path, size in marks:
            side = path.parent.name in ("identities", month_index.DIR) and path.parent.parent == self.dir
            if side and size < 0:  # it could not be kept in step with this write
                try:
                    path.unlink(missing_ok=True)
                except OSError:
                    pass
                continue
            try:
                fd = os.open(path, os.O_WRONLY)
            except FileNotFoundError:
                if side:
                    continue
                raise
            try:
                os.ftruncate(fd, size)
                os.fsync(fd)
            except OSError:
                if not side:
                    raise
                path.unlink(missing_ok=True)
            finally:
                os.close(fd)

    # ---- the intents journal -----------------------------------------------------------------
    def intend_many(self, run: str, intents: Iterable[Event]) -> None:
        """Make intents durable (one fsync) before their remote writes; their status reads `unknown` until the
        outcome is in the report."""
        lines = [orjson.dumps(event) + b"\n" for event in intents]
        if lines:
            self._write(self.journal_dir / f"{run}.jsonl", lines, report=False)

    def close_journal(self, run: str) -> None:
        """Every intent of `run` has its outcome (or was resolved): its journal goes."""
        path = self.journal_dir / f"{run}.jsonl"
        handle = self._handles.pop(path, None)
        if handle is not None:
            handle.close()
        path.unlink(missing_ok=True)

    def journals(self) -> list[str]:
        """Runs whose journal is still on disk (running elsewhere, or stopped by a crash)."""
        if not self.journal_dir.is_dir():
            return []
        return sorted(p.stem for p in self.journal_dir.glob("*.jsonl"))

    def open_intents(self, *, final: bool = False, runs: Iterable[str] | None = None) -> list[Event]:
        """Intents of the journals on disk whose outcome is not in the report, as `unknown` events.

        With `final`, an intent already recorded as `unknown` counts as open too (it still needs a look-up).
        """
        found: list[Event] = []
        for run in self.journals() if runs is None else runs:
            path = self.journal_dir / f"{run}.jsonl"
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            intents = []
            for line in data.splitlines():
                try:
                    rec = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # torn by a crash before its fsync: its write was never sent
                if isinstance(rec, dict):
                    intents.append(rec)
            if not intents:
                continue
            recorded = self._recorded(run, {month_of(str(r.get("time", ""))) for r in intents}, final=final)
            found += [_event(r) for r in intents if intent_key(r) not in recorded]
        return found

    def _recorded(self, run: str, months: set[str], *, final: bool) -> set[IntentKey]:
        """Keys of the report's events of `run` in these months and the next (a run may cross a month's end)."""
        wanted = set(months)
        for month in months:
            year, mon = int(month[:4]), int(month[5:7])
            wanted.add(f"{year + mon // 12:04d}-{mon % 12 + 1:02d}")
        needle = orjson.dumps(run)
        keys: set[IntentKey] = set()
        for month in sorted(wanted & set(self.months())):
            part = self._month(month)
            for start in part.find(needle):
                rec = part.record(start)
                if rec is not None and rec.get("run") == run and (not final or rec.get("status") in FINAL_STATUSES):
                    keys.add(intent_key(rec))
        return keys

    def months(self) -> list[str]:
        if not self.dir.exists():
            return []
        return sorted(p.stem for p in self.dir.glob("*.jsonl"))

    def _month(self, month: str) -> _Month:
        """A month's lines, read once and extended incrementally as the file grows."""
        path = self.dir / f"{month}.jsonl"
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return _Month()
        part = self._cache.get(month)
        if part is None or size < part.offset:  # new, or replaced behind our back: read it again
            part = self._cache[month] = _Month()
        if size > part.offset:
            with open(path, "rb") as fh:
                fh.seek(part.offset)
                chunk = fh.read(size - part.offset)
            part.extend(chunk[:chunk.rfind(b"\n") + 1])  # a line being written by another process waits
        return part

    def query(self, **filters: Any) -> list[Event]:
        """Every event `stream(**filters)` gives, in a list."""
        return list(self.stream(**filters))

    def stream(
        self,
        *,
        person_ids: set[str] | None = None,
        person_text: str | None = None,
        person_partial: bool = False,
        app: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        action: str | None = None,
        status: str | None = None,
        run: str | None = None,
        limit: int | None = None,
        _intents: bool = True,
    ) -> Iterator[Event]:
        """Events matching every given filter, newest first, one at a time (an export of a million events never holds
        them all); with `person_partial` a label holding `person_text` matches, else one equal to it (casefolded).

        Lines are screened on their bytes first (a wanted value must appear JSON-encoded in the line; the time is
        read from the line's end); only the lines that pass are parsed, then every filter is checked exactly. Open
        intents (a crash, or a run in flight) are merged by time with the rest, which are then gathered first.
        """
        months = self.months()
        if since or until:
            lo = since or datetime(1970, 1, 1, tzinfo=timezone.utc)
            hi = until or clock.now()
            wanted = set(months_between(lo, hi))
            months = [m for m in months if m in wanted]
        since_s = since.isoformat().replace("+00:00", "Z") if since else None
        until_s = until.isoformat().replace("+00:00", "Z") if until else None
        text = person_text.casefold() if person_text else None
        by_person = person_ids is not None or text is not None
        exact = {k: v for k, v in (("run", run), ("app", app), ("action", action), ("status", status)) if v is not None}
        needles = [orjson.dumps(v) for v in exact.values()]
        screen = _PersonScreen(person_ids or set(), text) if by_person else None
        # an exact person filter: its ids' and label's lines are looked up in each month's person index
        keys = [month_index.id_key(i) for i in person_ids or ()] + \
            ([month_index.label_key(text)] if text is not None else []) \
            if by_person and not person_partial and "" not in (person_ids or ()) else None
        since_b, until_b = (since_s.encode() if since_s else None), (until_s.encode() if until_s else None)
        open_intents = [e for e in self.open_intents() if status in (None, "unknown")] if _intents else []
        if open_intents:  # intents without an outcome (a crash, or a run in flight elsewhere) show as unknown
            found = [e for e in open_intents if _matches(e, exact, since_s, until_s, person_ids, text, person_partial)]
            found += self.stream(person_ids=person_ids, person_text=person_text, person_partial=person_partial, app=app,
                                 since=since, until=until, action=action, status=status, run=run, limit=None,
                                 _intents=False)
            found.sort(key=lambda e: e.time, reverse=True)
            yield from found[:limit]
            return
        if limit == 0:
            return
        given = 0
        for month in reversed(months):
            lines = self._by_index(month, keys, screen) if keys is not None and screen is not None else None
            part: _Month | _Lines = lines if lines is not None else self._month(month)
            if lines is not None:
                starts, rest = lines.starts(), needles
            elif screen is not None:  # a person is usually the most selective filter
                assert isinstance(part, _Month)
                starts, rest = screen.starts(part), needles
            elif needles:
                assert isinstance(part, _Month)
                starts, rest = part.find(needles[0]), needles[1:]
            else:
                starts, rest = part.starts(), []
            for start in reversed(starts):
                line = part.line(start)
                if any(n not in line for n in rest):
                    continue
                if (since_b or until_b) and not _time_may_match(line, since_b, until_b):
                    continue
                rec = part.record(start)
                if rec is None or any(rec.get(k) != v for k, v in exact.items()):
                    continue
                if since_s and rec.get("time", "") < since_s:
                    continue
                if until_s and rec.get("time", "") > until_s:
                    continue
                if by_person:
                    by_id = person_ids is not None and rec.get("person_id") in person_ids
                    by_text = text is not None and _label_matches(str(rec.get("person", "")), text, person_partial)
                    if not (by_id or by_text):
                        continue
                yield _event(rec)
                given += 1
                if given == limit:
                    break
            if lines is not None:
                self._malformed += lines.malformed
            if given == limit:
                return

    def _by_index(self, month: str, keys: list[int], screen: _PersonScreen) -> _Lines | None:
        """The month's lines that may hold a record of the screened person: those its person index gives under `keys`
        (the person's ids and label), and those past the index that pass the screen. None when the month has no
        usable index (it is searched then)."""
        try:
            fd = os.open(self.dir / f"{month}.jsonl", os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            st = os.fstat(fd)
            index = month_index.load(self._index_path(month), fd, st.st_size, (st.st_dev, st.st_ino))
            if index is None:
                return None
            lines = _Lines()
            offsets = index.lookup(keys)
            if offsets:
                with mmap.mmap(fd, index.upto, access=mmap.ACCESS_READ) as data:
                    for start in offsets:
                        if (end := data.find(b"\n", start)) < 0:
                            return None  # not a line of what it covers: not trusted
                        lines.lines[start] = data[start:end]
            rest = os.pread(fd, st.st_size - index.upto, index.upto)
            if rest := rest[:rest.rfind(b"\n") + 1]:  # a line being written by another process waits
                tail = _Month()
                tail.extend(rest)
                for start in screen.starts(tail):
                    lines.lines[index.upto + start] = tail.line(start)
            return lines
        finally:
            os.close(fd)

    def malformed(self) -> int:
        """How many lines read so far were not report records (torn, or of another shape) and were skipped."""
        return sum(part.malformed for part in self._cache.values()) + self._malformed

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()


def _read_lines(path: Path, start: int, end: int) -> bytes:
    """The complete lines of a file between two offsets (a line still being written elsewhere is left out)."""
    if end <= start:
        return b""
    try:
        with open(path, "rb") as fh:
            fh.seek(start)
            chunk = fh.read(max(0, end - start))
    except FileNotFoundError:
        return b""
    return chunk[:chunk.rfind(b"\n") + 1]


def _complete(path: Path, size: int) -> int:
    """Where the file's last complete line ends (its first `size` bytes)."""
    with open(path, "rb") as fh:
        end = size
        while end > 0:
            fh.seek(max(0, end - (1 << 16)))
            chunk = fh.read(end - max(0, end - (1 << 16)))
            if (at := chunk.rfind(b"\n")) >= 0:
                return end - len(chunk) + at + 1
            end -= len(chunk)
    return 0


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _fsync_dir(directory: Path) -> None:
    """Make a new file's name durable in its directory."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _label_matches(label: str, text: str, partial: bool) -> bool:
    folded = label.casefold()
    return text in folded if partial else folded == text


def _matches(event: Event, exact: dict[str, str], since: str | None, until: str | None, person_ids: set[str] | None,
             text: str | None, partial: bool = False) -> bool:
    """The query's filters, checked on one event (the few open intents; the report itself is screened on bytes)."""
    if any(getattr(event, k) != v for k, v in exact.items() if k != "status"):
        return False
    if (since and event.time < since) or (until and event.time > until):
        return False
    if person_ids is None and text is None:
        return True
    return (person_ids is not None and event.person_id in person_ids) or (
        text is not None and _label_matches(event.person, text, partial))


class _PersonScreen:
    """Finds the lines that may hold a record of a person: one of `ids` as person_id, or `person` casefolding to
    `text`. It may let through lines that do not match (the exact check follows), never drop one that does."""

    def __init__(self, ids: set[str], text: str | None) -> None:
        self.ids = [orjson.dumps(i) for i in ids]
        # many ids none of which JSON escapes: found by their value in the person_id fields, in one pass
        values = {n[1:-1] for n in self.ids}
        self.id_values = values if len(values) > MANY_IDS and not any(b"\\" in v for v in values) else None
        self.text = text
        needle = orjson.dumps(text)[1:-1].decode() if text is not None else ""  # as the line holds it (escaped)
        self.folded = needle.casefold()
        self.ascii = self.folded.encode() if self.folded.isascii() else None

    def may_match(self, line: bytes) -> bool:
        return any(n in line for n in self.ids) or self.text_in(line)

    def text_in(self, line: bytes) -> bool:
        """The line's casefolded text holds the text."""
        if self.text is None:
            return False
        if line.isascii():  # casefold is lower() on ASCII, and never turns ASCII into non-ASCII
            return self.ascii is not None and self.ascii in line.lower()
        return self.folded in line.decode("utf-8", "replace").casefold()

    def _anchored(self, part: _Month) -> list[int] | None:
        """Starts of the lines whose ASCII-lowered bytes hold the ASCII text, found without lowering the month: through
        the text's longest run of bytes that lowering leaves alone and makes from no other byte (no letter: digits,
        "@", "."), searched as it is, each line holding it then tested. None when the text has no such run of 3 bytes
        or more, or when the run is found more than once per 4 KiB (e.g. "2026", in every line's time): the month is
        lowered then."""
        text = self.ascii
        assert text is not None
        anchor = max(_NOT_LETTERS.split(text), key=len)
        if len(anchor) < 3:
            return None
        data = part.data
        most = len(data) >> 12
        found: list[int] = []
        pos = 0
        while (pos := data.find(anchor, pos)) >= 0:
            most -= 1
            if most < 0:
                return None
            start, end = data.rfind(b"\n", 0, pos) + 1, data.index(b"\n", pos)
            if text in data[start:end].lower():
                found.append(start)
            pos = end + 1
        return found

    def _folded(self, part: _Month) -> list[int]:
        """Starts of the lines whose casefolded text holds the non-ASCII text. Through its longest run of ASCII
        characters when of 3 or more: a line holding the text holds that run in its ASCII-lowered bytes (casefold is
        lower() on ASCII), or holds a character beyond ASCII that casefolds into the run's characters (one of
        CASEFOLDS_TO_ASCII); those lines are then tested. The month is casefolded instead when there is no such run,
        or when more than one line per KiB would be tested."""
        run = max(_ASCII_RUNS.findall(self.folded), key=len, default="")
        if len(run) < 3:
            return part.find_folded(self.folded)
        found = set(part.find(run.encode(), lowered=True))
        for char in "" if part.ascii else CASEFOLDS_TO_ASCII:
            if set(char.casefold()) & set(run):
                found.update(part.find(char.encode()))
        if len(found) > len(part.data) >> 10:
            return part.find_folded(self.folded)
        return [start for start in found if self.text_in(part.line(start))]

    def starts(self, part: _Month) -> list[int]:
        """Starts of the lines that pass `may_match`, found by searching the month's bytes."""
        found: set[int] = set()
        if self.id_values is not None:
            found.update(part.find_values(_PERSON_ID, self.id_values))
        for needle in self.ids if self.id_values is None else ():
            found.update(part.find(needle))
        if self.text is not None:
            if self.ascii is None:
                found.update(self._folded(part))
            elif (anchored := self._anchored(part)) is not None:
                found.update(anchored)
            else:
                found.update(part.find(self.ascii, lowered=True))
                # a non-ASCII line also matches through a character that casefolds into the text's letters
                for char in "" if part.ascii else CASEFOLDS_TO_ASCII:
                    if set(char.casefold()) & set(self.folded):
                        found.update(s for s in part.find(char.encode()) if self.text_in(part.line(s)))
        return sorted(found)


def _time_may_match(line: bytes, since: bytes | None, until: bytes | None) -> bool:
    value = _line_time(line)
    if value is None:
        return True
    return not ((since is not None and value < since) or (until is not None and value > until))
