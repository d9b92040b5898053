"""People in the local state: find, list, add, edit, delete, import from a file."""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.errors import BadInput, ValidationError
from console.models import Group, Link, User, utcnow
from console import people_index
from console.service.base import ServiceBase, writes
from console.store import UserRepo
from console.validation import check_utf8, validate_user

if TYPE_CHECKING:  # the importer (csv, the import run) is loaded by the first import, not by every command
    from console.importer import ImportResult


@dataclass
class PersonDetails:
    """A person with the groups they are in and the accounts linked to them."""

    user: User
    groups: list[str] = field(default_factory=list)
    accounts: list[Link] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**self.user.to_doc(), "groups": self.groups, "accounts": [a.to_doc() for a in self.accounts]}


@dataclass(frozen=True)
class PeopleFound:
    """A window of the people matching a filter, and how many match in all."""

    people: list[User]
    matched: int  # how many people match; a floor when `more_than` (the count stopped there)
    more_than: bool = False

    def summary(self, everyone: int, text: str, *, shown: int | None = None) -> str:
        """`first 200 of 776 matches (99,999 people) — type more to narrow`, `3 of 99,999 people match`…; `shown`:
        how many rows show, when this is a count made after them (`find_people(text, limit=0)`)."""
        text = text.strip()
        shown = len(self.people) if shown is None else shown
        if not text:
            if shown < everyone:
                return f"first {shown:,} of {everyone:,} people — press / and type to filter"
            return f"{everyone:,} {'person' if everyone == 1 else 'people'}"
        if not self.matched:
            return f"no one matches {text!r}"
        if shown < self.matched or self.more_than:
            many = f"more than {self.matched:,}" if self.more_than else f"{self.matched:,}"
            return f"first {shown:,} of {many} matches ({everyone:,} people) — type more to narrow"
        return f"{self.matched:,} of {everyone:,} people match"


COUNT_TO = 10_000  # a filter's matches are counted up to here (~10 ms at most), then shown as "more than 10,000"


class PeopleMixin(ServiceBase):
    _people_counted: tuple[weakref.ref[UserRepo], int, tuple[int, int]] | None = None  # the table, its version, counts

    def users(self, text: str = "", *, limit: int | None = None) -> list[User]:
        """People whose key, userName, display, given or family name, e-mail, department or title contains every word of
        `text`."""
        return people_index.of(self.store.users).search(self.store.users, check_utf8("filter", text), limit)

    def find_people(self, text: str = "", *, limit: int, count_to: int = COUNT_TO) -> PeopleFound:
        """The first `limit` people `users(text)` finds, and how many match in all (counted to `count_to`; above it
        the count says "more than"; never below `limit`)."""
        users = self.store.users
        words = check_utf8("filter", text).casefold().split()
        found, matched = people_index.of(users).finding(users, words, limit, count_to)
        cap = max(limit, count_to)
        return PeopleFound(found, min(matched, cap), matched > cap)

    def prepare_people_search(self) -> None:
        """Build the people search's index ahead of the first keystroke (~100 ms at 100k people; a no-op while the
        people are unchanged): the console calls it once the first rows are shown."""
        people_index.of(self.store.users).prepare(self.store.users)

    def user_by_id(self, user_id: str) -> User | None:
        return self.store.users.get(user_id)

    def people_count(self) -> tuple[int, int]:
        """(people, of whom active); counted again only when the people changed (the table's version), not for every
        keystroke of the people filter (~30 ms at 100k)."""
        users = self.store.users
        counted = self._people_counted
        if counted is None or counted[0]() is not users or counted[1] != users.version:  # a reload makes a new table
            counted = self._people_counted = (weakref.ref(users), users.version, (len(users), users.active_count()))
        return counted[2]

    def links_of(self, user: User) -> dict[str, Link]:
        """The person's accounts by application name."""
        return {link.app: link for link in self.store.links.of(user.id)}

    def person(self, identifier: str) -> PersonDetails:
        user = self.user(identifier)
        links = self.store.links.of(user.id)
        groups = [g.name for g in self.store.groups if user.id in g.members]
        return PersonDetails(user, groups, links)

    def groups_of(self, user: User) -> list[Group]:
        return [g for g in self.store.groups if user.id in g.members]

    @writes
    def add_user(self, **fields: Any) -> User:
        self._writable()
        email = fields.pop("email", None)
        if email:
            fields["emails"] = [email]
        user = validate_user(User(**fields), self.store.primary_key)
        if user.manager:
            user.manager = self.user(user.manager).key(self.store.primary_key)
        self.store.users.add(user)
        self._record("user_create", person=user, changes={k: [None, v] for k, v in fields.items() if v})
        self._after_people_change([user])
        return user

    @writes
    def edit_user(self, identifier: str, **fields: Any) -> User:
        self._writable()
        user = self.user(identifier)
        before = user.to_doc()
        doc = dict(before)
        email = fields.pop("email", None)
        if email is not None:
            doc["emails"] = [email] + [e for e in user.emails[1:] if e.casefold() != email.casefold()] if email else []
        for key, value in fields.items():
            if value is not None:
                if key not in doc:
                    raise BadInput(f"unknown field {key!r}")
                doc[key] = value
        updated = validate_user(User.from_doc(doc), self.store.primary_key)
        if updated.manager and updated.manager != user.manager:
            manager = self.user(updated.manager)
            if manager.id == user.id:
                raise ValidationError("manager", updated.manager, "is the person themself")
            updated.manager = manager.key(self.store.primary_key)
        after = updated.to_doc()
        changes = {k: [before[k], after[k]] for k in after if k != "updated" and before[k] != after[k]}
        if not changes:
            return user
        updated.updated = utcnow()
        self.store.users.put(updated)
        self._record("user_update", person=updated, changes=changes)
        self._after_people_change([updated])
        return updated

    @writes
    def delete_user(self, identifier: str, *, confirm: bool = False) -> User:
        """Remove a person from the local state; their accounts are deprovisioned by the next sync."""
        self._writable()
        user = self.user(identifier)
        if not confirm:
            raise BadInput(f"deleting {user.label()} needs confirmation", hint="pass --yes (or confirm in the console)")
        for group in self.store.groups:
            if user.id in group.members:
                group.members = [m for m in group.members if m != user.id]
                self.store.groups.put(group)
        self.store.users.remove(user.id)
        self._record("user_delete", person=user, changes={"status": [user.status, None]})
        self._after_people_change(gone=[user])
        return user

    def import_users(self, path: str | Path, *, dry_run: bool = False) -> ImportResult:
        from console import importer

        if dry_run:
            return importer.import_users(self.store, Path(path), dry_run=dry_run, operator=self.operator)
        with self.store.writing():
            result = importer.import_users(self.store, Path(path), dry_run=dry_run, operator=self.operator)
            self._after_people_change()
            return result
