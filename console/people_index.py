"""Find people as one types, at any number of people: what `Service.users(text, limit=)` answers.

Testing every person in Python costs about 1 µs each (~100 ms per keystroke at 100k people when few
match). Here the longest word is looked up with `str.find` over one casefolded string of every person's
searchable fields (C speed) and only the lines it hits are checked for the other words: ~1–20 ms at
100k. The index is rebuilt (~90 ms at 100k) when the people table changes (its version); a store opened through
the state's index (`console/state_index.py`) hands over the stored lines, and only the people found are loaded.
One index per people table (`of`): the people search and the report's person filter (`reports.person_ids`, which
screens everyone's identifiers with it) share it.
"""
from __future__ import annotations

import weakref
from itertools import islice

from console.models import User, search_text
from console.store import UserRepo


def haystack(user: User) -> str:
    """What a search looks in, for one person."""
    return search_text(user.employeeId, user.userName, user.displayName, user.department, user.title, user.emails,
                       user.givenName, user.familyName)


def of(users: UserRepo) -> PeopleIndex:
    """The index of this people table, shared by every caller in the process."""
    index = _SHARED.get(users)
    if index is None:
        index = _SHARED[users] = PeopleIndex()
    return index


class PeopleIndex:
    def __init__(self) -> None:
        self.key: tuple[int, int] | None = None
        self.ids: list[str] = []  # by row; empty when the lines came from the state's index (rows are enough then)
        self.count = 0
        self.blob = b""  # one UTF-8 line per person (bytes: no decoding of what the state's index hands over)

    def build(self, users: UserRepo, key: tuple[int, int]) -> None:
        stored = users.search_lines()  # from the state's index, without loading the people, when it is current
        if stored is not None:
            self.ids, self.count, self.blob = [], len(users), stored
        else:
            self.ids = [u.id for u in users]
            self.count = len(self.ids)
            self.blob = "\n".join(haystack(u) for u in users).encode()
        self.key = key

    def prepare(self, users: UserRepo) -> None:
        """Build the index now if the people changed since it was built (so that the next keystroke need not)."""
        key = (id(users), users.version)
        if key != self.key:
            self.build(users, key)

    def search(self, users: UserRepo, text: str, limit: int | None = None) -> list[User]:
        """The first `limit` people whose fields contain every word of `text` (any case, any order)."""
        return self.holding(users, text.casefold().split(), limit)

    def holding(self, users: UserRepo, folded: list[str], limit: int | None = None) -> list[User]:
        """The first `limit` people whose search line holds every one of the casefolded `folded` words."""
        return self.finding(users, folded, limit)[0]

    def finding(self, users: UserRepo, folded: list[str], limit: int | None = None,
                count_to: int = 0) -> tuple[list[User], int]:
        """The first `limit` people whose search line holds every casefolded word of `folded`, and how many people
        match: counted on past `limit` without loading anyone, to one more than `max(limit, count_to)` at most (a
        count above that means "more than": a filter matching everyone stays as quick as one matching few)."""
        words = [w.encode() for w in folded]
        if not words and not users.partial and (id(users), users.version) != self.key:
            return list(islice(users, limit)), len(users)  # everyone, in the table's order: no index needed
        self.prepare(users)
        limit = self.count if limit is None else limit
        ids = self.ids
        at_row = users.at_row
        found: list[User] = []
        if not words:
            for row in range(min(limit, self.count)):
                user = at_row(row, ids[row] if ids else "")
                if user is not None:
                    found.append(user)
            return found, self.count
        needle = max(words, key=len)
        others = [w for w in words if w is not needle]
        other = others[0] if len(others) == 1 else None  # two words, the usual name: tested without a loop
        blob = self.blob
        find, rfind = blob.find, blob.rfind
        row, counted, matched = 0, 0, 0
        stop = max(limit, count_to) + 1
        pos = find(needle)
        # each line holding the longest word once; rows counted only for the lines that pass, while people are loaded
        while pos != -1 and matched < stop:
            start = rfind(b"\n", 0, pos) + 1
            end = find(b"\n", pos)
            end = len(blob) if end == -1 else end
            if other is not None:
                passes = find(other, start, end) != -1
            else:
                line = blob[start:end]
                passes = all(w in line for w in others)
            if passes:
                if len(found) < limit:
                    row += blob.count(b"\n", counted, start)
                    counted = start
                    user = at_row(row, ids[row] if ids else "")
                    if user is not None:
                        found.append(user)
                        matched += 1
                else:
                    matched += 1
            pos = find(needle, end + 1)
        return found, matched


_SHARED: weakref.WeakKeyDictionary[UserRepo, PeopleIndex] = weakref.WeakKeyDictionary()
