"""The sidecar index of `state.json`: a keyed read parses only the documents it needs.

`state.json` stays one TinyDB file. Each write also writes `state.index` (derived, 0600): a one-line JSON header
(format, the inode/mtime/size of the very `state.json` it describes, its generation, the byte span of each small
table) followed by sections that are read only when needed, each without parsing: the byte span of every person
and link document (int64 pairs, read 16 bytes at a time), and "\n"-separated lines, one per person or link, of
what lookups need: ids, casefolded primary keys, userNames, e-mails (`email\trow`), search text
(`console.models.search_text`) and the links' local ids; and what a read-only plan needs, ready-made (format 7): one
byte per person (1: active), the digest of each person's stored bytes (`models.document_digest`, what the plan
compares with the inputs recorded on their links), and the links grouped by (application, kind) (`links.groups`:
`[[app, kind, count], ...]` in sorted order; then per link, in that grouped order, its row, local id, state and
recorded inputs). A keyed read finds its row with one `bytes.find` over a section, then reads and parses that one
document.

`Snapshot.open` opens `state.json` and the index once and keeps both descriptors: every later read (one document,
or the whole file when a caller needs a whole table) comes from those same files, even after another process
replaced them, so a store that started partial and later loads everything sees one consistent generation. An index
that is missing, damaged, of another format or describing another file is ignored (`Snapshot.open` returns None):
the state is then parsed whole, as before, and the next writer writes the index again.
"""
from __future__ import annotations

import os
import re
import stat
import sys
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from itertools import accumulate as _accumulate
from itertools import chain, compress, count
import operator
from operator import is_, is_not
from pathlib import Path
from typing import Any, cast

import orjson

from console.models import document_digest, search_text
from console.storage import FileRange, atomic_write

# 5: the search lines hold the given and family names too; 6: people's active flags, links' heads; 7: people's digests,
# the links' heads grouped by application (columns, read at C speed)
FORMAT = 7
SPLIT = ("users", "links")  # the tables read document by document; the others are read whole (they are small)
INDEX_NAME = "state.index"


_ROW_TAILS = re.compile(rb"\t(\d+)\n")  # the row of each line of the e-mails section


def _line(value: str) -> str:
    value = value.casefold()
    return value.replace("\n", " ").replace("\t", " ") if "\n" in value or "\t" in value else value


def _lines(values: Any) -> bytes:
    return "\n".join(values).encode()


def _spans(body: bytes, docs: dict[str, Any]) -> tuple[array[int], bytes] | None:
    """The [start, end) of each document of `body` (`orjson.dumps(docs)`) and the documents' one opening (b"" when
    they differ); None when one is not where it must be.
    Each is found by `find` of its key and first field after the previous one, which is C speed, where dumping
    each document apart costs ~10x the whole dump."""
    flat = array("q")
    append = flat.append
    at, previous = 0, -1
    firsts: dict[Any, bytes] = {}  # the first field's `{"name":`, usually one for the whole table
    counts: dict[bytes, int] = {}
    for doc_id, doc in docs.items():
        if not isinstance(doc, dict):
            return None
        first = next(iter(doc), None)
        opening = firsts.get(first)
        if opening is None:
            opening = firsts[first] = b"{" + orjson.dumps(first) + b":" if first is not None else b"{}"
        counts[opening] = counts.get(opening, 0) + 1
        key = f'"{doc_id}":'.encode() if doc_id.isdigit() else orjson.dumps(doc_id) + b":"
        prefix = key + opening
        if previous < 0:
            if not body.startswith(prefix, 1):
                return None
            found = 0
        else:
            found = body.find(b"," + prefix, at)
            if found == -1:
                return None
            append(found)  # the end of the previous document
        append(found + 1 + len(key))
        at, previous = found + 1 + len(prefix), found
    if docs:
        append(len(body) - 1)
    # Exact only if no document holds a dict that looks like the start of one (`"key":{"first":`; inside a JSON
    # string a quote is escaped, so only structure can match): else no index (reads are whole, never wrong).
    if any(body.count(b'":' + opening) != n for opening, n in counts.items()):
        return None
    return flat, next(iter(counts)) if len(counts) == 1 else b""


def _user_row(doc: dict[str, Any], primary_key: str, by_attribute: bool) -> tuple[str, str, str, list[str], str,
                                                                                  bool]:
    """What the index holds of one person: id, casefolded key, userName, e-mails, search text, active."""
    get = doc.get
    employee_id, user_name, mails = get("employeeId", ""), get("userName", ""), get("emails") or ()
    key = str((get("attributes") or {}).get(primary_key, "")) if by_attribute else str(get(primary_key, ""))
    return (str(get("id", "")), _line(key), _line(str(user_name)), [_line(str(e)) for e in mails],
            search_text(employee_id, user_name, get("displayName", ""), get("department", ""), get("title", ""),
                        mails, get("givenName", ""), get("familyName", "")), get("status", "active") == "active")


def _byte_lines(values: list[bytes]) -> bytes:
    return b"\n".join(values)


def _emails(emails: list[str], row: int) -> str:
    return "".join([f"{m}\t{row}\n" for m in emails])


_LINK_TEXT = (0, 2, 3)  # the fields of a link's row that are section lines (local id, state, inputs); 1: its group


def _link_row(doc: Any) -> tuple[str, tuple[str, str], str, str] | None:
    """What the index holds of one link: local id, (application, kind), state, recorded inputs; None when a value
    could not be one line of a section (not a string, or holding a line break): then the table is not indexed."""
    if not isinstance(doc, dict):
        return None
    get = doc.get
    local, app, kind, state, inputs = (str(get("local_id", "")), get("app", ""), get("kind", "user"),
                                       get("state", "active"), get("inputs", ""))
    if (type(app) is not str or type(kind) is not str or type(state) is not str or type(inputs) is not str
            or "\n" in local or "\n" in state or "\n" in inputs):
        return None
    return local, (app, kind), state, inputs


def _key(doc_id: str) -> bytes:
    return f'"{doc_id}":'.encode() if doc_id.isdigit() else orjson.dumps(doc_id) + b":"


class _Rows:
    """What the index holds of one split table, kept row by row in document order between writes.

    A write that replaced some documents (a document is replaced, never changed in place: its identity says it is
    the one derived) and appended others patches those rows only: the bytes last written with the new documents in
    place of the old ones, the spans accumulated again from the documents' lengths, the sections joined from the
    rows. Anything else (a delete, another order, most of the table) dumps and derives the whole table. A writer
    that loaded every document through the index starts from the index's rows and the bytes it read (`seed`), so
    its first write patches too."""

    def __init__(self) -> None:
        self.order: list[str] = []  # the document ids, in order, of the table last written
        self.docs: list[Any] = []  # its document objects, in order
        # per value, one per row: users: id, key, userName, e-mails, search text, digest, active; links: local id,
        # (application, kind), state, inputs
        self.fields: list[list[Any]] = []
        self.grouped: list[int] | None = None  # links: the rows in the order of their group (kept while no group moves)
        self.incs: list[int] = []  # the differences between consecutive span offsets: accumulated, the spans
        self.spans = array("q")
        self.active = 0
        self.opening = b""  # every document's opening (`{"firstfield":`) when it is the same (else b"": no patch)
        self.base: memoryview | None = None  # the table's bytes as last written (a view into that dump)
        self.encoded = False  # `fields` (but active flags and link groups) hold bytes, not str
        self.pending: dict[str, bytes] | None = None  # seeded: the index's sections, split into rows when first used

    def table(self, name: str, docs: dict[str, Any], primary_key: str) -> tuple[list[Any], dict[str, Any] | None]:
        """The parts of the table's bytes (joined: what `orjson.dumps(docs)` gives) and what the index holds of it
        (None: it cannot be indexed). `dump` sets `base` to the bytes written before the next call can patch them."""
        values = list(docs.values())
        if (self.pending is not None and self.base is not None and len(values) == len(self.docs)
                and all(map(is_, values, self.docs)) and list(docs) == self.order):
            pending = self.pending
            if self._unpack():  # the seeded rows fit (checked as for a patch): written as they are, kept packed
                self.fields, self.grouped, self.pending = [], None, pending
                seeded, self.base = self.base, None
                return [seeded], self._seeded_sections(name)
            self.base = None  # a seed whose rows do not fit: derived whole
        if self.pending is not None and not self._unpack():
            self.base = None  # a seed whose rows do not fit: derived whole
        base, self.base = self.base, None
        known = len(self.docs)
        if self.opening and base is not None and len(values) >= known:
            ids = list(docs)
            if ids[:known] == self.order:
                changed = list(compress(count(), map(is_not, values, self.docs)))  # at C speed
                if len(changed) + len(values) - known <= max(len(values) // 8, 1):
                    patched = self._patch(name, ids, values, changed, base, primary_key)
                    if patched is not None:
                        return patched
        return self._full(name, docs, values, primary_key)

    def _full(self, name: str, docs: dict[str, Any], values: list[Any],
              primary_key: str) -> tuple[list[Any], dict[str, Any] | None]:
        self.__init__()  # type: ignore[misc]
        body = orjson.dumps(docs)
        found = _spans(body, docs)
        if found is None:
            return [body], None
        self.spans, self.opening = found
        self.order, self.docs = list(docs), values
        if name == "links":
            rows = [_link_row(d) for d in values]
            if None in rows:
                self.__init__()  # type: ignore[misc]
                return [body], None
            self.fields = [list(column) for column in zip(*rows)] if rows else [[], [], [], []]
            return [body], self._sections(name, self.fields)
        view = memoryview(body)
        digests = [document_digest(view[start:end]) for start, end in zip(self.spans[::2], self.spans[1::2])]
        ids: list[str] = []
        keys: list[str] = []
        names: list[str] = []
        emails: list[str] = []
        lines: list[str] = []
        active: list[bool] = []
        by_attribute = primary_key not in ("employeeId", "userName")
        for row, d in enumerate(values):  # one pass, no object per row (no work for the cyclic GC): all the people
            get = d.get
            employee_id, user_name, mails = get("employeeId", ""), get("userName", ""), get("emails") or ()
            ids.append(str(get("id", "")))
            key = str((get("attributes") or {}).get(primary_key, "")) if by_attribute else str(get(primary_key, ""))
            keys.append(_line(key))
            names.append(_line(str(user_name)))
            emails.append("".join([f"{_line(str(e))}\t{row}\n" for e in mails]))
            lines.append(search_text(employee_id, user_name, get("displayName", ""), get("department", ""),
                                     get("title", ""), mails, get("givenName", ""), get("familyName", "")))
            active.append(get("status", "active") == "active")
        self.fields = [ids, keys, names, emails, lines, digests, active]
        self.active = sum(active)
        return [body], self._sections(name, self.fields)

    def seed(self, name: str, docs: dict[str, Any], data: bytes, snap: Snapshot) -> bool:
        """Take the rows of `docs` (parsed from `data`, the snapshot's whole state file) from the snapshot's index
        instead of deriving them: what `_full` would give, since the index was derived from these very bytes (its
        stamp was verified). False (nothing kept) when a section does not have one line per row."""
        rows = snap.count(name)
        values = list(docs.values())
        if not rows or rows != len(values):
            return False
        taken = self._take(name, snap, rows)
        if taken is None:
            return False
        spans, pending = taken
        start = snap.header["starts"][name]
        end = start + spans[-1] + 1 if spans else 0
        if end > len(data) or data[start:start + 1] != b"{" or data[end - 1:end] != b"}":
            return False
        first = next(iter(values[0]), None) if isinstance(values[0], dict) else None
        if first is None:
            return False
        opening = b"{" + orjson.dumps(first) + b":"
        # `_spans` found `"key":{"first":` exactly once per document with that opening: every document has it
        # when it is found once per row (else the openings differ, and `_full` keeps none: no patch)
        if data.count(b'":' + opening, start, end) != rows:
            opening = b""
        self.__init__()  # type: ignore[misc]
        self.order, self.docs, self.spans, self.opening = list(docs), values, spans, opening
        self.active = sum(pending["active"]) if name == "users" else 0
        self.pending, self.encoded = pending, True
        self.base = memoryview(data)[start:end]
        return True

    @staticmethod
    def _take(name: str, snap: Snapshot, rows: int) -> tuple[array[int], dict[str, bytes]] | None:
        """The spans and the sections of a split table of the snapshot's index; None when a section does not have one
        line per row."""
        spans = array("q")
        spans.frombytes(snap.section(f"{name}.spans"))
        if len(spans) != 2 * rows:
            return None
        names = (("local", "groups", "grows", "glocal", "gstates", "ginputs") if name == "links"
                 else ("ids", "keys", "names", "emails", "lines", "digests", "active"))
        pending = {section: snap.section(f"{name}.{section}") for section in names}
        if any(pending[n].count(b"\n") != rows - 1 for n in names if n not in ("emails", "active", "groups", "grows")):
            return None  # a line per row (a value holding "\n" would make more: none does, see `_line`)
        if name == "users":
            active = pending["active"]
            if len(active) != rows or max(active) > 1 or (pending["emails"] and pending["emails"][-1:] != b"\n"):
                return None
        return spans, pending

    @classmethod
    def of_snapshot(cls, name: str, snap: Snapshot) -> _Rows | None:
        """The rows of a split table as the snapshot's index holds them (no document read), for a write that changes
        a few of them (`splice`); None when the index's sections do not describe one row each."""
        rows = snap.count(name)
        table = cls()
        table.encoded = True
        if not rows:
            table.fields = [[] for _ in range(4 if name == "links" else 7)]
            table.grouped = [] if name == "links" else None
            return table
        taken = cls._take(name, snap, rows)
        if taken is None:
            return None
        table.spans, table.pending = taken
        table.docs = [None] * rows
        table.active = sum(table.pending["active"]) if name == "users" else 0
        return table if table._unpack() else None

    def _seeded_sections(self, name: str) -> dict[str, Any]:
        """What the index holds of a seeded table no write changed: the sections it was seeded from, as they are (the
        rows are split out of them only when a write changes one: a process writing others' documents never does)."""
        pending = self.pending
        assert pending is not None
        sections = {f"{name}.spans": self.spans.tobytes(), **{f"{name}.{k}": v for k, v in pending.items()}}
        if name == "links":
            return {"rows": len(self.docs), "sections": sections}
        return {"rows": len(self.docs), "active": self.active, "sections": sections}

    def _unpack(self) -> bool:
        """The seeded sections split into rows (at the first write, not at the load: a process may never write);
        False when the e-mails' rows do not fit (the table is then derived whole)."""
        pending, self.pending = self.pending, None
        assert pending is not None
        rows = len(self.docs)
        if "groups" in pending:
            return self._unpack_links(pending, rows)
        emails = self._email_rows(pending["emails"], rows)
        if emails is None:
            return False
        self.fields = [pending["ids"].split(b"\n"), pending["keys"].split(b"\n"), pending["names"].split(b"\n"),
                       emails, pending["lines"].split(b"\n"), pending["digests"].split(b"\n"),
                       list(pending["active"])]
        return True

    def _unpack_links(self, pending: dict[str, bytes], rows: int) -> bool:
        """The grouped link sections back in row order; False when they do not describe one row each."""
        try:
            return self._grouped_rows(pending, rows)
        except (ValueError, TypeError):  # not a list of [app, kind, count] (orjson's errors are ValueErrors)
            return False

    def _grouped_rows(self, pending: dict[str, bytes], rows: int) -> bool:
        groups = orjson.loads(pending["groups"])
        grouped = array("q")
        grouped.frombytes(pending["grows"])
        order = grouped.tolist()
        if (not isinstance(groups, list) or len(order) != rows or sum(g[2] for g in groups) != rows
                or len(set(order)) != rows or min(order) < 0 or max(order) >= rows):
            return False
        keys: list[Any] = []
        for app, kind, n in groups:
            if type(app) is not str or type(kind) is not str:
                return False
            keys += [(app, kind)] * n
        columns: list[list[Any]] = [[None] * rows for _ in range(4)]
        for column, values in zip(columns, (pending["glocal"].split(b"\n"), keys, pending["gstates"].split(b"\n"),
                                            pending["ginputs"].split(b"\n"))):
            for row, value in zip(order, values):
                column[row] = value
        if columns[0] != pending["local"].split(b"\n"):
            return False
        self.fields, self.grouped = columns, order
        return True

    @staticmethod
    def _email_rows(section: bytes, rows: int) -> list[bytes] | None:
        """Per row, its lines of the e-mails section (`email\trow\n` each, rows ascending); None if malformed."""
        lines = section.split(b"\n")
        if len(lines) == rows + 1 and not lines[-1] and _ROW_TAILS.findall(section) == [b"%d" % i for i in range(rows)]:
            return [line + b"\n" for line in lines[:-1]]  # one e-mail a row (most homes): at C speed
        out: list[bytes] = [b""] * rows
        at, last = 0, -1
        for line in lines[:-1]:
            tab = line.rfind(b"\t")
            row = int(line[tab + 1:]) if tab >= 0 and line[tab + 1:].isdigit() else -1
            if row < 0 or row < last or row >= rows:
                return None
            last = row
            end = at + len(line) + 1
            out[row] = out[row] + section[at:end] if out[row] else section[at:end]
            at = end
        if section and not section.endswith(b"\n"):
            return None
        return out

    def _rows_apart(self) -> None:
        """The span differences and the rows' values as bytes (joined at each patch without encoding the sections),
        made once, at the first patch: a process writing once never needs them."""
        if not self.incs:
            self.incs = [b - a for a, b in zip(chain((0,), self.spans), self.spans)]
        if not self.encoded:
            text = _LINK_TEXT if len(self.fields) == 4 else range(6)
            for n in text:
                self.fields[n] = [v.encode() for v in self.fields[n]]
            self.encoded = True

    def _patch(self, name: str, ids: list[str], values: list[Any], changed: list[int], base: memoryview,
               primary_key: str) -> tuple[list[Any], dict[str, Any]] | None:
        """The rows at `changed` were replaced and those after the known ones appended; None when one cannot be
        patched (another opening, or a dict inside it that looks like the start of a document)."""
        opening, spans, known = self.opening, self.spans, len(self.docs)
        needle = b'":' + opening
        if b"," in opening or b"}" in opening:
            return None
        by_attribute = primary_key not in ("employeeId", "userName")
        self._rows_apart()
        parts: list[Any] = []
        done = 0
        for row in [*changed, *range(known, len(values))]:
            doc = values[row]
            if not isinstance(doc, dict) or next(iter(doc), None) is None:
                return None
            key, dumped = _key(ids[row]), orjson.dumps(doc)
            if not dumped.startswith(opening) or dumped.count(needle) or (key + dumped).count(needle) != 1:
                return None
            if row < known:
                parts += (base[done:spans[2 * row] - len(key)], key, dumped)
                done = spans[2 * row + 1]
                self.incs[2 * row + 1] = len(dumped)
            else:
                if row == known:
                    parts.append(base[done:len(base) - 1])  # without its closing "}"
                    done = len(base) - 1
                parts += (b",", key, dumped)
                self.incs += (1 + len(key), len(dumped))
                self.order.append(ids[row])
                self.docs.append(doc)
                for field in self.fields:
                    field.append(None)
            self.docs[row] = doc
            if not self._set_row(name, row, doc, dumped, primary_key, by_attribute):
                return None
        parts.append(base[done:])
        self.spans = array("q", _accumulate(self.incs))
        return parts, self._sections(name, self.fields)

    def _set_row(self, name: str, row: int, doc: Any, dumped: bytes, primary_key: str, by_attribute: bool) -> bool:
        """What the index holds of the document `doc` (whose bytes are `dumped`) at `row`, in place of the row's values
        (None for a row just appended); False when a link's values cannot be lines of a section."""
        fields = self.fields
        if name == "links":
            link = _link_row(doc)
            if link is None:
                return False
            if fields[1][row] != link[1]:
                self.grouped = None  # the grouped order is made again
            local, group, state, inputs = link
            fields[0][row], fields[1][row], fields[2][row], fields[3][row] = (local.encode(), group, state.encode(),
                                                                              inputs.encode())
            return True
        r = _user_row(doc, primary_key, by_attribute)
        if fields[6][row] is not None:
            self.active -= fields[6][row]
        self.active += r[5]
        for field, value in zip(fields, (r[0], r[1], r[2], _emails(r[3], row), r[4])):
            field[row] = value.encode()
        fields[5][row] = document_digest(dumped).encode()
        fields[6][row] = r[5]
        return True

    def _drop_rows(self, name: str, rows: list[int]) -> None:
        """Remove the rows `rows` (ascending); the e-mails of the rows after the first are numbered again."""
        if not rows:
            return
        if name == "users":
            self.active -= sum(self.fields[6][row] for row in rows)
        for row in reversed(rows):
            del self.docs[row]
            for field in self.fields:
                del field[row]
        if name == "links":
            self.grouped = None
            return
        emails = self.fields[3]
        for row in range(rows[0], len(emails)):
            if emails[row]:
                emails[row] = b"".join([b"%s\t%d\n" % (line[:line.rfind(b"\t")], row)
                                        for line in emails[row].split(b"\n")[:-1]])

    def _sections(self, name: str, fields: list[Any]) -> dict[str, Any]:
        spans = self.spans.tobytes()
        lines: Callable[[list[Any]], bytes] = _byte_lines if self.encoded else _lines
        if name == "links":
            local, groups, states, inputs = fields
            if self.grouped is None:  # stable: within a group, in row order (already so: one pass of Timsort)
                self.grouped = sorted(range(len(groups)), key=groups.__getitem__)
            order = self.grouped
            counts = Counter(groups)  # C speed
            return {"rows": len(self.docs), "sections": {
                "links.spans": spans, "links.local": lines(local),
                "links.groups": orjson.dumps([[app, kind, n] for (app, kind), n in sorted(counts.items())]),
                "links.grows": array("q", order).tobytes(),
                "links.glocal": lines(list(map(local.__getitem__, order))),
                "links.gstates": lines(list(map(states.__getitem__, order))),
                "links.ginputs": lines(list(map(inputs.__getitem__, order)))}}
        ids, keys, names, emails, texts, digests, active = fields
        return {"rows": len(self.docs), "active": self.active, "sections": {
            "users.spans": spans, "users.ids": lines(ids), "users.keys": lines(keys), "users.names": lines(names),
            "users.emails": b"".join(emails) if self.encoded else "".join(emails).encode(),
            "users.lines": lines(texts), "users.digests": lines(digests), "users.active": bytes(active)}}


def splice(snap: Snapshot, name: str, changes: dict[str, Any], rows: dict[str, int],
           primary_key: str) -> tuple[list[Any], dict[str, Any], int] | None:
    """A split table of the snapshot's state file with the documents `changes` names changed, without reading the
    others: the parts of its new bytes (what `orjson.dumps` of the changed table gives: the unchanged documents as
    `FileRange`s of the snapshot's file, the changed ones dumped), what the index holds of it, and its size.

    `changes`: document id -> the new document, or None for one removed, in the order they were first made (new
    documents are appended in that order, as a dict assignment would); `rows`: the snapshot's row of every changed
    document that is in it. None when the index's sections or a key do not fit (the caller then writes whole)."""
    try:
        return _splice(snap, name, changes, rows, primary_key)
    except (ValueError, KeyError, IndexError, TypeError):  # sections or spans of the wrong shape: written whole
        return None


def _splice(snap: Snapshot, name: str, changes: dict[str, Any], rows: dict[str, int],
            primary_key: str) -> tuple[list[Any], dict[str, Any], int] | None:
    table = _Rows.of_snapshot(name, snap)
    if table is None:
        return None
    count_ = snap.count(name)
    start = snap.header["starts"][name]
    spans = table.spans
    replaced: dict[int, tuple[str, Any]] = {}
    added: list[tuple[str, Any]] = []
    for doc_id, doc in changes.items():
        row = rows.get(doc_id)
        if row is None:
            if doc is not None:
                added.append((doc_id, doc))
        elif row >= count_ or snap.key_at(name, row) != _key(doc_id):
            return None  # not the document the caller read: never write over another
        else:
            replaced[row] = (doc_id, doc)
    by_attribute = primary_key not in ("employeeId", "userName")
    # The documents' opening (`{"first":`), as stored for row 0: a changed document must have it and hold no dict that
    # looks like the start of one (`"key":{"first":`), as `_spans` requires of a whole table; else no index (whole)
    opening = os.pread(snap.fd, 64, start + spans[0]) if count_ else b""
    opening = opening[:opening.find(b'":') + 2] if count_ else b""

    def fits(dumped: bytes) -> bool:
        nonlocal opening
        if not opening:
            opening = dumped[:dumped.find(b'":') + 2]
        return len(opening) > 3 and dumped.startswith(opening) and b'":' + opening not in dumped

    parts: list[Any] = [b"{"]
    out = array("q")
    pos, at, dropped = 1, 0, []  # at: the first row of the run of unchanged rows before the next change
    for row in [*sorted(replaced), count_]:
        if row > at:  # rows [at, row) unchanged: one range of the file, their spans shifted
            first = 1 if at == 0 else spans[2 * at - 1] + 1  # the key of the run's first document
            last = spans[2 * row - 1]  # the end of its last one
            if pos > 1:
                parts.append(b",")
                pos += 1
            shift = pos - first
            run = spans[2 * at:2 * row]
            out.extend(run if shift == 0 else array("q", [s + shift for s in run]))
            parts.append(FileRange(snap.fd, start + first, last - first))
            pos += last - first
        if row == count_:
            break
        at = row + 1
        doc_id, doc = replaced[row]
        if doc is None:
            dropped.append(row)
            continue
        dumped = orjson.dumps(doc)
        if not fits(dumped) or not table._set_row(name, row, doc, dumped, primary_key, by_attribute):
            return None
        pos = _put(parts, out, pos, _key(doc_id), dumped)
    table._drop_rows(name, dropped)
    for doc_id, doc in added:
        dumped = orjson.dumps(doc)
        if not fits(dumped):
            return None
        table.docs.append(None)
        for field in table.fields:
            field.append(None)
        if not table._set_row(name, len(table.docs) - 1, doc, dumped, primary_key, by_attribute):
            return None
        pos = _put(parts, out, pos, _key(doc_id), dumped)
    parts.append(b"}")
    table.spans = out
    derived = table._sections(name, table.fields)
    derived["next"] = _next_after(snap, name, replaced, added)
    return parts, derived, pos + 1


def _next_after(snap: Snapshot, name: str, replaced: dict[int, tuple[str, Any]],
                added: list[tuple[str, Any]]) -> int | None:
    """The next document id of a spliced table, as `next_ids` gives it for the whole table (its greatest id plus
    one: a whole store gives the id of the last document removed to the next one added): documents are stored in
    the order of their ids (each new one gets the greatest plus one), so the greatest is the last one kept."""
    last: str | None = added[-1][0] if added else None
    row = snap.count(name) - 1
    while last is None and row >= 0:
        doc_id, doc = replaced.get(row, (None, True))
        if doc_id is None:
            last = orjson.loads(b"{" + snap.key_at(name, row) + b"0}").popitem()[0]
        elif doc is not None:
            last = doc_id
        row -= 1
    if last is None:
        return 1
    return int(last) + 1 if last.isdigit() else None


def kept(snap: Snapshot, name: str) -> tuple[list[Any], dict[str, Any], int] | None:
    """A split table of the snapshot no write changed: its bytes as one `FileRange` of the snapshot's file and the
    index's sections as they are (checked to hold one row per document: a damaged section is derived again by the
    caller writing whole), and its size; None when they do not fit."""
    try:
        rows = snap.count(name)
        taken = _Rows._take(name, snap, rows) if rows else (array("q"), empty_table(name)["sections"])
        if taken is None:
            return None
        spans, sections = taken
        if name == "links" and rows:
            groups = orjson.loads(sections["groups"])
            grouped = array("q")
            grouped.frombytes(sections["grows"])
            if (not isinstance(groups, list) or sum(g[2] for g in groups) != rows or len(grouped) != rows
                    or len(set(grouped)) != rows or min(grouped) < 0 or max(grouped) >= rows):
                return None
        size = spans[-1] + 1 if rows else 2
        derived: dict[str, Any] = {"rows": rows, "sections": {f"{name}.spans": spans.tobytes(), **{
            (k if k.startswith(f"{name}.") else f"{name}.{k}"): v for k, v in sections.items()}}}
        if name == "users":
            derived["active"] = snap.active()
        return [FileRange(snap.fd, snap.header["starts"][name], size)], derived, size
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def _put(parts: list[Any], spans: array[int], pos: int, key: bytes, dumped: bytes) -> int:
    """Append a document (its key and bytes) to a table's parts being made at `pos`; the position after it."""
    if pos > 1:
        parts.append(b",")
        pos += 1
    parts += (key, dumped)
    spans += array("q", (pos + len(key), pos + len(key) + len(dumped)))
    return pos + len(key) + len(dumped)


def next_ids(docs: dict[str, Any]) -> int | None:
    """The id TinyDB gives the next document of a table (the greatest plus one); None when an id is not a number or
    the ids are not in ascending order (a state edited by hand): a partial writer, which appends ids in that order and
    finds the greatest as the last one kept (`_next_after`), then loads the whole table instead."""
    if not all(map(str.isdigit, docs)):
        return None
    ids = list(map(int, docs))
    if any(map(operator.ge, ids, ids[1:])):
        return None
    return ids[-1] + 1 if ids else 1


CHUNK = 4096  # documents parsed at a time by `parse_split`
MANY = 64  # lookups of one snapshot after which its sections are read into maps


def parse_split(snap: Snapshot, data: bytes) -> dict[str, dict[str, Any]] | None:
    """The split tables of `data` (the snapshot's whole state file), parsed a few thousand documents at a time at the
    index's spans: what `orjson.loads(data)` gives of them, without the parser's transient copy of the whole file and
    its tree (~300 MB at 100k people and 200k links). None when the spans do not describe `data`: parse it whole."""
    tables: dict[str, dict[str, Any]] = {}
    try:
        for name in SPLIT:
            rows = snap.count(name)
            docs: dict[str, Any] = tables.setdefault(name, {})
            if not rows:
                continue
            spans = array("q")
            spans.frombytes(snap.section(f"{name}.spans"))
            start = snap.header["starts"][name]
            if (len(spans) != 2 * rows or data[start:start + 1] != b"{"
                    or data[start + spans[-1]:start + spans[-1] + 1] != b"}"):
                return None
            for first in range(0, rows, CHUNK):
                last = min(first + CHUNK, rows)  # documents [first, last): from the key of the first to the last's end
                begin = start + 1 if first == 0 else start + spans[2 * first - 1] + 1
                chunk = orjson.loads(b"".join((b"{", data[begin:start + spans[2 * last - 1]], b"}")))
                if not isinstance(chunk, dict) or len(chunk) != last - first:
                    return None
                docs.update(chunk)
            if len(docs) != rows:
                return None
    except (ValueError, KeyError, IndexError, TypeError):  # orjson's JSONDecodeError is a ValueError
        return None
    return tables


def seed(cache: dict[str, Any], snap: Snapshot, data: bytes, tables: dict[str, dict[str, Any]]) -> None:
    """Fill `cache` (see `dump`) with the rows of the split tables of `tables`, parsed from `data` (the snapshot's
    whole state file), taken from the snapshot's index: the first write of the process then patches only the rows it
    changed instead of deriving every row again (~0.6 s at 100k people). A table whose sections do not fit is left
    out: its first write derives it, as without an index."""
    primary_key = str(tables.get("meta", {}).get("1", {}).get("primary_key", "employeeId"))
    if snap.primary_key != primary_key:
        return
    cache.clear()
    cache["primary_key"] = primary_key
    for name in SPLIT:
        rows = _Rows()
        try:
            if rows.seed(name, tables.get(name, {}), data, snap):
                cache[f"{name}.rows"] = rows
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
            pass  # an index that cannot be read as rows: derived at the first write (never an error: it is derived)


def table_bytes(cache: dict[str, Any], name: str, docs: dict[str, Any], version: Any) -> bytes:
    """The bytes of a table that is not split (e.g. the runs: a sync's running run holds its plan, ~1 MB at 2,000
    operations, written again at each of its state saves), kept while `version` names its content."""
    cached = cache.get(name)
    key = (version, len(docs))
    if version is not None and cached is not None and cached[0] == key and cached[1] is docs:
        return cast(bytes, cached[2])
    body = orjson.dumps(docs)
    cache[name] = (key, docs, body) if version is not None else None
    return body


def empty_table(name: str) -> dict[str, Any]:
    """What the index holds of an empty split table (or one the state does not hold yet)."""
    if name == "links":
        return {"rows": 0, "sections": {f"links.{k}": b"[]" if k == "groups" else b"" for k in (
            "spans", "local", "groups", "grows", "glocal", "gstates", "ginputs")}}
    return {"rows": 0, "active": 0, "sections": {f"users.{k}": b"" for k in (
        "spans", "ids", "keys", "names", "emails", "lines", "digests", "active")}}


def dump(tables: dict[str, dict[str, Any]], primary_key: str, *, versions: dict[str, Any] | None = None,
         cache: dict[str, Any] | None = None,
         write: Callable[[list[Any]], bytes] | None = None) -> tuple[bytes, dict[str, Any], dict[str, bytes] | None]:
    """The bytes of `state.json` (what `orjson.dumps(tables)` gives), the index header and its sections (None when
    the documents could not be located: the state is then written without an index).

    `cache` keeps, per split table, a row per document (its bytes and what the index derives of it, see `_table`)
    so that a write derives only the documents it changed; and, when `versions` names the version of a table's
    content, the table's bytes and index at that version, so a write that did not change it does nothing for it.

    `write` (`OrjsonStorage.write_parts`), when given, writes the state file from the parts instead of joining them,
    and gives back its bytes: the bytes of the state it replaces (what the unchanged documents are copied from) are
    dropped first, never in memory with the new ones (152 MB each at 100k people and 200k links)."""
    cache = {} if cache is None else cache
    parts: list[Any] = [b"{"]
    pos = 1  # after "{"
    written: list[tuple[_Rows, int, int, str, Any, dict[str, Any]]] = []  # the split tables: where their bytes go
    spans: dict[str, list[int]] = {}
    starts: dict[str, int] = {}
    derived: dict[str, dict[str, Any] | None] = {name: empty_table(name) for name in SPLIT}  # (not written yet)
    if cache.get("primary_key") != primary_key:
        cache.clear()
        cache["primary_key"] = primary_key
    for n, (name, docs) in enumerate(tables.items()):
        head = (b"," if n else b"") + orjson.dumps(name) + b":"
        pos += len(head)
        parts.append(head)
        if name not in SPLIT:
            body = table_bytes(cache, name, docs, (versions or {}).get(name))
            spans[name] = [pos, pos + len(body)]
            parts.append(body)
            pos += len(body)
            continue
        starts[name] = pos
        version = (versions or {}).get(name)
        key = (version, len(docs))
        cached = cache.get(name)
        rows = cache.setdefault(f"{name}.rows", _Rows())
        if version is not None and cached is not None and cached[0] == key and cached[1] is docs:
            table_parts, derived[name] = [cached[2]], cached[3]
        else:
            table_parts, derived[name] = rows.table(name, docs, primary_key)
        size = sum(len(part) for part in table_parts)
        written.append((rows, pos, pos + size, name, key if version is not None else None, docs))
        parts += table_parts
        pos += size
    parts.append(b"}")
    if write is None:
        data = b"".join(parts)
    else:
        table_parts, cached = [], None  # nothing here keeps the parts' bytes (the bytes last written) alive
        for rows, *_ in written:
            rows.base = None  # (set again below; none while writing: a write that fails leaves no rows to patch)
        for name in SPLIT:
            if cache.get(name) is not None:
                cache[name] = None
        data = write(parts)  # empties `parts`
    view = memoryview(data)
    for rows, start, end, name, key, docs in written:
        rows.base = view[start:end]  # what the next write patches; the unchanged table's bytes, as they are
        cache[name] = (key, docs, rows.base, derived[name]) if key is not None else None
    for name in SPLIT:
        starts.setdefault(name, 0)  # a table not written yet: no row is ever read from it
    header: dict[str, Any] = {"format": FORMAT, "byteorder": sys.byteorder, "primary_key": primary_key,
                              "tables": spans, "starts": starts, "rows": {},
                              "next": {name: next_ids(tables.get(name, {})) for name in SPLIT}}
    sections: dict[str, bytes] = {}
    for name in SPLIT:
        table = derived[name]
        if table is None:
            return data, header, None
        header["rows"][name] = table["rows"]
        sections.update(table["sections"])
    header["active"] = derived["users"]["active"]  # type: ignore[index]
    return data, header, sections


def write_index(path: Path, header: dict[str, Any], sections: dict[str, bytes], stamp: tuple[int, int, int],
                generation: int) -> None:
    """Write the index of the state file whose stamp is `stamp` (called under the home's lock, after that file)."""
    where: dict[str, list[int]] = {}
    offset = 0
    for name, body in sections.items():
        where[name] = [offset, len(body)]
        offset += len(body)
    head = orjson.dumps({**header, "state": list(stamp), "generation": generation, "sections": where})
    atomic_write(path, b"".join([head, b"\n", *sections.values()]))  # one copy of the sections, not three


def _rows_of(blob: bytes, value: bytes) -> Iterator[int]:
    """Rows (0-based lines) of "\n"-separated `blob` equal to `value` (no copy of the blob)."""
    size, end = len(value), len(blob)
    pos = blob.find(value)
    row, counted = 0, 0
    while pos != -1:
        if (pos == 0 or blob[pos - 1] == 10) and (pos + size == end or blob[pos + size] == 10):
            row += blob.count(b"\n", counted, pos)
            counted = pos
            yield row
        pos = blob.find(value, pos + 1)


SECTIONS = ("users.spans", "users.ids", "users.keys", "users.names", "users.emails", "users.lines", "users.digests",
            "users.active", "links.spans", "links.local", "links.groups", "links.grows", "links.glocal", "links.gstates",
            "links.ginputs")


def _ints(value: Any, n: int) -> bool:
    return isinstance(value, list) and len(value) == n and all(type(v) is int and v >= 0 for v in value)


def _valid_header(header: Any) -> bool:
    """True when `header` has every field a snapshot reads, of the right type (an index is never trusted blindly)."""
    if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("byteorder") != sys.byteorder:
        return False
    tables, starts, rows, sections = (header.get(k) for k in ("tables", "starts", "rows", "sections"))
    return (isinstance(header.get("primary_key"), str) and type(header.get("generation")) is int
            and type(header.get("active")) is int and _ints(header.get("state"), 3)
            and isinstance(tables, dict) and all(_ints(v, 2) for v in tables.values())
            and isinstance(starts, dict) and isinstance(rows, dict)
            and all(type(starts.get(t)) is int and type(rows.get(t)) is int for t in SPLIT)
            and isinstance(sections, dict) and all(_ints(sections.get(name), 2) for name in SECTIONS))


class Snapshot:
    """One generation of `state.json`, opened once, read document by document through its index."""

    def __init__(self, fd: int, index_fd: int, stamp: tuple[int, int, int], header: dict[str, Any],
                 body: int) -> None:
        self.fd = fd
        self.index_fd = index_fd
        self.stamp = stamp
        self.header = header
        self.body = body  # where the sections start in the index file
        self.generation = int(header["generation"])
        self.primary_key = str(header["primary_key"])
        self.reads = 0  # documents, tables or sections read: what a test asserts a keyed read kept small
        self._sections: dict[str, bytes] = {}
        self._ids: list[str] | None = None  # every person's id, in row order (split once)
        self._asked: dict[str, int] = {}  # documents read one by one, by table
        self._spans: dict[str, array[int]] = {}  # a table's spans, once many of its documents were read
        # many lookups: maps of the people's sections (value -> row) and of the links' local ids (-> rows), made once
        self._lookups = self._link_lookups = 0
        self._maps: dict[str, dict[bytes, int]] = {}
        self._local_rows: dict[bytes, list[int]] | None = None

    @classmethod
    def open(cls, state: Path, index_path: Path) -> Snapshot | None:
        """The snapshot of `state` when `index_path` describes it; None when either is missing or they differ."""
        try:
            fd = os.open(state, os.O_RDONLY)
        except FileNotFoundError:
            return None
        index_fd = -1
        try:
            st = os.fstat(fd)
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
            header: Any = None
            try:  # without waiting, and only a regular file (a FIFO put there hung every command)
                index_fd = os.open(index_path, os.O_RDONLY | os.O_NONBLOCK)
                if not stat.S_ISREG(os.fstat(index_fd).st_mode):
                    raise IsADirectoryError(f"{index_path} is not a regular file")
                first = os.pread(index_fd, 1 << 16, 0)
                end = first.find(b"\n")
                header = orjson.loads(first[:end]) if end > 0 else None
            except (OSError, orjson.JSONDecodeError):
                header = None
            if not (_valid_header(header) and header["state"] == list(stamp)
                    and os.fstat(index_fd).st_size == end + 1 + sum(n for _, n in header["sections"].values())):
                os.close(fd)
                if index_fd >= 0:
                    os.close(index_fd)
                return None
            snap = cls(fd, index_fd, stamp, header, end + 1)
            meta = snap.table("meta").get("1", {})
            if int(meta.get("generation", -1)) != snap.generation:
                snap.close()
                return None
            return snap
        except BaseException:
            os.close(fd)
            if index_fd >= 0:
                os.close(index_fd)
            raise

    def _read(self, start: int, end: int) -> Any:
        self.reads += 1
        return orjson.loads(os.pread(self.fd, end - start, start))

    def section(self, name: str) -> bytes:
        """One section of the index, read once."""
        return self._section(name)

    def _section(self, name: str) -> bytes:
        data = self._sections.get(name)
        if data is None:
            offset, size = self.header["sections"][name]
            data = self._sections[name] = _pread_all(self.index_fd, size, self.body + offset)
            self.reads += 1
        return data

    def table(self, name: str) -> dict[str, Any]:
        span = self.header["tables"].get(name)
        return self._read(*span) if span else {}

    def small_tables(self) -> dict[str, dict[str, Any]]:
        return {name: self.table(name) for name in self.header["tables"]}

    def count(self, table: str) -> int:
        return int(self.header["rows"][table])

    def active(self) -> int:
        """How many people are active (`status` "active")."""
        return int(self.header["active"])

    def _row_span(self, table: str, row: int) -> tuple[int, int, int]:
        """Where the document at `row` is in the table's bytes: the start of its key (`"id":`), its start and end."""
        spans = self._spans.get(table)
        if spans is None:
            self._asked[table] = self._asked.get(table, 0) + 1
            if self._asked[table] > 64:  # many documents read (a plan): every span read at once
                spans = self._spans[table] = array("q")
                spans.frombytes(self._section(f"{table}.spans"))
        if row < 0 or row >= self.count(table):
            raise IndexError(f"row {row} is not in the index's {table}")
        if spans is not None:
            return (spans[2 * row - 1] + 1 if row else 1), spans[2 * row], spans[2 * row + 1]
        offset, _ = self.header["sections"][f"{table}.spans"]
        if not row:
            span = array("q", os.pread(self.index_fd, 16, self.body + offset))
            return 1, span[0], span[1]
        span = array("q", os.pread(self.index_fd, 24, self.body + offset + 16 * row - 8))
        return span[0] + 1, span[1], span[2]

    def doc(self, table: str, row: int) -> dict[str, Any]:
        _, begin, end = self._row_span(table, row)
        start = self.header["starts"][table]
        doc: dict[str, Any] = self._read(start + begin, start + end)
        return doc

    def entry(self, table: str, row: int) -> tuple[str, dict[str, Any]]:
        """The document at `row` and its id in the table (TinyDB's document id: the key it is stored under)."""
        key, _, end = self._row_span(table, row)
        start = self.header["starts"][table]
        self.reads += 1
        one = orjson.loads(b"".join((b"{", os.pread(self.fd, end - key, start + key), b"}")))
        if not isinstance(one, dict) or len(one) != 1:
            raise ValueError(f"row {row} of the index's {table} is not one document")
        ((doc_id, doc),) = one.items()
        return doc_id, doc

    def key_at(self, table: str, row: int) -> bytes:
        """The bytes of the key (`"id":`) the document at `row` is stored under."""
        key, begin, _ = self._row_span(table, row)
        start = self.header["starts"][table]
        return os.pread(self.fd, begin - key, start + key)

    def next_id(self, table: str) -> int | None:
        """The id TinyDB gives the next document of a split table; None when a document's id is not a number. An index
        of the version before does not say: the ids are then read at the index's spans, a few MB at a time."""
        nexts = self.header.setdefault("next", {})
        if not isinstance(nexts, dict):
            return None
        if table not in nexts and table in SPLIT:  # (null: not known, ids that do not ascend)
            nexts[table] = self._scan_next_id(table)
        value = nexts.get(table)
        return value if type(value) is int and value > 0 else None

    def _scan_next_id(self, table: str) -> int | None:
        """`next_ids` of the table, from its keys at the index's spans (None when one is not a number or they do not
        ascend)."""
        rows = self.count(table)
        if not rows:
            return 1
        spans = array("q")
        spans.frombytes(self._section(f"{table}.spans"))
        start = self.header["starts"][table]
        greatest, row, piece = 0, 0, 1 << 22
        while row < rows:
            first = (spans[2 * row - 1] + 1) if row else 1  # where the key of `row` starts
            data = os.pread(self.fd, piece, start + first)
            while row < rows:  # the keys that lie in this piece
                key = (spans[2 * row - 1] + 1) if row else 1
                if spans[2 * row] - first > len(data):
                    break
                text = data[key - first:spans[2 * row] - first]
                if len(text) < 4 or text[:1] != b'"' or text[-2:] != b'":' or not text[1:-2].isdigit():
                    return None
                if int(text[1:-2]) <= greatest:
                    return None  # ids not ascending: as `next_ids`, no next id (the table is written whole)
                greatest = int(text[1:-2])
                row += 1
            if row < rows and spans[2 * row] - ((spans[2 * row - 1] + 1) if row else 1) > piece:
                return None  # (a key longer than a piece: not a TinyDB id)
        return greatest + 1

    def read_all(self) -> bytes:
        """The whole state file, as it was when the snapshot was opened."""
        self.reads += 1
        return _pread_all(self.fd, self.stamp[2], 0)

    # ---- lookups --------------------------------------------------------------------------------
    def user_row(self, identifier: str, fields: tuple[str, ...] = ("keys", "names", "emails"), *,
                 strip: bool = True) -> int | None:
        """The row of the person whose primary key, userName or e-mail is `identifier` (in the order of `fields`;
        `strip`: without the spaces around it, as an operator's argument is read)."""
        value = _line(identifier.strip() if strip else identifier).encode()
        if not value or not self.count("users"):
            return None
        self._lookups += 1
        for field in fields:
            if self._lookups > MANY:  # many lookups (an import): by a map of each section, made once
                row = self._map(field).get(value)
                if row is not None or field == "emails":
                    return row
                continue
            if field == "emails":
                return self._email_row(value)
            for row in _rows_of(self._section(f"users.{field}"), value):
                return row
        return None

    def _map(self, field: str) -> dict[bytes, int]:
        """The row of each value of a people section (the first row holding it, as a search finds it)."""
        found = self._maps.get(field)
        if found is None:
            if field == "emails":  # lines "email\trow"
                lines = self._section("users.emails").split(b"\n")[:-1]
                found = {line[:line.rfind(b"\t")]: int(line[line.rfind(b"\t") + 1:]) for line in reversed(lines)}
            else:
                lines = self._section(f"users.{field}").split(b"\n")
                found = dict(zip(reversed(lines), range(len(lines) - 1, -1, -1)))
            self._maps[field] = found
        return found

    def _email_row(self, value: bytes) -> int | None:
        emails = self._section("users.emails")  # lines "email\trow"
        needle = value + b"\t"
        pos = emails.find(needle)
        while pos > 0 and emails[pos - 1] != 10:
            pos = emails.find(needle, pos + 1)
        if pos == -1:
            return None
        start = pos + len(needle)
        return int(emails[start:emails.find(b"\n", start)])

    def user_row_by_id(self, user_id: str) -> int | None:
        if not user_id or not self.count("users"):
            return None
        return next(_rows_of(self._section("users.ids"), user_id.encode()), None)

    def link_rows(self, local_id: str) -> list[int]:
        if not local_id or not self.count("links"):
            return []
        self._link_lookups += 1
        if self._link_lookups > MANY:  # many people's links read (a sync): by a map of the section, made once
            if self._local_rows is None:
                rows: dict[bytes, list[int]] = {}
                for row, local in enumerate(self._section("links.local").split(b"\n")):
                    rows.setdefault(local, []).append(row)
                self._local_rows = rows
            return list(self._local_rows.get(local_id.encode(), ()))
        return list(_rows_of(self._section("links.local"), local_id.encode()))

    def user_id_list(self) -> list[str]:
        """Every person's id, in row order (the same list each time: the caller does not change it)."""
        if not self.count("users"):
            return []
        if self._ids is None:
            ids = self._section("users.ids").decode().split("\n")
            if len(ids) != self.count("users"):
                raise ValueError("the index's people rows do not match")
            self._ids = ids
        return self._ids

    def user_ids(self) -> dict[str, int]:
        """Every person's row, by id (for reads of many people: one dict instead of a search per person)."""
        ids = self.user_id_list()
        return dict(zip(ids, range(len(ids))))

    def user_active(self) -> bytes:
        """One byte per person, in row order: 1 when their `status` is "active"."""
        return self._section("users.active") if self.count("users") else b""

    def table_rows(self, table: str) -> tuple[bytes, array[int]]:
        """The bytes of a split table as stored and the [start, end) of each of its documents in them (row 2i, 2i+1):
        one read for a caller that looks at most documents' bytes."""
        if not self.count(table):
            return b"", array("q")
        spans = array("q")
        spans.frombytes(self._section(f"{table}.spans"))
        if len(spans) != 2 * self.count(table):
            raise ValueError(f"the index's {table} spans do not match")
        start = self.header["starts"][table]
        self.reads += 1
        return _pread_all(self.fd, spans[-1], start), spans

    def user_digests(self) -> dict[str, str]:
        """By id, the digest of every person's stored document (`models.document_digest` of its bytes), without
        reading anyone (the last of an id twice wins, as in `user_ids`)."""
        ids = self.user_id_list()
        if not ids:
            return {}
        digests = self._section("users.digests").decode().split("\n")
        if len(digests) != len(ids):
            raise ValueError("the index's people digests do not match")
        return dict(zip(ids, digests))

    def link_groups(self) -> dict[tuple[str, str], tuple[list[str], list[str], list[str], list[int]]]:
        """The links by (application, kind): their local ids, states, recorded inputs and rows (in the state's index),
        in row order, without reading a link: columns split and sliced at C speed."""
        rows = self.count("links")
        if not rows:
            return {}
        groups = orjson.loads(self._section("links.groups"))
        grouped = array("q")
        grouped.frombytes(self._section("links.grows"))
        columns = [self._section(f"links.{n}").decode().split("\n") for n in ("glocal", "gstates", "ginputs")]
        if (not isinstance(groups, list) or len(grouped) != rows or any(len(c) != rows for c in columns)
                or sum(g[2] for g in groups) != rows):
            raise ValueError("the index's link rows do not match")
        order = grouped.tolist()
        out: dict[tuple[str, str], tuple[list[str], list[str], list[str], list[int]]] = {}
        at = 0
        for app, kind, n in groups:
            local, states, inputs = (c[at:at + n] for c in columns)
            out[(app, kind)] = (local, states, inputs, order[at:at + n])
            at += n
        return out

    def search_lines(self) -> bytes:
        """The search text of every person, one line each in the stored order (UTF-8): what the people search
        needs, without the people."""
        return self._section("users.lines") if self.count("users") else b""

    def __del__(self) -> None:  # a store dropped without `close()` must not keep the files open
        self.close()

    def close(self) -> None:
        for fd in (self.fd, self.index_fd):
            if fd >= 0:
                os.close(fd)
        self.fd = self.index_fd = -1
        self._sections = {}
        self._ids = None


def _pread_all(fd: int, size: int, offset: int) -> bytes:
    chunks, done = [], 0
    while done < size:
        chunk = os.pread(fd, size - done, offset + done)
        if not chunk:
            break
        chunks.append(chunk)
        done += len(chunk)
    return b"".join(chunks)
