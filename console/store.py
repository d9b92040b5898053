"""Local state over TinyDB: people, groups, applications, policies, links, inbound config, runs.

One JSON file per home (`state.json`), read once and kept in memory (TinyDB `CachingMiddleware`),
with in-memory indexes; writes are batched and made durable by `flush()`. The provisioning report
lives apart, in `console/eventlog.py`. This module and `eventlog.py` are the only ones touching files.
"""
from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

import orjson
import platformdirs
from tinydb import TinyDB

from console.errors import StateError, ValidationError
from console.eventlog import EventLog
from console.models import Application, Group, Link, Policy, Run, User
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

M = TypeVar("M", User, Group, Application, Policy, Link, Run)


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


_TO_DOC = User.to_doc  # the generic dataclass `to_doc` every model inherits
_FROM_DOC = User.from_doc.__func__  # type: ignore[attr-defined]


def _label(item: Any) -> str:
    return str(item.label() if hasattr(item, "label") else getattr(item, "name", item.id))


class Repo(Generic[M]):
    """A table of one model kind, mirrored in memory by id and indexed.

    Writes change the documents of TinyDB's cache (the `FlushOnDemand` middleware) in place, in O(changed
    documents): TinyDB's own `Table.update/insert/remove` convert the whole table per call, which costs
    tens of milliseconds at 100k people. Indexes always describe the stored documents.
    """

    def __init__(self, db: TinyDB, name: str, model: type[M]) -> None:
        self.table = db.table(name, cache_size=0)
        self.storage: FlushOnDemand = db.storage  # type: ignore[assignment]
        self.model = model
        self._fields = frozenset(f.name for f in dataclasses.fields(model))
        self._plain = model.from_doc.__func__ is _FROM_DOC  # type: ignore[attr-defined]
        self._by_id: dict[str, M] = {}
        self._doc_ids: dict[str, str] = {}  # model id -> TinyDB document id (as stored: a string)
        raw = self.storage.tables().get(name, {})
        items = self._load_items(list(raw.values()))  # the hot path of `Store.open`: comprehensions, no calls
        self._by_id = {item.id: item for item in items}
        self._doc_ids = dict(zip([item.id for item in items], raw))
        self._index_all(items)
        self._next_id = 0  # found on the first insert
        self.version = 0  # counts changes, so that derived views (the people search index) know when to rebuild

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
        return self.model.from_doc(doc)  # type: ignore[no-any-return]

    @staticmethod
    def _to_doc(item: M) -> dict[str, Any]:
        """A deep, JSON-shaped copy (what a reload gives); orjson does it ~10x faster than `asdict`."""
        if type(item).to_doc is _TO_DOC:
            return orjson.loads(orjson.dumps(item))  # type: ignore[no-any-return]
        return item.to_doc()

    # index hooks for subclasses
    def _index(self, item: M) -> None: ...

    def _unindex(self, item: M) -> None: ...

    def _check(self, item: M) -> None: ...

    def _unique(self, item: M) -> list[tuple[str, str]]:
        """(field, value) pairs that must be unique (case-insensitive) within a table."""
        return []

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_id.values())

    def all(self) -> list[M]:
        return list(self._by_id.values())

    def get(self, item_id: str) -> M | None:
        return self._by_id.get(item_id)

    def add(self, item: M) -> M:
        if item.id in self._by_id:
            raise StateError(f"{self.table.name}: id {item.id} exists already")
        return self.put(item)

    def put(self, item: M) -> M:
        self.put_many([item])
        return item

    def put_many(self, items: Iterable[M]) -> None:
        """Insert or replace by id; every item is checked (against the table and the batch) before any change."""
        items = list(items)
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
        docs = self.storage.tables().setdefault(self.table.name, {})
        with _no_gc() if len(items) > 1000 else contextlib.nullcontext():
            for item in items:
                doc_id = self._doc_ids.get(item.id)
                if doc_id is None:
                    self._next_id = self._next_id or max((int(k) for k in docs), default=0) + 1
                    doc_id = self._doc_ids[item.id] = str(self._next_id)
                    self._next_id += 1
                else:  # unindex what is stored: the item may have been changed in place
                    self._unindex(self._from_doc(docs[doc_id]))
                docs[doc_id] = self._to_doc(item)
                self._by_id[item.id] = item
                self._index(item)
        self.version += 1
        self.storage.touch()

    def remove(self, item_id: str) -> None:
        self.remove_many([item_id])

    def remove_many(self, item_ids: Iterable[str]) -> None:
        ids = [i for i in item_ids if i in self._by_id]
        if not ids:
            return
        docs = self.storage.tables().setdefault(self.table.name, {})
        for item_id in ids:
            del self._by_id[item_id]
            doc = docs.pop(self._doc_ids.pop(item_id), None)
            if doc is not None:
                self._unindex(self._from_doc(doc))
        self.version += 1
        self.storage.touch()


class UserRepo(Repo[User]):
    """People, indexed by primary key, userName and e-mail (case-insensitive), all unique."""

    def __init__(self, db: TinyDB, primary_key: str) -> None:
        self.primary_key = primary_key
        self._by_key: dict[str, User] = {}
        self._by_name: dict[str, User] = {}
        self._by_email: dict[str, User] = {}
        super().__init__(db, "users", User)

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
        for index, value, label in (
            (self._by_key, item.key(self.primary_key), self.primary_key),
            (self._by_name, item.userName, "userName"),
            *((self._by_email, e, "email") for e in item.emails),
        ):
            other = index.get(value.casefold())
            if other is not None and other.id != item.id:
                raise ValidationError(label, value, f"is already used by {other.label()}", hint=f"choose another {label}")

    def _unique(self, item: User) -> list[tuple[str, str]]:
        pairs = [(self.primary_key, item.key(self.primary_key)), ("userName", item.userName)]
        return [(label, value) for label, value in pairs + [("email", e) for e in item.emails] if value]

    def by_key(self, value: str) -> User | None:
        return self._by_key.get(value.casefold())

    def by_user_name(self, value: str) -> User | None:
        return self._by_name.get(value.casefold())

    def by_email(self, value: str) -> User | None:
        return self._by_email.get(value.casefold())

    def find(self, identifier: str) -> User | None:
        """A person by primary key, userName or e-mail (the USER argument of the CLI)."""
        key = identifier.strip().casefold()
        return self._by_key.get(key) or self._by_name.get(key) or self._by_email.get(key)


class NamedRepo(Repo[M]):
    """Groups, applications and policies: unique, case-insensitive names."""

    def __init__(self, db: TinyDB, name: str, model: type[M]) -> None:
        self._by_name: dict[str, M] = {}
        super().__init__(db, name, model)

    def _index(self, item: M) -> None:
        self._by_name[item.name.casefold()] = item  # type: ignore[union-attr]

    def _unindex(self, item: M) -> None:
        self._by_name.pop(item.name.casefold(), None)  # type: ignore[union-attr]

    def _check(self, item: M) -> None:
        other = self._by_name.get(item.name.casefold())  # type: ignore[union-attr]
        if other is not None and other.id != item.id:
            kind = self.table.name.rstrip("s")
            raise ValidationError("name", item.name, f"is already the name of another {kind}")  # type: ignore[union-attr]

    def _unique(self, item: M) -> list[tuple[str, str]]:
        return [("name", item.name)]  # type: ignore[union-attr]

    def by_name(self, name: str) -> M | None:
        return self._by_name.get(name.strip().casefold())


class LinkRepo(Repo[Link]):
    """Links, indexed by (app, kind, local id) and (app, kind, remote id)."""

    def __init__(self, db: TinyDB) -> None:
        self._by_local: dict[tuple[str, str, str], Link] = {}
        self._by_remote: dict[tuple[str, str, str], Link] = {}
        super().__init__(db, "links", Link)

    def _index(self, item: Link) -> None:
        self._by_local[(item.app, item.kind, item.local_id)] = item
        self._by_remote[(item.app, item.kind, item.remote_id)] = item

    def _unindex(self, item: Link) -> None:
        self._by_local.pop((item.app, item.kind, item.local_id), None)
        self._by_remote.pop((item.app, item.kind, item.remote_id), None)

    def find(self, app: str, local_id: str, kind: str = "user") -> Link | None:
        return self._by_local.get((app, kind, local_id))

    def by_remote(self, app: str, remote_id: str, kind: str = "user") -> Link | None:
        return self._by_remote.get((app, kind, remote_id))

    def for_app(self, app: str, kind: str = "user") -> list[Link]:
        return [link for (a, k, _), link in self._by_local.items() if a == app and k == kind]


class Store:
    """The state of one home: open it, read and change it in memory, `flush()` to make it durable."""

    def __init__(self, home: Path, *, readonly: bool = False, lock_wait: float = 0.0) -> None:
        self.home = Path(home)
        self.readonly = readonly
        self.home.mkdir(parents=True, exist_ok=True)
        self.lock = HomeLock(self.home)
        if not readonly:
            self.lock.acquire(wait=lock_wait)
        try:
            self.path = self.home / "state.json"
            if not readonly:  # a writer killed in the middle of a flush leaves its temp file; we hold the lock
                for stale in self.home.glob(".state.json.*.tmp"):
                    stale.unlink(missing_ok=True)
            self.db = TinyDB(str(self.path), storage=FlushOnDemand(self._storage_cls()))
            with _no_gc(freeze=True):  # loading builds many long-lived objects: keep the cyclic GC off them
                self._migrate()
                self._load()
            self.events = EventLog(self.home / "events", readonly=readonly)
        except BaseException:
            self.lock.release()
            raise

    @classmethod
    def open(cls, home: Path | str | None = None, *, readonly: bool = False, lock_wait: float = 0.0) -> Store:
        return cls(Path(home) if home else default_home(), readonly=readonly, lock_wait=lock_wait)

    def _storage_cls(self):  # type: ignore[no-untyped-def]
        readonly = self.readonly

        class _Storage(OrjsonStorage):
            def __init__(self, path: str) -> None:
                super().__init__(path, readonly=readonly)

        return _Storage

    @property
    def storage(self) -> FlushOnDemand:
        return self.db.storage  # type: ignore[return-value]

    def _migrate(self) -> None:
        tables = self.storage.read()
        meta = (tables or {}).get("meta", {}).get("1")
        if tables is None or meta is None:
            if tables and any(tables.get(name) for name in ("users", "groups", "applications")):
                raise StateError(f"{self.path} has data but no schema version", hint="restore it from a backup")
            if not self.readonly:
                self.db.table("meta").insert({"schema": SCHEMA_VERSION, "primary_key": "employeeId"})
                self.storage.flush()
            return
        version = int(meta.get("schema", 1))
        if version > SCHEMA_VERSION:
            raise StateError(
                f"{self.path} was written by a newer idconsole (schema {version}, this one knows {SCHEMA_VERSION})",
                hint="upgrade idconsole; the file was left as it is",
            )
        if version == SCHEMA_VERSION:
            return
        if self.readonly:
            raise StateError(f"{self.path} needs a migration (schema {version})", hint="open it once without --readonly")
        shutil.copy2(self.path, self.path.with_name(f"state.json.bak-v{version}"))
        while version < SCHEMA_VERSION:
            tables = MIGRATIONS[version](tables)
            version += 1
        tables["meta"]["1"]["schema"] = version
        self.storage.write(tables)
        self.storage.flush()

    def _load(self) -> None:
        self.meta: dict[str, Any] = dict((self.storage.read() or {}).get("meta", {}).get("1", {}))
        self.users = UserRepo(self.db, self.meta.get("primary_key", "employeeId"))
        self.groups: NamedRepo[Group] = NamedRepo(self.db, "groups", Group)
        self.applications: NamedRepo[Application] = NamedRepo(self.db, "applications", Application)
        self.policies: NamedRepo[Policy] = NamedRepo(self.db, "policies", Policy)
        self.links = LinkRepo(self.db)
        self.runs: Repo[Run] = Repo(self.db, "runs", Run)

    def table(self, name: str):  # type: ignore[no-untyped-def]
        """A plain TinyDB table for configuration kept as documents (inbound endpoints, mappings)."""
        return self.db.table(name, cache_size=0)

    @property
    def primary_key(self) -> str:
        return str(self.meta.get("primary_key", "employeeId"))

    def flush(self) -> None:
        """Make every change so far durable (one atomic write of the state file)."""
        if not self.readonly:
            self.storage.flush()

    def rollback(self) -> None:
        """Drop every change since the last flush and reload the state from disk."""
        self.storage.discard()
        with _no_gc(freeze=True):
            self._load()

    def close(self) -> None:
        try:
            self.flush()
            self.events.close()
        finally:
            self.lock.release()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type, *exc: object) -> None:  # type: ignore[no-untyped-def]
        if exc_type is not None and not self.readonly:
            self.storage.discard()  # drop unflushed changes; no need to reload a state that is being closed
        self.close()
