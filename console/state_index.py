"""The sidecar index of `state.json`: a keyed read parses only the documents it needs.

`state.json` stays one TinyDB file. Each write also writes `state.index.json` (derived, 0600) naming the byte
span of every person and link document in that very file (its inode, mtime and size), the span of each small
table, and what lookups need without parsing the people: their ids, primary keys, userNames and e-mails
(casefolded) and the search text of each person (`console.models.search_text`), one line per person.

`Snapshot.open` opens `state.json` once and keeps the descriptor: every later read (one document, or the whole
file when a caller needs a whole table) comes from that same file, even after another process replaced it, so a
store that started partial and later loads everything sees one consistent generation. An index that is missing,
damaged, of another format or describing another file is ignored (`Snapshot.open` returns None): the state is
then parsed whole, as before, and the next writer writes the index again.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from console.models import search_text
from console.storage import atomic_write

FORMAT = 1
SPLIT = ("users", "links")  # the tables read document by document; the others are read whole (they are small)
INDEX_NAME = "state.index.json"


def _line(value: str) -> str:
    return value.casefold().replace("\n", " ").replace("\t", " ")


def _user_key(doc: dict[str, Any], primary_key: str) -> str:
    if primary_key in ("employeeId", "userName"):
        return str(doc.get(primary_key, ""))
    return str((doc.get("attributes") or {}).get(primary_key, ""))


def dump(tables: dict[str, dict[str, Any]], primary_key: str) -> tuple[bytes, dict[str, Any]]:
    """The bytes of `state.json` (what `orjson.dumps(tables)` gives) and the index describing them."""
    parts: list[bytes] = []
    pos = 1  # after "{"
    spans: dict[str, list[int]] = {}
    index: dict[str, Any] = {"format": FORMAT, "primary_key": primary_key, "tables": spans}
    for n, (name, docs) in enumerate(tables.items()):
        head = (b"," if n else b"") + orjson.dumps(name) + b":"
        parts.append(head)
        pos += len(head)
        if name not in SPLIT:
            body = orjson.dumps(docs)
            parts.append(body)
            spans[name] = [pos, pos + len(body)]
            pos += len(body)
            continue
        parts.append(b"{")
        pos += 1
        flat: list[int] = []
        for m, (doc_id, doc) in enumerate(docs.items()):
            key = (b"," if m else b"") + orjson.dumps(doc_id) + b":"
            body = orjson.dumps(doc)
            parts.append(key)
            parts.append(body)
            pos += len(key)
            flat.append(pos)
            pos += len(body)
            flat.append(pos)
        parts.append(b"}")
        pos += 1
        index[name] = {"spans": flat, "rows": len(docs)}
    data = b"{" + b"".join(parts) + b"}"
    for name in SPLIT:  # a table not written yet is an empty one
        index.setdefault(name, {"spans": [], "rows": 0})
    users = list(tables.get("users", {}).values())
    index["users"].update({
        "ids": "\n".join(str(d.get("id", "")) for d in users),
        "keys": "\n".join(_line(_user_key(d, primary_key)) for d in users),
        "names": "\n".join(_line(str(d.get("userName", ""))) for d in users),
        "emails": "".join(f"{_line(str(e))}\t{row}\n" for row, d in enumerate(users) for e in d.get("emails") or ()),
        "lines": "\n".join(search_text(d.get("employeeId", ""), d.get("userName", ""), d.get("displayName", ""),
                                       d.get("department", ""), d.get("title", ""), d.get("emails") or ())
                           for d in users),
    })
    index["links"]["local"] = "\n".join(str(d.get("local_id", "")) for d in tables.get("links", {}).values())
    return data, index


def write_index(path: Path, index: dict[str, Any], stamp: tuple[int, int, int], generation: int) -> None:
    """Write the index of the state file whose stamp is `stamp` (called under the home's lock, after that file)."""
    atomic_write(path, orjson.dumps({**index, "state": list(stamp), "generation": generation}))


def _rows_of(blob: str, value: str) -> Iterable[int]:
    """Rows (0-based lines) of "\n"-separated `blob` equal to `value`."""
    hay = "\n" + blob + "\n"
    needle = "\n" + value + "\n"
    pos = hay.find(needle)
    row, counted = 0, 0
    while pos != -1:
        row += hay.count("\n", counted, pos)
        counted = pos
        yield row
        pos = hay.find(needle, pos + 1)


class Snapshot:
    """One generation of `state.json`, opened once, read document by document through its index."""

    def __init__(self, fd: int, stamp: tuple[int, int, int], index: dict[str, Any]) -> None:
        self.fd = fd
        self.stamp = stamp
        self.index = index
        self.generation = int(index["generation"])
        self.primary_key = str(index["primary_key"])
        self.reads = 0  # documents or tables parsed: what a test asserts a keyed read kept small

    @classmethod
    def open(cls, state: Path, index_path: Path) -> Snapshot | None:
        """The snapshot of `state` when `index_path` describes it; None when either is missing or they differ."""
        try:
            fd = os.open(state, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            st = os.fstat(fd)
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
            try:
                index = orjson.loads(index_path.read_bytes())
            except (OSError, orjson.JSONDecodeError):
                index = None
            if not (isinstance(index, dict) and index.get("format") == FORMAT and index.get("state") == list(stamp)
                    and all(isinstance(index.get(t), dict) for t in SPLIT)):
                os.close(fd)
                return None
            snap = cls(fd, stamp, index)
            meta = snap.table("meta").get("1", {})
            if int(meta.get("generation", -1)) != snap.generation:
                snap.close()
                return None
            return snap
        except BaseException:
            os.close(fd)
            raise

    def _read(self, start: int, end: int) -> Any:
        self.reads += 1
        return orjson.loads(os.pread(self.fd, end - start, start))

    def table(self, name: str) -> dict[str, Any]:
        span = self.index["tables"].get(name)
        return self._read(*span) if span else {}

    def small_tables(self) -> dict[str, dict[str, Any]]:
        return {name: self.table(name) for name in self.index["tables"]}

    def count(self, table: str) -> int:
        return int(self.index[table]["rows"])

    def doc(self, table: str, row: int) -> dict[str, Any]:
        spans = self.index[table]["spans"]
        doc: dict[str, Any] = self._read(spans[2 * row], spans[2 * row + 1])
        return doc

    def read_all(self) -> bytes:
        """The whole file, as it was when the snapshot was opened."""
        size = self.stamp[2]
        chunks, pos = [], 0
        while pos < size:
            chunk = os.pread(self.fd, size - pos, pos)
            if not chunk:
                break
            chunks.append(chunk)
            pos += len(chunk)
        self.reads += 1
        return b"".join(chunks)

    # ---- lookups --------------------------------------------------------------------------------
    def user_row(self, identifier: str, fields: tuple[str, ...] = ("keys", "names", "emails")) -> int | None:
        """The row of the person whose primary key, userName or e-mail is `identifier` (in the order of `fields`)."""
        value = _line(identifier.strip())
        users = self.index["users"]
        if not value or not users["rows"]:
            return None
        for field in fields:
            if field == "emails":
                return self._email_row(value)
            for row in _rows_of(users[field], value):
                return row
        return None

    def _email_row(self, value: str) -> int | None:
        emails: str = self.index["users"]["emails"]
        hay = "\n" + emails
        pos = hay.find("\n" + value + "\t")
        if pos == -1:
            return None
        end = hay.find("\n", pos + 1)
        return int(hay[pos + len(value) + 2:end])

    def user_row_by_id(self, user_id: str) -> int | None:
        if not user_id or not self.index["users"]["rows"]:
            return None
        return next(iter(_rows_of(self.index["users"]["ids"], user_id)), None)

    def link_rows(self, local_id: str) -> list[int]:
        if not local_id or not self.index["links"]["rows"]:
            return []
        return list(_rows_of(self.index["links"]["local"], local_id))

    def search_lines(self) -> tuple[list[str], list[str]]:
        """(person ids, search text) in the stored order: what the people search needs, without the people."""
        users = self.index["users"]
        if not users["rows"]:
            return [], []
        return users["ids"].split("\n"), users["lines"].split("\n")

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
