"""What every part of the facade shares: the store, the operator, the read-only rule, the record of each change,
and the lookups of named objects (people, groups, policies, applications) with errors that say what to do."""
from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self, TypeVar, cast

from console.errors import JournalError, ReadOnly, UnknownObject
from console.models import Application, Event, Group, Policy, User
from console.operator import current_operator
from console.store import Store
from console.validation import check_utf8


F = TypeVar("F", bound=Callable[..., Any])


def writes(method: F) -> F:
    """One write of the state: under the home's lock, on fresh data, flushed (see `Store.writing`)."""

    @functools.wraps(method)
    def wrapper(self: ServiceBase, *args: Any, **kwargs: Any) -> Any:
        with self.store.writing():
            return method(self, *args, **kwargs)

    return cast(F, wrapper)


class ServiceBase:
    def __init__(self, store: Store, *, operator: str | None = None) -> None:
        self.store = store
        self.operator = operator or current_operator()
        # One caller at a time in the store: front ends that call from several threads (the console's workers)
        # hold it around their calls; the facade's async methods take it around their local writes.
        self.lock = threading.RLock()

    @classmethod
    def open(cls, home: Path | str | None = None, *, readonly: bool = False, lock_wait: float = 0.0) -> Self:
        """The service on the home's state (`--home`, else $IDCONSOLE_HOME, else the platform data directory)."""
        return cls(Store.open(home, readonly=readonly, lock_wait=lock_wait))

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def refresh(self) -> bool:
        """Catch up with what other operators wrote (never takes the lock); True when something changed."""
        return self.store.refresh()

    @property
    def home(self) -> Path:
        return self.store.home

    @property
    def readonly(self) -> bool:
        return self.store.readonly

    def _writable(self) -> None:
        if self.store.readonly:
            raise ReadOnly("the console is read-only", hint="restart without --readonly to change anything")

    def _event(self, action: str, *, person: User | None = None, app: str = "", changes: dict[str, Any] | None = None,
               message: str = "", status: str = "success") -> Event:
        return Event(
            action=action, status=status, app=app, person=person.label() if person else "",
            person_id=person.id if person else "", operator=self.operator, changes=changes or {}, message=message,
        )

    def _record(self, action: str, *, person: User | None = None, app: str = "", changes: dict[str, Any] | None = None,
                message: str = "", status: str = "success") -> None:
        """Record the change made in memory, then save it: see `_commit`."""
        self._commit([self._event(action, person=person, app=app, changes=changes, message=message, status=status)])

    def _commit(self, events: list[Event]) -> None:
        """Write the events (durably), then flush the state; no change is saved without its record, nor a record
        kept without its change. When the report cannot be written the change is dropped (the state is reloaded
        as it was) and JournalError says why."""
        try:
            marks = self.store.events.append_many(events)
        except OSError as exc:
            self.store.rollback()
            raise JournalError("the provisioning report cannot be written, so nothing was saved",
                               detail=exc.strerror or str(exc),
                               hint=f"free space or fix {self.store.events.dir}, then try again") from None
        try:
            self.store.flush()
        except BaseException:
            self.store.events.withdraw(marks)
            self.store.rollback()
            raise

    def _after_people_change(self, changed: list[User] | None = None, gone: list[User] | None = None) -> None:
        """Hook run after every write to people: every person (None) or those `changed` and `gone` (the groups mixin
        makes rule groups follow them)."""

    # ---- lookups -----------------------------------------------------------------------------
    def user(self, identifier: str) -> User:
        user = self.store.users.find(check_utf8("person", identifier))
        if user is None:
            raise UnknownObject(f"no person {identifier!r}", hint="give a primary key, userName or e-mail (idconsole users list)")
        return user

    def find_user(self, identifier: str) -> User | None:
        """A person by primary key, userName or e-mail, or None."""
        return self.store.users.find(check_utf8("person", identifier))

    def group(self, name: str) -> Group:
        group = self.store.groups.by_name(name)
        if group is None:
            raise UnknownObject(f"no group {name!r}", hint="see idconsole groups list")
        return group

    def policy(self, name: str) -> Policy:
        policy = self.store.policies.by_name(name)
        if policy is None:
            raise UnknownObject(f"no policy {name!r}", hint="see idconsole policies list")
        return policy

    def find_app(self, name: str) -> Application | None:
        return self.store.applications.by_name(name)

    def app(self, name: str) -> Application:
        app = self.store.applications.by_name(name)
        if app is None:
            raise UnknownObject(f"no application {name!r}", hint="see idconsole apps list")
        return app

    @property
    def primary_key(self) -> str:
        """The people's primary key attribute (e.g. employeeId)."""
        return self.store.primary_key
