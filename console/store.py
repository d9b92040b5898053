"""Local state over TinyDB: people, groups, applications, policies, links, inbound config, runs.

One JSON file per home (`state.json`), read once and kept in memory (TinyDB `CachingMiddleware`),
with in-memory indexes; writes are batched and made durable by `flush()`. The provisioning report
lives apart, in `console/eventlog.py`. This module and `eventlog.py` are the only ones touching files.
"""
from __future__ import annotations

import contextlib
import dataclasses
import gc
import inspect
import itertools
import operator
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Set
from itertools import compress
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar, cast

import orjson
import platformdirs
from tinydb import TinyDB
from tinydb.table import Table

from console import files, secrets, state_index
from console.errors import ReadOnly, StaleData, StateCorrupt, StateError, ValidationError
from console.eventlog import EventLog
from console.models import Application, Group, Link, Policy, Run, User
from console.state_index import Snapshot
from console.storage import FlushOnDemand, HomeLock, OrjsonStorage

SCHEMA_VERSION = 2
# Each migration takes the raw tables (name -> {doc_id: doc}) of version N and returns version N+1.
MIGRATIONS: dict[int, Callable[[dict[str, dict[str, Any]]], dict[str, dict[str, Any]]]] = {}


def _v1_to_v2(tables: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """v1 kept a single `email` string per person; v2 keeps a list `emails`."""
    for doc in tables.get("users", {}).values():
        if "emails" not in doc:
            email = doc.pop("email", "")
            doc["emails"] = [email] if email else []
    return tables


MIGRATIONS[1] = _v1_to_v2



class Model(Protocol):
    """What a table needs of its model: the dataclasses of console.models."""

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]
    id: str

    def to_doc(self) -> dict[str, Any]: ...

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Self: ...


class NamedModel(Model, Protocol):
    name: str


M = TypeVar("M", bound=Model)
N = TypeVar("N", bound=NamedModel)  # groups, applications, policies


@contextlib.contextmanager
def _no_gc(*, freeze: bool = False) -> Iterator[None]:
    """No cyclic GC while building many objects; `freeze` then exempts everything alive from later collections.

    A loaded state is ~3 tracked objects a person that live as long as the store: without freezing, the next
    collections rescan them all (~0.2 s at 100k people, twice). Freezing is process-wide: objects alive now
    are never scanned again (freed by reference counting as usual; only cyclic garbage among them would stay).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if enabled:
            gc.enable()


def default_home() -> Path:
    env = os.environ.get("IDCONSOLE_HOME")
    return Path(env) if env else Path(platformdirs.user_data_dir("idconsole"))


_NAMES: dict[type, tuple[str, ...]] = {}  # a model's field names, for `_to_doc`
_TO_DOC: Callable[..., dict[str, Any]] = User.to_doc  # the generic dataclass `to_doc` every model inherits
_FROM_DOC = inspect.getattr_static(User, "from_doc")  # the generic `from_doc` classmethod every model inherits


def _label(item: Any) -> str:
    return str(item.label() if hasattr(item, "label") else getattr(item, "name", item.id))


_SERIALS = itertools.count(1)
BULK = 4096  # people read one by one after which a partial table reads the others at once


class Repo(Generic[M]):
    """A table of one model kind, mirrored in memory by id and indexed.

    Writes change the documents of TinyDB's cache (the `FlushOnDemand` middleware) in place, in O(changed
    documents): TinyDB's own `Table.update/insert/remove` convert the whole table per call, which costs
    tens of milliseconds at 100k people. Indexes always describe the stored documents.
    """

    def __init__(self, db: TinyDB, name: str, model: type[M]) -> None:
        self.table = db.table(name, cache_size=0)
        self.storage = cast(FlushOnDemand, db.storage)  # typed `Storage` by TinyDB; a middleware here
        self.model = model
        self._fields = frozenset(f.name for f in dataclasses.fields(model))
        self._plain = inspect.getattr_static(model, "from_doc") is _FROM_DOC
        self._by_id: dict[str, M] = {}
        self._doc_ids: dict[str, str] = {}  # model id -> TinyDB document id (as stored: a string)
        # A partial table (`Store` opened through the state's index): only the documents asked for are loaded;
        # anything needing the whole table (iterating, writing) first loads everything (`_full`).
        self._snap: Snapshot | None = None
        self._load_everything: Callable[[], None] | None = None
        self._fill((self.storage.cache or {}).get(name, {}))
        self.version = 0  # counts changes, so that derived views (the people search index) know when to rebuild
        self.serial = next(_SERIALS)  # with `version`: names this table's content for the life of the process

    def _clear(self) -> None:
        """Empty the subclass's indexes (before `_fill` loads the whole table)."""

    def _fill(self, raw: dict[str, Any]) -> None:
        self._clear()
        # partial (see `_partial`): the documents changed since the snapshot, by document id (None: removed), written
        # by `Store` without reading the others (`state_index.splice`); the snapshot's row of each document read, by
        # document id; the objects read, by row (None: removed since)
        self._overlay: dict[str, Any] = {}
        self._doc_rows: dict[str, int] = {}
        self._row_items: dict[int, M | None] = {}
        self._writes_partial = False
        # partial, caught up with another operator's write inside `Store.writing`: the state this process saw before,
        # and the ids already compared with it (see `_refuse_stale`)
        self._seen: Snapshot | None = None
        self._seen_checked: set[str] = set()
        items = self._load_items(list(raw.values()))  # the hot path of `Store.open`: comprehensions, no calls
        self._by_id = {item.id: item for item in items}
        self._doc_ids = dict(zip([item.id for item in items], raw))
        self._index_all(items)
        self._next_id = 0  # found on the first insert

    def _partial(self, snap: Snapshot, load_everything: Callable[[], None], *, writable: bool) -> None:
        """Read through `snap`; `writable`: changes are kept apart (`_overlay`) and written without reading every
        document; else the first change loads the whole table."""
        self._snap = snap
        self._load_everything = load_everything
        next_id = snap.next_id(self.table.name)
        self._writes_partial = writable and next_id is not None and snap.header["starts"][self.table.name] > 0
        self._next_id = next_id or 0

    def _whole(self, raw: dict[str, Any]) -> None:
        """Called by `Store` when it loaded every document: the table becomes whole (partial objects are dropped)."""
        self._snap = None
        self._load_everything = None
        seen, checked = self._seen, self._seen_checked  # (a write caught up: still compared with what was seen)
        self._fill(raw)
        self._seen, self._seen_checked = seen, checked
        self.version += 1

    def _full(self) -> None:
        if self._load_everything is not None:
            self._load_everything()

    @property
    def partial(self) -> bool:
        return self._snap is not None

    def loaded(self) -> int:
        """How many of the table's objects are in memory (all of them unless the table is partial)."""
        return len(self._by_id)

    def _load_items(self, docs: list[dict[str, Any]]) -> list[M]:
        if self._plain:
            try:
                return [self.model(**doc) for doc in docs]  # 5x faster than from_doc, which filters keys
            except TypeError:
                pass  # a document with keys this version does not know
        return [self.model.from_doc(doc) for doc in docs]

    def _index_all(self, items: list[M]) -> None:
        for item in items:
            self._index(item)

    def _from_doc(self, doc: dict[str, Any]) -> M:
        if self._plain and self._fields.issuperset(doc):
            return self.model(**doc)  # 5x faster than from_doc, which filters the keys
        return self.model.from_doc(doc)

    @staticmethod
    def _to_doc(item: M) -> dict[str, Any]:
        """A deep, JSON-shaped copy (what a reload gives); orjson does it ~10x faster than `asdict`. Its text is
        the item's own (immutable: at 100k people a copy of every value was ~80 MB of an import)."""
        if type(item).to_doc is _TO_DOC:
            names = _NAMES.get(type(item)) or _NAMES.setdefault(type(item), tuple(
                f.name for f in dataclasses.fields(item)))
            return {name: value if type(value) is str else orjson.loads(orjson.dumps(value))
                    for name, value in zip(names, [getattr(item, name) for name in names])}
        return item.to_doc()

    # index hooks for subclasses
    def _index(self, item: M) -> None: ...

    def _unindex(self, item: M) -> None: ...

    def _check(self, item: M) -> None: ...

    def _unique(self, item: M) -> list[tuple[str, str]]:
        """(field, value) pairs that must be unique (case-insensitive) within a table."""
        return []

    def __len__(self) -> int:
        if self._snap is not None:
            rows = self._doc_rows
            return self._snap.count(self.table.name) + sum(
                (doc is not None) - (doc_id in rows) for doc_id, doc in self._overlay.items())
        return len(self._by_id)

    # ---- partial: documents read one by one, changes kept apart -----------------------------------
    def _adopt_row(self, row: int) -> M | None:
        """The object of the snapshot's document at `row`, kept (one object per row; None when removed since)."""
        assert self._snap is not None
        if row in self._row_items:
            return self._row_items[row]
        doc_id, doc = self._snap.entry(self.table.name, row)
        item = self._row_items[row] = self._from_doc(doc)
        self._by_id[item.id] = item
        self._doc_ids[item.id] = doc_id
        self._doc_rows[doc_id] = row
        self._index(item)
        return item

    def _read_for(self, items: list[M]) -> None:
        """Partial: read the stored version of each item (to replace it, its document id and stored values)."""
        for item in items:
            if item.id not in self._by_id:
                self.get(item.id)

    def _stored(self, doc_id: str) -> Any:
        """The document stored (or changed since the snapshot) under `doc_id`."""
        if self._snap is None:
            return self.storage.tables().get(self.table.name, {}).get(doc_id)
        if doc_id in self._overlay:
            return self._overlay[doc_id]
        return self._snap.doc(self.table.name, self._doc_rows[doc_id])

    def _documents(self) -> dict[str, Any]:
        """Where a change is written: the table's documents, or (partial) the changes since the snapshot."""
        if self._snap is not None:
            return self._overlay
        return self.storage.tables().setdefault(self.table.name, {})

    def _new_doc_id(self, docs: dict[str, Any]) -> str:
        if not self._next_id:
            self._next_id = max((int(k) for k in docs), default=0) + 1
        self._next_id += 1
        return str(self._next_id - 1)

    def _forget(self, doc_id: str) -> None:
        """Partial: the document `doc_id` was removed: its row (if read) holds nothing any more."""
        row = self._doc_rows.get(doc_id)
        if row is not None:
            self._row_items[row] = None

    def __iter__(self) -> Iterator[M]:
        self._full()
        return iter(self._by_id.values())

    def all(self) -> list[M]:
        self._full()
        return list(self._by_id.values())

    def get(self, item_id: str) -> M | None:
        if self._snap is not None and item_id not in self._by_id:
            return self._get_partial(item_id)
        return self._by_id.get(item_id)

    def _get_partial(self, item_id: str) -> M | None:
        self._full()
        return self._by_id.get(item_id)

    def add(self, item: M) -> M:
        if item.id in self._by_id or (self._writes_partial and self.get(item.id) is not None):
            raise StateError(f"{self.table.name}: id {item.id} exists already")
        return self.put(item)

    def put(self, item: M) -> M:
        self.put_many([item])
        return item

    def put_many(self, items: Iterable[M]) -> None:
        """Insert or replace by id; every item is checked (against the table and the batch) before any change."""
        items = list(items)
        if self._writes_partial:
            self._read_for(items)
        else:
            self._full()
        self._refuse_stale([item.id for item in items], {item.id: item for item in items})
        for item in items:
            self._check(item)
        seen: dict[tuple[str, str], M] = {}
        for item in items:
            for label, value in self._unique(item):
                other = seen.setdefault((label, value.casefold()), item)
                if other.id != item.id:
                    raise ValidationError(label, value, f"is given twice in one change (also to {_label(other)})")
        if not items:
            return
        docs = self._documents()
        base = self.storage.base.setdefault(self.table.name, {})
        with _no_gc() if len(items) > 1000 else contextlib.nullcontext():
            for item in items:
                doc_id = self._doc_ids.get(item.id)
                if doc_id is None:
                    doc_id = self._doc_ids[item.id] = self._new_doc_id(docs)
                    base.setdefault(item.id, None)
                else:  # unindex what is stored: the item may have been changed in place
                    stored = self._stored(doc_id)
                    base.setdefault(item.id, stored)
                    self._unindex(self._from_doc(stored))
                docs[doc_id] = self._to_doc(item)
                self._by_id[item.id] = item
                self._index(item)
        self.version += 1
        self.storage.touch()

    def remove(self, item_id: str) -> None:
        self.remove_many([item_id])

    def remove_many(self, item_ids: Iterable[str]) -> None:
        item_ids = list(item_ids)
        if self._writes_partial:
            for item_id in item_ids:
                if item_id not in self._by_id:
                    self.get(item_id)  # (a table that cannot find it by id loads everything: it is then whole)
        else:
            self._full()
        ids = [i for i in item_ids if i in self._by_id]
        if not ids:
            return
        self._refuse_stale(ids)
        docs = self._documents()
        base = self.storage.base.setdefault(self.table.name, {})
        for item_id in ids:
            del self._by_id[item_id]
            doc_id = self._doc_ids.pop(item_id)
            if self._snap is not None:
                doc = self._stored(doc_id)
                docs[doc_id] = None
                self._forget(doc_id)
            else:
                doc = docs.pop(doc_id, None)
            base.setdefault(item_id, doc)
            if doc is not None:
                self._unindex(self._from_doc(doc))
        self.version += 1
        self.storage.touch()

    # ---- several operators --------------------------------------------------------------------
    def _refuse_stale(self, ids: list[str], given: dict[str, M] | None = None) -> None:
        """Refuse a change to a document another operator changed since this process last saw it (`given`: the
        items put, by id: where to look for one others removed, which the state now read no longer holds)."""
        stale = self.storage.stale.get(self.table.name)
        seen = self._seen
        if not stale and seen is None:
            return
        for item_id in ids:
            pair = stale.pop(item_id, None) if stale else None  # refused once: the operator now sees the current one
            if pair is None and seen is not None and item_id not in self.storage.base.get(self.table.name, {}):
                pair = self._changed_since(seen, item_id, (given or {}).get(item_id))
            if pair is None:
                continue
            doc_id = self._doc_ids.get(item_id)
            doc = self._stored(doc_id) if doc_id else None
            if doc is not None:  # the caller may have changed the object in place: back to what is stored
                self._unindex(self._from_doc(doc))
                item = self._by_id[item_id] = self._from_doc(doc)
                if doc_id in self._doc_rows:
                    self._row_items[self._doc_rows[doc_id]] = item
                self._index(item)
            raise StaleData(describe_change(self.table.name, *pair), hint="reload and try again")

    def _changed_since(self, seen: Snapshot, item_id: str, given: M | None = None) -> tuple[Any, Any] | None:
        """Partial, caught up: (the document of `item_id` in `seen`, the state this process saw before, its document
        now) when they differ; None when they do not (either may be None: absent). Each is refused once."""
        if item_id in self._seen_checked:
            return None
        self._seen_checked.add(item_id)
        item = self._by_id.get(item_id)
        before = self._doc_in(seen, item_id, item if item is not None else given)
        if self._snap is not None:
            after = self._doc_in(self._snap, item_id, item)
        else:  # read whole since (the state caught up with had no usable index, or a whole load in the write)
            doc_id = self._doc_ids.get(item_id)
            after = self._stored(doc_id) if doc_id is not None else None
        return None if before == after else (before, after)

    def _doc_in(self, snap: Snapshot, item_id: str, item: M | None) -> Any:
        """The document of `item_id` in `snap` (None when absent)."""
        for row in self._rows_in(snap, item_id, item):
            doc = snap.doc(self.table.name, row)
            if doc.get("id") == item_id:
                return doc
        return None

    def _rows_in(self, snap: Snapshot, item_id: str, item: M | None) -> list[int]:
        """The rows of `snap` that may hold `item_id` (partial tables: see the subclasses)."""
        return []

    def adopt(self, old_docs: dict[str, Any], new_docs: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        """Take `new_docs` (the table as now on disk) in place of `old_docs`, rebuilding only the changed objects.

        Returns {model id: (old doc, new doc)} for every document that differs (None for absent).
        """
        self._full()
        old_by_id = {mid: old_docs.get(did) for mid, did in self._doc_ids.items()}
        doc_ids: dict[str, str] = {}
        changed: dict[str, tuple[Any, Any]] = {}
        for did, doc in new_docs.items():
            mid = doc.get("id", did)
            doc_ids[mid] = did
            old = old_by_id.get(mid)
            if old is not doc and old != doc:
                changed[mid] = (old, doc)
            elif old is not None:  # the same document: keep the object the state's index derived (state_index._Rows)
                new_docs[did] = old
        for mid in set(self._by_id).difference(doc_ids):
            changed[mid] = (old_by_id.get(mid), None)
        for mid, (old, _) in changed.items():  # unindex them all first: a unique value may move between them
            item = self._by_id.pop(mid, None)
            if item is not None:
                self._unindex(self._from_doc(old) if old is not None else item)
        for mid, (_, doc) in changed.items():
            if doc is not None:
                item = self._from_doc(doc)
                self._by_id[mid] = item
                self._index(item)
        self._doc_ids = doc_ids
        self._next_id = 0
        if changed:
            self.version += 1
        return changed


class UserRepo(Repo[User]):
    """People, indexed by primary key, userName and e-mail (case-insensitive), all unique."""

    def __init__(self, db: TinyDB, primary_key: str) -> None:
        self.primary_key = primary_key
        self._by_key: dict[str, User] = {}
        self._by_name: dict[str, User] = {}
        self._by_email: dict[str, User] = {}
        super().__init__(db, "users", User)

    def _clear(self) -> None:
        self._by_key, self._by_name, self._by_email = {}, {}, {}
        self._indexes = {"keys": self._by_key, "names": self._by_name, "emails": self._by_email}
        # partial, read by a plan (`is_active`, `stored_inputs`): every row by id, the active flags, the table's bytes
        self._ids: dict[str, int] | None = None
        self._active = b""
        self._active_ids: frozenset[str] | None = None
        self._digests: dict[str, str] | None = None
        self._asked = 0  # people asked for by id (partial)
        self._all_read = False  # partial: every person read (see `_read_all_rows`)

    def _row_ids(self) -> dict[str, int]:
        assert self._snap is not None
        if self._ids is None:
            with _no_gc():  # 100k entries: no cyclic GC passes over them while they are made
                self._ids = self._snap.user_ids()
            self._active = self._snap.user_active()
        return self._ids

    def active_ids(self) -> Set[str]:
        """The ids of the active people; partial: from the state's index, without reading anyone."""
        if self._snap is None:
            return {user.id for user in self._by_id.values() if user.status == "active"}
        if self._active_ids is None:  # the snapshot never changes: once per store
            ids, flags = self._snap.user_id_list(), self._snap.user_active()
            with _no_gc():  # at C speed: the ids of the rows whose flag is 1
                active = frozenset(compress(ids, flags))
                if not active.isdisjoint(compress(ids, map(operator.not_, flags))):  # an id twice: its last row
                    rows = self._row_ids()
                    active = frozenset(user_id for user_id, row in rows.items() if flags[row] == 1)
            self._active_ids = active
        return self._active_ids

    def stored_inputs(self) -> dict[str, str]:
        """Partial: by id, the digest of every person's stored document (`models.document_digest` of its bytes),
        what a plan compares with the inputs recorded on their links, without building anyone (made once: the
        snapshot does not change). Empty when the table is whole: the plan digests the objects."""
        if self._snap is None:
            return {}
        if self._digests is None:
            with _no_gc():  # ready-made in the index (format 7), kept exact by every write: nobody digested here
                self._digests = self._snap.user_digests()
        return self._digests

    def peek(self, item_id: str) -> User | None:
        """The person `item_id`, not kept (partial: parsed from their stored bytes, never added to the table): what a
        plan computing many people reads, so that its memory does not grow with them."""
        if self._snap is None or item_id in self._by_id:
            return self._by_id.get(item_id)
        row = self._row_ids().get(item_id)
        if row in self._row_items:  # read already (and maybe removed since)
            return self._row_items[row]
        return None if row is None else self._from_doc(self._snap.doc("users", row))

    def _load_row(self, row: int | None) -> User | None:
        if row is None or self._snap is None:
            return None
        if len(self._row_items) >= BULK and row not in self._row_items and not self._all_read:
            self._read_all_rows()
        return self._adopt_row(row)

    def _read_all_rows(self) -> None:
        """Partial, many people read one by one (an import, an inbound run): read the others at once, parsed a chunk at
        a time from the table's bytes (the links, twice the memory, stay unread); lookups then answer from memory."""
        assert self._snap is not None
        self._all_read = True
        data, spans = self._snap.table_rows("users")
        rows = len(spans) // 2
        with _no_gc():
            for first in range(0, rows, state_index.CHUNK):
                last = min(first + state_index.CHUNK, rows)
                begin = 1 if first == 0 else spans[2 * first - 1] + 1
                chunk = orjson.loads(b"".join((b"{", data[begin:spans[2 * last - 1]], b"}")))
                if not isinstance(chunk, dict) or len(chunk) != last - first:
                    return  # (a document id twice in one chunk: the rest read one by one, as before)
                items = []
                for row, (doc_id, doc) in zip(range(first, last), chunk.items()):
                    if row not in self._row_items:
                        item = self._row_items[row] = self._from_doc(doc)
                        self._by_id[item.id] = item
                        self._doc_ids[item.id] = doc_id
                        self._doc_rows[doc_id] = row
                        items.append(item)
                self._index_all(items)

    def _get_partial(self, item_id: str) -> User | None:
        assert self._snap is not None
        self._asked += 1
        if self._ids is not None or self._asked > 8:  # many people read (a plan): by a map of every row
            return self._load_row(self._row_ids().get(item_id))
        return self._load_row(self._snap.user_row_by_id(item_id))

    def _rows_in(self, snap: Snapshot, item_id: str, item: User | None) -> list[int]:
        row = snap.user_row_by_id(item_id)
        return [] if row is None else [row]

    def _lookup(self, value: str, key: str, fields: tuple[str, ...], *, strip: bool = False) -> User | None:
        """The person whose value of one of `fields` ("keys", "names", "emails", in that order) is `value` (casefolded:
        `key`). Partial: the people read are found by their values in memory (which a change may have moved), the
        others in the state's index (the rows read already are not believed there)."""
        for field in fields:
            found = self._indexes[field].get(key)
            if found is not None:
                return found
            if self._snap is not None:
                row = self._snap.user_row(value, (field,), strip=strip)
                if row is not None and row not in self._row_items:
                    return self._load_row(row)
        return None

    def search_lines(self) -> bytes | None:
        """The search text of every person (one UTF-8 line each, in row order) from the state's index, or None when
        the table is whole."""
        return self._snap.search_lines() if self._snap is not None else None

    def active_count(self) -> int:
        """How many people are active (from the state's index while the table is partial)."""
        if self._snap is not None:
            return self._snap.active()
        return sum(1 for u in self._by_id.values() if u.active)

    def at_row(self, row: int, item_id: str) -> User | None:
        """The person at `row` of `search_lines()` (partial), or the one whose id is `item_id` (whole)."""
        if self._snap is not None:
            return self._load_row(row)
        return self._by_id.get(item_id)

    def _index(self, item: User) -> None:
        key = item.employeeId if self.primary_key == "employeeId" else item.key(self.primary_key)
        self._by_key[key.casefold()] = item
        self._by_name[item.userName.casefold()] = item
        for email in item.emails:
            self._by_email[email.casefold()] = item

    def _index_all(self, items: list[User]) -> None:
        if self.primary_key != "employeeId":
            return super()._index_all(items)
        self._by_key.update({u.employeeId.casefold(): u for u in items})
        self._by_name.update({u.userName.casefold(): u for u in items})
        self._by_email.update({e.casefold(): u for u in items for e in u.emails})

    def _unindex(self, item: User) -> None:
        self._by_key.pop(item.key(self.primary_key).casefold(), None)
        self._by_name.pop(item.userName.casefold(), None)
        for email in item.emails:
            self._by_email.pop(email.casefold(), None)

    def _check(self, item: User) -> None:
        for field, value, label in (
            ("keys", item.key(self.primary_key), self.primary_key),
            ("names", item.userName, "userName"),
            *(("emails", e, "email") for e in item.emails),
        ):
            other = self._lookup(value, value.casefold(), (field,))
            if other is not None and other.id != item.id:
                raise ValidationError(label, value, f"is already used by {other.label()}", hint=f"choose another {label}")

    def _unique(self, item: User) -> list[tuple[str, str]]:
        pairs = [(self.primary_key, item.key(self.primary_key)), ("userName", item.userName)]
        return [(label, value) for label, value in pairs + [("email", e) for e in item.emails] if value]

    def by_key(self, value: str) -> User | None:
        return self._lookup(value, value.casefold(), ("keys",))

    def by_user_name(self, value: str) -> User | None:
        return self._lookup(value, value.casefold(), ("names",))

    def by_email(self, value: str) -> User | None:
        return self._lookup(value, value.casefold(), ("emails",))

    def find(self, identifier: str) -> User | None:
        """A person by primary key, userName or e-mail (the USER argument of the CLI)."""
        return self._lookup(identifier, identifier.strip().casefold(), ("keys", "names", "emails"), strip=True)


class NamedRepo(Repo[N]):
    """Groups, applications and policies: unique, case-insensitive names."""

    def __init__(self, db: TinyDB, name: str, model: type[N]) -> None:
        self._by_name: dict[str, N] = {}
        super().__init__(db, name, model)

    def _index(self, item: N) -> None:
        self._by_name[item.name.casefold()] = item

    def _unindex(self, item: N) -> None:
        self._by_name.pop(item.name.casefold(), None)

    def _check(self, item: N) -> None:
        other = self._by_name.get(item.name.casefold())
        if other is not None and other.id != item.id:
            kind = self.table.name.rstrip("s")
            raise ValidationError("name", item.name, f"is already the name of another {kind}")

    def _unique(self, item: N) -> list[tuple[str, str]]:
        return [("name", item.name)]

    def by_name(self, name: str) -> N | None:
        return self._by_name.get(name.strip().casefold())


# A link as a plan first needs it: state, inputs, and its row in the state's index (partial) or the link (whole).
Head = tuple[str, str, int | Link]


class LinkRepo(Repo[Link]):
    """Links, indexed by (app, kind, local id) and (app, kind, remote id)."""

    def __init__(self, db: TinyDB) -> None:
        self._by_local: dict[tuple[str, str, str], Link] = {}
        self._by_remote: dict[tuple[str, str, str], Link] = {}
        self._by_app: dict[tuple[str, str], dict[str, Link]] = {}  # (app, kind) -> local id -> link, for `for_app`
        super().__init__(db, "links", Link)

    def _clear(self) -> None:
        self._by_local, self._by_remote, self._by_app = {}, {}, {}
        self._local_loaded: set[str] = set()  # partial: the local ids whose links are loaded
        # partial, read by a plan: (app, kind) -> (local ids, states, inputs, rows), from the state's index, and
        # (app, kind) -> local id -> (state, inputs, row) as asked for
        self._groups: dict[tuple[str, str], tuple[list[str], list[str], list[str], list[int]]] | None = None
        self._heads: dict[tuple[str, str], dict[str, Head]] = {}

    def heads(self, app: str, kind: str = "user") -> dict[str, Head]:
        """The links of `app` by local id, as a plan first needs them: (state, recorded inputs, row or link); `at`
        gives the whole link. Partial: from the state's index, without reading a link (row: the link's row in it)."""
        if self._snap is None:
            return {local_id: (link.state, link.inputs, link)
                    for local_id, link in self._by_app.get((app, kind), {}).items()}
        built = self._heads.get((app, kind))
        if built is None:
            columns = self._link_groups().get((app, kind))
            with _no_gc():  # a tuple per link (made at C speed): no cyclic GC passes over them while they are made
                built = self._heads[(app, kind)] = (
                    dict(zip(columns[0], zip(columns[1], columns[2], columns[3]))) if columns else {})
        return dict(built)

    def _link_groups(self) -> dict[tuple[str, str], tuple[list[str], list[str], list[str], list[int]]]:
        """Partial: the index's link columns by (application, kind) (read once: the snapshot never changes)."""
        assert self._snap is not None
        if self._groups is None:
            with _no_gc():
                self._groups = self._snap.link_groups()
        return self._groups

    def at(self, app: str, local_id: str, head: Head, kind: str = "user") -> Link:
        """The whole link `heads` gave `head` of."""
        return self._link_of(app, local_id, head, kind, keep=True)

    def peek_at(self, app: str, local_id: str, head: Head, kind: str = "user") -> Link:
        """The whole link `heads` gave `head` of, not kept (see `UserRepo.peek`)."""
        return self._link_of(app, local_id, head, kind, keep=False)

    def _link_of(self, app: str, local_id: str, head: Head, kind: str, *, keep: bool) -> Link:
        ref = head[2]
        if isinstance(ref, Link):
            return ref
        link = self._by_local.get((app, kind, local_id))
        if link is None and self._snap is not None:
            if keep or ref in self._row_items:
                link = self._adopt_row(ref)
            else:
                link = self._from_doc(self._snap.doc("links", ref))
        if link is None:
            raise StateError(f"the link of {local_id} in {app} is not in the state it was planned from",
                             hint="run the plan again")
        return link

    def pushed(self, app: str, local_id: str, head: Head, kind: str = "user") -> tuple[Any, Any]:
        """The attributes last pushed (`Link.attrs`) of the link `heads` gave `head` of, and what says that a link is
        still that one, not saved since (`saved`): its `attrs` object (whole), or its stored state (partial: from its
        stored document, without building the link; what a plan compares for each person it computes)."""
        ref = head[2]
        if isinstance(ref, Link):
            return ref.attrs, ref.attrs
        if self._snap is None:
            whole = self.at(app, local_id, head, kind)
            return whole.attrs, whole.attrs
        link = self._by_local.get((app, kind, local_id))
        if link is not None:
            return link.attrs, _saved(link.__dict__)
        doc = self._snap.doc("links", ref)
        return doc.get("attrs", {}), _saved(doc)

    @staticmethod
    def saved(link: Link, mark: Any) -> bool:
        """True when `link` is the one `pushed` gave `mark` of, not saved since."""
        return link.attrs is mark if isinstance(mark, dict) else _saved(link.__dict__) == mark

    def apps(self) -> set[str]:
        """The applications some link (of a person or a group) is in."""
        if self._snap is None:
            return {link.app for link in self._by_id.values()}
        return {app for app, _ in self._link_groups()}

    def _load_local(self, local_id: str) -> None:
        if self._snap is None or local_id in self._local_loaded:
            return
        for row in self._snap.link_rows(local_id):
            self._adopt_row(row)
        self._local_loaded.add(local_id)

    def _rows_in(self, snap: Snapshot, item_id: str, item: Link | None) -> list[int]:
        return snap.link_rows(item.local_id) if item is not None else []

    def _read_for(self, items: list[Link]) -> None:
        for item in items:
            if item.id not in self._by_id:
                self._load_local(item.local_id)

    def _index(self, item: Link) -> None:
        self._by_local[(item.app, item.kind, item.local_id)] = item
        self._by_remote[(item.app, item.kind, item.remote_id)] = item
        self._by_app.setdefault((item.app, item.kind), {})[item.local_id] = item

    def _unindex(self, item: Link) -> None:
        self._by_local.pop((item.app, item.kind, item.local_id), None)
        self._by_remote.pop((item.app, item.kind, item.remote_id), None)
        self._by_app.get((item.app, item.kind), {}).pop(item.local_id, None)

    def find(self, app: str, local_id: str, kind: str = "user") -> Link | None:
        self._load_local(local_id)
        return self._by_local.get((app, kind, local_id))

    def of(self, local_id: str, kind: str = "user") -> list[Link]:
        """The links of one local person (or group), in every application."""
        if self._snap is not None:
            self._load_local(local_id)
        return [link for link in self._by_id.values() if link.local_id == local_id and link.kind == kind]

    def by_remote(self, app: str, remote_id: str, kind: str = "user") -> Link | None:
        self._full()
        return self._by_remote.get((app, kind, remote_id))

    def for_app(self, app: str, kind: str = "user") -> list[Link]:
        self._full()
        return list(self._by_app.get((app, kind), {}).values())


def _saved(doc: dict[str, Any]) -> tuple[Any, ...]:
    """What every save of a link changes (`updated`, with the account and what was pushed from which inputs)."""
    return doc.get("updated"), doc.get("remote_id"), doc.get("state"), doc.get("inputs"), doc.get("attrs_hash")


KINDS = {"users": "person", "groups": "group", "applications": "application", "policies": "policy", "links": "link",
         "runs": "run"}


def _doc_label(table: str, doc: dict[str, Any]) -> str:
    if table == "users":
        return str(doc.get("userName") or doc.get("employeeId") or doc.get("id"))
    if table == "links":
        return f"{doc.get('app')}/{doc.get('kind')} {doc.get('local_id')}"
    return str(doc.get("name") or doc.get("id"))


def describe_change(table: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """"person zoe was changed by another operator since you loaded it (title: 'Engineer' → 'Director')"."""
    kind = KINDS.get(table, table)
    label = _doc_label(table, after or before or {})
    if after is None:
        return f"{kind} {label} was deleted by another operator since you loaded it"
    if before is None:
        return f"{kind} {label} was added by another operator since you loaded it"
    fields = [k for k in after if k not in ("updated",) and before.get(k) != after.get(k)]
    what = "; ".join(f"{k}: {_short(before.get(k))} → {_short(after.get(k))}" for k in fields[:4])
    more = f" and {len(fields) - 4} more" if len(fields) > 4 else ""
    return f"{kind} {label} was changed by another operator since you loaded it ({what}{more})"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…"


class Store:
    """The state of one home: read it in memory, change it, make it durable with `flush()` or `writing()`.

    Several processes may hold a home open: none holds its lock for long. Each write takes the lock, catches up
    with what others wrote since this process loaded the state (document by document), refuses a change to a
    document someone else changed meanwhile (`StaleData`), and writes the state atomically with the next
    `meta.generation`. Read-only stores never lock; `refresh()` brings any store up to date.
    """

    TRACKED = ("users", "groups", "applications", "policies", "links", "runs")
    meta: dict[str, Any]  # the `meta` document: schema, primary key, generation
    _table_base: dict[str, Any]

    def __init__(self, home: Path, *, readonly: bool = False, lock_wait: float = 10.0) -> None:
        self.home = Path(home)
        self.readonly = readonly
        self.lock_wait = lock_wait if lock_wait > 0 else 10.0
        if readonly:
            self.home.mkdir(parents=True, exist_ok=True)
        else:
            files.make_private_dir(self.home)
            files.tighten_home(self.home)
        secrets.trust_home_group(self.home)
        self.lock = HomeLock(self.home)
        self.path = self.home / "state.json"
        self.index_path = self.home / state_index.INDEX_NAME
        self._snap: Snapshot | None = None  # the state file opened through its index (see `_open_readonly`)
        self._seen: Snapshot | None = None  # inside `writing()`, caught up: the state seen before (see `_reopen`)
        self._seen_checked: set[str] = set()
        self.writes = 0  # states this process wrote (each write of `state.json`)
        self._index_cache: dict[str, Any] = {}  # what the index derived of a table, by its repo's version
        self._mutex = threading.RLock()  # threads of one process: one write at a time, and the flock not re-taken
        self._depth = 0
        self._stamp: tuple[int, int, int] | None = None
        self.generation = 0
        self.db = TinyDB(str(self.path), storage=FlushOnDemand(self._storage_cls()))
        self._raw = cast(OrjsonStorage, self.storage.storage)  # typed `Storage` by TinyDB; the one made above
        self._open_readonly()
        if not readonly and (self._needs_write or self.lock.try_acquire()):
            self.lock.release()
            with self._locked(), self._shape_checked():
                self._open_writer()
        with _no_gc(freeze=True), self._shape_checked():  # loading builds many long-lived objects: no cyclic GC
            self._load()
        self.events = EventLog(self.home / "events", readonly=readonly)

    @classmethod
    def open(cls, home: Path | str | None = None, *, readonly: bool = False, lock_wait: float = 10.0) -> Store:
        """The store of `home`; a home that is not a usable directory, or a state, lock or event file that cannot
        be read, is a StateError saying which file and why (never a traceback)."""
        path = Path(home) if home else default_home()
        if path.exists() and not path.is_dir():
            raise StateError(f"the home {path} is not a directory",
                             hint="give --home (or IDCONSOLE_HOME) a directory; the file was left as it is")
        try:
            return cls(path, readonly=readonly, lock_wait=lock_wait)
        except OSError as exc:
            where = exc.filename or path
            raise StateError(f"cannot open the home {path}: {where}: {exc.strerror or type(exc).__name__}",
                             hint="check the owner and permissions of the home and its files (ls -la); "
                                  "nothing was changed") from None

    def _storage_cls(self) -> type[OrjsonStorage]:
        readonly = self.readonly

        class _Storage(OrjsonStorage):
            def __init__(self, path: str) -> None:
                super().__init__(path, readonly=readonly)

        return _Storage

    @property
    def storage(self) -> FlushOnDemand:
        return cast(FlushOnDemand, self.db.storage)  # typed `Storage` by TinyDB; a middleware here

    # ---- opening and migrations -----------------------------------------------------------------
    def _check_version(self, tables: dict[str, dict[str, Any]] | None) -> int | None:
        """The schema version of `tables`; None for a fresh home. Refuses what this version cannot read."""
        meta = (tables or {}).get("meta", {}).get("1")
        if tables is None or meta is None:
            if tables and any(tables.get(name) for name in ("users", "groups", "applications")):
                raise StateError(f"{self.path} has data but no schema version", hint="restore it from a backup")
            return None
        version = int(meta.get("schema", 1))
        if version > SCHEMA_VERSION:
            raise StateError(
                f"{self.path} was written by a newer idconsole (schema {version}, this one knows {SCHEMA_VERSION})",
                hint="upgrade idconsole; the file was left as it is",
            )
        return version

    def _open_snapshot(self) -> bool:
        """Open the state through its index (`console/state_index.py`): only the small tables are parsed; people
        and links are parsed one by one as they are asked for. False when the index is missing or stale."""
        try:
            snap = Snapshot.open(self.path, self.index_path)
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError, IndexError):
            return False  # an index of the wrong shape is not believed (nor shown as an error: it is derived)
        if snap is None:
            return False
        try:
            tables = snap.small_tables()
            version = self._check_version(tables)
        except (orjson.JSONDecodeError, TypeError, ValueError, KeyError, IndexError, StateError):
            version = None  # a damaged index or span: parse the whole file, which says what is wrong
        if version != SCHEMA_VERSION or snap.primary_key != tables["meta"]["1"].get("primary_key", "employeeId"):
            snap.close()
            return False
        self._snap = snap
        self._needs_write = False
        self.storage.cache = tables
        self._stamp = snap.stamp
        return True

    def _drop_snapshot(self) -> None:
        if self._snap is not None:
            self._snap.close()
            self._snap = None

    def _load_everything(self) -> None:
        """Parse the whole state file of the snapshot (the very generation the partial tables came from)."""
        with self._mutex:
            snap = self._snap
            if snap is None:
                return
            with _no_gc(freeze=True), self._shape_checked():
                try:
                    raw = snap.read_all()
                    split = state_index.parse_split(snap, raw)  # at the index's spans, a few documents at a time
                    disk = self._raw.parse(raw) if split is None else {"meta": snap.table("meta"), **split}
                    if not self.readonly:  # the first write patches the index's rows instead of deriving them all
                        state_index.seed(self._index_cache, snap, raw, disk)
                finally:
                    self._drop_snapshot()
                cache = self.storage.cache if self.storage.cache is not None else {}
                for repo in (self.users, self.links):  # the changes not written yet, in place
                    docs = disk.setdefault(repo.table.name, {})
                    for doc_id, doc in repo._overlay.items():
                        if doc is None:
                            docs.pop(doc_id, None)
                        else:
                            docs[doc_id] = doc
                for name in state_index.SPLIT:  # the small tables are as in memory (they may have changed)
                    cache[name] = disk.get(name, {})
                at = {**{name: span[0] for name, span in snap.header["tables"].items()}, **snap.header["starts"]}
                # in the file's order (a table it does not hold yet last): written again as a partial store would
                self.storage.cache = {name: cache[name] for name in sorted(
                    cache, key=lambda name: (name not in at or not at[name], at.get(name, 0)))}
                self.users._whole(cache["users"])
                self.links._whole(cache["links"])
                self._share_seen()

    def load_whole(self) -> None:
        """Load every person and link now (a partial store does it on a whole-table read, or for a write it cannot make
        through the state's index)."""
        self._load_everything()

    @property
    def partial(self) -> bool:
        """True while people and links are read one by one through the state's index (nothing loaded whole)."""
        return self._snap is not None

    def _open_readonly(self) -> None:
        """Read the state without the lock (the file is only ever replaced whole)."""
        if self._open_snapshot():
            return
        tables, stamp = self._raw.read_stamped()
        version = self._check_version(tables)
        self._needs_write = version is None or version < SCHEMA_VERSION
        if version is not None and version < SCHEMA_VERSION and self.readonly:
            raise StateError(f"{self.path} needs a migration (schema {version})", hint="open it once without --readonly")
        self.storage.cache = tables if tables is not None else {}
        self._stamp = stamp

    def _open_writer(self) -> None:
        """Under the lock: sweep a dead writer's temp file, create or migrate the state (or read it again), and write
        the index of the state when it has none that is current."""
        for pattern in (".state.json.*.tmp", f".{state_index.INDEX_NAME}.*.tmp"):
            for stale in self.home.glob(pattern):
                stale.unlink(missing_ok=True)
        if self._snap is not None:  # opened through a current index: nothing to migrate, nothing to read again
            return
        stamp = self._stamp
        if stamp is not None and self._raw.stamp() == stamp:  # the file read without the lock is still the current
            tables = self.storage.cache  # one: not parsed again (144 MB at 100k people)
        else:
            tables, stamp = self._raw.read_stamped()
        version = self._check_version(tables)
        write = version is None or version < SCHEMA_VERSION
        if version is None:
            tables = {**(tables or {}), "meta": {"1": {"schema": SCHEMA_VERSION, "primary_key": "employeeId",
                                                         "generation": 0}}}
        elif version < SCHEMA_VERSION:
            assert tables is not None
            files.write_private(self.path.with_name(f"state.json.bak-v{version}"), self.path.read_bytes())
            while version < SCHEMA_VERSION:
                tables = MIGRATIONS[version](tables)
                version += 1
            tables["meta"]["1"]["schema"] = version
        assert tables is not None  # a schema version was read from them
        self.storage.cache = tables
        self._stamp = stamp
        self.generation = int(tables["meta"]["1"].get("generation", 0))
        if write:
            self.meta = {}
            self._table_base = {}
            self._write_locked()
        elif not self._index_current():
            self._index_again(tables, stamp)

    def _index_again(self, tables: dict[str, dict[str, Any]], stamp: tuple[int, int, int] | None) -> None:
        """Write the index of the state file as it is (under the lock): no new generation when the file is what
        this version writes; rewritten when it is not (e.g. indented by hand); nothing when it cannot be indexed."""
        data, header, sections = state_index.dump(tables, str(tables["meta"]["1"].get("primary_key", "employeeId")))
        if sections is None or stamp is None:
            return
        with open(self.path, "rb") as fh:
            st = os.fstat(fh.fileno())
            same = (st.st_ino, st.st_mtime_ns, st.st_size) == stamp and st.st_size == len(data) and fh.read() == data
        if not same:
            self.meta = {}
            self._table_base = {}
            self._write_locked()
            return
        with contextlib.suppress(OSError):  # derived: a missing index is only slower, never wrong
            state_index.write_index(self.index_path, header, sections, stamp, self.generation)

    @contextlib.contextmanager
    def _shape_checked(self) -> Iterator[None]:
        """A state of the wrong shape (a table that is not documents, a field of the wrong type) met while
        migrating or loading it is refused as StateCorrupt naming what is wrong, the file left as it is."""
        try:
            yield
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise StateCorrupt(f"state file {self.path} does not have the shape of an idconsole state",
                               detail=f"{type(exc).__name__}: {str(exc)[:200]}",
                               hint="it was left as it is; restore it from a backup (state.json.bak-*) or move it "
                                    "away") from None

    def _index_current(self) -> bool:
        try:
            snap = Snapshot.open(self.path, self.index_path)
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError, IndexError):
            return False
        if snap is None:
            return False
        snap.close()
        return True

    def _load(self) -> None:
        """Build every table's objects and indexes from the cached documents (partial: see `_open_snapshot`)."""
        tables = self.storage.cache if self.storage.cache is not None else {}
        self.meta = dict(tables.get("meta", {}).get("1", {}))
        self.generation = int(self.meta.get("generation", 0))
        self.users = UserRepo(self.db, self.meta.get("primary_key", "employeeId"))
        self.groups: NamedRepo[Group] = NamedRepo(self.db, "groups", Group)
        self.applications: NamedRepo[Application] = NamedRepo(self.db, "applications", Application)
        self.policies: NamedRepo[Policy] = NamedRepo(self.db, "policies", Policy)
        self.links = LinkRepo(self.db)
        self.runs: Repo[Run] = Repo(self.db, "runs", Run)
        if self._snap is not None:
            self.users._partial(self._snap, self._load_everything, writable=not self.readonly)
            self.links._partial(self._snap, self._load_everything, writable=not self.readonly)
        self._share_seen()
        self._snapshot_untracked()

    def _repos(self) -> list[Repo[Any]]:
        return [self.users, self.groups, self.applications, self.policies, self.links, self.runs]

    def _snapshot_untracked(self) -> None:
        """A copy of the small tables kept as plain documents (meta, inbound config): the base of a later merge."""
        tables = self.storage.cache if self.storage.cache is not None else {}
        self._table_base = {name: orjson.loads(orjson.dumps(docs)) for name, docs in tables.items()
                            if name not in self.TRACKED}
        for table in self.db._tables.values():  # TinyDB caches the next document id per table: others may insert
            table._next_id = None

    def table(self, name: str) -> Table:
        """A plain TinyDB table for configuration kept as documents (inbound endpoints, mappings)."""
        return self.db.table(name, cache_size=0)

    @property
    def primary_key(self) -> str:
        return str(self.meta.get("primary_key", "employeeId"))

    # ---- several operators ----------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._mutex:
            if self._depth == 0:
                self.lock.acquire(wait=self.lock_wait)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self.lock.release()

    def _writable(self) -> None:
        if self.readonly:
            raise ReadOnly("the console is read-only", hint="restart without --readonly to change anything")

    @contextlib.contextmanager
    def writing(self) -> Iterator[Store]:
        """One write: take the lock, catch up with others' writes, run the body, flush, release.

        A change in the body to a document another operator changed since this process last saw it is refused
        with `StaleData` (the state then shows the current version). An exception drops the body's unflushed changes.
        """
        self._writable()
        with self._locked():
            outer = self._depth == 1
            if outer:
                self._catch_up(mark_stale=True)
                self._flush_locked()  # changes made before the transaction are written: a failed body drops only its own
            try:
                yield self
                self._flush_locked()
            except BaseException:
                if outer and self.storage.dirty:
                    self.rollback()
                raise
            finally:
                if outer:
                    self.storage.stale = {}
                    self._forget_seen()

    def _forget_seen(self) -> None:
        """The end of a write: what this process saw before catching up is not compared any more."""
        if self._seen is not None:
            self._seen.close()
            self._seen = None
            self._seen_checked = set()
            self._share_seen()

    def _share_seen(self) -> None:
        """The people's and links' repos (made again by loads and writes) compare with what the store saw before."""
        for repo in (self.users, self.links):
            repo._seen, repo._seen_checked = self._seen, self._seen_checked

    def changed_since_load(self) -> bool:
        """True when the state file is not the one this store last read or wrote (one stat)."""
        return self._raw.stamp() != self._stamp

    def refresh(self) -> bool:
        """Catch up with what other operators wrote; True when something changed. Never takes the lock.

        A store with unflushed changes is left as it is: they are merged with the others' at the next flush.
        """
        with self._mutex:
            if self._depth or self.storage.dirty or not self.changed_since_load():
                return False
            if self._snap is not None:  # nothing loaded whole, nothing changed here: open the new state the same way
                self._drop_snapshot()
                with self._shape_checked():
                    self._open_readonly()
                    with _no_gc(freeze=True):
                        self._load()
                return True
            return bool(self._catch_up(mark_stale=False))

    def _catch_up(self, *, mark_stale: bool) -> dict[tuple[str, str], tuple[Any, Any]]:
        """Read the state when another process wrote it, merge this process's unflushed changes into it.

        Returns what the others changed, {(table, id): (before, after)}. A change of this process to a document
        that was changed on disk meanwhile is refused: its changes are dropped, the state reloaded, `StaleData` raised.
        """
        if not self.changed_since_load():
            return {}
        if self._snap is not None:
            if not self.storage.dirty:
                return self._reopen(mark_stale=mark_stale)
            self._load_everything()  # changes of this process to merge document by document with the others'
        with _no_gc(freeze=True):  # parsing builds every document again: keep the cyclic GC off them (see _no_gc)
            return self._catch_up_now(mark_stale=mark_stale)

    def _reopen(self, *, mark_stale: bool) -> dict[tuple[str, str], tuple[Any, Any]]:
        """Partial, nothing unflushed: open the state as now written the same way (nothing read whole). Returns what
        others changed of the small tables, as `_catch_up_now` does (people and links: see below); with `mark_stale`,
        a change to a document others changed since is refused once (`StaleData`), as in a whole store."""
        old = self._snap
        assert old is not None
        before = self.storage.cache or {}
        self._snap = None
        kept = False
        try:
            with self._shape_checked():
                self._open_readonly()
                with _no_gc(freeze=True):
                    self._load()
            if mark_stale:  # people and links: compared with `old` when put (see `Repo._refuse_stale`), not all now
                self._forget_seen()  # (that would read every document)
                self._seen = old
                self._share_seen()
                kept = True
        finally:
            if not kept:
                old.close()
        changed: dict[tuple[str, str], tuple[Any, Any]] = {}
        after = self.storage.cache or {}
        for name in set(before).union(after) - set(state_index.SPLIT):
            mine, theirs = before.get(name, {}), after.get(name, {})
            if mine == theirs:
                continue
            if name not in self.TRACKED:
                changed[(name, "*")] = (mine, theirs)
                continue
            old_docs = {doc.get("id", did): doc for did, doc in mine.items()}
            new_docs = {doc.get("id", did): doc for did, doc in theirs.items()}
            for item_id in old_docs.keys() | new_docs.keys():
                if old_docs.get(item_id) != new_docs.get(item_id):
                    changed[(name, item_id)] = (old_docs.get(item_id), new_docs.get(item_id))
        if mark_stale:
            stale: dict[str, dict[str, tuple[Any, Any]]] = {}
            for (name, item_id), pair in changed.items():
                if name in self.TRACKED:
                    stale.setdefault(name, {})[item_id] = pair
            self.storage.stale = stale
        return changed

    def _catch_up_now(self, *, mark_stale: bool) -> dict[tuple[str, str], tuple[Any, Any]]:
        disk, stamp = self._raw.read_stamped()
        if disk is None:
            raise StateError(f"{self.path} disappeared while idconsole was using it",
                             hint="restore it from a backup; nothing more was written")
        self._check_version(disk)
        conflicts = self._merge_into(disk)
        if conflicts:
            self.rollback()
            first = conflicts[0] + (f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else "")
            raise StaleData(first, hint="nothing of this change was saved; reload and try again")
        changed: dict[tuple[str, str], tuple[Any, Any]] = {}
        ours = self.storage.tables()
        for repo in self._repos():
            name = repo.table.name
            mine = ours.get(name, {})
            for mid, pair in repo.adopt(mine, disk.setdefault(name, {})).items():
                changed[(name, mid)] = pair
        for name in set(ours).union(disk) - set(self.TRACKED):
            if ours.get(name, {}) != disk.get(name, {}):
                changed[(name, "*")] = (ours.get(name), disk.get(name))
        self.storage.cache = disk
        self._stamp = stamp
        self.meta = dict(disk.get("meta", {}).get("1", {}))
        self.generation = int(self.meta.get("generation", 0))
        self._snapshot_untracked()
        if mark_stale:
            stale: dict[str, dict[str, tuple[Any, Any]]] = {}
            for (name, mid), pair in changed.items():
                if name in self.TRACKED and mid not in self.storage.base.get(name, {}):
                    stale.setdefault(name, {})[mid] = pair
            self.storage.stale = stale
        return changed

    def _merge_into(self, disk: dict[str, dict[str, Any]]) -> list[str]:
        """Apply this process's unflushed changes onto `disk`; the documents they conflict with, described."""
        ours = self.storage.tables()
        conflicts: list[str] = []
        for repo in self._repos():
            name = repo.table.name
            pending = self.storage.base.get(name)
            if not pending:
                continue
            disk_docs = disk.setdefault(name, {})
            mine_docs = ours.get(name, {})
            disk_ids = {doc.get("id", did): did for did, doc in disk_docs.items()}
            next_id = max((int(k) for k in disk_docs), default=0) + 1
            for mid, before in pending.items():
                did = disk_ids.get(mid)
                theirs = disk_docs.get(did) if did is not None else None
                if theirs != before:
                    conflicts.append(describe_change(name, before, theirs))
                    continue
                my_did = repo._doc_ids.get(mid)
                mine = mine_docs.get(my_did) if my_did is not None else None
                if mine is None:
                    if did is not None:
                        del disk_docs[did]
                else:
                    if did is None:
                        did, next_id = str(next_id), next_id + 1
                    disk_docs[did] = mine
        for name in set(ours).union(disk) - set(self.TRACKED):
            before = self._table_base.get(name, {})
            mine, theirs = ours.get(name, {}), disk.get(name, {})
            if name == "meta":
                before, mine, theirs = (_without_generation(t) for t in (before, mine, theirs))
            if mine == before:
                continue
            if theirs != before:
                conflicts.append(f"{name} was changed by another operator since you loaded it")
            elif name == "meta":
                generation = disk.get("meta", {}).get("1", {}).get("generation", 0)
                disk["meta"] = {"1": {**ours["meta"]["1"], "generation": generation}}
            else:
                disk[name] = ours[name]
        return conflicts

    def _write_locked(self) -> None:
        """Write the cached state as the next generation (the lock is held and the cache is caught up)."""
        if self._snap is not None:
            if self._write_partial():
                return
            self._load_everything()
        tables = self.storage.tables()
        meta = tables.setdefault("meta", {}).setdefault("1", {})
        meta["generation"] = self.generation + 1
        versions = ({"users": (self.users.serial, self.users.version), "links": (self.links.serial, self.links.version),
                     "runs": (self.runs.serial, self.runs.version)}
                    if hasattr(self, "runs") else None)  # (none before the first load: a migration, a fresh home)
        _, header, sections = state_index.dump(tables, str(meta.get("primary_key", "employeeId")), versions=versions,
                                               cache=self._index_cache, write=self._raw.write_parts)  # (written there)
        self.generation += 1
        self.writes += 1
        self.meta["generation"] = self.generation
        self._stamp = self._raw.stamp()
        if sections is None:
            with contextlib.suppress(OSError):
                self.index_path.unlink(missing_ok=True)
        elif self._stamp is not None:
            with contextlib.suppress(OSError):  # derived: a missing or stale index is only slower, never wrong
                state_index.write_index(self.index_path, header, sections, self._stamp, self.generation)
        self.storage.dirty = False
        self.storage.base = {}
        self._snapshot_untracked()

    def _write_partial(self) -> bool:
        """Partial: write the next generation from the snapshot's file and the changes kept apart (the people and links
        changed, the small tables), without reading the other documents: they are copied as they are stored
        (`state_index.splice`), the index's rows of the changed ones derived again; then read the state through the new
        index the same way. False (nothing written) when this cannot be done: the caller writes the whole state."""
        snap = self._snap
        assert snap is not None
        repos: dict[str, Repo[Any]] = {"users": self.users, "links": self.links}
        tables = self.storage.tables()
        meta = tables.setdefault("meta", {}).setdefault("1", {})
        primary_key = str(meta.get("primary_key", "employeeId"))
        header = snap.header
        where = {**{name: span[0] for name, span in header["tables"].items()},
                 **{name: header["starts"][name] for name in state_index.SPLIT if header["starts"][name] > 0}}
        if (self._raw.stamp() != snap.stamp or primary_key != snap.primary_key
                or any(repo._overlay and not (repo._writes_partial and name in where) for name, repo in repos.items())):
            return False
        split = {}  # each split table's new bytes (parts) and index, made before anything is written
        for name, repo in sorted(repos.items(), key=lambda item: bool(item[1]._overlay)):  # the unchanged first
            split[name] = (([], state_index.empty_table(name), 0) if name not in where
                           else state_index.splice(snap, name, repo._overlay, repo._doc_rows, primary_key)
                           if repo._overlay else state_index.kept(snap, name))
            if split[name] is None:
                return False
        names = [n for n in sorted(where, key=where.__getitem__) if n in repos or n in tables]
        names += [n for n in tables if n not in where and n not in repos]
        generation = self.generation + 1
        meta["generation"] = generation
        parts: list[Any] = [b"{"]
        pos = 1
        spans: dict[str, list[int]] = {}
        starts = dict.fromkeys(state_index.SPLIT, 0)
        versions = {"runs": (self.runs.serial, self.runs.version)}
        try:
            for n, name in enumerate(names):
                head = (b"," if n else b"") + orjson.dumps(name) + b":"
                parts.append(head)
                pos += len(head)
                if name in repos:
                    starts[name] = pos
                    table_parts, _, size = split[name]  # type: ignore[misc]  # (none is None: see above)
                    parts += table_parts
                    pos += size
                    continue
                body = state_index.table_bytes(self._index_cache, name, tables[name], versions.get(name))
                spans[name] = [pos, pos + len(body)]
                parts.append(body)
                pos += len(body)
            parts.append(b"}")
            self._raw.write_parts(parts, read_back=False)
        except BaseException:
            meta["generation"] = self.generation
            raise
        self.generation = self.meta["generation"] = generation
        self.writes += 1
        stamp = self._raw.stamp()
        derived = {name: table[1] for name, table in split.items()}  # type: ignore[index]
        new_header: dict[str, Any] = {
            "format": state_index.FORMAT, "byteorder": sys.byteorder, "primary_key": primary_key, "tables": spans,
            "starts": starts, "rows": {name: d["rows"] for name, d in derived.items()},
            # (a table not changed: as it was, None too — where ids do not ascend, writers load the table whole)
            "next": {name: derived[name]["next"] if "next" in derived[name] else snap.next_id(name) for name in repos},
            "active": derived["users"]["active"]}
        with contextlib.suppress(OSError):  # derived: a missing or stale index is only slower, never wrong
            if stamp is not None:
                state_index.write_index(self.index_path, new_header,
                                        {k: v for d in derived.values() for k, v in d["sections"].items()}, stamp,
                                        generation)
        self.storage.dirty = False
        self.storage.base = {}
        self._snapshot_untracked()
        self._snap = None
        try:
            self._rebase(stamp)
        finally:
            snap.close()
        return True

    def _rebase(self, stamp: tuple[int, int, int] | None) -> None:
        """After a partial write: people and links read through the index just written (what was read of them is
        dropped: its rows moved); the small tables are as in memory, which is what was written. When the new index
        cannot be opened, the state just written is read whole."""
        try:
            snap = Snapshot.open(self.path, self.index_path)
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError, IndexError):
            snap = None
        if snap is not None and snap.stamp != stamp:
            snap.close()
            snap = None
        if snap is None:
            with self._shape_checked():
                self._open_readonly()
                with _no_gc(freeze=True):
                    self._load()
            return
        self._snap = snap
        self._stamp = snap.stamp
        for repo in (self.users, self.links):
            repo._fill({})
            repo._partial(snap, self._load_everything, writable=True)
            repo.version += 1
        self._share_seen()

    def _flush_locked(self) -> None:
        if self.storage.dirty:
            self._write_locked()

    def flush(self) -> None:
        """Make every change so far durable: under the lock, merged with what others wrote meanwhile."""
        if self.readonly or not self.storage.dirty:
            return
        with self._locked():
            if self._depth == 1:  # not inside `writing()`, which caught up already
                self._catch_up(mark_stale=False)
            self._flush_locked()

    def rollback(self) -> None:
        """Drop every change since the last flush and reload the state from disk."""
        with self._mutex:
            self._drop_snapshot()
            self.storage.dirty = False
            self.storage.base = {}
            with self._shape_checked():
                self._open_readonly()  # through the state's index when it is current: nothing read whole
                with _no_gc(freeze=True):
                    self._load()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._drop_snapshot()
            self.events.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is not None and not self.readonly:
            self.storage.discard()  # drop unflushed changes; no need to reload a state that is being closed
        self.close()


def _without_generation(table: dict[str, Any]) -> dict[str, Any]:
    return {k: {f: v for f, v in doc.items() if f != "generation"} if isinstance(doc, dict) else doc
            for k, doc in table.items()}
