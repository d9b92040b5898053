"""Local state over TinyDB: people, groups, applications, policies, links, inbound config, runs.

One JSON file per home (`state.json`), read once and kept in memory (TinyDB `CachingMiddleware`),
with in-memory indexes; writes are batched and made durable by `flush()`. The provisioning report
lives apart, in `console/eventlog.py`. This module and `eventlog.py` are the only ones touching files.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Generic, TypeVar

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


def default_home() -> Path:
    env = os.environ.get("IDCONSOLE_HOME")
    return Path(env) if env else Path(platformdirs.user_data_dir("idconsole"))


class Repo(Generic[M]):
    """A table of one model kind, mirrored in memory by id; writes go through TinyDB's table."""

    def __init__(self, db: TinyDB, name: str, model: type[M]) -> None:
        self.table = db.table(name, cache_size=0)
        self.model = model
        self._by_id: dict[str, M] = {}
        self._doc_ids: dict[str, int] = {}
        raw = db.storage.read() or {}
        for doc_id, doc in raw.get(name, {}).items():
            item = model.from_doc(doc)
            self._by_id[item.id] = item
            self._doc_ids[item.id] = int(doc_id)
            self._index(item)

    # index hooks for subclasses
    def _index(self, item: M) -> None: ...

    def _unindex(self, item: M) -> None: ...

    def _check(self, item: M) -> None: ...

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
        """Insert or replace by id, in one TinyDB call for the inserts and one for the updates."""
        items = list(items)
        for item in items:
            self._check(item)
        updates = {i.id: i.to_doc() for i in items if i.id in self._doc_ids}
        inserts = [i for i in items if i.id not in self._doc_ids]
        if updates:

            def replace(doc: dict[str, Any]) -> None:
                new = updates[doc["id"]]
                doc.clear()
                doc.update(new)

            self.table.update(replace, doc_ids=[self._doc_ids[i] for i in updates])
        if inserts:
            doc_ids = self.table.insert_multiple([i.to_doc() for i in inserts])
            for item, doc_id in zip(inserts, doc_ids):
                self._doc_ids[item.id] = doc_id
        for item in items:
            old = self._by_id.get(item.id)
            if old is not None:
                self._unindex(old)
            self._by_id[item.id] = item
            self._index(item)

    def remove(self, item_id: str) -> None:
        self.remove_many([item_id])

    def remove_many(self, item_ids: Iterable[str]) -> None:
        ids = [i for i in item_ids if i in self._by_id]
        if not ids:
            return
        self.table.remove(doc_ids=[self._doc_ids[i] for i in ids])
        for item_id in ids:
            self._unindex(self._by_id.pop(item_id))
            del self._doc_ids[item_id]


class UserRepo(Repo[User]):
    """People, indexed by primary key, userName and e-mail (case-insensitive), all unique."""

    def __init__(self, db: TinyDB, primary_key: str) -> None:
        self.primary_key = primary_key
        self._by_key: dict[str, User] = {}
        self._by_name: dict[str, User] = {}
        self._by_email: dict[str, User] = {}
        super().__init__(db, "users", User)

    def _index(self, item: User) -> None:
        self._by_key[item.key(self.primary_key).casefold()] = item
        self._by_name[item.userName.casefold()] = item
        for email in item.emails:
            self._by_email[email.casefold()] = item

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
            self.db = TinyDB(str(self.path), storage=FlushOnDemand(self._storage_cls()))
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
            self.rollback()
        self.close()
